//! The embedded store: SQLite on disk (WAL, `synchronous=FULL`), one writer and a few readers,
//! each connection on a thread of its own (`threads.rs`), never on tokio's blocking pool.

mod group_commit;
mod migrate;
mod rows;
mod threads;

use crate::{
    Account, AccountStore, AppRecord, AppSettings, Change, ConsoleUser, ConvSummary, Conversation, Creation,
    DirectoryStore, Fence, FriendRequest, ListCursor, LogStore, Org, QueryStore, Revocation, RevocationFeed,
    SocialStore, StoreError,
};
use async_trait::async_trait;
use herald_protocol::{AppId, ConvId, ConvKind, MessageRecord, MsgId, SessionId};
use rows::{APP_COLUMNS, CONVERSATION_COLUMNS, MESSAGE_COLUMNS, ORG_COLUMNS};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};

const READERS: usize = 4;

pub struct SqliteStore {
    path: PathBuf,
    /// The writer and reader threads (dropping the store ends them).
    threads: threads::Threads,
}

fn map_err(err: rusqlite::Error) -> StoreError {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(err.to_string())
        }
        _ => StoreError::Fatal(err.to_string()),
    }
}

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
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) `dir/herald.sqlite3` and applies pending migrations.
    pub async fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
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
            let threads = threads::start(writer, readers, checkpointer)
                .map_err(|e| StoreError::Fatal(format!("start the sqlite threads: {e}")))?;
            Ok(SqliteStore { path, threads })
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
        metrics::histogram!("herald_store_seconds", "op" => "write").record(started.elapsed().as_secs_f64());
        if result.is_err() {
            metrics::counter!("herald_store_errors_total", "op" => "write").increment(1);
        }
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
        metrics::histogram!("herald_store_seconds", "op" => "read").record(started.elapsed().as_secs_f64());
        if result.is_err() {
            metrics::counter!("herald_store_errors_total", "op" => "read").increment(1);
        }
        result
    }
}

/// A `Seq` bound as SQLite's signed integer: a client's `u64::MAX` means "the end", never a
/// negative number (which would match everything).
fn sql_seq(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// Raises the fence inside `tx`; errs when a higher epoch holds it.
fn raise_fence(tx: &Connection, fence: &Fence) -> Result<(), StoreError> {
    let held: Option<i64> = tx
        .query_row("SELECT epoch FROM fences WHERE scope = ?1", [&fence.scope], |r| {
            r.get(0)
        })
        .optional()
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
            tx.execute(
                "INSERT INTO fences (scope, epoch) VALUES (?1, ?2) ON CONFLICT (scope) DO UPDATE SET epoch = excluded.epoch",
                params![fence.scope, ours],
            )
            .map_err(map_err)?;
            Ok(())
        }
    }
}

