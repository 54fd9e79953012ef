//! Chronos- and Aurora-style jobs: the pure decision core (issue 14).
//!
//! Nothing here does I/O or reads a clock: the current time is always an argument. The job
//! controller (in the `mesos-operator` crate) maps its custom resource onto
//! [`spec::JobSpec`], keeps a [`ledger::Ledger`] in the job's status, and once per reconcile
//! calls [`plan::plan`] with the spec, the ledger, the job's Tasks as observed, the
//! namespace's [`dag::GraphView`] (with its [`dag::GraphAnalysis`]) and `now`. The
//! [`plan::JobPlan`] it gets back says which Tasks to create, kill and delete, which slots
//! were skipped and why, the ledger to write back, the conditions and events to record and
//! when to reconcile again. Write the ledger before creating Tasks (see [`ledger`]).
//!
//! | module | what it decides |
//! |---|---|
//! | [`schedule`] | ISO 8601 `R[n]/<start>/<period>` and cron, in an IANA zone: the slots |
//! | [`catch_up`] | after downtime: which due slots run, which are skipped and why |
//! | [`names`] | a run's Task name from the job and the slot (or parents, or token) it serves |
//! | [`concurrency`] | `Allow`, `Forbid`, `Replace` |
//! | [`retry`] | retries with backoff, failure counters, disabling |
//! | [`dag`] | graph validation and the parent trigger rule |
//! | [`history`] | which finished runs keep their Tasks |
//! | [`spec`], [`ledger`], [`plan`] | the inputs, the durable state, the one call per reconcile |
//!
//! # Where this departs from Chronos and Aurora
//!
//! - **Schedule and parents together** are allowed (Chronos: one or the other): a due slot
//!   waits, *pending*, until every parent has succeeded; a newer slot supersedes it
//!   (recorded as `Superseded`). A job with neither runs only by hand.
//! - **Cron** is accepted beside ISO 8601 (Chronos had none, Yelp's fork added it), with a
//!   per-job time zone (Aurora's was cluster-wide), an optional seconds field, and refused
//!   if it can never fire.
//! - **`R[n]` counts slots, run or skipped**, not launches: Chronos decremented n at each
//!   launch and rewrote the schedule's start; here the schedule is never rewritten, slot k
//!   is `start + k × period` (no drift across short months), and `R3` ends at its third
//!   slot. `R0` is refused.
//! - **A start with an offset is that instant**; Chronos let `scheduleTimeZone` re-read its
//!   fields as local time. Write the start without an offset for a local wall clock.
//! - **Daylight saving**: one documented rule for both kinds (a wall clock in a gap fires at
//!   the gap's end, in a repeat once, on its first occurrence), where Chronos inherited
//!   Joda-Time's and CronJob skips gap times.
//! - **Missed slots are never silent**: an explicit catch-up policy (`None`, `Latest` — the
//!   Chronos/CronJob collapse, the default, but recorded — or `All` within a window and a
//!   maximum) plus a starting deadline (Chronos 3.0 removed `epsilon`). Every due slot is
//!   run or skipped with a reason, once; suspended, disabled or blocked jobs skip their
//!   slots (recorded) instead of bursting on resume.
//! - **Runs are named by what they serve**, so a slot runs at most once across failovers
//!   (Chronos #411, #818; Aurora's "fired twice when clocks skew").
//! - **Dependency edges are persisted** and compare run identities, not clocks or in-memory
//!   counters (Chronos lost them on failover). Missing parents, cycles (with their path),
//!   self-dependencies and blocked ancestors are conditions on the job (Chronos #815 dropped
//!   them). Under `Forbid` a parent trigger waits for the run in flight instead of being
//!   dropped.
//! - **Concurrency** defaults to `Forbid` (Chronos' `concurrent: false`; Aurora defaults to
//!   `KILL_EXISTING` = `Replace`, Kubernetes to `Allow`). Several slots due at once under
//!   `Replace` start only the latest (the others are `Replaced`); under `Forbid` only the
//!   first, when nothing else is in flight.
//! - **Retries** back off exponentially (Chronos waited a fixed `--failure_retry`; its
//!   "no retry after a failure" rule is not kept); `maxCompletionTime` kills an attempt,
//!   which counts as failed and is retried. Statistics count runs, not attempts.
//! - **`disableAfterFailures`** is per job (Chronos: a scheduler flag) and lifts when the
//!   job's spec changes (its generation moves on).
//! - **`softError`**: dependents trigger on a failed run, but the job's statistics still
//!   record the error and it counts towards `disableAfterFailures`.
//! - **Manual triggers** ("run now", "mark succeeded") act once per token and ignore
//!   `suspend`, `disabled` and the concurrency policy.
//! - **History**: the last N successful and M other runs keep their Tasks (Kubernetes'
//!   history limits); Chronos kept no per-run history.

pub mod catch_up;
pub mod concurrency;
pub mod dag;
pub mod history;
pub mod ledger;
pub mod names;
pub mod plan;
pub mod retry;
pub mod schedule;
pub mod spec;

#[cfg(test)]
mod test_support;
