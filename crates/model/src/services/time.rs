//! Timestamp arithmetic in seconds that saturates instead of failing.

use jiff::{SignedDuration, Timestamp};

/// `at` plus `seconds` (fractions allowed), saturating at the ends of time; a negative or
/// non-finite amount adds nothing.
pub(crate) fn plus_seconds(at: Timestamp, seconds: f64) -> Timestamp {
    if !seconds.is_finite() || seconds <= 0.0 {
        return at;
    }
    SignedDuration::try_from_secs_f64(seconds)
        .ok()
        .and_then(|d| at.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// `at` plus whole `seconds`, saturating.
pub(crate) fn plus_secs(at: Timestamp, seconds: u64) -> Timestamp {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| at.checked_add(SignedDuration::from_secs(s)).ok())
        .unwrap_or(Timestamp::MAX)
}

/// Seconds from `from` to `to` (negative if `to` is earlier).
pub(crate) fn seconds_between(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64()
}
