//! The master's state as the master endpoints show it, built once from the stores and
//! rendered twice: as `/state` (Mesos' own JSON shape, [`super::master`]) and as the v1
//! operator API's `GET_STATE`, `GET_AGENTS`, `GET_FRAMEWORKS`, `GET_TASKS` and the
//! events of its SUBSCRIBE stream (proto messages, [`super::operator`]). Pure: the
//! stores' contents, the subscribed frameworks and the time come in as arguments.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use mesos_proto::v1;
use serde_json::Value;

use super::adapter::{self, Caps};
use crate::api::{Framework, Offer, OfferState, Resources, SchedulerKind, Task, TaskState};
use crate::master::placement;
use crate::runtime::cached_pod::CachedPod;

/// What the views are built from: the stores' contents.
pub struct Inputs<'a> {
    /// Every Node (agent).
    pub nodes: &'a [Arc<Node>],
    /// Every Task.
    pub tasks: &'a [Arc<Task>],
    /// Every Offer.
    pub offers: &'a [Arc<Offer>],
    /// Every Framework.
    pub frameworks: &'a [Arc<Framework>],
    /// Frameworks (Mesos ids) with an open scheduler stream.
    pub subscribed: &'a HashSet<String>,
    /// The Pod of a Task (for task groups: their members' states are their containers').
    pub pod_of: &'a dyn Fn(&Task) -> Option<Arc<CachedPod>>,
}

/// The master's state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MasterView {
    /// One per Node.
    pub agents: Vec<AgentView>,
    /// Registered frameworks (not torn down).
    pub frameworks: Vec<FrameworkView>,
    /// Frameworks torn down (Mesos' `completed_frameworks`).
    pub completed_frameworks: Vec<FrameworkView>,
}

/// An agent (a Node).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentView {
    /// Agent id and hostname: the Node's name.
    pub id: String,
    /// The Node's labels (Mesos attributes).
    pub attributes: BTreeMap<String, String>,
    /// When the Node was created (epoch seconds).
    pub registered_time: f64,
    /// Allocatable resources (and the agent port range).
    pub total: Resources,
    /// Resources of the non-terminal tasks placed on it.
    pub used: Resources,
    /// Resources of its outstanding offers.
    pub offered: Resources,
}

/// A framework.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameworkView {
    /// Mesos framework id: the Framework's UID.
    pub id: String,
    /// The Framework object's namespace and name.
    pub namespace: String,
    /// Object name.
    pub object: String,
    /// The FrameworkInfo it subscribed with (one made from the object for frameworks
    /// that never used the HTTP API), its `id` set.
    pub info: v1::FrameworkInfo,
    /// Its (first) role.
    pub role: String,
    /// All its roles (a MULTI_ROLE framework's Framework objects, one per role, are shown
    /// as the one framework they are).
    pub roles: Vec<String>,
    /// Active: connected and not torn down.
    pub active: bool,
    /// Connected: a scheduler stream is open (Builtin frameworks always are).
    pub connected: bool,
    /// When it registered (epoch seconds).
    pub registered_time: f64,
    /// Resources of its running tasks.
    pub allocated: Resources,
    /// Resources of its outstanding offers.
    pub offered: Resources,
    /// Its failover timeout (seconds).
    pub failover_timeout: f64,
    /// Non-terminal tasks, by Mesos task id.
    pub tasks: Vec<TaskView>,
    /// Terminal tasks.
    pub completed_tasks: Vec<TaskView>,
    /// Outstanding offers.
    pub offers: Vec<OfferSummary>,
}

/// An outstanding offer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OfferSummary {
    /// Offer id (object name).
    pub id: String,
    /// Agent.
    pub agent: String,
    /// Resources.
    pub resources: Resources,
    /// The role it is allocated to.
    pub role: String,
}

/// A task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskView {
    /// Mesos task id.
    pub id: String,
    /// The Task object's name.
    pub name: String,
    /// Mesos framework id.
    pub framework_id: String,
    /// Agent (empty before it is placed).
    pub agent: String,
    /// Latest state (TASK_STAGING before it has one).
    pub state: TaskState,
    /// Resources.
    pub resources: Resources,
    /// Its role.
    pub role: String,
    /// Its transitions, oldest first.
    pub statuses: Vec<v1::TaskStatus>,
    /// Its latest status (what TASK_UPDATED carries).
    pub latest: v1::TaskStatus,
}

