//! The pure half of the scheduler API: Mesos messages to and from the operator's
//! objects. No I/O, no clock: times and uuids come in as arguments.
//!
//! - [`Caps`]: what a framework's capabilities let it see ([`visible_state`]).
//! - [`task_status`] / [`master_status`]: a Task's state as a Mesos `TaskStatus`.
//! - [`offer_to_proto`], [`resources_to_proto`], [`resources_from_proto`].
//! - [`task_from_info`]: a `TaskInfo` as the `Task` an External scheduler creates, or the
//!   reason it cannot be one (answered as TASK_ERROR).
//! - [`plan_accept`]: an ACCEPT's launches and refusals.
//! - [`reconcile`]: explicit and implicit reconciliation answered from the store.

use std::collections::{BTreeMap, HashMap, HashSet};

use k8s_openapi::api::core::v1::EnvVar;
use mesos_proto::v1;
use mesos_proto::v1::task_status::{Reason, Source};

use crate::api::resources::{Cpus, Mebibytes, PortRange, PortRanges};
use crate::api::task::{HttpCheck, HttpScheme, TcpCheck};
use crate::api::{
    CommandSpec, FrameworkCapability, HealthCheck, KillPolicy, Offer, Resources, Task, TaskReason,
    TaskSource, TaskSpec, TaskState,
};

/// Annotation on a Task: the Mesos `task_id` it was launched with.
pub const TASK_ID_ANNOTATION: &str = "mesos.operator.dev/task-id";
/// Annotation on a Task: the agent (node) its TaskInfo named.
pub const AGENT_ANNOTATION: &str = "mesos.operator.dev/agent-id";
/// Annotation on a Task: its Mesos labels, as a JSON object.
pub const LABELS_ANNOTATION: &str = "mesos.operator.dev/labels";
/// Annotation on a Task: the terminal state the framework acknowledged.
pub const ACKNOWLEDGED_ANNOTATION: &str = "mesos.operator.dev/acknowledged";
/// Annotation on a Framework: the FrameworkInfo it subscribed with (JSON).
pub const FRAMEWORK_INFO_ANNOTATION: &str = "mesos.operator.dev/framework-info";
/// Label on a Framework registered through the HTTP API.
pub const HTTP_FRAMEWORK_LABEL: &str = "mesos.operator.dev/http-api";

/// The capabilities that change what a framework is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps {
    /// PARTITION_AWARE: TASK_UNREACHABLE, TASK_DROPPED, TASK_GONE… instead of TASK_LOST.
    pub partition_aware: bool,
    /// TASK_KILLING_STATE: TASK_KILLING is sent.
    pub task_killing_state: bool,
    /// MULTI_ROLE: `allocation_info` on offers and their resources.
    pub multi_role: bool,
    /// GPU_RESOURCES: agents with GPUs are offered.
    pub gpu_resources: bool,
}

impl Caps {
    /// The capabilities a FrameworkInfo declares.
    pub fn from_info(info: &v1::FrameworkInfo) -> Caps {
        use v1::framework_info::capability::Type;
        let has = |t: Type| info.capabilities.iter().any(|c| c.r#type == Some(t as i32));
        Caps {
            partition_aware: has(Type::PartitionAware),
            task_killing_state: has(Type::TaskKillingState),
            multi_role: has(Type::MultiRole),
            gpu_resources: has(Type::GpuResources),
        }
    }

    /// The Framework CRD's capabilities for these.
    pub fn crd_capabilities(info: &v1::FrameworkInfo) -> Vec<FrameworkCapability> {
        use v1::framework_info::capability::Type;
        let mut out = Vec::new();
        for cap in &info.capabilities {
            let crd = match cap.r#type.and_then(|t| Type::try_from(t).ok()) {
                Some(Type::PartitionAware) => FrameworkCapability::PartitionAware,
                Some(Type::TaskKillingState) => FrameworkCapability::TaskKillingState,
                Some(Type::GpuResources) => FrameworkCapability::GpuResources,
                Some(Type::RegionAware) => FrameworkCapability::RegionAware,
                _ => continue,
            };
            if !out.contains(&crd) {
                out.push(crd);
            }
        }
        out
    }
}

/// The roles a FrameworkInfo subscribes with: `roles` for MULTI_ROLE frameworks (in
/// order, duplicates dropped), `role` for others; `*` when none. A MULTI_ROLE framework
/// may not set `role` (Mesos' rule).
pub fn framework_roles(info: &v1::FrameworkInfo) -> Result<Vec<String>, String> {
    let caps = Caps::from_info(info);
    let mut roles: Vec<String> = Vec::new();
    if caps.multi_role {
        if info.role.is_some() {
            return Err(
                "'FrameworkInfo.role' must not be set for a MULTI_ROLE framework \
                        (use 'roles')"
                    .to_string(),
            );
        }
        for role in &info.roles {
            if !roles.contains(role) {
                roles.push(role.clone());
            }
        }
    } else {
        // `roles` without MULTI_ROLE is ignored (the pre-MULTI_ROLE `role` counts).
        roles.extend(info.role.iter().cloned());
    }
    if roles.is_empty() {
        roles.push("*".to_string());
    }
    if let Some(bad) = roles.iter().find(|r| !is_role_name(r)) {
        return Err(format!("Role '{bad}' is not a valid role name"));
    }
    Ok(roles)
}

fn is_role_name(role: &str) -> bool {
    role == "*"
        || (!role.is_empty()
            && !role.starts_with('-')
            && role.split('/').all(|part| {
                !part.is_empty()
                    && part != "."
                    && part != ".."
                    && part
                        .chars()
                        .all(|c| c.is_ascii_graphic() && c != '*' && c != '\\')
            }))
}

/// Label on the Framework objects that carry a MULTI_ROLE framework's other roles: the
/// Mesos framework id (the first role's Framework UID) they belong to.
pub const ROLE_OF_LABEL: &str = "mesos.operator.dev/framework-id";

/// The Framework object of a MULTI_ROLE framework's `role` (not its first).
pub fn role_object_name(primary: &str, role: &str) -> String {
    format!("{primary}-{:08x}", fnv1a(role.as_bytes()) as u32)
}

/// The namespace of a ServiceAccount user name (`system:serviceaccount:<ns>:<name>`).
pub fn token_namespace(username: &str) -> Option<String> {
    let rest = username.strip_prefix("system:serviceaccount:")?;
    let (namespace, name) = rest.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty()).then(|| namespace.to_string())
}

/// The state a framework is told, given its capabilities (as the Mesos master does).
pub fn visible_state(state: TaskState, caps: Caps) -> TaskState {
    match state {
        TaskState::Killing if !caps.task_killing_state => TaskState::Running,
        TaskState::Dropped
        | TaskState::Unreachable
        | TaskState::Gone
        | TaskState::GoneByOperator
        | TaskState::Unknown
            if !caps.partition_aware =>
        {
            TaskState::Lost
        }
        other => other,
    }
}

