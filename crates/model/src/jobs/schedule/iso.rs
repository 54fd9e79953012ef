//! Chronos' ISO 8601 repeating intervals: `R[n]/<start>/<period>`.
//!
//! - `n` is optional: `R/...` repeats for ever, `R5/...` makes five slots. `R0` is refused
//!   (it schedules nothing; suspend the job instead).
//! - `<start>` is an ISO 8601 date-time. With an offset (`2014-03-08T20:00:00Z`,
//!   `...+01:00`) it is that instant; without one (`2024-03-09T02:30:00`, or a bare date) it
//!   is a wall-clock time in the job's time zone. Empty (`R//PT1H`) is the job's creation
//!   time, which the caller passes in.
//! - `<period>` is an ISO 8601 duration with years, months, weeks, days, hours, minutes and
//!   seconds (fractions allowed on the smallest unit, e.g. `PT0.5S`). Zero and negative
//!   periods are refused.
//!
//! Slot `k` is `start + k × period`, computed from the start each time (never by repeated
//! addition, which drifts: Jan 31 + P1M + P1M would land on Mar 28). The calendar part
//! (years, months, weeks, days) is added to the start's *wall clock* in the job's zone, so a
//! daily job at 02:30 stays at 02:30 local across daylight-saving changes (on the night 02:30
//! does not exist it fires at the end of the gap, see the parent module); the clock part
//! (hours, minutes, seconds) is added in absolute time, so `PT1H` is always 3600 s.

use jiff::civil::DateTime;
use jiff::fmt::temporal::SpanParser;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};

use super::{resolve_wall_clock, scale_duration};

/// Why an ISO 8601 repeating interval was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IsoError {
    /// Not three `/`-separated parts.
    #[error("expected R[n]/<start>/<period> (three parts separated by '/'), found {parts} part(s)")]
    Shape {
        /// How many parts there were.
        parts: usize,
    },
    /// The repetition count is not `R` or `R<digits>`.
    #[error("repetitions {text:?}: expected R (unbounded) or R followed by a count, e.g. R5")]
    Repetitions {
        /// The first part as written.
        text: String,
    },
    /// `R0`.
    #[error(
        "R0 schedules no run at all; use a positive count, R for unbounded, or suspend the job"
    )]
    ZeroRepetitions,
    /// The start does not parse as an ISO 8601 date-time.
    #[error("start {text:?} is not an ISO 8601 date-time (e.g. 2024-03-09T02:30:00Z): {reason}")]
    Start {
        /// The start as written.
        text: String,
        /// The parser's explanation.
        reason: String,
    },
    /// The period does not parse as an ISO 8601 duration.
    #[error("period {text:?} is not an ISO 8601 duration (e.g. PT1H, P1D, P1M): {reason}")]
    Period {
        /// The period as written.
        text: String,
        /// The parser's explanation.
        reason: String,
    },
    /// A zero or negative period.
    #[error("period {text:?} must be positive")]
    NonPositivePeriod {
        /// The period as written.
        text: String,
    },
}

/// A parsed `R[n]/<start>/<period>`.
#[derive(Debug, Clone)]
pub struct RepeatingInterval {
    repetitions: Option<u64>,
    start: Timestamp,
    start_wall: DateTime,
    calendar: Span,
    clock: SignedDuration,
}

impl RepeatingInterval {
    /// Parses `text`; wall-clock starts are read in `zone`, an empty start is `created`.
    pub fn parse(text: &str, zone: &TimeZone, created: Timestamp) -> Result<Self, IsoError> {
        let parts: Vec<&str> = text.split('/').collect();
        let [repeat, start, period] = parts.as_slice() else {
            return Err(IsoError::Shape { parts: parts.len() });
        };
        let repetitions = parse_repetitions(repeat)?;
        let (start, start_wall) = parse_start(start.trim(), zone, created)?;
        let (calendar, clock) = parse_period(period.trim())?;
        Ok(RepeatingInterval {
            repetitions,
            start,
            start_wall,
            calendar,
            clock,
        })
    }

    /// `n` of `R[n]`, `None` when unbounded.
    pub fn repetitions(&self) -> Option<u64> {
        self.repetitions
    }

