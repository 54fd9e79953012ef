//! `BatchJob`: a scheduled and/or dependent batch job, Chronos- and Aurora-style (issue 14).
//!
//! Each run is a [`Task`](super::Task) named after the job and what it serves (a slot, a
//! set of parent runs, a manual token), so a slot runs at most once across restarts. The
//! decisions live in `mesos_model::jobs`; the ledger they resume from is `status.ledger`.
//!
//! Everything the Rust types refuse is refused by the schema first: strings for durations
//! carry a pattern, time zones are an enum of the bundled tz database, numbers have bounds.
//! What only Rust can judge (an ISO 8601 start that is not a date, a cron expression that
//! never fires) becomes the `Blocked` condition with reason `InvalidSpec`, naming the field.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::resources::Resources;
use super::task::CommandSpec;

/// Label on every Task a BatchJob runs: the job's name.
pub const LABEL_BATCHJOB: &str = "mesos.operator.dev/batchjob";
/// Annotation on a run's Task: the slot it serves (RFC 3339), when it serves one.
pub const ANNOTATION_SLOT: &str = "mesos.operator.dev/slot";
/// Annotation on a run's Task: when the operator asked for it (RFC 3339, milliseconds).
pub const ANNOTATION_FIRED_AT: &str = "mesos.operator.dev/fired-at";
/// Annotation on a BatchJob: a new value starts one manual run ("run now").
pub const ANNOTATION_RUN_NOW: &str = "mesos.operator.dev/run-now";
/// Annotation on a BatchJob: a new value records a success that triggers dependents
/// ("mark succeeded").
pub const ANNOTATION_MARK_SUCCEEDED: &str = "mesos.operator.dev/mark-succeeded";
/// The Framework a job runs under when it names none: a Builtin one, created if missing.
pub const DEFAULT_FRAMEWORK: &str = "batch";

/// A Go duration (`90s`, `1h30m`, `500ms`), as kube's `Duration` parses it.
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$";

/// The shapes a schedule may have: an ISO 8601 repeating interval, a cron macro, or five or
/// six cron fields. The schedule's own parser judges the rest (reported as a condition).
pub const SCHEDULE_PATTERN: &str = concat!(
    r"^\s*(",
    r"[Rr][0-9]*/[0-9A-Za-z:.,+-]*/[Pp]([0-9]+([.,][0-9]+)?[YMWD])*([Tt]([0-9]+([.,][0-9]+)?[HMS])+)?",
    r"|@(yearly|annually|monthly|weekly|daily|midnight|hourly)",
    r"|[0-9A-Za-z*?,/-]+(\s+[0-9A-Za-z*?,/-]+){4,5}",
    r")\s*$"
);

/// A DNS-1123 subdomain (a job's name).
const NAME_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// A batch job: what to run (like a Task), when (an ISO 8601 repeating interval or cron, in
/// a time zone) and after what (parent jobs), with retries, a concurrency policy, an
/// explicit catch-up policy and a ledger in its status.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "mesos.operator.dev",
    version = "v1alpha1",
    kind = "BatchJob",
    namespaced,
    status = "BatchJobStatus",
    shortname = "bjob",
    category = "mesos",
    derive = "PartialEq",
    doc = "A scheduled and/or dependent batch job (Chronos, Aurora cron); each run is a Task.",
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.schedule"),
    printcolumn(name = "Last", type_ = "date", json_path = ".status.lastScheduleTime"),
    printcolumn(
        name = "Next",
        type_ = "string",
        json_path = ".status.nextScheduleTime"
    ),
    printcolumn(name = "Status", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Succeeded",
        type_ = "integer",
        json_path = ".status.successCount",
        priority = 1
    ),
    printcolumn(
        name = "Failed",
        type_ = "integer",
        json_path = ".status.errorCount",
        priority = 1
    ),
    printcolumn(
        name = "Parents",
        type_ = "string",
        json_path = ".spec.parents",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("has(self.command) != has(self.template)").message("exactly one of spec.command or spec.template must be set"))]
#[serde(rename_all = "camelCase")]
pub struct BatchJobSpec {
    /// The Framework (same namespace) the runs belong to, so DRF, weights and quota apply.
    /// Default: `batch`, a Builtin framework the operator creates when it is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub framework: Option<String>,

