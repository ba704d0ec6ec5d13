//! WebSocket connections: `/ws` (the native protocol, protocol §5) and `/notify?protoc=ws`
//! (push only) share this socket loop.

use super::extract::Client;
use crate::Identity;
use crate::connections::Connections;
use crate::error::ApiError;
use crate::frames::Outbound;
use crate::hub::{Conn, ConnKind, Sink};
use crate::outbound::{self, OutboundRx};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use herald_protocol::ErrorCode;
use herald_protocol::ws::{Format, MAX_FRAME_BYTES};
use herald_store::LoginPolicy;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Close code telling clients to reconnect (to another gateway): the server is draining.
pub const CLOSE_RECONNECT: u16 = 1012;
/// Frames past `MAX_FRAME_BYTES` but within this are answered with an error and the connection
/// stays; past this, the error is sent and the connection is closed (the rest is not read).
pub const HARD_FRAME_BYTES: usize = 1024 * 1024;
/// Initial read buffer per connection.
pub const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Close code for a connection that did not read its frames (outbound queue full, or a write
/// that did not complete within `WRITE_TIMEOUT`).
pub const CLOSE_TOO_SLOW: u16 = 1008;
/// Close code for a connection whose token expired.
pub const CLOSE_TOKEN_EXPIRED: u16 = 4002;
/// Longest one write to a client may take (the client's TCP window stays shut: it does not
/// read). Past it the connection is closed and its socket, tasks and queue are freed.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Frames written between two flushes when they are queued together.
const WRITE_BATCH: usize = 64;

#[utoipa::path(
    get,
    path = "/ws",
    tag = "push",
    description = "The native WebSocket protocol (docs/protocol.md §5); its actions and pushes are listed in the description above.",
    params(("token" = Option<String>, Query, description = "client token (or Authorization: Bearer)")),
    responses((status = 101, description = "switching protocols"), super::schemas::Errors),
    security(("client_token" = []))
)]
pub async fn upgrade(State(conns): State<Connections>, Client(me): Client, upgrade: WebSocketUpgrade) -> Response {
    accept(conns, me, upgrade, ConnKind::Native).await
}

/// Registers the connection, then completes the handshake. Registered first: once a client's
/// handshake completes it counts as connected (a close of its other connection right after is
/// not its last, and sends no offline), and a refusal (too many connections) is an HTTP error
/// with its code instead of a socket opened only to be closed.
pub async fn accept(conns: Connections, me: Identity, upgrade: WebSocketUpgrade, kind: ConnKind) -> Response {
    if conns.is_draining() {
        return ApiError::new(ErrorCode::Unavailable, "draining, connect elsewhere").into_response();
    }
    let registered = match register(&conns, &me, kind).await {
        Ok((conn, rx)) => Registered {
            conns,
            me,
            kind,
            conn: Some((conn, rx)),
        },
        Err(err) => return err.into_response(),
    };
    upgrade
        .max_frame_size(HARD_FRAME_BYTES)
        .max_message_size(HARD_FRAME_BYTES)
        // tungstenite's default read buffer (128 KiB per connection, allocated up front) would
        // dominate an idle connection's memory; it grows when a large frame needs it
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| serve(registered, socket))
}

/// A connection registered before its handshake: unregistered if the handshake never
/// completes (the client left, the upgrade failed), so no route outlives it.
struct Registered {
    conns: Connections,
    me: Identity,
    kind: ConnKind,
    conn: Option<(Conn, OutboundRx)>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Some((conn, _)) = self.conn.take() {
            let (conns, me, kind) = (self.conns.clone(), self.me.clone(), self.kind);
            tokio::spawn(async move { conns.hub.unregister(&me.app, &me.session, conn.id, kind).await });
        }
    }
}

/// Registers a new queue-backed connection, applying the app's login policy.
pub async fn register(conns: &Connections, me: &Identity, kind: ConnKind) -> Result<(Conn, OutboundRx), ApiError> {
    let (tx, rx) = outbound::channel(conns.limits.outbound_queue, conns.limits.outbound_queue_bytes);
    let conn = Conn::new(
        conns.hub.next_conn_id(),
        me,
        kind,
        Sink::Queue(tx),
        conns.shutdown.child_token(),
    );
    conns.hub.register(&me.app, &me.session, conn.clone()).await?;
    if let Some(app) = conns.auth.app(&me.app).await?
        && app.settings.login_policy == LoginPolicy::Kick
    {
        conns
            .kicker
            .kick_others(&me.app, &me.session, me.platform, conn.id)
            .await;
    }
    Ok((conn, rx))
}

