//! The events an app's endpoints may ask for (protocol §10), how each is queued for them, and the
//! body every request carries: `{"id", "type", "app", "created_at", "data"}`.

use herald_protocol::partition::partition_of;
use herald_protocol::{AppId, ConvId, SessionId, timefmt};
use herald_store::{StoreError, WebhookEndpoint, WebhookJob, WebhookStore};
use serde_json::{Value, json};

pub const MESSAGE_CREATED: &str = "message.created";
pub const MESSAGE_RECALLED: &str = "message.recalled";
pub const CONVERSATION_CREATED: &str = "conversation.created";
pub const MEMBERS_CHANGED: &str = "members.changed";
pub const CONVERSATION_ARCHIVED: &str = "conversation.archived";
pub const FRIEND_REQUESTED: &str = "friend.requested";
pub const FRIEND_ACCEPTED: &str = "friend.accepted";
pub const FRIEND_REJECTED: &str = "friend.rejected";
pub const PRESENCE_CHANGED: &str = "presence.changed";
pub const OFFLINE_PUSH: &str = "offline_push";
pub const BOT_MESSAGE: &str = "bot.message";

/// Every type an endpoint may subscribe to. `presence.changed` is sent only to endpoints that
/// name it (it is opt-in like every type: an endpoint gets what it lists).
pub const ALL_TYPES: &[&str] = &[
    MESSAGE_CREATED,
    MESSAGE_RECALLED,
    CONVERSATION_CREATED,
    MEMBERS_CHANGED,
    CONVERSATION_ARCHIVED,
    FRIEND_REQUESTED,
    FRIEND_ACCEPTED,
    FRIEND_REJECTED,
    PRESENCE_CHANGED,
    OFFLINE_PUSH,
    BOT_MESSAGE,
];

/// One event for an app's endpoints, before it is queued.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub app: AppId,
    /// Stable across replays of what caused it: the receiver's dedupe key.
    pub id: String,
    pub kind: &'static str,
    /// Events of one lane reach an endpoint in order (a conversation, or a session).
    pub lane: Lane,
    /// The position in the lane (the events log's position, or a clock).
    pub order: i64,
    pub data: Value,
    /// Unix nanoseconds.
    pub created_at: i64,
    /// The W3C `traceparent` of the span it was made in: its request is sent in that trace.
    pub trace: Option<String>,
}

/// What orders an event among others.
#[derive(Debug, Clone)]
pub enum Lane {
    Conversation(ConvId),
    /// A session's own events (friends, presence): named `s:<session>`.
    Session(SessionId),
}

impl Lane {
    fn key(&self) -> String {
        match self {
            Lane::Conversation(conv) => conv.to_string(),
            Lane::Session(session) => format!("s:{session}"),
        }
    }

    /// The events-log partition whose owner sends this lane's jobs.
    pub fn partition(&self, app: &AppId, partitions: u32) -> u32 {
        match self {
            Lane::Conversation(conv) => partition_of(app, conv, partitions),
            Lane::Session(_) => match herald_protocol::ConvId::parse(self.key()) {
                Ok(key) => partition_of(app, &key, partitions),
                Err(_) => 0,
            },
        }
    }
}

/// The request body of an event, as it is signed and sent.
pub fn body(event: &Outgoing) -> String {
    json!({
        "id": event.id,
        "type": event.kind,
        "app": event.app,
        "created_at": timefmt::rfc3339_nanos(event.created_at),
        "data": event.data,
    })
    .to_string()
}

/// The jobs of `events` for the endpoints that asked for their types.
pub fn jobs(events: &[Outgoing], endpoints: &[WebhookEndpoint], partitions: u32, now_ms: i64) -> Vec<WebhookJob> {
    let mut jobs = Vec::new();
    for event in events {
        let wanting: Vec<&WebhookEndpoint> = endpoints
            .iter()
            .filter(|e| e.app == event.app && e.events.iter().any(|t| t == event.kind))
            .collect();
        if wanting.is_empty() {
            continue;
        }
        let body = body(event);
        let (lane, partition) = (event.lane.key(), event.lane.partition(&event.app, partitions));
        for endpoint in wanting {
            jobs.push(WebhookJob {
                app: event.app.clone(),
                endpoint: endpoint.id.clone(),
                event_id: event.id.clone(),
                partition,
                lane: lane.clone(),
                order: event.order,
                body: body.clone(),
                attempts: 0,
                next_at_ms: now_ms,
                created_at_ms: now_ms,
                dead: false,
                last_error: String::new(),
                trace: event.trace.clone(),
            });
        }
    }
    jobs
}

/// Queues events for the endpoints of their apps that want them (read now: an endpoint
/// registered before the event was made gets it). For what the gateway makes itself
/// (conversations created, friends, presence); the events log's are queued by the dispatcher.
pub async fn emit(store: &dyn WebhookStore, partitions: u32, events: &[Outgoing]) -> Result<(), StoreError> {
    let mut apps: Vec<&AppId> = events.iter().map(|e| &e.app).collect();
    apps.sort();
    apps.dedup();
    let mut endpoints = Vec::new();
    for app in apps {
        endpoints.extend(store.endpoints(app).await?);
    }
    if endpoints.is_empty() {
        return Ok(());
    }
    let jobs = jobs(events, &endpoints, partitions, now_ms());
    if jobs.is_empty() {
        return Ok(());
    }
    store.enqueue(&jobs).await?;
    count_queued(&jobs);
    Ok(())
}

/// Counts jobs once they are stored (`herald_webhook_events_queued_total`).
pub fn count_queued(jobs: &[WebhookJob]) {
    metrics::counter!("herald_webhook_events_queued_total").increment(jobs.len() as u64);
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    timefmt::now_nanos() / 1_000_000
}
