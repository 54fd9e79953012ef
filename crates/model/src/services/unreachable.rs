//! Partitions: what to do with an instance whose node is unreachable.
//!
//! Marathon's `unreachableStrategy`: once unreachable for `inactiveAfterSeconds`, the
//! instance is inactive (it stops counting and a replacement is launched); once
//! unreachable for `expungeAfterSeconds` (at least `inactiveAfterSeconds`) it is expunged:
//! killed, so that it dies if its node returns. If it returns earlier it counts again, and
//! the surplus is scaled down. Disabled (resident apps): it waits for its node forever.
//!
//! Departure: Marathon checks non-zero timeouts only at its periodic reconciliation (every
//! 10 minutes by default); here the decision carries the time it changes, so the
//! controller can wake exactly then.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::InstanceState;
use super::time::plus_secs;

/// The unreachable strategy of an app (Marathon's defaults: 0 and 0).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "self.expungeAfterSeconds >= self.inactiveAfterSeconds",
    "message": "expungeAfterSeconds must be at least inactiveAfterSeconds"
}]))]
pub struct UnreachableStrategy {
    /// Never replace or expunge: wait for the node (Marathon's `"disabled"`).
    #[serde(default)]
    pub disabled: bool,
    /// Seconds unreachable after which a replacement is launched.
    #[serde(default)]
    pub inactive_after_seconds: u64,
    /// Seconds unreachable after which the instance is killed.
    #[serde(default)]
    pub expunge_after_seconds: u64,
}

/// A bad unreachable strategy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expungeAfterSeconds ({expunge}) must be at least inactiveAfterSeconds ({inactive})")]
pub struct UnreachableError {
    /// `inactiveAfterSeconds`.
    pub inactive: u64,
    /// `expungeAfterSeconds`.
    pub expunge: u64,
}

impl UnreachableStrategy {
    /// Checks `expungeAfterSeconds >= inactiveAfterSeconds`.
    pub fn validate(&self) -> Result<(), UnreachableError> {
        if self.expunge_after_seconds >= self.inactive_after_seconds {
            Ok(())
        } else {
            Err(UnreachableError {
                inactive: self.inactive_after_seconds,
                expunge: self.expunge_after_seconds,
            })
        }
    }
}

/// What to do with one instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnreachableDecision {
    /// Its node is reachable: nothing.
    Reachable,
    /// Unreachable, still counting; it becomes inactive at `inactive_at` (`None`: never).
    Wait {
        /// When to decide again.
        inactive_at: Option<Timestamp>,
    },
    /// Inactive: mark it so (it stops counting, a replacement launches); it is expunged at
    /// `expunge_at`.
    Inactive {
        /// When to decide again.
        expunge_at: Timestamp,
    },
    /// Kill it (and forget it): it must not run again if its node returns.
    Expunge,
}

/// Decides for one instance in `state`, unreachable since `since` (when it went
/// unreachable; `None`: unknown, taken as `now`).
pub fn decide(
    strategy: &UnreachableStrategy,
    state: InstanceState,
    since: Option<Timestamp>,
    now: Timestamp,
) -> UnreachableDecision {
    if !matches!(
        state,
        InstanceState::Unreachable | InstanceState::UnreachableInactive
    ) {
        return UnreachableDecision::Reachable;
    }
    if strategy.disabled {
        return UnreachableDecision::Wait { inactive_at: None };
    }
    let since = since.unwrap_or(now);
    let inactive_at = plus_secs(since, strategy.inactive_after_seconds);
    let expunge_at = plus_secs(
        since,
        strategy
            .expunge_after_seconds
            .max(strategy.inactive_after_seconds),
    );
    if now >= expunge_at {
        UnreachableDecision::Expunge
    } else if now >= inactive_at {
        UnreachableDecision::Inactive { expunge_at }
    } else {
        UnreachableDecision::Wait {
            inactive_at: Some(inactive_at),
        }
    }
}
