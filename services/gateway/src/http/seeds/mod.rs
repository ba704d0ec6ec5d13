//! The seeds' WebSocket protocols (protocol §9): `/im/connect` (seed 002, Im-Services) and
//! `/chat/test` (seed 003, gin-chat-demo). Each is a thin dialect over the same operations
//! (`Api`) as `/ws`: a client frame becomes the operation a native client would ask for, with
//! the same checks (membership, anti-spam, friendship, rates), and every push reaches the
//! connection in its native shape, rendered in the dialect by the connection's writer. The
//! socket loop, its limits and its closes are `/ws`'s (`http/ws.rs`).

pub(crate) mod gin_chat;
mod im_services;

use super::extract::Client;
use super::ws::{self, Speaker};
use crate::Identity;
use crate::api::Api;
use crate::connections::Connections;
use crate::frames::Outbound;
use crate::hub::{Conn, ConnKind};
use crate::rooms::Rooms;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::response::Response;
use herald_protocol::ws::MAX_FRAME_BYTES;
use std::sync::Arc;

/// A seed protocol's two halves: what reads the client's frames, and what renders pushes.
pub(crate) struct Seed {
    pub dialect: Box<dyn Dialect>,
    pub render: Arc<dyn Render>,
}

/// A seed protocol's reading side, one per connection.
#[async_trait::async_trait]
pub(crate) trait Dialect: Send + Sync {
    /// Right after the handshake (003's greeting, 002's offline catch-up).
    async fn opened(&mut self, io: &SeedIo);
    /// One text frame of the client (at most `MAX_FRAME_BYTES`), answered through `io.say`.
    async fn on_text(&mut self, io: &SeedIo, text: &str);
    /// When the connection ends (leave rooms).
    async fn closing(&mut self, _io: &SeedIo) {}
    /// The dialect's error frame saying `why`.
    fn error_frame(&self, why: &str) -> String;
}

/// A seed protocol's writing side: native pushes in the dialect's shape. Called by the
/// connection's writer, one push at a time in queue order; it may read the store (what a
/// conversation is, with a bounded cache), within the writer's write deadline.
#[async_trait::async_trait]
pub(crate) trait Render: Send + Sync + 'static {
    /// A native push frame (`{"action", "code"?, "status", "data"}`, as `/ws` sends it) as
    /// this dialect's frames; none when the protocol has nothing to show for it.
    async fn render(&self, native_push: &str) -> Vec<String>;
}

/// What a dialect's handler works with: the operations, the rooms, its identity (the token's,
/// the only one a frame may act as) and its connection.
pub(crate) struct SeedIo {
    pub api: Api,
    /// The ephemeral rooms (seed 003's room broadcast).
    pub rooms: Arc<Rooms>,
    pub me: Identity,
    pub conn: Conn,
}

impl SeedIo {
    pub fn new(conns: &Connections, me: &Identity, conn: &Conn) -> Self {
        Self {
            api: conns.api.clone(),
            rooms: conns.rooms.clone(),
            me: me.clone(),
            conn: conn.clone(),
        }
    }

    /// Queues one frame, already in the dialect.
    pub fn say(&self, json: String) {
        self.conn.offer_own(Outbound::Text {
            json: json.into(),
            id: None,
        });
    }

    /// A frame the WebSocket layer refused (invalid UTF-8, past the hard size limit): the
    /// dialect's error, then a close with the RFC 6455 code (1009 too big, 1007 bad data).
    pub fn protocol_error(&self, dialect: &dyn Dialect, error: &str) {
        self.say(dialect.error_frame(&format!("bad frame: {error}")));
        let code = if error.contains("too long") || error.contains("too big") {
            1009
        } else {
            1007
        };
        self.conn.offer_own(Outbound::Close {
            code,
            reason: "bad frame",
        });
    }
}

/// One client frame of a seed protocol: text within `MAX_FRAME_BYTES` goes to the dialect;
/// anything else is answered with its error frame, and the connection stays.
pub(crate) async fn on_message(dialect: &mut dyn Dialect, io: &SeedIo, message: Message) {
    match message {
        Message::Text(text) if text.len() > MAX_FRAME_BYTES => io.say(dialect.error_frame(&format!(
            "frame of {} bytes is larger than the limit of {MAX_FRAME_BYTES} bytes",
            text.len()
        ))),
        Message::Text(text) => dialect.on_text(io, text.as_str()).await,
        Message::Binary(_) => io.say(dialect.error_frame("binary frames are not read: send JSON text frames")),
        _ => {}
    }
}

/// A seed protocol's socket.
async fn accept(conns: Connections, me: Identity, upgrade: WebSocketUpgrade, kind: ConnKind, seed: Seed) -> Response {
    ws::accept_as(conns, me, upgrade, kind, Speaker::Seed(seed)).await
}

#[utoipa::path(
    get,
    path = "/im/connect",
    tag = "push",
    description = "Seed 002's (Im-Services) WebSocket protocol over Herald's messages (docs/protocol.md §9): chat frames `{msg_client_id, to_id, msg_type, channel_type, message, data?}`, the ack `{ack:1, msg_code:1005, msg_id, msg_client_id, seq}` after the durable append, message frames (`msg_code` 200), friend (1000-1002) and presence (2000/2001) pushes, ping 1004, online query 2002, call relay 600, and on connect what arrived after the read cursor. Errors are `{msg_code:500, message}` (1003 when the app requires friendship); the connection stays.",
    params(("token" = Option<String>, Query, description = "client token (or Authorization: Bearer)")),
    responses((status = 101, description = "switching protocols"), super::schemas::Errors),
    security(("client_token" = []))
)]
pub async fn im_connect(State(conns): State<Connections>, Client(me): Client, upgrade: WebSocketUpgrade) -> Response {
    let seed = im_services::seed(&conns.api, &me);
    accept(conns, me, upgrade, ConnKind::ImServices, seed).await
}

/// `GET /ping` (seed 003): `ok`, to check the server answers.
#[utoipa::path(get, path = "/ping", tag = "health", responses((status = 200, description = "`ok`")))]
pub async fn ping() -> &'static str {
    "ok"
}
