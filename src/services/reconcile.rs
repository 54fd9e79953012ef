//! The App controller (issue 13): Marathon-style services as a framework of their own on
//! the Task API; thin I/O around `mesos_model::services::deployment::plan`.
//!
//! Each reconcile reads the App, its Tasks (label `mesos.operator.dev/app`), the nodes they
//! are on and the Apps of its namespace (dependencies), and decides (pure):
//!
//! - the app's **version**: its launch-relevant spec compared with the ledger's version
//!   history (same spec, same version; else the next number), bounded by
//!   `versionHistoryLimit`;
//! - the **backoff** after the instances of that version that ended (each end applied once,
//!   by its finish time, so a replay after a crash changes nothing);
//! - **health kills** (failing past the grace period and the failure limit) and
//!   **unreachable** instances made inactive or expunged;
//! - the **dependency gate**;
//! - one **deployment step** from the planner: launches, kills, the next deployment state,
//!   conditions and Events.
//!
//! Then it writes, in the order the ledger's contract needs:
//!
//! 1. the status (ledger included: deployment state, backoff, versions with their specs)
//!    through the status subresource with the App's resourceVersion as a precondition, so
//!    a step planned from a stale copy is refused (409) and planned again;
//! 2. the Tasks to launch, by create: names are `<app>-<version>-<index>` with the lowest
//!    free indexes, so a repeated step (after a crash, or from a cache that has not seen
//!    the last creates yet) hits AlreadyExists instead of duplicating an instance; creates
//!    and kills not yet seen in the cache are remembered in memory for a short while
//!    (Kubernetes' ReplicaSet "expectations");
//! 3. kills (`spec.kill`, with the reason as an annotation), deletion of ended instances
//!    (their end is in the ledger by then), and Events.
//!
//! The deployment state machine therefore lives in `status.ledger.deployment` and in the
//! Tasks' labels; a restarted operator plans from them, and the planner's step is a fixed
//! point, so a repeated reconcile neither double-counts nor moves on.

// Reconcilers read, call a pure decision and write: they stay short (clippy.toml sets
// the bar at 60 lines).
#![warn(clippy::too_many_lines)]

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt, TryStreamExt};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::reflector::ObjectRef;
use mesos_model::services::deployment::{Plan, PlanInput, plan};
use mesos_model::services::{Instance, InstanceState, Version, dependencies};
use tracing::{debug, info, warn};

use super::mapping::{KILL_EXPUNGED, KILL_HEALTH, LaunchSpec, Ledger, ObserveSettings};
use crate::api::app::AppCondition;
use crate::api::app::{
    ANNOTATION_KILL_REASON, ANNOTATION_PROMOTE, ANNOTATION_RESET_BACKOFF, ANNOTATION_ROLLBACK_TO,
    App, AppStatus, DEFAULT_FRAMEWORK, LABEL_APP,
};
use crate::api::{Framework, Task};
use crate::error::{Error, KubeContext, Result};
use crate::runtime::cache::{self, Shared};
use crate::runtime::{Context, FIELD_MANAGER, NORMAL, WARNING, resync_ticks, scaffold};

/// How long a create or kill not yet seen in the Task cache is assumed in flight.
const EXPECTATION_TTL: Duration = Duration::from_secs(30);
/// Task writes of one step in flight at once.
const WRITE_CONCURRENCY: usize = 16;
/// How often an App whose deployment is under way is looked at again, at least.
const ACTIVE_REQUEUE: Duration = Duration::from_secs(2);

/// Creates and kills the cache has not shown yet, per App.
#[derive(Default)]
struct Expectations {
    created: HashMap<String, (Version, Instant)>,
    killed: HashMap<String, Instant>,
}

/// The App controller's context: the operator's, plus the App cache.
pub struct AppsContext {
    /// The operator's context (client, Task, Node and Framework caches, events, metrics).
    pub ctx: Arc<Context>,
    /// Apps in the watched namespace(s).
    pub apps: Shared<App>,
    expectations: Mutex<HashMap<String, Expectations>>,
}

/// The apps that depend on `app` (its status changed).
fn dependents_of(apps: &Shared<App>, app: &App) -> Vec<ObjectRef<App>> {
    let (Some(ns), name) = (app.namespace(), app.name_any()) else {
        return Vec::new();
    };
    crate::runtime::referring(apps, &ns, &name, |a: &App| &a.spec.dependencies)
}

