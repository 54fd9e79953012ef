use std::collections::BTreeSet;

use jiff::Timestamp;
use proptest::prelude::*;

use super::sim::{World, secs, ts};
use super::*;
use crate::jobs::catch_up::CatchUpPolicy;
use crate::jobs::history::HistoryLimits;
use crate::jobs::ledger::{RunOutcome, RunPhase};
use crate::jobs::retry::Backoff;
use crate::jobs::schedule::SlotCount;
use crate::jobs::spec::ScheduleSpec;

const T0: &str = "2024-01-01T00:00:00Z";

fn at(offset: i64) -> Timestamp {
    ts(T0).checked_add(secs(offset)).unwrap()
}

fn job(name: &str, schedule: Option<&str>) -> JobSpec {
    let mut spec = JobSpec::new(name, ts(T0));
    spec.schedule = schedule.map(|s| ScheduleSpec {
        expression: s.into(),
        time_zone: None,
    });
    spec.failure.retries = 0;
    spec
}

fn created(plan: &JobPlan) -> Vec<&str> {
    plan.create.iter().map(|c| c.name.as_str()).collect()
}

fn condition(plan: &JobPlan, kind: ConditionKind) -> (bool, &'static str) {
    let c = plan.conditions.iter().find(|c| c.kind == kind).unwrap();
    (c.status, c.reason)
}

fn world(spec: JobSpec) -> World {
    let mut w = World::default();
    w.add(spec);
    w
}

#[test]
fn a_repeating_job_fires_each_slot_once_and_r3_stops_after_three() {
    let mut w = world(job("tick", Some("R3//PT10S")));
    let p = w.reconcile("tick", at(0));
    assert_eq!(created(&p), ["tick-1704067200"]);
    assert_eq!(p.wake_at, Some(at(10)));
    assert_eq!(condition(&p, ConditionKind::Scheduled), (true, "Scheduled"));
    assert_eq!(
        condition(&p, ConditionKind::Running),
        (true, "RunsInFlight")
    );
    // Asking again at the same instant, with the Task now visible, changes nothing.
    let again = w.reconcile("tick", at(0));
    assert!(again.create.is_empty() && again.skipped.is_empty());
    assert_eq!(again.ledger, p.ledger);
    w.finish("tick-1704067200", TaskPhase::Succeeded, at(3));
    assert_eq!(created(&w.reconcile("tick", at(10))), ["tick-1704067210"]);
    w.finish("tick-1704067210", TaskPhase::Succeeded, at(13));
    assert_eq!(created(&w.reconcile("tick", at(20))), ["tick-1704067220"]);
    w.finish("tick-1704067220", TaskPhase::Succeeded, at(23));
    let p = w.reconcile("tick", at(30));
    assert!(p.create.is_empty());
    assert_eq!(condition(&p, ConditionKind::Scheduled), (false, "Finished"));
    assert_eq!(condition(&p, ConditionKind::Running), (false, "Idle"));
    assert_eq!(p.ledger.counters.successes, 3);
    assert_eq!(p.wake_at, None);
}

#[test]
fn forbid_skips_a_slot_while_a_run_is_in_flight() {
    let mut spec = job("slow", Some("R//PT10S"));
    spec.concurrency = ConcurrencyPolicy::Forbid;
    let mut w = world(spec);
    w.reconcile("slow", at(0));
    let p = w.reconcile("slow", at(10));
    assert!(p.create.is_empty());
    assert_eq!(
        p.skipped,
        [SkippedSlots::single(at(10), SkipReason::ConcurrencyForbid)]
    );
    assert_eq!(p.ledger.last_slot, Some(at(10)));
    w.finish("slow-1704067200", TaskPhase::Succeeded, at(15));
    assert_eq!(created(&w.reconcile("slow", at(20))), ["slow-1704067220"]);
}

#[test]
fn replace_kills_the_run_in_flight_then_starts() {
    let mut spec = job("fresh", Some("R//PT10S"));
    spec.concurrency = ConcurrencyPolicy::Replace;
    let mut w = world(spec);
    w.reconcile("fresh", at(0));
    let p = w.reconcile("fresh", at(10));
    assert_eq!(created(&p), ["fresh-1704067210"]);
    assert_eq!(
        p.kill,
        [TaskToKill {
            name: "fresh-1704067200".into(),
            reason: KillReason::Replaced
        }]
    );
    // The sim killed it; the next plan records it as replaced, not failed.
    let p = w.reconcile("fresh", at(11));
    assert_eq!(p.ledger.history.len(), 1);
    assert_eq!(p.ledger.history[0].outcome, RunOutcome::Replaced);
    assert_eq!(p.ledger.counters.errors, 0);
}

