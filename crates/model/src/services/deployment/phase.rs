//! The deployment's state machine: start, failures, progress, pause, canary, deadline,
//! rollback, completion.

use std::collections::BTreeMap;

use super::PlanInput;
use super::fleet::{Fleet, count};
use super::state::{DeploymentPhase as Phase, DeploymentState, RollbackState};
use crate::services::time::plus_secs;
use crate::services::{Instance, InstanceState, Version};

/// Passes of the state machine before it must have settled (a step can chain at most:
/// progress, failure, rollback start, rollback progress, rollback completion).
const MAX_PASSES: usize = 8;

/// The deployment state after this step: the recorded one carried on (or a new deployment
/// for a new version), run through the state machine until it settles, so that planning
/// again from the result changes nothing.
pub(crate) fn advance(input: &PlanInput<'_>) -> DeploymentState {
    let mut state = begin(input);
    for _ in 0..MAX_PASSES {
        let before = state.clone();
        let fleet = Fleet::new(input.fleet, state.effective_version());
        count_failures(&mut state, input);
        record_progress(&mut state, &fleet, input);
        step(&mut state, input, &fleet);
        if state == before {
            break;
        }
    }
    state
}

/// The recorded deployment if it is for the current version, else a new one.
fn begin(input: &PlanInput<'_>) -> DeploymentState {
    let mut state = match input.state {
        Some(s) if s.version == input.version => s.clone(),
        previous => new_deployment(previous, input),
    };
    if state.phase == Phase::Waiting {
        match &input.waiting_for {
            Some(why) => state.message = why.clone(),
            None => {
                state.phase = Phase::Progressing;
                state.started_at = input.now;
                state.last_progress_at = input.now;
                set(
                    &mut state,
                    "NewVersion",
                    format!("rolling out version {}", input.version),
                );
            }
        }
    }
    state
}

fn new_deployment(previous: Option<&DeploymentState>, input: &PlanInput<'_>) -> DeploymentState {
    let from = match previous {
        Some(p) if p.phase == Phase::Failed => p.stable_version,
        Some(p) => p.effective_version(),
        None => most_common_other(input.fleet, input.version),
    };
    let (phase, reason, message) = match &input.waiting_for {
        Some(why) => (Phase::Waiting, "WaitingForDependencies", why.clone()),
        None => (
            Phase::Progressing,
            "NewVersion",
            format!("rolling out version {}", input.version),
        ),
    };
    DeploymentState {
        version: input.version,
        from_version: from.filter(|v| *v != input.version),
        stable_version: previous.and_then(|p| p.stable_version),
        phase,
        reason: reason.to_string(),
        message,
        started_at: input.now,
        last_progress_at: input.now,
        finished_at: None,
        most_available: 0,
        fewest_old: None,
        failures: BTreeMap::new(),
        failed_instances: 0,
        rollback: None,
        canary_promoted: false,
    }
}

/// The version most live instances run, other than `version` (the oldest on a tie).
fn most_common_other(fleet: &[Instance], version: Version) -> Option<Version> {
    let mut counts: BTreeMap<Version, u32> = BTreeMap::new();
    for i in fleet
        .iter()
        .filter(|i| i.state.is_live() && i.version != version)
    {
        *counts.entry(i.version).or_insert(0) += 1;
    }
    let most = counts.values().copied().max()?;
    counts.into_iter().find(|(_, c)| *c == most).map(|(v, _)| v)
}

fn set(state: &mut DeploymentState, reason: &str, message: String) {
    state.reason = reason.to_string();
    state.message = message;
}

/// Failures an instance shows: its own count, and at least one if it ended failing.
fn observed_failures(i: &Instance) -> u32 {
    let ended_failing = matches!(
        i.state,
        InstanceState::Failed
            | InstanceState::Finished
            | InstanceState::Error
            | InstanceState::Dropped
    );
    i.failures.max(u32::from(ended_failing))
}

/// Counts the failures of instances of the effective version launched since the phase
/// began (a rollback counts its own).
fn count_failures(state: &mut DeploymentState, input: &PlanInput<'_>) {
    let Some(version) = state.effective_version() else {
        return;
    };
    if !state.phase.counts_failures() {
        return;
    }
    let since = state.counting_since();
    for i in input.fleet.iter().filter(|i| i.version == version) {
        let failures = observed_failures(i);
        let tracked = state.failures.contains_key(&i.id);
        if failures > 0 && (tracked || i.started_at.is_some_and(|t| t >= since)) {
            let seen = state.failures.entry(i.id.clone()).or_insert(0);
            *seen = (*seen).max(failures);
        }
    }
    state.failed_instances = count(state.failures.values().filter(|&&f| f > 0).count());
}

/// Progress is more instances of the effective version available, or fewer of the others
/// live, than ever before in this phase; the deadline runs from the last progress.
fn record_progress(state: &mut DeploymentState, fleet: &Fleet<'_>, input: &PlanInput<'_>) {
    if !state.phase.deadline_runs() {
        return;
    }
    let available = fleet.current_available();
    let old = fleet.old_live();
    let more = available > state.most_available;
    let fewer = state.fewest_old.is_none_or(|f| old < f);
    if more || fewer {
        state.most_available = state.most_available.max(available);
        state.fewest_old = Some(state.fewest_old.map_or(old, |f| f.min(old)));
        state.last_progress_at = input.now;
    }
}

