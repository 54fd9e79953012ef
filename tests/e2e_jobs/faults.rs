//! The fault test of issue 14: the operator SIGKILLed at random instants, many times,
//! across due slots and parent completions. Afterwards every slot was run exactly once (or
//! skipped as its policy says) and no dependent run was lost or doubled. Prints its counts
//! and seed (`FAULTS_SEED=<seed>` replays a schedule); fails naming the broken invariant.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use mesos_model::jobs::ledger::RunTrigger;

use crate::support::TestEnv;
use crate::*;

const T: Duration = Duration::from_secs(90);

/// xorshift64*: a small seeded generator, so a failing schedule can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

fn every_slot(first: Timestamp, last: Timestamp, period: i64) -> Vec<Timestamp> {
    (first.as_second()..=last.as_second())
        .step_by(period as usize)
        .filter_map(|s| Timestamp::from_second(s).ok())
        .collect()
}

#[tokio::test]
async fn sigkills_never_lose_or_double_a_slot_or_a_dependent_run() {
    let seed = std::env::var("FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Timestamp::now().as_nanosecond() as u64 | 1);
    let mut rng = Rng(seed);
    let mut env = TestEnv::new("jobs-faults").await;
    let keep = "  successfulRunsHistoryLimit: 100\n  failedRunsHistoryLimit: 100\n";
    // Every slot must run: catch-up All, runs may overlap.
    apply_job(&env, &job("tick", "1s", 0, &format!(
        "  schedule: \"*/2 * * * * *\"\n  concurrencyPolicy: Allow\n  catchUp: {{policy: All, window: 10m, max: 1000}}\n{keep}"
    ))).await;
    // A parent on its own period (default Forbid, catch-up Latest: slots may be skipped,
    // but each once) and a child on it.
    apply_job(
        &env,
        &job(
            "root",
            "1s",
            0,
            &format!("  schedule: \"*/3 * * * * *\"\n{keep}"),
        ),
    )
    .await;
    apply_job(
        &env,
        &job("leaf", "1s", 0, &format!("  parents: [root]\n{keep}")),
    )
    .await;
    wait_job(&env, "leaf", T, "a first child run", |j| {
        count(j, "success") >= 1
    })
    .await;

    let start = Instant::now();
    let mut kills = 0;
    while start.elapsed() < Duration::from_secs(45) {
        tokio::time::sleep(Duration::from_millis(200 + rng.below(2800))).await;
        env.kill_operator();
        kills += 1;
        tokio::time::sleep(Duration::from_millis(100 + rng.below(1900))).await;
        env.start_operator();
    }
    // Stop the clocks and let everything in flight finish.
    patch_spec(&env, "tick", serde_json::json!({"suspend": true})).await;
    patch_spec(&env, "root", serde_json::json!({"suspend": true})).await;
    let settled = |j: &BatchJob| {
        ledger(j).active.is_empty()
            && j.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Running")
    };
    let tick = wait_job(&env, "tick", T, "tick settled", settled).await;
    let root = wait_job(&env, "root", T, "root settled", settled).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let leaf = wait_job(&env, "leaf", T, "leaf settled", settled).await;
    let mut broken = Vec::new();

    // tick: every slot from the first to the last it ran has exactly one run, once counted.
    let tick_runs = runs(&env, "tick").await;
    let tick_ledger = ledger(&tick);
    let ran: Vec<Timestamp> = tick_ledger
        .history
        .iter()
        .filter_map(|r| r.trigger.slot())
        .collect();
    let distinct: BTreeSet<Timestamp> = ran.iter().copied().collect();
    if distinct.len() != ran.len() {
        broken.push(format!(
            "a tick slot is in the history twice ({} runs, {} slots)",
            ran.len(),
            distinct.len()
        ));
    }
    let task_slots: BTreeSet<Timestamp> = tick_runs.values().filter_map(slot_of).collect();
    let (first, last) = (
        *distinct.first().expect("tick ran"),
        *distinct.last().expect("tick ran"),
    );
    let suspended_skips = tick_ledger.skipped_slots;
    let expected = every_slot(first, last, 2);
    let missing: Vec<_> = expected
        .iter()
        .filter(|s| !task_slots.contains(s))
        .collect();
    if !missing.is_empty() {
        broken.push(format!("tick slots never run: {missing:?}"));
    }
    if task_slots.len() != expected.len() || tick_runs.len() != expected.len() {
        broken.push(format!(
            "tick has {} Tasks for {} slots",
            tick_runs.len(),
            expected.len()
        ));
    }
    if count(&tick, "success") != tick_runs.len() as u64 {
        broken.push(format!(
            "tick counts {} successes for {} runs",
            count(&tick, "success"),
            tick_runs.len()
        ));
    }

    // root: every slot from its first run to its last accounted slot is run or skipped, once.
    let root_ledger = ledger(&root);
    let root_runs = runs(&env, "root").await;
    let root_first = root_runs
        .values()
        .filter_map(slot_of)
        .min()
        .expect("root ran");
    let root_last = root_ledger.last_slot.expect("root has slots");
    let root_slots = every_slot(root_first, root_last, 3).len() as u64;
    let root_skipped = root_ledger.skipped_slots;
    if root_runs.len() as u64 + root_skipped != root_slots {
        broken.push(format!(
            "root: {} runs + {root_skipped} skipped != {root_slots} slots",
            root_runs.len()
        ));
    }
    if count(&root, "success") != root_runs.len() as u64 {
        broken.push(format!(
            "root counts {} successes for {} runs",
            count(&root, "success"),
            root_runs.len()
        ));
    }

    // leaf: no root run consumed twice (doubled), the latest consumed (nothing lost).
    let leaf_ledger = ledger(&leaf);
    let leaf_runs = runs(&env, "leaf").await;
    let mut consumed: BTreeMap<String, u32> = BTreeMap::new();
    for run in &leaf_ledger.history {
        if let RunTrigger::Parents { runs } = &run.trigger {
            for r in runs.values() {
                *consumed.entry(r.name.clone()).or_default() += 1;
            }
        }
    }
    let doubled: Vec<_> = consumed.iter().filter(|(_, n)| **n > 1).collect();
    if !doubled.is_empty() {
        broken.push(format!("leaf ran twice for root runs {doubled:?}"));
    }
    let root_good = root_ledger.last_good.as_ref().map(|r| r.name.clone());
    let last_consumed = leaf_ledger
        .edges
        .get("root")
        .and_then(|e| e.consumed.as_ref())
        .map(|r| r.name.clone());
    if root_good != last_consumed {
        broken.push(format!("leaf lost root's latest run: root's last good {root_good:?}, consumed {last_consumed:?}"));
    }
    if leaf_runs.len() as u64 != count(&leaf, "success") || leaf_runs.len() > root_runs.len() {
        broken.push(format!(
            "leaf: {} Tasks, {} successes, root {} runs",
            leaf_runs.len(),
            count(&leaf, "success"),
            root_runs.len()
        ));
    }
    let not_consumed: Vec<_> = root_runs
        .keys()
        .filter(|r| !consumed.contains_key(*r))
        .collect();
    println!(
        "faults (seed {seed}): {kills} SIGKILLs; tick {} slots, {} runs, {} skipped (while suspended); root {root_slots} slots, {} runs, {root_skipped} skipped; leaf {} runs, {} root runs collapsed into a later trigger: {not_consumed:?}",
        expected.len(),
        tick_runs.len(),
        suspended_skips,
        root_runs.len(),
        leaf_runs.len(),
        not_consumed.len()
    );
    assert!(
        broken.is_empty(),
        "invariants broken (seed {seed}):\n{}",
        broken.join("\n")
    );
}
