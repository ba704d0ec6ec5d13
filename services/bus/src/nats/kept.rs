//! The values behind the stream messages this process publishes, kept a little while for its
//! own readers: when the sequencer and the delivery worker of a partition (or a gateway and the
//! sequencer) share a process, the reader takes the values instead of decoding the bytes it
//! reads back. The stream stays the record and the reader still reads every message from it;
//! only the decoding is saved.
//!
//! A message's values are found by a digest of its exact bytes (XXH3-128 under a seed drawn per
//! process, so nobody can craft a collision without it): a value is handed over only for bytes
//! it was encoded to, which decode to an equal value, whatever happened to the stream meanwhile
//! (a lost tail, a stream recreated, the same id published again). Values are kept before the
//! publish, so a reader that pulls the message before the publisher has its ack finds them,
//! only for partitions a reader of this process reads, and within a byte budget (the oldest go
//! first; a reader that lags then decodes, as a reader in another process does).

use crate::{Log, Payload};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes (encoded) of the values kept at most.
pub const BUDGET: usize = 32 << 20;

/// A message's digest: its bytes under this process's seed.
pub type Digest = u128;

#[derive(Default)]
struct Inner {
    values: HashMap<Digest, (Arc<[Payload]>, usize)>,
    order: VecDeque<Digest>,
    bytes: usize,
    /// Open readers of this process by (log, partition): only those partitions' values are kept.
    readers: HashMap<(Log, u32), usize>,
}

pub struct Kept {
    budget: usize,
    seed: u64,
    inner: Mutex<Inner>,
    /// Something was ever kept: until then a reader neither hashes nor locks (a process that
    /// publishes nothing its readers read).
    used: AtomicBool,
}

impl Kept {
    pub fn new(budget: usize) -> Arc<Self> {
        Arc::new(Self {
            budget,
            seed: rand_seed(),
            inner: Mutex::new(Inner::default()),
            used: AtomicBool::new(false),
        })
    }

    pub fn digest(&self, bytes: &[u8]) -> Digest {
        twox_hash::XxHash3_128::oneshot_with_seed(self.seed, bytes)
    }

    /// True while a reader of this process reads the partition.
    pub fn is_read(&self, log: Log, partition: u32) -> bool {
        self.lock().readers.contains_key(&(log, partition))
    }

    /// Keeps messages' values: (digest of the message's bytes, its values, its size in bytes).
    pub fn keep(&self, messages: impl IntoIterator<Item = (Digest, Vec<Payload>, usize)>) {
        self.used.store(true, Ordering::Relaxed);
        let mut inner = self.lock();
        for (digest, values, size) in messages {
            if size > self.budget {
                continue;
            }
            if let Some((_, replaced)) = inner.values.insert(digest, (values.into(), size)) {
                inner.bytes -= replaced;
            } else {
                inner.order.push_back(digest);
            }
            inner.bytes += size;
            while inner.bytes > self.budget {
                let Some(oldest) = inner.order.pop_front() else { break };
                if let Some((_, gone)) = inner.values.remove(&oldest) {
                    inner.bytes -= gone;
                }
            }
        }
    }

    /// The values of the message with these bytes, if this process published it.
    pub fn get(&self, bytes: &[u8]) -> Option<Arc<[Payload]>> {
        if !self.used.load(Ordering::Relaxed) {
            return None;
        }
        let digest = self.digest(bytes);
        self.lock().values.get(&digest).map(|(values, _)| values.clone())
    }

    /// Registers a reader of (log, partition) until the guard is dropped.
    pub fn reading(self: &Arc<Self>, log: Log, partition: u32) -> Reading {
        *self.lock().readers.entry((log, partition)).or_default() += 1;
        Reading {
            kept: self.clone(),
            key: (log, partition),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A registered reader (see [`Kept::reading`]).
pub struct Reading {
    kept: Arc<Kept>,
    key: (Log, u32),
}

impl Drop for Reading {
    fn drop(&mut self) {
        let mut inner = self.kept.lock();
        if let Some(count) = inner.readers.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                inner.readers.remove(&self.key);
            }
        }
    }
}

fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // std's RandomState is seeded from the OS once per process
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(herald_protocol::timefmt::now_nanos() as u64);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize) -> Vec<Payload> {
        (0..n).map(|i| Payload::value(i as u64)).collect()
    }

    #[test]
    fn values_are_found_by_the_digest_of_their_bytes_only() {
        let kept = Kept::new(1000);
        let digest = kept.digest(b"pack one");
        assert!(kept.get(b"pack one").is_none(), "nothing kept yet");
        kept.keep([(digest, values(2), 8)]);
        let found = kept.get(b"pack one").expect("kept");
        assert_eq!(found[1].as_value::<u64>(), Some(&1));
        assert!(kept.get(b"pack two").is_none());
        let other = Kept::new(1000);
        assert_ne!(other.digest(b"pack one"), digest, "another process's seed");
    }

    #[test]
    fn the_oldest_go_past_the_byte_budget() {
        let kept = Kept::new(100);
        for i in 0..4u8 {
            kept.keep([(kept.digest(&[i]), values(1), 40)]);
        }
        assert!(kept.get(&[1]).is_none());
        assert!(kept.get(&[2]).is_some() && kept.get(&[3]).is_some());
        kept.keep([(kept.digest(b"big"), values(1), 101)]);
        assert!(kept.get(b"big").is_none(), "larger than the budget: not kept");
    }

    #[test]
    fn a_partition_counts_as_read_while_a_reader_is_registered() {
        let kept = Kept::new(100);
        assert!(!kept.is_read(Log::Events, 2));
        let first = kept.reading(Log::Events, 2);
        let second = kept.reading(Log::Events, 2);
        drop(first);
        assert!(kept.is_read(Log::Events, 2) && !kept.is_read(Log::Commands, 2));
        drop(second);
        assert!(!kept.is_read(Log::Events, 2));
    }
}
