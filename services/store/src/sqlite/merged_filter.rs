//! Which idempotency hashes the merged table (`idempotency`) may hold, for a store that is its
//! file's sole writer (`idempotency.rs`): a send whose hash no filter holds skips the table.
//!
//! Every send is looked up, and nearly every key is new; once keys are merged, each lookup was a
//! random B-tree search on a reader whose page cache SQLite drops after every commit, so a
//! page read back from the OS per send (7 % of the server's samples at full load). A Bloom
//! filter answers "not there" from memory; a false positive (under 1 %) costs the SQL lookup
//! that every send used to make.
//!
//! Filters are blocked (a key's bits share one 64-byte line, one cache miss per filter) and
//! chained: when the newest is full, a twice larger one starts, so the set grows without
//! rebuilding. The keys' own 64-bit hashes feed them (xxHash3, already uniform).

/// Keys the first filter holds; each next one holds twice as many.
const FIRST_CAPACITY: usize = 1 << 20;
/// Bits per key at capacity (about 0.5 % false positives with `PROBES`).
const BITS_PER_KEY: usize = 12;
/// Bits set per key, inside its block.
const PROBES: u32 = 7;
/// A block: 512 bits, one cache line.
const BLOCK_WORDS: usize = 8;

#[derive(Debug, Default)]
pub struct MergedFilter {
    filters: Vec<Bloom>,
}

#[derive(Debug)]
struct Bloom {
    blocks: Vec<[u64; BLOCK_WORDS]>,
    capacity: usize,
    len: usize,
}

impl Bloom {
    fn with_capacity(capacity: usize) -> Self {
        let blocks = (capacity * BITS_PER_KEY).div_ceil(BLOCK_WORDS * 64).max(1);
        Self {
            blocks: vec![[0; BLOCK_WORDS]; blocks],
            capacity,
            len: 0,
        }
    }

    /// The key's block, and its bits there (9 bits of a second mix of the hash per probe).
    fn locate(&self, h: i64) -> (usize, impl Iterator<Item = (usize, u64)> + use<>) {
        let h = h as u64;
        let block = ((u128::from(h) * self.blocks.len() as u128) >> 64) as usize;
        let mixed = h.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29) ^ h;
        let bits = (0..PROBES).map(move |probe| {
            let bit = (mixed >> (probe * 9)) & 511;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        });
        (block, bits)
    }

    fn insert(&mut self, h: i64) {
        let (block, bits) = self.locate(h);
        let block = &mut self.blocks[block];
        for (word, bit) in bits {
            block[word] |= bit;
        }
        self.len += 1;
    }

    fn may_hold(&self, h: i64) -> bool {
        let (block, mut bits) = self.locate(h);
        let block = &self.blocks[block];
        bits.all(|(word, bit)| block[word] & bit != 0)
    }
}

impl MergedFilter {
    /// Adds a merged key's hash.
    pub fn insert(&mut self, h: i64) {
        if self.filters.last().is_none_or(|newest| newest.len >= newest.capacity) {
            let capacity = self.filters.last().map_or(FIRST_CAPACITY, |newest| newest.capacity * 2);
            self.filters.push(Bloom::with_capacity(capacity));
        }
        if let Some(newest) = self.filters.last_mut() {
            newest.insert(h);
        }
    }

    /// False when no merged key has this hash; true when one may.
    pub fn may_hold(&self, h: i64) -> bool {
        self.filters.iter().any(|filter| filter.may_hold(h))
    }

    /// Bytes the filters take.
    pub fn bytes(&self) -> usize {
        self.filters.iter().map(|f| f.blocks.len() * BLOCK_WORDS * 8).sum()
    }

    /// Keys added.
    pub fn len(&self) -> usize {
        self.filters.iter().map(|f| f.len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashes as the keys give them: uniform 64-bit values.
    fn hashes(seed: u64, n: usize) -> impl Iterator<Item = i64> {
        (0..n as u64).map(move |i| twox_hash::XxHash3_64::oneshot_with_seed(seed, &i.to_le_bytes()) as i64)
    }

    #[test]
    fn every_added_hash_is_held_and_few_others_seem_to_be() {
        let mut filter = MergedFilter::default();
        // past the first filter's capacity: a second, larger one starts
        let added = FIRST_CAPACITY + FIRST_CAPACITY / 2;
        for h in hashes(1, added) {
            filter.insert(h);
        }
        assert_eq!(filter.filters.len(), 2);
        assert_eq!(filter.len(), added);
        assert!(hashes(1, added).all(|h| filter.may_hold(h)), "no false negative");
        let others = 200_000;
        let false_positives = hashes(2, others).filter(|&h| filter.may_hold(h)).count();
        assert!(
            false_positives < others / 100,
            "{false_positives} of {others} unknown hashes seemed held"
        );
        assert!(filter.bytes() <= 3 * FIRST_CAPACITY * BITS_PER_KEY / 8 + 64);
    }

    #[test]
    fn an_empty_filter_holds_nothing() {
        let filter = MergedFilter::default();
        assert!(hashes(3, 1000).all(|h| !filter.may_hold(h)));
    }
}
