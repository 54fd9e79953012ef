//! The diamond A → B, A → C, B + C → D under random completion orders.

use std::collections::BTreeSet;

use jiff::Timestamp;
use proptest::prelude::*;

use super::TaskPhase;
use super::sim::{World, secs, ts};
use crate::jobs::concurrency::ConcurrencyPolicy;
use crate::jobs::ledger::{Ledger, RunTrigger};
use crate::jobs::spec::JobSpec;

const JOBS: [&str; 4] = ["a", "b", "c", "d"];

fn diamond() -> World {
    let mut world = World::default();
    for (name, parents) in [
        ("a", &[][..]),
        ("b", &["a"][..]),
        ("c", &["a"][..]),
        ("d", &["b", "c"][..]),
    ] {
        let mut spec = JobSpec::new(name, ts("2024-01-01T00:00:00Z"));
        spec.parents = parents.iter().map(|p| p.to_string()).collect();
        spec.failure.retries = 0;
        spec.concurrency = ConcurrencyPolicy::Allow;
        spec.history.successful = 1000;
        world.add(spec);
    }
    world
}

/// Reconciles every job until nothing changes (the controller reacting to watch events),
/// in an order that depends on `step` only. Returns the Task names created.
fn settle(world: &mut World, now: Timestamp, step: usize) -> Vec<String> {
    let mut created = Vec::new();
    for round in 0..20 {
        let mut changed = false;
        for i in 0..JOBS.len() {
            let job = JOBS[(i + step + round) % JOBS.len()];
            let before = world.ledgers[job].clone();
            let plan = world.reconcile(job, now);
            changed |= !plan.create.is_empty() || plan.ledger != before;
            created.extend(plan.create.into_iter().map(|c| c.name));
        }
        if !changed {
            return created;
        }
    }
    panic!("no fixpoint after 20 rounds");
}

fn round_trip(world: &World) -> World {
    let mut copy = world.clone();
    for ledger in copy.ledgers.values_mut() {
        let json = serde_json::to_string(ledger).unwrap();
        *ledger = serde_json::from_str::<Ledger>(&json).unwrap();
    }
    copy
}

#[derive(Debug, Clone)]
enum Action {
    /// "Run now" on A.
    RunA,
    /// Complete the n-th (mod count) Task in flight, successfully.
    Complete(usize),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![1 => Just(Action::RunA), 3 => any::<usize>().prop_map(Action::Complete)]
}

/// Applies one action and settles; returns the completed job's name and the creates.
fn step(world: &mut World, action: &Action, index: usize) -> (Option<String>, Vec<String>) {
    let now = ts("2024-01-01T00:00:00Z")
        .checked_add(secs(index as i64 + 1))
        .unwrap();
    let mut completed = None;
    match action {
        Action::RunA => world.specs.get_mut("a").unwrap().run_now = Some(format!("run-{index}")),
        Action::Complete(n) => {
            let running: Vec<(String, String)> = JOBS
                .iter()
                .flat_map(|job| {
                    world
                        .running(job)
                        .into_iter()
                        .map(|task| (job.to_string(), task))
                })
                .collect();
            if !running.is_empty() {
                let (job, task) = running[n % running.len()].clone();
                world.finish(&task, TaskPhase::Succeeded, now);
                completed = Some(job);
            }
        }
    }
    (completed, settle(world, now, index))
}

fn d_parent_runs(world: &World) -> Vec<(String, String)> {
    let ledger = &world.ledgers["d"];
    let triggers = ledger
        .active
        .iter()
        .map(|r| &r.trigger)
        .chain(ledger.history.iter().map(|r| &r.trigger));
    triggers
        .filter_map(|trigger| match trigger {
            RunTrigger::Parents { runs } => Some((runs["b"].name.clone(), runs["c"].name.clone())),
            _ => None,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// D runs exactly once per generation in which both B and C succeeded after D's previous
    /// trigger (Chronos' per-edge counters, as a reference), never twice for the same parent
    /// runs; a restart from the persisted ledgers decides nothing new, and replaying the
    /// same events from a persisted snapshot decides the same.
    #[test]
    fn d_runs_once_per_generation_of_b_and_c(actions in prop::collection::vec(action(), 1..45), snapshot_at in 0usize..45) {
        let mut world = diamond();
        settle(&mut world, ts("2024-01-01T00:00:00Z"), 0);
        let (mut b_new, mut c_new, mut expected_d) = (false, false, 0usize);
        let mut snapshot = None;
        let mut log = Vec::new();
        for (index, action) in actions.iter().enumerate() {
            if index == snapshot_at {
                snapshot = Some((round_trip(&world), log.len()));
            }
            let (completed, created) = step(&mut world, action, index);
            match completed.as_deref() {
                Some("b") => b_new = true,
                Some("c") => c_new = true,
                _ => {}
            }
            if b_new && c_new {
                (b_new, c_new, expected_d) = (false, false, expected_d + 1);
            }
            log.push(created);
            // A restart (ledgers re-read from their JSON) decides nothing new.
            let mut restarted = round_trip(&world);
            let now = ts("2024-01-01T00:00:00Z").checked_add(secs(index as i64 + 1)).unwrap();
            prop_assert!(settle(&mut restarted, now, index + 1).is_empty());
        }
        let pairs = d_parent_runs(&world);
        prop_assert_eq!(pairs.len(), expected_d, "D ran {} times, the reference {} times", pairs.len(), expected_d);
        let b_runs: BTreeSet<&String> = pairs.iter().map(|(b, _)| b).collect();
        let c_runs: BTreeSet<&String> = pairs.iter().map(|(_, c)| c).collect();
        prop_assert_eq!(b_runs.len(), pairs.len(), "a B run triggered D twice");
        prop_assert_eq!(c_runs.len(), pairs.len(), "a C run triggered D twice");
        if let Some((mut replay, from)) = snapshot {
            let mut replayed = Vec::new();
            for (index, action) in actions.iter().enumerate().skip(snapshot_at) {
                replayed.push(step(&mut replay, action, index).1);
            }
            prop_assert_eq!(&replayed[..], &log[from..]);
        }
    }
}

#[test]
fn d_runs_once_when_b_and_c_have_both_succeeded() {
    let mut world = diamond();
    settle(&mut world, ts("2024-01-01T00:00:00Z"), 0);
    let mut all = Vec::new();
    // A runs; A completes (B and C start); B completes; C completes (D starts).
    for (index, action) in [
        Action::RunA,
        Action::Complete(0),
        Action::Complete(0),
        Action::Complete(0),
    ]
    .iter()
    .enumerate()
    {
        all.extend(step(&mut world, action, index).1);
    }
    let d: Vec<&String> = all.iter().filter(|n| n.starts_with("d-d")).collect();
    assert_eq!(d.len(), 1, "{all:?}");
    assert_eq!(all.len(), 4, "{all:?}");
    // B succeeding again alone does not trigger D.
    world.specs.get_mut("b").unwrap().run_now = Some("again".into());
    let created = step(&mut world, &Action::Complete(usize::MAX), 10).1;
    assert!(created.iter().all(|n| !n.starts_with("d-")), "{created:?}");
    let edges = &world.ledgers["d"].edges;
    assert!(
        edges["b"]
            .consumed
            .as_ref()
            .is_some_and(|r| r.name.starts_with("b-d"))
    );
}
