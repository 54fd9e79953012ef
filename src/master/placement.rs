//! Agents and their free resources, and the first-fit placer for Builtin frameworks.
//!
//! Pure: Nodes and Pods in, decisions out. An agent's free resources are its allocatable
//! minus the requests of every non-terminal pod bound to it (other workloads included).
//! Cordoned, NotReady and untolerated-tainted nodes are not candidates.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Node, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::api::Resources;
use crate::api::resources::{
    PortRange, PortRanges, bytes_from_quantity, cpu_millis_from_quantity, value_from_quantity,
};
use crate::master::task_state::node_ready;
use crate::runtime::cached_pod::{CachedPod, CachedPodSpec, CachedRequests};

/// Host ports an agent offers (Mesos' default agent `ports` resource).
pub const AGENT_PORTS: PortRange = PortRange {
    begin: 31000,
    end: 32000,
};

/// Annotation on a Node: its agent port range instead of [`AGENT_PORTS`] (a Mesos agent's
/// `--resources=ports:[…]`), as comma-separated ports and inclusive ranges, e.g.
/// `31000-31009` or `[31000-31009,32000-32000]`. A value that does not parse is ignored.
pub const ANNOTATION_AGENT_PORTS: &str = "mesos.operator.dev/ports";

/// The host ports a Node offers: its [`ANNOTATION_AGENT_PORTS`], or [`AGENT_PORTS`].
pub fn agent_ports(node: &Node) -> PortRanges {
    node.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_AGENT_PORTS))
        .and_then(|value| parse_port_ranges(value))
        .unwrap_or_else(|| PortRanges::new(vec![AGENT_PORTS]))
}

/// `31000-31009,32000` (brackets allowed, spaces ignored); `None` when empty or invalid.
pub fn parse_port_ranges(value: &str) -> Option<PortRanges> {
    let inner = value.trim().trim_start_matches('[').trim_end_matches(']');
    let mut ranges = Vec::new();
    for part in inner.split(',').map(str::trim) {
        let (begin, end) = part.split_once('-').unwrap_or((part, part));
        let begin: u16 = begin.trim().parse().ok()?;
        let end: u16 = end.trim().parse().ok()?;
        ranges.push(PortRange::new(begin, end).ok()?);
    }
    let set = PortRanges::new(ranges);
    (!set.is_empty()).then_some(set)
}

/// An agent (Node) with what it has and what is used.
#[derive(Clone, Debug, PartialEq)]
pub struct Agent {
    /// Node name.
    pub name: String,
    /// Node allocatable resources (and the agent port range).
    pub allocatable: Resources,
    /// Requests of the non-terminal pods bound to it.
    pub used: Resources,
    /// Maximum number of pods.
    pub max_pods: u64,
    /// Non-terminal pods bound to it.
    pub pods: u64,
    /// Why nothing can be placed here (cordoned, NotReady), if so.
    pub unavailable: Option<String>,
    /// NoSchedule/NoExecute taints.
    pub taints: Vec<Taint>,
}

impl Agent {
    /// Resources still free (never negative).
    pub fn free(&self) -> Resources {
        self.allocatable.saturating_sub(&self.used)
    }

    /// Whether another pod fits by count.
    pub fn has_pod_room(&self) -> bool {
        self.pods < self.max_pods
    }

    /// Whether a pod with these tolerations may be placed here.
    pub fn tolerates(&self, tolerations: &[Toleration]) -> bool {
        self.taints
            .iter()
            .all(|taint| tolerations.iter().any(|t| tolerates(t, taint)))
    }
}

fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref()
        && !effect.is_empty()
        && effect != taint.effect
    {
        return false;
    }
    match t.operator.as_deref() {
        Some("Exists") => t
            .key
            .as_deref()
            .is_none_or(|k| k.is_empty() || k == taint.key),
        _ => {
            t.key.as_deref() == Some(taint.key.as_str())
                && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
    }
}

/// Whether a pod still holds its resources: bound and neither Succeeded nor Failed.
pub fn holds_resources(pod: &CachedPod) -> bool {
    let bound = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    bound && !pod_has_ended(pod)
}

/// Whether a pod's phase is Succeeded or Failed: it runs nothing any more.
pub fn pod_has_ended(pod: &CachedPod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    matches!(phase, Some("Succeeded" | "Failed"))
}

/// The resources a pod requests, computed as the scheduler does: the sum over containers,
/// at least the largest init container, plus overhead; pod-level requests win where set.
/// Host ports count as used ports.
pub fn pod_requests(pod: &CachedPod) -> Resources {
    pod.spec.as_ref().map(spec_requests).unwrap_or_default()
}

