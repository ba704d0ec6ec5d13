//! A reader of one log partition: entries in order, in batches, from a bounded channel.

use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// Entries a reader buffers ahead of its consumer.
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
}

pub struct LogReader {
    rx: mpsc::Receiver<Result<LogEntry, crate::BusError>>,
    feeder: AbortHandle,
    on_done: Option<Box<dyn Fn(u64) + Send + Sync>>,
    replay_through: u64,
}

impl LogReader {
    pub(crate) fn new(
        rx: mpsc::Receiver<Result<LogEntry, crate::BusError>>,
        feeder: AbortHandle,
        on_done: Option<Box<dyn Fn(u64) + Send + Sync>>,
        replay_through: u64,
    ) -> Self {
        Self {
            rx,
            feeder,
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

    /// Waits for at least one entry, then takes what is ready, up to `max`. An error ends the reader.
    pub async fn next_batch(&mut self, max: usize) -> Result<Vec<LogEntry>, crate::BusError> {
        let mut raw = Vec::with_capacity(max.min(READ_AHEAD));
        if self.rx.recv_many(&mut raw, max).await == 0 {
            return Err(crate::BusError::Unavailable("log reader closed".into()));
        }
        raw.into_iter().collect()
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
        self.feeder.abort();
    }
}
