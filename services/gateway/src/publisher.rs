//! Publishes commands in pipelined batches: many requests, one round trip. A send the log
//! drops as a duplicate (a retry of a key already published) is answered from the store when
//! its original is stored, and otherwise published again under a fresh log id: the original may
//! have been refused (not a member, not friends, anti-spam), and a retry must get an answer of
//! its own. The sequencer's idempotency check, not the log's, is what keeps a retry from
//! storing a second message.

use crate::pending::Pending;
use herald_bus::{Bus, Log, Outgoing, Payload, Published};
use herald_protocol::bus::{Action, Command, Reply};
use herald_protocol::error_code::WireError;
use herald_protocol::{ErrorCode, partition::partition_of};
use herald_store::Store;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Commands queued for publishing before senders wait.
pub const PUBLISH_QUEUE: usize = 8192;
const PUBLISH_BATCH: usize = 2048;

struct Job {
    /// Carries the command as a value (the NATS bus serializes it when it publishes).
    outgoing: Outgoing,
    request: u64,
}

#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::Sender<Job>,
    partitions: u32,
}

impl Publisher {
    pub fn start(bus: Arc<dyn Bus>, store: Arc<dyn Store>, pending: Arc<Pending>) -> Self {
        let (tx, rx) = mpsc::channel(PUBLISH_QUEUE);
        let partitions = bus.partitions();
        // weak: the loop ends once every publisher handle is gone
        tokio::spawn(run(rx, tx.downgrade(), bus, store, pending));
        Self { tx, partitions }
    }

    /// Queues a command for request `request`; waits while the queue is full (backpressure).
    pub async fn publish(&self, command: Command, request: u64, trace: Option<String>) -> Result<(), WireError> {
        let partition = partition_of(&command.app, &command.conv, self.partitions);
        let dedupe_id = command
            .dedupe_id()
            .unwrap_or_else(|| format!("req:{}", uuid::Uuid::new_v4().simple()));
        let outgoing = Outgoing {
            partition,
            dedupe_id,
            payload: Payload::value(command),
            trace,
            repeat: false,
        };
        self.tx
            .send(Job { outgoing, request })
            .await
            .map_err(|_| WireError::new(ErrorCode::Unavailable, "gateway shutting down"))
    }
}

async fn run(
    mut rx: mpsc::Receiver<Job>,
    again: mpsc::WeakSender<Job>,
    bus: Arc<dyn Bus>,
    store: Arc<dyn Store>,
    pending: Arc<Pending>,
) {
    let mut jobs = Vec::with_capacity(PUBLISH_BATCH);
    let batch_size = metrics::histogram!("herald_publish_batch_size");
    let published = metrics::counter!("herald_commands_published_total");
    let deduplicated = metrics::counter!("herald_commands_deduplicated_total");
    while rx.recv_many(&mut jobs, PUBLISH_BATCH).await > 0 {
        let batch: Vec<Outgoing> = jobs.iter().map(|j| j.outgoing.clone()).collect();
        batch_size.record(batch.len() as f64);
        let outcomes = bus.publish(Log::Commands, batch).await;
        let (mut stored, mut duplicates) = (0, 0);
        for (job, outcome) in jobs.drain(..).zip(outcomes) {
            match outcome {
                Ok(Published::Stored(_)) => stored += 1,
                Ok(Published::Duplicate) => {
                    duplicates += 1;
                    let again = again.clone();
                    tokio::spawn(answer_duplicate(store.clone(), pending.clone(), job, again));
                }
                Err(err) => {
                    tracing::warn!(error = %err, "command publish failed");
                    pending.complete(
                        job.request,
                        Err(WireError::new(
                            ErrorCode::Unavailable,
                            "could not accept the request, retry",
                        )),
                    );
                }
            }
        }
        published.increment(stored);
        deduplicated.increment(duplicates);
    }
}

