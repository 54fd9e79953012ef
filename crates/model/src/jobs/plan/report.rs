//! Step 8: conditions and the next wake-up.

use jiff::Timestamp;

use super::{ConditionKind, JobCondition, JobPlan, Planner, TASK_APPEAR_GRACE};
use crate::jobs::ledger::RunPhase;
use crate::jobs::schedule::Schedule;

fn condition(
    kind: ConditionKind,
    status: bool,
    reason: &'static str,
    message: String,
) -> JobCondition {
    JobCondition {
        kind,
        status,
        reason,
        message,
    }
}

impl Planner<'_> {
    /// Finishes the plan: conditions, wake-up, the ledger.
    pub(super) fn finish(mut self, schedule: Option<&Schedule>) -> JobPlan {
        self.out.conditions = vec![
            self.scheduled_condition(schedule),
            self.running_condition(),
            self.blocked_condition(),
            self.suspended_condition(),
            self.disabled_condition(),
        ];
        self.out.wake_at = self.wake_at();
        self.out.ledger = self.ledger;
        self.out
    }

    fn scheduled_condition(&self, schedule: Option<&Schedule>) -> JobCondition {
        let kind = ConditionKind::Scheduled;
        let Some(schedule) = schedule else {
            return if self.invalid.is_empty() {
                condition(
                    kind,
                    false,
                    "NoSchedule",
                    "runs only on its parents or by hand".to_string(),
                )
            } else {
                condition(
                    kind,
                    false,
                    "InvalidSpec",
                    "the spec is invalid (see Blocked)".to_string(),
                )
            };
        };
        let held = if self.spec.suspend {
            Some("Suspended")
        } else if self.ledger.disabled.is_some() {
            Some("Disabled")
        } else if !self.issues.is_empty() {
            Some("Blocked")
        } else {
            None
        };
        match (self.next_slot, held) {
            (None, _) => {
                let last = self
                    .ledger
                    .last_slot
                    .map_or("none".to_string(), |t| t.to_string());
                condition(
                    kind,
                    false,
                    "Finished",
                    format!("{} has no slot left (last {last})", schedule.text()),
                )
            }
            (Some(next), Some(reason)) => condition(
                kind,
                false,
                reason,
                format!("slots are skipped; next {next}"),
            ),
            (Some(next), None) => condition(kind, true, "Scheduled", format!("next slot {next}")),
        }
    }

    fn running_condition(&self) -> JobCondition {
        let kind = ConditionKind::Running;
        if self.ledger.active.is_empty() {
            return condition(kind, false, "Idle", "no run in flight".to_string());
        }
        let runs: Vec<String> = self
            .ledger
            .active
            .iter()
            .map(|run| match run.phase {
                RunPhase::Active => run.task.clone(),
                RunPhase::BackingOff { until } => format!("{} (retry at {until})", run.task),
            })
            .collect();
        condition(kind, true, "RunsInFlight", runs.join(", "))
    }

    fn blocked_condition(&self) -> JobCondition {
        let kind = ConditionKind::Blocked;
        if !self.invalid.is_empty() {
            let errors: Vec<String> = self.invalid.iter().map(ToString::to_string).collect();
            return condition(kind, true, "InvalidSpec", errors.join("; "));
        }
        if let Some(first) = self.issues.first() {
            let messages: Vec<String> = self.issues.iter().map(|issue| issue.message()).collect();
            return condition(kind, true, first.reason(), messages.join("; "));
        }
        if self.spec.parents.is_empty() {
            return condition(
                kind,
                false,
                "NoParents",
                "the job has no parents".to_string(),
            );
        }
        if self.waiting_for.is_empty() {
            return condition(
                kind,
                false,
                "ParentsSatisfied",
                "every parent has succeeded since the last trigger".to_string(),
            );
        }
        condition(
            kind,
            false,
            "WaitingForParents",
            format!("waiting for {}", self.waiting_for.join(", ")),
        )
    }

    fn suspended_condition(&self) -> JobCondition {
        if self.spec.suspend {
            condition(
                ConditionKind::Suspended,
                true,
                "Suspended",
                "no new runs while suspended".to_string(),
            )
        } else {
            condition(
                ConditionKind::Suspended,
                false,
                "Active",
                "not suspended".to_string(),
            )
        }
    }

    fn disabled_condition(&self) -> JobCondition {
        match &self.ledger.disabled {
            Some(disabled) => condition(
                ConditionKind::Disabled,
                true,
                "TooManyFailures",
                format!(
                    "disabled at {} after {} failed run(s) in a row; edit the job to re-enable it",
                    disabled.at, disabled.failures
                ),
            ),
            None => condition(
                ConditionKind::Disabled,
                false,
                "Enabled",
                "enabled".to_string(),
            ),
        }
    }

    /// The earliest future instant something is due: a slot, a retry, a timeout, the end of
    /// a missing Task's grace.
    fn wake_at(&self) -> Option<Timestamp> {
        let runs = self.ledger.active.iter().flat_map(|run| {
            let (retry, unseen, timeout) = match run.phase {
                RunPhase::BackingOff { until } => (Some(until), None, None),
                RunPhase::Active => {
                    let unseen = !self.tasks.contains_key(run.task.as_str());
                    let grace = run
                        .attempt_started_at
                        .checked_add(TASK_APPEAR_GRACE)
                        .ok()
                        .filter(|_| unseen);
                    let max = self.spec.max_completion_time.filter(|_| run.kill.is_none());
                    (
                        None,
                        grace,
                        max.and_then(|max| run.attempt_started_at.checked_add(max).ok()),
                    )
                }
            };
            [retry, unseen, timeout].into_iter().flatten()
        });
        self.next_slot
            .into_iter()
            .chain(runs)
            .filter(|t| *t > self.now)
            .min()
    }
}
