//! Payloads on the bus: commands (gateway → sequencer), events (sequencer → delivery) and
//! gateway messages (acks from the sequencer, delivery batches).

use crate::error_code::WireError;
use crate::{AppId, ConvId, GatewayId, MessageRecord, MsgId, SessionId, Text};
use serde::{Deserialize, Serialize};

/// Where the sequencer sends the outcome of a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyTo {
    pub gateway: GatewayId,
    pub request: u64,
}

/// A command for one conversation, ordered with every other command of that conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub app: AppId,
    pub conv: ConvId,
    pub reply_to: Option<ReplyTo>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Send(SendCommand),
    /// Move `session`'s read cursor to `seq` (default: the latest message).
    Read {
        session: SessionId,
        seq: Option<u64>,
    },
    Members(MembersCommand),
    /// The app's backend archives or unarchives the conversation.
    Archive {
        archived: bool,
    },
    /// Recall a message for everyone (its sender or the conversation's owner).
    Recall {
        session: SessionId,
        msg_id: MsgId,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendCommand {
    pub from: SessionId,
    pub idempotency_key: Text,
    pub client_msg_id: Option<Text>,
    pub msg_type: i32,
    pub status: i32,
    pub content: Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembersCommand {
    /// A session joins an open conversation by itself.
    Join { session: SessionId },
    /// A session leaves.
    Leave { session: SessionId },
    /// A member adds sessions.
    Invite { by: SessionId, sessions: Vec<SessionId> },
    /// The owner removes sessions.
    Remove { by: SessionId, sessions: Vec<SessionId> },
    /// The app's backend adds sessions (`/inner/join_conversation`).
    AppJoin { sessions: Vec<SessionId> },
    /// The app's backend removes sessions (`/inner/kickout_conversation`).
    AppKick { sessions: Vec<SessionId> },
}

impl Command {
    /// The id JetStream dedupes the publish on: stable across client retries of a send.
    pub fn dedupe_id(&self) -> Option<String> {
        use std::fmt::Write;
        let Action::Send(send) = &self.action else {
            return None;
        };
        let fields = [
            self.app.as_str(),
            self.conv.as_str(),
            send.from.as_str(),
            send.idempotency_key.as_str(),
        ];
        // "send:" then each field's length, then the fields (built without formatting them)
        let mut id = String::with_capacity(32 + fields.iter().map(|f| f.len()).sum::<usize>());
        id.push_str("send");
        for field in fields {
            let _ = write!(id, ":{}", field.len());
        }
        id.push(':');
        for field in fields {
            id.push_str(field);
        }
        Some(id)
    }

    /// Every value [`Command::kind`] returns.
    pub const KINDS: [&'static str; 5] = ["send", "read", "members", "archive", "recall"];

    pub fn kind(&self) -> &'static str {
        match &self.action {
            Action::Send(_) => "send",
            Action::Read { .. } => "read",
            Action::Members(_) => "members",
            Action::Archive { .. } => "archive",
            Action::Recall { .. } => "recall",
        }
    }
}

/// Something that happened to a conversation. It names no recipients, so it stays small
/// whatever the group's size: delivery resolves them (`EventBody::audience`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub app: AppId,
    pub conv: ConvId,
    pub body: EventBody,
}

/// Who an event is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience<'a> {
    /// The conversation's members, after the event (members added hear of it).
    Members,
    /// The members before the event and the sessions it removes (they hear of their removal).
    MembersAndRemoved(&'a [SessionId]),
    /// One session (its read cursor moved).
    Session(&'a SessionId),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventBody {
    /// A message was appended.
    Message(MessageRecord),
    /// A session's read cursor moved (pushed to that session's devices, and as a read receipt to
    /// the other members of a conversation of at most `ws::READ_RECEIPT_MAX_MEMBERS`).
    Read {
        session: SessionId,
        seq: u64,
        unread: u64,
    },
    /// A message was recalled; the record is its tombstone.
    Recalled(MessageRecord),
    /// Sessions joined or were added.
    MembersAdded {
        sessions: Vec<SessionId>,
        by: Option<SessionId>,
    },
    /// Sessions left or were removed.
    MembersRemoved {
        sessions: Vec<SessionId>,
        by: Option<SessionId>,
    },
    Archived {
        archived: bool,
    },
}

impl EventBody {
    pub fn audience(&self) -> Audience<'_> {
        match self {
            EventBody::Read { session, .. } => Audience::Session(session),
            EventBody::MembersRemoved { sessions, .. } => Audience::MembersAndRemoved(sessions),
            _ => Audience::Members,
        }
    }
}

impl Event {
    /// Message events dedupe on their id (a re-published original is dropped); others on the
    /// position of the command that caused them and their `index` among that command's events,
    /// which a replay reproduces whatever the batch around it.
    pub fn dedupe_id(&self, position: u64, index: usize) -> String {
        match &self.body {
            EventBody::Message(record) => format!("msg:{}", record.msg_id),
            _ => format!("evt:{}:{}:{position}:{index}", self.app, self.conv),
        }
    }
}

/// What a gateway receives on its own subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GatewayMessage {
    Acks(Vec<Ack>),
    Deliver(Vec<Delivery>),
    /// Close the older connections of (app, session, platform) but `except` (login policy `kick`).
    Kick {
        app: AppId,
        session: SessionId,
        platform: u8,
        except_gateway: GatewayId,
        except_conn: u64,
    },
}

