//! Applies the numbered SQL files of `schema/sqlite/` once each, recorded in `schema_migrations`.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../../schema/sqlite/001_init.sql")),
    (2, include_str!("../../../../schema/sqlite/002_accounts.sql")),
    (3, include_str!("../../../../schema/sqlite/003_hardening.sql")),
    (4, include_str!("../../../../schema/sqlite/004_max_members.sql")),
    (5, include_str!("../../../../schema/sqlite/005_webhooks.sql")),
    (6, include_str!("../../../../schema/sqlite/006_webhook_trace.sql")),
    (7, include_str!("../../../../schema/sqlite/007_pending_requests.sql")),
    (8, include_str!("../../../../schema/sqlite/008_messages_by_msg_id.sql")),
    (9, include_str!("../../../../schema/sqlite/009_idempotency_by_hash.sql")),
    (
        10,
        include_str!("../../../../schema/sqlite/010_messages_in_id_order.sql"),
    ),
];

/// Safe to run from several processes at once: each migration runs in an immediate transaction
/// that re-checks whether it was applied.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    migrate_to(conn, MIGRATIONS.len() as i64)
}

/// The migrations through version `last` (tests build older schemas with it).
pub fn migrate_to(conn: &mut Connection, last: i64) -> rusqlite::Result<()> {
    // 009 hashes the stored messages' idempotency keys in SQL
    super::idempotency::register_hash_function(conn)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )?;
    // a database a newer Herald migrated may keep data this version does not maintain (since
    // 009, idempotency keys outside any index): writing to it could break what that version promises
    let newest: Option<i64> = conn
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |row| row.get(0))
        .optional()?
        .flatten();
    let known = MIGRATIONS.last().map_or(0, |(version, _)| *version);
    if let Some(newest) = newest.filter(|newest| *newest > known) {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(format!(
                "the database was migrated to schema {newest} by a newer Herald; this one knows schema {known} at most: run the newer version"
            )),
        ));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version <= last) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let applied: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE version = ?1)",
            [version],
            |row| row.get(0),
        )?;
        if !applied {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, unixepoch())",
                [version],
            )?;
            tracing::info!(version, "applied sqlite migration");
        }
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::testsuite::record;
    use crate::{Change, Fence, LogStore, QueryStore};
    use herald_protocol::{AppId, ConvId, MessageRecord};

    /// Messages stored in the conversation-clustered table of schema 9 are read, found by id and
    /// continued after schema 010 moved them into id order; two apps' conversations of the same
    /// name stay apart.
    #[tokio::test]
    async fn messages_stored_before_schema_10_are_read_and_continued_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let conv = ConvId::parse("c").unwrap();
        let (a, b) = (AppId::parse("a").unwrap(), AppId::parse("b").unwrap());
        let before: Vec<MessageRecord> = (1..=3)
            .map(|seq| record(&a, &conv, seq, "alice"))
            .chain((1..=2).map(|seq| record(&b, &conv, seq, "bob")))
            .collect();
        {
            let mut conn = super::super::open_connection(&dir.path().join("herald.sqlite3")).unwrap();
            super::migrate_to(&mut conn, 9).unwrap();
            for r in &before {
                conn.execute(
                    &format!(
                        "INSERT INTO messages ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                        super::super::rows::MESSAGE_COLUMNS
                    ),
                    rusqlite::params_from_iter(super::super::rows::message_values(r)),
                )
                .unwrap();
            }
        }
        let store = super::super::SqliteStore::open(dir.path()).await.unwrap();
        assert_eq!(
            store.latest_messages(&a, &conv, 10).await.unwrap(),
            before[..3].iter().rev().cloned().collect::<Vec<_>>()
        );
        assert_eq!(
            store.messages_in_range(&b, &conv, 1, 9, 10).await.unwrap(),
            before[3..].to_vec()
        );
        assert_eq!(store.last_seq(&a, &conv).await.unwrap(), 3);
        assert_eq!(store.last_seq(&b, &conv).await.unwrap(), 2);
        assert_eq!(
            store.message_by_id(&b, &conv, before[4].msg_id).await.unwrap(),
            Some(before[4].clone())
        );

        // the next message of each conversation, applied twice (a replayed batch)
        let fence = Fence {
            scope: "p0".into(),
            epoch: 1,
        };
        let next = vec![
            Change::Message(record(&a, &conv, 4, "alice")),
            Change::Message(record(&b, &conv, 3, "bob")),
        ];
        store.apply(&fence, &next).await.unwrap();
        store.apply(&fence, &next).await.unwrap();
        assert_eq!(store.last_seq(&a, &conv).await.unwrap(), 4);
        assert_eq!(store.messages_in_range(&b, &conv, 3, 3, 10).await.unwrap().len(), 1);
        // another message at a taken Seq is refused
        let mut other = record(&a, &conv, 2, "alice");
        other.msg_id.0 += 77;
        assert!(store.apply(&fence, &[Change::Message(other)]).await.is_err());
    }
}