#[test]
fn a_replaced_run_whose_task_never_appeared_ends_instead_of_being_asked_for_again() {
    let mut spec = job("gone", Some("R//PT10S"));
    spec.concurrency = ConcurrencyPolicy::Replace;
    let mut w = world(spec);
    w.reconcile("gone", at(0));
    w.tasks.clear();
    let p = w.reconcile("gone", at(10));
    // Not asked for again; killed in case it exists after all; ended at once.
    assert_eq!(created(&p), ["gone-1704067210"]);
    assert_eq!(
        p.kill,
        [TaskToKill {
            name: "gone-1704067200".into(),
            reason: KillReason::Replaced
        }]
    );
    assert_eq!(p.ledger.history[0].outcome, RunOutcome::Replaced);
    assert!(w.reconcile("gone", at(11)).create.is_empty());
}

#[test]
fn allow_overlaps_runs() {
    let mut spec = job("many", Some("R//PT10S"));
    spec.concurrency = ConcurrencyPolicy::Allow;
    let mut w = world(spec);
    w.reconcile("many", at(0));
    w.reconcile("many", at(10));
    assert_eq!(w.running("many").len(), 2);
}

#[test]
fn retries_back_off_then_the_run_fails_and_the_job_is_disabled() {
    let mut spec = job("flaky", Some("R//PT1H"));
    spec.failure.retries = 2;
    spec.failure.backoff = Backoff {
        initial: secs(5),
        factor: 2.0,
        cap: secs(60),
    };
    spec.failure.disable_after_failures = Some(1);
    let mut w = world(spec);
    w.reconcile("flaky", at(0));
    w.finish("flaky-1704067200", TaskPhase::Failed, at(1));
    let p = w.reconcile("flaky", at(2));
    assert!(p.create.is_empty());
    assert_eq!(
        p.ledger.active[0].phase,
        RunPhase::BackingOff { until: at(6) }
    );
    assert_eq!(p.wake_at, Some(at(6)));
    assert_eq!(
        created(&w.reconcile("flaky", at(6))),
        ["flaky-1704067200r1"]
    );
    w.finish("flaky-1704067200r1", TaskPhase::Failed, at(7));
    w.reconcile("flaky", at(7));
    assert_eq!(
        created(&w.reconcile("flaky", at(17))),
        ["flaky-1704067200r2"]
    );
    w.finish("flaky-1704067200r2", TaskPhase::Failed, at(18));
    let p = w.reconcile("flaky", at(18));
    assert_eq!(p.ledger.history[0].attempts, 3);
    assert_eq!(p.ledger.history[0].outcome, RunOutcome::Failed);
    assert_eq!(
        (
            p.ledger.counters.errors,
            p.ledger.counters.errors_since_last_success
        ),
        (1, 1)
    );
    assert_eq!(
        condition(&p, ConditionKind::Disabled),
        (true, "TooManyFailures")
    );
    // Disabled: the next slot is skipped, recorded.
    let p = w.reconcile("flaky", at(3600));
    assert!(p.create.is_empty());
    assert_eq!(
        p.skipped,
        [SkippedSlots::single(at(3600), SkipReason::Disabled)]
    );
    // Editing the job re-enables it.
    w.specs.get_mut("flaky").unwrap().generation = 2;
    let p = w.reconcile("flaky", at(7200));
    assert_eq!(created(&p), ["flaky-1704074400"]);
    assert_eq!(condition(&p, ConditionKind::Disabled), (false, "Enabled"));
}

#[test]
fn max_completion_time_kills_the_attempt_and_it_counts_as_failed() {
    let mut spec = job("long", Some("R//PT1H"));
    spec.max_completion_time = Some(secs(30));
    let mut w = world(spec);
    let p = w.reconcile("long", at(0));
    assert_eq!(p.wake_at, Some(at(30)));
    let p = w.reconcile("long", at(30));
    assert_eq!(
        p.kill,
        [TaskToKill {
            name: "long-1704067200".into(),
            reason: KillReason::TimedOut
        }]
    );
    let p = w.reconcile("long", at(31));
    assert_eq!(p.ledger.history[0].outcome, RunOutcome::TimedOut);
    assert_eq!(p.ledger.counters.errors, 1);
}

#[test]
fn a_task_that_never_appears_is_asked_for_again_then_lost() {
    let mut w = world(job("ghost", Some("R//PT1H")));
    w.reconcile("ghost", at(0));
    w.tasks.clear(); // the create never happened (the operator died after writing the ledger)
    let p = w.reconcile("ghost", at(60));
    assert_eq!(created(&p), ["ghost-1704067200"]);
    w.tasks.clear();
    let p = w.reconcile("ghost", at(301));
    assert!(p.create.is_empty());
    assert_eq!(p.ledger.history[0].outcome, RunOutcome::Lost);
}

