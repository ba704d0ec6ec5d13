//! Group commit: every partition's batch that is waiting when the writer is free goes into one
//! transaction (one WAL fsync), each inside its own savepoint, so a fenced-out batch rolls back
//! alone. Sixteen partitions then cost one commit, not sixteen queued ones.

use super::{Inner, apply_change, map_err, raise_fence};
use crate::{Change, Fence, StoreError};
use rusqlite::TransactionBehavior;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Batches waiting for the writer before `apply` callers wait.
pub const QUEUE: usize = 1024;
/// Most batches committed together.
const MAX_GROUP: usize = 64;

pub struct Job {
    pub fence: Fence,
    pub changes: Vec<Change>,
    pub done: oneshot::Sender<Result<(), StoreError>>,
}

/// Starts the writer thread; it ends when every sender is dropped.
pub fn start(inner: Arc<Inner>) -> mpsc::Sender<Job> {
    let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
    std::thread::Builder::new()
        .name("herald-sqlite-commit".into())
        .spawn(move || {
            while let Some(first) = rx.blocking_recv() {
                let mut jobs = vec![first];
                while jobs.len() < MAX_GROUP
                    && let Ok(job) = rx.try_recv()
                {
                    jobs.push(job);
                }
                commit(&inner, jobs);
            }
        })
        .expect("spawn the commit thread");
    tx
}

fn commit(inner: &Inner, jobs: Vec<Job>) {
    let started = std::time::Instant::now();
    let mut conn = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
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
    drop(conn);
    metrics::histogram!("herald_store_seconds", "op" => "write").record(started.elapsed().as_secs_f64());
    metrics::histogram!("herald_store_group_size").record(jobs.len() as f64);
    match outcome {
        Ok(results) => {
            for (job, result) in jobs.into_iter().zip(results) {
                let _ = job.done.send(result);
            }
        }
        Err(err) => {
            metrics::counter!("herald_store_errors_total", "op" => "write").increment(1);
            for job in jobs {
                let _ = job.done.send(Err(match &err {
                    StoreError::Unavailable(text) => StoreError::Unavailable(text.clone()),
                    other => StoreError::Fatal(other.to_string()),
                }));
            }
        }
    }
}
