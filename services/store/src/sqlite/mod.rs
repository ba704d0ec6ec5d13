//! The embedded store: SQLite on disk (WAL, `synchronous=FULL`), one writer and a few readers,
//! each connection on a thread of its own (`threads.rs`), never on tokio's blocking pool.
//!
//! One file per trait (`log.rs`, `queries.rs`, `directory.rs`, `accounts.rs`, `social.rs`,
//! `webhooks.rs`); a batch is written by `apply.rs` inside the writer's group commit
//! (`group_commit.rs`); row decoding is in `rows.rs`, the schema in `migrate.rs`.

mod accounts;
mod apply;
mod directory;
mod group_commit;
mod idempotency;
mod log;
mod merged_filter;
mod migrate;
mod queries;
mod rows;
mod social;
mod tails;
mod threads;
mod webhooks;

use crate::StoreError;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};

/// Reader connections, each on its own thread.
const READERS: usize = 4;

/// Herald's store in one SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    /// The writer and reader threads (dropping the store ends them).
    threads: threads::Threads,
    /// The recent idempotency keys, mirrored in memory (`idempotency.rs`).
    recent: std::sync::Arc<idempotency::Recent>,
    /// The newest messages of the conversations written to, in memory (`tails.rs`).
    tails: std::sync::Arc<tails::Tails>,
}

/// Busy or locked is worth a retry (`Unavailable`); any other SQLite error is not.
fn map_err(err: rusqlite::Error) -> StoreError {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(err.to_string())
        }
        _ => StoreError::Fatal(err.to_string()),
    }
}

/// One connection with the settings every connection shares (WAL, full sync, cache sizes).
fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a committed append survives power loss, not only a killed process
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    // 64 MiB of page cache per connection (the default is 2 MiB): the message log's indexes
    // stay in memory instead of being read back page by page through the OS
    conn.pragma_update(None, "cache_size", -65_536)?;
    // every statement of the hot paths stays prepared (the default keeps 16, fewer than the
    // store uses, so some were parsed again and again)
    conn.set_prepared_statement_cache_capacity(128);
    // no connection checkpoints inside its own commits: the checkpointer thread does it beside
    // the writer (threads.rs), so copying the WAL back never holds a group commit
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // the WAL file is cut back to its limit when it starts over (SQLite keeps it at its largest
    // size otherwise)
    conn.pragma_update(None, "journal_size_limit", threads::WAL_FRAMES_LIMIT * 4_096)?;
    // plans never depend on bound values: the bundled SQLite (built with STAT4) otherwise marks a
    // cached statement expired whenever some parameters are bound again, and re-parses and
    // re-plans it on its next step — every history read, lookup and insert, every time
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    // `rarray(?)`: a batch's idempotency hashes looked up in one statement
    rusqlite::vtab::array::load_module(&conn)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) `dir/herald.sqlite3` and applies pending migrations. Other
    /// processes may use the file too (the roles of a cluster on one machine).
    pub async fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(dir.as_ref(), false).await
    }

    /// As [`SqliteStore::open`], for the file's only writer of messages (the embedded `herald up`):
    /// each conversation's newest messages are then kept in memory and history reads answered
    /// from them (`tails.rs`).
    pub async fn open_sole_writer(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(dir.as_ref(), true).await
    }

    async fn open_with(dir: &Path, sole_writer: bool) -> Result<Self, StoreError> {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|e| StoreError::Fatal(format!("create {}: {e}", dir.display())))?;
            let path = dir.join("herald.sqlite3");
            let mut writer = open_connection(&path).map_err(map_err)?;
            migrate::migrate(&mut writer).map_err(map_err)?;
            let readers = (0..READERS)
                .map(|_| open_connection(&path))
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(map_err)?;
            let checkpointer = open_connection(&path).map_err(map_err)?;
            // a restarting checkpoint holds the writer while it waits for readers: it gives up
            // after half a second (and tries again at the next round) rather than stall appends
            checkpointer
                .busy_timeout(std::time::Duration::from_millis(500))
                .map_err(map_err)?;
            let recent = std::sync::Arc::new(if sole_writer {
                idempotency::Recent::fed(&writer, idempotency::MERGE_AT).map_err(map_err)?
            } else {
                idempotency::Recent::default()
            });
            let tails = std::sync::Arc::new(tails::Tails::new(sole_writer));
            let threads = threads::start(writer, readers, checkpointer, recent.clone(), tails.clone())
                .map_err(|e| StoreError::Fatal(format!("start the sqlite threads: {e}")))?;
            Ok(SqliteStore {
                path,
                threads,
                recent,
                tails,
            })
        })
        .await
        .map_err(|e| StoreError::Fatal(e.to_string()))?
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let started = std::time::Instant::now();
        let (done, answer) = tokio::sync::oneshot::channel();
        let job = threads::WriterJob::Run(Box::new(move |conn| {
            let _ = done.send(work(conn));
        }));
        self.threads.writer.send(job).await.map_err(|_| threads::stopped())?;
        let result = answer.await.map_err(|_| threads::stopped())?;
        crate::observe::call("write", started, result.is_err());
        result
    }

    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let started = std::time::Instant::now();
        let (done, answer) = tokio::sync::oneshot::channel();
        let job: threads::ReadWork = Box::new(move |conn| {
            let _ = done.send(work(conn).map_err(map_err));
        });
        self.threads.readers.send(job).await.map_err(|_| threads::stopped())?;
        let result = answer.await.map_err(|_| threads::stopped())?;
        crate::observe::call("read", started, result.is_err());
        result
    }
}

