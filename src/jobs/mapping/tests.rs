use super::*;
use crate::api::batchjob::{DURATION_PATTERN, SCHEDULE_PATTERN};
use crate::api::{TaskStatus, batchjob::BatchJobSpec};
use mesos_model::jobs::dag::GraphAnalysis;
use mesos_model::jobs::plan::{PlanInput, plan};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn job(yaml_spec: &str) -> BatchJob {
    let spec: BatchJobSpec = serde_yaml::from_str(yaml_spec).unwrap();
    let mut job = BatchJob::new("nightly", spec);
    job.metadata.namespace = Some("ns".into());
    job.metadata.uid = Some("uid-1".into());
    job.metadata.generation = Some(3);
    job.metadata.creation_timestamp = Some(Time(at("2026-01-01T00:00:00Z")));
    job
}

const BASIC: &str = "resources: {cpus: 0.1, mem: 32}\ncommand: {shell: 'true'}\n";

#[test]
fn defaults_map_to_the_planner_defaults() {
    let job = job(BASIC);
    let (spec, errors) = job_spec(&job, at("2026-01-02T00:00:00Z"));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(spec.name, "nightly");
    assert_eq!(spec.generation, 3);
    assert_eq!(spec.created, at("2026-01-01T00:00:00Z"));
    assert_eq!(spec.concurrency, ConcurrencyPolicy::Forbid);
    assert_eq!(spec.catch_up, CatchUpPolicy::Latest);
    assert_eq!(spec.failure, FailurePolicy::default());
    assert_eq!(spec.history, HistoryLimits::default());
    assert_eq!(spec.schedule, None);
    assert!(spec.validate().is_ok());
}

