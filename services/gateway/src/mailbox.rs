//! Long-poll mailboxes: what arrives between two polls of the same (session, platform) is kept,
//! bounded in events and in bytes, for at least `POLL_KEEP` after the last poll.

use crate::frames::Outbound;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Events a mailbox keeps; past it (or past its byte bound, `HERALD_OUTBOUND_QUEUE_BYTES`) the
/// oldest are dropped and the next poll says how many.
pub const MAILBOX_CAPACITY: usize = 1000;
/// How long a mailbox outlives its last poll.
pub const POLL_KEEP: Duration = Duration::from_secs(60);

pub struct Mailbox {
    queue: Mutex<Queued>,
    max_bytes: usize,
    arrived: Notify,
    dropped: AtomicU64,
    last_poll: Mutex<Instant>,
    polling: AtomicU64,
}

/// The kept events and their total payload.
#[derive(Default)]
struct Queued {
    events: VecDeque<Outbound>,
    bytes: usize,
}

impl Queued {
    fn pop_front(&mut self) -> Option<Outbound> {
        let frame = self.events.pop_front()?;
        self.bytes -= frame.byte_len();
        Some(frame)
    }
}

impl Mailbox {
    /// A mailbox keeping at most `MAILBOX_CAPACITY` events and `max_bytes` bytes.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            queue: Mutex::new(Queued::default()),
            max_bytes,
            arrived: Notify::new(),
            dropped: AtomicU64::new(0),
            last_poll: Mutex::new(Instant::now()),
            polling: AtomicU64::new(0),
        }
    }

    pub fn push(&self, frame: Outbound) {
        if matches!(frame, Outbound::Close { .. }) {
            // a mailbox has no socket to close; the kickout push before it says enough
            return;
        }
        let size = frame.byte_len();
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let mut dropped = 0;
        if size > self.max_bytes {
            dropped += 1; // it could never be kept
        } else {
            while queue.events.len() >= MAILBOX_CAPACITY || queue.bytes + size > self.max_bytes {
                queue.pop_front();
                dropped += 1;
            }
            queue.bytes += size;
            queue.events.push_back(frame);
        }
        drop(queue);
        if dropped > 0 {
            self.dropped.fetch_add(dropped, Ordering::Relaxed);
            metrics::counter!("herald_poll_dropped_total").increment(dropped);
        }
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
                if !queue.events.is_empty() {
                    let n = queue.events.len().min(max);
                    break (0..n).filter_map(|_| queue.pop_front()).collect::<Vec<_>>();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn text(len: usize) -> Outbound {
        Outbound::text_of_len(len)
    }

    #[tokio::test]
    async fn a_mailbox_is_bounded_in_bytes_and_drops_the_oldest() {
        let mailbox = Mailbox::new(100);
        for len in [40, 30, 20] {
            mailbox.push(text(len));
        }
        mailbox.push(text(50)); // 140 bytes: the oldest (40) goes
        mailbox.push(text(101)); // larger than the whole mailbox: never kept
        let (frames, dropped) = mailbox.poll(10, Duration::from_millis(1)).await;
        let lens: Vec<usize> = frames.iter().map(Outbound::byte_len).collect();
        assert_eq!((lens, dropped), (vec![30, 20, 50], 2));
        mailbox.push(text(100));
        let (frames, dropped) = mailbox.poll(10, Duration::from_millis(1)).await;
        assert_eq!(
            (frames.len(), dropped),
            (1, 0),
            "the bytes taken by a poll are free again"
        );
    }
}