/// What the master itself shows of tasks: every state as it is (no capability hides
/// TASK_KILLING or the partition-aware states from an operator).
const OPERATOR_CAPS: Caps = Caps {
    partition_aware: true,
    task_killing_state: true,
    multi_role: true,
    gpu_resources: true,
};

fn seconds(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> f64 {
    t.0.as_millisecond() as f64 / 1000.0
}

fn add(sum: &mut Resources, r: &Resources) {
    if let Some(total) = sum.checked_add(r) {
        *sum = total;
    }
}

fn outstanding(offer: &Offer) -> bool {
    offer
        .status
        .as_ref()
        .is_none_or(|s| s.state == OfferState::Outstanding)
        && offer.metadata.deletion_timestamp.is_none()
}

/// A Task as the master shows it.
pub fn task_view(task: &Task, framework_id: &str, role: &str) -> TaskView {
    let id = adapter::mesos_task_id(task);
    let agent = adapter::task_agent(task);
    let status = task.status.clone().unwrap_or_default();
    let state = status.state.unwrap_or(TaskState::Staging);
    let entry = |state: TaskState,
                 reason: Option<crate::api::TaskReason>,
                 message: Option<String>,
                 source: Option<crate::api::TaskSource>,
                 timestamp: f64| v1::TaskStatus {
        task_id: v1::TaskId { value: id.clone() },
        state: adapter::proto_state(state) as i32,
        message,
        source: source.map(|s| adapter::proto_source(s) as i32),
        reason: reason.map(|r| adapter::proto_reason(r) as i32),
        agent_id: (!agent.is_empty()).then(|| v1::AgentId {
            value: agent.clone(),
        }),
        timestamp: Some(timestamp),
        ..Default::default()
    };
    let statuses: Vec<v1::TaskStatus> = status
        .history
        .iter()
        .map(|h| {
            entry(
                h.state,
                h.reason,
                h.message.clone(),
                h.source,
                seconds(&h.timestamp),
            )
        })
        .collect();
    let last_time = statuses
        .last()
        .and_then(|s| s.timestamp)
        .or_else(|| task.creation_timestamp().map(|t| seconds(&t)))
        .unwrap_or(0.0);
    let mut latest = entry(
        state,
        status.reason,
        status.message.clone(),
        status.source,
        last_time,
    );
    latest.healthy = task.spec.health_check.as_ref().and(status.healthy);
    TaskView {
        id,
        name: task.name_any(),
        framework_id: framework_id.to_string(),
        agent,
        state,
        resources: task.spec.resources.clone(),
        role: role.to_string(),
        statuses,
        latest,
    }
}

/// The FrameworkInfo of a Framework: the one it subscribed with (its annotation), else
/// one made from the object; `id` is always the object's UID.
pub fn framework_info(fw: &Framework) -> v1::FrameworkInfo {
    let id = fw.uid().unwrap_or_default();
    let stored: Option<v1::FrameworkInfo> = fw
        .annotations()
        .get(adapter::FRAMEWORK_INFO_ANNOTATION)
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|v| mesos_proto::from_json(&v).ok());
    let failover: std::time::Duration = fw.spec.failover_timeout.into();
    let mut info = stored.unwrap_or_else(|| v1::FrameworkInfo {
        user: String::new(),
        name: fw.name_any(),
        roles: vec![fw.spec.role.clone()],
        failover_timeout: Some(failover.as_secs_f64()),
        ..Default::default()
    });
    info.id = Some(v1::FrameworkId { value: id });
    info
}

