//! The SQLite connections' own threads: one writer thread (group commits and every other write,
//! in arrival order), a few reader threads, each owning its connection and fed by a bounded
//! queue, and a checkpointer that copies the WAL back into the database beside the writer. Store I/O never waits for tokio's blocking pool, so work there (password hashing, say)
//! cannot starve it; a full queue makes callers wait (async), it never grows.

use super::group_commit::{self, MAX_GROUP};
use super::idempotency::Recent;
use crate::StoreError;
use rusqlite::Connection;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Jobs waiting for the writer thread before callers wait.
pub const WRITE_QUEUE: usize = 1024;
/// Reads waiting for a reader thread before callers wait.
pub const READ_QUEUE: usize = 1024;

pub type WriteWork = Box<dyn FnOnce(&mut Connection) + Send>;
pub type ReadWork = Box<dyn FnOnce(&Connection) + Send>;

pub enum WriterJob {
    /// A sequenced batch: committed together with the batches waiting beside it.
    Apply(group_commit::Job),
    /// Any other write, alone.
    Run(WriteWork),
}

/// The senders of the two queues; dropping them ends the threads.
pub struct Threads {
    pub writer: mpsc::Sender<WriterJob>,
    pub readers: mpsc::Sender<ReadWork>,
    /// Dropped with the store: the checkpointer notices and stops.
    _checkpointer: std::sync::mpsc::Sender<()>,
}

/// How often the checkpointer copies committed WAL frames back into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// WAL frames (pages) past which a passive checkpoint that could not finish is followed by a
/// blocking one, so the WAL cannot grow without bound behind long reads (4 KiB pages: 256 MiB).
const WAL_FRAMES_LIMIT: i64 = 65_536;

pub fn stopped() -> StoreError {
    StoreError::Fatal("the sqlite threads stopped".into())
}

/// Starts the writer thread on `writer` and one reader thread per connection of `readers`.
pub fn start(
    writer: Connection,
    readers: Vec<Connection>,
    checkpointer: Connection,
    recent: Arc<Recent>,
) -> std::io::Result<Threads> {
    let (write_tx, write_rx) = mpsc::channel(WRITE_QUEUE);
    std::thread::Builder::new()
        .name("herald-sqlite-writer".into())
        .spawn(move || write_loop(writer, write_rx, &recent))?;
    let (read_tx, read_rx) = mpsc::channel::<ReadWork>(READ_QUEUE);
    let read_rx = Arc::new(Mutex::new(read_rx));
    for (index, conn) in readers.into_iter().enumerate() {
        let read_rx = read_rx.clone();
        std::thread::Builder::new()
            .name(format!("herald-sqlite-reader-{index}"))
            .spawn(move || read_loop(conn, read_rx))?;
    }
    let (stop_tx, stop_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("herald-sqlite-checkpoint".into())
        .spawn(move || checkpoint_loop(checkpointer, stop_rx))?;
    Ok(Threads {
        writer: write_tx,
        readers: read_tx,
        _checkpointer: stop_tx,
    })
}

/// Runs one job; a panic drops its answer (the caller gets an error), not the thread.
fn guarded(job: impl FnOnce()) {
    if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
        tracing::warn!("a sqlite job panicked");
    }
}

fn write_loop(mut conn: Connection, mut jobs: mpsc::Receiver<WriterJob>, recent: &Recent) {
    // a merge of idempotency keys is running (or due): one step of it after each group commit
    let mut merging = false;
    // said at warn when merging starts failing, and once more when it works again
    let mut merge_failing = false;
    while let Some(job) = jobs.blocking_recv() {
        match job {
            WriterJob::Run(work) => guarded(|| work(&mut conn)),
            WriterJob::Apply(first) => {
                // every batch already waiting joins the group; a plain write ends it
                let mut group = vec![first];
                let mut after = None;
                while group.len() < MAX_GROUP {
                    match jobs.try_recv() {
                        Ok(WriterJob::Apply(job)) => group.push(job),
                        Ok(WriterJob::Run(work)) => {
                            after = Some(work);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                guarded(|| group_commit::commit(&mut conn, group));
                if merging || recent.wants_merge() {
                    let started = std::time::Instant::now();
                    let step = recent.merge_step(&mut conn);
                    crate::observe::call("idempotency_merge", started, step.is_err());
                    merging = match step {
                        Ok(more) => {
                            if std::mem::take(&mut merge_failing) {
                                tracing::warn!("merging idempotency keys works again");
                            }
                            more
                        }
                        Err(err) => {
                            if !std::mem::replace(&mut merge_failing, true) {
                                tracing::warn!(error = %err, "merging idempotency keys failed; retrying after each commit");
                            }
                            true
                        }
                    };
                }
                if let Some(work) = after {
                    guarded(|| work(&mut conn));
                }
            }
        }
    }
}

/// Checkpoints the WAL every `CHECKPOINT_EVERY` while the store lives. Passive checkpoints
/// never wait for the writer or the readers, so the writer's commits (each still one fsync of
/// the WAL) no longer stop to copy pages back: with automatic checkpoints inside commits, that
/// copy was the largest part of an append at full load (`loadtest/RESULTS.md`).
fn checkpoint_loop(conn: Connection, stop: std::sync::mpsc::Receiver<()>) {
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        let started = std::time::Instant::now();
        let outcome = checkpoint(&conn, "PASSIVE").and_then(|(log, done)| {
            if log > WAL_FRAMES_LIMIT && done < log {
                tracing::warn!(
                    frames = log,
                    "the WAL is large and a passive checkpoint could not finish; checkpointing with writers held"
                );
                checkpoint(&conn, "RESTART")
            } else {
                Ok((log, done))
            }
        });
        crate::observe::call("checkpoint", started, outcome.is_err());
        if let Err(err) = outcome {
            tracing::warn!(error = %err, "WAL checkpoint failed; retrying");
        }
    }
}

/// Runs one checkpoint of `mode`; returns the WAL's frames and how many are checkpointed.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
    })
}

fn read_loop(conn: Connection, jobs: Arc<Mutex<mpsc::Receiver<ReadWork>>>) {
    loop {
        // one idle reader waits on the queue at a time; the lock is released before the work
        let job = jobs.lock().unwrap_or_else(|p| p.into_inner()).blocking_recv();
        match job {
            Some(work) => guarded(|| work(&conn)),
            None => return,
        }
    }
}
