//! Applying a sequenced batch inside the writer's transaction: the fence first, then each change
//! (messages inserted never over another, tombstones matched by id, state changes as upserts).

use super::idempotency::RecentRow;
use super::map_err;
use super::rows::MESSAGE_COLUMNS;
use crate::{Change, Fence, StoreError};
use herald_protocol::MessageRecord;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;

/// Raises the fence inside `tx`; errs when a higher epoch holds it.
pub fn raise_fence(tx: &Connection, fence: &Fence) -> Result<(), StoreError> {
    // cached: every batch of every group commit raises its fence
    let held: Option<i64> = tx
        .prepare_cached("SELECT epoch FROM fences WHERE scope = ?1")
        .and_then(|mut select| select.query_row([&fence.scope], |r| r.get(0)).optional())
        .map_err(map_err)?;
    let ours = fence.epoch as i64;
    match held {
        Some(held) if held > ours => Err(StoreError::Fenced {
            scope: fence.scope.clone(),
            held: held as u64,
            ours: fence.epoch,
        }),
        Some(held) if held == ours => Ok(()),
        _ => {
            tx.prepare_cached(
                "INSERT INTO fences (scope, epoch) VALUES (?1, ?2) ON CONFLICT (scope) DO UPDATE SET epoch = excluded.epoch",
            )
            .and_then(|mut upsert| upsert.execute(params![fence.scope, ours]))
            .map_err(map_err)?;
            Ok(())
        }
    }
}

/// What a batch wrote that its readers' caches need.
#[derive(Debug, Default)]
pub struct Applied {
    /// The indexes of the messages it inserted (a replayed one was stored before).
    pub inserted: Vec<usize>,
    /// Their idempotency keys' rows, in id order.
    pub keys: Vec<RecentRow>,
}

/// Applies a batch's changes in order, then adds the messages it inserted to their senders'
/// counts: one upsert per sender and conversation, not one per message.
pub fn apply_changes(tx: &Connection, changes: &[Change]) -> Result<Applied, StoreError> {
    let mut sent: HashMap<(&str, &str, &str), i64> = HashMap::new();
    let mut keys = ConvKeys::default();
    let mut applied = Applied::default();
    for (index, change) in changes.iter().enumerate() {
        if let Some(key) = apply_change(tx, change, &mut keys)?
            && let Change::Message(r) = change
        {
            applied.inserted.push(index);
            applied.keys.push(key);
            *sent
                .entry((r.app.as_str(), r.conv.as_str(), r.from.as_str()))
                .or_default() += 1;
        }
    }
    // each sender's count lives in its read cursor's row, which the batch moves anyway
    let mut count = tx
        .prepare_cached(
            "INSERT INTO read_cursors (app_id, conv_id, session, seq, sent) VALUES (?1, ?2, ?3, 0, ?4) \
             ON CONFLICT (app_id, conv_id, session) DO UPDATE SET sent = sent + excluded.sent",
        )
        .map_err(map_err)?;
    for ((app, conv, sender), n) in sent {
        count.execute(params![app, conv, sender, n]).map_err(map_err)?;
    }
    Ok(applied)
}

/// The conversation keys a batch has looked up (schema 010: messages are indexed by the key).
#[derive(Default)]
struct ConvKeys<'a>(HashMap<(&'a str, &'a str), i64>);

impl<'a> ConvKeys<'a> {
    /// The key of `(app, conv)`, if it has one.
    fn get(&mut self, tx: &Connection, (app, conv): (&'a str, &'a str)) -> rusqlite::Result<Option<i64>> {
        if let Some(ck) = self.0.get(&(app, conv)) {
            return Ok(Some(*ck));
        }
        let found: Option<i64> = tx
            .prepare_cached("SELECT ck FROM conv_keys WHERE app_id = ?1 AND conv_id = ?2")?
            .query_row([app, conv], |row| row.get(0))
            .optional()?;
        if let Some(ck) = found {
            self.0.insert((app, conv), ck);
        }
        Ok(found)
    }

    /// The key of `(app, conv)`, given to it now if it has none.
    fn get_or_add(&mut self, tx: &Connection, (app, conv): (&'a str, &'a str)) -> rusqlite::Result<i64> {
        if let Some(ck) = self.get(tx, (app, conv))? {
            return Ok(ck);
        }
        tx.prepare_cached("INSERT INTO conv_keys (app_id, conv_id) VALUES (?1, ?2)")?
            .execute([app, conv])?;
        let ck = tx.last_insert_rowid();
        self.0.insert((app, conv), ck);
        Ok(ck)
    }
}

