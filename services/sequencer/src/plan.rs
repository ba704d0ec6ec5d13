//! Sequencing as a plain function: given a batch of commands, the conversations' state and the
//! originals of replayed keys, decide every outcome, record and event. No I/O.

use herald_protocol::bus::{Command, Event, ReplyTo, SendCommand};
use herald_protocol::error_code::WireError;
use herald_protocol::{ConvId, ErrorCode, MessageRecord, MsgId, SessionId};
use herald_store::Conversation;
use std::collections::{HashMap, HashSet};

/// What the sequencer knows of one conversation while it owns its partition.
#[derive(Debug, Clone)]
pub struct ConvState {
    pub conv: Conversation,
    pub members: Vec<SessionId>,
    pub member_set: HashSet<SessionId>,
    pub last_seq: u64,
}

impl ConvState {
    pub fn new(conv: Conversation, members: Vec<SessionId>, last_seq: u64) -> Self {
        let member_set = members.iter().cloned().collect();
        Self {
            conv,
            members,
            member_set,
            last_seq,
        }
    }
}

/// The decisions for one batch.
#[derive(Debug, Default)]
pub struct Plan {
    /// New records to append, in `Seq` order per conversation.
    pub appends: Vec<MessageRecord>,
    /// Answers for the waiting requests.
    pub replies: Vec<(ReplyTo, Result<MessageRecord, WireError>)>,
    /// Events to publish after the append.
    pub events: Vec<Event>,
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
}

/// Re-publish the event of a replayed message sent this recently (the event log's dedupe
/// window drops it if the first publish happened).
pub const REEMIT_WINDOW_NANOS: i64 = 120 * 1_000_000_000;

/// Sequences `commands`. `states` holds every conversation that exists (missing = unknown);
/// `originals` are stored messages matching the batch's idempotency keys.
pub fn plan_batch(
    commands: Vec<Command>,
    states: &mut HashMap<ConvId, ConvState>,
    originals: &[MessageRecord],
    mut next_id: impl FnMut() -> u64,
    now_nanos: i64,
) -> Plan {
    let mut plan = Plan::default();
    let mut known: HashMap<(&ConvId, &SessionId, &str), MessageRecord> = originals
        .iter()
        .map(|r| ((&r.conv, &r.from, r.idempotency_key.as_str()), r.clone()))
        .collect();
    let mut reemitted: HashSet<MsgId> = HashSet::new();
    let mut fresh: HashMap<(ConvId, SessionId, String), MessageRecord> = HashMap::new();

    for command in commands {
        let Command::Send(send) = command;
        let reply_to = send.reply_to.clone();
        let outcome = sequence_one(
            send,
            states,
            &mut known,
            &mut fresh,
            &mut reemitted,
            &mut plan,
            &mut next_id,
            now_nanos,
        );
        if let Some(reply_to) = reply_to {
            plan.replies.push((reply_to, outcome));
        }
    }
    plan
}

