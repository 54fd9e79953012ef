//! Pure mappings between the Kubernetes objects and the service planner's types: an App's
//! launch-relevant spec to a version, Tasks to [`Instance`]s, a plan to the App's status
//! and to the Task bodies to create. No I/O.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{EnvVar, Node};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::core::Duration;
use kube::{Resource, ResourceExt};
use mesos_model::constraints::{ConstraintSpec, NodeAttributes};
use mesos_model::services::deployment::{DeploymentPhase, DeploymentState, Plan};
use mesos_model::services::{
    BackoffState, BackoffStrategy, HealthObservation, HealthPolicy, Instance, InstanceState,
    ReadinessObservation, ReadinessPolicy, Termination, UnreachableDecision, Version,
};
use serde::{Deserialize, Serialize};

use crate::api::app::AppCondition;
use crate::api::app::{
    ANNOTATION_KILL_REASON, App, AppSpec, AppStatus, BackoffSummary, DEFAULT_FRAMEWORK,
    DeploymentSummary, InstanceCounts, LABEL_APP, LABEL_APP_VERSION, PortDefinition, Readiness,
    TaskFailure, VersionInstances, VersionRecord,
};
use crate::api::condition::{ConditionStatus, Conditions, ObjectCondition};
use crate::api::task::{RandomPort, TaskCondition};
use crate::api::{
    CommandSpec, HealthCheck, KillPolicy, LABEL_MANAGED_BY, MANAGER, Resources, Task,
    TaskPlacement, TaskSpec, TaskState,
};

/// Kill reason of a health kill (annotation [`ANNOTATION_KILL_REASON`]).
pub const KILL_HEALTH: &str = "HealthCheckFailed";
/// Kill reason of an expunged unreachable instance.
pub const KILL_EXPUNGED: &str = "UnreachableExpunged";

/// The part of an App's spec that a version is made of: a change of any of it is a new
/// version, rolled out by a deployment; `instances`, the strategy and the switches are not.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LaunchSpec {
    /// The framework.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework: Option<String>,
    /// Resources.
    pub resources: Resources,
    /// The command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandSpec>,
    /// The pod template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<serde_json::Value>,
    /// Task labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Task annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub task_annotations: BTreeMap<String, String>,
    /// Host ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortDefinition>,
    /// Whether the ports are literal host ports.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_ports: bool,
    /// Kill grace period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_kill_grace_period: Option<Duration>,
    /// Constraints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<ConstraintSpec>,
    /// Health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Readiness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Readiness>,
}

/// The field names of [`LaunchSpec`], as in the App's spec (to write a version back).
pub const LAUNCH_FIELDS: [&str; 12] = [
    "framework",
    "resources",
    "command",
    "template",
    "labels",
    "taskAnnotations",
    "ports",
    "requirePorts",
    "taskKillGracePeriod",
    "constraints",
    "healthCheck",
    "readiness",
];

impl LaunchSpec {
    /// The launch-relevant part of `spec`.
    pub fn of(spec: &AppSpec) -> Self {
        Self {
            framework: spec.framework.clone(),
            resources: spec.resources.clone(),
            command: spec.command.clone(),
            template: spec.template.clone(),
            labels: spec.labels.clone(),
            task_annotations: spec.task_annotations.clone(),
            ports: spec.ports.clone(),
            require_ports: spec.require_ports,
            task_kill_grace_period: spec.task_kill_grace_period,
            constraints: spec.constraints.clone(),
            health_check: spec.health_check.clone(),
            readiness: spec.readiness.clone(),
        }
    }

    /// As JSON (how the ledger keeps it and compares it).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// One version in the ledger: its number, when it was first seen, its spec.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VersionEntry {
    /// The number.
    pub version: Version,
    /// First seen.
    pub created_at: Timestamp,
    /// The launch spec.
    pub spec: serde_json::Value,
}

/// The App's durable memory (`status.ledger`): written before the controller acts on it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Ledger {
    /// The deployment state (the planner's memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentState>,
    /// The launch backoff.
    #[serde(default)]
    pub backoff: BackoffState,
    /// The versions that can be launched, oldest first.
    #[serde(default)]
    pub versions: Vec<VersionEntry>,
    /// The highest version number ever given.
    #[serde(default)]
    pub last_version: Version,
    /// The last backoff-reset token handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_reset: Option<String>,
}

