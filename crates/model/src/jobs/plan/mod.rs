//! The one call a reconcile makes: [`plan`] (job spec, ledger, observed Tasks, graph, now)
//! → [`JobPlan`] (Tasks to create, kill and delete, skipped slots, the next ledger,
//! conditions, events, the next wake-up).
//!
//! In order, each step on the ledger the previous one left:
//!
//! 1. **Observe** the runs in flight: a finished Task ends its attempt (success; failure →
//!    retry after backoff, give up, or disable the job); an attempt past
//!    `maxCompletionTime` is killed; a Task asked for but not seen within
//!    [`TASK_APPEAR_GRACE`] is asked for again (same name), then counted as lost.
//! 2. **Re-enable** a job disabled after failures once its spec's generation moves on.
//! 3. **Manual triggers**: a new "mark succeeded" token records a success (dependents see
//!    it); a new "run now" token starts a manual run. Both act once per token; manual runs
//!    ignore `suspend`, `disabled` and the concurrency policy (a person asked for them).
//! 4. **Retries** whose backoff has passed start their next attempt.
//! 5. **Slots**: due slots go through the catch-up policy, then the concurrency policy.
//!    While the job is suspended, disabled or blocked, due slots are skipped with that
//!    reason (so resuming never bursts). A job with parents too keeps the latest due slot
//!    *pending* until its parents are satisfied (an older pending slot is `Superseded`).
//! 6. **Parents**: once every edge is satisfied, a parent-triggered run starts (or the
//!    pending slot runs) and the edges record the parent runs consumed. Under `Forbid` a
//!    parent trigger *waits* for the runs in flight instead of being dropped.
//! 7. **Prune** history beyond the limits (their Tasks are deleted).
//! 8. **Report**: conditions and the next instant anything is due.

mod report;
mod runs;

#[cfg(test)]
mod diamond_tests;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::catch_up::{CatchUpInput, SkipReason, SkippedSlots, before, plan_catch_up};
use super::concurrency::ConcurrencyPolicy;
use super::dag::{GraphAnalysis, GraphIssue, GraphView, Readiness, next_edges, readiness};
use super::history::prune_history;
use super::ledger::{KillReason, Ledger, RECENT_SKIPS, RunRef, RunTrigger};
use super::schedule::Schedule;
use super::spec::{JobSpec, SpecError};

/// How long a Task the planner asked for may stay unseen (the create failed, or the
/// operator died before making it) before its attempt counts as lost.
pub const TASK_APPEAR_GRACE: SignedDuration = SignedDuration::from_secs(300);

/// A Task's state as the controller observed it (mapped from its Mesos state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskPhase {
    /// Staging or starting.
    Pending,
    /// Running.
    Running,
    /// Finished with exit code 0.
    Succeeded,
    /// Failed, errored, dropped, lost or gone.
    Failed,
    /// Killed.
    Killed,
}

/// One of the job's Tasks as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedTask {
    /// The Task's name.
    pub name: String,
    /// Its state.
    pub phase: TaskPhase,
    /// Its exit code, when it has one.
    pub exit_code: Option<i32>,
    /// When it reached a terminal state.
    pub finished_at: Option<Timestamp>,
}

/// Everything one reconcile of one job decides on.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The job.
    pub spec: &'a JobSpec,
    /// Its ledger, as last written.
    pub ledger: &'a Ledger,
    /// Its Tasks, as observed now.
    pub tasks: &'a [ObservedTask],
    /// Its namespace's jobs (parents' `last_good`).
    pub graph: &'a GraphView,
    /// The namespace's graph validation (computed once per snapshot of `graph`).
    pub analysis: &'a GraphAnalysis,
    /// The current time.
    pub now: Timestamp,
}

/// A Task to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskToCreate {
    /// Its name.
    pub name: String,
    /// The run it belongs to.
    pub trigger: RunTrigger,
    /// Which attempt of the run it is.
    pub attempt: u32,
}

/// A Task to kill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskToKill {
    /// Its name.
    pub name: String,
    /// Why.
    pub reason: KillReason,
}

/// The conditions a job's status carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConditionKind {
    /// The schedule has a next slot.
    Scheduled,
    /// Runs are in flight.
    Running,
    /// The job cannot run: broken dependencies or an invalid spec.
    Blocked,
    /// `suspend` is set.
    Suspended,
    /// Disabled after too many failures.
    Disabled,
}

impl ConditionKind {
    /// Every condition type, in the order status lists them.
    pub const ALL: [ConditionKind; 5] = [
        Self::Scheduled,
        Self::Running,
        Self::Blocked,
        Self::Suspended,
        Self::Disabled,
    ];