/// A TaskState as Mesos' enum.
pub fn proto_state(state: TaskState) -> v1::TaskState {
    match state {
        TaskState::Staging => v1::TaskState::TaskStaging,
        TaskState::Starting => v1::TaskState::TaskStarting,
        TaskState::Running => v1::TaskState::TaskRunning,
        TaskState::Killing => v1::TaskState::TaskKilling,
        TaskState::Finished => v1::TaskState::TaskFinished,
        TaskState::Failed => v1::TaskState::TaskFailed,
        TaskState::Killed => v1::TaskState::TaskKilled,
        TaskState::Error => v1::TaskState::TaskError,
        TaskState::Lost => v1::TaskState::TaskLost,
        TaskState::Dropped => v1::TaskState::TaskDropped,
        TaskState::Unreachable => v1::TaskState::TaskUnreachable,
        TaskState::Gone => v1::TaskState::TaskGone,
        TaskState::GoneByOperator => v1::TaskState::TaskGoneByOperator,
        TaskState::Unknown => v1::TaskState::TaskUnknown,
    }
}

/// A TaskReason as Mesos' enum.
pub fn proto_reason(reason: TaskReason) -> Reason {
    match reason {
        TaskReason::ReasonCommandExecutorFailed => Reason::CommandExecutorFailed,
        TaskReason::ReasonContainerLaunchFailed => Reason::ContainerLaunchFailed,
        TaskReason::ReasonContainerLimitationMemory => Reason::ContainerLimitationMemory,
        TaskReason::ReasonContainerLimitationDisk => Reason::ContainerLimitationDisk,
        TaskReason::ReasonContainerPreempted => Reason::ContainerPreempted,
        TaskReason::ReasonExecutorTerminated => Reason::ExecutorTerminated,
        TaskReason::ReasonAgentDisconnected => Reason::AgentDisconnected,
        TaskReason::ReasonAgentRemoved => Reason::AgentRemoved,
        TaskReason::ReasonAgentRemovedByOperator => Reason::AgentRemovedByOperator,
        TaskReason::ReasonAgentDraining => Reason::AgentDraining,
        TaskReason::ReasonInvalidOffers => Reason::InvalidOffers,
        TaskReason::ReasonResourcesUnknown => Reason::ResourcesUnknown,
        TaskReason::ReasonTaskInvalid => Reason::TaskInvalid,
        TaskReason::ReasonTaskUnauthorized => Reason::TaskUnauthorized,
        TaskReason::ReasonTaskKilledDuringLaunch => Reason::TaskKilledDuringLaunch,
        TaskReason::ReasonTaskHealthCheckStatusUpdated => Reason::TaskHealthCheckStatusUpdated,
        TaskReason::ReasonTaskUnknown => Reason::TaskUnknown,
        TaskReason::ReasonFrameworkRemoved => Reason::FrameworkRemoved,
        TaskReason::ReasonMaxCompletionTimeReached => Reason::MaxCompletionTimeReached,
        TaskReason::ReasonReconciliation => Reason::Reconciliation,
    }
}

/// A TaskSource as Mesos' enum.
pub fn proto_source(source: TaskSource) -> Source {
    match source {
        TaskSource::Master => Source::Master,
        TaskSource::Agent => Source::Agent,
        TaskSource::Executor => Source::Executor,
    }
}

/// The Mesos task id of a Task launched through the API (its annotation), else its name.
pub fn mesos_task_id(task: &Task) -> String {
    task.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(TASK_ID_ANNOTATION).cloned())
        .or_else(|| task.metadata.name.clone())
        .unwrap_or_default()
}

/// The agent of a Task: where it runs, else the agent its TaskInfo named.
pub fn task_agent(task: &Task) -> String {
    task.status
        .as_ref()
        .and_then(|s| s.agent.clone())
        .or_else(|| {
            task.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(AGENT_ANNOTATION).cloned())
        })
        .unwrap_or_default()
}

/// The update a framework is sent for a Task's current state (`None` before it has one
/// or while it is STAGING: Mesos sends no update for a launch). `uuid` is set for
/// updates that want an acknowledgement; `timestamp` is epoch seconds.
pub fn task_status(
    task: &Task,
    caps: Caps,
    uuid: Option<Vec<u8>>,
    timestamp: f64,
) -> Option<v1::TaskStatus> {
    let status = task.status.as_ref()?;
    let state = status.state?;
    if state == TaskState::Staging {
        return None;
    }
    let visible = visible_state(state, caps);
    Some(v1::TaskStatus {
        task_id: v1::TaskId {
            value: mesos_task_id(task),
        },
        state: proto_state(visible) as i32,
        message: status.message.clone(),
        source: Some(proto_source(status.source.unwrap_or(TaskSource::Executor)) as i32),
        reason: status.reason.map(|r| proto_reason(r) as i32),
        agent_id: Some(v1::AgentId {
            value: task_agent(task),
        }),
        timestamp: Some(timestamp),
        uuid,
        healthy: task.spec.health_check.as_ref().and(status.healthy),
        ..Default::default()
    })
}

/// An update the master makes itself (reconciliation, refused launches): no uuid, never
/// acknowledged.
pub fn master_status(
    task_id: &str,
    agent: Option<&str>,
    state: TaskState,
    reason: Reason,
    message: Option<String>,
    timestamp: f64,
) -> v1::TaskStatus {
    v1::TaskStatus {
        task_id: v1::TaskId {
            value: task_id.to_string(),
        },
        state: proto_state(state) as i32,
        message,
        source: Some(Source::Master as i32),
        reason: Some(reason as i32),
        agent_id: agent.map(|a| v1::AgentId {
            value: a.to_string(),
        }),
        timestamp: Some(timestamp),
        ..Default::default()
    }
}

fn scalar(name: &str, value: f64, role: &str, caps: Caps) -> v1::Resource {
    v1::Resource {
        name: name.to_string(),
        r#type: v1::value::Type::Scalar as i32,
        scalar: Some(v1::value::Scalar { value }),
        ..with_role(role, caps)
    }
}

fn with_role(role: &str, caps: Caps) -> v1::Resource {
    if caps.multi_role {
        v1::Resource {
            allocation_info: Some(v1::resource::AllocationInfo {
                role: Some(role.to_string()),
            }),
            ..Default::default()
        }
    } else {
        v1::Resource {
            role: Some("*".to_string()),
            ..Default::default()
        }
    }
}

