//! Embedded: the sequencer queues a batch's webhook jobs in the batch's own append.
//!
//! The in-process events log does not outlive the process, so a consumer of it (as `dispatch`
//! is of a cluster's durable log) would lose the events made just before a `kill -9`: stored and
//! acknowledged, never queued. Here the jobs are written in the same store transaction as the
//! messages that made them (`Change::Webhooks`): stored together, or not at all.

use crate::Wakers;
use crate::directory::Directory;
use crate::queue::{Queuer, Source};
use herald_bus::RouteTable;
use herald_protocol::bus::Event;
use herald_store::{DirectoryStore, StoreError, WebhookJob, WebhookStore};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// One event of a sequenced batch: its replay-stable id in the batch's log, the event, and the
/// `traceparent` of the command that made it.
pub type BatchEvent<'a> = (String, &'a Event, Option<String>);

pub struct Inline {
    directory: Arc<dyn DirectoryStore>,
    views: Directory,
    routes: Arc<RouteTable>,
    partitions: u32,
    /// Names this process's in-process log: ids of events without a message id include it.
    scope: String,
    wakers: Arc<Wakers>,
    /// The last order given: a lane's order must grow across restarts too (a process's log
    /// positions start over), so it follows the clock.
    last_order: AtomicI64,
}

impl Inline {
    pub fn new(
        directory: Arc<dyn DirectoryStore>,
        webhooks: Arc<dyn WebhookStore>,
        routes: Arc<RouteTable>,
        partitions: u32,
        scope: &str,
        wakers: Arc<Wakers>,
    ) -> Self {
        Self {
            directory,
            views: Directory::new(webhooks),
            routes,
            partitions,
            scope: scope.to_owned(),
            wakers,
            last_order: AtomicI64::new(0),
        }
    }

    /// Whether any of `events` belongs to an app with an endpoint (the apps' endpoints are
    /// cached): a batch without one skips naming its events for webhooks altogether.
    pub async fn wants(&self, events: &[(u64, Event)]) -> Result<bool, StoreError> {
        let views = self.views.views().await?;
        if views.is_empty() {
            return Ok(false);
        }
        Ok(events
            .iter()
            .any(|(_, event)| views.get(&event.app).is_some_and(|view| !view.endpoints.is_empty())))
    }

    /// The jobs of one sequenced batch's events (none, and no store read, for apps without
    /// endpoints).
    pub async fn jobs(&self, partition: u32, events: &[BatchEvent<'_>]) -> Result<Vec<WebhookJob>, StoreError> {
        let sources: Vec<Source<'_>> = events
            .iter()
            .map(|(id, event, trace)| Source {
                event,
                order: self.next_order(),
                event_id: format!("evt:{}:{id}", self.scope),
                trace: trace.clone(),
            })
            .collect();
        let queuer = Queuer {
            directory: self.directory.as_ref(),
            views: &self.views,
            routes: Some(&self.routes),
            partitions: self.partitions,
            partition,
        };
        queuer.jobs(&sources).await
    }

    /// Once the batch with `jobs` is stored: wakes the senders of their partitions.
    pub fn queued(&self, jobs: &[WebhookJob]) {
        crate::events::count_queued(jobs);
        let partitions: BTreeSet<u32> = jobs.iter().map(|j| j.partition).collect();
        for partition in partitions {
            self.wakers.wake(partition);
        }
    }

    /// The clock in nanoseconds, or one more than the last order given if the clock is behind.
    fn next_order(&self) -> i64 {
        let now = herald_protocol::timefmt::now_nanos();
        let previous = self
            .last_order
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| Some(now.max(last + 1)))
            .unwrap_or(now);
        now.max(previous + 1)
    }
}
