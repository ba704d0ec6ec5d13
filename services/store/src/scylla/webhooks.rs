//! `WebhookStore` on ScyllaDB (`005_webhooks.cql`, whose comments give each table's shape).
//!
//! Jobs live in one partition per (app, endpoint, events-log partition), clustered by (lane,
//! order, event id): the process owning that events-log partition reads it in lane order, and each
//! lane's first live row is the lane's head. The gateway derives the partition from the lane and
//! the order from the event, so the same event always lands on the same row.
//!
//! `enqueue` is a plain insert that cannot overwrite a job's state, not `INSERT ... IF NOT
//! EXISTS`: every event is enqueued for every endpoint, and a lightweight transaction (a Paxos
//! round, several round trips) per job would be the dispatcher's largest cost. The insert writes
//! only cells an enqueue owns (key, body, `first_at_ms`, `created_at_ms`); attempts, `next_at_ms`,
//! the dead flag and the last error are written only by retries, kills and replays, so a
//! re-enqueued job keeps them (a dead letter stays dead), and a re-enqueue writes the same values
//! again. A finished job's row is deleted: enqueued again, it is a fresh job (as on SQLite).
//!
//! Finish, retry, kill and replay name a job by event id, and a deleted endpoint's jobs must be
//! found: `webhook_job_keys` says where each job is. It is written before its job and deleted
//! after it, so a job always has its key. Dead letters are the rows with `dead = true`; their
//! oldest-first listing is `webhook_dead_letters`, written before the flag and deleted after a
//! replay, so an entry whose job is not dead (a replay cut short) is skipped. An update racing a
//! delete (a retry after the endpoint went) may leave a row without a body: readers ignore it.
//!
//! No call reads a whole partition into memory: scans stream page by page and stop at a cap.

use super::rows;
use super::store::ScyllaStore;
use crate::{StoreError, WebhookEndpoint, WebhookJob, WebhookStore};
use async_trait::async_trait;
use futures::StreamExt;
use herald_protocol::{AppId, SessionId};
use scylla::client::pager::TypedRowStream;

/// The one partition of `webhook_apps`.
const FEED: &str = "all";
/// Most job rows one `due_jobs` reads: lanes beyond them wait for a later call (each call starts
/// from the first lane, and finished jobs leave the partition, so the lanes ahead move on).
pub const MAX_DUE_SCAN: usize = 10_000;
/// Most dead-letter entries one `dead_jobs` reads, stale ones (a replay cut short) included.
pub const MAX_DEAD_SCAN: usize = 10_000;
/// Rows handled per round of point reads or writes (each round runs `concurrency` at a time).
const CHUNK: usize = 64;

/// A `webhook_endpoints` row as `cql::ENDPOINTS_SELECT` reads it.
type EndpointRow = (
    String,
    String,
    Option<String>,
    Option<Vec<String>>,
    Option<String>,
    Option<i64>,
);

/// A `webhook_jobs` row as `cql::JOB_SELECT` reads it: lane, lane_order, event_id, body, attempts,
/// first_at_ms, next_at_ms, created_at_ms, dead, last_error, trace.
type JobRow = (
    String,
    i64,
    String,
    Option<String>,
    Option<i32>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<bool>,
    Option<String>,
    Option<String>,
);

/// Where a job is (`cql::JOB_KEYS_SELECT`, `cql::DEAD_LETTERS_SELECT`): event_id, log_partition,
/// lane, lane_order, created_at_ms.
type PlaceRow = (String, i32, String, i64, Option<i64>);

/// A job's place in `webhook_jobs` beyond its (app, endpoint), and its creation time (the key of
/// its dead letter).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    event_id: String,
    partition: i32,
    lane: String,
    order: i64,
    created_at_ms: i64,
}

impl Place {
    fn from_row((event_id, partition, lane, order, created_at_ms): PlaceRow) -> Self {
        Place {
            event_id,
            partition,
            lane,
            order,
            created_at_ms: created_at_ms.unwrap_or_default(),
        }
    }

    fn of(job: &WebhookJob) -> Result<Self, StoreError> {
        Ok(Place {
            event_id: job.event_id.clone(),
            partition: cql_partition(job.partition)?,
            lane: job.lane.clone(),
            order: job.order,
            created_at_ms: job.created_at_ms,
        })
    }

