//! Frames of the native WebSocket protocol (`/ws`, contract §5) and the push frames of `/notify`.

use crate::ErrorCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest accepted client frame, in bytes.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Push codes of seed 002.
pub mod code {
    pub const CHAT_MESSAGE: u32 = 200;
    pub const FRIEND_REQUEST: u32 = 1000;
    pub const FRIEND_ACCEPTED: u32 = 1001;
    pub const FRIEND_REJECTED: u32 = 1002;
    pub const OFFLINE: u32 = 2000;
    pub const ONLINE: u32 = 2001;
}

/// A client request. Unknown fields are ignored; `param` and `data` are parsed per action.
#[derive(Debug, Clone, Deserialize)]
pub struct Request {
    pub action: String,
    #[serde(rename = "reqId", default)]
    pub req_id: Option<Value>,
    #[serde(rename = "linkKey", default)]
    pub link_key: Option<String>,
    #[serde(default)]
    pub param: Value,
    #[serde(default)]
    pub data: Value,
}

#[derive(Debug, Clone, Serialize)]
struct OkReply<'a, T: Serialize> {
    action: &'a str,
    #[serde(rename = "reqId")]
    req_id: &'a Value,
    status: &'static str,
    data: T,
}

#[derive(Debug, Clone, Serialize)]
struct ErrorReply<'a> {
    action: &'a str,
    #[serde(rename = "reqId")]
    req_id: &'a Value,
    status: &'static str,
    code: u32,
    error: &'a str,
}

#[derive(Debug, Clone, Serialize)]
struct PushFrame<'a, T: Serialize> {
    action: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u32>,
    status: &'static str,
    data: T,
}

pub fn ok_reply<T: Serialize>(action: &str, req_id: &Value, data: T) -> String {
    serde_json::to_string(&OkReply {
        action,
        req_id,
        status: "ok",
        data,
    })
    .unwrap_or_else(|_| error_reply(action, req_id, ErrorCode::Internal, "could not encode reply"))
}

pub fn error_reply(action: &str, req_id: &Value, code: ErrorCode, error: &str) -> String {
    serde_json::to_string(&ErrorReply {
        action,
        req_id,
        status: "error",
        code: code.code(),
        error,
    })
    .unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_frame_is_valid_json() {
        let frame = message_push(r#"{"MsgId":"1"}"#);
        let value: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(value["data"]["MsgId"], "1");
        assert_eq!(value["code"], 200);
        assert!(value.get("reqId").is_none());
        let other: Value = serde_json::from_str(&push("typing", None, serde_json::json!({"convId": "c"}))).unwrap();
        assert!(other.get("code").is_none() && other.get("reqId").is_none());
    }

    #[test]
    fn replies_echo_req_id() {
        let reply: Value = serde_json::from_str(&ok_reply("ping", &Value::from(7), "pong")).unwrap();
        assert_eq!(reply["reqId"], 7);
        let err: Value = serde_json::from_str(&error_reply("x", &Value::Null, ErrorCode::NotFound, "no")).unwrap();
        assert_eq!(err["code"], 10005);
        assert_eq!(err["status"], "error");
    }
}
