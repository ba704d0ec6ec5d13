//! The in-process bus of `herald up` without NATS: bounded rings for the logs, channels for the
//! gateway inboxes, a map for the key-value space. Nothing survives the process, and nothing
//! needs to: an unacknowledged command is retried by its client, an acknowledged one is in the store.

use crate::log::DirectRead;
use crate::{
    Bucket, Bus, BusError, Log, LogEntry, LogReader, Outgoing, Payload, Published, ROOM_BUFFER, RouteKey, RouteTable,
    Subscription, Versioned,
};
use async_trait::async_trait;
use bytes::Bytes;
use herald_protocol::{AppId, GatewayId, SessionId};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, mpsc};

/// Entries a partition holds before publishers wait for its reader.
pub const RING_CAPACITY: usize = 65_536;
/// Dedupe ids remembered per partition.
const DEDUPE_WINDOW: usize = 100_000;
/// Messages a gateway inbox buffers before senders wait.
pub const INBOX_CAPACITY: usize = 4096;

pub struct InprocBus {
    partitions: u32,
    scope: String,
    commands: Vec<Arc<Ring>>,
    events: Vec<Arc<Ring>>,
    inboxes: Mutex<HashMap<GatewayId, mpsc::Sender<Payload>>>,
    kv: Mutex<Kv>,
    routes: Arc<RouteTable>,
    rooms: Mutex<HashMap<(AppId, String), tokio::sync::broadcast::Sender<Bytes>>>,
}

#[derive(Default)]
struct Kv {
    revision: u64,
    entries: BTreeMap<(u8, String), Versioned>,
}

fn bucket_tag(bucket: Bucket) -> u8 {
    match bucket {
        Bucket::Leases => 0,
        Bucket::Checkpoints => 1,
    }
}

