//! History pruning: keep the last N successful and M failed runs, delete the rest's Tasks.
//!
//! Runs are the unit, as in Kubernetes' `successfulJobsHistoryLimit` and
//! `failedJobsHistoryLimit` (defaults 3 and 1, kept here): a run that took three attempts
//! keeps or loses all three Tasks together. "Failed" is every outcome but success (failed,
//! timed out, lost, replaced).

use serde::{Deserialize, Serialize};

use super::ledger::{FinishedRun, RunOutcome};

/// How many finished runs to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLimits {
    /// Successful runs kept.
    pub successful: u32,
    /// Unsuccessful runs kept.
    pub failed: u32,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        HistoryLimits {
            successful: 3,
            failed: 1,
        }
    }
}

/// The history after pruning, and the Tasks to delete.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pruned {
    /// The runs kept, oldest first.
    pub kept: Vec<FinishedRun>,
    /// The Task names of the runs dropped.
    pub delete: Vec<String>,
}

/// Keeps the latest `limits.successful` successful and `limits.failed` other runs of
/// `history` (oldest first); returns the Task names of the rest.
pub fn prune_history(job: &str, history: &[FinishedRun], limits: HistoryLimits) -> Pruned {
    let (mut successes, mut failures) = (0u32, 0u32);
    let mut keep = vec![false; history.len()];
    for (run, kept) in history.iter().zip(keep.iter_mut()).rev() {
        let (count, limit) = if run.outcome == RunOutcome::Succeeded {
            (&mut successes, limits.successful)
        } else {
            (&mut failures, limits.failed)
        };
        if *count < limit {
            *count += 1;
            *kept = true;
        }
    }
    let mut pruned = Pruned::default();
    for (run, kept) in history.iter().zip(keep) {
        if kept {
            pruned.kept.push(run.clone());
        } else {
            pruned.delete.extend(run.task_names(job));
        }
    }
    pruned
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::ledger::RunTrigger;
    use jiff::Timestamp;
    use proptest::prelude::*;

    fn finished(slot: i64, outcome: RunOutcome, attempts: u32) -> FinishedRun {
        let at = Timestamp::from_second(slot).unwrap();
        FinishedRun {
            trigger: RunTrigger::Slot { slot: at },
            attempts,
            outcome,
            exit_code: None,
            started_at: at,
            finished_at: at,
            counts_for_dependents: outcome == RunOutcome::Succeeded,
        }
    }

    #[test]
    fn keeps_the_latest_of_each_kind_and_deletes_every_attempt_of_the_rest() {
        use RunOutcome::*;
        let history = vec![
            finished(1, Succeeded, 1),
            finished(2, Failed, 3),
            finished(3, Succeeded, 1),
            finished(4, Lost, 1),
            finished(5, Succeeded, 2),
        ];
        let pruned = prune_history(
            "j",
            &history,
            HistoryLimits {
                successful: 2,
                failed: 1,
            },
        );
        assert_eq!(
            pruned
                .kept
                .iter()
                .map(|r| r.finished_at.as_second())
                .collect::<Vec<_>>(),
            [3, 4, 5]
        );
        assert_eq!(pruned.delete, ["j-1", "j-2", "j-2r1", "j-2r2"]);
    }

    proptest! {
        #[test]
        fn pruning_partitions_the_history(outcomes in prop::collection::vec((any::<bool>(), 1u32..4), 0..40), s in 0u32..5, f in 0u32..5) {
            let history: Vec<FinishedRun> = outcomes.iter().enumerate().map(|(i, (ok, attempts))| {
                finished(i as i64, if *ok { RunOutcome::Succeeded } else { RunOutcome::Failed }, *attempts)
            }).collect();
            let pruned = prune_history("j", &history, HistoryLimits { successful: s, failed: f });
            let ok = pruned.kept.iter().filter(|r| r.outcome == RunOutcome::Succeeded).count();
            prop_assert_eq!(ok, (s as usize).min(outcomes.iter().filter(|o| o.0).count()));
            prop_assert_eq!(pruned.kept.len() - ok, (f as usize).min(outcomes.iter().filter(|o| !o.0).count()));
            let tasks: usize = history.iter().map(|r| r.attempts as usize).sum();
            let kept_tasks: usize = pruned.kept.iter().map(|r| r.attempts as usize).sum();
            prop_assert_eq!(pruned.delete.len() + kept_tasks, tasks);
            prop_assert!(pruned.kept.windows(2).all(|w| w[0].finished_at < w[1].finished_at));
        }
    }
}
