//! The one loop of every role that consumes a partition of a log (the sequencer its commands,
//! delivery its events): open a reader at the checkpoint, hand the role batches, save the
//! finished position at most every `CHECKPOINT_EVERY` (also when the log goes quiet, and on the
//! way out), resume from the checkpoint with backoff after a failure, and stop for good when the
//! role is fenced out.

use crate::backoff::Backoff;
use crate::ownership::{self, Grant};
use crate::{Bus, BusError, Log, LogEntry, LogReader};
use std::time::{Duration, Instant};

/// How often a partition's finished position is saved while it is busy.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Why a batch could not be finished.
#[derive(Debug, thiserror::Error)]
pub enum Interrupted {
    /// Another process owns the partition now: stop serving it (the grant is cancelled).
    #[error("fenced out: {0}")]
    Fenced(String),
    /// Anything else: resume from the checkpoint after a backoff.
    #[error("{0}")]
    Failed(String),
}

impl From<BusError> for Interrupted {
    fn from(err: BusError) -> Self {
        Interrupted::Failed(err.to_string())
    }
}

/// What a role does with the entries of a partition it owns.
pub trait PartitionConsumer: Send {
    /// Prepares one attempt at serving the partition, before its checkpoint is read: forget
    /// what an earlier attempt cached, claim what must be claimed before anything is read.
    fn begin(&mut self) -> impl Future<Output = Result<(), Interrupted>> + Send;

    /// Handles one batch completely (stored, published, sent); the loop then records every
    /// entry of it as finished.
    fn handle(
        &mut self,
        reader: &LogReader,
        batch: Vec<LogEntry>,
    ) -> impl Future<Output = Result<(), Interrupted>> + Send;
}

/// Which log a role consumes, and how.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerSpec {
    /// `sequencer` or `delivery`: names the checkpoint and the metrics.
    pub role: &'static str,
    pub log: Log,
    /// Most entries handed over in one batch.
    pub max_batch: usize,
}

/// Serves `grant`'s partition until the grant is cancelled or fenced out.
pub async fn consume<C: PartitionConsumer>(bus: &dyn Bus, spec: ConsumerSpec, grant: &Grant, consumer: &mut C) {
    let mut backoff = Backoff::default();
    while !grant.cancel.is_cancelled() {
        let started = Instant::now();
        match consume_once(bus, spec, grant, consumer).await {
            Ok(()) => break,
            Err(Interrupted::Fenced(why)) => {
                tracing::warn!(role = spec.role, partition = grant.partition, epoch = grant.epoch, %why, "fenced out; stopping");
                grant.cancel.cancel();
                break;
            }
            Err(Interrupted::Failed(error)) => {
                metrics::counter!("herald_consumer_restarts_total", "role" => spec.role).increment(1);
                tracing::warn!(role = spec.role, partition = grant.partition, %error, "partition loop failed; resuming from checkpoint");
                tokio::select! {
                    _ = grant.cancel.cancelled() => break,
                    _ = tokio::time::sleep(backoff.after_failure(started.elapsed())) => {}
                }
            }
        }
    }
    // a partition this process no longer serves has no lag of its own
    pending_gauge(spec.role, grant.partition).set(0.0);
}

fn pending_gauge(role: &'static str, partition: u32) -> metrics::Gauge {
    metrics::gauge!("herald_consumer_pending", "role" => role, "partition" => partition.to_string())
}

/// One attempt: from the checkpoint until cancelled (`Ok`) or interrupted.
async fn consume_once<C: PartitionConsumer>(
    bus: &dyn Bus,
    spec: ConsumerSpec,
    grant: &Grant,
    consumer: &mut C,
) -> Result<(), Interrupted> {
    let partition = grant.partition;
    consumer.begin().await.map_err(at("begin"))?;
    let checkpoint = ownership::load_checkpoint(bus, spec.role, partition)
        .await
        .map_err(at("checkpoint read"))?;
    let mut reader = bus
        .read_as(spec.log, partition, checkpoint, spec.role)
        .await
        .map_err(at("reader open"))?;
    tracing::info!(
        role = spec.role,
        partition,
        epoch = grant.epoch,
        checkpoint,
        "serving partition"
    );
    let pending = pending_gauge(spec.role, partition);
    let mut saver = Checkpoints::new(bus, spec.role, partition, checkpoint);
    loop {
        let batch = tokio::select! {
            biased;
            _ = grant.cancel.cancelled() => break,
            batch = reader.next_batch(spec.max_batch) => batch.map_err(at("read"))?,
            _ = tokio::time::sleep(CHECKPOINT_EVERY), if saver.behind() => {
                saver.try_save().await;
                continue;
            }
        };
        let Some(last) = batch.last() else { continue };
        let (position, lag) = (last.position, last.pending);
        pending.set(lag as f64);
        consumer.handle(&reader, batch).await.map_err(at("handle"))?;
        reader.done_through(position);
        saver.finished(position);
        if saver.due() {
            saver.try_save().await;
        }
    }
    if saver.behind() {
        saver.save().await.map_err(at("checkpoint save"))?;
    }
    Ok(())
}

