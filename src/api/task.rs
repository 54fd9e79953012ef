//! `Task`: a Mesos task, reconciled to one Pod.

use k8s_openapi::api::core::v1::EnvVar;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::core::Duration;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::resources::Resources;

/// The default container image of a `command` task.
pub const DEFAULT_IMAGE: &str = "busybox:1.37";

/// How many transitions `status.history` keeps (the oldest are dropped first).
pub const HISTORY_LIMIT: usize = 16;

/// A Mesos task: resources and what to run, launched by a framework. The operator runs it
/// as one Pod and reports its state the Mesos way (`status.state`) and the Kubernetes way
/// (`status.conditions`).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "mesos.operator.dev",
    version = "v1alpha1",
    kind = "Task",
    namespaced,
    status = "TaskStatus",
    shortname = "mtask",
    category = "mesos",
    derive = "PartialEq",
    doc = "A Mesos task, run as one Pod.",
    printcolumn(name = "State", type_ = "string", json_path = ".status.state"),
    printcolumn(name = "Framework", type_ = "string", json_path = ".spec.framework"),
    printcolumn(name = "Agent", type_ = "string", json_path = ".status.agent"),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.reason",
        priority = 1
    ),
    printcolumn(
        name = "Exit",
        type_ = "integer",
        json_path = ".status.exitCode",
        priority = 1
    ),
    printcolumn(
        name = "Ports",
        type_ = "string",
        json_path = ".status.hostPorts",
        priority = 1
    ),
    printcolumn(
        name = "Ready",
        type_ = "boolean",
        json_path = ".status.ready",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("has(self.command) != has(self.template)").message("exactly one of spec.command or spec.template must be set"))]
#[x_kube(validation = Rule::new("has(self.offer) == has(oldSelf.offer)").message("spec.offer is immutable").field_path(".offer"))]
#[x_kube(validation = Rule::new("!has(oldSelf.kill) || !oldSelf.kill || (has(self.kill) && self.kill)").message("spec.kill cannot be undone once true").field_path(".kill"))]
#[x_kube(validation = Rule::new("!has(self.randomPorts) || size(self.randomPorts) == 0 || !has(self.offer)").message("spec.randomPorts: only tasks the allocator places (Builtin frameworks, no spec.offer) get ports from the agent's range").field_path(".randomPorts"))]
#[serde(rename_all = "camelCase")]
pub struct TaskSpec {
    /// Name of the Framework (same namespace) this task belongs to. Immutable.
    #[schemars(length(min = 1, max = 253), regex(pattern = super::schema::OBJECT_NAME))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.framework is immutable"))]
    pub framework: String,

    /// Name of the Offer (same namespace) the task was launched on. Required for tasks of
    /// External frameworks, optional otherwise. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = super::schema::OBJECT_NAME))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.offer is immutable"))]
    pub offer: Option<String>,

    /// Resources the task needs; they become the Pod's requests and limits. `cpus` and
    /// `mem` must be greater than 0. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.resources is immutable"))]
    #[x_kube(validation = Rule::new("has(self.cpus) && self.cpus > 0.0").message("spec.resources.cpus must be greater than 0").field_path(".cpus"))]
    #[x_kube(validation = Rule::new("has(self.mem) && self.mem > 0.0").message("spec.resources.mem must be greater than 0").field_path(".mem"))]
    pub resources: Resources,

    /// A command to run (Mesos CommandInfo). Exactly one of `command` and `template`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandSpec>,

    /// A full pod template (a Mesos task group: several containers sharing the task's
    /// resources). Exactly one of `command` and `template`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "pod_template_schema")]
    pub template: Option<serde_json::Value>,

    /// A health check; it sets `status.healthy` and kills the task after
    /// `consecutiveFailures` failures, as Mesos does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,

    /// How the task is killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,