    /// Resources of each run's Task. `cpus` and `mem` must be greater than 0.
    #[x_kube(validation = Rule::new("has(self.cpus) && self.cpus > 0.0").message("spec.resources.cpus must be greater than 0").field_path(".cpus"))]
    #[x_kube(validation = Rule::new("has(self.mem) && self.mem > 0.0").message("spec.resources.mem must be greater than 0").field_path(".mem"))]
    pub resources: Resources,

    /// A command to run (as a Task's). Exactly one of `command` and `template`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandSpec>,

    /// A pod template (as a Task's). Exactly one of `command` and `template`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::task::pod_template_schema")]
    pub template: Option<serde_json::Value>,

    /// Annotations copied onto each run's Task (and so onto its Pod).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub run_annotations: BTreeMap<String, String>,

    /// When the job runs by the clock: an ISO 8601 repeating interval
    /// `R[n]/<start>/<period>` (Chronos; an empty start is the job's creation) or a cron
    /// expression (five fields, or six with leading seconds, or `@daily` etc.). Without a
    /// schedule the job runs on its parents, or by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256), regex(pattern = SCHEDULE_PATTERN))]
    pub schedule: Option<String>,

    /// The IANA time zone of the schedule (default UTC); daylight-saving changes follow
    /// one rule: a wall clock in a gap fires at the gap's end, in a repeat once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "time_zone_schema")]
    pub time_zone: Option<String>,

    /// Jobs (same namespace) that must all have succeeded since this job's last run
    /// before it runs. With a schedule too, a due slot waits for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), extend("x-kubernetes-list-type" = "set"), inner(length(min = 1, max = 253), regex(pattern = NAME_PATTERN)))]
    pub parents: Vec<String>,

    /// What a due run does while another runs: `Forbid` (default; Chronos
    /// `concurrent: false`, Aurora CANCEL_NEW), `Allow`, or `Replace` (Aurora
    /// KILL_EXISTING).
    #[serde(default)]
    pub concurrency_policy: JobConcurrencyPolicy,

    /// What happens to slots missed while the operator was down (or the job was noticed
    /// late). Default: `Latest`.
    #[serde(default)]
    pub catch_up: CatchUpSpec,

    /// A slot noticed more than this many seconds late is skipped, whatever the catch-up
    /// policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 31_536_000))]
    pub starting_deadline_seconds: Option<i64>,

    /// Extra attempts after a failed first one (Chronos' default: 2).
    #[serde(default = "default_retries")]
    #[schemars(range(min = 0, max = 100))]
    pub retries: i32,

    /// The wait between attempts.
    #[serde(default)]
    pub backoff: BackoffSpec,

    /// An attempt running longer is killed and counts as failed (a Go duration, `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 64), regex(pattern = DURATION_PATTERN))]
    pub max_completion_time: Option<String>,

    /// A failed run still triggers dependents (it still counts as an error here).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub soft_error: bool,

    /// Disable the job after this many failed runs in a row; editing the job re-enables it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10_000))]
    pub disable_after_failures: Option<i32>,

    /// No new runs while true (due slots are skipped and recorded; runs in flight go on).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,

    /// How many successful runs keep their Tasks.
    #[serde(default = "default_successful_history")]
    #[schemars(range(min = 0, max = 100))]
    pub successful_runs_history_limit: i32,

    /// How many unsuccessful runs keep their Tasks.
    #[serde(default = "default_failed_history")]
    #[schemars(range(min = 0, max = 100))]
    pub failed_runs_history_limit: i32,
}

fn default_retries() -> i32 {
    2
}
fn default_successful_history() -> i32 {
    3
}
fn default_failed_history() -> i32 {
    1
}

/// Time zones are the names of the tz database bundled into the operator (the one the
/// schedules are computed with), so an unknown zone is refused at apply time.
fn time_zone_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut names: Vec<String> = k8s_openapi::jiff::tz::TimeZoneDatabase::bundled()
        .available()
        .map(|name| name.as_str().to_string())
        .collect();
    names.sort();
    names.dedup();
    schemars::json_schema!({
        "type": "string",
        "description": "The IANA time zone of the schedule (default UTC), one of the tz database bundled into the operator.",
        "enum": names,
    })
}