#[test]
fn suspend_skips_slots_and_resuming_does_not_burst() {
    let mut spec = job("pause", Some("R//PT10S"));
    spec.suspend = true;
    let mut w = world(spec);
    let p = w.reconcile("pause", at(0));
    assert!(p.create.is_empty());
    assert_eq!(condition(&p, ConditionKind::Suspended), (true, "Suspended"));
    assert_eq!(
        condition(&p, ConditionKind::Scheduled),
        (false, "Suspended")
    );
    let p = w.reconcile("pause", at(35));
    assert_eq!(p.skipped[0].reason, SkipReason::Suspended);
    assert_eq!(p.skipped[0].count, SlotCount::Exact(3));
    w.specs.get_mut("pause").unwrap().suspend = false;
    assert!(w.reconcile("pause", at(36)).create.is_empty());
    assert_eq!(created(&w.reconcile("pause", at(40))), ["pause-1704067240"]);
    assert_eq!(w.ledgers["pause"].skipped_slots, 4);
}

#[test]
fn catch_up_all_after_downtime_runs_the_window() {
    let mut spec = job("etl", Some("R//PT10S"));
    spec.concurrency = ConcurrencyPolicy::Allow;
    spec.catch_up = CatchUpPolicy::All {
        window: secs(25),
        max: 10,
    };
    let mut w = world(spec);
    w.reconcile("etl", at(0));
    // Down from 1 s to 60 s: slots 10..60 are due; 40, 50, 60 are within 25 s.
    let p = w.reconcile("etl", at(65));
    assert_eq!(
        created(&p),
        ["etl-1704067240", "etl-1704067250", "etl-1704067260"]
    );
    assert_eq!(p.skipped[0].reason, SkipReason::CatchUpPolicy);
    assert_eq!(p.skipped[0].count, SlotCount::Exact(3));
}

#[test]
fn run_now_and_mark_succeeded_act_once_per_token() {
    let mut spec = job("adhoc", None);
    spec.run_now = Some("first".into());
    let mut w = world(spec);
    let p = w.reconcile("adhoc", at(0));
    assert_eq!(p.create.len(), 1);
    assert_eq!(
        condition(&p, ConditionKind::Scheduled),
        (false, "NoSchedule")
    );
    assert!(w.reconcile("adhoc", at(1)).create.is_empty());
    w.specs.get_mut("adhoc").unwrap().mark_success = Some("ok-1".into());
    let p = w.reconcile("adhoc", at(2));
    assert_eq!(p.ledger.counters.successes, 1);
    assert_eq!(
        p.ledger.last_good.as_ref().map(|r| r.finished_at),
        Some(at(2))
    );
    assert_eq!(w.reconcile("adhoc", at(3)).ledger.counters.successes, 1);
}

#[test]
fn history_beyond_the_limits_is_deleted() {
    let mut spec = job("prune", Some("R//PT10S"));
    spec.history = HistoryLimits {
        successful: 1,
        failed: 0,
    };
    let mut w = world(spec);
    w.reconcile("prune", at(0));
    w.finish("prune-1704067200", TaskPhase::Succeeded, at(1));
    w.reconcile("prune", at(10));
    w.finish("prune-1704067210", TaskPhase::Succeeded, at(11));
    let p = w.reconcile("prune", at(12));
    assert_eq!(p.delete, ["prune-1704067200"]);
    assert!(!w.tasks.contains_key("prune-1704067200"));
}

#[test]
fn invalid_and_blocked_jobs_say_why() {
    let mut w = world(job("bad", Some("R/2024-01-01T00:00:00Z/PT0S")));
    let p = w.reconcile("bad", at(0));
    assert!(p.create.is_empty());
    assert_eq!(condition(&p, ConditionKind::Blocked), (true, "InvalidSpec"));
    let blocked = p
        .conditions
        .iter()
        .find(|c| c.kind == ConditionKind::Blocked)
        .unwrap();
    assert!(
        blocked.message.starts_with("spec.schedule: "),
        "{}",
        blocked.message
    );
    let mut spec = job("orphan", Some("R//PT10S"));
    spec.parents = vec!["gone".into()];
    w.add(spec);
    let p = w.reconcile("orphan", at(0));
    assert_eq!(
        condition(&p, ConditionKind::Blocked),
        (true, "MissingParent")
    );
    assert_eq!(p.skipped[0].reason, SkipReason::Blocked);
}

