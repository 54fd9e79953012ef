//! Pure mappings between the Kubernetes objects and the job planner's types: a BatchJob
//! to a [`JobSpec`], Tasks to [`ObservedTask`]s, a namespace's jobs to a [`GraphView`], a
//! plan to the job's status and to the Task bodies to create. No I/O.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::{Resource, ResourceExt};
use mesos_model::jobs::catch_up::CatchUpPolicy;
use mesos_model::jobs::concurrency::ConcurrencyPolicy;
use mesos_model::jobs::dag::{GraphView, JobNode};
use mesos_model::jobs::history::HistoryLimits;
use mesos_model::jobs::ledger::{Ledger, RunRef, RunTrigger};
use mesos_model::jobs::plan::{
    ConditionKind, JobCondition, JobEventKind, JobPlan, ObservedTask, TaskPhase, TaskToCreate,
};
use mesos_model::jobs::retry::{Backoff, FailurePolicy};
use mesos_model::jobs::schedule::Schedule;
use mesos_model::jobs::spec::{JobSpec, ScheduleSpec, SpecError};

use crate::api::batchjob::{
    ANNOTATION_FIRED_AT, ANNOTATION_MARK_SUCCEEDED, ANNOTATION_RUN_NOW, ANNOTATION_SLOT, BatchJob,
    BatchJobStatus, CatchUpKind, DEFAULT_FRAMEWORK, GoodRun, JobConcurrencyPolicy, LABEL_BATCHJOB,
};
use crate::api::condition::{ConditionStatus, Conditions};
use crate::api::{LABEL_MANAGED_BY, MANAGER, Task, TaskSpec, TaskState};

/// `All` without a window: how far back missed slots still run.
pub const DEFAULT_CATCH_UP_WINDOW: SignedDuration = SignedDuration::from_hours(24);
/// `All` without a max: how many missed slots one catch-up runs at most.
pub const DEFAULT_CATCH_UP_MAX: u32 = 100;

fn spec_error(field: &str, message: String) -> SpecError {
    SpecError {
        field: field.to_string(),
        message,
    }
}

/// A Go duration as a signed duration.
fn go_duration(text: &str, field: &str) -> Result<SignedDuration, SpecError> {
    let parsed: kube::core::Duration = text
        .parse()
        .map_err(|e| spec_error(field, format!("{text:?} is not a duration: {e}")))?;
    let std: std::time::Duration = parsed.into();
    SignedDuration::try_from(std).map_err(|e| spec_error(field, format!("{text:?}: {e}")))
}

/// The Framework a job's runs belong to.
pub fn framework_of(job: &BatchJob) -> &str {
    job.spec.framework.as_deref().unwrap_or(DEFAULT_FRAMEWORK)
}

/// The planner's view of a BatchJob. Errors are what the schema let through but the
/// planner cannot read (none, as long as the schema's patterns hold).
pub fn job_spec(job: &BatchJob, now: Timestamp) -> (JobSpec, Vec<SpecError>) {
    let s = &job.spec;
    let created = job
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(now, |t| t.0);
    let mut spec = JobSpec::new(&job.name_any(), created);
    let mut errors = Vec::new();
    spec.generation = job.metadata.generation.unwrap_or(1);
    spec.schedule = s.schedule.as_ref().map(|expression| ScheduleSpec {
        expression: expression.clone(),
        time_zone: s.time_zone.clone(),
    });
    spec.parents = s.parents.clone();
    spec.concurrency = match s.concurrency_policy {
        JobConcurrencyPolicy::Allow => ConcurrencyPolicy::Allow,
        JobConcurrencyPolicy::Forbid => ConcurrencyPolicy::Forbid,
        JobConcurrencyPolicy::Replace => ConcurrencyPolicy::Replace,
    };
    spec.catch_up = match s.catch_up.policy {
        CatchUpKind::None => CatchUpPolicy::None,
        CatchUpKind::Latest => CatchUpPolicy::Latest,
        CatchUpKind::All => {
            let window = match s.catch_up.window.as_deref() {
                Some(text) => go_duration(text, "spec.catchUp.window").unwrap_or_else(|e| {
                    errors.push(e);
                    DEFAULT_CATCH_UP_WINDOW
                }),
                None => DEFAULT_CATCH_UP_WINDOW,
            };
            let max = s
                .catch_up
                .max
                .and_then(|m| u32::try_from(m).ok())
                .unwrap_or(DEFAULT_CATCH_UP_MAX);
            CatchUpPolicy::All { window, max }
        }
    };
    spec.starting_deadline = s.starting_deadline_seconds.map(SignedDuration::from_secs);
    spec.failure = failure_policy(job);
    spec.max_completion_time = s.max_completion_time.as_deref().and_then(|text| {
        go_duration(text, "spec.maxCompletionTime")
            .map_err(|e| errors.push(e))
            .ok()
    });
    spec.suspend = s.suspend;
    spec.history = HistoryLimits {
        successful: u32::try_from(s.successful_runs_history_limit).unwrap_or(0),
        failed: u32::try_from(s.failed_runs_history_limit).unwrap_or(0),
    };
    let annotation = |key: &str| {
        job.annotations()
            .get(key)
            .filter(|v| !v.is_empty())
            .cloned()
    };
    spec.run_now = annotation(ANNOTATION_RUN_NOW);
    spec.mark_success = annotation(ANNOTATION_MARK_SUCCEEDED);
    (spec, errors)
}

