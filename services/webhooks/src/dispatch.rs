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
        let events: Vec<(&LogEntry, Event)> = entries
            .iter()
            .filter_map(|entry| Some((entry, entry.payload.clone().decode::<Event>().ok()?)))
            .collect();
        if events.is_empty() {
            return Ok(());
        }
        let sources: Vec<Source<'_>> = events
            .iter()
            .map(|(entry, event)| Source {
                event,
                order: entry.position as i64,
                event_id: event_id(self.bus.scope(), self.partition, entry),
                trace: entry.trace.clone(),
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

/// An id for an event that has no message id: the id it was published under, which the
/// sequencer derives from its command's position, so an event published again by a replay keeps
/// it (the same id as `inline` gives); its place in the log when the log kept none.
fn event_id(scope: &str, partition: u32, entry: &LogEntry) -> String {
    match entry.dedupe_id() {
        Some(id) => format!("evt:{scope}:{id}"),
        None => format!("evt:{scope}:{partition}:{}", entry.position),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(position: u64, id: &'static str) -> LogEntry {
        LogEntry {
            position,
            payload: herald_bus::Payload::from(Vec::new()),
            pending: 0,
            trace: None,
            dedupe_id: bytes::Bytes::from_static(id.as_bytes()),
        }
    }

    /// A replay publishes an event again at another position (alone, its first copy in a pack
    /// that the log cannot compare it with): its webhook keeps its id, so receivers drop it.
    #[test]
    fn an_event_published_again_keeps_its_webhook_id() {
        let first = event_id("s", 3, &entry(7 << 16 | 4, "evt:a:c:42:0"));
        let again = event_id("s", 3, &entry(9 << 16, "evt:a:c:42:0"));
        assert_eq!(first, again);
        assert_eq!(first, "evt:s:evt:a:c:42:0");
        assert_ne!(event_id("s", 3, &entry(5, "")), event_id("s", 3, &entry(6, "")));
    }
}
