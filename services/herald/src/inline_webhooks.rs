//! Embedded (`herald up` without NATS): the sequencer's batches carry their webhook jobs, so a
//! `kill -9` never separates a stored message from its webhook events
//! (`herald_webhooks::inline`; a cluster queues them off its durable events log instead).

use herald_bus::Bus;
use herald_protocol::bus::Event;
use herald_sequencer::{BoxFuture, WithBatch};
use herald_store::{Change, Store, StoreError};
use herald_webhooks::Wakers;
use herald_webhooks::inline::Inline;
use std::sync::Arc;

pub struct InlineWebhooks(Inline);

impl InlineWebhooks {
    pub async fn new(store: &Arc<dyn Store>, bus: &Arc<dyn Bus>, wakers: Arc<Wakers>) -> anyhow::Result<Self> {
        let routes = bus.route_table().await?;
        Ok(Self(Inline::new(
            store.clone(),
            store.clone(),
            routes,
            bus.partitions(),
            bus.scope(),
            wakers,
        )))
    }
}

impl WithBatch for InlineWebhooks {
    fn wants<'a>(&'a self, events: &'a [(u64, Event)]) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.0.wants(events))
    }

    fn changes<'a>(
        &'a self,
        partition: u32,
        events: &'a [(String, &'a Event, Option<String>)],
    ) -> BoxFuture<'a, Result<Vec<Change>, StoreError>> {
        Box::pin(async move {
            let jobs = self.0.jobs(partition, events).await?;
            Ok(if jobs.is_empty() {
                Vec::new()
            } else {
                vec![Change::Webhooks(jobs)]
            })
        })
    }

    fn stored(&self, changes: &[Change]) {
        for change in changes {
            if let Change::Webhooks(jobs) = change {
                self.0.queued(jobs);
            }
        }
    }
}
