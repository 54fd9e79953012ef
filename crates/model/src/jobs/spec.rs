//! A job's spec as the planner reads it, and its validation.
//!
//! The controller maps its custom resource onto [`JobSpec`]; [`JobSpec::validate`] refuses
//! what the planner cannot run, naming the field (`spec.schedule`, `spec.retries.backoff`
//! ...), so an admission check (or the job's conditions) can say exactly what is wrong.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::catch_up::CatchUpPolicy;
use super::concurrency::ConcurrencyPolicy;
use super::history::HistoryLimits;
use super::retry::FailurePolicy;
use super::schedule::Schedule;

/// The most slots one `All` catch-up may run at once.
pub const MAX_CATCH_UP_RUNS: u32 = 1000;

/// A schedule and its time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    /// An ISO 8601 repeating interval (`R[n]/<start>/<period>`) or a cron expression.
    pub expression: String,
    /// An IANA time zone (UTC when absent).
    pub time_zone: Option<String>,
}

/// What the planner needs from a job's object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The job's name (its Tasks' names derive from it).
    pub name: String,
    /// `metadata.generation`: a newer one re-enables a job disabled after failures.
    pub generation: i64,
    /// `metadata.creationTimestamp`: the start of an interval without one, and the earliest
    /// instant a slot can be due.
    pub created: Timestamp,
    /// When it runs by the clock.
    pub schedule: Option<ScheduleSpec>,
    /// The jobs that must succeed before it runs.
    pub parents: Vec<String>,
    /// What a due run does while others are in flight.
    pub concurrency: ConcurrencyPolicy,
    /// What happens to slots missed while nobody looked.
    pub catch_up: CatchUpPolicy,
    /// A slot older than this when noticed is skipped.
    pub starting_deadline: Option<SignedDuration>,
    /// Retries, backoff, `disableAfterFailures`, `softError`.
    pub failure: FailurePolicy,
    /// An attempt running longer is killed (and counts as failed).
    pub max_completion_time: Option<SignedDuration>,
    /// No new runs while set (runs in flight go on).
    pub suspend: bool,
    /// How many finished runs keep their Tasks.
    pub history: HistoryLimits,
    /// "Run now": a new token starts one manual run.
    pub run_now: Option<String>,
    /// "Mark succeeded": a new token records a success and triggers dependents.
    pub mark_success: Option<String>,
}

impl JobSpec {
    /// A job named `name`, created at `created`, with every setting at its default.
    pub fn new(name: &str, created: Timestamp) -> JobSpec {
        JobSpec {
            name: name.to_string(),
            generation: 1,
            created,
            schedule: None,
            parents: Vec::new(),
            concurrency: ConcurrencyPolicy::default(),
            catch_up: CatchUpPolicy::default(),
            starting_deadline: None,
            failure: FailurePolicy::default(),
            max_completion_time: None,
            suspend: false,
            history: HistoryLimits::default(),
            run_now: None,
            mark_success: None,
        }
    }
}

/// One thing wrong with a spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    /// The field at fault, as a path (`spec.schedule`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn error(field: &str, message: impl Into<String>) -> SpecError {
    SpecError {
        field: field.to_string(),
        message: message.into(),
    }
}

impl JobSpec {
    /// Validates the spec; on success returns its parsed schedule (if it has one).
    pub fn validate(&self) -> Result<Option<Schedule>, Vec<SpecError>> {
        let mut errors = Vec::new();
        let schedule = match &self.schedule {
            None => None,
            Some(spec) => {
                match Schedule::parse(&spec.expression, spec.time_zone.as_deref(), self.created) {
                    Ok(schedule) => Some(schedule),
                    Err(e @ super::schedule::ScheduleError::UnknownTimeZone { .. }) => {
                        errors.push(error("spec.timeZone", e.to_string()));
                        None
                    }
                    Err(e) => {
                        errors.push(error("spec.schedule", e.to_string()));
                        None
                    }
                }
            }
        };
        self.validate_parents(&mut errors);
        self.validate_durations(&mut errors);
        if errors.is_empty() {
            Ok(schedule)
        } else {
            Err(errors)
        }
    }

