//! `/chat/test`: seed 003's (gin-chat-demo) frames over Herald's operations (protocol §9).
//!
//! In: `{from?, to, type, op_type, content}` with op 1 send (`key\ntext`), 2 history
//! (`"skip-limit"`), 3 unread, 4 mark read, 5 delete for me, 6 room message. Out: the greeting
//! 40003, 40018 / 40019 once a send is stored (peer online / offline), 40020 when anti-spam or
//! the send rate refuses it, history lines 40005 `"<MsgId>\n<text>"`, 40007 / 40006 for
//! mark-read, 40013 for delete, messages 40011, and 40000 for a refused frame. `to` defaults to
//! the connection's `to_uid`; a private message is one of the single conversation of the two
//! sessions (created by the first send only: ops 2–5 look it up, so a read creates nothing), a
//! room one goes to the live members of the app's room `to` ("ALL" by default, which every
//! `/chat/test` connection is in).

mod frames;
mod render;

use super::{Dialect, Seed, SeedIo};
use crate::Identity;
use crate::api::{self, SendRequest};
use crate::connections::Connections;
use crate::error::ApiError;
use crate::http::extract::Client;
use crate::hub::ConnKind;
use crate::rooms::{self, MAX_ROOMS_PER_CONNECTION};
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::response::Response;
use frames::{Refused, Request, answer};
use herald_protocol::bus::Reply;
use herald_protocol::{ConvId, ErrorCode, MsgId, msg};
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::Arc;

/// Unread messages one op 3 answer carries at most (and about 1 MiB).
pub const UNREAD_MAX: u64 = 1000;
/// The `Type` of the messages a 003 client sends (seed 000's text).
const TEXT: i32 = 1;

#[derive(Deserialize)]
pub struct ChatQuery {
    /// The peer of frames without `to`.
    #[serde(default)]
    to_uid: Option<String>,
}

#[utoipa::path(
    get,
    path = "/chat/test",
    tag = "push",
    description = "Seed 003's (gin-chat-demo) WebSocket protocol over Herald's messages (docs/protocol.md §9). Frames `{from?, to, type, op_type, content}`: op 1 sends `content` (`key\\ntext`: the text before the first newline is the idempotency key) to the single conversation with `to` and answers 40018 (peer online) or 40019 (offline) with the `MsgId` once stored, 40020 when anti-spam or the send rate refuses; 2 history `\"skip-limit\"` (oldest first, at most 100 per answer) as 40005 frames `\"<MsgId>\\n<text>\"`; 3 what `to` sent after the read cursor (same frames, at most 1000); 4 mark read up to the message `content` (40007, or 40006); 5 delete that message for the caller (40013); only op 1 creates the pair's conversation: 2–5 with a peer never talked to answer as an empty conversation would and create none; 6 a message to the live members of room `to` (default \"ALL\", which every /chat/test connection is in; a native client joins with `chat-conv-join`), not stored. `to` defaults to `to_uid`. The peer's messages arrive as `{from, to, type:1, op_type:40011, content}`, room messages as `{from, to:<room>, type:6, op_type:40011, content}`. The first frame is `{from:\"System\", op_type:40003}`; a refused frame gets `{from:\"System\", to, type, op_type:40000, content:<why>}` and the connection stays. `from`, when present, must be the token's session.",
    params(
        ("token" = Option<String>, Query, description = "client token (or Authorization: Bearer)"),
        ("to_uid" = Option<String>, Query, description = "the peer of frames without `to`"),
    ),
    responses((status = 101, description = "switching protocols"), super::super::schemas::Errors),
    security(("client_token" = []))
)]
pub async fn chat_test(
    State(conns): State<Connections>,
    Client(me): Client,
    Query(query): Query<ChatQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let seed = seed(&conns, &me, query.to_uid);
    super::accept(conns, me, upgrade, ConnKind::GinChat, seed).await
}

/// The two halves of one `/chat/test` connection.
fn seed(conns: &Connections, me: &Identity, to_uid: Option<String>) -> Seed {
    Seed {
        dialect: Box::new(GinChat {
            me: me.session.to_string(),
            to_uid,
            rooms: HashSet::new(),
            max_content_bytes: conns.limits.max_content_bytes,
        }),
        render: Arc::new(render::GinRender::new(conns.api.clone(), me.clone())),
    }
}