/// A gateway message encoded for a transport whose messages are at most some size.
#[derive(Debug, Default)]
pub struct Encoded {
    pub payloads: Vec<Vec<u8>>,
    /// Items (acks or deliveries) that do not fit even alone; they are not in `payloads`.
    pub too_large: usize,
}

impl GatewayMessage {
    /// Encodes into payloads of at most `max_bytes` each: a batch of acks or deliveries that
    /// does not fit is split in halves until every part does (one encoding when it fits, the
    /// common case). An item too large alone is counted in `too_large` and left out, so one
    /// oversized item never blocks the rest of its batch.
    pub fn encode_within(self, max_bytes: usize) -> Result<Encoded, crate::codec::CodecError> {
        let mut encoded = Encoded::default();
        let mut stack = vec![self];
        while let Some(message) = stack.pop() {
            let bytes = crate::codec::encode(&message)?;
            if bytes.len() <= max_bytes {
                encoded.payloads.push(bytes);
                continue;
            }
            match message {
                GatewayMessage::Acks(mut acks) if acks.len() > 1 => {
                    let second = acks.split_off(acks.len() / 2);
                    stack.push(GatewayMessage::Acks(second));
                    stack.push(GatewayMessage::Acks(acks));
                }
                GatewayMessage::Deliver(mut deliveries) if deliveries.len() > 1 => {
                    let second = deliveries.split_off(deliveries.len() / 2);
                    stack.push(GatewayMessage::Deliver(second));
                    stack.push(GatewayMessage::Deliver(deliveries));
                }
                _ => encoded.too_large += 1,
            }
        }
        Ok(encoded)
    }
}

/// The outcome of one command, for the request that is waiting for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub request: u64,
    pub outcome: Result<Reply, WireError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// A send: the stored message (the original one, for a retry).
    Message(MessageRecord),
    Read {
        seq: u64,
        unread: u64,
    },
    Done,
}

