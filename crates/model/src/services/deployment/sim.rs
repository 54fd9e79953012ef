//! A small simulated world for the planner's tests: it owns what [`PlanInput`] borrows,
//! applies plans (kills become Killing, launches become Staging instances) and lets
//! instances evolve at random; and the property tests that drive whole deployments
//! through it.

use jiff::Timestamp;
use proptest::prelude::*;

use super::*;
use crate::constraints::{Constraints, NodeAttributes};
use crate::services::tests::at;
use crate::services::{Instance, InstanceState, KillSelection, UpgradeStrategy, Version};

/// Everything a [`PlanInput`] borrows, owned.
#[derive(Clone, Debug)]
pub(crate) struct World {
    pub now: Timestamp,
    pub instances: u32,
    pub version: Version,
    pub history: Vec<Version>,
    pub fleet: Vec<Instance>,
    pub strategy: UpgradeStrategy,
    pub paused: bool,
    pub promote: Option<Version>,
    pub waiting_for: Option<String>,
    pub launch_not_before: Option<Timestamp>,
    pub constraints: Constraints,
    pub state: Option<DeploymentState>,
    next_id: u32,
}

impl World {
    /// `n` available instances of version 1, and no deployment recorded.
    pub fn running(n: u32, strategy: UpgradeStrategy) -> Self {
        let mut world = Self {
            now: at(0),
            instances: n,
            version: 1,
            history: vec![1],
            fleet: vec![],
            strategy,
            paused: false,
            promote: None,
            waiting_for: None,
            launch_not_before: None,
            constraints: Constraints::default(),
            state: None,
            next_id: 0,
        };
        for _ in 0..n {
            world.add(1, InstanceState::Running, true);
        }
        world
    }

    /// Adds an instance of `version` in `state`, available when `available`.
    pub fn add(&mut self, version: Version, state: InstanceState, available: bool) -> String {
        let id = format!("i{}", self.next_id);
        self.next_id += 1;
        self.fleet.push(Instance {
            id: id.clone(),
            version,
            state,
            healthy: available,
            ready: available,
            started_at: Some(self.now),
            failures: 0,
            node: Some(NodeAttributes::new(
                &format!("node-{}", self.next_id % 7),
                [],
            )),
        });
        id
    }

    pub fn input(&self) -> PlanInput<'_> {
        PlanInput {
            now: self.now,
            instances: self.instances,
            version: self.version,
            history: &self.history,
            fleet: &self.fleet,
            strategy: &self.strategy,
            paused: self.paused,
            promote: self.promote,
            waiting_for: self.waiting_for.clone(),
            launch_not_before: self.launch_not_before,
            constraints: &self.constraints,
            kill_selection: KillSelection::YoungestFirst,
            state: self.state.as_ref(),
        }
    }

    pub fn plan(&self) -> Plan {
        plan(&self.input())
    }

    /// Records the plan's state; kills become Killing, launches new Staging instances.
    pub fn apply(&mut self, plan: &Plan) {
        self.state = Some(plan.state.clone());
        for kill in &plan.kills {
            if let Some(i) = self.fleet.iter_mut().find(|i| i.id == kill.instance) {
                i.state = InstanceState::Killing;
            }
        }
        for launch in &plan.launches {
            for _ in 0..launch.count {
                self.add(launch.version, InstanceState::Staging, false);
            }
        }
    }

    /// Plans and applies.
    pub fn step(&mut self) -> Plan {
        let plan = self.plan();
        self.apply(&plan);
        plan
    }

    /// Kills complete, staging instances run, everything running becomes available.
    pub fn settle(&mut self) {
        self.fleet.retain(|i| i.state != InstanceState::Killing);
        for i in &mut self.fleet {
            if matches!(i.state, InstanceState::Staging | InstanceState::Starting) {
                i.state = InstanceState::Running;
            }
            if i.state == InstanceState::Running {
                i.healthy = true;
                i.ready = true;
            }
        }
    }

    pub fn find(&mut self, id: &str) -> Option<&mut Instance> {
        self.fleet.iter_mut().find(|i| i.id == id)
    }

    pub fn live_of(&self, version: Version) -> usize {
        self.fleet
            .iter()
            .filter(|i| i.version == version && i.state.is_live())
            .count()
    }

    pub fn phase(&self) -> Option<DeploymentPhase> {
        self.state.as_ref().map(|s| s.phase)
    }
}

