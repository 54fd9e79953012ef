//! `App`: a long-running service, Marathon-style (issue 13): keep `instances` copies of it
//! running as Tasks, spread under constraints, health-checked, replaced with backoff, and
//! rolled out by deployments that can fail and roll back.
//!
//! The kind is `App` (plural `apps`, short name `mapp`): no built-in kind is called App
//! (`apps` is an API *group*, not a resource, so `kubectl get apps` resolves to this kind,
//! and `kubectl get mapp` is unambiguous everywhere).
//!
//! Each instance is a [`Task`](super::Task) named `<app>-<version>-<index>`, labelled with
//! the app and its version; the decisions live in `mesos_model::services`, the durable
//! deployment state they resume from is `status.ledger`. Everything the Rust types refuse is
//! refused by the schema first (bounds, patterns, CEL); what only the operator can judge (a
//! regular expression that does not compile, a dependency that does not exist) becomes a
//! status condition and an Event naming the field.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, ValidationRule,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::core::Duration;
use kube::{CustomResource, CustomResourceExt, KubeSchema};
use mesos_model::constraints::ConstraintSpec;
use mesos_model::services::{BackoffStrategy, KillSelection, UnreachableStrategy, UpgradeStrategy};
use serde::{Deserialize, Serialize};

use super::resources::Resources;
use super::task::{CommandSpec, HealthCheck};

/// Label on every Task of an App: the App's name (also the scale subresource's selector).
pub const LABEL_APP: &str = "mesos.operator.dev/app";
/// Label on every Task of an App: the app version it runs.
pub const LABEL_APP_VERSION: &str = "mesos.operator.dev/app-version";
/// Annotation on a Task the App controller killed: why (`HealthCheckFailed`, `ScaleDown`…).
pub const ANNOTATION_KILL_REASON: &str = "mesos.operator.dev/kill-reason";
/// Annotation on an App: roll back to this version number (the spec of that version is
/// written back into the App, as Marathon's `PUT /v2/apps/{id} {"version": …}`).
pub const ANNOTATION_ROLLBACK_TO: &str = "mesos.operator.dev/rollback-to";
/// Annotation on an App: let this version's deployment past its canary step.
pub const ANNOTATION_PROMOTE: &str = "mesos.operator.dev/promote";
/// Annotation on an App: a new value resets the launch backoff (Marathon's
/// `DELETE /v2/queue/{id}/delay`).
pub const ANNOTATION_RESET_BACKOFF: &str = "mesos.operator.dev/reset-backoff";
/// The Framework an App runs under when it names none: a Builtin, partition-aware one,
/// created if missing.
pub const DEFAULT_FRAMEWORK: &str = "services";
/// The longest App name: Task names `<app>-<version>-<index>` stay DNS labels, and the
/// name fits a label value.
pub const MAX_APP_NAME: usize = 40;

