//! Kueue (sigs.k8s.io/kueue, built by `hack/tools.sh kueue`) as the benchmark runs it: a
//! process outside the cluster like the other control-plane components, its CRDs
//! installed, one ClusterQueue per tenant in one cohort with fair sharing and a
//! LocalQueue each.
//!
//! Kueue's webhooks are not registered with the API server (no in-cluster Service to
//! call them here): the driver creates the Jobs suspended and labelled with their queue,
//! which is what Kueue's mutating webhook would do. Its webhook and metrics servers still
//! need certificates, so a self-signed pair is made with `openssl`; the metrics one at
//! the path Kueue 0.17 hard-codes (`/etc/kueue/metrics/certs`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use k8s_openapi::api::core::v1::Node;
use kube::api::{ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::process::{Child, Command};

use crate::operator::http_get;
use crate::workload::{Plan, framework_name};

/// The Kueue version `hack/tools.sh kueue` builds.
pub const VERSION: &str = "v0.17.0";
const GROUP: &str = "kueue.x-k8s.io";
const API_VERSION: &str = "v1beta2";
const FIELD_MANAGER: &str = "mesos-bench";
const COHORT: &str = "mesos-bench";
const FLAVOR: &str = "mesos-bench";
const HEALTH_PORT: u16 = 28381;
const METRICS_PORT: u16 = 28382;
const WEBHOOK_PORT: u16 = 28383;
const METRICS_CERTS: &str = "/etc/kueue/metrics/certs";

fn cache() -> PathBuf {
    std::env::var("MESOS_OPERATOR_CACHE").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/mesos-operator"),
        PathBuf::from,
    )
}

/// `$MESOS_OPERATOR_CACHE/bin/kueue`.
pub fn default_bin() -> String {
    cache().join("bin/kueue").display().to_string()
}