/// The resources a Pod the operator built (not yet created) requests: only its spec is
/// converted.
pub fn built_pod_requests(pod: &k8s_openapi::api::core::v1::Pod) -> Resources {
    pod.spec
        .as_ref()
        .map(|s| spec_requests(&CachedPodSpec::from(s)))
        .unwrap_or_default()
}

/// The resources a pod spec requests (see [`pod_requests`]).
fn spec_requests(spec: &CachedPodSpec) -> Resources {
    let requests_of = |r: Option<&CachedRequests>| -> Resources {
        r.and_then(|r| r.requests.as_ref())
            .map(from_quantities)
            .unwrap_or_default()
    };
    let mut sum = Resources::default();
    for c in &spec.containers {
        sum = sum.saturating_add(&requests_of(c.resources.as_ref()));
    }
    for c in spec.init_containers.iter().flatten() {
        let init = requests_of(c.resources.as_ref());
        sum = sum.max_each(&init);
    }
    if let Some(overhead) = spec.overhead.as_ref() {
        sum = sum.saturating_add(&from_quantities(overhead));
    }
    if let Some(pod_level) = spec.resources.as_ref().and_then(|r| r.requests.as_ref()) {
        let level = from_quantities(pod_level);
        if pod_level.contains_key("cpu") {
            sum.cpus = level.cpus;
        }
        if pod_level.contains_key("memory") {
            sum.mem = level.mem;
        }
    }
    let host_ports: Vec<PortRange> = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| p.host_port)
        .filter_map(|p| u16::try_from(p).ok())
        .map(|p| PortRange { begin: p, end: p })
        .collect();
    sum.ports = PortRanges::new(host_ports);
    sum
}

/// The host ports of a pod, in the order its containers declare them (the Pod a Task runs
/// as declares `PORT0` first).
pub fn pod_host_ports(pod: &CachedPod) -> Vec<u16> {
    pod.spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| p.host_port)
        .filter_map(|p| u16::try_from(p).ok())
        .collect()
}

/// Reads cpu, memory, ephemeral-storage and GPUs from a quantity map, ignoring what
/// does not parse (a request the API server accepted always parses).
fn from_quantities(map: &std::collections::BTreeMap<String, Quantity>) -> Resources {
    let mut r = Resources::default();
    if let Some(q) = map
        .get("cpu")
        .and_then(|q| cpu_millis_from_quantity(q).ok())
    {
        r.cpus.0 = q;
    }
    if let Some(q) = map.get("memory").and_then(|q| bytes_from_quantity(q).ok()) {
        r.mem.0 = q;
    }
    if let Some(q) = map
        .get("ephemeral-storage")
        .and_then(|q| bytes_from_quantity(q).ok())
    {
        r.disk.0 = q;
    }
    if let Some(q) = map
        .get(crate::api::resources::GPU_RESOURCE)
        .and_then(|q| value_from_quantity(q).ok())
    {
        r.gpus = q;
    }
    r
}

/// An agent from a Node, with nothing used yet.
pub fn agent_from_node(node: &Node) -> Agent {
    let status = node.status.as_ref();
    let allocatable = status.and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref()));
    let mut resources = allocatable.map(from_quantities).unwrap_or_default();
    resources.ports = agent_ports(node);
    let max_pods = allocatable
        .and_then(|a| a.get("pods"))
        .and_then(|q| value_from_quantity(q).ok())
        .unwrap_or(110);
    let spec = node.spec.as_ref();
    let unavailable = if spec.and_then(|s| s.unschedulable).unwrap_or(false) {
        Some("cordoned".to_string())
    } else if node.metadata.deletion_timestamp.is_some() {
        Some("being deleted".to_string())
    } else if !node_ready(node) {
        Some("not Ready".to_string())
    } else {
        None
    };
    let taints = spec
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .collect();
    Agent {
        name: node.metadata.name.clone().unwrap_or_default(),
        allocatable: resources,
        used: Resources::default(),
        max_pods,
        pods: 0,
        unavailable,
        taints,
    }
}