/// Builds the view.
pub fn build(inputs: &Inputs<'_>) -> MasterView {
    let mut used_by_node: HashMap<&str, Resources> = HashMap::new();
    for task in inputs.tasks.iter().filter(|t| !t.is_terminal()) {
        if let Some(agent) = task.status.as_ref().and_then(|s| s.agent.as_deref()) {
            add(used_by_node.entry(agent).or_default(), &task.spec.resources);
        }
    }
    let mut offered_by_node: HashMap<&str, Resources> = HashMap::new();
    for offer in inputs.offers.iter().filter(|o| outstanding(o)) {
        add(
            offered_by_node
                .entry(offer.spec.agent.as_str())
                .or_default(),
            &offer.spec.resources,
        );
    }
    let agents = inputs
        .nodes
        .iter()
        .map(|node| {
            let name = node.name_any();
            AgentView {
                attributes: node
                    .labels()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                registered_time: node
                    .creation_timestamp()
                    .map(|t| seconds(&t))
                    .unwrap_or(0.0),
                total: placement::agent_from_node(node).allocatable,
                used: used_by_node.get(name.as_str()).cloned().unwrap_or_default(),
                offered: offered_by_node
                    .get(name.as_str())
                    .cloned()
                    .unwrap_or_default(),
                id: name,
            }
        })
        .collect();
    let mut tasks_of: HashMap<(&str, &str), Vec<&Task>> = HashMap::new();
    for task in inputs.tasks {
        if let Some(ns) = task.metadata.namespace.as_deref() {
            tasks_of
                .entry((ns, task.spec.framework.as_str()))
                .or_default()
                .push(task);
        }
    }
    let mut offers_of: HashMap<(&str, &str), Vec<&Offer>> = HashMap::new();
    for offer in inputs.offers.iter().filter(|o| outstanding(o)) {
        if let Some(ns) = offer.metadata.namespace.as_deref() {
            offers_of
                .entry((ns, offer.spec.framework.as_str()))
                .or_default()
                .push(offer);
        }
    }
    let mut view = MasterView {
        agents,
        ..Default::default()
    };
    // A MULTI_ROLE framework's other roles: merged into it below.
    let mut extra_roles: Vec<(String, FrameworkView)> = Vec::new();
    for fw in inputs.frameworks {
        let namespace = fw.namespace().unwrap_or_default();
        let object = fw.name_any();
        let id = fw.uid().unwrap_or_default();
        let role = if fw.spec.role.is_empty() {
            "*".to_string()
        } else {
            fw.spec.role.clone()
        };
        let key = (namespace.as_str(), object.as_str());
        let mut tasks = Vec::new();
        let mut completed_tasks = Vec::new();
        for task in tasks_of.get(&key).into_iter().flatten() {
            if adapter::group_members(task).is_some() {
                // A task group: one task per member, each in its own state.
                let pod = (inputs.pod_of)(task);
                for (_, member) in adapter::member_tasks(task, &id, pod.as_deref()) {
                    let t = task_view(&member, &id, &role);
                    if t.state.is_terminal() {
                        completed_tasks.push(t);
                    } else {
                        tasks.push(t);
                    }
                }
                continue;
            }
            let t = task_view(task, &id, &role);
            if task.is_terminal() {
                completed_tasks.push(t);
            } else {
                tasks.push(t);
            }
        }
        tasks.sort_by(|a, b| a.id.cmp(&b.id));
        completed_tasks.sort_by(|a, b| a.id.cmp(&b.id));
        let mut offers: Vec<OfferSummary> = offers_of
            .get(&key)
            .into_iter()
            .flatten()
            .map(|o| OfferSummary {
                id: o.name_any(),
                agent: o.spec.agent.clone(),
                resources: o.spec.resources.clone(),
                role: role.clone(),
            })
            .collect();
        offers.sort_by(|a, b| a.id.cmp(&b.id));
        let status = fw.status.clone().unwrap_or_default();
        let connected =
            inputs.subscribed.contains(&id) || fw.spec.scheduler == SchedulerKind::Builtin;
        let failover: std::time::Duration = fw.spec.failover_timeout.into();
        let entry = FrameworkView {
            info: framework_info(fw),
            id,
            namespace: namespace.clone(),
            object: object.clone(),
            roles: vec![role.clone()],
            role,
            active: connected && !fw.is_torn_down(),
            connected,
            registered_time: status.registered_time.as_ref().map(seconds).unwrap_or(0.0),
            allocated: status.allocated.clone(),
            offered: status.offered.clone(),
            failover_timeout: failover.as_secs_f64(),
            tasks,
            completed_tasks,
            offers,
        };
        if let Some(primary) = fw.labels().get(adapter::ROLE_OF_LABEL) {
            extra_roles.push((primary.clone(), entry));
        } else if fw.is_torn_down() {
            view.completed_frameworks.push(entry);
        } else {
            view.frameworks.push(entry);
        }
    }
    for (primary, extra) in extra_roles {
        let found = view
            .frameworks
            .iter_mut()
            .chain(view.completed_frameworks.iter_mut())
            .find(|f| f.id == primary);
        let Some(fw) = found else {
            continue;
        };
        fw.roles.extend(extra.roles);
        add(&mut fw.allocated, &extra.allocated);
        add(&mut fw.offered, &extra.offered);
        for mut task in extra.tasks.into_iter().chain(extra.completed_tasks) {
            task.framework_id = fw.id.clone();
            if task.state.is_terminal() {
                fw.completed_tasks.push(task);
            } else {
                fw.tasks.push(task);
            }
        }
        fw.offers.extend(extra.offers);
        fw.tasks.sort_by(|a, b| a.id.cmp(&b.id));
        fw.completed_tasks.sort_by(|a, b| a.id.cmp(&b.id));
    }
    view
}