    /// The task fails with REASON_MAX_COMPLETION_TIME_REACHED if it runs longer than this
    /// (a Go duration from 1s to 8760h, e.g. `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::max_completion_time")]
    pub max_completion_time: Option<Duration>,

    /// Set to true to kill the task (Mesos KILL). Cannot be undone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kill: bool,
    /// Placement constraints (Marathon's operators) over the live tasks of a group, for
    /// tasks the allocator places (Builtin frameworks). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.placement is immutable"))]
    pub placement: Option<TaskPlacement>,
    /// Host ports the allocator takes from the agent's free port range when it places the
    /// task (Marathon `portDefinitions` with port 0, or `requirePorts: false`): one per
    /// entry, never a port another live task (or launch in flight) holds on that agent.
    /// The ports chosen are the Pod's `hostPort`/`containerPort`, listed in
    /// `status.hostPorts`, and exported as `PORT<i>` (after the fixed ports of
    /// `resources.ports`), `PORTS` and `PORT_<NAME>`. Only for tasks without
    /// `spec.offer`. Immutable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.randomPorts is immutable"))]
    pub random_ports: Vec<RandomPort>,
    /// A readiness check (Marathon's readiness checks): an HTTP GET the Pod's startup
    /// probe runs until it first passes; `status.ready` reports it. It never kills the
    /// task. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.readinessCheck is immutable"))]
    pub readiness_check: Option<ReadinessCheck>,
}

/// A host port taken from the agent's range when the task is placed.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RandomPort {
    /// The port's name: the container port's name (an IANA service name: at most 15
    /// lowercase letters, digits and single hyphens, with a letter) and `PORT_<NAME>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 15), regex(pattern = PORT_NAME_PATTERN))]
    pub name: Option<String>,
    /// The service port it stands for (Marathon's `portDefinitions[].port` without
    /// `requirePorts`), exported as `PORT_<servicePort>` = the host port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub service_port: Option<u16>,
}

/// An IANA service name (a container port's name): lowercase letters, digits and single
/// hyphens, at least one letter, no hyphen at either end.
pub const PORT_NAME_PATTERN: &str = r"^([a-z0-9]+-)*[a-z0-9]*[a-z][a-z0-9]*(-[a-z0-9]+)*$";

/// A readiness check: an HTTP(S) GET on a port of the task, ready once it answers 200–399
/// (the kubelet's HTTP probe; Marathon's `httpStatusCodesForReady` cannot be told apart by
/// it and is not offered). It becomes the first container's `startupProbe` (checked until
/// it first passes, as Marathon checks readiness only until the instance is ready), with no
/// failure limit: a check that never passes keeps the task not ready, it does not kill it.
/// While it has not passed, the kubelet runs no health (readiness/liveness) probe.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("has(self.portName) != has(self.port)").message("exactly one of portName or port must be set"))]
#[serde(rename_all = "camelCase")]
pub struct ReadinessCheck {
    /// The name of one of the task's ports (`randomPorts[].name`, or a port name of the
    /// pod template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 15), regex(pattern = PORT_NAME_PATTERN))]
    pub port_name: Option<String>,
    /// A port number of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// Path to GET (Marathon's default `/`).
    #[serde(default = "default_path")]
    #[schemars(length(min = 1, max = 4096))]
    pub path: String,
    /// `HTTP` or `HTTPS`.
    #[serde(default)]
    pub scheme: HttpScheme,
    /// Seconds between checks (Marathon's default 30).
    #[serde(default = "default_readiness_interval")]
    #[schemars(range(min = 1, max = 86_400))]
    pub interval_seconds: i32,
    /// Seconds after which a check counts as failed (Marathon's default 10).
    #[serde(default = "default_readiness_timeout")]
    #[schemars(range(min = 1, max = 86_400))]
    pub timeout_seconds: i32,
}

fn default_readiness_interval() -> i32 {
    30
}
fn default_readiness_timeout() -> i32 {
    10
}

