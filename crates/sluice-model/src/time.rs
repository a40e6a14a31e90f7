//! Unix milliseconds, the one time unit Sluice keeps in Redis (record fields, sorted-set
//! scores, script arguments) and in scheduling arithmetic. Every conversion between it
//! and [`OffsetDateTime`] goes through here, so each crate rounds the same way.

use ::time::OffsetDateTime;

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    to_ms(OffsetDateTime::now_utc())
}

/// `at` in unix milliseconds (sub-millisecond digits dropped, toward the past for
/// times before 1970 as well as after).
pub fn to_ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The time `ms` unix milliseconds name; the epoch itself for values out of range
/// (a corrupt field reads as 1970, never as a panic).
pub fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_round_trip() {
        let at = from_ms(1_795_376_091_664);
        assert_eq!(to_ms(at), 1_795_376_091_664);
        assert_eq!(from_ms(i64::MAX), OffsetDateTime::UNIX_EPOCH);
        assert!((now_ms() - to_ms(OffsetDateTime::now_utc())).abs() < 1000);
    }
}
