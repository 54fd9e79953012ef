//! Property tests of the schedule math, against brute force where one exists.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::{CronExpr, Schedule, ScheduleKind, SlotCount, time_zone};

/// Zones with and without daylight saving, odd offsets (+05:30, +12:45), half-hour DST
/// (Lord Howe) and southern-hemisphere DST.
const ZONES: &[&str] = &[
    "UTC",
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Sao_Paulo",
    "America/Santiago",
    "Asia/Kolkata",
    "Asia/Tehran",
    "Europe/Dublin",
    "Africa/Casablanca",
];

fn zone_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(ZONES)
}

/// An instant in 2000..2040, whole seconds.
fn instant() -> impl Strategy<Value = Timestamp> {
    (946_684_800i64..2_208_988_800).prop_map(|s| Timestamp::from_second(s).unwrap())
}

/// An instant within a few hours of one of `zone`'s transitions (or anywhere, for UTC).
fn near_transition(zone: &TimeZone, base: Timestamp, shift_minutes: i64) -> Timestamp {
    let anchor = zone.following(base).next().map_or(base, |t| t.timestamp());
    let shifted = anchor
        .checked_add(SignedDuration::from_mins(shift_minutes))
        .unwrap();
    Timestamp::from_second(shifted.as_second()).unwrap()
}

fn cron_item(min: u32, max: u32) -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just("*".to_string()),
        3 => (min..=max).prop_map(|v| v.to_string()),
        2 => (min..=max, min..=max).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        2 => (1u32..=(max - min + 1).min(20)).prop_map(|s| format!("*/{s}")),
        1 => (min..=max, 1u32..=10).prop_map(|(a, s)| format!("{a}/{s}")),
    ]
}

fn cron_field(min: u32, max: u32) -> impl Strategy<Value = String> {
    prop::collection::vec(cron_item(min, max), 1..=3).prop_map(|items| items.join(","))
}

/// A random 5-field expression biased towards firing often (busy hours and minutes).
fn cron5() -> impl Strategy<Value = String> {
    (
        cron_field(0, 59),
        cron_field(0, 23),
        cron_field(1, 31),
        cron_field(1, 12),
        cron_field(0, 7),
    )
        .prop_map(|(m, h, dom, mon, dow)| format!("{m} {h} {dom} {mon} {dow}"))
}

fn parse_or_skip(text: &str) -> Result<CronExpr, TestCaseError> {
    match CronExpr::parse(text) {
        Ok(expr) => Ok(expr),
        Err(super::CronError::NeverFires) => Err(TestCaseError::reject("never fires")),
        Err(e) => Err(TestCaseError::fail(format!("{text}: {e}"))),
    }
}

/// Brute force: does the schedule fire at instant `i` (on a whole `step`)?
/// (a) `i`'s wall clock matches and `i` is that wall clock's first occurrence, or
/// (b) `i` ends a gap that contains a matching wall-clock time.
fn brute_fires_at(expr: &CronExpr, zone: &TimeZone, i: Timestamp, step: SignedDuration) -> bool {
    let wall = zone.to_datetime(i);
    if expr.matches(wall) && zone.to_ambiguous_timestamp(wall).earlier().ok() == Some(i) {
        return true;
    }
    let before = zone.to_offset(i.checked_sub(SignedDuration::from_nanos(1)).unwrap());
    let after = zone.to_offset(i);
    if after <= before {
        return false;
    }
    // The gap's wall clocks: [i read with the old offset, i read with the new one).
    let mut w: DateTime = before.to_datetime(i);
    while w < wall {
        if expr.matches(w) {
            return true;
        }
        w = w.checked_add(step).unwrap();
    }
    false
}

fn brute_fires(
    expr: &CronExpr,
    zone: &TimeZone,
    after: Timestamp,
    steps: i64,
    step: SignedDuration,
) -> Vec<Timestamp> {
    (1..=steps)
        .map(|k| after.checked_add(step * k as i32).unwrap())
        .filter(|i| brute_fires_at(expr, zone, *i, step))
        .collect()
}

