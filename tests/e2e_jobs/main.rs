//! End-to-end tests of BatchJobs (issue 14) against the real local cluster, with periods of
//! seconds. Each test has its own namespace and operator, so they run in parallel; runs
//! are kwok pods that finish after `kwok.mesos.operator.dev/run-for`.
//!
//! The tests assert on what the API server holds (Tasks, the job's status and ledger,
//! conditions, Events), never on how fast anything was; lateness is printed.

use mesos_testkit::support;

mod faults;
mod scenarios;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use mesos_model::jobs::ledger::Ledger;
use mesos_operator::api::batchjob::{ANNOTATION_FIRED_AT, ANNOTATION_SLOT, LABEL_BATCHJOB};
use mesos_operator::api::{BatchJob, Task, TaskState};

use support::TestEnv;

/// A BatchJob manifest: `name`, a run of `run_for` that exits with `exit`, and `extra`
/// spec lines (YAML, two-space indented under `spec:`).
pub fn job(name: &str, run_for: &str, exit: i32, extra: &str) -> String {
    format!(
        "apiVersion: mesos.operator.dev/v1alpha1\nkind: BatchJob\nmetadata:\n  name: {name}\nspec:\n  \
         resources: {{cpus: 0.1, mem: 32}}\n  command: {{shell: \"run {name}\"}}\n  \
         runAnnotations:\n    kwok.mesos.operator.dev/run-for: \"{run_for}\"\n    \
         kwok.mesos.operator.dev/exit-code: \"{exit}\"\n{extra}"
    )
}

/// Applies a BatchJob manifest.
pub async fn apply_job(env: &TestEnv, yaml: &str) -> BatchJob {
    env.apply::<BatchJob>(yaml).await
}

/// Polls job `name` until `pred` holds; panics naming `what`, with its status and the
/// operator's log, after `timeout`.
pub async fn wait_job(
    env: &TestEnv,
    name: &str,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&BatchJob) -> bool,
) -> BatchJob {
    let api: Api<BatchJob> = env.api();
    let start = Instant::now();
    loop {
        let job = api.get_opt(name).await.ok().flatten();
        if let Some(j) = &job
            && pred(j)
        {
            return j.clone();
        }
        if start.elapsed() > timeout {
            let status = job
                .and_then(|j| j.status)
                .map(|s| serde_yaml::to_string(&s).unwrap_or_default());
            panic!(
                "job {}/{name}: timed out after {timeout:?} waiting for {what}; status:\n{}\nlog:\n{}",
                env.ns,
                status.unwrap_or_else(|| "<none>".into()),
                env.log_tail(30)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The job's status field as a number (0 when absent).
pub fn count(job: &BatchJob, field: &str) -> u64 {
    let status = job.status.clone().unwrap_or_default();
    match field {
        "success" => status.success_count,
        "error" => status.error_count,
        "skipped" => status.skipped_slots,
        _ => panic!("unknown count {field}"),
    }
}

/// The job's ledger, as its status holds it.
pub fn ledger(job: &BatchJob) -> Ledger {
    job.status
        .as_ref()
        .and_then(|s| s.ledger.clone())
        .map(|v| serde_json::from_value(v).unwrap_or_else(|e| panic!("ledger: {e}")))
        .unwrap_or_default()
}

/// A condition's (status, reason, message).
pub fn condition(job: &BatchJob, type_: &str) -> (String, String, String) {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
        .unwrap_or_default()
}

/// The job's runs (Tasks), by name.
pub async fn runs(env: &TestEnv, job: &str) -> BTreeMap<String, Task> {
    let api: Api<Task> = env.api();
    api.list(&ListParams::default().labels(&format!("{LABEL_BATCHJOB}={job}")))
        .await
        .unwrap_or_else(|e| panic!("listing runs: {e}"))
        .items
        .into_iter()
        .map(|t| (t.name_any(), t))
        .collect()
}

/// The slot a run serves (its annotation).
pub fn slot_of(task: &Task) -> Option<Timestamp> {
    task.annotations().get(ANNOTATION_SLOT)?.parse().ok()
}

/// How late the operator asked for a run, after its slot (milliseconds).
pub fn lateness_ms(task: &Task) -> Option<i64> {
    let fired: Timestamp = task.annotations().get(ANNOTATION_FIRED_AT)?.parse().ok()?;
    Some(fired.duration_since(slot_of(task)?).as_millis() as i64)
}

/// Sets an annotation on a job (run-now, mark-succeeded).
pub async fn annotate(env: &TestEnv, name: &str, key: &str, value: &str) {
    let api: Api<BatchJob> = env.api();
    let patch = serde_json::json!({ "metadata": { "annotations": { key: value } } });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("annotating {name}: {e}"));
}

/// Merges `spec` into a job's spec (suspend, resume).
pub async fn patch_spec(env: &TestEnv, name: &str, spec: serde_json::Value) {
    let api: Api<BatchJob> = env.api();
    let patch = serde_json::json!({ "spec": spec });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("patching {name}: {e}"));
}

/// Whether a Task is terminal with `state`.
pub fn is(task: &Task, state: TaskState) -> bool {
    task.state() == Some(state)
}

/// The p-th percentile (0..=100) of `values` (sorted in place).
pub fn percentile(values: &mut [i64], p: usize) -> i64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    let index = (values.len() * p).div_ceil(100).saturating_sub(1);
    values[index.min(values.len() - 1)]
}

/// Sleeps until the wall clock's second is ≡ `offset_ms` (mod `period_s` seconds).
pub async fn sleep_until_phase(period_s: i64, offset_ms: i64) {
    let now = Timestamp::now();
    let period = period_s * 1000;
    let ms = now.as_millisecond().rem_euclid(period);
    let wait = (offset_ms - ms).rem_euclid(period);
    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
}
