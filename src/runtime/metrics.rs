//! Observability: Prometheus metrics on `/metrics`, liveness on `/healthz` and readiness
//! on `/readyz`, served by one small HTTP server (`--metrics-addr`).
//!
//! Metric names follow the Mesos master's (`master/tasks_running` is
//! `mesos_master_tasks_running`, `allocator/mesos/allocation_run_ms` is the histogram
//! `mesos_allocator_mesos_allocation_run_seconds`, …); the README has the full mapping.
//! The cluster gauges (tasks, frameworks, agents, resources, offers) are computed from the
//! operator's caches at scrape time by the leader only (a follower reports
//! `mesos_master_elected 0` and no cluster gauges, as a non-leading Mesos master does), so
//! summing over replicas never double-counts. Event counters (reconciles, allocation runs,
//! offers) are fed through the methods of [`Metrics`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use k8s_openapi::api::core::v1::Node;
use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::{info, warn};

use crate::api::{Framework, Offer, Task, TaskState};
use crate::cli::state::{self, Summary};
use crate::error::{Error, Result};
use crate::runtime::cached_pod::CachedPod;

/// Command-line settings of the metrics and health server.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerSettings {
    /// Address of the HTTP server for `/metrics`, `/healthz` and `/readyz`. Port 0 picks a
    /// free port (the bound address is logged).
    #[arg(
        long = "metrics-addr",
        env = "METRICS_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    pub metrics_addr: SocketAddr,
}

/// Label set of the per-controller metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabels {
    controller: String,
}

/// Label set of the reconcile error counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    controller: String,
    category: String,
}

/// Label set of the offer counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OfferLabels {
    namespace: String,
    framework: String,
    outcome: String,
}

/// What happened to an offer (Mesos `master/frameworks/<name>/offers/<outcome>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferOutcome {
    /// Made to a framework.
    Sent,
    /// Tasks were launched on it.
    Accepted,
    /// The framework declined it.
    Declined,
    /// The operator withdrew it.
    Rescinded,
}

impl OfferOutcome {
    /// The label value (`sent`, `accepted`, `declined`, `rescinded`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Rescinded => "rescinded",
        }
    }
}

/// The caches the cluster gauges are computed from.
#[derive(Clone)]
pub struct ClusterStores {
    /// Every Node.
    pub nodes: Store<Node>,
    /// Every Pod.
    pub pods: Store<CachedPod>,
    /// Frameworks of the watched namespace(s).
    pub frameworks: Store<Framework>,
    /// Tasks of the watched namespace(s).
    pub tasks: Store<Task>,
    /// Offers of the watched namespace(s).
    pub offers: Store<Offer>,
}

impl ClusterStores {
    fn summary(&self) -> Summary {
        let nodes = self.nodes.state();
        let pods = self.pods.state();
        let frameworks = self.frameworks.state();
        let tasks = self.tasks.state();
        let offers = self.offers.state();
        Summary::compute(
            nodes.iter().map(|n| &**n),
            pods.iter().map(|p| &**p),
            frameworks.iter().map(|f| &**f),
            tasks.iter().map(|t| &**t),
            offers.iter().map(|o| &**o),
        )
    }
}

/// Process state shared by the collector, the probes and the controllers.
#[derive(Debug)]
struct Status {
    leading: AtomicBool,
    synced: AtomicBool,
    started: Instant,
}

/// Every metric of the operator, and its readiness.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ControllerLabels, Counter>,
    reconcile_errors: Family<ErrorLabels, Counter>,
    reconcile_duration: Family<ControllerLabels, Histogram, fn() -> Histogram>,
    allocation_runs: Counter,
    allocation_duration: Histogram,
    offers: Family<OfferLabels, Counter>,
    job_fire_lateness: Histogram,
    status: Arc<Status>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

