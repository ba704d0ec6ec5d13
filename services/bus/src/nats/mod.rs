//! The NATS JetStream bus of clusters: the two logs are streams with one subject per partition,
//! the key-value space is three KV buckets, and each gateway's inbox is a core NATS subject.
//! Streams and buckets are created, or checked, at connect (see `nats/README.md`).

mod kept;
mod kv;
pub mod pack;
mod setup;

pub use setup::{LEASES_MAX_AGE, NatsAuth, NatsConfig, NatsTls, StreamLimits, redact_url};

/// Idle heartbeat a log reader asks the server for; two missed end the reader (and the
/// partition loop reads again from its checkpoint).
const READER_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(1);
/// How long opening a log reader (stream info, consumer creation) may take before it is retried.
const READER_SETUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// Lifetime of one pull request of a log reader.
const READER_PULL_EXPIRES: std::time::Duration = std::time::Duration::from_secs(5);
/// The server removes a reader's consumer this long after its reader went away.
const READER_INACTIVE_THRESHOLD: std::time::Duration = std::time::Duration::from_secs(30);
/// Bytes one pull of a log reader asks for at most (and at least two of the largest messages):
/// with packs of up to `max_payload` each, a count alone would not bound the reader's memory.
const READER_PULL_BYTES: usize = 8 << 20;
/// Room left in a pack for its headers (`Nats-Msg-Id`, `Herald-Pack`) under `max_payload`.
const PACK_HEADROOM: usize = 1024;

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
use pack::Positions;
use std::collections::HashMap;
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
    /// How each stream numbers its entries (streams made before packs: one per message).
    commands_positions: Positions,
    events_positions: Positions,
    leases: jetstream::kv::Store,
    checkpoints: jetstream::kv::Store,
    routes: jetstream::kv::Store,
    route_table: OnceCell<Arc<RouteTable>>,
    /// The inboxes of this process's gateways: a message for one of them is handed over as a
    /// value, without encoding it or a trip through the server, and its sender waits while the
    /// inbox is full (as in-process). Weak: a gateway that drops its inbox closes it.
    local_inboxes: std::sync::Mutex<HashMap<GatewayId, mpsc::WeakSender<Payload>>>,
    /// The values behind the messages this process published, for its own readers.
    kept: Arc<kept::Kept>,
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

    fn positions(&self, log: Log) -> Positions {
        match log {
            Log::Commands => self.commands_positions,
            Log::Events => self.events_positions,
        }
    }

    fn local_inbox(&self, gateway: &GatewayId) -> Option<mpsc::Sender<Payload>> {
        let mut inboxes = self.local_inboxes.lock().unwrap_or_else(|p| p.into_inner());
        let inbox = inboxes.get(gateway)?.upgrade().filter(|inbox| !inbox.is_closed());
        if inbox.is_none() {
            // the gateway is gone: its messages take the subject, where nobody listens
            inboxes.remove(gateway);
        }
        inbox
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
        let positions = self.positions(log);
        // a checkpoint past the stream's end means the stream lost its tail (a power loss of
        // its quorum before an fsync): resume at the end, or new messages would be skipped
        let last_seq = self
            .stream(log)
            .clone()
            .info()
            .await
            .map_err(BusError::unavailable)?
            .state
            .last_sequence;
        let last = positions.last_of(last_seq);
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
                start_sequence: positions.resume_seq(after),
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
            .max_bytes_per_batch(READER_PULL_BYTES.max(2 * self.max_payload()))
            .expires(READER_PULL_EXPIRES)
            .heartbeat(READER_HEARTBEAT)
            .messages()
            .await
            .map_err(BusError::unavailable)?;
        let (tx, rx) = mpsc::channel(crate::log::READ_AHEAD);
        let resume = Resume { positions, after };
        let reading = self.kept.reading(log, partition);
        let feeder = tokio::spawn(feed(messages, resume, self.kept.clone(), reading, tx));
        Ok(LogReader::new(rx, feeder.abort_handle(), None, last))
    }

    /// Publishes one message of a batch under `id` (see `group_id`): an entry alone as a plain
    /// message (its trace in a header), several as a pack.
    async fn send_group(
        &self,
        log: Log,
        group: &pack::Group,
        id: &str,
        batch: &[Outgoing],
        payloads: &[Bytes],
    ) -> Result<jetstream::context::PublishAckFuture, BusError> {
        let body = match group.members.as_slice() {
            [one] => payloads[*one].clone(),
            members => {
                let size = pack::encoded_size(members.iter().map(|i| member_size(&batch[*i], &payloads[*i])));
                pack::encode(
                    members.iter().map(|i| pack::Member {
                        trace: batch[*i].trace.as_deref(),
                        id: batch[*i].dedupe_id.as_bytes(),
                        payload: payloads[*i].as_ref(),
                    }),
                    size,
                )
            }
        };
        // kept before it is sent: a reader here may pull it before the ack is back
        if group.members.iter().all(|i| batch[*i].payload.is_value()) && self.kept.is_read(log, group.partition) {
            let values = group.members.iter().map(|i| batch[*i].payload.clone()).collect();
            self.kept.keep([(self.kept.digest(&body), values, body.len())]);
        }
        let publish = match group.members.as_slice() {
            [one] => {
                let message = &batch[*one];
                let mut publish = jetstream::message::PublishMessage::build().payload(body).message_id(id);
                if let Some(trace) = &message.trace {
                    publish = publish.header(crate::trace::HEADER, trace.as_str());
                }
                publish
            }
            _ => jetstream::message::PublishMessage::build()
                .payload(body)
                .message_id(id)
                .header(pack::HEADER, pack::VERSION),
        };
        self.js
            .send_publish(subject(log, group.partition), publish)
            .await
            .map_err(BusError::unavailable)
    }
}

