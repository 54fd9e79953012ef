//! What to launch and what to kill in one step, given the deployment's phase: Marathon's
//! `TaskReplaceActor` arithmetic, level-triggered.

use super::PlanInput;
use super::fleet::{Fleet, count};
use super::io::{Kill, KillReason, Launch};
use super::phase::canary_cap;
use super::state::{DeploymentPhase as Phase, DeploymentState};
use crate::services::strategy::Capacity;
use crate::services::victims::{VictimReason, select_victims};
use crate::services::{Instance, Version};

/// The step's launches and kills.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Actions {
    pub launches: Vec<Launch>,
    pub kills: Vec<Kill>,
    /// Launches were wanted but backoff holds them back.
    pub held_back: bool,
}

impl Actions {
    fn launch(&mut self, version: Option<Version>, count: u32) {
        if let (Some(version), true) = (version, count > 0) {
            match self.launches.iter_mut().find(|l| l.version == version) {
                Some(l) => l.count += count,
                None => self.launches.push(Launch { version, count }),
            }
        }
    }

    pub fn launched(&self) -> u32 {
        self.launches.iter().map(|l| l.count).sum()
    }
}

/// One step's view: the advanced state, the inputs, the fleet against the effective
/// version, the capacity bounds.
struct Step<'s, 'a> {
    state: &'s DeploymentState,
    input: &'s PlanInput<'a>,
    fleet: &'s Fleet<'a>,
    cap: Capacity,
}

impl Step<'_, '_> {
    /// The version instances should run now.
    fn target(&self) -> Version {
        self.state.effective_version().unwrap_or(self.state.version)
    }

    /// How many instances of the target version are wanted now (the canary step holds it
    /// below `instances`).
    fn wanted(&self) -> u32 {
        canary_cap(self.state, self.input).unwrap_or(self.input.instances)
    }

    /// Room below the maximum, kills in progress counted.
    fn room(&self) -> u32 {
        self.cap.max_instances.saturating_sub(self.fleet.live())
    }

    /// The version that fills the old instances' places while the canary step holds the
    /// new version back: the one being replaced, if it can still be launched.
    fn fill_version(&self) -> Option<Version> {
        self.state
            .from_version
            .filter(|v| *v != self.state.version && self.input.history.contains(v))
    }
}

/// The launches and kills for `state` (already advanced for this step).
pub(crate) fn act(state: &DeploymentState, input: &PlanInput<'_>, cap: Capacity) -> Actions {
    let Some(effective) = state.effective_version() else {
        return Actions::default();
    };
    let fleet = Fleet::new(input.fleet, Some(effective));
    let step = Step {
        state,
        input,
        fleet: &fleet,
        cap,
    };
    let mut actions = match state.phase {
        Phase::Paused => fill(&step),
        Phase::Failed => hold(&step),
        _ => roll(&step),
    };
    let held = input.launch_not_before.is_some_and(|t| input.now < t);
    if held && !actions.launches.is_empty() {
        actions.launches.clear();
        actions.held_back = true;
    }
    actions
}

/// Rolling (and steady state): scale the target version down to `instances`, kill old
/// instances (unavailable ones first, available ones only above the healthy minimum)
/// down to what the target version leaves room for, launch the target version up to what
/// is wanted (the canary step holds it back) within the maximum.
fn roll(step: &Step<'_, '_>) -> Actions {
    let (fleet, n, wanted) = (step.fleet, step.input.instances, step.wanted());
    let mut actions = Actions::default();
    let current_extra = count(fleet.current.len()).saturating_sub(n);
    let scaled = pick(&fleet.current, &fleet.old, current_extra, step.input);
    let lost_available = count(scaled.iter().filter(|(i, _)| i.available()).count());
    for (instance, why) in &scaled {
        let message = format!("scale down to {n} instances: {why}");
        actions
            .kills
            .push(kill(instance, KillReason::ScaleDown, message));
    }
    let kept_current: Vec<&Instance> = fleet
        .current
        .iter()
        .copied()
        .filter(|i| !scaled.iter().any(|(s, _)| s.id == i.id))
        .collect();
    let available = fleet.available().saturating_sub(lost_available);
    let keep_old = n.saturating_sub(wanted.max(count(kept_current.len())));
    let old_killed = kill_old(step, &mut actions, &kept_current, keep_old, available);
    let room = step.room();
    let launch_current = wanted.saturating_sub(count(kept_current.len())).min(room);
    actions.launch(Some(step.target()), launch_current);
    let old_left = count(fleet.old.len()).saturating_sub(old_killed);
    let fill_old = keep_old
        .saturating_sub(old_left)
        .min(room.saturating_sub(launch_current));
    actions.launch(step.fill_version(), fill_old);
    actions
}