#[test]
fn every_field_reaches_the_planner() {
    let mut job = job(&format!(
        "{BASIC}schedule: 'R3//PT5S'\ntimeZone: Europe/Berlin\nparents: [a, b]\nconcurrencyPolicy: Replace\n\
         catchUp: {{policy: All, window: 90s, max: 7}}\nstartingDeadlineSeconds: 30\nretries: 4\n\
         backoff: {{initialSeconds: 1, factor: 1.5, maxSeconds: 9}}\nmaxCompletionTime: 1m30s\n\
         softError: true\ndisableAfterFailures: 2\nsuspend: true\n\
         successfulRunsHistoryLimit: 5\nfailedRunsHistoryLimit: 0\n"
    ));
    job.annotations_mut()
        .insert(ANNOTATION_RUN_NOW.into(), "t1".into());
    job.annotations_mut()
        .insert(ANNOTATION_MARK_SUCCEEDED.into(), "".into());
    let (spec, errors) = job_spec(&job, at("2026-01-02T00:00:00Z"));
    assert!(errors.is_empty(), "{errors:?}");
    let schedule = spec.schedule.clone().unwrap();
    assert_eq!(schedule.expression, "R3//PT5S");
    assert_eq!(schedule.time_zone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(spec.parents, ["a", "b"]);
    assert_eq!(spec.concurrency, ConcurrencyPolicy::Replace);
    assert_eq!(
        spec.catch_up,
        CatchUpPolicy::All {
            window: SignedDuration::from_secs(90),
            max: 7
        }
    );
    assert_eq!(spec.starting_deadline, Some(SignedDuration::from_secs(30)));
    assert_eq!(spec.failure.retries, 4);
    assert_eq!(spec.failure.backoff.initial, SignedDuration::from_secs(1));
    assert_eq!(spec.failure.backoff.factor, 1.5);
    assert_eq!(spec.failure.backoff.cap, SignedDuration::from_secs(9));
    assert!(spec.failure.soft_error);
    assert_eq!(spec.failure.disable_after_failures, Some(2));
    assert_eq!(
        spec.max_completion_time,
        Some(SignedDuration::from_secs(90))
    );
    assert!(spec.suspend);
    assert_eq!(spec.history.successful, 5);
    assert_eq!(spec.history.failed, 0);
    assert_eq!(spec.run_now.as_deref(), Some("t1"));
    assert_eq!(spec.mark_success, None, "an empty annotation is no token");
    assert!(spec.validate().is_ok());
}

#[test]
fn catch_up_all_without_window_or_max_takes_the_defaults() {
    let job = job(&format!("{BASIC}catchUp: {{policy: All}}\n"));
    let (spec, _) = job_spec(&job, at("2026-01-02T00:00:00Z"));
    assert_eq!(
        spec.catch_up,
        CatchUpPolicy::All {
            window: DEFAULT_CATCH_UP_WINDOW,
            max: DEFAULT_CATCH_UP_MAX
        }
    );
}

#[test]
fn task_states_map_to_phases() {
    use TaskPhase::*;
    let expected = [
        (TaskState::Staging, Pending),
        (TaskState::Starting, Pending),
        (TaskState::Running, Running),
        (TaskState::Killing, Running),
        (TaskState::Finished, Succeeded),
        (TaskState::Failed, Failed),
        (TaskState::Killed, Killed),
        (TaskState::Error, Failed),
        (TaskState::Lost, Running),
        (TaskState::Dropped, Failed),
        (TaskState::Unreachable, Running),
        (TaskState::Gone, Failed),
        (TaskState::GoneByOperator, Failed),
        (TaskState::Unknown, Running),
    ];
    assert_eq!(expected.len(), TaskState::ALL.len());
    for (state, phase) in expected {
        assert_eq!(task_phase(Some(state)), phase, "{state}");
    }
    assert_eq!(task_phase(None), Pending);
}

fn planned(job: &BatchJob, tasks: &[ObservedTask], now: Timestamp) -> JobPlan {
    let (spec, _) = job_spec(job, now);
    let ledger = ledger_of(job).unwrap();
    let graph = GraphView::default();
    plan(PlanInput {
        spec: &spec,
        ledger: &ledger,
        tasks,
        graph: &graph,
        analysis: &GraphAnalysis::default(),
        now,
    })
}

#[test]
fn a_due_slot_becomes_one_owned_labelled_task_and_the_ledger_round_trips() {
    let mut job = job(&format!(
        "{BASIC}schedule: 'R/2026-01-01T00:00:00Z/PT10S'\n"
    ));
    let now = at("2026-01-01T00:00:10.250Z");
    let first = planned(&job, &[], now);
    assert_eq!(first.create.len(), 1, "{first:?}");
    let create = &first.create[0];
    assert_eq!(create.name, "nightly-1767225610");
    let task = task_for(&job, create, now);
    assert_eq!(task.metadata.name.as_deref(), Some("nightly-1767225610"));
    assert_eq!(
        task.labels().get(LABEL_BATCHJOB).map(String::as_str),
        Some("nightly")
    );
    assert_eq!(task.spec.framework, DEFAULT_FRAMEWORK);
    let owner = &task.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("BatchJob", "uid-1")
    );
    assert_eq!(owner.controller, Some(true));
    assert_eq!(
        task.annotations().get(ANNOTATION_SLOT).map(String::as_str),
        Some("2026-01-01T00:00:10Z")
    );
    assert_eq!(
        task.annotations()
            .get(ANNOTATION_FIRED_AT)
            .map(String::as_str),
        Some("2026-01-01T00:00:10.250Z")
    );

    let schedule = job_spec(&job, now).0.validate().unwrap();
    let status = status_after(&job, &first, schedule.as_ref(), now);
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert_eq!(status.active, ["nightly-1767225610"]);
    assert_eq!(
        status.last_schedule_time,
        Some(Time(at("2026-01-01T00:00:10Z")))
    );
    assert_eq!(
        status.next_schedule_time,
        Some(Time(at("2026-01-01T00:00:20Z")))
    );
    assert_eq!(status.observed_generation, Some(3));
    let types: Vec<&str> = status.conditions.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(
        types,
        ["Scheduled", "Running", "Blocked", "Suspended", "Disabled"]
    );
    // Through JSON (as stored) and back: the same ledger, and the plan is idempotent.
    let stored: BatchJobStatus =
        serde_json::from_value(serde_json::to_value(&status).unwrap()).unwrap();
    job.status = Some(stored);
    assert_eq!(ledger_of(&job).unwrap(), first.ledger);
    let seen = ObservedTask {
        name: "nightly-1767225610".into(),
        phase: TaskPhase::Running,
        exit_code: None,
        finished_at: None,
    };
    let again = planned(&job, &[seen], at("2026-01-01T00:00:11Z"));
    assert!(again.create.is_empty(), "{again:?}");
    assert_eq!(again.ledger, first.ledger);
}

#[test]
fn a_finished_run_becomes_the_good_run_dependents_see() {
    let mut job = job(&format!(
        "{BASIC}schedule: 'R1/2026-01-01T00:00:00Z/PT10S'\n"
    ));
    let first = planned(&job, &[], at("2026-01-01T00:00:00.5Z"));
    job.status = Some(status_after(
        &job,
        &first,
        None,
        at("2026-01-01T00:00:00.5Z"),
    ));
    let done = ObservedTask {
        name: first.create[0].name.clone(),
        phase: TaskPhase::Succeeded,
        exit_code: Some(0),
        finished_at: Some(at("2026-01-01T00:00:05Z")),
    };
    let second = planned(&job, &[done], at("2026-01-01T00:00:06Z"));
    let status = status_after(&job, &second, None, at("2026-01-01T00:00:06Z"));
    assert_eq!(status.success_count, 1);
    assert_eq!(
        status.phase.as_deref(),
        Some("Finished"),
        "R1 has no slot left"
    );
    job.status = Some(status);
    let good = last_good(&job).unwrap();
    assert_eq!(good.name, first.create[0].name);
    let view = graph_view([&job]);
    assert_eq!(view.jobs["nightly"].last_good, Some(good));
}