/// Mesos resources (unreserved, allocated to `role`) of a [`Resources`]. GPUs only for
/// GPU_RESOURCES frameworks.
pub fn resources_to_proto(resources: &Resources, role: &str, caps: Caps) -> Vec<v1::Resource> {
    let mut out = Vec::new();
    if !resources.cpus.is_zero() {
        out.push(scalar("cpus", cpus_f64(resources.cpus), role, caps));
    }
    if !resources.mem.is_zero() {
        out.push(scalar("mem", mib_f64(resources.mem), role, caps));
    }
    if !resources.disk.is_zero() {
        out.push(scalar("disk", mib_f64(resources.disk), role, caps));
    }
    if resources.gpus > 0 && caps.gpu_resources {
        out.push(scalar("gpus", resources.gpus as f64, role, caps));
    }
    if !resources.ports.is_empty() {
        out.push(v1::Resource {
            name: "ports".to_string(),
            r#type: v1::value::Type::Ranges as i32,
            ranges: Some(v1::value::Ranges {
                range: resources
                    .ports
                    .ranges()
                    .iter()
                    .map(|r| v1::value::Range {
                        begin: u64::from(r.begin),
                        end: u64::from(r.end),
                    })
                    .collect(),
            }),
            ..with_role(role, caps)
        });
    }
    out
}

/// CPUs as Mesos' double.
pub fn cpus_f64(cpus: Cpus) -> f64 {
    cpus.millis() as f64 / 1000.0
}

/// Bytes as Mesos' MiB double.
pub fn mib_f64(amount: Mebibytes) -> f64 {
    amount.bytes() as f64 / f64::from(1u32 << 20)
}

/// Mesos resources as a [`Resources`] (summed by name). Unknown names, sets, and
/// negative or non-finite values are refused with a message.
pub fn resources_from_proto(resources: &[v1::Resource]) -> Result<Resources, String> {
    let mut total = Resources::default();
    for resource in resources {
        let mut one = Resources::default();
        let value = || {
            resource
                .scalar
                .as_ref()
                .map(|s| s.value)
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    format!(
                        "resource {} needs a non-negative scalar value",
                        resource.name
                    )
                })
        };
        match resource.name.as_str() {
            "cpus" => {
                one.cpus = serde_json::from_value(serde_json::json!(value()?))
                    .map_err(|e| format!("cpus: {e}"))?;
            }
            "mem" => {
                one.mem = serde_json::from_value(serde_json::json!(value()?))
                    .map_err(|e| format!("mem: {e}"))?;
            }
            "disk" => {
                one.disk = serde_json::from_value(serde_json::json!(value()?))
                    .map_err(|e| format!("disk: {e}"))?;
            }
            "gpus" => {
                let v = value()?;
                if v.fract() != 0.0 {
                    return Err(format!("gpus must be a whole number, not {v}"));
                }
                one.gpus = v as u64;
            }
            "ports" => {
                let ranges = resource
                    .ranges
                    .as_ref()
                    .ok_or("resource ports needs ranges")?;
                let mut parsed = Vec::new();
                for r in &ranges.range {
                    let (Ok(begin), Ok(end)) = (u16::try_from(r.begin), u16::try_from(r.end))
                    else {
                        return Err(format!("port range {}-{} is out of range", r.begin, r.end));
                    };
                    parsed.push(
                        PortRange::new(begin, end)
                            .map_err(|e| format!("port range {begin}-{end}: {e}"))?,
                    );
                }
                one.ports = PortRanges::new(parsed);
            }
            other => {
                return Err(format!(
                    "resource {other:?} is not supported (cpus, mem, disk, gpus, ports are)"
                ));
            }
        }
        total = total
            .checked_add(&one)
            .ok_or("resources overflow or ports overlap")?;
    }
    Ok(total)
}

/// An Offer object as the Mesos offer a framework is sent.
pub fn offer_to_proto(offer: &Offer, framework_id: &str, caps: Caps) -> v1::Offer {
    let name = offer.metadata.name.clone().unwrap_or_default();
    let role = if offer.spec.role.is_empty() {
        "*"
    } else {
        offer.spec.role.as_str()
    };
    let resources = offer
        .status
        .as_ref()
        .filter(|s| !s.remaining.is_empty())
        .map(|s| &s.remaining)
        .unwrap_or(&offer.spec.resources);
    v1::Offer {
        id: v1::OfferId { value: name },
        framework_id: v1::FrameworkId {
            value: framework_id.to_string(),
        },
        agent_id: v1::AgentId {
            value: offer.spec.agent.clone(),
        },
        hostname: if offer.spec.hostname.is_empty() {
            offer.spec.agent.clone()
        } else {
            offer.spec.hostname.clone()
        },
        resources: resources_to_proto(resources, role, caps),
        attributes: offer
            .spec
            .attributes
            .iter()
            .map(|(name, value)| v1::Attribute {
                name: name.clone(),
                r#type: v1::value::Type::Text as i32,
                text: Some(v1::value::Text {
                    value: value.clone(),
                }),
                ..Default::default()
            })
            .collect(),
        allocation_info: caps.multi_role.then(|| v1::resource::AllocationInfo {
            role: Some(role.to_string()),
        }),
        ..Default::default()
    }
}

/// The Task object name of a Mesos task id: a readable DNS-1123 prefix of the id and a
/// hash of the framework id and the task id (task ids are arbitrary strings and only
/// unique within a framework).
pub fn task_name(framework_id: &str, task_id: &str) -> String {
    let mut prefix: String = task_id
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() { c } else { '-' }
        })
        .take(40)
        .collect();
    prefix = prefix.trim_matches('-').to_string();
    let hash = fnv1a(format!("{framework_id}/{task_id}").as_bytes());
    if prefix.is_empty() {
        format!("task-{hash:016x}")
    } else {
        format!("{prefix}-{:012x}", hash >> 16)
    }
}

/// The Framework object name for a FrameworkInfo name: readable, with `suffix` (from
/// the new framework's id) to keep it unique.
pub fn framework_name(name: &str, suffix: &str) -> String {
    let prefix: String = name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() { c } else { '-' }
        })
        .take(40)
        .collect();
    let prefix = prefix.trim_matches('-');
    let suffix: String = suffix
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase();
    if prefix.is_empty() {
        format!("framework-{suffix}")
    } else {
        format!("{prefix}-{suffix}")
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// A TaskInfo made into a Task: what it is created with.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    /// Object name ([`task_name`]).
    pub name: String,
    /// Annotations (Mesos task id, agent, labels).
    pub annotations: BTreeMap<String, String>,
    /// The spec.
    pub spec: TaskSpec,
}

fn seconds_i32(value: Option<f64>, default: i32) -> i32 {
    value
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v.ceil().min(86_400.0) as i32)
        .unwrap_or(default)
}

