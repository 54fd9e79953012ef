//! Per-instance health and readiness: healthy, unhealthy or unknown, and whether to kill
//! and replace the instance.
//!
//! Marathon's rules (`docs/health-checks.md`): failures are ignored during
//! `gracePeriodSeconds` after launch unless the instance has already been healthy once;
//! past that, `maxConsecutiveFailures` consecutive failures kill it, and it is replaced
//! under backoff. An instance without health checks is healthy while it runs. Readiness
//! only gates deployments; without a readiness check a running instance is ready.
//!
//! Departure: `maxConsecutiveFailures: 0` means "never kill", as for Marathon's
//! leader-run checks (Marathon's Mesos-run checks read 0 as "kill at the first failure").

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::InstanceState;
use super::time::plus_secs;

/// How an app's health checks judge and act (the check itself, HTTP, TCP or command, is
/// the controller's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthPolicy {
    /// Seconds after launch during which failures are ignored, until the first success
    /// (default 300).
    #[serde(default = "default_grace")]
    pub grace_period_seconds: u64,
    /// Consecutive failures after which the instance is killed and replaced; 0 never kills
    /// (default 3).
    #[serde(default = "default_max_failures")]
    pub max_consecutive_failures: u32,
}

fn default_grace() -> u64 {
    300
}

fn default_max_failures() -> u32 {
    3
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self {
            grace_period_seconds: default_grace(),
            max_consecutive_failures: default_max_failures(),
        }
    }
}

/// What is known about one instance's checks.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthObservation {
    /// The instance's state.
    pub state: InstanceState,
    /// The last health-check result; `None` if none yet. Ignored without health checks.
    pub healthy: Option<bool>,
    /// The last readiness result; `None` if none yet.
    pub ready: Option<bool>,
    /// Consecutive failed health checks, counted while [`HealthSummary::counting`].
    pub consecutive_failures: u32,
    /// Whether a health check ever passed.
    pub ever_healthy: bool,
    /// When it was launched.
    pub started_at: Option<Timestamp>,
}

/// The verdict on one instance's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Health {
    /// Passing (or running without health checks).
    Healthy,
    /// Failing, past the grace period.
    Unhealthy,
    /// Not running, no result yet, or failing within the grace period.
    Unknown,
}

/// Health, readiness and what to do about them, for one instance.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthSummary {
    /// The verdict.
    pub health: Health,
    /// Whether it is ready (deployments wait for it).
    pub ready: bool,
    /// Whether failures count now (past the grace period, or healthy once).
    pub counting: bool,
    /// Whether to kill it and launch a replacement (under backoff).
    pub replace: bool,
    /// Why, in words.
    pub message: String,
    /// When the grace period ends, if it still runs.
    pub grace_ends_at: Option<Timestamp>,
}

/// Judges one instance. `checked`: whether the app has health checks; `readiness`: whether
/// it has a readiness check.
pub fn summarize(
    policy: &HealthPolicy,
    checked: bool,
    readiness: bool,
    seen: &HealthObservation,
    now: Timestamp,
) -> HealthSummary {
    let running = seen.state == InstanceState::Running;
    let ready = running && (!readiness || seen.ready == Some(true));
    let grace_end = seen
        .started_at
        .map(|at| plus_secs(at, policy.grace_period_seconds));
    let in_grace = !seen.ever_healthy && grace_end.is_some_and(|end| now < end);
    let counting = running && checked && !in_grace;
    let (health, replace, message) = verdict(policy, checked, running, in_grace, seen);
    HealthSummary {
        health,
        ready,
        counting,
        replace,
        message,
        grace_ends_at: grace_end.filter(|_| in_grace),
    }
}

fn verdict(
    policy: &HealthPolicy,
    checked: bool,
    running: bool,
    in_grace: bool,
    seen: &HealthObservation,
) -> (Health, bool, String) {
    let failures = seen.consecutive_failures;
    let max = policy.max_consecutive_failures;
    match (running, checked, seen.healthy) {
        (false, _, _) => (Health::Unknown, false, format!("{:?}", seen.state)),
        (true, false, _) => (Health::Healthy, false, "running, no health checks".into()),
        (true, true, Some(true)) => (Health::Healthy, false, "health checks pass".into()),
        (true, true, _) if in_grace => (
            Health::Unknown,
            false,
            "in its health-check grace period".into(),
        ),
        (true, true, None) => (Health::Unknown, false, "no health-check result yet".into()),
        (true, true, Some(false)) if max > 0 && failures >= max => (
            Health::Unhealthy,
            true,
            format!("{failures} consecutive health-check failures (at most {max}): replacing it"),
        ),
        (true, true, Some(false)) => (
            Health::Unhealthy,
            false,
            format!("{failures} consecutive health-check failures"),
        ),
    }
}
