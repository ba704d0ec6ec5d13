//! Delivery: consumes each partition's events in order and sends every gateway one batch with
//! everything its connected recipients should get. Each partition is served by one delivery
//! process at a time, so every receiver sees a conversation's messages in `Seq` order. Events
//! name no recipients: the worker reads a conversation's members from the store once and keeps
//! them current with the membership events it delivers.

mod fanout;
mod members;

pub use fanout::{plan_fanout, plan_receipts, push_of, receipt_of};
pub use members::MemberCache;

use herald_bus::consumer::{self, ConsumerSpec, Interrupted, PartitionConsumer};
use herald_bus::ownership::{self, Grant, OwnershipConfig};
use herald_bus::{Bus, Log, LogEntry, LogReader, RouteTable};
use herald_protocol::bus::{Event, EventBody, GatewayMessage};
use herald_protocol::timefmt;
use herald_store::{DirectoryStore, StoreError};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const ROLE: &str = "delivery";

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
    let spec = ConsumerSpec {
        role: ROLE,
        log: Log::Events,
        max_batch: config.max_batch,
    };
    let start_bus = bus.clone();
    ownership::run(bus, ownership_config, shutdown, move |grant| {
        serve(store.clone(), start_bus.clone(), grant, spec)
    })
    .await;
}

async fn serve(store: Arc<dyn DirectoryStore>, bus: Arc<dyn Bus>, grant: Grant, spec: ConsumerSpec) {
    let mut partition = Partition {
        store: store.as_ref(),
        bus: bus.as_ref(),
        grant: &grant,
        members: MemberCache::default(),
        routes: None,
    };
    consumer::consume(bus.as_ref(), spec, &grant, &mut partition).await;
}

/// The metric handles every batch touches, resolved on first use (the process installs its
/// recorder before it serves): a registry lookup per event and gateway otherwise.
struct Meters {
    lag_seconds: metrics::Histogram,
    batch_size: metrics::Histogram,
    deliveries: metrics::Counter,
}

static METERS: std::sync::LazyLock<Meters> = std::sync::LazyLock::new(|| Meters {
    lag_seconds: metrics::histogram!("herald_delivery_lag_seconds"),
    batch_size: metrics::histogram!("herald_delivery_batch_size"),
    deliveries: metrics::counter!("herald_deliveries_total"),
});

/// One partition's fan-out: the members of its conversations and the routing table.
struct Partition<'a> {
    store: &'a dyn DirectoryStore,
    bus: &'a dyn Bus,
    grant: &'a Grant,
    members: MemberCache,
    routes: Option<Arc<RouteTable>>,
}

impl PartitionConsumer for Partition<'_> {
    async fn begin(&mut self) -> Result<(), Interrupted> {
        self.members = MemberCache::default();
        self.routes = Some(self.bus.route_table().await?);
        Ok(())
    }

    async fn handle(&mut self, _reader: &LogReader, entries: Vec<LogEntry>) -> Result<(), Interrupted> {
        let partition = self.grant.partition;
        let (events, traces) = decode(partition, &entries);
        let now = timefmt::now_nanos();
        for event in &events {
            if let EventBody::Message(record) = &event.body {
                METERS.lag_seconds.record((now - record.send_time).max(0) as f64 / 1e9);
            }
        }
        load_members(self.store, &mut self.members, &events)
            .await
            .map_err(|e| Interrupted::Failed(e.to_string()))?;
        // in log order: each read's receipt goes to the members as of that point of the log
        let (recipients, receivers): (Vec<_>, Vec<_>) = events
            .iter()
            .map(|event| (self.members.recipients(event), self.members.receipt_recipients(event)))
            .unzip();
        let routes = self.routes.as_ref().expect("begun");
        let mut plan = plan_fanout(&events, &recipients, &traces, routes);
        plan_receipts(&mut plan, &events, &receivers, &traces, routes);
        // fenced like the sequencer: a paused owner whose lease lapsed sends nothing more
        if !self.grant.is_valid() {
            return Err(Interrupted::Fenced("delivery lease no longer valid".into()));
        }
        for (gateway, deliveries) in plan {
            let recipients: usize = deliveries.iter().map(|d| d.recipients.len()).sum();
            METERS.batch_size.record(deliveries.len() as f64);
            METERS.deliveries.increment(recipients as u64);
            herald_bus::send_gateway_message(self.bus, &gateway, GatewayMessage::Deliver(deliveries)).await?;
        }
        Ok(())
    }
}

/// The batch's events, each with the `traceparent` of its fan-out span; what does not decode
/// is logged and skipped.
fn decode(partition: u32, entries: &[LogEntry]) -> (Vec<Cow<'_, Event>>, Vec<Option<String>>) {
    let mut events = Vec::with_capacity(entries.len());
    let mut traces = Vec::with_capacity(entries.len());
    for entry in entries {
        // in-process, the event itself (no copy); from NATS, decoded
        let event = match entry.payload.as_value::<Event>() {
            Some(event) => Ok(Cow::Borrowed(event)),
            None => entry.payload.clone().decode::<Event>().map(Cow::Owned),
        };
        match event {
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
    (events, traces)
}

/// Reads the members of the conversations `events` need that the cache lacks.
async fn load_members(
    store: &dyn DirectoryStore,
    cache: &mut MemberCache,
    events: &[Cow<'_, Event>],
) -> Result<(), StoreError> {
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