/// A DNS-1123 label (an App's name, a port's name).
const LABEL_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// A long-running service (Marathon app): `instances` Tasks of one spec, kept running,
/// placed under constraints, rolled out by deployments.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "mesos.operator.dev",
    version = "v1alpha1",
    kind = "App",
    namespaced,
    status = "AppStatus",
    shortname = "mapp",
    category = "mesos",
    derive = "PartialEq",
    doc = "A long-running service (Marathon app); each instance is a Task.",
    scale(
        spec_replicas_path = ".spec.instances",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(name = "Instances", type_ = "integer", json_path = ".spec.instances"),
    printcolumn(
        name = "Healthy",
        type_ = "integer",
        json_path = ".status.counts.healthy"
    ),
    printcolumn(name = "Version", type_ = "integer", json_path = ".status.version"),
    printcolumn(
        name = "Deployment",
        type_ = "string",
        json_path = ".status.deployment.phase"
    ),
    printcolumn(
        name = "Available",
        type_ = "integer",
        json_path = ".status.counts.available",
        priority = 1
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.deployment.message",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("has(self.command) != has(self.template)").message("exactly one of spec.command or spec.template must be set"))]
#[x_kube(validation = Rule::new("!has(self.requirePorts) || !self.requirePorts || !has(self.ports) || self.ports.all(p, p.port != 0)").message("spec.ports: with spec.requirePorts every port is a literal host port from 1 to 65535 (port 0, any free port, needs requirePorts false)").field_path(".ports"))]
#[x_kube(validation = Rule::new("!has(self.readiness) || !has(self.readiness.httpCheck) || !has(self.readiness.httpCheck.portName) || (has(self.ports) && self.ports.exists(p, has(p.name) && p.name == self.readiness.httpCheck.portName))").message("spec.readiness.httpCheck.portName must name one of spec.ports").field_path(".readiness.httpCheck.portName"))]
#[serde(rename_all = "camelCase")]
pub struct AppSpec {
    /// How many instances to keep running (Marathon's default 1); 0 suspends the app. The
    /// scale subresource's replicas (`kubectl scale`, a HorizontalPodAutoscaler).
    #[serde(default = "default_instances")]
    #[schemars(range(min = 0, max = 100_000))]
    pub instances: i32,

    /// The Framework (same namespace) the instances belong to, so DRF, weights and quota
    /// apply. Default: `services`, a Builtin partition-aware framework the operator
    /// creates when it is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = super::schema::OBJECT_NAME))]
    pub framework: Option<String>,

    /// Resources of each instance. `cpus` and `mem` must be greater than 0; host ports
    /// come from `ports`.
    #[x_kube(validation = Rule::new("has(self.cpus) && self.cpus > 0.0").message("spec.resources.cpus must be greater than 0").field_path(".cpus"))]
    #[x_kube(validation = Rule::new("has(self.mem) && self.mem > 0.0").message("spec.resources.mem must be greater than 0").field_path(".mem"))]
    #[x_kube(validation = Rule::new("!has(self.ports) || size(self.ports) == 0").message("spec.resources.ports: use spec.ports").field_path(".ports"))]
    pub resources: Resources,

    /// A command to run, with its image and environment (as a Task's). Exactly one of
    /// `command` and `template`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandSpec>,

    /// A pod template (Marathon pods: several containers as one task group). Exactly one
    /// of `command` and `template`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::task::pod_template_schema")]
    pub template: Option<serde_json::Value>,

    /// Labels put on each instance's Task (and so its Pod).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "labels_schema")]
    #[x_kube(validation = Rule::new("self.all(k, k.size() <= 317 && !k.startsWith('mesos.operator.dev/'))").message("spec.labels: keys have at most 317 characters and must not use the mesos.operator.dev/ prefix"))]
    pub labels: BTreeMap<String, String>,

    /// Annotations put on each instance's Task (and so its Pod); e.g. the kwok simulation
    /// annotations on the local cluster.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64))]
    pub task_annotations: BTreeMap<String, String>,

    /// Named ports (Marathon `portDefinitions`): each instance gets one host port per
    /// entry, exported as `PORT0`…, `PORTS` and `PORT_<NAME>` (and listed in its Task's
    /// `status.hostPorts`). With `requirePorts: false` (the default) the host ports are
    /// any free ports of the agent's range, chosen when the instance is placed, so several
    /// instances can share an agent; with `requirePorts: true` they are the listed ports,
    /// and two instances can never share an agent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self.all(p, p.port == 0 || self.exists_one(q, q.port == p.port))").message("spec.ports: each port at most once"))]
    #[x_kube(validation = Rule::new("self.all(p, !has(p.name) || self.exists_one(q, has(q.name) && q.name == p.name))").message("spec.ports: each name at most once"))]
    pub ports: Vec<PortDefinition>,

    /// Marathon's `requirePorts`: true makes `spec.ports[].port` the literal host ports
    /// (each from 1 to 65535); false (the default, as Marathon) takes the host ports from
    /// the agent's free ports and `port` is only the service port (0: none), exported as
    /// `PORT_<port>` = the host port.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_ports: bool,

    /// Time between SIGTERM and SIGKILL when an instance is killed (a Go duration from 0s
    /// to 24h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::grace_period")]
    pub task_kill_grace_period: Option<Duration>,

    /// Placement constraints, Marathon's seven operators, over the app's instances
    /// (enforced by the allocator for Builtin frameworks). Scale-down restores the spread.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub constraints: Vec<ConstraintSpec>,

    /// A health check (HTTP, TCP or command) of each instance: it sets the instance's
    /// health, and `consecutiveFailures` failures past `gracePeriodSeconds` kill the
    /// instance, which is replaced under backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,

    /// Readiness: what makes a healthy instance count for deployments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Readiness>,

    /// How a new version replaces the old one: Marathon's `minimumHealthCapacity` and
    /// `maximumOverCapacity`, plus `progressDeadlineSeconds` (0: never fail),
    /// `failureBudget`, `autoRollback` and `canaryInstances`.
    #[serde(default)]
    pub upgrade_strategy: UpgradeStrategy,

    /// Hold the deployment in progress (nothing is killed for it; gone instances are still
    /// replaced). The deadline does not run while paused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,

    /// The launch backoff after failures (Marathon's names and defaults: 1 s, ×1.15,
    /// at most 300 s).
    #[serde(default)]
    #[x_kube(validation = Rule::new("self.backoffSeconds <= 86400.0 && self.backoffFactor <= 100.0 && self.maxLaunchDelaySeconds <= 86400.0").message("spec.backoff: backoffSeconds and maxLaunchDelaySeconds at most 86400, backoffFactor at most 100"))]
    pub backoff: BackoffStrategy,

    /// What happens to instances on unreachable agents (seconds before a replacement is
    /// launched, before the old instance is killed if it returns).
    #[serde(default)]
    pub unreachable_strategy: UnreachableStrategy,

    /// Apps (same namespace) that must be available before this one starts or is
    /// upgraded; this one stops before them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), extend("x-kubernetes-list-type" = "set"), inner(length(min = 1, max = 40), regex(pattern = LABEL_PATTERN)))]
    pub dependencies: Vec<String>,

    /// Which instance goes first among equals on scale-down: `YoungestFirst` (default) or
    /// `OldestFirst`.
    #[serde(default)]
    pub kill_selection: KillSelection,

    /// How many versions are kept to roll back to (default 5).
    #[serde(default = "default_history")]
    #[schemars(range(min = 1, max = 20))]
    pub version_history_limit: u32,
}

/// Label values: at most 63 characters of the label alphabet.
fn labels_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "description": "Labels put on each instance's Task (and so its Pod).",
        "maxProperties": 64,
        "additionalProperties": {
            "type": "string",
            "maxLength": 63,
            "pattern": r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$",
        },
    })
}

