//! The frames the harness writes (`msg-im`, `msg-listHistory`) and reads (replies, pushes),
//! decoded without building a JSON tree.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Request ids carry the send time: `reqId = µs since the run started × 1024 + n mod 1024`.
const REQ_SLOTS: u64 = 1024;

pub fn req_id(sent_us: u64, n: u64) -> u64 {
    sent_us * REQ_SLOTS + n % REQ_SLOTS
}

pub fn sent_us_of_req(req_id: u64) -> u64 {
    req_id / REQ_SLOTS
}

/// Message content: the send time in µs since the run started, a space, then padding.
pub fn content(sent_us: u64, size: usize) -> String {
    let mut text = sent_us.to_string();
    text.push(' ');
    while text.len() < size {
        text.push('x');
    }
    text
}

pub fn sent_us_of_content(content: &str) -> Option<u64> {
    content.split(' ').next()?.parse().ok()
}

/// `msg-im` on `conv_json` (the conversation id as a JSON string).
pub fn msg_im(req_id: u64, conv_json: &str, key: &str, content: &str) -> String {
    format!(
        r#"{{"action":"msg-im","reqId":{req_id},"param":{{"convId":{conv_json},"msgKey":"{key}","msgType":1,"msgContent":"{content}"}}}}"#
    )
}

/// `msg-listHistory`: the newest `limit` messages of `conv_json`.
pub fn list_history(req_id: u64, conv_json: &str, limit: u64) -> String {
    format!(r#"{{"action":"msg-listHistory","reqId":{req_id},"param":{{"convId":{conv_json},"limit":{limit}}}}}"#)
}

/// The fields of `MsgData` the harness reads.
#[derive(Debug, Deserialize)]
pub struct Msg<'a> {
    #[serde(rename = "ConversationID", borrow)]
    pub conversation_id: Cow<'a, str>,
    #[serde(rename = "FromSession", borrow)]
    pub from_session: Cow<'a, str>,
    #[serde(rename = "Seq")]
    pub seq: u64,
    #[serde(rename = "Content", borrow, default)]
    pub content: Cow<'a, str>,
}

#[derive(Debug, Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    action: Option<Cow<'a, str>>,
    #[serde(rename = "reqId", default)]
    req_id: Option<u64>,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default, borrow)]
    error: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
    /// Present when the frame is itself a `MsgData` (`/notify` pushes).
    #[serde(rename = "MsgId", default, borrow)]
    msg_id: Option<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
struct HistoryData<'a> {
    #[serde(borrow)]
    msgs: Vec<Msg<'a>>,
}

/// What one incoming frame means.
#[derive(Debug)]
pub enum Incoming<'a> {
    /// A message push (native `/ws` or `/notify`).
    Push(Msg<'a>),
    /// `msg-im` answered: the message is stored.
    Stored { req_id: u64, msg: Msg<'a> },
    /// `msg-listHistory` answered with these `Seq` values, newest first.
    History { req_id: u64, seqs: Vec<u64> },
    /// A request refused.
    Failed {
        req_id: Option<u64>,
        code: i64,
        error: String,
    },
    /// Anything else (other pushes, pongs).
    Other,
}

pub fn decode(text: &str) -> Result<Incoming<'_>, serde_json::Error> {
    let envelope: Envelope = serde_json::from_str(text)?;
    if envelope.msg_id.is_some() {
        return Ok(Incoming::Push(serde_json::from_str(text)?));
    }
    if envelope.status.as_deref() == Some("error") {
        return Ok(Incoming::Failed {
            req_id: envelope.req_id,
            code: envelope.code.unwrap_or(0),
            error: envelope.error.map(Cow::into_owned).unwrap_or_default(),
        });
    }
    let (Some(action), Some(data)) = (envelope.action.as_deref(), envelope.data) else {
        return Ok(Incoming::Other);
    };
    Ok(match (action, envelope.req_id) {
        ("msg-im", None) => Incoming::Push(serde_json::from_str(data.get())?),
        ("msg-im", Some(req_id)) => Incoming::Stored {
            req_id,
            msg: serde_json::from_str(data.get())?,
        },
        ("msg-listHistory", Some(req_id)) => {
            let history: HistoryData = serde_json::from_str(data.get())?;
            Incoming::History {
                req_id,
                seqs: history.msgs.iter().map(|m| m.seq).collect(),
            }
        }
        _ => Incoming::Other,
    })
}