    /// The first slot.
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// Slot `k` (0-based), `None` past `R[n]`'s n-th slot or out of range.
    pub fn slot(&self, k: u64, zone: &TimeZone) -> Option<Timestamp> {
        if self.repetitions.is_some_and(|n| k >= n) {
            return None;
        }
        if k == 0 {
            return Some(self.start);
        }
        let clock = scale_duration(self.clock, k)?;
        let base = if self.calendar.is_zero() {
            self.start
        } else {
            let calendar = self.calendar.checked_mul(i64::try_from(k).ok()?).ok()?;
            resolve_wall_clock(zone, self.start_wall.checked_add(calendar).ok()?)?
        };
        base.checked_add(clock).ok()
    }

    /// The smallest `k` whose slot is after `t` (or does not exist): the number of slots at
    /// or before `t`. Slots increase with `k`, so exponential then binary search finds it.
    fn index_after(&self, t: Timestamp, zone: &TimeZone) -> u64 {
        let at_or_before = |k: u64| self.slot(k, zone).is_some_and(|slot| slot <= t);
        if !at_or_before(0) {
            return 0;
        }
        let (mut lo, mut hi) = (0u64, 1u64);
        while at_or_before(hi) {
            lo = hi;
            match hi.checked_mul(2) {
                Some(next) => hi = next,
                None => return hi,
            }
        }
        // Invariant: slot(lo) <= t < slot(hi) (or slot(hi) does not exist).
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if at_or_before(mid) {
                lo = mid
            } else {
                hi = mid
            }
        }
        hi
    }

    /// The first slot after `t`.
    pub fn next_after(&self, t: Timestamp, zone: &TimeZone) -> Option<Timestamp> {
        self.slot(self.index_after(t, zone), zone)
    }

    /// The slots in `(after, through]`, at most `limit` (the earliest).
    pub fn slots_in(
        &self,
        after: Timestamp,
        through: Timestamp,
        limit: usize,
        zone: &TimeZone,
    ) -> Vec<Timestamp> {
        let first = self.index_after(after, zone);
        (first..)
            .map_while(|k| self.slot(k, zone).filter(|slot| *slot <= through))
            .take(limit)
            .collect()
    }

    /// The latest slot in `(after, through]`.
    pub fn latest_in(
        &self,
        after: Timestamp,
        through: Timestamp,
        zone: &TimeZone,
    ) -> Option<Timestamp> {
        let k = self.index_after(through, zone).checked_sub(1)?;
        self.slot(k, zone).filter(|slot| *slot > after)
    }

    /// How many slots fall in `(after, through]`.
    pub fn count_in(&self, after: Timestamp, through: Timestamp, zone: &TimeZone) -> u64 {
        self.index_after(through, zone)
            .saturating_sub(self.index_after(after, zone))
    }

    /// The n-th slot of `R[n]`; `None` when unbounded.
    pub fn final_slot(&self, zone: &TimeZone) -> Option<Timestamp> {
        self.slot(self.repetitions?.checked_sub(1)?, zone)
    }
}

fn parse_repetitions(text: &str) -> Result<Option<u64>, IsoError> {
    let digits = text.trim().strip_prefix(['R', 'r']).unwrap_or("x");
    if digits.is_empty() {
        return Ok(None);
    }
    match digits.parse::<u64>() {
        Ok(0) => Err(IsoError::ZeroRepetitions),
        Ok(n) if digits.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(n)),
        _ => Err(IsoError::Repetitions {
            text: text.to_string(),
        }),
    }
}

/// The start instant and its wall clock in `zone`.
fn parse_start(
    text: &str,
    zone: &TimeZone,
    created: Timestamp,
) -> Result<(Timestamp, DateTime), IsoError> {
    if text.is_empty() {
        return Ok((created, zone.to_datetime(created)));
    }
    if let Ok(instant) = text.parse::<Timestamp>() {
        return Ok((instant, zone.to_datetime(instant)));
    }
    let start_error = |reason: String| IsoError::Start {
        text: text.to_string(),
        reason,
    };
    let wall = text
        .parse::<DateTime>()
        .map_err(|e| start_error(e.to_string()))?;
    let instant = resolve_wall_clock(zone, wall)
        .ok_or_else(|| start_error("outside the representable range".to_string()))?;
    Ok((instant, wall))
}