/// Runs the App controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    let Some(apps) = crate::runtime::watch_owned_kind::<App>(&ctx).await else {
        return;
    };
    let resync = ctx.settings.resync_period;
    let concurrency = ctx.settings.concurrency;
    let actx = Arc::new(AppsContext {
        ctx: ctx.clone(),
        apps,
        expectations: Mutex::new(HashMap::new()),
    });
    let for_dependents = actx.clone();
    Controller::for_shared_stream(actx.apps.subscribe(), actx.apps.store())
        .with_config(Config::default().concurrency(concurrency))
        .watches_shared_stream(ctx.tasks.subscribe(), |task: Arc<Task>| {
            let ns = task.namespace()?;
            let app = task.labels().get(LABEL_APP)?;
            Some(ObjectRef::<App>::new(app).within(&ns))
        })
        .watches_shared_stream(actx.apps.subscribe(), move |app: Arc<App>| {
            dependents_of(&for_dependents.apps, &app)
        })
        .reconcile_all_on(resync_ticks(resync))
        .shutdown_on_signal()
        .run(reconcile, error_policy, actx)
        .for_each(|result| async move {
            if let Err(e) = result {
                debug!(error = %e, "app reconcile failed");
            }
        })
        .await;
}

fn error_policy(app: Arc<App>, error: &Error, actx: Arc<AppsContext>) -> Action {
    scaffold::error_policy(&*app, error, &actx.ctx)
}

async fn reconcile(app: Arc<App>, actx: Arc<AppsContext>) -> Result<Action> {
    scaffold::reconcile(&*app, &actx.ctx, reconcile_app(&app, &actx)).await
}

impl scaffold::Reconciled for App {
    const CONTROLLER: &'static str = "app";
    // A step from a stale copy: the watch brings the fresh one (and a reconcile) soon.
    const STALE_REQUEUE: Duration = Duration::from_millis(200);
}

/// One instance as planned, with what else the controller must do about it.
struct Fleet {
    instances: Vec<Instance>,
    /// Tasks to kill outside the plan: (name, reason).
    kills: Vec<(String, &'static str)>,
    /// Ended Tasks of the app (processed into the ledger, then deleted).
    done: Vec<Arc<Task>>,
    /// Every Task name in use (for new names).
    used: BTreeSet<String>,
    wake_at: Option<Timestamp>,
}

#[expect(
    clippy::too_many_lines,
    reason = "not yet split into a pure decision and a short driver (issue 11)"
)]
fn observe_fleet(
    actx: &AppsContext,
    app: &App,
    ns: &str,
    ledger: &Ledger,
    current: &LaunchSpec,
    version: Version,
    now: Timestamp,
) -> Fleet {
    let ctx = &actx.ctx;
    let name = app.name_any();
    let tasks: Vec<Arc<Task>> = ctx
        .tasks
        .indexed(&cache::IndexKey::Label(
            ns.to_string(),
            LABEL_APP,
            name.clone(),
        ))
        .into_iter()
        .filter(|t| super::mapping::is_instance_of(t, ns, &name))
        .collect();
    let mut fleet = Fleet {
        instances: Vec::new(),
        kills: Vec::new(),
        done: Vec::new(),
        used: tasks.iter().map(|t| t.name_any()).collect(),
        wake_at: None,
    };
    let key = format!("{ns}/{name}");
    let mut all = actx.expectations.lock().unwrap_or_else(|p| p.into_inner());
    let expect = all.entry(key).or_default();
    let seen: HashMap<String, &Arc<Task>> = tasks.iter().map(|t| (t.name_any(), t)).collect();
    expect
        .created
        .retain(|n, (_, at)| !seen.contains_key(n) && at.elapsed() < EXPECTATION_TTL);
    expect.killed.retain(|n, at| {
        seen.get(n)
            .is_some_and(|t| !t.spec.kill && !t.is_terminal())
            && at.elapsed() < EXPECTATION_TTL
    });
    for (task_name, (v, _)) in &expect.created {
        fleet.used.insert(task_name.clone());
        fleet.instances.push(Instance {
            id: task_name.clone(),
            version: *v,
            state: InstanceState::Staging,
            healthy: false,
            ready: false,
            started_at: Some(now),
            failures: 0,
            node: None,
        });
    }
    for task in &tasks {
        let Some(v) = super::mapping::version_of(task) else {
            continue;
        };
        let done = super::mapping::is_done(task);
        if done {
            fleet.done.push(task.clone());
        }
        let spec = if v == version {
            Some(current.clone())
        } else {
            ledger.spec_of(v)
        };
        let settings = ObserveSettings {
            health_check: spec.as_ref().and_then(|s| s.health_check.as_ref()),
            readiness: spec.as_ref().and_then(|s| s.readiness.as_ref()),
            unreachable: &app.spec.unreachable_strategy,
        };
        let node = task
            .status
            .as_ref()
            .and_then(|s| s.agent.as_ref())
            .and_then(|agent| ctx.nodes.get(&ObjectRef::new(agent)))
            .map(|n| super::mapping::node_attributes(&n));
        let mut seen = super::mapping::observe(task, v, &settings, node, now);
        if done {
            // Only its failures count (the planner ignores ended instances otherwise).
        } else if expect.killed.contains_key(&task.name_any()) {
            seen.instance.state = InstanceState::Killing;
        } else if seen.health_replace {
            fleet.kills.push((task.name_any(), KILL_HEALTH));
            seen.instance.state = InstanceState::Killing;
        } else if seen.expunge {
            fleet.kills.push((task.name_any(), KILL_EXPUNGED));
        }
        fleet.wake_at = super::mapping::earliest(fleet.wake_at, seen.wake_at);
        fleet.instances.push(seen.instance);
    }
    fleet
}

