//! An app's instances as the service scheduler sees them.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::constraints::NodeAttributes;

/// An app version: the controller's revision number of the app's launch-relevant spec (a
/// change of `instances` alone is not a new version).
pub type Version = u64;

/// An instance's state, Marathon's conditions over Mesos task states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum InstanceState {
    /// Launched, not yet on a node or not yet started there (TASK_STAGING).
    Staging,
    /// On a node, starting (TASK_STARTING).
    Starting,
    /// Running (TASK_RUNNING).
    Running,
    /// A kill was requested; it still holds its node until it is gone (TASK_KILLING).
    Killing,
    /// Its node is unreachable (TASK_UNREACHABLE); it still counts.
    Unreachable,
    /// Unreachable longer than the unreachable strategy's `inactiveAfter`: a replacement
    /// was launched and it no longer counts.
    UnreachableInactive,
    /// Exited with success (TASK_FINISHED).
    Finished,
    /// Exited with failure (TASK_FAILED).
    Failed,
    /// Killed (TASK_KILLED).
    Killed,
    /// Lost with its node (TASK_LOST).
    Lost,
    /// Gone with its node, or removed by an operator (TASK_GONE).
    Gone,
    /// Refused as invalid (TASK_ERROR).
    Error,
    /// Dropped before it ran (TASK_DROPPED).
    Dropped,
}

impl InstanceState {
    /// Whether the instance will never run again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Finished
                | Self::Failed
                | Self::Killed
                | Self::Lost
                | Self::Gone
                | Self::Error
                | Self::Dropped
        )
    }

    /// Whether the instance counts against the app's capacity: not terminal and not
    /// unreachable-inactive (a kill in progress still counts: it holds its node).
    pub fn is_live(self) -> bool {
        !self.is_terminal() && self != Self::UnreachableInactive
    }

    /// Marathon's scale-down order: lower goes first (unreachable, staging, starting,
    /// running, the rest).
    pub fn kill_weight(self) -> u8 {
        match self {
            Self::Unreachable => 1,
            Self::Staging => 2,
            Self::Starting => 3,
            Self::Running => 4,
            _ => 5,
        }
    }
}

/// One instance of an app: one task, launched once (a replacement is a new instance).
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// Its unique id (the Task's name).
    pub id: String,
    /// The app version it runs.
    pub version: Version,
    /// Its state.
    pub state: InstanceState,
    /// Whether its health checks pass (`true` when it has none and runs); see
    /// [`super::health`].
    pub healthy: bool,
    /// Whether its readiness check passes (`true` when it has none and runs).
    pub ready: bool,
    /// When it was launched; `None` if unknown.
    pub started_at: Option<Timestamp>,
    /// How many times it failed: container restarts in place, a failed exit, a health kill.
    pub failures: u32,
    /// The node it is on; `None` while not yet placed.
    pub node: Option<NodeAttributes>,
}

impl Instance {
    /// Running, healthy and ready: what deployments count and never drop below the minimum.
    pub fn available(&self) -> bool {
        self.state == InstanceState::Running && self.healthy && self.ready
    }
}
