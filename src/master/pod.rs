//! The Pod a Task runs as: a pure function of the Task and the agent it was placed on.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, ExecAction, HTTPGetAction, Pod, PodSpec, PodTemplateSpec,
    Probe, ResourceRequirements, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource;

use crate::api::task::{HealthCheck, HttpScheme};
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

/// Builds the Pod of `task`, pinned to `node` with `ports` (host ports picked from the
/// agent's free ports, one per requested port).
pub fn build_pod(task: &Task, node: &str) -> Result<Pod, InvalidTask> {
    let spec = &task.spec;
    let name = pod_name(task);
    let (template_meta, mut pod_spec) = match (&spec.command, &spec.template) {
        (Some(command), None) => (ObjectMeta::default(), command_pod_spec(task, command)),
        (None, Some(template)) => template_pod_spec(task, template)?,
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

fn command_pod_spec(task: &Task, command: &crate::api::CommandSpec) -> PodSpec {
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
    let ports: Vec<u16> = task.spec.resources.ports.iter().collect();
    let mut env = command.env.clone();
    if !ports.is_empty() {
        let list = ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",");
        env.push(EnvVar {
            name: "PORTS".into(),
            value: Some(list),
            ..Default::default()
        });
        for (i, p) in ports.iter().enumerate() {
            env.push(EnvVar {
                name: format!("PORT{i}"),
                value: Some(p.to_string()),
                ..Default::default()
            });
        }
    }
    let requirements = resource_requirements(&task.spec.resources.to_k8s_requests());
    PodSpec {
        containers: vec![Container {
            name: COMMAND_CONTAINER.into(),
            image: Some(command.image.clone()),
            command: (!cmd.is_empty()).then_some(cmd),
            args: args.filter(|a| !a.is_empty()),
            env: (!env.is_empty()).then_some(env),
            ports: (!ports.is_empty()).then(|| {
                ports
                    .iter()
                    .map(|p| ContainerPort {
                        container_port: i32::from(*p),
                        host_port: Some(i32::from(*p)),
                        protocol: Some("TCP".into()),
                        ..Default::default()
                    })
                    .collect()
            }),
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
}
