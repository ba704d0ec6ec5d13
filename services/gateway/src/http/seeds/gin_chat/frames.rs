//! Seed 003's client frames `{from?, to, type, op_type, content}`, read into what they ask for,
//! and the server frames `{from, to, type, op_type, content}` it answers with. Pure: no I/O.

use herald_protocol::ids::MAX_ID_LEN;
use serde_json::{Map, Value, json};

/// The client's `op_type`s.
pub mod op {
    pub const SEND: u64 = 1;
    pub const HISTORY: u64 = 2;
    pub const UNREAD: u64 = 3;
    pub const MARK_READ: u64 = 4;
    pub const DELETE: u64 = 5;
    pub const ROOM: u64 = 6;
}

/// The server's `op_type`s (seed 003's status codes).
pub mod answer {
    /// A refused or unreadable frame.
    pub const ERROR: u64 = 40000;
    /// The greeting, first frame of every connection.
    pub const GREETING: u64 = 40003;
    /// One message of a history or unread answer.
    pub const HISTORY: u64 = 40005;
    pub const MARK_FAILED: u64 = 40006;
    pub const MARKED: u64 = 40007;
    /// A message for this connection (private, or of a room it is in).
    pub const MESSAGE: u64 = 40011;
    pub const DELETED: u64 = 40013;
    /// A send was stored and the peer is online / offline.
    pub const PEER_ONLINE: u64 = 40018;
    pub const PEER_OFFLINE: u64 = 40019;
    /// A send refused by anti-spam or the send rate.
    pub const REFUSED: u64 = 40020;
}

/// The room of an op 6 frame without `to` (seed 003's "everyone": the app's live connections).
pub const DEFAULT_ROOM: &str = "ALL";
/// Messages one history answer carries at most (a larger `limit` is cut to this).
pub const HISTORY_MAX: u64 = 100;
/// The sender of every frame the server itself says.
pub const SYSTEM: &str = "System";

/// What one client frame asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Op 1: `text` to the single conversation with `to`; `key` (before the first `\n`) is the
    /// idempotency key.
    Send {
        to: String,
        key: Option<String>,
        text: String,
    },
    /// Op 2: `"skip-limit"`, oldest first.
    History { to: String, skip: u64, limit: u64 },
    /// Op 3: what `to` sent after the read cursor.
    Unread { to: String },
    /// Op 4: the read cursor up to this message.
    MarkRead { to: String, msg_id: String },
    /// Op 5: this message deleted for the caller.
    Delete { to: String, msg_id: String },
    /// Op 6: `text` to the live members of `room`.
    Room { room: String, text: String },
}

/// A frame read: its request and its `type`, which the answers carry back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub frame_type: i64,
    pub request: Request,
}

/// A frame that is refused: the sentence for its 40000 frame, and the `type` to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub frame_type: i64,
    pub why: String,
}

/// Fields that name the sender: when present, they must be the token's session.
const SENDER_FIELDS: [&str; 2] = ["from", "uid"];

/// Reads one client frame of `me`'s connection; `to_uid` (the query's) is the peer of a frame
/// without `to`.
pub fn parse(text: &str, me: &str, to_uid: Option<&str>) -> Result<Frame, Refused> {
    let refuse = |frame_type: i64, why: String| Refused { frame_type, why };
    let value: Value = serde_json::from_str(text).map_err(|e| refuse(1, format!("malformed JSON: {e}")))?;
    let Value::Object(frame) = value else {
        return Err(refuse(1, "a frame is a JSON object".to_owned()));
    };
    let frame_type = match frame.get("type") {
        None | Some(Value::Null) => 1,
        Some(value) => value
            .as_i64()
            .ok_or_else(|| refuse(1, "type must be an integer".to_owned()))?,
    };
    let request = request(&frame, me, to_uid).map_err(|why| refuse(frame_type, why))?;
    Ok(Frame { frame_type, request })
}

