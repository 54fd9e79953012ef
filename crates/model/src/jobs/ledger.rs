//! The ledger: everything a job's status records, and all the planner needs to resume.
//!
//! The controller stores a [`Ledger`] in the job's status, reads it back on every reconcile
//! and hands it to [`plan`](super::plan::plan) with the job's Tasks as observed; the plan
//! returns the next ledger. No decision depends on memory the ledger does not hold, so an
//! operator killed at any instant resumes where the last written ledger left off.
//!
//! **Contract with the controller:** write the new ledger *before* creating the Tasks a plan
//! asks for. A run is then always in the ledger before its Task exists; if the operator dies
//! between the two writes, the next plan sees the run's Task missing and asks for it again
//! (same name, so at most one is ever created). A Task still missing
//! [`TASK_APPEAR_GRACE`](super::plan::TASK_APPEAR_GRACE) after it was asked for counts as
//! lost.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::catch_up::SkippedSlots;
use super::dag::EdgeState;
use super::names;
use super::retry::Counters;

/// A finished run as dependents see it: which run, and when it finished.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RunRef {
    /// The run's Task name (of its last attempt), or the name of a manual "mark succeeded".
    pub name: String,
    /// When it finished.
    pub finished_at: Timestamp,
}

/// Why a run exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunTrigger {
    /// A schedule slot.
    Slot {
        /// The slot it serves.
        slot: Timestamp,
    },
    /// Every parent succeeded since the job's last trigger (a job with parents, no schedule).
    Parents {
        /// The parent run that satisfied each edge.
        runs: BTreeMap<String, RunRef>,
    },
    /// A slot came due and every parent has succeeded since (schedule and parents).
    SlotAndParents {
        /// The slot it serves.
        slot: Timestamp,
        /// The parent run that satisfied each edge.
        runs: BTreeMap<String, RunRef>,
    },
    /// "Run now", requested with a token.
    Manual {
        /// The user's token.
        token: String,
    },
}

impl RunTrigger {
    /// The Task name of attempt `attempt` of the run of `job` with this trigger.
    pub fn task_name(&self, job: &str, attempt: u32) -> String {
        match self {
            RunTrigger::Slot { slot } | RunTrigger::SlotAndParents { slot, .. } => {
                names::slot_run_name(job, *slot, attempt)
            }
            RunTrigger::Parents { runs } => names::dependency_run_name(
                job,
                runs.iter()
                    .map(|(parent, run)| (parent.as_str(), run.name.as_str())),
                attempt,
            ),
            RunTrigger::Manual { token } => names::manual_run_name(job, token, attempt),
        }
    }

    /// The slot the run serves, if it serves one.
    pub fn slot(&self) -> Option<Timestamp> {
        match self {
            RunTrigger::Slot { slot } | RunTrigger::SlotAndParents { slot, .. } => Some(*slot),
            _ => None,
        }
    }
}

/// Where a run in flight stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunPhase {
    /// Its current attempt's Task was asked for (and may be running).
    Active,
    /// Its last attempt failed; the next starts at `until`.
    BackingOff {
        /// When the next attempt starts.
        until: Timestamp,
    },
}

/// Why the planner killed a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KillReason {
    /// `concurrencyPolicy: Replace`: a newer run replaces it.
    Replaced,
    /// It ran longer than `maxCompletionTime`.
    TimedOut,
}

/// A run in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveRun {
    /// Why it runs.
    pub trigger: RunTrigger,
    /// Its current attempt (0 = the first).
    pub attempt: u32,
    /// The current attempt's Task name.
    pub task: String,
    /// When its first attempt was asked for.
    pub started_at: Timestamp,
    /// When its current attempt was asked for.
    pub attempt_started_at: Timestamp,
    /// Running or waiting to retry.
    pub phase: RunPhase,
    /// Set once the planner asked for its Task to be killed.
    pub kill: Option<KillReason>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunOutcome {
    /// Its last attempt succeeded.
    Succeeded,
    /// Every attempt failed.
    Failed,
    /// Its last attempt ran past `maxCompletionTime` and was killed.
    TimedOut,
    /// Its last attempt's Task never appeared or vanished.
    Lost,
    /// Killed by `concurrencyPolicy: Replace`.
    Replaced,
}

/// A finished run, as the bounded history keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinishedRun {
    /// Why it ran.
    pub trigger: RunTrigger,
    /// How many attempts it made (Tasks `trigger.task_name(job, 0..attempts)`).
    pub attempts: u32,
    /// How it ended.
    pub outcome: RunOutcome,
    /// The last attempt's exit code, when known.
    pub exit_code: Option<i32>,
    /// When its first attempt was asked for.
    pub started_at: Timestamp,
    /// When it ended.
    pub finished_at: Timestamp,
    /// Whether dependents count it as a success (a success, or a failure under `softError`).
    pub counts_for_dependents: bool,
}

impl FinishedRun {
    /// The Task names of all its attempts.
    pub fn task_names(&self, job: &str) -> Vec<String> {
        (0..self.attempts.max(1))
            .map(|attempt| self.trigger.task_name(job, attempt))
            .collect()
    }
}

/// A job disabled after too many failures, until its spec changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disabled {
    /// When it was disabled.
    pub at: Timestamp,
    /// The spec generation it was disabled at; a newer one re-enables the job.
    pub generation: i64,
    /// Failed runs in a row at that point.
    pub failures: u64,
}

/// How many skip spans the ledger keeps for display.
pub const RECENT_SKIPS: usize = 20;

/// A job's durable state, kept in its status.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Ledger {
    /// The latest slot accounted for (run, skipped or made pending).
    pub last_slot: Option<Timestamp>,
    /// Schedule and parents: the due slot waiting for its parents.
    pub pending_slot: Option<Timestamp>,
    /// Per parent, what the job's last parent trigger consumed.
    pub edges: BTreeMap<String, EdgeState>,
    /// Runs in flight (running or waiting to retry).
    pub active: Vec<ActiveRun>,
    /// Finished runs, oldest first, within the history limits.
    pub history: Vec<FinishedRun>,
    /// Success and error statistics.
    pub counters: Counters,
    /// The latest run dependents count as a success: what child jobs' edges look at.
    pub last_good: Option<RunRef>,
    /// When the job's latest run (of any trigger) was started.
    pub last_run_started: Option<Timestamp>,
    /// Set while the job is disabled after failures.
    pub disabled: Option<Disabled>,
    /// The last "run now" token acted on.
    pub run_now_token: Option<String>,
    /// The last "mark succeeded" token acted on.
    pub mark_success_token: Option<String>,
    /// The latest skipped spans, oldest first, at most [`RECENT_SKIPS`].
    pub recent_skips: Vec<SkippedSlots>,
    /// How many slots were skipped in all (a lower bound when a span's count was capped).
    pub skipped_slots: u64,
}
