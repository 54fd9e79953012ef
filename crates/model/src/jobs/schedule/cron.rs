//! Cron expressions, parsed here rather than by a crate.
//!
//! The well-kept Rust cron crates (`cron`, `croner`, `saffron`) compute on `chrono` types
//! and bring their own daylight-saving rules; this module needs `jiff` instants and the
//! one gap/repeat rule shared with ISO 8601 intervals (see the parent module), and the
//! grammar is small, so it is a parser of its own (~200 lines) with its own tests.
//!
//! # Grammar
//!
//! - **Five fields**, as in Vixie cron and Kubernetes' CronJob: minute (0-59), hour (0-23),
//!   day of month (1-31), month (1-12 or `JAN`-`DEC`), day of week (0-7 or `SUN`-`SAT`,
//!   0 and 7 are Sunday). Names are case-insensitive.
//! - **Six fields**: a leading seconds field (0-59), as in Quartz and `robfig/cron`'s
//!   seconds mode. It exists so that tests can use second-level periods
//!   (`*/5 * * * * *`); production jobs rarely need it.
//! - Each field is a comma list of `*`, `?` (day fields only; same as `*`), `v`, `a-b`,
//!   and any of these followed by `/step`; `v/step` means `v-max/step` (as in
//!   `robfig/cron`; Vixie refuses it). Ranges must not wrap (`5-1` is refused).
//! - Macros: `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`),
//!   `@hourly`. `@reboot`, `@every` and `CRON_TZ=` prefixes are refused: the time zone is
//!   the job's `timeZone`.
//! - Day of month and day of week: when both are restricted (neither is `*` or `?`), a day
//!   matches if **either** matches (Vixie's rule); otherwise both must. `*/2` counts as
//!   restricted, as in `robfig/cron` (Kubernetes).
//! - An expression that can never fire (`0 0 30 2 *`) is refused at parse time.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

use super::resolve_wall_clock;

/// Why a cron expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// Not five or six fields.
    #[error(
        "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with leading seconds), found {found}"
    )]
    FieldCount {
        /// How many whitespace-separated fields there were.
        found: usize,
    },
    /// An `@macro` that is not supported.
    #[error(
        "unknown macro {text:?}: use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"
    )]
    UnknownMacro {
        /// The macro as written.
        text: String,
    },
    /// One field's item is malformed or out of range.
    #[error("{field} field, item {item:?}: {reason}")]
    Field {
        /// The field's name (`minute`, `day-of-week`, ...).
        field: &'static str,
        /// The comma-separated item at fault.
        item: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The expression names no date that exists (`0 0 30 2 *`).
    #[error("never fires: no month it allows has a day of month it allows")]
    NeverFires,
}

/// A parsed cron expression: one bit set per field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpr {
    seconds: u64,
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    day_of_month_restricted: bool,
    day_of_week_restricted: bool,
}

/// One field's bounds and names.
struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const SECOND: FieldSpec = FieldSpec {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
};
const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
};
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};

/// How many days one search may look at before giving up (> 8 years: leap days recur).
const MAX_DAYS_SEARCHED: u32 = 8 * 366 + 31;

