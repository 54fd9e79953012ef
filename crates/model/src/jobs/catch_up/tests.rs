use jiff::Timestamp;
use proptest::prelude::*;

use super::*;
use crate::jobs::schedule::{Schedule, SlotCount};
use crate::jobs::test_support::{secs, ts};

fn hourly() -> Schedule {
    Schedule::parse(
        "R/2024-01-01T00:00:00Z/PT1H",
        None,
        ts("2024-01-01T00:00:00Z"),
    )
    .unwrap()
}

fn plan(policy: CatchUpPolicy, deadline: Option<i64>, after: &str, now: &str) -> CatchUpPlan {
    let schedule = hourly();
    plan_catch_up(CatchUpInput {
        schedule: &schedule,
        after: ts(after),
        now: ts(now),
        policy,
        starting_deadline: deadline.map(secs),
    })
}

fn span(reason: SkipReason, first: &str, last: &str, count: u64) -> SkippedSlots {
    SkippedSlots {
        reason,
        first: ts(first),
        last: ts(last),
        count: SlotCount::Exact(count),
    }
}

#[test]
fn on_time_slot_runs_under_every_policy() {
    let all = CatchUpPolicy::All {
        window: secs(86_400),
        max: 5,
    };
    for policy in [CatchUpPolicy::None, CatchUpPolicy::Latest, all] {
        let p = plan(policy, None, "2024-01-01T00:00:00Z", "2024-01-01T01:00:02Z");
        assert_eq!(p.run, vec![ts("2024-01-01T01:00:00Z")], "{policy:?}");
        assert!(p.skipped.is_empty());
        assert_eq!(p.accounted_through, Some(ts("2024-01-01T01:00:00Z")));
        assert_eq!(p.next_slot, Some(ts("2024-01-01T02:00:00Z")));
    }
}

#[test]
fn none_skips_everything_missed() {
    // Down from 00:30 to 05:10: slots 01:00..05:00 are due, the latest 10 minutes late.
    let p = plan(
        CatchUpPolicy::None,
        None,
        "2024-01-01T00:00:00Z",
        "2024-01-01T05:10:00Z",
    );
    assert!(p.run.is_empty());
    assert_eq!(
        p.skipped,
        vec![span(
            SkipReason::CatchUpPolicy,
            "2024-01-01T01:00:00Z",
            "2024-01-01T05:00:00Z",
            5
        )]
    );
    // A deadline of 15 minutes is the on-time tolerance instead of a minute.
    let p = plan(
        CatchUpPolicy::None,
        Some(900),
        "2024-01-01T00:00:00Z",
        "2024-01-01T05:10:00Z",
    );
    assert_eq!(p.run, vec![ts("2024-01-01T05:00:00Z")]);
    assert_eq!(
        p.skipped,
        vec![span(
            SkipReason::StartingDeadline,
            "2024-01-01T01:00:00Z",
            "2024-01-01T04:00:00Z",
            4
        )]
    );
}

#[test]
fn latest_runs_the_latest_however_late_unless_past_the_deadline() {
    let p = plan(
        CatchUpPolicy::Latest,
        None,
        "2024-01-01T00:00:00Z",
        "2024-01-01T05:50:00Z",
    );
    assert_eq!(p.run, vec![ts("2024-01-01T05:00:00Z")]);
    assert_eq!(
        p.skipped,
        vec![span(
            SkipReason::CatchUpPolicy,
            "2024-01-01T01:00:00Z",
            "2024-01-01T04:00:00Z",
            4
        )]
    );
    let p = plan(
        CatchUpPolicy::Latest,
        Some(1800),
        "2024-01-01T00:00:00Z",
        "2024-01-01T05:50:00Z",
    );
    assert!(p.run.is_empty());
    assert_eq!(
        p.skipped,
        vec![span(
            SkipReason::StartingDeadline,
            "2024-01-01T01:00:00Z",
            "2024-01-01T05:00:00Z",
            5
        )]
    );
}

#[test]
fn all_runs_the_window_up_to_max() {
    let policy = CatchUpPolicy::All {
        window: secs(3 * 3600),
        max: 2,
    };
    let p = plan(policy, None, "2024-01-01T00:00:00Z", "2024-01-01T05:00:00Z");
    assert_eq!(
        p.run,
        vec![ts("2024-01-01T04:00:00Z"), ts("2024-01-01T05:00:00Z")]
    );
    assert_eq!(
        p.skipped,
        vec![
            span(
                SkipReason::CatchUpPolicy,
                "2024-01-01T01:00:00Z",
                "2024-01-01T01:00:00Z",
                1
            ),
            span(
                SkipReason::OverMax,
                "2024-01-01T02:00:00Z",
                "2024-01-01T03:00:00Z",
                2
            ),
        ]
    );
    // The window's edge is inclusive: a slot exactly `window` old still runs.
    let policy = CatchUpPolicy::All {
        window: secs(4 * 3600),
        max: 10,
    };
    let p = plan(policy, None, "2024-01-01T00:00:00Z", "2024-01-01T05:00:00Z");
    assert_eq!(p.run.len(), 5);
}

#[test]
fn nothing_due_wakes_for_the_next_slot() {
    let p = plan(
        CatchUpPolicy::Latest,
        None,
        "2024-01-01T03:00:00Z",
        "2024-01-01T03:59:59Z",
    );
    assert_eq!(
        p,
        CatchUpPlan {
            next_slot: Some(ts("2024-01-01T04:00:00Z")),
            ..CatchUpPlan::default()
        }
    );
}