/// One push for several sessions of one app on one gateway, serialized once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub app: AppId,
    pub recipients: Vec<SessionId>,
    pub push: Push,
    /// The delivering span's W3C `traceparent`, when traced.
    #[serde(default)]
    pub trace: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Push {
    /// A new message: `MsgData` JSON. `/notify` sends it as is, `/ws` wraps it in a push frame.
    /// `conv` and `seq` let a gateway keep each connection's pushes in `Seq` order.
    Message {
        msg_id: MsgId,
        msg_data_json: String,
        #[serde(default)]
        conv: Option<ConvId>,
        #[serde(default)]
        seq: u64,
    },
    /// Any other push: the whole frame, the same on `/ws` and `/notify`.
    Frame { json: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn ack(request: u64, text_bytes: usize) -> Ack {
        Ack {
            request,
            outcome: Err(WireError::new(ErrorCode::Internal, "x".repeat(text_bytes))),
        }
    }

    fn requests(payloads: &[Vec<u8>]) -> Vec<u64> {
        payloads
            .iter()
            .flat_map(|p| match crate::codec::decode::<GatewayMessage>(p).unwrap() {
                GatewayMessage::Acks(acks) => acks.into_iter().map(|a| a.request).collect::<Vec<_>>(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    /// The command log drops a send whose id it has seen (JetStream's `Nats-Msg-Id` among them):
    /// the id names the four fields of an idempotency key, each length first so no two keys
    /// share an id, in the format every release has used (a retry across an upgrade still dedupes).
    #[test]
    fn a_send_s_dedupe_id_names_its_key_with_the_fields_lengths() {
        let command = |conv: &str, key: &str| Command {
            app: crate::AppId::parse("app1").unwrap(),
            conv: crate::ConvId::parse(conv).unwrap(),
            reply_to: None,
            action: Action::Send(SendCommand {
                from: crate::SessionId::parse("alice").unwrap(),
                idempotency_key: key.into(),
                client_msg_id: None,
                msg_type: 1,
                status: 0,
                content: "hi".into(),
            }),
        };
        assert_eq!(
            command("c1", "k-9").dedupe_id().as_deref(),
            Some("send:4:2:5:3:app1c1alicek-9")
        );
        assert_ne!(command("c1", "k").dedupe_id(), command("c", "1k").dedupe_id());
        let read = Command {
            action: Action::Read {
                session: crate::SessionId::parse("alice").unwrap(),
                seq: Some(1),
            },
            ..command("c1", "k")
        };
        assert_eq!(read.dedupe_id(), None);
    }

    /// The gateway resolves a counter per kind from `KINDS` once: every kind must be listed.
    #[test]
    fn every_command_kind_is_listed() {
        let session = crate::SessionId::parse("alice").unwrap();
        let actions = [
            Action::Send(SendCommand {
                from: session.clone(),
                idempotency_key: "k".into(),
                client_msg_id: None,
                msg_type: 1,
                status: 0,
                content: "hi".into(),
            }),
            Action::Read {
                session: session.clone(),
                seq: None,
            },
            Action::Members(MembersCommand::Join { session }),
            Action::Archive { archived: true },
            Action::Recall {
                session: crate::SessionId::parse("bob").unwrap(),
                msg_id: MsgId(1),
            },
        ];
        let kinds: Vec<&str> = actions
            .into_iter()
            .map(|action| {
                Command {
                    app: crate::AppId::parse("a").unwrap(),
                    conv: crate::ConvId::parse("c").unwrap(),
                    reply_to: None,
                    action,
                }
                .kind()
            })
            .collect();
        assert_eq!(kinds, Command::KINDS);
    }

    #[test]
    fn a_batch_that_fits_is_one_payload() {
        let message = GatewayMessage::Acks((0..10).map(|i| ack(i, 10)).collect());
        let encoded = message.encode_within(1 << 20).unwrap();
        assert_eq!((encoded.payloads.len(), encoded.too_large), (1, 0));
        assert_eq!(requests(&encoded.payloads), (0..10).collect::<Vec<_>>());
    }

    /// A batch over the transport's limit (NATS's `max_payload`) is split, never refused as a
    /// whole: every part fits, nothing is lost or reordered, and only an item too large on its
    /// own is left out (and counted).
    #[test]
    fn a_batch_over_the_limit_is_split_in_order_and_an_oversized_item_is_counted() {
        let mut acks: Vec<Ack> = (0..100).map(|i| ack(i, 1000)).collect();
        acks[37] = ack(37, 10_000);
        let encoded = GatewayMessage::Acks(acks).encode_within(8 * 1024).unwrap();
        assert!(encoded.payloads.iter().all(|p| p.len() <= 8 * 1024));
        assert!(encoded.payloads.len() >= 13, "{} payloads", encoded.payloads.len());
        assert_eq!(encoded.too_large, 1);
        let expected: Vec<u64> = (0..100).filter(|i| *i != 37).collect();
        assert_eq!(requests(&encoded.payloads), expected);
    }

    /// A message push from a delivery worker that predates `conv` and `seq` (a rolling
    /// upgrade) still decodes: no order key, so the gateway writes it as before.
    #[test]
    fn a_message_push_without_conv_and_seq_still_decodes() {
        #[derive(Serialize)]
        enum OldPush {
            Message { msg_id: MsgId, msg_data_json: String },
        }
        let old = crate::codec::encode(&OldPush::Message {
            msg_id: MsgId(7),
            msg_data_json: "{}".into(),
        })
        .unwrap();
        let decoded: Push = crate::codec::decode(&old).unwrap();
        assert_eq!(
            decoded,
            Push::Message {
                msg_id: MsgId(7),
                msg_data_json: "{}".into(),
                conv: None,
                seq: 0,
            }
        );
    }
}