/// A xorshift generator for the simulated outcomes (seeded by proptest).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// How the simulated new version behaves.
#[derive(Clone, Copy, Debug)]
struct Scenario {
    /// New-version instances never become healthy.
    broken: bool,
    /// Broken instances crash (else they run unhealthy forever).
    crash: bool,
    /// Per-mille chance per step that an original instance fails on its own.
    old_failure: u64,
    /// The step at which the user pauses for five steps.
    pause_at: Option<u32>,
}

const STEP_SECONDS: i64 = 5;
const MAX_STEPS: u32 = 4000;

/// Instance ids of the original fleet (they alone fail on their own).
fn originals(world: &World) -> Vec<String> {
    world.fleet.iter().map(|i| i.id.clone()).collect()
}

/// One step of the world's own life after a plan was applied.
fn evolve(
    world: &mut World,
    rng: &mut Rng,
    scenario: Scenario,
    pending: &mut Vec<(String, u32)>,
    originals: &[String],
) {
    world.fleet.retain(|i| i.state.is_live());
    for i in &mut world.fleet {
        match i.state {
            InstanceState::Killing => i.state = InstanceState::Killed,
            InstanceState::Staging => {
                i.state = InstanceState::Running;
                pending.push((i.id.clone(), 1 + rng.below(3) as u32));
            }
            InstanceState::Running
                if i.available()
                    && originals.contains(&i.id)
                    && rng.below(1000) < scenario.old_failure =>
            {
                i.state = InstanceState::Failed;
            }
            _ => {}
        }
    }
    let mut still = Vec::new();
    for (id, left) in pending.drain(..) {
        let Some(i) = world
            .fleet
            .iter_mut()
            .find(|i| i.id == id && i.state == InstanceState::Running)
        else {
            continue;
        };
        let bad = scenario.broken && i.version == world.version;
        match (left, bad) {
            (_, true) if scenario.crash && rng.below(2) == 0 => {
                i.state = InstanceState::Failed;
                i.failures = 1;
            }
            (_, true) => still.push((id, left)),
            (1, false) => {
                i.healthy = true;
                i.ready = true;
            }
            (n, false) => still.push((id, n - 1)),
        }
    }
    *pending = still;
    world.now += jiff::SignedDuration::from_secs(STEP_SECONDS);
}

/// The planner's promises for one step: planning again from its own state changes
/// nothing; kills keep availability at the minimum (or where it was, if below); launches
/// stay within the maximum; kills name live instances once.
fn check_step(world: &World, plan: &Plan) -> Result<(), TestCaseError> {
    let input = world.input();
    let cap = world.strategy.capacity(world.instances);
    let again = super::plan(&PlanInput {
        state: Some(&plan.state),
        ..input.clone()
    });
    prop_assert_eq!(
        &again.state,
        &plan.state,
        "planning again from its own state changes it"
    );
    prop_assert_eq!(&again.launches, &plan.launches);
    prop_assert_eq!(&again.kills, &plan.kills);
    let live: Vec<&Instance> = world.fleet.iter().filter(|i| i.state.is_live()).collect();
    let available = live.iter().filter(|i| i.available()).count() as u32;
    let mut killed: Vec<&str> = plan.kills.iter().map(|k| k.instance.as_str()).collect();
    let killed_available = live
        .iter()
        .filter(|i| i.available() && killed.contains(&i.id.as_str()))
        .count() as u32;
    prop_assert!(
        available - killed_available >= cap.min_healthy.min(available),
        "kills take availability from {} to {} below the minimum {}",
        available,
        available - killed_available,
        cap.min_healthy
    );
    let launched: u32 = plan.launches.iter().map(|l| l.count).sum();
    prop_assert!(
        launched == 0 || live.len() as u32 + launched <= cap.max_instances,
        "{} live + {} launched > {}",
        live.len(),
        launched,
        cap.max_instances
    );
    prop_assert!(
        plan.launches
            .iter()
            .all(|l| world.history.contains(&l.version))
    );
    for id in &killed {
        prop_assert!(
            live.iter()
                .any(|i| i.id == *id && i.state != InstanceState::Killing),
            "kill of {} that is not live",
            id
        );
    }
    killed.sort_unstable();
    killed.dedup();
    prop_assert_eq!(killed.len(), plan.kills.len(), "an instance killed twice");
    Ok(())
}

