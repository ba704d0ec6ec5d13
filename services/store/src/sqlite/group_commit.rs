//! Group commit: every partition's batch that is waiting when the writer is free goes into one
//! transaction (one WAL fsync), each inside its own savepoint, so a fenced-out batch rolls back
//! alone. Sixteen partitions then cost one commit, not sixteen queued ones.

use super::apply::{apply_change, raise_fence};
use super::map_err;
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

/// Commits `jobs` in one transaction, each in its own savepoint, and answers each (on the
/// writer thread, `threads.rs`, which gathers the group).
pub fn commit(conn: &mut Connection, jobs: Vec<Job>) {
    let started = std::time::Instant::now();
    let outcome = (|| {
        let mut tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(map_err)?;
        let mut results = Vec::with_capacity(jobs.len());
        for job in &jobs {
            let mut savepoint = tx.savepoint().map_err(map_err)?;
            let applied = raise_fence(&savepoint, &job.fence).and_then(|()| {
                job.changes
                    .iter()
                    .try_for_each(|change| apply_change(&savepoint, change))
            });
            match applied {
                Ok(()) => savepoint.commit().map_err(map_err)?,
                Err(_) => savepoint.rollback().map_err(map_err)?,
            }
            results.push(applied);
        }
        tx.commit().map_err(map_err)?;
        Ok::<_, StoreError>(results)
    })();
    crate::observe::call("write", started, outcome.is_err());
    metrics::histogram!("herald_store_group_size").record(jobs.len() as f64);
    match outcome {
        Ok(results) => {
            for (job, result) in jobs.into_iter().zip(results) {
                let _ = job.done.send(result);
            }
        }
        Err(err) => {
            for job in jobs {
                let _ = job.done.send(Err(match &err {
                    StoreError::Unavailable(text) => StoreError::Unavailable(text.clone()),
                    other => StoreError::Fatal(other.to_string()),
                }));
            }
        }
    }
}