#[test]
fn unreadable_specs_block_the_job_naming_the_field() {
    let mut job = job(BASIC);
    job.spec.max_completion_time = Some("soon".into());
    let (_, errors) = job_spec(&job, at("2026-01-02T00:00:00Z"));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "spec.maxCompletionTime");
    let status = invalid_status(&job, &errors, at("2026-01-02T00:00:00Z"));
    let blocked = status
        .conditions
        .get_condition(crate::api::batchjob::JobCondition::Blocked)
        .unwrap();
    assert_eq!(
        (blocked.status.as_str(), blocked.reason.as_str()),
        ("True", "InvalidSpec")
    );
    assert!(
        blocked.message.starts_with("spec.maxCompletionTime"),
        "{}",
        blocked.message
    );
    assert_eq!(status.phase.as_deref(), Some("Blocked"));
}

fn matches(pattern: &str, text: &str) -> bool {
    regex::Regex::new(pattern).unwrap().is_match(text)
}

/// The schema's pattern lets through every schedule the planner accepts (so no valid job
/// is refused) and refuses obvious garbage at apply time.
#[test]
fn the_schedule_pattern_admits_what_the_parser_accepts() {
    let created = at("2026-01-01T00:00:00Z");
    let valid = [
        "R/2014-03-08T20:00:00Z/PT2H",
        "R5/2024-03-09T02:30:00/P1D",
        "R//PT5S",
        "R3/2024-01-31T00:00:00+01:00/P1M",
        "R/2024-01-01/P1Y2M3W4DT5H6M7.5S",
        "R/2024-01-01T00:00:00Z/PT0.5S",
        "*/5 * * * *",
        "0 2 * * MON-FRI",
        "*/2 * * * * *",
        "0 16,19 * * 1-5",
        "0 0 1 JAN ?",
        "@daily",
        "@hourly",
    ];
    for text in valid {
        assert!(
            Schedule::parse(text, None, created).is_ok(),
            "parser refuses {text}"
        );
        assert!(matches(SCHEDULE_PATTERN, text), "pattern refuses {text}");
    }
    for text in [
        "R/bogus",
        "every 5 minutes",
        "* * * *",
        "@reboot",
        "R/2024-01-01T00:00:00Z/1H",
        "",
    ] {
        assert!(!matches(SCHEDULE_PATTERN, text), "pattern admits {text:?}");
        assert!(
            Schedule::parse(text, None, created).is_err(),
            "parser admits {text:?}"
        );
    }
}

#[test]
fn the_duration_pattern_admits_only_what_parses() {
    for text in ["90s", "1h30m", "500ms", "1.5h", "10us"] {
        assert!(matches(DURATION_PATTERN, text), "{text}");
        assert!(text.parse::<kube::core::Duration>().is_ok(), "{text}");
    }
    for text in ["soon", "1d", "-5s", "5", ""] {
        assert!(!matches(DURATION_PATTERN, text), "{text}");
    }
}

#[test]
fn the_time_zone_enum_is_the_bundled_database() {
    let crd = serde_json::to_value(<BatchJob as kube::CustomResourceExt>::crd()).unwrap();
    let zones = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["timeZone"]["enum"];
    let zones: Vec<&str> = zones
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|z| z.as_str())
        .collect();
    for zone in ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"] {
        assert!(zones.contains(&zone), "{zone} missing");
        assert!(mesos_model::jobs::schedule::time_zone(Some(zone)).is_ok());
    }
    assert!(!zones.contains(&"Nowhere/Land"));
    assert!(zones.len() > 300, "{} zones", zones.len());
}

#[test]
fn runs_are_found_by_label_and_namespace() {
    let job = job(BASIC);
    let create = TaskToCreate {
        name: "nightly-1".into(),
        trigger: RunTrigger::Manual { token: "t".into() },
        attempt: 0,
    };
    let mut task = task_for(&job, &create, at("2026-01-01T00:00:00Z"));
    assert!(is_run_of(&task, "ns", "nightly"));
    assert!(!is_run_of(&task, "other", "nightly"));
    assert!(!is_run_of(&task, "ns", "nightly2"));
    task.status = Some(TaskStatus {
        state: Some(TaskState::Failed),
        exit_code: Some(3),
        finish_time: Some(Time(at("2026-01-01T00:01:00Z"))),
        ..TaskStatus::default()
    });
    let observed = observed_tasks([&task]);
    assert_eq!(observed[0].phase, TaskPhase::Failed);
    assert_eq!(observed[0].exit_code, Some(3));
    assert_eq!(observed[0].finished_at, Some(at("2026-01-01T00:01:00Z")));
}
