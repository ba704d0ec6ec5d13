//! `GET /notify?token=…&protoc=ws|sse|poll` (protocol §3): the push-only channel.

use super::extract::Client;
use crate::Identity;
use crate::connections::Connections;
use crate::error::{ApiError, ApiResult};
use crate::frames::Outbound;
use crate::hub::{Conn, ConnKind, Sink};
use crate::mailbox::Mailbox;
use crate::polls::PollBox;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use herald_protocol::ErrorCode;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// SSE keep-alive comment interval.
pub const SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Long-poll defaults and bounds.
pub const POLL_WAIT_DEFAULT: u64 = 30;
pub const POLL_WAIT_MAX: u64 = 60;
pub const POLL_MAX_DEFAULT: usize = 100;
pub const POLL_MAX_MAX: usize = 1000;

#[derive(Deserialize)]
pub struct NotifyQuery {
    #[serde(default)]
    protoc: Option<String>,
    #[serde(default)]
    wait: Option<String>,
    #[serde(default)]
    max: Option<String>,
}

#[utoipa::path(
    get,
    path = "/notify",
    tag = "push",
    description = "Push only. `ws`: one JSON text frame per event (`MsgData` for messages, the push frame of /ws for other events). `sse`: `text/event-stream`, messages as `id: <MsgId>` / `event: message` / `data: <MsgData>`, other pushes as `event: push`, keep-alive comments. `poll`: long poll; 200 with `{\"code\":0,\"data\":[event, ...]}` as soon as there is one, or 204 with no body after `wait` seconds; events between polls are kept.",
    params(
        ("protoc" = Option<String>, Query, description = "ws (default), sse or poll; anything else: 400 / 90013"),
        ("token" = Option<String>, Query, description = "client token (or Authorization: Bearer)"),
        ("wait" = Option<u64>, Query, description = "poll: seconds to wait, 1-60, default 30"),
        ("max" = Option<u64>, Query, description = "poll: most events per answer, 1-1000, default 100"),
    ),
    responses(
        (status = 101, description = "WebSocket (protoc=ws)"),
        (status = 200, description = "SSE stream (protoc=sse), or a batch of events (protoc=poll)"),
        (status = 204, description = "poll: nothing arrived within `wait`"),
        super::schemas::Errors
    ),
    security(("client_token" = []))
)]
pub async fn notify(
    State(conns): State<Connections>,
    query: Result<Query<NotifyQuery>, axum::extract::rejection::QueryRejection>,
    client: Result<Client, ApiError>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return ApiError::bad_input("invalid query string").into_response();
    };
    let protoc = query.protoc.clone().unwrap_or_else(|| "ws".into());
    if !["ws", "sse", "poll"].contains(&protoc.as_str()) {
        return ApiError::new(
            ErrorCode::UnsupportedProtocol,
            format!("unsupported protoc {protoc:?}: use ws, sse or poll"),
        )
        .into_response();
    }
    let Client(me) = match client {
        Ok(client) => client,
        Err(err) => return err.into_response(),
    };
    let result = match protoc.as_str() {
        "ws" => match upgrade {
            Ok(upgrade) => Ok(super::ws::accept(conns, me, upgrade, ConnKind::NotifyWs).await),
            Err(_) => Err(ApiError::bad_input("protoc=ws needs a WebSocket upgrade request")),
        },
        "sse" => sse(conns, me).await,
        _ => poll(conns, me, &query).await,
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Closes an SSE connection when its response stream is dropped (client gone).
struct CloseOnDrop(CancellationToken);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Unregisters a connection as soon as it is closed: a stream that is dropped, or one closed
/// (slow reader, revoked token, drain) while its client no longer reads it.
async fn unregister_when_closed(
    conns: Connections,
    me: Identity,
    conn_id: u64,
    kind: ConnKind,
    close: CancellationToken,
) {
    close.cancelled().await;
    conns.hub.unregister(&me.app, &me.session, conn_id, kind).await;
}

async fn sse(conns: Connections, me: Identity) -> ApiResult {
    let (conn, rx) = super::ws::register(&conns, &me, ConnKind::Sse).await?;
    let close = conn.close.clone();
    let expiry = super::ws::token_expiry(&me);
    tokio::spawn(unregister_when_closed(conns, me, conn.id, ConnKind::Sse, close.clone()));
    let registration = CloseOnDrop(close.clone());
    let events = futures::stream::unfold(
        (rx, registration, close),
        move |(mut rx, registration, close)| async move {
            loop {
                let frame = tokio::select! {
                    frame = rx.recv() => frame?,
                    _ = close.cancelled() => return None,
                    // a stream ends with its token
                    _ = tokio::time::sleep_until(expiry) => return None,
                };
                let event = match frame {
                    Outbound::Text { json, id: Some(id) } => {
                        Event::default().id(id.to_string()).event("message").data(json.as_str())
                    }
                    Outbound::Text { json, id: None } | Outbound::Push(json) => {
                        Event::default().event("push").data(json.as_str())
                    }
                    Outbound::Binary(_) => continue,
                    Outbound::Close { .. } => return None,
                };
                return Some((Ok::<_, Infallible>(event), (rx, registration, close)));
            }
        },
    );
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(SSE_KEEP_ALIVE).text("keep-alive"))
        .into_response())
}

fn bounded<T: std::str::FromStr + PartialOrd>(
    value: &Option<String>,
    default: T,
    low: T,
    high: T,
    name: &str,
) -> Result<T, ApiError> {
    match value {
        None => Ok(default),
        Some(text) => text
            .parse::<T>()
            .ok()
            .filter(|v| *v >= low && *v <= high)
            .ok_or_else(|| ApiError::bad_input(format!("{name} is out of range"))),
    }
}

async fn poll(conns: Connections, me: Identity, query: &NotifyQuery) -> ApiResult {
    let wait = bounded(&query.wait, POLL_WAIT_DEFAULT, 1, POLL_WAIT_MAX, "wait (1-60 seconds)")?;
    let max = bounded(&query.max, POLL_MAX_DEFAULT, 1, POLL_MAX_MAX, "max (1-1000)")?;
    let key = (me.app.clone(), me.session.clone(), me.platform);
    let (poll_box, created) = conns.mailboxes.claim(&key, || PollBox {
        mailbox: Arc::new(Mailbox::new(conns.limits.outbound_queue_bytes)),
        conn_id: conns.hub.next_conn_id(),
    });
    if created {
        let conn = Conn::new(
            poll_box.conn_id,
            &me,
            ConnKind::Poll,
            Sink::Mailbox(poll_box.mailbox.clone()),
            conns.shutdown.child_token(),
        );
        if let Err(err) = conns.hub.register(&me.app, &me.session, conn).await {
            conns.mailboxes.forget(&key, poll_box.conn_id);
            return Err(err.into());
        }
    }
    let (frames, dropped) = poll_box.mailbox.poll(max, Duration::from_secs(wait)).await;
    if frames.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let mut body = String::from(r#"{"code":0,"data":["#);
    for (i, frame) in frames.iter().enumerate() {
        if let Outbound::Text { json, .. } = frame {
            if i > 0 {
                body.push(',');
            }
            body.push_str(json.as_str());
        }
    }
    body.push_str("]}");
    let mut response = (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response();
    if dropped > 0 {
        tracing::warn!(session = %me.session, dropped, "poll mailbox overflowed");
        response
            .headers_mut()
            .insert("x-herald-dropped", HeaderValue::from(dropped));
    }
    Ok(response)
}
