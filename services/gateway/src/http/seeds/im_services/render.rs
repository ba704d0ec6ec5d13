//! Pushes in seed 002's shapes, and the offline catch-up on connect. Runs in the connection's
//! writer, one push at a time in queue order, so the catch-up (done before the first push is
//! rendered) and the live pushes after it keep each conversation's `Seq` order; a live push the
//! catch-up already sent is not sent twice.

use super::{SharedState, lock};
use crate::Identity;
use crate::api::Api;
use crate::conversations::LIST_PAGE_MAX;
use crate::http::seeds::Render;
use herald_protocol::msg::MsgData;
use herald_protocol::ws::code;
use herald_protocol::{ConvId, SessionId, timefmt};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// The frame the reading side queues on connect: the writer catches up when it meets it (or
/// any push before it). Never sent to a client.
pub const CATCH_UP: &str = r#"{"action":"herald-catch-up"}"#;
/// The catch-up sends at most this many messages, none older than `CATCH_UP_DAYS` (seed 002's
/// offline queue).
pub const CATCH_UP_MAX: u64 = 1000;
pub const CATCH_UP_DAYS: i64 = 15;
/// And at most about this many bytes of content (a connection's catch-up is read, rendered
/// and written at once, outside its outbound queue's bound; past it, the conversations not
/// reached are left for a later connect).
pub const CATCH_UP_BYTES: usize = 1024 * 1024;
/// Conversation list pages the catch-up reads at most.
const CATCH_UP_LIST_PAGES: usize = 10;
/// Conversations whose kind one connection remembers.
const REMEMBERED_CONVERSATIONS: usize = 1024;

pub struct ImRender {
    api: Api,
    me: Identity,
    shared: SharedState,
    catch_up_pending: AtomicBool,
    /// Per conversation, the highest `Seq` the catch-up sent.
    caught_up: Mutex<HashMap<ConvId, u64>>,
    /// Per conversation: its other member when it is a single one, none for a group.
    peers: Mutex<HashMap<ConvId, Option<SessionId>>>,
}

impl ImRender {
    pub fn new(api: Api, me: Identity, shared: SharedState) -> Self {
        Self {
            api,
            me,
            shared,
            catch_up_pending: AtomicBool::new(true),
            caught_up: Mutex::default(),
            peers: Mutex::default(),
        }
    }

