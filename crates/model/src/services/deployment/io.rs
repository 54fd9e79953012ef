//! What the planner takes and what it returns.

use jiff::Timestamp;

use super::DeploymentState;
use super::state::FleetCounts;
use crate::constraints::Constraints;
use crate::services::{Instance, KillSelection, UpgradeStrategy, Version};

/// Everything one planning step looks at.
#[derive(Clone, Debug)]
pub struct PlanInput<'a> {
    /// The current time.
    pub now: Timestamp,
    /// The app's target instance count.
    pub instances: u32,
    /// The app's current version (a spec change gives a new one; to roll back to version
    /// `k`, make `k` the current version, see [`super::resolve_version`]).
    pub version: Version,
    /// The versions whose spec is still known, so can be launched (the bounded history,
    /// the current version included).
    pub history: &'a [Version],
    /// Every instance of the app; terminal ones may be included (they are ignored except
    /// for their failures).
    pub fleet: &'a [Instance],
    /// The upgrade strategy.
    pub strategy: &'a UpgradeStrategy,
    /// Whether the user paused the deployment.
    pub paused: bool,
    /// The version the user allowed past its canary step, if any.
    pub promote: Option<Version>,
    /// Why the app's dependencies are not available, if they are not: a new deployment
    /// does not start until they are.
    pub waiting_for: Option<String>,
    /// Launch backoff: no launch before this time.
    pub launch_not_before: Option<Timestamp>,
    /// The app's constraints (scale-down keeps the spread).
    pub constraints: &'a Constraints,
    /// Which instance goes first among equals on scale-down.
    pub kill_selection: KillSelection,
    /// The recorded deployment state; `None` before the first deployment.
    pub state: Option<&'a DeploymentState>,
}

/// What one planning step decided.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Instances to launch, per version.
    pub launches: Vec<Launch>,
    /// Instances to kill, in order.
    pub kills: Vec<Kill>,
    /// The deployment's next state (persist it in the app's status).
    pub state: DeploymentState,
    /// The app's conditions: `Available`, `Progressing`, `Degraded`.
    pub conditions: Vec<PlannedCondition>,
    /// Transitions to announce as Events (empty when nothing changed).
    pub events: Vec<DeploymentEvent>,
    /// When to plan again even if nothing changes (deadline, backoff).
    pub wake_at: Option<Timestamp>,
    /// The instance count constraints should spread over when placing these launches (the
    /// most instances that will run at once; GROUP_BY's target).
    pub placement_target: u32,
    /// Instances by state and version, for status.
    pub counts: FleetCounts,
}

/// Launch `count` new instances of `version`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// The version to launch.
    pub version: Version,
    /// How many.
    pub count: u32,
}

/// Kill one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kill {
    /// The instance's id.
    pub instance: String,
    /// Why, in one word.
    pub reason: KillReason,
    /// Why, in a sentence.
    pub message: String,
}

/// Why an instance is killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KillReason {
    /// An old-version instance that is not available: it goes first.
    UnavailableOldVersion,
    /// An old-version instance, replaced now that enough instances are available.
    Replaced,
    /// More instances of the current version than wanted.
    ScaleDown,
}

impl KillReason {
    /// The reason's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UnavailableOldVersion => "UnavailableOldVersion",
            Self::Replaced => "Replaced",
            Self::ScaleDown => "ScaleDown",
        }
    }
}

/// The condition types of an App, all three set by the planner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AppCondition {
    /// At least the minimum of healthy and ready instances runs.
    Available,
    /// A deployment is rolling out (or rolling back); its reason says how it ended.
    Progressing,
    /// Instances fail, or the last deployment failed.
    Degraded,
}

impl AppCondition {
    /// Every condition type, in the order status lists them.
    pub const ALL: [AppCondition; 3] = [Self::Available, Self::Progressing, Self::Degraded];

    /// The wire spelling (the condition's `type`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Available => "Available",
            Self::Progressing => "Progressing",
            Self::Degraded => "Degraded",
        }
    }
}

/// One status condition, without the bookkeeping (generation, transition time) the
/// controller adds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedCondition {
    /// `Available`, `Progressing` or `Degraded`.
    pub type_: AppCondition,
    /// Whether it holds.
    pub status: bool,
    /// Why, in one word.
    pub reason: String,
    /// Why, in a sentence.
    pub message: String,
}

/// A deployment transition worth an Event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentEvent {
    /// `DeploymentStarted`, `DeploymentSucceeded`, `DeploymentFailed`, `RollbackStarted`,
    /// `RolledBack`, `DeploymentPaused`, `DeploymentResumed`, `CanaryWaiting`,
    /// `CanaryPromoted`.
    pub reason: &'static str,
    /// What happened.
    pub message: String,
    /// Whether it is a Warning (else Normal).
    pub warning: bool,
}

/// A rollback target that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("version {requested} is not in the app's history (known: {})", known(.history))]
pub struct UnknownVersion {
    /// The version asked for.
    pub requested: Version,
    /// The versions known.
    pub history: Vec<Version>,
}

fn known(history: &[Version]) -> String {
    history
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks that version `requested` can be rolled back to (it is in the history): the
/// caller then plans with it as the current version.
pub fn resolve_version(history: &[Version], requested: Version) -> Result<Version, UnknownVersion> {
    if history.contains(&requested) {
        Ok(requested)
    } else {
        Err(UnknownVersion {
            requested,
            history: history.to_vec(),
        })
    }
}