fn request(frame: &Map<String, Value>, me: &str, to_uid: Option<&str>) -> Result<Request, String> {
    for field in SENDER_FIELDS {
        match frame.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(sender)) if sender.is_empty() || sender == me => {}
            Some(Value::String(_)) => {
                return Err(format!(
                    "{field} names another session: a connection acts only as its token's session"
                ));
            }
            Some(_) => return Err(format!("{field} must be a string")),
        }
    }
    let op_type = match frame.get("op_type") {
        Some(value) => value.as_u64().ok_or("op_type must be an integer from 1 to 6")?,
        None => return Err("op_type is missing".to_owned()),
    };
    let to = optional_text(frame, "to")?.filter(|to| !to.is_empty());
    let content = optional_text(frame, "content")?.unwrap_or_default();
    let peer = || -> Result<String, String> {
        let peer = to
            .or(to_uid.filter(|uid| !uid.is_empty()))
            .ok_or("to is missing (and the connection has no to_uid)")?;
        if peer.len() > MAX_ID_LEN {
            return Err(format!("to is longer than {MAX_ID_LEN} bytes"));
        }
        Ok(peer.to_owned())
    };
    Ok(match op_type {
        op::SEND => {
            let (key, text) = match content.split_once('\n') {
                Some((key, text)) if !key.is_empty() => (Some(key.to_owned()), text.to_owned()),
                Some((_, text)) => (None, text.to_owned()),
                None => (None, content.to_owned()),
            };
            Request::Send { to: peer()?, key, text }
        }
        op::HISTORY => {
            let (skip, limit) = skip_limit(content)?;
            Request::History {
                to: peer()?,
                skip,
                limit,
            }
        }
        op::UNREAD => Request::Unread { to: peer()? },
        op::MARK_READ => Request::MarkRead {
            to: peer()?,
            msg_id: content.to_owned(),
        },
        op::DELETE => Request::Delete {
            to: peer()?,
            msg_id: content.to_owned(),
        },
        op::ROOM => {
            let room = to.unwrap_or(DEFAULT_ROOM);
            if room.len() > MAX_ID_LEN {
                return Err(format!("to (the room) is longer than {MAX_ID_LEN} bytes"));
            }
            Request::Room {
                room: room.to_owned(),
                text: content.to_owned(),
            }
        }
        other => return Err(format!("op_type {other} is not one of 1 to 6")),
    })
}

fn optional_text<'a>(frame: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, String> {
    match frame.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(format!("{field} must be a string")),
    }
}

/// `"skip-limit"`, two unsigned integers. A skip past any possible end (however many digits)
/// reads as the largest skip: an empty answer, as any skip past the end.
fn skip_limit(content: &str) -> Result<(u64, u64), String> {
    let malformed = || format!("history content must be \"skip-limit\" (two unsigned integers), not {content:?}");
    let (skip, limit) = content.split_once('-').ok_or_else(malformed)?;
    let number = |text: &str| -> Option<u64> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(text.parse().unwrap_or(u64::MAX))
    };
    let (skip, limit) = (
        number(skip).ok_or_else(malformed)?,
        number(limit).ok_or_else(malformed)?,
    );
    Ok((skip, limit.min(HISTORY_MAX)))
}

/// A frame the server says to `me`: `{"from":"System","to":me,"type","op_type","content"}`.
pub fn system(me: &str, frame_type: i64, op_type: u64, content: &str) -> String {
    json!({"from": SYSTEM, "to": me, "type": frame_type, "op_type": op_type, "content": content}).to_string()
}

/// The 40000 frame of a refused frame.
pub fn error(me: &str, refused: &Refused) -> String {
    system(me, refused.frame_type, answer::ERROR, &refused.why)
}

/// A message from one session to another (or to a room): `{"from","to","type","op_type","content"}`.
pub fn message(from: &str, to: &str, frame_type: i64, op_type: u64, content: &str) -> String {
    json!({"from": from, "to": to, "type": frame_type, "op_type": op_type, "content": content}).to_string()
}

