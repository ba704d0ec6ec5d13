//! A connection's outbound queue, bounded in frames and in bytes: what a client has not yet
//! read costs the gateway at most `HERALD_OUTBOUND_QUEUE` frames and `HERALD_OUTBOUND_QUEUE_BYTES`.

use crate::frames::Outbound;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// One of the two bounds would be passed: the connection does not read fast enough.
    Full,
    /// The connection's writer is gone.
    Closed,
}

/// The producers' end (replies, pushes); cheap to clone.
#[derive(Clone)]
pub struct OutboundTx {
    tx: mpsc::Sender<Outbound>,
    queued_bytes: Arc<AtomicUsize>,
    max_bytes: usize,
}

/// The writer's end.
pub struct OutboundRx {
    rx: mpsc::Receiver<Outbound>,
    queued_bytes: Arc<AtomicUsize>,
}

/// A queue of at most `max_frames` frames and `max_bytes` bytes of payload.
pub fn channel(max_frames: usize, max_bytes: usize) -> (OutboundTx, OutboundRx) {
    let (tx, rx) = mpsc::channel(max_frames.max(1));
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    (
        OutboundTx {
            tx,
            queued_bytes: queued_bytes.clone(),
            max_bytes,
        },
        OutboundRx { rx, queued_bytes },
    )
}

impl OutboundTx {
    /// Queues `frame` without waiting. A close frame is never refused for its size (it ends
    /// the connection, whatever is queued before it).
    pub fn try_send(&self, frame: Outbound) -> Result<(), Refused> {
        let size = frame.byte_len();
        let closing = matches!(frame, Outbound::Close { .. });
        let before = self.queued_bytes.fetch_add(size, Ordering::AcqRel);
        if !closing && before.saturating_add(size) > self.max_bytes {
            self.queued_bytes.fetch_sub(size, Ordering::AcqRel);
            return Err(Refused::Full);
        }
        self.tx.try_send(frame).map_err(|err| {
            self.queued_bytes.fetch_sub(size, Ordering::AcqRel);
            match err {
                mpsc::error::TrySendError::Full(_) => Refused::Full,
                mpsc::error::TrySendError::Closed(_) => Refused::Closed,
            }
        })
    }
}

impl OutboundRx {
    pub async fn recv(&mut self) -> Option<Outbound> {
        let frame = self.rx.recv().await?;
        self.queued_bytes.fetch_sub(frame.byte_len(), Ordering::AcqRel);
        Some(frame)
    }

    pub fn try_recv(&mut self) -> Option<Outbound> {
        let frame = self.rx.try_recv().ok()?;
        self.queued_bytes.fetch_sub(frame.byte_len(), Ordering::AcqRel);
        Some(frame)
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

    #[test]
    fn a_frame_larger_than_the_byte_bound_is_refused_even_when_empty() {
        let (tx, _rx) = channel(8, 100);
        assert_eq!(tx.try_send(text(101)), Err(Refused::Full));
    }
}
