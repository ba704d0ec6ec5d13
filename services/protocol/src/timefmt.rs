//! `SendTime` on the wire: RFC 3339, UTC, always nine fractional digits.

use time::OffsetDateTime;

/// Formats unix nanoseconds as RFC 3339 UTC with nanoseconds.
pub fn rfc3339_nanos(unix_nanos: i64) -> String {
    Rfc3339::nanos(unix_nanos).as_str().to_owned()
}

/// [`rfc3339_nanos`]'s text on the stack, its digits written directly (no allocation): every
/// ack and every push carries a `SendTime`, and the `time` crate's format-description
/// interpreter was 2 % of the server's samples at full load. Serialized as a string.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339([u8; 30]);

impl Rfc3339 {
    pub fn nanos(unix_nanos: i64) -> Self {
        let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_nanos)).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let mut text = *b"0000-00-00T00:00:00.000000000Z";
        // an i64 of nanoseconds spans the years 1677 to 2262: always four digits
        let fields: [(usize, usize, u32); 7] = [
            (0, 4, t.year().unsigned_abs()),
            (5, 7, u32::from(u8::from(t.month()))),
            (8, 10, u32::from(t.day())),
            (11, 13, u32::from(t.hour())),
            (14, 16, u32::from(t.minute())),
            (17, 19, u32::from(t.second())),
            (20, 29, t.nanosecond()),
        ];
        for (from, to, mut value) in fields {
            for digit in text[from..to].iter_mut().rev() {
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        // ASCII digits and separators only
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Debug for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl serde::Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Now, in unix nanoseconds.
pub fn now_nanos() -> i64 {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_nanoseconds_in_utc() {
        assert_eq!(
            rfc3339_nanos(1_700_000_000_000_000_001),
            "2023-11-14T22:13:20.000000001Z"
        );
        assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
    }

    /// The digits written directly agree with the `time` crate's formatter over the whole range
    /// of an i64.
    #[test]
    fn the_stack_text_is_the_formatter_s() {
        use time::format_description::FormatItem;
        use time::macros::format_description;
        const FORMAT: &[FormatItem<'static>] =
            format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");
        let rfc3339_nanos = |nanos: i64| {
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
                .unwrap()
                .format(FORMAT)
                .unwrap()
        };
        let mut nanos = i64::MIN;
        let step = i64::MAX / 5_000 * 2;
        let mut checked = 0;
        while let Some(next) = nanos.checked_add(step) {
            assert_eq!(Rfc3339::nanos(nanos).as_str(), rfc3339_nanos(nanos), "{nanos}");
            nanos = next + 7_919;
            checked += 1;
        }
        for nanos in [0, 1, 999_999_999, 1_700_000_000_123_456_789, i64::MAX, i64::MIN] {
            assert_eq!(Rfc3339::nanos(nanos).as_str(), rfc3339_nanos(nanos), "{nanos}");
        }
        assert!(checked > 4_000);
        assert_eq!(
            serde_json::to_string(&Rfc3339::nanos(0)).unwrap(),
            r#""1970-01-01T00:00:00.000000000Z""#
        );
    }
}
