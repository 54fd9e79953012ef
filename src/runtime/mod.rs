//! The process around the controllers, all I/O: the shared [`Context`] (settings, caches
//! and their indexes, the placement ledger), start-up ([`run`]: watches, leader election,
//! every controller), and the plumbing each controller uses: the reconcile scaffold,
//! Events, metrics, tracing, the deserialize guard and the report of invalid objects.
//! The reconcilers themselves live with their subsystem (`master::reconcile`,
//! `services`, `jobs`, `scheduler_api`).

pub mod api_requests;
pub mod cache;
pub mod cached_pod;
pub mod events;
pub mod guard;
pub mod invalid;
pub mod leader;
pub mod metrics;
pub mod scaffold;
pub mod status_patch;
pub mod telemetry;

use crate::master::reconcile::{allocation, framework, offer, role, task};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use tracing::{info, warn};

use crate::api::{Framework, Offer, ResourceRole, Resources, Task};
use crate::error::{Error, KubeContext, Result};
use crate::runtime::cached_pod::CachedPod;
use crate::runtime::events::EventRecorder;
use crate::runtime::guard::Guarded;
use cache::{IndexKey, Shared, trim_metadata};
use status_patch::StatusPatch;

/// The one field manager every write of the operator uses.
pub const FIELD_MANAGER: &str = "mesos-operator";

/// Settings of `mesos-operator run`.
#[derive(clap::Args, Debug, Clone)]
pub struct Settings {
    /// Watch Frameworks and Tasks in this namespace only (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub namespace: Option<String>,

    /// Implicit reconciliation: every object is reconciled again this often, repairing
    /// any drift. A duration such as `5m` or `300s`.
    #[arg(long, env = "RESYNC_PERIOD", default_value = "5m", value_parser = parse_duration)]
    pub resync_period: Duration,

    /// How many objects each controller reconciles at once.
    #[arg(long, env = "RECONCILE_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,

    /// How many BatchJobs are reconciled at once. Jobs due at the same instant (every
    /// `* * * * *` job at the top of the minute) wait for each other's API writes; a
    /// reconcile mostly waits on the API server, so this is larger than
    /// `--reconcile-concurrency`.
    #[arg(long, env = "JOB_CONCURRENCY", default_value_t = 64)]
    pub job_concurrency: u16,

    /// Manage only the Nodes matching this label selector (a dedicated node pool, e.g.
    /// `pool=mesos`); default: every Node.
    #[arg(long, env = "NODE_SELECTOR")]
    pub node_selector: Option<String>,

    /// How often the allocator runs (Mesos `allocation_interval`); it also runs soon after
    /// tasks, pods, frameworks or offers change.
    #[arg(long, env = "ALLOCATION_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub allocation_interval: Duration,

    /// How often a task that fits on no agent is retried.
    #[arg(long, env = "UNSCHEDULABLE_RETRY", default_value = "5s", value_parser = parse_duration)]
    pub unschedulable_retry: Duration,

    /// Status coalescing: a task's progress into TASK_STAGING or TASK_STARTING, with
    /// nothing else to report, is written only once it has lasted this long (counted from
    /// the task's, then the pod's, creation). A task that starts running sooner gets one
    /// status write for all of it. `0s` writes every transition at once.
    #[arg(long, env = "STATUS_COALESCE", default_value = "2s", value_parser = parse_duration)]
    pub status_coalesce: Duration,

    /// Which Events the operator publishes about Tasks: `warnings` (failures, losses,
    /// unschedulable: what people act on) or `all` (Launched, Finished and Killed too).
    /// Every Event is an API write: with `warnings` a short task that succeeds costs two
    /// writes fewer (of about nine; `bench/README.md`, "Cost per task"). A Framework's
    /// `status.tasks` counts its tasks by state either way. Frameworks and Offers always
    /// get all of theirs.
    #[arg(long, env = "TASK_EVENTS", value_enum, default_value_t = TaskEvents::Warnings)]
    pub task_events: TaskEvents,

