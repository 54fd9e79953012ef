//! Launch backoff: how long to wait before replacing an instance that failed.
//!
//! Marathon's `RateLimiter`: the first failure sets the delay to `backoffSeconds`, each
//! further one multiplies it by `backoffFactor`, never above `maxLaunchDelaySeconds`; the
//! next launch may happen `delay` after the last failure. FAILED and FINISHED grow it (and
//! ERROR, DROPPED, GONE, and health-check kills), KILLED does not. It resets on a new
//! version, on request, and when no failure came for `maxLaunchDelaySeconds` after the last
//! one (Marathon's clean-up of overdue delays).
//!
//! Departures: a failure is applied only if it is later than the last one applied, so
//! replaying the same failure after a restart does not grow the delay twice (two failures
//! within the same instant count once). Marathon's "advance" of the delay when an instance
//! starts running is not modelled.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Version;
use super::time::{plus_seconds, seconds_between};

/// The backoff settings of an app (Marathon's field names and defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackoffStrategy {
    /// The delay after the first failure, in seconds (default 1).
    #[serde(default = "default_backoff_seconds")]
    #[schemars(range(min = 0.0))]
    pub backoff_seconds: f64,
    /// What each further failure multiplies the delay by (default 1.15).
    #[serde(default = "default_backoff_factor")]
    #[schemars(range(min = 0.0))]
    pub backoff_factor: f64,
    /// The largest delay, in seconds (default 300).
    #[serde(default = "default_max_launch_delay")]
    #[schemars(range(min = 0.0))]
    pub max_launch_delay_seconds: f64,
}

fn default_backoff_seconds() -> f64 {
    1.0
}

fn default_backoff_factor() -> f64 {
    1.15
}

fn default_max_launch_delay() -> f64 {
    300.0
}

impl Default for BackoffStrategy {
    fn default() -> Self {
        Self {
            backoff_seconds: default_backoff_seconds(),
            backoff_factor: default_backoff_factor(),
            max_launch_delay_seconds: default_max_launch_delay(),
        }
    }
}

/// A bad backoff setting.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be a finite number of at least 0, not {value}")]
pub struct BackoffError {
    /// The field (`backoffFactor`).
    pub field: &'static str,
    /// What was given.
    pub value: String,
}

impl BackoffStrategy {
    /// Checks that every field is finite and not negative (Marathon's bounds).
    pub fn validate(&self) -> Result<(), BackoffError> {
        let fields = [
            ("backoffSeconds", self.backoff_seconds),
            ("backoffFactor", self.backoff_factor),
            ("maxLaunchDelaySeconds", self.max_launch_delay_seconds),
        ];
        match fields.iter().find(|(_, v)| !v.is_finite() || *v < 0.0) {
            Some((field, value)) => Err(BackoffError {
                field,
                value: value.to_string(),
            }),
            None => Ok(()),
        }
    }
}

/// How an instance ended, as far as backoff cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Termination {
    /// TASK_FAILED.
    Failed,
    /// TASK_FINISHED: a service that exits has failed to keep running.
    Finished,
    /// TASK_ERROR.
    Error,
    /// TASK_DROPPED.
    Dropped,
    /// TASK_GONE.
    Gone,
    /// Killed because its health checks failed.
    HealthKill,
    /// TASK_KILLED: asked for, not a failure.
    Killed,
    /// TASK_LOST, or expunged after being unreachable: the node's fault, not the app's.
    Lost,
}

impl Termination {
    /// Whether it grows the delay.
    pub fn grows_backoff(self) -> bool {
        !matches!(self, Self::Killed | Self::Lost)
    }
}

/// The backoff of one app, kept in its status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackoffState {
    /// The version the delay belongs to; another version starts without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
    /// The current delay in seconds; 0 when there is none.
    #[serde(default)]
    pub delay_seconds: f64,
    /// When the last failure counted happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure_at: Option<Timestamp>,
    /// Failures counted since the last reset.
    #[serde(default)]
    pub failures: u32,
}

/// The backoff as status shows it at one instant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackoffStatus {
    /// The delay in force, in seconds (0: none).
    pub current_delay_seconds: f64,
    /// The earliest time of the next launch, if one is being held back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_launch_at: Option<Timestamp>,
    /// Seconds until then (0 if none).
    pub time_left_seconds: f64,
}

impl BackoffState {
    /// The state for `version`: unchanged for the same version, reset for another.
    pub fn for_version(&self, version: Version) -> Self {
        if self.version == Some(version) {
            self.clone()
        } else {
            Self {
                version: Some(version),
                ..Self::default()
            }
        }
    }

    /// The state after a reset on request (Marathon's `DELETE /v2/queue/{id}/delay`).
    pub fn reset(&self) -> Self {
        Self {
            version: self.version,
            ..Self::default()
        }
    }

    /// The state after an instance of `version` ended as `how` at `at`.
    pub fn on_termination(
        &self,
        strategy: &BackoffStrategy,
        version: Version,
        how: Termination,
        at: Timestamp,
    ) -> Self {
        let current = self.for_version(version);
        let newer = current.last_failure_at.is_none_or(|last| at > last);
        if !how.grows_backoff() || !newer {
            return current;
        }
        let max = strategy.max_launch_delay_seconds.max(0.0);
        let delay = if current.in_force(strategy, at) {
            (current.delay_seconds * strategy.backoff_factor).min(max)
        } else {
            strategy.backoff_seconds.min(max)
        };
        Self {
            version: Some(version),
            delay_seconds: delay.max(0.0),
            last_failure_at: Some(at),
            failures: current.failures.saturating_add(1),
        }
    }

    /// Whether a delay exists and is not overdue at `now` (Marathon drops a delay once
    /// `maxLaunchDelaySeconds` passed since the failure that set it).
    fn in_force(&self, strategy: &BackoffStrategy, now: Timestamp) -> bool {
        match self.last_failure_at {
            Some(last) if self.delay_seconds > 0.0 => {
                seconds_between(last, now) <= strategy.max_launch_delay_seconds
            }
            _ => false,
        }
    }

    /// The earliest time a launch may happen, if launches are held back at `now`.
    pub fn launch_not_before(
        &self,
        strategy: &BackoffStrategy,
        now: Timestamp,
    ) -> Option<Timestamp> {
        let last = self.last_failure_at?;
        if !self.in_force(strategy, now) {
            return None;
        }
        let at = plus_seconds(last, self.delay_seconds);
        (at > now).then_some(at)
    }

    /// The backoff for status at `now`.
    pub fn status(&self, strategy: &BackoffStrategy, now: Timestamp) -> BackoffStatus {
        let next = self.launch_not_before(strategy, now);
        BackoffStatus {
            current_delay_seconds: if self.in_force(strategy, now) {
                self.delay_seconds
            } else {
                0.0
            },
            next_launch_at: next,
            time_left_seconds: next.map_or(0.0, |at| seconds_between(now, at).max(0.0)),
        }
    }
}