/// A message's insert (its text built once, not on every message).
static INSERT_MESSAGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO messages (ck, {MESSAGE_COLUMNS}) VALUES (?12, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT (ck, seq) DO NOTHING"
    )
});

/// Applies one change; the idempotency key's row when it stored a new message.
fn apply_change<'a>(
    tx: &Connection,
    change: &'a Change,
    keys: &mut ConvKeys<'a>,
) -> Result<Option<RecentRow>, StoreError> {
    match change {
        Change::Message(r) => {
            let ck = keys
                .get_or_add(tx, (r.app.as_str(), r.conv.as_str()))
                .map_err(map_err)?;
            let inserted = tx
                .prepare_cached(&INSERT_MESSAGE)
                .and_then(|mut insert| {
                    let values = super::rows::message_values(r);
                    let key = rusqlite::types::ToSqlOutput::from(ck);
                    insert.execute(rusqlite::params_from_iter(values.iter().chain([&key])))
                })
                .map_err(map_err)?;
            if inserted == 1 {
                let h = super::idempotency::hash(r.app.as_str(), r.conv.as_str(), r.from.as_str(), &r.idempotency_key);
                return super::idempotency::record(tx, h, r.msg_id.0 as i64)
                    .map(Some)
                    .map_err(map_err);
            }
            // the Seq is taken: by this very message (a re-applied batch) or by another one
            let stored: i64 = tx
                .prepare_cached("SELECT msg_id FROM messages WHERE ck = ?1 AND seq = ?2")
                .and_then(|mut select| select.query_row(params![ck, r.seq as i64], |row| row.get(0)))
                .map_err(map_err)?;
            if stored as u64 != r.msg_id.0 {
                return Err(occupied(r, stored as u64));
            }
        }
        Change::Tombstone(r) => {
            let ck = keys.get(tx, (r.app.as_str(), r.conv.as_str())).map_err(map_err)?;
            let updated = match ck {
                Some(ck) => tx
                    .prepare_cached(
                        "UPDATE messages SET status = ?4, content = ?5 WHERE ck = ?1 AND seq = ?2 AND msg_id = ?3",
                    )
                    .and_then(|mut update| {
                        update.execute(params![
                            ck,
                            r.seq as i64,
                            r.msg_id.0 as i64,
                            r.status,
                            r.content.as_str()
                        ])
                    })
                    .map_err(map_err)?,
                None => 0,
            };
            if updated == 0 {
                return Err(StoreError::Fatal(format!(
                    "tombstone of message {} at seq {} of {}/{}: no such message",
                    r.msg_id, r.seq, r.app, r.conv
                )));
            }
        }
        Change::Webhooks(jobs) => super::webhooks::insert_jobs(tx, jobs)?,
        _ => apply_state_change(tx, change).map_err(map_err)?,
    }
    Ok(None)
}

/// The refusal of a message whose `Seq` another message holds.
fn occupied(record: &MessageRecord, stored: u64) -> StoreError {
    StoreError::Fatal(format!(
        "seq {} of {}/{} holds message {stored}: message {} refused",
        record.seq, record.app, record.conv, record.msg_id
    ))
}

/// Membership, archive and read-cursor changes: upserts.
fn apply_state_change(tx: &Connection, change: &Change) -> rusqlite::Result<()> {
    match change {
        Change::Message(_) | Change::Tombstone(_) | Change::Webhooks(_) => {}
        Change::AddMember { app, conv, session, at } => {
            tx.prepare_cached("INSERT INTO members (app_id, conv_id, session, joined_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING")?
                .execute(params![app.as_str(), conv.as_str(), session.as_str(), at])?;
        }
        Change::RemoveMember { app, conv, session } => {
            tx.prepare_cached("DELETE FROM members WHERE app_id = ?1 AND conv_id = ?2 AND session = ?3")?
                .execute(params![app.as_str(), conv.as_str(), session.as_str()])?;
        }
        Change::Archive { app, conv, archived } => {
            tx.prepare_cached("UPDATE conversations SET archived = ?3 WHERE app_id = ?1 AND conv_id = ?2")?
                .execute(params![app.as_str(), conv.as_str(), archived])?;
        }
        Change::ReadCursor {
            app,
            conv,
            session,
            seq,
        } => {
            tx.prepare_cached(
                "INSERT INTO read_cursors (app_id, conv_id, session, seq) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (app_id, conv_id, session) DO UPDATE SET seq = MAX(seq, excluded.seq)",
            )?
            .execute(params![app.as_str(), conv.as_str(), session.as_str(), *seq as i64])?;
        }
    }
    Ok(())
}