    /// How statuses are written: `merge` (a JSON merge patch of the fields that changed)
    /// or `apply` (server-side apply of the whole status). Both carry the object's
    /// resourceVersion as a precondition; a merge patch of a Task's status costs the API
    /// server a fifth less CPU (`bench/README.md`, "Cost per task").
    #[arg(long, env = "STATUS_PATCH", value_enum, default_value_t = StatusPatch::Merge)]
    pub status_patch: StatusPatch,

    /// Leader election (`--leader-elect` and its timings).
    #[command(flatten)]
    pub leader_election: crate::runtime::leader::LeaderElection,

    /// The `/metrics`, `/healthz` and `/readyz` server (`--metrics-addr`).
    #[command(flatten)]
    pub server: crate::runtime::metrics::ServerSettings,

    #[command(flatten)]
    pub scheduler_api: crate::scheduler_api::ApiSettings,

    /// The Apps validating admission webhook (`--webhook-addr`, off by default).
    #[command(flatten)]
    pub admission: crate::admission::WebhookSettings,
}

/// Which Task Events are published (`--task-events`).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskEvents {
    /// Every transition worth an Event.
    All,
    /// Only Warning Events.
    Warnings,
}

/// Parses a Go-style duration (`300ms`, `5s`, `2m`, `1h`).
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let d: kube::core::Duration = s
        .parse()
        .map_err(|e| format!("invalid duration {s:?}: {e}"))?;
    if d.is_negative() {
        return Err(format!("duration {s:?} must not be negative"));
    }
    Ok(d.into())
}

/// Everything a reconciler needs: the client, the stores and the placement ledger.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Every Node.
    pub nodes: Shared<Node>,
    /// Every Pod in the cluster (other workloads count against node capacity).
    pub pods: Shared<CachedPod>,
    /// Frameworks in the watched namespace(s).
    pub frameworks: Shared<Framework>,
    /// Tasks in the watched namespace(s), shared by the controllers.
    pub tasks: Shared<Task>,
    /// Offers in the watched namespace(s).
    pub offers: Shared<Offer>,
    /// Every ResourceRole.
    pub roles: Shared<ResourceRole>,
    /// Leases in the watched namespace(s): External schedulers' liveness.
    pub leases: Shared<Lease>,
    /// Why the allocator could not place each waiting Builtin task (`namespace/name`).
    pub unplaced: Mutex<HashMap<String, String>>,
    /// Pods of Builtin tasks the API server refused (`namespace/name` → message).
    pub launch_errors: Mutex<HashMap<String, String>>,
    /// Wakes the allocation loop before its next tick.
    pub allocation_wakeup: tokio::sync::Notify,
    /// Pod creations of Builtin tasks in flight, at most this many at once.
    pub launch_slots: tokio::sync::Semaphore,
    cycles: std::sync::atomic::AtomicU64,
    /// Settings.
    pub settings: Settings,
    /// Pods created but not yet seen in the pod store, so that concurrent placements never
    /// count the same free resources twice.
    pub placements: Mutex<Assumed>,
    /// Per-object retry counts for backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// Prometheus metrics (reconciles, allocation cycles, offers).
    pub metrics: Arc<crate::runtime::metrics::Metrics>,
    /// One recorder for the process, so that repeated Events aggregate into a series.
    recorder: EventRecorder,
    /// Objects of the watched kinds that do not read as their type, to report on.
    pub invalids: Arc<invalid::Invalids>,
}

/// Pods the operator created that the pod store has not shown yet.
#[derive(Default)]
pub struct Assumed {
    entries: HashMap<(String, String), (String, Resources, Instant)>,
}

impl Assumed {
    const TTL: Duration = Duration::from_secs(60);

    /// Records a created pod.
    pub fn insert(&mut self, namespace: &str, name: &str, node: &str, resources: Resources) {
        self.entries.insert(
            (namespace.into(), name.into()),
            (node.into(), resources, Instant::now()),
        );
    }