fn apply_change(tx: &Connection, change: &Change) -> Result<(), StoreError> {
    match change {
        Change::Message(r) => {
            let inserted = tx
                .prepare_cached(&format!(
                    "INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                     ON CONFLICT (app_id, conv_id, seq) DO NOTHING"
                ))
                .and_then(|mut insert| {
                    insert.execute(params![
                        r.app.as_str(),
                        r.conv.as_str(),
                        r.seq as i64,
                        r.msg_id.0 as i64,
                        r.from.as_str(),
                        r.send_time,
                        r.status,
                        r.msg_type,
                        r.content,
                        r.idempotency_key,
                        r.client_msg_id
                    ])
                })
                .map_err(map_err)?;
            if inserted == 0 {
                // the Seq is taken: by this very message (a re-applied batch) or by another one
                let stored: i64 = tx
                    .prepare_cached("SELECT msg_id FROM messages WHERE app_id = ?1 AND conv_id = ?2 AND seq = ?3")
                    .and_then(|mut select| {
                        select.query_row(params![r.app.as_str(), r.conv.as_str(), r.seq as i64], |row| row.get(0))
                    })
                    .map_err(map_err)?;
                if stored as u64 != r.msg_id.0 {
                    return Err(occupied(r, stored as u64));
                }
            }
        }
        Change::Tombstone(r) => {
            let updated = tx
                .prepare_cached(
                    "UPDATE messages SET status = ?5, content = ?6 \
                     WHERE app_id = ?1 AND conv_id = ?2 AND seq = ?3 AND msg_id = ?4",
                )
                .and_then(|mut update| {
                    update.execute(params![
                        r.app.as_str(),
                        r.conv.as_str(),
                        r.seq as i64,
                        r.msg_id.0 as i64,
                        r.status,
                        r.content
                    ])
                })
                .map_err(map_err)?;
            if updated == 0 {
                return Err(StoreError::Fatal(format!(
                    "tombstone of message {} at seq {} of {}/{}: no such message",
                    r.msg_id, r.seq, r.app, r.conv
                )));
            }
        }
        _ => apply_state_change(tx, change).map_err(map_err)?,
    }
    Ok(())
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
        Change::Message(_) | Change::Tombstone(_) => {}
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

#[async_trait]
impl LogStore for SqliteStore {
    async fn claim_fence(&self, fence: &Fence) -> Result<(), StoreError> {
        let fence = fence.clone();
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            raise_fence(&tx, &fence)?;
            tx.commit().map_err(map_err)
        })
        .await
    }

    async fn apply(&self, fence: &Fence, changes: &[Change]) -> Result<(), StoreError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job = group_commit::Job {
            fence: fence.clone(),
            changes: changes.to_vec(),
            done,
        };
        self.threads
            .writer
            .send(threads::WriterJob::Apply(job))
            .await
            .map_err(|_| threads::stopped())?;
        result.await.map_err(|_| threads::stopped())?
    }

    async fn last_seq(&self, app: &AppId, conv: &ConvId) -> Result<u64, StoreError> {
        let (app, conv) = (app.clone(), conv.clone());
        self.read(move |c| {
            c.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM messages WHERE app_id = ?1 AND conv_id = ?2")?
                .query_row([app.as_str(), conv.as_str()], |r| r.get::<_, i64>(0))
                .map(|s| s as u64)
        })
        .await
    }

    async fn find_idempotent(
        &self,
        app: &AppId,
        conv: &ConvId,
        keys: &[(SessionId, String)],
    ) -> Result<Vec<MessageRecord>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let (app, conv, keys) = (app.clone(), conv.clone(), keys.to_vec());
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE app_id = ?1 AND conv_id = ?2 AND sender = ?3 AND idempotency_key = ?4"
            ))?;
            let mut found = Vec::new();
            for (sender, key) in &keys {
                if let Some(record) = stmt
                    .query_row(params![app.as_str(), conv.as_str(), sender.as_str(), key], rows::message)
                    .optional()?
                {
                    found.push(record);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn message_by_id(&self, app: &AppId, conv: &ConvId, id: MsgId) -> Result<Option<MessageRecord>, StoreError> {
        let (app, conv) = (app.clone(), conv.clone());
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE app_id = ?1 AND conv_id = ?2 AND msg_id = ?3"
            ))?
            .query_row(params![app.as_str(), conv.as_str(), id.0 as i64], rows::message)
            .optional()
        })
        .await
    }

    async fn read_cursor(&self, app: &AppId, conv: &ConvId, session: &SessionId) -> Result<u64, StoreError> {
        let (app, conv, session) = (app.clone(), conv.clone(), session.clone());
        self.read(move |c| {
            c.prepare_cached("SELECT seq FROM read_cursors WHERE app_id = ?1 AND conv_id = ?2 AND session = ?3")?
                .query_row([app.as_str(), conv.as_str(), session.as_str()], |r| r.get::<_, i64>(0))
                .optional()
                .map(|s| s.unwrap_or(0) as u64)
        })
        .await
    }

    async fn sender_counts(&self, app: &AppId, conv: &ConvId) -> Result<Vec<(SessionId, u64)>, StoreError> {
        let (app, conv) = (app.clone(), conv.clone());
        self.read(move |c| {
            c.prepare_cached(
                "SELECT sender, COUNT(*) FROM messages WHERE app_id = ?1 AND conv_id = ?2 GROUP BY sender",
            )?
            .query_map([app.as_str(), conv.as_str()], |r| {
                Ok((rows::session(r, 0)?, r.get::<_, i64>(1)? as u64))
            })?
            .collect()
        })
        .await
    }
}