    /// The whole primary key of the job's row, in `job_key!` order.
    fn key<'a>(&'a self, app: &'a AppId, endpoint: &'a str) -> (&'a str, &'a str, i32, &'a str, i64, &'a str) {
        (
            app.as_str(),
            endpoint,
            self.partition,
            &self.lane,
            self.order,
            &self.event_id,
        )
    }
}

fn cql_partition(partition: u32) -> Result<i32, StoreError> {
    i32::try_from(partition).map_err(|_| StoreError::Fatal(format!("events-log partition {partition} out of range")))
}

fn cql_attempts(attempts: u32) -> i32 {
    i32::try_from(attempts).unwrap_or(i32::MAX)
}

/// The endpoint of a row, or `None` for a row without a URL (never written whole).
fn endpoint(row: EndpointRow) -> Result<Option<WebhookEndpoint>, StoreError> {
    let (app, id, url, events, secret, created_at_ms) = row;
    let Some(url) = url else {
        return Ok(None);
    };
    Ok(Some(WebhookEndpoint {
        app: rows::app_id(app)?,
        id,
        url,
        events: events.unwrap_or_default(),
        secret: secret.unwrap_or_default(),
        created_at_ms: created_at_ms.unwrap_or_default(),
    }))
}

/// The job of a row of (app, endpoint, partition), or `None` for a row without a body (an update
/// that landed after the job was deleted). Unwritten queue cells read as a fresh job's.
fn job(app: &AppId, endpoint: &str, partition: u32, row: JobRow) -> Option<WebhookJob> {
    let (lane, order, event_id, body, attempts, first_at_ms, next_at_ms, created_at_ms, dead, last_error, trace) = row;
    Some(WebhookJob {
        app: app.clone(),
        endpoint: endpoint.to_owned(),
        event_id,
        partition,
        lane,
        order,
        body: body?,
        attempts: attempts.map_or(0, |n| u32::try_from(n).unwrap_or(0)),
        next_at_ms: next_at_ms.or(first_at_ms).unwrap_or_default(),
        created_at_ms: created_at_ms.unwrap_or_default(),
        dead: dead.unwrap_or(false),
        last_error: last_error.unwrap_or_default(),
        trace,
    })
}

/// What the due-jobs scan does after a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Read,
    /// The rest of this row's lane cannot change the answer: read from the next lane.
    SkipLane,
}

/// The due-jobs scan of one partition, fed its rows in lane order: the first live job of each lane
/// is the lane's head (dead letters and bodiless rows are passed over), kept if it is due.
#[derive(Debug)]
struct Heads {
    now_ms: i64,
    scanned: usize,
    /// The lane whose head was seen.
    settled: Option<String>,
    due: Vec<WebhookJob>,
}

impl Heads {
    fn new(now_ms: i64) -> Self {
        Heads {
            now_ms,
            scanned: 0,
            settled: None,
            due: Vec::new(),
        }
    }

    fn see(&mut self, lane: &str, job: Option<WebhookJob>) -> Next {
        self.scanned += 1;
        if self.settled.as_deref() == Some(lane) {
            return Next::SkipLane;
        }
        if let Some(job) = job.filter(|job| !job.dead) {
            self.settled = Some(lane.to_owned());
            if job.next_at_ms <= self.now_ms {
                self.due.push(job);
            }
        }
        Next::Read
    }

    /// At most `limit` heads, oldest first by order (then lane).
    fn into_due(mut self, limit: usize) -> Vec<WebhookJob> {
        self.due.sort_by(|a, b| (a.order, &a.lane).cmp(&(b.order, &b.lane)));
        self.due.truncate(limit);
        self.due
    }
}

/// Up to `n` places from a stream of them.
async fn take_places(stream: &mut TypedRowStream<PlaceRow>, n: usize) -> Result<Vec<Place>, StoreError> {
    let mut places = Vec::with_capacity(n);
    while places.len() < n {
        match stream.next().await {
            Some(row) => places.push(Place::from_row(row?)),
            None => break,
        }
    }
    Ok(places)
}

