//! One frame for one client, and how replies and pushes become one (JSON or MessagePack).

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use herald_protocol::MsgId;
use herald_protocol::ws::{self, Encoded};

/// One frame for one client.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// JSON; `id` is the message id of a message push (SSE's `id:` line).
    Text { json: Utf8Bytes, id: Option<MsgId> },
    /// MessagePack, for `/ws` clients that speak it.
    Binary(Bytes),
    /// A push in the native `/ws` shape, for a seed-protocol connection (protocol §9): its
    /// writer renders it in the connection's dialect (into any number of frames).
    Push(Utf8Bytes),
    /// Tell the client why, then close (kickout).
    Close { code: u16, reason: &'static str },
}

impl Outbound {
    /// Payload bytes this frame holds while it waits in a queue.
    pub fn byte_len(&self) -> usize {
        match self {
            Outbound::Text { json, .. } | Outbound::Push(json) => json.len(),
            Outbound::Binary(bytes) => bytes.len(),
            Outbound::Close { reason, .. } => 2 + reason.len(),
        }
    }

    /// A text frame of `len` bytes (queue tests).
    #[cfg(test)]
    pub fn text_of_len(len: usize) -> Outbound {
        Outbound::Text {
            json: Utf8Bytes::from("x".repeat(len)),
            id: None,
        }
    }
}

/// A reply, already encoded in the client's format.
pub fn reply(encoded: Encoded) -> Outbound {
    match encoded {
        Encoded::Text(json) => Outbound::Text {
            json: Utf8Bytes::from(json),
            id: None,
        },
        Encoded::Binary(bytes) => Outbound::Binary(Bytes::from(bytes)),
    }
}

/// A push (JSON text, as pushes travel) for a MessagePack client.
pub fn to_msgpack(json: &str) -> Bytes {
    Bytes::from(ws::push_to_msgpack(json))
}
