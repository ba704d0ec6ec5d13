//! WebSocket connections: `/ws` (the native protocol, protocol §5), `/notify?protoc=ws` (push
//! only) and the seeds' protocols (`/im/connect`, `/chat/test`, protocol §9) share this socket loop.

use super::extract::Client;
use super::seeds::{self, Dialect, Seed, SeedIo};
use super::ws_actions::ConnCtx;
use super::ws_writer::Writer;
use crate::Identity;
use crate::connections::Connections;
use crate::error::ApiError;
use crate::frames::Outbound;
use crate::hub::{Conn, ConnKind, Sink};
use crate::outbound::{self, OutboundRx};
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures::{FutureExt, StreamExt};
use herald_protocol::ErrorCode;
use herald_protocol::ws::{Format, MAX_FRAME_BYTES};
use herald_store::LoginPolicy;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::Instrument;

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

/// What answers a socket's frames.
pub(crate) enum Speaker {
    /// `/ws`: the native requests (protocol §5).
    Native,
    /// `/notify?protoc=ws`: push only; what the client sends is not read for requests.
    PushOnly,
    /// A seed's protocol (protocol §9).
    Seed(Seed),
}

/// A native `/ws` or push-only `/notify` socket.
pub async fn accept(conns: Connections, me: Identity, upgrade: WebSocketUpgrade, kind: ConnKind) -> Response {
    let speaker = match kind {
        ConnKind::Native => Speaker::Native,
        _ => Speaker::PushOnly,
    };
    accept_as(conns, me, upgrade, kind, speaker).await
}

/// Registers the connection, then completes the handshake. Registered first: once a client's
/// handshake completes it counts as connected (a close of its other connection right after is
/// not its last, and sends no offline), and a refusal (too many connections) is an HTTP error
/// with its code instead of a socket opened only to be closed.
pub(crate) async fn accept_as(
    conns: Connections,
    me: Identity,
    upgrade: WebSocketUpgrade,
    kind: ConnKind,
    speaker: Speaker,
) -> Response {
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
        .on_upgrade(move |socket| serve(registered, socket, speaker))
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

/// Starts the connection's writer and returns its reading loop. The setup is not part of the
/// loop's future: an idle connection's memory is mostly that future, held for its whole life, so
/// it keeps only what the loop uses (the socket's parts are in the writer's task and a shared
/// lock, the handles are pointers, and each frame's handling is boxed while it runs).
fn serve(mut registered: Registered, socket: WebSocket, speaker: Speaker) -> impl Future<Output = ()> + Send {
    let (conns, me, kind) = (registered.conns.clone(), registered.me.clone(), registered.kind);
    let span =
        tracing::info_span!("serve", app = %me.app, session = %me.session, platform = me.platform, kind = kind.label());
    let started = registered.conn.take().map(|(conn, rx)| {
        let (sink, stream) = socket.split();
        let (peer_closed_tx, peer_closed_rx) = oneshot::channel();
        let writer = Writer {
            sink,
            rx,
            close: conn.close.clone(),
            peer_closed: peer_closed_rx,
            conns: conns.clone(),
            render: match &speaker {
                Speaker::Seed(seed) => Some(seed.render.clone()),
                _ => None,
            },
        };
        let writer = tokio::spawn(writer.run().instrument(span.clone()));
        let reader = Reader::new(speaker, &conns, &me, &conn);
        Serving {
            conns,
            me,
            kind,
            conn,
            stream,
            writer,
            reader,
            peer_closed: Some(peer_closed_tx),
        }
    });
    // not an `async` block around it: that would hold `started` beside the loop's own copy
    futures::future::OptionFuture::from(started.map(Serving::run))
        .map(|_: Option<()>| ())
        .instrument(span)
}

/// An open connection's reading side and what it needs until it closes.
struct Serving {
    conns: Connections,
    me: Identity,
    kind: ConnKind,
    conn: Conn,
    stream: futures::stream::SplitStream<WebSocket>,
    writer: tokio::task::JoinHandle<()>,
    reader: Reader,
    /// Tells the writer the client sent its Close frame (the writer answers it).
    peer_closed: Option<oneshot::Sender<()>>,
}

impl Serving {
    async fn run(mut self) {
        Box::pin(self.reader.opened()).await;
        let close = self.conn.close.clone();
        let idle_limit = self.conns.limits.ping_interval * 3;
        let mut deadline = Instant::now() + idle_limit;
        let expiry = token_expiry(&self.me);
        loop {
            let frame = tokio::select! {
                frame = self.stream.next() => frame,
                _ = close.cancelled() => break,
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::info!("closing an idle connection");
                    break;
                }
                _ = tokio::time::sleep_until(expiry) => {
                    tracing::info!("closing a connection whose token expired");
                    self.conn.offer(Outbound::Close { code: CLOSE_TOKEN_EXPIRED, reason: "token expired" });
                    break;
                }
            };
            let frame = match frame {
                Some(Ok(frame)) => frame,
                Some(Err(err)) => {
                    // invalid UTF-8, or a frame past the hard size limit: say so, then close
                    tracing::debug!(error = %err, "websocket protocol error");
                    self.reader.protocol_error(&err.to_string());
                    break;
                }
                None => break,
            };
            deadline = Instant::now() + idle_limit;
            if let Message::Close(_) = frame {
                // the writer answers it (RFC 6455 §5.5.1)
                if let Some(tx) = self.peer_closed.take() {
                    let _ = tx.send(());
                }
                break;
            }
            // boxed: an action's future lives only while it runs, so the loop that waits (an idle
            // connection's whole life) does not carry the largest action's size
            Box::pin(self.reader.on_message(frame)).await;
        }
        close.cancel();
        Box::pin(self.finish()).await;
    }

    async fn finish(mut self) {
        self.reader.closing().await;
        let Serving {
            conns, me, kind, conn, ..
        } = &self;
        conns.hub.unregister(&me.app, &me.session, conn.id, *kind).await;
        // the writer says goodbye within its own bounds; past them it is aborted, and the socket
        // (both halves), the queue and the task are freed here
        if tokio::time::timeout(WRITE_TIMEOUT, &mut self.writer).await.is_err() {
            self.writer.abort();
        }
    }
}