impl Ledger {
    /// The ledger in an App's status (empty when there is none).
    pub fn of(app: &App) -> Result<Self, serde_json::Error> {
        match app.status.as_ref().and_then(|s| s.ledger.clone()) {
            Some(value) => serde_json::from_value(value),
            None => Ok(Self::default()),
        }
    }

    /// The version numbers known.
    pub fn history(&self) -> Vec<Version> {
        self.versions.iter().map(|v| v.version).collect()
    }

    /// The spec of version `v`.
    pub fn spec_of(&self, v: Version) -> Option<LaunchSpec> {
        self.versions
            .iter()
            .find(|e| e.version == v)
            .and_then(|e| serde_json::from_value(e.spec.clone()).ok())
    }

    /// The version of `spec`: the known one with the same spec, else a new one (recorded).
    /// Keeps at most `limit` versions, never dropping those in `keep`.
    pub fn resolve(
        &mut self,
        spec: &LaunchSpec,
        now: Timestamp,
        limit: usize,
        keep: &BTreeSet<Version>,
    ) -> Version {
        let value = spec.to_value();
        let version = match self.versions.iter().find(|e| e.spec == value) {
            Some(e) => e.version,
            None => {
                let next = self
                    .last_version
                    .max(self.versions.iter().map(|e| e.version).max().unwrap_or(0))
                    + 1;
                self.last_version = next;
                self.versions.push(VersionEntry {
                    version: next,
                    created_at: now,
                    spec: value,
                });
                next
            }
        };
        let limit = limit.max(1);
        while self.versions.len() > limit {
            let drop = self
                .versions
                .iter()
                .position(|e| e.version != version && !keep.contains(&e.version));
            match drop {
                Some(i) => {
                    self.versions.remove(i);
                }
                None => break,
            }
        }
        version
    }
}

/// The Task name of instance `index` of `version` of `app`.
pub fn task_name(app: &str, version: Version, index: u32) -> String {
    format!("{app}-{version}-{index}")
}

/// The version a Task of the app runs (its label).
pub fn version_of(task: &Task) -> Option<Version> {
    task.labels().get(LABEL_APP_VERSION)?.parse().ok()
}

/// Whether `task` is an instance of app `name` in `ns`.
pub fn is_instance_of(task: &Task, ns: &str, name: &str) -> bool {
    task.namespace().as_deref() == Some(ns)
        && task.labels().get(LABEL_APP).map(String::as_str) == Some(name)
}

/// The framework an App's instances run under.
pub fn framework_of(spec: &LaunchSpec) -> &str {
    spec.framework.as_deref().unwrap_or(DEFAULT_FRAMEWORK)
}

/// A node's name and labels, as constraints see them.
pub fn node_attributes(node: &Node) -> NodeAttributes {
    NodeAttributes {
        hostname: node.name_any(),
        labels: node.labels().clone(),
    }
}

/// How a terminal Task ended, for backoff; `None` if it has not ended.
pub fn termination(task: &Task) -> Option<Termination> {
    let health_kill = task
        .annotations()
        .get(ANNOTATION_KILL_REASON)
        .map(String::as_str)
        == Some(KILL_HEALTH);
    Some(match task.state()? {
        TaskState::Killed if health_kill => Termination::HealthKill,
        TaskState::Killed => Termination::Killed,
        TaskState::Failed => Termination::Failed,
        TaskState::Finished => Termination::Finished,
        TaskState::Error => Termination::Error,
        TaskState::Dropped => Termination::Dropped,
        TaskState::Gone | TaskState::GoneByOperator => Termination::Gone,
        TaskState::Lost | TaskState::Unknown => Termination::Lost,
        _ => return None,
    })
}

/// Whether the app is done with a Task: it ended (TASK_LOST too: the app replaces it and
/// deletes it, so that it never comes back as a surplus).
pub fn is_done(task: &Task) -> bool {
    termination(task).is_some()
}

