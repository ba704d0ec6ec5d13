//! The bus: how roles talk. Commands and events are partitioned logs (JetStream streams, or an
//! in-process ring), gateways have an inbox each, and a small key-value space holds leases,
//! checkpoints and the routing table (session → gateways). Two backends, one conformance suite.

pub mod backoff;
pub mod consumer;
mod error;
pub mod inproc;
#[cfg(test)]
mod kv_fails;
mod log;
pub mod nats;
pub mod ownership;
mod payload;
mod routes;
#[cfg(any(test, feature = "testsuite"))]
pub mod testsuite;
pub mod trace;

pub use error::BusError;
pub use log::{LogEntry, LogReader};
pub use payload::Payload;
pub use routes::{PresenceChange, RouteKey, RouteTable};

use async_trait::async_trait;
use bytes::Bytes;
use herald_protocol::bus::GatewayMessage;
use herald_protocol::{AppId, GatewayId, SessionId};
use std::sync::Arc;
use tokio::sync::mpsc;

/// One message for a partitioned log.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub partition: u32,
    /// The log drops a second message with the same id inside its dedupe window. The
    /// in-process log compares every entry; a NATS log packs a batch's entries of a partition
    /// into one message and compares whole packs, so there an entry is compared on its own
    /// only when it is published alone or marked `repeat`, and found only if its earlier copy
    /// was too (`nats/pack.rs`).
    pub dedupe_id: String,
    pub payload: Payload,
    /// The publishing span's `traceparent`, carried beside the payload.
    pub trace: Option<String>,
    /// The entry may already be in the log (an event replayed or re-published): the log
    /// compares it on its own against its dedupe window, never as part of a pack.
    pub repeat: bool,
}

/// What a log said about one published message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// Stored at this position.
    Stored(u64),
    /// Dropped: a message with the same dedupe id is already in the log.
    Duplicate,
}

/// The two partitioned logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Log {
    Commands,
    Events,
}

/// Key-value buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Partition leases and role membership heartbeats.
    Leases,
    /// How far each partition's consumer has finished.
    Checkpoints,
}

