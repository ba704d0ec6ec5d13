//! Bucket arithmetic: a conversation's log is cut into partitions of `BUCKET_WIDTH` consecutive `Seq`s.
//!
//! Buckets follow `Seq`, not time (Discord buckets by time because its ids are time-based): `Seq`s
//! are dense, so there is never an empty bucket to skip, the newest bucket is `bucket_of(last_seq)`,
//! and a partition holds at most `BUCKET_WIDTH` rows whatever the conversation's pace.

/// `Seq`s per message partition. Part of the schema: changing it re-keys every message.
pub const BUCKET_WIDTH: u64 = 1000;

/// The bucket holding `seq` (bucket 0 holds `Seq`s 1–999: `Seq` 0 is never used).
pub fn bucket_of(seq: u64) -> i64 {
    i64::try_from(seq / BUCKET_WIDTH).unwrap_or(i64::MAX)
}

/// The first and last `Seq` a bucket can hold, inclusive.
pub fn bucket_bounds(bucket: i64) -> (u64, u64) {
    let first = u64::try_from(bucket).unwrap_or(0).saturating_mul(BUCKET_WIDTH);
    (first, first.saturating_add(BUCKET_WIDTH - 1))
}

/// A `Seq` as CQL `bigint` (clamped: no conversation comes near 2^63 messages).
pub fn seq_to_cql(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// A CQL `bigint` as a `Seq` (negative values are not written; read as 0).
pub fn seq_from_cql(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seqs_fall_into_fixed_width_buckets() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 0);
        assert_eq!(bucket_of(999), 0);
        assert_eq!(bucket_of(1000), 1);
        assert_eq!(bucket_of(1999), 1);
        assert_eq!(bucket_of(2000), 2);
        assert_eq!(bucket_of(u64::MAX), i64::try_from(u64::MAX / BUCKET_WIDTH).unwrap());
    }

    #[test]
    fn bounds_cover_exactly_the_bucket() {
        assert_eq!(bucket_bounds(0), (0, 999));
        assert_eq!(bucket_bounds(1), (1000, 1999));
        assert_eq!(bucket_bounds(-1), (0, 999), "a negative bucket is never written: clamp");
        for seq in [1, 999, 1000, 1001, 123_456_789] {
            let (first, last) = bucket_bounds(bucket_of(seq));
            assert!(first <= seq && seq <= last, "{seq} in its bucket");
        }
    }

    #[test]
    fn seqs_round_trip_through_bigint() {
        assert_eq!(seq_from_cql(seq_to_cql(42)), 42);
        assert_eq!(seq_to_cql(u64::MAX), i64::MAX);
        assert_eq!(seq_from_cql(-5), 0);
    }
}