fn default_instances() -> i32 {
    1
}
fn default_history() -> u32 {
    5
}

/// One named port (Marathon `portDefinitions[]`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PortDefinition {
    /// The port's name: the container port's name, `PORT_<NAME>`, and what
    /// `readiness.httpCheck.portName` refers to (an IANA service name, as Kubernetes port
    /// names: at most 15 lowercase letters, digits and single hyphens, with a letter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 15), regex(pattern = super::task::PORT_NAME_PATTERN))]
    pub name: Option<String>,
    /// With `requirePorts`: the host port (1–65535) on every agent an instance runs on.
    /// Without: the service port (0, Marathon's "random", for none); the host port is any
    /// free port of the agent's range.
    #[serde(default)]
    #[schemars(range(min = 0, max = 65535))]
    pub port: u16,
}

/// Readiness of an instance: what makes a healthy instance count for deployments.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    /// Seconds an instance must have been running, healthy and ready (its `httpCheck`
    /// passed) before it counts as ready (Kubernetes' `minReadySeconds`).
    #[serde(default)]
    #[schemars(range(min = 0, max = 86_400))]
    pub min_ready_seconds: u32,
    /// Marathon's readiness check (one per app): an HTTP(S) GET of `path` on the port
    /// named `portName` (one of `spec.ports`), every `intervalSeconds`, until it first
    /// answers 200–399; until then the instance is not ready, so a deployment waits for it
    /// (and fails at its `progressDeadlineSeconds`). Each instance's Pod runs it as its
    /// startup probe; the instance's Task reports `status.ready` and a `Ready` condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_check: Option<super::task::ReadinessCheck>,
}

/// Instances by state, for status (and the printer columns).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InstanceCounts {
    /// Staging or starting.
    #[serde(default)]
    pub staged: u32,
    /// Running.
    #[serde(default)]
    pub running: u32,
    /// Running and healthy.
    #[serde(default)]
    pub healthy: u32,
    /// Running and not healthy.
    #[serde(default)]
    pub unhealthy: u32,
    /// Running, healthy and ready.
    #[serde(default)]
    pub available: u32,
    /// Being killed.
    #[serde(default)]
    pub killing: u32,
    /// On unreachable agents.
    #[serde(default)]
    pub unreachable: u32,
    /// Live instances per version, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub by_version: Vec<VersionInstances>,
}

