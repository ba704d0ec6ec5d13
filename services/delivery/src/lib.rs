//! Delivery: consumes each partition's events in order and sends every gateway one batch with
//! everything its connected recipients should get. Each partition is served by one delivery
//! process at a time, so every receiver sees a conversation's messages in `Seq` order. Events
//! name no recipients: the worker reads a conversation's members from the store once and keeps
//! them current with the membership events it delivers.

mod fanout;
mod members;

pub use fanout::{plan_fanout, push_of};
pub use members::MemberCache;

use herald_bus::ownership::{self, Grant, OwnershipConfig};
use herald_bus::{Bus, BusError, Log};
use herald_protocol::bus::{Event, EventBody, GatewayMessage};
use herald_protocol::{codec, timefmt};
use herald_store::{DirectoryStore, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub const ROLE: &str = "delivery";
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub instance: String,
    pub lease_ttl: Duration,
    /// Most events fanned out in one round (one batch per gateway).
    pub max_batch: usize,
}

impl DeliveryConfig {
    pub fn new(instance: impl Into<String>) -> Self {
        Self {
            instance: instance.into(),
            lease_ttl: Duration::from_secs(5),
            max_batch: 512,
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum ServeError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("lease no longer valid")]
    LeaseLost,
}

pub async fn run(
    store: Arc<dyn DirectoryStore>,
    bus: Arc<dyn Bus>,
    config: DeliveryConfig,
    shutdown: CancellationToken,
) {
    let ownership_config = OwnershipConfig {
        role: ROLE,
        instance: config.instance.clone(),
        lease_ttl: config.lease_ttl,
        partitions: bus.partitions(),
    };
    let max_batch = config.max_batch;
    let start_bus = bus.clone();
    ownership::run(bus, ownership_config, shutdown, move |grant| {
        serve(store.clone(), start_bus.clone(), grant, max_batch)
    })
    .await;
}

async fn serve(store: Arc<dyn DirectoryStore>, bus: Arc<dyn Bus>, grant: Grant, max_batch: usize) {
    serve_until_released(store.as_ref(), bus, &grant, max_batch).await;
    // a partition this process no longer serves has no lag of its own
    metrics::gauge!("herald_consumer_pending", "role" => ROLE, "partition" => grant.partition.to_string()).set(0.0);
}

async fn serve_until_released(store: &dyn DirectoryStore, bus: Arc<dyn Bus>, grant: &Grant, max_batch: usize) {
    let mut backoff = herald_bus::backoff::Backoff::default();
    while !grant.cancel.is_cancelled() {
        let started = Instant::now();
        match serve_once(store, bus.as_ref(), grant, max_batch).await {
            Ok(()) => return,
            Err(ServeError::LeaseLost) => {
                tracing::warn!(partition = grant.partition, "delivery lease lost; stopping");
                grant.cancel.cancel();
                return;
            }
            Err(err) => {
                tracing::warn!(partition = grant.partition, error = %err, "delivery loop failed; resuming from checkpoint");
                tokio::select! {
                    _ = grant.cancel.cancelled() => return,
                    _ = tokio::time::sleep(backoff.after_failure(started.elapsed())) => {}
                }
            }
        }
    }
}

/// Reads the members of the conversations `events` need that the cache lacks.
async fn load_members(store: &dyn DirectoryStore, cache: &mut MemberCache, events: &[Event]) -> Result<(), StoreError> {
    loop {
        let mut loaded = Vec::new();
        for (app, conv) in cache.missing(events) {
            let members = store.members(&app, &conv).await?;
            loaded.push(((app, conv), members));
        }
        let more: usize = loaded.iter().map(|(_, members)| members.len()).sum();
        if !cache.fits(more) && !cache.is_empty() {
            // bounded: start over rather than grow, and read what this batch needs again
            cache.clear();
            continue;
        }
        for (key, members) in loaded {
            cache.insert(key, members);
        }
        return Ok(());
    }
}

async fn serve_once(
    store: &dyn DirectoryStore,
    bus: &dyn Bus,
    grant: &Grant,
    max_batch: usize,
) -> Result<(), ServeError> {
    let partition = grant.partition;
    let mut members = MemberCache::default();
    let routes = bus.route_table().await?;
    let checkpoint = ownership::load_checkpoint(bus, ROLE, partition).await?;
    let mut reader = bus.read(Log::Events, partition, checkpoint).await?;
    tracing::info!(partition, checkpoint, "delivering partition");
    let (mut saved, mut finished, mut last_save) = (checkpoint, checkpoint, Instant::now());
    loop {
        let entries = tokio::select! {
            biased;
            _ = grant.cancel.cancelled() => break,
            entries = reader.next_batch(max_batch) => entries?,
            _ = tokio::time::sleep(CHECKPOINT_EVERY), if finished > saved => {
                ownership::store_checkpoint(bus, ROLE, partition, finished).await?;
                (saved, last_save) = (finished, Instant::now());
                continue;
            }
        };
        let mut events = Vec::with_capacity(entries.len());
        let mut traces = Vec::with_capacity(entries.len());
        for entry in &entries {
            match codec::decode::<Event>(&entry.payload) {
                Ok(event) => {
                    events.push(event);
                    traces.push(entry.trace.as_deref().and_then(|parent| {
                        let span = tracing::info_span!("delivery.fanout", partition);
                        herald_bus::trace::continue_trace(&span, Some(parent));
                        herald_bus::trace::traceparent_of(&span)
                    }));
                }
                Err(err) => {
                    tracing::error!(partition, position = entry.position, error = %err, "undecodable event skipped")
                }
            }
        }
        let now = timefmt::now_nanos();
        for event in &events {
            if let EventBody::Message(record) = &event.body {
                metrics::histogram!("herald_delivery_lag_seconds").record((now - record.send_time).max(0) as f64 / 1e9);
            }
        }
        load_members(store, &mut members, &events).await?;
        let recipients: Vec<_> = events.iter().map(|event| members.recipients(event)).collect();
        let plan = plan_fanout(&events, &recipients, &traces, &routes);
        // fenced like the sequencer: a paused owner whose lease lapsed sends nothing more
        if !grant.is_valid() {
            return Err(ServeError::LeaseLost);
        }
        for (gateway, deliveries) in plan {
            let recipients: usize = deliveries.iter().map(|d| d.recipients.len()).sum();
            metrics::histogram!("herald_delivery_batch_size").record(deliveries.len() as f64);
            metrics::counter!("herald_deliveries_total").increment(recipients as u64);
            herald_bus::send_gateway_message(bus, &gateway, GatewayMessage::Deliver(deliveries)).await?;
        }
        if let Some(last) = entries.last() {
            metrics::gauge!("herald_consumer_pending", "role" => ROLE, "partition" => partition.to_string())
                .set(last.pending as f64);
        }
        finished = entries.last().map(|e| e.position).unwrap_or(finished);
        reader.done_through(finished);
        if last_save.elapsed() >= CHECKPOINT_EVERY {
            ownership::store_checkpoint(bus, ROLE, partition, finished).await?;
            (saved, last_save) = (finished, Instant::now());
        }
    }
    if finished > saved {
        ownership::store_checkpoint(bus, ROLE, partition, finished).await?;
    }
    Ok(())
}