fn reconcile_histogram() -> Histogram {
    // 1 ms … ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Metrics {
    /// The registry with every metric; cluster gauges come from `stores` when given.
    pub fn new(stores: Option<ClusterStores>) -> Self {
        let mut registry = Registry::default();
        let reconciles = Family::<ControllerLabels, Counter>::default();
        registry.register(
            "mesos_operator_reconcile",
            "Reconciles run, per controller",
            reconciles.clone(),
        );
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "mesos_operator_reconcile_errors",
            "Reconciles that failed, per controller and error category (conflict, not_found, invalid, forbidden, unavailable, internal)",
            reconcile_errors.clone(),
        );
        let reconcile_duration =
            Family::<ControllerLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                reconcile_histogram,
            );
        registry.register(
            "mesos_operator_reconcile_duration_seconds",
            "Time a reconcile took, per controller",
            reconcile_duration.clone(),
        );
        let allocation_runs = Counter::default();
        registry.register(
            "mesos_allocator_mesos_allocation_runs",
            "Allocation cycles run (Mesos allocator/mesos/allocation_runs)",
            allocation_runs.clone(),
        );
        // 0.1 ms … ~3.3 s.
        let allocation_duration = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "mesos_allocator_mesos_allocation_run_seconds",
            "Time an allocation cycle took (Mesos allocator/mesos/allocation_run_ms, in seconds)",
            allocation_duration.clone(),
        );
        let offers = Family::<OfferLabels, Counter>::default();
        registry.register(
            "mesos_master_framework_offers",
            "Offers by framework and outcome: sent, accepted, declined, rescinded (Mesos master/frameworks/<name>/offers/<outcome>)",
            offers.clone(),
        );
        // 1 ms … ~33 s.
        let job_fire_lateness = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "mesos_operator_batchjob_fire_lateness_seconds",
            "How late a BatchJob run was asked for after its schedule slot",
            job_fire_lateness.clone(),
        );
        let status = Arc::new(Status {
            leading: AtomicBool::new(false),
            synced: AtomicBool::new(false),
            started: Instant::now(),
        });
        registry.register_collector(Box::new(ClusterCollector {
            stores,
            status: status.clone(),
        }));
        Self {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            allocation_runs,
            allocation_duration,
            offers,
            job_fire_lateness,
            status,
        }
    }

    /// Records how late a BatchJob's run was created after its slot.
    pub fn job_fired(&self, lateness: std::time::Duration) {
        self.job_fire_lateness.observe(lateness.as_secs_f64());
    }

    /// Exposes the client-side request counters as `mesos_operator_api_requests_total`.
    pub fn register_api_requests(
        &mut self,
        counters: crate::runtime::api_requests::RequestCounters,
    ) {
        self.registry.register(
            "mesos_operator_api_requests",
            "API server requests sent by the operator, by verb and resource (subresource after a slash)",
            counters,
        );
    }

    /// Exposes `mesos_operator_admission_reviews_total`: AdmissionReviews the Apps webhook
    /// answered, by verdict (src/admission).
    pub fn register_admission(&mut self, reviews: crate::admission::server::Reviews) {
        self.registry.register(
            "mesos_operator_admission_reviews",
            "AdmissionReviews answered by the Apps validating webhook, by verdict (allowed, denied, unchecked, malformed)",
            reviews,
        );
    }

    /// Exposes the deserialize guard's metrics: `mesos_operator_objects_refused_total`
    /// (objects that did not read as their kind, each version once) and
    /// `mesos_operator_objects_invalid` (those currently left out of the caches), by kind.
    pub fn register_refused(
        &mut self,
        (refused, current): (
            Family<crate::runtime::invalid::KindLabels, Counter>,
            Family<crate::runtime::invalid::KindLabels, prometheus_client::metrics::gauge::Gauge>,
        ),
    ) {
        self.registry.register(
            "mesos_operator_objects_refused",
            "Objects that did not deserialize as their kind (left out of the caches and reported on the object), by kind; each object version counts once",
            refused,
        );
        self.registry.register(
            "mesos_operator_objects_invalid",
            "Objects currently left out of the caches because they do not deserialize as their kind, by kind",
            current,
        );
    }

    /// Starts timing one reconcile of `controller`; counted and observed when the returned
    /// guard is dropped (at the end of the reconcile, whatever its outcome).
    pub fn reconcile(&self, controller: &str) -> ReconcileTimer<'_> {
        ReconcileTimer {
            metrics: self,
            controller: controller.to_string(),
            start: Instant::now(),
        }
    }

    /// Counts a failed reconcile of `controller` (call it from the error policy).
    pub fn reconcile_error(&self, controller: &str, category: &str) {
        self.reconcile_errors
            .get_or_create(&ErrorLabels {
                controller: controller.to_string(),
                category: category.to_string(),
            })
            .inc();
    }

    /// Records one allocation cycle that took `took`.
    pub fn allocation_run(&self, took: Duration) {
        self.allocation_runs.inc();
        self.allocation_duration.observe(took.as_secs_f64());
    }

    /// Counts an offer event of `framework` in `namespace`.
    pub fn offer(&self, namespace: &str, framework: &str, outcome: OfferOutcome) {
        self.offers
            .get_or_create(&OfferLabels {
                namespace: namespace.to_string(),
                framework: framework.to_string(),
                outcome: outcome.as_str().to_string(),
            })
            .inc();
    }

    /// Marks this process as the one running the controllers (`mesos_master_elected`).
    pub fn set_leading(&self, leading: bool) {
        self.status.leading.store(leading, Ordering::Relaxed);
    }

    /// Whether this process runs the controllers.
    pub fn is_leading(&self) -> bool {
        self.status.leading.load(Ordering::Relaxed)
    }

    /// Marks the caches as synced: `/readyz` answers 200 from now on.
    pub fn set_synced(&self) {
        self.status.synced.store(true, Ordering::Relaxed);
    }

    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.status.synced.load(Ordering::Relaxed)
    }

    /// The metrics in the Prometheus text format (0.0.4).
    pub fn encode(&self) -> std::result::Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Times one reconcile; see [`Metrics::reconcile`].
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    controller: String,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        let labels = ControllerLabels {
            controller: std::mem::take(&mut self.controller),
        };
        self.metrics.reconciles.get_or_create(&labels).inc();
        self.metrics
            .reconcile_duration
            .get_or_create(&labels)
            .observe(self.start.elapsed().as_secs_f64());
    }
}