// ---- the operator API's messages -------------------------------------------------

fn resources(r: &Resources, role: Option<&str>) -> Vec<v1::Resource> {
    match role {
        Some(role) => adapter::resources_to_proto(r, role, OPERATOR_CAPS),
        None => adapter::resources_to_proto(
            r,
            "*",
            Caps {
                gpu_resources: true,
                ..Caps::default()
            },
        ),
    }
}

/// An agent as `GET_AGENTS` shows it.
pub fn agent_proto(agent: &AgentView, version: &str) -> v1::master::response::get_agents::Agent {
    v1::master::response::get_agents::Agent {
        agent_info: v1::AgentInfo {
            hostname: agent.id.clone(),
            port: Some(5051),
            resources: resources(&agent.total, None),
            attributes: agent
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
            id: Some(v1::AgentId {
                value: agent.id.clone(),
            }),
            ..Default::default()
        },
        active: true,
        deactivated: Some(false),
        version: version.to_string(),
        pid: Some(format!("slave(1)@{}:5051", agent.id)),
        registered_time: Some(v1::TimeInfo {
            nanoseconds: (agent.registered_time * 1e9) as i64,
        }),
        total_resources: resources(&agent.total, None),
        allocated_resources: resources(&agent.used, None),
        offered_resources: resources(&agent.offered, None),
        ..Default::default()
    }
}

/// A task as `GET_TASKS` shows it.
pub fn task_proto(task: &TaskView) -> v1::Task {
    v1::Task {
        name: task.name.clone(),
        task_id: v1::TaskId {
            value: task.id.clone(),
        },
        framework_id: v1::FrameworkId {
            value: task.framework_id.clone(),
        },
        agent_id: v1::AgentId {
            value: task.agent.clone(),
        },
        state: adapter::proto_state(task.state) as i32,
        resources: resources(&task.resources, Some(&task.role)),
        statuses: task.statuses.clone(),
        ..Default::default()
    }
}

fn time_info(seconds: f64) -> v1::TimeInfo {
    v1::TimeInfo {
        nanoseconds: (seconds * 1e9) as i64,
    }
}

