//! `Framework`: a registered Mesos framework.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::core::Duration;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::resources::Resources;
use super::task::{TaskReason, TaskSource, TaskState};

/// A Mesos framework: a scheduler with a role, capabilities and offer settings. Tasks name
/// their framework in `spec.framework`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "mesos.operator.dev",
    version = "v1alpha1",
    kind = "Framework",
    namespaced,
    status = "FrameworkStatus",
    shortname = "fw",
    category = "mesos",
    derive = "PartialEq",
    doc = "A Mesos framework: a scheduler with a role, capabilities and offer settings.",
    printcolumn(name = "Role", type_ = "string", json_path = ".spec.role"),
    printcolumn(name = "Scheduler", type_ = "string", json_path = ".spec.scheduler"),
    printcolumn(
        name = "Registered",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Registered\")].status"
    ),
    printcolumn(
        name = "Connected",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Connected\")].status"
    ),
    printcolumn(
        name = "Running",
        type_ = "integer",
        json_path = ".status.tasks.running"
    ),
    printcolumn(name = "Offers", type_ = "integer", json_path = ".status.offers"),
    printcolumn(
        name = "Share",
        type_ = "number",
        json_path = ".status.dominantSharePercent"
    ),
    printcolumn(
        name = "Finished",
        type_ = "integer",
        json_path = ".status.tasks.finished",
        priority = 1
    ),
    printcolumn(
        name = "Failed",
        type_ = "integer",
        json_path = ".status.tasks.failed",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct FrameworkSpec {
    /// The Mesos role whose share and quota this framework's resources count against.
    /// `*` is the default role.
    #[serde(default = "default_role")]
    #[x_kube(validation = Rule::new("self == '*' || self.matches('^[a-zA-Z0-9_][a-zA-Z0-9_.-]*(/[a-zA-Z0-9_][a-zA-Z0-9_.-]*)*$')").message("role must be '*' or a Mesos role name: '/'-separated components of letters, digits, '_', '-' and '.', none empty or starting with '.' or '-'"))]
    #[schemars(length(min = 1, max = 128))]
    pub role: String,

    /// Mesos framework capabilities. `PartitionAware` changes what a partitioned task
    /// reports (TASK_UNREACHABLE/TASK_GONE instead of TASK_LOST); `TaskKillingState`
    /// makes a kill report TASK_KILLING before TASK_KILLED.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"), length(max = 4))]
    pub capabilities: Vec<FrameworkCapability>,

    /// How long a disconnected framework's tasks keep running before the framework is
    /// torn down (Mesos `failover_timeout`). A Go duration from 0s to 87600h, e.g. `168h`.
    /// Defaults to one week, as Marathon does, not to Mesos' 0.
    #[serde(default = "default_failover_timeout")]
    #[schemars(schema_with = "super::schema::failover_timeout")]
    pub failover_timeout: Duration,

    /// Who places this framework's tasks. `Builtin`: the operator does, tasks need no
    /// offer. `External`: a scheduler program answers resource offers and every task
    /// must name the offer it was launched on.
    #[serde(default)]
    pub scheduler: SchedulerKind,

    /// Offer settings (External frameworks).
    #[serde(default)]
    pub offers: OfferSettings,

    /// Explicit reconciliation (Mesos RECONCILE): set a new `id` to ask for the current
    /// state of the named tasks (all of the framework's tasks when `tasks` is empty —
    /// implicit reconciliation). The answer is `status.reconciliation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<ReconcileRequest>,
}

/// A reconciliation request.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileRequest {
    /// Any new value asks again.
    #[schemars(length(min = 1, max = 128))]
    pub id: String,
    /// Task names; empty asks for every task of the framework.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000), inner(length(min = 1, max = 253), regex(pattern = super::schema::OBJECT_NAME)))]
    pub tasks: Vec<String>,
}

/// The answer to a reconciliation request: one fresh status per named task, with
/// `REASON_RECONCILIATION` and `SOURCE_MASTER`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReconciliationAnswer {
    /// The request's `id`.
    pub id: String,
    /// When it was answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<Time>,
    /// One entry per task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100000))]
    pub tasks: Vec<ReconciledTask>,
}

/// One task's state in a reconciliation answer.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReconciledTask {
    /// The task's name.
    pub name: String,
    /// Its latest state (TASK_UNKNOWN or TASK_LOST for a task the operator never knew).
    pub state: TaskState,
    /// Always `REASON_RECONCILIATION`.
    pub reason: TaskReason,
    /// Always `SOURCE_MASTER`.
    pub source: TaskSource,
    /// The agent, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Why the task is in its state, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn default_role() -> String {
    "*".to_string()
}

fn default_failover_timeout() -> Duration {
    Duration::from(std::time::Duration::from_secs(7 * 24 * 3600))
}

/// Mesos `FrameworkInfo.Capability`.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameworkCapability {
    /// TASK_UNREACHABLE, TASK_GONE, TASK_DROPPED … instead of TASK_LOST.
    PartitionAware,
    /// Kills report TASK_KILLING before TASK_KILLED.
    TaskKillingState,
    /// The framework may receive offers with GPUs.
    GpuResources,
    /// The framework may be offered agents in other regions.
    RegionAware,
}

/// Who places a framework's tasks.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum SchedulerKind {
    /// The operator places the framework's pending tasks itself (no Offer objects).
    #[default]
    Builtin,
    /// A scheduler program receives Offers and launches tasks on them.
    External,
}

