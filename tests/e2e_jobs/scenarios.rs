//! The scenarios of issue 14, one test each.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, PostParams};
use mesos_model::jobs::catch_up::SkipReason;
use mesos_model::jobs::ledger::{RunOutcome, RunTrigger};
use mesos_operator::api::{BatchJob, Framework, TaskState};

use crate::support::TestEnv;
use crate::*;

const T: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_repeating_job_fires_on_time_for_every_slot() {
    let env = TestEnv::new("jobs-repeat").await;
    apply_job(
        &env,
        &job(
            "tick",
            "1s",
            0,
            // All: a slot noticed late (a busy machine can hold a reconcile past the
            // next 2 s slot) still runs; with the default Latest it would be skipped,
            // correctly, and this test is about every slot firing.
            "  schedule: \"*/2 * * * * *\"\n  concurrencyPolicy: Allow\n  successfulRunsHistoryLimit: 20\n  catchUp: {policy: All, window: 1m, max: 10}\n",
        ),
    )
    .await;
    let done = wait_job(&env, "tick", T, "6 successes", |j| count(j, "success") >= 6).await;
    let tasks = runs(&env, "tick").await;
    let mut slots: Vec<Timestamp> = ledger(&done)
        .history
        .iter()
        .filter_map(|r| r.trigger.slot())
        .collect();
    slots.extend(tasks.values().filter_map(slot_of));
    slots.sort();
    slots.dedup();
    for pair in slots.windows(2) {
        assert_eq!(
            pair[1].duration_since(pair[0]).as_secs(),
            2,
            "consecutive slots {} and {} are not one period apart: a slot was missed",
            pair[0],
            pair[1]
        );
    }
    assert_eq!(count(&done, "skipped"), 0, "no slot is skipped");
    assert_eq!(count(&done, "error"), 0);
    let mut late: Vec<i64> = tasks.values().filter_map(lateness_ms).collect();
    assert!(
        late.iter().all(|ms| *ms >= 0),
        "a run fired before its slot: {late:?}"
    );
    for task in tasks.values() {
        let slot = slot_of(task).expect("every run names its slot");
        assert_eq!(
            task.name_any(),
            format!("tick-{}", slot.as_second()),
            "run names derive from the slot"
        );
    }
    let framework: Api<Framework> = env.api();
    assert!(
        framework.get_opt("batch").await.ok().flatten().is_some(),
        "default framework"
    );
    println!(
        "repeat: {} slots, lateness p50 {} ms, max {} ms",
        slots.len(),
        percentile(&mut late, 50),
        percentile(&mut late, 100)
    );
}

#[tokio::test]
async fn r3_stops_after_three_slots() {
    let env = TestEnv::new("jobs-r3").await;
    let extra = "  schedule: \"R3//PT2S\"\n  concurrencyPolicy: Allow\n";
    apply_job(&env, &job("three", "1s", 0, extra)).await;
    let done = wait_job(&env, "three", T, "phase Finished", |j| {
        j.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Finished")
            && count(j, "success") == 3
    })
    .await;
    assert_eq!(condition(&done, "Scheduled").1, "Finished");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let tasks = runs(&env, "three").await;
    assert_eq!(
        tasks.len(),
        3,
        "R3 makes three runs and no more: {:?}",
        tasks.keys()
    );
    let later = wait_job(&env, "three", T, "status", |_| true).await;
    assert_eq!(count(&later, "success"), 3);
    assert!(later.status.and_then(|s| s.next_schedule_time).is_none());
}