struct GinChat {
    /// The token's session: the `to` of the server's own frames.
    me: String,
    to_uid: Option<String>,
    /// The rooms this connection is in.
    rooms: HashSet<String>,
    /// Largest room message, in bytes (stored messages are checked by `Api::send`).
    max_content_bytes: usize,
}

#[async_trait::async_trait]
impl Dialect for GinChat {
    async fn opened(&mut self, io: &SeedIo) {
        // in the room before the greeting: a client that has the greeting hears the room
        if let Err(err) = self.join(io, frames::DEFAULT_ROOM).await {
            tracing::warn!(error = %err.message, "joining the default room failed");
        }
        io.say(frames::system(io.me.session.as_str(), 1, answer::GREETING, "connected"));
    }

    async fn on_text(&mut self, io: &SeedIo, text: &str) {
        let me = io.me.session.as_str();
        let frame = match frames::parse(text, me, self.to_uid.as_deref()) {
            Ok(frame) => frame,
            Err(refused) => return io.say(frames::error(me, &refused)),
        };
        let t = frame.frame_type;
        let answered = match frame.request {
            Request::Send { to, key, text } => send(io, t, to, key, text).await,
            Request::History { to, skip, limit } => history(io, to, skip, limit).await,
            Request::Unread { to } => unread(io, to).await,
            Request::MarkRead { to, msg_id } => Ok(vec![mark_read(io, t, to, &msg_id).await]),
            Request::Delete { to, msg_id } => delete(io, t, to, &msg_id).await,
            Request::Room { room, text } => self.room(io, room, text).await,
        };
        match answered {
            Ok(frames) => frames.into_iter().for_each(|frame| io.say(frame)),
            Err(err) => io.say(frames::error(
                me,
                &Refused {
                    frame_type: t,
                    why: err.message,
                },
            )),
        }
    }

    async fn closing(&mut self, io: &SeedIo) {
        for room in self.rooms.drain() {
            io.rooms.leave(&io.me.app, &room, io.conn.id).await;
        }
    }

    fn error_frame(&self, why: &str) -> String {
        frames::system(&self.me, 1, answer::ERROR, why)
    }
}

/// Op 1: the message a native client would send in the single conversation with `to`;
/// answered once stored, with the peer's presence.
async fn send(io: &SeedIo, t: i64, to: String, key: Option<String>, text: String) -> Result<Vec<String>, ApiError> {
    let me = io.me.session.as_str();
    let stored = async {
        let conv = io.api.single_with(&io.me, to.clone()).await?;
        let request = SendRequest {
            conv,
            msg_type: TEXT,
            status: 0,
            content: text,
            client_msg_id: key,
        };
        let command = io.api.send(&io.me, request).await?;
        match io.api.commands().submit_and_wait(command).await?? {
            Reply::Message(record) => Ok(record),
            other => Err(ApiError::internal(format!("unexpected reply to a send: {other:?}"))),
        }
    };
    let record = match stored.await {
        Ok(record) => record,
        Err(err) if matches!(err.code, ErrorCode::RefusedBySpam | ErrorCode::RateLimited) => {
            return Ok(vec![frames::system(me, t, answer::REFUSED, &err.message)]);
        }
        Err(err) => return Err(err),
    };
    let online = io
        .api
        .presence(&io.me, vec![to.clone()])?
        .get(&to)
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let op_type = if online {
        answer::PEER_ONLINE
    } else {
        answer::PEER_OFFLINE
    };
    Ok(vec![frames::system(me, t, op_type, &record.msg_id.to_string())])
}

/// One 40005 line per message `me` can still see (deleted or recalled ones are gone).
/// `frame_type` is the op that asked (2 history, 3 unread).
fn lines(io: &SeedIo, to: &str, msgs: Vec<msg::MsgData>, frame_type: u64, only_from: Option<&str>) -> Vec<String> {
    let me = io.me.session.as_str();
    msgs.into_iter()
        .filter(|m| m.status == msg::status::NORMAL)
        .filter(|m| only_from.is_none_or(|from| m.from_session.as_str() == from))
        .map(|m| {
            let (from, peer) = if m.from_session.as_str() == me {
                (me, to)
            } else {
                (to, me)
            };
            let content = frames::history_content(&m.msg_id.to_string(), &m.content);
            frames::message(from, peer, frame_type as i64, answer::HISTORY, &content)
        })
        .collect()
}

