//! Idempotency keys without a random write per message (issue 13).
//!
//! A unique index on (app, conversation, sender, key) cost each append one B-tree leaf of its
//! own (clients' keys are random), so a group commit of 1,000 messages wrote about 1,000 more
//! WAL pages; dropping it made full-load appends a quarter cheaper (`loadtest/RESULTS.md`).
//! Here a key is a 64-bit hash of those four fields, kept in two tables:
//!
//! - `idempotency_recent`: appended in commit order (rowids, never reused: the newest row is
//!   never deleted), a few pages per group commit. Every process mirrors it in memory
//!   ([`Recent`]), following its tail before each lookup, so a lookup never scans it; the file's
//!   sole writer (the embedded `herald up`) instead hands its mirror each commit's rows, and
//!   keeps a filter of the merged table's hashes (`merged_filter.rs`), so a batch of new keys
//!   is known new without SQL.
//! - `idempotency`: `(h, msg_id)`, sorted. Once `MERGE_AT` keys are recent, the writer moves
//!   them here one hash range (a 64th) per step, in order, so each step rewrites a 64th of
//!   the table's leaves once for all of its keys, instead of a leaf per key. The merge's
//!   progress is in `idempotency_merge`, so any process continues it after a crash, and the
//!   merged rows leave `idempotency_recent` only when every range is done, as many steps again
//!   (a 64th of them per step), so no step holds the writer for long.
//!
//! A lookup takes the candidates of a hash from memory and from `idempotency`, then reads each
//! candidate message and compares the four fields, so a hash collision costs a read, never a
//! wrong answer. There is no window: every key ever stored is in one table or the other.
//!
//! What a merge saves depends on size: a range's keys share leaves while `idempotency` has fewer
//! leaves than a merge has keys (up to some 50 million stored keys with `MERGE_AT`); past that,
//! each merged key writes a leaf of its own, as the unique index did, but in the merge's steps
//! (one per group commit) instead of inside the commits that acknowledge messages. Merges start
//! once this process's mirror holds `MERGE_AT` keys; the mirror is current before every lookup,
//! and the sequencer looks up every batch it appends.

use super::merged_filter::MergedFilter;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Recent keys past which a merge starts (about 40 bytes of memory each).
pub const MERGE_AT: usize = 262_144;
/// Hash ranges a merge moves one at a time.
pub const CHUNKS: i64 = 64;

/// The persisted hash of a key: xxHash3 (64 bits, seed 0) of the four fields, each preceded by
/// its length. Stored in the database: it must never change.
pub fn hash(app: &str, conv: &str, sender: &str, key: &str) -> i64 {
    let mut bytes = Vec::with_capacity(16 + app.len() + conv.len() + sender.len() + key.len());
    for part in [app, conv, sender, key] {
        bytes.extend_from_slice(&(part.len() as u32).to_le_bytes());
        bytes.extend_from_slice(part.as_bytes());
    }
    twox_hash::XxHash3_64::oneshot(&bytes) as i64
}

/// Registers `herald_idempotency_hash(app, conv, sender, key)` on `conn` (the migration that
/// fills `idempotency` from the stored messages uses it).
pub fn register_hash_function(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "herald_idempotency_hash",
        4,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let text = |i: usize| {
                ctx.get_raw(i)
                    .as_str()
                    .map_err(|e| rusqlite::Error::UserFunctionError(e.into()))
            };
            Ok(hash(text(0)?, text(1)?, text(2)?, text(3)?))
        },
    )
}

/// This process's mirror of `idempotency_recent`.
pub struct Recent {
    mirror: Mutex<Mirror>,
    /// Recent keys past which a merge starts (`MERGE_AT`; smaller in tests).
    merge_at: usize,
    /// Merged rows a step deletes from `idempotency_recent` once every range is merged.
    prune_step: i64,
    /// The writer hands the mirror what each group commit appended ([`Recent::committed`]), so
    /// lookups and merges need not read the table's tail back (a store that is its file's sole
    /// writer, `SqliteStore::open_sole_writer`).
    fed: bool,
}

impl Default for Recent {
    fn default() -> Self {
        Self::new(MERGE_AT)
    }
}

/// A key appended to `idempotency_recent`: (row id, hash, message id).
pub type RecentRow = (i64, i64, i64);