/// The instances of one version.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VersionInstances {
    /// The version.
    pub version: u64,
    /// Its live instances.
    pub instances: u32,
    /// Those available.
    pub available: u32,
}

/// The deployment, as people read it (the planner's memory is `status.ledger`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSummary {
    /// The version rolled out.
    #[serde(default)]
    pub version: u64,
    /// The version it replaces, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<u64>,
    /// Waiting, Progressing, Paused, CanaryWaiting, RollingBack, Complete, RolledBack or
    /// Failed.
    #[serde(default)]
    pub phase: String,
    /// Why, in one word.
    #[serde(default)]
    pub reason: String,
    /// Why, in a sentence.
    #[serde(default)]
    pub message: String,
    /// When it began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// Instances of its version that failed during it.
    #[serde(default)]
    pub failed_instances: u32,
    /// The version being restored, when rolling back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_back_to: Option<u64>,
}

/// The launch backoff, as people read it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackoffSummary {
    /// The delay in force, in seconds (0: none).
    #[serde(default)]
    pub current_delay_seconds: f64,
    /// Failures counted since the last reset.
    #[serde(default)]
    pub failures: u32,
    /// The earliest time of the next launch, while one is held back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_launch_at: Option<Time>,
}

/// The last instance that failed (Marathon's `lastTaskFailure`).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TaskFailure {
    /// The instance's Task.
    #[serde(default)]
    pub task: String,
    /// Its final state (`TASK_FAILED`, or `HealthCheckFailed` for a health kill).
    #[serde(default)]
    pub state: String,
    /// What it said.
    #[serde(default)]
    pub message: String,
    /// The version it ran.
    #[serde(default)]
    pub version: u64,
    /// The agent it ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Time>,
}

/// One version of the app that can be rolled back to.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VersionRecord {
    /// Its number.
    pub version: u64,
    /// When it was first seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
}

/// What the operator reports about an App.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Live instances (the scale subresource's status replicas).
    #[serde(default)]
    pub replicas: i32,
    /// The label selector of the app's Tasks and Pods (the scale subresource's selector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub selector: Option<String>,
    /// The app's current version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The last version that was fully rolled out healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_version: Option<u64>,
    /// The versions that can be rolled back to (annotation
    /// `mesos.operator.dev/rollback-to`), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub versions: Vec<VersionRecord>,
    /// Instances by state and version.
    #[serde(default)]
    pub counts: InstanceCounts,
    /// The current (or last) deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentSummary>,
    /// The launch backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<BackoffSummary>,
    /// The last instance that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_task_failure: Option<TaskFailure>,
    /// `Available`, `Progressing`, `Degraded` (and `Valid=False` for a spec only the
    /// operator can refuse).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::condition::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The durable state the controller resumes from: the deployment state, the backoff,
    /// the version history with each version's spec, the tokens of requests handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "ledger_schema")]
    pub ledger: Option<serde_json::Value>,
}

fn ledger_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "description": "The app's durable deployment state: everything the operator resumes from.",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// The App CRD, with the rules that need the object's name at the root.
pub fn crd() -> CustomResourceDefinition {
    let mut crd = App::crd();
    for version in &mut crd.spec.versions {
        if let Some(root) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            let rules = root.x_kubernetes_validations.get_or_insert_with(Vec::new);
            rules.push(ValidationRule {
                rule: format!("size(self.metadata.name) <= {MAX_APP_NAME}"),
                message: Some(format!(
                    "metadata.name: an App's name has at most {MAX_APP_NAME} characters (its Tasks are named <app>-<version>-<index>)"
                )),
                ..ValidationRule::default()
            });
            rules.push(ValidationRule {
                rule: format!("self.metadata.name.matches('{LABEL_PATTERN}')"),
                message: Some("metadata.name: an App's name is a DNS label (no dots)".to_string()),
                ..ValidationRule::default()
            });
            rules.push(ValidationRule {
                rule: "!has(self.spec.dependencies) || !(self.metadata.name in self.spec.dependencies)".into(),
                message: Some("spec.dependencies: an App cannot depend on itself".to_string()),
                ..ValidationRule::default()
            });
        }
    }
    crd
}

/// The condition types of an App (set by the deployment planner).
pub use mesos_model::services::deployment::AppCondition;
