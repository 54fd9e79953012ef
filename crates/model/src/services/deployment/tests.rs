//! Scenario tests of the deployment planner.

use super::sim::World;
use super::*;
use crate::services::tests::at;
use crate::services::{InstanceState, UpgradeStrategy};

fn strategy(min: f64, over: f64) -> UpgradeStrategy {
    UpgradeStrategy {
        minimum_health_capacity: min,
        maximum_over_capacity: over,
        ..UpgradeStrategy::default()
    }
}

/// A world where version 1 is rolled out, about to deploy version 2.
fn deployed(n: u32, strategy: UpgradeStrategy) -> World {
    let mut world = World::running(n, strategy);
    let plan = world.step();
    assert_eq!(plan.state.phase, DeploymentPhase::Complete);
    world.version = 2;
    world.history = vec![1, 2];
    world
}

/// [`deployed`] with a changed strategy.
fn deployed_with(
    n: u32,
    base: UpgradeStrategy,
    change: impl FnOnce(&mut UpgradeStrategy),
) -> World {
    let mut strategy = base;
    change(&mut strategy);
    deployed(n, strategy)
}

fn reasons(plan: &Plan) -> Vec<&'static str> {
    plan.events.iter().map(|e| e.reason).collect()
}

fn condition(plan: &Plan, type_: AppCondition) -> &PlannedCondition {
    plan.conditions
        .iter()
        .find(|c| c.type_ == type_)
        .expect("condition present")
}

fn launches(plan: &Plan) -> Vec<(u64, u32)> {
    plan.launches.iter().map(|l| (l.version, l.count)).collect()
}

#[test]
fn a_first_deployment_launches_every_instance_then_completes() {
    let mut world = World::running(0, UpgradeStrategy::default());
    world.instances = 3;
    let plan = world.step();
    assert_eq!(launches(&plan), [(1, 3)]);
    assert_eq!(plan.state.phase, DeploymentPhase::Progressing);
    assert_eq!(reasons(&plan), ["DeploymentStarted"]);
    assert!(!condition(&plan, AppCondition::Available).status);
    assert!(condition(&plan, AppCondition::Progressing).status);
    assert_eq!(plan.placement_target, 3);
    world.settle();
    let plan = world.step();
    assert_eq!(plan.state.phase, DeploymentPhase::Complete);
    assert_eq!(plan.state.stable_version, Some(1));
    assert_eq!(reasons(&plan), ["DeploymentSucceeded"]);
    assert_eq!(
        condition(&plan, AppCondition::Available).message,
        "3 of 3 instances available (at least 3 kept during deployments)"
    );
    assert_eq!(
        condition(&plan, AppCondition::Progressing).reason,
        "Complete"
    );
    assert!(!condition(&plan, AppCondition::Degraded).status);
    assert_eq!(plan.counts.available, 3);
    assert!(world.step().events.is_empty(), "nothing new to announce");
}

#[test]
fn the_default_strategy_launches_all_then_kills_one_old_per_new_available() {
    let mut world = deployed(4, UpgradeStrategy::default());
    let plan = world.step();
    assert_eq!(launches(&plan), [(2, 4)]);
    assert!(plan.kills.is_empty());
    let new: Vec<String> = world
        .fleet
        .iter()
        .filter(|i| i.version == 2)
        .map(|i| i.id.clone())
        .collect();
    for id in &new[..1] {
        let i = world.find(id).expect("launched");
        i.state = InstanceState::Running;
        (i.healthy, i.ready) = (true, true);
    }
    let plan = world.step();
    assert!(plan.launches.is_empty());
    assert_eq!(plan.kills.len(), 1);
    assert_eq!(plan.kills[0].reason, KillReason::Replaced);
    assert_eq!(
        plan.kills[0].message,
        "version 1 replaced by version 2 (5 available, at least 4 kept)"
    );
    assert_eq!(
        plan.counts
            .by_version
            .iter()
            .map(|v| (v.version, v.instances))
            .collect::<Vec<_>>(),
        [(2, 4), (1, 4)]
    );
}