/// A framework as `GET_FRAMEWORKS` shows it.
pub fn framework_proto(fw: &FrameworkView) -> v1::master::response::get_frameworks::Framework {
    v1::master::response::get_frameworks::Framework {
        framework_info: fw.info.clone(),
        active: fw.active,
        connected: fw.connected,
        recovered: false,
        registered_time: (fw.registered_time > 0.0).then(|| time_info(fw.registered_time)),
        offers: fw
            .offers
            .iter()
            .map(|o| v1::Offer {
                id: v1::OfferId {
                    value: o.id.clone(),
                },
                framework_id: v1::FrameworkId {
                    value: fw.id.clone(),
                },
                agent_id: v1::AgentId {
                    value: o.agent.clone(),
                },
                hostname: o.agent.clone(),
                resources: resources(&o.resources, Some(&o.role)),
                allocation_info: Some(v1::resource::AllocationInfo {
                    role: Some(o.role.clone()),
                }),
                ..Default::default()
            })
            .collect(),
        allocated_resources: resources(&fw.allocated, Some(&fw.role)),
        offered_resources: resources(&fw.offered, Some(&fw.role)),
        ..Default::default()
    }
}

/// `GET_AGENTS`.
pub fn get_agents(view: &MasterView, version: &str) -> v1::master::response::GetAgents {
    v1::master::response::GetAgents {
        agents: view
            .agents
            .iter()
            .map(|a| agent_proto(a, version))
            .collect(),
        recovered_agents: Vec::new(),
    }
}

/// `GET_FRAMEWORKS`.
pub fn get_frameworks(view: &MasterView) -> v1::master::response::GetFrameworks {
    v1::master::response::GetFrameworks {
        frameworks: view.frameworks.iter().map(framework_proto).collect(),
        completed_frameworks: view
            .completed_frameworks
            .iter()
            .map(framework_proto)
            .collect(),
        ..Default::default()
    }
}

/// `GET_TASKS`: the tasks of every framework, torn-down ones' included; TASK_UNREACHABLE
/// ones apart, as Mesos lists them.
pub fn get_tasks(view: &MasterView) -> v1::master::response::GetTasks {
    let all = || view.frameworks.iter().chain(&view.completed_frameworks);
    let unreachable = |t: &&TaskView| t.state == TaskState::Unreachable;
    v1::master::response::GetTasks {
        tasks: all()
            .flat_map(|f| f.tasks.iter().filter(|t| !unreachable(t)).map(task_proto))
            .collect(),
        unreachable_tasks: all()
            .flat_map(|f| f.tasks.iter().filter(unreachable).map(task_proto))
            .collect(),
        completed_tasks: all()
            .flat_map(|f| f.completed_tasks.iter().map(task_proto))
            .collect(),
        ..Default::default()
    }
}

/// `GET_STATE`: tasks, executors (none: command tasks only), frameworks, agents.
pub fn get_state(view: &MasterView, version: &str) -> v1::master::response::GetState {
    v1::master::response::GetState {
        get_tasks: Some(get_tasks(view)),
        get_executors: Some(v1::master::response::GetExecutors::default()),
        get_frameworks: Some(get_frameworks(view)),
        get_agents: Some(get_agents(view, version)),
    }
}

// ---- the operator SUBSCRIBE stream's events --------------------------------------

/// What an operator stream last told its subscriber, to send only what changed.
#[derive(Debug, Clone, Default)]
pub struct Told {
    agents: HashSet<String>,
    /// Framework id → (active, connected).
    frameworks: HashMap<String, (bool, bool)>,
    /// Framework infos of those frameworks (for FRAMEWORK_REMOVED).
    infos: HashMap<String, v1::FrameworkInfo>,
    /// (framework id, task id) → (transitions told, state, healthy).
    tasks: HashMap<(String, String), (usize, TaskState, Option<bool>)>,
}

impl Told {
    /// What SUBSCRIBED told (the whole state).
    pub fn new(view: &MasterView) -> Told {
        let mut told = Told::default();
        let _ = told.changes(view, "");
        told
    }

