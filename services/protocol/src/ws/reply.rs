//! Replies to `/ws` requests, encoded once in the client's format: `{"action", "reqId", "status":
//! "ok", "data"}` or `{"action", "reqId", "status": "error", "code", "error"}`.

use super::envelope::Format;
use crate::ErrorCode;
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};
use serde_json::Value;

/// An encoded frame: JSON text for JSON clients, MessagePack bytes for MessagePack clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoded {
    Text(String),
    Binary(Vec<u8>),
}

/// One reply.
pub struct Reply<'a, T> {
    pub action: &'a str,
    pub req_id: &'a Value,
    pub outcome: Outcome<'a, T>,
}

pub enum Outcome<'a, T> {
    Ok(T),
    Error { code: ErrorCode, text: &'a str },
}

impl<T: Serialize> Serialize for Reply<'_, T> {
    /// JSON in the documented order; MessagePack with its keys sorted, as MessagePack clients have
    /// always received them (their frames used to be re-encoded from a sorted JSON value).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let readable = s.is_human_readable();
        let fields = match self.outcome {
            Outcome::Ok(_) => 4,
            Outcome::Error { .. } => 5,
        };
        let mut frame = s.serialize_struct("Reply", fields)?;
        frame.serialize_field("action", self.action)?;
        match &self.outcome {
            Outcome::Ok(data) if readable => {
                frame.serialize_field("reqId", self.req_id)?;
                frame.serialize_field("status", "ok")?;
                frame.serialize_field("data", data)?;
            }
            Outcome::Ok(data) => {
                frame.serialize_field("data", data)?;
                frame.serialize_field("reqId", self.req_id)?;
                frame.serialize_field("status", "ok")?;
            }
            Outcome::Error { code, text } if readable => {
                frame.serialize_field("reqId", self.req_id)?;
                frame.serialize_field("status", "error")?;
                frame.serialize_field("code", &u64::from(code.code()))?;
                frame.serialize_field("error", text)?;
            }
            Outcome::Error { code, text } => {
                frame.serialize_field("code", &u64::from(code.code()))?;
                frame.serialize_field("error", text)?;
                frame.serialize_field("reqId", self.req_id)?;
                frame.serialize_field("status", "error")?;
            }
        }
        frame.end()
    }
}

impl Format {
    /// Encodes any frame in this format.
    pub fn encode<T: Serialize>(self, frame: &T) -> Result<Encoded, String> {
        match self {
            Format::Json => serde_json::to_string(frame)
                .map(Encoded::Text)
                .map_err(|e| e.to_string()),
            Format::MsgPack => rmp_serde::to_vec_named(frame)
                .map(Encoded::Binary)
                .map_err(|e| e.to_string()),
        }
    }

    /// `{"action", "reqId", "status": "ok", "data"}`; data that cannot be encoded is answered
    /// with an internal error instead.
    pub fn ok_reply<T: Serialize>(self, action: &str, req_id: &Value, data: T) -> Encoded {
        let reply = Reply {
            action,
            req_id,
            outcome: Outcome::Ok(data),
        };
        self.encode(&reply)
            .unwrap_or_else(|_| self.error_reply(action, req_id, ErrorCode::Internal, "could not encode reply"))
    }

    /// `{"action", "reqId", "status": "error", "code", "error"}`.
    pub fn error_reply(self, action: &str, req_id: &Value, code: ErrorCode, text: &str) -> Encoded {
        let reply: Reply<'_, ()> = Reply {
            action,
            req_id,
            outcome: Outcome::Error { code, text },
        };
        // an envelope of texts, numbers and an echoed value always encodes
        self.encode(&reply).unwrap_or_else(|_| match self {
            Format::Json => Encoded::Text(String::new()),
            Format::MsgPack => Encoded::Binary(Vec::new()),
        })
    }
}

/// A push frame as it travels (JSON text), re-encoded for a MessagePack client.
pub fn push_to_msgpack(json: &str) -> Vec<u8> {
    let value: Value = serde_json::from_str(json).unwrap_or(Value::Null);
    rmp_serde::to_vec_named(&value).unwrap_or_default()
}
