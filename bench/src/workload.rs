//! One workload: a namespace, T objects created with bounded concurrency, a watch that
//! notes when each one runs and ends, and the namespace deleted afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::api::{DeleteParams, PostParams};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource, ResourceExt};
use mesos_operator::api::{Framework, Task, TaskState};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::stats::{Figures, Timeline, since};

/// The ways of running the same pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Pods created with `nodeName` set, round-robin over the nodes.
    Bare,
    /// Pods without `nodeName`, placed by kube-scheduler.
    Scheduler,
    /// `batch/v1` Jobs of one pod each: the job controller and kube-scheduler.
    Jobs,
    /// The same Jobs, created suspended in a LocalQueue per tenant and admitted by Kueue
    /// (ClusterQueues in one cohort with fair sharing), then kube-scheduler.
    Kueue,
    /// Tasks of Builtin frameworks, placed by mesos-operator's DRF allocator.
    Operator,
}

impl Kind {
    /// Name in the report and namespace suffix.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bare => "bare",
            Self::Scheduler => "scheduler",
            Self::Jobs => "jobs",
            Self::Kueue => "kueue",
            Self::Operator => "operator",
        }
    }

    /// The workload's namespace.
    pub fn namespace(self) -> String {
        format!("mesos-bench-{}", self.name())
    }

    /// Whether its pods are placed by kube-scheduler (which runs for it only).
    pub fn needs_scheduler(self) -> bool {
        matches!(self, Self::Scheduler | Self::Jobs | Self::Kueue)
    }

    /// What it creates, for the progress lines.
    pub fn objects(self) -> &'static str {
        match self {
            Self::Bare | Self::Scheduler => "pods",
            Self::Jobs | Self::Kueue => "Jobs",
            Self::Operator => "tasks",
        }
    }
}

/// Sizes and settings shared by the three workloads.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Objects per workload.
    pub tasks: usize,
    /// Frameworks the operator's tasks are spread over.
    pub frameworks: usize,
    /// kwok run-for annotation (how long each pod runs).
    pub run_for: String,
    /// Creates in flight at once.
    pub concurrency: usize,
    /// Node names for `bare`.
    pub nodes: Vec<String>,
    /// Deadline for all objects to finish.
    pub timeout: Duration,
}

const RUN_FOR: &str = "kwok.mesos.operator.dev/run-for";
const CPUS: f64 = 0.1;
const MEM_MIB: f64 = 64.0;

fn object_name(i: usize) -> String {
    format!("b-{i}")
}

fn object_index(name: &str) -> Option<usize> {
    name.strip_prefix("b-")?.parse().ok()
}

/// The framework (operator) or tenant queue (Kueue) of object `i`.
pub fn framework_name(i: usize) -> String {
    format!("fw-{i}")
}

/// Kueue's queue label on a Job.
pub const QUEUE_LABEL: &str = "kueue.x-k8s.io/queue-name";
/// The job controller's label on a Job's pods.
const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

/// The Job `i` of the jobs and kueue workloads: one pod, exactly the scheduler
/// workload's, never retried (`backoffLimit: 0`); for Kueue suspended in its tenant's
/// LocalQueue, as Kueue's webhook would make it.
fn job(plan: &Plan, ns: &str, kind: Kind, i: usize) -> Result<Job> {
    let pod = pod(plan, ns, Kind::Scheduler, i)?;
    let mut labels = serde_json::Map::new();
    labels.insert("app".into(), json!("mesos-bench"));
    if kind == Kind::Kueue {
        labels.insert(
            QUEUE_LABEL.into(),
            json!(framework_name(i % plan.frameworks.max(1))),
        );
    }
    serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": object_name(i), "namespace": ns, "labels": labels },
        "spec": {
            "backoffLimit": 0,
            "completions": 1,
            "parallelism": 1,
            "suspend": kind == Kind::Kueue,
            "template": {
                "metadata": {
                    "labels": pod.metadata.labels,
                    "annotations": pod.metadata.annotations,
                },
                "spec": pod.spec,
            }
        }
    }))
    .context("building a job")
}