impl ScyllaStore {
    async fn put_hook(&self, e: &WebhookEndpoint) -> Result<(), StoreError> {
        // the registry first: an endpoint the dispatcher cannot find would never be sent to
        self.write(&self.hooks.webhook_app_insert, (FEED, e.app.as_str()))
            .await?;
        let values = (
            e.app.as_str(),
            e.id.as_str(),
            e.url.as_str(),
            &e.events,
            e.secret.as_str(),
            e.created_at_ms,
        );
        self.write(&self.hooks.endpoint_insert, values).await
    }

    async fn hooks_of(&self, app: &AppId) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let found: Vec<EndpointRow> = self.rows(&self.hooks.endpoints_select, (app.as_str(),)).await?;
        let mut endpoints = Vec::with_capacity(found.len());
        for row in found {
            endpoints.extend(endpoint(row)?);
        }
        endpoints.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        Ok(endpoints)
    }

    async fn every_hook(&self) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let apps: Vec<(String,)> = self.rows(&self.hooks.webhook_apps_select, (FEED,)).await?;
        let apps = apps
            .into_iter()
            .map(|(app,)| rows::app_id(app))
            .collect::<Result<Vec<_>, _>>()?;
        let endpoints = self
            .in_order(apps.iter().map(|app| self.hooks_of(app)).collect())
            .await?;
        Ok(endpoints.into_iter().flatten().collect())
    }

    async fn delete_hook(&self, app: &AppId, id: &str) -> Result<bool, StoreError> {
        let found: Option<EndpointRow> = self.first(&self.hooks.endpoint_select, (app.as_str(), id)).await?;
        self.write(&self.hooks.endpoint_delete, (app.as_str(), id)).await?;
        // its jobs, by their keys, page by page (also after a delete cut short: `found` may be none)
        let mut keys = self.stream(&self.hooks.job_keys_select, (app.as_str(), id)).await?;
        loop {
            let places = take_places(&mut keys, CHUNK).await?;
            if places.is_empty() {
                break;
            }
            let deletes = places
                .iter()
                .map(|place| self.write(&self.hooks.job_delete, place.key(app, id)));
            self.all(deletes.collect()).await?;
        }
        self.write(&self.hooks.dead_letters_delete, (app.as_str(), id)).await?;
        self.write(&self.hooks.job_keys_delete, (app.as_str(), id)).await?;
        Ok(found.is_some())
    }

    async fn enqueue_one(&self, job: &WebhookJob) -> Result<(), StoreError> {
        let place = Place::of(job)?;
        let (app, endpoint) = (job.app.as_str(), job.endpoint.as_str());
        let key = (
            app,
            endpoint,
            job.event_id.as_str(),
            place.partition,
            job.lane.as_str(),
            job.order,
            job.created_at_ms,
        );
        self.write(&self.hooks.job_key_insert, key).await?;
        let row = (
            app,
            endpoint,
            place.partition,
            job.lane.as_str(),
            job.order,
            job.event_id.as_str(),
            job.body.as_str(),
            job.next_at_ms,
            job.created_at_ms,
            job.trace.as_deref(),
        );
        self.write(&self.hooks.job_insert, row).await
    }

    async fn due(
        &self,
        app: &AppId,
        endpoint: &str,
        partition: u32,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<WebhookJob>, StoreError> {
        let cql_part = cql_partition(partition)?;
        let mut heads = Heads::new(now_ms);
        // lanes are conversation and session ids, never empty: '' is before the first
        let mut after = String::new();
        'scan: loop {
            let values = (app.as_str(), endpoint, cql_part, after.as_str());
            let mut rows = self.stream::<JobRow, 4>(&self.hooks.jobs_after_lane, values).await?;
            while let Some(row) = rows.next().await {
                if heads.scanned >= MAX_DUE_SCAN {
                    tracing::warn!(app = %app, endpoint, partition, "due_jobs stopped at {MAX_DUE_SCAN} rows");
                    break 'scan;
                }
                let row = row?;
                let lane = row.0.clone();
                if heads.see(&lane, job(app, endpoint, partition, row)) == Next::SkipLane {
                    after = lane;
                    continue 'scan;
                }
            }
            break;
        }
        Ok(heads.into_due(limit))
    }

    async fn place_of(&self, app: &AppId, endpoint: &str, event_id: &str) -> Result<Option<Place>, StoreError> {
        let row: Option<(i32, String, i64, Option<i64>)> = self
            .first(&self.hooks.job_key_select, (app.as_str(), endpoint, event_id))
            .await?;
        Ok(row.map(|(partition, lane, order, created_at_ms)| {
            Place::from_row((event_id.to_owned(), partition, lane, order, created_at_ms))
        }))
    }

    async fn job_at(&self, app: &AppId, endpoint: &str, place: &Place) -> Result<Option<WebhookJob>, StoreError> {
        let row: Option<JobRow> = self.first(&self.hooks.job_select, place.key(app, endpoint)).await?;
        let partition = u32::try_from(place.partition).unwrap_or_default();
        Ok(row.and_then(|row| job(app, endpoint, partition, row)))
    }

    async fn finish(&self, app: &AppId, endpoint: &str, event_id: &str) -> Result<(), StoreError> {
        let Some(place) = self.place_of(app, endpoint, event_id).await? else {
            return Ok(());
        };
        self.write(&self.hooks.job_delete, place.key(app, endpoint)).await?;
        self.write(&self.hooks.job_key_delete, (app.as_str(), endpoint, event_id))
            .await
    }

    async fn retry(
        &self,
        app: &AppId,
        endpoint: &str,
        event_id: &str,
        attempts: u32,
        next_at_ms: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        let Some(place) = self.place_of(app, endpoint, event_id).await? else {
            return Ok(());
        };
        let (a, e, partition, lane, order, id) = place.key(app, endpoint);
        let values = (
            cql_attempts(attempts),
            next_at_ms,
            error,
            a,
            e,
            partition,
            lane,
            order,
            id,
        );
        self.write(&self.hooks.job_retry, values).await
    }

    async fn kill(&self, app: &AppId, endpoint: &str, event_id: &str, error: &str) -> Result<(), StoreError> {
        let Some(place) = self.place_of(app, endpoint, event_id).await? else {
            return Ok(());
        };
        // the listing first: a dead job missing from it could never be seen or replayed
        let entry = (
            app.as_str(),
            endpoint,
            place.created_at_ms,
            event_id,
            place.partition,
            place.lane.as_str(),
            place.order,
        );
        self.write(&self.hooks.dead_letter_insert, entry).await?;
        let (a, e, partition, lane, order, id) = place.key(app, endpoint);
        self.write(&self.hooks.job_kill, (error, a, e, partition, lane, order, id))
            .await
    }

    async fn dead(&self, app: &AppId, endpoint: &str, limit: usize) -> Result<Vec<WebhookJob>, StoreError> {
        let mut entries = self
            .stream(&self.hooks.dead_letters_select, (app.as_str(), endpoint))
            .await?;
        let (mut dead, mut scanned) = (Vec::new(), 0);
        while dead.len() < limit && scanned < MAX_DEAD_SCAN {
            let places = take_places(&mut entries, CHUNK.min(MAX_DEAD_SCAN - scanned)).await?;
            if places.is_empty() {
                break;
            }
            scanned += places.len();
            let jobs = self
                .in_order(places.iter().map(|place| self.job_at(app, endpoint, place)).collect())
                .await?;
            dead.extend(jobs.into_iter().flatten().filter(|job| job.dead));
        }
        dead.truncate(limit);
        Ok(dead)
    }

    /// Makes the job at `place` live again if it is dead; true if it was. Its dead-letter entry
    /// goes after it, and so does a stale one when `clean` (the entry's job is not dead).
    async fn replay_one(
        &self,
        app: &AppId,
        endpoint: &str,
        place: &Place,
        now_ms: i64,
        clean: bool,
    ) -> Result<bool, StoreError> {
        let dead = self.job_at(app, endpoint, place).await?.is_some_and(|job| job.dead);
        if dead {
            let (a, e, partition, lane, order, id) = place.key(app, endpoint);
            self.write(&self.hooks.job_replay, (now_ms, a, e, partition, lane, order, id))
                .await?;
        }
        if dead || clean {
            let entry = (app.as_str(), endpoint, place.created_at_ms, place.event_id.as_str());
            self.write(&self.hooks.dead_letter_delete, entry).await?;
        }
        Ok(dead)
    }

    async fn replay(
        &self,
        app: &AppId,
        endpoint: &str,
        event_ids: Option<&[String]>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut replayed = 0;
        match event_ids {
            Some(ids) => {
                for ids in ids.chunks(CHUNK) {
                    let places = self
                        .in_order(ids.iter().map(|id| self.place_of(app, endpoint, id)).collect())
                        .await?;
                    let places: Vec<Place> = places.into_iter().flatten().collect();
                    let done = self
                        .in_order(
                            places
                                .iter()
                                .map(|place| self.replay_one(app, endpoint, place, now_ms, false))
                                .collect(),
                        )
                        .await?;
                    replayed += done.into_iter().filter(|was_dead| *was_dead).count() as u64;
                }
            }
            None => {
                // every entry, page by page (each one read is one handled: no cap)
                let mut entries = self
                    .stream(&self.hooks.dead_letters_select, (app.as_str(), endpoint))
                    .await?;
                loop {
                    let places = take_places(&mut entries, CHUNK).await?;
                    if places.is_empty() {
                        break;
                    }
                    let done = self
                        .in_order(
                            places
                                .iter()
                                .map(|place| self.replay_one(app, endpoint, place, now_ms, true))
                                .collect(),
                        )
                        .await?;
                    replayed += done.into_iter().filter(|was_dead| *was_dead).count() as u64;
                }
            }
        }
        Ok(replayed)
    }
}

