//! The Pod as the operator caches it: only the fields that placement (node, resource
//! requests, host ports, phase) and the task-state mapping (phase, reason, conditions,
//! container states, deletion) read.
//!
//! A `k8s_openapi` Pod takes about 20 KiB of memory (12 KiB after trimming), mostly
//! its many optional fields; the operator caches every Pod of the cluster, so this
//! projection (about a tenth of that) is what keeps its memory small at 10,000 pods. It
//! is deserialized straight from the API server's Pods: fields it does not name are
//! skipped, never allocated. Its field names and paths are the Pod's, so code reads it as
//! it would read a Pod.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ContainerPort, ContainerState, Pod, PodSpec, PodStatus, ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

/// A Pod, reduced to what the operator reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CachedPod {
    /// The Pod's metadata (the cache drops `managedFields` and annotations).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Where the Pod runs and what it requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<CachedPodSpec>,
    /// How it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CachedPodStatus>,
}

/// `spec`: the node and the resources.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedPodSpec {
    /// The node the Pod is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    /// Containers: their requests and ports.
    #[serde(default)]
    pub containers: Vec<CachedContainer>,
    /// Init containers: their requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_containers: Option<Vec<CachedContainer>>,
    /// The runtime class's overhead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overhead: Option<BTreeMap<String, Quantity>>,
    /// Pod-level resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<CachedRequests>,
}

/// A container's name, requests and ports.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CachedContainer {
    /// The container's name.
    #[serde(default)]
    pub name: String,
    /// Its resources (requests only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<CachedRequests>,
    /// Its ports (host ports count as used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<ContainerPort>>,
}

/// Resource requests (limits are not read).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CachedRequests {
    /// Requested quantities by resource name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<BTreeMap<String, Quantity>>,
}

/// `status`: phase, reason, conditions and container states.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedPodStatus {
    /// Pending, Running, Succeeded, Failed or Unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Why the Pod is in this phase (e.g. Evicted, DeadlineExceeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A human-readable detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Conditions' types and statuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<CachedPodCondition>>,
    /// The containers' states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_statuses: Option<Vec<CachedContainerStatus>>,
}

/// A Pod condition's type and status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CachedPodCondition {
    /// E.g. Ready.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// True, False or Unknown.
    #[serde(default)]
    pub status: String,
}

/// A container's name and state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CachedContainerStatus {
    /// The container's name.
    #[serde(default)]
    pub name: String,
    /// Waiting, running or terminated, with reason, message and exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ContainerState>,
    /// Whether its startup probe passed (the kubelet sets it true at once for a container
    /// without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<bool>,
}

impl k8s_openapi::Resource for CachedPod {
    const API_VERSION: &'static str = <Pod as k8s_openapi::Resource>::API_VERSION;
    const GROUP: &'static str = <Pod as k8s_openapi::Resource>::GROUP;
    const KIND: &'static str = <Pod as k8s_openapi::Resource>::KIND;
    const VERSION: &'static str = <Pod as k8s_openapi::Resource>::VERSION;
    const URL_PATH_SEGMENT: &'static str = <Pod as k8s_openapi::Resource>::URL_PATH_SEGMENT;
    type Scope = <Pod as k8s_openapi::Resource>::Scope;
}

