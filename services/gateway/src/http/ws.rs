//! `/ws`: the native WebSocket protocol of contract §5, and the socket loop `/notify` shares.

use super::extract::Client;
use crate::error::ApiError;
use crate::hub::{Conn, ConnKind};
use crate::pending::Waiter;
use crate::send::{self, SendRequest};
use crate::{Identity, Shared, frames};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use herald_protocol::ws::{self as wire, MAX_FRAME_BYTES, Request};
use herald_protocol::{ConvId, ErrorCode};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Close code telling clients to reconnect (to another gateway): the server is draining.
pub const CLOSE_RECONNECT: u16 = 1012;
/// Close code for a connection that did not read its frames.
pub const CLOSE_TOO_SLOW: u16 = 1008;

pub async fn upgrade(State(shared): State<Arc<Shared>>, Client(me): Client, upgrade: WebSocketUpgrade) -> Response {
    accept(shared, me, upgrade, ConnKind::Native)
}

pub fn accept(shared: Arc<Shared>, me: Identity, upgrade: WebSocketUpgrade, kind: ConnKind) -> Response {
    if shared.draining.load(Ordering::SeqCst) {
        return ApiError::new(ErrorCode::Unavailable, "draining, connect elsewhere").into_response();
    }
    upgrade
        .max_frame_size(MAX_FRAME_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| serve(shared, socket, me, kind))
}

struct ConnCtx {
    shared: Arc<Shared>,
    me: Identity,
    tx: mpsc::Sender<Message>,
    msgpack: Arc<AtomicBool>,
    close: CancellationToken,
}

impl ConnCtx {
    fn reply(&self, json: String, msgpack: bool) {
        if self.tx.try_send(frames::encode(json, msgpack)).is_err() {
            self.close.cancel();
        }
    }
}

#[tracing::instrument(skip_all, fields(app = %me.app, session = %me.session, platform = me.platform, kind = kind.label()))]
async fn serve(shared: Arc<Shared>, socket: WebSocket, me: Identity, kind: ConnKind) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Message>(shared.config.outbound_queue);
    let close = shared.shutdown.child_token();
    let conn = Conn {
        id: shared.hub.next_conn_id(),
        platform: me.platform,
        kind,
        tx: tx.clone(),
        msgpack: Arc::new(AtomicBool::new(false)),
        close: close.clone(),
    };
    if let Err(err) = shared.hub.register(&me.app, &me.session, conn.clone()).await {
        tracing::warn!(error = %err, "could not register connection");
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: 1011,
                reason: "try again".into(),
            })))
            .await;
        return;
    }
    let ping_interval = shared.config.ping_interval;
    let writer_close = close.clone();
    let writer_shared = shared.clone();
    let writer = tokio::spawn(async move {
        let mut ping = tokio::time::interval(ping_interval);
        ping.tick().await;
        loop {
            tokio::select! {
                frame = rx.recv() => match frame {
                    Some(frame) => if sink.send(frame).await.is_err() { break },
                    None => break,
                },
                _ = ping.tick() => if sink.send(Message::Ping(Default::default())).await.is_err() { break },
                _ = writer_close.cancelled() => {
                    // flush what is queued (replies, pushes), then say why we close
                    while let Ok(frame) = rx.try_recv() {
                        if sink.send(frame).await.is_err() { break }
                    }
                    let (code, reason) = if writer_shared.draining.load(Ordering::SeqCst) || writer_shared.shutdown.is_cancelled() {
                        (CLOSE_RECONNECT, "server restarting, reconnect")
                    } else {
                        (CLOSE_TOO_SLOW, "outbound queue full")
                    };
                    let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    break;
                }
            }
        }
        writer_close.cancel();
    });
    let ctx = ConnCtx {
        shared: shared.clone(),
        me: me.clone(),
        tx,
        msgpack: conn.msgpack.clone(),
        close: close.clone(),
    };
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
        let Some(Ok(frame)) = frame else { break };
        deadline = tokio::time::Instant::now() + idle_limit;
        match (kind, frame) {
            (_, Message::Close(_)) => break,
            (ConnKind::Native, Message::Text(text)) => on_text(&ctx, text.as_str()).await,
            (ConnKind::Native, Message::Binary(bytes)) => on_binary(&ctx, &bytes).await,
            _ => {}
        }
    }
    close.cancel();
    shared.hub.unregister(&me.app, &me.session, conn.id, kind).await;
    let _ = writer.await;
}