/// Computes the cluster gauges from the caches at scrape time.
struct ClusterCollector {
    stores: Option<ClusterStores>,
    status: Arc<Status>,
}

impl std::fmt::Debug for ClusterCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterCollector")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

type Labels = Vec<(&'static str, String)>;

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> std::fmt::Result {
    e.encode_descriptor(name, help, None, MetricType::Gauge)?
        .encode_gauge(&value)
}

fn gauges(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Labels, f64)>,
) -> std::fmt::Result {
    let mut metric = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in rows {
        metric.encode_family(&labels)?.encode_gauge(&value)?;
    }
    Ok(())
}

/// `TASK_GONE_BY_OPERATOR` → `gone_by_operator`.
pub fn state_suffix(state: TaskState) -> String {
    state
        .as_str()
        .trim_start_matches("TASK_")
        .to_ascii_lowercase()
}

/// Writes the cluster gauges of `s` (the Mesos master's metrics).
pub fn encode_summary(s: &Summary, e: &mut DescriptorEncoder) -> std::fmt::Result {
    for state in TaskState::ALL {
        let suffix = state_suffix(state);
        gauge(
            e,
            &format!("mesos_master_tasks_{suffix}"),
            &format!("Tasks in state {state} (Mesos master/tasks_{suffix})"),
            s.tasks.get(state) as f64,
        )?;
    }
    gauges(
        e,
        "mesos_master_framework_tasks",
        "Tasks by framework and state (Mesos master/frameworks/<name>/tasks/<active|terminal>/<state>)",
        s.frameworks.iter().flat_map(|fw| {
            TaskState::ALL
                .into_iter()
                .filter(|st| fw.tasks.get(*st) > 0)
                .map(|st| {
                    (
                        vec![
                            ("namespace", fw.namespace.clone()),
                            ("framework", fw.name.clone()),
                            ("state", st.as_str().to_string()),
                        ],
                        fw.tasks.get(st) as f64,
                    )
                })
        }),
    )?;

    let existing = || s.frameworks.iter().filter(|f| f.exists);
    let active = existing().filter(|f| f.registered && !f.deleting).count();
    gauge(
        e,
        "mesos_master_frameworks_active",
        "Registered frameworks not being deleted (Mesos master/frameworks_active)",
        active as f64,
    )?;
    gauge(
        e,
        "mesos_master_frameworks_inactive",
        "Frameworks not registered or being deleted (Mesos master/frameworks_inactive)",
        (existing().count() - active) as f64,
    )?;
    let mut conditions: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for fw in existing() {
        for c in &fw.conditions {
            *conditions.entry(c.clone()).or_default() += 1;
        }
    }
    gauges(
        e,
        "mesos_operator_frameworks",
        "Frameworks by status condition type and status",
        conditions
            .into_iter()
            .map(|((type_, status), n)| (vec![("condition", type_), ("status", status)], n as f64)),
    )?;
    gauges(
        e,
        "mesos_allocator_mesos_framework_shares_dominant",
        "Dominant share of each framework's allocated resources in the cluster (DRF)",
        existing().map(|f| {
            (
                vec![
                    ("namespace", f.namespace.clone()),
                    ("framework", f.name.clone()),
                    ("role", f.role.clone()),
                ],
                f.share,
            )
        }),
    )?;

    let agents =
        |pred: fn(&state::AgentSummary) -> bool| s.agents.iter().filter(|a| pred(a)).count() as f64;
    gauge(
        e,
        "mesos_master_slaves_connected",
        "Agents (Nodes) that are Ready (Mesos master/slaves_connected)",
        agents(|a| a.connected),
    )?;
    gauge(
        e,
        "mesos_master_slaves_disconnected",
        "Agents (Nodes) that are not Ready (Mesos master/slaves_disconnected)",
        agents(|a| !a.connected),
    )?;
    gauge(
        e,
        "mesos_master_slaves_active",
        "Agents neither cordoned nor being deleted (Mesos master/slaves_active)",
        agents(|a| a.active),
    )?;
    gauge(
        e,
        "mesos_master_slaves_inactive",
        "Agents cordoned or being deleted (Mesos master/slaves_inactive)",
        agents(|a| !a.active),
    )?;

    let dims: [(&str, &str, state::Dimension); 4] = [
        ("cpus", "CPUs", state::cpus),
        ("mem", "MiB of memory", state::mem_mib),
        ("disk", "MiB of disk", state::disk_mib),
        ("gpus", "GPUs", |r| r.gpus as f64),
    ];
    for (dim, unit, get) in dims {
        let (total, used, offered) = (get(&s.total), get(&s.used), get(&s.offered));
        gauge(
            e,
            &format!("mesos_master_{dim}_total"),
            &format!("{unit} allocatable on all agents (Mesos master/{dim}_total)"),
            total,
        )?;
        gauge(
            e,
            &format!("mesos_master_{dim}_used"),
            &format!(
                "{unit} requested by the non-terminal pods on the agents, every workload included (Mesos master/{dim}_used)"
            ),
            used,
        )?;
        gauge(
            e,
            &format!("mesos_master_{dim}_percent"),
            &format!("Ratio of used to total {unit} (Mesos master/{dim}_percent)"),
            state::ratio(used, total),
        )?;
        gauge(
            e,
            &format!("mesos_master_{dim}_offered"),
            &format!("{unit} in outstanding offers"),
            offered,
        )?;
    }
    gauge(
        e,
        "mesos_master_outstanding_offers",
        "Offers waiting for the framework's answer (Mesos master/outstanding_offers)",
        s.outstanding_offers() as f64,
    )
}