/// `concurrencyPolicy`.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum JobConcurrencyPolicy {
    /// Runs may overlap.
    Allow,
    /// A due slot is skipped while a run is in flight.
    #[default]
    Forbid,
    /// A due slot kills the runs in flight and starts.
    Replace,
}

/// The catch-up policy's kind.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum CatchUpKind {
    /// Only a slot noticed on time runs.
    None,
    /// The latest missed slot runs (Chronos and CronJob, but recorded).
    #[default]
    Latest,
    /// Every missed slot within `window` runs, the latest `max` of them.
    All,
}

/// `catchUp`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new("self.policy == 'All' || (!has(self.window) && !has(self.max))").message("spec.catchUp.window and spec.catchUp.max apply to policy All only"))]
#[serde(rename_all = "camelCase")]
pub struct CatchUpSpec {
    /// `None`, `Latest` (default) or `All`.
    #[serde(default)]
    pub policy: CatchUpKind,
    /// `All`: how far back missed slots still run (a Go duration; default `24h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 64), regex(pattern = DURATION_PATTERN))]
    pub window: Option<String>,
    /// `All`: how many missed slots at most one catch-up runs (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub max: Option<i32>,
}

/// `backoff`: the wait before retry n is `min(maxSeconds, initialSeconds × factor^(n-1))`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("self.initialSeconds <= self.maxSeconds").message("spec.backoff.initialSeconds must not exceed spec.backoff.maxSeconds"))]
#[serde(rename_all = "camelCase")]
pub struct BackoffSpec {
    /// Seconds before the first retry (default 60).
    #[serde(default = "default_initial_seconds")]
    #[schemars(range(min = 0, max = 86_400))]
    pub initial_seconds: i64,
    /// Growth per retry, at least 1 (default 2).
    #[serde(default = "default_factor")]
    #[schemars(range(min = 1.0, max = 100.0))]
    pub factor: f64,
    /// The longest wait in seconds (default 600).
    #[serde(default = "default_max_seconds")]
    #[schemars(range(min = 0, max = 86_400))]
    pub max_seconds: i64,
}

impl Default for BackoffSpec {
    fn default() -> Self {
        BackoffSpec {
            initial_seconds: default_initial_seconds(),
            factor: default_factor(),
            max_seconds: default_max_seconds(),
        }
    }
}

fn default_initial_seconds() -> i64 {
    60
}
fn default_factor() -> f64 {
    2.0
}
fn default_max_seconds() -> i64 {
    600
}

/// The latest run of a job that dependents count as a success.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GoodRun {
    /// The run's Task name (or the name of a manual "mark succeeded").
    pub name: String,
    /// When it finished.
    pub finished_at: Time,
}

/// What the operator reports about a BatchJob. `ledger` is all it resumes from.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BatchJobStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// One word for people: Scheduled, Waiting, Running, Suspended, Disabled, Blocked,
    /// Finished or Idle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The latest slot accounted for (run, skipped or pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// The next slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<Time>,
    /// The Tasks of the runs in flight.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub active: Vec<String>,
    /// Runs that succeeded (or were marked succeeded).
    #[serde(default)]
    pub success_count: u64,
    /// Runs that failed after all their attempts.
    #[serde(default)]
    pub error_count: u64,
    /// Failed runs since the last success.
    #[serde(default)]
    pub errors_since_last_success: u64,
    /// Slots skipped (catch-up, concurrency, suspension, ...), at least this many.
    #[serde(default)]
    pub skipped_slots: u64,
    /// When the last success finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<Time>,
    /// When the last error happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<Time>,
    /// The run dependents see: child jobs' edges compare it with what they consumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_good: Option<GoodRun>,
    /// `Scheduled`, `Running`, `Blocked`, `Suspended`, `Disabled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::condition::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The durable ledger (parent edges, runs in flight, bounded history, counters, skipped
    /// slots, manual tokens), as `mesos_model::jobs::ledger::Ledger` serializes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "ledger_schema")]
    pub ledger: Option<serde_json::Value>,
}

fn ledger_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "description": "The job's durable ledger: everything the operator resumes from.",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// The condition types of a BatchJob (set by the job plan).
pub use mesos_model::jobs::plan::ConditionKind as JobCondition;