/// The task `i` of the operator workload.
fn task(plan: &Plan, ns: &str, i: usize) -> Result<Task> {
    serde_json::from_value(json!({
        "apiVersion": "mesos.operator.dev/v1alpha1",
        "kind": "Task",
        "metadata": {
            "name": object_name(i),
            "namespace": ns,
            "annotations": { RUN_FOR: plan.run_for },
        },
        "spec": {
            "framework": framework_name(i % plan.frameworks.max(1)),
            "resources": { "cpus": CPUS, "mem": MEM_MIB },
            "command": { "shell": format!("sleep {}", plan.run_for) },
        }
    }))
    .context("building a task")
}

/// The pod `i` of the bare and scheduler workloads: exactly the pod the operator builds
/// for the same task, without its task/framework labels, and (scheduler) without nodeName.
fn pod(plan: &Plan, ns: &str, kind: Kind, i: usize) -> Result<Pod> {
    let node = match kind {
        Kind::Bare => plan
            .nodes
            .get(i % plan.nodes.len().max(1))
            .cloned()
            .context("no nodes")?,
        _ => String::new(),
    };
    let mut pod = mesos_operator::master::pod::build_pod(&task(plan, ns, i)?, &node)
        .map_err(|e| anyhow::anyhow!("building a pod: {e}"))?;
    pod.metadata.labels = Some([("app".to_string(), "mesos-bench".to_string())].into());
    if kind == Kind::Scheduler
        && let Some(spec) = pod.spec.as_mut()
    {
        spec.node_name = None;
    }
    Ok(pod)
}

