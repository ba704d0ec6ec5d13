//! The message log: fenced batch writes, the head of a conversation, history reads, and the
//! lookups by idempotency key and by `MsgId`.

use super::apply::{self, ConversationLog, WritePlan, timestamps_needed};
use super::buckets::{bucket_of, seq_from_cql, seq_to_cql};
use super::cql::Prepared;
use super::fence::{FenceState, Needed, RESERVATION_MICROS, claim_floor, now_micros};
use super::paging::{SeqCursor, Slice, slice_values};
use super::rows::{self, MessageRow, message_values};
use super::store::ScyllaStore;
use crate::{Change, Fence, StoreError};
use futures::FutureExt;
use herald_protocol::{AppId, ConvId, MessageRecord, MsgId, SessionId};
use scylla::deserialize::row::DeserializeRow;
use std::collections::{BTreeMap, HashMap};

/// Attempts of a compare-and-set on a fence row before giving up (someone else keeps winning).
const FENCE_ATTEMPTS: usize = 8;
/// Most rows above the head `last_seq` accepts (what batches cut short by a crash left behind).
const MAX_TAIL: usize = 100_000;

fn fenced(fence: &Fence, held: u64) -> StoreError {
    StoreError::Fenced {
        scope: fence.scope.clone(),
        held,
        ours: fence.epoch,
    }
}

fn epoch_to_cql(epoch: u64) -> Result<i64, StoreError> {
    i64::try_from(epoch).map_err(|_| StoreError::Fatal(format!("fencing epoch {epoch} is beyond 2^63")))
}

/// A non-message change of phase 1 (see `apply.rs`).
async fn write_other(store: &ScyllaStore, change: &Change, timestamp: i64) -> Result<(), StoreError> {
    let st = &store.st;
    match change {
        Change::AddMember { app, conv, session, at } => store.add_member(app, conv, session, *at, timestamp).await,
        Change::RemoveMember { app, conv, session } => {
            // both sides of the membership at once (see `logged_pair`)
            let (app, conv, session) = (app.as_str(), conv.as_str(), session.as_str());
            store
                .logged_pair(
                    (&st.member_remove, (timestamp, app, conv, session)),
                    (&st.membership_remove, (timestamp, app, session, conv)),
                )
                .await
        }
        Change::Archive { app, conv, archived } => {
            store
                .write(
                    &st.conv_set_archived,
                    (timestamp, *archived, app.as_str(), conv.as_str()),
                )
                .await
        }
        Change::ReadCursor {
            app,
            conv,
            session,
            seq,
        } => {
            // a max-register: written at timestamp = seq, so a cursor never goes back
            let seq = seq_to_cql(*seq);
            store
                .write(
                    &st.cursor_raise,
                    (seq, seq, app.as_str(), session.as_str(), conv.as_str()),
                )
                .await
        }
        // not atomic with the batch here (a cluster queues its jobs off the durable events log)
        Change::Webhooks(jobs) => crate::WebhookStore::enqueue(store, jobs).await,
        Change::Message(_) | Change::Tombstone(_) => Ok(()),
    }
}

/// The index rows of one message (phase 1).
async fn write_indexes(store: &ScyllaStore, record: &MessageRecord, timestamp: i64) -> Result<(), StoreError> {
    let (app, conv, seq) = (record.app.as_str(), record.conv.as_str(), seq_to_cql(record.seq));
    let key = (
        app,
        conv,
        record.from.as_str(),
        record.idempotency_key.as_str(),
        seq,
        timestamp,
    );
    store.write(&store.st.key_insert, key).await?;
    store
        .write(
            &store.st.by_id_insert,
            (app, record.msg_id.0 as i64, conv, seq, timestamp),
        )
        .await
}

impl ScyllaStore {
    /// The fence row: (epoch, reserved timestamps).
    async fn read_fence(&self, scope: &str, serial: bool) -> Result<Option<(u64, i64)>, StoreError> {
        let statement = if serial {
            &self.st.fence_select_serial
        } else {
            &self.st.fence_select
        };
        let row: Option<(Option<i64>, Option<i64>)> = self.first(statement, (scope,)).await?;
        Ok(row.map(|(epoch, reserved)| (u64::try_from(epoch.unwrap_or(0)).unwrap_or(0), reserved.unwrap_or(0))))
    }

