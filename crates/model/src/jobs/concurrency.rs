//! What to do when a run is due while others are in flight.
//!
//! | policy | Chronos | Aurora | Kubernetes | a run due while one is in flight |
//! |---|---|---|---|---|
//! | `Allow` | `concurrent: true` | (`RUN_OVERLAP`, deprecated) | `Allow` | starts alongside |
//! | `Forbid` | `concurrent: false` | `CANCEL_NEW` | `Forbid` | is skipped, and recorded as such |
//! | `Replace` | — | `KILL_EXISTING` (its default) | `Replace` | the in-flight runs are killed, then it starts |
//!
//! A run waiting out a retry backoff counts as in flight: under `Forbid` it keeps the slot,
//! under `Replace` its retry is abandoned.

use serde::{Deserialize, Serialize};

/// The job's concurrency policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ConcurrencyPolicy {
    /// Runs may overlap.
    Allow,
    /// A due run is skipped while another is in flight (the default, as Chronos'
    /// `concurrent: false`).
    #[default]
    Forbid,
    /// A due run kills the runs in flight, then starts.
    Replace,
}

/// The decision for one due run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConcurrencyDecision {
    /// Start it.
    Start,
    /// Do not start it: `Forbid` and these runs are in flight.
    Skip {
        /// The runs in flight that forbid it.
        in_flight: Vec<String>,
    },
    /// Kill these in-flight runs, then start it.
    KillThenStart {
        /// The runs to kill.
        kill: Vec<String>,
    },
}

/// Decides what happens to a due run given the names of the runs in flight.
pub fn decide_concurrency(policy: ConcurrencyPolicy, in_flight: &[String]) -> ConcurrencyDecision {
    match policy {
        _ if in_flight.is_empty() => ConcurrencyDecision::Start,
        ConcurrencyPolicy::Allow => ConcurrencyDecision::Start,
        ConcurrencyPolicy::Forbid => ConcurrencyDecision::Skip {
            in_flight: in_flight.to_vec(),
        },
        ConcurrencyPolicy::Replace => ConcurrencyDecision::KillThenStart {
            kill: in_flight.to_vec(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        let busy = vec!["job-1".to_string()];
        for policy in [
            ConcurrencyPolicy::Allow,
            ConcurrencyPolicy::Forbid,
            ConcurrencyPolicy::Replace,
        ] {
            assert_eq!(decide_concurrency(policy, &[]), ConcurrencyDecision::Start);
        }
        assert_eq!(
            decide_concurrency(ConcurrencyPolicy::Allow, &busy),
            ConcurrencyDecision::Start
        );
        assert_eq!(
            decide_concurrency(ConcurrencyPolicy::Forbid, &busy),
            ConcurrencyDecision::Skip {
                in_flight: busy.clone()
            }
        );
        assert_eq!(
            decide_concurrency(ConcurrencyPolicy::Replace, &busy),
            ConcurrencyDecision::KillThenStart { kill: busy.clone() }
        );
    }
}