fn failure_policy(job: &BatchJob) -> FailurePolicy {
    let s = &job.spec;
    FailurePolicy {
        retries: u32::try_from(s.retries).unwrap_or(0),
        backoff: Backoff {
            initial: SignedDuration::from_secs(s.backoff.initial_seconds),
            factor: s.backoff.factor,
            cap: SignedDuration::from_secs(s.backoff.max_seconds),
        },
        disable_after_failures: s.disable_after_failures.and_then(|n| u32::try_from(n).ok()),
        soft_error: s.soft_error,
    }
}

/// A Task's state as the planner sees it.
pub fn task_phase(state: Option<TaskState>) -> TaskPhase {
    match state {
        None | Some(TaskState::Staging | TaskState::Starting) => TaskPhase::Pending,
        Some(TaskState::Finished) => TaskPhase::Succeeded,
        Some(TaskState::Killed) => TaskPhase::Killed,
        Some(
            TaskState::Failed
            | TaskState::Error
            | TaskState::Dropped
            | TaskState::Gone
            | TaskState::GoneByOperator,
        ) => TaskPhase::Failed,
        // Running, killing, or lost/unreachable (may come back): still in flight.
        Some(
            TaskState::Running
            | TaskState::Killing
            | TaskState::Lost
            | TaskState::Unreachable
            | TaskState::Unknown,
        ) => TaskPhase::Running,
    }
}

/// The job's Tasks as the planner sees them.
pub fn observed_tasks<'a>(tasks: impl IntoIterator<Item = &'a Task>) -> Vec<ObservedTask> {
    tasks
        .into_iter()
        .map(|task| {
            let status = task.status.as_ref();
            ObservedTask {
                name: task.name_any(),
                phase: task_phase(task.state()),
                exit_code: status.and_then(|s| s.exit_code),
                finished_at: status.and_then(|s| s.finish_time.as_ref()).map(|t| t.0),
            }
        })
        .collect()
}

/// Whether `task` is a run of job `job` in namespace `ns`.
pub fn is_run_of(task: &Task, ns: &str, job: &str) -> bool {
    task.namespace().as_deref() == Some(ns)
        && task.labels().get(LABEL_BATCHJOB).map(String::as_str) == Some(job)
}

/// The last good run a job's status shows its dependents.
pub fn last_good(job: &BatchJob) -> Option<RunRef> {
    let good = job.status.as_ref()?.last_good.as_ref()?;
    Some(RunRef {
        name: good.name.clone(),
        finished_at: good.finished_at.0,
    })
}

/// The graph of the jobs of one namespace.
pub fn graph_view<'a>(jobs: impl IntoIterator<Item = &'a BatchJob>) -> GraphView {
    GraphView {
        jobs: jobs
            .into_iter()
            .filter(|job| job.metadata.deletion_timestamp.is_none())
            .map(|job| {
                (
                    job.name_any(),
                    JobNode {
                        parents: job.spec.parents.clone(),
                        last_good: last_good(job),
                    },
                )
            })
            .collect(),
    }
}

/// The ledger in a job's status (empty for a new job).
pub fn ledger_of(job: &BatchJob) -> Result<Ledger, serde_json::Error> {
    match job.status.as_ref().and_then(|s| s.ledger.as_ref()) {
        None => Ok(Ledger::default()),
        Some(value) => serde_json::from_value(value.clone()),
    }
}

/// An Event's reason.
pub fn event_reason(kind: JobEventKind) -> &'static str {
    match kind {
        JobEventKind::RunStarted => "RunStarted",
        JobEventKind::RetryScheduled => "RetryScheduled",
        JobEventKind::RetryStarted => "RetryStarted",
        JobEventKind::RunSucceeded => "RunSucceeded",
        JobEventKind::RunFailed => "RunFailed",
        JobEventKind::RunTimedOut => "RunTimedOut",
        JobEventKind::RunReplaced => "RunReplaced",
        JobEventKind::SlotsSkipped => "SlotsSkipped",
        JobEventKind::MarkedSucceeded => "MarkedSucceeded",
        JobEventKind::JobDisabled => "JobDisabled",
        JobEventKind::JobEnabled => "JobEnabled",
    }
}

/// The `Blocked` condition of a job whose spec the planner cannot read.
pub fn invalid_condition(errors: &[SpecError]) -> JobCondition {
    JobCondition {
        kind: ConditionKind::Blocked,
        status: true,
        reason: "InvalidSpec",
        message: errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
    }
}