#[test]
fn half_minimum_health_kills_half_at_once_and_launches_once_they_are_gone() {
    let mut world = deployed(4, strategy(0.5, 0.0));
    let plan = world.step();
    assert_eq!(plan.kills.len(), 2);
    assert!(plan.launches.is_empty(), "killing instances still count");
    world.fleet.retain(|i| i.state != InstanceState::Killing);
    assert_eq!(launches(&world.step()), [(2, 2)]);
}

#[test]
fn equal_bounds_allow_one_instance_of_surge() {
    let mut world = deployed(4, strategy(1.0, 0.0));
    let plan = world.step();
    assert_eq!(launches(&plan), [(2, 1)]);
    assert_eq!(plan.placement_target, 5);
}

#[test]
fn unavailable_old_instances_are_killed_first() {
    let mut world = deployed(3, strategy(1.0, 0.0));
    world.fleet[1].healthy = false;
    let unhealthy = world.fleet[1].id.clone();
    let plan = world.step();
    assert_eq!(plan.kills.len(), 1);
    assert_eq!(plan.kills[0].instance, unhealthy);
    assert_eq!(plan.kills[0].reason, KillReason::UnavailableOldVersion);
    assert_eq!(launches(&plan), [(2, 1)]);
}

/// Version 2 never becomes healthy: its instances run, unhealthy.
fn stuck(world: &mut World) {
    for i in world.fleet.iter_mut().filter(|i| i.version == 2) {
        i.state = InstanceState::Running;
        i.healthy = false;
    }
}

#[test]
fn a_deployment_without_progress_fails_at_its_deadline_and_rolls_back() {
    let mut world = deployed_with(2, strategy(1.0, 0.0), |s| {
        s.progress_deadline_seconds = 60;
        s.auto_rollback = true
    });
    world.step();
    stuck(&mut world);
    world.now = at(59);
    let plan = world.step();
    assert_eq!(plan.state.phase, DeploymentPhase::Progressing);
    assert_eq!(plan.wake_at, Some(at(60)));
    world.now = at(60);
    let plan = world.step();
    assert_eq!(plan.state.phase, DeploymentPhase::RollingBack);
    assert_eq!(reasons(&plan), ["RollbackStarted"]);
    assert_eq!(
        plan.state
            .rollback
            .as_ref()
            .map(|r| (r.to, r.reason.as_str())),
        Some((1, "ProgressDeadlineExceeded"))
    );
    assert_eq!(
        plan.state.message,
        "no progress for 60 seconds; rolling back to version 1"
    );
    assert_eq!(
        plan.kills.iter().map(|k| k.reason).collect::<Vec<_>>(),
        [KillReason::UnavailableOldVersion]
    );
    let degraded = condition(&plan, AppCondition::Degraded);
    assert!(degraded.status);
    assert_eq!(degraded.reason, "RollingBack");
    world.settle();
    let plan = world.step();
    assert_eq!(plan.state.phase, DeploymentPhase::RolledBack);
    assert_eq!(reasons(&plan), ["RolledBack"]);
    assert_eq!(
        plan.state.message,
        "version 2 failed (ProgressDeadlineExceeded); rolled back to version 1"
    );
    assert!(condition(&plan, AppCondition::Degraded).status);
    assert_eq!(world.live_of(1), 2);
    let again = world.step();
    assert!(again.launches.is_empty() && again.kills.is_empty() && again.events.is_empty());
}

#[test]
fn without_rollback_a_failed_deployment_holds_and_refills_with_the_stable_version() {
    let mut world = deployed_with(2, strategy(1.0, 0.0), |s| s.progress_deadline_seconds = 60);
    world.step();
    stuck(&mut world);
    world.now = at(61);
    let plan = world.step();
    assert_eq!(plan.state.phase, DeploymentPhase::Failed);
    assert_eq!(plan.state.reason, "ProgressDeadlineExceeded");
    assert_eq!(reasons(&plan), ["DeploymentFailed"]);
    assert!(plan.kills.is_empty() && plan.launches.is_empty());
    assert!(!condition(&plan, AppCondition::Progressing).status);
    world.fleet.retain(|i| i.version == 2);
    assert_eq!(
        launches(&world.step()),
        [(1, 1)],
        "an old instance is gone: refilled with version 1"
    );
}

