//! `herald migrate`: creates the keyspace if missing and applies the numbered files of
//! `schema/cql/` once each, recorded in `schema_migrations`.
//!
//! Run by every pod before it starts (an init container in k8s/ and helm/): when everything is
//! applied it only reads (the cluster's features, the ledger) and changes nothing.
//!
//! Safe to run twice (applied versions are skipped; every statement is `IF NOT EXISTS`, and a
//! statement interrupted after it took effect is recognised when run again) and safe with several
//! replicas starting at once: one holds a lease in `schema_migrations_lock` (a lightweight
//! transaction with a TTL, so a crashed holder frees it) while the others wait, then find nothing
//! left to do. Schema changes wait for schema agreement before the next one.
//!
//! The lock, like the rest of the store, is a lightweight transaction: before anything else the
//! cluster is asked whether it has tablets and lightweight transactions on them, and the keyspace
//! is created accordingly (`tablets.rs`).

use super::config::{ScyllaConfig, connect};
use super::cql;
use super::tablets::{self, Server};
use crate::StoreError;
use scylla::client::session::Session;
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use scylla::statement::Statement;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One numbered file of `schema/cql/`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub cql: &'static str,
}

/// Every migration, in order. Append-only: a released file is never edited.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "001_init",
        cql: include_str!("../../../../schema/cql/001_init.cql"),
    },
    Migration {
        version: 2,
        name: "002_accounts",
        cql: include_str!("../../../../schema/cql/002_accounts.cql"),
    },
    Migration {
        version: 3,
        name: "003_hardening",
        cql: include_str!("../../../../schema/cql/003_hardening.cql"),
    },
    Migration {
        version: 4,
        name: "004_max_members",
        cql: include_str!("../../../../schema/cql/004_max_members.cql"),
    },
    Migration {
        version: 5,
        name: "005_webhooks",
        cql: include_str!("../../../../schema/cql/005_webhooks.cql"),
    },
    Migration {
        version: 6,
        name: "006_webhook_trace",
        cql: include_str!("../../../../schema/cql/006_webhook_trace.cql"),
    },
    Migration {
        version: 7,
        name: "007_pending_requests",
        cql: include_str!("../../../../schema/cql/007_pending_requests.cql"),
    },
];

pub(super) const LEDGER: &str = "CREATE TABLE IF NOT EXISTS schema_migrations \
     (version int PRIMARY KEY, name text, checksum text, applied_at timestamp)";
pub(super) const LOCK: &str = "CREATE TABLE IF NOT EXISTS schema_migrations_lock (name text PRIMARY KEY, holder text)";
/// How long a migrating process holds the lease unless it releases it.
const LOCK_TTL_SECS: i32 = 300;
/// How long another process waits for it.
const LOCK_WAIT: Duration = Duration::from_secs(330);
/// Client-side timeout of one schema change.
const DDL_TIMEOUT: Duration = Duration::from_secs(60);

