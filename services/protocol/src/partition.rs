//! Which partition a conversation's commands and events travel on. Stable across versions and processes.

use crate::{AppId, ConvId};

/// FNV-1a over `app \0 conv`, reduced to `partitions`. Never change: partitions are persisted in stream subjects.
pub fn partition_of(app: &AppId, conv: &ConvId, partitions: u32) -> u32 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    let bytes = app
        .as_str()
        .bytes()
        .chain(std::iter::once(0))
        .chain(conv.as_str().bytes());
    for byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(PRIME);
    }
    (hash % u64::from(partitions.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_is_stable_and_in_range() {
        let app = AppId::parse("default").unwrap();
        let conv = ConvId::parse("c1").unwrap();
        let p = partition_of(&app, &conv, 16);
        assert!(p < 16);
        assert_eq!(p, partition_of(&app, &conv, 16));
        // pinned: a change here would move live conversations to other partitions
        assert_eq!(partition_of(&app, &conv, 1024), 606);
    }
}
