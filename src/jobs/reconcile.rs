//! The BatchJob controller (issue 14): thin I/O around `mesos_model::jobs::plan`.
//!
//! Each reconcile reads the job, its Tasks (by the `mesos.operator.dev/batchjob` label) and
//! the jobs of its namespace (for parent edges), calls the pure plan, then writes in the
//! order the ledger's contract needs:
//!
//! 1. the status (ledger included) through the status subresource, with the job's
//!    resourceVersion as a precondition: a plan made from a stale copy is refused (409)
//!    and made again, so two plans never both act;
//! 2. only then the Tasks the plan asks for, by create: the name derives from the slot
//!    (or parent runs, or manual token), so a second create of a run fails with
//!    AlreadyExists and a slot runs at most once across restarts;
//! 3. kills (`spec.kill`), deletions of pruned history, and Events.
//!
//! The reconcile is requeued at the plan's `wake_at` (the next slot, retry or timeout).
//! Task changes and parents' status changes arrive by watch.

// Reconcilers read, call a pure decision and write: they stay short (clippy.toml sets
// the bar at 60 lines).
#![warn(clippy::too_many_lines)]

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::reflector::ObjectRef;

use kube::ResourceExt;
use mesos_model::jobs::dag::{GraphAnalysis, GraphView};
use mesos_model::jobs::plan::{JobPlan, PlanInput, plan};
use tracing::{debug, info};

use crate::api::batchjob::{BatchJob, BatchJobStatus, DEFAULT_FRAMEWORK, LABEL_BATCHJOB};
use crate::api::{Framework, Task};
use crate::error::{Error, KubeContext, Result};
use crate::runtime::cache::{self, Shared};
use crate::runtime::scaffold;
use crate::runtime::{Context, FIELD_MANAGER, NORMAL, WARNING, resync_ticks};

/// The jobs controller's context: the operator's, plus the BatchJob cache.
pub struct JobsContext {
    /// The operator's context (client, Task and Framework caches, events, metrics).
    pub ctx: Arc<Context>,
    /// BatchJobs in the watched namespace(s).
    pub jobs: Shared<BatchJob>,
}

/// The jobs whose parents include `parent` (its status or existence changed).
fn children_of(jobs: &Shared<BatchJob>, parent: &BatchJob) -> Vec<ObjectRef<BatchJob>> {
    let (Some(ns), name) = (parent.namespace(), parent.name_any()) else {
        return Vec::new();
    };
    crate::runtime::referring(jobs, &ns, &name, |job: &BatchJob| &job.spec.parents)
}

/// Runs the BatchJob controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    let Some(jobs) = crate::runtime::watch_owned_kind::<BatchJob>(&ctx).await else {
        return;
    };
    let resync = ctx.settings.resync_period;
    let concurrency = ctx.settings.job_concurrency;
    let jctx = Arc::new(JobsContext {
        ctx: ctx.clone(),
        jobs,
    });
    let for_children = jctx.clone();
    Controller::for_shared_stream(jctx.jobs.subscribe(), jctx.jobs.store())
        .with_config(Config::default().concurrency(concurrency))
        .watches_shared_stream(ctx.tasks.subscribe(), |task: Arc<Task>| {
            let ns = task.namespace()?;
            let job = task.labels().get(LABEL_BATCHJOB)?;
            Some(ObjectRef::<BatchJob>::new(job).within(&ns))
        })
        .watches_shared_stream(jctx.jobs.subscribe(), move |parent: Arc<BatchJob>| {
            children_of(&for_children.jobs, &parent)
        })
        .reconcile_all_on(resync_ticks(resync))
        .shutdown_on_signal()
        .run(reconcile, error_policy, jctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                debug!(error = %e, "batch job reconcile failed");
            }
        })
        .await;
}

fn error_policy(job: Arc<BatchJob>, error: &Error, jctx: Arc<JobsContext>) -> Action {
    scaffold::error_policy(&*job, error, &jctx.ctx)
}