#[async_trait]
impl WebhookStore for ScyllaStore {
    async fn put_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError> {
        self.timed("write", self.put_hook(endpoint)).await
    }

    async fn endpoints(&self, app: &AppId) -> Result<Vec<WebhookEndpoint>, StoreError> {
        self.timed("read", self.hooks_of(app)).await
    }

    async fn all_endpoints(&self) -> Result<Vec<WebhookEndpoint>, StoreError> {
        self.timed("read", self.every_hook()).await
    }

    async fn delete_endpoint(&self, app: &AppId, id: &str) -> Result<bool, StoreError> {
        self.timed("write", self.delete_hook(app, id)).await
    }

    async fn set_endpoint_secret(&self, app: &AppId, id: &str, secret: &str) -> Result<bool, StoreError> {
        self.timed("write", async {
            let outcome = self
                .lwt(&self.hooks.endpoint_set_secret, (secret, app.as_str(), id))
                .await?;
            Ok(outcome.applied)
        })
        .await
    }

    async fn enqueue(&self, jobs: &[WebhookJob]) -> Result<(), StoreError> {
        self.timed(
            "write",
            self.all(jobs.iter().map(|job| self.enqueue_one(job)).collect()),
        )
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
        self.timed("read", self.due(app, endpoint, partition, now_ms, limit))
            .await
    }