/// A history or unread line's content: `"<MsgId>\n<text>"`.
pub fn history_content(msg_id: &str, text: &str) -> String {
    format!("{msg_id}\n{text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Frame, Refused> {
        parse(text, "alice", Some("bob"))
    }

    fn request_of(frame: Value) -> Request {
        parsed(&frame.to_string()).expect("accepted").request
    }

    fn refusal(frame: &str) -> Refused {
        parsed(frame).expect_err("refused")
    }

    #[test]
    fn a_send_splits_its_key_at_the_first_newline() {
        assert_eq!(
            request_of(json!({"from": "alice", "to": "carol", "type": 1, "op_type": 1, "content": "k1\nhello\nworld"})),
            Request::Send {
                to: "carol".into(),
                key: Some("k1".into()),
                text: "hello\nworld".into()
            }
        );
        assert_eq!(
            request_of(json!({"op_type": 1, "content": "no key"})),
            Request::Send {
                to: "bob".into(),
                key: None,
                text: "no key".into()
            },
            "no newline: the whole content is the text, the peer is to_uid"
        );
        assert_eq!(
            request_of(json!({"op_type": 1, "to": "", "content": "\nempty key"})),
            Request::Send {
                to: "bob".into(),
                key: None,
                text: "empty key".into()
            }
        );
    }

    #[test]
    fn history_reads_skip_and_limit() {
        let history = |content: &str| request_of(json!({"op_type": 2, "to": "bob", "content": content}));
        assert_eq!(
            history("3-5"),
            Request::History {
                to: "bob".into(),
                skip: 3,
                limit: 5
            }
        );
        assert_eq!(
            history("0-100000"),
            Request::History {
                to: "bob".into(),
                skip: 0,
                limit: HISTORY_MAX
            }
        );
        assert_eq!(
            history("99999999999999999999999-3"),
            Request::History {
                to: "bob".into(),
                skip: u64::MAX,
                limit: 3
            },
            "a skip past any end is an empty answer, not an error"
        );
        for bad in ["x-y", "3", "-1-2", "1-x", "", "1-", "+1-2", " 1-2"] {
            let refused = refusal(&json!({"op_type": 2, "type": 2, "content": bad}).to_string());
            assert!(refused.why.contains("skip-limit"), "{bad:?}: {}", refused.why);
            assert_eq!(refused.frame_type, 2);
        }
    }

    #[test]
    fn reads_marks_deletes_and_rooms() {
        assert_eq!(
            request_of(json!({"from": "alice", "to": "", "type": 1, "op_type": 4, "content": "42"})),
            Request::MarkRead {
                to: "bob".into(),
                msg_id: "42".into()
            }
        );
        assert_eq!(
            request_of(json!({"op_type": 5, "content": "42"})),
            Request::Delete {
                to: "bob".into(),
                msg_id: "42".into()
            }
        );
        assert_eq!(request_of(json!({"op_type": 3})), Request::Unread { to: "bob".into() });
        assert_eq!(
            request_of(json!({"from": "alice", "to": "", "type": 1, "op_type": 6, "content": "hello everyone"})),
            Request::Room {
                room: DEFAULT_ROOM.into(),
                text: "hello everyone".into()
            },
            "no room named: ALL, never to_uid"
        );
        assert_eq!(
            request_of(json!({"op_type": 6, "to": "lobby", "content": "hi"})),
            Request::Room {
                room: "lobby".into(),
                text: "hi".into()
            }
        );
    }

    #[test]
    fn only_the_tokens_session_may_be_named_as_sender() {
        for frame in [
            json!({"from": "mallory", "to": "bob", "op_type": 1, "content": "x"}),
            json!({"uid": "mallory", "to": "bob", "op_type": 6, "content": "x"}),
        ] {
            assert!(refusal(&frame.to_string()).why.contains("another session"), "{frame}");
        }
        assert!(
            refusal(r#"{"from": 7, "op_type": 1}"#)
                .why
                .contains("from must be a string")
        );
        for accepted in [
            json!({"from": "alice", "op_type": 3}),
            json!({"from": "", "op_type": 3}),
        ] {
            assert!(parsed(&accepted.to_string()).is_ok(), "{accepted}");
        }
    }

    #[test]
    fn malformed_frames_are_refused_with_their_type() {
        for (frame, says) in [
            ("{not json", "malformed JSON"),
            ("[1, 2]", "JSON object"),
            (r#"{"op_type": "1"}"#, "op_type must be an integer"),
            (r#"{"to": "bob"}"#, "op_type is missing"),
            (r#"{"op_type": 1, "content": 5}"#, "content must be a string"),
            (r#"{"op_type": 1, "to": 5}"#, "to must be a string"),
            (r#"{"op_type": 99}"#, "not one of 1 to 6"),
            (r#"{"op_type": 1, "type": "x"}"#, "type must be an integer"),
        ] {
            let refused = refusal(frame);
            assert!(refused.why.contains(says), "{frame}: {}", refused.why);
        }
        assert_eq!(refusal(r#"{"type": 3, "op_type": 99}"#).frame_type, 3);
        assert_eq!(
            parse(r#"{"op_type": 1, "content": "x"}"#, "alice", None)
                .expect_err("no peer")
                .why,
            "to is missing (and the connection has no to_uid)"
        );
        let long = "x".repeat(MAX_ID_LEN + 1);
        assert!(
            refusal(&json!({"op_type": 1, "to": long}).to_string())
                .why
                .contains("longer")
        );
        assert!(
            refusal(&json!({"op_type": 6, "to": long}).to_string())
                .why
                .contains("longer")
        );
    }

    #[test]
    fn server_frames_have_seed_003s_fields() {
        let frame: Value = serde_json::from_str(&system("alice", 2, answer::HISTORY, "1\nhi")).unwrap();
        assert_eq!(
            frame,
            json!({"from": "System", "to": "alice", "type": 2, "op_type": 40005, "content": "1\nhi"})
        );
        let refused = Refused {
            frame_type: 3,
            why: "bad".into(),
        };
        let frame: Value = serde_json::from_str(&error("alice", &refused)).unwrap();
        assert_eq!(
            frame,
            json!({"from": "System", "to": "alice", "type": 3, "op_type": 40000, "content": "bad"})
        );
        let frame: Value = serde_json::from_str(&message("bob", "alice", 1, answer::MESSAGE, "hi")).unwrap();
        assert_eq!(
            frame,
            json!({"from": "bob", "to": "alice", "type": 1, "op_type": 40011, "content": "hi"})
        );
        assert_eq!(history_content("7", "a\nb"), "7\na\nb");
    }
}
