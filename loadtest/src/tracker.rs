//! Correctness per (receiving connection, conversation): which `Seq` values arrived, how often
//! and in what order; and the tally of lost, duplicated and misordered messages over a run.

use std::collections::HashMap;

/// The `Seq` values one connection received for one conversation.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
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

/// The `Seq` values the senders were acknowledged for, per conversation: each one remembered, so
/// an ack repeated for the same `Seq` and a `Seq` that was never acknowledged are told apart
/// (a count against the span would let one of each cancel out).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AckedRange {
    pub first: u64,
    pub last: u64,
    /// Acks received, repeats included.
    pub count: u64,
    /// Acks that named a `Seq` already acknowledged.
    pub twice: u64,
    seen: SeqTracker,
}

impl AckedRange {
    pub fn record(&mut self, seq: u64) {
        if self.count == 0 || seq < self.first {
            self.first = seq;
        }
        self.last = self.last.max(seq);
        self.count += 1;
        if self.seen.has(seq) {
            self.twice += 1;
        } else {
            self.seen.record(seq);
        }
    }

    pub fn merge(&mut self, other: &AckedRange) {
        for seq in other.seqs() {
            self.record(seq);
        }
        // repeats inside `other` were counted there
        self.twice += other.twice;
        self.count += other.count - other.seen.received;
    }

    /// Every acknowledged `Seq`, once, ascending.
    pub fn seqs(&self) -> impl Iterator<Item = u64> + '_ {
        (self.first..=self.last).filter(move |&seq| self.count > 0 && self.seen.has(seq))
    }

    /// `Seq` values in `first..=last` that no ack named (sequenced for a send whose ack did
    /// not arrive, or another sender's): reported, not an error by itself.
    pub fn unacked_gaps(&self) -> u64 {
        if self.count == 0 {
            return 0;
        }
        self.seen.missing_in(self.first, self.last)
    }
}

/// Lost, duplicated and misordered messages over every (connection, conversation).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    /// Acknowledged messages a receiver never got.
    pub lost: u64,
    pub duplicated: u64,
    pub misordered: u64,
    /// Acks that named a `Seq` another ack had already named (a send answered twice).
    pub acked_twice: u64,
    /// `Seq` values between the first and last acknowledged that no ack named.
    pub unacked_gaps: u64,
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
        result.acked_twice += range.twice;
        result.unacked_gaps += range.unacked_gaps();
    }
    for (conv, tracker) in receivers {
        result.duplicated += tracker.duplicated;
        result.misordered += tracker.misordered;
        if let Some(range) = acked.get(conv) {
            result.lost += range.seqs().filter(|&seq| !tracker.has(seq)).count() as u64;
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
    fn a_repeated_ack_and_a_missing_ack_do_not_cancel_out() {
        // 1, 2, 2, 4: one Seq acknowledged twice and Seq 3 never acknowledged
        let mut range = AckedRange::default();
        for seq in [1, 2, 2, 4] {
            range.record(seq);
        }
        let acked = HashMap::from([("c".to_owned(), range)]);
        let result = tally(&acked, std::iter::empty());
        assert_eq!((result.acked_twice, result.unacked_gaps), (1, 1));
        assert!(!result.is_clean());
    }

    #[test]
    fn lost_counts_only_acknowledged_messages() {
        // Seq 3 was never acknowledged: a receiver without it lost nothing acknowledged
        let mut range = AckedRange::default();
        for seq in [1, 2, 4] {
            range.record(seq);
        }
        let acked = HashMap::from([("c".to_owned(), range)]);
        assert_eq!(tally(&acked, [("c", &tracker(&[1, 2, 4]))]).lost, 0);
        assert_eq!(tally(&acked, [("c", &tracker(&[1, 2]))]).lost, 1);
    }

    #[test]
    fn ranges_merge() {
        let mut a = AckedRange::default();
        a.record(5);
        let mut b = AckedRange::default();
        b.record(2);
        b.record(9);
        b.record(9);
        a.merge(&b);
        assert_eq!((a.first, a.last, a.count, a.twice), (2, 9, 4, 1));
        assert_eq!(a.seqs().collect::<Vec<_>>(), vec![2, 5, 9]);
        // the same Seq acknowledged on two connections is a repeat too
        let mut c = AckedRange::default();
        c.record(5);
        a.merge(&c);
        assert_eq!(a.twice, 2);
    }
}