#[async_trait]
impl QueryStore for SqliteStore {
    async fn latest_messages(
        &self,
        app: &AppId,
        conv: &ConvId,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let (app, conv) = (app.clone(), conv.clone());
        let limit = limit.min(crate::MAX_PAGE) as i64;
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE app_id = ?1 AND conv_id = ?2 ORDER BY seq DESC LIMIT ?3"
            ))?;
            stmt.query_map(params![app.as_str(), conv.as_str(), limit], rows::message)?
                .collect()
        })
        .await
    }

    async fn messages_in_range(
        &self,
        app: &AppId,
        conv: &ConvId,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let (app, conv) = (app.clone(), conv.clone());
        let limit = limit.min(crate::MAX_PAGE) as i64;
        let (from, to) = (sql_seq(from), sql_seq(to));
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE app_id = ?1 AND conv_id = ?2 AND seq >= ?3 AND seq <= ?4 ORDER BY seq ASC LIMIT ?5"
            ))?;
            stmt.query_map(params![app.as_str(), conv.as_str(), from, to, limit], rows::message)?
                .collect()
        })
        .await
    }

    async fn conversations_of(
        &self,
        app: &AppId,
        session: &SessionId,
        after: Option<&ListCursor>,
        limit: usize,
    ) -> Result<Vec<ConvSummary>, StoreError> {
        let (app, session) = (app.clone(), session.clone());
        let after = after.map(|cursor| (cursor.joined_at, cursor.conv.to_string()));
        let limit = limit.min(crate::MAX_CONVERSATIONS) as i64;
        self.read(move |c| {
            let mut list = c.prepare_cached(&format!(
                "SELECT {}, COALESCE(r.seq, 0), h.at_seq, \
                   (SELECT COUNT(*) FROM members mm WHERE mm.app_id = m.app_id AND mm.conv_id = m.conv_id), m.joined_at \
                 FROM members m \
                 JOIN conversations c ON c.app_id = m.app_id AND c.conv_id = m.conv_id \
                 LEFT JOIN read_cursors r ON r.app_id = m.app_id AND r.conv_id = m.conv_id AND r.session = m.session \
                 LEFT JOIN hidden_conversations h ON h.app_id = m.app_id AND h.conv_id = m.conv_id AND h.session = m.session \
                 WHERE m.app_id = ?1 AND m.session = ?2 AND (?3 IS NULL OR (m.joined_at, m.conv_id) < (?3, ?4)) \
                 ORDER BY m.joined_at DESC, m.conv_id DESC LIMIT ?5",
                CONVERSATION_COLUMNS.split(", ").map(|col| format!("c.{col}")).collect::<Vec<_>>().join(", ")
            ))?;
            let (after_joined, after_conv) = match &after {
                Some((joined_at, conv)) => (Some(*joined_at), Some(conv.as_str())),
                None => (None, None),
            };
            let rows = list
                .query_map(params![app.as_str(), session.as_str(), after_joined, after_conv, limit], |row| {
                    Ok((
                        rows::conversation(row)?,
                        row.get::<_, i64>(10)? as u64,
                        row.get::<_, Option<i64>>(11)?,
                        row.get::<_, i64>(12)? as u64,
                        row.get::<_, i64>(13)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut last = c.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE app_id = ?1 AND conv_id = ?2 ORDER BY seq DESC LIMIT 1"
            ))?;
            let mut summaries = Vec::with_capacity(rows.len());
            for (conv, read_seq, hidden_at, member_count, joined_at) in rows {
                let last = last.query_row(params![app.as_str(), conv.id.as_str()], rows::message).optional()?;
                summaries.push(ConvSummary {
                    conv,
                    joined_at,
                    last,
                    read_seq,
                    hidden_at: hidden_at.map(|s| s as u64),
                    member_count,
                });
            }
            Ok(summaries)
        })
        .await
    }

    async fn hide_message(&self, app: &AppId, session: &SessionId, conv: &ConvId, seq: u64) -> Result<(), StoreError> {
        let (app, session, conv) = (app.clone(), session.clone(), conv.clone());
        self.write(move |c| {
            c.execute(
                "INSERT INTO hidden_messages (app_id, session, conv_id, seq) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                params![app.as_str(), session.as_str(), conv.as_str(), seq as i64],
            )
            .map(|_| ())
            .map_err(map_err)
        })
        .await
    }

    async fn hidden_seqs(
        &self,
        app: &AppId,
        session: &SessionId,
        conv: &ConvId,
        from: u64,
        to: u64,
    ) -> Result<Vec<u64>, StoreError> {
        let (app, session, conv) = (app.clone(), session.clone(), conv.clone());
        let (from, to) = (sql_seq(from), sql_seq(to));
        self.read(move |c| {
            c.prepare_cached(
                "SELECT seq FROM hidden_messages WHERE app_id = ?1 AND session = ?2 AND conv_id = ?3 AND seq >= ?4 AND seq <= ?5",
            )?
            .query_map(params![app.as_str(), session.as_str(), conv.as_str(), from, to], |r| {
                r.get::<_, i64>(0).map(|s| s as u64)
            })?
            .collect()
        })
        .await
    }

    async fn hide_conversation(
        &self,
        app: &AppId,
        session: &SessionId,
        conv: &ConvId,
        at_seq: u64,
    ) -> Result<(), StoreError> {
        let (app, session, conv) = (app.clone(), session.clone(), conv.clone());
        self.write(move |c| {
            c.execute(
                "INSERT INTO hidden_conversations (app_id, session, conv_id, at_seq) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (app_id, session, conv_id) DO UPDATE SET at_seq = excluded.at_seq",
                params![app.as_str(), session.as_str(), conv.as_str(), at_seq as i64],
            )
            .map(|_| ())
            .map_err(map_err)
        })
        .await
    }
}

#[async_trait]
impl DirectoryStore for SqliteStore {
    async fn create_app_if_absent(&self, app: &AppRecord) -> Result<bool, StoreError> {
        let app = app.clone();
        self.write(move |conn| {
            let inserted = conn
                .execute(
                    &format!("INSERT INTO apps ({APP_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) ON CONFLICT (app_id) DO NOTHING"),
                    params![
                        app.id.as_str(), app.org, app.name, app.secret_hash, app.signing_key, app.created_at,
                        app.settings.login_policy.as_str(), app.settings.require_friendship,
                        app.settings.spam_unanswered_limit, app.settings.send_rate_per_sec, app.settings.send_burst,
                        app.settings.end_user_accounts, app.settings.max_members
                    ],
                )
                .map_err(map_err)?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn app(&self, id: &AppId) -> Result<Option<AppRecord>, StoreError> {
        let id = id.clone();
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT {APP_COLUMNS} FROM apps WHERE app_id = ?1"))?
                .query_row([id.as_str()], rows::app)
                .optional()
        })
        .await
    }

    async fn app_by_secret_hash(&self, secret_hash: &[u8]) -> Result<Option<AppRecord>, StoreError> {
        let hash = secret_hash.to_vec();
        self.read(move |conn| {
            conn.prepare_cached(&format!("SELECT {APP_COLUMNS} FROM apps WHERE secret_hash = ?1"))?
                .query_row([hash], rows::app)
                .optional()
        })
        .await
    }

    async fn set_app_secret_hash(&self, id: &AppId, secret_hash: &[u8]) -> Result<bool, StoreError> {
        let (id, hash) = (id.clone(), secret_hash.to_vec());
        self.write(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE apps SET secret_hash = ?2 WHERE app_id = ?1",
                    params![id.as_str(), hash],
                )
                .map_err(map_err)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn set_app_settings(&self, id: &AppId, settings: &AppSettings) -> Result<bool, StoreError> {
        let (id, settings) = (id.clone(), settings.clone());
        self.write(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE apps SET login_policy = ?2, require_friendship = ?3, spam_unanswered_limit = ?4, \
                     send_rate_per_sec = ?5, send_burst = ?6, end_user_accounts = ?7, max_members = ?8 WHERE app_id = ?1",
                    params![
                        id.as_str(),
                        settings.login_policy.as_str(),
                        settings.require_friendship,
                        settings.spam_unanswered_limit,
                        settings.send_rate_per_sec,
                        settings.send_burst,
                        settings.end_user_accounts,
                        settings.max_members
                    ],
                )
                .map_err(map_err)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn create_conversation(&self, conv: &Conversation, members: &[SessionId]) -> Result<Creation, StoreError> {
        let conv = conv.clone();
        let members = members.to_vec();
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            if conv.kind == ConvKind::Single {
                let mut pair: Vec<&str> = members.iter().map(SessionId::as_str).collect();
                pair.sort_unstable();
                pair.dedup();
                if pair.len() != 2 {
                    return Err(StoreError::Fatal("a single conversation has exactly two members".into()));
                }
                let existing: Option<String> = tx
                    .query_row(
                        "SELECT conv_id FROM single_pairs WHERE app_id = ?1 AND session_a = ?2 AND session_b = ?3",
                        params![conv.app.as_str(), pair[0], pair[1]],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(map_err)?;
                if let Some(existing) = existing {
                    let existing = ConvId::parse(existing).map_err(|e| StoreError::Fatal(e.to_string()))?;
                    return Ok(Creation::PairExists(existing));
                }
                tx.execute(
                    "INSERT INTO single_pairs (app_id, session_a, session_b, conv_id) VALUES (?1, ?2, ?3, ?4)",
                    params![conv.app.as_str(), pair[0], pair[1], conv.id.as_str()],
                )
                .map_err(map_err)?;
            }
            let inserted = tx.execute(
                &format!("INSERT INTO conversations ({CONVERSATION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING"),
                params![
                    conv.app.as_str(), conv.id.as_str(), conv.kind.as_str(), conv.conv_type, conv.name,
                    conv.avatar, conv.owner.as_str(), conv.open, conv.archived, conv.created_at
                ],
            )
            .map_err(map_err)?;
            if inserted == 0 {
                // the id is taken: write nothing (dropping `tx` rolls back a pair written above)
                return Ok(Creation::IdTaken);
            }
            {
                let mut insert = tx
                    .prepare_cached("INSERT INTO members (app_id, conv_id, session, joined_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING")
                    .map_err(map_err)?;
                for member in &members {
                    insert
                        .execute(params![conv.app.as_str(), conv.id.as_str(), member.as_str(), conv.created_at])
                        .map_err(map_err)?;
                }
            }
            tx.commit().map_err(map_err)?;
            Ok(Creation::Created(conv.id))
        })
        .await
    }

    async fn conversation(&self, app: &AppId, conv: &ConvId) -> Result<Option<Conversation>, StoreError> {
        let (app, conv) = (app.clone(), conv.clone());
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE app_id = ?1 AND conv_id = ?2"
            ))?
            .query_row([app.as_str(), conv.as_str()], rows::conversation)
            .optional()
        })
        .await
    }

    async fn members(&self, app: &AppId, conv: &ConvId) -> Result<Vec<SessionId>, StoreError> {
        let (app, conv) = (app.clone(), conv.clone());
        self.read(move |c| {
            let mut stmt =
                c.prepare_cached("SELECT session FROM members WHERE app_id = ?1 AND conv_id = ?2 ORDER BY session")?;
            let rows = stmt.query_map([app.as_str(), conv.as_str()], |r| r.get::<_, String>(0))?;
            rows.map(|r| {
                r.and_then(|s| {
                    SessionId::parse(s).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
                    })
                })
            })
            .collect()
        })
        .await
    }

    async fn is_member(&self, app: &AppId, conv: &ConvId, session: &SessionId) -> Result<bool, StoreError> {
        let (app, conv, session) = (app.clone(), conv.clone(), session.clone());
        self.read(move |c| {
            c.prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM members WHERE app_id = ?1 AND conv_id = ?2 AND session = ?3)",
            )?
            .query_row([app.as_str(), conv.as_str(), session.as_str()], |r| r.get(0))
        })
        .await
    }
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_console_user(&self, user: &ConsoleUser) -> Result<bool, StoreError> {
        let user = user.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO console_users (user_id, email, password_hash, nick, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT DO NOTHING",
                params![user.id, user.email, user.password_hash, user.nick, user.created_at],
            )
            .map(|n| n == 1)
            .map_err(map_err)
        })
        .await
    }

    async fn console_user_by_email(&self, email: &str) -> Result<Option<ConsoleUser>, StoreError> {
        let email = email.to_owned();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT user_id, email, password_hash, nick, created_at FROM console_users WHERE email = ?1",
            )?
            .query_row([email], |r| {
                Ok(ConsoleUser {
                    id: r.get(0)?,
                    email: r.get(1)?,
                    password_hash: r.get(2)?,
                    nick: r.get(3)?,
                    created_at: r.get(4)?,
                })
            })
            .optional()
        })
        .await
    }

    async fn create_org(&self, org: &Org) -> Result<(), StoreError> {
        let org = org.clone();
        self.write(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            tx.execute(
                &format!("INSERT INTO orgs ({ORG_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING"),
                params![org.id, org.name, org.description, org.owner, org.created_at],
            )
            .map_err(map_err)?;
            tx.execute(
                "INSERT INTO org_members (org_id, user_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![org.id, org.owner],
            )
            .map_err(map_err)?;
            tx.commit().map_err(map_err)
        })
        .await
    }

    async fn org(&self, id: &str) -> Result<Option<Org>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {ORG_COLUMNS} FROM orgs WHERE org_id = ?1"))?
                .query_row([id], rows::org)
                .optional()
        })
        .await
    }

    async fn orgs_of(&self, user_id: &str) -> Result<Vec<Org>, StoreError> {
        let user_id = user_id.to_owned();
        self.read(move |c| {
            let columns = ORG_COLUMNS.split(", ").map(|col| format!("o.{col}")).collect::<Vec<_>>().join(", ");
            c.prepare_cached(&format!(
                "SELECT {columns} FROM org_members m JOIN orgs o ON o.org_id = m.org_id WHERE m.user_id = ?1 ORDER BY o.created_at"
            ))?
            .query_map([user_id], rows::org)?
            .collect()
        })
        .await
    }

    async fn is_org_member(&self, org: &str, user_id: &str) -> Result<bool, StoreError> {
        let (org, user_id) = (org.to_owned(), user_id.to_owned());
        self.read(move |c| {
            c.prepare_cached("SELECT EXISTS(SELECT 1 FROM org_members WHERE org_id = ?1 AND user_id = ?2)")?
                .query_row([org, user_id], |r| r.get(0))
        })
        .await
    }

    async fn apps_of_org(&self, org: &str) -> Result<Vec<AppRecord>, StoreError> {
        let org = org.to_owned();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {APP_COLUMNS} FROM apps WHERE org_id = ?1 ORDER BY created_at"
            ))?
            .query_map([org], rows::app)?
            .collect()
        })
        .await
    }

    async fn server_key(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (name, fresh) = (name.to_owned(), fresh.to_vec());
        self.write(move |c| {
            c.execute(
                "INSERT INTO server_keys (name, key) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![name, fresh],
            )
            .map_err(map_err)?;
            c.query_row("SELECT key FROM server_keys WHERE name = ?1", [name], |r| r.get(0))
                .map_err(map_err)
        })
        .await
    }

    async fn create_account(&self, account: &Account) -> Result<bool, StoreError> {
        let account = account.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO accounts (app_id, user_name, password_hash, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                params![account.app.as_str(), account.user_name.as_str(), account.password_hash, account.created_at],
            )
            .map(|n| n == 1)
            .map_err(map_err)
        })
        .await
    }

    async fn account(&self, app: &AppId, user_name: &SessionId) -> Result<Option<Account>, StoreError> {
        let (app, user_name) = (app.clone(), user_name.clone());
        self.read(move |c| {
            c.prepare_cached("SELECT password_hash, created_at FROM accounts WHERE app_id = ?1 AND user_name = ?2")?
                .query_row([app.as_str(), user_name.as_str()], |r| {
                    Ok(Account {
                        app: app.clone(),
                        user_name: user_name.clone(),
                        password_hash: r.get(0)?,
                        created_at: r.get(1)?,
                    })
                })
                .optional()
        })
        .await
    }

    async fn set_account_password(&self, app: &AppId, user_name: &SessionId, hash: &str) -> Result<bool, StoreError> {
        let (app, user_name, hash) = (app.clone(), user_name.clone(), hash.to_owned());
        self.write(move |c| {
            c.execute(
                "UPDATE accounts SET password_hash = ?3 WHERE app_id = ?1 AND user_name = ?2",
                params![app.as_str(), user_name.as_str(), hash],
            )
            .map(|n| n == 1)
            .map_err(map_err)
        })
        .await
    }

    async fn revoke(&self, revocation: &Revocation) -> Result<(), StoreError> {
        let r = revocation.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO revocations (app_id, kind, key, not_before, expires_at, created_at, seq) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, (SELECT COALESCE(MAX(seq), 0) + 1 FROM revocations)) \
                 ON CONFLICT (app_id, kind, key) DO UPDATE SET not_before = MAX(not_before, excluded.not_before), \
                 expires_at = MAX(expires_at, excluded.expires_at), created_at = excluded.created_at, seq = excluded.seq",
                params![r.app.as_str(), r.kind.as_str(), r.key, r.not_before, r.expires_at, r.created_at],
            )
            .map(|_| ())
            .map_err(map_err)
        })
        .await
    }

    async fn revocations_since(&self, cursor: i64, now_secs: i64) -> Result<RevocationFeed, StoreError> {
        self.read(move |c| {
            let tx = c.unchecked_transaction()?;
            let revocations = tx
                .prepare_cached(
                    "SELECT app_id, kind, key, not_before, expires_at, created_at FROM revocations \
                     WHERE seq > ?1 AND expires_at > ?2 ORDER BY seq",
                )?
                .query_map(params![cursor, now_secs], rows::revocation)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            // the same snapshot: nothing committed after the rows above is skipped
            let cursor = tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM revocations", [], |r| r.get(0))?;
            tx.finish()?;
            Ok(RevocationFeed { revocations, cursor })
        })
        .await
    }
}

