//! Byte budgets of replies: a history page, a `sync` reply or a listing carries items until about
//! 1 MiB (protocol §7), so no request builds an unbounded frame.
//!
//! Items are counted by their serialized JSON size; the MessagePack form of the same document is
//! never larger (its strings are not escaped, its headers are no longer than JSON's quotes), so the
//! same budget bounds both encodings.

use serde::Serialize;

/// Bytes of items one reply carries at most; the envelope around them adds a few hundred bytes.
pub const REPLY_BUDGET_BYTES: usize = 1024 * 1024;

/// What is left of one reply's allowance, in items and in bytes.
#[derive(Debug, Clone)]
pub struct Budget {
    items_left: usize,
    bytes_left: usize,
    admitted: usize,
    full: bool,
}

impl Budget {
    pub fn new(items: usize, bytes: usize) -> Self {
        Self {
            items_left: items,
            bytes_left: bytes,
            admitted: 0,
            full: items == 0,
        }
    }

    /// A reply of at most `items` items within the reply budget.
    pub fn reply(items: usize) -> Self {
        Self::new(items, REPLY_BUDGET_BYTES)
    }

    /// Takes `item` if it fits. The first item of a reply always fits, so paging always moves
    /// on; once one does not fit, the reply is full and takes nothing more.
    pub fn admit<T: Serialize>(&mut self, item: &T) -> bool {
        if self.full {
            return false;
        }
        let size = json_size(item);
        if size > self.bytes_left && self.admitted > 0 {
            self.full = true;
            return false;
        }
        self.bytes_left = self.bytes_left.saturating_sub(size);
        self.items_left -= 1;
        self.admitted += 1;
        self.full = self.items_left == 0 || self.bytes_left == 0;
        true
    }

    /// Nothing more fits.
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// How many more items the count allows (the bytes may allow fewer).
    pub fn items_left(&self) -> usize {
        if self.full { 0 } else { self.items_left }
    }
}

/// Keeps the longest prefix of `items` the budget admits; true when some were left out.
pub fn keep_first<T: Serialize>(items: &mut Vec<T>, budget: &mut Budget) -> bool {
    let kept = items.iter().take_while(|item| budget.admit(*item)).count();
    let cut = kept < items.len();
    items.truncate(kept);
    cut
}

/// The length of `item` as JSON, without building the text.
pub fn json_size<T: Serialize>(item: &T) -> usize {
    let mut counter = Counter(0);
    // writing to a counter cannot fail; a value that cannot be serialized counts as nothing
    let _ = serde_json::to_writer(&mut counter, item);
    counter.0
}

struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(len: usize) -> String {
        "x".repeat(len)
    }

    #[test]
    fn sizes_are_the_json_length() {
        let value = serde_json::json!({"a": "b\"c", "n": 12});
        assert_eq!(json_size(&value), serde_json::to_string(&value).unwrap().len());
    }

    #[test]
    fn messagepack_is_never_larger_than_json() {
        let value =
            serde_json::json!({"msgs": [{"Content": text(30_000), "Seq": 7, "ClientMsgId": null}], "hasMore": true});
        let packed = rmp_serde::to_vec_named(&value).unwrap();
        assert!(packed.len() <= json_size(&value));
    }

    #[test]
    fn a_prefix_within_the_bytes() {
        let mut items: Vec<String> = (0..10).map(|_| text(98)).collect();
        // each item is 100 bytes of JSON
        let mut budget = Budget::new(100, 350);
        assert!(keep_first(&mut items, &mut budget));
        assert_eq!(items.len(), 3);
        assert!(budget.is_full());
        assert!(!budget.admit(&text(0)), "a full budget takes nothing more");
    }

    #[test]
    fn the_first_item_always_fits() {
        let mut items = vec![text(1000), text(10)];
        let mut budget = Budget::new(10, 100);
        assert!(keep_first(&mut items, &mut budget));
        assert_eq!(items.len(), 1, "an oversized first item still goes, alone");
    }
}
