//! The Pod a Task runs as: a pure function of the Task and the agent it was placed on.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, ExecAction, HTTPGetAction, Pod, PodSpec, PodTemplateSpec,
    Probe, ResourceRequirements, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource;

use crate::api::task::{HealthCheck, HttpScheme, ReadinessCheck};
use crate::api::{LABEL_FRAMEWORK, LABEL_MANAGED_BY, LABEL_TASK, MANAGER, Task};

/// Name of the container of a `command` task.
pub const COMMAND_CONTAINER: &str = "task";
/// Annotation prefix that is never copied from a Task to its Pod.
const KUBECTL_PREFIX: &str = "kubectl.kubernetes.io/";

/// Why a task cannot be turned into a Pod (reported as TASK_ERROR, REASON_TASK_INVALID).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidTask(pub String);

/// The Pod's name: derived from the task, so a repeated create finds (and adopts) the Pod
/// instead of duplicating it.
pub fn pod_name(task: &Task) -> String {
    task.metadata.name.clone().unwrap_or_default()
}

/// The labels every Pod of this task carries.
pub fn pod_labels(task: &Task) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            LABEL_TASK.to_string(),
            task.metadata.name.clone().unwrap_or_default(),
        ),
        (LABEL_FRAMEWORK.to_string(), task.spec.framework.clone()),
        (LABEL_MANAGED_BY.to_string(), MANAGER.to_string()),
    ])
}

/// Builds the Pod of `task`, pinned to `node`, without the ports of `spec.randomPorts`
/// (see [`build_pod_with_ports`]).
pub fn build_pod(task: &Task, node: &str) -> Result<Pod, InvalidTask> {
    build_pod_with_ports(task, node, &[])
}

/// Builds the Pod of `task`, pinned to `node`, with `random` the host ports the allocator
/// took from the agent's range for `spec.randomPorts` (in order; fewer than requested:
/// only those).
pub fn build_pod_with_ports(task: &Task, node: &str, random: &[u16]) -> Result<Pod, InvalidTask> {
    let spec = &task.spec;
    let name = pod_name(task);
    let ports = task_ports(task, random);
    let (template_meta, mut pod_spec) = match (&spec.command, &spec.template) {
        (Some(command), None) => (
            ObjectMeta::default(),
            command_pod_spec(task, command, &ports),
        ),
        (None, Some(template)) => {
            let (meta, mut pod_spec) = template_pod_spec(task, template)?;
            add_template_ports(&mut pod_spec, &ports);
            (meta, pod_spec)
        }
        _ => {
            return Err(InvalidTask(
                "exactly one of spec.command or spec.template must be set".into(),
            ));
        }
    };

    pod_spec.node_name = Some(node.to_string());
    pod_spec.scheduler_name = None;
    if pod_spec.restart_policy.is_none() {
        pod_spec.restart_policy = Some("Never".into());
    }
    if let Some(kill) = &spec.kill_policy {
        pod_spec.termination_grace_period_seconds = Some(duration_secs(&kill.grace_period));
    }
    if let Some(max) = &spec.max_completion_time {
        pod_spec.active_deadline_seconds = Some(duration_secs(max).max(1));
    }
    if let Some(check) = &spec.health_check
        && let Some(first) = pod_spec.containers.first_mut()
    {
        first.readiness_probe = Some(readiness_probe(check));
        first.liveness_probe = Some(liveness_probe(check));
    }
    if let Some(check) = &spec.readiness_check
        && let Some(first) = pod_spec.containers.first_mut()
    {
        first.startup_probe = Some(startup_probe(check));
    }

    let mut labels = template_meta.labels.unwrap_or_default();
    labels.extend(task.metadata.labels.clone().unwrap_or_default());
    labels.extend(pod_labels(task));
    let mut annotations = template_meta.annotations.unwrap_or_default();
    annotations.extend(
        task.metadata
            .annotations
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| !k.starts_with(KUBECTL_PREFIX)),
    );

    Ok(Pod {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: task.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: owner_reference(task).map(|o| vec![o]),
            ..Default::default()
        },
        spec: Some(pod_spec),
        status: None,
    })
}

fn owner_reference(task: &Task) -> Option<OwnerReference> {
    let mut owner = task.controller_owner_ref(&())?;
    owner.block_owner_deletion = Some(true);
    Some(owner)
}

/// One host port of a task: the number and, for a named random port, its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskPort {
    /// The host (and container) port.
    pub port: u16,
    /// Its name, if any.
    pub name: Option<String>,
    /// The service port it stands for, if any (`PORT_<servicePort>`).
    pub service_port: Option<u16>,
}