#[async_trait]
impl SocialStore for SqliteStore {
    async fn put_friend_request(&self, request: &FriendRequest) -> Result<(), StoreError> {
        let r = request.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO friend_requests (app_id, from_session, to_session, information, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (app_id, from_session, to_session) DO UPDATE SET information = excluded.information, created_at = excluded.created_at",
                params![r.app.as_str(), r.from.as_str(), r.to.as_str(), r.information, r.created_at],
            )
            .map(|_| ())
            .map_err(map_err)
        })
        .await
    }

    async fn take_friend_request(
        &self,
        app: &AppId,
        from: &SessionId,
        to: &SessionId,
    ) -> Result<Option<FriendRequest>, StoreError> {
        let (app, from, to) = (app.clone(), from.clone(), to.clone());
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map_err)?;
            let found = tx
                .query_row(
                    "SELECT information, created_at FROM friend_requests WHERE app_id = ?1 AND from_session = ?2 AND to_session = ?3",
                    [app.as_str(), from.as_str(), to.as_str()],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
                )
                .optional()
                .map_err(map_err)?;
            tx.execute(
                "DELETE FROM friend_requests WHERE app_id = ?1 AND from_session = ?2 AND to_session = ?3",
                [app.as_str(), from.as_str(), to.as_str()],
            )
            .map_err(map_err)?;
            tx.commit().map_err(map_err)?;
            Ok(found.map(|(information, created_at)| FriendRequest { app, from, to, information, created_at }))
        })
        .await
    }

    async fn set_friends(
        &self,
        app: &AppId,
        a: &SessionId,
        b: &SessionId,
        friends: bool,
        at: i64,
    ) -> Result<(), StoreError> {
        let (app, a, b) = (app.clone(), a.clone(), b.clone());
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map_err)?;
            for (one, other) in [(&a, &b), (&b, &a)] {
                if friends {
                    tx.execute(
                        "INSERT INTO friends (app_id, session, friend, since) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                        params![app.as_str(), one.as_str(), other.as_str(), at],
                    )
                } else {
                    tx.execute(
                        "DELETE FROM friends WHERE app_id = ?1 AND session = ?2 AND friend = ?3",
                        params![app.as_str(), one.as_str(), other.as_str()],
                    )
                }
                .map_err(map_err)?;
            }
            tx.commit().map_err(map_err)
        })
        .await
    }

    async fn friends_of(&self, app: &AppId, session: &SessionId) -> Result<Vec<SessionId>, StoreError> {
        let (app, session) = (app.clone(), session.clone());
        self.read(move |c| {
            c.prepare_cached("SELECT friend FROM friends WHERE app_id = ?1 AND session = ?2 ORDER BY friend")?
                .query_map([app.as_str(), session.as_str()], |r| rows::session(r, 0))?
                .collect()
        })
        .await
    }

    async fn are_friends(&self, app: &AppId, a: &SessionId, b: &SessionId) -> Result<bool, StoreError> {
        let (app, a, b) = (app.clone(), a.clone(), b.clone());
        self.read(move |c| {
            c.prepare_cached("SELECT EXISTS(SELECT 1 FROM friends WHERE app_id = ?1 AND session = ?2 AND friend = ?3)")?
                .query_row([app.as_str(), a.as_str(), b.as_str()], |r| r.get(0))
        })
        .await
    }
}