impl CronExpr {
    /// Parses a 5- or 6-field expression or a macro.
    pub fn parse(text: &str) -> Result<CronExpr, CronError> {
        let text = text.trim();
        let expanded = if text.starts_with('@') {
            expand_macro(text)?
        } else {
            text
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (seconds, rest) = match fields.as_slice() {
            [m, h, dom, mon, dow] => ("0", [*m, *h, *dom, *mon, *dow]),
            [s, m, h, dom, mon, dow] => (*s, [*m, *h, *dom, *mon, *dow]),
            _ => {
                return Err(CronError::FieldCount {
                    found: fields.len(),
                });
            }
        };
        let [minute, hour, dom, month, dow] = rest;
        let mut days_of_week = parse_field(dow, &DAY_OF_WEEK)?;
        if days_of_week & (1 << 7) != 0 {
            days_of_week = (days_of_week | 1) & !(1 << 7);
        }
        let expr = CronExpr {
            seconds: parse_field(seconds, &SECOND)?,
            minutes: parse_field(minute, &MINUTE)?,
            hours: parse_field(hour, &HOUR)?,
            days_of_month: parse_field(dom, &DAY_OF_MONTH)?,
            months: parse_field(month, &MONTH)?,
            days_of_week,
            day_of_month_restricted: !is_star(dom),
            day_of_week_restricted: !is_star(dow),
        };
        expr.check_can_fire()?;
        Ok(expr)
    }

    /// Refuses expressions whose day-of-month never occurs in their months.
    fn check_can_fire(&self) -> Result<(), CronError> {
        if !self.day_of_month_restricted || self.day_of_week_restricted {
            return Ok(());
        }
        const LONGEST: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let possible = (1..=12u32).zip(LONGEST).any(|(month, longest)| {
            has(self.months, month) && (1..=longest).any(|day| has(self.days_of_month, day))
        });
        if possible {
            Ok(())
        } else {
            Err(CronError::NeverFires)
        }
    }

    /// Whether the wall-clock `date` is a day this expression fires on.
    pub fn matches_day(&self, date: Date) -> bool {
        if !has(self.months, date.month() as u32) {
            return false;
        }
        let dom = has(self.days_of_month, date.day() as u32);
        let dow = has(
            self.days_of_week,
            date.weekday().to_sunday_zero_offset() as u32,
        );
        match (self.day_of_month_restricted, self.day_of_week_restricted) {
            (true, true) => dom || dow,
            _ => dom && dow,
        }
    }

    /// Whether the wall-clock `wall` (to the second) matches.
    pub fn matches(&self, wall: DateTime) -> bool {
        self.matches_day(wall.date())
            && has(self.hours, wall.hour() as u32)
            && has(self.minutes, wall.minute() as u32)
            && has(self.seconds, wall.second() as u32)
    }

    /// The first matching wall-clock time strictly after `after` (whole seconds).
    pub fn next_wall_after(&self, after: DateTime) -> Option<DateTime> {
        let mut date = after.date();
        let mut from = (
            after.hour() as u32,
            after.minute() as u32,
            after.second() as u32 + 1,
        );
        for _ in 0..MAX_DAYS_SEARCHED {
            if !has(self.months, date.month() as u32) {
                date = first_of_next_month(date)?;
                from = (0, 0, 0);
                continue;
            }
            if self.matches_day(date)
                && let Some((h, m, s)) = self.first_time_from(from)
            {
                return Some(date.at(h as i8, m as i8, s as i8, 0));
            }
            date = date.tomorrow().ok()?;
            from = (0, 0, 0);
        }
        None
    }

    /// The first (hour, minute, second) of the day at or after `from` that matches.
    fn first_time_from(&self, (hour, minute, second): (u32, u32, u32)) -> Option<(u32, u32, u32)> {
        let mut h = next_set(self.hours, hour)?;
        loop {
            let (m0, s0) = if h == hour { (minute, second) } else { (0, 0) };
            let mut m = next_set(self.minutes, m0);
            while let Some(min) = m {
                let s_from = if h == hour && min == minute { s0 } else { 0 };
                if let Some(s) = next_set(self.seconds, s_from) {
                    return Some((h, min, s));
                }
                m = next_set(self.minutes, min + 1);
            }
            h = next_set(self.hours, h + 1)?;
        }
    }

    /// The first firing instant strictly after `t`, reading wall clocks in `zone`.
    pub fn next_after(&self, t: Timestamp, zone: &TimeZone) -> Option<Timestamp> {
        let mut wall = zone.to_datetime(t);
        // Walls after wall(t) map to instants after t except in the second pass of a repeat,
        // where they name their (earlier) first occurrence: step past those. Each step moves
        // the wall clock forward, and a repeat is at most a few hours long.
        loop {
            wall = self.next_wall_after(wall)?;
            let instant = resolve_wall_clock(zone, wall)?;
            if instant > t {
                return Some(instant);
            }
        }
    }
}

fn expand_macro(text: &str) -> Result<&'static str, CronError> {
    Ok(match text.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ => {
            return Err(CronError::UnknownMacro {
                text: text.to_string(),
            });
        }
    })
}

fn is_star(field: &str) -> bool {
    matches!(field, "*" | "?" | "*/1" | "?/1")
}

fn has(bits: u64, value: u32) -> bool {
    value < 64 && bits & (1 << value) != 0
}

/// The smallest set bit `>= from`.
fn next_set(bits: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = bits >> from;
    (rest != 0).then(|| from + rest.trailing_zeros())
}

fn first_of_next_month(date: Date) -> Option<Date> {
    date.first_of_month()
        .checked_add(jiff::Span::new().months(1))
        .ok()
}

fn parse_field(text: &str, spec: &FieldSpec) -> Result<u64, CronError> {
    text.split(',')
        .try_fold(0u64, |bits, item| Ok(bits | parse_item(item, spec)?))
}