/// Why the app's dependencies hold its deployment, if they do.
fn dependency_gate(actx: &AppsContext, app: &App, ns: &str) -> Option<String> {
    if app.spec.dependencies.is_empty() {
        return None;
    }
    let statuses: HashMap<String, dependencies::AppStatus> = actx
        .apps
        .state()
        .iter()
        .filter(|a| a.namespace().as_deref() == Some(ns))
        .map(|a| (a.name_any(), super::mapping::dependency_status(a)))
        .collect();
    match dependencies::start_gate(&app.spec.dependencies, |d| statuses.get(d)) {
        dependencies::Gate::Open => None,
        dependencies::Gate::Wait { message, .. } => Some(message),
    }
}

/// Whether the apps depending on this one still run (it must not stop before them).
fn dependents_running(actx: &AppsContext, app: &App, ns: &str) -> Option<String> {
    let name = app.name_any();
    let running: Vec<String> = actx
        .apps
        .state()
        .iter()
        .filter(|a| a.namespace().as_deref() == Some(ns))
        .filter(|a| a.spec.dependencies.contains(&name))
        .filter(|a| super::mapping::dependency_status(a).live_instances > 0)
        .map(|a| a.name_any())
        .collect();
    (!running.is_empty()).then(|| {
        format!(
            "waiting for dependents to stop: {} still run",
            running.join(", ")
        )
    })
}