#[test]
fn a_scheduled_child_waits_for_its_slot_and_its_parents() {
    let mut w = world(job("parent", None));
    let mut child = job("child", Some("R//PT10S"));
    child.parents = vec!["parent".into()];
    w.add(child);
    let p = w.reconcile("child", at(0));
    assert!(p.create.is_empty());
    assert_eq!(p.ledger.pending_slot, Some(at(0)));
    assert_eq!(
        condition(&p, ConditionKind::Blocked),
        (false, "WaitingForParents")
    );
    // A newer slot supersedes the pending one.
    let p = w.reconcile("child", at(10));
    assert_eq!(
        p.skipped,
        [SkippedSlots::single(at(0), SkipReason::Superseded)]
    );
    // The parent succeeds: the pending slot runs, named by its slot.
    w.specs.get_mut("parent").unwrap().mark_success = Some("go".into());
    w.reconcile("parent", at(12));
    let p = w.reconcile("child", at(13));
    assert_eq!(created(&p), ["child-1704067210"]);
    assert_eq!(p.ledger.pending_slot, None);
    // No new parent success: the next slot waits.
    let p = w.reconcile("child", at(20));
    assert!(p.create.is_empty());
    assert_eq!(p.ledger.pending_slot, Some(at(20)));
}

#[test]
fn soft_errors_trigger_dependents() {
    let mut parent = job("parent", None);
    parent.failure.soft_error = true;
    parent.run_now = Some("1".into());
    let mut w = world(parent);
    let mut child = job("child", None);
    child.parents = vec!["parent".into()];
    w.add(child);
    w.reconcile("child", at(0));
    let name = created(&w.reconcile("parent", at(0)))[0].to_string();
    w.finish(&name, TaskPhase::Failed, at(5));
    let p = w.reconcile("parent", at(5));
    assert_eq!(p.ledger.counters.errors, 1);
    let p = w.reconcile("child", at(6));
    assert_eq!(p.create.len(), 1);
    assert!(p.create[0].name.starts_with("child-d"));
}

fn phase() -> impl Strategy<Value = TaskPhase> {
    prop_oneof![3 => Just(TaskPhase::Succeeded), 1 => Just(TaskPhase::Failed)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A scheduled job through random downtime, outcomes, policies and restarts (the
    /// ledger round-tripped through JSON): every slot is run or skipped exactly once, no
    /// run's Task is started twice, and a restarted plan decides what the first one did.
    #[test]
    fn every_slot_once_across_downtime_and_restarts(
        period in 5i64..60, concurrency in prop::sample::select(vec![ConcurrencyPolicy::Allow, ConcurrencyPolicy::Forbid, ConcurrencyPolicy::Replace]),
        catch_up in prop_oneof![Just(CatchUpPolicy::None), Just(CatchUpPolicy::Latest), (0i64..300, 1u32..5).prop_map(|(w, max)| CatchUpPolicy::All { window: secs(w), max })],
        retries in 0u32..3,
        steps in prop::collection::vec((0i64..200, phase(), any::<bool>()), 1..40),
    ) {
        let mut spec = job("sim", Some(&format!("R//PT{period}S")));
        spec.concurrency = concurrency;
        spec.catch_up = catch_up;
        spec.failure.retries = retries;
        spec.failure.backoff = Backoff { initial: secs(1), factor: 2.0, cap: secs(10) };
        spec.history = HistoryLimits { successful: 2, failed: 2 };
        let mut w = world(spec.clone());
        let (mut now, mut runs_started, mut skipped) = (at(0), Vec::new(), Vec::new());
        for (wait, outcome, restart) in steps {
            if restart {
                let json = serde_json::to_string(&w.ledgers["sim"]).unwrap();
                let restored: Ledger = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(&restored, &w.ledgers["sim"]);
                let before = w.clone();
                let mut replay = before.clone();
                replay.ledgers.insert("sim".into(), restored);
                prop_assert_eq!(replay.reconcile("sim", now), before.clone().reconcile("sim", now));
            }
            let plan = w.reconcile("sim", now);
            // The sim makes every Task at once, so no create is a repeat of a missing one.
            runs_started.extend(plan.create.iter().filter(|c| c.attempt == 0).map(|c| c.trigger.clone()));
            for span in &plan.skipped {
                skipped.extend(w.specs["sim"].validate().unwrap().unwrap().slots_in(crate::jobs::catch_up::before(span.first), span.last, usize::MAX));
            }
            if let Some(task) = w.running("sim").first().cloned() {
                w.finish(&task, outcome, now);
            }
            now = now.checked_add(secs(wait)).unwrap();
        }
        let slots_run: Vec<Timestamp> = runs_started.iter().filter_map(|t| t.slot()).collect();
        let unique: BTreeSet<Timestamp> = slots_run.iter().copied().collect();
        prop_assert_eq!(unique.len(), slots_run.len(), "a slot ran twice");
        let mut accounted: Vec<Timestamp> = slots_run.iter().chain(&skipped).copied().collect();
        accounted.sort();
        let schedule = spec.validate().unwrap().unwrap();
        let last = w.ledgers["sim"].last_slot.unwrap();
        let expected = schedule.slots_in(crate::jobs::catch_up::before(at(0)), last, usize::MAX);
        prop_assert_eq!(accounted, expected, "every slot run or skipped once");
    }
}
