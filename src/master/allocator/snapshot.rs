//! The allocator's input: everything one allocation cycle decides from.

use std::collections::BTreeMap;
use std::sync::Arc;

use mesos_model::constraints::{Attributes, Constraints};

use crate::api::resources::{Cpus, Mebibytes};
use crate::api::{Resources, SchedulerKind};

use super::scalars::Scalars;

/// A point in time: the same type Kubernetes `Time` wraps, so offer expiry and
/// filter deadlines convert without loss.
pub type Timestamp = k8s_openapi::jiff::Timestamp;

/// Everything one allocation cycle needs, read from the API server's caches.
///
/// Names are keys and should be unique: agent names (Kubernetes guarantees it;
/// should two agents share a name anyway, references to it resolve to one of
/// them), framework ids and role names (a later duplicate is ignored), offer ids.
/// References by name to something the snapshot does not hold are tolerated (an
/// offer of an unknown framework is rescinded, a filter or tolerated agent that is
/// unknown is ignored).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// Every agent (Kubernetes Node), available or not.
    pub agents: Vec<Agent>,
    /// Every framework, suppressed or not.
    pub frameworks: Vec<Framework>,
    /// Roles with a weight or quota. A framework's role that is not listed here
    /// has weight 1 and no quota.
    pub roles: Vec<Role>,
    /// Offers already made and not yet answered.
    pub offers: Vec<OutstandingOffer>,
    /// The time of this cycle (the allocator never reads a clock).
    pub now: Timestamp,
    /// Placement constraints of pending tasks, with where their groups' live tasks run
    /// ([`PendingTask::group`] indexes this list).
    pub groups: Vec<PlacementGroup>,
    /// Seed for the order in which agents are visited (Mesos shuffles agents).
    pub seed: u64,
}

/// An agent: a Kubernetes Node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Agent {
    /// Node name.
    pub name: String,
    /// Node allocatable resources (plus the agent's port range); the cluster total
    /// that dominant shares are computed against is the sum over available agents.
    pub allocatable: Resources,
    /// Allocatable minus the requests (and host ports) of every non-terminal pod
    /// bound to the node, other workloads included.
    ///
    /// Outstanding offers are **not** subtracted here: the allocator subtracts the
    /// offers it keeps itself, which is how it notices offers whose resources are
    /// gone (with offers already subtracted, a shortfall would be clamped at zero
    /// and invisible).
    pub unrequested: Resources,
    /// How many more pods the node accepts (max pods minus non-terminal pods);
    /// `None` when unbounded.
    pub pod_room: Option<u32>,
    /// False when the node is cordoned, NotReady or carries a NoSchedule/NoExecute
    /// taint: such an agent is never offered, its outstanding offers are rescinded,
    /// and only tasks that list it in [`PendingTask::tolerated_agents`] are placed
    /// on it.
    pub available: bool,
    /// The node's labels, which placement constraints read (`zone`, `region` and any
    /// label). May be left empty when no pending task has constraints.
    pub labels: BTreeMap<String, String>,
}

impl Attributes for Agent {
    fn hostname(&self) -> &str {
        &self.name
    }

    fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// A framework.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Framework {
    /// Unique key (e.g. `namespace/name`), echoed in decisions.
    pub id: String,
    /// The framework's role.
    pub role: String,
    /// Builtin frameworks get placements for their pending tasks, External ones
    /// get offers.
    pub kind: SchedulerKind,
    /// Mesos SUPPRESS: no offers or placements; outstanding offers are rescinded.
    pub suppressed: bool,
    /// Resources of the framework's non-terminal tasks (their pods' requests).
    pub allocated: Resources,
    /// Offers smaller than this are not made (Mesos `min_allocatable_resources`).
    pub min_allocatable: MinAllocatable,
    /// Decline filters (Mesos `refuse_seconds`).
    pub filters: Vec<DeclineFilter>,
    /// Builtin frameworks: tasks waiting for an agent, in the order they should be
    /// placed. Ignored for External frameworks.
    pub pending_tasks: Vec<PendingTask>,
}

/// A decline filter: until `until`, offers on `agent` that are a subset of
/// `refused` are not made to the framework (Mesos' refused-offer filter; a larger
/// offer still gets through).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeclineFilter {
    /// The agent the framework declined.
    pub agent: String,
    /// When the filter lapses (it is active while `now < until`).
    pub until: Timestamp,
    /// What was declined.
    pub refused: Resources,
}

/// A task of a Builtin framework waiting for an agent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PendingTask {
    /// Unique key of the task (e.g. `namespace/name`), echoed in decisions.
    pub id: String,
    /// What the task's pod requests (host ports included).
    pub resources: Resources,
    /// Unavailable agents the task may still use because it tolerates their taints
    /// (the caller evaluates tolerations; cordoned or NotReady nodes do not belong
    /// here).
    pub tolerated_agents: Vec<String>,
    /// The task's placement constraints: an index into [`Snapshot::groups`] (`None`, or
    /// an index out of range: none).
    pub group: Option<usize>,
    /// How many host ports to take from the agent's free ports besides the fixed ones of
    /// `resources` (Marathon's port 0): the placement lists the ports chosen.
    pub random_ports: u32,
}