fn duration(info: &v1::DurationInfo) -> Result<kube::core::Duration, String> {
    let nanos = u64::try_from(info.nanoseconds)
        .map_err(|_| format!("a duration cannot be negative ({} ns)", info.nanoseconds))?;
    Ok(kube::core::Duration::from(std::time::Duration::from_nanos(
        nanos,
    )))
}

fn health_check(check: &v1::HealthCheck) -> Result<HealthCheck, String> {
    use v1::health_check::Type;
    let mut out = HealthCheck {
        http: None,
        tcp: None,
        command: None,
        delay_seconds: seconds_i32(check.delay_seconds, 15),
        interval_seconds: seconds_i32(check.interval_seconds, 10).max(1),
        timeout_seconds: seconds_i32(check.timeout_seconds, 20).max(1),
        consecutive_failures: check
            .consecutive_failures
            .map(|n| n.clamp(1, 1000) as i32)
            .unwrap_or(3),
        grace_period_seconds: seconds_i32(check.grace_period_seconds, 10),
    };
    let port = |p: u32| {
        i32::try_from(p)
            .ok()
            .filter(|p| (1..=65535).contains(p))
            .ok_or_else(|| format!("health check port {p} is out of range"))
    };
    match check.r#type.and_then(|t| Type::try_from(t).ok()) {
        Some(Type::Http) => {
            let http = check
                .http
                .as_ref()
                .ok_or("an HTTP health check needs http")?;
            out.http = Some(HttpCheck {
                port: port(http.port)?,
                path: http.path.clone().unwrap_or_else(|| "/".to_string()),
                scheme: if http.scheme.as_deref() == Some("https") {
                    HttpScheme::Https
                } else {
                    HttpScheme::Http
                },
            });
        }
        Some(Type::Tcp) => {
            let tcp = check.tcp.as_ref().ok_or("a TCP health check needs tcp")?;
            out.tcp = Some(TcpCheck {
                port: port(tcp.port)?,
            });
        }
        Some(Type::Command) => {
            let command = check
                .command
                .as_ref()
                .ok_or("a COMMAND health check needs command")?;
            out.command = Some(argv(command)?);
        }
        _ => return Err("a health check needs a type of COMMAND, HTTP or TCP".to_string()),
    }
    Ok(out)
}

fn argv(command: &v1::CommandInfo) -> Result<Vec<String>, String> {
    let value = command.value.clone().unwrap_or_default();
    if command.shell.unwrap_or(true) {
        if value.is_empty() {
            return Err("a shell command needs a value".to_string());
        }
        Ok(vec!["/bin/sh".into(), "-c".into(), value])
    } else if !command.arguments.is_empty() {
        Ok(command.arguments.clone())
    } else if !value.is_empty() {
        Ok(vec![value])
    } else {
        Err("a command with shell=false needs a value or arguments".to_string())
    }
}

fn image(container: &v1::ContainerInfo) -> Result<Option<String>, String> {
    use v1::container_info::Type;
    match Type::try_from(container.r#type).ok() {
        Some(Type::Docker) => {
            let docker = container
                .docker
                .as_ref()
                .ok_or("a DOCKER container needs docker.image")?;
            Ok(Some(docker.image.clone()).filter(|i| !i.is_empty()))
        }
        Some(Type::Mesos) => Ok(container
            .mesos
            .as_ref()
            .and_then(|m| m.image.as_ref())
            .and_then(|i| i.docker.as_ref())
            .map(|d| d.name.clone())
            .filter(|i| !i.is_empty())),
        _ => Err("container.type must be DOCKER or MESOS".to_string()),
    }
}

/// A TaskInfo as the Task an External scheduler would create on `offer` of Framework
/// `framework` (whose Mesos id is `framework_id`). `Err` is the message of the
/// TASK_ERROR it is answered with.
pub fn task_from_info(
    info: &v1::TaskInfo,
    framework: &str,
    framework_id: &str,
    offer: &str,
) -> Result<NewTask, String> {
    if info.task_id.value.is_empty() {
        return Err("task_id must not be empty".to_string());
    }
    if info.executor.is_some() {
        return Err(
            "custom executors (TaskInfo.executor) are not supported: launch a command task \
             (TaskInfo.command, optionally with a DOCKER or MESOS container image)"
                .to_string(),
        );
    }
    let command = info
        .command
        .as_ref()
        .ok_or("a task needs a command (TaskInfo.command)")?;
    let resources = resources_from_proto(&info.resources)?;
    if resources.cpus.is_zero() || resources.mem.is_zero() {
        return Err("a task needs cpus and mem greater than 0".to_string());
    }
    let mut spec_command = CommandSpec {
        shell: None,
        argv: None,
        env: Vec::new(),
        image: crate::api::task::DEFAULT_IMAGE.to_string(),
    };
    if command.shell.unwrap_or(true) {
        let value = command.value.clone().unwrap_or_default();
        if value.is_empty() {
            return Err("a shell command needs command.value".to_string());
        }
        spec_command.shell = Some(value);
    } else {
        spec_command.argv = Some(argv(command)?);
    }
    if let Some(env) = &command.environment {
        for var in &env.variables {
            if var.secret.is_some() {
                return Err(format!(
                    "environment variable {} is a SECRET, which is not supported",
                    var.name
                ));
            }
            spec_command.env.push(EnvVar {
                name: var.name.clone(),
                value: var.value.clone(),
                value_from: None,
            });
        }
    }
    if !command.uris.is_empty() {
        return Err("command.uris (the fetcher) are not supported: bake them into an image".into());
    }
    if let Some(container) = &info.container
        && let Some(image) = image(container)?
    {
        spec_command.image = image;
    }
    let mut annotations = BTreeMap::new();
    annotations.insert(TASK_ID_ANNOTATION.to_string(), info.task_id.value.clone());
    annotations.insert(AGENT_ANNOTATION.to_string(), info.agent_id.value.clone());
    if let Some(labels) = &info.labels
        && !labels.labels.is_empty()
    {
        let map: BTreeMap<&str, &str> = labels
            .labels
            .iter()
            .map(|l| (l.key.as_str(), l.value.as_deref().unwrap_or("")))
            .collect();
        annotations.insert(
            LABELS_ANNOTATION.to_string(),
            serde_json::to_string(&map).unwrap_or_default(),
        );
        // Labels that are valid annotation keys become annotations of the Task (and so
        // of its Pod), where tools and webhooks can read them.
        for (key, value) in map {
            if is_annotation_key(key) && !key.starts_with("mesos.operator.dev/") {
                annotations.insert(key.to_string(), value.to_string());
            }
        }
    }
    let kill_policy = match info
        .kill_policy
        .as_ref()
        .and_then(|k| k.grace_period.as_ref())
    {
        Some(grace) => Some(KillPolicy {
            grace_period: duration(grace)?,
        }),
        None => None,
    };
    let max_completion_time = info
        .max_completion_time
        .as_ref()
        .map(duration)
        .transpose()?;
    let health_check = info.health_check.as_ref().map(health_check).transpose()?;
    Ok(NewTask {
        name: task_name(framework_id, &info.task_id.value),
        annotations,
        spec: TaskSpec {
            framework: framework.to_string(),
            offer: Some(offer.to_string()),
            resources,
            command: Some(spec_command),
            template: None,
            health_check,
            kill_policy,
            max_completion_time,
            kill: false,
            placement: None,
            random_ports: Vec::new(),
            readiness_check: None,
        },
    })
}

