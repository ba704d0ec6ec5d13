//! `/im/connect`: seed 002's (Im-Services) frames over Herald's operations (protocol §9).
//!
//! In: a chat frame `{msg_client_id, to_id, msg_type, channel_type, message, data?}` (1 private:
//! the single conversation with `to_id`; 2 group: `to_id` is the conversation), `1004` ping,
//! `2002` online query, `600` call request. Out: the ack `{ack:1, msg_code:1005, …}` once the
//! message is stored, message frames (200) on every other connection of every member, friend
//! (1000–1002) and presence (2000/2001) pushes, and on connect what arrived after the read cursor.

mod frames;
mod render;

use super::{Dialect, Seed, SeedIo};
use crate::Identity;
use crate::api::{Api, SendRequest};
use crate::error::ApiError;
use frames::{Id, Inbound};
use herald_protocol::bus::Reply;
use herald_protocol::{ConvId, ErrorCode, SessionId};
use serde_json::{Value, json};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

/// Sends one connection remembers (conversation and client key: Herald's idempotency scope for
/// one sender), so its own message does not come back to it as a push (it gets the ack instead).
const REMEMBERED_KEYS: usize = 256;

/// What the reading and the writing side of one connection share.
#[derive(Default)]
struct Shared {
    /// How the client types its ids, once it has sent one: pushes follow it (integers, seed
    /// 002's type, until the client shows it uses strings).
    integer_ids: Option<bool>,
    /// The client keys of this connection's recent sends, oldest first.
    own_keys: VecDeque<OwnSend>,
    own_set: HashSet<OwnSend>,
}

/// One send of this connection: its conversation and client key.
type OwnSend = (ConvId, String);

impl Shared {
    fn remember(&mut self, conv: &ConvId, key: &str) {
        let send = (conv.clone(), key.to_owned());
        if self.own_set.insert(send.clone()) {
            self.own_keys.push_back(send);
        }
        while self.own_keys.len() > REMEMBERED_KEYS {
            if let Some(old) = self.own_keys.pop_front() {
                self.own_set.remove(&old);
            }
        }
    }
}

type SharedState = Arc<Mutex<Shared>>;

fn lock(shared: &SharedState) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// The two halves of one `/im/connect` connection.
pub(crate) fn seed(api: &Api, me: &Identity) -> Seed {
    let shared = SharedState::default();
    Seed {
        dialect: Box::new(ImServices { shared: shared.clone() }),
        render: Arc::new(render::ImRender::new(api.clone(), me.clone(), shared)),
    }
}

struct ImServices {
    shared: SharedState,
}

#[async_trait::async_trait]
impl Dialect for ImServices {
    async fn opened(&mut self, io: &SeedIo) {
        // the writer catches up on the first push it renders: this one, if no other comes first
        io.conn.offer(crate::frames::Outbound::Text {
            json: render::CATCH_UP.into(),
            id: None,
        });
    }

    async fn on_text(&mut self, io: &SeedIo, text: &str) {
        let frame = match frames::parse(text, &io.me.session) {
            Ok(frame) => frame,
            Err(why) => return io.say(self.error_frame(&why)),
        };
        let answer = match frame {
            Inbound::Ping => Ok(json!({"msg_code": 1004, "message": "ping"})),
            Inbound::Online { to_id } => online(io, to_id),
            Inbound::Call { to_id, data } => match call(io, to_id, data).await {
                // relayed: the caller hears back only when it fails
                Ok(()) => return,
                Err(err) => Err(err),
            },
            Inbound::Chat(chat) => self.chat(io, chat).await,
        };
        match answer {
            Ok(frame) => io.say(frame.to_string()),
            Err(err) => io.say(error_of(&err)),
        }
    }

    fn error_frame(&self, why: &str) -> String {
        json!({"msg_code": 500, "message": why}).to_string()
    }
}

/// A refusal in 002's shape: 1003 for "not friends", 500 for everything else (with Herald's
/// code beside it, so a client can tell a rate limit from a bad frame).
fn error_of(err: &ApiError) -> String {
    let msg_code = if err.code == ErrorCode::NotFriends { 1003 } else { 500 };
    json!({"msg_code": msg_code, "message": err.message, "code": err.code.code()}).to_string()
}

fn online(io: &SeedIo, to_id: Id) -> Result<Value, ApiError> {
    let presence = io.api.presence(&io.me, vec![to_id.text.clone()])?;
    let online = presence.get(&to_id.text).and_then(Value::as_bool).unwrap_or(false);
    Ok(json!({"msg_code": 2002, "to_id": to_id.value, "online": online}))
}

async fn call(io: &SeedIo, to_id: Id, data: Value) -> Result<(), ApiError> {
    let to = SessionId::parse(to_id.text)?;
    let call = crate::api::Call {
        kind: "call",
        call_id: None,
        data,
    };
    io.api.signal(&io.me, &[to], call).await
}

impl ImServices {
    /// A chat frame: the message a native client would send, acknowledged once stored.
    async fn chat(&self, io: &SeedIo, chat: frames::Chat) -> Result<Value, ApiError> {
        lock(&self.shared).integer_ids = Some(chat.integer_ids);
        let conv = match chat.channel_type {
            frames::Channel::Private => io.api.single_with(&io.me, chat.to_id.text.clone()).await?,
            frames::Channel::Group => {
                let conv = ConvId::parse(chat.to_id.text.clone())?;
                io.api.require_member(&io.me, &conv).await?;
                conv
            }
        };
        lock(&self.shared).remember(&conv, &chat.msg_client_id.text);
        let request = SendRequest {
            conv,
            msg_type: chat.msg_type,
            status: 0,
            content: chat.message,
            client_msg_id: Some(chat.msg_client_id.text.clone()),
        };
        let command = io.api.send(&io.me, request).await?;
        match io.api.commands().submit_and_wait(command).await?? {
            Reply::Message(record) => Ok(json!({
                "ack": 1,
                "msg_code": 1005,
                "msg_id": record.msg_id,
                "msg_client_id": chat.msg_client_id.value,
                "seq": record.seq,
            })),
            other => Err(ApiError::internal(format!("unexpected reply to a send: {other:?}"))),
        }
    }
}