#[derive(Default)]
struct Mirror {
    /// hash → (row id, message id): one entry per hash (two keys sharing a 64-bit hash go to
    /// `shared`, which is empty in practice).
    keys: HashMap<i64, (i64, i64)>,
    shared: Vec<(i64, i64, i64)>,
    /// (row id, hash) in row order, to forget rows once merged.
    order: VecDeque<(i64, i64)>,
    /// Rows read so far: the tail is what follows.
    last: i64,
    /// Rows through this one are merged and deleted (forgotten here too).
    pruned: i64,
    /// The running merge's keys sorted by hash (hash, message id), and the `through` they are for.
    sorted: Option<(i64, Vec<(i64, i64)>)>,
    /// A fed mirror that missed rows (another connection appended some, or following failed):
    /// the next lookup reads the tail.
    behind: bool,
    /// A fed mirror's filter of the merged table's hashes (`merged_filter.rs`).
    merged: Option<MergedFilter>,
}

impl Mirror {
    /// Reads the rows appended since the last call and forgets the pruned ones.
    fn follow(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let mut tail = conn.prepare_cached("SELECT id, h, msg_id FROM idempotency_recent WHERE id > ?1 ORDER BY id")?;
        let mut rows = tail.query([self.last])?;
        while let Some(row) = rows.next()? {
            self.add((row.get(0)?, row.get(1)?, row.get(2)?));
        }
        let pruned = merge_state(conn)?.pruned;
        // a fed mirror prunes its own merges as it finishes them: rows pruned past that were
        // merged by another process, some perhaps never seen here, so the filter no longer
        // covers the merged table and every lookup asks it again
        if pruned > self.pruned && self.merged.take().is_some() {
            tracing::warn!("another process merged idempotency keys; lookups now always read the store");
        }
        self.prune(pruned);
        self.behind = false;
        Ok(())
    }

    /// One row of the table's tail, read or handed over by the writer.
    fn add(&mut self, (id, h, msg_id): RecentRow) {
        if let Some(taken) = self.keys.insert(h, (id, msg_id)) {
            self.keys.insert(h, taken);
            self.shared.push((h, id, msg_id));
        }
        self.order.push_back((id, h));
        self.last = id;
    }

    fn prune(&mut self, pruned: i64) {
        if pruned <= self.pruned {
            return;
        }
        self.pruned = pruned;
        while let Some(&(id, h)) = self.order.front()
            && id <= pruned
        {
            self.order.pop_front();
            if self.keys.get(&h).is_some_and(|&(kept, _)| kept == id) {
                self.keys.remove(&h);
            }
        }
        self.shared.retain(|&(_, id, _)| id > pruned);
    }

    fn len(&self) -> usize {
        self.order.len()
    }

    fn candidates(&self, h: i64, into: &mut Vec<i64>) {
        into.extend(self.keys.get(&h).map(|&(_, msg_id)| msg_id));
        into.extend(
            self.shared
                .iter()
                .filter(|&&(hash, _, _)| hash == h)
                .map(|&(_, _, msg_id)| msg_id),
        );
    }

    /// The keys of rows through `through`, sorted by hash (built once per merge).
    fn sorted_through(&mut self, through: i64) -> &[(i64, i64)] {
        if self.sorted.as_ref().is_none_or(|(built, _)| *built != through) {
            let mut keys: Vec<(i64, i64)> = self
                .keys
                .iter()
                .filter(|(_, (id, _))| *id <= through)
                .map(|(&h, &(_, msg_id))| (h, msg_id))
                .chain(
                    self.shared
                        .iter()
                        .filter(|&&(_, id, _)| id <= through)
                        .map(|&(h, _, msg_id)| (h, msg_id)),
                )
                .collect();
            keys.sort_unstable();
            self.sorted = Some((through, keys));
        }
        self.sorted
            .as_ref()
            .map(|(_, keys)| keys.as_slice())
            .unwrap_or_default()
    }
}

/// Where a merge stands (`idempotency_merge`).
struct MergeState {
    /// The merge covers recent rows through this id; 0 when none is running.
    through: i64,
    /// The next hash range to move.
    chunk: i64,
    /// Recent rows through this id are merged and deleted.
    pruned: i64,
}

fn merge_state(conn: &Connection) -> rusqlite::Result<MergeState> {
    conn.prepare_cached("SELECT through, chunk, pruned FROM idempotency_merge WHERE id = 1")?
        .query_row([], |r| {
            Ok(MergeState {
                through: r.get(0)?,
                chunk: r.get(1)?,
                pruned: r.get(2)?,
            })
        })
}

impl Recent {
    pub fn new(merge_at: usize) -> Self {
        Self {
            mirror: Mutex::default(),
            merge_at,
            // as many steps to delete the rows as to merge them
            prune_step: (merge_at as i64 / CHUNKS).max(1),
            fed: false,
        }
    }