#[test]
fn the_failure_budget_fails_the_deployment_and_remembers_gone_instances() {
    let mut world = deployed_with(3, UpgradeStrategy::default(), |s| {
        s.failure_budget = Some(1)
    });
    world.step();
    let new: Vec<String> = world
        .fleet
        .iter()
        .filter(|i| i.version == 2)
        .map(|i| i.id.clone())
        .collect();
    world.find(&new[0]).expect("new").state = InstanceState::Failed;
    let plan = world.step();
    assert_eq!(plan.state.failed_instances, 1);
    assert_eq!(plan.state.phase, DeploymentPhase::Progressing);
    assert_eq!(
        condition(&plan, AppCondition::Degraded).reason,
        "InstanceFailures"
    );
    world.fleet.retain(|i| i.id != new[0]);
    let i = world.find(&new[1]).expect("new");
    (i.state, i.failures) = (InstanceState::Running, 2);
    let plan = world.step();
    assert_eq!(
        plan.state.failed_instances, 2,
        "the gone instance is still counted"
    );
    assert_eq!(plan.state.phase, DeploymentPhase::Failed);
    assert_eq!(plan.state.reason, "FailureBudgetExceeded");
    assert_eq!(
        plan.state.message,
        "2 instances of version 2 failed, more than the failure budget of 1"
    );
}

#[test]
fn pause_freezes_the_rollout_and_its_deadline_until_resumed() {
    let mut world = deployed_with(2, UpgradeStrategy::default(), |s| {
        s.progress_deadline_seconds = 60
    });
    world.step();
    world.paused = true;
    world.settle();
    world.now = at(1000);
    let plan = world.step();
    assert_eq!(plan.state.phase, DeploymentPhase::Paused);
    assert_eq!(reasons(&plan), ["DeploymentPaused"]);
    assert!(plan.kills.is_empty(), "no rollout kills while paused");
    assert_eq!(plan.wake_at, None);
    world.paused = false;
    world.now = at(2000);
    let plan = world.step();
    assert_eq!(reasons(&plan), ["DeploymentResumed"]);
    assert_eq!(plan.state.phase, DeploymentPhase::Progressing);
    assert_eq!(plan.state.last_progress_at, at(2000));
    assert_eq!(plan.kills.len(), 2);
}

#[test]
fn a_canary_step_updates_some_instances_then_waits_to_be_promoted() {
    let mut world = deployed_with(4, UpgradeStrategy::default(), |s| {
        s.canary_instances = Some(1);
        s.progress_deadline_seconds = 60
    });
    assert_eq!(launches(&world.step()), [(2, 1)]);
    world.settle();
    let plan = world.step();
    assert_eq!(plan.kills.len(), 1);
    assert!(plan.launches.is_empty());
    world.settle();
    let plan = world.step();
    assert_eq!(plan.state.phase, DeploymentPhase::CanaryWaiting);
    assert_eq!(reasons(&plan), ["CanaryWaiting"]);
    assert_eq!(
        plan.state.message,
        "1 of 4 instances run version 2; waiting to be told to continue"
    );
    world.now = at(10_000);
    let plan = world.step();
    assert_eq!(
        plan.state.phase,
        DeploymentPhase::CanaryWaiting,
        "the deadline does not run"
    );
    assert!(plan.launches.is_empty() && plan.kills.is_empty());
    world.promote = Some(1);
    assert_eq!(
        world.step().state.phase,
        DeploymentPhase::CanaryWaiting,
        "promoting another version does nothing"
    );
    world.promote = Some(2);
    let plan = world.step();
    assert_eq!(reasons(&plan), ["CanaryPromoted"]);
    assert_eq!(launches(&plan), [(2, 3)]);
}

#[test]
fn a_canary_keeps_old_places_filled_with_the_old_version() {
    let mut world = deployed_with(3, UpgradeStrategy::default(), |s| {
        s.canary_instances = Some(1)
    });
    world.step();
    world.settle();
    world.step();
    world.settle();
    assert_eq!(world.step().state.phase, DeploymentPhase::CanaryWaiting);
    let old = world
        .fleet
        .iter()
        .position(|i| i.version == 1)
        .expect("old left");
    world.fleet.remove(old);
    assert_eq!(launches(&world.step()), [(1, 1)]);
}