/// The host ports of `task`, `PORT0` first: the fixed ports of `resources.ports`
/// (ascending), then `random` (the ports taken for `spec.randomPorts`), named as there.
pub fn task_ports(task: &Task, random: &[u16]) -> Vec<TaskPort> {
    let fixed = task.spec.resources.ports.iter().map(|port| TaskPort {
        port,
        name: None,
        service_port: None,
    });
    let taken = random
        .iter()
        .zip(&task.spec.random_ports)
        .map(|(&port, request)| TaskPort {
            port,
            name: request.name.clone(),
            service_port: request.service_port,
        });
    fixed.chain(taken).collect()
}

/// The environment that exports `ports`: `PORTS` (comma-separated), `PORT<i>`,
/// `PORT_<NAME>` for named ones (upper case, `-` as `_`) and `PORT_<servicePort>` for those
/// standing for a service port (Marathon's names).
pub fn port_env(ports: &[TaskPort]) -> Vec<EnvVar> {
    if ports.is_empty() {
        return Vec::new();
    }
    let var = |name: String, value: String| EnvVar {
        name,
        value: Some(value),
        ..Default::default()
    };
    let list = ports
        .iter()
        .map(|p| p.port.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let mut env = vec![var("PORTS".into(), list)];
    for (i, p) in ports.iter().enumerate() {
        env.push(var(format!("PORT{i}"), p.port.to_string()));
    }
    for p in ports {
        if let Some(name) = &p.name {
            env.push(var(
                format!("PORT_{}", name.to_uppercase().replace('-', "_")),
                p.port.to_string(),
            ));
        }
    }
    for p in ports {
        if let Some(service) = p.service_port {
            env.push(var(format!("PORT_{service}"), p.port.to_string()));
        }
    }
    env
}

fn container_ports(ports: &[TaskPort]) -> Vec<ContainerPort> {
    ports
        .iter()
        .map(|p| ContainerPort {
            name: p.name.clone(),
            container_port: i32::from(p.port),
            host_port: Some(i32::from(p.port)),
            protocol: Some("TCP".into()),
            ..Default::default()
        })
        .collect()
}

/// A template's Pod gets the task's host ports on its first container (those it does not
/// declare itself) and their environment in every container.
fn add_template_ports(spec: &mut PodSpec, ports: &[TaskPort]) {
    if ports.is_empty() {
        return;
    }
    let declared: Vec<i32> = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| p.host_port)
        .collect();
    let env = port_env(ports);
    for c in &mut spec.containers {
        c.env
            .get_or_insert_with(Vec::new)
            .extend(env.iter().cloned());
    }
    if let Some(first) = spec.containers.first_mut() {
        let missing: Vec<TaskPort> = ports
            .iter()
            .filter(|p| !declared.contains(&i32::from(p.port)))
            .cloned()
            .collect();
        if !missing.is_empty() {
            first
                .ports
                .get_or_insert_with(Vec::new)
                .extend(container_ports(&missing));
        }
    }
}