/// The id a group is published under: an entry's own, a pack's digest of its members' ids.
fn group_id(group: &pack::Group, batch: &[Outgoing]) -> String {
    match group.members.as_slice() {
        [one] => batch[*one].dedupe_id.clone(),
        members => pack::dedupe_id(group.partition, members.iter().map(|i| batch[*i].dedupe_id.as_str())),
    }
}

/// An entry's bytes in a pack: its trace, id and payload.
fn member_size(message: &Outgoing, payload: &Bytes) -> usize {
    message.trace.as_ref().map_or(0, String::len) + message.dedupe_id.len() + payload.len()
}

/// Where a reader starts: after `after`, in the stream's numbering.
#[derive(Debug, Clone, Copy)]
struct Resume {
    positions: Positions,
    after: u64,
}

/// Hands a consumer's messages to a reader's channel, in order, as log entries (a pack's members
/// one by one); ends the reader with an error on the first failure, or on an entry at or before
/// the last one handed over (never a replay from an earlier position).
async fn feed(
    mut messages: pull::Stream,
    resume: Resume,
    kept: Arc<kept::Kept>,
    // this process reads the partition while the feeder runs: its publishes keep their values
    _reading: kept::Reading,
    tx: mpsc::Sender<Result<LogEntry, BusError>>,
) {
    let mut last = resume.after;
    while let Some(next) = messages.next().await {
        let entries = next
            .map_err(BusError::unavailable)
            .and_then(|message| entries_of(&message, resume, &kept, &mut last));
        match entries {
            Ok(entries) => {
                for entry in entries {
                    if tx.send(Ok(entry)).await.is_err() {
                        return;
                    }
                }
            }
            Err(err) => {
                let _ = tx.send(Err(err)).await;
                return;
            }
        }
    }
    let _ = tx.send(Err(BusError::unavailable("log consumer ended"))).await;
}