/// Kills old instances down to `keep_old`: every unavailable one first, then available
/// ones while more than the healthy minimum stay available. Returns how many.
fn kill_old(
    step: &Step<'_, '_>,
    actions: &mut Actions,
    kept_current: &[&Instance],
    keep_old: u32,
    available: u32,
) -> u32 {
    let (to, min_healthy) = (step.target(), step.cap.min_healthy);
    let killable = count(step.fleet.old.len()).saturating_sub(keep_old);
    let (down, up): (Vec<&Instance>, Vec<&Instance>) =
        step.fleet.old.iter().partition(|i| !i.available());
    let mut kept: Vec<&Instance> = kept_current
        .iter()
        .copied()
        .chain(up.iter().copied())
        .collect();
    let first = pick(&down, &kept, killable.min(count(down.len())), step.input);
    for (i, _) in &first {
        let message = format!(
            "version {} is not available; version {to} replaces it",
            i.version
        );
        actions
            .kills
            .push(kill(i, KillReason::UnavailableOldVersion, message));
    }
    kept.truncate(kept_current.len());
    kept.extend(
        down.iter()
            .copied()
            .filter(|d| !first.iter().any(|(f, _)| f.id == d.id)),
    );
    let budget = available.saturating_sub(min_healthy);
    let second_count = (killable - count(first.len()))
        .min(budget)
        .min(count(up.len()));
    let second = pick(&up, &kept, second_count, step.input);
    for (i, _) in &second {
        let message = format!(
            "version {} replaced by version {to} ({available} available, at least {min_healthy} kept)",
            i.version
        );
        actions.kills.push(kill(i, KillReason::Replaced, message));
    }
    count(first.len() + second.len())
}

/// Paused: no rollout kills; only replaces instances that are gone, with the target
/// version up to what the canary step allows, then with the version being replaced.
fn fill(step: &Step<'_, '_>) -> Actions {
    let (n, wanted) = (step.input.instances, step.wanted());
    let current = count(step.fleet.current.len());
    let running = current + count(step.fleet.old.len());
    let missing = n.saturating_sub(running).min(step.room());
    let launch_current = missing.min(wanted.saturating_sub(current));
    let mut actions = Actions::default();
    actions.launch(Some(step.target()), launch_current);
    if wanted < n {
        actions.launch(step.fill_version(), missing - launch_current);
    }
    actions
}

/// Failed: no kills; instances that are gone are replaced with the last fully healthy
/// version (never with a version that failed), if one is known.
fn hold(step: &Step<'_, '_>) -> Actions {
    let (state, failed) = (step.state, step.target());
    let stable = state
        .stable_version
        .filter(|v| *v != failed && *v != state.version && step.input.history.contains(v));
    let running = count(step.fleet.current.len() + step.fleet.old.len());
    let mut actions = Actions::default();
    actions.launch(
        stable,
        step.input
            .instances
            .saturating_sub(running)
            .min(step.room()),
    );
    actions
}

/// `k` victims among `candidates`, `kept` staying in any case.
fn pick<'a>(
    candidates: &[&'a Instance],
    kept: &[&Instance],
    k: u32,
    input: &PlanInput<'_>,
) -> Vec<(&'a Instance, VictimReason)> {
    if k == 0 {
        return Vec::new();
    }
    select_victims(
        candidates,
        kept,
        k as usize,
        input.constraints,
        input.kill_selection,
    )
    .into_iter()
    .filter_map(|v| candidates.get(v.index).map(|i| (*i, v.reason)))
    .collect()
}

fn kill(instance: &Instance, reason: KillReason, message: String) -> Kill {
    Kill {
        instance: instance.id.clone(),
        reason,
        message,
    }
}
