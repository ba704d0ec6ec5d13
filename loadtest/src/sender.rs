//! The sending half of a connection: requests at a target rate or as fast as the window of
//! unanswered requests allows, pausing while recipients are too far behind.

use crate::frames;
use crate::recorder::Sample;
use crate::run::{Counters, Run};
use crate::ws::Socket;
use futures::SinkExt;
use futures::stream::SplitSink;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

pub type Sink = SplitSink<Socket, Message>;

/// A random number in [0, 1): std's per-instance random hash keys, no generator crate needed.
pub fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let bits = std::collections::hash_map::RandomState::new().build_hasher().finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// What a connection sends.
#[derive(Debug, Clone)]
pub enum Work {
    /// `msg-im` to one conversation.
    Messages {
        /// The conversation id as a JSON string.
        conv_json: String,
        /// Unique per connection; message keys are `<prefix>-<n>`.
        key_prefix: String,
        /// Pushes each message causes (recipient connections, the sender's own included).
        fanout: u64,
        pace: Pace,
    },
    /// `msg-listHistory` of one conversation.
    History { conv_json: String, limit: u64, pace: Pace },
}

/// How fast: a rate, a window of unanswered requests, a backlog at which to pause, a count.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Requests per second from this connection; `None`: as fast as the window allows.
    pub rate: Option<f64>,
    pub window: u32,
    /// Pushes owed to all recipients of the run at which sending pauses.
    pub max_backlog: Option<u64>,
    /// Requests to send at most.
    pub limit: Option<u64>,
}

impl Work {
    pub fn window(&self) -> u32 {
        match self {
            Work::Messages { pace, .. } | Work::History { pace, .. } => pace.window,
        }
    }

    /// Pushes caused by one request.
    pub fn fanout(&self) -> u64 {
        match self {
            Work::Messages { fanout, .. } => *fanout,
            Work::History { .. } => 0,
        }
    }
}

/// Waits until request `n` is due and the backlog is under its bound; false once the run stops.
pub async fn wait_turn(
    pace: &Pace,
    start: tokio::time::Instant,
    n: u64,
    counters: &Counters,
    stop: &CancellationToken,
) -> bool {
    if let Some(rate) = pace.rate {
        let due = start + Duration::from_secs_f64(n as f64 / rate);
        if due > tokio::time::Instant::now() {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return false,
                _ = tokio::time::sleep_until(due) => {}
            }
        }
    }
    if let Some(max) = pace.max_backlog {
        while counters.backlog() > max {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return false,
                _ = tokio::time::sleep(Duration::from_millis(1)) => {}
            }
        }
    }
    true
}

/// Takes up to `more` further permits that are free right now; how many it took.
fn take_more(permits: &Semaphore, more: u64) -> u64 {
    let mut taken = 0;
    while taken < more {
        match permits.try_acquire() {
            Ok(permit) => {
                permit.forget();
                taken += 1;
            }
            Err(_) => break,
        }
    }
    taken
}

/// The text of request `n`, sent at `now` (µs into the run).
fn request_text(work: &Work, run: &Run, now: u64, n: u64) -> String {
    let req_id = frames::req_id(now, n);
    match work {
        Work::Messages {
            conv_json, key_prefix, ..
        } => frames::msg_im(
            req_id,
            conv_json,
            &format!("{key_prefix}-{n}"),
            &frames::content(now, run.content_size),
        ),
        Work::History { conv_json, limit, .. } => frames::list_history(req_id, conv_json, *limit),
    }
}

/// Counts one sender with a fixed count of requests among `counted_senders` while it lives.
pub struct Counted<'a>(&'a Counters);

impl<'a> Counted<'a> {
    pub fn new(counters: &'a Counters) -> Self {
        Counters::add(&counters.counted_senders, 1);
        Self(counters)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0
            .counted_senders
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// When a sender may send, and how many at once: the pace (rate, backlog, count) and the window
/// of unanswered requests. Every sending connection uses it — Herald's, and the peers' in
/// `peer::` — so a rate or a window means the same thing whatever the protocol.
pub struct Turns {
    pace: Pace,
    permits: Arc<Semaphore>,
    start: tokio::time::Instant,
    stop: CancellationToken,
}

impl Turns {
    /// Waits for the load to start; `None` if the run stopped sending first. `permits` holds the
    /// window: whoever reads the answers returns one per answered request.
    pub async fn begin(run: &Run, pace: Pace, permits: Arc<Semaphore>) -> Option<Self> {
        let stop = run.stop_sending.clone();
        tokio::select! {
            _ = run.started.cancelled() => {}
            _ = stop.cancelled() => return None,
        }
        // with a rate, each sender starts at a random point of its first interval (unless --burst):
        // otherwise "1,000 msg/s from 400 senders" is 400 messages at once every 400 ms
        let phase = match pace.rate {
            Some(rate) if !run.burst && rate > 0.0 => Duration::from_secs_f64(random_fraction() / rate),
            _ => Duration::ZERO,
        };
        Some(Self {
            pace,
            permits,
            start: tokio::time::Instant::now() + phase,
            stop,
        })
    }

    /// How many requests may go now, `n` having gone before (at least one, their window slots
    /// taken); `None` once the run stops sending or the count is reached.
    pub async fn next(&self, n: u64, counters: &Counters) -> Option<u64> {
        let pace = &self.pace;
        if self.stop.is_cancelled() || pace.limit.is_some_and(|limit| n >= limit) {
            return None;
        }
        if !wait_turn(pace, self.start, n, counters, &self.stop).await {
            return None;
        }
        // stop first: once the load phase is over, not one more request
        let permit = tokio::select! {
            biased;
            _ = self.stop.cancelled() => return None,
            permit = self.permits.acquire() => permit,
        };
        permit.ok()?.forget();
        // more at once while the window and the rate allow: one flush for the batch
        let mut cap = pace.limit.map_or(u64::MAX, |limit| limit - n);
        if let Some(rate) = pace.rate {
            let owed = (self.start.elapsed().as_secs_f64() * rate) as u64 + 1;
            cap = cap.min(owed.saturating_sub(n).max(1));
        }
        Some(1 + take_more(&self.permits, cap - 1))
    }
}

/// Sends until the run stops sending (or the limit is reached); returns the sink to close later.
pub async fn drive(mut sink: Sink, permits: Arc<Semaphore>, run: Arc<Run>, work: Work) -> Sink {
    let (pace, is_message) = match &work {
        Work::Messages { pace, .. } => (*pace, true),
        Work::History { pace, .. } => (*pace, false),
    };
    let fanout = work.fanout();
    let counters = &run.counters;
    // a sender with a fixed count holds the load phase open until it has sent it
    let _counted = pace.limit.map(|_| Counted::new(counters));
    let Some(turns) = Turns::begin(&run, pace, permits).await else {
        return sink;
    };
    let mut local = run.recorder.local();
    let mut n: u64 = 0;
    'sending: while let Some(batch) = turns.next(n, counters).await {
        for _ in 0..batch {
            let now = run.now_us();
            let text = request_text(&work, &run, now, n);
            Counters::add(&counters.requests, 1);
            if is_message {
                Counters::add(&counters.sent, 1);
                Counters::add(&counters.expected, fanout);
                local.record(Sample::Sent {
                    second: Run::second_of(now),
                });
            }
            n += 1;
            if sink.feed(Message::Text(text.into())).await.is_err() {
                break 'sending;
            }
        }
        if sink.flush().await.is_err() {
            break;
        }
    }
    sink
}
