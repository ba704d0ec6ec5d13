//! Fencing on ScyllaDB: which epoch holds each scope here, and the write timestamps it may use.
//!
//! A claim raises the scope's row in `fences` with a compare-and-set (LWT) and sets a timestamp
//! floor above every timestamp the previous epoch reserved. Every fenced write carries an explicit
//! timestamp from the holder's reservation, so a write of an older epoch that lands late (a paused
//! process, a delayed mutation) loses to the newer epoch's write of the same cell, whatever the
//! clocks say. Each batch ends with one LWT that checks the epoch still holds and extends the
//! reservation: only then is the batch acknowledged. The reasoning is in `schema/README.md`.

use std::collections::HashMap;
use std::sync::Mutex;

/// How far ahead of its clock a holder reserves timestamps (microseconds). Bounds how far a new
/// epoch's floor can sit ahead of the clock after a failover.
pub const RESERVATION_MICROS: i64 = 10_000_000;

/// Microseconds since the Unix epoch: the unit of CQL write timestamps.
pub fn now_micros() -> i64 {
    herald_protocol::timefmt::now_nanos() / 1000
}

/// The first timestamp a new holder may use, given what the previous one reserved.
pub fn claim_floor(previous_reserved: Option<i64>, now: i64) -> i64 {
    match previous_reserved {
        Some(reserved) => now.max(reserved.saturating_add(1)),
        None => now,
    }
}

/// What this process knows of one scope it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FenceState {
    pub epoch: u64,
    /// The last timestamp handed out.
    last: i64,
    /// The highest timestamp the `fences` row lets this epoch use.
    reserved: i64,
}

impl FenceState {
    pub fn new(epoch: u64, floor: i64, reserved: i64) -> Self {
        Self {
            epoch,
            last: floor.saturating_sub(1),
            reserved,
        }
    }
}

/// Why timestamps could not be issued yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needed {
    /// This process does not hold the scope at this epoch: claim it first.
    Claim,
    /// A higher epoch is known to hold the scope.
    Fenced { held: u64 },
    /// The reservation ends before the last timestamp: extend it to at least `up_to`.
    Extend { up_to: i64 },
}

/// What this process last learned of a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Held(FenceState),
    /// A higher epoch than any this process held claimed it.
    Lost {
        held: u64,
    },
}

impl Entry {
    fn epoch(&self) -> u64 {
        match self {
            Entry::Held(state) => state.epoch,
            Entry::Lost { held } => *held,
        }
    }
}

/// The scopes this process holds.
#[derive(Debug, Default)]
pub struct FenceBook {
    scopes: Mutex<HashMap<String, Entry>>,
}

