//! Runs: observing them, starting them, retrying, killing, and their accounting.

use jiff::Timestamp;

use super::{
    JobEventKind, ObservedTask, Planner, TASK_APPEAR_GRACE, TaskPhase, TaskToCreate, TaskToKill,
};
use crate::jobs::concurrency::{ConcurrencyDecision, decide_concurrency};
use crate::jobs::ledger::{
    ActiveRun, Disabled, FinishedRun, KillReason, RunOutcome, RunPhase, RunRef, RunTrigger,
};
use crate::jobs::names::marked_success_name;
use crate::jobs::retry::FailureDecision;

impl Planner<'_> {
    /// Step 1: fold what the Tasks say into the runs in flight.
    pub(super) fn observe_runs(&mut self) {
        for run in std::mem::take(&mut self.ledger.active) {
            if let Some(run) = self.observe(run) {
                self.ledger.active.push(run);
            }
        }
    }

    fn observe(&mut self, run: ActiveRun) -> Option<ActiveRun> {
        if matches!(run.phase, RunPhase::BackingOff { .. }) {
            return Some(run);
        }
        // A Task asked to be killed that is gone (or never came) ended as killed.
        let task = match (self.tasks.get(run.task.as_str()), run.kill) {
            (Some(task), _) => (*task).clone(),
            (None, Some(_)) => ObservedTask {
                name: run.task.clone(),
                phase: TaskPhase::Killed,
                exit_code: None,
                finished_at: Some(self.now),
            },
            (None, None) => return self.missing(run),
        };
        let task = &task;
        match task.phase {
            TaskPhase::Pending | TaskPhase::Running => Some(self.check_timeout(run)),
            TaskPhase::Succeeded => {
                self.finish_run(run, RunOutcome::Succeeded, task);
                None
            }
            TaskPhase::Failed | TaskPhase::Killed => match run.kill {
                Some(KillReason::Replaced) => {
                    self.finish_run(run, RunOutcome::Replaced, task);
                    None
                }
                Some(KillReason::TimedOut) => self.attempt_failed(run, RunOutcome::TimedOut, task),
                None => self.attempt_failed(run, RunOutcome::Failed, task),
            },
        }
    }

    /// A Task asked for but not observed: ask again within the grace, then it is lost.
    fn missing(&mut self, run: ActiveRun) -> Option<ActiveRun> {
        let deadline = run
            .attempt_started_at
            .checked_add(TASK_APPEAR_GRACE)
            .unwrap_or(Timestamp::MAX);
        if self.now < deadline {
            self.out.create.push(TaskToCreate {
                name: run.task.clone(),
                trigger: run.trigger.clone(),
                attempt: run.attempt,
            });
            return Some(run);
        }
        let lost = ObservedTask {
            name: run.task.clone(),
            phase: TaskPhase::Failed,
            exit_code: None,
            finished_at: Some(self.now),
        };
        self.attempt_failed(run, RunOutcome::Lost, &lost)
    }

    /// Kills an attempt past `maxCompletionTime`; repeats a kill already asked for.
    fn check_timeout(&mut self, mut run: ActiveRun) -> ActiveRun {
        let timed_out = self.spec.max_completion_time.is_some_and(|max| {
            run.attempt_started_at
                .checked_add(max)
                .is_ok_and(|deadline| self.now >= deadline)
        });
        if run.kill.is_none() && timed_out {
            run.kill = Some(KillReason::TimedOut);
            let message = format!("{} ran longer than maxCompletionTime; killing it", run.task);
            self.event(JobEventKind::RunTimedOut, true, message);
        }
        if let Some(reason) = run.kill {
            self.out.kill.push(TaskToKill {
                name: run.task.clone(),
                reason,
            });
        }
        run
    }

    /// An attempt failed: retry after a backoff, or end the run (and maybe disable the job).
    fn attempt_failed(
        &mut self,
        mut run: ActiveRun,
        outcome: RunOutcome,
        task: &ObservedTask,
    ) -> Option<ActiveRun> {
        let failed_at = task.finished_at.unwrap_or(self.now);
        let in_a_row = self.ledger.counters.errors_since_last_success;
        match self
            .spec
            .failure
            .after_failure(run.attempt, failed_at, in_a_row)
        {
            FailureDecision::RetryAt { attempt, at } => {
                let message = format!(
                    "{} failed ({outcome:?}); attempt {attempt} at {at}",
                    run.task
                );
                self.event(JobEventKind::RetryScheduled, true, message);
                run.attempt = attempt;
                run.task = run.trigger.task_name(&self.spec.name, attempt);
                run.phase = RunPhase::BackingOff { until: at };
                run.kill = None;
                Some(run)
            }
            FailureDecision::GiveUp => {
                self.finish_run(run, outcome, task);
                None
            }
            FailureDecision::Disable => {
                self.finish_run(run, outcome, task);
                self.disable(failed_at);
                None
            }
        }
    }

    /// Records a finished run: history, counters, what dependents see, an event.
    fn finish_run(&mut self, run: ActiveRun, outcome: RunOutcome, task: &ObservedTask) {
        let finished_at = task.finished_at.unwrap_or(self.now);
        let good_for_dependents = match outcome {
            RunOutcome::Succeeded => true,
            RunOutcome::Replaced => false,
            _ => self.spec.failure.soft_error,
        };
        match outcome {
            RunOutcome::Succeeded => self.ledger.counters.record_success(finished_at),
            RunOutcome::Replaced => {}
            _ => self.ledger.counters.record_error(finished_at),
        }
        if good_for_dependents {
            self.ledger.last_good = Some(RunRef {
                name: run.task.clone(),
                finished_at,
            });
        }
        let (kind, warning) = match outcome {
            RunOutcome::Succeeded => (JobEventKind::RunSucceeded, false),
            RunOutcome::Replaced => (JobEventKind::RunReplaced, false),
            _ => (JobEventKind::RunFailed, true),
        };
        self.event(kind, warning, format!("{} ended: {outcome:?}", run.task));
        self.ledger.history.push(FinishedRun {
            trigger: run.trigger,
            attempts: run.attempt + 1,
            outcome,
            exit_code: task.exit_code,
            started_at: run.started_at,
            finished_at,
            counts_for_dependents: good_for_dependents,
        });
    }

    fn disable(&mut self, at: Timestamp) {
        let failures = self.ledger.counters.errors_since_last_success;
        self.ledger.disabled = Some(Disabled {
            at,
            generation: self.spec.generation,
            failures,
        });
        let message = format!(
            "disabled after {failures} failed run(s) in a row; edit the job to re-enable it"
        );
        self.event(JobEventKind::JobDisabled, true, message);
    }

    /// Step 2: a spec newer than the one the job was disabled at re-enables it.
    pub(super) fn reenable(&mut self) {
        if self
            .ledger
            .disabled
            .as_ref()
            .is_some_and(|d| self.spec.generation > d.generation)
        {
            self.ledger.disabled = None;
            self.ledger.counters.errors_since_last_success = 0;
            self.event(
                JobEventKind::JobEnabled,
                false,
                "re-enabled by a spec change".to_string(),
            );
        }
    }

    /// Step 3: "mark succeeded" and "run now", once per token.
    pub(super) fn manual_triggers(&mut self) {
        if let Some(token) = new_token(&self.spec.mark_success, &self.ledger.mark_success_token) {
            self.ledger.mark_success_token = Some(token.clone());
            let name = marked_success_name(&self.spec.name, token);
            self.ledger.counters.record_success(self.now);
            self.ledger.last_good = Some(RunRef {
                name: name.clone(),
                finished_at: self.now,
            });
            self.event(
                JobEventKind::MarkedSucceeded,
                false,
                format!("marked succeeded as {name}"),
            );
        }
        if let Some(token) = new_token(&self.spec.run_now, &self.ledger.run_now_token) {
            self.ledger.run_now_token = Some(token.clone());
            self.start(RunTrigger::Manual {
                token: token.clone(),
            });
        }
    }

    /// Step 4: start retries whose backoff has passed.
    pub(super) fn start_due_retries(&mut self) {
        let now = self.now;
        let mut started = Vec::new();
        for run in &mut self.ledger.active {
            if let RunPhase::BackingOff { until } = run.phase
                && until <= now
            {
                run.phase = RunPhase::Active;
                run.attempt_started_at = now;
                started.push(TaskToCreate {
                    name: run.task.clone(),
                    trigger: run.trigger.clone(),
                    attempt: run.attempt,
                });
            }
        }
        for task in started {
            self.event(
                JobEventKind::RetryStarted,
                false,
                format!("attempt {} as {}", task.attempt, task.name),
            );
            self.out.create.push(task);
        }
    }

    /// Applies the concurrency policy to a due run; `false` when `Forbid` refuses it.
    pub(super) fn admit(&mut self, trigger: RunTrigger) -> bool {
        match decide_concurrency(self.spec.concurrency, &self.in_flight()) {
            ConcurrencyDecision::Start => {}
            ConcurrencyDecision::Skip { .. } => return false,
            ConcurrencyDecision::KillThenStart { kill } => {
                kill.iter().for_each(|task| self.replace(task))
            }
        }
        self.start(trigger);
        true
    }

    /// The current Task names of the runs in flight that are not being killed.
    pub(super) fn in_flight(&self) -> Vec<String> {
        self.ledger
            .active
            .iter()
            .filter(|run| run.kill.is_none())
            .map(|run| run.task.clone())
            .collect()
    }

    /// Kills the run whose current attempt is `task` for a newer run. A run whose Task is
    /// not observed (waiting to retry, or not yet seen) ends at once: its Task, if it
    /// exists, is killed, and it is not asked for again.
    fn replace(&mut self, task: &str) {
        let Some(index) = self.ledger.active.iter().position(|run| run.task == task) else {
            return;
        };
        let observed = self.tasks.contains_key(task);
        let waiting = self
            .ledger
            .active
            .get(index)
            .is_some_and(|run| matches!(run.phase, RunPhase::BackingOff { .. }));
        if !waiting {
            self.out.kill.push(TaskToKill {
                name: task.to_string(),
                reason: KillReason::Replaced,
            });
        }
        if observed && !waiting {
            if let Some(run) = self.ledger.active.get_mut(index) {
                run.kill = Some(KillReason::Replaced);
            }
            return;
        }
        self.out.create.retain(|create| create.name != task);
        let run = self.ledger.active.remove(index);
        let killed = ObservedTask {
            name: run.task.clone(),
            phase: TaskPhase::Killed,
            exit_code: None,
            finished_at: None,
        };
        self.finish_run(run, RunOutcome::Replaced, &killed);
    }

    /// Asks for a run's first attempt, unless a run of that name is already known.
    pub(super) fn start(&mut self, trigger: RunTrigger) {
        let name = trigger.task_name(&self.spec.name, 0);
        let job = &self.spec.name;
        let known = self
            .ledger
            .active
            .iter()
            .map(|run| &run.trigger)
            .chain(self.ledger.history.iter().map(|run| &run.trigger));
        if known.into_iter().any(|t| t.task_name(job, 0) == name) {
            return;
        }
        self.out.create.push(TaskToCreate {
            name: name.clone(),
            trigger: trigger.clone(),
            attempt: 0,
        });
        self.ledger.active.push(ActiveRun {
            trigger,
            attempt: 0,
            task: name.clone(),
            started_at: self.now,
            attempt_started_at: self.now,
            phase: RunPhase::Active,
            kill: None,
        });
        self.ledger.last_run_started = Some(self.now);
        self.event(JobEventKind::RunStarted, false, format!("started {name}"));
    }
}

/// The requested token, when it is not the one already acted on.
fn new_token<'t>(requested: &'t Option<String>, handled: &Option<String>) -> Option<&'t String> {
    requested
        .as_ref()
        .filter(|token| handled.as_ref() != Some(*token))
}
