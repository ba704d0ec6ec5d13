//! Webhooks (protocol §10): an app's endpoints, the deliveries waiting for them (a durable queue
//! the dispatcher drains: a crash or restart resumes where it stopped), their dead letters, and
//! the sessions marked as bots.

use crate::StoreError;
use async_trait::async_trait;
use herald_protocol::{AppId, SessionId};

/// Endpoints one app may have.
pub const MAX_ENDPOINTS_PER_APP: usize = 16;

/// Where an app wants its events, and which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub app: AppId,
    /// Unique within the app (the gateway makes it).
    pub id: String,
    pub url: String,
    /// The event types it wants (`message.created`, ...).
    pub events: Vec<String>,
    /// The HMAC-SHA256 signing secret. Stored as it is, like an app's token signing key: Herald
    /// must sign with it, so it cannot keep only a hash; it is shown to the app only when made
    /// or rotated, and never listed.
    pub secret: String,
    /// Unix milliseconds.
    pub created_at_ms: i64,
}

/// One event for one endpoint: waiting, being retried, or dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookJob {
    pub app: AppId,
    pub endpoint: String,
    /// The event's id (the receiver's dedupe key): one job per (endpoint, event id).
    pub event_id: String,
    /// The events-log partition of the lane (`herald_protocol::partition_of` its conversation or
    /// session): the process that owns that partition sends the lane's jobs, so one job is sent by
    /// one process at a time.
    pub partition: u32,
    /// Jobs of one lane go out one at a time, in `order`: a conversation's events (its id), or a
    /// session's (friend and presence events); a dead-lettered job no longer holds its lane.
    pub lane: String,
    /// The position in the lane (the events log's position, or a clock for gateway events).
    pub order: i64,
    /// The request body, as it is signed and sent.
    pub body: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// Unix milliseconds: not sent before.
    pub next_at_ms: i64,
    pub created_at_ms: i64,
    pub dead: bool,
    /// Why the last attempt failed ("" before any).
    pub last_error: String,
    /// The W3C `traceparent` of the span that queued it (the event's trace), so the request is
    /// sent in a span of that trace, and the receiver is handed it too.
    pub trace: Option<String>,
}

/// An app's webhook endpoints, their queue and its dead letters, and its bot sessions. Users:
/// the gateway (the `/inner/webhooks` routes, bots) and the webhook dispatcher.
#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    /// Adds or replaces the endpoint (app, id).
    async fn put_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError>;
    /// The app's endpoints, in creation order.
    async fn endpoints(&self, app: &AppId) -> Result<Vec<WebhookEndpoint>, StoreError>;
    /// Every app's endpoints (the dispatcher's view; at most `MAX_ENDPOINTS_PER_APP` per app).
    async fn all_endpoints(&self) -> Result<Vec<WebhookEndpoint>, StoreError>;
    /// Removes the endpoint and every job of it; false if there was none.
    async fn delete_endpoint(&self, app: &AppId, id: &str) -> Result<bool, StoreError>;
    /// Replaces the endpoint's secret; false if there is no such endpoint.
    async fn set_endpoint_secret(&self, app: &AppId, id: &str, secret: &str) -> Result<bool, StoreError>;

    /// Queues jobs; a job whose (endpoint, event id) is queued already (live or dead) is left as it is.
    async fn enqueue(&self, jobs: &[WebhookJob]) -> Result<(), StoreError>;
    /// For each lane of the endpoint in events-log partition `partition` (the lanes the caller
    /// sends: it owns that partition), its first live job (lowest `order`, then event id) if it is
    /// due at `now_ms`; at most `limit` of them, oldest first by `order` (then lane).
    async fn due_jobs(
        &self,
        app: &AppId,
        endpoint: &str,
        partition: u32,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<WebhookJob>, StoreError>;
    /// The job was delivered: it is gone.
    async fn finish_job(&self, app: &AppId, endpoint: &str, event_id: &str) -> Result<(), StoreError>;
    /// The job failed: tried `attempts` times, next not before `next_at_ms`, and why.
    async fn retry_job(
        &self,
        app: &AppId,
        endpoint: &str,
        event_id: &str,
        attempts: u32,
        next_at_ms: i64,
        error: &str,
    ) -> Result<(), StoreError>;
    /// The job is dead-lettered (it no longer holds its lane).
    async fn kill_job(&self, app: &AppId, endpoint: &str, event_id: &str, error: &str) -> Result<(), StoreError>;
    /// The endpoint's dead letters, oldest first, at most `limit`.
    async fn dead_jobs(&self, app: &AppId, endpoint: &str, limit: usize) -> Result<Vec<WebhookJob>, StoreError>;
    /// Makes dead letters live again (all of the endpoint's, or those named), due now with no
    /// attempts; how many.
    async fn replay_jobs(
        &self,
        app: &AppId,
        endpoint: &str,
        event_ids: Option<&[String]>,
        now_ms: i64,
    ) -> Result<u64, StoreError>;

    /// Marks (or unmarks) a session of the app as a bot.
    async fn set_bot(&self, app: &AppId, session: &SessionId, bot: bool) -> Result<(), StoreError>;
    /// The app's bot sessions.
    async fn bots(&self, app: &AppId) -> Result<Vec<SessionId>, StoreError>;
}