fn phase(conditions: &Vec<Condition>, active: bool) -> &'static str {
    let is = |t: ConditionKind| conditions.is_true(t);
    let reason = |t: ConditionKind| conditions.get_condition(t).map(|c| c.reason.as_str());
    if is(ConditionKind::Blocked) {
        "Blocked"
    } else if is(ConditionKind::Disabled) {
        "Disabled"
    } else if is(ConditionKind::Suspended) {
        "Suspended"
    } else if active {
        "Running"
    } else if reason(ConditionKind::Blocked) == Some("WaitingForParents") {
        "Waiting"
    } else if is(ConditionKind::Scheduled) {
        "Scheduled"
    } else if reason(ConditionKind::Scheduled) == Some("Finished") {
        "Finished"
    } else {
        "Idle"
    }
}

/// The status after a plan: the ledger and its summary, conditions (transition times kept
/// from `previous`), the next slot.
pub fn status_after(
    job: &BatchJob,
    plan: &JobPlan,
    schedule: Option<&Schedule>,
    now: Timestamp,
) -> BatchJobStatus {
    let previous = job.status.clone().unwrap_or_default();
    let generation = job.metadata.generation;
    let at = Time(now);
    let mut conditions = previous.conditions.clone();
    for c in &plan.conditions {
        conditions.set(
            c.kind,
            ConditionStatus::from_bool(c.status),
            c.reason,
            &c.message,
            generation,
            &at,
        );
    }
    let ledger = &plan.ledger;
    let next = schedule.and_then(|s| s.next_after(now.max(ledger.last_slot.unwrap_or(now))));
    BatchJobStatus {
        observed_generation: generation,
        phase: Some(phase(&conditions, !ledger.active.is_empty()).to_string()),
        last_schedule_time: ledger.last_slot.map(Time),
        next_schedule_time: next.map(Time),
        active: ledger.active.iter().map(|r| r.task.clone()).collect(),
        success_count: ledger.counters.successes,
        error_count: ledger.counters.errors,
        errors_since_last_success: ledger.counters.errors_since_last_success,
        skipped_slots: ledger.skipped_slots,
        last_success: ledger.counters.last_success.map(Time),
        last_error: ledger.counters.last_error.map(Time),
        last_good: ledger.last_good.as_ref().map(|r| GoodRun {
            name: r.name.clone(),
            finished_at: Time(r.finished_at),
        }),
        conditions,
        ledger: serde_json::to_value(ledger).ok(),
    }
}

/// The status of a job whose spec could not be read: conditions only, the ledger kept.
pub fn invalid_status(job: &BatchJob, errors: &[SpecError], now: Timestamp) -> BatchJobStatus {
    let mut status = job.status.clone().unwrap_or_default();
    let c = invalid_condition(errors);
    status.conditions.set(
        c.kind,
        ConditionStatus::True,
        c.reason,
        &c.message,
        job.metadata.generation,
        &Time(now),
    );
    status.observed_generation = job.metadata.generation;
    status.phase = Some("Blocked".to_string());
    status
}

fn trigger_kind(trigger: &RunTrigger) -> &'static str {
    match trigger {
        RunTrigger::Slot { .. } => "slot",
        RunTrigger::Parents { .. } => "parents",
        RunTrigger::SlotAndParents { .. } => "slot-and-parents",
        RunTrigger::Manual { .. } => "manual",
    }
}

/// The Task of one run attempt: the job's command or template and resources, under its
/// framework, labelled with the job and owned by it.
pub fn task_for(job: &BatchJob, create: &TaskToCreate, now: Timestamp) -> Task {
    let mut annotations = job.spec.run_annotations.clone();
    annotations.extend([
        (ANNOTATION_FIRED_AT.to_string(), format!("{:.3}", now)),
        (
            "mesos.operator.dev/trigger".to_string(),
            trigger_kind(&create.trigger).to_string(),
        ),
        (
            "mesos.operator.dev/attempt".to_string(),
            create.attempt.to_string(),
        ),
    ]);
    if let Some(slot) = create.trigger.slot() {
        annotations.insert(ANNOTATION_SLOT.to_string(), slot.to_string());
    }
    let owner = OwnerReference {
        api_version: BatchJob::api_version(&()).to_string(),
        kind: BatchJob::kind(&()).to_string(),
        name: job.name_any(),
        uid: job.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    };
    Task {
        metadata: ObjectMeta {
            name: Some(create.name.clone()),
            namespace: job.namespace(),
            labels: Some(BTreeMap::from([
                (LABEL_BATCHJOB.to_string(), job.name_any()),
                (LABEL_MANAGED_BY.to_string(), MANAGER.to_string()),
            ])),
            annotations: Some(annotations),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: TaskSpec {
            framework: framework_of(job).to_string(),
            offer: None,
            resources: job.spec.resources.clone(),
            command: job.spec.command.clone(),
            template: job.spec.template.clone(),
            health_check: None,
            kill_policy: None,
            max_completion_time: None,
            kill: false,
            placement: None,
            random_ports: Vec::new(),
            readiness_check: None,
        },
        status: None,
    }
}

#[cfg(test)]
mod tests;