/// Op 2: `limit` messages after the first `skip`, oldest first (none with a stranger).
async fn history(io: &SeedIo, to: String, skip: u64, limit: u64) -> Result<Vec<String>, ApiError> {
    let Some(conv) = io.api.single_between(&io.me, to.clone()).await? else {
        return Ok(Vec::new());
    };
    let page = io.api.oldest_page(&io.me, &conv, skip.saturating_add(1), limit).await?;
    Ok(lines(io, &to, page.msgs, frames::op::HISTORY, None))
}

/// Op 3: what `to` sent after `me`'s read cursor, oldest first (none from a stranger).
async fn unread(io: &SeedIo, to: String) -> Result<Vec<String>, ApiError> {
    let Some(conv) = io.api.single_between(&io.me, to.clone()).await? else {
        return Ok(Vec::new());
    };
    let read = io.api.read_cursor(&io.me, &conv).await?;
    let page = io
        .api
        .oldest_page(&io.me, &conv, read.saturating_add(1), UNREAD_MAX)
        .await?;
    Ok(lines(io, &to, page.msgs, frames::op::UNREAD, Some(&to)))
}

/// The message `msg_id` of the single conversation with `to`: its conversation and id. Without
/// a conversation there is no message: answered as an unknown id in an existing one.
async fn message_of(io: &SeedIo, to: String, msg_id: &str) -> Result<(ConvId, MsgId), ApiError> {
    let id = MsgId::parse(msg_id).map_err(|_| ApiError::bad_input(format!("{msg_id:?} is not a message id")))?;
    let conv = io
        .api
        .single_between(&io.me, to)
        .await?
        .ok_or_else(api::message_not_found)?;
    Ok((conv, id))
}

/// Op 4: the read cursor moved up to the message (40007), or why not (40006).
async fn mark_read(io: &SeedIo, t: i64, to: String, msg_id: &str) -> String {
    let me = io.me.session.as_str();
    let marked = async {
        let (conv, id) = message_of(io, to, msg_id).await?;
        let seq = io.api.seq_of(&io.me, &conv, id).await?;
        let command = io.api.read(&io.me, conv, Some(seq)).await?;
        io.api.commands().submit_and_wait(command).await??;
        Ok::<_, ApiError>(())
    };
    match marked.await {
        Ok(()) => frames::system(me, t, answer::MARKED, msg_id),
        Err(err) => frames::system(me, t, answer::MARK_FAILED, &err.message),
    }
}

/// Op 5: the message deleted for `me` only (a tombstone in its history).
async fn delete(io: &SeedIo, t: i64, to: String, msg_id: &str) -> Result<Vec<String>, ApiError> {
    let (conv, id) = message_of(io, to, msg_id).await?;
    io.api.hide_message(&io.me, &conv, id).await?;
    Ok(vec![frames::system(io.me.session.as_str(), t, answer::DELETED, msg_id)])
}

impl GinChat {
    async fn join(&mut self, io: &SeedIo, room: &str) -> Result<(), ApiError> {
        if self.rooms.contains(room) {
            return Ok(());
        }
        if self.rooms.len() >= MAX_ROOMS_PER_CONNECTION {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("a connection may be in at most {MAX_ROOMS_PER_CONNECTION} rooms"),
            ));
        }
        io.rooms.join(&io.me.app, room, io.conn.clone()).await.map_err(|e| {
            tracing::warn!(error = %e, "room subscribe failed");
            ApiError::new(ErrorCode::Unavailable, "try again")
        })?;
        self.rooms.insert(room.to_owned());
        Ok(())
    }

    /// Op 6: to the room's live members (this connection joins it, so it hears the room, its
    /// own message included); nothing is stored.
    async fn room(&mut self, io: &SeedIo, room: String, text: String) -> Result<Vec<String>, ApiError> {
        if text.len() > self.max_content_bytes {
            return Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("content is larger than {} bytes", self.max_content_bytes),
            ));
        }
        self.join(io, &room).await?;
        let frame = rooms::chat_push(&room, None, io.me.session.as_str(), TEXT, &text);
        io.rooms.publish(&io.me.app, &room, frame).await.map_err(|e| {
            tracing::warn!(error = %e, "room publish failed");
            ApiError::new(ErrorCode::Unavailable, "try again")
        })?;
        Ok(Vec::new())
    }
}
