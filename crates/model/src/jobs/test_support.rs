//! Helpers shared by the job tests.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// Parses an RFC 3339 instant.
pub fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

/// `s` seconds.
pub fn secs(s: i64) -> SignedDuration {
    SignedDuration::from_secs(s)
}

/// An IANA zone from the bundled database.
pub fn zone(name: &str) -> TimeZone {
    jiff::tz::TimeZoneDatabase::bundled().get(name).unwrap()
}
