//! The deployment's recorded state: everything the planner needs from one step to the
//! next, kept in the app's status so that the controller can crash and resume.

use std::collections::BTreeMap;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::services::Version;

/// Where a deployment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum DeploymentPhase {
    /// Not started: its app's dependencies are not available yet.
    Waiting,
    /// Rolling the new version out.
    Progressing,
    /// Held by the user (`paused`); the deadline does not run.
    Paused,
    /// The canary instances run the new version; waiting to be told to continue.
    CanaryWaiting,
    /// The deployment failed; going back to the last fully healthy version.
    RollingBack,
    /// Every instance runs the new version, healthy and ready.
    Complete,
    /// The rollback completed: every instance runs the restored version.
    RolledBack,
    /// The deployment failed and was not (or could not be) rolled back.
    Failed,
}

impl DeploymentPhase {
    /// Whether the deployment has ended (until the next version).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Complete | Self::RolledBack | Self::Failed)
    }

    /// Whether the progress deadline runs.
    pub fn deadline_runs(self) -> bool {
        matches!(self, Self::Progressing | Self::RollingBack)
    }

    /// Whether instances failing now count against the failure budget.
    pub fn counts_failures(self) -> bool {
        matches!(
            self,
            Self::Progressing | Self::Paused | Self::CanaryWaiting | Self::RollingBack
        )
    }
}

/// A rollback in progress or done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollbackState {
    /// The version restored.
    pub to: Version,
    /// When it began.
    pub started_at: Timestamp,
    /// Why the deployment failed (`ProgressDeadlineExceeded`, `FailureBudgetExceeded`).
    pub reason: String,
    /// How many instances of the failed version had failed.
    pub failed_instances: u32,
}

/// One deployment of one app: the version it rolls out and how far it got. The planner
/// reads it, and returns the next one; applying the planner again to its own output and
/// the same inputs changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentState {
    /// The version rolled out (the app's version when it began).
    pub version: Version,
    /// The version that ran before (the previous deployment's outcome), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<Version>,
    /// The last version that was fully rolled out, healthy and ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_version: Option<Version>,
    /// Where it is.
    pub phase: DeploymentPhase,
    /// Why, in one word (`ProgressDeadlineExceeded`).
    pub reason: String,
    /// Why, in a sentence.
    pub message: String,
    /// When it began (or, after waiting for dependencies, when it really began).
    pub started_at: Timestamp,
    /// When it last made progress (or resumed); the deadline runs from here.
    pub last_progress_at: Timestamp,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// The most instances of the target version seen available at once (progress mark).
    #[serde(default)]
    pub most_available: u32,
    /// The fewest instances of other versions seen live (progress mark).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fewest_old: Option<u32>,
    /// Failures seen per instance of the target version launched during this deployment
    /// (or rollback); kept after the instance is gone, so that nothing is counted twice.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failures: BTreeMap<String, u32>,
    /// How many of those instances failed at least once.
    #[serde(default)]
    pub failed_instances: u32,
    /// The rollback, once the deployment failed and is being rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackState>,
    /// Whether the canary step was passed.
    #[serde(default)]
    pub canary_promoted: bool,
}

impl DeploymentState {
    /// The version instances should run now: the rollback's target when rolling back,
    /// the previous version while waiting, else the deployment's version.
    pub fn effective_version(&self) -> Option<Version> {
        match (&self.rollback, self.phase) {
            (Some(rollback), _) => Some(rollback.to),
            (None, DeploymentPhase::Waiting) => self.from_version,
            (None, _) => Some(self.version),
        }
    }

    /// When the failures of the current phase began to count.
    pub(crate) fn counting_since(&self) -> Timestamp {
        self.rollback
            .as_ref()
            .map_or(self.started_at, |r| r.started_at)
    }
}

/// Instances by state and version, for the app's status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FleetCounts {
    /// Staging or starting.
    pub staged: u32,
    /// Running.
    pub running: u32,
    /// Running and healthy.
    pub healthy: u32,
    /// Running and not healthy.
    pub unhealthy: u32,
    /// Running, healthy and ready.
    pub available: u32,
    /// Being killed.
    pub killing: u32,
    /// Unreachable (active or inactive).
    pub unreachable: u32,
    /// Live instances per version, newest version first.
    pub by_version: Vec<VersionCount>,
}

/// The instances of one version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionCount {
    /// The version.
    pub version: Version,
    /// Its live instances.
    pub instances: u32,
    /// Those available.
    pub available: u32,
}