/// Whether `key` is a Kubernetes annotation key: `[prefix/]name`, the prefix a DNS
/// subdomain, the name 1-63 alphanumerics with `-`, `_`, `.` inside.
pub fn is_annotation_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            })
    });
    name_ok && prefix_ok
}

/// What an offer of an ACCEPT looks like to [`plan_accept`].
#[derive(Debug, Clone, PartialEq)]
pub struct OfferView {
    /// Offer (object) name: the Mesos offer id.
    pub id: String,
    /// Agent (node) name.
    pub agent: String,
    /// What it still offers.
    pub resources: Resources,
}

/// What an ACCEPT does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AcceptPlan {
    /// Tasks to create.
    pub launches: Vec<NewTask>,
    /// Updates answering the task infos that are not launched.
    pub refused: Vec<v1::TaskStatus>,
    /// Offers of the call that no task uses: declined with the call's filter.
    pub unused_offers: Vec<String>,
}

/// Plans an ACCEPT's LAUNCH operations. `offers` are the call's offers that are valid
/// (outstanding, this framework's); `invalid_offers` says whether any named offer was
/// not; `known_tasks` are task ids already in use. Mesos' rules: an invalid offer
/// fails every launch (TASK_LOST, or TASK_DROPPED for PARTITION_AWARE, with
/// REASON_INVALID_OFFERS); offers must share one agent; an invalid task is TASK_ERROR
/// (REASON_TASK_INVALID); tasks are packed onto the offers in order.
#[allow(clippy::too_many_arguments)]
pub fn plan_accept(
    offers: &[OfferView],
    invalid_offers: Option<&str>,
    infos: &[v1::TaskInfo],
    known_tasks: &HashSet<String>,
    framework: &str,
    framework_id: &str,
    caps: Caps,
    timestamp: f64,
) -> AcceptPlan {
    plan_launches(
        offers,
        invalid_offers,
        infos,
        &[],
        known_tasks,
        framework,
        framework_id,
        caps,
        timestamp,
    )
}

/// [`plan_accept`] with LAUNCH_GROUP operations too: each group is one Task
/// ([`group_task`]), launched whole or not at all; when it is not, every member is
/// answered (TASK_ERROR with REASON_TASK_GROUP_INVALID, or the invalid-offers answer).
#[allow(clippy::too_many_arguments)]
pub fn plan_launches(
    offers: &[OfferView],
    invalid_offers: Option<&str>,
    infos: &[v1::TaskInfo],
    groups: &[v1::offer::operation::LaunchGroup],
    known_tasks: &HashSet<String>,
    framework: &str,
    framework_id: &str,
    caps: Caps,
    timestamp: f64,
) -> AcceptPlan {
    let mut plan = AcceptPlan::default();
    let lost = if caps.partition_aware {
        TaskState::Dropped
    } else {
        TaskState::Lost
    };
    let agents: HashSet<&str> = offers.iter().map(|o| o.agent.as_str()).collect();
    let offer_error = match invalid_offers {
        Some(message) => Some(message.to_string()),
        None if offers.is_empty() => Some("no offers were named".to_string()),
        None if agents.len() > 1 => Some("the offers are on more than one agent".to_string()),
        None => None,
    };
    // Units launched whole: a task, or a group (its members).
    let units: Vec<(
        Vec<&v1::TaskInfo>,
        Option<&v1::offer::operation::LaunchGroup>,
    )> = infos
        .iter()
        .map(|i| (vec![i], None))
        .chain(
            groups
                .iter()
                .map(|g| (g.task_group.tasks.iter().collect(), Some(g))),
        )
        .collect();
    if let Some(message) = offer_error {
        plan.refused = units
            .iter()
            .flat_map(|(members, _)| members.iter())
            .map(|info| {
                master_status(
                    &info.task_id.value,
                    Some(&info.agent_id.value),
                    lost,
                    Reason::InvalidOffers,
                    Some(format!("Task launched with invalid offers: {message}")),
                    timestamp,
                )
            })
            .collect();
        return plan;
    }
    let mut remaining: Vec<Resources> = offers.iter().map(|o| o.resources.clone()).collect();
    let mut used = vec![false; offers.len()];
    let mut seen = HashSet::new();
    for (members, group) in units {
        let reason = if group.is_some() {
            Reason::TaskGroupInvalid
        } else {
            Reason::TaskInvalid
        };
        let refuse = |plan: &mut AcceptPlan, message: String| {
            for info in &members {
                plan.refused.push(master_status(
                    &info.task_id.value,
                    Some(&info.agent_id.value),
                    TaskState::Error,
                    reason,
                    Some(message.clone()),
                    timestamp,
                ));
            }
        };
        let duplicate = members.iter().find(|info| {
            let id = &info.task_id.value;
            known_tasks.contains(id) || !seen.insert(id.clone())
        });
        if let Some(info) = duplicate {
            refuse(
                &mut plan,
                format!("Task has duplicate ID: {}", info.task_id.value),
            );
            continue;
        }
        if let Some(info) = members
            .iter()
            .find(|info| !agents.contains(info.agent_id.value.as_str()))
        {
            refuse(
                &mut plan,
                format!(
                    "Task uses agent {} but the offers are on {}",
                    info.agent_id.value,
                    offers.first().map(|o| o.agent.as_str()).unwrap_or("")
                ),
            );
            continue;
        }
        let first = offers.first().map(|o| o.id.as_str()).unwrap_or_default();
        let new = match (group, members.first()) {
            (Some(g), _) => group_task(g, framework, framework_id, first),
            (None, Some(info)) => task_from_info(info, framework, framework_id, first),
            (None, None) => continue,
        };
        let new = match new {
            Ok(new) => new,
            Err(message) => {
                refuse(&mut plan, message);
                continue;
            }
        };
        let slot = remaining
            .iter()
            .position(|r| new.spec.resources.fits_in(r).is_ok());
        let Some(slot) = slot else {
            refuse(
                &mut plan,
                format!(
                    "Task uses more resources ({}) than the offers have left",
                    describe(&new.spec.resources)
                ),
            );
            continue;
        };
        if let (Some(left), Some(offer)) = (remaining.get_mut(slot), offers.get(slot)) {
            *left = left.saturating_sub(&new.spec.resources);
            if let Some(u) = used.get_mut(slot) {
                *u = true;
            }
            let mut new = new;
            new.spec.offer = Some(offer.id.clone());
            plan.launches.push(new);
        }
    }
    plan.unused_offers = offers
        .iter()
        .zip(used)
        .filter(|(_, used)| !used)
        .map(|(o, _)| o.id.clone())
        .collect();
    plan
}