impl Collector for ClusterCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let leading = self.status.leading.load(Ordering::Relaxed);
        gauge(
            &mut encoder,
            "mesos_master_elected",
            "1 if this replica is the leader running the controllers (Mesos master/elected)",
            if leading { 1.0 } else { 0.0 },
        )?;
        gauge(
            &mut encoder,
            "mesos_master_uptime_secs",
            "Seconds since this operator process started (Mesos master/uptime_secs)",
            self.status.started.elapsed().as_secs_f64(),
        )?;
        encoder
            .encode_descriptor(
                "mesos_operator_build",
                "The operator's version",
                None,
                MetricType::Info,
            )?
            .encode_info(&vec![("version", env!("CARGO_PKG_VERSION").to_string())])?;
        match &self.stores {
            Some(stores) if leading => encode_summary(&stores.summary(), &mut encoder),
            _ => Ok(()),
        }
    }
}

async fn metrics_handler(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    match metrics.encode() {
        Ok(body) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            body,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("encoding metrics failed: {e}\n"),
        ),
    }
}

async fn readyz(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    if metrics.is_ready() {
        let role = if metrics.is_leading() {
            "leader"
        } else {
            "standby"
        };
        (StatusCode::OK, format!("ready ({role})\n"))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "caches not synced yet\n".to_string(),
        )
    }
}