/// When `me`'s token expires, as an instant of this process's clock.
pub fn token_expiry(me: &Identity) -> Instant {
    let left = Duration::from_secs(me.exp.saturating_sub(crate::auth::now_secs()));
    let now = Instant::now();
    // a far-future expiry is a day away, re-checked never: the connection is pinged long before
    now.checked_add(left)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
}

#[tracing::instrument(skip_all, fields(app = %registered.me.app, session = %registered.me.session, platform = registered.me.platform, kind = registered.kind.label()))]
async fn serve(mut registered: Registered, socket: WebSocket) {
    let (sink, mut stream) = socket.split();
    let (conns, me, kind) = (registered.conns.clone(), registered.me.clone(), registered.kind);
    let Some((conn, rx)) = registered.conn.take() else {
        return;
    };
    let close = conn.close.clone();
    let (peer_closed_tx, peer_closed_rx) = oneshot::channel();
    let writer = Writer {
        sink,
        rx,
        close: close.clone(),
        peer_closed: peer_closed_rx,
        conns: conns.clone(),
    };
    let mut writer = tokio::spawn(writer.run());
    let ctx = super::ws_actions::ConnCtx::new(
        conns.api.clone(),
        conns.rooms.clone(),
        conns.limits.max_content_bytes,
        me.clone(),
        conn.clone(),
    );
    let idle_limit = conns.limits.ping_interval * 3;
    let mut deadline = Instant::now() + idle_limit;
    let expiry = token_expiry(&me);
    let mut peer_closed_tx = Some(peer_closed_tx);
    loop {
        let frame = tokio::select! {
            frame = stream.next() => frame,
            _ = close.cancelled() => break,
            _ = tokio::time::sleep_until(deadline) => {
                tracing::info!("closing an idle connection");
                break;
            }
            _ = tokio::time::sleep_until(expiry) => {
                tracing::info!("closing a connection whose token expired");
                conn.offer(Outbound::Close { code: CLOSE_TOKEN_EXPIRED, reason: "token expired" });
                break;
            }
        };
        let frame = match frame {
            Some(Ok(frame)) => frame,
            Some(Err(err)) => {
                // invalid UTF-8, or a frame past the hard size limit: say so, then close
                tracing::debug!(error = %err, "websocket protocol error");
                ctx.protocol_error(&err.to_string());
                break;
            }
            None => break,
        };
        deadline = Instant::now() + idle_limit;
        match (kind, frame) {
            (_, Message::Close(_)) => {
                // the writer answers it (RFC 6455 §5.5.1)
                if let Some(tx) = peer_closed_tx.take() {
                    let _ = tx.send(());
                }
                break;
            }
            (ConnKind::Native, Message::Text(text)) if text.len() > MAX_FRAME_BYTES => {
                ctx.too_large(text.len(), Format::Json)
            }
            (ConnKind::Native, Message::Binary(bytes)) if bytes.len() > MAX_FRAME_BYTES => {
                ctx.too_large(bytes.len(), Format::MsgPack)
            }
            (ConnKind::Native, Message::Text(text)) => ctx.on_frame(text.as_bytes(), Format::Json).await,
            (ConnKind::Native, Message::Binary(bytes)) => ctx.on_frame(&bytes, Format::MsgPack).await,
            _ => {}
        }
    }
    close.cancel();
    ctx.leave_rooms().await;
    conns.hub.unregister(&me.app, &me.session, conn.id, kind).await;
    // the writer says goodbye within its own bounds; past them it is aborted, and the socket
    // (both halves), the queue and the task are freed here
    if tokio::time::timeout(WRITE_TIMEOUT, &mut writer).await.is_err() {
        writer.abort();
    }
}

/// What wakes a connection's writer.
enum WriterEvent {
    /// The client sent a Close frame: answer it and stop.
    PeerClosed,
    /// The connection is being closed (drain, slow reader, reader gone).
    Closing,
    Frame(Option<Outbound>),
    Ping,
}

/// How one bounded write went.
#[derive(Debug, PartialEq, Eq)]
enum Written {
    Sent,
    /// The socket is gone or the WebSocket is closed.
    Failed,
    /// The client did not take the frame within `WRITE_TIMEOUT`.
    TimedOut,
}

/// Moves a connection's queued frames to its socket; every write bounded by `WRITE_TIMEOUT`.
struct Writer {
    sink: SplitSink<WebSocket, Message>,
    rx: OutboundRx,
    close: CancellationToken,
    peer_closed: oneshot::Receiver<()>,
    conns: Connections,
}