#[tokio::test]
async fn concurrency_policies_with_runs_longer_than_the_period() {
    let env = TestEnv::new("jobs-concurrency").await;
    for (name, policy) in [
        ("forbid", "Forbid"),
        ("allow", "Allow"),
        ("replace", "Replace"),
    ] {
        let extra = format!("  schedule: \"*/2 * * * * *\"\n  concurrencyPolicy: {policy}\n");
        apply_job(&env, &job(name, "5s", 0, &extra)).await;
    }
    // Forbid: slots due while a run is in flight are skipped, never run alongside.
    let forbid = wait_job(&env, "forbid", T, "a success and a Forbid skip", |j| {
        count(j, "success") >= 2
            && ledger(j)
                .recent_skips
                .iter()
                .any(|s| s.reason == SkipReason::ConcurrencyForbid)
    })
    .await;
    assert!(ledger(&forbid).active.len() <= 1);
    // Allow: runs overlap.
    wait_job(&env, "allow", T, "two runs in flight", |j| {
        ledger(j).active.len() >= 2
    })
    .await;
    // Replace: a newer slot kills the run in flight.
    let replace = wait_job(&env, "replace", T, "a replaced run", |j| {
        ledger(j)
            .history
            .iter()
            .any(|r| r.outcome == RunOutcome::Replaced)
    })
    .await;
    assert!(ledger(&replace).active.len() <= 1);
    let killed = runs(&env, "replace").await;
    assert!(
        killed.values().any(|t| t.spec.kill),
        "Replace kills the run it replaces: {:?}",
        killed.keys()
    );
    // Forbid's Tasks never overlapped: each started after the previous finished.
    let mut forbid_runs: Vec<_> = ledger(&forbid).history.clone();
    forbid_runs.sort_by_key(|r| r.started_at);
    for pair in forbid_runs.windows(2) {
        assert!(
            pair[1].started_at >= pair[0].finished_at,
            "Forbid ran two at once: {pair:?}"
        );
    }
}

#[tokio::test]
async fn retries_with_backoff_then_failure() {
    let env = TestEnv::new("jobs-retry").await;
    let extra = "  retries: 2\n  backoff: {initialSeconds: 1, factor: 2, maxSeconds: 2}\n";
    apply_job(&env, &job("flaky", "1s", 3, extra)).await;
    annotate(&env, "flaky", "mesos.operator.dev/run-now", "go").await;
    let failed = wait_job(&env, "flaky", T, "one failed run", |j| {
        count(j, "error") == 1
    })
    .await;
    let tasks = runs(&env, "flaky").await;
    assert_eq!(tasks.len(), 3, "three attempts: {:?}", tasks.keys());
    assert!(tasks.values().all(|t| is(t, TaskState::Failed)));
    let history = ledger(&failed).history;
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].outcome, history[0].attempts),
        (RunOutcome::Failed, 3)
    );
    assert_eq!(history[0].exit_code, Some(3));
    let status = failed.status.clone().unwrap_or_default();
    assert_eq!(status.errors_since_last_success, 1);
    assert!(status.last_error.is_some());
    for reason in ["RunStarted", "RetryScheduled", "RetryStarted", "RunFailed"] {
        env.wait_event("flaky", reason, T).await;
    }
}