    /// Raises the scope's fence to `fence.epoch` (compare-and-set), making this process its holder
    /// with a timestamp floor above everything the previous holder reserved.
    pub(super) async fn raise_fence(&self, fence: &Fence) -> Result<FenceState, StoreError> {
        let epoch = epoch_to_cql(fence.epoch)?;
        for _ in 0..FENCE_ATTEMPTS {
            let current = self.read_fence(&fence.scope, true).await?;
            if let Some((held, _)) = current {
                if held > fence.epoch {
                    self.fences.fenced(&fence.scope, held);
                    return Err(fenced(fence, held));
                }
                if held == fence.epoch
                    && let Some(state) = self.fences.held(&fence.scope, fence.epoch)
                {
                    return Ok(state);
                }
            }
            let floor = claim_floor(current.map(|(_, reserved)| reserved), now_micros());
            let reserved = floor.saturating_add(RESERVATION_MICROS);
            let outcome = match current {
                None => {
                    self.lwt(&self.st.fence_insert, (fence.scope.as_str(), epoch, floor, reserved))
                        .await?
                }
                Some((held, held_reserved)) => {
                    let values = (
                        epoch,
                        floor,
                        reserved,
                        fence.scope.as_str(),
                        epoch_to_cql(held)?,
                        held_reserved,
                    );
                    self.lwt(&self.st.fence_raise, values).await?
                }
            };
            if outcome.applied {
                let state = FenceState::new(fence.epoch, floor, reserved);
                self.fences.install(&fence.scope, state);
                tracing::debug!(scope = %fence.scope, epoch = fence.epoch, floor, "fence raised");
                return Ok(state);
            }
            // someone else changed the row between our read and our write: look again
        }
        Err(StoreError::Unavailable(format!(
            "fence {} is contended: no compare-and-set won in {FENCE_ATTEMPTS} attempts",
            fence.scope
        )))
    }

    /// Extends this epoch's timestamp reservation; fails with `Fenced` if the epoch lost the scope.
    /// After a batch's writes, this is the check that makes the batch count.
    async fn extend_fence(&self, fence: &Fence, reserved: i64) -> Result<(), StoreError> {
        let epoch = epoch_to_cql(fence.epoch)?;
        let outcome = self
            .lwt(&self.st.fence_extend, (reserved, fence.scope.as_str(), epoch))
            .await?;
        if outcome.applied {
            self.fences.extended(&fence.scope, fence.epoch, reserved);
            return Ok(());
        }
        let held = outcome.bigint("epoch").and_then(|e| u64::try_from(e).ok()).unwrap_or(0);
        self.fences.fenced(&fence.scope, held);
        Err(fenced(fence, held))
    }

    /// `count` write timestamps under the fence, claiming or extending first if needed.
    async fn reserve_timestamps(&self, fence: &Fence, count: usize) -> Result<i64, StoreError> {
        for _ in 0..3 {
            let now = now_micros();
            match self.fences.issue(&fence.scope, fence.epoch, now, count) {
                Ok(first) => return Ok(first),
                Err(Needed::Fenced { held }) => return Err(fenced(fence, held)),
                Err(Needed::Claim) => {
                    self.raise_fence(fence).await?;
                }
                Err(Needed::Extend { up_to }) => {
                    self.extend_fence(fence, up_to.max(now).saturating_add(RESERVATION_MICROS))
                        .await?;
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "no write timestamps under fence {}",
            fence.scope
        )))
    }

    pub(super) async fn apply_batch(&self, fence: &Fence, changes: &[Change]) -> Result<(), StoreError> {
        // a quick look first, so that an owner fenced off a while ago writes nothing at all
        if let Some((held, _)) = self.read_fence(&fence.scope, false).await?
            && held > fence.epoch
        {
            self.fences.fenced(&fence.scope, held);
            return Err(fenced(fence, held));
        }
        let already = apply::check_slots(changes, self.stored_slots(changes).await?).map_err(StoreError::Fatal)?;
        let first = self.reserve_timestamps(fence, timestamps_needed(changes)).await?;
        let plan = apply::plan(changes, first, &already);
        self.write_indexes_and_state(&plan).await?;
        self.write_logs(&plan).await?;
        self.recount_members(&plan.recount, plan.recount_timestamp).await?;
        // the commit point: still ours after every write landed, so a new owner will see them all
        let reserved = self.fences.next_reservation(&fence.scope, fence.epoch, now_micros());
        self.extend_fence(fence, reserved).await
    }