impl Writer {
    async fn run(mut self) {
        let mut ping = tokio::time::interval(self.conns.limits.ping_interval);
        ping.tick().await;
        loop {
            let event = tokio::select! {
                biased;
                closed = &mut self.peer_closed => match closed {
                    Ok(()) => WriterEvent::PeerClosed,
                    Err(_) => WriterEvent::Closing,
                },
                _ = self.close.cancelled() => WriterEvent::Closing,
                frame = self.rx.recv() => WriterEvent::Frame(frame),
                _ = ping.tick() => WriterEvent::Ping,
            };
            match event {
                WriterEvent::PeerClosed => {
                    // tungstenite queued the reply echoing the client's code; nothing may follow it
                    let _ = tokio::time::timeout(WRITE_TIMEOUT, self.sink.flush()).await;
                    break;
                }
                WriterEvent::Closing => {
                    self.say_goodbye().await;
                    break;
                }
                WriterEvent::Frame(None) => break,
                WriterEvent::Frame(Some(frame)) => {
                    if !self.write_queued(frame).await {
                        break;
                    }
                }
                WriterEvent::Ping => {
                    if !self.write_or_give_up(Message::Ping(Default::default())).await {
                        break;
                    }
                }
            }
        }
        self.close.cancel();
    }

    /// Flushes what is queued (replies, pushes), then says why the connection closes; all of
    /// it within one `WRITE_TIMEOUT`.
    async fn say_goodbye(&mut self) {
        let deadline = Instant::now() + WRITE_TIMEOUT;
        while let Some(frame) = self.rx.try_recv() {
            let closing = matches!(frame, Outbound::Close { .. });
            if self.write(to_message(frame), deadline).await != Written::Sent || closing {
                return;
            }
        }
        let (code, reason) = if self.conns.stopping() {
            (CLOSE_RECONNECT, "server restarting, reconnect")
        } else {
            (CLOSE_TOO_SLOW, "outbound queue full")
        };
        let goodbye = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        self.write(goodbye, deadline).await;
    }

    /// One write within `WRITE_TIMEOUT`; false when the connection is to end (gone, or too slow:
    /// a client that does not read is not written to again, not even a close frame).
    async fn write_or_give_up(&mut self, message: Message) -> bool {
        match self.write(message, Instant::now() + WRITE_TIMEOUT).await {
            Written::Sent => true,
            Written::Failed => false,
            Written::TimedOut => self.timed_out(),
        }
    }

    /// Writes `first` and whatever else is queued behind it (up to `WRITE_BATCH` frames), then
    /// flushes once: one system call for a burst of pushes rather than one per frame. The whole
    /// batch must be taken within `WRITE_TIMEOUT`. False when the connection is done (a write
    /// failed or timed out, or a close frame was written).
    async fn write_queued(&mut self, first: Outbound) -> bool {
        let deadline = Instant::now() + WRITE_TIMEOUT;
        let mut next = Some(first);
        let mut written = 0;
        let mut open = true;
        while let Some(frame) = next.take() {
            let closing = matches!(frame, Outbound::Close { .. });
            match tokio::time::timeout_at(deadline, self.sink.feed(to_message(frame))).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return false,
                Err(_) => return self.timed_out(),
            }
            written += 1;
            if closing {
                open = false;
                break;
            }
            if written < WRITE_BATCH {
                next = self.rx.try_recv();
            }
        }
        match tokio::time::timeout_at(deadline, self.sink.flush()).await {
            Ok(Ok(())) => open,
            Ok(Err(_)) => false,
            Err(_) => self.timed_out(),
        }
    }

    fn timed_out(&self) -> bool {
        metrics::counter!("herald_slow_consumer_disconnects_total").increment(1);
        tracing::info!("closing a connection that does not read: a write timed out");
        false
    }

    async fn write(&mut self, message: Message, deadline: Instant) -> Written {
        match tokio::time::timeout_at(deadline, self.sink.send(message)).await {
            Ok(Ok(())) => Written::Sent,
            Ok(Err(_)) => Written::Failed,
            Err(_) => Written::TimedOut,
        }
    }
}

fn to_message(frame: Outbound) -> Message {
    match frame {
        Outbound::Text { json, .. } => Message::Text(json),
        Outbound::Binary(bytes) => Message::Binary(bytes),
        Outbound::Close { code, reason } => Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })),
    }
}