#[tokio::test]
async fn a_diamond_runs_its_join_once_per_root_run() {
    let env = TestEnv::new("jobs-diamond").await;
    apply_job(&env, &job("a", "1s", 0, "  schedule: \"*/5 * * * * *\"\n")).await;
    apply_job(&env, &job("b", "1s", 0, "  parents: [a]\n")).await;
    apply_job(&env, &job("c", "1s", 0, "  parents: [a]\n")).await;
    apply_job(&env, &job("d", "1s", 0, "  parents: [b, c]\n")).await;
    wait_job(&env, "a", T, "three runs of a", |j| {
        count(j, "success") >= 3
    })
    .await;
    patch_spec(&env, "a", serde_json::json!({"suspend": true})).await;
    let a = wait_job(&env, "a", T, "a idle", |j| ledger(j).active.is_empty()).await;
    let n = count(&a, "success");
    for child in ["b", "c", "d"] {
        wait_job(&env, child, T, "as many runs as a", |j| {
            count(j, "success") == n && ledger(j).active.is_empty()
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let d = wait_job(&env, "d", T, "d", |_| true).await;
    assert_eq!(count(&d, "success"), n, "d runs exactly once per run of a");
    // Each run of d consumed one run of b and one of c, never the same twice.
    let mut consumed = std::collections::BTreeSet::new();
    for run in ledger(&d).history {
        let RunTrigger::Parents { runs } = &run.trigger else {
            panic!("d runs on its parents only: {:?}", run.trigger)
        };
        assert_eq!(runs.len(), 2);
        for (parent, r) in runs {
            assert!(
                consumed.insert((parent.clone(), r.name.clone())),
                "{parent} run {} consumed twice",
                r.name
            );
        }
    }
    println!("diamond: a ran {n} times; b, c and d each {n}");
}

#[tokio::test]
async fn soft_error_still_triggers_dependents() {
    let env = TestEnv::new("jobs-soft").await;
    apply_job(
        &env,
        &job("parent", "1s", 1, "  retries: 0\n  softError: true\n"),
    )
    .await;
    apply_job(&env, &job("child", "1s", 0, "  parents: [parent]\n")).await;
    apply_job(&env, &job("hard", "1s", 1, "  retries: 0\n")).await;
    apply_job(&env, &job("hardchild", "1s", 0, "  parents: [hard]\n")).await;
    annotate(&env, "parent", "mesos.operator.dev/run-now", "1").await;
    annotate(&env, "hard", "mesos.operator.dev/run-now", "1").await;
    let parent = wait_job(&env, "parent", T, "an error", |j| count(j, "error") == 1).await;
    assert_eq!(
        count(&parent, "success"),
        0,
        "a soft error is still an error"
    );
    wait_job(&env, "child", T, "the child ran", |j| {
        count(j, "success") == 1
    })
    .await;
    wait_job(&env, "hard", T, "an error", |j| count(j, "error") == 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let hardchild = wait_job(&env, "hardchild", T, "status", |j| j.status.is_some()).await;
    assert_eq!(
        count(&hardchild, "success"),
        0,
        "a hard failure triggers nothing"
    );
    assert!(runs(&env, "hardchild").await.is_empty());
    assert_eq!(condition(&hardchild, "Blocked").1, "WaitingForParents");
}

#[tokio::test]
async fn cycles_and_missing_parents_are_reported() {
    let env = TestEnv::new("jobs-dag").await;
    apply_job(&env, &job("x", "1s", 0, "  parents: [y]\n")).await;
    apply_job(&env, &job("y", "1s", 0, "  parents: [x]\n")).await;
    apply_job(&env, &job("orphan", "1s", 0, "  parents: [ghost]\n")).await;
    apply_job(&env, &job("v", "1s", 0, "")).await;
    apply_job(&env, &job("w", "1s", 0, "  parents: [v]\n")).await;
    let x = wait_job(&env, "x", T, "Blocked Cycle", |j| {
        condition(j, "Blocked").1 == "Cycle"
    })
    .await;
    let (status, _, message) = condition(&x, "Blocked");
    assert_eq!(status, "True");
    assert!(
        message.contains("x → y → x") || message.contains("x → y"),
        "{message}"
    );
    assert_eq!(x.status.and_then(|s| s.phase).as_deref(), Some("Blocked"));
    let orphan = wait_job(&env, "orphan", T, "Blocked MissingParent", |j| {
        condition(j, "Blocked").1 == "MissingParent"
    })
    .await;
    assert!(condition(&orphan, "Blocked").2.contains("ghost"));
    wait_job(&env, "w", T, "w waiting", |j| {
        condition(j, "Blocked").0 == "False"
    })
    .await;
    // Deleting a parent shows on its children at once.
    let api: Api<BatchJob> = env.api();
    api.delete("v", &DeleteParams::default())
        .await
        .expect("delete v");
    let w = wait_job(&env, "w", T, "w blocked", |j| {
        condition(j, "Blocked").1 == "MissingParent"
    })
    .await;
    assert!(condition(&w, "Blocked").2.contains('v'));
}

#[tokio::test]
async fn suspend_skips_slots_and_resume_does_not_burst() {
    let env = TestEnv::new("jobs-suspend").await;
    let extra = "  schedule: \"*/2 * * * * *\"\n  suspend: true\n  catchUp: {policy: All}\n  concurrencyPolicy: Allow\n";
    apply_job(&env, &job("sleepy", "1s", 0, extra)).await;
    let suspended = wait_job(&env, "sleepy", T, "skipped slots", |j| {
        count(j, "skipped") >= 2
    })
    .await;
    assert_eq!(
        suspended.status.clone().and_then(|s| s.phase).as_deref(),
        Some("Suspended")
    );
    assert_eq!(condition(&suspended, "Suspended").0, "True");
    assert!(
        runs(&env, "sleepy").await.is_empty(),
        "no run while suspended"
    );
    assert!(
        ledger(&suspended)
            .recent_skips
            .iter()
            .all(|s| s.reason == SkipReason::Suspended)
    );
    let resumed_at = Timestamp::now();
    patch_spec(&env, "sleepy", serde_json::json!({"suspend": false})).await;
    wait_job(&env, "sleepy", T, "a run after resume", |j| {
        count(j, "success") >= 1
    })
    .await;
    let tasks = runs(&env, "sleepy").await;
    for task in tasks.values() {
        let slot = slot_of(task).expect("slot");
        assert!(
            slot.duration_since(resumed_at).as_secs_f64() > -1.0,
            "slot {slot} from before the resume at {resumed_at} ran: resume burst"
        );
    }
}

#[tokio::test]
async fn run_now_and_mark_succeeded_act_once_per_token() {
    let env = TestEnv::new("jobs-manual").await;
    apply_job(&env, &job("manual", "1s", 0, "")).await;
    apply_job(&env, &job("after", "1s", 0, "  parents: [manual]\n")).await;
    annotate(&env, "manual", "mesos.operator.dev/run-now", "t1").await;
    wait_job(&env, "manual", T, "one run", |j| count(j, "success") == 1).await;
    wait_job(&env, "after", T, "the child ran", |j| {
        count(j, "success") == 1
    })
    .await;
    // The same token again: nothing.
    annotate(&env, "manual", "mesos.operator.dev/run-now", "t1").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(runs(&env, "manual").await.len(), 1);
    // A new token: a second run.
    annotate(&env, "manual", "mesos.operator.dev/run-now", "t2").await;
    wait_job(&env, "manual", T, "two runs", |j| count(j, "success") == 2).await;
    wait_job(&env, "after", T, "the child ran twice", |j| {
        count(j, "success") == 2
    })
    .await;
    // Mark succeeded: no Task, but dependents see a success.
    annotate(&env, "manual", "mesos.operator.dev/mark-succeeded", "m1").await;
    wait_job(&env, "manual", T, "three successes", |j| {
        count(j, "success") == 3
    })
    .await;
    wait_job(&env, "after", T, "the child ran thrice", |j| {
        count(j, "success") == 3
    })
    .await;
    assert_eq!(
        runs(&env, "manual").await.len(),
        2,
        "mark succeeded runs nothing"
    );
    env.wait_event("manual", "MarkedSucceeded", T).await;
}

/// Slots of a run list within `(from, to]`.
fn ran_slots(
    tasks: &std::collections::BTreeMap<String, mesos_operator::api::Task>,
    from: Timestamp,
    to: Timestamp,
) -> Vec<Timestamp> {
    let mut slots: Vec<Timestamp> = tasks
        .values()
        .filter_map(slot_of)
        .filter(|s| *s > from && *s <= to)
        .collect();
    slots.sort();
    slots
}

#[tokio::test]
async fn catch_up_after_downtime_follows_each_policy() {
    let mut env = TestEnv::new("jobs-catchup").await;
    let schedule = "  schedule: \"*/4 * * * * *\"\n  concurrencyPolicy: Allow\n  successfulRunsHistoryLimit: 50\n";
    apply_job(
        &env,
        &job(
            "none",
            "1s",
            0,
            &format!("{schedule}  catchUp: {{policy: None}}\n  startingDeadlineSeconds: 1\n"),
        ),
    )
    .await;
    apply_job(
        &env,
        &job(
            "latest",
            "1s",
            0,
            &format!("{schedule}  catchUp: {{policy: Latest}}\n"),
        ),
    )
    .await;
    apply_job(
        &env,
        &job(
            "all",
            "1s",
            0,
            &format!("{schedule}  catchUp: {{policy: All, window: 1m, max: 10}}\n"),
        ),
    )
    .await;
    for name in ["none", "latest", "all"] {
        wait_job(&env, name, T, "a first run", |j| count(j, "success") >= 1).await;
    }
    // Down from 1.5 s after a slot for 12 s (three slots missed); back 1.5 s after a
    // slot, so the latest missed slot is 1.5 s old (past None's 1 s deadline) and the
    // next one is 2.5 s away: time for the operator to start on a loaded machine before
    // a fresh slot would make a later one "the latest".
    sleep_until_phase(4, 1500).await;
    env.kill_operator();
    let down = Timestamp::now();
    tokio::time::sleep(Duration::from_secs(12)).await;
    let up = Timestamp::now();
    env.start_operator();
    let missed: Vec<Timestamp> = {
        let mut t = Timestamp::from_second(down.as_second() + 1).expect("t");
        let mut v = Vec::new();
        while t <= up {
            if t.as_second() % 4 == 0 {
                v.push(t);
            }
            t = Timestamp::from_second(t.as_second() + 1).expect("t");
        }
        v
    };
    assert!(missed.len() >= 3, "{missed:?}");
    for name in ["none", "latest", "all"] {
        wait_job(&env, name, T, "a run after the restart", |j| {
            j.status
                .as_ref()
                .and_then(|s| s.last_schedule_time.as_ref())
                .is_some_and(|t| t.0 > up)
        })
        .await;
    }
    let none = ran_slots(&runs(&env, "none").await, down, up);
    let latest = ran_slots(&runs(&env, "latest").await, down, up);
    let all = ran_slots(&runs(&env, "all").await, down, up);
    println!(
        "catch-up: missed {} slots; None ran {none:?}, Latest {latest:?}, All {all:?}",
        missed.len()
    );
    assert!(none.is_empty(), "None ran missed slots: {none:?}");
    assert_eq!(
        latest,
        [*missed.last().expect("a slot")],
        "Latest runs only the latest missed slot"
    );
    assert_eq!(all, missed, "All runs every missed slot");
    let skipped = ledger(&wait_job(&env, "none", T, "", |_| true).await).recent_skips;
    assert!(
        skipped
            .iter()
            .any(|s| s.reason == SkipReason::StartingDeadline
                || s.reason == SkipReason::CatchUpPolicy),
        "{skipped:?}"
    );
}

#[tokio::test]
async fn invalid_jobs_are_refused_naming_the_field() {
    let env = TestEnv::new("jobs-invalid").await;
    let api: Api<BatchJob> = env.api();
    let cases = [
        ("  schedule: \"R/bogus\"\n", "spec.schedule"),
        ("  schedule: \"every 5 minutes\"\n", "spec.schedule"),
        (
            "  schedule: \"@daily\"\n  timeZone: Nowhere/Land\n",
            "spec.timeZone",
        ),
        ("  retries: -1\n", "spec.retries"),
        (
            "  schedule: \"R/x/PT1H/x\"\n  parents: [\"Not A Name\"]\n",
            "spec.parents[0]",
        ),
        ("  maxCompletionTime: soon\n", "spec.maxCompletionTime"),
        (
            "  backoff: {initialSeconds: 10, maxSeconds: 5}\n",
            "spec.backoff",
        ),
        ("  catchUp: {policy: Latest, max: 3}\n", "spec.catchUp"),
    ];
    for (extra, field) in cases {
        let value: serde_json::Value =
            serde_yaml::from_str(&job("bad", "1s", 0, extra)).expect("yaml");
        let job: BatchJob = serde_json::from_value(value).expect("a BatchJob");
        match api.create(&PostParams::default(), &job).await {
            Err(kube::Error::Api(s)) => {
                assert_eq!(s.code, 422, "{extra}: {s:?}");
                assert!(
                    s.message.contains(field),
                    "{extra}: message does not name {field}: {}",
                    s.message
                );
            }
            other => panic!("{extra} was accepted: {other:?}"),
        }
    }
    // Both a bad schedule and bad parents: both fields named.
    let value: serde_json::Value = serde_yaml::from_str(&job(
        "bad",
        "1s",
        0,
        "  schedule: \"R/bogus\"\n  parents: [a, a]\n",
    ))
    .expect("yaml");
    let both: BatchJob = serde_json::from_value(value).expect("a BatchJob");
    match api.create(&PostParams::default(), &both).await {
        Err(kube::Error::Api(s)) => {
            assert!(
                s.message.contains("spec.schedule") && s.message.contains("spec.parents"),
                "{}",
                s.message
            );
        }
        other => panic!("accepted: {other:?}"),
    }
    // What only the schedule parser can judge: a Blocked condition naming the field.
    apply_job(&env, &job("feb30", "1s", 0, "  schedule: \"0 0 30 2 *\"\n")).await;
    apply_job(
        &env,
        &job(
            "month13",
            "1s",
            0,
            "  schedule: \"R/2024-13-01T00:00:00Z/PT1H\"\n",
        ),
    )
    .await;
    for name in ["feb30", "month13"] {
        let j = wait_job(&env, name, T, "Blocked InvalidSpec", |j| {
            condition(j, "Blocked").1 == "InvalidSpec"
        })
        .await;
        assert!(
            condition(&j, "Blocked").2.starts_with("spec.schedule"),
            "{:?}",
            condition(&j, "Blocked")
        );
        assert!(runs(&env, name).await.is_empty());
    }
}
