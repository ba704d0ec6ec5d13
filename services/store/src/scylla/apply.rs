//! How a sequenced batch becomes writes: which rows, in which order, at which timestamps.
//!
//! Change `i` of a batch is written at timestamp `first + i`, so when two changes touch the same
//! cell (a member added, removed, added again) the later one wins whatever order the writes land
//! in. Order still matters for crash safety, so a batch is written in phases:
//!
//! 1. index rows (idempotency keys, `MsgId` index) and the non-log changes (members, archive,
//!    read cursors), all at once: an index row without its message is harmless (reads check the
//!    message it points at), a message without its index row is not;
//! 2. per conversation, its messages in `Seq` order, as single-partition unlogged batches (each
//!    applied atomically by a replica) one after another, then the conversation's head: whatever a
//!    crash leaves behind is a prefix of the batch's messages, which `last_seq` counts;
//! 3. member counts of the conversations whose membership changed;
//! 4. the fence check that makes the batch count (see `fence.rs`).
//!
//! Before any of it, the `Seq`s the batch writes are read back (`check_slots`): a message never
//! lands on a `Seq` another message holds, and a tombstone only replaces the message it names.
//! The partition's fence makes its holder the only writer, so reading first is enough.

use super::buckets::bucket_of;
use crate::Change;
use herald_protocol::{AppId, ConvId, MessageRecord, MsgId};
use std::collections::{HashMap, HashSet};

/// Most rows in one unlogged batch.
pub const MAX_CHUNK_ROWS: usize = 64;
/// Most bytes (estimated) in one unlogged batch, well under ScyllaDB's batch size warning.
pub const MAX_CHUNK_BYTES: usize = 96 * 1024;

/// A message row and its write timestamp.
pub type TimedMessage<'a> = (&'a MessageRecord, i64);

/// One conversation's part of the log writes.
#[derive(Debug, PartialEq)]
pub struct ConversationLog<'a> {
    pub app: &'a AppId,
    pub conv: &'a ConvId,
    /// Batches to run one after another, each within one bucket, in `Seq` order.
    pub chunks: Vec<Vec<TimedMessage<'a>>>,
    /// The highest `Seq` written: the head to record once every chunk is in.
    pub head: u64,
}

/// The writes of one batch.
#[derive(Debug, PartialEq)]
pub struct WritePlan<'a> {
    /// Phase 1: index rows of every message.
    pub indexes: Vec<TimedMessage<'a>>,
    /// Phase 1: every change that is not a message, with its timestamp.
    pub others: Vec<(&'a Change, i64)>,
    /// Phase 2.
    pub logs: Vec<ConversationLog<'a>>,
    /// Phase 3: conversations to recount, and the timestamp of the count.
    pub recount: Vec<(&'a AppId, &'a ConvId)>,
    pub recount_timestamp: i64,
}

/// Timestamps a plan of `changes` uses: one per change and one for the member counts.
pub fn timestamps_needed(changes: &[Change]) -> usize {
    changes.len() + 1
}

fn estimated_bytes(record: &MessageRecord) -> usize {
    record.content.len()
        + record.idempotency_key.len()
        + record.client_msg_id.as_deref().map_or(0, str::len)
        + record.app.as_str().len()
        + record.conv.as_str().len()
        + record.from.as_str().len()
        + 64
}

/// Cuts one conversation's messages (sorted by `Seq`) into batches: a new batch at each bucket
/// boundary and whenever one would outgrow `MAX_CHUNK_ROWS` or `MAX_CHUNK_BYTES`.
pub fn chunk_messages<'a>(messages: &[TimedMessage<'a>]) -> Vec<Vec<TimedMessage<'a>>> {
    let mut chunks: Vec<Vec<TimedMessage<'a>>> = Vec::new();
    let mut bytes = 0;
    for &(record, timestamp) in messages {
        let size = estimated_bytes(record);
        let fits = chunks.last().is_some_and(|chunk| {
            let same_bucket = chunk
                .first()
                .is_some_and(|(first, _)| bucket_of(first.seq) == bucket_of(record.seq));
            same_bucket && chunk.len() < MAX_CHUNK_ROWS && bytes + size <= MAX_CHUNK_BYTES
        });
        if fits {
            bytes += size;
            chunks.last_mut().expect("checked").push((record, timestamp));
        } else {
            bytes = size;
            chunks.push(vec![(record, timestamp)]);
        }
    }
    chunks
}

