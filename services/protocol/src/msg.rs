//! A stored message as the log keeps it, and `MsgData`, its shape on the wire (seed 001 names).

use crate::{AppId, ConvId, MsgId, SessionId, Text, timefmt};
use serde::{Deserialize, Serialize};

/// `Status` values of a message.
pub mod status {
    pub const NORMAL: i32 = 0;
    pub const DELETED_FOR_ME: i32 = 1;
    pub const RECALLED: i32 = 2;
}

/// Whether a conversation is a 1:1 (`single`, deduplicated per pair) or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConvKind {
    Group,
    Single,
}

impl ConvKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConvKind::Group => "group",
            ConvKind::Single => "single",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "group" | "multi" => Some(ConvKind::Group),
            "single" => Some(ConvKind::Single),
            _ => None,
        }
    }
}

/// One message of one conversation's log, keyed by (app, conv, seq).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub app: AppId,
    pub conv: ConvId,
    pub seq: u64,
    pub msg_id: MsgId,
    pub from: SessionId,
    /// Unix nanoseconds, assigned by the sequencer.
    pub send_time: i64,
    pub status: i32,
    pub msg_type: i32,
    pub content: Text,
    /// The sender's idempotency key, scoped to (app, conv, sender).
    pub idempotency_key: Text,
    /// Echoed to clients only when the client chose the key.
    pub client_msg_id: Option<Text>,
}

impl MessageRecord {
    /// Its `MsgData`, borrowing the texts (to serialize).
    pub fn wire(&self) -> MsgDataRef<'_> {
        MsgDataRef {
            msg_id: self.msg_id,
            conversation_id: &self.conv,
            from_session: &self.from,
            send_time: timefmt::Rfc3339::nanos(self.send_time),
            status: self.status,
            msg_type: self.msg_type,
            content: &self.content,
            seq: self.seq,
            client_msg_id: self.client_msg_id.as_deref(),
        }
    }

    pub fn to_wire(&self) -> MsgData {
        MsgData {
            msg_id: self.msg_id,
            conversation_id: self.conv.clone(),
            from_session: self.from.clone(),
            send_time: timefmt::rfc3339_nanos(self.send_time),
            status: self.status,
            msg_type: self.msg_type,
            content: self.content.to_string(),
            seq: self.seq,
            client_msg_id: self.client_msg_id.as_deref().map(str::to_owned),
        }
    }
}

/// `MsgData` borrowed from a record: serialized as [`MsgData`] is, without copying the
/// record's texts first (pushes and acks are written this way).
#[derive(Debug, Serialize)]
pub struct MsgDataRef<'a> {
    #[serde(rename = "MsgId")]
    pub msg_id: MsgId,
    #[serde(rename = "ConversationID")]
    pub conversation_id: &'a ConvId,
    #[serde(rename = "FromSession")]
    pub from_session: &'a SessionId,
    #[serde(rename = "SendTime")]
    pub send_time: timefmt::Rfc3339,
    #[serde(rename = "Status")]
    pub status: i32,
    #[serde(rename = "Type")]
    pub msg_type: i32,
    #[serde(rename = "Content")]
    pub content: &'a str,
    #[serde(rename = "Seq")]
    pub seq: u64,
    #[serde(rename = "ClientMsgId", skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<&'a str>,
}

/// `MsgData` of protocol §3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsgData {
    #[serde(rename = "MsgId")]
    pub msg_id: MsgId,
    #[serde(rename = "ConversationID")]
    pub conversation_id: ConvId,
    #[serde(rename = "FromSession")]
    pub from_session: SessionId,
    #[serde(rename = "SendTime")]
    pub send_time: String,
    #[serde(rename = "Status")]
    pub status: i32,
    #[serde(rename = "Type")]
    pub msg_type: i32,
    #[serde(rename = "Content")]
    pub content: String,
    #[serde(rename = "Seq")]
    pub seq: u64,
    #[serde(rename = "ClientMsgId", skip_serializing_if = "Option::is_none", default)]
    pub client_msg_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> MessageRecord {
        MessageRecord {
            app: AppId::parse("a").unwrap(),
            conv: ConvId::parse("c").unwrap(),
            seq: 7,
            msg_id: MsgId(42),
            from: SessionId::parse("s").unwrap(),
            send_time: 0,
            status: 0,
            msg_type: 1,
            content: "hi".into(),
            idempotency_key: "k".into(),
            client_msg_id: None,
        }
    }

    #[test]
    fn wire_names_follow_seed_001() {
        let record = record();
        let json = serde_json::to_value(record.to_wire()).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        for key in [
            "MsgId",
            "ConversationID",
            "FromSession",
            "SendTime",
            "Status",
            "Type",
            "Content",
            "Seq",
        ] {
            assert!(keys.contains(&key), "{key} missing from {json}");
        }
        assert!(!keys.contains(&"ClientMsgId"));
        assert_eq!(json["MsgId"], "42");
    }

    #[test]
    fn the_borrowed_wire_form_serializes_as_the_owned_one() {
        let mut record = MessageRecord {
            send_time: 1_700_000_000_123_456_789,
            status: 2,
            msg_type: 101,
            content: "h\"i\u{1F600}\n".into(),
            ..record()
        };
        for client_msg_id in [None, Some("c-1".to_owned())] {
            record.client_msg_id = client_msg_id.map(Into::into);
            assert_eq!(
                serde_json::to_string(&record.wire()).unwrap(),
                serde_json::to_string(&record.to_wire()).unwrap()
            );
            assert_eq!(
                rmp_serde::to_vec_named(&record.wire()).unwrap(),
                rmp_serde::to_vec_named(&record.to_wire()).unwrap()
            );
        }
    }
}