/// A send the log dropped as a duplicate: answered with its stored original, or published again
/// under a fresh log id when there is none (refused, or not sequenced yet: the sequencer answers
/// a replay of a key it stores meanwhile with the original).
async fn answer_duplicate(store: Arc<dyn Store>, pending: Arc<Pending>, mut job: Job, again: mpsc::WeakSender<Job>) {
    let command = match job.outgoing.payload.clone().decode::<Command>() {
        Ok(command) => command,
        Err(err) => {
            tracing::error!(error = %err, "a queued command does not decode");
            return;
        }
    };
    let Action::Send(send) = &command.action else {
        return;
    };
    let keys = [(send.from.clone(), send.idempotency_key.clone())];
    match store.find_idempotent(&command.app, &command.conv, &keys).await {
        Ok(found) if !found.is_empty() => {
            let original = found.into_iter().next().expect("non-empty");
            pending.complete(job.request, Ok(Reply::Message(original)));
            return;
        }
        Ok(_) => {}
        // published again below: the sequencer looks the key up itself
        Err(err) => tracing::warn!(error = %err, "idempotency lookup failed"),
    }
    metrics::counter!("herald_commands_republished_total").increment(1);
    job.outgoing.dedupe_id = format!("{}:again:{}", job.outgoing.dedupe_id, uuid::Uuid::new_v4().simple());
    let sent = match again.upgrade() {
        Some(tx) => tx.send(job).await.map_err(|err| err.0),
        None => Err(job),
    };
    if let Err(job) = sent {
        pending.complete(
            job.request,
            Err(WireError::new(ErrorCode::Unavailable, "gateway shutting down")),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_bus::inproc::{InprocBus, RING_CAPACITY};
    use herald_protocol::{AppId, ConvId, SessionId};
    use herald_store::sqlite::SqliteStore;

    fn read_command() -> Command {
        Command {
            app: AppId::parse("a").unwrap(),
            conv: ConvId::parse("c").unwrap(),
            reply_to: None,
            action: Action::Read {
                session: SessionId::parse("s").unwrap(),
                seq: None,
            },
        }
    }

    /// Invariant 5, the publish window: while the log takes nothing, the publisher holds one
    /// batch in flight and a queue of `PUBLISH_QUEUE`, then its callers wait; nothing is
    /// dropped, and once the log has room every command is published.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn senders_wait_when_the_queue_and_the_batch_in_flight_are_full() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
        let bus: Arc<dyn Bus> = Arc::new(InprocBus::new(1));
        // a full command log: the publisher's batch in flight cannot land
        let fill = (0..RING_CAPACITY)
            .map(|i| Outgoing {
                partition: 0,
                dedupe_id: format!("fill{i}"),
                payload: Payload::value("x".to_owned()),
                trace: None,
                repeat: false,
            })
            .collect();
        bus.publish(Log::Commands, fill).await;
        let publisher = Publisher::start(bus.clone(), store, Arc::new(Pending::new(16)));

        let bound = PUBLISH_QUEUE + PUBLISH_BATCH;
        let mut accepted = 0;
        let mut waiting = None;
        for request in 0..=bound as u64 {
            // polled, not timed: a bounded queue with a stuck consumer stays full (unconstrained:
            // tokio's cooperative budget would otherwise report "pending" after 128 polls)
            let mut publish = Box::pin(tokio::task::unconstrained(publisher.publish(
                read_command(),
                request,
                None,
            )));
            match futures::poll!(&mut publish) {
                std::task::Poll::Ready(result) => {
                    result.unwrap();
                    accepted += 1;
                }
                std::task::Poll::Pending => {
                    waiting = Some(publish);
                    break;
                }
            }
        }
        let waiting = waiting.unwrap_or_else(|| panic!("{accepted} commands accepted with the log full"));
        assert!(
            (PUBLISH_QUEUE..=bound).contains(&accepted),
            "{accepted} accepted before the first wait; the bound is the queue ({PUBLISH_QUEUE}) plus one batch ({PUBLISH_BATCH})"
        );

        // the log drains: the waiting sender goes through and every command lands, in order
        let mut reader = bus.read(Log::Commands, 0, 0).await.unwrap();
        let mut published = 0;
        let mut waiting = Some(waiting);
        while published < accepted + 1 {
            if let Some(mut publish) = waiting.take()
                && futures::poll!(&mut publish).is_pending()
            {
                waiting = Some(publish);
            }
            let batch = reader.next_batch(4096).await.unwrap();
            let last = batch.last().unwrap().position;
            published += batch
                .iter()
                .filter(|e| e.payload.as_value::<Command>().is_some())
                .count();
            reader.done_through(last);
        }
        assert_eq!(published, accepted + 1, "every accepted command reaches the log");
    }
}