/// Creates the namespace (deleting a leftover one first) and waits for its default
/// ServiceAccount, without which pod creation is refused.
pub async fn create_namespace(client: &Client, ns: &str) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    if api.get_opt(ns).await?.is_some() {
        eprintln!("  namespace {ns} left over from an earlier run: deleting it");
        delete_namespace(client, ns, Duration::from_secs(600)).await?;
    }
    let object: Namespace = serde_json::from_value(json!({
        "metadata": { "name": ns, "labels": { "app": "mesos-bench" } }
    }))?;
    api.create(&PostParams::default(), &object)
        .await
        .with_context(|| format!("creating namespace {ns}"))?;
    let sa: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let deadline = Instant::now() + Duration::from_secs(60);
    while sa.get_opt("default").await?.is_none() {
        if Instant::now() > deadline {
            bail!("the default ServiceAccount of {ns} never appeared");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Deletes the namespace and waits until it is gone; returns how long that took.
pub async fn delete_namespace(client: &Client, ns: &str, timeout: Duration) -> Result<f64> {
    let api: Api<Namespace> = Api::all(client.clone());
    let start = Instant::now();
    match api.delete(ns, &DeleteParams::background()).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(0.0),
        Err(e) => return Err(e).with_context(|| format!("deleting namespace {ns}")),
    }
    while api.get_opt(ns).await?.is_some() {
        if start.elapsed() > timeout {
            bail!("namespace {ns} still there after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(since(start))
}

/// Creates the frameworks and waits until the operator has registered them.
pub async fn create_frameworks(client: &Client, ns: &str, n: usize) -> Result<()> {
    let api: Api<Framework> = Api::namespaced(client.clone(), ns);
    for i in 0..n {
        let fw: Framework = serde_json::from_value(json!({
            "apiVersion": "mesos.operator.dev/v1alpha1",
            "kind": "Framework",
            "metadata": { "name": framework_name(i), "namespace": ns },
            "spec": { "scheduler": "Builtin" }
        }))?;
        api.create(&PostParams::default(), &fw)
            .await
            .with_context(|| format!("creating framework {}", framework_name(i)))?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let registered = api
            .list(&Default::default())
            .await?
            .items
            .iter()
            .filter(|f| {
                f.status.as_ref().is_some_and(|s| {
                    s.conditions
                        .iter()
                        .any(|c| c.type_ == "Registered" && c.status == "True")
                })
            })
            .count();
        if registered >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "only {registered} of {n} frameworks registered after 60 s; is the operator running?"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Where an object is, as the watch sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Pending,
    Running,
    Finished { failed: bool },
}

fn pod_seen(p: &Pod) -> Seen {
    match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Running") => Seen::Running,
        Some("Succeeded") => Seen::Finished { failed: false },
        Some("Failed") => Seen::Finished { failed: true },
        _ => Seen::Pending,
    }
}

/// A Job is finished when its Complete or Failed condition is True; running once a pod
/// of it is ready (the pods' own watch gives the running instant, see `run`).
fn job_seen(j: &Job) -> Seen {
    let status = j.status.as_ref();
    let condition = |type_: &str| {
        status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == type_ && c.status == "True"))
    };
    if condition("Complete") {
        Seen::Finished { failed: false }
    } else if condition("Failed") {
        Seen::Finished { failed: true }
    } else if status.and_then(|s| s.ready).unwrap_or(0) > 0 {
        Seen::Running
    } else {
        Seen::Pending
    }
}

/// The index of a Job's pod: from the job controller's label.
fn job_pod_index(p: &Pod) -> Option<usize> {
    object_index(p.labels().get(JOB_NAME_LABEL)?)
}

fn by_name<K: Resource>(o: &K) -> Option<usize> {
    object_index(&o.meta().name.clone().unwrap_or_default())
}

fn task_seen(t: &Task) -> Seen {
    match t.status.as_ref().and_then(|s| s.state) {
        Some(TaskState::Running) => Seen::Running,
        Some(TaskState::Finished) => Seen::Finished { failed: false },
        Some(state) if state.is_terminal() => Seen::Finished { failed: true },
        _ => Seen::Pending,
    }
}

/// Counters the progress line reads.
#[derive(Default)]
struct Progress {
    created: AtomicUsize,
    running: AtomicUsize,
    finished: AtomicUsize,
}

/// Watches `api` until all `n` objects are terminal or `deadline`; returns each one's
/// running and finished instants. Signals `ready` once the initial list is in.
async fn track<K>(
    api: Api<K>,
    n: usize,
    index: fn(&K) -> Option<usize>,
    seen: fn(&K) -> Seen,
    progress: Arc<Progress>,
    ready: tokio::sync::oneshot::Sender<()>,
    deadline: Instant,
) -> Vec<Timeline>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let mut timelines = vec![Timeline::default(); n];
    let mut ready = Some(ready);
    let mut finished = 0usize;
    let stream = watcher::watcher(api, watcher::Config::default().any_semantic());
    let mut stream = std::pin::pin!(stream);
    let sleep = tokio::time::sleep_until(deadline.into());
    tokio::pin!(sleep);
    while finished < n {
        let event = tokio::select! {
            _ = &mut sleep => break,
            e = stream.next() => e,
        };
        let object = match event {
            None => break,
            Some(Err(e)) => {
                eprintln!("  watch error (the watcher retries): {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            Some(Ok(Event::InitDone)) => {
                if let Some(tx) = ready.take() {
                    let _ = tx.send(());
                }
                continue;
            }
            Some(Ok(Event::Apply(o) | Event::InitApply(o))) => o,
            Some(Ok(Event::Delete(_) | Event::Init)) => continue,
        };
        let Some(t) = index(&object).and_then(|i| timelines.get_mut(i)) else {
            continue;
        };
        let now = Instant::now();
        match seen(&object) {
            Seen::Pending => {}
            Seen::Running => {
                if t.running.is_none() && t.finished.is_none() {
                    t.running = Some(now);
                    progress.running.fetch_add(1, Ordering::Relaxed);
                }
            }
            Seen::Finished { failed } => {
                if t.finished.is_none() {
                    if t.running.is_none() {
                        progress.running.fetch_add(1, Ordering::Relaxed);
                    }
                    t.finished = Some(now);
                    t.failed = failed;
                    finished += 1;
                    progress.finished.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    timelines
}

/// Runs one workload in its namespace (which must exist, frameworks included for the
/// operator) and returns its figures; the namespace is left for the caller to delete.
pub async fn run(client: &Client, kind: Kind, plan: &Plan) -> Result<Figures> {
    let ns = kind.namespace();
    let progress = Arc::new(Progress::default());
    // Jobs: finished is counted from the Jobs' conditions, not from their pods.
    let job_progress = Arc::new(Progress::default());
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let deadline = Instant::now() + plan.timeout;
    let n = plan.tasks;
    let pods = || Api::<Pod>::namespaced(client.clone(), &ns);
    let (tracker, job_tracker) = match kind {
        Kind::Operator => (
            tokio::spawn(track(
                Api::<Task>::namespaced(client.clone(), &ns),
                n,
                by_name,
                task_seen,
                progress.clone(),
                ready_tx,
                deadline,
            )),
            None,
        ),
        Kind::Bare | Kind::Scheduler => (
            tokio::spawn(track(
                pods(),
                n,
                by_name,
                pod_seen,
                progress.clone(),
                ready_tx,
                deadline,
            )),
            None,
        ),
        Kind::Jobs | Kind::Kueue => {
            // Running from the pods (as for the other workloads), finished from the Jobs'
            // conditions: what a user of Jobs waits for.
            let (jobs_ready_tx, jobs_ready_rx) = tokio::sync::oneshot::channel();
            let jobs = tokio::spawn(track(
                Api::<Job>::namespaced(client.clone(), &ns),
                n,
                by_name,
                job_seen,
                job_progress.clone(),
                jobs_ready_tx,
                deadline,
            ));
            tokio::time::timeout(Duration::from_secs(60), jobs_ready_rx)
                .await
                .context("the Job watch did not list within 60 s")?
                .context("the Job watch stopped before its first list")?;
            (
                tokio::spawn(track(
                    pods(),
                    n,
                    job_pod_index,
                    pod_seen,
                    progress.clone(),
                    ready_tx,
                    deadline,
                )),
                Some(jobs),
            )
        }
    };
    tokio::time::timeout(Duration::from_secs(60), ready_rx)
        .await
        .context("the watch did not list within 60 s")?
        .context("the watch stopped before its first list")?;

    // Build every object first, so that the clock measures the API path only.
    let objects: Vec<serde_json::Value> = (0..n)
        .map(|i| match kind {
            Kind::Operator => task(plan, &ns, i).and_then(|t| Ok(serde_json::to_value(t)?)),
            Kind::Jobs | Kind::Kueue => {
                job(plan, &ns, kind, i).and_then(|j| Ok(serde_json::to_value(j)?))
            }
            Kind::Bare | Kind::Scheduler => {
                pod(plan, &ns, kind, i).and_then(|p| Ok(serde_json::to_value(p)?))
            }
        })
        .collect::<Result<_>>()?;

    let reporter = {
        let progress = progress.clone();
        let finished = match kind {
            Kind::Jobs | Kind::Kueue => job_progress.clone(),
            _ => progress.clone(),
        };
        let start = Instant::now();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                eprintln!(
                    "  {:>5.0} s  created {:>6}  running {:>6}  finished {:>6}  of {n}",
                    since(start),
                    progress.created.load(Ordering::Relaxed),
                    progress.running.load(Ordering::Relaxed),
                    finished.finished.load(Ordering::Relaxed),
                );
            }
        })
    };

    let start = Instant::now();
    let created_at: Vec<Option<Instant>> = stream::iter(objects.into_iter().enumerate())
        .map(|(i, object)| {
            let client = client.clone();
            let ns = ns.clone();
            let progress = progress.clone();
            async move {
                let sent = Instant::now();
                let result = match kind {
                    Kind::Operator => create::<Task>(&client, &ns, object).await,
                    Kind::Jobs | Kind::Kueue => create::<Job>(&client, &ns, object).await,
                    Kind::Bare | Kind::Scheduler => create::<Pod>(&client, &ns, object).await,
                };
                match result {
                    Ok(()) => {
                        progress.created.fetch_add(1, Ordering::Relaxed);
                        Ok(Some(sent))
                    }
                    Err(e) => {
                        eprintln!("  create {} failed: {e:#}", object_name(i));
                        Ok::<_, anyhow::Error>(None)
                    }
                }
            }
        })
        .buffered(plan.concurrency.max(1))
        .try_collect()
        .await?;
    let created_until = Instant::now();
    eprintln!(
        "  {n} creates answered in {:.1} s",
        created_until.duration_since(start).as_secs_f64()
    );

    let mut timelines = tracker.await.context("the watch task panicked")?;
    if let Some(jobs) = job_tracker {
        let jobs = jobs.await.context("the Job watch task panicked")?;
        for (t, j) in timelines.iter_mut().zip(jobs) {
            t.running = t.running.or(t.finished);
            t.finished = j.finished;
            t.failed = j.failed;
        }
    }
    reporter.abort();
    let stuck: Vec<String> = timelines
        .iter()
        .enumerate()
        .filter(|(_, t)| t.finished.is_none())
        .map(|(i, _)| object_name(i))
        .collect();
    if !stuck.is_empty() {
        describe_stuck(client, kind, &ns, &stuck).await;
    }
    for (t, c) in timelines.iter_mut().zip(created_at) {
        t.created = c;
    }
    Ok(Figures::compute(&timelines, start, created_until))
}

/// Prints what the API server says about (up to 10 of) the objects never seen finished.
async fn describe_stuck(client: &Client, kind: Kind, ns: &str, names: &[String]) {
    eprintln!(
        "  {} objects not seen finished; the first ones now:",
        names.len()
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let tasks: Api<Task> = Api::namespaced(client.clone(), ns);
    for name in names.iter().take(10) {
        let pod = pods.get_opt(name).await.ok().flatten();
        let phase = pod
            .as_ref()
            .and_then(|p| p.status.as_ref()?.phase.clone())
            .unwrap_or_else(|| "<no pod>".into());
        let node = pod
            .as_ref()
            .and_then(|p| p.spec.as_ref()?.node_name.clone())
            .unwrap_or_default();
        let task = match kind {
            Kind::Operator => match tasks.get_opt(name).await {
                Ok(Some(t)) => t
                    .status
                    .as_ref()
                    .map(|s| {
                        format!(
                            "{:?} rv {}",
                            s.state,
                            t.resource_version().unwrap_or_default()
                        )
                    })
                    .unwrap_or_else(|| "<no status>".into()),
                _ => "<no task>".into(),
            },
            _ => String::new(),
        };
        eprintln!("    {name}: pod {phase} on {node:?} {task}");
    }
}

/// Creates one object, retrying what the API server asks to retry (429, 5xx, timeouts).
async fn create<K>(client: &Client, ns: &str, object: serde_json::Value) -> Result<()>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let object: K = serde_json::from_value(object)?;
    let mut attempt = 0u32;
    loop {
        match api.create(&PostParams::default(), &object).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => return Ok(()),
            Err(kube::Error::Api(s)) if (s.code == 429 || s.code >= 500) && attempt < 10 => {}
            Err(kube::Error::Service(_) | kube::Error::HyperError(_)) if attempt < 10 => {}
            Err(e) => return Err(e.into()),
        }
        attempt += 1;
        tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            tasks: 4,
            frameworks: 3,
            run_for: "5s".into(),
            concurrency: 2,
            nodes: vec!["n0".into(), "n1".into()],
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(object_index(&object_name(42)), Some(42));
        assert_eq!(object_index("other"), None);
    }

    #[test]
    fn bare_and_scheduler_pods_match_the_operators() -> Result<()> {
        let plan = plan();
        let t = task(&plan, "ns", 4)?;
        assert_eq!(t.spec.framework, "fw-1");
        let bare = pod(&plan, "ns", Kind::Bare, 3)?;
        let spec = bare.spec.as_ref().context("spec")?;
        assert_eq!(spec.node_name.as_deref(), Some("n1"));
        let c = spec.containers.first().context("container")?;
        let requests = c
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .context("requests")?;
        assert_eq!(requests.get("cpu").map(|q| q.0.as_str()), Some("100m"));
        assert_eq!(
            bare.annotations().get(RUN_FOR).map(String::as_str),
            Some("5s")
        );
        assert!(bare.owner_references().is_empty());
        let scheduled = pod(&plan, "ns", Kind::Scheduler, 3)?;
        assert_eq!(scheduled.spec.context("spec")?.node_name, None);
        Ok(())
    }
}