/// Every agent with the requests of the pods bound to it subtracted. Pods on unknown
/// nodes are ignored.
pub fn agents<'a>(
    nodes: impl IntoIterator<Item = &'a Node>,
    pods: impl IntoIterator<Item = &'a CachedPod>,
) -> Vec<Agent> {
    let mut agents: Vec<Agent> = nodes.into_iter().map(agent_from_node).collect();
    agents.sort_by(|a, b| a.name.cmp(&b.name));
    let index: HashMap<String, usize> = agents
        .iter()
        .enumerate()
        .map(|(i, a)| (a.name.clone(), i))
        .collect();
    for pod in pods.into_iter().filter(|p| holds_resources(p)) {
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or_default();
        if let Some(&i) = index.get(node) {
            charge(&mut agents[i], &pod_requests(pod));
        }
    }
    agents
}

/// Counts `requests` (one more pod) as used on `agent`.
pub fn charge(agent: &mut Agent, requests: &Resources) {
    // Saturating: a node whose used resources no longer add up counts as full.
    agent.used = agent.used.saturating_add(requests);
    agent.pods += 1;
}

/// Why a task fits on no agent, in words a user can act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unschedulable(pub String);

/// First fit: the first available agent (by name) that tolerates the task, has pod room
/// and free resources containing `demand`. Returns its index into `agents`.
pub fn first_fit(
    agents: &[Agent],
    demand: &Resources,
    tolerations: &[Toleration],
) -> Result<usize, Unschedulable> {
    let candidates = || {
        agents.iter().enumerate().filter(|(_, a)| {
            a.unavailable.is_none() && a.tolerates(tolerations) && a.has_pod_room()
        })
    };
    if let Some((i, _)) = candidates().find(|(_, a)| demand.fits_in(&a.free()).is_ok()) {
        return Ok(i);
    }
    Err(explain(agents, demand, tolerations))
}

fn explain(agents: &[Agent], demand: &Resources, tolerations: &[Toleration]) -> Unschedulable {
    if agents.is_empty() {
        return Unschedulable("there are no agents (nodes) in the cluster".into());
    }
    let usable: Vec<&Agent> = agents
        .iter()
        .filter(|a| a.unavailable.is_none() && a.tolerates(tolerations))
        .collect();
    if usable.is_empty() {
        return Unschedulable(format!(
            "none of the {} nodes is available (cordoned, not Ready, or tainted without a toleration)",
            agents.len()
        ));
    }
    let roomy: Vec<&&Agent> = usable.iter().filter(|a| a.has_pod_room()).collect();
    if roomy.is_empty() {
        return Unschedulable(format!(
            "all {} available nodes are at their pod limit",
            usable.len()
        ));
    }
    let mut largest = Resources::default();
    for a in &roomy {
        largest = largest.max_each(&a.free());
    }
    Unschedulable(no_fit_message(demand, &largest))
}

