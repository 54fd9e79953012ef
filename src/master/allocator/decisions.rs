//! The allocator's output: what the controllers should write.

use std::fmt;

use crate::api::Resources;

/// What one allocation cycle decided. Strings borrow from the [`Snapshot`]
/// (no copies in the hot loop).
///
/// [`Snapshot`]: super::Snapshot
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decisions<'a> {
    /// Offers to create (External frameworks), in allocation order; at most one per
    /// (framework, agent) per cycle.
    pub offers: Vec<NewOffer<'a>>,
    /// Outstanding offers to rescind, in snapshot order.
    pub rescinds: Vec<Rescind<'a>>,
    /// Agents chosen for pending tasks of Builtin frameworks, in allocation order.
    pub placements: Vec<Placement<'a>>,
    /// Pending tasks of Builtin frameworks left waiting, with the reason.
    pub unplaced: Vec<Unplaced<'a>>,
    /// Per framework (snapshot order): what it holds after this cycle.
    pub frameworks: Vec<FrameworkUsage<'a>>,
    /// Per role (by name): what it holds after this cycle.
    pub roles: Vec<RoleUsage<'a>>,
}

/// An offer to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOffer<'a> {
    /// The framework's id.
    pub framework: &'a str,
    /// The agent's name.
    pub agent: &'a str,
    /// The role the offer is allocated to (the framework's).
    pub role: &'a str,
    /// What is offered: the agent's free remainder (chopped by quota limits and
    /// headroom), with all its free ports.
    pub resources: Resources,
}

/// An outstanding offer to rescind; its resources were returned to the pool before
/// allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rescind<'a> {
    /// The offer's id.
    pub offer: &'a str,
    /// Why.
    pub reason: RescindReason,
}

/// Why an offer is rescinded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RescindReason {
    /// Its `expires_at` has passed.
    Expired,
    /// The agent no longer has its resources (other pods took them).
    ResourcesGone,
    /// Its framework is suppressed.
    Suppressed,
    /// Its framework no longer exists.
    FrameworkGone,
    /// Its agent is gone, cordoned, NotReady or tainted.
    AgentUnavailable,
}

impl RescindReason {
    /// A short CamelCase reason, for Kubernetes conditions and events.
    pub fn as_str(&self) -> &'static str {
        match self {
            RescindReason::Expired => "Expired",
            RescindReason::ResourcesGone => "ResourcesGone",
            RescindReason::Suppressed => "Suppressed",
            RescindReason::FrameworkGone => "FrameworkGone",
            RescindReason::AgentUnavailable => "AgentUnavailable",
        }
    }
}

impl fmt::Display for RescindReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RescindReason::Expired => "the offer expired",
            RescindReason::ResourcesGone => "the agent no longer has the offered resources",
            RescindReason::Suppressed => "the framework is suppressed",
            RescindReason::FrameworkGone => "the framework no longer exists",
            RescindReason::AgentUnavailable => "the agent is gone or unavailable",
        })
    }
}

/// A pending task placed on an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement<'a> {
    /// The task's id.
    pub task: &'a str,
    /// Its framework's id.
    pub framework: &'a str,
    /// The agent it goes to.
    pub agent: &'a str,
    /// The host ports taken for its [`PendingTask::random_ports`], in order (empty for a
    /// task that asked for none).
    ///
    /// [`PendingTask::random_ports`]: super::PendingTask::random_ports
    pub ports: Vec<u16>,
}

/// A pending task that stays pending this cycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unplaced<'a> {
    /// The task's id.
    pub task: &'a str,
    /// Its framework's id.
    pub framework: &'a str,
    /// Why.
    pub reason: UnplacedReason<'a>,
}

/// Why a pending task was not placed; `Display` gives a sentence for a status
/// message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnplacedReason<'a> {
    /// The framework is suppressed.
    FrameworkSuppressed,
    /// Placing it would take the role over its quota limit.
    QuotaLimit {
        /// The role.
        role: &'a str,
    },
    /// What is left is held back for other roles' quota guarantees.
    HeldForGuarantees,
    /// No agent the task may use has room for it.
    NoAgentFits {
        /// What the task needs.
        needed: Resources,
        /// The most any single agent has free, per scalar dimension.
        most_free: Resources,
    },
    /// Some agent has room for the task's resources, but none that does has enough free
    /// host ports in its range for its random ports.
    NoFreePorts {
        /// What the task needs besides the random ports.
        needed: Resources,
        /// How many host ports it asks for from the agent's range.
        random_ports: u32,
    },
    /// The task's placement constraints refuse every agent that has room for it.
    Constrained {
        /// What the task needs.
        needed: Resources,
        /// Whether the constraints admit some agent (which then has no room).
        admitted_some: bool,
        /// Which agents the constraints refuse and why, e.g. `0 of 5 nodes admit it:
        /// constraint 0 (hostname UNIQUE) refused 5 (node-1 already has an instance)`.
        summary: String,
    },
}

impl fmt::Display for UnplacedReason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnplacedReason::FrameworkSuppressed => f.write_str("the framework is suppressed"),
            UnplacedReason::QuotaLimit { role } => {
                write!(f, "placing it would exceed the quota limit of role {role}")
            }
            UnplacedReason::HeldForGuarantees => {
                f.write_str("the free resources are held back for other roles' quota guarantees")
            }
            UnplacedReason::NoAgentFits { needed, most_free } => write!(
                f,
                "no available agent has room for {needed} (the most free on any agent, per resource: {most_free})"
            ),
            UnplacedReason::NoFreePorts {
                needed,
                random_ports,
            } => write!(
                f,
                "no available agent with room for {needed} has {random_ports} free host ports left in its port range"
            ),
            UnplacedReason::Constrained {
                admitted_some: false,
                summary,
                ..
            } => write!(
                f,
                "its placement constraints admit no available agent ({summary})"
            ),
            UnplacedReason::Constrained {
                needed,
                admitted_some: true,
                summary,
            } => write!(
                f,
                "no available agent that its placement constraints admit has room for {needed} ({summary})"
            ),
        }
    }
}

/// What a framework holds after the cycle (scalars only; ports omitted).
#[derive(Clone, Debug, PartialEq)]
pub struct FrameworkUsage<'a> {
    /// The framework's id.
    pub framework: &'a str,
    /// Its role.
    pub role: &'a str,
    /// Its tasks' resources, including tasks placed this cycle.
    pub allocated: Resources,
    /// Its outstanding offers, kept and new.
    pub offered: Resources,
    /// Dominant share of `allocated + offered` in the available cluster.
    pub dominant_share: f64,
}

/// What a role holds after the cycle (scalars only; ports omitted).
#[derive(Clone, Debug, PartialEq)]
pub struct RoleUsage<'a> {
    /// The role's name.
    pub role: &'a str,
    /// Its frameworks' tasks' resources, including tasks placed this cycle.
    pub allocated: Resources,
    /// Its frameworks' outstanding offers, kept and new.
    pub offered: Resources,
    /// Dominant share of `allocated + offered` in the available cluster.
    pub dominant_share: f64,
    /// `dominant_share / weight`: the key weighted DRF orders roles by.
    pub weighted_share: f64,
    /// Whether `allocated + offered` covers the quota guarantee.
    pub guarantee_met: bool,
}
