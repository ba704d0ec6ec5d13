//! Latency histograms (HDR, microseconds) and per-second time series. Tasks record into a
//! local buffer that is merged into the shared recorder in batches.

use hdrhistogram::Histogram;
use std::sync::{Arc, Mutex};

/// Largest latency recorded, in microseconds (larger values are clamped).
const MAX_US: u64 = 120_000_000;
const BATCH: usize = 512;

/// What happened, when (second of the run), and how long it took (µs).
#[derive(Debug, Clone, Copy)]
pub enum Sample {
    Sent {
        second: u32,
    },
    Acked {
        second: u32,
        us: u64,
    },
    /// A push received; `us` is its end-to-end latency when the receiver is an addressee
    /// (not the sender's own connection).
    Delivered {
        second: u32,
        us: Option<u64>,
    },
    Read {
        second: u32,
        us: u64,
    },
}

/// One second of the run.
#[derive(Debug, Clone)]
pub struct Second {
    pub sent: u64,
    pub acked: u64,
    pub delivered: u64,
    pub reads: u64,
    pub latency: Histogram<u64>,
}

impl Second {
    fn new() -> Self {
        Self {
            sent: 0,
            acked: 0,
            delivered: 0,
            reads: 0,
            latency: histogram(2),
        }
    }
}

fn histogram(sigfig: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, sigfig).expect("valid histogram bounds")
}

#[derive(Debug, Clone)]
pub struct Recorded {
    /// Send → push at each addressee.
    pub delivery: Histogram<u64>,
    /// Send → the sender's acknowledgement (durably stored).
    pub ack: Histogram<u64>,
    /// History request → answer.
    pub read: Histogram<u64>,
    pub seconds: Vec<Second>,
}

impl Default for Recorded {
    fn default() -> Self {
        Self {
            delivery: histogram(3),
            ack: histogram(3),
            read: histogram(3),
            seconds: Vec::new(),
        }
    }
}

impl Recorded {
    fn second(&mut self, second: u32) -> &mut Second {
        let index = second as usize;
        while self.seconds.len() <= index {
            self.seconds.push(Second::new());
        }
        &mut self.seconds[index]
    }

    fn add(&mut self, sample: Sample) {
        match sample {
            Sample::Sent { second } => self.second(second).sent += 1,
            Sample::Acked { second, us } => {
                self.ack.saturating_record(us.clamp(1, MAX_US));
                self.second(second).acked += 1;
            }
            Sample::Delivered { second, us } => {
                let s = self.second(second);
                s.delivered += 1;
                if let Some(us) = us {
                    s.latency.saturating_record(us.clamp(1, MAX_US));
                    self.delivery.saturating_record(us.clamp(1, MAX_US));
                }
            }
            Sample::Read { second, us } => {
                self.read.saturating_record(us.clamp(1, MAX_US));
                self.second(second).reads += 1;
            }
        }
    }
}

/// The run's recorder, shared by every task.
#[derive(Default)]
pub struct Recorder {
    inner: Mutex<Recorded>,
}

impl Recorder {
    pub fn local(self: &Arc<Self>) -> LocalRecorder {
        LocalRecorder {
            buffer: Vec::with_capacity(BATCH),
            shared: self.clone(),
        }
    }

    fn merge(&self, samples: &[Sample]) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for &sample in samples {
            inner.add(sample);
        }
    }

    /// Everything recorded so far (local recorders flush when dropped).
    pub fn snapshot(&self) -> Recorded {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A task's buffer of samples, merged into the shared recorder every `BATCH` samples and when
/// dropped.
pub struct LocalRecorder {
    buffer: Vec<Sample>,
    shared: Arc<Recorder>,
}

impl LocalRecorder {
    pub fn record(&mut self, sample: Sample) {
        self.buffer.push(sample);
        if self.buffer.len() >= BATCH {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        if !self.buffer.is_empty() {
            self.shared.merge(&self.buffer);
            self.buffer.clear();
        }
    }
}

impl Drop for LocalRecorder {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_land_in_their_second_and_histograms() {
        let recorder = Arc::new(Recorder::default());
        {
            let mut local = recorder.local();
            local.record(Sample::Sent { second: 0 });
            local.record(Sample::Acked { second: 1, us: 900 });
            local.record(Sample::Delivered {
                second: 2,
                us: Some(1500),
            });
            local.record(Sample::Delivered { second: 2, us: None });
        }
        let recorded = recorder.snapshot();
        assert_eq!(recorded.seconds.len(), 3);
        assert_eq!(recorded.seconds[0].sent, 1);
        assert_eq!(recorded.seconds[1].acked, 1);
        assert_eq!(recorded.seconds[2].delivered, 2);
        assert_eq!(recorded.delivery.len(), 1);
        assert_eq!(recorded.ack.len(), 1);
    }
}