    /// Whether pod `namespace/name` is reserved: its create is queued or in flight, or
    /// done and not yet in the pod store.
    pub fn contains(&self, namespace: &str, name: &str) -> bool {
        self.entries
            .contains_key(&(namespace.to_string(), name.to_string()))
    }

    /// Forgets a pod whose creation failed.
    pub fn remove(&mut self, namespace: &str, name: &str) {
        self.entries
            .remove(&(namespace.to_string(), name.to_string()));
    }

    /// Drops entries that `pods` shows (or that are too old to matter) and returns the
    /// remaining pods.
    ///
    /// `pods` must be the very snapshot the caller counts usage from: checked against the
    /// live store instead, a pod that arrived between the caller's snapshot and this call
    /// would be counted by neither, and its node would look free (double booking under
    /// load).
    pub fn pending(&mut self, pods: &[Arc<CachedPod>]) -> Vec<PendingPod> {
        if !self.entries.is_empty() {
            let shown: std::collections::HashSet<(String, String)> = pods
                .iter()
                .filter_map(|p| Some((p.namespace()?, p.name_any())))
                .collect();
            self.entries
                .retain(|key, (_, _, at)| at.elapsed() < Self::TTL && !shown.contains(key));
        }
        self.entries
            .iter()
            .map(|((namespace, name), (node, resources, _))| PendingPod {
                namespace: namespace.clone(),
                name: name.clone(),
                node: node.clone(),
                resources: resources.clone(),
            })
            .collect()
    }
}

/// A pod the operator created (or is creating) that the pod store has not shown yet.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingPod {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name (its task's name).
    pub name: String,
    /// The node it is bound to.
    pub node: String,
    /// What it requests.
    pub resources: Resources,
}

impl Context {
    /// Records the Event a pure decision planned (see [`Context::event`]).
    pub async fn emit<K>(&self, obj: &K, event: &crate::master::planned_event::PlannedEvent)
    where
        K: Resource<DynamicType = ()>,
    {
        let type_ = match event.severity {
            crate::master::planned_event::EventSeverity::Normal => NORMAL,
            crate::master::planned_event::EventSeverity::Warning => WARNING,
        };
        self.event(obj, type_, event.reason, event.note.clone(), event.action)
            .await;
    }

    /// Publishes an Event about `obj` (best effort: failures are logged, not returned).
    pub async fn event<K>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        note: String,
        action: &str,
    ) where
        K: Resource<DynamicType = ()>,
    {
        if type_ == NORMAL
            && self.settings.task_events == TaskEvents::Warnings
            && K::kind(&()) == "Task"
        {
            return;
        }
        if let Err(e) = self
            .recorder
            .publish(obj.object_ref(&()), type_, reason, action, note)
            .await
        {
            warn!(error = %e, reason, "could not publish event");
        }
    }

    /// Deletes an Offer; one already gone counts as deleted. Returns whether this call
    /// deleted it. `why` says what the operator was doing, for the error.
    pub async fn delete_offer(&self, namespace: &str, name: &str, why: &str) -> Result<bool> {
        let api: Api<Offer> = Api::namespaced(self.client.clone(), namespace);
        match api.delete(name, &kube::api::DeleteParams::default()).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(e) => Err(Error::Kube {
                context: format!("{why} (offer {name})"),
                source: e,
            }),
        }
    }

    /// A fresh seed for each allocation cycle's agent shuffle.
    pub fn allocation_seed(&self) -> u64 {
        self.cycles
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Backoff for an object whose reconcile failed: 0.5 s doubling up to 5 min.
    pub fn backoff(&self, key: String) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = failures.entry(key).or_insert(0);
        *n = n.saturating_add(1);
        let millis = 500u64.saturating_mul(1u64 << (*n - 1).min(10));
        Duration::from_millis(millis.min(300_000))
    }

    /// Forgets an object's failures after a successful reconcile.
    pub fn reset_backoff(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(key);
    }

    /// Writes `status` of the namespaced `obj` through the status subresource, as a merge
    /// patch of what changed or a server-side apply (`--status-patch`). The object's
    /// resourceVersion is a precondition, so a status computed from a stale object is
    /// refused (409) instead of overwriting a newer one.
    pub async fn apply_status<K>(&self, obj: &K, status: &impl Serialize) -> Result<()>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + Serialize
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let ns = obj.namespace().ok_or(Error::MissingField {
            kind: "object",
            field: "metadata.namespace",
        })?;
        write_status(
            Api::<K>::namespaced(self.client.clone(), &ns),
            obj,
            status,
            self.settings.status_patch,
        )
        .await
    }

    /// [`Context::apply_status`] for a cluster-scoped `obj`.
    pub async fn apply_cluster_status<K>(&self, obj: &K, status: &impl Serialize) -> Result<()>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::ClusterResourceScope>
            + Clone
            + Serialize
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        write_status(
            Api::<K>::all(self.client.clone()),
            obj,
            status,
            self.settings.status_patch,
        )
        .await
    }
}