/// The entries of one stream message past `last` (and past the reader's start: resuming inside
/// a pack reads the pack again and skips its first members). A malformed pack is skipped,
/// counted and logged at error: retrying would meet it again.
fn entries_of(
    message: &jetstream::Message,
    resume: Resume,
    kept: &kept::Kept,
    last: &mut u64,
) -> Result<Vec<LogEntry>, BusError> {
    let info = message.info().map_err(BusError::unavailable)?;
    let (seq, pending) = (info.stream_sequence, info.pending);
    let headers = message.headers.as_ref();
    // published by this process: its values, not the bytes decoded again
    let values = kept.get(&message.payload);
    let members = match headers.and_then(|h| h.get(pack::HEADER)).map(|v| v.as_str()) {
        None => {
            let header = |name: &str| headers.and_then(|h| h.get(name)).map(|v| v.as_str().to_owned());
            vec![pack::Member {
                trace: header(crate::trace::HEADER),
                id: header("Nats-Msg-Id").map(Bytes::from).unwrap_or_default(),
                payload: message.payload.clone(),
            }]
        }
        Some(pack::VERSION) if resume.positions == Positions::Packed => match pack::decode(&message.payload) {
            Ok(members) => members,
            Err(err) => {
                // reading it again would meet it again: skipped, loudly
                metrics::counter!("herald_log_packs_malformed_total").increment(1);
                tracing::error!(subject = %message.subject, seq, error = %err, "skipping a log message that cannot be unpacked");
                return Ok(Vec::new());
            }
        },
        // a pack this version cannot read (a newer Herald's), or one in a stream numbered per
        // message: the reader stops there rather than skip what it cannot read
        Some(version) => {
            return Err(BusError::fatal(format!(
                "{} #{seq}: a pack of version {version:?} in a stream numbered {:?}: not readable by this version",
                message.subject, resume.positions
            )));
        }
    };
    let count = members.len();
    let values = values.filter(|values| values.len() == count);
    let mut entries = Vec::with_capacity(count);
    for (index, member) in members.into_iter().enumerate() {
        let value = values.as_ref().map(|values| values[index].clone());
        let position = resume.positions.of(seq, index);
        if position <= resume.after && seq == resume.positions.seq(resume.after) {
            // the pack the reader resumed inside: members it had finished
            continue;
        }
        if position <= *last {
            return Err(BusError::unavailable(format!(
                "log reader went back to {position} after {last}"
            )));
        }
        *last = position;
        entries.push(LogEntry {
            position,
            payload: value.unwrap_or_else(|| member.payload.into()),
            pending: pending + (count - 1 - index) as u64,
            trace: member.trace,
            dedupe_id: member.id,
        });
    }
    Ok(entries)
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
        let positions = self.positions(log);
        let groups = match positions {
            Positions::PerMessage => (0..batch.len())
                .map(|i| pack::Group {
                    partition: batch[i].partition,
                    members: vec![i],
                })
                .collect(),
            Positions::Packed => {
                let items: Vec<pack::Item> = batch
                    .iter()
                    .zip(&payloads)
                    .map(|(message, payload)| pack::Item {
                        partition: message.partition,
                        alone: message.repeat,
                        size: member_size(message, payload),
                    })
                    .collect();
                pack::plan(&items, self.max_payload().saturating_sub(PACK_HEADROOM))
            }
        };
        // Sent in waves, the acks of each awaited together: wave k holds the k-th message of
        // every partition, so a partition's second message (an entry alone, or a pack past
        // `max_payload`) goes out only once its first is stored, and a refused one (a stream at
        // its byte limit refuses a large pack and may take a smaller one after it) fails the
        // partition's rest instead of leaving a gap. Most batches are one wave: one round trip.
        // A stream numbered per message sends every entry in one wave, as before packs.
        let waves = match positions {
            Positions::PerMessage => vec![(0..groups.len()).collect()],
            Positions::Packed => pack::waves(&groups),
        };
        let ids: Vec<String> = groups.iter().map(|group| group_id(group, &batch)).collect();
        let mut acks: Vec<Option<Result<Published, BusError>>> = vec![None; groups.len()];
        let mut refused: HashMap<u32, BusError> = HashMap::new();
        for wave in waves {
            let mut sent = Vec::with_capacity(wave.len());
            for index in wave {
                let group = &groups[index];
                match refused.get(&group.partition) {
                    Some(err) => acks[index] = Some(Err(err.clone())),
                    None => sent.push((index, self.send_group(log, group, &ids[index], &batch, &payloads).await)),
                }
            }
            // each ack's timeout starts when it is awaited: awaited together, acks lost with a
            // crashed server time out at once rather than one after another
            let answered = futures::future::join_all(sent.into_iter().map(|(index, sent)| async move {
                let ack = match sent {
                    Ok(pending) => match pending.await {
                        Ok(ack) if ack.duplicate => Ok(Published::Duplicate),
                        Ok(ack) => Ok(Published::Stored(ack.sequence)),
                        Err(err) => Err(BusError::unavailable(err)),
                    },
                    Err(err) => Err(err),
                };
                (index, ack)
            }))
            .await;
            for (index, ack) in answered {
                if let Err(err) = &ack {
                    refused.insert(groups[index].partition, err.clone());
                }
                acks[index] = Some(ack);
            }
        }
        let acks: Vec<Result<Published, BusError>> = acks
            .into_iter()
            .map(|ack| ack.expect("every group is in one wave"))
            .collect();
        let mut outcomes: Vec<Option<Result<Published, BusError>>> = vec![None; batch.len()];
        for (group, ack) in groups.iter().zip(acks) {
            for (index, member) in group.members.iter().enumerate() {
                outcomes[*member] = Some(match &ack {
                    Ok(Published::Stored(seq)) => Ok(Published::Stored(positions.of(*seq, index))),
                    other => other.clone(),
                });
            }
        }
        outcomes
            .into_iter()
            .map(|outcome| outcome.expect("every entry is in one group"))
            .collect()
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

    fn carries_values_to(&self, gateway: &GatewayId) -> bool {
        self.local_inbox(gateway).is_some()
    }

    async fn send_to_gateway(&self, gateway: &GatewayId, payload: Payload) -> Result<(), BusError> {
        if let Some(inbox) = self.local_inbox(gateway) {
            if inbox.send(payload).await.is_err() {
                // the gateway stopped reading: gone, as its subject would be
                self.local_inboxes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(gateway);
            }
            return Ok(());
        }
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
        // the server has the subscription before the inbox is handed out: a message another
        // process publishes after that (once the gateway's routes are written) reaches it
        self.client.flush().await.map_err(BusError::unavailable)?;
        let (tx, rx) = mpsc::channel(crate::inproc::INBOX_CAPACITY);
        self.local_inboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(gateway.clone(), tx.downgrade());
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