/// The HTTP routes: `/metrics`, `/healthz` (the process answers) and `/readyz` (caches
/// synced; leader and standby replicas alike).
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(metrics)
}

/// Binds `addr` and serves [`router`] in the background; returns the bound address (which
/// differs from `addr` when its port is 0).
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Io {
            context: format!("cannot listen on --metrics-addr {addr}"),
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| Error::Io {
        context: "reading the metrics server's address".into(),
        source,
    })?;
    let app = router(metrics);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            warn!(error = %e, "metrics server stopped");
        }
    });
    info!(addr = %bound, "serving /metrics, /healthz and /readyz");
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn counters_and_histograms_are_exposed() {
        let m = Metrics::new(None);
        {
            let _t = m.reconcile("task");
        }
        {
            let _t = m.reconcile("task");
        }
        m.reconcile_error("task", "unavailable");
        m.allocation_run(Duration::from_millis(3));
        m.offer("ns", "web", OfferOutcome::Declined);
        let text = m.encode().unwrap_or_default();
        assert_eq!(
            value(&text, "mesos_operator_reconcile_total{controller=\"task\"}"),
            Some(2.0),
            "{text}"
        );
        assert_eq!(
            value(
                &text,
                "mesos_operator_reconcile_errors_total{controller=\"task\",category=\"unavailable\"}"
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                "mesos_operator_reconcile_duration_seconds_count{controller=\"task\"}"
            ),
            Some(2.0)
        );
        assert_eq!(
            value(&text, "mesos_allocator_mesos_allocation_runs_total"),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                "mesos_master_framework_offers_total{namespace=\"ns\",framework=\"web\",outcome=\"declined\"}"
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(value(&text, "mesos_master_elected"), Some(0.0));
        assert!(
            !text.contains("mesos_master_tasks_running"),
            "no cluster gauges without stores"
        );
    }

    #[test]
    fn readiness_and_leadership_flags() {
        let m = Metrics::new(None);
        assert!(!m.is_ready());
        m.set_synced();
        assert!(m.is_ready());
        m.set_leading(true);
        let text = m.encode().unwrap_or_default();
        assert_eq!(value(&text, "mesos_master_elected"), Some(1.0));
    }

    #[test]
    fn state_suffixes_match_mesos_names() {
        assert_eq!(state_suffix(TaskState::Running), "running");
        assert_eq!(state_suffix(TaskState::GoneByOperator), "gone_by_operator");
    }
}