#[test]
fn rolling_back_by_number_is_a_deployment_to_a_known_version() {
    assert_eq!(resolve_version(&[3, 4, 5], 4), Ok(4));
    let unknown = resolve_version(&[3, 4, 5], 1).expect_err("not kept");
    assert_eq!(
        unknown.to_string(),
        "version 1 is not in the app's history (known: 3, 4, 5)"
    );
    let mut world = deployed(2, UpgradeStrategy::default());
    world.step();
    world.settle();
    assert_eq!(world.step().kills.len(), 2);
    world.settle();
    assert_eq!(world.step().state.phase, DeploymentPhase::Complete);
    world.version = 1;
    let plan = world.step();
    assert_eq!(plan.state.from_version, Some(2));
    assert_eq!(plan.state.stable_version, Some(2));
    assert_eq!(launches(&plan), [(1, 2)]);
}

#[test]
fn a_deployment_waits_for_its_dependencies() {
    let mut world = World::running(0, UpgradeStrategy::default());
    world.instances = 2;
    world.waiting_for = Some("waiting for dependencies: db is not available".to_string());
    let plan = world.step();
    assert_eq!(plan.state.phase, DeploymentPhase::Waiting);
    assert_eq!(reasons(&plan), ["DeploymentWaiting"]);
    assert!(plan.launches.is_empty());
    assert_eq!(
        condition(&plan, AppCondition::Progressing).message,
        "waiting for dependencies: db is not available"
    );
    world.waiting_for = None;
    world.now = at(30);
    let plan = world.step();
    assert_eq!(reasons(&plan), ["DeploymentStarted"]);
    assert_eq!(plan.state.started_at, at(30));
    assert_eq!(launches(&plan), [(1, 2)]);
}

#[test]
fn an_upgrade_waiting_for_dependencies_keeps_the_old_version_running() {
    let mut world = deployed(2, UpgradeStrategy::default());
    world.waiting_for = Some("waiting".to_string());
    world.fleet.remove(0);
    let plan = world.step();
    assert_eq!(plan.state.phase, DeploymentPhase::Waiting);
    assert_eq!(launches(&plan), [(1, 1)]);
}

#[test]
fn backoff_holds_launches_back_and_says_when_to_look_again() {
    let mut world = deployed_with(2, UpgradeStrategy::default(), |s| {
        s.progress_deadline_seconds = 0
    });
    world.launch_not_before = Some(at(30));
    let plan = world.step();
    assert!(plan.launches.is_empty());
    assert_eq!(plan.wake_at, Some(at(30)));
    world.now = at(30);
    assert_eq!(launches(&world.step()), [(2, 2)]);
}

#[test]
fn scaling_down_kills_by_the_victim_order() {
    let mut world = deployed(4, UpgradeStrategy::default());
    world.version = 1;
    world.fleet[0].state = InstanceState::Staging;
    world.instances = 2;
    let plan = world.step();
    assert_eq!(plan.kills.len(), 2);
    assert!(plan.kills.iter().all(|k| k.reason == KillReason::ScaleDown));
    assert_eq!(plan.kills[0].instance, world.fleet[0].id);
    assert_eq!(
        plan.kills[0].message,
        "scale down to 2 instances: first by state and kill selection"
    );
    assert_eq!(plan.state.phase, DeploymentPhase::Complete);
}

#[test]
fn the_state_is_camel_case_json_and_has_a_schema() {
    let mut world = deployed_with(2, UpgradeStrategy::default(), |s| s.auto_rollback = true);
    let plan = world.step();
    let json = serde_json::to_value(&plan.state).expect("serializes");
    assert_eq!(json["phase"], "Progressing");
    assert_eq!(json["fromVersion"], 1);
    assert_eq!(json["lastProgressAt"], "2023-11-14T22:13:20Z");
    let back: DeploymentState = serde_json::from_value(json).expect("deserializes");
    assert_eq!(back, plan.state);
    let schema = serde_json::to_value(schemars::schema_for!(DeploymentState)).expect("schema");
    assert!(schema["properties"]["lastProgressAt"].is_object());
    assert!(schemars::schema_for!(FleetCounts).as_value().is_object());
}
