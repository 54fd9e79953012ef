//! What a step tells the world: conditions, events, and when to look again.

use jiff::Timestamp;

use super::fleet::Fleet;
use super::io::{AppCondition, DeploymentEvent, PlannedCondition};
use super::state::{DeploymentPhase as Phase, DeploymentState};
use crate::services::strategy::Capacity;
use crate::services::time::plus_secs;

fn condition(type_: AppCondition, status: bool, reason: &str, message: String) -> PlannedCondition {
    PlannedCondition {
        type_,
        status,
        reason: reason.to_string(),
        message,
    }
}

/// `Available`, `Progressing` and `Degraded` for the advanced state.
pub(crate) fn conditions(
    state: &DeploymentState,
    fleet: &Fleet<'_>,
    instances: u32,
    cap: Capacity,
) -> Vec<PlannedCondition> {
    let available = fleet.available();
    let counts = format!(
        "{available} of {instances} instances available (at least {} kept during deployments)",
        cap.min_healthy
    );
    let available_condition = if instances == 0 {
        condition(
            AppCondition::Available,
            true,
            "Suspended",
            "0 instances wanted".to_string(),
        )
    } else if available >= cap.min_healthy.max(1) {
        condition(
            AppCondition::Available,
            true,
            "MinimumHealthyAvailable",
            counts.clone(),
        )
    } else {
        condition(
            AppCondition::Available,
            false,
            "BelowMinimumHealthy",
            counts.clone(),
        )
    };
    vec![
        available_condition,
        progressing(state),
        degraded(state, available, instances, counts),
    ]
}

fn progressing(state: &DeploymentState) -> PlannedCondition {
    let running = matches!(state.phase, Phase::Progressing | Phase::RollingBack);
    condition(
        AppCondition::Progressing,
        running,
        &state.reason,
        state.message.clone(),
    )
}

fn degraded(
    state: &DeploymentState,
    available: u32,
    instances: u32,
    counts: String,
) -> PlannedCondition {
    match state.phase {
        Phase::Failed | Phase::RolledBack => condition(
            AppCondition::Degraded,
            true,
            &state.reason,
            state.message.clone(),
        ),
        Phase::RollingBack => condition(
            AppCondition::Degraded,
            true,
            "RollingBack",
            state.message.clone(),
        ),
        _ if state.failed_instances > 0 => {
            let message = format!(
                "{} instances of version {} failed during the deployment",
                state.failed_instances, state.version
            );
            condition(AppCondition::Degraded, true, "InstanceFailures", message)
        }
        Phase::Complete if available < instances => {
            condition(AppCondition::Degraded, true, "InstancesUnavailable", counts)
        }
        _ => condition(AppCondition::Degraded, false, "AsExpected", counts),
    }
}

/// The transitions from `previous` to `state` worth an Event.
pub(crate) fn events(
    previous: Option<&DeploymentState>,
    state: &DeploymentState,
) -> Vec<DeploymentEvent> {
    let same = previous.filter(|p| p.version == state.version);
    let mut events = Vec::new();
    let was = same.map(|p| p.phase);
    if was.is_none_or(|p| p == Phase::Waiting) && state.phase != Phase::Waiting {
        let message = format!("deployment of version {} started", state.version);
        events.push(event("DeploymentStarted", message, false));
    }
    if same.is_none_or(|p| p.rollback.is_none()) && state.rollback.is_some() {
        events.push(event("RollbackStarted", state.message.clone(), true));
    }
    if was != Some(state.phase)
        && let Some(e) = phase_event(was, state)
    {
        events.push(e);
    }
    events
}

fn phase_event(was: Option<Phase>, state: &DeploymentState) -> Option<DeploymentEvent> {
    let message = state.message.clone();
    let (reason, warning) = match (was, state.phase) {
        (_, Phase::Complete) => ("DeploymentSucceeded", false),
        (_, Phase::Failed) => ("DeploymentFailed", true),
        (_, Phase::RolledBack) => ("RolledBack", true),
        (_, Phase::Paused) => ("DeploymentPaused", false),
        (_, Phase::CanaryWaiting) => ("CanaryWaiting", false),
        (Some(Phase::Paused), _) => ("DeploymentResumed", false),
        (Some(Phase::CanaryWaiting), _) => ("CanaryPromoted", false),
        (None, Phase::Waiting) => ("DeploymentWaiting", false),
        _ => return None,
    };
    Some(event(reason, message, warning))
}

fn event(reason: &'static str, message: String, warning: bool) -> DeploymentEvent {
    DeploymentEvent {
        reason,
        message,
        warning,
    }
}

/// When to plan again with no other change: the deadline while it runs, the end of the
/// backoff while it holds launches back.
pub(crate) fn wake_at(
    state: &DeploymentState,
    deadline_seconds: u64,
    held_until: Option<Timestamp>,
) -> Option<Timestamp> {
    let deadline = (state.phase.deadline_runs() && deadline_seconds > 0)
        .then(|| plus_secs(state.last_progress_at, deadline_seconds));
    match (deadline, held_until) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
