//! One relay connection: reads `msg-im` requests and answers them; a writer task drains the
//! connection's queue, one flush per burst.

use super::{Conn, Frame, OUTBOUND_QUEUE, PUSH_ONLY, Relay};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use std::borrow::Cow;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(rename = "reqId", default)]
    req_id: Value,
    #[serde(default)]
    param: Option<MsgIm>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MsgIm {
    conv_id: String,
    #[serde(default)]
    msg_key: Option<String>,
    #[serde(default)]
    msg_type: Value,
    #[serde(default)]
    msg_content: String,
}

fn error_reply(action: &str, req_id: &Value, text: &str) -> Frame {
    Frame::from(json!({"action": action, "reqId": req_id, "status": "error", "code": 10001, "error": text}).to_string())
}

pub async fn serve(relay: Arc<Relay>, socket: WebSocket, session: String, push_only: bool) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Frame>(OUTBOUND_QUEUE);
    let close = CancellationToken::new();
    let id = relay.next() | if push_only { PUSH_ONLY } else { 0 };
    let conn = Conn {
        id,
        tx,
        close: close.clone(),
    };
    relay.register(&session, conn.clone());
    let writer_close = close.clone();
    let writer = tokio::spawn(async move {
        loop {
            let frame = tokio::select! {
                frame = rx.recv() => frame,
                _ = writer_close.cancelled() => {
                    let reason = CloseFrame { code: 1008, reason: "outbound queue full".into() };
                    let _ = sink.send(Message::Close(Some(reason))).await;
                    break;
                }
            };
            let Some(frame) = frame else { break };
            if sink.feed(Message::Text(frame)).await.is_err() {
                break;
            }
            while let Ok(frame) = rx.try_recv() {
                if sink.feed(Message::Text(frame)).await.is_err() {
                    break;
                }
            }
            if sink.flush().await.is_err() {
                break;
            }
        }
        writer_close.cancel();
    });
    loop {
        let message = tokio::select! {
            message = stream.next() => message,
            _ = close.cancelled() => break,
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            Some(Ok(_)) => continue,
        };
        if push_only {
            continue;
        }
        let reply = match serde_json::from_str::<Request>(text.as_str()) {
            Ok(request) if request.action == "msg-im" => match request.param {
                Some(p) => match relay.forward(&session, &p.conv_id, p.msg_key.as_deref(), &p.msg_type, &p.msg_content)
                {
                    Ok(msg) => Frame::from(format!(
                        r#"{{"action":"msg-im","reqId":{},"status":"ok","data":{msg}}}"#,
                        request.req_id
                    )),
                    Err(why) => error_reply("msg-im", &request.req_id, why),
                },
                None => error_reply("msg-im", &request.req_id, "param missing"),
            },
            Ok(request) if request.action == "ping" => Frame::from(format!(
                r#"{{"action":"ping","reqId":{},"status":"ok","data":"pong"}}"#,
                request.req_id
            )),
            Ok(request) => error_reply(&request.action, &request.req_id, "the relay only relays msg-im"),
            Err(err) => error_reply("", &Value::Null, &format!("malformed request: {err}")),
        };
        conn.offer(reply);
    }
    relay.unregister(&session, id);
    drop(conn);
    writer.abort();
}