#[expect(
    clippy::too_many_lines,
    reason = "not yet split into a pure decision and a short driver (issue 11)"
)]
async fn reconcile_app(app: &App, actx: &AppsContext) -> Result<Action> {
    let ctx = &actx.ctx;
    let ns = app.namespace().ok_or(Error::MissingField {
        kind: "App",
        field: "metadata.namespace",
    })?;
    if app.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let name = app.name_any();
    let now = Timestamp::now();
    let constraints = match mesos_model::constraints::parse(&app.spec.constraints) {
        Ok(c) => c,
        Err(errors) => {
            let message = format!("spec.constraints: {errors}");
            let status = super::mapping::invalid_status(app, &message, now);
            if app.status.as_ref() != Some(&status) {
                ctx.event(
                    app,
                    WARNING,
                    super::mapping::REASON_INVALID_CONSTRAINT,
                    message,
                    "Validate",
                )
                .await;
                ctx.apply_status(app, &status).await?;
            }
            return Ok(Action::await_change());
        }
    };
    let mut ledger = Ledger::of(app).map_err(|source| Error::Serde {
        context: format!("reading the ledger of App {ns}/{name} (not acting on it)"),
        source,
    })?;
    let annotations = app.annotations();
    if let Some(requested) = annotations.get(ANNOTATION_ROLLBACK_TO) {
        return rollback(ctx, app, &ns, &ledger, requested).await;
    }
    let current = LaunchSpec::of(&app.spec);
    let mut keep: BTreeSet<Version> = BTreeSet::new();
    if let Some(d) = &ledger.deployment {
        keep.extend(d.from_version);
        keep.extend(d.stable_version);
        keep.extend(d.effective_version());
    }
    let tasks_versions: BTreeSet<Version> = ctx
        .tasks
        .state()
        .iter()
        .filter(|t| super::mapping::is_instance_of(t, &ns, &name) && !t.is_terminal())
        .filter_map(|t| super::mapping::version_of(t))
        .collect();
    keep.extend(tasks_versions);
    let version = ledger.resolve(
        &current,
        now,
        app.spec.version_history_limit as usize,
        &keep,
    );
    let fleet = observe_fleet(actx, app, &ns, &ledger, &current, version, now);

    // Backoff: the version launched now (the rollback target while rolling back).
    let effective = ledger
        .deployment
        .as_ref()
        .filter(|d| d.version == version)
        .and_then(|d| d.effective_version())
        .unwrap_or(version);
    let done: Vec<&Task> = fleet.done.iter().map(|t| &**t).collect();
    let (mut backoff, last_failure) =
        super::mapping::apply_terminations(&ledger.backoff, &app.spec.backoff, effective, &done);
    if let Some(token) = annotations.get(ANNOTATION_RESET_BACKOFF)
        && ledger.backoff_reset.as_deref() != Some(token.as_str())
    {
        backoff = backoff.reset();
        ledger.backoff_reset = Some(token.clone());
    }
    ledger.backoff = backoff;

    let waiting_for = dependency_gate(actx, app, &ns);
    let mut instances = u32::try_from(app.spec.instances).unwrap_or(0);
    let mut extra: Vec<(AppCondition, bool, String, String)> = Vec::new();
    if instances == 0
        && let Some(why) = dependents_running(actx, app, &ns)
    {
        instances = fleet
            .instances
            .iter()
            .filter(|i| i.state.is_live())
            .count()
            .try_into()
            .unwrap_or(u32::MAX);
        extra.push((
            AppCondition::Progressing,
            true,
            "WaitingForDependents".into(),
            why,
        ));
    }
    let history = ledger.history();
    let promote = annotations
        .get(ANNOTATION_PROMOTE)
        .and_then(|v| v.trim().parse().ok());
    let launch_not_before = ledger.backoff.launch_not_before(&app.spec.backoff, now);
    // The canary step guards a version being replaced: the first version has nothing
    // to protect and rolls out whole.
    let first = match &ledger.deployment {
        None => true,
        Some(d) => d.version == version && d.from_version.is_none(),
    };
    let mut strategy = app.spec.upgrade_strategy.clone();
    if first {
        strategy.canary_instances = None;
    }
    let planned = plan(&PlanInput {
        now,
        instances,
        version,
        history: &history,
        fleet: &fleet.instances,
        strategy: &strategy,
        paused: app.spec.paused,
        promote,
        waiting_for,
        launch_not_before,
        constraints: &constraints,
        kill_selection: app.spec.kill_selection,
        state: ledger.deployment.as_ref(),
    });
    ledger.deployment = Some(planned.state.clone());
    let status = super::mapping::status_after(
        app,
        &planned,
        version,
        &ledger,
        &app.spec.backoff,
        last_failure,
        &extra,
        now,
    );
    let acts = !planned.launches.is_empty()
        || !planned.kills.is_empty()
        || !fleet.kills.is_empty()
        || !fleet.done.is_empty();
    if !planned.launches.is_empty() {
        let frameworks: BTreeSet<String> = planned
            .launches
            .iter()
            .filter_map(|l| spec_for(&ledger, &current, version, l.version))
            .map(|s| super::mapping::framework_of(&s).to_string())
            .collect();
        if frameworks.contains(DEFAULT_FRAMEWORK) {
            ensure_default_framework(ctx, &ns).await?;
        }
    }
    write_status(ctx, app, &status, acts).await?;
    act(actx, app, &ns, &ledger, &current, version, &planned, &fleet).await?;
    publish_events(ctx, app, &planned);
    let busy = !planned.state.phase.is_final()
        || fleet
            .instances
            .iter()
            .any(|i| i.state.is_live() && !i.available());
    let mut wake = super::mapping::earliest(planned.wake_at, fleet.wake_at);
    if busy {
        wake = super::mapping::earliest(wake, Some(plus_duration(now, ACTIVE_REQUEUE)));
    }
    Ok(requeue(wake, now, ctx.settings.resync_period))
}

fn plus_duration(now: Timestamp, d: Duration) -> Timestamp {
    k8s_openapi::jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .unwrap_or(now)
}

fn spec_for(
    ledger: &Ledger,
    current: &LaunchSpec,
    version: Version,
    wanted: Version,
) -> Option<LaunchSpec> {
    if wanted == version {
        Some(current.clone())
    } else {
        ledger.spec_of(wanted)
    }
}

