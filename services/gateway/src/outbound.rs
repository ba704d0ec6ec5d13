//! A connection's outbound queue, bounded in frames and in bytes: what a client has not yet
//! read costs the gateway at most `HERALD_OUTBOUND_QUEUE` frames and `HERALD_OUTBOUND_QUEUE_BYTES`.

use crate::frames::Outbound;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// One of the two bounds would be passed: the connection does not read fast enough.
    Full,
    /// The connection's writer is gone.
    Closed,
}

/// A plain deque under a lock rather than a channel: an empty one allocates nothing, where a
/// tokio channel allocates a block of 32 slots (about 1.5 KiB) up front, and most connections
/// are idle most of the time. One writer takes from it; the lock is never held across an await.
struct Queue {
    state: Mutex<State>,
    /// Wakes the writer when a frame arrives or the last producer leaves.
    ready: Notify,
    max_frames: usize,
    max_bytes: usize,
}

#[derive(Default)]
struct State {
    frames: VecDeque<Outbound>,
    bytes: usize,
    producers: usize,
    writer_gone: bool,
}

/// The producers' end (replies, pushes); cheap to clone.
pub struct OutboundTx {
    queue: Arc<Queue>,
}

/// The writer's end.
pub struct OutboundRx {
    queue: Arc<Queue>,
}

/// A queue of at most `max_frames` frames and `max_bytes` bytes of payload.
pub fn channel(max_frames: usize, max_bytes: usize) -> (OutboundTx, OutboundRx) {
    let queue = Arc::new(Queue {
        state: Mutex::new(State {
            producers: 1,
            ..State::default()
        }),
        ready: Notify::new(),
        max_frames: max_frames.max(1),
        max_bytes,
    });
    (OutboundTx { queue: queue.clone() }, OutboundRx { queue })
}

impl Queue {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // a panic elsewhere while holding it leaves plain data behind: keep going
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Clone for OutboundTx {
    fn clone(&self) -> Self {
        self.queue.state().producers += 1;
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl Drop for OutboundTx {
    fn drop(&mut self) {
        let last = {
            let mut state = self.queue.state();
            state.producers -= 1;
            state.producers == 0
        };
        if last {
            self.queue.ready.notify_one();
        }
    }
}

impl OutboundTx {
    /// Queues `frame` without waiting. A close frame is never refused for its size (it ends
    /// the connection, whatever is queued before it).
    pub fn try_send(&self, frame: Outbound) -> Result<(), Refused> {
        let size = frame.byte_len();
        let closing = matches!(frame, Outbound::Close { .. });
        {
            let mut state = self.queue.state();
            if state.writer_gone {
                return Err(Refused::Closed);
            }
            if state.frames.len() >= self.queue.max_frames
                || (!closing && state.bytes.saturating_add(size) > self.queue.max_bytes)
            {
                return Err(Refused::Full);
            }
            state.bytes += size;
            state.frames.push_back(frame);
        }
        self.queue.ready.notify_one();
        Ok(())
    }
}

impl OutboundRx {
    /// The next frame; `None` once every producer is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Outbound> {
        loop {
            // registered before the check: a frame queued in between still wakes this
            let ready = self.queue.ready.notified();
            {
                let mut state = self.queue.state();
                if let Some(frame) = Self::pop(&mut state) {
                    return Some(frame);
                }
                if state.producers == 0 {
                    return None;
                }
            }
            ready.await;
        }
    }

    pub fn try_recv(&mut self) -> Option<Outbound> {
        Self::pop(&mut self.queue.state())
    }

    fn pop(state: &mut State) -> Option<Outbound> {
        let frame = state.frames.pop_front()?;
        state.bytes -= frame.byte_len();
        if state.frames.is_empty() && state.frames.capacity() > 64 {
            // a burst's room goes back once it is written
            state.frames = VecDeque::new();
        }
        Some(frame)
    }
}

impl Drop for OutboundRx {
    fn drop(&mut self) {
        let mut state = self.queue.state();
        state.writer_gone = true;
        state.frames.clear();
        state.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(len: usize) -> Outbound {
        Outbound::text_of_len(len)
    }

    #[tokio::test]
    async fn bounded_in_frames_and_in_bytes() {
        let (tx, mut rx) = channel(3, 100);
        assert_eq!(tx.try_send(text(60)), Ok(()));
        assert_eq!(tx.try_send(text(41)), Err(Refused::Full), "101 bytes is past 100");
        assert_eq!(tx.try_send(text(40)), Ok(()), "exactly 100 bytes fits");
        assert_eq!(rx.recv().await.map(|f| f.byte_len()), Some(60));
        assert_eq!(tx.try_send(text(10)), Ok(()));
        assert_eq!(tx.try_send(text(10)), Ok(()));
        assert_eq!(tx.try_send(text(1)), Err(Refused::Full), "three frames queued");
        let close = Outbound::Close {
            code: 1008,
            reason: "bye",
        };
        assert_eq!(rx.try_recv().map(|f| f.byte_len()), Some(40));
        assert_eq!(tx.try_send(close), Ok(()), "a close frame is not refused for its size");
        drop(rx);
        assert_eq!(tx.try_send(text(1)), Err(Refused::Closed));
    }

    #[tokio::test]
    async fn the_writer_wakes_for_a_frame_and_ends_when_every_producer_is_gone() {
        let (tx, mut rx) = channel(8, 1000);
        let other = tx.clone();
        let waiting = tokio::spawn(async move {
            let first = rx.recv().await.map(|f| f.byte_len());
            let second = rx.recv().await.map(|f| f.byte_len());
            let end = rx.recv().await.map(|f| f.byte_len());
            (first, second, end)
        });
        tokio::task::yield_now().await;
        assert_eq!(tx.try_send(text(5)), Ok(()));
        assert_eq!(other.try_send(text(7)), Ok(()));
        drop(tx);
        drop(other);
        assert_eq!(waiting.await.unwrap(), (Some(5), Some(7), None));
    }

    #[test]
    fn a_frame_larger_than_the_byte_bound_is_refused_even_when_empty() {
        let (tx, _rx) = channel(8, 100);
        assert_eq!(tx.try_send(text(101)), Err(Refused::Full));
    }
}