/// What the controller knows of one instance beyond the planner's [`Instance`].
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    /// The planner's view.
    pub instance: Instance,
    /// Its health verdict says: kill and replace it.
    pub health_replace: bool,
    /// The unreachable strategy says: kill it.
    pub expunge: bool,
    /// When to look again for it (grace end, readiness, unreachable timers).
    pub wake_at: Option<Timestamp>,
}

/// The settings [`observe`] needs from the app.
pub struct ObserveSettings<'a> {
    /// The health check of the version the instance runs.
    pub health_check: Option<&'a HealthCheck>,
    /// Its readiness.
    pub readiness: Option<&'a Readiness>,
    /// The app's unreachable strategy.
    pub unreachable: &'a mesos_model::services::UnreachableStrategy,
}

fn ts(t: &Option<Time>) -> Option<Timestamp> {
    t.as_ref().map(|t| t.0)
}

/// The planner's view of one Task. `node` is its agent, if known.
pub fn observe(
    task: &Task,
    version: Version,
    settings: &ObserveSettings<'_>,
    node: Option<NodeAttributes>,
    now: Timestamp,
) -> Observed {
    let status = task.status.clone().unwrap_or_default();
    let started_at = task.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let mut wake_at = None;
    let mut expunge = false;
    let mut state = match status.state {
        _ if task.spec.kill && !task.is_terminal() => InstanceState::Killing,
        None | Some(TaskState::Staging) => InstanceState::Staging,
        Some(TaskState::Starting) => InstanceState::Starting,
        Some(TaskState::Running) => InstanceState::Running,
        Some(TaskState::Killing) => InstanceState::Killing,
        Some(TaskState::Unreachable) => InstanceState::Unreachable,
        Some(TaskState::Finished) => InstanceState::Finished,
        Some(TaskState::Failed) => InstanceState::Failed,
        Some(TaskState::Killed) => InstanceState::Killed,
        Some(TaskState::Error) => InstanceState::Error,
        Some(TaskState::Dropped) => InstanceState::Dropped,
        Some(TaskState::Lost | TaskState::Unknown) => InstanceState::Lost,
        Some(TaskState::Gone | TaskState::GoneByOperator) => InstanceState::Gone,
    };
    if state == InstanceState::Unreachable {
        match mesos_model::services::decide(
            settings.unreachable,
            state,
            ts(&status.unreachable_time),
            now,
        ) {
            UnreachableDecision::Wait { inactive_at } => wake_at = inactive_at,
            UnreachableDecision::Inactive { expunge_at } => {
                state = InstanceState::UnreachableInactive;
                wake_at = Some(expunge_at);
            }
            UnreachableDecision::Expunge => {
                state = InstanceState::UnreachableInactive;
                expunge = true;
            }
            UnreachableDecision::Reachable => {}
        }
    }
    let running = state == InstanceState::Running;
    let checked = settings.health_check.is_some();
    let healthy = running && (!checked || status.healthy == Some(true));
    let running_since = ts(&status.start_time).or(started_at);
    let policy = ReadinessPolicy {
        min_ready_seconds: settings.readiness.map_or(0, |r| r.min_ready_seconds),
        checked: settings.readiness.is_some_and(|r| r.http_check.is_some()),
    };
    // The readiness check passed (the Pod's startup probe): since the Ready condition's
    // transition.
    let check_passed_at = status
        .conditions
        .get_condition(TaskCondition::Ready)
        .filter(|c| c.status == "True" && status.ready == Some(true))
        .map(|c| c.last_transition_time.0);
    let verdict = mesos_model::services::readiness(
        &policy,
        &ReadinessObservation {
            healthy,
            running_since,
            check_passed_at,
        },
        now,
    );
    let ready = verdict.ready;
    wake_at = earliest(wake_at, verdict.ready_at);
    let mut health_replace = false;
    if let (Some(check), true) = (settings.health_check, running) {
        let policy = HealthPolicy {
            grace_period_seconds: u64::try_from(check.grace_period_seconds).unwrap_or(0),
            max_consecutive_failures: u32::try_from(check.consecutive_failures).unwrap_or(0),
        };
        let unhealthy_since = status
            .conditions
            .get_condition(TaskCondition::Healthy)
            .filter(|c| c.status == "False")
            .map(|c| c.last_transition_time.0);
        let interval = i64::from(check.interval_seconds.max(1));
        let consecutive = match (status.healthy, unhealthy_since) {
            (Some(false), Some(since)) => {
                let secs = now.duration_since(since).as_secs().max(0);
                u32::try_from(1 + secs / interval).unwrap_or(u32::MAX)
            }
            (Some(false), None) => 1,
            _ => 0,
        };
        let seen = HealthObservation {
            state,
            healthy: status.healthy,
            ready: Some(ready),
            consecutive_failures: consecutive,
            ever_healthy: false,
            started_at: running_since,
        };
        let summary = mesos_model::services::summarize(&policy, true, false, &seen, now);
        health_replace = summary.replace;
        wake_at = earliest(wake_at, summary.grace_ends_at);
        if status.healthy == Some(false) && !summary.replace {
            // The next failure count.
            wake_at = earliest(wake_at, Some(plus(now, interval)));
        }
    }
    let failed_by_health = task
        .annotations()
        .get(ANNOTATION_KILL_REASON)
        .map(String::as_str)
        == Some(KILL_HEALTH);
    let failures = u32::from(
        failed_by_health
            || matches!(
                state,
                InstanceState::Failed
                    | InstanceState::Finished
                    | InstanceState::Error
                    | InstanceState::Dropped
            ),
    );
    Observed {
        instance: Instance {
            id: task.name_any(),
            version,
            state,
            healthy,
            ready,
            started_at,
            failures,
            node,
        },
        health_replace,
        expunge,
        wake_at,
    }
}

