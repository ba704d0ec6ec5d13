//! Frames of the native WebSocket protocol (`/ws`, protocol §5) and the push frames of `/notify`:
//! a client frame's envelope, then its typed request; replies encoded once in the client's format.

mod envelope;
pub mod fields;
mod reply;
mod request;
#[cfg(test)]
mod tests;

pub use envelope::{Envelope, Format, Malformed};
pub use fields::Scalar;
pub use reply::{Encoded, Outcome, Reply, push_to_msgpack};
pub use request::*;

use serde::Serialize;

/// Largest accepted client frame, in bytes.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Read receipts (the `msg-readBy` push, `msg-readers`) are kept for conversations of at most
/// this many members: past it, every read would be pushed to every member.
pub const READ_RECEIPT_MAX_MEMBERS: usize = 50;

/// Push codes of seed 002.
pub mod code {
    pub const CHAT_MESSAGE: u32 = 200;
    pub const FRIEND_REQUEST: u32 = 1000;
    pub const FRIEND_ACCEPTED: u32 = 1001;
    pub const FRIEND_REJECTED: u32 = 1002;
    pub const OFFLINE: u32 = 2000;
    pub const ONLINE: u32 = 2001;
    /// Call signalling, relayed live (seed 002's call request).
    pub const CALL_SIGNAL: u32 = 600;
}

#[derive(Debug, Clone, Serialize)]
struct PushFrame<'a, T: Serialize> {
    action: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u32>,
    status: &'static str,
    data: T,
}

/// A push frame: `{"action", "code"?, "status": "ok", "data"}`, no `reqId`.
pub fn push<T: Serialize>(action: &str, code: Option<u32>, data: T) -> String {
    serde_json::to_string(&PushFrame {
        action,
        code,
        status: "ok",
        data,
    })
    .unwrap_or_default()
}

/// The `/ws` push of a new message: `{"action":"msg-im","code":200,"status":"ok","data":<MsgData>}`,
/// built around the already-serialized `MsgData` so a broadcast is serialized once.
pub fn message_push(msg_data_json: &str) -> String {
    let mut frame = String::with_capacity(msg_data_json.len() + 48);
    frame.push_str(r#"{"action":"msg-im","code":200,"status":"ok","data":"#);
    frame.push_str(msg_data_json);
    frame.push('}');
    frame
}
