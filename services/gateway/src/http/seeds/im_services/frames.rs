//! Seed 002's client frames, read into what they ask for. Every refusal is a sentence for the
//! `{"msg_code":500,"message":…}` frame.

use herald_protocol::SessionId;
use serde_json::{Map, Value};

/// An id as the client sent it: its text (what Herald uses) and its JSON value (answered in
/// the type it came in: seed 002 types ids as integers, Herald's are strings).
#[derive(Debug, Clone, PartialEq)]
pub struct Id {
    pub text: String,
    pub value: Value,
}

impl Id {
    fn is_integer(&self) -> bool {
        self.value.is_number()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// `channel_type` 1: the single conversation of the sender and `to_id`.
    Private,
    /// `channel_type` 2: `to_id` is a conversation the sender is in.
    Group,
}

/// A chat message frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Chat {
    /// The idempotency key.
    pub msg_client_id: Id,
    pub to_id: Id,
    pub msg_type: i32,
    pub channel_type: Channel,
    pub message: String,
    /// The client gave its ids as integers.
    pub integer_ids: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// `{"msg_code":1004}`.
    Ping,
    /// `{"msg_code":2002,"to_id"}`: is that session online?
    Online {
        to_id: Id,
    },
    /// `{"msg_code":600,"to_id","data"}`: a call request, relayed live.
    Call {
        to_id: Id,
        data: Value,
    },
    Chat(Chat),
}

/// Fields that name the sender in seed 002's frames: when present, they must be the token's session.
const SENDER_FIELDS: [&str; 3] = ["form_id", "uid", "from"];

/// Reads one client frame acting as `me`.
pub fn parse(text: &str, me: &SessionId) -> Result<Inbound, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("malformed JSON: {e}"))?;
    let Value::Object(frame) = value else {
        return Err("a frame is a JSON object".to_owned());
    };
    for field in SENDER_FIELDS {
        if let Some(id) = optional_id(&frame, field)?
            && id.text != me.as_str()
        {
            return Err(format!(
                "{field} names another session: a connection acts only as its token's session"
            ));
        }
    }
    match optional_int(&frame, "msg_code")? {
        None | Some(200) => chat(&frame).map(Inbound::Chat),
        Some(1004) => Ok(Inbound::Ping),
        Some(2002) => Ok(Inbound::Online {
            to_id: required_id(&frame, "to_id")?,
        }),
        Some(600) => Ok(Inbound::Call {
            to_id: required_id(&frame, "to_id")?,
            data: frame.get("data").cloned().unwrap_or(Value::Null),
        }),
        Some(other) => Err(format!(
            "unknown msg_code {other}: a client sends chat frames (200 or none), 1004, 2002 or 600"
        )),
    }
}

fn chat(frame: &Map<String, Value>) -> Result<Chat, String> {
    let msg_client_id = required_id(frame, "msg_client_id")?;
    let to_id = required_id(frame, "to_id")?;
    let channel_type = match optional_int(frame, "channel_type")?.unwrap_or(1) {
        1 => Channel::Private,
        2 => Channel::Group,
        other => return Err(format!("channel_type {other}: 1 (private) or 2 (group)")),
    };
    let msg_type = match optional_int(frame, "msg_type")?.unwrap_or(1) {
        t if i32::try_from(t).is_ok() => t as i32,
        t => return Err(format!("msg_type {t} is out of range")),
    };
    let message = match frame.get("message") {
        Some(Value::String(text)) => text.clone(),
        None | Some(Value::Null) => return Err("message is missing".to_owned()),
        Some(_) => return Err("message must be a string".to_owned()),
    };
    Ok(Chat {
        integer_ids: msg_client_id.is_integer() || to_id.is_integer(),
        msg_client_id,
        to_id,
        msg_type,
        channel_type,
        message,
    })
}

fn required_id(frame: &Map<String, Value>, field: &str) -> Result<Id, String> {
    optional_id(frame, field)?.ok_or_else(|| format!("{field} is missing"))
}

/// An id field: an integer or a non-empty string; absent or null is none.
fn optional_id(frame: &Map<String, Value>, field: &str) -> Result<Option<Id>, String> {
    let text = match frame.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) if !text.is_empty() => text.clone(),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        Some(_) => return Err(format!("{field} must be an integer or a non-empty string")),
    };
    Ok(Some(Id {
        text,
        value: frame[field].clone(),
    }))
}

/// An integer field, also accepted as a string of digits; absent or null is none.
fn optional_int(frame: &Map<String, Value>, field: &str) -> Result<Option<i64>, String> {
    match frame.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("{field} must be an integer")),
        Some(Value::String(text)) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{field} must be an integer")),
        Some(_) => Err(format!("{field} must be an integer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn me() -> SessionId {
        SessionId::parse("34").unwrap()
    }

    fn parse_value(frame: Value) -> Result<Inbound, String> {
        parse(&frame.to_string(), &me())
    }

    #[test]
    fn a_chat_frame_keeps_its_ids_in_the_type_they_came_in() {
        let frame = json!({"msg_client_id": 7, "msg_code": 200, "form_id": 34, "to_id": "35",
            "msg_type": 1, "channel_type": 1, "message": "hi", "data": ""});
        let Ok(Inbound::Chat(chat)) = parse_value(frame) else {
            panic!("not a chat frame")
        };
        assert_eq!(chat.msg_client_id.text, "7");
        assert_eq!(chat.msg_client_id.value, json!(7));
        assert_eq!(chat.to_id.value, json!("35"));
        assert!(chat.integer_ids);
        assert_eq!(chat.channel_type, Channel::Private);
    }

    #[test]
    fn a_frame_naming_another_sender_is_refused() {
        for field in SENDER_FIELDS {
            let frame = json!({field: 99, "msg_client_id": 1, "to_id": 35, "channel_type": 1, "message": "x"});
            let err = parse_value(frame).unwrap_err();
            assert!(err.contains("another session"), "{field}: {err}");
        }
        let mine = json!({"form_id": "34", "msg_client_id": 1, "to_id": 35, "channel_type": 1, "message": "x"});
        assert!(parse_value(mine).is_ok());
    }

    #[test]
    fn control_frames_are_read() {
        assert_eq!(parse_value(json!({"msg_code": 1004})), Ok(Inbound::Ping));
        assert!(matches!(
            parse_value(json!({"msg_code": "2002", "to_id": 35})),
            Ok(Inbound::Online { .. })
        ));
        assert!(matches!(
            parse_value(json!({"msg_code": 600, "to_id": 35, "data": {"sdp": "x"}})),
            Ok(Inbound::Call { .. })
        ));
    }

    #[test]
    fn bad_frames_say_why() {
        let cases = [
            ("{", "malformed JSON"),
            ("[1]", "JSON object"),
            (r#"{"msg_code": 7}"#, "unknown msg_code"),
            (r#"{"msg_code": "x"}"#, "msg_code must be an integer"),
            (
                r#"{"to_id": 1, "channel_type": 1, "message": "x"}"#,
                "msg_client_id is missing",
            ),
            (
                r#"{"msg_client_id": 1, "to_id": 1, "channel_type": 3, "message": "x"}"#,
                "channel_type 3",
            ),
            (
                r#"{"msg_client_id": [], "to_id": 1, "message": "x"}"#,
                "msg_client_id must be",
            ),
            (
                r#"{"msg_client_id": 1, "to_id": 1, "message": 5}"#,
                "message must be a string",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text, &me()).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