/// One comma-separated item: `*`, `?`, `v`, `a-b`, each optionally `/step`.
fn parse_item(item: &str, spec: &FieldSpec) -> Result<u64, CronError> {
    let fail = |reason: String| CronError::Field {
        field: spec.name,
        item: item.to_string(),
        reason,
    };
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => {
            let step: u32 = step
                .parse()
                .map_err(|_| fail(format!("step {step:?} is not a number")))?;
            if step == 0 {
                return Err(fail("step must be at least 1".to_string()));
            }
            (range, Some(step))
        }
        None => (item, None),
    };
    let (lo, hi) = match range {
        "*" => (spec.min, spec.max),
        "?" if spec.name.starts_with("day-of") => (spec.min, spec.max),
        _ => match range.split_once('-') {
            Some((a, b)) => (
                parse_value(a, spec).map_err(&fail)?,
                parse_value(b, spec).map_err(&fail)?,
            ),
            None => {
                let v = parse_value(range, spec).map_err(&fail)?;
                (v, if step.is_some() { spec.max } else { v })
            }
        },
    };
    if lo > hi {
        return Err(fail(format!("range {lo}-{hi} runs backwards")));
    }
    let step = step.unwrap_or(1);
    Ok((lo..=hi)
        .step_by(step as usize)
        .fold(0u64, |bits, v| bits | (1 << v)))
}

