//! Range reads across buckets: which partition to ask next, for which `Seq`s, and how many rows.
//!
//! A range of `Seq`s spans one partition per bucket. The cursor hands out one slice per bucket, in
//! either direction, each asking for at most the rows still wanted; within a slice the driver pages.
//! `Seq`s are dense (no gaps below the head), so an ascending slice that comes back short means the
//! log ends there and no later bucket is asked.

use super::buckets::{bucket_bounds, bucket_of, seq_to_cql};
use herald_protocol::{AppId, ConvId};

/// One query: `Seq`s `from..=to`, all in `bucket`, at most `limit` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    pub bucket: i64,
    pub from: u64,
    pub to: u64,
    pub limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ascending,
    Descending,
}

/// Walks `from..=to` bucket by bucket until `limit` rows are read or the range (or the log) ends.
#[derive(Debug, Clone)]
pub struct SeqCursor {
    direction: Direction,
    from: u64,
    to: u64,
    remaining: usize,
    done: bool,
}

impl SeqCursor {
    /// Oldest first. `Seq` 0 is never stored, so `from` starts at 1.
    pub fn ascending(from: u64, to: u64, limit: usize) -> Self {
        Self::new(Direction::Ascending, from, to, limit)
    }

    /// Newest first, from `to` down to `from`.
    pub fn descending(from: u64, to: u64, limit: usize) -> Self {
        Self::new(Direction::Descending, from, to, limit)
    }

    fn new(direction: Direction, from: u64, to: u64, limit: usize) -> Self {
        let from = from.max(1);
        Self {
            direction,
            from,
            to,
            remaining: limit,
            done: limit == 0 || to < from,
        }
    }

    /// The next query to run, or `None` when the walk is over.
    pub fn next_slice(&self) -> Option<Slice> {
        if self.done {
            return None;
        }
        let (from, to) = match self.direction {
            Direction::Ascending => (self.from, self.to.min(bucket_bounds(bucket_of(self.from)).1)),
            Direction::Descending => (self.from.max(bucket_bounds(bucket_of(self.to)).0), self.to),
        };
        let width = (to - from).saturating_add(1);
        let limit = usize::try_from(width).unwrap_or(usize::MAX).min(self.remaining);
        Some(Slice {
            bucket: bucket_of(from),
            from,
            to,
            limit,
        })
    }

    /// Records that `slice` returned `rows` rows (for an ascending walk: the rows that continue the
    /// log without a gap). Decides whether another slice is needed.
    pub fn advance(&mut self, slice: &Slice, rows: usize) {
        self.remaining = self.remaining.saturating_sub(rows);
        if self.remaining == 0 {
            self.done = true;
            return;
        }
        match self.direction {
            Direction::Ascending => {
                if rows < slice.limit || slice.to >= self.to {
                    // short: the log ends inside this slice
                    self.done = true;
                } else {
                    self.from = slice.to + 1;
                }
            }
            Direction::Descending => {
                if slice.from <= self.from {
                    self.done = true;
                } else {
                    self.to = slice.from - 1;
                }
            }
        }
    }

    /// Of a slice's rows (their `Seq`s, in the walk's order), how many to keep: on an ascending
    /// walk, those that continue the log from the slice's start without a gap (rows past a gap
    /// are what a batch cut short by a crash left); on a descending one, all. Advances the walk.
    pub fn keep(&mut self, slice: &Slice, seqs: impl IntoIterator<Item = u64>) -> usize {
        let kept = match self.direction {
            Direction::Ascending => contiguous_run(slice.from, seqs),
            Direction::Descending => seqs.into_iter().count(),
        };
        self.advance(slice, kept);
        kept
    }

    #[cfg(test)]
    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// How many of `seqs` (ascending) continue the log from `expected` without a gap.
pub fn contiguous_run(expected: u64, seqs: impl IntoIterator<Item = u64>) -> usize {
    seqs.into_iter()
        .zip(expected..)
        .take_while(|(seq, wanted)| seq == wanted)
        .count()
}

/// The values of a log read of one slice: `(app_id, conv_id, bucket, from, to, limit)`.
pub fn slice_values<'a>(app: &'a AppId, conv: &'a ConvId, slice: &Slice) -> (&'a str, &'a str, i64, i64, i64, i32) {
    (
        app.as_str(),
        conv.as_str(),
        slice.bucket,
        seq_to_cql(slice.from),
        seq_to_cql(slice.to),
        cql_limit(slice.limit),
    )
}