impl FenceBook {
    fn scopes(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.scopes.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The state of the scope if this process holds it at `epoch`.
    pub fn held(&self, scope: &str, epoch: u64) -> Option<FenceState> {
        match self.scopes().get(scope) {
            Some(Entry::Held(state)) if state.epoch == epoch => Some(*state),
            _ => None,
        }
    }

    /// Records a successful claim (never replacing what a higher epoch did).
    pub fn install(&self, scope: &str, state: FenceState) {
        let mut scopes = self.scopes();
        if scopes.get(scope).is_none_or(|known| known.epoch() <= state.epoch) {
            scopes.insert(scope.to_owned(), Entry::Held(state));
        }
    }

    /// Records that epoch `held` claimed the scope: nothing more is issued under a lower one.
    pub fn fenced(&self, scope: &str, held: u64) {
        let mut scopes = self.scopes();
        if scopes.get(scope).is_none_or(|known| known.epoch() < held) {
            scopes.insert(scope.to_owned(), Entry::Lost { held });
        }
    }

    /// Records a reservation extended to `reserved`.
    pub fn extended(&self, scope: &str, epoch: u64, reserved: i64) {
        if let Some(Entry::Held(state)) = self.scopes().get_mut(scope)
            && state.epoch == epoch
        {
            state.reserved = state.reserved.max(reserved);
        }
    }

    /// Hands out `count` strictly increasing timestamps, none below `now`, for writes under
    /// (`scope`, `epoch`); returns the first.
    pub fn issue(&self, scope: &str, epoch: u64, now: i64, count: usize) -> Result<i64, Needed> {
        let mut scopes = self.scopes();
        let state = match scopes.get_mut(scope) {
            None => return Err(Needed::Claim),
            Some(known) if known.epoch() > epoch => return Err(Needed::Fenced { held: known.epoch() }),
            Some(Entry::Held(state)) if state.epoch == epoch => state,
            Some(_) => return Err(Needed::Claim),
        };
        let first = now.max(state.last.saturating_add(1));
        let last = first.saturating_add(i64::try_from(count.max(1)).unwrap_or(i64::MAX) - 1);
        if last > state.reserved {
            return Err(Needed::Extend { up_to: last });
        }
        state.last = last;
        Ok(first)
    }

    /// The reservation to ask for after a batch: at least `RESERVATION_MICROS` ahead of `now`.
    pub fn next_reservation(&self, scope: &str, epoch: u64, now: i64) -> i64 {
        let ahead = now.saturating_add(RESERVATION_MICROS);
        match self.held(scope, epoch) {
            Some(state) => state.reserved.max(ahead),
            None => ahead,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_epoch_starts_above_the_old_reservation() {
        assert_eq!(claim_floor(None, 100), 100);
        assert_eq!(
            claim_floor(Some(500), 100),
            501,
            "the old holder may have written up to 500"
        );
        assert_eq!(claim_floor(Some(50), 100), 100);
    }

    #[test]
    fn timestamps_rise_within_the_reservation() {
        let book = FenceBook::default();
        assert_eq!(book.issue("p0", 1, 1000, 3), Err(Needed::Claim));
        book.install("p0", FenceState::new(1, 1000, 2000));
        assert_eq!(book.issue("p0", 1, 1000, 3), Ok(1000));
        // the clock stood still: still strictly after the last one handed out
        assert_eq!(book.issue("p0", 1, 1000, 2), Ok(1003));
        assert_eq!(book.issue("p0", 1, 1500, 1), Ok(1500));
        assert_eq!(book.issue("p0", 1, 1999, 5), Err(Needed::Extend { up_to: 2003 }));
        book.extended("p0", 1, 5000);
        assert_eq!(book.issue("p0", 1, 1999, 5), Ok(1999));
    }

    #[test]
    fn a_floor_ahead_of_the_clock_wins() {
        let book = FenceBook::default();
        book.install("p0", FenceState::new(2, 9000, 20_000));
        assert_eq!(book.issue("p0", 2, 100, 1), Ok(9000), "never below the epoch's floor");
    }

    #[test]
    fn epochs_are_checked() {
        let book = FenceBook::default();
        book.install("p0", FenceState::new(5, 0, 1000));
        assert_eq!(book.issue("p0", 4, 0, 1), Err(Needed::Fenced { held: 5 }));
        assert_eq!(book.issue("p0", 6, 0, 1), Err(Needed::Claim));
        book.install("p0", FenceState::new(3, 0, 1000));
        assert_eq!(
            book.held("p0", 5).map(|s| s.epoch),
            Some(5),
            "an older claim never replaces a newer one"
        );
        book.fenced("p0", 7);
        assert_eq!(book.issue("p0", 5, 0, 1), Err(Needed::Fenced { held: 7 }));
        assert_eq!(
            book.issue("p0", 8, 0, 1),
            Err(Needed::Claim),
            "a higher epoch claims first"
        );
        book.install("p0", FenceState::new(8, 0, 1000));
        assert_eq!(book.issue("p0", 8, 0, 1), Ok(0));
    }

    #[test]
    fn reservations_stay_ahead_of_the_clock() {
        let book = FenceBook::default();
        assert_eq!(book.next_reservation("p0", 1, 100), 100 + RESERVATION_MICROS);
        book.install("p0", FenceState::new(1, 0, 50_000_000));
        assert_eq!(book.next_reservation("p0", 1, 100), 50_000_000, "never shrinks");
    }
}