/// The status write both scopes share: a server-side apply of `status`, or a merge patch
/// of what changed in it ([`status_patch`]), with the object's resourceVersion as a
/// precondition.
async fn write_status<K>(
    api: Api<K>,
    obj: &K,
    status: &impl Serialize,
    how: StatusPatch,
) -> Result<()>
where
    K: Resource<DynamicType = ()>
        + Clone
        + Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let name = obj.name_any();
    let context = || format!("updating the status of {} {name}", K::kind(&()));
    match how {
        StatusPatch::Apply => {
            let patch = serde_json::json!({
                "apiVersion": K::api_version(&()),
                "kind": K::kind(&()),
                "metadata": { "name": name, "resourceVersion": obj.resource_version() },
                "status": status,
            });
            api.patch_status(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
            .context(context)?;
        }
        StatusPatch::Merge => {
            let encode = |v: serde_json::Result<serde_json::Value>| {
                v.map_err(|source| Error::Serde {
                    context: format!("encoding the status of {} {name}", K::kind(&())),
                    source,
                })
            };
            let current = encode(serde_json::to_value(obj))?
                .get_mut("status")
                .map(serde_json::Value::take)
                .unwrap_or_default();
            let next = encode(serde_json::to_value(status))?;
            let Some(body) =
                status_patch::merge_body(&current, &next, obj.resource_version().as_deref())
            else {
                return Ok(());
            };
            let params = PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..PatchParams::default()
            };
            api.patch_status(&name, &params, &Patch::Merge(&body))
                .await
                .context(context)?;
        }
    }
    Ok(())
}

/// A task's index keys: its framework, the offer it was launched on, the BatchJob it is a
/// run of, the App it is an instance of.
pub fn task_keys(task: &Task) -> Vec<IndexKey> {
    let ns = task.namespace().unwrap_or_default();
    let mut keys = vec![IndexKey::Framework(ns.clone(), task.spec.framework.clone())];
    if let Some(offer) = &task.spec.offer {
        keys.push(IndexKey::Offer(ns.clone(), offer.clone()));
    }
    for label in [
        crate::api::batchjob::LABEL_BATCHJOB,
        crate::api::app::LABEL_APP,
    ] {
        if let Some(owner) = task.labels().get(label) {
            keys.push(IndexKey::Label(ns.clone(), label, owner.clone()));
        }
    }
    keys
}

/// An offer's index key: its framework.
pub fn offer_keys(offer: &Offer) -> Vec<IndexKey> {
    vec![IndexKey::Framework(
        offer.namespace().unwrap_or_default(),
        offer.spec.framework.clone(),
    )]
}

/// A pod's index key: the node it is bound to, once it is.
pub fn pod_keys(pod: &CachedPod) -> Vec<IndexKey> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .map(IndexKey::Node)
        .into_iter()
        .collect()
}