    fn validate_parents(&self, errors: &mut Vec<SpecError>) {
        let mut seen = std::collections::BTreeSet::new();
        for parent in &self.parents {
            if parent.is_empty() || parent.len() > 253 {
                errors.push(error(
                    "spec.parents",
                    format!("{parent:?} is not a job name"),
                ));
            } else if !seen.insert(parent.as_str()) {
                errors.push(error("spec.parents", format!("{parent:?} is listed twice")));
            }
        }
        if self.name.is_empty() {
            errors.push(error("metadata.name", "a job needs a name"));
        }
    }

    fn validate_durations(&self, errors: &mut Vec<SpecError>) {
        let negative = |d: Option<SignedDuration>| d.is_some_and(|d| d.is_negative());
        if negative(self.starting_deadline) {
            errors.push(error(
                "spec.startingDeadlineSeconds",
                "must not be negative",
            ));
        }
        if self
            .max_completion_time
            .is_some_and(|d| d <= SignedDuration::ZERO)
        {
            errors.push(error("spec.maxCompletionTime", "must be positive"));
        }
        let backoff = &self.failure.backoff;
        if backoff.initial.is_negative() || backoff.cap < backoff.initial {
            errors.push(error("spec.retries.backoff", "needs 0 <= initial <= cap"));
        }
        if !backoff.factor.is_finite() || backoff.factor < 1.0 {
            errors.push(error(
                "spec.retries.backoff.factor",
                "must be a number of at least 1",
            ));
        }
        if self.failure.disable_after_failures == Some(0) {
            errors.push(error(
                "spec.disableAfterFailures",
                "must be at least 1 (leave it out to never disable)",
            ));
        }
        if let CatchUpPolicy::All { window, max } = self.catch_up {
            if window.is_negative() {
                errors.push(error("spec.catchUp.window", "must not be negative"));
            }
            if max == 0 || max > MAX_CATCH_UP_RUNS {
                errors.push(error(
                    "spec.catchUp.max",
                    format!("must be between 1 and {MAX_CATCH_UP_RUNS}"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> JobSpec {
        JobSpec::new("nightly", "2024-01-01T00:00:00Z".parse().unwrap())
    }

    fn fields(spec: &JobSpec) -> Vec<String> {
        spec.validate()
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn a_plain_job_is_valid() {
        let mut s = spec();
        assert!(matches!(s.validate(), Ok(None)));
        s.schedule = Some(ScheduleSpec {
            expression: "0 2 * * *".into(),
            time_zone: Some("Europe/Berlin".into()),
        });
        s.parents = vec!["extract".into()];
        assert!(matches!(s.validate(), Ok(Some(_))));
    }

    #[test]
    fn errors_name_their_field() {
        let mut s = spec();
        s.schedule = Some(ScheduleSpec {
            expression: "R/2024-01-01T00:00:00Z/PT0S".into(),
            time_zone: None,
        });
        s.parents = vec!["a".into(), "a".into()];
        s.starting_deadline = Some(SignedDuration::from_secs(-1));
        s.failure.backoff.factor = 0.5;
        s.failure.disable_after_failures = Some(0);
        s.catch_up = CatchUpPolicy::All {
            window: SignedDuration::from_secs(60),
            max: 0,
        };
        assert_eq!(
            fields(&s),
            [
                "spec.schedule",
                "spec.parents",
                "spec.startingDeadlineSeconds",
                "spec.retries.backoff.factor",
                "spec.disableAfterFailures",
                "spec.catchUp.max"
            ]
        );
        s = spec();
        s.schedule = Some(ScheduleSpec {
            expression: "@daily".into(),
            time_zone: Some("Nowhere/Land".into()),
        });
        assert_eq!(fields(&s), ["spec.timeZone"]);
        let message = s.validate().unwrap_err()[0].to_string();
        assert!(
            message.starts_with("spec.timeZone: unknown time zone \"Nowhere/Land\""),
            "{message}"
        );
    }
}