fn describe(r: &Resources) -> String {
    format!(
        "cpus {}, mem {}, disk {}, gpus {}",
        cpus_f64(r.cpus),
        mib_f64(r.mem),
        mib_f64(r.disk),
        r.gpus
    )
}

/// How a refused offer operation (RESERVE, UNRESERVE, CREATE, DESTROY, the volume and
/// disk operations: this master has no reservations or volumes) is answered, as Mesos'
/// `Master::drop` does for operations it refuses: a message to log, and, when the
/// operation has an `id` (the framework asked for operation feedback), an
/// UPDATE_OPERATION_STATUS with OPERATION_ERROR and that message (no uuid, no agent: the
/// master's own answer). The operation's resources stay unused, so they are declined with
/// the ACCEPT's filter like the rest of the offer. `invalid_offers` is the reason the
/// ACCEPT's offers were refused, if they were.
pub fn refuse_operation(
    operation: &v1::offer::Operation,
    invalid_offers: Option<&str>,
) -> (String, Option<v1::OperationStatus>) {
    use v1::offer::operation::Type as Op;
    let kind = operation
        .r#type
        .and_then(|t| Op::try_from(t).ok())
        .unwrap_or(Op::Unknown);
    let message = match invalid_offers {
        Some(reason) => format!("Operation attempted with invalid offers: {reason}"),
        None if kind == Op::Unknown => "Unknown operation type".to_string(),
        None => format!(
            "{} is not supported: this master has no reservations, volumes or disks \
             (offers are unreserved node capacity; use roles and quota on ResourceRoles)",
            kind.as_str_name()
        ),
    };
    let status = operation.id.as_ref().map(|id| v1::OperationStatus {
        operation_id: Some(id.clone()),
        state: v1::OperationState::OperationError as i32,
        message: Some(message.clone()),
        ..Default::default()
    });
    (message, status)
}

/// Answers a RECONCILE from the framework's tasks (by Mesos task id). Explicit (`asked`
/// not empty): each asked task's latest state, TASK_STAGING for one being launched,
/// and TASK_LOST (TASK_UNKNOWN for PARTITION_AWARE frameworks) for one never known.
/// Implicit: every non-terminal task. REASON_RECONCILIATION, SOURCE_MASTER, no uuid.
pub fn reconcile(
    tasks: &HashMap<String, &Task>,
    launching: &HashSet<String>,
    asked: &[String],
    caps: Caps,
    timestamp: f64,
) -> Vec<v1::TaskStatus> {
    let answer = |id: &str, task: &Task| {
        let state = task.state().unwrap_or(TaskState::Staging);
        let mut status = master_status(
            id,
            Some(&task_agent(task)),
            visible_state(state, caps),
            Reason::Reconciliation,
            task.status.as_ref().and_then(|s| s.message.clone()),
            timestamp,
        );
        status.healthy = task
            .spec
            .health_check
            .as_ref()
            .and(task.status.as_ref().and_then(|s| s.healthy));
        status
    };
    if asked.is_empty() {
        let mut ids: Vec<&String> = tasks
            .iter()
            .filter(|(_, t)| !t.is_terminal())
            .map(|(id, _)| id)
            .collect();
        ids.sort();
        let mut out: Vec<v1::TaskStatus> = ids
            .into_iter()
            .filter_map(|id| tasks.get(id).map(|t| answer(id, t)))
            .collect();
        let mut pending: Vec<&String> = launching
            .iter()
            .filter(|id| !tasks.contains_key(*id))
            .collect();
        pending.sort();
        for id in pending {
            out.push(master_status(
                id,
                None,
                TaskState::Staging,
                Reason::Reconciliation,
                None,
                timestamp,
            ));
        }
        return out;
    }
    asked
        .iter()
        .map(|id| match tasks.get(id) {
            Some(task) => answer(id, task),
            None if launching.contains(id) => master_status(
                id,
                None,
                TaskState::Staging,
                Reason::Reconciliation,
                None,
                timestamp,
            ),
            None => master_status(
                id,
                None,
                if caps.partition_aware {
                    TaskState::Unknown
                } else {
                    TaskState::Lost
                },
                Reason::Reconciliation,
                Some("Reconciliation: Task is unknown".to_string()),
                timestamp,
            ),
        })
        .collect()
}

/// Status-update delivery to one framework: at least once and in order per task, as the
/// Mesos agent's status-update manager does: every update (but the master's own) waits in
/// its task's FIFO; only the head is sent, and retried until acknowledged; its
/// acknowledgement releases the next. Pure: the caller passes the time and fresh uuids.
#[derive(Debug, Default, Clone)]
pub struct Delivery {
    /// Per task (object name): the last state and health queued.
    sent: HashMap<String, (TaskState, Option<bool>)>,
    /// Per task: the updates awaiting acknowledgement, oldest (the one sent) first.
    pending: HashMap<String, std::collections::VecDeque<Pending>>,
}

/// What an acknowledgement did.
#[derive(Debug, Clone, PartialEq)]
pub struct Acked {
    /// The state of the update it acknowledged.
    pub state: TaskState,
    /// The task's next update, now the head of its FIFO: to send.
    pub next: Option<v1::TaskStatus>,
}

/// An update awaiting acknowledgement.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// The update.
    pub status: v1::TaskStatus,
    /// When to send it again (seconds, the caller's clock).
    pub retry_at: f64,
    /// The current retry interval (seconds).
    pub backoff: f64,
    /// The state it reports (as the framework sees it).
    pub state: TaskState,
}

/// First retry of an unacknowledged update (Mesos' agent: 10 s, doubling to 10 min).
pub const RETRY_MIN_SECONDS: f64 = 10.0;
/// Longest retry interval.
pub const RETRY_MAX_SECONDS: f64 = 600.0;

