//! WebSocket connections: `/ws` (the native protocol of contract §5) and `/notify?protoc=ws`
//! (push only) share this socket loop.

use super::extract::Client;
use crate::error::ApiError;
use crate::hub::{Conn, ConnKind, Outbound, RegisterError, Sink};
use crate::{Identity, Shared, login};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use herald_protocol::ErrorCode;
use herald_protocol::ws::MAX_FRAME_BYTES;
use herald_store::LoginPolicy;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;

/// Close code telling clients to reconnect (to another gateway): the server is draining.
pub const CLOSE_RECONNECT: u16 = 1012;
/// Frames past `MAX_FRAME_BYTES` but within this are answered with an error and the connection
/// stays; past this, the error is sent and the connection is closed (the rest is not read).
pub const HARD_FRAME_BYTES: usize = 1024 * 1024;
/// Initial read buffer per connection.
pub const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Close code for a connection that did not read its frames.
pub const CLOSE_TOO_SLOW: u16 = 1008;

#[utoipa::path(
    get,
    path = "/ws",
    tag = "push",
    description = "The native WebSocket protocol (contract §5); its actions and pushes are listed in the description above.",
    params(("token" = Option<String>, Query, description = "client token (or Authorization: Bearer)")),
    responses((status = 101, description = "switching protocols"), super::openapi::Errors),
    security(("client_token" = []))
)]
pub async fn upgrade(State(shared): State<Arc<Shared>>, Client(me): Client, upgrade: WebSocketUpgrade) -> Response {
    accept(shared, me, upgrade, ConnKind::Native)
}

pub fn accept(shared: Arc<Shared>, me: Identity, upgrade: WebSocketUpgrade, kind: ConnKind) -> Response {
    if shared.draining.load(Ordering::SeqCst) {
        return ApiError::new(ErrorCode::Unavailable, "draining, connect elsewhere").into_response();
    }
    upgrade
        .max_frame_size(HARD_FRAME_BYTES)
        .max_message_size(HARD_FRAME_BYTES)
        // tungstenite's default read buffer (128 KiB per connection, allocated up front) would
        // dominate an idle connection's memory; it grows when a large frame needs it
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| serve(shared, socket, me, kind))
}

/// Registers a new queue-backed connection, applying the app's login policy.
pub async fn register(
    shared: &Arc<Shared>,
    me: &Identity,
    kind: ConnKind,
) -> Result<(Conn, mpsc::Receiver<Outbound>), ApiError> {
    let (tx, rx) = mpsc::channel::<Outbound>(shared.config.outbound_queue);
    let conn = Conn {
        id: shared.hub.next_conn_id(),
        platform: me.platform,
        jti: me.jti.clone(),
        iat: me.iat,
        kind,
        sink: Sink::Queue(tx),
        msgpack: Arc::new(AtomicBool::new(false)),
        close: shared.shutdown.child_token(),
    };
    match shared.hub.register(&me.app, &me.session, conn.clone()).await {
        Ok(()) => {}
        Err(RegisterError::TooMany(n)) => {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                format!("at most {n} connections per session"),
            ));
        }
        Err(RegisterError::Bus(err)) => {
            tracing::warn!(error = %err, "could not register connection");
            return Err(ApiError::new(ErrorCode::Unavailable, "try again"));
        }
    }
    if let Some(app) = shared.auth.app(&me.app).await?
        && app.settings.login_policy == LoginPolicy::Kick
    {
        login::kick_others(shared, &me.app, &me.session, me.platform, conn.id).await;
    }
    Ok((conn, rx))
}

#[tracing::instrument(skip_all, fields(app = %me.app, session = %me.session, platform = me.platform, kind = kind.label()))]
async fn serve(shared: Arc<Shared>, socket: WebSocket, me: Identity, kind: ConnKind) {
    let (mut sink, mut stream) = socket.split();
    let (conn, mut rx) = match register(&shared, &me, kind).await {
        Ok(registered) => registered,
        Err(err) => {
            let reason = err.message.chars().take(100).collect::<String>();
            let _ = sink
                .send(Message::Close(Some(CloseFrame {
                    code: 1013,
                    reason: reason.into(),
                })))
                .await;
            return;
        }
    };
    let close = conn.close.clone();
    let ping_interval = shared.config.ping_interval;
    let writer_close = close.clone();
    let writer_shared = shared.clone();
    let writer = tokio::spawn(async move {
        let mut ping = tokio::time::interval(ping_interval);
        ping.tick().await;
        let to_message = |frame: Outbound| match frame {
            Outbound::Text { json, .. } => Message::Text(json),
            Outbound::Binary(bytes) => Message::Binary(bytes),
            Outbound::Close { code, reason } => Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })),
        };
        loop {
            tokio::select! {
                frame = rx.recv() => match frame {
                    Some(frame) => {
                        let closing = matches!(frame, Outbound::Close { .. });
                        if sink.send(to_message(frame)).await.is_err() || closing {
                            break;
                        }
                    }
                    None => break,
                },
                _ = ping.tick() => if sink.send(Message::Ping(Default::default())).await.is_err() { break },
                _ = writer_close.cancelled() => {
                    // flush what is queued (replies, pushes), then say why we close
                    let mut closed = false;
                    while let Ok(frame) = rx.try_recv() {
                        closed |= matches!(frame, Outbound::Close { .. });
                        if sink.send(to_message(frame)).await.is_err() || closed { break }
                    }
                    if !closed {
                        let (code, reason) = if writer_shared.draining.load(Ordering::SeqCst) || writer_shared.shutdown.is_cancelled() {
                            (CLOSE_RECONNECT, "server restarting, reconnect")
                        } else {
                            (CLOSE_TOO_SLOW, "outbound queue full")
                        };
                        let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    }
                    break;
                }
            }
        }
        writer_close.cancel();
    });
    let ctx = super::actions::ConnCtx::new(shared.clone(), me.clone(), conn.clone());
    let idle_limit = ping_interval * 3;
    let mut deadline = tokio::time::Instant::now() + idle_limit;
    loop {
        let frame = tokio::select! {
            frame = stream.next() => frame,
            _ = close.cancelled() => break,
            _ = tokio::time::sleep_until(deadline) => {
                tracing::info!("closing an idle connection");
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
        deadline = tokio::time::Instant::now() + idle_limit;
        match (kind, frame) {
            (_, Message::Close(_)) => break,
            (ConnKind::Native, Message::Text(text)) if text.len() > MAX_FRAME_BYTES => ctx.too_large(text.len(), false),
            (ConnKind::Native, Message::Binary(bytes)) if bytes.len() > MAX_FRAME_BYTES => {
                ctx.too_large(bytes.len(), true)
            }
            (ConnKind::Native, Message::Text(text)) => ctx.on_text(text.as_str()).await,
            (ConnKind::Native, Message::Binary(bytes)) => ctx.on_binary(&bytes).await,
            _ => {}
        }
    }
    close.cancel();
    ctx.leave_rooms().await;
    shared.hub.unregister(&me.app, &me.session, conn.id, kind).await;
    let _ = writer.await;
}
