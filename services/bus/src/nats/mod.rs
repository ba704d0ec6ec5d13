//! The NATS JetStream bus of clusters: the two logs are streams with one subject per partition,
//! the key-value space is three KV buckets, and each gateway's inbox is a core NATS subject.
//! Streams and buckets are created, or checked, at connect (see `nats/README.md`).

mod kv;
mod setup;

pub use setup::{NatsAuth, NatsConfig, NatsTls, StreamLimits, redact_url};

/// Idle heartbeat a log reader asks the server for; two missed end the reader (and the
/// partition loop reads again from its checkpoint).
const READER_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(1);
/// How long opening a log reader (stream info, consumer creation) may take before it is retried.
const READER_SETUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// Lifetime of one pull request of a log reader.
const READER_PULL_EXPIRES: std::time::Duration = std::time::Duration::from_secs(5);
/// The server removes a reader's consumer this long after its reader went away.
const READER_INACTIVE_THRESHOLD: std::time::Duration = std::time::Duration::from_secs(30);

use crate::{
    Bucket, Bus, BusError, Log, LogEntry, LogReader, Outgoing, Payload, Published, ROOM_BUFFER, RouteTable,
    Subscription, Versioned,
};
use async_nats::jetstream;
use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use herald_protocol::{AppId, GatewayId, SessionId};
use std::sync::Arc;
use tokio::sync::{OnceCell, mpsc};

pub const COMMANDS_STREAM: &str = "HERALD_COMMANDS";
pub const EVENTS_STREAM: &str = "HERALD_EVENTS";
pub const LEASES_BUCKET: &str = "herald_leases";
pub const CHECKPOINTS_BUCKET: &str = "herald_checkpoints";
pub const ROUTES_BUCKET: &str = "herald_routes";

pub fn subject(log: Log, partition: u32) -> String {
    match log {
        Log::Commands => format!("herald.cmd.{partition}"),
        Log::Events => format!("herald.evt.{partition}"),
    }
}

pub fn gateway_subject(gateway: &GatewayId) -> String {
    format!("herald.gw.{gateway}")
}

pub fn room_subject(app: &AppId, room: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!("herald.room.{}.{}", b64.encode(app.as_str()), b64.encode(room))
}

pub struct NatsBus {
    client: async_nats::Client,
    js: jetstream::Context,
    partitions: u32,
    scope: String,
    commands: jetstream::stream::Stream,
    events: jetstream::stream::Stream,
    leases: jetstream::kv::Store,
    checkpoints: jetstream::kv::Store,
    routes: jetstream::kv::Store,
    route_table: OnceCell<Arc<RouteTable>>,
}

