//! The deployment planner: one pure step of a Marathon-style rolling deployment.
//!
//! [`plan`] takes the app's target (instances, version, history), its instances, its
//! upgrade strategy, the user's switches (pause, canary promotion), the backoff and
//! dependency gates, the recorded [`DeploymentState`] and the time, and returns what to
//! launch and kill, the next state, conditions (`Available`, `Progressing`, `Degraded`),
//! events and when to look again. The state is all the memory there is: the controller
//! persists it in status and plans from it after a crash, and planning again from a
//! step's own output with the same inputs returns the same state (the step is a fixed
//! point), so a repeated reconcile neither double-counts nor moves on.
//!
//! The arithmetic is Marathon's `TaskReplaceActor` (at 90619da): with `n` instances,
//! `minHealthy = ⌈n·minimumHealthCapacity⌉`, `maxCapacity = ⌊n·(1 + maximumOverCapacity)⌋`,
//! plus one when the two are equal. Old instances that are not available (running,
//! healthy and ready) are killed first; available old ones only while more than
//! `minHealthy` stay available — so one old instance goes per new one that becomes
//! healthy and ready; new ones are launched up to `n`, never above `maxCapacity` live
//! instances (kills in progress count until they are gone). An old instance that dies on
//! its own is replaced by the new version. The deployment is complete when `n` instances
//! of the new version are available and nothing else is left.
//!
//! Beyond Marathon: a progress deadline (no new instance available and no old one gone
//! for `progressDeadlineSeconds` fails the deployment); an Aurora-style failure budget
//! (more new instances failing than `failureBudget` fails it); optional automatic
//! rollback to the last version that was fully rolled out healthy; pause and resume (the
//! deadline stops while paused); a canary step (`canaryInstances` new instances, the rest
//! kept on the old version, until the user promotes this version); rollback to any
//! version of the history by number ([`resolve_version`], then plan with it as the
//! current version); a dependency gate.
//!
//! Where this departs from Marathon, and why:
//!
//! - **Level-triggered.** Marathon's actor kills `healthy − minHealthy` old instances when
//!   it starts, then one per new instance becoming ready, counting in memory. Here each
//!   step recomputes from the instances: old available instances may be killed down to
//!   `minHealthy`, which is the same in steady state and survives restarts.
//! - **Unavailable old instances go first and freely**: killing one never lowers
//!   availability, and Marathon would only replace them as its kill budget allowed.
//! - **The surge** (+1 when `minHealthy == maxCapacity`) applies whenever the bounds are
//!   equal; Marathon also required that many healthy instances at the start, a condition
//!   that would make the bound flip as health changes.
//! - **Capacity rounding** tolerates floating-point error (`⌈10 × 0.7⌉` is 7, not
//!   Marathon's 8).
//! - **Scale changes are not deployments**: the version is the launch-relevant spec, and
//!   a different `instances` is applied by the same arithmetic (minimum and maximum follow
//!   the new count), like Marathon's scale without a restart.
//! - **Failed holds**: a failed deployment without rollback kills nothing and launches no
//!   more of the failed version; instances that are gone are replaced with the last fully
//!   healthy version if one is known. Marathon has no failed state.
//! - **Paused** kills nothing for the rollout and only replaces instances that are gone.
//! - **Unreachable instances** count as live (not available) until the unreachable
//!   strategy makes them inactive; inactive ones do not count.
//! - **Failures** counted for the budget are those of new-version instances launched
//!   during the deployment (restarts in place, failed or finished exits, health kills);
//!   a rollback counts its own.
//! - **The canary step** holds launches of the new version at `canaryInstances` and refills
//!   the places of old instances that die with the version being replaced; it never kills
//!   new instances (lowering `canaryInstances` mid-deployment only stops launches). The
//!   deadline stops while it waits; promotion names the version (`promote`), so a leftover
//!   promotion cannot skip the next deployment's canary step.
//! - **Phases** add `Waiting` (dependencies not available: the previous version keeps
//!   running, a first deployment launches nothing) and `RolledBack` (the rollback
//!   completed) to those the issue names. `Complete` and `RolledBack` stay put when
//!   instances fail later: the same arithmetic replaces them, and `Degraded` says
//!   `InstancesUnavailable`. A deployment that becomes complete while paused completes.
//! - **Backoff** is one gate per app: while `launchNotBefore` lies ahead, the step launches
//!   nothing (and says when to look again).
//! - **Constraints during a rollout** count old and new instances alike (as Marathon);
//!   [`Plan::placement_target`] is the instance count GROUP_BY should spread while they
//!   coexist, so that the surge is not refused for lack of share.

mod actions;
mod fleet;
mod io;
mod phase;
mod report;
mod state;

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

pub use io::{
    AppCondition, DeploymentEvent, Kill, KillReason, Launch, Plan, PlanInput, PlannedCondition,
    UnknownVersion, resolve_version,
};
pub use state::{DeploymentPhase, DeploymentState, FleetCounts, RollbackState, VersionCount};

use fleet::Fleet;

/// One planning step; see the module docs.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let cap = input.strategy.capacity(input.instances);
    let state = phase::advance(input);
    let actions = actions::act(&state, input, cap);
    let fleet = Fleet::new(input.fleet, state.effective_version());
    let held_until = input.launch_not_before.filter(|_| actions.held_back);
    Plan {
        conditions: report::conditions(&state, &fleet, input.instances, cap),
        events: report::events(input.state, &state),
        wake_at: report::wake_at(&state, input.strategy.progress_deadline_seconds, held_until),
        placement_target: input
            .instances
            .max(fleet.live().saturating_add(actions.launched())),
        counts: fleet::fleet_counts(input.fleet),
        launches: actions.launches,
        kills: actions.kills,
        state,
    }
}
