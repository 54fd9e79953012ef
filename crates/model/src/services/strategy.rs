//! The upgrade strategy: Marathon's `minimumHealthCapacity` and `maximumOverCapacity`,
//! plus the deadline, failure budget, automatic rollback and canary step that Marathon
//! lacks; and the capacity math of Marathon's `TaskReplaceActor`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Floating-point slack for the capacity math (`10 × 0.7` is `7.000000000000001`).
const SLACK: f64 = 1e-9;

/// How an app's new version replaces the old one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStrategy {
    /// The share of `instances` that must stay healthy and ready during a deployment
    /// (default 1).
    #[serde(default = "one")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub minimum_health_capacity: f64,
    /// The share of `instances` that may run on top of `instances` during a deployment
    /// (default 1).
    #[serde(default = "one")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub maximum_over_capacity: f64,
    /// Seconds without progress after which the deployment fails; 0 never fails it
    /// (Marathon's behaviour). Default 600.
    #[serde(default = "default_deadline")]
    pub progress_deadline_seconds: u64,
    /// How many instances of the new version may fail during the deployment; one more
    /// fails it. Absent: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_budget: Option<u32>,
    /// Roll back to the last version that was fully healthy when the deployment fails.
    #[serde(default)]
    pub auto_rollback: bool,
    /// Update only this many instances first, then wait to be told to continue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub canary_instances: Option<u32>,
}

fn one() -> f64 {
    1.0
}

fn default_deadline() -> u64 {
    600
}

impl Default for UpgradeStrategy {
    fn default() -> Self {
        Self {
            minimum_health_capacity: 1.0,
            maximum_over_capacity: 1.0,
            progress_deadline_seconds: default_deadline(),
            failure_budget: None,
            auto_rollback: false,
            canary_instances: None,
        }
    }
}

/// A bad upgrade strategy, naming the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StrategyError {
    /// A share outside [0, 1].
    #[error("{field} must be between 0 and 1, not {value}")]
    ShareOutOfRange {
        /// `minimumHealthCapacity` or `maximumOverCapacity`.
        field: &'static str,
        /// What was given.
        value: String,
    },
    /// A canary step of 0 instances.
    #[error("canaryInstances must be at least 1")]
    EmptyCanary,
}

impl UpgradeStrategy {
    /// Checks the shares are in [0, 1] and a canary step has at least one instance.
    pub fn validate(&self) -> Result<(), StrategyError> {
        for (field, value) in [
            ("minimumHealthCapacity", self.minimum_health_capacity),
            ("maximumOverCapacity", self.maximum_over_capacity),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(StrategyError::ShareOutOfRange {
                    field,
                    value: value.to_string(),
                });
            }
        }
        if self.canary_instances == Some(0) {
            return Err(StrategyError::EmptyCanary);
        }
        Ok(())
    }

    /// The bounds of a deployment of `instances`.
    pub fn capacity(&self, instances: u32) -> Capacity {
        let n = f64::from(instances);
        let min_hc = clamp_share(self.minimum_health_capacity);
        let max_oc = clamp_share(self.maximum_over_capacity);
        let min_healthy = to_count((n * min_hc - SLACK).ceil()).min(instances);
        let over = to_count((n * (1.0 + max_oc) + SLACK).floor()).max(instances);
        let surge = min_healthy == over;
        Capacity {
            min_healthy,
            max_instances: if surge { over.saturating_add(1) } else { over },
            surge,
        }
    }
}

fn clamp_share(share: f64) -> f64 {
    if share.is_nan() {
        1.0
    } else {
        share.clamp(0.0, 1.0)
    }
}

fn to_count(x: f64) -> u32 {
    if x <= 0.0 {
        0
    } else if x >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        x as u32
    }
}

/// The bounds of a deployment (Marathon's `TaskReplaceActor.computeRestartStrategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// ⌈instances · minimumHealthCapacity⌉: available instances a deployment keeps.
    pub min_healthy: u32,
    /// ⌊instances · (1 + maximumOverCapacity)⌋, plus one when that equals `min_healthy`.
    pub max_instances: u32,
    /// Whether the one-instance surge applies.
    pub surge: bool,
}
