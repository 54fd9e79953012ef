//! The pure core of the Marathon-style service scheduler: what the App controller decides,
//! as functions of plain values (the time included).
//!
//! - [`instance`](Instance): an app's instances and their states.
//! - [`deployment`]: the deployment planner, the heart: one step of a rolling deployment
//!   with deadline, failure budget, rollback, pause and canary.
//! - [`victims`](select_victims): which instances scale-down kills.
//! - [`backoff`](BackoffState): the launch delay after failures.
//! - [`health`](summarize): health and readiness per instance, and when to replace it.
//! - [`readiness`](readiness()): when an instance counts as ready (its readiness check
//!   and `minReadySeconds`).
//! - [`unreachable`](decide): what to do with instances on unreachable nodes.
//! - [`dependencies`]: validation and ordering between apps.
//! - [`UpgradeStrategy`]: the rollout's bounds.
//!
//! Each module documents where it departs from Marathon and why.

pub mod backoff;
pub mod dependencies;
pub mod deployment;
pub mod health;
mod instance;
pub mod readiness;
mod strategy;
mod time;
pub mod unreachable;
pub mod victims;

#[cfg(test)]
mod tests;

pub use backoff::{BackoffState, BackoffStatus, BackoffStrategy, Termination};
pub use health::{Health, HealthObservation, HealthPolicy, HealthSummary, summarize};
pub use instance::{Instance, InstanceState, Version};
pub use readiness::{ReadinessObservation, ReadinessPolicy, ReadinessVerdict, readiness};
pub use strategy::{Capacity, StrategyError, UpgradeStrategy};
pub use unreachable::{UnreachableDecision, UnreachableStrategy, decide};
pub use victims::{KillSelection, Victim, VictimReason, select_victims};
