//! Payloads on the bus: commands (gateway → sequencer), events (sequencer → delivery) and
//! gateway messages (acks from the sequencer, delivery batches).

use crate::error_code::WireError;
use crate::{AppId, ConvId, GatewayId, MessageRecord, MsgId, SessionId};
use serde::{Deserialize, Serialize};

/// Where the sequencer sends the outcome of a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyTo {
    pub gateway: GatewayId,
    pub request: u64,
}

/// A command for one conversation, ordered with every other command of that conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub app: AppId,
    pub conv: ConvId,
    pub reply_to: Option<ReplyTo>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Send(SendCommand),
    /// Move `session`'s read cursor to `seq` (default: the latest message).
    Read {
        session: SessionId,
        seq: Option<u64>,
    },
    Members(MembersCommand),
    /// The app's backend archives or unarchives the conversation.
    Archive {
        archived: bool,
    },
    /// Recall a message for everyone (its sender or the conversation's owner).
    Recall {
        session: SessionId,
        msg_id: MsgId,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendCommand {
    pub from: SessionId,
    pub idempotency_key: String,
    pub client_msg_id: Option<String>,
    pub msg_type: i32,
    pub status: i32,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembersCommand {
    /// A session joins an open conversation by itself.
    Join { session: SessionId },
    /// A session leaves.
    Leave { session: SessionId },
    /// A member adds sessions.
    Invite { by: SessionId, sessions: Vec<SessionId> },
    /// The owner removes sessions.
    Remove { by: SessionId, sessions: Vec<SessionId> },
    /// The app's backend adds sessions (`/inner/join_conversation`).
    AppJoin { sessions: Vec<SessionId> },
    /// The app's backend removes sessions (`/inner/kickout_conversation`).
    AppKick { sessions: Vec<SessionId> },
}

impl Command {
    /// The id JetStream dedupes the publish on: stable across client retries of a send.
    pub fn dedupe_id(&self) -> Option<String> {
        match &self.action {
            Action::Send(send) => Some(format!(
                "send:{}:{}:{}:{}:{}{}{}{}",
                self.app.as_str().len(),
                self.conv.as_str().len(),
                send.from.as_str().len(),
                send.idempotency_key.len(),
                self.app,
                self.conv,
                send.from,
                send.idempotency_key
            )),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match &self.action {
            Action::Send(_) => "send",
            Action::Read { .. } => "read",
            Action::Members(_) => "members",
            Action::Archive { .. } => "archive",
            Action::Recall { .. } => "recall",
        }
    }
}

/// Something that happened to a conversation. It names no recipients, so it stays small
/// whatever the group's size: delivery resolves them (`EventBody::audience`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub app: AppId,
    pub conv: ConvId,
    pub body: EventBody,
}

/// Who an event is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience<'a> {
    /// The conversation's members, after the event (members added hear of it).
    Members,
    /// The members before the event and the sessions it removes (they hear of their removal).
    MembersAndRemoved(&'a [SessionId]),
    /// One session (its read cursor moved).
    Session(&'a SessionId),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventBody {
    /// A message was appended.
    Message(MessageRecord),
    /// A session's read cursor moved (pushed to that session's devices).
    Read {
        session: SessionId,
        seq: u64,
        unread: u64,
    },
    /// A message was recalled; the record is its tombstone.
    Recalled(MessageRecord),
    /// Sessions joined or were added.
    MembersAdded {
        sessions: Vec<SessionId>,
        by: Option<SessionId>,
    },
    /// Sessions left or were removed.
    MembersRemoved {
        sessions: Vec<SessionId>,
        by: Option<SessionId>,
    },
    Archived {
        archived: bool,
    },
}

impl EventBody {
    pub fn audience(&self) -> Audience<'_> {
        match self {
            EventBody::Read { session, .. } => Audience::Session(session),
            EventBody::MembersRemoved { sessions, .. } => Audience::MembersAndRemoved(sessions),
            _ => Audience::Members,
        }
    }
}

impl Event {
    /// Message events dedupe on their id (a re-published original is dropped); others on the
    /// position of the command that caused them, which a replay reproduces.
    pub fn dedupe_id(&self, position: u64, index: usize) -> String {
        match &self.body {
            EventBody::Message(record) => format!("msg:{}", record.msg_id),
            _ => format!("evt:{}:{}:{position}:{index}", self.app, self.conv),
        }
    }
}

/// What a gateway receives on its own subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GatewayMessage {
    Acks(Vec<Ack>),
    Deliver(Vec<Delivery>),
    /// Close the older connections of (app, session, platform) but `except` (login policy `kick`).
    Kick {
        app: AppId,
        session: SessionId,
        platform: u8,
        except_gateway: GatewayId,
        except_conn: u64,
    },
}

/// The outcome of one command, for the request that is waiting for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub request: u64,
    pub outcome: Result<Reply, WireError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// A send: the stored message (the original one, for a retry).
    Message(MessageRecord),
    Read {
        seq: u64,
        unread: u64,
    },
    Done,
}

/// One push for several sessions of one app on one gateway, serialized once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub app: AppId,
    pub recipients: Vec<SessionId>,
    pub push: Push,
    /// The delivering span's W3C `traceparent`, when traced.
    #[serde(default)]
    pub trace: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Push {
    /// A new message: `MsgData` JSON. `/notify` sends it as is, `/ws` wraps it in a push frame.
    Message { msg_id: MsgId, msg_data_json: String },
    /// Any other push: the whole frame, the same on `/ws` and `/notify`.
    Frame { json: String },
}
