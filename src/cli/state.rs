//! A summary of the whole cluster the way the Mesos master's front page shows it: resources
//! (total, used, offered), frameworks with their role, share and tasks by state, agents
//! with their free and used resources, and outstanding offers.
//!
//! [`Summary::compute`] is pure (objects in, summary out) and feeds both
//! `mesos-operator state` ([`render`]) and the cluster gauges of [`crate::runtime::metrics`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use k8s_openapi::api::core::v1::Node;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use crate::api::condition::Conditions;
use crate::api::framework::FrameworkCondition;
use crate::api::resources::{Cpus, Mebibytes};
use crate::api::{Framework, Offer, OfferState, Resources, SchedulerKind, Task, TaskState};
use crate::error::{Error, KubeContext, Result};
use crate::master::placement;
use crate::runtime::cached_pod::CachedPod;
use crate::runtime::guard::{Guarded, readable};

/// Number of tasks in each state, indexed like [`TaskState::ALL`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateCounts(pub [u64; TaskState::ALL.len()]);

impl StateCounts {
    fn index(state: TaskState) -> usize {
        TaskState::ALL
            .iter()
            .position(|s| *s == state)
            .unwrap_or_default()
    }

    /// Counts one more task in `state`.
    pub fn add(&mut self, state: TaskState) {
        self.0[Self::index(state)] += 1;
    }

    /// Tasks in `state`.
    pub fn get(&self, state: TaskState) -> u64 {
        self.0[Self::index(state)]
    }

    /// Tasks in any of `states`.
    pub fn sum(&self, states: &[TaskState]) -> u64 {
        states.iter().map(|s| self.get(*s)).sum()
    }

    /// Every task counted.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// One agent (Node).
#[derive(Clone, Debug, PartialEq)]
pub struct AgentSummary {
    /// Node name.
    pub name: String,
    /// Node Ready (Mesos: connected).
    pub connected: bool,
    /// Not cordoned and not being deleted (Mesos: active).
    pub active: bool,
    /// Why nothing is placed there, if so (cordoned, not Ready, being deleted).
    pub unavailable: Option<String>,
    /// Allocatable resources (scalars only).
    pub total: Resources,
    /// Requests of the non-terminal pods bound to it, every workload included.
    pub used: Resources,
    /// Non-terminal pods bound to it.
    pub pods: u64,
    /// Pod capacity.
    pub max_pods: u64,
}

/// One framework (or a framework name that tasks use but no Framework object has).
#[derive(Clone, Debug, PartialEq)]
pub struct FrameworkSummary {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Role (`?` if the Framework object does not exist).
    pub role: String,
    /// Scheduler kind, if the Framework exists.
    pub scheduler: Option<SchedulerKind>,
    /// Condition `Registered=True`.
    pub registered: bool,
    /// Being deleted.
    pub deleting: bool,
    /// Whether a Framework object exists.
    pub exists: bool,
    /// Its status conditions as (type, status).
    pub conditions: Vec<(String, String)>,
    /// Its tasks by state.
    pub tasks: StateCounts,
    /// Resources of its launched, non-terminal tasks.
    pub allocated: Resources,
    /// Dominant share of `allocated` in the cluster's total (DRF).
    pub share: f64,
}

/// One offer.
#[derive(Clone, Debug, PartialEq)]
pub struct OfferSummary {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Framework offered to.
    pub framework: String,
    /// Agent offered.
    pub agent: String,
    /// Offered resources.
    pub resources: Resources,
    /// Lifecycle state.
    pub state: OfferState,
    /// Expiry (RFC 3339), if any.
    pub expires: Option<String>,
}

/// The cluster at a glance.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Agents, by name.
    pub agents: Vec<AgentSummary>,
    /// Frameworks, by namespace and name.
    pub frameworks: Vec<FrameworkSummary>,
    /// Every offer, by namespace and name.
    pub offers: Vec<OfferSummary>,
    /// Tasks by state over all frameworks.
    pub tasks: StateCounts,
    /// Sum of the agents' allocatable resources.
    pub total: Resources,
    /// Sum of the agents' used resources.
    pub used: Resources,
    /// Sum of the resources of outstanding offers.
    pub offered: Resources,
}