impl Delivery {
    /// The updates due for `tasks` (object name → Task): a new state or health is sent
    /// with the uuid `new_uuid` makes; a terminal state the framework acknowledged
    /// (the Task's annotation) is never sent again.
    pub fn changes<'a>(
        &mut self,
        tasks: impl IntoIterator<Item = (&'a str, &'a Task)>,
        caps: Caps,
        now: f64,
        mut new_uuid: impl FnMut() -> Vec<u8>,
    ) -> Vec<v1::TaskStatus> {
        let mut out = Vec::new();
        for (name, task) in tasks {
            let Some(state) = task.state() else { continue };
            let healthy = task.status.as_ref().and_then(|s| s.healthy);
            let visible = visible_state(state, caps);
            if self.sent.get(name) == Some(&(visible, healthy)) {
                continue;
            }
            // A terminal update is the last one (a task-group member's state, derived from
            // its container, could otherwise move on when the group's pod goes).
            if self.sent.get(name).is_some_and(|(s, _)| s.is_terminal()) {
                continue;
            }
            let acked = task
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ACKNOWLEDGED_ANNOTATION));
            if state.is_terminal() && acked.map(String::as_str) == Some(visible.as_str()) {
                self.sent.insert(name.to_string(), (visible, healthy));
                continue;
            }
            let Some(status) = task_status(task, caps, Some(new_uuid()), now) else {
                continue;
            };
            self.sent.insert(name.to_string(), (visible, healthy));
            let queue = self.pending.entry(name.to_string()).or_default();
            if queue.is_empty() {
                out.push(status.clone());
            }
            queue.push_back(Pending {
                status,
                retry_at: now + RETRY_MIN_SECONDS,
                backoff: RETRY_MIN_SECONDS,
                state: visible,
            });
        }
        out
    }

    /// Updates whose retry is due, with their next retry moved on.
    pub fn retries(&mut self, now: f64) -> Vec<v1::TaskStatus> {
        let mut out = Vec::new();
        for pending in self.pending.values_mut().filter_map(|q| q.front_mut()) {
            if pending.retry_at <= now {
                pending.backoff = (pending.backoff * 2.0).min(RETRY_MAX_SECONDS);
                pending.retry_at = now + pending.backoff;
                out.push(pending.status.clone());
            }
        }
        out
    }

    /// The head of every task's FIFO (sent again after a re-subscribe).
    pub fn unacknowledged(&mut self, now: f64) -> Vec<v1::TaskStatus> {
        let mut out = Vec::new();
        for pending in self.pending.values_mut().filter_map(|q| q.front_mut()) {
            pending.retry_at = now + RETRY_MIN_SECONDS;
            pending.backoff = RETRY_MIN_SECONDS;
            out.push(pending.status.clone());
        }
        out
    }

    /// An acknowledgement of `uuid` for task `name`: when it matches the head of the
    /// task's FIFO, the head is done and the next update (if any) is due now; `None` when
    /// it matched nothing.
    pub fn acknowledge(&mut self, name: &str, uuid: &[u8], now: f64) -> Option<Acked> {
        let queue = self.pending.get_mut(name)?;
        if queue.front()?.status.uuid.as_deref() != Some(uuid) {
            return None;
        }
        let done = queue.pop_front()?;
        let next = queue.front_mut().map(|p| {
            p.retry_at = now + RETRY_MIN_SECONDS;
            p.backoff = RETRY_MIN_SECONDS;
            p.status.clone()
        });
        if queue.is_empty() {
            self.pending.remove(name);
        }
        Some(Acked {
            state: done.state,
            next,
        })
    }

    /// Forgets tasks no longer in the store.
    pub fn retain(&mut self, live: &HashSet<&str>) {
        self.sent.retain(|name, _| live.contains(name.as_str()));
        self.pending.retain(|name, _| live.contains(name.as_str()));
    }

    /// How many updates await acknowledgement (sent or queued).
    pub fn pending_len(&self) -> usize {
        self.pending.values().map(|q| q.len()).sum()
    }
}

// ---- task groups (LAUNCH_GROUP) ----------------------------------------------------

/// Annotation on a Task that runs a Mesos task group: its members, as a JSON list of
/// [`GroupMember`]s. The Task's own task-id annotation holds the group's executor id.
pub const GROUP_ANNOTATION: &str = "mesos.operator.dev/task-group";
/// Prefix of the annotation recording the terminal state a framework acknowledged for
/// one member of a task group (`<prefix><container>`).
pub const MEMBER_ACKNOWLEDGED_PREFIX: &str = "mesos.operator.dev/acknowledged.";

/// One task of a task group: its Mesos task id and the container that runs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupMember {
    /// Mesos task id.
    pub id: String,
    /// The Pod's container that runs it.
    pub container: String,
}

/// The members of a Task that runs a task group (`None` for a single task).
pub fn group_members(task: &Task) -> Option<Vec<GroupMember>> {
    task.metadata
        .annotations
        .as_ref()?
        .get(GROUP_ANNOTATION)
        .and_then(|s| serde_json::from_str(s).ok())
}

/// The Mesos task ids a Task stands for: a group's members, else its own.
pub fn member_ids(task: &Task) -> Vec<String> {
    match group_members(task) {
        Some(members) => members.into_iter().map(|m| m.id).collect(),
        None => vec![mesos_task_id(task)],
    }
}

fn container_name(index: usize, task_id: &str) -> String {
    let readable: String = task_id
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() { c } else { '-' }
        })
        .take(32)
        .collect();
    let name = format!("t{index}-{}", readable.trim_matches('-'));
    name.trim_end_matches('-').to_string()
}