impl NatsBus {
    /// Connects, then creates or checks the streams and buckets.
    pub async fn connect(config: &NatsConfig) -> Result<Self, BusError> {
        setup::connect(config).await
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    fn stream(&self, log: Log) -> &jetstream::stream::Stream {
        match log {
            Log::Commands => &self.commands,
            Log::Events => &self.events,
        }
    }

    fn bucket(&self, bucket: Bucket) -> &jetstream::kv::Store {
        match bucket {
            Bucket::Leases => &self.leases,
            Bucket::Checkpoints => &self.checkpoints,
        }
    }
}

impl NatsBus {
    async fn open_reader(&self, log: Log, partition: u32, after: u64) -> Result<LogReader, BusError> {
        // a checkpoint past the stream's end means the stream lost its tail (a power loss of
        // its quorum before an fsync): resume at the end, or new messages would be skipped
        let last = self
            .stream(log)
            .clone()
            .info()
            .await
            .map_err(BusError::unavailable)?
            .state
            .last_sequence;
        if after > last {
            tracing::warn!(
                ?log,
                partition,
                checkpoint = after,
                last,
                "checkpoint past the stream's end; resuming at the end"
            );
        }
        let after = after.min(last);
        let deliver_policy = if after == 0 {
            DeliverPolicy::All
        } else {
            DeliverPolicy::ByStartSequence {
                start_sequence: after + 1,
            }
        };
        // An ephemeral, unacknowledged pull consumer of this partition's subject, read with short
        // heartbeats. Not async-nats's ordered consumer: that one recreates itself on a missed
        // heartbeat or a lost consumer, and when it had received nothing yet it restarts from
        // the beginning of the stream. Here any hiccup ends the reader with an error instead,
        // and the partition loop reads again from its own checkpoint, within seconds.
        let consumer = self
            .stream(log)
            .create_consumer(pull::Config {
                filter_subject: subject(log, partition),
                deliver_policy,
                ack_policy: jetstream::consumer::AckPolicy::None,
                inactive_threshold: READER_INACTIVE_THRESHOLD,
                memory_storage: true,
                num_replicas: 1,
                ..Default::default()
            })
            .await
            .map_err(BusError::unavailable)?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(crate::log::READ_AHEAD)
            .expires(READER_PULL_EXPIRES)
            .heartbeat(READER_HEARTBEAT)
            .messages()
            .await
            .map_err(BusError::unavailable)?;
        let (tx, rx) = mpsc::channel(crate::log::READ_AHEAD);
        let feeder = tokio::spawn(feed(messages, after, tx));
        Ok(LogReader::new(rx, feeder.abort_handle(), None, last))
    }
}

/// Hands a consumer's messages to a reader's channel, in order, as log entries; ends the reader
/// with an error on the first failure, or on an entry at or before the last one handed over
/// (never a replay from an earlier position).
async fn feed(mut messages: pull::Stream, after: u64, tx: mpsc::Sender<Result<LogEntry, BusError>>) {
    let mut last = after;
    while let Some(next) = messages.next().await {
        let entry = next.map_err(BusError::unavailable).and_then(|message| {
            let info = message.info().map_err(BusError::unavailable)?;
            let (position, pending) = (info.stream_sequence, info.pending);
            if position <= last {
                return Err(BusError::unavailable(format!(
                    "log reader went back to {position} after {last}"
                )));
            }
            let trace = message
                .headers
                .as_ref()
                .and_then(|h| h.get(crate::trace::HEADER))
                .map(|v| v.as_str().to_owned());
            Ok(LogEntry {
                position,
                payload: message.payload.clone().into(),
                pending,
                trace,
            })
        });
        if let Ok(entry) = &entry {
            last = entry.position;
        }
        let failed = entry.is_err();
        if tx.send(entry).await.is_err() || failed {
            return;
        }
    }
    let _ = tx.send(Err(BusError::unavailable("log consumer ended"))).await;
}

#[async_trait]
impl Bus for NatsBus {
    fn partitions(&self) -> u32 {
        self.partitions
    }

    fn scope(&self) -> &str {
        &self.scope
    }

    async fn publish(&self, log: Log, batch: Vec<Outgoing>) -> Vec<Result<Published, BusError>> {
        // send everything first, then collect the acks: one round trip for the batch
        // every payload serialized before anything is sent: a batch is published whole or not
        // at all, never around a gap
        let mut payloads = Vec::with_capacity(batch.len());
        for message in &batch {
            match message.payload.encoded() {
                Ok(payload) => payloads.push(payload),
                Err(err) => {
                    let err = BusError::fatal(format!("encoding a log message: {err}"));
                    return batch.iter().map(|_| Err(err.clone())).collect();
                }
            }
        }
        let mut pending = Vec::with_capacity(batch.len());
        for (message, payload) in batch.into_iter().zip(payloads) {
            let mut publish = jetstream::message::PublishMessage::build()
                .payload(payload)
                .message_id(&message.dedupe_id);
            if let Some(trace) = &message.trace {
                publish = publish.header(crate::trace::HEADER, trace.as_str());
            }
            let sent = self.js.send_publish(subject(log, message.partition), publish).await;
            pending.push(sent.map_err(BusError::unavailable));
        }
        // the acks are awaited together: each one's timeout starts when it is awaited, so acks
        // lost with a crashed server would otherwise time out one after another
        futures::future::join_all(pending.into_iter().map(|sent| async move {
            match sent?.await {
                Ok(ack) if ack.duplicate => Ok(Published::Duplicate),
                Ok(ack) => Ok(Published::Stored(ack.sequence)),
                Err(err) => Err(BusError::unavailable(err)),
            }
        }))
        .await
    }

