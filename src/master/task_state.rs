//! The task-state mapping: a pure function from what the API server shows (the Task, its
//! Pod, the Pod's Node, the Framework's capabilities) to the Mesos task status, and the
//! pure step that folds an observation into a `TaskStatus` without ever leaving a
//! terminal state.
//!
//! | Pod / world                              | TaskState                                   |
//! |------------------------------------------|---------------------------------------------|
//! | pod not yet created                      | TASK_STAGING                                |
//! | pod created, containers not started      | TASK_STARTING                               |
//! | containers running                       | TASK_RUNNING (`healthy` from readiness)     |
//! | pod Succeeded                            | TASK_FINISHED                               |
//! | pod Failed                               | TASK_FAILED (exit code, OOM, deadline…)     |
//! | kill requested, pod terminating          | TASK_KILLING (TaskKillingState frameworks)  |
//! | pod gone after a kill                    | TASK_KILLED                                 |
//! | pod deleted by someone else              | TASK_GONE_BY_OPERATOR (partition-aware) / TASK_LOST |
//! | node NotReady or unreachable             | TASK_UNREACHABLE (partition-aware) / TASK_LOST |
//! | node deleted                             | TASK_GONE (partition-aware) / TASK_LOST     |

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::condition::{ConditionStatus, Conditions};
use crate::api::task::{HISTORY_LIMIT, TaskCondition};
use crate::api::{TaskReason, TaskSource, TaskState, TaskStatus, TaskStatusEntry};
use crate::runtime::cached_pod::{CachedContainerStatus, CachedPod};

/// What a framework declared that changes the states its tasks report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// TASK_UNREACHABLE / TASK_GONE / TASK_GONE_BY_OPERATOR instead of TASK_LOST.
    pub partition_aware: bool,
    /// TASK_KILLING before TASK_KILLED.
    pub task_killing_state: bool,
}

/// What is known of the task's Pod.
#[derive(Clone, Copy, Debug)]
pub enum PodView<'a> {
    /// The operator has not created the Pod (yet).
    NotCreated,
    /// The Pod as last seen.
    Present(&'a CachedPod),
    /// The Pod was created and is now confirmed gone (not in the API server).
    Gone,
}

/// What is known of the Node a Pod is bound to.
#[derive(Clone, Copy, Debug)]
pub enum NodeView<'a> {
    /// The pod is not bound, or the node is not relevant.
    NotApplicable,
    /// The Node as last seen.
    Present(&'a Node),
    /// The Node does not exist (deleted).
    Deleted,
}

/// Everything the mapping reads.
#[derive(Clone, Copy, Debug)]
pub struct Observation<'a> {
    /// The framework's capabilities.
    pub capabilities: Capabilities,
    /// `spec.kill` of the task.
    pub kill_requested: bool,
    /// Whether the task has a health check (then `healthy` is reported).
    pub has_health_check: bool,
    /// Whether the task has a readiness check (then `ready` is reported).
    pub has_readiness_check: bool,
    /// The Pod.
    pub pod: PodView<'a>,
    /// The Pod's Node.
    pub node: NodeView<'a>,
}

/// A task status update decided from an observation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// The state.
    pub state: TaskState,
    /// Why.
    pub reason: Option<TaskReason>,
    /// Human-readable explanation.
    pub message: Option<String>,
    /// Who observed it.
    pub source: TaskSource,
    /// Health check result, when the task has one and runs.
    pub healthy: Option<bool>,
    /// Readiness check result, when the task has one and runs.
    pub ready: Option<bool>,
    /// Exit code, when a container terminated.
    pub exit_code: Option<i32>,
    /// The node the pod is bound to.
    pub agent: Option<String>,
}

impl Update {
    fn new(state: TaskState, source: TaskSource) -> Self {
        Self {
            state,
            reason: None,
            message: None,
            source,
            healthy: None,
            ready: None,
            exit_code: None,
            agent: None,
        }
    }

    fn reason(mut self, reason: TaskReason, message: impl Into<String>) -> Self {
        self.reason = Some(reason);
        self.message = Some(message.into());
        self
    }

    fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// An update the operator itself decides (TASK_ERROR, TASK_DROPPED, …).
    pub fn decided(state: TaskState, reason: TaskReason, message: impl Into<String>) -> Self {
        Self::new(state, TaskSource::Master).reason(reason, message)
    }
}

