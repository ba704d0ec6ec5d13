//! Pushes in seed 003's shape: a message of a single (1:1) conversation from the other member
//! becomes `{from, to, type:1, op_type:40011, content}`, a room message
//! `{from, to:<room>, type:6, op_type:40011, content}`; every other push (groups, reads,
//! presence, friends, …) has no 003 frame and renders to nothing.

use super::frames::{self, answer, op};
use crate::Identity;
use crate::api::Api;
use crate::http::seeds::Render;
use herald_protocol::{ConvId, SessionId};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;

/// Conversations whose kind one connection remembers (the cache is dropped when full).
const REMEMBERED_CONVERSATIONS: usize = 1024;

/// What a native push is to a 003 client, before the store is asked anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// A stored message: shown when its conversation is a single one and `from` is the peer.
    Message {
        conv: String,
        from: String,
        content: String,
    },
    /// A room message: shown as it is.
    Room {
        room: String,
        from: String,
        content: String,
    },
    Nothing,
}

/// Reads a native push (`{"action", "code"?, "status", "data"}`).
pub fn classify(native_push: &str) -> Shown {
    let Ok(push) = serde_json::from_str::<Value>(native_push) else {
        return Shown::Nothing;
    };
    let data = &push["data"];
    let text = |field: &str| data[field].as_str().map(str::to_owned);
    match push["action"].as_str() {
        // a deleted or recalled message (Status 1 or 2) has nothing to show
        Some("msg-im") if data["Status"].as_i64().unwrap_or(0) == 0 => {
            match (text("ConversationID"), text("FromSession"), text("Content")) {
                (Some(conv), Some(from), Some(content)) => Shown::Message { conv, from, content },
                _ => Shown::Nothing,
            }
        }
        Some("chat-msg-im") => match (text("convId"), text("fromSession"), text("content")) {
            (Some(room), Some(from), Some(content)) => Shown::Room { room, from, content },
            _ => Shown::Nothing,
        },
        _ => Shown::Nothing,
    }
}

pub struct GinRender {
    api: Api,
    me: Identity,
    /// Per conversation: its other member when it is a single one, none for a group.
    peers: Mutex<HashMap<ConvId, Option<SessionId>>>,
}

impl GinRender {
    pub fn new(api: Api, me: Identity) -> Self {
        Self {
            api,
            me,
            peers: Mutex::default(),
        }
    }

    /// A single conversation's other member, or none for a group (remembered).
    async fn peer(&self, conv: &ConvId) -> Option<SessionId> {
        if let Some(known) = self.peers.lock().unwrap_or_else(|p| p.into_inner()).get(conv) {
            return known.clone();
        }
        let peer = match self.api.peer_in(&self.me, conv).await {
            Ok(peer) => peer,
            Err(err) => {
                tracing::debug!(error = %err.message, "conversation of a push not readable");
                None
            }
        };
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        if peers.len() >= REMEMBERED_CONVERSATIONS {
            peers.clear();
        }
        peers.insert(conv.clone(), peer.clone());
        peer
    }
}

#[async_trait::async_trait]
impl Render for GinRender {
    async fn render(&self, native_push: &str) -> Vec<String> {
        let me = self.me.session.as_str();
        match classify(native_push) {
            Shown::Message { conv, from, content } => {
                // the sender's own messages: its connection had 40018 / 40019 instead
                if from == me {
                    return Vec::new();
                }
                let Ok(conv) = ConvId::parse(conv) else {
                    return Vec::new();
                };
                match self.peer(&conv).await {
                    Some(peer) if peer.as_str() == from => {
                        vec![frames::message(&from, me, 1, answer::MESSAGE, &content)]
                    }
                    _ => Vec::new(),
                }
            }
            Shown::Room { room, from, content } => {
                vec![frames::message(
                    &from,
                    &room,
                    op::ROOM as i64,
                    answer::MESSAGE,
                    &content,
                )]
            }
            Shown::Nothing => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_and_room_messages_are_shown_everything_else_is_not() {
        let message = json!({"action": "msg-im", "code": 200, "status": "ok", "data": {
            "MsgId": "7", "ConversationID": "c1", "FromSession": "bob", "SendTime": "t",
            "Status": 0, "Type": 1, "Content": "hi", "Seq": 3}});
        assert_eq!(
            classify(&message.to_string()),
            Shown::Message {
                conv: "c1".into(),
                from: "bob".into(),
                content: "hi".into()
            }
        );
        let mut recalled = message.clone();
        recalled["data"]["Status"] = json!(2);
        assert_eq!(classify(&recalled.to_string()), Shown::Nothing);
        let room = json!({"action": "chat-msg-im", "status": "ok", "data": {
            "convId": "ALL", "msgKey": null, "fromSession": "carol", "msgType": 1, "content": "yo", "sendTime": "t"}});
        assert_eq!(
            classify(&room.to_string()),
            Shown::Room {
                room: "ALL".into(),
                from: "carol".into(),
                content: "yo".into()
            }
        );
        for other in [
            json!({"action": "msg-read", "status": "ok", "data": {"convId": "c1", "seq": 3}}),
            json!({"action": "presence", "code": 2001, "status": "ok", "data": {"linkKey": "bob"}}),
            json!({"action": "typing", "status": "ok", "data": {"convId": "c1"}}),
            json!({"action": "msg-im", "status": "ok", "data": {}}),
        ] {
            assert_eq!(classify(&other.to_string()), Shown::Nothing, "{other}");
        }
        assert_eq!(classify("not json"), Shown::Nothing);
    }
}
