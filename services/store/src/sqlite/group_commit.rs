//! Group commit: every partition's batch that is waiting when the writer is free goes into one
//! transaction (one WAL fsync); a fenced-out batch writes nothing, and one that fails midway is
//! undone alone (the group is done again with a savepoint per batch). Sixteen partitions then
//! cost one commit, not sixteen queued ones.

use super::apply::{Applied, apply_changes, raise_fence};
use super::idempotency::Recent;
use super::map_err;
use super::tails::Tails;
use crate::{Change, Fence, StoreError};
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

/// Most batches committed together.
pub const MAX_GROUP: usize = 64;

pub struct Job {
    pub fence: Fence,
    pub changes: Vec<Change>,
    pub done: oneshot::Sender<Result<(), StoreError>>,
}

/// What each batch wrote, or why it wrote nothing.
type Results = Vec<Result<Applied, StoreError>>;

/// Commits `jobs` in one transaction, adds what they inserted to the conversations' tails and
/// their keys to the idempotency mirror, then answers each (on the writer thread, `threads.rs`, which gathers the group).
///
/// The common case runs without savepoints: a fenced-out batch is refused before it writes
/// anything, so only a change that fails midway needs one. A savepoint makes SQLite copy every
/// page it touches into a statement journal first (a twentieth of the writer's time at full
/// load), so that path is taken only when a change fails: the group is rolled back and done
/// again with one savepoint per batch, and the failing batch rolls back alone.
pub fn commit(conn: &mut Connection, jobs: Vec<Job>, tails: &Tails, recent: &Recent) {
    let started = std::time::Instant::now();
    // until every batch's keys are handed over, the idempotency mirror counts as behind: a
    // commit that reported an error may still have written, and a panic past the commit would
    // otherwise leave committed keys out of it
    let handing = HandOver(recent, false);
    let outcome = match commit_plain(conn, &jobs) {
        Plain::Done(results) => Ok(results),
        Plain::Failed(err) => Err(err),
        Plain::NeedsSavepoints => commit_in_savepoints(conn, &jobs),
    };
    crate::observe::call("write", started, outcome.is_err());
    metrics::histogram!("herald_store_group_size").record(jobs.len() as f64);
    match outcome {
        Ok(results) => {
            // before any answer: a sender who reads its conversation after the ack finds the message
            for (job, result) in jobs.iter().zip(&results) {
                if let Ok(applied) = result {
                    tails.committed(&job.changes, &applied.inserted);
                    recent.committed(conn, &applied.keys);
                }
            }
            handing.done();
            for (job, result) in jobs.into_iter().zip(results) {
                let _ = job.done.send(result.map(|_| ()));
            }
        }
        Err(err) => {
            drop(handing);
            for job in jobs {
                let _ = job.done.send(Err(match &err {
                    StoreError::Unavailable(text) => StoreError::Unavailable(text.clone()),
                    other => StoreError::Fatal(other.to_string()),
                }));
            }
        }
    }
}

/// Marks the idempotency mirror behind when dropped before `done`.
struct HandOver<'a>(&'a Recent, bool);

impl HandOver<'_> {
    fn done(mut self) {
        self.1 = true;
    }
}

impl Drop for HandOver<'_> {
    fn drop(&mut self) {
        if !self.1 {
            self.0.mark_behind();
        }
    }
}

enum Plain {
    Done(Results),
    /// A change failed after others of its batch were written: roll back, use savepoints.
    NeedsSavepoints,
    Failed(StoreError),
}

/// The group in one transaction without savepoints; a fenced batch is skipped before it writes.
fn commit_plain(conn: &mut Connection, jobs: &[Job]) -> Plain {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(err) => return Plain::Failed(map_err(err)),
    };
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        match raise_fence(&tx, &job.fence) {
            // nothing of this batch was written
            Err(fenced @ StoreError::Fenced { .. }) => results.push(Err(fenced)),
            Err(_) => return Plain::NeedsSavepoints,
            Ok(()) => match apply_changes(&tx, &job.changes) {
                Ok(applied) => results.push(Ok(applied)),
                // dropping `tx` rolls the whole group back
                Err(_) => return Plain::NeedsSavepoints,
            },
        }
    }
    match tx.commit() {
        Ok(()) => Plain::Done(results),
        Err(err) => Plain::Failed(map_err(err)),
    }
}

/// The group in one transaction, each batch in its own savepoint, so a failing one rolls back alone.
fn commit_in_savepoints(conn: &mut Connection, jobs: &[Job]) -> Result<Results, StoreError> {
    let mut tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mut savepoint = tx.savepoint().map_err(map_err)?;
        let applied = raise_fence(&savepoint, &job.fence).and_then(|()| apply_changes(&savepoint, &job.changes));
        match applied {
            Ok(_) => savepoint.commit().map_err(map_err)?,
            Err(_) => savepoint.rollback().map_err(map_err)?,
        }
        results.push(applied);
    }
    tx.commit().map_err(map_err)?;
    Ok(results)
}
