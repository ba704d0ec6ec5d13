//! Correctness per (receiving connection, conversation): which `Seq` values arrived, how often
//! and in what order; and the tally of lost, duplicated and misordered messages over a run.

use std::collections::HashMap;

/// The `Seq` values one connection received for one conversation.
#[derive(Debug, Default, Clone)]
pub struct SeqTracker {
    seen: Vec<u64>,
    highest: u64,
    pub received: u64,
    pub duplicated: u64,
    pub misordered: u64,
}

impl SeqTracker {
    /// Records one push. A `Seq` seen before is a duplicate; one below the highest seen so far
    /// (and not seen) arrived out of order.
    pub fn record(&mut self, seq: u64) {
        self.received += 1;
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if word >= self.seen.len() {
            self.seen.resize(word + 1, 0);
        }
        if self.seen[word] & (1 << bit) != 0 {
            self.duplicated += 1;
            return;
        }
        self.seen[word] |= 1 << bit;
        if seq < self.highest {
            self.misordered += 1;
        }
        self.highest = self.highest.max(seq);
    }

    pub fn has(&self, seq: u64) -> bool {
        let word = (seq / 64) as usize;
        word < self.seen.len() && self.seen[word] & (1 << (seq % 64)) != 0
    }

    /// `Seq` values in `first..=last` that never arrived.
    pub fn missing_in(&self, first: u64, last: u64) -> u64 {
        (first..=last).filter(|&seq| !self.has(seq)).count() as u64
    }
}

/// The `Seq` values the senders were acknowledged for, per conversation.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AckedRange {
    pub first: u64,
    pub last: u64,
    pub count: u64,
}

impl AckedRange {
    pub fn record(&mut self, seq: u64) {
        if self.count == 0 || seq < self.first {
            self.first = seq;
        }
        self.last = self.last.max(seq);
        self.count += 1;
    }

    pub fn merge(&mut self, other: &AckedRange) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 || other.first < self.first {
            self.first = other.first;
        }
        self.last = self.last.max(other.last);
        self.count += other.count;
    }
}

/// Lost, duplicated and misordered messages over every (connection, conversation).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    pub lost: u64,
    pub duplicated: u64,
    pub misordered: u64,
    /// Acknowledged `Seq` values that several acks named (a send answered twice).
    pub acked_twice: u64,
}

impl Tally {
    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.misordered == 0 && self.acked_twice == 0
    }
}

/// Tallies every receiver against what was acknowledged. `receivers` holds one tracker per
/// (connection, conversation) that should have received every message of that conversation,
/// whether or not anything arrived.
pub fn tally<'a>(
    acked: &HashMap<String, AckedRange>,
    receivers: impl IntoIterator<Item = (&'a str, &'a SeqTracker)>,
) -> Tally {
    let mut result = Tally::default();
    for range in acked.values() {
        if range.count > 0 {
            let span = range.last - range.first + 1;
            result.acked_twice += range.count.saturating_sub(span);
        }
    }
    for (conv, tracker) in receivers {
        result.duplicated += tracker.duplicated;
        result.misordered += tracker.misordered;
        if let Some(range) = acked.get(conv)
            && range.count > 0
        {
            result.lost += tracker.missing_in(range.first, range.last);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(seqs: &[u64]) -> SeqTracker {
        let mut t = SeqTracker::default();
        for &s in seqs {
            t.record(s);
        }
        t
    }

    fn acked(first: u64, last: u64) -> HashMap<String, AckedRange> {
        let mut range = AckedRange::default();
        for seq in first..=last {
            range.record(seq);
        }
        HashMap::from([("c".to_owned(), range)])
    }

    #[test]
    fn in_order_is_clean() {
        let t = tracker(&[1, 2, 3, 4]);
        assert_eq!(tally(&acked(1, 4), [("c", &t)]), Tally::default());
    }

    #[test]
    fn counts_a_gap_as_lost() {
        let t = tracker(&[1, 2, 4]);
        let result = tally(&acked(1, 4), [("c", &t)]);
        assert_eq!(result.lost, 1);
        assert_eq!(result.misordered, 0);
    }

    #[test]
    fn counts_a_repeat_as_duplicated() {
        let t = tracker(&[1, 2, 2, 3]);
        let result = tally(&acked(1, 3), [("c", &t)]);
        assert_eq!((result.lost, result.duplicated, result.misordered), (0, 1, 0));
    }

    #[test]
    fn counts_a_late_arrival_as_misordered_not_lost() {
        let t = tracker(&[1, 3, 2, 4]);
        let result = tally(&acked(1, 4), [("c", &t)]);
        assert_eq!((result.lost, result.duplicated, result.misordered), (0, 0, 1));
    }

    #[test]
    fn a_receiver_that_got_nothing_lost_everything() {
        let t = SeqTracker::default();
        assert_eq!(tally(&acked(1, 10), [("c", &t)]).lost, 10);
    }

    #[test]
    fn pushes_past_the_last_ack_are_not_required() {
        // sequenced, but its ack did not arrive before the end: nobody had to receive it
        let t = tracker(&[1, 2]);
        assert!(tally(&acked(1, 2), [("c", &t)]).is_clean());
        let t = tracker(&[1, 2, 3]);
        assert!(tally(&acked(1, 2), [("c", &t)]).is_clean());
    }

    #[test]
    fn the_same_seq_acked_twice_is_reported() {
        let mut range = AckedRange::default();
        for seq in [1, 2, 2, 3] {
            range.record(seq);
        }
        let acked = HashMap::from([("c".to_owned(), range)]);
        assert_eq!(tally(&acked, std::iter::empty()).acked_twice, 1);
    }

    #[test]
    fn ranges_merge() {
        let mut a = AckedRange::default();
        a.record(5);
        let mut b = AckedRange::default();
        b.record(2);
        b.record(9);
        a.merge(&b);
        assert_eq!(
            a,
            AckedRange {
                first: 2,
                last: 9,
                count: 3
            }
        );
    }
}