fn requeue(wake: Option<Timestamp>, now: Timestamp, resync: Duration) -> Action {
    let Some(wake) = wake else {
        return Action::requeue(resync);
    };
    let wait = Duration::try_from(now.duration_until(wake)).unwrap_or(Duration::ZERO)
        + Duration::from_millis(10);
    Action::requeue(wait.min(resync))
}

/// Writes the status when it changed (or always, when `force`: the precondition then
/// proves the step was planned from the latest ledger).
async fn write_status(ctx: &Context, app: &App, status: &AppStatus, force: bool) -> Result<()> {
    let stored: Option<AppStatus> = serde_json::to_value(status)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok());
    if !force && stored.is_some() && app.status == stored {
        return Ok(());
    }
    ctx.apply_status(app, status).await
}

/// Rollback by number: writes version `requested`'s spec back into the App and removes
/// the annotation (the spec then matches that version, which the next step rolls out).
async fn rollback(
    ctx: &Context,
    app: &App,
    ns: &str,
    ledger: &Ledger,
    requested: &str,
) -> Result<Action> {
    let api: Api<App> = Api::namespaced(ctx.client.clone(), ns);
    let name = app.name_any();
    let entry = requested.trim().parse::<Version>().ok().and_then(|v| {
        mesos_model::services::deployment::resolve_version(&ledger.history(), v)
            .ok()
            .and_then(|v| ledger.versions.iter().find(|e| e.version == v))
    });
    let patch = match entry {
        Some(entry) => {
            let note = format!("rolling back to version {}", entry.version);
            ctx.event(app, NORMAL, "RollbackRequested", note, "Rollback")
                .await;
            super::mapping::rollback_patch(entry, ANNOTATION_ROLLBACK_TO)
        }
        None => {
            let known: Vec<String> = ledger.history().iter().map(|v| v.to_string()).collect();
            let note = format!(
                "{ANNOTATION_ROLLBACK_TO}: version {requested:?} is not in the app's history (known: {})",
                known.join(", ")
            );
            ctx.event(app, WARNING, "UnknownVersion", note, "Rollback")
                .await;
            serde_json::json!({ "metadata": { "annotations": { ANNOTATION_ROLLBACK_TO: null } } })
        }
    };
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .context(|| format!("rolling back App {ns}/{name}"))?;
    Ok(Action::requeue(Duration::from_millis(100)))
}

fn publish_events(ctx: &Arc<Context>, app: &App, planned: &Plan) {
    if planned.events.is_empty() {
        return;
    }
    let (ctx, app, events) = (ctx.clone(), app.clone(), planned.events.clone());
    tokio::spawn(async move {
        for event in events {
            let type_ = if event.warning { WARNING } else { NORMAL };
            ctx.event(&app, type_, event.reason, event.message, "Deploy")
                .await;
        }
    });
}

