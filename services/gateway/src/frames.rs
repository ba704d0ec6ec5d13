//! Turning reply and push text into outbound frames, JSON or MessagePack.

use crate::hub::Outbound;
use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;

/// A reply for a client: JSON text, or the same document as MessagePack for binary clients.
pub fn reply(json: String, msgpack: bool) -> Outbound {
    if msgpack {
        Outbound::Binary(to_msgpack(&json))
    } else {
        Outbound::Text {
            json: Utf8Bytes::from(json),
            id: None,
        }
    }
}

pub fn to_msgpack(json: &str) -> Bytes {
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or(serde_json::Value::Null);
    Bytes::from(rmp_serde::to_vec_named(&value).unwrap_or_default())
}
