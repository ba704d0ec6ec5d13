//! Turning encoded replies and push text into outbound frames, JSON or MessagePack.

use crate::hub::Outbound;
use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use herald_protocol::ws::{self, Encoded};

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