async fn reconcile(job: Arc<BatchJob>, jctx: Arc<JobsContext>) -> Result<Action> {
    scaffold::reconcile(&*job, &jctx.ctx, reconcile_job(&job, &jctx)).await
}

impl scaffold::Reconciled for BatchJob {
    const CONTROLLER: &'static str = "batchjob";
    // A plan from a stale copy: the watch brings the fresh one (and a reconcile) soon.
    const STALE_REQUEUE: Duration = Duration::from_millis(200);
}

/// The graph of the job's namespace, and its analysis; empty for a job without parents
/// (it can have no dependency issue).
fn graph_of(jctx: &JobsContext, job: &BatchJob, ns: &str) -> (GraphView, GraphAnalysis) {
    if job.spec.parents.is_empty() {
        return (GraphView::default(), GraphAnalysis::default());
    }
    let jobs = jctx.jobs.state();
    let view = super::mapping::graph_view(
        jobs.iter()
            .map(|j| &**j)
            .filter(|j| j.namespace().as_deref() == Some(ns)),
    );
    let analysis = GraphAnalysis::new(&view);
    (view, analysis)
}

async fn reconcile_job(job: &BatchJob, jctx: &JobsContext) -> Result<Action> {
    let ctx = &jctx.ctx;
    let ns = job.namespace().ok_or(Error::MissingField {
        kind: "BatchJob",
        field: "metadata.namespace",
    })?;
    if job.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let now = Timestamp::now();
    let (spec, errors) = super::mapping::job_spec(job, now);
    if !errors.is_empty() {
        let status = super::mapping::invalid_status(job, &errors, now);
        write_status(ctx, job, &status, false).await?;
        return Ok(Action::await_change());
    }
    let ledger = super::mapping::ledger_of(job).map_err(|source| Error::Serde {
        context: format!(
            "reading the ledger of BatchJob {ns}/{} (not acting on it)",
            job.name_any()
        ),
        source,
    })?;
    let name = job.name_any();
    let tasks = ctx.tasks.indexed(&cache::IndexKey::Label(
        ns.clone(),
        crate::api::batchjob::LABEL_BATCHJOB,
        name.clone(),
    ));
    let observed = super::mapping::observed_tasks(
        tasks
            .iter()
            .map(|t| &**t)
            .filter(|t| super::mapping::is_run_of(t, &ns, &name)),
    );
    let (graph, analysis) = graph_of(jctx, job, &ns);
    let planned = plan(PlanInput {
        spec: &spec,
        ledger: &ledger,
        tasks: &observed,
        graph: &graph,
        analysis: &analysis,
        now,
    });
    let schedule = spec.validate().ok().flatten();
    let status = super::mapping::status_after(job, &planned, schedule.as_ref(), now);
    if !planned.create.is_empty() && job.spec.framework.is_none() {
        ensure_default_framework(ctx, &ns).await?;
    }
    // The ledger first (with the precondition), whenever the plan acts.
    let acts = !planned.create.is_empty() || !planned.kill.is_empty() || !planned.delete.is_empty();
    write_status(ctx, job, &status, acts).await?;
    act(ctx, job, &ns, &planned, now).await?;
    publish_events(ctx, job, &planned);
    Ok(requeue(&planned, now, ctx.settings.resync_period))
}

/// When to look again: at the plan's wake-up (a hair after, so the instant is due).
fn requeue(planned: &JobPlan, now: Timestamp, resync: Duration) -> Action {
    let Some(wake) = planned.wake_at else {
        return Action::requeue(resync);
    };
    let wait = now.duration_until(wake);
    let wait = Duration::try_from(wait).unwrap_or(Duration::ZERO) + Duration::from_millis(1);
    Action::requeue(wait.min(resync))
}