    /// The message ids stored at the slots the batch's messages and tombstones write.
    async fn stored_slots<'a>(&self, changes: &'a [Change]) -> Result<HashMap<apply::Slot<'a>, MsgId>, StoreError> {
        let mut stored = HashMap::new();
        for (app, conv, bucket, low, high) in apply::slot_ranges(changes) {
            let slice = Slice {
                bucket,
                from: low,
                to: high,
                limit: usize::try_from(high - low + 1).unwrap_or(usize::MAX),
            };
            let values = slice_values(app, conv, &slice);
            let rows: Vec<(i64, i64)> = self.rows(&self.st.slots_ascending, values).await?;
            for (seq, msg_id) in rows {
                stored.insert((app, conv, seq_from_cql(seq)), MsgId(msg_id as u64));
            }
        }
        Ok(stored)
    }

    /// Phase 1: index rows and non-log changes, `concurrency` at a time.
    async fn write_indexes_and_state(&self, plan: &WritePlan<'_>) -> Result<(), StoreError> {
        let indexes = plan
            .indexes
            .iter()
            .map(|(record, timestamp)| write_indexes(self, record, *timestamp).boxed());
        let others = plan
            .others
            .iter()
            .map(|(change, timestamp)| write_other(self, change, *timestamp).boxed());
        self.all(indexes.chain(others).collect()).await
    }

    /// One conversation's messages in `Seq` order, batch after batch, then its head.
    async fn write_log(&self, log: &ConversationLog<'_>) -> Result<(), StoreError> {
        for chunk in &log.chunks {
            let values: Vec<_> = chunk
                .iter()
                .map(|(record, timestamp)| message_values(record, *timestamp))
                .collect();
            self.batch(&self.st.message_insert, values).await?;
        }
        // a max-register: written at timestamp = seq, so a recall never lowers it
        let head = seq_to_cql(log.head);
        self.write(&self.st.head_set, (head, head, log.app.as_str(), log.conv.as_str()))
            .await
    }

    /// Phase 2: the conversations' logs, `concurrency` at a time.
    async fn write_logs(&self, plan: &WritePlan<'_>) -> Result<(), StoreError> {
        self.all(plan.logs.iter().map(|log| self.write_log(log)).collect())
            .await
    }

    async fn recount(&self, app: &AppId, conv: &ConvId, timestamp: i64) -> Result<(), StoreError> {
        let count = self.members_of(app, conv).await?.len();
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        self.write(
            &self.st.member_count_set,
            (timestamp, count, app.as_str(), conv.as_str()),
        )
        .await
    }

    /// Recounts the active members of each conversation and stores the count beside them.
    pub(super) async fn recount_members(&self, convs: &[(&AppId, &ConvId)], timestamp: i64) -> Result<(), StoreError> {
        self.all(
            convs
                .iter()
                .map(|(app, conv)| self.recount(app, conv, timestamp))
                .collect(),
        )
        .await
    }

    /// Walks one conversation's log with `cursor`, bucket by bucket, reading each slice with
    /// `statement` (bound to `slice_values`) and handing `page` the rows the cursor keeps
    /// (`SeqCursor::keep`), slice by slice, in the walk's order. The one paging loop of the log.
    pub(super) async fn walk_log<R>(
        &self,
        (app, conv): (&AppId, &ConvId),
        mut cursor: SeqCursor,
        statement: &Prepared<6>,
        seq_of: fn(&R) -> i64,
        mut page: impl FnMut(Vec<R>) -> Result<(), StoreError> + Send,
    ) -> Result<(), StoreError>
    where
        R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata> + Send,
    {
        while let Some(slice) = cursor.next_slice() {
            let mut rows: Vec<R> = self.rows(statement, slice_values(app, conv, &slice)).await?;
            let kept = cursor.keep(&slice, rows.iter().map(|row| seq_from_cql(seq_of(row))));
            rows.truncate(kept);
            page(rows)?;
        }
        Ok(())
    }

    /// The conversation's last `Seq`: its head, plus the rows a batch cut short by a crash left
    /// just above it without a gap (they are stored, only their head write is missing).
    pub(super) async fn last_seq_of(&self, app: &AppId, conv: &ConvId) -> Result<u64, StoreError> {
        let head: Option<(Option<i64>,)> = self.first(&self.st.head_select, (app.as_str(), conv.as_str())).await?;
        let head = head.and_then(|(seq,)| seq).map(seq_from_cql).unwrap_or(0);
        let mut last = head;
        let cursor = SeqCursor::ascending(head + 1, u64::MAX, MAX_TAIL);
        self.walk_log(
            (app, conv),
            cursor,
            &self.st.seqs_ascending,
            |(seq,): &(i64,)| *seq,
            |seqs| {
                last += seqs.len() as u64;
                Ok(())
            },
        )
        .await?;
        if last > head {
            tracing::debug!(app = %app, conv = %conv, head, last, "rows above the head: a batch was cut short");
        }
        Ok(last)
    }

    pub(super) async fn message_at(
        &self,
        app: &AppId,
        conv: &ConvId,
        seq: u64,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let values = (app.as_str(), conv.as_str(), bucket_of(seq), seq_to_cql(seq));
        let row: Option<MessageRow> = self.first(&self.st.message_select, values).await?;
        row.map(rows::message).transpose()
    }

    /// Messages along `cursor`, in its order.
    async fn messages_along(
        &self,
        app: &AppId,
        conv: &ConvId,
        cursor: SeqCursor,
        statement: &Prepared<6>,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let mut records = Vec::new();
        self.walk_log(
            (app, conv),
            cursor,
            statement,
            |row: &MessageRow| row.2,
            |page| {
                for row in page {
                    records.push(rows::message(row)?);
                }
                Ok(())
            },
        )
        .await?;
        Ok(records)
    }

    pub(super) async fn latest(
        &self,
        app: &AppId,
        conv: &ConvId,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let last = self.last_seq_of(app, conv).await?;
        let cursor = SeqCursor::descending(1, last, limit.min(crate::MAX_PAGE));
        self.messages_along(app, conv, cursor, &self.st.messages_descending)
            .await
    }

    pub(super) async fn range(
        &self,
        app: &AppId,
        conv: &ConvId,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let cursor = SeqCursor::ascending(from, to, limit.min(crate::MAX_PAGE));
        self.messages_along(app, conv, cursor, &self.st.messages_ascending)
            .await
    }

    /// The message a (sender, key) pair names, if the key is still kept and the message is stored.
    async fn find_key(
        &self,
        app: &AppId,
        conv: &ConvId,
        sender: &SessionId,
        key: &str,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let values = (app.as_str(), conv.as_str(), sender.as_str(), key);
        let row: Option<(Option<i64>,)> = self.first(&self.st.key_select, values).await?;
        let Some((Some(seq),)) = row else {
            return Ok(None);
        };
        let record = self.message_at(app, conv, seq_from_cql(seq)).await?;
        // an index row is written before its message: trust only a message that says the same
        Ok(record.filter(|r| r.from == *sender && r.idempotency_key == key))
    }

    pub(super) async fn find_keys(
        &self,
        app: &AppId,
        conv: &ConvId,
        keys: &[(SessionId, herald_protocol::Text)],
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let lookups = keys
            .iter()
            .map(|(sender, key)| self.find_key(app, conv, sender, key))
            .collect();
        let found: Vec<Option<MessageRecord>> = self.in_order(lookups).await?;
        Ok(found.into_iter().flatten().collect())
    }

    pub(super) async fn by_id(
        &self,
        app: &AppId,
        conv: &ConvId,
        id: MsgId,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let row: Option<(Option<String>, Option<i64>)> =
            self.first(&self.st.by_id_select, (app.as_str(), id.0 as i64)).await?;
        let Some((Some(found_conv), Some(seq))) = row else {
            return Ok(None);
        };
        if found_conv != conv.as_str() {
            return Ok(None);
        }
        let record = self.message_at(app, conv, seq_from_cql(seq)).await?;
        Ok(record.filter(|r| r.msg_id == id))
    }

    /// Messages per sender. The counts up to some `Seq` are memoized in `sender_counts`; only the
    /// messages after it are read, and the memo moves up (a max-register: timestamp = as_of).
    pub(super) async fn senders(&self, app: &AppId, conv: &ConvId) -> Result<Vec<(SessionId, u64)>, StoreError> {
        type Memo = (Option<BTreeMap<String, i64>>, Option<i64>);
        let memo: Option<Memo> = self
            .first(&self.st.sender_counts_select, (app.as_str(), conv.as_str()))
            .await?;
        let (counts, as_of) = memo.unwrap_or((None, None));
        let mut counts = counts.unwrap_or_default();
        let as_of = as_of.map(seq_from_cql).unwrap_or(0);
        let last = self.last_seq_of(app, conv).await?;
        if last > as_of {
            let mut counted = 0;
            let cursor = SeqCursor::ascending(as_of + 1, last, usize::MAX);
            let statement = &self.st.senders_ascending;
            self.walk_log(
                (app, conv),
                cursor,
                statement,
                |(seq, _): &(i64, String)| *seq,
                |page| {
                    counted += page.len() as u64;
                    for (_, sender) in page {
                        *counts.entry(sender).or_default() += 1;
                    }
                    Ok(())
                },
            )
            .await?;
            if counted > 0 {
                let counted = seq_to_cql(as_of + counted);
                let values = (counted, &counts, counted, app.as_str(), conv.as_str());
                self.write(&self.st.sender_counts_set, values).await?;
            }
        }
        counts
            .into_iter()
            .map(|(sender, count)| Ok((rows::session_id(sender)?, u64::try_from(count).unwrap_or(0))))
            .collect()
    }
}