/// A `Seq` bound as SQLite's signed integer: a client's `u64::MAX` means "the end", never a
/// negative number (which would match everything).
fn sql_seq(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::rows::CONV_KEY;
    use rusqlite::StatementStatus;

    /// A cached statement runs as prepared: binding new values does not make SQLite parse and
    /// plan it again (it did for every read and insert before the connections set QPSG).
    #[test]
    fn cached_statements_are_not_prepared_again_for_new_values() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = super::open_connection(&dir.path().join("herald.sqlite3")).unwrap();
        super::migrate::migrate(&mut conn).unwrap();
        for sql in [
            format!("SELECT seq FROM messages WHERE ck = {CONV_KEY} ORDER BY seq DESC LIMIT ?3"),
            format!("SELECT seq FROM messages WHERE ck = {CONV_KEY} AND seq >= ?3 AND seq <= ?4 LIMIT ?5"),
            format!("SELECT COALESCE(MAX(seq), 0) FROM messages WHERE ck = {CONV_KEY}"),
        ] {
            let mut statement = conn.prepare_cached(&sql).unwrap();
            for round in 0..4_i64 {
                let values: Vec<i64> = (0..statement.parameter_count() as i64).map(|k| k + round).collect();
                let rows = statement
                    .query_map(rusqlite::params_from_iter(values.iter()), |_| Ok(()))
                    .unwrap();
                assert!(rows.count() <= 1, "an empty log");
            }
            assert_eq!(statement.get_status(StatementStatus::RePrepare), 0, "{sql}");
        }
    }

    /// A conversation's messages are found through its key in `messages_by_seq`, never by a
    /// scan of the table (which, since schema 010, holds every conversation in id order).
    #[test]
    fn message_reads_use_the_conversation_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = super::open_connection(&dir.path().join("herald.sqlite3")).unwrap();
        super::migrate::migrate(&mut conn).unwrap();
        for sql in [
            format!("SELECT * FROM messages WHERE ck = {CONV_KEY} ORDER BY seq DESC LIMIT ?3"),
            format!(
                "SELECT * FROM messages WHERE ck = {CONV_KEY} AND seq >= ?3 AND seq <= ?4 ORDER BY seq ASC LIMIT ?5"
            ),
            format!("SELECT COALESCE(MAX(seq), 0) FROM messages WHERE ck = {CONV_KEY}"),
        ] {
            let mut explain = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let values: Vec<i64> = (1..=explain.parameter_count() as i64).collect();
            let plan: Vec<String> = explain
                .query_map(rusqlite::params_from_iter(values.iter()), |row| row.get::<_, String>(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            let plan = plan.join("; ");
            assert!(plan.contains("INDEX messages_by_seq"), "{sql}: {plan}");
            assert!(
                !plan.contains("TEMP B-TREE") && !plan.contains("SCAN messages"),
                "{sql}: {plan}"
            );
        }
    }

    /// App "a", its conversations "c" and "d", and the fence of partition 0.
    fn two_conversations() -> (
        herald_protocol::AppId,
        herald_protocol::ConvId,
        herald_protocol::ConvId,
        crate::Fence,
    ) {
        (
            herald_protocol::AppId::parse("a").unwrap(),
            herald_protocol::ConvId::parse("c").unwrap(),
            herald_protocol::ConvId::parse("d").unwrap(),
            crate::Fence {
                scope: "p0".into(),
                epoch: 1,
            },
        )
    }

    /// A merge of idempotency keys a stopped process left unfinished goes on from the writer's
    /// first commit, although far fewer keys are recent than start a merge.
    #[tokio::test]
    async fn a_merge_left_unfinished_goes_on_from_the_first_commit() {
        use crate::testsuite::record;
        use crate::{Change, LogStore};
        let dir = tempfile::tempdir().unwrap();
        let (app, conv, other, fence) = two_conversations();
        {
            let store = super::SqliteStore::open(dir.path()).await.unwrap();
            let first: Vec<Change> = (1..=10)
                .map(|seq| Change::Message(record(&app, &conv, seq, "s")))
                .collect();
            store.apply(&fence, &first).await.unwrap();
        }
        // a process merged half of the ranges, then stopped
        let mut conn = super::open_connection(&dir.path().join("herald.sqlite3")).unwrap();
        let stopped = super::idempotency::Recent::new(8);
        for _ in 0..super::idempotency::CHUNKS / 2 {
            assert!(stopped.merge_step(&mut conn).unwrap());
        }
        let chunk = |conn: &rusqlite::Connection| {
            conn.query_row("SELECT chunk FROM idempotency_merge WHERE id = 1", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap()
        };
        assert_eq!(chunk(&conn), super::idempotency::CHUNKS / 2);
        let store = super::SqliteStore::open_sole_writer(dir.path()).await.unwrap();
        store
            .apply(&fence, &[Change::Message(record(&app, &other, 1, "s"))])
            .await
            .unwrap();
        // the step follows the commit's answer on the writer thread
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while chunk(&conn) == super::idempotency::CHUNKS / 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "the first commit is followed by a step of the merge"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(chunk(&conn), super::idempotency::CHUNKS / 2 + 1, "one step per commit");
    }

    /// A message another connection (another process) stored is not hidden by the tails: the
    /// writer drops them when SQLite says another connection committed.
    #[tokio::test]
    async fn a_message_written_by_another_connection_is_read_after_the_next_commit() {
        use crate::testsuite::record;
        use crate::{Change, LogStore, QueryStore};
        let dir = tempfile::tempdir().unwrap();
        let store = super::SqliteStore::open_sole_writer(dir.path()).await.unwrap();
        let (app, conv, other, fence) = two_conversations();
        let first: Vec<Change> = (1..=3)
            .map(|seq| Change::Message(record(&app, &conv, seq, "s")))
            .collect();
        store.apply(&fence, &first).await.unwrap();
        let elsewhere = super::open_connection(&dir.path().join("herald.sqlite3")).unwrap();
        let r = record(&app, &conv, 4, "s");
        elsewhere
            .execute(
                &format!(
                    "INSERT INTO messages (ck, {}) SELECT ck, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 FROM conv_keys WHERE app_id = ?1 AND conv_id = ?2",
                    super::rows::MESSAGE_COLUMNS
                ),
                rusqlite::params_from_iter(super::rows::message_values(&r)),
            )
            .unwrap();
        // the next group commit, in another conversation, notices the foreign commit
        store
            .apply(&fence, &[Change::Message(record(&app, &other, 1, "s"))])
            .await
            .unwrap();
        let seqs: Vec<u64> = store
            .latest_messages(&app, &conv, 10)
            .await
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(seqs, vec![4, 3, 2, 1]);
    }
}