/// Plans the writes of `changes`, change `i` at timestamp `first_timestamp + i`, leaving out
/// the messages at indexes `skip` (already stored, see `check_slots`).
pub fn plan<'a>(changes: &'a [Change], first_timestamp: i64, skip: &HashSet<usize>) -> WritePlan<'a> {
    let mut indexes = Vec::new();
    let mut others = Vec::new();
    let mut by_conversation: Vec<(&AppId, &ConvId, Vec<TimedMessage<'_>>)> = Vec::new();
    let mut recount: Vec<(&AppId, &ConvId)> = Vec::new();
    for (index, change) in changes.iter().enumerate() {
        let timestamp = first_timestamp + i64::try_from(index).unwrap_or(i64::MAX - first_timestamp);
        match change {
            Change::Message(_) if skip.contains(&index) => {}
            Change::Message(record) => {
                indexes.push((record, timestamp));
                match by_conversation
                    .iter_mut()
                    .find(|(app, conv, _)| *app == &record.app && *conv == &record.conv)
                {
                    Some((_, _, messages)) => messages.push((record, timestamp)),
                    None => by_conversation.push((&record.app, &record.conv, vec![(record, timestamp)])),
                }
            }
            Change::AddMember { app, conv, .. } | Change::RemoveMember { app, conv, .. } => {
                others.push((change, timestamp));
                if !recount.iter().any(|(a, c)| *a == app && *c == conv) {
                    recount.push((app, conv));
                }
            }
            Change::Tombstone(record) => match by_conversation
                .iter_mut()
                .find(|(app, conv, _)| *app == &record.app && *conv == &record.conv)
            {
                // its index rows are the message's
                Some((_, _, messages)) => messages.push((record, timestamp)),
                None => by_conversation.push((&record.app, &record.conv, vec![(record, timestamp)])),
            },
            Change::Archive { .. } | Change::ReadCursor { .. } | Change::Webhooks(_) => {
                others.push((change, timestamp))
            }
        }
    }
    let logs = by_conversation
        .into_iter()
        .map(|(app, conv, mut messages)| {
            // stable: two writes of one Seq keep their order (their timestamps decide anyway)
            messages.sort_by_key(|(record, _)| record.seq);
            let head = messages.iter().map(|(record, _)| record.seq).max().unwrap_or(0);
            ConversationLog {
                app,
                conv,
                chunks: chunk_messages(&messages),
                head,
            }
        })
        .collect();
    WritePlan {
        indexes,
        others,
        logs,
        recount,
        recount_timestamp: first_timestamp + i64::try_from(changes.len()).unwrap_or(0),
    }
}

/// A message slot: (app, conversation, `Seq`).
pub type Slot<'a> = (&'a AppId, &'a ConvId, u64);

/// The slots the batch's messages and tombstones write, per (app, conversation, bucket), each
/// group as its lowest and highest `Seq`: what to read back before writing.
pub fn slot_ranges(changes: &[Change]) -> Vec<(&AppId, &ConvId, i64, u64, u64)> {
    let mut ranges: Vec<(&AppId, &ConvId, i64, u64, u64)> = Vec::new();
    for change in changes {
        let (Change::Message(record) | Change::Tombstone(record)) = change else {
            continue;
        };
        let bucket = bucket_of(record.seq);
        match ranges
            .iter_mut()
            .find(|(app, conv, b, _, _)| *app == &record.app && *conv == &record.conv && *b == bucket)
        {
            Some((_, _, _, low, high)) => {
                *low = (*low).min(record.seq);
                *high = (*high).max(record.seq);
            }
            None => ranges.push((&record.app, &record.conv, bucket, record.seq, record.seq)),
        }
    }
    ranges
}