/// Why `demand` fits on no agent, given the most free on any agent per dimension: the
/// dimension no single node can satisfy, or that no node has all of it at once.
pub fn no_fit_message(demand: &Resources, most_free: &Resources) -> String {
    match demand.fits_in(most_free) {
        Err(short) => format!(
            "no node has {} free; largest free: {}",
            short.needed(),
            short.available()
        ),
        Ok(()) => format!(
            "no single node has {demand} free at once (largest free per resource: {most_free})"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, NodeCondition, NodeSpec, NodeStatus, Pod, PodSpec, PodStatus,
        ResourceRequirements,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::collections::BTreeMap;

    fn q(s: &str) -> Quantity {
        Quantity(s.to_string())
    }

    fn node(name: &str, cpu: &str, mem: &str) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(NodeSpec::default()),
            status: Some(NodeStatus {
                allocatable: Some(BTreeMap::from([
                    ("cpu".to_string(), q(cpu)),
                    ("memory".to_string(), q(mem)),
                    ("pods".to_string(), q("3")),
                ])),
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    fn pod(node: &str, cpu: &str, mem: &str, phase: &str) -> CachedPod {
        CachedPod::from(&Pod {
            metadata: ObjectMeta::default(),
            spec: Some(PodSpec {
                node_name: Some(node.into()),
                containers: vec![Container {
                    name: "c".into(),
                    resources: Some(ResourceRequirements {
                        requests: Some(BTreeMap::from([
                            ("cpu".to_string(), q(cpu)),
                            ("memory".to_string(), q(mem)),
                        ])),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                ..Default::default()
            }),
        })
    }

    fn demand(json: &str) -> Resources {
        serde_json::from_str(json).unwrap_or_default()
    }

    #[test]
    fn free_is_allocatable_minus_non_terminal_pods_of_any_owner() {
        let nodes = [node("a", "4", "8Gi")];
        let pods = [
            pod("a", "1500m", "1Gi", "Running"),
            pod("a", "2", "1Gi", "Succeeded"),
            pod("b", "1", "1Gi", "Running"),
        ];
        let agents = agents(&nodes, &pods);
        assert_eq!(agents[0].free().cpus.0, 2500);
        assert_eq!(agents[0].free().mem.0, 7 * 1024 * 1024 * 1024);
        assert_eq!(agents[0].pods, 1);
    }

    #[test]
    fn first_fit_skips_full_cordoned_and_tainted_nodes() {
        let mut cordoned = node("a", "64", "64Gi");
        if let Some(s) = cordoned.spec.as_mut() {
            s.unschedulable = Some(true);
        }
        let mut tainted = node("b", "64", "64Gi");
        if let Some(s) = tainted.spec.as_mut() {
            s.taints = Some(vec![Taint {
                key: "dedicated".into(),
                value: Some("x".into()),
                effect: "NoSchedule".into(),
                ..Default::default()
            }]);
        }
        let nodes = [
            cordoned,
            tainted,
            node("c", "2", "4Gi"),
            node("d", "8", "16Gi"),
        ];
        let agents = agents(&nodes, &[]);
        let d = demand(r#"{"cpus": 4, "mem": 1024}"#);
        assert_eq!(
            first_fit(&agents, &d, &[]).map(|i| agents[i].name.clone()),
            Ok("d".to_string())
        );
        let toleration = Toleration {
            key: Some("dedicated".into()),
            operator: Some("Equal".into()),
            value: Some("x".into()),
            ..Default::default()
        };
        assert_eq!(
            first_fit(&agents, &d, &[toleration]).map(|i| agents[i].name.clone()),
            Ok("b".to_string())
        );
    }

    #[test]
    fn unschedulable_message_names_the_dimension_and_largest_free() {
        let nodes = [node("a", "31500m", "64Gi"), node("b", "8", "16Gi")];
        let agents = agents(&nodes, &[]);
        let err = first_fit(&agents, &demand(r#"{"cpus": 64, "mem": 32}"#), &[])
            .err()
            .map(|e| e.0)
            .unwrap_or_default();
        assert_eq!(err, "no node has 64 cpus free; largest free: 31.5 cpus");
        assert!(first_fit(&[], &demand(r#"{"cpus": 1, "mem": 1}"#), &[]).is_err());
    }

    #[test]
    fn pod_limit_counts() {
        let nodes = [node("a", "64", "64Gi")];
        let pods = [
            pod("a", "1", "1Gi", "Running"),
            pod("a", "1", "1Gi", "Running"),
            pod("a", "1", "1Gi", "Pending"),
        ];
        let agents = agents(&nodes, &pods);
        let err = first_fit(&agents, &demand(r#"{"cpus": 1, "mem": 1}"#), &[])
            .err()
            .map(|e| e.0)
            .unwrap_or_default();
        assert!(err.contains("pod limit"), "{err}");
    }

    #[test]
    fn a_node_annotation_sets_its_port_range() {
        let mut n = node("a", "1", "1Gi");
        assert_eq!(
            agent_from_node(&n).allocatable.ports.to_string(),
            "[31000-32000]"
        );
        for (value, expect) in [
            ("31000-31003", "[31000-31003]"),
            ("[31000-31001, 32000]", "[31000-31001,32000-32000]"),
            ("nonsense", "[31000-32000]"),
            ("32000-31000", "[31000-32000]"),
            ("", "[31000-32000]"),
        ] {
            n.metadata.annotations = Some(BTreeMap::from([(
                ANNOTATION_AGENT_PORTS.to_string(),
                value.to_string(),
            )]));
            assert_eq!(
                agent_from_node(&n).allocatable.ports.to_string(),
                expect,
                "{value}"
            );
        }
    }

    #[test]
    fn host_ports_are_used_ports() {
        let nodes = [node("a", "64", "64Gi")];
        let mut p = pod("a", "1", "1Gi", "Running");
        if let Some(s) = p.spec.as_mut() {
            s.containers[0].ports = Some(vec![k8s_openapi::api::core::v1::ContainerPort {
                container_port: 31000,
                host_port: Some(31000),
                ..Default::default()
            }]);
        }
        let agents = agents(&nodes, &[p]);
        assert!(
            first_fit(
                &agents,
                &demand(r#"{"cpus": 1, "mem": 1, "ports": [{"begin": 31000, "end": 31000}]}"#),
                &[]
            )
            .is_err()
        );
        assert!(
            first_fit(
                &agents,
                &demand(r#"{"cpus": 1, "mem": 1, "ports": [{"begin": 31001, "end": 31001}]}"#),
                &[]
            )
            .is_ok()
        );
    }
}
