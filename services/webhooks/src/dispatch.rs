//! The events log's webhook events (clusters): another consumer of each partition, beside
//! delivery, with its own checkpoint, that queues the jobs of the events of apps with endpoints
//! (`queue`). Queuing is idempotent (one job per endpoint and event id), so a batch replayed after
//! a crash queues nothing twice.

use crate::queue::{Queuer, Source};
use herald_bus::consumer::{Interrupted, PartitionConsumer};
use herald_bus::{Bus, LogEntry, LogReader, RouteTable};
use herald_protocol::bus::Event;
use herald_store::{DirectoryStore, WebhookStore};
use std::sync::Arc;

/// One partition's webhook events.
pub struct Dispatch<'a> {
    pub directory: &'a dyn DirectoryStore,
    pub webhooks: &'a dyn WebhookStore,
    /// The apps' endpoints and bots, shared by the process's partitions.
    pub views: &'a crate::directory::Directory,
    /// Wakes this partition's senders once jobs are queued.
    pub wake: &'a tokio::sync::Notify,
    pub bus: &'a dyn Bus,
    pub partition: u32,
    pub routes: Option<Arc<RouteTable>>,
}

fn failed(err: impl std::fmt::Display) -> Interrupted {
    Interrupted::Failed(err.to_string())
}

impl PartitionConsumer for Dispatch<'_> {
    async fn begin(&mut self) -> Result<(), Interrupted> {
        self.routes = Some(self.bus.route_table().await?);
        Ok(())
    }

    async fn handle(&mut self, _reader: &LogReader, entries: Vec<LogEntry>) -> Result<(), Interrupted> {
        // no app has an endpoint: nothing to decode (the view is at most `REFRESH` old, and a
        // registration is answered only after `SETTLE`, so no event after it is skipped here)
        if self.views.views().await.map_err(failed)?.is_empty() {
            return Ok(());
        }
        let events: Vec<(u64, Event, Option<&str>)> = entries
            .iter()
            .filter_map(|entry| {
                let event = entry.payload.clone().decode::<Event>().ok()?;
                Some((entry.position, event, entry.trace.as_deref()))
            })
            .collect();
        if events.is_empty() {
            return Ok(());
        }
        let sources: Vec<Source<'_>> = events
            .iter()
            .map(|(position, event, trace)| Source {
                event,
                order: *position as i64,
                event_id: self.log_id(*position),
                trace: trace.map(str::to_owned),
            })
            .collect();
        let queuer = Queuer {
            directory: self.directory,
            views: self.views,
            routes: self.routes.as_deref(),
            partitions: self.bus.partitions(),
            partition: self.partition,
        };
        let jobs = queuer.jobs(&sources).await.map_err(failed)?;
        if jobs.is_empty() {
            return Ok(());
        }
        self.webhooks.enqueue(&jobs).await.map_err(failed)?;
        crate::events::count_queued(&jobs);
        self.wake.notify_waiters();
        Ok(())
    }
}

impl Dispatch<'_> {
    /// An id for an event that has no message id: its place in this bus's events log (the bus's
    /// scope names the log).
    fn log_id(&self, position: u64) -> String {
        format!("evt:{}:{}:{position}", self.bus.scope(), self.partition)
    }
}