/// A row count as a CQL `LIMIT`.
pub fn cql_limit(rows: usize) -> i32 {
    i32::try_from(rows).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_stop_at_the_first_gap() {
        assert_eq!(contiguous_run(5, [5, 6, 7]), 3);
        assert_eq!(contiguous_run(5, [5, 6, 8, 9]), 2);
        assert_eq!(contiguous_run(5, [6, 7]), 0, "the first one is missing");
        assert_eq!(contiguous_run(1, []), 0);
        assert_eq!(cql_limit(usize::MAX), i32::MAX);
        assert_eq!(cql_limit(30), 30);
    }

    /// Runs the cursor over a log holding `Seq`s `1..=last`, returning the slices it asked for.
    fn walk(mut cursor: SeqCursor, last: u64) -> Vec<Slice> {
        let mut asked = Vec::new();
        while let Some(slice) = cursor.next_slice() {
            let present = (slice.from..=slice.to.min(last)).count().min(slice.limit);
            asked.push(slice);
            cursor.advance(&slice, present);
            assert!(asked.len() < 100, "the walk ends");
        }
        asked
    }

    fn slice(bucket: i64, from: u64, to: u64, limit: usize) -> Slice {
        Slice {
            bucket,
            from,
            to,
            limit,
        }
    }

    #[test]
    fn ascending_walks_bucket_by_bucket() {
        let asked = walk(SeqCursor::ascending(990, 2010, 10_000), 5000);
        assert_eq!(
            asked,
            vec![
                slice(0, 990, 999, 10),
                slice(1, 1000, 1999, 1000),
                slice(2, 2000, 2010, 11)
            ]
        );
    }

    #[test]
    fn ascending_stops_at_the_limit() {
        let asked = walk(SeqCursor::ascending(1, 5000, 1005), 5000);
        assert_eq!(asked, vec![slice(0, 1, 999, 999), slice(1, 1000, 1999, 6)]);
    }

    #[test]
    fn ascending_stops_where_the_log_ends() {
        // an unbounded range (`to` = u64::MAX) over a log of 1500 messages asks two buckets only
        let asked = walk(SeqCursor::ascending(0, u64::MAX, usize::MAX), 1500);
        assert_eq!(asked, vec![slice(0, 1, 999, 999), slice(1, 1000, 1999, 1000)]);
    }

    #[test]
    fn a_gap_ends_an_ascending_walk() {
        let mut cursor = SeqCursor::ascending(1, u64::MAX, 10_000);
        let first = cursor.next_slice().unwrap();
        cursor.advance(&first, 500);
        assert!(cursor.is_done(), "fewer rows than asked: nothing after");
    }

    #[test]
    fn descending_walks_newest_first() {
        let asked = walk(SeqCursor::descending(1, 2005, 30), 2005);
        assert_eq!(asked, vec![slice(2, 2000, 2005, 6), slice(1, 1000, 1999, 24)]);
        let all = walk(SeqCursor::descending(0, 1500, 5000), 1500);
        assert_eq!(all, vec![slice(1, 1000, 1500, 501), slice(0, 1, 999, 999)]);
    }

    #[test]
    fn an_ascending_walk_keeps_rows_up_to_a_gap_and_a_descending_one_keeps_all() {
        let mut ascending = SeqCursor::ascending(5, u64::MAX, 100);
        let slice = ascending.next_slice().unwrap();
        assert_eq!(ascending.keep(&slice, [5, 6, 8]), 2);
        assert!(ascending.is_done(), "nothing is read past the gap");
        let mut descending = SeqCursor::descending(1, 10, 100);
        let slice = descending.next_slice().unwrap();
        assert_eq!(descending.keep(&slice, [10, 9, 7]), 3);
    }

    #[test]
    fn empty_ranges_ask_nothing() {
        assert!(SeqCursor::ascending(10, 5, 10).next_slice().is_none());
        assert!(SeqCursor::ascending(1, 5, 0).next_slice().is_none());
        assert!(SeqCursor::descending(1, 0, 30).next_slice().is_none(), "an empty log");
    }
}
