//! Turning reply and push text into WebSocket messages, JSON or MessagePack.

use axum::extract::ws::{Message, Utf8Bytes};
use bytes::Bytes;

/// A frame for a client: JSON text, or the same document as MessagePack for binary clients.
pub fn encode(json: String, msgpack: bool) -> Message {
    if msgpack {
        Message::Binary(to_msgpack(&json))
    } else {
        Message::Text(Utf8Bytes::from(json))
    }
}

pub fn to_msgpack(json: &str) -> Bytes {
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or(serde_json::Value::Null);
    Bytes::from(rmp_serde::to_vec_named(&value).unwrap_or_default())
}