    /// The events that bring the subscriber from what it was told to `view`, in Mesos'
    /// order: agents added, frameworks added or updated, tasks added or updated, then
    /// frameworks and agents removed.
    pub fn changes(&mut self, view: &MasterView, version: &str) -> Vec<v1::master::Event> {
        use v1::master::event;
        let mut out = Vec::new();
        let ev = |t: event::Type| v1::master::Event {
            r#type: Some(t as i32),
            ..Default::default()
        };
        let mut agents = HashSet::new();
        for agent in &view.agents {
            agents.insert(agent.id.clone());
            if !self.agents.contains(&agent.id) {
                out.push(v1::master::Event {
                    agent_added: Some(event::AgentAdded {
                        agent: agent_proto(agent, version),
                    }),
                    ..ev(event::Type::AgentAdded)
                });
            }
        }
        let mut frameworks = HashMap::new();
        let mut infos = HashMap::new();
        let mut tasks = HashMap::new();
        for fw in &view.frameworks {
            let now = (fw.active, fw.connected);
            frameworks.insert(fw.id.clone(), now);
            infos.insert(fw.id.clone(), fw.info.clone());
            match self.frameworks.get(&fw.id) {
                None => out.push(v1::master::Event {
                    framework_added: Some(event::FrameworkAdded {
                        framework: framework_proto(fw),
                    }),
                    ..ev(event::Type::FrameworkAdded)
                }),
                Some(before) if *before != now => out.push(v1::master::Event {
                    framework_updated: Some(event::FrameworkUpdated {
                        framework: framework_proto(fw),
                    }),
                    ..ev(event::Type::FrameworkUpdated)
                }),
                Some(_) => {}
            }
        }
        for fw in view.frameworks.iter().chain(&view.completed_frameworks) {
            for task in fw.tasks.iter().chain(&fw.completed_tasks) {
                let key = (fw.id.clone(), task.id.clone());
                let now = (task.statuses.len(), task.state, task.latest.healthy);
                let updated = |status: &v1::TaskStatus| v1::master::Event {
                    task_updated: Some(event::TaskUpdated {
                        framework_id: v1::FrameworkId {
                            value: fw.id.clone(),
                        },
                        status: status.clone(),
                        state: adapter::proto_state(task.state) as i32,
                    }),
                    ..ev(event::Type::TaskUpdated)
                };
                // Every transition since the last one told (the first one seen: since
                // TASK_STAGING, as Mesos adds a task and then applies its updates); the
                // latest status alone when the history moved past what was told.
                let told = match self.tasks.get(&key) {
                    None => {
                        out.push(v1::master::Event {
                            task_added: Some(event::TaskAdded {
                                task: task_proto(task),
                            }),
                            ..ev(event::Type::TaskAdded)
                        });
                        Some(0)
                    }
                    Some(before) if *before != now => Some(before.0),
                    Some(_) => None,
                };
                if let Some(told) = told {
                    let fresh: Vec<&v1::TaskStatus> = task
                        .statuses
                        .iter()
                        .skip(told)
                        .filter(|s| s.state != v1::TaskState::TaskStaging as i32)
                        .collect();
                    let in_order = told <= task.statuses.len()
                        && fresh.last().is_some_and(|s| s.state == task.latest.state)
                        && self.tasks.get(&key).is_none_or(|b| b.2 == now.2);
                    if in_order {
                        out.extend(fresh.into_iter().map(updated));
                    } else if task.state != TaskState::Staging || self.tasks.contains_key(&key) {
                        out.push(updated(&task.latest));
                    }
                }
                tasks.insert(key, now);
            }
        }
        let mut removed: Vec<&String> = self
            .frameworks
            .keys()
            .filter(|id| !frameworks.contains_key(*id))
            .collect();
        removed.sort();
        for id in removed {
            let info = self
                .infos
                .get(id)
                .cloned()
                .unwrap_or_else(|| v1::FrameworkInfo {
                    id: Some(v1::FrameworkId { value: id.clone() }),
                    ..Default::default()
                });
            out.push(v1::master::Event {
                framework_removed: Some(event::FrameworkRemoved {
                    framework_info: info,
                }),
                ..ev(event::Type::FrameworkRemoved)
            });
        }
        let mut gone: Vec<&String> = self.agents.difference(&agents).collect();
        gone.sort();
        for id in gone {
            out.push(v1::master::Event {
                agent_removed: Some(event::AgentRemoved {
                    agent_id: v1::AgentId { value: id.clone() },
                }),
                ..ev(event::Type::AgentRemoved)
            });
        }
        self.agents = agents;
        self.frameworks = frameworks;
        self.infos = infos;
        self.tasks = tasks;
        out
    }
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