/// Creates, kills and deletes of a step whose ledger is written.
#[allow(clippy::too_many_arguments)]
async fn act(
    actx: &AppsContext,
    app: &App,
    ns: &str,
    ledger: &Ledger,
    current: &LaunchSpec,
    version: Version,
    planned: &Plan,
    fleet: &Fleet,
) -> Result<()> {
    let ctx = &actx.ctx;
    let name = app.name_any();
    let key = format!("{ns}/{name}");
    let api: Api<Task> = Api::namespaced(ctx.client.clone(), ns);
    let mut used = fleet.used.clone();
    let mut creates = Vec::new();
    for launch in &planned.launches {
        let Some(spec) = spec_for(ledger, current, version, launch.version) else {
            warn!(
                version = launch.version,
                "no spec known for a version to launch"
            );
            continue;
        };
        for index in super::mapping::free_indexes(&name, launch.version, &used, launch.count) {
            let task = super::mapping::task_for(
                app,
                &spec,
                launch.version,
                index,
                planned.placement_target,
            );
            used.insert(task.name_any());
            creates.push((task, launch.version));
        }
    }
    let mut writes = Vec::new();
    for (task, v) in creates {
        writes.push(create_instance(actx, app, &api, &key, task, v).boxed());
    }
    run_writes(writes).await?;
    let kills: Vec<(String, &'static str)> = planned
        .kills
        .iter()
        .map(|k| (k.instance.clone(), k.reason.as_str()))
        .chain(fleet.kills.iter().map(|(n, r)| (n.clone(), *r)))
        .collect();
    let mut writes = Vec::new();
    for (task_name, reason) in kills {
        writes.push(kill_instance(actx, app, &api, &key, task_name, reason).boxed());
    }
    run_writes(writes).await?;
    let mut writes = Vec::new();
    for task in &fleet.done {
        writes.push(delete_instance(&api, task.name_any()).boxed());
    }
    run_writes(writes).await?;
    Ok(())
}

/// Runs one step's writes, [`WRITE_CONCURRENCY`] at a time; the first error wins.
async fn run_writes(writes: Vec<futures::future::BoxFuture<'_, Result<()>>>) -> Result<()> {
    futures::stream::iter(writes)
        .buffer_unordered(WRITE_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await
        .map(|_| ())
}

/// Deletes an ended instance's Task (its end is in the ledger already).
async fn delete_instance(api: &Api<Task>, task_name: String) -> Result<()> {
    match api.delete(&task_name, &DeleteParams::background()).await {
        Ok(_) | Err(kube::Error::Api(_)) => Ok(()),
        Err(e) => Err(Error::Kube {
            context: format!("deleting ended instance {task_name}"),
            source: e,
        }),
    }
}

/// Creates one instance's Task; an existing one of that name is the same instance.
async fn create_instance(
    actx: &AppsContext,
    app: &App,
    api: &Api<Task>,
    key: &str,
    task: Task,
    version: Version,
) -> Result<()> {
    let task_name = task.name_any();
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PostParams::default()
    };
    match api.create(&params, &task).await {
        Ok(_) => {
            debug!(task = %task_name, "instance launched");
            actx.expectations
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key.to_string())
                .or_default()
                .created
                .insert(task_name, (version, Instant::now()));
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 409 => {
            debug!(task = %task_name, "instance exists already");
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 422 || s.code == 400 => {
            let note = format!("the API server refused instance {task_name}: {}", s.message);
            actx.ctx
                .event(app, WARNING, "TaskCreateFailed", note, "Launch")
                .await;
            Err(Error::Kube {
                context: format!("creating instance {task_name}"),
                source: kube::Error::Api(s),
            })
        }
        Err(e) => Err(Error::Kube {
            context: format!("creating instance {task_name}"),
            source: e,
        }),
    }
}

/// Kills one instance (`spec.kill`), recording why on it.
async fn kill_instance(
    actx: &AppsContext,
    app: &App,
    api: &Api<Task>,
    key: &str,
    task_name: String,
    reason: &'static str,
) -> Result<()> {
    let patch = serde_json::json!({
        "metadata": { "annotations": { ANNOTATION_KILL_REASON: reason } },
        "spec": { "kill": true },
    });
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    match api.patch(&task_name, &params, &Patch::Merge(&patch)).await {
        Ok(_) => {
            info!(task = %task_name, reason, "instance killed");
            actx.expectations
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(key.to_string())
                .or_default()
                .killed
                .insert(task_name.clone(), Instant::now());
            if reason == KILL_HEALTH {
                let note = format!("instance {task_name} failed its health checks: replacing it");
                actx.ctx
                    .event(app, WARNING, "HealthCheckFailed", note, "Kill")
                    .await;
            }
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::Kube {
            context: format!("killing instance {task_name}"),
            source: e,
        }),
    }
}

/// Creates the namespace's default Builtin service framework when it is missing.
async fn ensure_default_framework(ctx: &Context, ns: &str) -> Result<()> {
    let cached = ctx
        .frameworks
        .get(&ObjectRef::new(DEFAULT_FRAMEWORK).within(ns))
        .is_some();
    if cached {
        return Ok(());
    }
    let api: Api<Framework> = Api::namespaced(ctx.client.clone(), ns);
    let body = serde_json::json!({
        "apiVersion": "mesos.operator.dev/v1alpha1",
        "kind": "Framework",
        "metadata": {
            "name": DEFAULT_FRAMEWORK,
            "labels": { crate::api::LABEL_MANAGED_BY: crate::api::MANAGER },
        },
        "spec": {
            "scheduler": "Builtin",
            "role": "*",
            "capabilities": ["PartitionAware", "TaskKillingState"],
        },
    });
    let framework: Framework = serde_json::from_value(body).map_err(|source| Error::Serde {
        context: "building the default service framework".to_string(),
        source,
    })?;
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PostParams::default()
    };
    match api.create(&params, &framework).await {
        Ok(_) => {
            info!(namespace = ns, "created the default service framework");
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e).context(|| format!("creating framework {ns}/{DEFAULT_FRAMEWORK}")),
    }
}
