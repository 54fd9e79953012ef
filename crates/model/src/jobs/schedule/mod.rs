//! Schedules: when a job's slots fall.
//!
//! A [`Schedule`] is either an ISO 8601 repeating interval (Chronos' `R[n]/<start>/<period>`,
//! see [`iso`]) or a cron expression (see [`cron`]), bound to an IANA time zone. Both give a
//! strictly increasing sequence of instants, the job's *slots*; everything else asks them
//! three questions: the next slot after an instant ([`Schedule::next_after`]), the latest
//! slot in a half-open window ([`Schedule::latest_in`]) and the slots in a window
//! ([`Schedule::slots_in`], [`Schedule::count_in`]).
//!
//! # Wall clocks that do not exist or exist twice
//!
//! Both kinds turn a local wall-clock time into an instant with one rule,
//! [`resolve_wall_clock`]:
//!
//! - **in a gap** (the clock jumps forward, e.g. 02:30 on the spring-forward night in
//!   New York): the first instant after the gap, i.e. the transition itself (03:00 local).
//!   Every slot that falls in one gap collapses into that one instant, so a job fires once
//!   for a skipped hour, not zero times and not once per skipped slot (Vixie cron runs such
//!   jobs "immediately after the change"; Kubernetes' CronJob, which uses UTC instants
//!   of the local wall clock, skips them).
//! - **in a repeat** (the clock falls back, e.g. 01:30 twice in New York in November): the
//!   first occurrence only. A wall-clock time fires once per day it names, never twice; an
//!   hourly cron job therefore sees two hours between 01:00 (daylight time) and 02:00
//!   (standard time) on that night.

pub mod cron;
pub mod iso;

#[cfg(test)]
mod tests;

use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone, TimeZoneDatabase};
use jiff::{SignedDuration, Timestamp};

pub use cron::{CronError, CronExpr};
pub use iso::{IsoError, RepeatingInterval};

/// Why a schedule or its time zone was refused. Each message names the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The schedule string is empty.
    #[error(
        "the schedule is empty: give an ISO 8601 repeating interval (R/<start>/<period>) or a cron expression"
    )]
    Empty,
    /// An ISO 8601 repeating interval that does not parse or makes no slots.
    #[error("ISO 8601 schedule {text:?}: {source}")]
    Iso {
        /// The schedule as written.
        text: String,
        /// What is wrong with it.
        source: IsoError,
    },
    /// A cron expression that does not parse or never fires.
    #[error("cron schedule {text:?}: {source}")]
    Cron {
        /// The schedule as written.
        text: String,
        /// What is wrong with it.
        source: CronError,
    },
    /// The time zone is not an IANA name in the bundled tz database.
    #[error("unknown time zone {name:?}: use an IANA name such as \"Europe/Berlin\" or \"UTC\"")]
    UnknownTimeZone {
        /// The name as written.
        name: String,
    },
}

/// How many slots a window holds, when counting all of them would cost too much.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SlotCount {
    /// Exactly this many.
    Exact(u64),
    /// At least this many (counting stopped at the cap).
    AtLeast(u64),
}

impl SlotCount {
    /// The count, exact or a lower bound.
    pub fn at_least(self) -> u64 {
        match self {
            SlotCount::Exact(n) | SlotCount::AtLeast(n) => n,
        }
    }
}

/// The two kinds of schedule.
#[derive(Debug, Clone)]
pub enum ScheduleKind {
    /// Chronos' ISO 8601 repeating interval.
    Iso(RepeatingInterval),
    /// A cron expression.
    Cron(CronExpr),
}

/// A parsed, validated schedule bound to its time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    kind: ScheduleKind,
    zone: TimeZone,
    text: String,
}

/// Looks an IANA time zone up in the tz database bundled into the binary (never the host's).
/// `None` or an empty name is UTC.
pub fn time_zone(name: Option<&str>) -> Result<TimeZone, ScheduleError> {
    match name.map(str::trim) {
        None | Some("") => Ok(TimeZone::UTC),
        Some(name) => {
            TimeZoneDatabase::bundled()
                .get(name)
                .map_err(|_| ScheduleError::UnknownTimeZone {
                    name: name.to_string(),
                })
        }
    }
}

impl Schedule {
    /// Parses `text` as an ISO 8601 repeating interval (it starts with `R`) or else as a cron
    /// expression, in the IANA zone `time_zone` (UTC when `None`). `created` is the job's
    /// creation time: the start of an interval written without one (`R//PT1H`).
    pub fn parse(
        text: &str,
        time_zone_name: Option<&str>,
        created: Timestamp,
    ) -> Result<Schedule, ScheduleError> {
        let zone = time_zone(time_zone_name)?;
        let trimmed = text.trim();
        let kind = if trimmed.is_empty() {
            return Err(ScheduleError::Empty);
        } else if trimmed.starts_with(['R', 'r']) {
            let interval = RepeatingInterval::parse(trimmed, &zone, created).map_err(|source| {
                ScheduleError::Iso {
                    text: trimmed.to_string(),
                    source,
                }
            })?;
            ScheduleKind::Iso(interval)
        } else {
            let expr = CronExpr::parse(trimmed).map_err(|source| ScheduleError::Cron {
                text: trimmed.to_string(),
                source,
            })?;
            ScheduleKind::Cron(expr)
        };
        Ok(Schedule {
            kind,
            zone,
            text: trimmed.to_string(),
        })
    }