async fn on_text(ctx: &ConnCtx, text: &str) {
    match serde_json::from_str::<Value>(text) {
        Ok(value) => handle(ctx, value, false).await,
        Err(err) => ctx.reply(
            wire::error_reply(
                "",
                &Value::Null,
                ErrorCode::InvalidParameter,
                &format!("malformed JSON: {err}"),
            ),
            false,
        ),
    }
}

async fn on_binary(ctx: &ConnCtx, bytes: &[u8]) {
    ctx.msgpack.store(true, Ordering::Relaxed);
    match rmp_serde::from_slice::<Value>(bytes) {
        Ok(value) => handle(ctx, value, true).await,
        Err(err) => ctx.reply(
            wire::error_reply(
                "",
                &Value::Null,
                ErrorCode::InvalidParameter,
                &format!("malformed MessagePack: {err}"),
            ),
            true,
        ),
    }
}

async fn handle(ctx: &ConnCtx, value: Value, msgpack: bool) {
    let req_id = value.get("reqId").cloned().unwrap_or(Value::Null);
    let action = value.get("action").and_then(Value::as_str).unwrap_or("").to_owned();
    let request: Request = match serde_json::from_value(value) {
        Ok(request) => request,
        Err(err) => {
            return ctx.reply(
                wire::error_reply(
                    &action,
                    &req_id,
                    ErrorCode::InvalidParameter,
                    &format!("malformed request: {err}"),
                ),
                msgpack,
            );
        }
    };
    if let Some(link_key) = &request.link_key
        && link_key != ctx.me.session.as_str()
    {
        return ctx.reply(
            wire::error_reply(
                &action,
                &req_id,
                ErrorCode::NotMember,
                "linkKey is not this token's session",
            ),
            msgpack,
        );
    }
    metrics::counter!("herald_ws_requests_total").increment(1);
    let outcome = match request.action.as_str() {
        "msg-im" => msg_im(ctx, request.param, req_id.clone(), msgpack).await.map(|()| None),
        "ping" => Ok(Some(Value::from("pong"))),
        other => Err(ApiError::bad_input(format!("unknown action {other:?}"))),
    };
    match outcome {
        Ok(Some(data)) => ctx.reply(wire::ok_reply(&action, &req_id, data), msgpack),
        Ok(None) => {}
        Err(err) => ctx.reply(wire::error_reply(&action, &req_id, err.code, &err.message), msgpack),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MsgIm {
    conv_id: String,
    #[serde(default)]
    msg_key: Option<String>,
    #[serde(default)]
    msg_type: Value,
    msg_content: String,
}

/// seed 000's type names, or the integer `Type`.
fn parse_msg_type(value: &Value) -> Result<i32, ApiError> {
    match value {
        Value::Null => Ok(1),
        Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or(()),
        Value::String(name) => match name.as_str() {
            "text" => Ok(1),
            "image" => Ok(2),
            "video" => Ok(3),
            "audio" => Ok(4),
            "duration" => Ok(5),
            "location" => Ok(6),
            "others" => Ok(0),
            _ => Err(()),
        },
        _ => Err(()),
    }
    .map_err(|()| {
        ApiError::bad_input(
            "msgType must be an integer or one of text, image, video, audio, duration, location, others",
        )
    })
}

async fn msg_im(ctx: &ConnCtx, param: Value, req_id: Value, msgpack: bool) -> Result<(), ApiError> {
    let param: MsgIm = serde_json::from_value(param).map_err(|e| ApiError::bad_input(format!("invalid param: {e}")))?;
    let request = SendRequest {
        conv: ConvId::parse(param.conv_id)?,
        msg_type: parse_msg_type(&param.msg_type)?,
        status: 0,
        content: param.msg_content,
        client_msg_id: param.msg_key,
    };
    let command = send::validate(&ctx.shared, &ctx.me, request)?;
    send::submit(
        &ctx.shared,
        command,
        Waiter::Ws {
            tx: ctx.tx.clone(),
            req_id,
            msgpack,
        },
    )
    .await
}