    /// A mirror the writer feeds after each commit, loaded from `conn` now, with a filter of
    /// the merged table's hashes (read whole once, here: about a second per 10 million keys).
    pub fn fed(conn: &Connection, merge_at: usize) -> rusqlite::Result<Self> {
        let recent = Self {
            fed: true,
            ..Self::new(merge_at)
        };
        let started = std::time::Instant::now();
        // the merged table and the recent one read in one snapshot (a merge by another process
        // in between would leave its keys in neither)
        let snapshot = conn.unchecked_transaction()?;
        let mut filter = MergedFilter::default();
        {
            let mut merged = conn.prepare("SELECT h FROM idempotency")?;
            let mut rows = merged.query([])?;
            while let Some(row) = rows.next()? {
                filter.insert(row.get(0)?);
            }
        }
        tracing::info!(
            merged_keys = filter.len(),
            filter_bytes = filter.bytes(),
            took_ms = started.elapsed().as_millis() as u64,
            "idempotency keys loaded"
        );
        let mut mirror = recent.mirror();
        mirror.merged = Some(filter);
        // merges finished before now are in the filter
        mirror.pruned = merge_state(conn)?.pruned;
        mirror.follow(conn)?;
        drop(mirror);
        snapshot.commit()?;
        Ok(recent)
    }

    /// Reads the tail on `conn` unless the writer keeps the mirror current.
    fn follow(&self, mirror: &mut Mirror, conn: &Connection) -> rusqlite::Result<()> {
        if self.fed && !mirror.behind {
            return Ok(());
        }
        mirror.follow(conn)
    }

    /// Makes a fed mirror read the tail before its next answer: another connection committed,
    /// or a commit's keys may not all have been handed over (it failed, or the writer panicked).
    pub fn mark_behind(&self) {
        if self.fed {
            self.mirror().behind = true;
        }
    }

    /// The writer's hand-over after a commit: the rows it appended, in id order. Rows that do not
    /// follow the mirror's last one mean another connection appended some meanwhile; the tail
    /// is then read on `conn` (the writer's). Nothing to do for a mirror that is not fed.
    pub fn committed(&self, conn: &Connection, rows: &[RecentRow]) {
        let Some(&(first, _, _)) = rows.first() else {
            return;
        };
        if !self.fed {
            return;
        }
        let mut mirror = self.mirror();
        if !mirror.behind && first == mirror.last + 1 {
            for &row in rows {
                mirror.add(row);
            }
            return;
        }
        if let Err(err) = mirror.follow(conn) {
            tracing::warn!(error = %err, "reading the recent idempotency keys failed; the next lookup reads them");
            mirror.behind = true;
        }
    }

    fn mirror(&self) -> std::sync::MutexGuard<'_, Mirror> {
        self.mirror.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a merge is under way in the database (one a stopped process left, say): the
    /// writer then steps it on from its first commit, whatever the count of recent keys.
    pub fn merge_running(conn: &Connection) -> bool {
        merge_state(conn).is_ok_and(|state| state.through != 0)
    }

    /// Whether enough keys are recent for a merge to start.
    pub fn wants_merge(&self) -> bool {
        self.mirror().len() >= self.merge_at
    }

    /// Whether none of `hashes` is a stored key's, known from memory alone: a fed mirror that
    /// is current, and whose filter says the merged table holds none of them. False when the
    /// store must be asked ([`Recent::candidates`]).
    ///
    /// Never waits for the mirror: while the writer holds it (a merge sorting its keys), the
    /// answer is false and the caller asks the store, off the async threads.
    pub fn surely_new(&self, hashes: &[i64]) -> bool {
        if !self.fed {
            return false;
        }
        let Ok(mirror) = self.mirror.try_lock() else {
            return false;
        };
        if mirror.behind {
            return false;
        }
        let Some(merged) = &mirror.merged else {
            return false;
        };
        let mut ids = Vec::new();
        hashes.iter().all(|&h| {
            mirror.candidates(h, &mut ids);
            ids.is_empty() && !merged.may_hold(h)
        })
    }