    /// The schedule as written (trimmed).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The time zone wall clocks are read in.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// Which kind of schedule this is.
    pub fn kind(&self) -> &ScheduleKind {
        &self.kind
    }

    /// The first slot strictly after `t`, or `None` when the schedule has ended (an `R[n]`
    /// past its n-th slot) or runs past the representable range (year 9999).
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        match &self.kind {
            ScheduleKind::Iso(interval) => interval.next_after(t, &self.zone),
            ScheduleKind::Cron(expr) => expr.next_after(t, &self.zone),
        }
    }

    /// The latest slot in `(after, through]`, if any.
    pub fn latest_in(&self, after: Timestamp, through: Timestamp) -> Option<Timestamp> {
        if through <= after {
            return None;
        }
        match &self.kind {
            ScheduleKind::Iso(interval) => interval.latest_in(after, through, &self.zone),
            ScheduleKind::Cron(_) => latest_by_bisection(|t| self.next_after(t), after, through),
        }
    }

    /// The slots in `(after, through]`, in order, at most `limit` of them (the earliest).
    pub fn slots_in(&self, after: Timestamp, through: Timestamp, limit: usize) -> Vec<Timestamp> {
        if let ScheduleKind::Iso(interval) = &self.kind {
            return interval.slots_in(after, through, limit, &self.zone);
        }
        let mut slots = Vec::new();
        let mut cursor = after;
        while slots.len() < limit {
            match self.next_after(cursor) {
                Some(slot) if slot <= through => {
                    slots.push(slot);
                    cursor = slot;
                }
                _ => break,
            }
        }
        slots
    }

    /// How many slots fall in `(after, through]`: exact for ISO 8601 intervals (index
    /// arithmetic), counted one by one up to `cap` for cron.
    pub fn count_in(&self, after: Timestamp, through: Timestamp, cap: u64) -> SlotCount {
        if through <= after {
            return SlotCount::Exact(0);
        }
        if let ScheduleKind::Iso(interval) = &self.kind {
            return SlotCount::Exact(interval.count_in(after, through, &self.zone));
        }
        let limit = usize::try_from(cap).unwrap_or(usize::MAX);
        let counted = self.slots_in(after, through, limit).len() as u64;
        if counted < cap {
            SlotCount::Exact(counted)
        } else {
            SlotCount::AtLeast(counted)
        }
    }

    /// The last slot of a bounded schedule (`R[n]`'s n-th), `None` for unbounded ones.
    pub fn final_slot(&self) -> Option<Timestamp> {
        match &self.kind {
            ScheduleKind::Iso(interval) => interval.final_slot(&self.zone),
            ScheduleKind::Cron(_) => None,
        }
    }
}

/// The instant a local wall-clock time names in `zone`: a time in a gap is the gap's end
/// (the transition instant), a time in a repeat its first occurrence. `None` only outside
/// the representable range.
pub fn resolve_wall_clock(zone: &TimeZone, wall: DateTime) -> Option<Timestamp> {
    match zone.to_ambiguous_timestamp(wall).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(wall).ok(),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(wall).ok(),
        AmbiguousOffset::Gap { after, .. } => {
            // `wall` read with the later offset lies just before the transition.
            let just_before = after.to_timestamp(wall).ok()?;
            zone.following(just_before)
                .next()
                .map(|transition| transition.timestamp())
        }
    }
}

/// The latest `next(u)` that is `<= through` for `u` in `[after, through)`, by bisection on
/// `u`: `next` is non-decreasing, so at most ~100 calls find it.
fn latest_by_bisection(
    next: impl Fn(Timestamp) -> Option<Timestamp>,
    after: Timestamp,
    through: Timestamp,
) -> Option<Timestamp> {
    let fits = |u: i128| {
        Timestamp::from_nanosecond(u)
            .ok()
            .and_then(&next)
            .is_some_and(|slot| slot <= through)
    };
    let (mut lo, mut hi) = (after.as_nanosecond(), through.as_nanosecond());
    if !fits(lo) {
        return None;
    }
    // Invariant: fits(lo), and next(hi) > through (next is strictly after its argument).
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) { lo = mid } else { hi = mid }
    }
    Timestamp::from_nanosecond(lo).ok().and_then(next)
}

/// `duration × k`, or `None` when it overflows a [`SignedDuration`].
pub(crate) fn scale_duration(duration: SignedDuration, k: u64) -> Option<SignedDuration> {
    let nanos = duration.as_nanos().checked_mul(i128::from(k))?;
    let secs = i64::try_from(nanos.div_euclid(1_000_000_000)).ok()?;
    let subsec = i32::try_from(nanos.rem_euclid(1_000_000_000)).ok()?;
    Some(SignedDuration::new(secs, subsec))
}