    async fn finish_job(&self, app: &AppId, endpoint: &str, event_id: &str) -> Result<(), StoreError> {
        self.timed("write", self.finish(app, endpoint, event_id)).await
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
        self.timed(
            "write",
            self.retry(app, endpoint, event_id, attempts, next_at_ms, error),
        )
        .await
    }

    async fn kill_job(&self, app: &AppId, endpoint: &str, event_id: &str, error: &str) -> Result<(), StoreError> {
        self.timed("write", self.kill(app, endpoint, event_id, error)).await
    }

    async fn dead_jobs(&self, app: &AppId, endpoint: &str, limit: usize) -> Result<Vec<WebhookJob>, StoreError> {
        self.timed("read", self.dead(app, endpoint, limit)).await
    }

    async fn replay_jobs(
        &self,
        app: &AppId,
        endpoint: &str,
        event_ids: Option<&[String]>,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        self.timed("write", self.replay(app, endpoint, event_ids, now_ms)).await
    }

    async fn set_bot(&self, app: &AppId, session: &SessionId, bot: bool) -> Result<(), StoreError> {
        self.timed("write", async {
            let values = (app.as_str(), session.as_str());
            if bot {
                self.write(&self.hooks.bot_insert, values).await
            } else {
                self.write(&self.hooks.bot_delete, values).await
            }
        })
        .await
    }

    async fn bots(&self, app: &AppId) -> Result<Vec<SessionId>, StoreError> {
        self.timed("read", async {
            let found: Vec<(String,)> = self.rows(&self.hooks.bots_select, (app.as_str(),)).await?;
            found.into_iter().map(|(session,)| rows::session_id(session)).collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests;
