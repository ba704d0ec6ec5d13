//! Payloads on the bus: commands (gateway → sequencer), events (sequencer → delivery) and
//! gateway messages (acks from the sequencer, delivery batches).

use crate::error_code::WireError;
use crate::{AppId, ConvId, GatewayId, MessageRecord, SessionId};
use serde::{Deserialize, Serialize};

/// Where the sequencer sends the outcome of a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyTo {
    pub gateway: GatewayId,
    pub request: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Send(SendCommand),
}

impl Command {
    pub fn app(&self) -> &AppId {
        match self {
            Command::Send(send) => &send.app,
        }
    }

    pub fn conv(&self) -> &ConvId {
        match self {
            Command::Send(send) => &send.conv,
        }
    }

    pub fn reply_to(&self) -> Option<&ReplyTo> {
        match self {
            Command::Send(send) => send.reply_to.as_ref(),
        }
    }

    /// The id JetStream dedupes the publish on: stable across client retries.
    pub fn dedupe_id(&self) -> String {
        match self {
            Command::Send(send) => send.dedupe_id(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendCommand {
    pub app: AppId,
    pub conv: ConvId,
    pub from: SessionId,
    pub idempotency_key: String,
    pub client_msg_id: Option<String>,
    pub msg_type: i32,
    pub status: i32,
    pub content: String,
    pub reply_to: Option<ReplyTo>,
}

impl SendCommand {
    pub fn dedupe_id(&self) -> String {
        // lengths first, so no two different tuples make the same id
        format!(
            "send:{}:{}:{}:{}:{}{}{}{}",
            self.app.as_str().len(),
            self.conv.as_str().len(),
            self.from.as_str().len(),
            self.idempotency_key.len(),
            self.app,
            self.conv,
            self.from,
            self.idempotency_key
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A message was appended; `recipients` are the conversation's members at its `Seq`.
    Message {
        record: MessageRecord,
        recipients: Vec<SessionId>,
    },
}

impl Event {
    /// The id JetStream dedupes re-published events on.
    pub fn dedupe_id(&self) -> String {
        match self {
            Event::Message { record, .. } => format!("msg:{}", record.msg_id),
        }
    }
}

/// What a gateway receives on its own subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GatewayMessage {
    Acks(Vec<Ack>),
    Deliver(Vec<Delivery>),
}

/// The outcome of one command, for the request that is waiting for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub request: u64,
    pub outcome: Result<MessageRecord, WireError>,
}

/// One push for several sessions of one app on one gateway, serialized once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub app: AppId,
    pub recipients: Vec<SessionId>,
    pub push: Push,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Push {
    /// A new message: the `MsgData` JSON, and its `Seq` for per-connection ordering checks.
    Message {
        conv: ConvId,
        seq: u64,
        msg_data_json: String,
    },
}