    /// An id as this connection reads ids: an integer when it is one (written the same way) and
    /// the client has not shown it types ids as strings; a string otherwise.
    fn id_value(&self, text: &str) -> Value {
        match text.parse::<i64>() {
            Ok(n) if n.to_string() == text && lock(&self.shared).integer_ids != Some(false) => Value::from(n),
            _ => Value::from(text),
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

    /// A message as seed 002's message frame (`msg_code` 200).
    async fn message_frame(&self, msg: &MsgData) -> String {
        let peer = self.peer(&msg.conversation_id).await;
        let (channel_type, to_id) = match &peer {
            Some(peer) if msg.from_session == self.me.session => (1, self.id_value(peer.as_str())),
            Some(_) => (1, self.id_value(self.me.session.as_str())),
            None => (2, self.id_value(msg.conversation_id.as_str())),
        };
        json!({
            "msg_id": msg.msg_id,
            "msg_client_id": msg.client_msg_id.as_deref().map_or(Value::from(""), |k| self.id_value(k)),
            "msg_code": code::CHAT_MESSAGE,
            "form_id": self.id_value(msg.from_session.as_str()),
            "to_id": to_id,
            "msg_type": msg.msg_type,
            "channel_type": channel_type,
            "message": msg.content,
            "data": "",
            "seq": msg.seq,
            "send_time": msg.send_time,
        })
        .to_string()
    }

    /// A live message push: none when the catch-up sent it already, or when this connection sent
    /// it (it had the ack).
    async fn live_message(&self, data: &Value) -> Option<String> {
        let msg: MsgData = serde_json::from_value(data.clone()).ok()?;
        let caught = self
            .caught_up
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&msg.conversation_id)
            .copied();
        if caught.is_some_and(|seq| msg.seq <= seq) {
            return None;
        }
        if msg.from_session == self.me.session
            && let Some(key) = &msg.client_msg_id
            && lock(&self.shared)
                .own_set
                .contains(&(msg.conversation_id.clone(), key.clone()))
        {
            return None;
        }
        Some(self.message_frame(&msg).await)
    }

    /// A friend push (1000 request, 1001 accepted, 1002 rejected) from `other`.
    fn friend_frame(&self, msg_code: u32, data: &Value) -> Option<String> {
        let other = data.get("linkKey")?.as_str()?;
        let now = timefmt::now_nanos();
        let status = match msg_code {
            code::FRIEND_REQUEST => 0,
            code::FRIEND_ACCEPTED => 1,
            _ => 2,
        };
        let created_at = timefmt::rfc3339_nanos(now);
        let information = data.get("information").cloned().unwrap_or(Value::from(""));
        Some(
            json!({
                "msg_code": msg_code,
                "id": now / 1000,
                "form_id": self.id_value(other),
                "to_id": self.id_value(self.me.session.as_str()),
                "status": status,
                // seed 002's "2022-07-06 20:51:29"
                "created_at": created_at.get(..19).unwrap_or_default().replace('T', " "),
                "information": information,
                "users": {"name": other, "id": self.id_value(other), "avatar": ""},
            })
            .to_string(),
        )
    }

    /// Everything after the read cursor of each of `me`'s conversations (at most
    /// `CATCH_UP_MAX` messages and about `CATCH_UP_BYTES`, none older than `CATCH_UP_DAYS`),
    /// oldest first.
    async fn catch_up(&self) -> Vec<String> {
        let since = timefmt::rfc3339_nanos(timefmt::now_nanos() - CATCH_UP_DAYS * 86_400 * 1_000_000_000);
        let mut budget = CATCH_UP_MAX;
        let mut bytes = 0;
        let mut queues: Vec<VecDeque<MsgData>> = Vec::new();
        for (conv, last, read) in self.unread_conversations().await {
            if budget == 0 || bytes >= CATCH_UP_BYTES {
                break;
            }
            let count = (last - read).min(budget);
            let page = match self.api.newest_page(&self.me, &conv, |_| last, count).await {
                Ok(page) => page,
                Err(err) => {
                    tracing::warn!(error = %err.message, "offline catch-up could not read a conversation");
                    continue;
                }
            };
            let msgs: VecDeque<MsgData> = page.msgs.into_iter().filter(|m| m.send_time >= since).collect();
            budget = budget.saturating_sub(msgs.len() as u64);
            bytes += msgs.iter().map(|m| m.content.len()).sum::<usize>();
            if let Some(newest) = msgs.back() {
                let mut caught = self.caught_up.lock().unwrap_or_else(|p| p.into_inner());
                caught.insert(conv.clone(), newest.seq);
            }
            queues.push(msgs);
        }
        let mut frames = Vec::new();
        // oldest first across conversations, each conversation in `Seq` order
        while let Some(next) = queues
            .iter_mut()
            .filter(|q| !q.is_empty())
            .min_by(|a, b| a[0].send_time.cmp(&b[0].send_time))
        {
            if let Some(msg) = next.pop_front() {
                frames.push(self.message_frame(&msg).await);
            }
        }
        frames
    }

    /// `(conversation, last Seq, read Seq)` of `me`'s conversations with unread messages.
    async fn unread_conversations(&self) -> Vec<(ConvId, u64, u64)> {
        let mut unread = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..CATCH_UP_LIST_PAGES {
            let page = self
                .api
                .list_conversations(&self.me, cursor.as_deref(), Some(LIST_PAGE_MAX), false, |s, _| {
                    json!([s.conv.id, s.last_seq(), s.read_seq])
                })
                .await;
            let page = match page {
                Ok(page) => page,
                Err(err) => {
                    tracing::warn!(error = %err.message, "offline catch-up could not list conversations");
                    break;
                }
            };
            for entry in page.entries {
                let conv = entry[0].as_str().and_then(|c| ConvId::parse(c).ok());
                let (last, read) = (entry[1].as_u64().unwrap_or(0), entry[2].as_u64().unwrap_or(0));
                if let Some(conv) = conv
                    && last > read
                {
                    unread.push((conv, last, read));
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        unread
    }
}

#[async_trait::async_trait]
impl Render for ImRender {
    async fn render(&self, native_push: &str) -> Vec<String> {
        let mut frames = Vec::new();
        if self.catch_up_pending.swap(false, Ordering::AcqRel) {
            frames = self.catch_up().await;
        }
        if native_push == CATCH_UP {
            return frames;
        }
        let Ok(push) = serde_json::from_str::<Value>(native_push) else {
            return frames;
        };
        let data = &push["data"];
        let rendered = match (push["action"].as_str().unwrap_or_default(), push["code"].as_u64()) {
            ("msg-im", _) => self.live_message(data).await,
            (_, Some(c)) if matches!(c as u32, code::FRIEND_REQUEST | code::FRIEND_ACCEPTED | code::FRIEND_REJECTED) => {
                self.friend_frame(c as u32, data)
            }
            (_, Some(c)) if c as u32 == code::ONLINE || c as u32 == code::OFFLINE => data
                .get("linkKey")
                .and_then(Value::as_str)
                .map(|who| json!({"msg_code": c, "id": self.id_value(who)}).to_string()),
            ("signal", _) => data.get("from").and_then(Value::as_str).map(|from| {
                json!({
                    "msg_code": code::CALL_SIGNAL,
                    "form_id": self.id_value(from),
                    "to_id": self.id_value(self.me.session.as_str()),
                    "data": data.get("data").cloned().unwrap_or(Value::Null),
                })
                .to_string()
            }),
            ("kickout", _) => Some(
                json!({"msg_code": 500, "message": format!("kicked out: {}", data["reason"].as_str().unwrap_or("another login"))})
                    .to_string(),
            ),
            _ => None,
        };
        frames.extend(rendered);
        frames
    }
}
