//! State shared by every task of one run: the clock, live counters, the recorder and the
//! signals that stop sending and reading.

use crate::recorder::Recorder;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Live counters, read by the progress bar and the drain.
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests written (sends and history reads).
    pub requests: AtomicU64,
    /// Requests answered, successfully or not.
    pub answered: AtomicU64,
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub errors: AtomicU64,
    pub delivered: AtomicU64,
    /// Pushes the sends so far should cause (sends × recipient connections).
    pub expected: AtomicU64,
    /// Pushes the acknowledged sends should cause.
    pub expected_acked: AtomicU64,
    pub reads: AtomicU64,
    pub connections: AtomicU64,
    pub disconnects: AtomicU64,
    /// Senders with a fixed count of requests that have not sent them all yet.
    pub counted_senders: AtomicU64,
}

impl Counters {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Requests sent and not answered yet.
    pub fn in_flight(&self) -> u64 {
        Self::get(&self.requests).saturating_sub(Self::get(&self.answered))
    }

    /// Pushes owed to recipients right now.
    pub fn backlog(&self) -> u64 {
        Self::get(&self.expected).saturating_sub(Self::get(&self.delivered))
    }
}

pub struct Run {
    /// Unique per run: session names and message keys start with it.
    pub id: String,
    /// When the load started (`go`); times are µs since then.
    epoch: OnceLock<Instant>,
    /// Cancelled when every connection is open: senders start.
    pub started: CancellationToken,
    pub counters: Counters,
    pub recorder: Arc<Recorder>,
    /// Cancelled when the load phase ends: senders stop.
    pub stop_sending: CancellationToken,
    /// Cancelled when the run ends: readers stop and hand in what they saw.
    pub stop_reading: CancellationToken,
    /// Bytes of message content.
    pub content_size: usize,
    /// Senders with a rate start together (`--burst`) rather than at random phases.
    pub burst: bool,
}

impl Run {
    pub fn new(content_size: usize, burst: bool) -> Arc<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        Arc::new(Self {
            id: format!("lt{:x}", (nanos as u64) ^ u64::from(std::process::id())),
            epoch: OnceLock::new(),
            started: CancellationToken::new(),
            counters: Counters::default(),
            recorder: Arc::new(Recorder::default()),
            stop_sending: CancellationToken::new(),
            stop_reading: CancellationToken::new(),
            burst,
            content_size,
        })
    }

    /// Starts the load: the clock, and the senders.
    pub fn go(&self) {
        let _ = self.epoch.set(Instant::now());
        self.started.cancel();
    }

    /// Microseconds since the load started (0 before).
    pub fn now_us(&self) -> u64 {
        self.epoch.get().map_or(0, |e| e.elapsed().as_micros() as u64)
    }

    pub fn elapsed(&self) -> Duration {
        self.epoch.get().map_or(Duration::ZERO, Instant::elapsed)
    }

    pub fn second_of(us: u64) -> u32 {
        (us / 1_000_000) as u32
    }

    /// Waits until every sender with a fixed count has sent it, or `timeout` passes: a run of
    /// "five probe messages in one second" sends five, however late the machine schedules them.
    /// True when they all finished.
    pub async fn counted_sent(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while Counters::get(&self.counters.counted_senders) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Waits until every request is answered and every push owed by an acknowledged send has
    /// arrived, or `timeout` passes. True when everything arrived.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let c = &self.counters;
            let done = c.in_flight() == 0 && Counters::get(&c.delivered) >= Counters::get(&c.expected_acked);
            if done {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