/// Where a task may go, judged against the other live tasks of its group (Marathon's app
/// instances): every task of the same framework with the same `group`, launches in flight
/// included.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TaskPlacement {
    /// The group the constraints count over, within the task's framework (an App's
    /// tasks use the App's name).
    #[schemars(length(min = 1, max = 253), regex(pattern = super::schema::OBJECT_NAME))]
    pub group: String,
    /// How many tasks the group is meant to have, GROUP_BY's target (Marathon's app
    /// `instances`); absent: the group's live tasks and this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub target_instances: Option<u32>,
    /// The constraints, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub constraints: Vec<mesos_model::constraints::ConstraintSpec>,
}

/// Pod templates are stored as they are given (a full PodSpec schema would make the CRD too
/// large for client-side `kubectl apply`); the operator parses the template when it builds
/// the Pod, and the API server validates that Pod. A template that does not parse or
/// validate makes the task TASK_ERROR with REASON_TASK_INVALID and the API's message.
pub(crate) fn pod_template_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "description": "A pod template (metadata and spec), as in a Job or Deployment. Its containers run together as one Mesos task group; the task's cpus and mem become pod-level resources.",
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "metadata": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
            "spec": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": true,
                "required": ["containers"],
                "properties": {
                    "containers": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 128,
                        "items": { "type": "object", "x-kubernetes-preserve-unknown-fields": true }
                    }
                }
            }
        },
        "required": ["spec"]
    })
}

/// A command to run in a container (Mesos CommandInfo).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("has(self.shell) != has(self.argv)").message("exactly one of spec.command.shell or spec.command.argv must be set"))]
#[serde(rename_all = "camelCase")]
pub struct CommandSpec {
    /// A shell command line, run with `/bin/sh -c`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 32768))]
    pub shell: Option<String>,

    /// An argument vector, run without a shell; the first element is the program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024), inner(length(max = 32768)))]
    pub argv: Option<Vec<String>>,

    /// Environment variables. Ports of the task are also exported as `PORTS`,
    /// `PORT0`, `PORT1`, …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,

    /// The container image.
    #[serde(default = "default_image")]
    #[schemars(length(min = 1, max = 4096))]
    pub image: String,
}

fn default_image() -> String {
    DEFAULT_IMAGE.to_string()
}

/// A Mesos health check. Exactly one of `http`, `tcp`, `command`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("(has(self.http) ? 1 : 0) + (has(self.tcp) ? 1 : 0) + (has(self.command) ? 1 : 0) == 1").message("exactly one of spec.healthCheck.http, tcp or command must be set"))]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// An HTTP GET that must answer 2xx or 3xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    /// A TCP connect that must succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCheck>,
    /// A command (argv) that must exit 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024), inner(length(max = 32768)))]
    pub command: Option<Vec<String>>,
    /// Seconds before the first check.
    #[serde(default = "default_delay_seconds")]
    #[schemars(range(min = 0, max = 86_400))]
    pub delay_seconds: i32,
    /// Seconds between checks.
    #[serde(default = "default_interval_seconds")]
    #[schemars(range(min = 1, max = 86_400))]
    pub interval_seconds: i32,
    /// Seconds after which a check counts as failed.
    #[serde(default = "default_timeout_seconds")]
    #[schemars(range(min = 1, max = 86_400))]
    pub timeout_seconds: i32,
    /// Failures in a row after which the task is killed.
    #[serde(default = "default_consecutive_failures")]
    #[schemars(range(min = 1, max = 1000))]
    pub consecutive_failures: i32,
    /// Seconds after start during which failures do not count.
    #[serde(default = "default_grace_period_seconds")]
    #[schemars(range(min = 0, max = 86_400))]
    pub grace_period_seconds: i32,
}

fn default_delay_seconds() -> i32 {
    15
}
fn default_interval_seconds() -> i32 {
    10
}
fn default_timeout_seconds() -> i32 {
    20
}
fn default_consecutive_failures() -> i32 {
    3
}
fn default_grace_period_seconds() -> i32 {
    10
}