/// Derives the task's status from the world, exactly as the table above says.
pub fn derive(obs: &Observation<'_>) -> Update {
    match obs.pod {
        PodView::NotCreated if obs.kill_requested => Update::decided(
            TaskState::Killed,
            TaskReason::ReasonTaskKilledDuringLaunch,
            "killed before its pod was created",
        ),
        PodView::NotCreated => Update::new(TaskState::Staging, TaskSource::Master),
        PodView::Gone => derive_pod_gone(obs),
        PodView::Present(pod) => {
            let mut update = derive_from_pod(pod, obs);
            update.agent = node_name(pod);
            update
        }
    }
}

fn derive_pod_gone(obs: &Observation<'_>) -> Update {
    let caps = obs.capabilities;
    if obs.kill_requested {
        return Update::new(TaskState::Killed, TaskSource::Agent)
            .message("pod terminated after a kill");
    }
    if matches!(obs.node, NodeView::Deleted) {
        return agent_removed(caps);
    }
    let state = if caps.partition_aware {
        TaskState::GoneByOperator
    } else {
        TaskState::Lost
    };
    Update::new(state, TaskSource::Master).reason(
        TaskReason::ReasonExecutorTerminated,
        "the task's pod was deleted outside the operator",
    )
}

fn agent_removed(caps: Capabilities) -> Update {
    let state = if caps.partition_aware {
        TaskState::Gone
    } else {
        TaskState::Lost
    };
    Update::new(state, TaskSource::Master).reason(
        TaskReason::ReasonAgentRemoved,
        "the task's node was deleted",
    )
}

fn agent_unreachable(caps: Capabilities, why: &str) -> Update {
    let state = if caps.partition_aware {
        TaskState::Unreachable
    } else {
        TaskState::Lost
    };
    Update::new(state, TaskSource::Master).reason(TaskReason::ReasonAgentDisconnected, why)
}

fn derive_from_pod(pod: &CachedPod, obs: &Observation<'_>) -> Update {
    let caps = obs.capabilities;
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
    let deleting = pod.metadata.deletion_timestamp.is_some();
    let containers: &[CachedContainerStatus] = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or(&[]);

    match phase {
        "Succeeded" if obs.kill_requested && deleting => killed_after(containers),
        "Failed" if obs.kill_requested && deleting => killed_after(containers),
        "Succeeded" => {
            let mut u = Update::new(TaskState::Finished, TaskSource::Executor);
            u.exit_code = Some(first_exit_code(containers).unwrap_or(0));
            u
        }
        "Failed" => failed(pod, containers),
        _ if obs.kill_requested => {
            if caps.task_killing_state {
                Update::new(TaskState::Killing, TaskSource::Master)
                    .message("kill requested; pod terminating")
            } else {
                // Without TASK_KILLING_STATE Mesos reports nothing until the task is killed.
                running_or_starting(pod, phase, containers, obs)
            }
        }
        _ => match obs.node {
            NodeView::Deleted => agent_removed(caps),
            NodeView::Present(node) if !node_ready(node) => {
                agent_unreachable(caps, &format!("node {} is not Ready", name_of_node(node)))
            }
            _ if phase == "Unknown" => {
                agent_unreachable(caps, "the pod's state is Unknown (node unreachable)")
            }
            _ => running_or_starting(pod, phase, containers, obs),
        },
    }
}

fn running_or_starting(
    pod: &CachedPod,
    phase: &str,
    containers: &[CachedContainerStatus],
    obs: &Observation<'_>,
) -> Update {
    let running = phase == "Running"
        && containers
            .iter()
            .any(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()));
    if running {
        let mut u = Update::new(TaskState::Running, TaskSource::Executor);
        if obs.has_health_check {
            u.healthy = Some(pod_ready(pod));
        }
        if obs.has_readiness_check {
            u.ready = Some(pod_started(containers));
        }
        return u;
    }
    let mut u = Update::new(TaskState::Starting, TaskSource::Agent);
    if let Some(waiting) = containers
        .iter()
        .filter_map(|c| c.state.as_ref().and_then(|s| s.waiting.as_ref()))
        .find(|w| {
            w.reason
                .as_deref()
                .is_some_and(|r| r != "ContainerCreating")
        })
    {
        let reason = waiting.reason.as_deref().unwrap_or_default();
        let detail = waiting.message.as_deref().unwrap_or_default();
        u.message = Some(
            format!("{reason}: {detail}")
                .trim_end_matches([':', ' '])
                .to_string(),
        );
    }
    u
}