fn policy() -> impl Strategy<Value = CatchUpPolicy> {
    prop_oneof![
        Just(CatchUpPolicy::None),
        Just(CatchUpPolicy::Latest),
        (0i64..20_000, 0u32..12).prop_map(|(w, max)| CatchUpPolicy::All {
            window: secs(w),
            max
        }),
    ]
}

fn schedule() -> impl Strategy<Value = Schedule> {
    let iso = (5u32..900).prop_map(|p| format!("R/2024-01-01T00:00:00Z/PT{p}S"));
    let bounded =
        (1u32..50, 5u32..900).prop_map(|(n, p)| format!("R{n}/2024-01-01T00:10:00Z/PT{p}S"));
    let daily = Just("R/2024-01-01T02:30:00/P1D".to_string());
    let cron = prop_oneof![
        Just("*/7 * * * * *"),
        Just("0 */5 * * * *"),
        Just("*/3 2 * * *"),
        Just("0 2 * * *")
    ]
    .prop_map(str::to_string);
    let zone = prop::sample::select(&["UTC", "America/New_York", "Australia/Lord_Howe"][..]);
    (prop_oneof![iso, bounded, daily, cron], zone).prop_map(|(text, zone)| {
        Schedule::parse(&text, Some(zone), ts("2024-01-01T00:00:00Z")).unwrap()
    })
}

/// Every slot a span names, by enumeration.
fn expand(schedule: &Schedule, span: &SkippedSlots) -> Vec<Timestamp> {
    let slots = schedule.slots_in(before(span.first), span.last, usize::MAX);
    assert_eq!(span.count, SlotCount::Exact(slots.len() as u64));
    slots
}

fn check_accounting(
    schedule: &Schedule,
    input: CatchUpInput<'_>,
    plan: &CatchUpPlan,
) -> Result<(), TestCaseError> {
    let due = schedule.slots_in(input.after, input.now, usize::MAX);
    let mut seen: Vec<Timestamp> = plan
        .skipped
        .iter()
        .flat_map(|s| expand(schedule, s))
        .collect();
    seen.extend(&plan.run);
    seen.sort();
    prop_assert_eq!(&seen, &due, "every due slot exactly once");
    prop_assert!(plan.run.windows(2).all(|w| w[0] < w[1]));
    prop_assert!(plan.run.iter().all(|slot| *slot > input.after));
    prop_assert_eq!(plan.accounted_through, due.last().copied());
    if let Some(next) = plan.next_slot {
        prop_assert!(next > input.now);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// No slot both run and skipped, every due slot accounted once, runs increasing and
    /// after the mark; asking again at the same instant returns nothing new.
    #[test]
    fn every_due_slot_is_accounted_once_and_replanning_is_idempotent(
        schedule in schedule(), policy in policy(), deadline in prop::option::of(0i64..20_000),
        after in 0i64..200_000, downtime in 0i64..30_000,
    ) {
        let start = ts("2024-01-01T00:00:00Z");
        let after = start.checked_add(secs(after)).unwrap();
        let now = after.checked_add(secs(downtime)).unwrap();
        let input = CatchUpInput { schedule: &schedule, after, now, policy, starting_deadline: deadline.map(secs) };
        let plan = plan_catch_up(input);
        check_accounting(&schedule, input, &plan)?;
        if let CatchUpPolicy::All { max, .. } = policy {
            prop_assert!(plan.run.len() <= max as usize);
        } else {
            prop_assert!(plan.run.len() <= 1);
        }
        if let Some(d) = deadline {
            prop_assert!(plan.run.iter().all(|slot| now.duration_since(*slot) <= secs(d)));
        }
        let again = plan_catch_up(CatchUpInput { after: plan.accounted_through.unwrap_or(after), ..input });
        prop_assert!(again.run.is_empty() && again.skipped.is_empty(), "replanning: {again:?}");
        prop_assert_eq!(again.next_slot, plan.next_slot);
    }

    /// A controller that wakes at each next slot but is down for random stretches accounts
    /// for every slot of the whole timeline exactly once.
    #[test]
    fn a_timeline_with_downtime_accounts_every_slot_once(
        schedule in schedule(), policy in policy(), deadline in prop::option::of(0i64..5_000),
        outages in prop::collection::vec((0u32..4, 0i64..20_000), 1..30),
    ) {
        let created = ts("2024-01-01T00:00:00Z");
        let mut mark = before(created);
        let mut now = created;
        let mut accounted: Vec<Timestamp> = Vec::new();
        for (kind, outage) in outages {
            let plan = plan_catch_up(CatchUpInput { schedule: &schedule, after: mark, now, policy, starting_deadline: deadline.map(secs) });
            check_accounting(&schedule, CatchUpInput { schedule: &schedule, after: mark, now, policy, starting_deadline: deadline.map(secs) }, &plan)?;
            accounted.extend(plan.skipped.iter().flat_map(|s| expand(&schedule, s)));
            accounted.extend(&plan.run);
            mark = plan.accounted_through.unwrap_or(mark);
            let Some(next) = plan.next_slot else { break };
            // Up: wake at the next slot (a second late); down: wake much later.
            now = if kind == 0 { next.checked_add(secs(outage)).unwrap() } else { next.checked_add(secs(1)).unwrap() };
        }
        accounted.sort();
        let everything = schedule.slots_in(before(created), now, usize::MAX);
        let through_mark: Vec<Timestamp> = everything.into_iter().filter(|s| *s <= mark).collect();
        prop_assert_eq!(accounted, through_mark);
    }
}
