//! The pause before a partition loop reads again after a failure.

use std::time::Duration;

/// Doubles from 100 ms to at most 1 s while failures follow each other, and starts over after a
/// loop that ran well for a while: a bus outage (a NATS election takes 4 to 9 s) is followed
/// within a second, and a loop that failed once an hour ago does not wait seconds today.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

const FIRST: Duration = Duration::from_millis(100);
const MAX: Duration = Duration::from_secs(1);
/// A loop that ran this long before failing was healthy: the next pause starts over.
const HEALTHY_RUN: Duration = Duration::from_secs(10);

impl Default for Backoff {
    fn default() -> Self {
        Self { next: FIRST }
    }
}

impl Backoff {
    /// The pause after a run of `ran_for` that ended in a failure.
    pub fn after_failure(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= HEALTHY_RUN {
            self.next = FIRST;
        }
        let pause = self.next;
        self.next = (self.next * 2).min(MAX);
        pause
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_a_second_and_starts_over_after_a_healthy_run() {
        let mut backoff = Backoff::default();
        let quick = Duration::from_millis(5);
        let pauses: Vec<u64> = (0..6)
            .map(|_| backoff.after_failure(quick).as_millis() as u64)
            .collect();
        assert_eq!(pauses, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff.after_failure(Duration::from_secs(60)), FIRST);
    }
}