/// Where `hack/tools.sh kueue` puts Kueue's CRDs.
fn crd_dir() -> PathBuf {
    cache().join(format!("kueue/{VERSION}/crds"))
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: GROUP.into(),
        version: API_VERSION.into(),
        api_version: format!("{GROUP}/{API_VERSION}"),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// The running Kueue manager.
pub struct Kueue {
    child: Child,
    pid_file: PathBuf,
}

impl Kueue {
    /// Installs the CRDs, writes the configuration and certificates, starts Kueue with the
    /// cluster's admin kubeconfig and waits until it is ready.
    pub async fn start(client: &Client, bin: &str, log: &Path) -> Result<Self> {
        if !Path::new(bin).exists() {
            bail!("{bin} is missing: run `bash hack/tools.sh kueue` (bench/run.sh does)");
        }
        install_crds(client).await?;
        let dir = crate::control_plane::cluster_dir().join("kueue");
        let certs = dir.join("certs");
        self_signed(&certs).await?;
        self_signed(Path::new(METRICS_CERTS))
            .await
            .with_context(|| {
                format!("Kueue {VERSION} reads its metrics certificate from {METRICS_CERTS}")
            })?;
        let config = dir.join("config.yaml");
        std::fs::write(&config, configuration(&certs))
            .with_context(|| format!("writing {}", config.display()))?;
        if let Some(parent) = log.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        eprintln!("  starting {bin} (log {})", log.display());
        let child = Command::new(bin)
            .arg(format!("--config={}", config.display()))
            .arg("--zap-log-level=error")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {bin}"))?;
        let pid_file = crate::control_plane::cluster_dir().join("run/kueue.pid");
        if let Some(pid) = child.id() {
            std::fs::write(&pid_file, pid.to_string())?;
        }
        let mut kueue = Self { child, pid_file };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok((200, _)) = http_get(HEALTH_PORT, "/readyz").await {
                return Ok(kueue);
            }
            if let Some(status) = kueue.child.try_wait()? {
                bail!(
                    "Kueue exited ({status}) before it was ready; see {}",
                    log.display()
                );
            }
            if Instant::now() > deadline {
                bail!("Kueue not ready after 120 s; see {}", log.display());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// SIGTERM, then SIGKILL after 20 s.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        if tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .is_err()
        {
            self.child.kill().await?;
        }
        let _ = std::fs::remove_file(&self.pid_file);
        Ok(())
    }
}

/// Kueue's configuration: only `batch/job`, fair sharing on, no leader election (one
/// replica), no internal certificate management (no in-cluster webhook Service), the
/// visibility API off, and a client as unlimited as kube-scheduler's in this benchmark.
fn configuration(certs: &Path) -> String {
    format!(
        r#"apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
namespace: kube-system
health:
  healthProbeBindAddress: 127.0.0.1:{HEALTH_PORT}
metrics:
  bindAddress: 127.0.0.1:{METRICS_PORT}
webhook:
  host: 127.0.0.1
  port: {WEBHOOK_PORT}
  certDir: {}
leaderElection:
  leaderElect: false
internalCertManagement:
  enable: false
manageJobsWithoutQueueName: false
clientConnection:
  qps: 5000
  burst: 10000
controller:
  groupKindConcurrency:
    Job.batch: 32
    Workload.kueue.x-k8s.io: 32
integrations:
  frameworks:
  - batch/job
fairSharing:
  preemptionStrategies: [LessThanOrEqualToFinalShare, LessThanInitialShare]
featureGates:
  VisibilityOnDemand: false
"#,
        certs.display()
    )
}

/// A self-signed `tls.crt`/`tls.key` for 127.0.0.1 in `dir` (kept when present).
async fn self_signed(dir: &Path) -> Result<()> {
    if dir.join("tls.crt").exists() && dir.join("tls.key").exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(dir.join("tls.key"))
        .arg("-out")
        .arg(dir.join("tls.crt"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .context("running openssl")?;
    if !status.success() {
        bail!("openssl could not make a certificate in {}", dir.display());
    }
    Ok(())
}

/// `kubectl apply --server-side` of the CRDs, then waits for them to be Established.
async fn install_crds(client: &Client) -> Result<()> {
    let dir = crd_dir();
    if !dir.is_dir() {
        bail!(
            "{} is missing: run `bash hack/tools.sh kueue`",
            dir.display()
        );
    }
    if !kubectl(&["apply", "--server-side", "--force-conflicts", "-f"], &dir).await? {
        bail!("installing Kueue's CRDs from {} failed", dir.display());
    }
    // Every CRD Established (Kueue's manager fails at start on any kind not yet served),
    // then a list through the API server to be sure discovery has them.
    if !kubectl(
        &["wait", "--for=condition=Established", "--timeout=60s", "-f"],
        &dir,
    )
    .await?
    {
        bail!("Kueue's CRDs were not Established after 60 s");
    }
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource("Workload", "workloads"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.list(&ListParams::default().limit(1)).await.is_err() {
        if Instant::now() > deadline {
            bail!("Kueue's Workloads were not served after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// The cached kubectl with `args` and then `path`; whether it succeeded.
async fn kubectl(args: &[&str], path: &Path) -> Result<bool> {
    let kubectl = cache().join("bin/kubectl");
    let status = Command::new(&kubectl)
        .args(args)
        .arg(path)
        .stdout(Stdio::null())
        .status()
        .await
        .with_context(|| format!("running {}", kubectl.display()))?;
    Ok(status.success())
}

async fn apply(
    client: &Client,
    ar: &ApiResource,
    ns: Option<&str>,
    name: &str,
    object: serde_json::Value,
) -> Result<()> {
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    };
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .with_context(|| format!("applying {} {name}", ar.kind))?;
    Ok(())
}

/// The cluster's allocatable cpu (cores) and memory (MiB) over the benchmark's nodes.
async fn capacity(client: &Client, nodes: usize) -> Result<(u64, u64)> {
    let list = Api::<Node>::all(client.clone())
        .list(&ListParams::default().labels("type=kwok"))
        .await
        .context("listing nodes")?;
    let mut cpu = 0u64;
    let mut mem = 0u64;
    for node in list.items.iter().take(nodes) {
        let alloc = node.status.as_ref().and_then(|s| s.allocatable.as_ref());
        if let Some(q) = alloc.and_then(|a| a.get("cpu")) {
            cpu += mesos_operator::api::resources::cpu_millis_from_quantity(q).unwrap_or(0) / 1000;
        }
        if let Some(q) = alloc.and_then(|a| a.get("memory")) {
            mem += mesos_operator::api::resources::bytes_from_quantity(q).unwrap_or(0) >> 20;
        }
    }
    Ok((cpu, mem))
}

/// A ResourceFlavor, one ClusterQueue per tenant (an equal share of the nodes as nominal
/// quota, borrowing within the cohort, fair sharing weight 1) and a LocalQueue per tenant
/// in `ns`; waits until every ClusterQueue is Active.
pub async fn create_queues(client: &Client, ns: &str, plan: &Plan) -> Result<()> {
    let tenants = plan.frameworks.max(1) as u64;
    let (cpu, mem) = capacity(client, plan.nodes.len()).await?;
    let flavor = resource("ResourceFlavor", "resourceflavors");
    apply(
        client,
        &flavor,
        None,
        FLAVOR,
        json!({
            "apiVersion": format!("{GROUP}/{API_VERSION}"), "kind": "ResourceFlavor",
            "metadata": { "name": FLAVOR }, "spec": {}
        }),
    )
    .await?;
    let cq = resource("ClusterQueue", "clusterqueues");
    let lq = resource("LocalQueue", "localqueues");
    for i in 0..plan.frameworks.max(1) {
        let tenant = framework_name(i);
        let cq_name = format!("mesos-bench-{tenant}");
        apply(
            client,
            &cq,
            None,
            &cq_name,
            json!({
                "apiVersion": format!("{GROUP}/{API_VERSION}"), "kind": "ClusterQueue",
                "metadata": { "name": cq_name },
                "spec": {
                    "cohortName": COHORT,
                    "namespaceSelector": {},
                    "fairSharing": { "weight": "1" },
                    "preemption": { "reclaimWithinCohort": "Any", "withinClusterQueue": "Never" },
                    "resourceGroups": [{
                        "coveredResources": ["cpu", "memory"],
                        "flavors": [{ "name": FLAVOR, "resources": [
                            { "name": "cpu", "nominalQuota": (cpu / tenants).to_string() },
                            { "name": "memory", "nominalQuota": format!("{}Mi", mem / tenants) },
                        ]}]
                    }]
                }
            }),
        )
        .await?;
        apply(
            client,
            &lq,
            Some(ns),
            &tenant,
            json!({
                "apiVersion": format!("{GROUP}/{API_VERSION}"), "kind": "LocalQueue",
                "metadata": { "name": tenant, "namespace": ns },
                "spec": { "clusterQueue": cq_name }
            }),
        )
        .await?;
    }
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &cq);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let active = api
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .filter(|q| {
                q.data["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Active" && c["status"] == "True")
                })
            })
            .count();
        if active >= plan.frameworks.max(1) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {active} ClusterQueues Active after 60 s; see the Kueue log");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Deletes the ClusterQueues and the flavor (best effort: the next run applies them again).
pub async fn delete_cluster_queues(client: &Client, plan: &Plan) {
    let cq: Api<DynamicObject> =
        Api::all_with(client.clone(), &resource("ClusterQueue", "clusterqueues"));
    for i in 0..plan.frameworks.max(1) {
        let _ = cq
            .delete(
                &format!("mesos-bench-{}", framework_name(i)),
                &DeleteParams::default(),
            )
            .await;
    }
    let rf: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &resource("ResourceFlavor", "resourceflavors"),
    );
    let _ = rf.delete(FLAVOR, &DeleteParams::default()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_is_yaml_with_fair_sharing_and_no_webhook_registration() -> Result<()> {
        let text = configuration(Path::new("/x/certs"));
        let v: serde_json::Value = serde_yaml::from_str(&text)?;
        assert_eq!(v["internalCertManagement"]["enable"], false);
        assert_eq!(v["webhook"]["certDir"], "/x/certs");
        assert_eq!(v["integrations"]["frameworks"][0], "batch/job");
        assert!(v["fairSharing"]["preemptionStrategies"].is_array());
        Ok(())
    }
}