impl k8s_openapi::Metadata for CachedPod {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl From<&PodSpec> for CachedPodSpec {
    fn from(spec: &PodSpec) -> Self {
        let container =
            |name: &str,
             resources: Option<&ResourceRequirements>,
             ports: Option<&Vec<ContainerPort>>| CachedContainer {
                name: name.into(),
                resources: resources.map(CachedRequests::from),
                ports: ports.cloned(),
            };
        CachedPodSpec {
            node_name: spec.node_name.clone(),
            containers: spec
                .containers
                .iter()
                .map(|c| container(&c.name, c.resources.as_ref(), c.ports.as_ref()))
                .collect(),
            init_containers: spec.init_containers.as_ref().map(|cs| {
                cs.iter()
                    .map(|c| container(&c.name, c.resources.as_ref(), c.ports.as_ref()))
                    .collect()
            }),
            overhead: spec.overhead.clone(),
            resources: spec.resources.as_ref().map(CachedRequests::from),
        }
    }
}

impl From<&ResourceRequirements> for CachedRequests {
    fn from(r: &ResourceRequirements) -> Self {
        CachedRequests {
            requests: r.requests.clone(),
        }
    }
}

impl From<&PodStatus> for CachedPodStatus {
    fn from(s: &PodStatus) -> Self {
        CachedPodStatus {
            phase: s.phase.clone(),
            reason: s.reason.clone(),
            message: s.message.clone(),
            conditions: s.conditions.as_ref().map(|cs| {
                cs.iter()
                    .map(|c| CachedPodCondition {
                        type_: c.type_.clone(),
                        status: c.status.clone(),
                    })
                    .collect()
            }),
            container_statuses: s.container_statuses.as_ref().map(|cs| {
                cs.iter()
                    .map(|c| CachedContainerStatus {
                        name: c.name.clone(),
                        state: c.state.clone(),
                        started: c.started,
                    })
                    .collect()
            }),
        }
    }
}

impl From<&Pod> for CachedPod {
    fn from(pod: &Pod) -> Self {
        CachedPod {
            metadata: pod.metadata.clone(),
            spec: pod.spec.as_ref().map(CachedPodSpec::from),
            status: pod.status.as_ref().map(CachedPodStatus::from),
        }
    }
}

/// Drops from a cached Pod's metadata what no reader needs: `managedFields` and
/// annotations (the operator reads Pods' labels, never their annotations).
pub fn trim(pod: &mut CachedPod) {
    pod.metadata.managed_fields = None;
    pod.metadata.annotations = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Pod as the API server sends it, with much the projection skips.
    fn pod_json() -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "t1", "namespace": "ns", "uid": "u-1", "resourceVersion": "7",
                "labels": {"mesos.operator.dev/task": "t1"},
                "annotations": {"kwok.mesos.operator.dev/run-for": "5s"},
                "ownerReferences": [{"apiVersion": "mesos.operator.dev/v1alpha1", "kind": "Task",
                    "name": "t1", "uid": "t-1", "controller": true}],
                "managedFields": [{"manager": "mesos-operator", "operation": "Update"}]
            },
            "spec": {
                "nodeName": "node-1",
                "restartPolicy": "Never",
                "overhead": {"cpu": "10m"},
                "containers": [{
                    "name": "task", "image": "busybox:1.37", "command": ["sh", "-c", "sleep 1"],
                    "env": [{"name": "A", "value": "b"}],
                    "ports": [{"containerPort": 80, "hostPort": 8080}],
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                                  "limits": {"cpu": "100m", "memory": "64Mi"}}
                }],
                "initContainers": [{"name": "init", "image": "busybox",
                    "resources": {"requests": {"cpu": "200m"}}}]
            },
            "status": {
                "phase": "Failed", "reason": "Evicted", "message": "low on memory",
                "hostIP": "10.0.0.1", "podIP": "10.244.0.1", "qosClass": "Guaranteed",
                "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted",
                    "lastTransitionTime": "2026-11-25T18:02:40Z"}],
                "containerStatuses": [{"name": "task", "image": "busybox:1.37", "imageID": "",
                    "ready": false, "restartCount": 0,
                    "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]
            }
        })
    }

    #[test]
    fn keeps_every_field_placement_and_task_states_read() {
        let mut pod: CachedPod = serde_json::from_value(pod_json()).unwrap();
        trim(&mut pod);
        assert_eq!(pod.metadata.name.as_deref(), Some("t1"));
        assert_eq!(pod.metadata.uid.as_deref(), Some("u-1"));
        assert_eq!(pod.metadata.labels.as_ref().map(|l| l.len()), Some(1));
        assert_eq!(
            pod.metadata.owner_references.as_ref().map(|o| o.len()),
            Some(1)
        );
        assert!(pod.metadata.managed_fields.is_none());
        assert!(pod.metadata.annotations.is_none());
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(spec.node_name.as_deref(), Some("node-1"));
        assert_eq!(spec.overhead.as_ref().unwrap()["cpu"].0, "10m");
        let requests = spec.containers[0].resources.as_ref().unwrap();
        assert_eq!(requests.requests.as_ref().unwrap()["memory"].0, "64Mi");
        assert_eq!(
            spec.containers[0].ports.as_ref().unwrap()[0].host_port,
            Some(8080)
        );
        assert_eq!(spec.init_containers.as_ref().unwrap()[0].name, "init");
        let status = pod.status.as_ref().unwrap();
        assert_eq!(status.phase.as_deref(), Some("Failed"));
        assert_eq!(status.reason.as_deref(), Some("Evicted"));
        assert_eq!(status.message.as_deref(), Some("low on memory"));
        assert_eq!(status.conditions.as_ref().unwrap()[0].type_, "Ready");
        let container = &status.container_statuses.as_ref().unwrap()[0];
        let terminated = container
            .state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap();
        assert_eq!(
            (terminated.exit_code, terminated.reason.as_deref()),
            (137, Some("OOMKilled"))
        );
    }

    #[test]
    fn converting_a_pod_gives_what_deserializing_it_gives() {
        let pod: Pod = serde_json::from_value(pod_json()).unwrap();
        let from_json: CachedPod = serde_json::from_value(pod_json()).unwrap();
        assert_eq!(CachedPod::from(&pod), from_json);
    }

    #[test]
    fn is_addressed_as_a_pod() {
        use kube::Resource;
        assert_eq!(CachedPod::kind(&()), "Pod");
        assert_eq!(CachedPod::api_version(&()), "v1");
        assert_eq!(CachedPod::plural(&()), "pods");
    }
}