    /// The wire spelling (the condition's `type`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "Scheduled",
            Self::Running => "Running",
            Self::Blocked => "Blocked",
            Self::Suspended => "Suspended",
            Self::Disabled => "Disabled",
        }
    }
}

/// One condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCondition {
    /// Which condition.
    pub kind: ConditionKind,
    /// True or False.
    pub status: bool,
    /// A CamelCase reason.
    pub reason: &'static str,
    /// A sentence for people.
    pub message: String,
}

/// What an Event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEventKind {
    /// A run's first attempt was asked for.
    RunStarted,
    /// An attempt failed; the next starts after a backoff.
    RetryScheduled,
    /// A retry attempt was asked for.
    RetryStarted,
    /// A run succeeded.
    RunSucceeded,
    /// A run failed for good.
    RunFailed,
    /// An attempt ran too long and is being killed.
    RunTimedOut,
    /// A run is being killed for a newer one.
    RunReplaced,
    /// Due slots were skipped.
    SlotsSkipped,
    /// A manual "mark succeeded" was recorded.
    MarkedSucceeded,
    /// The job was disabled after failures.
    JobDisabled,
    /// The job was re-enabled by a spec change.
    JobEnabled,
}

/// An Event to record on the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEvent {
    /// What happened.
    pub kind: JobEventKind,
    /// A Warning rather than Normal event.
    pub warning: bool,
    /// A sentence for people.
    pub message: String,
}

/// The outcome of one reconcile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobPlan {
    /// Tasks to create (write `ledger` first; see the ledger module).
    pub create: Vec<TaskToCreate>,
    /// Tasks to kill.
    pub kill: Vec<TaskToKill>,
    /// Tasks of pruned history to delete.
    pub delete: Vec<String>,
    /// Slots skipped by this plan.
    pub skipped: Vec<SkippedSlots>,
    /// The ledger to write back.
    pub ledger: Ledger,
    /// The job's conditions.
    pub conditions: Vec<JobCondition>,
    /// Events to record.
    pub events: Vec<JobEvent>,
    /// When to reconcile again at the latest (parent changes arrive by watch).
    pub wake_at: Option<Timestamp>,
}

/// Plans one reconcile of one job; see the module docs.
pub fn plan(input: PlanInput<'_>) -> JobPlan {
    let mut planner = Planner::new(input);
    planner.observe_runs();
    planner.reenable();
    let validated = input.spec.validate();
    match &validated {
        Ok(schedule) => {
            planner.manual_triggers();
            planner.start_due_retries();
            if let Some(schedule) = schedule {
                planner.schedule_slots(schedule);
            }
            planner.parent_triggers(schedule.is_some());
        }
        Err(errors) => planner.invalid = errors.clone(),
    }
    planner.prune();
    planner.finish(validated.ok().flatten().as_ref())
}

/// The working state of one plan.
struct Planner<'a> {
    spec: &'a JobSpec,
    graph: &'a GraphView,
    issues: &'a [GraphIssue],
    tasks: BTreeMap<&'a str, &'a ObservedTask>,
    now: Timestamp,
    /// Parent runs finished after this satisfy edges without a record (see `dag`).
    baseline: Timestamp,
    ledger: Ledger,
    out: JobPlan,
    invalid: Vec<SpecError>,
    next_slot: Option<Timestamp>,
    waiting_for: Vec<String>,
}

impl<'a> Planner<'a> {
    fn new(input: PlanInput<'a>) -> Self {
        Planner {
            spec: input.spec,
            graph: input.graph,
            issues: input.analysis.issues(&input.spec.name),
            tasks: input.tasks.iter().map(|t| (t.name.as_str(), t)).collect(),
            now: input.now,
            baseline: input.ledger.last_run_started.unwrap_or(input.spec.created),
            ledger: input.ledger.clone(),
            out: JobPlan::default(),
            invalid: Vec::new(),
            next_slot: None,
            waiting_for: Vec::new(),
        }
    }

    /// Why new runs are held back, if they are (manual runs aside).
    fn hold_reason(&self) -> Option<SkipReason> {
        if self.spec.suspend {
            Some(SkipReason::Suspended)
        } else if self.ledger.disabled.is_some() {
            Some(SkipReason::Disabled)
        } else if !self.issues.is_empty() {
            Some(SkipReason::Blocked)
        } else {
            None
        }
    }

