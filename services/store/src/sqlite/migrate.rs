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