fn plus(t: Timestamp, secs: i64) -> Timestamp {
    t.checked_add(SignedDuration::from_secs(secs))
        .unwrap_or(Timestamp::MAX)
}

/// The earlier of two optional instants.
pub fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The backoff after the app's ended Tasks: each one of the backoff's version that ended
/// in a way that grows it, applied once (a replay of the same end changes nothing).
/// Returns the new state and the last failure seen, if any.
pub fn apply_terminations(
    backoff: &BackoffState,
    strategy: &BackoffStrategy,
    version: Version,
    done: &[&Task],
) -> (BackoffState, Option<TaskFailure>) {
    let mut ends: Vec<(Timestamp, &Task, Termination)> = done
        .iter()
        .filter(|t| version_of(t) == Some(version))
        .filter_map(|t| {
            let how = termination(t)?;
            let at = ts(&t.status.as_ref()?.finish_time)
                .or_else(|| t.status.as_ref()?.history.last().map(|h| h.timestamp.0))?;
            how.grows_backoff().then_some((at, *t, how))
        })
        .collect();
    ends.sort_by_key(|(at, _, _)| *at);
    let mut state = backoff.for_version(version);
    let mut last = None;
    for (at, task, how) in ends {
        state = state.on_termination(strategy, version, how, at);
        let status = task.status.clone().unwrap_or_default();
        last = Some(TaskFailure {
            task: task.name_any(),
            state: if how == Termination::HealthKill {
                KILL_HEALTH.to_string()
            } else {
                status.state.map(|s| s.to_string()).unwrap_or_default()
            },
            message: status.message.unwrap_or_default(),
            version,
            agent: status.agent,
            timestamp: Some(Time(at)),
        });
    }
    (state, last)
}

/// The lowest `count` indexes of `version` not in `used` (Task names in use).
pub fn free_indexes(app: &str, version: Version, used: &BTreeSet<String>, count: u32) -> Vec<u32> {
    (0u32..)
        .filter(|i| !used.contains(&task_name(app, version, *i)))
        .take(count as usize)
        .collect()
}