    /// Ids of the messages whose key may hash to `h`s (memory first, then `idempotency`), after
    /// following the recent table's tail on `conn`; one entry per hash in `hashes`' order.
    pub fn candidates(&self, conn: &Connection, hashes: &[i64]) -> rusqlite::Result<Vec<Vec<i64>>> {
        let mut found: Vec<Vec<i64>> = vec![Vec::new(); hashes.len()];
        // the hashes the merged table may hold (all of them without a filter)
        let maybe_merged: Vec<rusqlite::types::Value> = {
            let mut mirror = self.mirror();
            self.follow(&mut mirror, conn)?;
            for (h, ids) in hashes.iter().zip(found.iter_mut()) {
                mirror.candidates(*h, ids);
            }
            hashes
                .iter()
                .filter(|&&h| mirror.merged.as_ref().is_none_or(|merged| merged.may_hold(h)))
                .map(|&h| rusqlite::types::Value::Integer(h))
                .collect()
        };
        if maybe_merged.is_empty() {
            return Ok(found);
        }
        // one statement for the whole batch (a statement per hash was most of a lookup's cost)
        let list: rusqlite::vtab::array::Array = std::rc::Rc::new(maybe_merged);
        let mut merged = conn.prepare_cached("SELECT h, msg_id FROM idempotency WHERE h IN rarray(?1)")?;
        let mut rows = merged.query([list])?;
        while let Some(row) = rows.next()? {
            let (h, id): (i64, i64) = (row.get(0)?, row.get(1)?);
            // rare (a retry, or a hash shared by two keys): a scan of the batch is fine
            for (_, ids) in hashes.iter().zip(found.iter_mut()).filter(|&(&hash, _)| hash == h) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        Ok(found)
    }

    /// One step of the merge on the writer's connection, in a transaction of its own: starts a
    /// merge once `MERGE_AT` keys are recent, moves the next hash range, or (after the last
    /// range) deletes the merged rows. Returns whether there is more to do.
    pub fn merge_step(&self, conn: &mut Connection) -> rusqlite::Result<bool> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut state = merge_state(&tx)?;
        // the range's keys, copied so lookups need not wait for the inserts
        let moving: Option<Vec<(i64, i64)>> = {
            let mut mirror = self.mirror();
            // read even when fed: another process may have started this merge past our last row
            mirror.follow(&tx)?;
            if state.through == 0 {
                if mirror.len() < self.merge_at {
                    return Ok(false);
                }
                state.through = mirror.last;
                state.chunk = 0;
            }
            if state.chunk < CHUNKS {
                let (low, high) = chunk_range(state.chunk);
                let sorted = mirror.sorted_through(state.through);
                let from = sorted.partition_point(|&(h, _)| h < low);
                let to = high.map_or(sorted.len(), |high| sorted.partition_point(|&(h, _)| h < high));
                Some(sorted[from..to].to_vec())
            } else {
                mirror.sorted = None;
                None
            }
        };
        let more = match &moving {
            Some(keys) => {
                // in hash order: each leaf of `idempotency` the range reaches is written once
                let mut insert =
                    tx.prepare_cached("INSERT INTO idempotency (h, msg_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?;
                for (h, msg_id) in keys {
                    insert.execute(params![h, msg_id])?;
                }
                state.chunk += 1;
                true
            }
            None => {
                // the merged rows leave a slice per step: deleting a whole merge's rows at once
                // held the writer, and every append behind it, for 0.1 - 0.25 s. A slice is at
                // least a 64th of what is left: a merge larger than `merge_at` (rows arrive while
                // it runs) still ends in a bounded number of steps
                let left = state.through.saturating_sub(state.pruned);
                let slice = self.prune_step.max((left + CHUNKS - 1) / CHUNKS);
                let upto = state.through.min(state.pruned.saturating_add(slice));
                // the newest row stays (merged, so found twice at most): ids are the table's
                // rowids, and an emptied table would hand out ids from 1 again
                tx.prepare_cached(
                    "DELETE FROM idempotency_recent WHERE id <= ?1 AND id < (SELECT MAX(id) FROM idempotency_recent)",
                )?
                .execute([upto])?;
                state.pruned = upto;
                // forgotten before the commit: a lookup following the table meanwhile must not
                // take the new mark for another process's merge. Should the commit fail, the
                // rows stay in the table, merged already, so nothing is missed
                self.mirror().prune(upto);
                if upto < state.through {
                    true
                } else {
                    state.through = 0;
                    state.chunk = 0;
                    false
                }
            }
        };
        tx.prepare_cached("UPDATE idempotency_merge SET through = ?1, chunk = ?2, pruned = ?3 WHERE id = 1")?
            .execute(params![state.through, state.chunk, state.pruned])?;
        tx.commit()?;
        let mut mirror = self.mirror();
        // merged keys join the filter before the mirror forgets them (in the steps that delete them)
        if let (Some(keys), Some(merged)) = (&moving, mirror.merged.as_mut()) {
            for &(h, _) in keys {
                merged.insert(h);
            }
        }
        drop(mirror);
        Ok(more || self.wants_merge())
    }
}

/// The hashes of range `chunk`: from `low`, below `high` (none: to the end).
fn chunk_range(chunk: i64) -> (i64, Option<i64>) {
    let width = 1i64 << (64 - CHUNKS.trailing_zeros());
    let low = i64::MIN.wrapping_add(width.wrapping_mul(chunk));
    let high = (chunk + 1 < CHUNKS).then(|| i64::MIN.wrapping_add(width.wrapping_mul(chunk + 1)));
    (low, high)
}

/// Appends the key of a message just inserted (inside the group commit); returns its row.
pub fn record(tx: &Connection, h: i64, msg_id: i64) -> rusqlite::Result<RecentRow> {
    tx.prepare_cached("INSERT INTO idempotency_recent (h, msg_id) VALUES (?1, ?2)")?
        .execute(params![h, msg_id])?;
    Ok((tx.last_insert_rowid(), h, msg_id))
}

/// The message `msg_id` if it is (app, conv, sender, key)'s: a candidate confirmed.
pub fn confirm(
    conn: &Connection,
    msg_id: i64,
    fields: (&str, &str, &str, &str),
) -> rusqlite::Result<Option<herald_protocol::MessageRecord>> {
    let (app, conv, sender, key) = fields;
    conn.prepare_cached(&format!(
        "SELECT {} FROM messages INDEXED BY messages_by_msg_id \
         WHERE msg_id = ?1 AND app_id = ?2 AND conv_id = ?3 AND sender = ?4 AND idempotency_key = ?5",
        super::rows::MESSAGE_COLUMNS
    ))?
    .query_row(params![msg_id, app, conv, sender, key], super::rows::message)
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Change;
    use crate::testsuite::record;
    use herald_protocol::{AppId, ConvId, MessageRecord, MsgId};

    fn open(dir: &std::path::Path) -> Connection {
        let mut conn = super::super::open_connection(&dir.join("herald.sqlite3")).unwrap();
        super::super::migrate::migrate(&mut conn).unwrap();
        conn
    }

    /// Messages 1..=n of conversation "c" of app "a", stored as the group commit stores them.
    fn store(conn: &mut Connection, seqs: std::ops::RangeInclusive<u64>) -> Vec<MessageRecord> {
        store_and_hand_over(conn, seqs, None)
    }

    /// `store`, then the keys' rows handed to `fed` as the writer hands them over.
    fn store_and_hand_over(
        conn: &mut Connection,
        seqs: std::ops::RangeInclusive<u64>,
        fed: Option<&Recent>,
    ) -> Vec<MessageRecord> {
        let (app, conv) = (AppId::parse("a").unwrap(), ConvId::parse("c").unwrap());
        let records: Vec<MessageRecord> = seqs.map(|seq| record(&app, &conv, seq, "alice")).collect();
        let tx = conn.transaction().unwrap();
        let changes: Vec<Change> = records.iter().cloned().map(Change::Message).collect();
        let applied = super::super::apply::apply_changes(&tx, &changes).unwrap();
        tx.commit().unwrap();
        assert_eq!(applied.keys.len(), records.len(), "a key row per inserted message");
        if let Some(recent) = fed {
            recent.committed(conn, &applied.keys);
        }
        records
    }

    fn key_hash(r: &MessageRecord) -> i64 {
        hash(r.app.as_str(), r.conv.as_str(), r.from.as_str(), &r.idempotency_key)
    }

    /// The stored message each record's key finds, through `recent` on `conn`.
    fn find(recent: &Recent, conn: &Connection, records: &[MessageRecord]) -> Vec<Option<MsgId>> {
        let hashes: Vec<i64> = records.iter().map(key_hash).collect();
        let candidates = recent.candidates(conn, &hashes).unwrap();
        records
            .iter()
            .zip(candidates)
            .map(|(r, ids)| {
                let fields = (
                    r.app.as_str(),
                    r.conv.as_str(),
                    r.from.as_str(),
                    r.idempotency_key.as_str(),
                );
                ids.into_iter()
                    .find_map(|id| confirm(conn, id, fields).unwrap())
                    .map(|found| found.msg_id)
            })
            .collect()
    }

    fn ids(records: &[MessageRecord]) -> Vec<Option<MsgId>> {
        records.iter().map(|r| Some(r.msg_id)).collect()
    }

    fn count(conn: &Connection, table: &str) -> i64 {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn every_key_is_found_before_during_and_after_a_merge_and_in_a_process_started_midway() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(dir.path());
        let recent = Recent::new(8);
        let first = store(&mut conn, 1..=10);
        assert_eq!(find(&recent, &conn, &first), ids(&first), "recent keys, from memory");
        assert!(recent.wants_merge());

        // the merge starts and moves half the ranges; more messages arrive meanwhile
        for _ in 0..CHUNKS / 2 {
            assert!(recent.merge_step(&mut conn).unwrap(), "more to merge");
        }
        let second = store(&mut conn, 11..=12);
        assert_eq!(
            find(&recent, &conn, &first),
            ids(&first),
            "halfway: keys in both tables count once"
        );

        // another process (or this one restarted) continues from the database alone
        let restarted = Recent::new(8);
        assert_eq!(find(&restarted, &conn, &first), ids(&first));
        while restarted.merge_step(&mut conn).unwrap() {}
        assert_eq!(count(&conn, "idempotency"), 10, "the first ten are merged");
        assert_eq!(
            count(&conn, "idempotency_recent"),
            2,
            "and deleted from the recent table"
        );
        let all: Vec<MessageRecord> = first.iter().chain(&second).cloned().collect();
        for mirror in [&recent, &restarted, &Recent::new(8)] {
            assert_eq!(
                find(mirror, &conn, &all),
                ids(&all),
                "merged keys from the table, recent ones from memory"
            );
        }

        // a key never stored is found nowhere; nor is a stored key of another sender
        let (app, conv) = (AppId::parse("a").unwrap(), ConvId::parse("c").unwrap());
        let mut other = record(&app, &conv, 3, "bob");
        other.idempotency_key = first[2].idempotency_key.clone();
        assert_eq!(
            find(&restarted, &conn, &[record(&app, &conv, 99, "alice"), other]),
            vec![None, None]
        );
    }

    #[test]
    fn a_fed_mirror_finds_keys_stored_before_it_handed_over_after_it_and_appended_by_another_connection() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(dir.path());
        let before = store(&mut conn, 1..=3);
        let recent = Recent::fed(&conn, 8).unwrap();
        let handed = store_and_hand_over(&mut conn, 4..=6, Some(&recent));
        // another connection appends without handing over; the writer's next hand-over does not
        // follow the mirror's last row, so the mirror reads the tail
        let mut other = open(dir.path());
        let elsewhere = store(&mut other, 7..=8);
        let after = store_and_hand_over(&mut conn, 9..=9, Some(&recent));
        let all: Vec<MessageRecord> = [before, handed, elsewhere, after].concat();
        assert_eq!(find(&recent, &conn, &all), ids(&all));
        assert_eq!(recent.mirror().last, 9, "every row is mirrored once");
        assert_eq!(recent.mirror().len(), 9);

        // merged into `idempotency` and pruned, the keys are found there
        store_and_hand_over(&mut conn, 10..=12, Some(&recent));
        while recent.merge_step(&mut conn).unwrap() {}
        assert_eq!(count(&conn, "idempotency"), 12);
        assert_eq!(find(&recent, &conn, &all), ids(&all));
        let unknown = record(&AppId::parse("a").unwrap(), &ConvId::parse("c").unwrap(), 99, "alice");
        assert_eq!(find(&recent, &conn, std::slice::from_ref(&unknown)), vec![None]);

        // from memory alone: a new key is known new; a stored one (merged: in the filter) is not
        assert!(recent.surely_new(&[key_hash(&unknown)]));
        assert!(!recent.surely_new(&[key_hash(&unknown), key_hash(&all[0])]));
        // reopened, the filter is read from the merged table
        let reopened = Recent::fed(&conn, 8).unwrap();
        assert!(all.iter().all(|r| !reopened.surely_new(&[key_hash(r)])));
        assert_eq!(find(&reopened, &conn, &all), ids(&all));
        assert!(reopened.surely_new(&[key_hash(&unknown)]));
        // a mirror that is not fed never answers from memory alone
        assert!(!Recent::new(8).surely_new(&[key_hash(&unknown)]));
    }