/// A history page is right when it is a contiguous run of `Seq`, newest first, within `limit`.
pub fn history_page_is_contiguous(seqs: &[u64], limit: u64) -> bool {
    seqs.len() as u64 <= limit && seqs.windows(2).all(|w| w[0] == w[1] + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &str = r#"{"MsgId":"7","ConversationID":"c1","FromSession":"a","SendTime":"t","Status":0,"Type":1,"Content":"123 xx","Seq":4,"ClientMsgId":"k"}"#;

    #[test]
    fn req_ids_carry_the_send_time() {
        assert_eq!(sent_us_of_req(req_id(5_000_000, 77_777)), 5_000_000);
    }

    #[test]
    fn content_carries_the_send_time_and_has_the_size() {
        let text = content(123_456, 64);
        assert_eq!(text.len(), 64);
        assert_eq!(sent_us_of_content(&text), Some(123_456));
    }

    #[test]
    fn requests_are_json() {
        let frame: serde_json::Value = serde_json::from_str(&msg_im(9, "\"c1\"", "k1", "12 x")).unwrap();
        assert_eq!(frame["param"]["convId"], "c1");
        let frame: serde_json::Value = serde_json::from_str(&list_history(9, "\"c1\"", 30)).unwrap();
        assert_eq!(frame["param"]["limit"], 30);
    }

    #[test]
    fn decodes_a_native_push() {
        let frame = format!(r#"{{"action":"msg-im","code":200,"status":"ok","data":{MSG}}}"#);
        let Incoming::Push(msg) = decode(&frame).unwrap() else {
            panic!()
        };
        assert_eq!((msg.seq, &*msg.conversation_id, &*msg.from_session), (4, "c1", "a"));
        assert_eq!(sent_us_of_content(&msg.content), Some(123));
    }

    #[test]
    fn decodes_a_notify_push() {
        let Incoming::Push(msg) = decode(MSG).unwrap() else {
            panic!()
        };
        assert_eq!(msg.seq, 4);
    }

    #[test]
    fn decodes_a_reply() {
        let frame = format!(r#"{{"action":"msg-im","reqId":42,"status":"ok","data":{MSG}}}"#);
        let Incoming::Stored { req_id, msg } = decode(&frame).unwrap() else {
            panic!()
        };
        assert_eq!((req_id, msg.seq), (42, 4));
    }

    #[test]
    fn decodes_an_error() {
        let frame = r#"{"action":"msg-im","reqId":3,"status":"error","code":10010,"error":"retry"}"#;
        let Incoming::Failed { req_id, code, .. } = decode(frame).unwrap() else {
            panic!()
        };
        assert_eq!((req_id, code), (Some(3), 10010));
    }

    #[test]
    fn decodes_a_history_page() {
        let frame = format!(
            r#"{{"action":"msg-listHistory","reqId":5,"status":"ok","data":{{"convId":"c1","msgs":[{MSG}]}}}}"#
        );
        let Incoming::History { seqs, .. } = decode(&frame).unwrap() else {
            panic!()
        };
        assert_eq!(seqs, vec![4]);
    }

    #[test]
    fn checks_history_pages() {
        assert!(history_page_is_contiguous(&[5, 4, 3], 30));
        assert!(!history_page_is_contiguous(&[5, 3], 30));
        assert!(!history_page_is_contiguous(&[5, 4, 3], 2));
        assert!(history_page_is_contiguous(&[], 30));
    }
}
