//! The newest messages of the conversations this process writes to, kept in memory so that
//! history pages are answered without reading the store. Since schema 010 the table holds
//! messages in append order, so a conversation's last 30 messages are about 30 scattered pages,
//! read again after every commit (SQLite drops a reader's page cache whenever the database
//! changes).
//!
//! A conversation's tail is a contiguous run of `Seq`s ending at its newest message. Only the
//! writer fills it, after its transaction committed and before any batch is answered, with the
//! messages that transaction inserted (the sequencer inserts a conversation's messages in `Seq`
//! order, so an inserted message is its conversation's newest); tombstones update it. A page
//! whose start lies before a tail's first message is read from the store as before.
//!
//! Another process writing to the same database file would not be seen until this one's writer
//! next commits (it clears every tail when SQLite's `data_version` says another connection
//! committed, `threads.rs`), and a process that no longer writes would never notice: so tails are
//! kept only by a store opened as the file's sole writer (`SqliteStore::open_sole_writer`, the
//! embedded `herald up`, whose in-process bus cannot span processes). A store opened with
//! `SqliteStore::open` (the processes of a cluster sharing the file) keeps none.

use crate::Change;
use herald_protocol::{AppId, ConvId, MessageRecord};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Messages kept per conversation.
pub const PER_CONVERSATION: usize = 128;
/// Bytes of messages kept in all (approximate: content, keys and a fixed part per message); the
/// conversations written to least recently are dropped first.
pub const BYTES: usize = 64 << 20;
/// Per message beside its strings (the record, the queue's slot).
const OVERHEAD: usize = 160;

pub struct Tails {
    /// False: nothing is kept and every read goes to the store.
    enabled: bool,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    convs: HashMap<(AppId, ConvId), Tail>,
    bytes: usize,
    /// Advances with each commit: a tail's `used` orders eviction.
    tick: u64,
}

struct Tail {
    /// `Seq` of `records[0]`.
    first: u64,
    records: VecDeque<MessageRecord>,
    bytes: usize,
    used: u64,
}

impl Tail {
    fn last(&self) -> u64 {
        self.first + self.records.len() as u64 - 1
    }
}

fn size(r: &MessageRecord) -> usize {
    OVERHEAD + r.content.len() + r.idempotency_key.len() + r.client_msg_id.as_ref().map_or(0, |id| id.len())
}

impl Tails {
    pub fn new(enabled: bool) -> Self {
        Tails {
            enabled,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a commit: `changes` of one batch, `inserted` the indexes of the messages it stored
    /// anew (a replayed message is not one), in ascending order.
    pub fn committed(&self, changes: &[Change], inserted: &[usize]) {
        if !self.enabled {
            return;
        }
        let mut inner = self.lock();
        inner.tick += 1;
        let mut inserted = inserted.iter().peekable();
        for (index, change) in changes.iter().enumerate() {
            let new = inserted.next_if_eq(&&index).is_some();
            match change {
                Change::Message(r) if new => inner.append(r),
                Change::Tombstone(r) => inner.tombstone(r),
                _ => {}
            }
        }
        if inner.bytes > BYTES {
            inner.evict();
        }
    }

    /// Forgets every tail (another connection wrote to the database).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.convs.clear();
        inner.bytes = 0;
    }

    /// Messages with `Seq` in `from..=to`, oldest first, at most `limit`, if the tail holds them
    /// all (it starts at or before `from`; nothing exists after its last).
    pub fn range(
        &self,
        app: &AppId,
        conv: &ConvId,
        (from, to): (u64, u64),
        limit: usize,
    ) -> Option<Vec<MessageRecord>> {
        if !self.enabled {
            return None;
        }
        let inner = self.lock();
        let tail = inner.convs.get(&(app.clone(), conv.clone()))?;
        if from < tail.first {
            return None;
        }
        if to < from {
            return Some(Vec::new());
        }
        let skip = usize::try_from(from - tail.first).unwrap_or(usize::MAX);
        let span = usize::try_from(to - from).map_or(usize::MAX, |span| span.saturating_add(1));
        Some(tail.records.iter().skip(skip).take(span.min(limit)).cloned().collect())
    }

    /// The newest `limit` messages, newest first, if the tail holds that many (or the whole
    /// conversation).
    pub fn latest(&self, app: &AppId, conv: &ConvId, limit: usize) -> Option<Vec<MessageRecord>> {
        if !self.enabled {
            return None;
        }
        let inner = self.lock();
        let tail = inner.convs.get(&(app.clone(), conv.clone()))?;
        if tail.records.len() < limit && tail.first > 1 {
            return None;
        }
        Some(tail.records.iter().rev().take(limit).cloned().collect())
    }
}

impl Inner {
    fn append(&mut self, r: &MessageRecord) {
        let tick = self.tick;
        let key = (r.app.clone(), r.conv.clone());
        let added = size(r);
        let tail = self.convs.entry(key).or_insert_with(|| Tail {
            first: r.seq,
            records: VecDeque::new(),
            bytes: 0,
            used: tick,
        });
        if !tail.records.is_empty() && r.seq != tail.last() + 1 {
            // not the next one (cannot happen while Seqs are gapless): start over from it
            self.bytes -= tail.bytes;
            tail.records.clear();
            tail.bytes = 0;
        }
        if tail.records.is_empty() {
            tail.first = r.seq;
        }
        tail.records.push_back(r.clone());
        tail.bytes += added;
        tail.used = tick;
        self.bytes += added;
        if tail.records.len() > PER_CONVERSATION
            && let Some(old) = tail.records.pop_front()
        {
            tail.first += 1;
            tail.bytes -= size(&old);
            self.bytes -= size(&old);
        }
    }