/// One pass of the state machine.
fn step(state: &mut DeploymentState, input: &PlanInput<'_>, fleet: &Fleet<'_>) {
    if state.phase.is_final() || state.phase == Phase::Waiting {
        return;
    }
    if complete(fleet, input.instances) {
        return finish(state, input);
    }
    if let Some(budget) = input
        .strategy
        .failure_budget
        .filter(|b| state.failed_instances > *b)
    {
        let message = format!(
            "{} instances of version {} failed, more than the failure budget of {budget}",
            state.failed_instances,
            state.effective_version().unwrap_or(state.version)
        );
        return fail(state, input, "FailureBudgetExceeded", message);
    }
    if input.paused {
        if state.phase != Phase::Paused {
            state.phase = Phase::Paused;
            set(state, "Paused", "the deployment is paused".to_string());
        }
        return;
    }
    if input.promote == Some(state.version) && state.rollback.is_none() {
        state.canary_promoted = true;
    }
    if !resume(state, input, fleet) {
        check_deadline(state, input);
    }
}

/// Moves a paused or waiting-canary deployment on (restarting its deadline), or into the
/// canary wait; returns whether the deployment is waiting at its canary step.
fn resume(state: &mut DeploymentState, input: &PlanInput<'_>, fleet: &Fleet<'_>) -> bool {
    if let Some(canary) = canary_cap(state, input)
        && canary_reached(fleet, input.instances, canary)
    {
        if state.phase != Phase::CanaryWaiting {
            state.phase = Phase::CanaryWaiting;
            let message = format!(
                "{canary} of {} instances run version {}; waiting to be told to continue",
                input.instances, state.version
            );
            set(state, "CanaryWaiting", message);
        }
        return true;
    }
    let active = match &state.rollback {
        Some(r) => (
            Phase::RollingBack,
            "RollingBack",
            format!("rolling back to version {}", r.to),
        ),
        None => (
            Phase::Progressing,
            "NewVersion",
            format!("rolling out version {}", state.version),
        ),
    };
    if state.phase != active.0 {
        if matches!(state.phase, Phase::Paused | Phase::CanaryWaiting) {
            state.last_progress_at = input.now;
        }
        state.phase = active.0;
        set(state, active.1, active.2);
    }
    false
}

fn check_deadline(state: &mut DeploymentState, input: &PlanInput<'_>) {
    let deadline = input.strategy.progress_deadline_seconds;
    if deadline == 0 || !state.phase.deadline_runs() {
        return;
    }
    if input.now >= plus_secs(state.last_progress_at, deadline) {
        let message = format!("no progress for {deadline} seconds");
        fail(state, input, "ProgressDeadlineExceeded", message);
    }
}

/// The canary step's size, while it applies: a canary strategy smaller than the app, not
/// yet promoted, not rolling back, not ended.
pub(crate) fn canary_cap(state: &DeploymentState, input: &PlanInput<'_>) -> Option<u32> {
    let applies = matches!(
        state.phase,
        Phase::Progressing | Phase::Paused | Phase::CanaryWaiting
    ) && state.rollback.is_none()
        && !state.canary_promoted;
    input
        .strategy
        .canary_instances
        .filter(|&c| applies && c < input.instances)
}

fn canary_reached(fleet: &Fleet<'_>, instances: u32, canary: u32) -> bool {
    fleet.current_available() >= canary
        && count(fleet.current.len()) >= canary
        && fleet.killing_current == 0
        && fleet.killing_old == 0
        && fleet.current.len() + fleet.old.len() <= instances as usize
}

/// Every instance runs the effective version, available, and nothing else is left.
fn complete(fleet: &Fleet<'_>, instances: u32) -> bool {
    fleet.live() == instances && fleet.current_available() == instances && fleet.old_live() == 0
}

fn finish(state: &mut DeploymentState, input: &PlanInput<'_>) {
    let version = state.effective_version().unwrap_or(state.version);
    let (phase, reason, message) = match &state.rollback {
        Some(r) => (
            Phase::RolledBack,
            "RolledBack",
            format!(
                "version {} failed ({}); rolled back to version {version}",
                state.version, r.reason
            ),
        ),
        None => (
            Phase::Complete,
            "Complete",
            format!("version {version} rolled out"),
        ),
    };
    state.phase = phase;
    set(state, reason, message);
    state.stable_version = Some(version);
    state.finished_at = Some(input.now);
}

/// The deployment failed: roll back if asked to and a fully healthy version is known,
/// else stop.
fn fail(state: &mut DeploymentState, input: &PlanInput<'_>, reason: &str, message: String) {
    let target = state
        .stable_version
        .filter(|v| *v != state.version && input.history.contains(v));
    match (input.strategy.auto_rollback, &state.rollback, target) {
        (true, None, Some(to)) => {
            state.rollback = Some(RollbackState {
                to,
                started_at: input.now,
                reason: reason.to_string(),
                failed_instances: state.failed_instances,
            });
            state.phase = Phase::RollingBack;
            set(
                state,
                "RollingBack",
                format!("{message}; rolling back to version {to}"),
            );
            state.failures.clear();
            state.failed_instances = 0;
            state.most_available = 0;
            state.fewest_old = None;
            state.last_progress_at = input.now;
        }
        (auto, rollback, _) => {
            let message = match rollback {
                Some(r) => format!("rolling back to version {} failed: {message}", r.to),
                None if auto => format!("{message}; no fully healthy version to roll back to"),
                None => message,
            };
            state.phase = Phase::Failed;
            set(state, reason, message);
            state.finished_at = Some(input.now);
        }
    }
}