/// Scalar sum (cpus, mem, disk, gpus; ports are left out).
pub fn add_scalars(a: &Resources, b: &Resources) -> Resources {
    Resources {
        cpus: Cpus::from_millis(a.cpus.0.saturating_add(b.cpus.0)),
        mem: Mebibytes::from_bytes(a.mem.0.saturating_add(b.mem.0)),
        disk: Mebibytes::from_bytes(a.disk.0.saturating_add(b.disk.0)),
        gpus: a.gpus.saturating_add(b.gpus),
        ports: Default::default(),
    }
}

fn scalars(r: &Resources) -> Resources {
    add_scalars(r, &Resources::default())
}

impl Summary {
    /// Summarises the objects.
    pub fn compute<'a>(
        nodes: impl IntoIterator<Item = &'a Node>,
        pods: impl IntoIterator<Item = &'a CachedPod>,
        frameworks: impl IntoIterator<Item = &'a Framework>,
        tasks: impl IntoIterator<Item = &'a Task>,
        offers: impl IntoIterator<Item = &'a Offer>,
    ) -> Summary {
        let nodes: Vec<&Node> = nodes.into_iter().collect();
        let by_name: BTreeMap<&str, &Node> = nodes
            .iter()
            .map(|n| (n.metadata.name.as_deref().unwrap_or_default(), *n))
            .collect();
        let agents = placement::agents(nodes.iter().copied(), pods);
        let mut summary = Summary::default();
        for agent in agents {
            let node = by_name.get(agent.name.as_str());
            let connected = node.is_some_and(|n| crate::master::task_state::node_ready(n));
            let active = node.is_some_and(|n| {
                !n.spec
                    .as_ref()
                    .and_then(|s| s.unschedulable)
                    .unwrap_or(false)
                    && n.metadata.deletion_timestamp.is_none()
            });
            let total = scalars(&agent.allocatable);
            let used = scalars(&agent.used);
            summary.total = add_scalars(&summary.total, &total);
            summary.used = add_scalars(&summary.used, &used);
            summary.agents.push(AgentSummary {
                name: agent.name,
                connected,
                active,
                unavailable: agent.unavailable,
                total,
                used,
                pods: agent.pods,
                max_pods: agent.max_pods,
            });
        }

        let mut by_framework: BTreeMap<(String, String), FrameworkSummary> = BTreeMap::new();
        for fw in frameworks {
            let key = (fw.namespace().unwrap_or_default(), fw.name_any());
            let conditions = fw
                .status
                .as_ref()
                .map(|s| {
                    s.conditions
                        .iter()
                        .map(|c| (c.type_.clone(), c.status.clone()))
                        .collect()
                })
                .unwrap_or_default();
            by_framework.insert(
                key.clone(),
                FrameworkSummary {
                    namespace: key.0,
                    name: key.1,
                    role: fw.spec.role.clone(),
                    scheduler: Some(fw.spec.scheduler),
                    registered: fw
                        .status
                        .as_ref()
                        .is_some_and(|s| s.conditions.is_true(FrameworkCondition::Registered)),
                    deleting: fw.metadata.deletion_timestamp.is_some(),
                    exists: true,
                    conditions,
                    tasks: StateCounts::default(),
                    allocated: Resources::default(),
                    share: 0.0,
                },
            );
        }
        for task in tasks {
            let Some(state) = task.state() else { continue };
            summary.tasks.add(state);
            let key = (
                task.namespace().unwrap_or_default(),
                task.spec.framework.clone(),
            );
            let entry = by_framework
                .entry(key.clone())
                .or_insert_with(|| FrameworkSummary {
                    namespace: key.0,
                    name: key.1,
                    role: "?".into(),
                    scheduler: None,
                    registered: false,
                    deleting: false,
                    exists: false,
                    conditions: Vec::new(),
                    tasks: StateCounts::default(),
                    allocated: Resources::default(),
                    share: 0.0,
                });
            entry.tasks.add(state);
            let launched = task.status.as_ref().is_some_and(|s| s.pod.is_some());
            if launched && !state.is_terminal() {
                entry.allocated = add_scalars(&entry.allocated, &task.spec.resources);
            }
        }
        for fw in by_framework.values_mut() {
            fw.share = fw.allocated.dominant_share(&summary.total);
        }
        summary.frameworks = by_framework.into_values().collect();

        for offer in offers {
            let state = offer.status.as_ref().map(|s| s.state).unwrap_or_default();
            if state == OfferState::Outstanding {
                summary.offered = add_scalars(&summary.offered, &offer.spec.resources);
            }
            summary.offers.push(OfferSummary {
                namespace: offer.namespace().unwrap_or_default(),
                name: offer.name_any(),
                framework: offer.spec.framework.clone(),
                agent: offer.spec.agent.clone(),
                resources: offer.spec.resources.clone(),
                state,
                expires: offer.spec.expires_at.as_ref().map(|t| t.0.to_string()),
            });
        }
        summary
            .offers
            .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        summary
    }

    /// Offers waiting for an answer.
    pub fn outstanding_offers(&self) -> usize {
        self.offers
            .iter()
            .filter(|o| o.state == OfferState::Outstanding)
            .count()
    }
}

