//! The sequencer: consumes each partition's commands, validates them, gives every message its
//! Snowflake id and its conversation's next `Seq`, appends the batch to the store, answers the
//! waiting gateways and publishes the events. One process owns a partition at a time (a lease
//! with a fencing epoch); a replayed command finds its original by idempotency key.

mod partition;
mod plan;

pub use plan::{ConvState, Known, Plan, plan_batch};

pub use futures::future::BoxFuture;
use herald_bus::Bus;
use herald_bus::ownership::{self, OwnershipConfig};
use herald_protocol::bus::Event;
use herald_store::{Change, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const ROLE: &str = "sequencer";

#[derive(Debug, Clone)]
pub struct SequencerConfig {
    /// This process's name among sequencers (letters, digits, `-`, `_`).
    pub instance: String,
    /// A dead sequencer's partitions move after at most this long.
    pub lease_ttl: Duration,
    /// Most commands sequenced in one batch (one store append, one publish round).
    pub max_batch: usize,
    /// Conversations whose state is kept in memory per partition.
    pub max_cached_conversations: usize,
    /// Changes written in each batch's own append beside its messages (see [`WithBatch`]).
    pub with_batch: Option<Arc<dyn WithBatch>>,
}

/// What must be stored exactly when a batch is: changes the batch's events make, written in the
/// batch's own append (one transaction on SQLite). The embedded server queues its webhook jobs
/// this way, since its events log does not outlive the process.
pub trait WithBatch: Send + Sync {
    /// Whether the batch's `events` (with their log positions) make any change at all; when not,
    /// the batch skips naming its events for [`WithBatch::changes`] (a cost per message).
    fn wants<'a>(&'a self, events: &'a [(u64, Event)]) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// The changes of a batch's events, each `(its replay-stable id, the event, the traceparent
    /// of its command)`. An error fails the batch, which is then retried.
    fn changes<'a>(
        &'a self,
        partition: u32,
        events: &'a [(String, &'a Event, Option<String>)],
    ) -> BoxFuture<'a, Result<Vec<Change>, StoreError>>;
    /// Called once the batch carrying `changes` is stored.
    fn stored(&self, changes: &[Change]);
}

impl std::fmt::Debug for dyn WithBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WithBatch")
    }
}

impl SequencerConfig {
    pub fn new(instance: impl Into<String>) -> Self {
        Self {
            instance: instance.into(),
            lease_ttl: Duration::from_secs(5),
            max_batch: 512,
            max_cached_conversations: 50_000,
            with_batch: None,
        }
    }
}

/// Runs until `shutdown`; then finishes the batch in hand and releases its partitions at once.
pub async fn run(store: Arc<dyn Store>, bus: Arc<dyn Bus>, config: SequencerConfig, shutdown: CancellationToken) {
    assert!(
        bus.partitions() <= 1024,
        "snowflake worker ids are 10 bits: at most 1024 partitions"
    );
    let ownership_config = OwnershipConfig {
        role: ROLE,
        instance: config.instance.clone(),
        lease_ttl: config.lease_ttl,
        partitions: bus.partitions(),
    };
    let config = Arc::new(config);
    let start_bus = bus.clone();
    ownership::run(bus, ownership_config, shutdown, move |grant| {
        partition::serve(store.clone(), start_bus.clone(), config.clone(), grant)
    })
    .await;
}