    fn tombstone(&mut self, r: &MessageRecord) {
        let Some(tail) = self.convs.get_mut(&(r.app.clone(), r.conv.clone())) else {
            return;
        };
        if r.seq < tail.first || r.seq > tail.last() {
            return;
        }
        let stored = &mut tail.records[(r.seq - tail.first) as usize];
        if stored.msg_id == r.msg_id {
            let before = size(stored);
            stored.status = r.status;
            stored.content = r.content.clone();
            let after = size(stored);
            tail.bytes = tail.bytes + after - before;
            self.bytes = self.bytes + after - before;
        }
    }

    /// Drops the least recently written tails until an eighth of the budget is free.
    fn evict(&mut self) {
        let mut by_use: Vec<(u64, (AppId, ConvId))> =
            self.convs.iter().map(|(key, tail)| (tail.used, key.clone())).collect();
        by_use.sort_unstable_by_key(|(used, _)| *used);
        for (_, key) in by_use {
            if self.bytes <= BYTES - BYTES / 8 {
                break;
            }
            if let Some(tail) = self.convs.remove(&key) {
                self.bytes -= tail.bytes;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testsuite::record;

    fn ids() -> (AppId, ConvId) {
        (AppId::parse("a").unwrap(), ConvId::parse("c").unwrap())
    }

    fn seqs(records: &[MessageRecord]) -> Vec<u64> {
        records.iter().map(|r| r.seq).collect()
    }

    #[test]
    fn a_disabled_tails_keeps_nothing() {
        let (app, conv) = ids();
        let tails = Tails::new(false);
        tails.committed(&[Change::Message(record(&app, &conv, 1, "s"))], &[0]);
        assert_eq!(tails.range(&app, &conv, (1, 1), 1), None);
        assert_eq!(tails.latest(&app, &conv, 1), None);
    }

    #[test]
    fn a_tail_answers_only_what_it_holds_from_its_first_message_on() {
        let (app, conv) = ids();
        let tails = Tails::new(true);
        let changes: Vec<Change> = (5..=9)
            .map(|seq| Change::Message(record(&app, &conv, seq, "s")))
            .collect();
        tails.committed(&changes, &[0, 1, 2, 3, 4]);
        assert_eq!(tails.range(&app, &conv, (4, 9), 10), None, "seq 4 is not held");
        assert_eq!(
            seqs(&tails.range(&app, &conv, (5, 9), 10).unwrap()),
            vec![5, 6, 7, 8, 9]
        );
        assert_eq!(seqs(&tails.range(&app, &conv, (6, u64::MAX), 2).unwrap()), vec![6, 7]);
        assert_eq!(
            seqs(&tails.range(&app, &conv, (20, 30), 10).unwrap()),
            Vec::<u64>::new()
        );
        assert_eq!(seqs(&tails.latest(&app, &conv, 3).unwrap()), vec![9, 8, 7]);
        assert_eq!(
            tails.latest(&app, &conv, 6),
            None,
            "only five are held, and seq 1 is not"
        );
        let other = ConvId::parse("d").unwrap();
        assert_eq!(tails.range(&app, &other, (1, 9), 10), None);
    }

    #[test]
    fn replays_are_not_appended_and_tombstones_update_the_held_message() {
        let (app, conv) = ids();
        let tails = Tails::new(true);
        let first: Vec<Change> = (1..=3)
            .map(|seq| Change::Message(record(&app, &conv, seq, "s")))
            .collect();
        tails.committed(&first, &[0, 1, 2]);
        // a replayed batch inserted nothing
        tails.committed(&first, &[]);
        assert_eq!(
            seqs(&tails.latest(&app, &conv, 10).unwrap()),
            vec![3, 2, 1],
            "the whole conversation"
        );
        let mut dead = record(&app, &conv, 2, "s");
        dead.status = 2;
        dead.content = Default::default();
        tails.committed(&[Change::Tombstone(dead.clone())], &[]);
        assert_eq!(tails.range(&app, &conv, (2, 2), 1).unwrap(), vec![dead]);
    }

    #[test]
    fn tails_keep_their_newest_messages_and_clear_forgets_them() {
        let (app, conv) = ids();
        let tails = Tails::new(true);
        let n = PER_CONVERSATION as u64 + 10;
        let changes: Vec<Change> = (1..=n)
            .map(|seq| Change::Message(record(&app, &conv, seq, "s")))
            .collect();
        let inserted: Vec<usize> = (0..changes.len()).collect();
        tails.committed(&changes, &inserted);
        assert_eq!(
            tails.range(&app, &conv, (10, n), 1000),
            None,
            "the oldest ten were dropped"
        );
        assert_eq!(tails.range(&app, &conv, (11, n), 1000).unwrap().len(), PER_CONVERSATION);
        tails.clear();
        assert_eq!(tails.range(&app, &conv, (n, n), 1), None);
    }

    #[test]
    fn the_least_recently_written_conversations_go_first_past_the_budget() {
        let app = AppId::parse("a").unwrap();
        let tails = Tails::new(true);
        let big = |conv: &str, seq: u64| {
            let conv = ConvId::parse(conv).unwrap();
            let mut r = record(&app, &conv, seq, "s");
            r.content = "x".repeat(BYTES / 5).into();
            tails.committed(&[Change::Message(r)], &[0]);
            conv
        };
        let (c1, c2, c3) = (big("c1", 1), big("c2", 1), big("c3", 1));
        // c1 written again: c2 is now the least recent
        big("c1", 2);
        let c4 = big("c4", 1);
        assert!(tails.range(&app, &c2, (1, 1), 1).is_none(), "evicted");
        for conv in [&c1, &c3, &c4] {
            assert!(tails.range(&app, conv, (1, 2), 2).is_some(), "{conv} kept");
        }
        assert!(tails.lock().bytes <= BYTES);
    }
}
