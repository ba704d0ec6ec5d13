//! Long-poll mailboxes: what arrives between two polls of the same (session, platform) is kept,
//! bounded, for at least `POLL_KEEP` after the last poll.

use crate::Shared;
use crate::hub::{ConnKind, Outbound};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Events a mailbox keeps; past it the oldest are dropped and the next poll says how many.
pub const MAILBOX_CAPACITY: usize = 1000;
/// How long a mailbox outlives its last poll.
pub const POLL_KEEP: Duration = Duration::from_secs(60);

pub struct Mailbox {
    queue: Mutex<VecDeque<Outbound>>,
    arrived: Notify,
    dropped: AtomicU64,
    last_poll: Mutex<Instant>,
    polling: AtomicU64,
}

impl Default for Mailbox {
    fn default() -> Self {
        Self {
            queue: Mutex::new(VecDeque::new()),
            arrived: Notify::new(),
            dropped: AtomicU64::new(0),
            last_poll: Mutex::new(Instant::now()),
            polling: AtomicU64::new(0),
        }
    }
}

impl Mailbox {
    pub fn push(&self, frame: Outbound) {
        if matches!(frame, Outbound::Close { .. }) {
            // a mailbox has no socket to close; the kickout push before it says enough
            return;
        }
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if queue.len() >= MAILBOX_CAPACITY {
            queue.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("herald_poll_dropped_total").increment(1);
        }
        queue.push_back(frame);
        drop(queue);
        self.arrived.notify_waiters();
    }

    /// Waits up to `wait` for at least one event; returns up to `max` and how many were dropped
    /// since the last poll.
    pub async fn poll(&self, max: usize, wait: Duration) -> (Vec<Outbound>, u64) {
        self.polling.fetch_add(1, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + wait;
        let taken = loop {
            let arrived = self.arrived.notified();
            {
                let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                if !queue.is_empty() {
                    let n = queue.len().min(max);
                    break queue.drain(..n).collect::<Vec<_>>();
                }
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                break Vec::new();
            }
        };
        *self.last_poll.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.polling.fetch_sub(1, Ordering::SeqCst);
        (taken, self.dropped.swap(0, Ordering::Relaxed))
    }

    /// True when nobody polls and nobody has for `POLL_KEEP`.
    pub fn is_abandoned(&self) -> bool {
        self.polling.load(Ordering::SeqCst) == 0
            && self.last_poll.lock().unwrap_or_else(|p| p.into_inner()).elapsed() > POLL_KEEP
    }
}

/// A (session, platform)'s mailbox and its registration in the hub.
#[derive(Clone)]
pub struct PollBox {
    pub mailbox: Arc<Mailbox>,
    pub conn_id: u64,
}

/// Unregisters mailboxes nobody polled for `POLL_KEEP`.
pub async fn expire(shared: &Shared) {
    let abandoned: Vec<_> = {
        let mut boxes = shared.mailboxes.lock().unwrap_or_else(|p| p.into_inner());
        let keys: Vec<_> = boxes
            .iter()
            .filter(|(_, b)| b.mailbox.is_abandoned())
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| boxes.remove(&k).map(|b| (k, b)))
            .collect()
    };
    for ((app, session, _), poll_box) in abandoned {
        shared
            .hub
            .unregister(&app, &session, poll_box.conn_id, ConnKind::Poll)
            .await;
    }
}