#[allow(clippy::too_many_arguments)]
fn sequence_one(
    send: SendCommand,
    states: &mut HashMap<ConvId, ConvState>,
    known: &mut HashMap<(&ConvId, &SessionId, &str), MessageRecord>,
    fresh: &mut HashMap<(ConvId, SessionId, String), MessageRecord>,
    reemitted: &mut HashSet<MsgId>,
    plan: &mut Plan,
    next_id: &mut impl FnMut() -> u64,
    now_nanos: i64,
) -> Result<MessageRecord, WireError> {
    let Some(state) = states.get_mut(&send.conv) else {
        plan.rejected += 1;
        return Err(WireError::new(ErrorCode::NotFound, "conversation not found"));
    };
    // a retry answers the original, whatever changed since
    let fresh_key = (send.conv.clone(), send.from.clone(), send.idempotency_key.clone());
    if let Some(original) = fresh.get(&fresh_key) {
        plan.duplicates += 1;
        return Ok(original.clone());
    }
    if let Some(original) = known.get(&(&send.conv, &send.from, send.idempotency_key.as_str())) {
        plan.duplicates += 1;
        if now_nanos - original.send_time < REEMIT_WINDOW_NANOS && reemitted.insert(original.msg_id) {
            plan.events.push(Event::Message {
                record: original.clone(),
                recipients: state.members.clone(),
            });
        }
        return Ok(original.clone());
    }
    if !state.member_set.contains(&send.from) {
        plan.rejected += 1;
        return Err(WireError::new(
            ErrorCode::NotMember,
            "not a member of this conversation",
        ));
    }
    if state.conv.archived {
        plan.rejected += 1;
        return Err(WireError::new(ErrorCode::Conflict, "conversation is archived"));
    }
    state.last_seq += 1;
    let record = MessageRecord {
        app: send.app,
        conv: send.conv,
        seq: state.last_seq,
        msg_id: MsgId(next_id()),
        from: send.from,
        send_time: now_nanos,
        status: send.status,
        msg_type: send.msg_type,
        content: send.content,
        idempotency_key: send.idempotency_key,
        client_msg_id: send.client_msg_id,
    };
    plan.accepted += 1;
    plan.appends.push(record.clone());
    plan.events.push(Event::Message {
        record: record.clone(),
        recipients: state.members.clone(),
    });
    fresh.insert(fresh_key, record.clone());
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_protocol::{AppId, ConvKind, GatewayId};

    fn sid(s: &str) -> SessionId {
        SessionId::parse(s).unwrap()
    }

    fn state(conv: &str, members: &[&str], last_seq: u64, archived: bool) -> (ConvId, ConvState) {
        let id = ConvId::parse(conv).unwrap();
        let conv = Conversation {
            app: AppId::parse("a").unwrap(),
            id: id.clone(),
            kind: ConvKind::Group,
            conv_type: 0,
            name: String::new(),
            avatar: String::new(),
            owner: sid(members[0]),
            open: true,
            archived,
            created_at: 0,
        };
        (
            id,
            ConvState::new(conv, members.iter().map(|m| sid(m)).collect(), last_seq),
        )
    }

    fn send(conv: &str, from: &str, key: &str, request: u64) -> Command {
        Command::Send(SendCommand {
            app: AppId::parse("a").unwrap(),
            conv: ConvId::parse(conv).unwrap(),
            from: sid(from),
            idempotency_key: key.into(),
            client_msg_id: Some(key.into()),
            msg_type: 1,
            status: 0,
            content: format!("{from}:{key}"),
            reply_to: Some(ReplyTo {
                gateway: GatewayId::parse("g").unwrap(),
                request,
            }),
        })
    }

    fn counter() -> impl FnMut() -> u64 {
        let mut n = 100;
        move || {
            n += 1;
            n
        }
    }

    #[test]
    fn seqs_continue_from_state_without_gaps_per_conversation() {
        let mut states = HashMap::from([state("c1", &["a", "b"], 41, false), state("c2", &["a"], 0, false)]);
        let commands = vec![
            send("c1", "a", "k1", 1),
            send("c2", "a", "k1", 2),
            send("c1", "b", "k1", 3),
        ];
        let plan = plan_batch(commands, &mut states, &[], counter(), 5);
        let seqs: Vec<(String, u64)> = plan.appends.iter().map(|r| (r.conv.to_string(), r.seq)).collect();
        assert_eq!(seqs, vec![("c1".into(), 42), ("c2".into(), 1), ("c1".into(), 43)]);
        assert_eq!(states[&ConvId::parse("c1").unwrap()].last_seq, 43);
        assert_eq!(plan.events.len(), 3);
        assert_eq!(plan.replies.len(), 3);
    }

    #[test]
    fn a_repeated_key_in_one_batch_answers_the_first() {
        let mut states = HashMap::from([state("c", &["a"], 0, false)]);
        let plan = plan_batch(
            vec![send("c", "a", "k", 1), send("c", "a", "k", 2)],
            &mut states,
            &[],
            counter(),
            5,
        );
        assert_eq!(plan.appends.len(), 1);
        assert_eq!(plan.events.len(), 1);
        let ids: Vec<MsgId> = plan.replies.iter().map(|(_, r)| r.as_ref().unwrap().msg_id).collect();
        assert_eq!(ids[0], ids[1]);
    }

    #[test]
    fn a_stored_key_answers_the_original_and_assigns_nothing() {
        let mut states = HashMap::from([state("c", &["a"], 7, false)]);
        let original =
            herald_store::testsuite::record(&AppId::parse("a").unwrap(), &ConvId::parse("c").unwrap(), 7, "a");
        let plan = plan_batch(
            vec![send("c", "a", "k7", 1)],
            &mut states,
            std::slice::from_ref(&original),
            counter(),
            original.send_time + 1,
        );
        assert!(plan.appends.is_empty());
        assert_eq!(plan.replies[0].1.as_ref().unwrap(), &original);
        assert_eq!(plan.events.len(), 1, "a recent replay re-publishes its event");
        let late = plan_batch(
            vec![send("c", "a", "k7", 1)],
            &mut states,
            std::slice::from_ref(&original),
            counter(),
            original.send_time + REEMIT_WINDOW_NANOS,
        );
        assert!(late.events.is_empty(), "an old replay does not");
        assert_eq!(states[&ConvId::parse("c").unwrap()].last_seq, 7);
    }

    #[test]
    fn rejections_assign_no_seq() {
        let mut states = HashMap::from([state("c", &["a"], 0, false), state("arch", &["a"], 3, true)]);
        let commands = vec![
            send("c", "mallory", "k", 1),
            send("nope", "a", "k", 2),
            send("arch", "a", "k", 3),
            send("c", "a", "k", 4),
        ];
        let plan = plan_batch(commands, &mut states, &[], counter(), 5);
        let codes: Vec<Option<ErrorCode>> = plan
            .replies
            .iter()
            .map(|(_, r)| r.as_ref().err().map(|e| e.code))
            .collect();
        assert_eq!(
            codes,
            vec![
                Some(ErrorCode::NotMember),
                Some(ErrorCode::NotFound),
                Some(ErrorCode::Conflict),
                None
            ]
        );
        assert_eq!(plan.appends.len(), 1);
        assert_eq!(plan.appends[0].seq, 1);
        assert_eq!(plan.rejected, 3);
    }
}