/// The placement constraints of a group's pending tasks (Marathon's app constraints) and
/// the agents of the group's live tasks, launches in flight included.
///
/// Entries with the same `key` are one group whose tasks carry different constraints
/// (old and new versions during a rollout): each entry judges its own tasks, and every
/// placement of the cycle counts in every entry of the group.
#[derive(Clone, Debug, Default)]
pub struct PlacementGroup {
    /// The group (e.g. `namespace/framework/group`).
    pub key: String,
    /// The checked constraints.
    pub constraints: Arc<Constraints>,
    /// How many tasks the group should have (GROUP_BY's target); `None`: the tasks placed
    /// so far and the one being placed.
    pub target: Option<u32>,
    /// Agent names of the group's live tasks, first launched first (CLUSTER without a
    /// value pins the first one's value). An agent the snapshot does not hold counts by
    /// its name only.
    pub placed: Vec<String>,
}

impl PartialEq for PlacementGroup {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
            && self.target == other.target
            && self.placed == other.placed
            && self.constraints.specs() == other.constraints.specs()
    }
}

/// A role with its weight and quota.
#[derive(Clone, Debug, PartialEq)]
pub struct Role {
    /// Role name.
    pub name: String,
    /// Weighted DRF weight (> 0; anything else counts as 1).
    pub weight: f64,
    /// Quota guarantee, scalars only: served before any role's fair share, with
    /// headroom held back so it stays reachable. Zero dimensions guarantee nothing.
    pub guarantee: Resources,
    /// Quota limit, scalars only: the role's allocation plus its offers never
    /// exceed it. Dimensions left at zero are **unlimited** (a Kubernetes-style
    /// absent field).
    pub limit: Resources,
}

impl Default for Role {
    fn default() -> Self {
        Role {
            name: String::new(),
            weight: 1.0,
            guarantee: Resources::default(),
            limit: Resources::default(),
        }
    }
}

/// An offer made in an earlier cycle and not yet answered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutstandingOffer {
    /// Unique key of the offer, echoed in rescinds.
    pub id: String,
    /// The framework it was made to.
    pub framework: String,
    /// The agent it is on.
    pub agent: String,
    /// What it still holds: the offered resources minus what tasks launched on it
    /// already use (those count in the framework's `allocated`).
    pub resources: Resources,
    /// When it expires (`None`: never).
    pub expires_at: Option<Timestamp>,
}

/// Mesos `min_allocatable_resources`: a list of alternatives, each a set of minimum
/// quantities; an offer is made only if it holds **all** of the quantities of **at
/// least one** alternative. An empty offer is never made.
///
/// The default is Mesos' `cpus:0.01|mem:32`: at least 0.01 CPU, or at least 32 MiB
/// of memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinAllocatable {
    alternatives: Vec<Resources>,
}

impl Default for MinAllocatable {
    fn default() -> Self {
        MinAllocatable::any_of(vec![
            Resources {
                cpus: Cpus::from_millis(10),
                ..Resources::default()
            },
            Resources {
                mem: Mebibytes::from_bytes(32 << 20),
                ..Resources::default()
            },
        ])
    }
}

impl MinAllocatable {
    /// Any non-empty offer is allocatable.
    pub fn anything() -> Self {
        MinAllocatable {
            alternatives: Vec::new(),
        }
    }

    /// An offer must hold every scalar of `minimum` (ports are ignored).
    pub fn all_of(minimum: Resources) -> Self {
        MinAllocatable::any_of(vec![minimum])
    }

    /// An offer must hold every scalar of at least one of `alternatives`.
    pub fn any_of(alternatives: Vec<Resources>) -> Self {
        MinAllocatable { alternatives }
    }

    /// The alternatives.
    pub fn alternatives(&self) -> &[Resources] {
        &self.alternatives
    }

    /// Whether an offer of `resources` may be made (scalars decide; ports alone
    /// do not make an offer).
    pub fn is_satisfied_by(&self, resources: &Resources) -> bool {
        self.scalar_rule().allows(&Scalars::of(resources))
    }

    pub(crate) fn scalar_rule(&self) -> MinRule {
        MinRule {
            alternatives: self.alternatives.iter().map(Scalars::of).collect(),
        }
    }
}

/// [`MinAllocatable`] on scalars, for the hot loop.
#[derive(Clone, Debug, Default)]
pub(crate) struct MinRule {
    alternatives: Vec<Scalars>,
}

impl MinRule {
    /// Whether an offer of `offered` is big enough. Monotone in `offered`.
    #[inline]
    pub(crate) fn allows(&self, offered: &Scalars) -> bool {
        !offered.is_zero()
            && (self.alternatives.is_empty()
                || self
                    .alternatives
                    .iter()
                    .any(|minimum| offered.contains(minimum)))
    }
}
