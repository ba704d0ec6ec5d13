//! The baseline: a trivial WebSocket relay that speaks just enough of Herald's protocol for the
//! same clients to drive it. Each `msg-im` gets the next number of its conversation and is
//! forwarded to every connection of every member; nothing is stored, nothing is checked.

mod socket;

use axum::Router;
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Read buffer of a WebSocket: small, it grows for larger frames (axum's default is 128 KiB,
/// allocated for every connection).
pub const READ_BUFFER: usize = 4 * 1024;

/// Frames queued per connection before it is closed as a slow reader (as in Herald).
pub const OUTBOUND_QUEUE: usize = 1024;

type Frame = axum::extract::ws::Utf8Bytes;

/// One open connection: its queue, and how to close it.
#[derive(Clone)]
struct Conn {
    id: u64,
    tx: mpsc::Sender<Frame>,
    close: CancellationToken,
}

impl Conn {
    fn offer(&self, frame: Frame) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(frame) {
            self.close.cancel();
        }
    }
}

struct Conv {
    members: Vec<String>,
    seq: u64,
}

#[derive(Default)]
pub struct Relay {
    read_buffer: usize,
    conns: Mutex<HashMap<String, Vec<Conn>>>,
    convs: RwLock<HashMap<String, Arc<Mutex<Conv>>>>,
    next_id: AtomicU64,
}

impl Relay {
    fn next(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn create(&self, members: Vec<String>) -> String {
        let id = format!("relay-{}", self.next());
        let conv = Conv { members, seq: 0 };
        self.convs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), Arc::new(Mutex::new(conv)));
        id
    }

    fn register(&self, session: &str, conn: Conn) {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.entry(session.to_owned()).or_default().push(conn);
    }

    fn unregister(&self, session: &str, id: u64) {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = conns.get_mut(session) {
            list.retain(|c| c.id != id);
            if list.is_empty() {
                conns.remove(session);
            }
        }
    }

    /// Numbers the message and queues it to every member's connections; returns the
    /// `MsgData` JSON, or why not.
    fn forward(
        &self,
        from: &str,
        conv_id: &str,
        key: Option<&str>,
        msg_type: &Value,
        content: &str,
    ) -> Result<String, &'static str> {
        let conv = self
            .convs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(conv_id)
            .cloned()
            .ok_or("no such conversation")?;
        let mut conv = conv.lock().unwrap_or_else(|p| p.into_inner());
        if !conv.members.iter().any(|m| m == from) {
            return Err("not a member");
        }
        conv.seq += 1;
        let send_time = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let msg = json!({
            "MsgId": self.next().to_string(),
            "ConversationID": conv_id,
            "FromSession": from,
            "SendTime": send_time,
            "Status": 0,
            "Type": msg_type.as_i64().unwrap_or(1),
            "Content": content,
            "Seq": conv.seq,
            "ClientMsgId": key,
        })
        .to_string();
        let native = Frame::from(format!(
            r#"{{"action":"msg-im","code":200,"status":"ok","data":{msg}}}"#
        ));
        let plain = Frame::from(msg.clone());
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        for member in &conv.members {
            for conn in conns.get(member).into_iter().flatten() {
                conn.offer(if conn.id & PUSH_ONLY != 0 {
                    plain.clone()
                } else {
                    native.clone()
                });
            }
        }
        Ok(msg)
    }
}

/// Set in the id of a `/notify` connection (pushes are bare `MsgData`).
const PUSH_ONLY: u64 = 1 << 63;

/// The relay's routes.
pub fn router(relay: Arc<Relay>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ready" }))
        .route("/inner/get_token", post(get_token))
        .route("/create_conversation", post(create_conversation))
        .route("/inner/create_conversation", post(inner_create_conversation))
        .route("/ws", get(ws))
        .route("/notify", get(notify))
        .with_state(relay)
}

fn relay(read_buffer: usize) -> Arc<Relay> {
    Arc::new(Relay {
        read_buffer,
        ..Default::default()
    })
}

/// Accepted sockets send small frames at once (`TCP_NODELAY`): with Nagle's algorithm a push
/// written while an earlier one is unacknowledged waits for the client's delayed ACK (40 ms).
fn no_delay(listener: tokio::net::TcpListener) -> impl axum::serve::Listener<Addr = SocketAddr> {
    use axum::serve::ListenerExt;
    listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    })
}

/// Serves the relay on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, read_buffer: usize) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("relay listening on http://{}", listener.local_addr()?);
    axum::serve(no_delay(listener), router(relay(read_buffer))).await?;
    Ok(())
}

/// Starts the relay on a free loopback port in this process (tests).
pub async fn start() -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(no_delay(listener), router(relay(READ_BUFFER))).await;
    });
    Ok((addr, task))
}

fn ok(data: Value) -> Response {
    axum::Json(json!({"code": 0, "data": data})).into_response()
}

fn bad(text: &str) -> Response {
    (
        axum::http::StatusCode::BAD_REQUEST,
        axum::Json(json!({"code": 10001, "error": text})),
    )
        .into_response()
}

#[derive(Deserialize)]
struct TokenBody {
    session: String,
}

/// The relay checks nothing: a token is the session's name.
async fn get_token(axum::Json(body): axum::Json<TokenBody>) -> Response {
    ok(json!(body.session))
}

#[derive(Deserialize)]
struct CreateBody {
    #[serde(default)]
    sessions: Vec<String>,
}

async fn create_conversation(
    State(relay): State<Arc<Relay>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<CreateBody>,
) -> Response {
    let Some(me) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return bad("no token");
    };
    let mut members = vec![me.to_owned()];
    members.extend(body.sessions);
    ok(json!({"ConversationId": relay.create(members)}))
}

async fn inner_create_conversation(
    State(relay): State<Arc<Relay>>,
    axum::Json(body): axum::Json<CreateBody>,
) -> Response {
    if body.sessions.is_empty() {
        return bad("sessions may not be empty");
    }
    ok(json!({"ConversationId": relay.create(body.sessions)}))
}

#[derive(Deserialize)]
struct WsQuery {
    token: String,
    #[serde(default)]
    protoc: Option<String>,
}

async fn ws(State(relay): State<Arc<Relay>>, Query(query): Query<WsQuery>, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .read_buffer_size(relay.read_buffer)
        .on_upgrade(move |socket| socket::serve(relay, socket, query.token, false))
}

async fn notify(State(relay): State<Arc<Relay>>, Query(query): Query<WsQuery>, upgrade: WebSocketUpgrade) -> Response {
    if query.protoc.as_deref().unwrap_or("ws") != "ws" {
        return bad("the relay serves /notify over WebSocket only");
    }
    upgrade
        .read_buffer_size(relay.read_buffer)
        .on_upgrade(move |socket| socket::serve(relay, socket, query.token, true))
}