/// An HTTP health check.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpCheck {
    /// Container port to query.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Path to GET.
    #[serde(default = "default_path")]
    #[schemars(length(max = 4096))]
    pub path: String,
    /// `HTTP` or `HTTPS`.
    #[serde(default)]
    pub scheme: HttpScheme,
}

fn default_path() -> String {
    "/".to_string()
}

/// HTTP or HTTPS.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpScheme {
    /// Plain HTTP.
    #[default]
    Http,
    /// HTTP over TLS.
    Https,
}

/// A TCP health check.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TcpCheck {
    /// Container port to connect to.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
}

/// How a task is killed (Mesos KillPolicy).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KillPolicy {
    /// Time between SIGTERM and SIGKILL (a Go duration from 0s to 24h, e.g. `30s`); the
    /// Pod's `terminationGracePeriodSeconds`.
    #[schemars(schema_with = "super::schema::grace_period")]
    pub grace_period: Duration,
}

/// Mesos TaskState.
#[derive(
    schemars::JsonSchema,
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
)]
pub enum TaskState {
    /// Accepted, pod not yet created.
    #[serde(rename = "TASK_STAGING")]
    Staging,
    /// Pod created and bound, containers not started.
    #[serde(rename = "TASK_STARTING")]
    Starting,
    /// Containers running.
    #[serde(rename = "TASK_RUNNING")]
    Running,
    /// Kill requested, pod terminating.
    #[serde(rename = "TASK_KILLING")]
    Killing,
    /// Succeeded. Terminal.
    #[serde(rename = "TASK_FINISHED")]
    Finished,
    /// Failed. Terminal.
    #[serde(rename = "TASK_FAILED")]
    Failed,
    /// Killed. Terminal.
    #[serde(rename = "TASK_KILLED")]
    Killed,
    /// Invalid task. Terminal.
    #[serde(rename = "TASK_ERROR")]
    Error,
    /// Lost (frameworks that are not partition-aware); may come back if its agent does.
    #[serde(rename = "TASK_LOST")]
    Lost,
    /// Launch failed transiently; retrying is safe. Terminal.
    #[serde(rename = "TASK_DROPPED")]
    Dropped,
    /// Agent partitioned (partition-aware frameworks).
    #[serde(rename = "TASK_UNREACHABLE")]
    Unreachable,
    /// Agent removed with the task (partition-aware frameworks). Terminal.
    #[serde(rename = "TASK_GONE")]
    Gone,
    /// An operator removed the task's agent or pod (partition-aware frameworks).
    #[serde(rename = "TASK_GONE_BY_OPERATOR")]
    GoneByOperator,
    /// Never known (partition-aware frameworks, reconciliation answers).
    #[serde(rename = "TASK_UNKNOWN")]
    Unknown,
}

impl TaskState {
    /// Every state, in declaration order.
    pub const ALL: [TaskState; 14] = [
        Self::Staging,
        Self::Starting,
        Self::Running,
        Self::Killing,
        Self::Finished,
        Self::Failed,
        Self::Killed,
        Self::Error,
        Self::Lost,
        Self::Dropped,
        Self::Unreachable,
        Self::Gone,
        Self::GoneByOperator,
        Self::Unknown,
    ];