    /// Against the sole-writer contract, another process appends keys and merges them before
    /// the fed mirror ever reads them: once it notices (another connection committed), the
    /// mirror drops its filter and asks the store, so every key is still found.
    #[test]
    fn keys_another_process_merged_unseen_are_found_by_a_fed_mirror() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(dir.path());
        let recent = Recent::fed(&conn, 8).unwrap();
        let mine = store_and_hand_over(&mut conn, 1..=2, Some(&recent));

        let mut other = open(dir.path());
        let elsewhere = store(&mut other, 3..=12);
        let theirs = Recent::new(8);
        while theirs.merge_step(&mut other).unwrap() {}
        assert_eq!(
            count(&other, "idempotency_recent"),
            1,
            "merged and deleted but the newest"
        );

        recent.mark_behind();
        let all: Vec<MessageRecord> = [mine, elsewhere].concat();
        assert_eq!(find(&recent, &conn, &all), ids(&all));
        assert!(all.iter().all(|r| !recent.surely_new(&[key_hash(r)])));
    }

    /// A commit whose keys were not all handed over (the writer panicked) leaves the mirror
    /// behind: the next lookup reads them.
    #[test]
    fn a_mirror_marked_behind_reads_the_keys_it_was_not_handed() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(dir.path());
        let recent = Recent::fed(&conn, 1 << 20).unwrap();
        let lost = store(&mut conn, 1..=3);
        recent.mark_behind();
        assert!(!recent.surely_new(&[key_hash(&lost[0])]));
        assert_eq!(find(&recent, &conn, &lost), ids(&lost));
    }

    #[test]
    fn a_batch_of_hashes_is_looked_up_by_key_in_one_statement() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(dir.path());
        let plan: Vec<String> = conn
            .prepare("EXPLAIN QUERY PLAN SELECT h, msg_id FROM idempotency WHERE h IN rarray(?1)")
            .unwrap()
            .query_map([rusqlite::vtab::array::Array::default()], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter()
                .any(|step| step.starts_with("SEARCH idempotency USING PRIMARY KEY (h=?)")),
            "{plan:?}"
        );
    }

    #[test]
    fn a_merge_deletes_its_rows_a_slice_per_step_and_every_key_is_found_between_steps() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(dir.path());
        // the writer's own mirror, fed, with its filter of merged keys
        let recent = Recent::fed(&conn, 128).unwrap();
        let records = store_and_hand_over(&mut conn, 1..=128, Some(&recent));
        for _ in 0..CHUNKS {
            assert!(
                recent.merge_step(&mut conn).unwrap(),
                "ranges left to merge or rows to delete"
            );
        }
        assert_eq!(count(&conn, "idempotency"), 128);
        assert_eq!(
            count(&conn, "idempotency_recent"),
            128,
            "nothing deleted before every range is merged"
        );
        let mut left = 128;
        let mut steps = 0;
        loop {
            let more = recent.merge_step(&mut conn).unwrap();
            steps += 1;
            let now = count(&conn, "idempotency_recent");
            assert!(
                left - now <= 2,
                "a step deletes a 64th of the merge at most ({left} -> {now})"
            );
            left = now;
            assert_eq!(find(&recent, &conn, &records), ids(&records), "found between steps");
            assert!(
                records.iter().all(|r| !recent.surely_new(&[key_hash(r)])),
                "no stored key passes for new in memory between steps"
            );
            assert_eq!(
                find(&Recent::new(128), &conn, &records),
                ids(&records),
                "and by a process starting between them"
            );
            if !more {
                break;
            }
        }
        assert_eq!(steps, 64, "as many steps as the merge had ranges");
        assert_eq!(left, 1, "every row but the newest deleted");
        let never_stored = 0x5eed_i64;
        assert!(
            recent.surely_new(&[never_stored]),
            "the writer's own deletions never pass for another process's merge (its filter stays)"
        );
    }

    #[test]
    fn a_merge_of_many_more_keys_than_it_starts_at_deletes_them_in_a_bounded_number_of_steps() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(dir.path());
        // rows keep arriving while a merge runs, so a merge may cover many times `merge_at`
        let recent = Recent::new(64);
        let records = store(&mut conn, 1..=640);
        for _ in 0..CHUNKS {
            assert!(recent.merge_step(&mut conn).unwrap());
        }
        let mut left = count(&conn, "idempotency_recent");
        let mut steps = 0;
        while recent.merge_step(&mut conn).unwrap() {
            steps += 1;
            let now = count(&conn, "idempotency_recent");
            assert!(
                left - now >= (left - 1) / CHUNKS,
                "a step deletes a 64th of what is left at least"
            );
            left = now;
        }
        assert_eq!(left, 1, "every row but the newest deleted");
        assert!(
            steps < 4 * CHUNKS,
            "{steps} steps for ten times merge_at (a slice of merge_at / 64 would take 640)"
        );
        assert_eq!(find(&recent, &conn, &records), ids(&records));
    }

    #[test]
    fn keys_stored_after_a_merge_that_took_every_recent_key_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(dir.path());
        let recent = Recent::new(2);
        let first = store(&mut conn, 1..=4);
        assert_eq!(find(&recent, &conn, &first), ids(&first));
        while recent.merge_step(&mut conn).unwrap() {}
        assert_eq!(count(&conn, "idempotency"), 4);
        assert_eq!(
            count(&conn, "idempotency_recent"),
            1,
            "the newest row stays, so ids keep rising"
        );
        let second = store(&mut conn, 5..=6);
        assert_eq!(
            find(&recent, &conn, &second),
            ids(&second),
            "found by the mirror that followed the first"
        );
    }

    #[test]
    fn a_hash_shared_by_two_keys_answers_with_the_matching_message_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(dir.path());
        let stored = store(&mut conn, 1..=2);
        let recent = Recent::new(1_000);
        // make message 2 a candidate of message 1's hash (as a collision would)
        let (one, two) = (&stored[0], &stored[1]);
        let h = hash(
            one.app.as_str(),
            one.conv.as_str(),
            one.from.as_str(),
            &one.idempotency_key,
        );
        conn.execute(
            "INSERT INTO idempotency (h, msg_id) VALUES (?1, ?2)",
            params![h, two.msg_id.0 as i64],
        )
        .unwrap();
        assert_eq!(find(&recent, &conn, &stored), ids(&stored));
        let candidates = recent.candidates(&conn, &[h]).unwrap();
        assert_eq!(candidates[0].len(), 2, "both messages are candidates of the hash");
    }

    #[test]
    fn the_migration_moves_the_keys_and_counts_of_messages_stored_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = super::super::open_connection(&dir.path().join("herald.sqlite3")).unwrap();
        // a database of schema 8, whose messages only the unique index found
        super::super::migrate::migrate_to(&mut conn, 8).unwrap();
        let (app, conv) = (AppId::parse("a").unwrap(), ConvId::parse("c").unwrap());
        let stored: Vec<MessageRecord> = [(1, "alice"), (2, "bob"), (3, "alice")]
            .into_iter()
            .map(|(seq, from)| record(&app, &conv, seq, from))
            .collect();
        for r in &stored {
            conn.execute(
                "INSERT INTO messages (app_id, conv_id, seq, msg_id, sender, send_time, status, msg_type, content, idempotency_key) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, 1, 'x', ?6)",
                params![r.app.as_str(), r.conv.as_str(), r.seq as i64, r.msg_id.0 as i64, r.from.as_str(), r.idempotency_key.as_str()],
            )
            .unwrap();
        }
        super::super::migrate::migrate(&mut conn).unwrap();
        assert_eq!(count(&conn, "idempotency"), 3);
        assert_eq!(find(&Recent::default(), &conn, &stored), ids(&stored));
        let sent: Vec<(String, i64)> = conn
            .prepare("SELECT session, sent FROM read_cursors ORDER BY session")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            sent,
            vec![("alice".to_owned(), 2), ("bob".to_owned(), 1)],
            "each sender's count"
        );
    }

    #[test]
    fn a_database_of_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(dir.path());
        conn.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)",
            [],
        )
        .unwrap();
        let refused = super::super::migrate::migrate(&mut conn).unwrap_err();
        assert!(refused.to_string().contains("newer Herald"), "{refused}");
    }

    #[test]
    fn the_hash_is_stable_and_separates_the_fields() {
        // persisted: a change here would hide every stored key from its retries
        assert_eq!(hash("a", "c", "s", "k"), hash("a", "c", "s", "k"));
        assert_ne!(hash("a", "c", "s", "k1"), hash("a", "c", "s1", "k"));
        assert_ne!(hash("ab", "c", "s", "k"), hash("a", "bc", "s", "k"));
        // xxHash3-64 of the length-prefixed fields, as the reference implementation computes it
        // (Python's `xxhash.xxh3_64_intdigest`)
        assert_eq!(
            hash("app", "conv", "alice", "c:key-1"),
            0x748c_93db_7008_f3bb_u64 as i64
        );
    }

    #[test]
    fn the_ranges_cover_every_hash_once() {
        assert_eq!(chunk_range(0).0, i64::MIN);
        assert_eq!(chunk_range(CHUNKS - 1).1, None);
        for chunk in 0..CHUNKS - 1 {
            assert_eq!(
                chunk_range(chunk).1,
                Some(chunk_range(chunk + 1).0),
                "range {chunk} ends where the next begins"
            );
        }
        assert_eq!(chunk_range(CHUNKS / 2).0, 0);
    }
}