impl Context {
    /// The cached tasks of framework `ns/name`.
    pub fn tasks_of_framework(&self, ns: &str, name: &str) -> Vec<Arc<Task>> {
        self.tasks
            .indexed(&IndexKey::Framework(ns.to_string(), name.to_string()))
    }

    /// The cached tasks launched on offer `ns/name`.
    pub fn tasks_on_offer(&self, ns: &str, name: &str) -> Vec<Arc<Task>> {
        self.tasks
            .indexed(&IndexKey::Offer(ns.to_string(), name.to_string()))
    }

    /// The cached offers of framework `ns/name`.
    pub fn offers_of_framework(&self, ns: &str, name: &str) -> Vec<Arc<Offer>> {
        self.offers
            .indexed(&IndexKey::Framework(ns.to_string(), name.to_string()))
    }
}

/// Key of an object for backoff bookkeeping.
pub fn key_of<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    format!(
        "{}/{}/{}",
        K::kind(&()),
        obj.meta().namespace.as_deref().unwrap_or(""),
        obj.meta().name.as_deref().unwrap_or("")
    )
}

/// Starts the shared watch of a kind a subsystem's controller owns (BatchJob, App), read
/// through the guard in the watched namespace(s), and waits for its first list; `None`
/// (logged) when the watch stops before that, and the controller does not run.
pub async fn watch_owned_kind<K>(ctx: &Context) -> Option<Shared<K>>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let shared = cache::spawn(
        scoped(&ctx.client, ctx.settings.namespace.as_deref()),
        watcher::Config::default(),
        trim_metadata::<K>,
        ctx.invalids.clone(),
        cache::no_index,
    );
    if let Err(e) = shared.wait_until_ready().await {
        warn!(kind = %K::kind(&()), error = %e, "watch stopped before its first list; its controller does not run");
        return None;
    }
    info!(kind = %K::kind(&()), objects = shared.len(), "controller started");
    Some(shared)
}

/// The objects of `shared` in namespace `ns` whose `refs` (parents, dependencies) name
/// `name`: what a change of `name` concerns.
pub fn referring<K>(
    shared: &Shared<K>,
    ns: &str,
    name: &str,
    refs: impl Fn(&K) -> &[String],
) -> Vec<kube::runtime::reflector::ObjectRef<K>>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    shared
        .state()
        .iter()
        .filter(|k| k.namespace().as_deref() == Some(ns))
        .filter(|k| refs(k).iter().any(|r| r == name))
        .map(|k| kube::runtime::reflector::ObjectRef::from_obj(&**k))
        .collect()
}

fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Runs the operator until SIGTERM/SIGINT.
pub async fn run(settings: Settings) -> Result<()> {
    let api_requests = crate::runtime::api_requests::RequestCounters::default();
    let config = kube::Config::infer()
        .await
        .map_err(|e| Error::Config(e.to_string()))?;
    let client = kube::client::ClientBuilder::try_from(config)
        .map_err(|e| Error::Config(e.to_string()))?
        .with_layer(&crate::runtime::api_requests::CountRequestsLayer::new(
            api_requests.clone(),
        ))
        .build();
    let namespace = settings.namespace.clone();

    // A clear answer when the CRDs are missing, instead of endless watch errors.
    // Guarded: one Task that does not read must not stop the operator from starting.
    scoped::<Guarded<Task>>(&client, namespace.as_deref())
        .list(&ListParams::default().limit(1))
        .await
        .map_err(|e| Error::Config(format!(
            "cannot list Tasks ({e}); are the CRDs installed? `mesos-operator crds | kubectl apply --server-side -f -`"
        )))?;

    let mut node_config = watcher::Config::default();
    if let Some(selector) = settings.node_selector.as_deref() {
        node_config = node_config.labels(selector);
    }
    let invalids = Arc::new(invalid::Invalids::default());
    let all = watcher::Config::default;
    let nodes = cache::spawn(
        Api::all(client.clone()),
        node_config,
        trim_metadata::<Node>,
        invalids.clone(),
        cache::no_index,
    );
    let pods = cache::spawn(
        Api::all(client.clone()),
        all(),
        crate::runtime::cached_pod::trim,
        invalids.clone(),
        pod_keys,
    );
    let frameworks = cache::spawn(
        scoped(&client, namespace.as_deref()),
        all(),
        trim_metadata::<Framework>,
        invalids.clone(),
        cache::no_index,
    );
    let tasks = cache::spawn(
        scoped(&client, namespace.as_deref()),
        all(),
        trim_metadata::<Task>,
        invalids.clone(),
        task_keys,
    );
    let offers = cache::spawn(
        scoped(&client, namespace.as_deref()),
        all(),
        trim_metadata::<Offer>,
        invalids.clone(),
        offer_keys,
    );
    let roles = cache::spawn(
        Api::all(client.clone()),
        all(),
        trim_metadata::<ResourceRole>,
        invalids.clone(),
        cache::no_index,
    );
    let leases = cache::spawn(
        scoped(&client, namespace.as_deref()),
        all(),
        trim_metadata::<Lease>,
        invalids.clone(),
        cache::no_index,
    );
    let mut metrics =
        crate::runtime::metrics::Metrics::new(Some(crate::runtime::metrics::ClusterStores {
            nodes: nodes.store(),
            pods: pods.store(),
            frameworks: frameworks.store(),
            tasks: tasks.store(),
            offers: offers.store(),
        }));
    metrics.register_api_requests(api_requests);
    metrics.register_refused(invalids.metrics());
    let admission_reviews = crate::admission::server::Reviews::default();
    metrics.register_admission(admission_reviews.clone());
    let metrics = Arc::new(metrics);
    crate::runtime::metrics::serve(settings.server.metrics_addr, metrics.clone()).await?;
    // Every replica serves the admission webhook, leader or not.
    crate::admission::serve(
        &settings.admission,
        client.clone(),
        namespace.as_deref(),
        admission_reviews,
    )
    .await?;
    // The Mesos HTTP API answers 503 until this replica leads.
    let leader_record = settings.leader_election.enabled.then(|| {
        let pod_namespace = std::env::var("POD_NAMESPACE").ok();
        (
            crate::runtime::leader::lease_namespace(
                &settings.leader_election,
                namespace.as_deref(),
                pod_namespace.as_deref(),
            ),
            crate::scheduler_api::server::leader_record_name(&crate::runtime::leader::lease_name(
                &settings.leader_election,
                namespace.as_deref(),
            )),
        )
    });
    let scheduler_api = crate::scheduler_api::server::serve(
        settings.scheduler_api.clone(),
        namespace.as_deref(),
        client.clone(),
        leader_record,
    )
    .await?
    .map(|(_, leading)| leading);
    let synced = [
        nodes.wait_until_ready().await,
        pods.wait_until_ready().await,
        frameworks.wait_until_ready().await,
        tasks.wait_until_ready().await,
        offers.wait_until_ready().await,
        roles.wait_until_ready().await,
        leases.wait_until_ready().await,
    ];
    for ready in synced {
        ready.map_err(|e| Error::Config(format!("watch stopped before its first list: {e}")))?;
    }
    info!(
        namespace = namespace.as_deref().unwrap_or("<all>"),
        nodes = nodes.len(),
        pods = pods.len(),
        frameworks = frameworks.len(),
        tasks = tasks.len(),
        "caches synced"
    );
    metrics.set_synced();

    // With --leader-elect, only the holder of the Lease runs the controllers; the caches
    // above are warm on every replica, so a take-over starts reconciling at once.
    let mut leadership = None;
    if settings.leader_election.enabled {
        let elector = crate::runtime::leader::Elector::new(
            client.clone(),
            &settings.leader_election,
            namespace.as_deref(),
        )?;
        match elector
            .acquire(crate::runtime::leader::shutdown_signal())
            .await?
        {
            Some(held) => leadership = Some(held),
            None => return Ok(()),
        }
    }
    metrics.set_leading(true);
    info!("starting controllers");

    let instance = std::env::var("POD_NAME")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok());
    let recorder = EventRecorder::new(client.clone(), FIELD_MANAGER, instance);
    let ctx = Arc::new(Context {
        client,
        nodes,
        pods,
        frameworks,
        tasks,
        offers,
        roles,
        leases,
        unplaced: Mutex::new(HashMap::new()),
        launch_errors: Mutex::new(HashMap::new()),
        allocation_wakeup: tokio::sync::Notify::new(),
        launch_slots: tokio::sync::Semaphore::new(allocation::WRITE_CONCURRENCY),
        cycles: std::sync::atomic::AtomicU64::new(0),
        settings,
        placements: Mutex::new(Assumed::default()),
        failures: Mutex::new(HashMap::new()),
        metrics,
        recorder,
        invalids,
    });

    if let Some(api) = &scheduler_api {
        api.set(ctx.clone()).await;
    }
    let allocation = tokio::spawn(allocation::run(ctx.clone()));
    let reporter = tokio::spawn(invalid::run(ctx.clone()));
    let controllers = async {
        tokio::join!(
            task::run(ctx.clone()),
            framework::run(ctx.clone()),
            offer::run(ctx.clone()),
            role::run(ctx.clone()),
            crate::jobs::run(ctx.clone()),
            crate::services::run(ctx.clone())
        );
    };
    let result = match leadership {
        None => {
            controllers.await;
            Ok(())
        }
        Some(mut held) => {
            let lost = tokio::select! {
                () = controllers => false,
                () = held.lost() => true,
            };
            if lost {
                Err(Error::LeadershipLost(held.lease().to_string()))
            } else {
                held.release().await
            }
        }
    };
    allocation.abort();
    reporter.abort();
    info!("controllers stopped");
    result
}