    /// Whether the state can never change again. TASK_LOST, TASK_UNREACHABLE,
    /// TASK_GONE_BY_OPERATOR and TASK_UNKNOWN are not terminal: the task may come back.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Finished | Self::Failed | Self::Killed | Self::Error | Self::Dropped | Self::Gone
        )
    }

    /// The Mesos name, e.g. `TASK_RUNNING`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Staging => "TASK_STAGING",
            Self::Starting => "TASK_STARTING",
            Self::Running => "TASK_RUNNING",
            Self::Killing => "TASK_KILLING",
            Self::Finished => "TASK_FINISHED",
            Self::Failed => "TASK_FAILED",
            Self::Killed => "TASK_KILLED",
            Self::Error => "TASK_ERROR",
            Self::Lost => "TASK_LOST",
            Self::Dropped => "TASK_DROPPED",
            Self::Unreachable => "TASK_UNREACHABLE",
            Self::Gone => "TASK_GONE",
            Self::GoneByOperator => "TASK_GONE_BY_OPERATOR",
            Self::Unknown => "TASK_UNKNOWN",
        }
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Mesos TaskStatus.Reason (the subset this operator reports).
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs)]
pub enum TaskReason {
    ReasonCommandExecutorFailed,
    ReasonContainerLaunchFailed,
    ReasonContainerLimitationMemory,
    ReasonContainerLimitationDisk,
    ReasonContainerPreempted,
    ReasonExecutorTerminated,
    ReasonAgentDisconnected,
    ReasonAgentRemoved,
    ReasonAgentRemovedByOperator,
    ReasonAgentDraining,
    ReasonInvalidOffers,
    ReasonResourcesUnknown,
    ReasonTaskInvalid,
    ReasonTaskUnauthorized,
    ReasonTaskKilledDuringLaunch,
    ReasonTaskHealthCheckStatusUpdated,
    ReasonTaskUnknown,
    ReasonFrameworkRemoved,
    ReasonMaxCompletionTimeReached,
    ReasonReconciliation,
}

/// Mesos TaskStatus.Source: who observed the update.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskSource {
    /// The operator decided it (Mesos master).
    #[serde(rename = "SOURCE_MASTER")]
    Master,
    /// Seen on the node (Mesos agent): pod scheduling and node state.
    #[serde(rename = "SOURCE_AGENT")]
    Agent,
    /// Reported by the containers (Mesos executor): running, exit codes.
    #[serde(rename = "SOURCE_EXECUTOR")]
    Executor,
}

/// Observed state of a Task.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    /// The Mesos task state, e.g. `TASK_RUNNING`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<TaskState>,
    /// Why the task is in its state, e.g. `REASON_CONTAINER_LIMITATION_MEMORY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<TaskReason>,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Who observed the last update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<TaskSource>,
    /// The agent (Node) the task runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The task's Pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// The UID of the task's Pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
    /// Result of the health check, when the task has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// Result of the readiness check, when the task has one: true once the Pod's startup
    /// probe passed (`containerStatuses[].started`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// The host ports of the task's Pod, `PORT0` first (fixed ports, then those taken
    /// from the agent's range).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 128))]
    pub host_ports: Vec<u16>,
    /// Exit code of the task's (first failing) container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// When the task started running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the task reached a terminal state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_time: Option<Time>,
    /// When the task's agent became unreachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_time: Option<Time>,
    /// The last transitions, oldest first (at most 16).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub history: Vec<TaskStatusEntry>,
    /// `Scheduled`, `Running`, `Healthy`, `Terminated`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::condition::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One state transition of a task.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatusEntry {
    /// The state entered.
    pub state: TaskState,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<TaskReason>,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Who observed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<TaskSource>,
    /// When.
    pub timestamp: Time,
}

super::condition::condition_types! {
    /// The condition types of a Task.
    TaskCondition {
        /// The task has an agent (placed, or waiting with the reason why not).
        Scheduled,
        /// The task is TASK_RUNNING.
        Running,
        /// The task's health check passes.
        Healthy,
        /// The task's readiness check passed (the Pod's startup probe).
        Ready,
        /// The task reached a terminal state (reason: the state).
        Terminated,
    }
}

impl Task {
    /// The task's current state, if it has one.
    pub fn state(&self) -> Option<TaskState> {
        self.status.as_ref().and_then(|s| s.state)
    }

    /// Whether the task reached a terminal state.
    pub fn is_terminal(&self) -> bool {
        self.state().is_some_and(TaskState::is_terminal)
    }
}