/// Splits a migration file into statements: `--` comments dropped, `;` ends a statement.
/// (Migration files keep `;` and `--` out of string literals.)
pub fn statements(cql: &str) -> Vec<String> {
    let without_comments: String = cql
        .lines()
        .map(|line| line.split_once("--").map_or(line, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(|statement| statement.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|statement| !statement.is_empty())
        .collect()
}

/// A fingerprint of a migration file (FNV-1a, 64 bits), to notice a released file that changed.
pub fn checksum(cql: &str) -> String {
    let hash = cql.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// `CREATE KEYSPACE IF NOT EXISTS` with NetworkTopologyStrategy, the configured replication, and
/// the `tablets` option decided by `tablets::keyspace_tablets`.
pub fn keyspace_statement(config: &ScyllaConfig, tablets: Option<bool>) -> String {
    let mut statement = format!(
        "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {{'class': 'NetworkTopologyStrategy', 'replication_factor': {}}}",
        config.keyspace, config.replication_factor
    );
    if let Some(enabled) = tablets {
        statement.push_str(&format!(" AND tablets = {{'enabled': {enabled}}}"));
    }
    statement
}

/// Whether a schema change failed only because it already took effect (a run interrupted
/// between the change and its record in the ledger).
fn already_applied(err: &ExecutionError) -> bool {
    match err {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, message)) => match db {
            DbError::AlreadyExists { .. } => true,
            DbError::Invalid => {
                let message = message.to_lowercase();
                message.contains("already exist") || message.contains("conflicts with an existing column")
            }
            _ => false,
        },
        _ => false,
    }
}

async fn schema_change(session: &Session, cql: &str) -> Result<(), StoreError> {
    let mut statement = Statement::new(cql);
    statement.set_request_timeout(Some(DDL_TIMEOUT));
    match session.query_unpaged(statement, ()).await {
        Ok(_) => {}
        Err(err) if already_applied(&err) => {
            tracing::info!(statement = cql, "schema change was already applied");
        }
        Err(err) => {
            return Err(match StoreError::from(err) {
                StoreError::Fatal(message) => StoreError::Fatal(format!("`{cql}`: {message}")),
                other => other,
            });
        }
    }
    session.await_schema_agreement().await?;
    Ok(())
}

/// The `[applied]` column of a lightweight transaction's answer (its first column).
fn applied(result: scylla::response::query_result::QueryResult) -> Result<bool, StoreError> {
    let rows = result.into_rows_result()?;
    let row = rows.maybe_first_row::<scylla::value::Row>()?;
    Ok(row
        .and_then(|row| row.columns.into_iter().next().flatten())
        .and_then(|value| value.as_boolean())
        .unwrap_or(false))
}

/// Applied versions and their checksums.
async fn applied_versions(session: &Session) -> Result<BTreeMap<i32, String>, StoreError> {
    let mut statement = Statement::new(cql::MIGRATIONS_SELECT.text);
    statement.set_page_size(1000);
    let result = session
        .query_unpaged(statement, ())
        .await
        .map_err(|err| match StoreError::from(err) {
            StoreError::Fatal(message) => StoreError::Fatal(format!(
                "no migrations recorded in this keyspace ({message}): run `herald migrate`"
            )),
            other => other,
        })?;
    let rows = result.into_rows_result()?;
    let mut applied = BTreeMap::new();
    for row in rows.rows::<(i32, Option<String>)>()? {
        let (version, checksum) = row?;
        applied.insert(version, checksum.unwrap_or_default());
    }
    Ok(applied)
}

fn warn_on_edits(applied: &BTreeMap<i32, String>) {
    for migration in MIGRATIONS {
        if let Some(recorded) = applied.get(&migration.version)
            && !recorded.is_empty()
            && *recorded != checksum(migration.cql)
        {
            tracing::warn!(
                version = migration.version,
                name = migration.name,
                "migration file changed after it was applied: migrations are append-only, add a new file instead"
            );
        }
    }
}

/// Fails unless every migration this build knows has been applied (`herald migrate`).
pub async fn check_applied(session: &Session) -> Result<(), StoreError> {
    let applied = applied_versions(session).await?;
    warn_on_edits(&applied);
    let missing: Vec<&str> = MIGRATIONS
        .iter()
        .filter(|m| !applied.contains_key(&m.version))
        .map(|m| m.name)
        .collect();
    if !missing.is_empty() {
        return Err(StoreError::Fatal(format!(
            "migrations not applied: {}; run `herald migrate`",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// Creates the keyspace if missing and applies every pending migration; returns the versions
/// this call applied (empty when there was nothing to do).
pub async fn migrate(config: &ScyllaConfig) -> Result<Vec<i32>, StoreError> {
    let session = connect(config, None).await?;
    let server = tablets::inspect(&session).await?;
    let tablets = tablets::keyspace_tablets(config.tablets, &server)?;
    tracing::info!(
        release = server.release_version.as_deref().unwrap_or("unknown"),
        tablets_feature = server.has_tablets(),
        lwt_on_tablets = server.has_lwt_on_tablets(),
        keyspace_tablets = ?tablets,
        "cluster inspected"
    );
    // the common case (every pod's init container): all applied, nothing to change, reads only
    if session.use_keyspace(config.keyspace.as_str(), false).await.is_ok()
        && let Ok(done) = applied_versions(&session).await
        && MIGRATIONS.iter().all(|m| done.contains_key(&m.version))
    {
        warn_on_edits(&done);
        check_keyspace(&session, &config.keyspace, &server).await?;
        return Ok(Vec::new());
    }
    schema_change(&session, &keyspace_statement(config, tablets)).await?;
    check_keyspace(&session, &config.keyspace, &server).await?;
    session.use_keyspace(config.keyspace.as_str(), false).await?;
    schema_change(&session, LEDGER).await?;
    schema_change(&session, LOCK).await?;

    let holder = format!("{}-{:x}", std::process::id(), herald_protocol::timefmt::now_nanos());
    let mut lock = Statement::new(cql::MIGRATION_LOCK.text);
    lock.set_serial_consistency(Some(scylla::statement::SerialConsistency::LocalSerial));
    lock.set_request_timeout(Some(config.request_timeout * 2));
    let deadline = Instant::now() + LOCK_WAIT;
    let mut locked = false;
    let outcome = async {
        loop {
            let done = applied_versions(&session).await?;
            warn_on_edits(&done);
            let pending: Vec<&Migration> = MIGRATIONS.iter().filter(|m| !done.contains_key(&m.version)).collect();
            if pending.is_empty() {
                return Ok(Vec::new());
            }
            if !locked {
                let result = session
                    .query_unpaged(lock.clone(), (holder.as_str(), LOCK_TTL_SECS))
                    .await?;
                locked = applied(result)?;
                if !locked {
                    if Instant::now() > deadline {
                        return Err(StoreError::Unavailable(
                            "another `herald migrate` has held the migration lock too long".into(),
                        ));
                    }
                    tracing::info!("another process is migrating: waiting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                // locked or not, look again: the other process may have finished
                continue;
            }
            return apply_pending(&session, pending, config.request_timeout).await;
        }
    }
    .await;
    if locked {
        let mut release = Statement::new(cql::MIGRATION_UNLOCK.text);
        release.set_serial_consistency(Some(scylla::statement::SerialConsistency::LocalSerial));
        release.set_request_timeout(Some(config.request_timeout * 2));
        if let Err(err) = session.query_unpaged(release, (holder.as_str(),)).await {
            tracing::warn!(error = %err, "could not release the migration lock: it expires by itself");
        }
    }
    outcome
}

/// Applies `pending` in order, recording each in the ledger once its statements ran (under the
/// migration lock); returns their versions.
async fn apply_pending(
    session: &Session,
    pending: Vec<&Migration>,
    request_timeout: Duration,
) -> Result<Vec<i32>, StoreError> {
    let mut done = Vec::new();
    for migration in pending {
        for statement in statements(migration.cql) {
            schema_change(session, &statement).await?;
        }
        let mut record = Statement::new(cql::MIGRATION_RECORD.text);
        record.set_request_timeout(Some(request_timeout));
        session
            .query_unpaged(record, (migration.version, migration.name, checksum(migration.cql)))
            .await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied cql migration"
        );
        done.push(migration.version);
    }
    Ok(done)
}

/// Fails when an existing keyspace is on tablets that cannot run Herald's lightweight
/// transactions (`CREATE KEYSPACE IF NOT EXISTS` leaves an existing keyspace as it is).
async fn check_keyspace(session: &Session, keyspace: &str, server: &Server) -> Result<(), StoreError> {
    let on_tablets = tablets::keyspace_on_tablets(session, keyspace, server).await?;
    tablets::check_keyspace(keyspace, on_tablets, server)
}

/// Drops the whole keyspace. For tests, which run in a keyspace of their own.
pub async fn drop_keyspace(config: &ScyllaConfig) -> Result<(), StoreError> {
    let session = connect(config, None).await?;
    schema_change(&session, &format!("DROP KEYSPACE IF EXISTS {}", config.keyspace)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_split_into_statements() {
        let cql = "-- a comment; with a semicolon\nCREATE TABLE IF NOT EXISTS a (\n  id int PRIMARY KEY -- trailing\n);\n\n\
                   CREATE TABLE IF NOT EXISTS b (id int PRIMARY KEY)\n  WITH comment = 'x';\n-- the end\n";
        assert_eq!(
            statements(cql),
            vec![
                "CREATE TABLE IF NOT EXISTS a ( id int PRIMARY KEY )",
                "CREATE TABLE IF NOT EXISTS b (id int PRIMARY KEY) WITH comment = 'x'",
            ]
        );
        assert!(statements("-- nothing\n\n").is_empty());
    }

    #[test]
    fn migrations_are_numbered_in_order_and_rerunnable() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            let version = i32::try_from(index + 1).unwrap();
            assert_eq!(migration.version, version, "numbered 1, 2, 3, ...");
            assert!(
                migration.name.starts_with(&format!("{version:03}_")),
                "{} is named by its number",
                migration.name
            );
            let statements = statements(migration.cql);
            assert!(!statements.is_empty());
            for statement in statements {
                if statement.starts_with("CREATE") {
                    assert!(statement.contains("IF NOT EXISTS"), "re-runnable: {statement}");
                }
                if let Some(table) = statement.strip_prefix("CREATE TABLE IF NOT EXISTS ") {
                    let name = table.split_whitespace().next().unwrap();
                    assert!(
                        !name.contains('.'),
                        "unqualified: migrate runs in the configured keyspace"
                    );
                }
            }
        }
    }

    #[test]
    fn checksums_notice_edits() {
        assert_eq!(checksum("a"), checksum("a"));
        assert_ne!(checksum("a"), checksum("b"));
        assert_eq!(checksum("").len(), 16);
    }

    #[test]
    fn the_keyspace_uses_network_topology() {
        let mut config = ScyllaConfig::new(vec!["db".into()], "herald");
        config.replication_factor = 3;
        assert_eq!(
            keyspace_statement(&config, None),
            "CREATE KEYSPACE IF NOT EXISTS herald WITH replication = \
             {'class': 'NetworkTopologyStrategy', 'replication_factor': 3}"
        );
        assert!(keyspace_statement(&config, Some(false)).ends_with(" AND tablets = {'enabled': false}"));
    }
}