/// Checks the batch against the message ids `stored` at its slots. Refused (with the reason):
/// a message at a `Seq` another message holds, or a tombstone of a message that is not there.
/// Otherwise, the indexes of the messages already stored as they are (a re-applied batch),
/// which must not be written again: an insert never overwrites, not even a later tombstone.
pub fn check_slots<'a>(changes: &'a [Change], mut stored: HashMap<Slot<'a>, MsgId>) -> Result<HashSet<usize>, String> {
    let mut already = HashSet::new();
    for (index, change) in changes.iter().enumerate() {
        match change {
            Change::Message(record) => {
                let slot = (&record.app, &record.conv, record.seq);
                match stored.get(&slot) {
                    Some(held) if *held != record.msg_id => {
                        return Err(format!(
                            "seq {} of {}/{} holds message {held}: message {} refused",
                            record.seq, record.app, record.conv, record.msg_id
                        ));
                    }
                    Some(_) => {
                        already.insert(index);
                    }
                    None => {
                        stored.insert(slot, record.msg_id);
                    }
                }
            }
            Change::Tombstone(record)
                if stored.get(&(&record.app, &record.conv, record.seq)) != Some(&record.msg_id) =>
            {
                return Err(format!(
                    "tombstone of message {} at seq {} of {}/{}: no such message",
                    record.msg_id, record.seq, record.app, record.conv
                ));
            }
            _ => {}
        }
    }
    Ok(already)
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_protocol::{MsgId, SessionId};

    fn app() -> AppId {
        AppId::parse("app").unwrap()
    }

    fn message(conv: &str, seq: u64, content_len: usize) -> Change {
        Change::Message(MessageRecord {
            app: app(),
            conv: ConvId::parse(conv).unwrap(),
            seq,
            msg_id: MsgId(seq),
            from: SessionId::parse("alice").unwrap(),
            send_time: 0,
            status: 0,
            msg_type: 1,
            content: "x".repeat(content_len).into(),
            idempotency_key: format!("k{seq}").into(),
            client_msg_id: None,
        })
    }

    fn member(add: bool, session: &str) -> Change {
        let (app, conv, session) = (app(), ConvId::parse("g").unwrap(), SessionId::parse(session).unwrap());
        if add {
            Change::AddMember {
                app,
                conv,
                session,
                at: 1,
            }
        } else {
            Change::RemoveMember { app, conv, session }
        }
    }

    fn seqs(chunk: &[TimedMessage<'_>]) -> Vec<u64> {
        chunk.iter().map(|(r, _)| r.seq).collect()
    }

    #[test]
    fn each_change_gets_its_own_rising_timestamp() {
        let changes = vec![
            member(true, "bob"),
            message("c", 1, 1),
            member(false, "bob"),
            member(true, "bob"),
        ];
        let plan = plan(&changes, 1000, &HashSet::new());
        assert_eq!(
            plan.others.iter().map(|(_, ts)| *ts).collect::<Vec<_>>(),
            vec![1000, 1002, 1003]
        );
        assert_eq!(plan.indexes.iter().map(|(_, ts)| *ts).collect::<Vec<_>>(), vec![1001]);
        assert_eq!(plan.recount_timestamp, 1004, "after every change");
        assert_eq!(timestamps_needed(&changes), 5);
        assert_eq!(plan.recount.len(), 1, "one recount per conversation");
    }

    #[test]
    fn messages_are_grouped_per_conversation_in_seq_order() {
        let changes = vec![
            message("a", 2, 1),
            message("b", 7, 1),
            message("a", 1, 1),
            message("a", 3, 1),
        ];
        let plan = plan(&changes, 0, &HashSet::new());
        assert_eq!(plan.logs.len(), 2);
        assert_eq!(plan.logs[0].conv.as_str(), "a");
        assert_eq!(
            plan.logs[0].chunks.iter().map(|c| seqs(c)).collect::<Vec<_>>(),
            vec![vec![1, 2, 3]]
        );
        assert_eq!((plan.logs[0].head, plan.logs[1].head), (3, 7));
        assert_eq!(plan.indexes.len(), 4);
        assert!(plan.others.is_empty() && plan.recount.is_empty());
    }

    #[test]
    fn chunks_never_cross_a_bucket() {
        let changes: Vec<_> = (995..=1004).map(|seq| message("c", seq, 1)).collect();
        let plan = plan(&changes, 0, &HashSet::new());
        let chunks: Vec<_> = plan.logs[0].chunks.iter().map(|c| seqs(c)).collect();
        assert_eq!(chunks, vec![(995..=999).collect::<Vec<_>>(), (1000..=1004).collect()]);
    }

    #[test]
    fn chunks_are_bounded_in_rows_and_bytes() {
        let many: Vec<_> = (1..=150).map(|seq| message("c", seq, 1)).collect();
        let plan_rows = plan(&many, 0, &HashSet::new());
        let sizes: Vec<usize> = plan_rows.logs[0].chunks.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![64, 64, 22]);

        let big: Vec<_> = (1..=5).map(|seq| message("c", seq, 40 * 1024)).collect();
        let plan_bytes = plan(&big, 0, &HashSet::new());
        let sizes: Vec<usize> = plan_bytes.logs[0].chunks.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![2, 2, 1]);
        // a single message larger than the bound still goes, alone
        let huge = vec![message("c", 1, 200 * 1024), message("c", 2, 1)];
        let plan_huge = plan(&huge, 0, &HashSet::new());
        assert_eq!(plan_huge.logs[0].chunks.len(), 2);
    }

    #[test]
    fn a_recall_in_the_same_batch_keeps_the_order_of_its_timestamps() {
        let Change::Message(mut tombstone) = message("c", 1, 0) else {
            unreachable!()
        };
        tombstone.status = herald_protocol::msg::status::RECALLED;
        let changes = vec![message("c", 1, 5), Change::Tombstone(tombstone)];
        let plan = plan(&changes, 10, &HashSet::new());
        let chunk = &plan.logs[0].chunks[0];
        assert_eq!(
            chunk.iter().map(|(r, ts)| (r.status, *ts)).collect::<Vec<_>>(),
            vec![(0, 10), (2, 11)]
        );
    }

    fn tombstone_of(change: &Change) -> Change {
        let Change::Message(record) = change else {
            unreachable!()
        };
        let mut tombstone = record.clone();
        tombstone.status = herald_protocol::msg::status::RECALLED;
        tombstone.content = Default::default();
        Change::Tombstone(tombstone)
    }

    /// Conversation `c` with `held` (seq, msg id) stored.
    fn stored<'a>(app: &'a AppId, conv: &'a ConvId, held: &[(u64, u64)]) -> HashMap<Slot<'a>, MsgId> {
        held.iter().map(|(seq, id)| ((app, conv, *seq), MsgId(*id))).collect()
    }

    #[test]
    fn a_message_never_lands_on_a_seq_another_message_holds() {
        let (app, c) = (app(), ConvId::parse("c").unwrap());
        let first = message("c", 1, 1);
        assert_eq!(
            check_slots(std::slice::from_ref(&first), HashMap::new()),
            Ok(HashSet::new()),
            "a free seq"
        );
        assert_eq!(
            check_slots(std::slice::from_ref(&first), stored(&app, &c, &[(1, 1)])),
            Ok(HashSet::from([0])),
            "the same message again: a re-applied batch"
        );
        let refused = check_slots(std::slice::from_ref(&first), stored(&app, &c, &[(1, 99)]));
        assert!(
            refused.is_err_and(|why| why.contains("holds message 99")),
            "another message holds seq 1"
        );
        let twice = [message("c", 2, 1), {
            let Change::Message(mut other) = message("c", 2, 1) else {
                unreachable!()
            };
            other.msg_id = MsgId(77);
            Change::Message(other)
        }];
        assert!(
            check_slots(&twice, HashMap::new()).is_err(),
            "two messages for one seq in one batch"
        );
        let replay = [first, tombstone_of(&message("c", 1, 1))];
        let skip = check_slots(&replay, stored(&app, &c, &[(1, 1)])).unwrap();
        let plan = plan(&replay, 0, &skip);
        let written: Vec<_> = plan.logs[0].chunks[0].iter().map(|(r, _)| r.status).collect();
        assert_eq!(
            written,
            vec![herald_protocol::msg::status::RECALLED],
            "only the tombstone is written"
        );
        assert!(plan.indexes.is_empty());
    }

    #[test]
    fn a_tombstone_only_replaces_the_message_it_names() {
        let (app, c) = (app(), ConvId::parse("c").unwrap());
        let message = message("c", 3, 1);
        let tombstone = tombstone_of(&message);
        assert_eq!(
            check_slots(std::slice::from_ref(&tombstone), stored(&app, &c, &[(3, 3)])),
            Ok(HashSet::new())
        );
        assert_eq!(
            check_slots(&[message, tombstone.clone()], HashMap::new()),
            Ok(HashSet::new()),
            "sent and recalled in one batch"
        );
        assert!(
            check_slots(std::slice::from_ref(&tombstone), HashMap::new()).is_err(),
            "nothing stored"
        );
        assert!(
            check_slots(&[tombstone], stored(&app, &c, &[(3, 4)])).is_err(),
            "another message"
        );
    }

    #[test]
    fn slot_ranges_cover_each_bucket_of_each_conversation() {
        let mut changes: Vec<_> = [998, 999, 1000, 1003].iter().map(|s| message("c", *s, 1)).collect();
        changes.push(message("d", 5, 1));
        changes.push(member(true, "bob"));
        let ranges: Vec<_> = slot_ranges(&changes)
            .into_iter()
            .map(|(_, conv, bucket, low, high)| (conv.as_str().to_owned(), bucket, low, high))
            .collect();
        assert_eq!(
            ranges,
            vec![
                ("c".to_owned(), 0, 998, 999),
                ("c".to_owned(), 1, 1000, 1003),
                ("d".to_owned(), 0, 5, 5)
            ]
        );
    }
}