fn parse_value(text: &str, spec: &FieldSpec) -> Result<u32, String> {
    let upper = text.to_ascii_uppercase();
    let value = match spec.names.iter().position(|name| *name == upper) {
        Some(index) => index as u32 + if spec.name == "month" { 1 } else { 0 },
        None => text
            .parse::<u32>()
            .map_err(|_| format!("{text:?} is not a number or a name"))?,
    };
    if value < spec.min || value > spec.max {
        return Err(format!("{value} is outside {}-{}", spec.min, spec.max));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::test_support::{ts, zone};

    fn next(expr: &str, after: &str, z: &TimeZone) -> Option<Timestamp> {
        CronExpr::parse(expr).unwrap().next_after(ts(after), z)
    }

    fn fires(expr: &str, after: &str, z: &TimeZone, n: usize) -> Vec<String> {
        let expr = CronExpr::parse(expr).unwrap();
        let mut t = ts(after);
        (0..n)
            .map(|_| {
                t = expr.next_after(t, z).unwrap();
                t.to_string()
            })
            .collect()
    }

    #[test]
    fn five_fields_with_lists_ranges_steps_and_names() {
        let utc = &TimeZone::UTC;
        assert_eq!(
            next("*/15 * * * *", "2024-01-01T00:07:00Z", utc),
            Some(ts("2024-01-01T00:15:00Z"))
        );
        assert_eq!(
            next("0 9-17/4 * * MON-FRI", "2024-01-06T00:00:00Z", utc),
            Some(ts("2024-01-08T09:00:00Z"))
        );
        assert_eq!(
            next("30 4 1,15 * *", "2024-01-02T00:00:00Z", utc),
            Some(ts("2024-01-15T04:30:00Z"))
        );
        assert_eq!(
            next("0 0 * jan,Jul sun", "2024-02-01T00:00:00Z", utc),
            Some(ts("2024-07-07T00:00:00Z"))
        );
        assert_eq!(
            next("0 0 * * 7", "2024-01-01T00:00:00Z", utc),
            Some(ts("2024-01-07T00:00:00Z"))
        );
        assert_eq!(
            next("5/20 * * * *", "2024-01-01T00:06:00Z", utc),
            Some(ts("2024-01-01T00:25:00Z"))
        );
    }

    #[test]
    fn both_day_fields_restricted_means_either() {
        // The 13th or any Friday.
        let utc = &TimeZone::UTC;
        assert_eq!(
            next("0 0 13 * 5", "2024-01-01T00:00:00Z", utc),
            Some(ts("2024-01-05T00:00:00Z"))
        );
        assert_eq!(
            next("0 0 13 * 5", "2024-01-12T00:00:00Z", utc),
            Some(ts("2024-01-13T00:00:00Z"))
        );
        // Day-of-month * and a weekday: only that weekday.
        assert_eq!(
            next("0 0 * * 5", "2024-01-06T00:00:00Z", utc),
            Some(ts("2024-01-12T00:00:00Z"))
        );
        // */2 counts as restricted: odd days or Mondays.
        assert_eq!(
            next("0 0 */2 * 1", "2024-01-03T00:00:00Z", utc),
            Some(ts("2024-01-05T00:00:00Z"))
        );
    }

    #[test]
    fn six_fields_have_leading_seconds() {
        assert_eq!(
            fires("*/20 * * * * *", "2024-01-01T00:00:05Z", &TimeZone::UTC, 3),
            [
                "2024-01-01T00:00:20Z",
                "2024-01-01T00:00:40Z",
                "2024-01-01T00:01:00Z"
            ]
        );
    }

    #[test]
    fn macros() {
        let utc = &TimeZone::UTC;
        assert_eq!(
            next("@hourly", "2024-01-01T00:00:00Z", utc),
            Some(ts("2024-01-01T01:00:00Z"))
        );
        assert_eq!(
            next("@daily", "2024-01-01T00:00:00Z", utc),
            Some(ts("2024-01-02T00:00:00Z"))
        );
        assert_eq!(
            next("@weekly", "2024-01-01T00:00:00Z", utc),
            Some(ts("2024-01-07T00:00:00Z"))
        );
        assert_eq!(
            next("@monthly", "2024-01-01T00:00:00Z", utc),
            Some(ts("2024-02-01T00:00:00Z"))
        );
        assert_eq!(
            next("@ANNUALLY", "2024-01-01T00:00:00Z", utc),
            Some(ts("2025-01-01T00:00:00Z"))
        );
    }

    #[test]
    fn leap_day_waits_for_a_leap_year() {
        assert_eq!(
            next("0 0 29 2 *", "2024-03-01T00:00:00Z", &TimeZone::UTC),
            Some(ts("2028-02-29T00:00:00Z"))
        );
    }

    #[test]
    fn times_in_a_gap_fire_once_at_the_end_of_the_gap() {
        let ny = zone("America/New_York");
        // 2024-03-10: 02:00 EST jumps to 03:00 EDT (07:00Z).
        assert_eq!(
            next("30 2 * * *", "2024-03-10T06:00:00Z", &ny),
            Some(ts("2024-03-10T07:00:00Z"))
        );
        // Every 15 minutes: 01:45 EST, then 02:00..02:45 collapse into 03:00 EDT, then 03:15.
        assert_eq!(
            fires("*/15 * * * *", "2024-03-10T06:30:00Z", &ny, 3),
            [
                "2024-03-10T06:45:00Z",
                "2024-03-10T07:00:00Z",
                "2024-03-10T07:15:00Z"
            ]
        );
        // The next day 02:30 exists again.
        assert_eq!(
            next("30 2 * * *", "2024-03-10T07:00:00Z", &ny),
            Some(ts("2024-03-11T06:30:00Z"))
        );
    }

    #[test]
    fn times_in_a_repeat_fire_on_the_first_occurrence_only() {
        let ny = zone("America/New_York");
        // 2024-11-03: 02:00 EDT falls back to 01:00 EST; 01:30 occurs at 05:30Z and 06:30Z.
        assert_eq!(
            next("30 1 * * *", "2024-11-03T04:00:00Z", &ny),
            Some(ts("2024-11-03T05:30:00Z"))
        );
        assert_eq!(
            next("30 1 * * *", "2024-11-03T05:30:00Z", &ny),
            Some(ts("2024-11-04T06:30:00Z"))
        );
        // Hourly: 01:00 EDT (05:00Z), then 02:00 EST (07:00Z): 01:00 EST is not repeated.
        assert_eq!(
            fires("0 * * * *", "2024-11-03T04:30:00Z", &ny, 3),
            [
                "2024-11-03T05:00:00Z",
                "2024-11-03T07:00:00Z",
                "2024-11-03T08:00:00Z"
            ]
        );
        // Asked from inside the second pass, the next fire is after the repeat.
        assert_eq!(
            next("*/10 * * * *", "2024-11-03T06:05:00Z", &ny),
            Some(ts("2024-11-03T07:00:00Z"))
        );
    }

    #[test]
    fn refuses_malformed_expressions() {
        let err = |text: &str| CronExpr::parse(text).unwrap_err();
        assert_eq!(err("* * * *"), CronError::FieldCount { found: 4 });
        assert_eq!(err("* * * * * * *"), CronError::FieldCount { found: 7 });
        let field_errors = [
            ("60 * * * *", "minute"),
            ("* 24 * * *", "hour"),
            ("* * 0 * *", "day-of-month"),
            ("* * * 13 *", "month"),
            ("* * * * 8", "day-of-week"),
            ("* * * * FOO", "day-of-week"),
            ("*/0 * * * *", "minute"),
            ("5-1 * * * *", "minute"),
            ("? * * * *", "minute"),
            ("1,,2 * * * *", "minute"),
            ("60 * * * * *", "second"),
        ];
        for (text, expected) in field_errors {
            assert!(
                matches!(err(text), CronError::Field { field, .. } if field == expected),
                "{text}"
            );
        }
        assert!(matches!(err("@reboot"), CronError::UnknownMacro { .. }));
        assert_eq!(err("0 0 30 2 *"), CronError::NeverFires);
        assert_eq!(err("0 0 31 4,6,9,11 *"), CronError::NeverFires);
        // With a weekday as well, it fires on that weekday.
        assert!(CronExpr::parse("0 0 30 2 1").is_ok());
        let message = err("0 25 * * *").to_string();
        assert_eq!(message, "hour field, item \"25\": 25 is outside 0-23");
    }
}
