//! The SQLite connections' own threads: one writer thread (group commits and every other write,
//! in arrival order), a few reader threads, each owning its connection and fed by a bounded
//! queue, and a checkpointer that copies the WAL back into the database beside the writer. Store I/O never waits for tokio's blocking pool, so work there (password hashing, say)
//! cannot starve it; a full queue makes callers wait (async), it never grows.

use super::group_commit::{self, MAX_GROUP};
use super::idempotency::Recent;
use super::tails::Tails;
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
/// WAL frames (pages) past which a passive checkpoint is followed by a restarting one, so the WAL
/// starts over from its beginning (4 KiB pages: 256 MiB). Without it the WAL never restarts
/// under a steady load: a passive checkpoint copies what was committed when it began, the writer
/// commits meanwhile, and SQLite only starts the WAL over once every frame is copied (it grew by
/// 30 MB/s, to 597 MB in a 20 s run).
pub const WAL_FRAMES_LIMIT: i64 = 65_536;

pub fn stopped() -> StoreError {
    StoreError::Fatal("the sqlite threads stopped".into())
}

/// Starts the writer thread on `writer` and one reader thread per connection of `readers`.
pub fn start(
    writer: Connection,
    readers: Vec<Connection>,
    checkpointer: Connection,
    recent: Arc<Recent>,
    tails: Arc<Tails>,
) -> std::io::Result<Threads> {
    let (write_tx, write_rx) = mpsc::channel(WRITE_QUEUE);
    std::thread::Builder::new()
        .name("herald-sqlite-writer".into())
        .spawn(move || write_loop(writer, write_rx, &recent, &tails))?;
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

fn write_loop(mut conn: Connection, mut jobs: mpsc::Receiver<WriterJob>, recent: &Recent, tails: &Tails) {
    // SQLite's count of commits by other connections, as this one last saw it
    let mut data_version = None;
    // a merge of idempotency keys is running (or due): one step of it after each group commit;
    // one a stopped process left unfinished goes on from the first commit
    let mut merging = Recent::merge_running(&conn);
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
                // a commit by another connection (another process) may hold messages the
                // tails lack
                let version = conn
                    .prepare_cached("PRAGMA data_version")
                    .and_then(|mut pragma| pragma.query_row([], |row| row.get::<_, i64>(0)))
                    .ok();
                if version.is_none() || std::mem::replace(&mut data_version, version) != version {
                    tails.clear();
                    recent.mark_behind();
                }
                guarded(|| group_commit::commit(&mut conn, group, tails, recent));
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
        let outcome = checkpoint_step(&conn, WAL_FRAMES_LIMIT);
        crate::observe::call("checkpoint", started, outcome.is_err());
        if let Err(err) = outcome {
            tracing::warn!(error = %err, "WAL checkpoint failed; retrying");
        }
    }
}

/// A passive checkpoint, and a restarting one when the WAL holds more than `limit` frames;
/// returns the WAL's frames and how many are checkpointed.
fn checkpoint_step(conn: &Connection, limit: i64) -> rusqlite::Result<(i64, i64)> {
    let (log, done) = checkpoint(conn, "PASSIVE")?;
    if log <= limit {
        return Ok((log, done));
    }
    if done < log {
        // a read held frames back: the restart waits for it
        tracing::warn!(
            frames = log,
            "the WAL is large and a passive checkpoint could not finish; checkpointing with writers held"
        );
    } else {
        tracing::debug!(frames = log, "restarting the WAL");
    }
    // holds the writer while it copies what was committed since the passive checkpoint and
    // until every reader reads from the database file; the next commit starts the WAL over
    checkpoint(conn, "RESTART")
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Under a writer that never pauses, passive checkpoints alone never let the WAL start over
    /// (it grew without bound); past the limit the step restarts it.
    #[test]
    fn the_wal_starts_over_under_a_writer_that_never_pauses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("herald.sqlite3");
        let writer = super::super::open_connection(&path).unwrap();
        writer
            .execute_batch("PRAGMA synchronous = OFF; CREATE TABLE t (x BLOB)")
            .unwrap();
        let checkpointer = super::super::open_connection(&path).unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writing = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    writer.execute("INSERT INTO t VALUES (randomblob(3000))", []).unwrap();
                }
            })
        };
        let limit = 200;
        let mut logs = Vec::new();
        for _ in 0..20 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            logs.push(checkpoint_step(&checkpointer, limit).unwrap().0);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writing.join().unwrap();
        let restarts = logs.windows(2).filter(|pair| pair[1] < pair[0]).count();
        assert!(
            logs.iter().any(|log| *log > limit),
            "the writer outgrew the limit: {logs:?}"
        );
        assert!(restarts >= 3, "the WAL started over {restarts} times: {logs:?}");
    }
}