/// The period's calendar part (years, months, weeks, days) and clock part.
fn parse_period(text: &str) -> Result<(Span, SignedDuration), IsoError> {
    let period_error = |reason: String| IsoError::Period {
        text: text.to_string(),
        reason,
    };
    let span = SpanParser::new()
        .parse_span(text)
        .map_err(|e| period_error(e.to_string()))?;
    if span.is_negative() || span.is_zero() {
        return Err(IsoError::NonPositivePeriod {
            text: text.to_string(),
        });
    }
    let calendar = Span::new()
        .try_years(span.get_years())
        .and_then(|s| s.try_months(span.get_months()))
        .and_then(|s| s.try_weeks(span.get_weeks()))
        .and_then(|s| s.try_days(span.get_days()))
        .map_err(|e| period_error(e.to_string()))?;
    let nanos = i128::from(span.get_hours()) * 3_600_000_000_000
        + i128::from(span.get_minutes()) * 60_000_000_000
        + i128::from(span.get_seconds()) * 1_000_000_000
        + i128::from(span.get_milliseconds()) * 1_000_000
        + i128::from(span.get_microseconds()) * 1_000
        + i128::from(span.get_nanoseconds());
    let too_long = || period_error("its hours, minutes and seconds are too long".to_string());
    let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).map_err(|_| too_long())?;
    let subsec = i32::try_from(nanos.rem_euclid(1_000_000_000)).map_err(|_| too_long())?;
    let clock = SignedDuration::new(secs, subsec);
    Ok((calendar, clock))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::test_support::{ts, zone};

    fn parse(text: &str, z: &TimeZone) -> Result<RepeatingInterval, IsoError> {
        RepeatingInterval::parse(text, z, ts("2024-01-01T00:00:00Z"))
    }

    #[test]
    fn fixed_period_slots_are_start_plus_k_periods() {
        let r = parse("R/2014-03-08T20:00:00Z/PT2H", &TimeZone::UTC).unwrap();
        assert_eq!(r.slot(0, &TimeZone::UTC), Some(ts("2014-03-08T20:00:00Z")));
        assert_eq!(r.slot(3, &TimeZone::UTC), Some(ts("2014-03-09T02:00:00Z")));
        assert_eq!(
            r.next_after(ts("2014-03-08T21:59:59Z"), &TimeZone::UTC),
            Some(ts("2014-03-08T22:00:00Z"))
        );
        assert_eq!(
            r.next_after(ts("2014-03-08T22:00:00Z"), &TimeZone::UTC),
            Some(ts("2014-03-09T00:00:00Z"))
        );
        assert_eq!(
            r.next_after(ts("2000-01-01T00:00:00Z"), &TimeZone::UTC),
            Some(ts("2014-03-08T20:00:00Z"))
        );
    }

    #[test]
    fn bounded_interval_ends_at_its_nth_slot() {
        let r = parse("R3/2024-01-01T00:00:00Z/PT10S", &TimeZone::UTC).unwrap();
        assert_eq!(
            r.final_slot(&TimeZone::UTC),
            Some(ts("2024-01-01T00:00:20Z"))
        );
        assert_eq!(
            r.next_after(ts("2024-01-01T00:00:20Z"), &TimeZone::UTC),
            None
        );
        assert_eq!(
            r.count_in(
                ts("2023-01-01T00:00:00Z"),
                ts("2030-01-01T00:00:00Z"),
                &TimeZone::UTC
            ),
            3
        );
    }

    #[test]
    fn empty_start_is_the_creation_time() {
        let r = parse("R//PT1H", &TimeZone::UTC).unwrap();
        assert_eq!(r.start(), ts("2024-01-01T00:00:00Z"));
    }

    #[test]
    fn daily_period_keeps_the_local_wall_clock_across_dst() {
        let ny = zone("America/New_York");
        let r = parse("R/2024-03-08T02:30:00/P1D", &ny).unwrap();
        // 2024-03-08 02:30 EST, 2024-03-09 02:30 EST, 2024-03-10 02:30 does not exist
        // (gap 02:00-03:00) -> 03:00 EDT, then 02:30 EDT again.
        assert_eq!(r.slot(0, &ny), Some(ts("2024-03-08T07:30:00Z")));
        assert_eq!(r.slot(1, &ny), Some(ts("2024-03-09T07:30:00Z")));
        assert_eq!(r.slot(2, &ny), Some(ts("2024-03-10T07:00:00Z")));
        assert_eq!(r.slot(3, &ny), Some(ts("2024-03-11T06:30:00Z")));
    }

    #[test]
    fn a_wall_clock_in_a_fold_is_its_first_occurrence() {
        let ny = zone("America/New_York");
        let r = parse("R/2024-11-02T01:30:00/P1D", &ny).unwrap();
        // 2024-11-03 01:30 happens twice (EDT then EST): the first one.
        assert_eq!(r.slot(1, &ny), Some(ts("2024-11-03T05:30:00Z")));
        assert_eq!(r.slot(2, &ny), Some(ts("2024-11-04T06:30:00Z")));
    }

    #[test]
    fn hourly_period_is_absolute_time() {
        let ny = zone("America/New_York");
        let r = parse("R/2024-03-10T01:00:00/PT1H", &ny).unwrap();
        assert_eq!(r.slot(1, &ny), Some(ts("2024-03-10T07:00:00Z"))); // 03:00 EDT
    }

    #[test]
    fn months_are_counted_from_the_start_without_drift() {
        let r = parse("R/2024-01-31T12:00:00Z/P1M", &TimeZone::UTC).unwrap();
        assert_eq!(r.slot(1, &TimeZone::UTC), Some(ts("2024-02-29T12:00:00Z")));
        assert_eq!(r.slot(2, &TimeZone::UTC), Some(ts("2024-03-31T12:00:00Z")));
        let r = parse("R/2024-01-01T00:00:00Z/P1Y2M10DT2H30M", &TimeZone::UTC).unwrap();
        assert_eq!(r.slot(1, &TimeZone::UTC), Some(ts("2025-03-11T02:30:00Z")));
        let r = parse("R/2024-01-01T00:00:00Z/P2W", &TimeZone::UTC).unwrap();
        assert_eq!(r.slot(1, &TimeZone::UTC), Some(ts("2024-01-15T00:00:00Z")));
    }

    #[test]
    fn fractional_seconds_and_offsets() {
        let r = parse("R/2024-01-01T00:00:00+02:00/PT0.5S", &TimeZone::UTC).unwrap();
        assert_eq!(
            r.slot(3, &TimeZone::UTC),
            Some(ts("2023-12-31T22:00:01.5Z"))
        );
    }

    #[test]
    fn a_bare_date_is_local_midnight() {
        let berlin = zone("Europe/Berlin");
        let r = parse("R/2024-07-01/P1D", &berlin).unwrap();
        assert_eq!(r.start(), ts("2024-06-30T22:00:00Z"));
    }

    #[test]
    fn refuses_malformed_intervals() {
        let utc = &TimeZone::UTC;
        assert!(matches!(
            parse("R/2024-01-01T00:00:00Z", utc),
            Err(IsoError::Shape { parts: 2 })
        ));
        assert!(matches!(
            parse("X/2024-01-01T00:00:00Z/PT1H", utc),
            Err(IsoError::Repetitions { .. })
        ));
        assert!(matches!(
            parse("R-1/2024-01-01T00:00:00Z/PT1H", utc),
            Err(IsoError::Repetitions { .. })
        ));
        assert!(matches!(
            parse("R0/2024-01-01T00:00:00Z/PT1H", utc),
            Err(IsoError::ZeroRepetitions)
        ));
        assert!(matches!(
            parse("R/yesterday/PT1H", utc),
            Err(IsoError::Start { .. })
        ));
        assert!(matches!(
            parse("R/2024-01-01T00:00:00Z/1h", utc),
            Err(IsoError::Period { .. })
        ));
        assert!(matches!(
            parse("R/2024-01-01T00:00:00Z/PT0S", utc),
            Err(IsoError::NonPositivePeriod { .. })
        ));
        assert!(matches!(
            parse("R/2024-01-01T00:00:00Z/-PT1H", utc),
            Err(IsoError::NonPositivePeriod { .. })
        ));
    }
}