/// The Task of instance `index` of `version` (spec `launch`) of `app`.
pub fn task_for(
    app: &App,
    launch: &LaunchSpec,
    version: Version,
    index: u32,
    placement_target: u32,
) -> Task {
    let name = app.name_any();
    let mut labels = launch.labels.clone();
    labels.insert(LABEL_APP.to_string(), name.clone());
    labels.insert(LABEL_APP_VERSION.to_string(), version.to_string());
    labels.insert(LABEL_MANAGED_BY.to_string(), MANAGER.to_string());
    let mut resources = launch.resources.clone();
    // requirePorts: the listed ports are the host ports; otherwise the allocator takes
    // them from the agent's range (the listed port is the service port).
    let (fixed, random): (&[PortDefinition], Vec<RandomPort>) = if launch.require_ports {
        (&launch.ports, Vec::new())
    } else {
        (
            &[],
            launch
                .ports
                .iter()
                .map(|p| RandomPort {
                    name: p.name.clone(),
                    service_port: (p.port != 0).then_some(p.port),
                })
                .collect(),
        )
    };
    resources.ports = fixed.iter().map(|p| p.port).collect();
    let command = launch.command.clone().map(|mut c| {
        for p in fixed {
            if let Some(n) = &p.name {
                c.env.push(EnvVar {
                    name: format!("PORT_{}", n.to_uppercase().replace('-', "_")),
                    value: Some(p.port.to_string()),
                    ..EnvVar::default()
                });
            }
        }
        c
    });
    let mut task = Task::new(
        &task_name(&name, version, index),
        TaskSpec {
            framework: framework_of(launch).to_string(),
            offer: None,
            resources,
            command,
            template: launch.template.clone(),
            health_check: launch.health_check.clone(),
            kill_policy: launch
                .task_kill_grace_period
                .map(|grace_period| KillPolicy { grace_period }),
            max_completion_time: None,
            kill: false,
            placement: Some(TaskPlacement {
                group: name.clone(),
                target_instances: Some(placement_target.max(1)),
                constraints: launch.constraints.clone(),
            }),
            random_ports: random,
            readiness_check: launch
                .readiness
                .as_ref()
                .and_then(|r| r.http_check.clone())
                .map(|mut check| {
                    // A fixed port has no container port name: the check names its number.
                    if launch.require_ports
                        && let Some(name) = check.port_name.clone()
                        && let Some(p) =
                            launch.ports.iter().find(|p| p.name.as_ref() == Some(&name))
                    {
                        check.port_name = None;
                        check.port = Some(i32::from(p.port));
                    }
                    check
                }),
        },
    );
    task.metadata = ObjectMeta {
        name: task.metadata.name.take(),
        namespace: app.namespace(),
        labels: Some(labels),
        annotations: (!launch.task_annotations.is_empty()).then(|| launch.task_annotations.clone()),
        owner_references: app.controller_owner_ref(&()).map(|o| vec![o]),
        ..ObjectMeta::default()
    };
    task
}

/// The label selector of the app's Tasks and Pods.
pub fn selector(app: &str) -> String {
    format!("{LABEL_APP}={app}")
}

fn summary(state: &DeploymentState) -> DeploymentSummary {
    DeploymentSummary {
        version: state.version,
        from_version: state.from_version,
        phase: format!("{:?}", state.phase),
        reason: state.reason.clone(),
        message: state.message.clone(),
        started_at: Some(Time(state.started_at)),
        finished_at: state.finished_at.map(Time),
        failed_instances: state.failed_instances,
        rolling_back_to: state.rollback.as_ref().map(|r| r.to),
    }
}