/// A stored value and its revision (for compare-and-set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub value: Bytes,
    pub revision: u64,
}

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// How many partitions the logs have.
    fn partitions(&self) -> u32;

    /// Names this bus's logs for fencing: positions and epochs mean nothing outside it.
    fn scope(&self) -> &str;

    /// Publishes a batch, pipelined: all sent before any acknowledgement is awaited. One
    /// outcome per message, in order; `Ok` means the log has it durably.
    async fn publish(&self, log: Log, batch: Vec<Outgoing>) -> Vec<Result<Published, BusError>>;

    /// Reads one partition of a log in order, starting after position `after`.
    async fn read(&self, log: Log, partition: u32, after: u64) -> Result<LogReader, BusError>;

    /// `read` by a named reader (a role). Several roles read the events log (delivery and
    /// webhooks); a log that keeps entries only until they are read (the in-process one) keeps
    /// them until every role it was told of has finished them. A durable log ignores the name.
    async fn read_as(
        &self,
        log: Log,
        partition: u32,
        after: u64,
        _reader: &'static str,
    ) -> Result<LogReader, BusError> {
        self.read(log, partition, after).await
    }

    /// Sends to one gateway's inbox (at most once; lost when the gateway is gone). The payload
    /// must fit `max_payload`; `send_gateway_message` splits a batch so that it does.
    async fn send_to_gateway(&self, gateway: &GatewayId, payload: Payload) -> Result<(), BusError>;

    /// The largest payload one message may carry (NATS: the server's `max_payload`).
    fn max_payload(&self) -> usize;

    /// True when payloads stay in this process, so a [`Payload::value`] is handed over as it
    /// is (the in-process bus); false when every payload is serialized (NATS).
    fn carries_values(&self) -> bool {
        false
    }

    /// True when a message for `gateway` stays in this process (its inbox is here), so a
    /// [`Payload::value`] is handed over as it is.
    fn carries_values_to(&self, _gateway: &GatewayId) -> bool {
        self.carries_values()
    }

    /// This gateway's inbox. Bounded: senders in the gateway's own process wait while it is
    /// full; on NATS, messages from other processes are dropped once the subscription's buffer
    /// is full as well (at most once, like every inbox message).
    async fn gateway_inbox(&self, gateway: &GatewayId) -> Result<mpsc::Receiver<Payload>, BusError>;

    async fn kv_get(&self, bucket: Bucket, key: &str) -> Result<Option<Versioned>, BusError>;
    /// Creates the key; `None` when it exists.
    async fn kv_create(&self, bucket: Bucket, key: &str, value: Bytes) -> Result<Option<u64>, BusError>;
    /// Replaces the value if the revision still matches; `None` when it does not.
    async fn kv_update(&self, bucket: Bucket, key: &str, value: Bytes, revision: u64) -> Result<Option<u64>, BusError>;
    async fn kv_put(&self, bucket: Bucket, key: &str, value: Bytes) -> Result<u64, BusError>;
    /// Every live key under `prefix` with its value.
    async fn kv_scan(&self, bucket: Bucket, prefix: &str) -> Result<Vec<(String, Bytes)>, BusError>;

    /// Records that `gateway` holds connections of (app, session).
    async fn route_add(&self, app: &AppId, session: &SessionId, gateway: &GatewayId) -> Result<(), BusError>;
    async fn route_remove(&self, app: &AppId, session: &SessionId, gateway: &GatewayId) -> Result<(), BusError>;
    /// A local replica of the routing table, kept current in the background.
    async fn route_table(&self) -> Result<Arc<RouteTable>, BusError>;

    /// Publishes to an ephemeral chat room: every current subscriber gets it, at most once.
    async fn room_publish(&self, app: &AppId, room: &str, payload: Bytes) -> Result<(), BusError>;
    /// Subscribes to a room until the subscription is dropped.
    async fn room_subscribe(&self, app: &AppId, room: &str) -> Result<Subscription, BusError>;

    /// True while the bus can carry traffic.
    fn is_connected(&self) -> bool;
}

/// Messages of a subscription; dropping it unsubscribes.
pub struct Subscription {
    rx: mpsc::Receiver<Bytes>,
    feeder: tokio::task::AbortHandle,
}

impl Subscription {
    pub(crate) fn new(rx: mpsc::Receiver<Bytes>, feeder: tokio::task::AbortHandle) -> Self {
        Self { rx, feeder }
    }

    pub async fn recv(&mut self) -> Option<Bytes> {
        self.rx.recv().await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.feeder.abort();
    }
}

/// Messages a room subscription buffers before the oldest are lost.
pub const ROOM_BUFFER: usize = 1024;

/// Sends a batch of acks or deliveries to a gateway. To a gateway in this process it is handed
/// over whole, as a value (its count is capped upstream). Across processes it is serialized and split into as
/// many messages as the bus's `max_payload` requires; an item too large to send alone is
/// dropped, counted in `herald_gateway_items_too_large_total` and logged at warn: its client
/// recovers it from the store (history, or the retried send's answer).
pub async fn send_gateway_message(bus: &dyn Bus, gateway: &GatewayId, message: GatewayMessage) -> Result<(), BusError> {
    if bus.carries_values_to(gateway) {
        return bus.send_to_gateway(gateway, Payload::value(message)).await;
    }
    let encoded = message
        .encode_within(bus.max_payload())
        .map_err(|e| BusError::Unavailable(format!("encoding a gateway message: {e}")))?;
    if encoded.too_large > 0 {
        metrics::counter!("herald_gateway_items_too_large_total").increment(encoded.too_large as u64);
        tracing::warn!(%gateway, items = encoded.too_large, max_payload = bus.max_payload(), "items too large for one bus message were not sent");
    }
    if encoded.payloads.len() > 1 {
        metrics::counter!("herald_gateway_messages_split_total").increment(1);
    }
    for payload in encoded.payloads {
        bus.send_to_gateway(gateway, Payload::from(payload)).await?;
    }
    Ok(())
}