/// A connection's reading side: what its client's frames become.
enum Reader {
    Native(ConnCtx),
    PushOnly,
    Seed(Box<dyn Dialect>, SeedIo),
}

impl Reader {
    fn new(speaker: Speaker, conns: &Connections, me: &Identity, conn: &Conn) -> Self {
        match speaker {
            Speaker::Native => Reader::Native(ConnCtx::new(
                conns.api.clone(),
                conns.rooms.clone(),
                conns.limits.max_content_bytes,
                me.clone(),
                conn.clone(),
            )),
            Speaker::PushOnly => Reader::PushOnly,
            Speaker::Seed(seed) => Reader::Seed(seed.dialect, SeedIo::new(conns, me, conn)),
        }
    }

    async fn opened(&mut self) {
        if let Reader::Seed(dialect, io) = self {
            dialect.opened(io).await;
        }
    }

    /// A frame the WebSocket layer refused (invalid UTF-8, past the hard size limit): an error
    /// in the connection's protocol, then a close with the RFC 6455 code.
    fn protocol_error(&self, error: &str) {
        match self {
            Reader::Native(ctx) => ctx.protocol_error(error),
            Reader::PushOnly => {}
            Reader::Seed(dialect, io) => io.protocol_error(dialect.as_ref(), error),
        }
    }

    async fn on_message(&mut self, message: Message) {
        match (self, message) {
            (Reader::Native(ctx), Message::Text(text)) if text.len() > MAX_FRAME_BYTES => {
                ctx.too_large(text.len(), Format::Json)
            }
            (Reader::Native(ctx), Message::Binary(bytes)) if bytes.len() > MAX_FRAME_BYTES => {
                ctx.too_large(bytes.len(), Format::MsgPack)
            }
            (Reader::Native(ctx), Message::Text(text)) => ctx.on_frame(text.as_bytes(), Format::Json).await,
            (Reader::Native(ctx), Message::Binary(bytes)) => ctx.on_frame(&bytes, Format::MsgPack).await,
            (Reader::Seed(dialect, io), message) => seeds::on_message(dialect.as_mut(), io, message).await,
            _ => {}
        }
    }

    async fn closing(&mut self) {
        match self {
            Reader::Native(ctx) => ctx.leave_rooms().await,
            Reader::PushOnly => {}
            Reader::Seed(dialect, io) => dialect.closing(io).await,
        }
    }
}