/// Reads one dimension of a [`Resources`] as a number in Mesos units.
pub type Dimension = fn(&Resources) -> f64;

/// CPUs as a number (`1.5`).
pub fn cpus(r: &Resources) -> f64 {
    r.cpus.0 as f64 / 1000.0
}

/// Memory in MiB (Mesos' unit).
pub fn mem_mib(r: &Resources) -> f64 {
    r.mem.0 as f64 / (1024.0 * 1024.0)
}

/// Disk in MiB (Mesos' unit).
pub fn disk_mib(r: &Resources) -> f64 {
    r.disk.0 as f64 / (1024.0 * 1024.0)
}

/// `used / total`, 0 when the total is 0.
pub fn ratio(used: f64, total: f64) -> f64 {
    if total > 0.0 { used / total } else { 0.0 }
}

fn num(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{}", x.round() as i64)
    } else {
        let s = format!("{x:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The one-screen text of `mesos-operator state`. At most `limit` agents and offers are
/// listed (the totals always count all of them).
pub fn render(summary: &Summary, limit: usize) -> String {
    use TaskState as S;
    let mut out = String::new();
    let connected = summary.agents.iter().filter(|a| a.connected).count();
    let active = summary.agents.iter().filter(|a| a.active).count();
    let registered = summary.frameworks.iter().filter(|f| f.registered).count();
    let _ = writeln!(
        out,
        "Agents: {} ({} connected, {} active)   Frameworks: {} ({} registered)   Tasks: {}   Outstanding offers: {}",
        summary.agents.len(),
        connected,
        active,
        summary.frameworks.iter().filter(|f| f.exists).count(),
        registered,
        summary.tasks.total(),
        summary.outstanding_offers(),
    );
    let _ = writeln!(
        out,
        "Tasks: staging {}  starting {}  running {}  killing {}  finished {}  failed {}  killed {}  lost {}  error {}",
        summary.tasks.get(S::Staging),
        summary.tasks.get(S::Starting),
        summary.tasks.get(S::Running),
        summary.tasks.get(S::Killing),
        summary.tasks.get(S::Finished),
        summary.tasks.get(S::Failed),
        summary.tasks.get(S::Killed),
        summary.tasks.sum(&[
            S::Lost,
            S::Unreachable,
            S::Gone,
            S::GoneByOperator,
            S::Unknown
        ]),
        summary.tasks.sum(&[S::Error, S::Dropped]),
    );
    out.push('\n');

    let _ = writeln!(
        out,
        "{:<10} {:>12} {:>12} {:>8} {:>12}",
        "RESOURCE", "TOTAL", "USED", "USED%", "OFFERED"
    );
    let rows: [(&str, Dimension); 4] = [
        ("cpus", cpus),
        ("mem MiB", mem_mib),
        ("disk MiB", disk_mib),
        ("gpus", |r| r.gpus as f64),
    ];
    for (name, get) in rows {
        let (t, u, o) = (
            get(&summary.total),
            get(&summary.used),
            get(&summary.offered),
        );
        let _ = writeln!(
            out,
            "{name:<10} {:>12} {:>12} {:>8} {:>12}",
            num(t),
            num(u),
            pct(ratio(u, t)),
            num(o)
        );
    }
    out.push('\n');

    let _ = writeln!(
        out,
        "{:<32} {:<10} {:<9} {:<5} {:>7} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5}",
        "FRAMEWORK",
        "ROLE",
        "SCHEDULER",
        "REG",
        "SHARE",
        "STAGE",
        "START",
        "RUN",
        "KILLG",
        "FIN",
        "FAIL",
        "KILLD",
        "LOST",
        "ERR"
    );
    if summary.frameworks.is_empty() {
        out.push_str("(no frameworks)\n");
    }
    for fw in &summary.frameworks {
        let t = &fw.tasks;
        let scheduler = fw
            .scheduler
            .map(|s| format!("{s:?}"))
            .unwrap_or_else(|| "-".into());
        let registered = if !fw.exists {
            "none"
        } else if fw.deleting {
            "del"
        } else if fw.registered {
            "yes"
        } else {
            "no"
        };
        let _ = writeln!(
            out,
            "{:<32} {:<10} {:<9} {:<5} {:>7} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5}",
            format!("{}/{}", fw.namespace, fw.name),
            fw.role,
            scheduler,
            registered,
            pct(fw.share),
            t.get(S::Staging),
            t.get(S::Starting),
            t.get(S::Running),
            t.get(S::Killing),
            t.get(S::Finished),
            t.get(S::Failed),
            t.get(S::Killed),
            t.sum(&[
                S::Lost,
                S::Unreachable,
                S::Gone,
                S::GoneByOperator,
                S::Unknown
            ]),
            t.sum(&[S::Error, S::Dropped]),
        );
    }
    out.push('\n');

    let _ = writeln!(
        out,
        "{:<24} {:<12} {:>16} {:>22} {:>7} {:>9}",
        "AGENT", "STATUS", "CPUS FREE/TOTAL", "MEM MiB FREE/TOTAL", "GPUS", "PODS"
    );
    for agent in summary.agents.iter().take(limit) {
        let free = agent.total.saturating_sub(&agent.used);
        let status = agent.unavailable.as_deref().unwrap_or("active");
        let _ = writeln!(
            out,
            "{:<24} {:<12} {:>16} {:>22} {:>7} {:>9}",
            agent.name,
            status,
            format!("{}/{}", num(cpus(&free)), num(cpus(&agent.total))),
            format!("{}/{}", num(mem_mib(&free)), num(mem_mib(&agent.total))),
            format!("{}/{}", free.gpus, agent.total.gpus),
            format!("{}/{}", agent.pods, agent.max_pods),
        );
    }
    if summary.agents.len() > limit {
        let _ = writeln!(out, "… and {} more agents", summary.agents.len() - limit);
    }
    out.push('\n');

    let outstanding: Vec<&OfferSummary> = summary
        .offers
        .iter()
        .filter(|o| o.state == OfferState::Outstanding)
        .collect();
    let _ = writeln!(
        out,
        "{:<40} {:<20} {:<24} {:>8} {:>10}  EXPIRES",
        "OUTSTANDING OFFER", "FRAMEWORK", "AGENT", "CPUS", "MEM MiB"
    );
    if outstanding.is_empty() {
        out.push_str("(none)\n");
    }
    for offer in outstanding.iter().take(limit) {
        let _ = writeln!(
            out,
            "{:<40} {:<20} {:<24} {:>8} {:>10}  {}",
            format!("{}/{}", offer.namespace, offer.name),
            offer.framework,
            offer.agent,
            num(cpus(&offer.resources)),
            num(mem_mib(&offer.resources)),
            offer.expires.as_deref().unwrap_or("-"),
        );
    }
    if outstanding.len() > limit {
        let _ = writeln!(out, "… and {} more offers", outstanding.len() - limit);
    }
    out
}

/// Reads the cluster once (Nodes, Pods, and the Frameworks, Tasks and Offers of
/// `namespace` or of all namespaces) and summarises it.
pub async fn fetch(client: &Client, namespace: Option<&str>) -> Result<Summary> {
    fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let lp = ListParams::default();
    let nodes = readable(
        Api::<Guarded<Node>>::all(client.clone())
            .list(&lp)
            .await
            .context(|| "listing nodes".into())?,
    );
    let pods = readable(
        Api::<Guarded<CachedPod>>::all(client.clone())
            .list(&lp)
            .await
            .context(|| "listing pods".into())?,
    );
    let frameworks = readable(
        scoped::<Guarded<Framework>>(client, namespace)
            .list(&lp)
            .await
            .context(|| "listing frameworks".into())?,
    );
    let tasks = readable(
        scoped::<Guarded<Task>>(client, namespace)
            .list(&lp)
            .await
            .context(|| "listing tasks".into())?,
    );
    let offers = readable(
        scoped::<Guarded<Offer>>(client, namespace)
            .list(&lp)
            .await
            .context(|| "listing offers".into())?,
    );
    Ok(Summary::compute(
        &nodes,
        &pods,
        &frameworks,
        &tasks,
        &offers,
    ))
}

/// `mesos-operator state`: prints the summary of the cluster of the current kubeconfig.
pub async fn run(namespace: Option<&str>, limit: usize) -> Result<String> {
    let client = Client::try_default()
        .await
        .map_err(|e| Error::Config(e.to_string()))?;
    let summary = fetch(&client, namespace).await?;
    Ok(render(&summary, limit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{FrameworkSpec, OfferSpec, OfferStatus, TaskSpec, TaskStatus};
    use k8s_openapi::api::core::v1::{NodeCondition, NodeSpec, NodeStatus, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn node(name: &str, cpu: &str, ready: bool, cordoned: bool) -> Node {
        let mut n = Node::default();
        n.metadata.name = Some(name.into());
        n.spec = Some(NodeSpec {
            unschedulable: Some(cordoned),
            ..Default::default()
        });
        n.status = Some(NodeStatus {
            allocatable: Some(
                [
                    ("cpu".to_string(), Quantity(cpu.into())),
                    ("memory".to_string(), Quantity("1Gi".into())),
                    ("pods".to_string(), Quantity("10".into())),
                ]
                .into(),
            ),
            conditions: Some(vec![NodeCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        n
    }

    fn pod(node: &str, cpu: &str) -> CachedPod {
        let mut p = k8s_openapi::api::core::v1::Pod::default();
        p.metadata.name = Some(format!("p-{node}-{cpu}"));
        p.metadata.namespace = Some("ns".into());
        p.spec = Some(PodSpec {
            node_name: Some(node.into()),
            containers: vec![k8s_openapi::api::core::v1::Container {
                name: "c".into(),
                resources: Some(k8s_openapi::api::core::v1::ResourceRequirements {
                    requests: Some([("cpu".to_string(), Quantity(cpu.into()))].into()),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        });
        p.status = Some(PodStatus {
            phase: Some("Running".into()),
            ..Default::default()
        });
        CachedPod::from(&p)
    }

    fn framework(name: &str, role: &str) -> Framework {
        let mut f = Framework::new(
            name,
            serde_json::from_value::<FrameworkSpec>(serde_json::json!({"role": role}))
                .unwrap_or_else(|e| panic!("{e}")),
        );
        f.metadata.namespace = Some("ns".into());
        f
    }

    fn task(name: &str, fw: &str, state: TaskState, cpus: f64) -> Task {
        let mut t = Task::new(
            name,
            serde_json::from_value::<TaskSpec>(serde_json::json!({
                "framework": fw, "resources": {"cpus": cpus, "mem": 64}, "command": {"shell": "true"}
            }))
            .unwrap_or_else(|e| panic!("{e}")),
        );
        t.metadata.namespace = Some("ns".into());
        t.status = Some(TaskStatus {
            state: Some(state),
            pod: Some(name.into()),
            ..Default::default()
        });
        t
    }

    fn offer(name: &str, state: OfferState) -> Offer {
        let mut o = Offer::new(
            name,
            serde_json::from_value::<OfferSpec>(serde_json::json!({
                "framework": "web", "agent": "a", "resources": {"cpus": 2, "mem": 128}
            }))
            .unwrap_or_else(|e| panic!("{e}")),
        );
        o.metadata.namespace = Some("ns".into());
        o.status = Some(OfferStatus {
            state,
            ..Default::default()
        });
        o
    }

    fn example() -> Summary {
        let nodes = [
            node("a", "4", true, false),
            node("b", "4", false, false),
            node("c", "8", true, true),
        ];
        let pods = [pod("a", "1"), pod("c", "2")];
        let frameworks = [framework("web", "prod")];
        let tasks = [
            task("t1", "web", TaskState::Running, 1.0),
            task("t2", "web", TaskState::Finished, 1.0),
            task("t3", "web", TaskState::Finished, 1.0),
            task("t4", "ghost", TaskState::Error, 1.0),
        ];
        let offers = [
            offer("o1", OfferState::Outstanding),
            offer("o2", OfferState::Accepted),
        ];
        Summary::compute(&nodes, &pods, &frameworks, &tasks, &offers)
    }

    #[test]
    fn totals_used_and_offered() {
        let s = example();
        assert_eq!(cpus(&s.total), 16.0);
        assert_eq!(cpus(&s.used), 3.0);
        assert_eq!(mem_mib(&s.total), 3072.0);
        assert_eq!(cpus(&s.offered), 2.0, "only outstanding offers count");
        assert_eq!(s.outstanding_offers(), 1);
    }

    #[test]
    fn agents_connected_and_active() {
        let s = example();
        let flags: Vec<(&str, bool, bool)> = s
            .agents
            .iter()
            .map(|a| (a.name.as_str(), a.connected, a.active))
            .collect();
        assert_eq!(
            flags,
            [("a", true, true), ("b", false, true), ("c", true, false)]
        );
    }

    #[test]
    fn tasks_by_state_and_framework_share() {
        let s = example();
        assert_eq!(s.tasks.get(TaskState::Finished), 2);
        assert_eq!(s.tasks.total(), 4);
        let web = s
            .frameworks
            .iter()
            .find(|f| f.name == "web")
            .unwrap_or_else(|| panic!("web missing"));
        assert_eq!(web.role, "prod");
        assert_eq!(web.tasks.get(TaskState::Running), 1);
        assert_eq!(web.tasks.get(TaskState::Finished), 2);
        // Only the running task is allocated: 1 of 16 cpus, 64 of 3072 MiB.
        assert_eq!(cpus(&web.allocated), 1.0);
        assert!((web.share - 1.0 / 16.0).abs() < 1e-9);
        let ghost = s
            .frameworks
            .iter()
            .find(|f| f.name == "ghost")
            .unwrap_or_else(|| panic!("ghost missing"));
        assert!(!ghost.exists);
        assert_eq!(ghost.tasks.get(TaskState::Error), 1);
    }

    #[test]
    fn render_fits_one_screen() {
        let text = render(&example(), 20);
        assert!(text.contains("ns/web"), "{text}");
        assert!(text.contains("6.2%"), "share of web: {text}");
        assert!(text.contains("ns/o1"), "{text}");
        assert!(
            !text.contains("ns/o2"),
            "accepted offers are not outstanding: {text}"
        );
        assert!(text.lines().count() < 40, "{text}");
        let limited = render(&example(), 1);
        assert!(limited.contains("… and 2 more agents"), "{limited}");
    }
}