fn fast_fires(
    expr: &CronExpr,
    zone: &TimeZone,
    after: Timestamp,
    until: Timestamp,
) -> Vec<Timestamp> {
    let mut out = Vec::new();
    let mut t = after;
    while let Some(next) = expr.next_after(t, zone).filter(|n| *n <= until) {
        out.push(next);
        t = next;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Cron next-fire agrees with a minute-by-minute scan over two days around a DST change.
    #[test]
    fn cron_agrees_with_a_minute_scan(text in cron5(), zone in zone_name(), base in instant(), shift in -1500i64..60) {
        let expr = parse_or_skip(&text)?;
        let zone = time_zone(Some(zone)).unwrap();
        let start = near_transition(&zone, base, shift);
        let start = Timestamp::from_second(start.as_second() - start.as_second().rem_euclid(60)).unwrap();
        let minutes = 2 * 24 * 60;
        let step = SignedDuration::from_mins(1);
        let expected = brute_fires(&expr, &zone, start, minutes, step);
        let until = start.checked_add(step * minutes as i32).unwrap();
        prop_assert_eq!(fast_fires(&expr, &zone, start, until), expected, "{} in {:?}", text, zone.iana_name());
    }

    /// The 6-field form agrees with a second-by-second scan over three hours around a change.
    #[test]
    fn cron_seconds_agree_with_a_second_scan(
        seconds in cron_field(0, 59), minutes in cron_field(0, 59), zone in zone_name(),
        base in instant(), shift in -120i64..30,
    ) {
        let text = format!("{seconds} {minutes} * * * *");
        let expr = parse_or_skip(&text)?;
        let zone = time_zone(Some(zone)).unwrap();
        let start = near_transition(&zone, base, shift);
        let secs = 3 * 3600;
        let step = SignedDuration::from_secs(1);
        let expected = brute_fires(&expr, &zone, start, secs, step);
        let until = start.checked_add(step * secs as i32).unwrap();
        prop_assert_eq!(fast_fires(&expr, &zone, start, until), expected, "{} in {:?}", text, zone.iana_name());
    }

    /// Slots strictly increase, `next(t) > t`, and an `R[n]` never makes more than n.
    #[test]
    fn slots_increase_and_bounded_intervals_stop(text in schedule_text(), zone in zone_name(), created in instant(), probe in 0i64..400_000_000) {
        let schedule = Schedule::parse(&text, Some(zone), created).unwrap();
        let from: Timestamp = "1999-01-01T00:00:00Z".parse().unwrap();
        let slots = schedule.slots_in(from, Timestamp::MAX, 300);
        prop_assert!(slots.windows(2).all(|w| w[0] < w[1]), "{text}: {slots:?}");
        if let ScheduleKind::Iso(interval) = schedule.kind() && let Some(n) = interval.repetitions() {
            prop_assert!(slots.len() as u64 <= n);
            if (slots.len() as u64) < 300 {
                prop_assert_eq!(slots.len() as u64, n);
                prop_assert_eq!(schedule.final_slot(), slots.last().copied());
            }
        }
        let t = created.checked_add(SignedDuration::from_secs(probe - 200_000_000)).unwrap();
        if let Some(next) = schedule.next_after(t) {
            prop_assert!(next > t);
            prop_assert_eq!(schedule.slots_in(t, next, 2), vec![next]);
        }
    }

    /// `latest_in` and `count_in` agree with enumerating the window.
    #[test]
    fn latest_and_count_agree_with_enumeration(text in schedule_text(), zone in zone_name(), created in instant(), a in 0i64..5_000_000, len in 0i64..400_000) {
        let schedule = Schedule::parse(&text, Some(zone), created).unwrap();
        let after = created.checked_add(SignedDuration::from_secs(a - 1_000_000)).unwrap();
        let through = after.checked_add(SignedDuration::from_secs(len)).unwrap();
        let slots = schedule.slots_in(after, through, 20_000);
        prop_assume!(slots.len() < 20_000);
        prop_assert_eq!(schedule.latest_in(after, through), slots.last().copied(), "{}", text);
        prop_assert_eq!(schedule.count_in(after, through, 20_000), SlotCount::Exact(slots.len() as u64));
    }

    /// A daily interval's slots keep the start's wall clock, except on a day it falls in a
    /// gap, where the slot is the gap's end.
    #[test]
    fn daily_intervals_keep_their_wall_clock(zone in zone_name(), hour in 0i8..24, minute in 0i8..60, day in 0i64..3000) {
        let z = time_zone(Some(zone)).unwrap();
        let date = jiff::civil::date(2020, 1, 1).checked_add(jiff::Span::new().days(day)).unwrap();
        let text = format!("R/{}/P1D", date.at(hour, minute, 0, 0));
        let schedule = Schedule::parse(&text, Some(zone), Timestamp::UNIX_EPOCH).unwrap();
        for slot in schedule.slots_in(Timestamp::UNIX_EPOCH, Timestamp::MAX, 400) {
            let wall = z.to_datetime(slot);
            let ends_gap = z.to_offset(slot) > z.to_offset(slot.checked_sub(SignedDuration::from_nanos(1)).unwrap());
            prop_assert!((wall.hour(), wall.minute()) == (hour, minute) || ends_gap, "{text} in {zone}: {wall}");
        }
    }
}

/// Random ISO 8601 intervals (fixed and calendar periods, bounded or not, with and without
/// a start offset) and random cron expressions.
fn schedule_text() -> impl Strategy<Value = String> {
    let repeat = prop_oneof![Just(String::new()), (1u64..40).prop_map(|n| n.to_string())];
    let period = prop_oneof![
        (1u32..7200).prop_map(|s| format!("PT{s}S")),
        (1u32..50, 1u32..10).prop_map(|(s, f)| format!("PT{s}.{f}S")),
        (1u32..300).prop_map(|m| format!("PT{m}M")),
        (1u32..50).prop_map(|h| format!("PT{h}H")),
        (1u32..10).prop_map(|d| format!("P{d}D")),
        (1u32..4).prop_map(|w| format!("P{w}W")),
        (1u32..14).prop_map(|m| format!("P{m}M")),
        (1u32..3).prop_map(|y| format!("P{y}Y")),
        (1u32..3, 1u32..23).prop_map(|(d, h)| format!("P{d}DT{h}H")),
    ];
    let start = prop_oneof![
        Just(String::new()),
        instant().prop_map(|t| t.to_string()),
        instant().prop_map(|t| TimeZone::UTC.to_datetime(t).to_string()),
    ];
    let iso = (repeat, start, period).prop_map(|(r, s, p)| format!("R{r}/{s}/{p}"));
    let cron = cron5().prop_filter("fires", |t| CronExpr::parse(t).is_ok());
    prop_oneof![3 => iso, 1 => cron]
}

#[test]
fn count_in_caps_cron_counting() {
    let schedule = Schedule::parse("* * * * *", None, Timestamp::UNIX_EPOCH).unwrap();
    let day = SignedDuration::from_hours(24);
    let end = Timestamp::UNIX_EPOCH.checked_add(day).unwrap();
    assert_eq!(
        schedule.count_in(Timestamp::UNIX_EPOCH, end, 100),
        SlotCount::AtLeast(100)
    );
    assert_eq!(
        schedule.count_in(Timestamp::UNIX_EPOCH, end, 10_000),
        SlotCount::Exact(1440)
    );
}

#[test]
fn unknown_time_zones_are_refused() {
    let err =
        Schedule::parse("@daily", Some("Mars/Olympus_Mons"), Timestamp::UNIX_EPOCH).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown time zone \"Mars/Olympus_Mons\": use an IANA name such as \"Europe/Berlin\" or \"UTC\""
    );
    assert!(Schedule::parse("@daily", Some("america/new_york"), Timestamp::UNIX_EPOCH).is_ok());
    assert!(Schedule::parse("", None, Timestamp::UNIX_EPOCH).is_err());
}