/// Names the step of a partition loop an error came from, so a warning says what failed
/// (a checkpoint's bucket, the log, or the role's own work), not only "timed out".
fn at<E: Into<Interrupted>>(step: &'static str) -> impl FnOnce(E) -> Interrupted {
    move |err| match err.into() {
        Interrupted::Failed(why) => Interrupted::Failed(format!("{step}: {why}")),
        fenced => fenced,
    }
}

/// The finished position of one partition and when it was last saved.
struct Checkpoints<'a> {
    bus: &'a dyn Bus,
    role: &'static str,
    partition: u32,
    saved: u64,
    finished: u64,
    last_save: Instant,
    /// Saves failed in a row: the first is logged at warn, the end of the streak at info.
    failures: u32,
}

impl<'a> Checkpoints<'a> {
    fn new(bus: &'a dyn Bus, role: &'static str, partition: u32, checkpoint: u64) -> Self {
        Self {
            bus,
            role,
            partition,
            saved: checkpoint,
            finished: checkpoint,
            last_save: Instant::now(),
            failures: 0,
        }
    }

    fn finished(&mut self, position: u64) {
        self.finished = self.finished.max(position);
    }

    fn behind(&self) -> bool {
        self.finished > self.saved
    }

    fn due(&self) -> bool {
        self.behind() && self.last_save.elapsed() >= CHECKPOINT_EVERY
    }

    /// Saves while serving: a failed save (a KV hiccup) is retried a period later while the
    /// partition is served on, instead of ending the loop, which would reopen its reader and
    /// hand over again everything since the last saved checkpoint. A checkpoint that lags only
    /// means more to replay after a crash, and replays are idempotent.
    async fn try_save(&mut self) {
        match self.save().await {
            Ok(()) if self.failures > 0 => {
                tracing::info!(
                    role = self.role,
                    partition = self.partition,
                    failed = self.failures,
                    "checkpoint saved again"
                );
                self.failures = 0;
            }
            Ok(()) => {}
            Err(error) => {
                metrics::counter!("herald_checkpoint_save_failures_total", "role" => self.role).increment(1);
                if self.failures == 0 {
                    tracing::warn!(
                        role = self.role,
                        partition = self.partition,
                        %error,
                        "checkpoint save failed; serving on and retrying"
                    );
                }
                self.failures += 1;
                self.last_save = Instant::now();
            }
        }
    }

    async fn save(&mut self) -> Result<(), BusError> {
        ownership::store_checkpoint(self.bus, self.role, self.partition, self.finished).await?;
        self.saved = self.finished;
        self.last_save = Instant::now();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outgoing;
    use crate::inproc::InprocBus;
    use bytes::Bytes;
    use std::sync::{Arc, Mutex};
    use tokio_util::sync::CancellationToken;

    const SPEC: ConsumerSpec = ConsumerSpec {
        role: "test",
        log: Log::Commands,
        max_batch: 2,
    };

    /// Records what it was handed; fails (or is fenced) once when it first meets `trip`.
    #[derive(Default)]
    struct Recorder {
        begun: usize,
        handled: Arc<Mutex<Vec<u64>>>,
        trip: Option<(u64, bool)>,
    }

    impl PartitionConsumer for Recorder {
        async fn begin(&mut self) -> Result<(), Interrupted> {
            self.begun += 1;
            Ok(())
        }

        async fn handle(&mut self, _reader: &LogReader, batch: Vec<LogEntry>) -> Result<(), Interrupted> {
            for entry in batch {
                if let Some((at, fenced)) = self.trip
                    && entry.position == at
                {
                    self.trip = None;
                    return Err(if fenced {
                        Interrupted::Fenced("another owner".into())
                    } else {
                        Interrupted::Failed("a store hiccup".into())
                    });
                }
                self.handled.lock().unwrap().push(entry.position);
            }
            Ok(())
        }
    }

    /// Serves partition 0 of `bus` with `consumer` until the grant is cancelled; the consumer
    /// comes back from the task.
    fn serve<B: Bus + 'static>(
        bus: Arc<B>,
        grant: &Grant,
        mut consumer: Recorder,
    ) -> tokio::task::JoinHandle<Recorder> {
        let grant = grant.clone();
        tokio::spawn(async move {
            consume(bus.as_ref(), SPEC, &grant, &mut consumer).await;
            consumer
        })
    }