/// The App's status after a plan.
#[allow(clippy::too_many_arguments)]
pub fn status_after(
    app: &App,
    planned: &Plan,
    version: Version,
    ledger: &Ledger,
    backoff: &BackoffStrategy,
    last_failure: Option<TaskFailure>,
    extra: &[(AppCondition, bool, String, String)],
    now: Timestamp,
) -> AppStatus {
    let previous = app.status.clone().unwrap_or_default();
    let generation = app.metadata.generation;
    let now_time = Time(now);
    let mut conditions = previous.conditions.clone();
    // The planner's conditions replace `Valid` (a status for an App that reads again).
    conditions.retain(|c| c.type_ != ObjectCondition::Valid);
    for c in &planned.conditions {
        conditions.set(
            c.type_,
            ConditionStatus::from_bool(c.status),
            &c.reason,
            &c.message,
            generation,
            &now_time,
        );
    }
    for (type_, status, reason, message) in extra {
        conditions.set(
            *type_,
            ConditionStatus::from_bool(*status),
            reason,
            message,
            generation,
            &now_time,
        );
    }
    let counts = &planned.counts;
    let live: u32 = counts.by_version.iter().map(|v| v.instances).sum();
    let b = ledger.backoff.status(backoff, now);
    AppStatus {
        observed_generation: generation,
        replicas: i32::try_from(live).unwrap_or(i32::MAX),
        selector: Some(selector(&app.name_any())),
        version: Some(version),
        stable_version: planned.state.stable_version,
        versions: ledger
            .versions
            .iter()
            .map(|e| VersionRecord {
                version: e.version,
                created_at: Some(Time(e.created_at)),
            })
            .collect(),
        counts: InstanceCounts {
            staged: counts.staged,
            running: counts.running,
            healthy: counts.healthy,
            unhealthy: counts.unhealthy,
            available: counts.available,
            killing: counts.killing,
            unreachable: counts.unreachable,
            by_version: counts
                .by_version
                .iter()
                .take(64)
                .map(|v| VersionInstances {
                    version: v.version,
                    instances: v.instances,
                    available: v.available,
                })
                .collect(),
        },
        deployment: Some(summary(&planned.state)),
        backoff: Some(BackoffSummary {
            current_delay_seconds: b.current_delay_seconds,
            failures: ledger.backoff.failures,
            next_launch_at: b.next_launch_at.map(Time),
        }),
        last_task_failure: last_failure.or(previous.last_task_failure),
        conditions,
        ledger: serde_json::to_value(ledger).ok(),
    }
}

/// The reason of `Valid=False` on an App whose constraints only the operator can refuse
/// (a regular expression that does not compile). Not the deserialize guard's
/// `InvalidSpec`: that one the guard's reporter clears once the object reads.
pub const REASON_INVALID_CONSTRAINT: &str = "InvalidConstraint";

/// The status of an App whose spec the operator cannot act on (a constraint that does not
/// compile): `Valid=False`, reason [`REASON_INVALID_CONSTRAINT`], the rest kept.
pub fn invalid_status(app: &App, message: &str, now: Timestamp) -> AppStatus {
    let mut status = app.status.clone().unwrap_or_default();
    status.observed_generation = app.metadata.generation;
    status.selector = Some(selector(&app.name_any()));
    status.conditions.set(
        ObjectCondition::Valid,
        ConditionStatus::False,
        REASON_INVALID_CONSTRAINT,
        message,
        app.metadata.generation,
        &Time(now),
    );
    status
}

/// Whether an App counts as available for the apps that depend on it: its deployment is
/// complete (or rolled back) and its `Available` condition holds.
pub fn dependency_status(app: &App) -> mesos_model::services::dependencies::AppStatus {
    let status = app.status.clone().unwrap_or_default();
    let done = status.deployment.as_ref().is_some_and(|d| {
        d.phase == format!("{:?}", DeploymentPhase::Complete)
            || d.phase == format!("{:?}", DeploymentPhase::RolledBack)
    });
    let current = status.observed_generation == app.metadata.generation;
    mesos_model::services::dependencies::AppStatus {
        available: done && current && status.conditions.is_true(AppCondition::Available),
        live_instances: u32::try_from(status.replicas).unwrap_or(0),
    }
}

/// A merge patch writing version `entry`'s spec back into the App (rollback by number),
/// and removing the rollback annotation.
pub fn rollback_patch(entry: &VersionEntry, annotation: &str) -> serde_json::Value {
    let mut spec = serde_json::Map::new();
    for field in LAUNCH_FIELDS {
        spec.insert(
            field.to_string(),
            entry
                .spec
                .get(field)
                .cloned()
                .unwrap_or(serde_json::Value::Null),
        );
    }
    serde_json::json!({
        "metadata": { "annotations": { annotation: null } },
        "spec": spec,
    })
}

/// Conditions as a map, for tests.
pub fn condition_map(conditions: &[Condition]) -> BTreeMap<String, (String, String)> {
    conditions
        .iter()
        .map(|c| (c.type_.clone(), (c.status.clone(), c.reason.clone())))
        .collect()
}

#[cfg(test)]
mod tests;