fn command_pod_spec(task: &Task, command: &crate::api::CommandSpec, ports: &[TaskPort]) -> PodSpec {
    let (cmd, args) = match (&command.shell, &command.argv) {
        (Some(shell), _) => (
            vec!["/bin/sh".to_string(), "-c".to_string(), shell.clone()],
            None,
        ),
        (None, Some(argv)) => (
            argv.iter().take(1).cloned().collect(),
            Some(argv.iter().skip(1).cloned().collect::<Vec<_>>()),
        ),
        (None, None) => (Vec::new(), None),
    };
    let mut env = command.env.clone();
    env.extend(port_env(ports));
    let requirements = resource_requirements(&task.spec.resources.to_k8s_requests());
    PodSpec {
        containers: vec![Container {
            name: COMMAND_CONTAINER.into(),
            image: Some(command.image.clone()),
            command: (!cmd.is_empty()).then_some(cmd),
            args: args.filter(|a| !a.is_empty()),
            env: (!env.is_empty()).then_some(env),
            ports: (!ports.is_empty()).then(|| container_ports(ports)),
            resources: Some(requirements),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn template_pod_spec(
    task: &Task,
    template: &serde_json::Value,
) -> Result<(ObjectMeta, PodSpec), InvalidTask> {
    let template: PodTemplateSpec = serde_json::from_value(template.clone())
        .map_err(|e| InvalidTask(format!("spec.template is not a valid pod template: {e}")))?;
    let mut spec = template
        .spec
        .ok_or_else(|| InvalidTask("spec.template.spec is required".into()))?;
    if spec.containers.is_empty() {
        return Err(InvalidTask(
            "spec.template.spec.containers must not be empty".into(),
        ));
    }
    if spec.restart_policy.as_deref() == Some("Always") {
        return Err(InvalidTask(
            "spec.template.spec.restartPolicy Always is not allowed: a Mesos task ends (use Never or OnFailure)".into(),
        ));
    }
    // The task's cpus and mem are the group's resources (pod-level, as a Mesos task group's
    // executor resources); disk and gpus go to the first container.
    let mut all = task.spec.resources.to_k8s_requests();
    let mut group = BTreeMap::new();
    for key in ["cpu", "memory"] {
        if let Some(q) = all.remove(key) {
            group.insert(key.to_string(), q);
        }
    }
    if !group.is_empty() {
        spec.resources = Some(resource_requirements(&group));
    }
    if !all.is_empty()
        && let Some(first) = spec.containers.first_mut()
    {
        let req = first.resources.get_or_insert_with(Default::default);
        let requests = req.requests.get_or_insert_with(Default::default);
        let limits = req.limits.get_or_insert_with(Default::default);
        for (k, v) in all {
            requests.insert(k.clone(), v.clone());
            limits.insert(k, v);
        }
    }
    Ok((template.metadata.unwrap_or_default(), spec))
}

fn resource_requirements(
    quantities: &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(quantities.clone()),
        limits: Some(quantities.clone()),
        ..Default::default()
    }
}

fn duration_secs(d: &kube::core::Duration) -> i64 {
    if d.is_negative() {
        return 0;
    }
    let std: std::time::Duration = (*d).into();
    i64::try_from(std.as_secs()).unwrap_or(i64::MAX)
}

fn probe_base(check: &HealthCheck) -> Probe {
    let mut probe = Probe {
        period_seconds: Some(check.interval_seconds),
        timeout_seconds: Some(check.timeout_seconds),
        ..Default::default()
    };
    if let Some(http) = &check.http {
        probe.http_get = Some(HTTPGetAction {
            port: IntOrString::Int(http.port),
            path: Some(http.path.clone()),
            scheme: Some(match http.scheme {
                HttpScheme::Http => "HTTP".into(),
                HttpScheme::Https => "HTTPS".into(),
            }),
            ..Default::default()
        });
    } else if let Some(tcp) = &check.tcp {
        probe.tcp_socket = Some(TCPSocketAction {
            port: IntOrString::Int(tcp.port),
            ..Default::default()
        });
    } else if let Some(command) = &check.command {
        probe.exec = Some(ExecAction {
            command: Some(command.clone()),
        });
    }
    probe
}

/// Readiness reports `healthy`: one failure makes the task unhealthy, one success healthy.
fn readiness_probe(check: &HealthCheck) -> Probe {
    Probe {
        initial_delay_seconds: Some(check.delay_seconds),
        failure_threshold: Some(1),
        success_threshold: Some(1),
        ..probe_base(check)
    }
}

/// The readiness check as a startup probe: checked until it first passes, never failing
/// the container (the failure threshold is the largest the API takes).
fn startup_probe(check: &ReadinessCheck) -> Probe {
    let port = match (&check.port_name, check.port) {
        (Some(name), _) => IntOrString::String(name.clone()),
        (None, Some(port)) => IntOrString::Int(port),
        (None, None) => IntOrString::Int(0),
    };
    Probe {
        http_get: Some(HTTPGetAction {
            port,
            path: Some(check.path.clone()),
            scheme: Some(scheme(check.scheme)),
            ..Default::default()
        }),
        period_seconds: Some(check.interval_seconds),
        timeout_seconds: Some(check.timeout_seconds),
        success_threshold: Some(1),
        failure_threshold: Some(i32::MAX),
        ..Default::default()
    }
}

fn scheme(scheme: HttpScheme) -> String {
    match scheme {
        HttpScheme::Http => "HTTP".into(),
        HttpScheme::Https => "HTTPS".into(),
    }
}

/// Liveness kills the task after `consecutiveFailures`, not counting the grace period
/// (Mesos kills unhealthy tasks; with restartPolicy Never the pod then fails).
fn liveness_probe(check: &HealthCheck) -> Probe {
    Probe {
        initial_delay_seconds: Some(check.delay_seconds.max(check.grace_period_seconds)),
        failure_threshold: Some(check.consecutive_failures),
        ..probe_base(check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::task::{HttpCheck, KillPolicy};
    use crate::api::{CommandSpec, Resources, TaskSpec};

    fn task(resources: &str) -> Task {
        let resources: Resources = serde_json::from_str(resources).unwrap_or_default();
        let mut t = Task::new(
            "hello",
            TaskSpec {
                framework: "fw".into(),
                offer: None,
                resources,
                command: Some(CommandSpec {
                    shell: Some("echo hi".into()),
                    argv: None,
                    env: vec![],
                    image: "busybox:1.37".into(),
                }),
                template: None,
                health_check: None,
                kill_policy: "7s"
                    .parse()
                    .ok()
                    .map(|grace_period| KillPolicy { grace_period }),
                max_completion_time: "1m".parse().ok(),
                kill: false,
                placement: None,
                random_ports: Vec::new(),
                readiness_check: None,
            },
        );
        t.metadata.namespace = Some("ns".into());
        t.metadata.uid = Some("uid-1".into());
        t.metadata.annotations = Some(BTreeMap::from([
            (
                "kwok.mesos.operator.dev/run-for".to_string(),
                "3s".to_string(),
            ),
            (
                "kubectl.kubernetes.io/last-applied-configuration".to_string(),
                "{}".to_string(),
            ),
        ]));
        t
    }

    #[test]
    fn command_task_becomes_pinned_pod_with_requests_and_owner() {
        let t = task(r#"{"cpus": 0.5, "mem": 64, "ports": [{"begin": 31000, "end": 31001}]}"#);
        let pod = build_pod(&t, "node-1").unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        assert_eq!(pod.metadata.name.as_deref(), Some("hello"));
        assert_eq!(spec.node_name.as_deref(), Some("node-1"));
        assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
        assert_eq!(spec.termination_grace_period_seconds, Some(7));
        assert_eq!(spec.active_deadline_seconds, Some(60));
        let c = &spec.containers[0];
        assert_eq!(
            c.command.clone().unwrap_or_default(),
            vec!["/bin/sh", "-c", "echo hi"]
        );
        let req = c
            .resources
            .clone()
            .unwrap_or_default()
            .requests
            .unwrap_or_default();
        assert_eq!(req.get("cpu").map(|q| q.0.as_str()), Some("500m"));
        assert_eq!(req.get("memory").map(|q| q.0.as_str()), Some("64Mi"));
        let env = c.env.clone().unwrap_or_default();
        assert!(
            env.iter()
                .any(|e| e.name == "PORT1" && e.value.as_deref() == Some("31001"))
        );
        let owners = pod.metadata.owner_references.clone().unwrap_or_default();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].uid, "uid-1");
        assert_eq!(owners[0].controller, Some(true));
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get(LABEL_TASK).map(String::as_str), Some("hello"));
        assert_eq!(labels.get(LABEL_FRAMEWORK).map(String::as_str), Some("fw"));
        let annotations = pod.metadata.annotations.clone().unwrap_or_default();
        assert!(annotations.contains_key("kwok.mesos.operator.dev/run-for"));
        assert!(!annotations.keys().any(|k| k.starts_with(KUBECTL_PREFIX)));
    }

    #[test]
    fn argv_and_health_check_become_command_and_probes() {
        let mut t = task(r#"{"cpus": 1, "mem": 32}"#);
        if let Some(c) = t.spec.command.as_mut() {
            c.shell = None;
            c.argv = Some(vec!["/bin/server".into(), "--port".into(), "8080".into()]);
        }
        t.spec.health_check = Some(HealthCheck {
            http: Some(HttpCheck {
                port: 8080,
                path: "/health".into(),
                scheme: HttpScheme::Http,
            }),
            tcp: None,
            command: None,
            delay_seconds: 1,
            interval_seconds: 2,
            timeout_seconds: 3,
            consecutive_failures: 4,
            grace_period_seconds: 5,
        });
        let pod = build_pod(&t, "n").unwrap_or_default();
        let c = pod.spec.unwrap_or_default().containers.remove(0);
        assert_eq!(c.command, Some(vec!["/bin/server".to_string()]));
        assert_eq!(c.args, Some(vec!["--port".to_string(), "8080".to_string()]));
        let live = c.liveness_probe.unwrap_or_default();
        assert_eq!(live.failure_threshold, Some(4));
        assert_eq!(live.initial_delay_seconds, Some(5));
        assert_eq!(
            live.http_get.and_then(|h| h.path),
            Some("/health".to_string())
        );
        let ready = c.readiness_probe.unwrap_or_default();
        assert_eq!(ready.failure_threshold, Some(1));
        assert_eq!(ready.period_seconds, Some(2));
    }

    #[test]
    fn template_task_gets_pod_level_resources() {
        let mut t = task(r#"{"cpus": 2, "mem": 1024, "disk": 100}"#);
        t.spec.command = None;
        t.spec.template = Some(serde_json::json!({
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}
        }));
        let pod = build_pod(&t, "n").unwrap_or_default();
        assert_eq!(
            pod.metadata
                .labels
                .clone()
                .unwrap_or_default()
                .get("app")
                .map(String::as_str),
            Some("web")
        );
        let spec = pod.spec.unwrap_or_default();
        assert_eq!(spec.containers.len(), 2);
        let group = spec
            .resources
            .unwrap_or_default()
            .requests
            .unwrap_or_default();
        assert_eq!(group.get("cpu").map(|q| q.0.as_str()), Some("2"));
        assert_eq!(group.get("memory").map(|q| q.0.as_str()), Some("1Gi"));
        let first = spec.containers[0]
            .resources
            .clone()
            .unwrap_or_default()
            .requests
            .unwrap_or_default();
        assert!(first.contains_key("ephemeral-storage"));
    }

    #[test]
    fn invalid_templates_are_rejected_with_the_field() {
        let mut t = task(r#"{"cpus": 1, "mem": 32}"#);
        t.spec.command = None;
        t.spec.template = Some(serde_json::json!({"spec": {"containers": "nope"}}));
        let err = build_pod(&t, "n").err().map(|e| e.0).unwrap_or_default();
        assert!(err.contains("spec.template"), "{err}");
        t.spec.template = Some(
            serde_json::json!({"spec": {"restartPolicy": "Always", "containers": [{"name": "a"}]}}),
        );
        let err = build_pod(&t, "n").err().map(|e| e.0).unwrap_or_default();
        assert!(err.contains("restartPolicy"), "{err}");
    }

    #[test]
    fn random_ports_follow_fixed_ones_in_the_pod_and_its_env_and_the_readiness_check_is_a_startup_probe()
     {
        let mut t = task(r#"{"cpus": 1, "mem": 64, "ports": [{"begin": 31000, "end": 31000}]}"#);
        t.spec.random_ports = vec![
            crate::api::task::RandomPort {
                name: Some("http".into()),
                service_port: Some(10000),
            },
            crate::api::task::RandomPort::default(),
        ];
        t.spec.readiness_check = serde_json::from_value(serde_json::json!({
            "portName": "http", "path": "/ready", "intervalSeconds": 3, "timeoutSeconds": 2
        }))
        .ok();
        let pod = build_pod_with_ports(&t, "n1", &[31507, 31200]).unwrap_or_else(|e| panic!("{e}"));
        let c = &pod
            .spec
            .as_ref()
            .unwrap_or_else(|| panic!("spec"))
            .containers[0];
        let ports: Vec<(Option<&str>, i32, Option<i32>)> = c
            .ports
            .iter()
            .flatten()
            .map(|p| (p.name.as_deref(), p.container_port, p.host_port))
            .collect();
        assert_eq!(
            ports,
            [
                (None, 31000, Some(31000)),
                (Some("http"), 31507, Some(31507)),
                (None, 31200, Some(31200))
            ]
        );
        let env: BTreeMap<&str, &str> = c
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.as_str(), e.value.as_deref().unwrap_or_default()))
            .collect();
        assert_eq!(env["PORTS"], "31000,31507,31200");
        assert_eq!(env["PORT0"], "31000");
        assert_eq!(env["PORT1"], "31507");
        assert_eq!(env["PORT2"], "31200");
        assert_eq!(env["PORT_HTTP"], "31507");
        assert_eq!(env["PORT_10000"], "31507");
        let probe = c
            .startup_probe
            .clone()
            .unwrap_or_else(|| panic!("a startup probe"));
        let get = probe.http_get.unwrap_or_else(|| panic!("an HTTP GET"));
        assert_eq!(get.port, IntOrString::String("http".into()));
        assert_eq!(get.path.as_deref(), Some("/ready"));
        assert_eq!(probe.period_seconds, Some(3));
        assert_eq!(probe.timeout_seconds, Some(2));
        // It never fails the container: Marathon's readiness check never kills.
        assert_eq!(probe.failure_threshold, Some(i32::MAX));
        // The host ports count as the pod's requests.
        let requests = crate::master::placement::built_pod_requests(&pod);
        assert_eq!(
            requests.ports.iter().collect::<Vec<u16>>(),
            [31000, 31200, 31507]
        );
        // Built before placement: only the fixed port.
        let unplaced = build_pod(&t, "").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            crate::master::placement::built_pod_requests(&unplaced)
                .ports
                .len(),
            1
        );
    }
}