    async fn read(&self, log: Log, partition: u32, after: u64) -> Result<LogReader, BusError> {
        // bounded well under the request timeout: while a stream has no leader (an election
        // after a node died) the caller retries every second instead of waiting 5 s per try
        tokio::time::timeout(READER_SETUP_TIMEOUT, self.open_reader(log, partition, after))
            .await
            .map_err(|_| BusError::unavailable("log reader setup timed out (no stream leader?)"))?
    }

    fn max_payload(&self) -> usize {
        // before the server's INFO (never after a successful connect, but cheap to rule out)
        // the field is 0, which would refuse every item: NATS's default then
        match self.client.server_info().max_payload {
            0 => 1024 * 1024,
            announced => announced,
        }
    }

    async fn send_to_gateway(&self, gateway: &GatewayId, payload: Payload) -> Result<(), BusError> {
        let payload = payload
            .encoded()
            .map_err(|e| BusError::fatal(format!("encoding a gateway message: {e}")))?;
        self.client
            .publish(gateway_subject(gateway), payload)
            .await
            .map_err(BusError::unavailable)
    }

    async fn gateway_inbox(&self, gateway: &GatewayId) -> Result<mpsc::Receiver<Payload>, BusError> {
        let mut subscriber = self
            .client
            .subscribe(gateway_subject(gateway))
            .await
            .map_err(BusError::unavailable)?;
        let (tx, rx) = mpsc::channel(crate::inproc::INBOX_CAPACITY);
        tokio::spawn(async move {
            while let Some(message) = subscriber.next().await {
                if tx.send(message.payload.into()).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }

    async fn kv_get(&self, bucket: Bucket, key: &str) -> Result<Option<Versioned>, BusError> {
        kv::get(self.bucket(bucket), key).await
    }

    async fn kv_create(&self, bucket: Bucket, key: &str, value: Bytes) -> Result<Option<u64>, BusError> {
        kv::create(self.bucket(bucket), key, value).await
    }

    async fn kv_update(&self, bucket: Bucket, key: &str, value: Bytes, revision: u64) -> Result<Option<u64>, BusError> {
        kv::update(self.bucket(bucket), key, value, revision).await
    }

    async fn kv_put(&self, bucket: Bucket, key: &str, value: Bytes) -> Result<u64, BusError> {
        self.bucket(bucket).put(key, value).await.map_err(BusError::unavailable)
    }

    async fn kv_scan(&self, bucket: Bucket, prefix: &str) -> Result<Vec<(String, Bytes)>, BusError> {
        kv::scan(self.bucket(bucket), prefix).await
    }

    async fn route_add(&self, app: &AppId, session: &SessionId, gateway: &GatewayId) -> Result<(), BusError> {
        self.routes
            .put(kv::route_key(app, session, gateway), Bytes::new())
            .await
            .map(|_| ())
            .map_err(BusError::unavailable)
    }

    async fn route_remove(&self, app: &AppId, session: &SessionId, gateway: &GatewayId) -> Result<(), BusError> {
        self.routes
            .delete(kv::route_key(app, session, gateway))
            .await
            .map_err(BusError::unavailable)
    }

    async fn route_table(&self) -> Result<Arc<RouteTable>, BusError> {
        self.route_table
            .get_or_try_init(|| kv::replicate_routes(self.routes.clone()))
            .await
            .cloned()
    }

    async fn room_publish(&self, app: &AppId, room: &str, payload: Bytes) -> Result<(), BusError> {
        self.client
            .publish(room_subject(app, room), payload)
            .await
            .map_err(BusError::unavailable)
    }

    async fn room_subscribe(&self, app: &AppId, room: &str) -> Result<Subscription, BusError> {
        let mut subscriber = self
            .client
            .subscribe(room_subject(app, room))
            .await
            .map_err(BusError::unavailable)?;
        let (tx, rx) = mpsc::channel(ROOM_BUFFER);
        let feeder = tokio::spawn(async move {
            while let Some(message) = subscriber.next().await {
                if tx.send(message.payload).await.is_err() {
                    return;
                }
            }
        });
        Ok(Subscription::new(rx, feeder.abort_handle()))
    }

    fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}