    /// Step 5: due slots.
    fn schedule_slots(&mut self, schedule: &Schedule) {
        let after = self.ledger.last_slot.unwrap_or(before(self.spec.created));
        self.next_slot = schedule.next_after(self.now.max(after));
        if let Some(reason) = self.hold_reason() {
            if let Some(pending) = self.ledger.pending_slot.take() {
                self.skip(SkippedSlots::single(pending, reason));
            }
            if let Some(latest) = schedule.latest_in(after, self.now) {
                self.skip_all(SkippedSlots::span(schedule, after, self.now, reason));
                self.ledger.last_slot = Some(latest);
            }
            return;
        }
        let catch_up = plan_catch_up(CatchUpInput {
            schedule,
            after,
            now: self.now,
            policy: self.spec.catch_up,
            starting_deadline: self.spec.starting_deadline,
        });
        self.skip_all(catch_up.skipped);
        if let Some(through) = catch_up.accounted_through {
            self.ledger.last_slot = Some(through);
        }
        self.run_slots(catch_up.run);
    }

    fn run_slots(&mut self, mut slots: Vec<Timestamp>) {
        if !self.spec.parents.is_empty() {
            for slot in slots {
                if let Some(old) = self.ledger.pending_slot.replace(slot) {
                    self.skip(SkippedSlots::single(old, SkipReason::Superseded));
                }
            }
            return;
        }
        if self.spec.concurrency == ConcurrencyPolicy::Replace && slots.len() > 1 {
            let last = slots.split_off(slots.len() - 1);
            for slot in std::mem::replace(&mut slots, last) {
                self.skip(SkippedSlots::single(slot, SkipReason::Replaced));
            }
        }
        for slot in slots {
            if !self.admit(RunTrigger::Slot { slot }) {
                self.skip(SkippedSlots::single(slot, SkipReason::ConcurrencyForbid));
            }
        }
    }

    /// Step 6: parent triggers, and the edge records.
    fn parent_triggers(&mut self, has_schedule: bool) {
        if self.spec.parents.is_empty() {
            self.ledger.edges.clear();
            return;
        }
        let consumed = if self.hold_reason().is_none() {
            self.try_parent_trigger(has_schedule)
        } else {
            None
        };
        self.ledger.edges = next_edges(
            &self.spec.parents,
            &self.ledger.edges,
            self.graph,
            self.baseline,
            consumed.as_ref(),
        );
    }

    /// Starts the parent-triggered run if every edge is satisfied; returns what it consumed.
    fn try_parent_trigger(&mut self, has_schedule: bool) -> Option<BTreeMap<String, RunRef>> {
        let runs = match readiness(
            &self.spec.parents,
            &self.ledger.edges,
            self.graph,
            self.baseline,
        ) {
            Readiness::Ready(runs) => runs,
            Readiness::Waiting(parents) => {
                self.waiting_for = parents;
                return None;
            }
        };
        if has_schedule {
            let slot = self.ledger.pending_slot.take()?;
            if self.admit(RunTrigger::SlotAndParents {
                slot,
                runs: runs.clone(),
            }) {
                return Some(runs);
            }
            self.skip(SkippedSlots::single(slot, SkipReason::ConcurrencyForbid));
            return None;
        }
        if self.spec.concurrency == ConcurrencyPolicy::Forbid && !self.in_flight().is_empty() {
            return None;
        }
        self.admit(RunTrigger::Parents { runs: runs.clone() })
            .then_some(runs)
    }

    /// Step 7: prune history.
    fn prune(&mut self) {
        let pruned = prune_history(&self.spec.name, &self.ledger.history, self.spec.history);
        self.ledger.history = pruned.kept;
        self.out.delete = pruned.delete;
    }

    fn skip_all(&mut self, spans: impl IntoIterator<Item = SkippedSlots>) {
        for span in spans {
            self.skip(span);
        }
    }

    fn skip(&mut self, span: SkippedSlots) {
        self.ledger.skipped_slots = self
            .ledger
            .skipped_slots
            .saturating_add(span.count.at_least());
        self.ledger.recent_skips.push(span.clone());
        let excess = self.ledger.recent_skips.len().saturating_sub(RECENT_SKIPS);
        self.ledger.recent_skips.drain(..excess);
        let message = format!(
            "skipped {} slot(s) from {} to {}: {:?}",
            span.count.at_least(),
            span.first,
            span.last,
            span.reason
        );
        self.event(super::plan::JobEventKind::SlotsSkipped, false, message);
        self.out.skipped.push(span);
    }

    fn event(&mut self, kind: JobEventKind, warning: bool, message: String) {
        self.out.events.push(JobEvent {
            kind,
            warning,
            message,
        });
    }
}