/// Drives a deployment of version 2 until it ends; returns the world and whether the
/// failure (if any) came at or after its deadline.
fn run(mut world: World, scenario: Scenario, seed: u64) -> Result<World, TestCaseError> {
    let mut rng = Rng(seed | 1);
    let originals = originals(&world);
    let mut pending = Vec::new();
    let mut waited = 0;
    for step in 0..MAX_STEPS {
        world.paused = scenario
            .pause_at
            .is_some_and(|p| (p..p + 5).contains(&step));
        if world.phase() == Some(DeploymentPhase::CanaryWaiting) {
            waited += 1;
            if waited > 2 {
                world.promote = Some(2);
            }
        }
        let before = world.state.clone();
        let plan = world.plan();
        check_step(&world, &plan)?;
        let live = world.fleet.iter().filter(|i| i.state.is_live()).count() as u32;
        let launched: u32 = plan.launches.iter().map(|l| l.count).sum();
        let max = world.strategy.capacity(world.instances).max_instances;
        prop_assert!(
            live + launched <= max,
            "{} live + {} launched > {}",
            live,
            launched,
            max
        );
        if plan.state.phase == DeploymentPhase::Failed || plan.state.rollback.is_some() {
            check_failure_time(before.as_ref(), &plan.state, &world)?;
        }
        world.apply(&plan);
        if plan.state.phase.is_final() {
            return Ok(world);
        }
        evolve(&mut world, &mut rng, scenario, &mut pending, &originals);
    }
    Err(TestCaseError::fail(format!(
        "no end after {MAX_STEPS} steps: {:?}",
        world.state
    )))
}

/// A deadline failure happens only once the deadline passed since the last progress.
fn check_failure_time(
    before: Option<&DeploymentState>,
    after: &DeploymentState,
    world: &World,
) -> Result<(), TestCaseError> {
    let Some(before) = before.filter(|b| b.version == after.version) else {
        return Ok(());
    };
    let newly = (after.phase == DeploymentPhase::Failed && before.phase != DeploymentPhase::Failed)
        || (after.rollback.is_some() && before.rollback.is_none());
    let reason = after
        .rollback
        .as_ref()
        .map_or(after.reason.as_str(), |r| r.reason.as_str());
    if newly && reason == "ProgressDeadlineExceeded" {
        let deadline =
            jiff::SignedDuration::from_secs(world.strategy.progress_deadline_seconds as i64);
        prop_assert!(
            world.now >= before.last_progress_at + deadline,
            "failed before its deadline"
        );
    }
    Ok(())
}

fn share() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(0.5), Just(1.0), 0.0..=1.0f64]
}

fn arb_strategy() -> impl Strategy<Value = UpgradeStrategy> {
    (
        share(),
        share(),
        prop::option::of(1..5u32),
        any::<bool>(),
        prop::option::of(0..4u32),
        prop::sample::select(vec![60u64, 120, 300]),
    )
        .prop_map(
            |(min, over, canary, rollback, budget, deadline)| UpgradeStrategy {
                minimum_health_capacity: min,
                maximum_over_capacity: over,
                progress_deadline_seconds: deadline,
                failure_budget: budget,
                auto_rollback: rollback,
                canary_instances: canary,
            },
        )
}