/// A stream that ticks every `period` (first tick after one period), for implicit
/// reconciliation of every object.
pub fn resync_ticks(period: Duration) -> impl futures::Stream<Item = ()> + Send + 'static {
    futures::stream::unfold((), move |()| async move {
        tokio::time::sleep(period).await;
        Some(((), ()))
    })
}

/// A pod as a server-side apply body (apiVersion and kind included).
pub fn pod_apply_body(pod: &Pod) -> serde_json::Value {
    let mut value = serde_json::to_value(pod).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.insert("apiVersion".into(), "v1".into());
        obj.insert("kind".into(), "Pod".into());
    }
    value
}

/// Events' type for warnings.
pub const WARNING: EventType = EventType::Warning;
/// Events' type for normal transitions.
pub const NORMAL: EventType = EventType::Normal;

#[cfg(test)]
mod assumed_tests {
    use super::*;

    fn cached(ns: &str, name: &str) -> Arc<CachedPod> {
        let pod: CachedPod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": ns},
            "spec": {"nodeName": "node-1", "containers": []}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        Arc::new(pod)
    }

    #[test]
    fn a_created_pod_counts_until_the_callers_snapshot_shows_it() {
        let mut ledger = Assumed::default();
        ledger.insert("ns", "a", "node-1", Resources::default());
        ledger.insert("ns", "b", "node-1", Resources::default());
        // An older snapshot without the pods: both still count (the store may show them
        // by now, but the caller counts usage from this snapshot).
        let names = |p: Vec<PendingPod>| {
            let mut n: Vec<String> = p.into_iter().map(|p| p.name).collect();
            n.sort();
            n
        };
        assert_eq!(names(ledger.pending(&[])), ["a", "b"]);
        // A snapshot that shows `a`: it is counted from the snapshot, not the ledger.
        assert_eq!(names(ledger.pending(&[cached("ns", "a")])), ["b"]);
        // A pod of the same name elsewhere does not count as shown.
        assert_eq!(names(ledger.pending(&[cached("other", "b")])), ["b"]);
        assert_eq!(
            names(ledger.pending(&[cached("ns", "b")])),
            Vec::<String>::new()
        );
    }
}
