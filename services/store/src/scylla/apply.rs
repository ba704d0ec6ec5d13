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

use super::buckets::bucket_of;
use crate::Change;
use herald_protocol::{AppId, ConvId, MessageRecord};

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

/// Plans the writes of `changes`, change `i` at timestamp `first_timestamp + i`.
pub fn plan(changes: &[Change], first_timestamp: i64) -> WritePlan<'_> {
    let mut indexes = Vec::new();
    let mut others = Vec::new();
    let mut by_conversation: Vec<(&AppId, &ConvId, Vec<TimedMessage<'_>>)> = Vec::new();
    let mut recount: Vec<(&AppId, &ConvId)> = Vec::new();
    for (index, change) in changes.iter().enumerate() {
        let timestamp = first_timestamp + i64::try_from(index).unwrap_or(i64::MAX - first_timestamp);
        match change {
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
            Change::Archive { .. } | Change::ReadCursor { .. } => others.push((change, timestamp)),
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
            content: "x".repeat(content_len),
            idempotency_key: format!("k{seq}"),
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
        let plan = plan(&changes, 1000);
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
        let plan = plan(&changes, 0);
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
        let plan = plan(&changes, 0);
        let chunks: Vec<_> = plan.logs[0].chunks.iter().map(|c| seqs(c)).collect();
        assert_eq!(chunks, vec![(995..=999).collect::<Vec<_>>(), (1000..=1004).collect()]);
    }

    #[test]
    fn chunks_are_bounded_in_rows_and_bytes() {
        let many: Vec<_> = (1..=150).map(|seq| message("c", seq, 1)).collect();
        let plan_rows = plan(&many, 0);
        let sizes: Vec<usize> = plan_rows.logs[0].chunks.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![64, 64, 22]);

        let big: Vec<_> = (1..=5).map(|seq| message("c", seq, 40 * 1024)).collect();
        let plan_bytes = plan(&big, 0);
        let sizes: Vec<usize> = plan_bytes.logs[0].chunks.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![2, 2, 1]);
        // a single message larger than the bound still goes, alone
        let huge = vec![message("c", 1, 200 * 1024), message("c", 2, 1)];
        let plan_huge = plan(&huge, 0);
        assert_eq!(plan_huge.logs[0].chunks.len(), 2);
    }

    #[test]
    fn a_recall_in_the_same_batch_keeps_the_order_of_its_timestamps() {
        let mut recall = message("c", 1, 0);
        if let Change::Message(record) = &mut recall {
            record.status = herald_protocol::msg::status::RECALLED;
        }
        let changes = vec![message("c", 1, 5), recall];
        let plan = plan(&changes, 10);
        let chunk = &plan.logs[0].chunks[0];
        assert_eq!(
            chunk.iter().map(|(r, ts)| (r.status, *ts)).collect::<Vec<_>>(),
            vec![(0, 10), (2, 11)]
        );
    }
}