impl InprocBus {
    pub fn new(partitions: u32) -> Self {
        let partitions = partitions.max(1);
        let rings = || (0..partitions).map(|_| Arc::new(Ring::default())).collect();
        Self {
            partitions,
            scope: format!("inproc-{}", herald_protocol::timefmt::now_nanos()),
            commands: rings(),
            events: rings(),
            inboxes: Mutex::new(HashMap::new()),
            kv: Mutex::new(Kv::default()),
            routes: Arc::new(RouteTable::default()),
            rooms: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps each events entry until every one of `readers` has finished it (the roles that
    /// read the events log in this process: delivery and webhooks).
    pub fn with_event_readers(self, readers: &[&'static str]) -> Self {
        for ring in &self.events {
            let mut state = ring.state.lock().unwrap_or_else(|p| p.into_inner());
            for reader in readers {
                state.done.insert(reader, 0);
            }
        }
        self
    }

    fn ring(&self, log: Log, partition: u32) -> Result<&Arc<Ring>, BusError> {
        let rings = match log {
            Log::Commands => &self.commands,
            Log::Events => &self.events,
        };
        rings
            .get(partition as usize)
            .ok_or_else(|| BusError::fatal(format!("no partition {partition}")))
    }
}

#[derive(Default)]
struct Ring {
    state: Mutex<RingState>,
    data: Notify,
    space: Notify,
}

#[derive(Default)]
struct RingState {
    entries: VecDeque<LogEntry>,
    last_position: u64,
    /// The dedupe window: a 128-bit hash of each id (hashing a long id once, not three times,
    /// and keeping no copy of it).
    seen: HashSet<u128>,
    seen_order: VecDeque<u128>,
    /// How far each reader has finished; entries are dropped once all of them have. Readers
    /// named up front (`with_event_readers`) hold entries from the start, before they first read.
    done: HashMap<&'static str, u64>,
}

impl RingState {
    fn append(&mut self, message: Outgoing) -> Published {
        let seen = twox_hash::XxHash3_128::oneshot(message.dedupe_id.as_bytes());
        if !self.seen.insert(seen) {
            return Published::Duplicate;
        }
        self.last_position += 1;
        let position = self.last_position;
        self.entries.push_back(LogEntry {
            position,
            payload: message.payload,
            pending: 0,
            trace: message.trace,
            dedupe_id: Bytes::from(message.dedupe_id),
        });
        self.seen_order.push_back(seen);
        if self.seen_order.len() > DEDUPE_WINDOW
            && let Some(old) = self.seen_order.pop_front()
        {
            self.seen.remove(&old);
        }
        Published::Stored(position)
    }
}

impl Ring {
    /// Appends `messages` in order under one lock while they fit (a batch, not a message, per
    /// lock and per wake of the readers), waiting for space when the ring is full.
    async fn append_all(&self, messages: Vec<Outgoing>) -> Vec<Published> {
        let mut outcomes = Vec::with_capacity(messages.len());
        let mut messages = messages.into_iter().peekable();
        while messages.peek().is_some() {
            let space = self.space.notified();
            let appended = {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                let mut appended = false;
                while state.entries.len() < RING_CAPACITY
                    && let Some(message) = messages.next()
                {
                    outcomes.push(state.append(message));
                    appended = true;
                }
                appended
            };
            if appended {
                self.data.notify_waiters();
            }
            if messages.peek().is_some() {
                // full: wait for the readers to finish entries (backpressure)
                space.await;
            }
        }
        outcomes
    }

    fn done_through(&self, reader: &'static str, position: u64) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let done = state.done.entry(reader).or_insert(0);
        *done = (*done).max(position);
        let all_done = state.done.values().copied().min().unwrap_or(position);
        while state.entries.front().is_some_and(|e| e.position <= all_done) {
            state.entries.pop_front();
        }
        drop(state);
        self.space.notify_waiters();
    }

    /// Entries after `cursor`, at most `max`.
    fn after(&self, cursor: u64, max: usize) -> Vec<LogEntry> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(front) = state.entries.front() else {
            return Vec::new();
        };
        let skip = (cursor + 1).saturating_sub(front.position) as usize;
        let last = state.last_position;
        state
            .entries
            .iter()
            .skip(skip)
            .take(max)
            .map(|e| LogEntry {
                pending: last - e.position,
                ..e.clone()
            })
            .collect()
    }
}

/// A reader of one ring, read by the consumer's own task: an append wakes it directly.
struct RingRead {
    ring: Arc<Ring>,
    /// The last position returned.
    cursor: u64,
}

#[async_trait]
impl DirectRead for RingRead {
    async fn next_batch(&mut self, max: usize) -> Result<Vec<LogEntry>, BusError> {
        loop {
            // registered before looking: an append between the look and the wait still wakes it
            let data = self.ring.data.notified();
            let entries = self.ring.after(self.cursor, max.max(1));
            if let Some(last) = entries.last() {
                // a consumer that always finds entries still yields now and then (tokio's
                // budget, as a channel's receive would)
                tokio::task::consume_budget().await;
                self.cursor = last.position;
                return Ok(entries);
            }
            data.await;
        }
    }
}

#[async_trait]
impl Bus for InprocBus {
    fn partitions(&self) -> u32 {
        self.partitions
    }

    fn scope(&self) -> &str {
        &self.scope
    }

    async fn publish(&self, log: Log, batch: Vec<Outgoing>) -> Vec<Result<Published, BusError>> {
        // runs of one partition go into its ring together; order is kept
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut batch = batch.into_iter().peekable();
        while let Some(first) = batch.next() {
            let partition = first.partition;
            let mut run = vec![first];
            while let Some(next) = batch.next_if(|m| m.partition == partition) {
                run.push(next);
            }
            match self.ring(log, partition) {
                Ok(ring) => outcomes.extend(ring.append_all(run).await.into_iter().map(Ok)),
                Err(err) => outcomes.extend(run.iter().map(|_| Err(err.clone()))),
            }
        }
        outcomes
    }

    async fn read(&self, log: Log, partition: u32, after: u64) -> Result<LogReader, BusError> {
        self.read_as(log, partition, after, "").await
    }

    async fn read_as(&self, log: Log, partition: u32, after: u64, reader: &'static str) -> Result<LogReader, BusError> {
        let ring = self.ring(log, partition)?.clone();
        let replay_through = ring.state.lock().unwrap_or_else(|p| p.into_inner()).last_position;
        let read = Box::new(RingRead {
            ring: ring.clone(),
            cursor: after,
        });
        let on_done = Box::new(move |position| ring.done_through(reader, position));
        Ok(LogReader::direct(read, Some(on_done), replay_through))
    }

    fn max_payload(&self) -> usize {
        usize::MAX
    }

    fn carries_values(&self) -> bool {
        true
    }

    async fn send_to_gateway(&self, gateway: &GatewayId, payload: Payload) -> Result<(), BusError> {
        let inbox = self
            .inboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(gateway)
            .cloned();
        match inbox {
            // a gone gateway's messages are dropped, as on NATS
            Some(inbox) => inbox.send(payload).await.or(Ok(())),
            None => Ok(()),
        }
    }

    async fn gateway_inbox(&self, gateway: &GatewayId) -> Result<mpsc::Receiver<Payload>, BusError> {
        let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
        self.inboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(gateway.clone(), tx);
        Ok(rx)
    }

    async fn kv_get(&self, bucket: Bucket, key: &str) -> Result<Option<Versioned>, BusError> {
        let kv = self.kv.lock().unwrap_or_else(|p| p.into_inner());
        Ok(kv.entries.get(&(bucket_tag(bucket), key.to_owned())).cloned())
    }

    async fn kv_create(&self, bucket: Bucket, key: &str, value: Bytes) -> Result<Option<u64>, BusError> {
        let mut kv = self.kv.lock().unwrap_or_else(|p| p.into_inner());
        let slot = (bucket_tag(bucket), key.to_owned());
        if kv.entries.contains_key(&slot) {
            return Ok(None);
        }
        kv.revision += 1;
        let revision = kv.revision;
        kv.entries.insert(slot, Versioned { value, revision });
        Ok(Some(revision))
    }

    async fn kv_update(&self, bucket: Bucket, key: &str, value: Bytes, revision: u64) -> Result<Option<u64>, BusError> {
        let mut kv = self.kv.lock().unwrap_or_else(|p| p.into_inner());
        let slot = (bucket_tag(bucket), key.to_owned());
        if kv.entries.get(&slot).map(|v| v.revision) != Some(revision) {
            return Ok(None);
        }
        kv.revision += 1;
        let revision = kv.revision;
        kv.entries.insert(slot, Versioned { value, revision });
        Ok(Some(revision))
    }

    async fn kv_put(&self, bucket: Bucket, key: &str, value: Bytes) -> Result<u64, BusError> {
        let mut kv = self.kv.lock().unwrap_or_else(|p| p.into_inner());
        kv.revision += 1;
        let revision = kv.revision;
        kv.entries
            .insert((bucket_tag(bucket), key.to_owned()), Versioned { value, revision });
        Ok(revision)
    }

    async fn kv_scan(&self, bucket: Bucket, prefix: &str) -> Result<Vec<(String, Bytes)>, BusError> {
        let kv = self.kv.lock().unwrap_or_else(|p| p.into_inner());
        let tag = bucket_tag(bucket);
        Ok(kv
            .entries
            .range((tag, prefix.to_owned())..)
            .take_while(|((t, k), _)| *t == tag && k.starts_with(prefix))
            .map(|((_, k), v)| (k.clone(), v.value.clone()))
            .collect())
    }

    async fn route_add(&self, app: &AppId, session: &SessionId, gateway: &GatewayId) -> Result<(), BusError> {
        self.routes.add(
            RouteKey {
                app: app.clone(),
                session: session.clone(),
            },
            gateway.clone(),
        );
        Ok(())
    }

    async fn route_remove(&self, app: &AppId, session: &SessionId, gateway: &GatewayId) -> Result<(), BusError> {
        self.routes.remove(
            &RouteKey {
                app: app.clone(),
                session: session.clone(),
            },
            gateway,
        );
        Ok(())
    }

    async fn route_table(&self) -> Result<Arc<RouteTable>, BusError> {
        Ok(self.routes.clone())
    }

    async fn room_publish(&self, app: &AppId, room: &str, payload: Bytes) -> Result<(), BusError> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let key = (app.clone(), room.to_owned());
        // nobody listens any more: forget the room
        if let Some(sender) = rooms.get(&key)
            && sender.send(payload).is_err()
        {
            rooms.remove(&key);
        }
        Ok(())
    }

    async fn room_subscribe(&self, app: &AppId, room: &str) -> Result<Subscription, BusError> {
        let mut listener = {
            let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
            rooms
                .entry((app.clone(), room.to_owned()))
                .or_insert_with(|| tokio::sync::broadcast::channel(ROOM_BUFFER).0)
                .subscribe()
        };
        let (tx, rx) = mpsc::channel(ROOM_BUFFER);
        let feeder = tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(payload) => {
                        if tx.send(payload).await.is_err() {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(lost = n, "room subscriber lagged");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(Subscription::new(rx, feeder.abort_handle()))
    }

    fn is_connected(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(key: &str) -> Outgoing {
        Outgoing {
            partition: 0,
            dedupe_id: key.to_owned(),
            payload: Bytes::from_static(b"x").into(),
            trace: None,
            repeat: false,
        }
    }

    /// Two roles read the events log (delivery, webhooks): what one has finished stays for the
    /// other, even one that has not read yet.
    #[tokio::test]
    async fn an_entry_stays_until_every_named_reader_has_finished_it() {
        let bus = InprocBus::new(1).with_event_readers(&["delivery", "webhooks"]);
        let events = (0..3).map(|i| message(&format!("e{i}"))).collect();
        for outcome in bus.publish(Log::Events, events).await {
            assert!(matches!(outcome, Ok(Published::Stored(_))), "{outcome:?}");
        }
        let mut delivery = bus.read_as(Log::Events, 0, 0, "delivery").await.unwrap();
        let batch = delivery.next_batch(8).await.unwrap();
        assert_eq!(batch.len(), 3);
        delivery.done_through(batch[2].position);
        let mut webhooks = bus.read_as(Log::Events, 0, 0, "webhooks").await.unwrap();
        let batch = webhooks.next_batch(8).await.unwrap();
        let positions: Vec<u64> = batch.iter().map(|e| e.position).collect();
        assert_eq!(positions, vec![1, 2, 3], "the slower reader still gets everything");
        webhooks.done_through(3);
        assert!(
            bus.events[0].state.lock().unwrap().entries.is_empty(),
            "freed once both finished"
        );
    }

    /// Invariant 5, the in-process rings: a full ring makes its writer wait (never drops, never
    /// grows) until the reader *finishes* entries; reading them alone frees nothing.
    #[tokio::test]
    async fn a_full_ring_makes_its_writer_wait_until_the_reader_finishes() {
        let bus = InprocBus::new(1);
        let fill = (0..RING_CAPACITY).map(|i| message(&format!("m{i}"))).collect();
        for outcome in bus.publish(Log::Commands, fill).await {
            assert!(matches!(outcome, Ok(Published::Stored(_))), "{outcome:?}");
        }
        let mut reader = bus.read(Log::Commands, 0, 0).await.unwrap();
        // unconstrained: tokio's cooperative budget must not pass for a full ring
        let over = tokio::task::unconstrained(bus.publish(Log::Commands, vec![message("over")]));
        tokio::pin!(over);
        // polled, not timed: a full ring has no room until `done_through`, whatever the clock says
        assert!(futures::poll!(&mut over).is_pending(), "a full ring accepted a write");
        let read = reader.next_batch(8).await.unwrap();
        assert!(
            futures::poll!(&mut over).is_pending(),
            "read but unfinished entries still hold the ring"
        );
        reader.done_through(read[0].position);
        let outcome = over.await;
        assert!(
            matches!(outcome[..], [Ok(Published::Stored(p))] if p == RING_CAPACITY as u64 + 1),
            "{outcome:?}"
        );
    }
}