    /// Polls until `done` holds, or panics with `what` after 10 s.
    async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done().await {
            assert!(Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn checkpoint(bus: &dyn Bus) -> u64 {
        ownership::load_checkpoint(bus, "test", 0).await.unwrap()
    }

    async fn publish(bus: &InprocBus, count: u64) {
        publish_to(bus, 0, count).await;
    }

    /// Publishes `count` entries to partition 0, their dedupe ids numbered from `from`.
    async fn publish_to(bus: &dyn Bus, from: u64, count: u64) {
        let batch = (from..from + count)
            .map(|i| Outgoing {
                partition: 0,
                dedupe_id: format!("m{i}"),
                payload: Bytes::from_static(b"x").into(),
                trace: None,
                repeat: false,
            })
            .collect();
        assert!(bus.publish(Log::Commands, batch).await.iter().all(|p| p.is_ok()));
    }

    /// A failed batch is not lost: the loop begins again and reads from the saved checkpoint,
    /// so the entry that failed (and any after it) is handed over again, and the checkpoint
    /// ends at the last entry.
    #[tokio::test]
    async fn a_failed_batch_is_handed_over_again_from_the_checkpoint() {
        let bus = Arc::new(InprocBus::new(1));
        publish(&bus, 6).await;
        let grant = Grant::standalone(0, 1, CancellationToken::new());
        let handled = Arc::new(Mutex::new(Vec::new()));
        let consumer = Recorder {
            handled: handled.clone(),
            trip: Some((4, false)),
            ..Recorder::default()
        };
        let serving = serve(bus.clone(), &grant, consumer);
        eventually("the checkpoint reaches the last entry", async || {
            checkpoint(bus.as_ref()).await >= 6
        })
        .await;
        grant.cancel.cancel();
        let consumer = serving.await.unwrap();
        assert_eq!(consumer.begun, 2, "one restart");
        let seen = handled.lock().unwrap().clone();
        let mut unique = seen.clone();
        unique.dedup();
        assert_eq!(unique, (1..=6).collect::<Vec<_>>(), "nothing skipped: {seen:?}");
    }

    /// A checkpoint bucket that fails for a while does not end the loop: the partition is served
    /// on (nothing handed over twice, the reader not reopened), and the checkpoint catches up
    /// once the bucket answers again.
    #[tokio::test]
    async fn failing_checkpoint_saves_do_not_interrupt_serving() {
        let bus = Arc::new(crate::kv_fails::KvFails::new(InprocBus::new(1), |bucket, _| {
            bucket == crate::Bucket::Checkpoints
        }));
        let grant = Grant::standalone(0, 1, CancellationToken::new());
        let handled = Arc::new(Mutex::new(Vec::new()));
        let consumer = Recorder {
            handled: handled.clone(),
            ..Recorder::default()
        };
        let serving = serve(bus.clone(), &grant, consumer);
        publish_to(bus.as_ref(), 0, 3).await;
        eventually("3 entries handed over", async || handled.lock().unwrap().len() >= 3).await;
        bus.failing.store(true, std::sync::atomic::Ordering::Release);
        publish_to(bus.as_ref(), 3, 3).await;
        eventually("6 entries handed over", async || handled.lock().unwrap().len() >= 6).await;
        // several saves refused while serving on
        eventually("saves refused", async || {
            bus.refused.load(std::sync::atomic::Ordering::Acquire) >= 3
        })
        .await;
        bus.failing.store(false, std::sync::atomic::Ordering::Release);
        eventually("the checkpoint caught up", async || checkpoint(bus.as_ref()).await >= 6).await;
        grant.cancel.cancel();
        let consumer = serving.await.unwrap();
        assert_eq!(consumer.begun, 1, "never restarted");
        assert_eq!(*handled.lock().unwrap(), (1..=6).collect::<Vec<_>>(), "each entry once");
    }

    /// Fenced out: the loop stops for good and cancels the grant, so the ownership loop lets
    /// the partition go instead of serving it again.
    #[tokio::test]
    async fn a_fenced_consumer_stops_and_gives_the_partition_up() {
        let bus = InprocBus::new(1);
        publish(&bus, 3).await;
        let grant = Grant::standalone(0, 1, CancellationToken::new());
        let mut consumer = Recorder {
            trip: Some((2, true)),
            ..Recorder::default()
        };
        tokio::time::timeout(Duration::from_secs(10), consume(&bus, SPEC, &grant, &mut consumer))
            .await
            .expect("the loop ends by itself");
        assert!(grant.cancel.is_cancelled());
        assert_eq!(consumer.begun, 1, "not begun again");
        assert_eq!(*consumer.handled.lock().unwrap(), vec![1]);
    }
}