/// A world running version 1 (deployment complete), now told to deploy version 2.
fn upgrade(n: u32, strategy: UpgradeStrategy) -> World {
    let mut world = World::running(n, strategy);
    world.step();
    world.version = 2;
    world.history = vec![1, 2];
    world
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn healthy_deployments_keep_their_bounds_and_complete(
        n in 1..=20u32,
        strategy in arb_strategy(),
        old_failure in 0..40u64,
        pause_at in prop::option::of(0..30u32),
        seed in any::<u64>(),
    ) {
        let scenario = Scenario { broken: false, crash: false, old_failure, pause_at };
        let world = run(upgrade(n, strategy), scenario, seed)?;
        let state = world.state.clone().expect("a deployment");
        prop_assert_eq!(state.phase, DeploymentPhase::Complete, "{:?}", state);
        prop_assert_eq!(state.stable_version, Some(2));
        prop_assert_eq!(world.live_of(2), n as usize);
        prop_assert_eq!(world.live_of(1), 0);
        prop_assert!(world.fleet.iter().filter(|i| i.state.is_live()).all(|i| i.available()));
    }

    #[test]
    fn broken_deployments_fail_at_their_deadline_or_budget_and_roll_back_when_asked(
        n in 1..=20u32,
        strategy in arb_strategy(),
        crash in any::<bool>(),
        old_failure in 0..40u64,
        pause_at in prop::option::of(0..30u32),
        seed in any::<u64>(),
    ) {
        let scenario = Scenario { broken: true, crash, old_failure, pause_at };
        let auto_rollback = strategy.auto_rollback;
        let mut world = run(upgrade(n, strategy), scenario, seed)?;
        let state = world.state.clone().expect("a deployment");
        let reason = state.rollback.as_ref().map_or(state.reason.clone(), |r| r.reason.clone());
        prop_assert!(["ProgressDeadlineExceeded", "FailureBudgetExceeded"].contains(&reason.as_str()), "{:?}", state);
        if auto_rollback {
            prop_assert_eq!(state.phase, DeploymentPhase::RolledBack, "{:?}", state);
            prop_assert_eq!(world.live_of(1), n as usize);
            prop_assert_eq!(world.live_of(2), 0);
            prop_assert!(world.fleet.iter().filter(|i| i.state.is_live()).all(|i| i.available()));
        } else {
            prop_assert_eq!(state.phase, DeploymentPhase::Failed);
            // A failed deployment holds: no kills, and only the stable version refills.
            for _ in 0..5 {
                world.settle();
                if let Some(i) = world.fleet.iter_mut().find(|i| i.state.is_live()) {
                    i.state = InstanceState::Failed;
                }
                let plan = world.step();
                prop_assert!(plan.kills.is_empty());
                prop_assert!(plan.launches.iter().all(|l| l.version == 1));
            }
        }
    }
}

fn arb_instance() -> impl Strategy<Value = (Version, InstanceState, bool, bool, u32, i64)> {
    let states = prop::sample::select(vec![
        InstanceState::Staging,
        InstanceState::Starting,
        InstanceState::Running,
        InstanceState::Running,
        InstanceState::Killing,
        InstanceState::Unreachable,
        InstanceState::UnreachableInactive,
        InstanceState::Failed,
        InstanceState::Killed,
    ]);
    (
        1..4u64,
        states,
        any::<bool>(),
        any::<bool>(),
        0..3u32,
        0..600i64,
    )
}

/// A random world: any mix of versions, states and health, any switches, and a recorded
/// state that a random earlier world left.
fn arb_world() -> impl Strategy<Value = World> {
    (
        0..12u32,
        1..4u64,
        prop::collection::vec(arb_instance(), 0..16),
        arb_strategy(),
        (
            any::<bool>(),
            prop::option::of(1..4u64),
            any::<bool>(),
            prop::option::of(0..900i64),
        ),
        (prop::option::of(1..4u64), 0..900i64),
    )
        .prop_map(
            |(n, version, raw, strategy, (paused, promote, waiting, held), (earlier, now))| {
                let mut world = World::running(0, strategy);
                world.instances = n;
                world.history = vec![1, 2, 3];
                for (v, state, healthy, ready, failures, started) in raw {
                    world.now = at(started);
                    let id = world.add(v, state, healthy);
                    if let Some(i) = world.find(&id) {
                        (i.ready, i.failures) = (ready, failures);
                    }
                }
                world.now = at(now);
                if let Some(earlier) = earlier {
                    world.version = earlier;
                    world.step();
                }
                world.version = version;
                world.paused = paused;
                world.promote = promote;
                world.waiting_for = waiting.then(|| "waiting for dependencies: db".to_string());
                world.launch_not_before = held.map(at);
                world.now = at(now + 1000);
                world
            },
        )
}

proptest! {
    #[test]
    fn planning_again_from_its_own_output_changes_nothing(world in arb_world()) {
        let plan = world.plan();
        check_step(&world, &plan)?;
        let again = super::plan(&PlanInput { state: Some(&plan.state), ..world.input() });
        prop_assert!(again.events.is_empty(), "{:?}", again.events);
        prop_assert_eq!(again.conditions, plan.conditions);
        prop_assert_eq!(again.wake_at, plan.wake_at);
    }
}
