//! `WebhookStore` on SQLite: endpoints, the delivery queue (one row per (endpoint, event); a
//! partial index in lane order finds each lane's first live job, another the dead letters), and
//! bot sessions.

use super::rows::{self, ENDPOINT_COLUMNS, JOB_COLUMNS};
use super::{SqliteStore, map_err};
use crate::{StoreError, WebhookEndpoint, WebhookJob, WebhookStore};
use async_trait::async_trait;
use herald_protocol::{AppId, SessionId};
use rusqlite::{TransactionBehavior, params};

/// A row count as SQLite's `LIMIT`.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn put_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError> {
        let e = endpoint.clone();
        let events = serde_json::to_string(&e.events).map_err(|err| StoreError::Fatal(err.to_string()))?;
        self.write(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                     ON CONFLICT (app_id, endpoint_id) DO UPDATE SET url = excluded.url, events = excluded.events, \
                     secret = excluded.secret, created_at_ms = excluded.created_at_ms"
                ),
                params![e.app.as_str(), e.id, e.url, events, e.secret, e.created_at_ms],
            )
            .map(|_| ())
            .map_err(map_err)
        })
        .await
    }

    async fn endpoints(&self, app: &AppId) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let app = app.clone();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE app_id = ?1 ORDER BY created_at_ms, endpoint_id"
            ))?
            .query_map([app.as_str()], rows::endpoint)?
            .collect()
        })
        .await
    }

    async fn all_endpoints(&self) -> Result<Vec<WebhookEndpoint>, StoreError> {
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY app_id, created_at_ms, endpoint_id"
            ))?
            .query_map([], rows::endpoint)?
            .collect()
        })
        .await
    }

    async fn delete_endpoint(&self, app: &AppId, id: &str) -> Result<bool, StoreError> {
        let (app, id) = (app.clone(), id.to_owned());
        self.write(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            tx.execute(
                "DELETE FROM webhook_jobs WHERE app_id = ?1 AND endpoint_id = ?2",
                [app.as_str(), id.as_str()],
            )
            .map_err(map_err)?;
            let deleted = tx
                .execute(
                    "DELETE FROM webhook_endpoints WHERE app_id = ?1 AND endpoint_id = ?2",
                    [app.as_str(), id.as_str()],
                )
                .map_err(map_err)?;
            tx.commit().map_err(map_err)?;
            Ok(deleted == 1)
        })
        .await
    }

    async fn set_endpoint_secret(&self, app: &AppId, id: &str, secret: &str) -> Result<bool, StoreError> {
        let (app, id, secret) = (app.clone(), id.to_owned(), secret.to_owned());
        self.write(move |c| {
            let changed = c
                .execute(
                    "UPDATE webhook_endpoints SET secret = ?3 WHERE app_id = ?1 AND endpoint_id = ?2",
                    [app.as_str(), id.as_str(), secret.as_str()],
                )
                .map_err(map_err)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn enqueue(&self, jobs: &[WebhookJob]) -> Result<(), StoreError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let jobs = jobs.to_vec();
        self.write(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            insert_jobs(&tx, &jobs)?;
            tx.commit().map_err(map_err)
        })
        .await
    }

    async fn due_jobs(
        &self,
        app: &AppId,
        endpoint: &str,
        partition: u32,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<WebhookJob>, StoreError> {
        let (app, endpoint) = (app.clone(), endpoint.to_owned());
        self.read(move |c| {
            // the live jobs of the partition come in lane order off `webhook_jobs_lanes` (hence
            // `dead = 0` spelled out); the first of each lane is its head, sent only when due
            c.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM (SELECT {JOB_COLUMNS}, \
                 ROW_NUMBER() OVER (PARTITION BY lane ORDER BY lane_order, event_id) AS place \
                 FROM webhook_jobs WHERE app_id = ?1 AND endpoint_id = ?2 AND log_partition = ?3 AND dead = 0) \
                 WHERE place = 1 AND next_at_ms <= ?4 ORDER BY lane_order, lane LIMIT ?5"
            ))?
            .query_map(
                params![app.as_str(), endpoint, partition, now_ms, sql_limit(limit)],
                rows::job,
            )?
            .collect()
        })
        .await
    }

    async fn finish_job(&self, app: &AppId, endpoint: &str, event_id: &str) -> Result<(), StoreError> {
        let (app, endpoint, event_id) = (app.clone(), endpoint.to_owned(), event_id.to_owned());
        self.write(move |c| {
            c.execute(
                "DELETE FROM webhook_jobs WHERE app_id = ?1 AND endpoint_id = ?2 AND event_id = ?3",
                [app.as_str(), endpoint.as_str(), event_id.as_str()],
            )
            .map(|_| ())
            .map_err(map_err)
        })
        .await
    }

    async fn retry_job(
        &self,
        app: &AppId,
        endpoint: &str,
        event_id: &str,
        attempts: u32,
        next_at_ms: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        let (app, endpoint, event_id, error) =
            (app.clone(), endpoint.to_owned(), event_id.to_owned(), error.to_owned());
        self.write(move |c| {
            c.execute(
                "UPDATE webhook_jobs SET attempts = ?4, next_at_ms = ?5, last_error = ?6 \
                 WHERE app_id = ?1 AND endpoint_id = ?2 AND event_id = ?3",
                params![app.as_str(), endpoint, event_id, attempts, next_at_ms, error],
            )
            .map(|_| ())
            .map_err(map_err)
        })
        .await
    }

    async fn kill_job(&self, app: &AppId, endpoint: &str, event_id: &str, error: &str) -> Result<(), StoreError> {
        let (app, endpoint, event_id, error) =
            (app.clone(), endpoint.to_owned(), event_id.to_owned(), error.to_owned());
        self.write(move |c| {
            c.execute(
                "UPDATE webhook_jobs SET dead = 1, last_error = ?4 WHERE app_id = ?1 AND endpoint_id = ?2 AND event_id = ?3",
                params![app.as_str(), endpoint, event_id, error],
            )
            .map(|_| ())
            .map_err(map_err)
        })
        .await
    }

    async fn dead_jobs(&self, app: &AppId, endpoint: &str, limit: usize) -> Result<Vec<WebhookJob>, StoreError> {
        let (app, endpoint) = (app.clone(), endpoint.to_owned());
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM webhook_jobs WHERE app_id = ?1 AND endpoint_id = ?2 AND dead = 1 \
                 ORDER BY created_at_ms, event_id LIMIT ?3"
            ))?
            .query_map(params![app.as_str(), endpoint, sql_limit(limit)], rows::job)?
            .collect()
        })
        .await
    }

    async fn replay_jobs(
        &self,
        app: &AppId,
        endpoint: &str,
        event_ids: Option<&[String]>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let (app, endpoint, event_ids) = (app.clone(), endpoint.to_owned(), event_ids.map(<[String]>::to_vec));
        self.write(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            const REPLAY: &str = "UPDATE webhook_jobs SET dead = 0, attempts = 0, next_at_ms = ?3, last_error = '' \
                 WHERE app_id = ?1 AND endpoint_id = ?2 AND dead = 1";
            let replayed = match event_ids {
                None => tx
                    .execute(REPLAY, params![app.as_str(), endpoint, now_ms])
                    .map_err(map_err)?,
                Some(ids) => {
                    let mut one = tx
                        .prepare_cached(&format!("{REPLAY} AND event_id = ?4"))
                        .map_err(map_err)?;
                    let mut replayed = 0;
                    for id in &ids {
                        replayed += one
                            .execute(params![app.as_str(), endpoint, now_ms, id])
                            .map_err(map_err)?;
                    }
                    replayed
                }
            };
            tx.commit().map_err(map_err)?;
            Ok(replayed as u64)
        })
        .await
    }

    async fn set_bot(&self, app: &AppId, session: &SessionId, bot: bool) -> Result<(), StoreError> {
        let (app, session) = (app.clone(), session.clone());
        self.write(move |c| {
            let sql = if bot {
                "INSERT INTO webhook_bots (app_id, session) VALUES (?1, ?2) ON CONFLICT DO NOTHING"
            } else {
                "DELETE FROM webhook_bots WHERE app_id = ?1 AND session = ?2"
            };
            c.execute(sql, [app.as_str(), session.as_str()])
                .map(|_| ())
                .map_err(map_err)
        })
        .await
    }

    async fn bots(&self, app: &AppId) -> Result<Vec<SessionId>, StoreError> {
        let app = app.clone();
        self.read(move |c| {
            c.prepare_cached("SELECT session FROM webhook_bots WHERE app_id = ?1 ORDER BY session")?
                .query_map([app.as_str()], |r| rows::session(r, 0))?
                .collect()
        })
        .await
    }
}

/// Queues `jobs` inside `tx` (the queue's own transaction, or a sequenced batch's); a job queued
/// already, live or dead, keeps its attempts and state.
pub(super) fn insert_jobs(tx: &rusqlite::Connection, jobs: &[WebhookJob]) -> Result<(), StoreError> {
    let mut insert = tx
        .prepare_cached(&format!(
            "INSERT INTO webhook_jobs ({JOB_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
             ON CONFLICT (app_id, endpoint_id, event_id) DO NOTHING"
        ))
        .map_err(map_err)?;
    for j in jobs {
        insert
            .execute(params![
                j.app.as_str(),
                j.endpoint,
                j.event_id,
                j.partition,
                j.lane,
                j.order,
                j.body,
                j.attempts,
                j.next_at_ms,
                j.created_at_ms,
                j.dead,
                j.last_error,
                j.trace,
            ])
            .map_err(map_err)?;
    }
    Ok(())
}
