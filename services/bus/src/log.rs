//! A reader of one log partition: entries in order, in batches, either from a bounded channel a
//! feeder task fills (NATS) or read from the log by the consumer's own task (the in-process ring).

use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// Entries a fed reader (NATS) buffers ahead of its consumer.
pub const READ_AHEAD: usize = 4096;

#[derive(Debug, Clone)]
pub struct LogEntry {
    /// Position in the log; strictly increasing within a partition.
    pub position: u64,
    pub payload: crate::Payload,
    /// Entries of this partition after this one when it was read (the consumer's lag).
    pub pending: u64,
    /// The publisher's `traceparent`.
    pub trace: Option<String>,
    /// The id it was published under (`Outgoing::dedupe_id`); empty when the log did not keep
    /// it.
    pub dedupe_id: bytes::Bytes,
}

impl LogEntry {
    /// The id it was published under, when the log kept one.
    pub fn dedupe_id(&self) -> Option<&str> {
        std::str::from_utf8(&self.dedupe_id).ok().filter(|id| !id.is_empty())
    }
}

pub struct LogReader {
    source: Source,
    on_done: Option<Box<dyn Fn(u64) + Send + Sync>>,
    replay_through: u64,
}

/// Where a reader's entries come from.
enum Source {
    /// A task feeding a bounded channel (NATS: the consumer's messages).
    Fed {
        rx: mpsc::Receiver<Result<LogEntry, crate::BusError>>,
        feeder: AbortHandle,
    },
    /// Read straight from the log by the reader's own task (the in-process ring): no task or
    /// channel in between, so an append wakes the consumer itself.
    Direct(Box<dyn DirectRead>),
}

/// A log the reader's task reads itself.
#[async_trait::async_trait]
pub(crate) trait DirectRead: Send + Sync {
    /// Waits for at least one entry after the last one returned, then returns what is there, up
    /// to `max`. Cancel-safe: nothing is consumed until it returns.
    async fn next_batch(&mut self, max: usize) -> Result<Vec<LogEntry>, crate::BusError>;
}

impl LogReader {
    pub(crate) fn new(
        rx: mpsc::Receiver<Result<LogEntry, crate::BusError>>,
        feeder: AbortHandle,
        on_done: Option<Box<dyn Fn(u64) + Send + Sync>>,
        replay_through: u64,
    ) -> Self {
        Self {
            source: Source::Fed { rx, feeder },
            on_done,
            replay_through,
        }
    }

    pub(crate) fn direct(
        read: Box<dyn DirectRead>,
        on_done: Option<Box<dyn Fn(u64) + Send + Sync>>,
        replay_through: u64,
    ) -> Self {
        Self {
            source: Source::Direct(read),
            on_done,
            replay_through,
        }
    }

    /// The log's last position when this reader started: an earlier reader (a previous owner
    /// that crashed, or this process before a restart) may have handled entries up to here
    /// without recording it, so an entry at or before it may be a replay.
    pub fn replay_through(&self) -> u64 {
        self.replay_through
    }

    /// Waits for at least one entry, then takes what is ready, up to `max`. An error ends the
    /// reader. Cancel-safe.
    pub async fn next_batch(&mut self, max: usize) -> Result<Vec<LogEntry>, crate::BusError> {
        match &mut self.source {
            Source::Fed { rx, .. } => {
                let mut raw = Vec::with_capacity(max.min(READ_AHEAD));
                if rx.recv_many(&mut raw, max).await == 0 {
                    return Err(crate::BusError::Unavailable("log reader closed".into()));
                }
                raw.into_iter().collect()
            }
            Source::Direct(read) => read.next_batch(max).await,
        }
    }

    /// Tells the log everything up to `position` is finished (the in-process log frees it).
    pub fn done_through(&self, position: u64) {
        if let Some(on_done) = &self.on_done {
            on_done(position);
        }
    }
}

impl Drop for LogReader {
    fn drop(&mut self) {
        if let Source::Fed { feeder, .. } = &self.source {
            feeder.abort();
        }
    }
}