/// A LAUNCH_GROUP's task group as one Task whose pod template holds one container per
/// member (they run together, as a Mesos task group does under the default executor);
/// the Task's resources are the executor's and the members' together. `Err` is the
/// message every member's TASK_ERROR (REASON_TASK_GROUP_INVALID) carries.
pub fn group_task(
    group: &v1::offer::operation::LaunchGroup,
    framework: &str,
    framework_id: &str,
    offer: &str,
) -> Result<NewTask, String> {
    use v1::executor_info::Type as ExecutorType;
    let executor = &group.executor;
    if executor.r#type.and_then(|t| ExecutorType::try_from(t).ok()) == Some(ExecutorType::Custom)
        || executor.command.is_some()
    {
        return Err(
            "a task group runs under the DEFAULT executor here; custom executors are not \
             supported"
                .to_string(),
        );
    }
    if executor.executor_id.value.is_empty() {
        return Err("executor.executor_id must not be empty".to_string());
    }
    let tasks = &group.task_group.tasks;
    if tasks.is_empty() {
        return Err("a task group needs at least one task".to_string());
    }
    let mut resources = resources_from_proto(&executor.resources)?;
    let mut containers = Vec::new();
    let mut members = Vec::new();
    let mut annotations = BTreeMap::new();
    let mut kill_policy: Option<KillPolicy> = None;
    let mut max_completion_time: Option<kube::core::Duration> = None;
    for (index, info) in tasks.iter().enumerate() {
        let id = &info.task_id.value;
        let new = task_from_info(info, framework, framework_id, offer)
            .map_err(|e| format!("task {id}: {e}"))?;
        if new.spec.health_check.is_some() {
            return Err(format!(
                "task {id}: health checks of task-group members are not supported"
            ));
        }
        if !new.spec.resources.ports.is_empty() {
            return Err(format!(
                "task {id}: ports of task-group members are not supported"
            ));
        }
        resources = resources
            .checked_add(&new.spec.resources)
            .ok_or("the group's resources overflow")?;
        let Some(command) = new.spec.command else {
            return Err(format!("task {id}: a task needs a command"));
        };
        let container = container_name(index, id);
        let argv = match (&command.shell, &command.argv) {
            (Some(shell), _) => vec!["/bin/sh".to_string(), "-c".to_string(), shell.clone()],
            (None, Some(argv)) => argv.clone(),
            (None, None) => Vec::new(),
        };
        containers.push(serde_json::json!({
            "name": container,
            "image": command.image,
            "command": argv,
            "env": command.env,
        }));
        members.push(GroupMember {
            id: id.clone(),
            container,
        });
        annotations.extend(
            new.annotations
                .into_iter()
                .filter(|(k, _)| k != TASK_ID_ANNOTATION && k != AGENT_ANNOTATION),
        );
        if let Some(k) = new.spec.kill_policy {
            let longer = kill_policy.as_ref().is_none_or(|p| {
                std::time::Duration::from(k.grace_period)
                    > std::time::Duration::from(p.grace_period)
            });
            if longer {
                kill_policy = Some(k);
            }
        }
        if let Some(m) = new.spec.max_completion_time {
            let longer = max_completion_time
                .is_none_or(|p| std::time::Duration::from(m) > std::time::Duration::from(p));
            if longer {
                max_completion_time = Some(m);
            }
        }
    }
    let group_id = executor.executor_id.value.clone();
    annotations.insert(TASK_ID_ANNOTATION.to_string(), group_id.clone());
    if let Some(first) = tasks.first() {
        annotations.insert(AGENT_ANNOTATION.to_string(), first.agent_id.value.clone());
    }
    annotations.insert(
        GROUP_ANNOTATION.to_string(),
        serde_json::to_string(&members).unwrap_or_default(),
    );
    Ok(NewTask {
        name: task_name(framework_id, &format!("executor/{group_id}")),
        annotations,
        spec: TaskSpec {
            framework: framework.to_string(),
            offer: Some(offer.to_string()),
            resources,
            command: None,
            template: Some(serde_json::json!({
                "spec": {"restartPolicy": "Never", "containers": containers}
            })),
            health_check: None,
            kill_policy,
            max_completion_time,
            kill: false,
            placement: None,
            random_ports: Vec::new(),
            readiness_check: None,
        },
    })
}

/// The Mesos task ids a Task to be created stands for (a group's members, else its own).
pub fn new_task_ids(new: &NewTask) -> Vec<String> {
    match new
        .annotations
        .get(GROUP_ANNOTATION)
        .and_then(|s| serde_json::from_str::<Vec<GroupMember>>(s).ok())
    {
        Some(members) => members.into_iter().map(|m| m.id).collect(),
        None => new
            .annotations
            .get(TASK_ID_ANNOTATION)
            .cloned()
            .into_iter()
            .collect(),
    }
}

/// A member's state: its container's own end (exit code 0: TASK_FINISHED, else
/// TASK_FAILED), else the group's (TASK_STARTING while its container has not started in
/// a running group).
pub fn member_state(
    group: TaskState,
    container: Option<&k8s_openapi::api::core::v1::ContainerState>,
) -> (TaskState, Option<TaskReason>, Option<String>) {
    if let Some(t) = container.and_then(|c| c.terminated.as_ref()) {
        return if t.exit_code == 0 {
            (TaskState::Finished, None, None)
        } else {
            let reason = if t.reason.as_deref() == Some("OOMKilled") {
                TaskReason::ReasonContainerLimitationMemory
            } else {
                TaskReason::ReasonCommandExecutorFailed
            };
            (
                TaskState::Failed,
                Some(reason),
                Some(format!("Command exited with status {}", t.exit_code)),
            )
        };
    }
    let started = container.is_some_and(|c| c.running.is_some());
    match group {
        TaskState::Running if !started => (TaskState::Starting, None, None),
        other => (other, None, None),
    }
}

/// The Tasks a framework is told about for `task`: itself, or for a task group one per
/// member (its Mesos id, its container's state from `pod`, the terminal state the
/// framework acknowledged for it). Keys are [`task_name`]s of the Mesos ids, what
/// acknowledgements are matched by.
pub fn member_tasks(
    task: &Task,
    framework_id: &str,
    pod: Option<&crate::runtime::cached_pod::CachedPod>,
) -> Vec<(String, Task)> {
    let Some(members) = group_members(task) else {
        return vec![(task.metadata.name.clone().unwrap_or_default(), task.clone())];
    };
    let annotations = task.metadata.annotations.clone().unwrap_or_default();
    let containers = pod
        .and_then(|p| p.status.as_ref())
        .and_then(|s| s.container_statuses.as_ref());
    members
        .into_iter()
        .map(|member| {
            let mut one = task.clone();
            let mut a = annotations.clone();
            a.remove(GROUP_ANNOTATION);
            a.insert(TASK_ID_ANNOTATION.to_string(), member.id.clone());
            a.remove(ACKNOWLEDGED_ANNOTATION);
            if let Some(acked) =
                annotations.get(&format!("{MEMBER_ACKNOWLEDGED_PREFIX}{}", member.container))
            {
                a.insert(ACKNOWLEDGED_ANNOTATION.to_string(), acked.clone());
            }
            one.metadata.annotations = Some(a);
            if let Some(status) = one.status.as_mut()
                && let Some(group) = status.state
            {
                let container = containers
                    .and_then(|c| c.iter().find(|c| c.name == member.container))
                    .and_then(|c| c.state.as_ref());
                let (state, reason, message) = member_state(group, container);
                if state != group {
                    status.state = Some(state);
                    status.reason = reason;
                    status.message = message.or(status.message.take());
                    status.history.push(crate::api::task::TaskStatusEntry {
                        state,
                        reason,
                        message: status.message.clone(),
                        source: status.source,
                        timestamp: status
                            .history
                            .last()
                            .map(|h| h.timestamp.clone())
                            .unwrap_or_else(|| {
                                k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                                    k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
                                )
                            }),
                    });
                }
            }
            (task_name(framework_id, &member.id), one)
        })
        .collect()
}

#[cfg(test)]
#[path = "adapter_tests.rs"]
mod tests;