/// Writes the status when it changed (or always, when `force`: the precondition then
/// proves the plan was made from the latest ledger).
async fn write_status(
    ctx: &Context,
    job: &BatchJob,
    status: &BatchJobStatus,
    force: bool,
) -> Result<()> {
    // Compare as the API server will store it (times in whole seconds).
    let stored: Option<BatchJobStatus> = serde_json::to_value(status)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok());
    if !force && stored.is_some() && job.status == stored {
        return Ok(());
    }
    ctx.apply_status(job, status).await
}

/// Publishes a plan's Events in the background: they are best effort, and a run's
/// creation (the next job's too) never waits for them.
fn publish_events(ctx: &Arc<Context>, job: &BatchJob, planned: &JobPlan) {
    if planned.events.is_empty() {
        return;
    }
    let (ctx, job, events) = (ctx.clone(), job.clone(), planned.events.clone());
    tokio::spawn(async move {
        for event in events {
            let type_ = if event.warning { WARNING } else { NORMAL };
            let reason = super::mapping::event_reason(event.kind);
            ctx.event(&job, type_, reason, event.message, "Schedule")
                .await;
        }
    });
}

/// Creates the Tasks, kills and deletes of a plan whose ledger is written.
#[expect(
    clippy::too_many_lines,
    reason = "not yet split into a pure decision and a short driver (issue 11)"
)]
async fn act(
    ctx: &Context,
    job: &BatchJob,
    ns: &str,
    planned: &JobPlan,
    now: Timestamp,
) -> Result<()> {
    let api: Api<Task> = Api::namespaced(ctx.client.clone(), ns);
    for create in &planned.create {
        let task = super::mapping::task_for(job, create, now);
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PostParams::default()
        };
        match api.create(&params, &task).await {
            Ok(_) => {
                debug!(task = %create.name, "run created");
                if let Some(slot) = create.trigger.slot().filter(|_| create.attempt == 0) {
                    let late = Duration::try_from(slot.duration_until(now)).unwrap_or_default();
                    ctx.metrics.job_fired(late);
                }
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {
                debug!(task = %create.name, "run exists already");
            }
            Err(kube::Error::Api(s)) if s.code == 422 || s.code == 400 => {
                let note = format!("the API server refused run {}: {}", create.name, s.message);
                ctx.event(job, WARNING, "RunCreateFailed", note, "Schedule")
                    .await;
                return Err(Error::Kube {
                    context: format!("creating run {}", create.name),
                    source: kube::Error::Api(s),
                });
            }
            Err(e) => {
                return Err(Error::Kube {
                    context: format!("creating run {}", create.name),
                    source: e,
                });
            }
        }
    }
    for kill in &planned.kill {
        let patch = serde_json::json!({ "spec": { "kill": true } });
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        match api.patch(&kill.name, &params, &Patch::Merge(&patch)).await {
            Ok(_) => info!(task = %kill.name, reason = ?kill.reason, "run killed"),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                return Err(Error::Kube {
                    context: format!("killing run {}", kill.name),
                    source: e,
                });
            }
        }
    }
    for name in &planned.delete {
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                return Err(Error::Kube {
                    context: format!("deleting pruned run {name}"),
                    source: e,
                });
            }
        }
    }
    Ok(())
}

/// Creates the namespace's default Builtin framework when it is missing.
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
        "apiVersion": <Framework as kube::Resource>::api_version(&()),
        "kind": <Framework as kube::Resource>::kind(&()),
        "metadata": {
            "name": DEFAULT_FRAMEWORK,
            "labels": { crate::api::LABEL_MANAGED_BY: crate::api::MANAGER },
        },
        "spec": { "scheduler": "Builtin", "role": "*" },
    });
    let framework: Framework = serde_json::from_value(body).map_err(|source| Error::Serde {
        context: "building the default batch framework".to_string(),
        source,
    })?;
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PostParams::default()
    };
    match api.create(&params, &framework).await {
        Ok(_) => {
            info!(namespace = ns, "created the default batch framework");
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e).context(|| format!("creating framework {ns}/{DEFAULT_FRAMEWORK}")),
    }
}