fn killed_after(containers: &[CachedContainerStatus]) -> Update {
    let mut u =
        Update::new(TaskState::Killed, TaskSource::Executor).message("pod terminated after a kill");
    u.exit_code = first_exit_code(containers);
    u
}

fn failed(pod: &CachedPod, containers: &[CachedContainerStatus]) -> Update {
    let pod_reason = pod
        .status
        .as_ref()
        .and_then(|s| s.reason.as_deref())
        .unwrap_or_default();
    let pod_message = pod
        .status
        .as_ref()
        .and_then(|s| s.message.clone())
        .unwrap_or_default();
    let terminated = containers
        .iter()
        .filter_map(|c| {
            c.state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .map(|t| (c, t))
        })
        .find(|(_, t)| t.exit_code != 0)
        .or_else(|| {
            containers
                .iter()
                .filter_map(|c| {
                    c.state
                        .as_ref()
                        .and_then(|s| s.terminated.as_ref())
                        .map(|t| (c, t))
                })
                .next()
        });
    let mut u = Update::new(TaskState::Failed, TaskSource::Executor);
    u.exit_code = terminated.map(|(_, t)| t.exit_code);
    let oom = terminated.is_some_and(|(_, t)| t.reason.as_deref() == Some("OOMKilled"));
    let (reason, message) = if pod_reason == "DeadlineExceeded" {
        (
            TaskReason::ReasonMaxCompletionTimeReached,
            non_empty(pod_message, "the task ran longer than maxCompletionTime"),
        )
    } else if pod_reason == "Evicted" {
        (
            TaskReason::ReasonContainerPreempted,
            non_empty(pod_message, "the pod was evicted"),
        )
    } else if oom {
        let name = terminated.map(|(c, _)| c.name.as_str()).unwrap_or_default();
        (
            TaskReason::ReasonContainerLimitationMemory,
            format!("container {name} was OOM-killed (memory limit reached)"),
        )
    } else {
        let message = match terminated {
            Some((c, t)) => format!(
                "container {} exited with code {}{}",
                c.name,
                t.exit_code,
                t.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
            None => non_empty(pod_message, "the pod failed"),
        };
        (TaskReason::ReasonCommandExecutorFailed, message)
    };
    u.reason(reason, message)
}

fn non_empty(s: String, default: &str) -> String {
    if s.is_empty() { default.to_string() } else { s }
}

fn first_exit_code(containers: &[CachedContainerStatus]) -> Option<i32> {
    containers
        .iter()
        .filter_map(|c| c.state.as_ref().and_then(|s| s.terminated.as_ref()))
        .map(|t| t.exit_code)
        .max_by_key(|code| *code != 0)
}

fn node_name(pod: &CachedPod) -> Option<String> {
    pod.spec.as_ref().and_then(|s| s.node_name.clone())
}

fn name_of_node(node: &Node) -> &str {
    node.metadata.name.as_deref().unwrap_or("?")
}

/// Whether a Node's `Ready` condition is `True`.
pub fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// Whether the startup probe (the readiness check) passed: every container reports
/// `started: true` (the probe runs on the first; the kubelet starts the others at once).
fn pod_started(containers: &[CachedContainerStatus]) -> bool {
    !containers.is_empty() && containers.iter().all(|c| c.started == Some(true))
}

fn pod_ready(pod: &CachedPod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// Folds an update into a status. Terminal states are final: once the current state is
/// terminal the status is returned unchanged. The launch only goes forwards: a late
/// observation (an older pod status, e.g. `Pending` after `Running`) never moves a task
/// from TASK_RUNNING back to TASK_STARTING or TASK_STAGING, nor from TASK_STARTING back to
/// TASK_STAGING (Mesos delivers a task's updates in order); the status is then returned
/// unchanged. A new state appends a history entry (bounded to [`HISTORY_LIMIT`]);
/// conditions follow the state.
pub fn apply(
    current: &TaskStatus,
    update: &Update,
    generation: Option<i64>,
    now: &Time,
) -> TaskStatus {
    if current.state.is_some_and(TaskState::is_terminal) {
        return current.clone();
    }
    if let (Some(from), Some(to)) = (
        current.state.and_then(launch_step),
        launch_step(update.state),
    ) && to < from
    {
        return current.clone();
    }
    let mut next = current.clone();
    let state_changed = current.state != Some(update.state);
    if state_changed {
        next.history.push(TaskStatusEntry {
            state: update.state,
            reason: update.reason,
            message: update.message.clone(),
            source: Some(update.source),
            timestamp: now.clone(),
        });
        let overflow = next.history.len().saturating_sub(HISTORY_LIMIT);
        next.history.drain(..overflow);
    }
    next.state = Some(update.state);
    next.reason = update.reason;
    next.message = update.message.clone();
    next.source = Some(update.source);
    if update.healthy.is_some() || update.state != TaskState::Running {
        next.healthy = update
            .healthy
            .or(next.healthy.filter(|_| update.state.is_terminal()));
    }
    if update.ready.is_some() || update.state != TaskState::Running {
        next.ready = update
            .ready
            .or(next.ready.filter(|_| update.state.is_terminal()));
    }
    if update.exit_code.is_some() {
        next.exit_code = update.exit_code;
    }
    if update.agent.is_some() {
        next.agent = update.agent.clone();
    }
    if update.state == TaskState::Running && next.start_time.is_none() {
        next.start_time = Some(now.clone());
    }
    if update.state.is_terminal() && next.finish_time.is_none() {
        next.finish_time = Some(now.clone());
    }
    if update.state == TaskState::Unreachable {
        if next.unreachable_time.is_none() {
            next.unreachable_time = Some(now.clone());
        }
    } else {
        next.unreachable_time = None;
    }
    next.observed_generation = generation;
    set_state_conditions(&mut next, update, generation, now);
    next
}

/// Order of the launch states, which only go forwards.
fn launch_step(state: TaskState) -> Option<u8> {
    match state {
        TaskState::Staging => Some(0),
        TaskState::Starting => Some(1),
        TaskState::Running => Some(2),
        _ => None,
    }
}

fn set_state_conditions(
    status: &mut TaskStatus,
    update: &Update,
    generation: Option<i64>,
    now: &Time,
) {
    let state = update.state;
    let reason = camel(state);
    let message = update
        .message
        .clone()
        .unwrap_or_else(|| state.as_str().to_string());
    let conditions = &mut status.conditions;
    if state != TaskState::Staging && status.agent.is_some() {
        let agent = status.agent.as_deref().unwrap_or_default();
        conditions.set(
            TaskCondition::Scheduled,
            ConditionStatus::True,
            "Placed",
            &format!("placed on agent {agent}"),
            generation,
            now,
        );
    }
    conditions.set(
        TaskCondition::Running,
        ConditionStatus::from_bool(state == TaskState::Running),
        &reason,
        &message,
        generation,
        now,
    );
    if let Some(healthy) = status.healthy {
        let (r, m) = if healthy {
            ("HealthCheckPassed", "the health check passes")
        } else {
            ("HealthCheckFailed", "the health check fails")
        };
        conditions.set(
            TaskCondition::Healthy,
            ConditionStatus::from_bool(healthy),
            r,
            m,
            generation,
            now,
        );
    }
    if let Some(ready) = status.ready {
        let (r, m) = if ready {
            ("ReadinessCheckPassed", "the readiness check passed")
        } else {
            (
                "ReadinessCheckPending",
                "the readiness check has not passed yet",
            )
        };
        conditions.set(
            TaskCondition::Ready,
            ConditionStatus::from_bool(ready),
            r,
            m,
            generation,
            now,
        );
    }
    conditions.set(
        TaskCondition::Terminated,
        ConditionStatus::from_bool(state.is_terminal()),
        &reason,
        &message,
        generation,
        now,
    );
}

/// `TASK_GONE_BY_OPERATOR` → `GoneByOperator`: a condition reason (CamelCase) for a state.
pub fn camel(state: TaskState) -> String {
    state
        .as_str()
        .trim_start_matches("TASK_")
        .split('_')
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_string() + &chars.as_str().to_lowercase(),
                None => String::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::cached_pod::{CachedPodCondition, CachedPodSpec, CachedPodStatus};
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
        NodeCondition, NodeStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::jiff::Timestamp;

    const PA: Capabilities = Capabilities {
        partition_aware: true,
        task_killing_state: true,
    };
    const PLAIN: Capabilities = Capabilities {
        partition_aware: false,
        task_killing_state: false,
    };

    fn now(s: i64) -> Time {
        Time(Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH))
    }

    fn container(state: ContainerState) -> CachedContainerStatus {
        CachedContainerStatus {
            name: "task".into(),
            state: Some(state),
            started: None,
        }
    }

    fn pod(phase: &str, containers: Vec<CachedContainerStatus>) -> CachedPod {
        CachedPod {
            metadata: ObjectMeta {
                name: Some("t".into()),
                ..Default::default()
            },
            spec: Some(CachedPodSpec {
                node_name: Some("n1".into()),
                ..Default::default()
            }),
            status: Some(CachedPodStatus {
                phase: Some(phase.into()),
                container_statuses: Some(containers),
                ..Default::default()
            }),
        }
    }

    fn running() -> ContainerState {
        ContainerState {
            running: Some(ContainerStateRunning::default()),
            ..Default::default()
        }
    }

    fn terminated(code: i32, reason: &str) -> ContainerState {
        ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: code,
                reason: Some(reason.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn node(ready: &str) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some("n1".into()),
                ..Default::default()
            },
            status: Some(NodeStatus {
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: ready.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn obs<'a>(caps: Capabilities, pod: PodView<'a>, node: NodeView<'a>) -> Observation<'a> {
        Observation {
            capabilities: caps,
            kill_requested: false,
            has_health_check: false,
            has_readiness_check: false,
            pod,
            node,
        }
    }

    #[test]
    fn not_created_is_staging() {
        let u = derive(&obs(PLAIN, PodView::NotCreated, NodeView::NotApplicable));
        assert_eq!(u.state, TaskState::Staging);
    }

    #[test]
    fn pending_pod_is_starting_with_waiting_reason() {
        let waiting = ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("ErrImagePull".into()),
                message: Some("no such image".into()),
            }),
            ..Default::default()
        };
        let p = pod("Pending", vec![container(waiting)]);
        let n = node("True");
        let u = derive(&obs(PLAIN, PodView::Present(&p), NodeView::Present(&n)));
        assert_eq!(u.state, TaskState::Starting);
        assert_eq!(u.source, TaskSource::Agent);
        assert_eq!(u.agent.as_deref(), Some("n1"));
        assert_eq!(u.message.as_deref(), Some("ErrImagePull: no such image"));
    }

    #[test]
    fn running_pod_is_running_and_reports_health_from_readiness() {
        let p = pod("Running", vec![container(running())]);
        let n = node("True");
        let mut o = obs(PLAIN, PodView::Present(&p), NodeView::Present(&n));
        assert_eq!(derive(&o).state, TaskState::Running);
        assert_eq!(derive(&o).healthy, None);
        o.has_health_check = true;
        assert_eq!(derive(&o).healthy, Some(false));
        let mut ready = p.clone();
        if let Some(s) = ready.status.as_mut() {
            s.conditions = Some(vec![CachedPodCondition {
                type_: "Ready".into(),
                status: "True".into(),
            }]);
        }
        let o = Observation {
            pod: PodView::Present(&ready),
            ..o
        };
        assert_eq!(derive(&o).healthy, Some(true));
    }

    #[test]
    fn succeeded_is_finished() {
        let p = pod("Succeeded", vec![container(terminated(0, "Completed"))]);
        let u = derive(&obs(PLAIN, PodView::Present(&p), NodeView::NotApplicable));
        assert_eq!((u.state, u.exit_code), (TaskState::Finished, Some(0)));
    }

    #[test]
    fn failed_reports_exit_code_and_reason() {
        let p = pod("Failed", vec![container(terminated(3, "Error"))]);
        let u = derive(&obs(PLAIN, PodView::Present(&p), NodeView::NotApplicable));
        assert_eq!(u.state, TaskState::Failed);
        assert_eq!(u.exit_code, Some(3));
        assert_eq!(u.reason, Some(TaskReason::ReasonCommandExecutorFailed));
        assert_eq!(
            u.message.as_deref(),
            Some("container task exited with code 3 (Error)")
        );
    }

    #[test]
    fn oom_killed_is_memory_limitation() {
        let p = pod("Failed", vec![container(terminated(137, "OOMKilled"))]);
        let u = derive(&obs(PLAIN, PodView::Present(&p), NodeView::NotApplicable));
        assert_eq!(u.reason, Some(TaskReason::ReasonContainerLimitationMemory));
        assert_eq!(u.exit_code, Some(137));
    }

    #[test]
    fn deadline_exceeded_is_max_completion_time() {
        let mut p = pod("Failed", vec![]);
        if let Some(s) = p.status.as_mut() {
            s.reason = Some("DeadlineExceeded".into());
        }
        let u = derive(&obs(PLAIN, PodView::Present(&p), NodeView::NotApplicable));
        assert_eq!(u.reason, Some(TaskReason::ReasonMaxCompletionTimeReached));
    }

    #[test]
    fn kill_gives_killing_only_with_capability_then_killed() {
        let mut p = pod("Running", vec![container(running())]);
        p.metadata.deletion_timestamp = Some(now(5));
        let mut o = obs(PA, PodView::Present(&p), NodeView::NotApplicable);
        o.kill_requested = true;
        assert_eq!(derive(&o).state, TaskState::Killing);
        o.capabilities = PLAIN;
        assert_eq!(derive(&o).state, TaskState::Running);
        o.pod = PodView::Gone;
        assert_eq!(derive(&o).state, TaskState::Killed);
        let done = pod("Failed", vec![container(terminated(143, "Error"))]);
        let mut done = done;
        done.metadata.deletion_timestamp = Some(now(5));
        o.pod = PodView::Present(&done);
        assert_eq!(derive(&o).state, TaskState::Killed);
        o.pod = PodView::NotCreated;
        let u = derive(&o);
        assert_eq!(
            (u.state, u.reason),
            (
                TaskState::Killed,
                Some(TaskReason::ReasonTaskKilledDuringLaunch)
            )
        );
    }

    #[test]
    fn pod_deleted_out_of_band() {
        let u = derive(&obs(PLAIN, PodView::Gone, NodeView::NotApplicable));
        assert_eq!(u.state, TaskState::Lost);
        let u = derive(&obs(PA, PodView::Gone, NodeView::NotApplicable));
        assert_eq!(u.state, TaskState::GoneByOperator);
    }

    #[test]
    fn node_not_ready_is_unreachable_or_lost() {
        let p = pod("Running", vec![container(running())]);
        let n = node("Unknown");
        let u = derive(&obs(PA, PodView::Present(&p), NodeView::Present(&n)));
        assert_eq!(
            (u.state, u.reason),
            (
                TaskState::Unreachable,
                Some(TaskReason::ReasonAgentDisconnected)
            )
        );
        let u = derive(&obs(PLAIN, PodView::Present(&p), NodeView::Present(&n)));
        assert_eq!(u.state, TaskState::Lost);
    }

    #[test]
    fn node_deleted_is_gone_or_lost() {
        let p = pod("Running", vec![container(running())]);
        let u = derive(&obs(PA, PodView::Present(&p), NodeView::Deleted));
        assert_eq!(
            (u.state, u.reason),
            (TaskState::Gone, Some(TaskReason::ReasonAgentRemoved))
        );
        let u = derive(&obs(PLAIN, PodView::Gone, NodeView::Deleted));
        assert_eq!(u.state, TaskState::Lost);
    }

    #[test]
    fn decided_errors() {
        let u = Update::decided(TaskState::Error, TaskReason::ReasonTaskInvalid, "bad");
        assert_eq!(u.source, TaskSource::Master);
        let u = Update::decided(TaskState::Dropped, TaskReason::ReasonInvalidOffers, "gone");
        assert_eq!(u.state, TaskState::Dropped);
    }

    #[test]
    fn apply_records_history_and_never_leaves_terminal_states() {
        let mut status = TaskStatus::default();
        for (i, state) in [
            TaskState::Staging,
            TaskState::Starting,
            TaskState::Running,
            TaskState::Finished,
        ]
        .into_iter()
        .enumerate()
        {
            status = apply(
                &status,
                &Update::new(state, TaskSource::Executor),
                Some(1),
                &now(i as i64),
            );
        }
        assert_eq!(
            status.history.iter().map(|h| h.state).collect::<Vec<_>>(),
            vec![
                TaskState::Staging,
                TaskState::Starting,
                TaskState::Running,
                TaskState::Finished
            ]
        );
        assert_eq!(status.start_time, Some(now(2)));
        assert_eq!(status.finish_time, Some(now(3)));
        assert!(status.conditions.is_true(TaskCondition::Terminated));
        assert!(!status.conditions.is_true(TaskCondition::Running));
        let again = apply(
            &status,
            &Update::new(TaskState::Running, TaskSource::Executor),
            Some(2),
            &now(9),
        );
        assert_eq!(again, status);
    }

    #[test]
    fn apply_never_walks_the_launch_backwards() {
        let mut status = TaskStatus::default();
        for (i, state) in [TaskState::Staging, TaskState::Starting, TaskState::Running]
            .into_iter()
            .enumerate()
        {
            status = apply(
                &status,
                &Update::new(state, TaskSource::Executor),
                Some(1),
                &now(i as i64),
            );
        }
        for late in [TaskState::Starting, TaskState::Staging] {
            let again = apply(
                &status,
                &Update::new(late, TaskSource::Agent),
                Some(1),
                &now(9),
            );
            assert_eq!(again, status, "{late} after TASK_RUNNING");
        }
        // States that may come back are not ordered: LOST, then RUNNING again.
        let lost = apply(
            &status,
            &Update::new(TaskState::Lost, TaskSource::Master),
            Some(1),
            &now(10),
        );
        let back = apply(
            &lost,
            &Update::new(TaskState::Running, TaskSource::Executor),
            Some(1),
            &now(11),
        );
        assert_eq!(back.state, Some(TaskState::Running));
    }

    #[test]
    fn apply_same_state_adds_no_history_and_is_idempotent() {
        let u = Update::new(TaskState::Running, TaskSource::Executor);
        let a = apply(&TaskStatus::default(), &u, Some(1), &now(1));
        let b = apply(&a, &u, Some(1), &now(2));
        assert_eq!(a, b);
        assert_eq!(b.history.len(), 1);
    }

    #[test]
    fn history_is_bounded() {
        let mut status = TaskStatus::default();
        for i in 0..40 {
            let state = if i % 2 == 0 {
                TaskState::Running
            } else {
                TaskState::Unreachable
            };
            status = apply(
                &status,
                &Update::new(state, TaskSource::Master),
                None,
                &now(i),
            );
        }
        assert_eq!(status.history.len(), HISTORY_LIMIT);
        assert_eq!(
            status.history.last().map(|h| h.timestamp.clone()),
            Some(now(39))
        );
    }

    #[test]
    fn camel_case_reasons() {
        assert_eq!(camel(TaskState::GoneByOperator), "GoneByOperator");
        assert_eq!(camel(TaskState::Running), "Running");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn any_state() -> impl Strategy<Value = TaskState> {
            proptest::sample::select(TaskState::ALL.to_vec())
        }

        proptest! {
            /// Whatever order updates arrive in, once a terminal state is recorded the
            /// status never changes again, and history only grows at real transitions.
            #[test]
            fn terminal_states_are_final(states in proptest::collection::vec(any_state(), 1..60)) {
                let mut status = TaskStatus::default();
                let mut terminal: Option<TaskStatus> = None;
                for (i, s) in states.iter().enumerate() {
                    status = apply(&status, &Update::new(*s, TaskSource::Executor), None, &now(i as i64));
                    if let Some(t) = &terminal {
                        prop_assert_eq!(&status, t);
                    } else if s.is_terminal() {
                        terminal = Some(status.clone());
                    }
                    prop_assert!(status.history.len() <= HISTORY_LIMIT);
                    for w in status.history.windows(2) {
                        prop_assert_ne!(w[0].state, w[1].state);
                    }
                }
            }
        }
    }

    #[test]
    fn the_readiness_check_is_the_containers_started_flag() {
        let mut c = container(running());
        let p = pod("Running", vec![c.clone()]);
        let checked = |p| Observation {
            has_readiness_check: true,
            ..obs(PLAIN, PodView::Present(p), NodeView::NotApplicable)
        };
        // Started not reported (yet), or false: not ready.
        assert_eq!(derive(&checked(&p)).ready, Some(false));
        c.started = Some(true);
        let started = pod("Running", vec![c]);
        let u = derive(&checked(&started));
        assert_eq!((u.state, u.ready), (TaskState::Running, Some(true)));
        // Without a check nothing is reported.
        let plain = obs(PLAIN, PodView::Present(&started), NodeView::NotApplicable);
        assert_eq!(derive(&plain).ready, None);
        // The status and its Ready condition follow.
        let next = apply(&TaskStatus::default(), &u, Some(1), &now(10));
        assert_eq!(next.ready, Some(true));
        assert!(
            next.conditions
                .iter()
                .any(|c| c.type_ == TaskCondition::Ready && c.status == "True")
        );
    }
}
