//! End-to-end tests of Apps (issue 13) against the real local cluster. Each test has its
//! own namespace and operator; instances are kwok pods that run until killed (annotated
//! `kwok.mesos.operator.dev/unhealthy: "true"` they run but never become Ready).
//!
//! The tests assert on what the API server holds (Tasks, the App's status, conditions,
//! Events), never on how fast anything was.

use mesos_testkit::support;

mod admission;
mod deployments;
mod faults;
mod ports;
mod scaling;
mod unreachable;
mod validation;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use mesos_operator::api::app::{LABEL_APP, LABEL_APP_VERSION};
use mesos_operator::api::{App, Task, TaskState};

use support::TestEnv;

/// How long a deployment may take on a loaded machine.
pub const T: Duration = Duration::from_secs(120);

/// An App manifest: `name`, `instances`, a command line `cmd` (a change of it is a new
/// version) and `extra` spec lines (YAML, two-space indented under `spec:`).
pub fn app(name: &str, instances: i32, cmd: &str, extra: &str) -> String {
    format!(
        "apiVersion: mesos.operator.dev/v1alpha1\nkind: App\nmetadata:\n  name: {name}\nspec:\n  \
         instances: {instances}\n  resources: {{cpus: 0.1, mem: 32}}\n  command: {{shell: \"{cmd}\"}}\n{extra}"
    )
}

/// Applies an App manifest.
pub async fn apply_app(env: &TestEnv, yaml: &str) -> App {
    env.apply::<App>(yaml).await
}

/// Polls App `name` until `pred` holds; panics naming `what`, with its status and the
/// operator's log, after `timeout`.
pub async fn wait_app(
    env: &TestEnv,
    name: &str,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&App) -> bool,
) -> App {
    let api: Api<App> = env.api();
    let start = Instant::now();
    loop {
        let app = api.get_opt(name).await.ok().flatten();
        if let Some(a) = &app
            && pred(a)
        {
            return a.clone();
        }
        if start.elapsed() > timeout {
            let mut status = app
                .and_then(|a| a.status)
                .map(|s| serde_yaml::to_string(&s).unwrap_or_default())
                .unwrap_or_else(|| "<none>".into());
            status.truncate(6000);
            panic!(
                "app {}/{name}: timed out after {timeout:?} waiting for {what}; status:\n{status}\nlog:\n{}",
                env.ns,
                env.log_tail(30)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The deployment phase in status (`""` when none).
pub fn phase(app: &App) -> String {
    app.status
        .as_ref()
        .and_then(|s| s.deployment.as_ref())
        .map(|d| d.phase.clone())
        .unwrap_or_default()
}

/// Whether the app's status describes its current generation and its deployment of
/// `version` reached `phase`.
pub fn deployed(app: &App, version: u64, phase_name: &str) -> bool {
    let status = app.status.clone().unwrap_or_default();
    status.observed_generation == app.metadata.generation
        && status.version == Some(version)
        && phase(app) == phase_name
}

/// A condition's (status, reason).
pub fn condition(app: &App, type_: &str) -> (String, String) {
    app.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
        .map(|c| (c.status.clone(), c.reason.clone()))
        .unwrap_or_default()
}

/// The app's Tasks, by name.
pub async fn instances(env: &TestEnv, app: &str) -> BTreeMap<String, Task> {
    let api: Api<Task> = env.api();
    api.list(&ListParams::default().labels(&format!("{LABEL_APP}={app}")))
        .await
        .unwrap_or_else(|e| panic!("listing instances: {e}"))
        .items
        .into_iter()
        .map(|t| (t.name_any(), t))
        .collect()
}

/// The version label of a Task.
pub fn version(task: &Task) -> u64 {
    task.labels()
        .get(LABEL_APP_VERSION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A live Task: not ended.
pub fn live(task: &Task) -> bool {
    !task.is_terminal() && task.state() != Some(TaskState::Lost)
}

/// Available as deployments count it: running, healthy (when checked), not being killed.
pub fn available(task: &Task) -> bool {
    task.state() == Some(TaskState::Running)
        && !task.spec.kill
        && task.status.as_ref().and_then(|s| s.healthy) != Some(false)
}

/// Live instances per version.
pub fn live_by_version(tasks: &BTreeMap<String, Task>) -> BTreeMap<u64, usize> {
    let mut out = BTreeMap::new();
    for t in tasks.values().filter(|t| live(t)) {
        *out.entry(version(t)).or_insert(0) += 1;
    }
    out
}

/// Merges `spec` into an App's spec.
pub async fn patch_spec(env: &TestEnv, name: &str, spec: serde_json::Value) {
    let api: Api<App> = env.api();
    let patch = serde_json::json!({ "spec": spec });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("patching {name}: {e}"));
}

/// Sets an annotation on an App (rollback-to, promote, reset-backoff).
pub async fn annotate(env: &TestEnv, name: &str, key: &str, value: &str) {
    let api: Api<App> = env.api();
    let patch = serde_json::json!({ "metadata": { "annotations": { key: value } } });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("annotating {name}: {e}"));
}

/// What a sampler saw: samples taken, the fewest available and most live instances, and
/// every sample that broke a bound.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    pub taken: usize,
    pub min_available: usize,
    pub max_live: usize,
    pub violations: Vec<String>,
}

/// Samples app `name`'s Tasks continuously (one list per sample, a consistent snapshot)
/// until stopped, checking at every sample: at least `min_available` available, at most
/// `max_live` live.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: tokio::task::JoinHandle<Samples>,
}

impl Sampler {
    pub fn start(env: &TestEnv, name: &str, min_available: usize, max_live: usize) -> Self {
        let api: Api<Task> = env.api();
        let selector = format!("{LABEL_APP}={name}");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = tokio::spawn(async move {
            let mut s = Samples {
                min_available: usize::MAX,
                ..Samples::default()
            };
            while !flag.load(Ordering::Relaxed) {
                if let Ok(list) = api.list(&ListParams::default().labels(&selector)).await {
                    let avail = list.items.iter().filter(|t| available(t)).count();
                    let alive = list.items.iter().filter(|t| live(t)).count();
                    s.taken += 1;
                    s.min_available = s.min_available.min(avail);
                    s.max_live = s.max_live.max(alive);
                    if avail < min_available || alive > max_live {
                        let mut by: BTreeMap<String, String> = BTreeMap::new();
                        for t in &list.items {
                            by.insert(
                                t.name_any(),
                                format!(
                                    "{}{}",
                                    t.state().map(|s| s.as_str()).unwrap_or("-"),
                                    if t.spec.kill { "/kill" } else { "" }
                                ),
                            );
                        }
                        s.violations
                            .push(format!("{avail} available, {alive} live: {by:?}"));
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            s
        });
        Self { stop, handle }
    }

    pub async fn finish(self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .await
            .unwrap_or_else(|e| panic!("sampler failed: {e}"))
    }
}