/// A framework's offer settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OfferSettings {
    /// No offers while true (Mesos SUPPRESS); setting it back to false revives (Mesos
    /// REVIVE) and clears decline filters.
    #[serde(default)]
    pub suppressed: bool,

    /// How long a declined agent is not offered again to this framework (Mesos
    /// `Filters.refuse_seconds`).
    #[serde(default = "default_refuse_seconds")]
    #[schemars(range(min = 0, max = 31_536_000))]
    pub refuse_seconds: u32,

    /// How long an unanswered offer stays valid before it is rescinded. A Go duration from
    /// 1s to 24h.
    #[serde(default = "default_offer_timeout")]
    #[schemars(schema_with = "super::schema::offer_timeout")]
    pub timeout: Duration,

    /// Resources below this are not offered (Mesos `min_allocatable_resources`).
    /// Defaults to `cpus: 0.01, mem: 32`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_allocatable: Option<Resources>,
}

impl Default for OfferSettings {
    fn default() -> Self {
        Self {
            suppressed: false,
            refuse_seconds: default_refuse_seconds(),
            timeout: default_offer_timeout(),
            min_allocatable: None,
        }
    }
}

fn default_refuse_seconds() -> u32 {
    5
}

fn default_offer_timeout() -> Duration {
    Duration::from(std::time::Duration::from_secs(30))
}

/// Observed state of a Framework.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FrameworkStatus {
    /// The Mesos framework ID (the Framework object's UID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<String>,

    /// The `metadata.generation` this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// When the framework was registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_time: Option<Time>,

    /// `Registered`, …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::condition::conditions_schema")]
    pub conditions: Vec<Condition>,

    /// The framework's tasks by state.
    #[serde(default)]
    pub tasks: TaskCounts,

    /// Resources of the framework's launched, non-terminal tasks.
    #[serde(default)]
    pub allocated: Resources,

    /// Outstanding offers (External frameworks).
    #[serde(default)]
    pub offers: u32,

    /// Resources of the outstanding offers.
    #[serde(default)]
    pub offered: Resources,

    /// The framework's dominant share of the cluster (allocated and offered), in percent.
    #[serde(default)]
    pub dominant_share_percent: f64,

    /// When the scheduler's Lease expires unless renewed (External frameworks that use
    /// one); kept so a deleted Lease still counts from its last expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_expires_at: Option<Time>,

    /// The answer to the last reconciliation request (`spec.reconcile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciliation: Option<ReconciliationAnswer>,

    /// Whether offers were suppressed when last reconciled (a change to false revives:
    /// decline filters are cleared).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suppressed: bool,
}

/// Number of a framework's tasks in each state.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct TaskCounts {
    pub staging: u32,
    pub starting: u32,
    pub running: u32,
    pub killing: u32,
    pub finished: u32,
    pub failed: u32,
    pub killed: u32,
    pub error: u32,
    pub lost: u32,
    pub dropped: u32,
    pub unreachable: u32,
    pub gone: u32,
    pub gone_by_operator: u32,
    pub unknown: u32,
}

impl TaskCounts {
    /// Counts one more task in `state`.
    pub fn add(&mut self, state: TaskState) {
        let slot = match state {
            TaskState::Staging => &mut self.staging,
            TaskState::Starting => &mut self.starting,
            TaskState::Running => &mut self.running,
            TaskState::Killing => &mut self.killing,
            TaskState::Finished => &mut self.finished,
            TaskState::Failed => &mut self.failed,
            TaskState::Killed => &mut self.killed,
            TaskState::Error => &mut self.error,
            TaskState::Lost => &mut self.lost,
            TaskState::Dropped => &mut self.dropped,
            TaskState::Unreachable => &mut self.unreachable,
            TaskState::Gone => &mut self.gone,
            TaskState::GoneByOperator => &mut self.gone_by_operator,
            TaskState::Unknown => &mut self.unknown,
        };
        *slot += 1;
    }
}

impl Framework {
    /// Whether the framework declared `cap`.
    pub fn has_capability(&self, cap: FrameworkCapability) -> bool {
        self.spec.capabilities.contains(&cap)
    }

    /// Whether the framework is torn down or being deleted: its tasks are killed.
    pub fn is_torn_down(&self) -> bool {
        use super::condition::Conditions;
        self.metadata.deletion_timestamp.is_some()
            || self
                .status
                .as_ref()
                .is_some_and(|s| s.conditions.is_true(FrameworkCondition::TornDown))
    }

    /// Whether the framework may receive offers and launch tasks (registered, not
    /// disconnected, not torn down).
    pub fn is_connected(&self) -> bool {
        use super::condition::Conditions;
        self.is_registered()
            && !self.is_torn_down()
            && self
                .status
                .as_ref()
                .and_then(|s| s.conditions.get_condition(FrameworkCondition::Connected))
                .is_none_or(|c| c.status != "False")
    }

    /// Whether the framework is registered (condition `Registered=True`).
    pub fn is_registered(&self) -> bool {
        use super::condition::Conditions;
        self.status.as_ref().is_some_and(|s| {
            s.conditions
                .is_true(crate::api::framework::FrameworkCondition::Registered)
        })
    }
}

super::condition::condition_types! {
    /// The condition types of a Framework.
    FrameworkCondition {
        /// The framework is registered with the operator.
        Registered,
        /// The framework's scheduler is connected (its Lease is renewed).
        Connected,
        /// The framework was torn down (failover timeout passed, or deleted).
        TornDown,
    }
}
