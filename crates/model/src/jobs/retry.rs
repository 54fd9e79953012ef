//! Retries and failure accounting.
//!
//! A *run* is one slot's (or trigger's) execution; each *attempt* of it is a Task of its own
//! (Tasks are never relaunched, as in Mesos). A failed attempt is retried after an
//! exponential backoff while attempts remain; when none remain the run has failed, and the
//! job's counters say so. Counters count runs, not attempts, as Chronos' do.
//!
//! - `retries`: extra attempts after the first (Chronos' default is 2).
//! - Backoff before retry `n` (1-based): `min(cap, initial × factor^(n-1))`. Chronos waited
//!   a fixed `--failure_retry` (60 s); that is `factor: 1`.
//! - `disableAfterFailures: N`: after N failed runs in a row (errors since the last
//!   success) the job is disabled. Unlike Chronos' cluster-wide `--disable_after_failures`,
//!   it is per job.
//! - `softError`: a failed run still counts as a success *for dependents* (they trigger);
//!   the job's own statistics still record an error, and it still counts towards
//!   `disableAfterFailures`.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// Exponential backoff between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    /// The wait before the first retry.
    pub initial: SignedDuration,
    /// The growth per retry (at least 1).
    pub factor: f64,
    /// The longest wait.
    pub cap: SignedDuration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: SignedDuration::from_secs(60),
            factor: 2.0,
            cap: SignedDuration::from_secs(600),
        }
    }
}

impl Backoff {
    /// The wait before retry `retry` (1 = the first retry).
    pub fn delay(&self, retry: u32) -> SignedDuration {
        let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.factor.max(1.0).powi(exponent);
        let cap = self.cap.max(SignedDuration::ZERO);
        match SignedDuration::try_from_secs_f64(secs) {
            Ok(delay) if delay >= SignedDuration::ZERO => delay.min(cap),
            _ => cap,
        }
    }
}

/// The job's retry and failure settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FailurePolicy {
    /// Extra attempts after the first.
    pub retries: u32,
    /// The wait between attempts.
    pub backoff: Backoff,
    /// Disable the job after this many failed runs in a row.
    pub disable_after_failures: Option<u32>,
    /// A failed run still triggers dependents.
    pub soft_error: bool,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        FailurePolicy {
            retries: 2,
            backoff: Backoff::default(),
            disable_after_failures: None,
            soft_error: false,
        }
    }
}

/// The job's run statistics (Chronos' `successCount`, `errorCount`,
/// `errorsSinceLastSuccess`, `lastSuccess`, `lastError`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counters {
    /// Runs that succeeded (or were marked succeeded).
    pub successes: u64,
    /// Runs that failed after all their attempts.
    pub errors: u64,
    /// Failed runs since the last success.
    pub errors_since_last_success: u64,
    /// When the last success finished.
    pub last_success: Option<Timestamp>,
    /// When the last failure finished.
    pub last_error: Option<Timestamp>,
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureDecision {
    /// Start attempt `attempt` at `at`.
    RetryAt {
        /// The next attempt's number (1 = the first retry).
        attempt: u32,
        /// When to start it.
        at: Timestamp,
    },
    /// The run has failed; the job goes on.
    GiveUp,
    /// The run has failed and the job is disabled.
    Disable,
}

impl FailurePolicy {
    /// Decides after attempt `attempt` (0 = the first) failed at `failed_at`;
    /// `errors_in_a_row` is the job's failed runs since its last success, before this one.
    pub fn after_failure(
        &self,
        attempt: u32,
        failed_at: Timestamp,
        errors_in_a_row: u64,
    ) -> FailureDecision {
        if attempt < self.retries {
            let retry = attempt + 1;
            let at = failed_at
                .checked_add(self.backoff.delay(retry))
                .unwrap_or(Timestamp::MAX);
            return FailureDecision::RetryAt { attempt: retry, at };
        }
        match self.disable_after_failures {
            Some(limit) if errors_in_a_row.saturating_add(1) >= u64::from(limit) => {
                FailureDecision::Disable
            }
            _ => FailureDecision::GiveUp,
        }
    }
}

impl Counters {
    /// Records a successful run.
    pub fn record_success(&mut self, at: Timestamp) {
        self.successes += 1;
        self.errors_since_last_success = 0;
        self.last_success = Some(at);
    }

    /// Records a failed run.
    pub fn record_error(&mut self, at: Timestamp) {
        self.errors += 1;
        self.errors_since_last_success += 1;
        self.last_error = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::test_support::{secs, ts};
    use proptest::prelude::*;

    #[test]
    fn backoff_grows_then_caps() {
        let b = Backoff {
            initial: secs(10),
            factor: 3.0,
            cap: secs(100),
        };
        assert_eq!(
            [1, 2, 3, 4, 50].map(|n| b.delay(n)),
            [secs(10), secs(30), secs(90), secs(100), secs(100)]
        );
        let fixed = Backoff {
            initial: secs(60),
            factor: 1.0,
            cap: secs(600),
        };
        assert_eq!(fixed.delay(9), secs(60));
    }

    #[test]
    fn retries_then_give_up_then_disable() {
        let p = FailurePolicy {
            retries: 2,
            backoff: Backoff {
                initial: secs(5),
                factor: 2.0,
                cap: secs(60),
            },
            disable_after_failures: Some(3),
            soft_error: false,
        };
        let t = ts("2024-01-01T00:00:00Z");
        assert_eq!(
            p.after_failure(0, t, 0),
            FailureDecision::RetryAt {
                attempt: 1,
                at: ts("2024-01-01T00:00:05Z")
            }
        );
        assert_eq!(
            p.after_failure(1, t, 0),
            FailureDecision::RetryAt {
                attempt: 2,
                at: ts("2024-01-01T00:00:10Z")
            }
        );
        assert_eq!(p.after_failure(2, t, 0), FailureDecision::GiveUp);
        assert_eq!(p.after_failure(2, t, 1), FailureDecision::GiveUp);
        assert_eq!(p.after_failure(2, t, 2), FailureDecision::Disable);
    }

    #[test]
    fn counters() {
        let mut c = Counters::default();
        let t = ts("2024-01-01T00:00:00Z");
        c.record_error(t);
        c.record_error(t);
        assert_eq!((c.errors, c.errors_since_last_success), (2, 2));
        c.record_success(t);
        assert_eq!(
            (c.successes, c.errors, c.errors_since_last_success),
            (1, 2, 0)
        );
    }

    proptest! {
        #[test]
        fn backoff_is_monotonic_and_bounded(initial in 0i64..10_000, factor in 1.0f64..10.0, cap in 0i64..100_000, n in 1u32..200) {
            let b = Backoff { initial: secs(initial), factor, cap: secs(cap) };
            prop_assert!(b.delay(n) <= b.delay(n + 1));
            prop_assert!(b.delay(n) <= secs(cap));
            prop_assert!(b.delay(n) >= SignedDuration::ZERO);
        }
    }
}
