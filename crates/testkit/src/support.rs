//! Test harness for the end-to-end suite: a namespace of its own per test, an operator
//! process of its own watching only that namespace, helpers to apply manifests and to wait
//! for observable state. Everything is cleaned up on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, Namespace, Pod};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use mesos_operator::api::{Task, TaskState};
use serde::de::DeserializeOwned;

/// A kubeconfig is required: `make test` starts the cluster and exports it.
pub fn kubeconfig() -> String {
    match std::env::var("KUBECONFIG") {
        Ok(k) if !k.is_empty() => k,
        _ => panic!(
            "the end-to-end tests need a cluster: run `make test` (it starts one), or `make cluster` \
             and `export KUBECONFIG=$(bash hack/cluster.sh kubeconfig)`"
        ),
    }
}

/// The kubectl built by hack/tools.sh (never the system one, which is too old).
pub fn kubectl() -> PathBuf {
    if let Ok(k) = std::env::var("KUBECTL") {
        return PathBuf::from(k);
    }
    let cache = std::env::var("MESOS_OPERATOR_CACHE").unwrap_or_else(|_| {
        format!(
            "{}/.cache/mesos-operator",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    PathBuf::from(cache).join("bin/kubectl")
}

/// Runs kubectl with `stdin`; returns (success, stdout + stderr).
pub fn kubectl_run(args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new(kubectl())
        .args(args)
        .env("KUBECONFIG", kubeconfig())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", kubectl().display()));
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.as_bytes());
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("kubectl failed to run: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Node pools made by [`TestEnv::add_node`] belong to one test: an operator that was not
/// given a node selector of its own stays off every pool (`--node-selector !e2e-pool`),
/// so it never places pods on a node another test will delete.
pub fn pool_guard(args: &[impl AsRef<str>]) -> Vec<&'static str> {
    if args.iter().any(|a| a.as_ref() == "--node-selector") {
        Vec::new()
    } else {
        vec!["--node-selector", "!e2e-pool"]
    }
}

/// Operators of tests that do not use the Mesos HTTP API bind it to a free port, so
/// that parallel tests never compete for 5050.
pub fn api_guard(args: &[impl AsRef<str>]) -> Vec<&'static str> {
    if args.iter().any(|a| a.as_ref() == "--scheduler-api-addr") {
        Vec::new()
    } else {
        vec!["--scheduler-api-addr", "127.0.0.1:0"]
    }
}

/// One test's namespace and operator.
pub struct TestEnv {
    pub client: Client,
    pub ns: String,
    operator: Option<Child>,
    pub log: PathBuf,
    starts: u32,
    extra_args: Vec<String>,
    nodes: Vec<String>,
}

impl TestEnv {
    /// Creates a fresh namespace `e2e-<name>-<suffix>` and starts an operator watching it.
    pub async fn new(name: &str) -> Self {
        Self::with_args(name, &[]).await
    }

    /// Like [`TestEnv::new`], with extra `mesos-operator run` arguments; `{ns}` in an
    /// argument is replaced by the namespace.
    pub async fn with_args(name: &str, args: &[&str]) -> Self {
        let mut env = Self::without_operator(name).await;
        env.extra_args = args.iter().map(|a| a.replace("{ns}", &env.ns)).collect();
        env.start_operator();
        env
    }

    /// Creates the namespace only.
    pub async fn without_operator(name: &str) -> Self {
        kubeconfig();
        let client = Client::try_default()
            .await
            .unwrap_or_else(|e| panic!("cannot build a client from KUBECONFIG: {e}"));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let ns = format!("e2e-{name}-{:05x}", (nanos ^ std::process::id()) & 0xfffff);
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let mut object = Namespace::default();
        object.metadata.name = Some(ns.clone());
        object.metadata.labels =
            Some([("mesos.operator.dev/e2e".to_string(), "true".to_string())].into());
        namespaces
            .create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("cannot create namespace {ns}: {e}"));
        let dir = crate::paths::target_tmpdir().join("e2e-logs");
        let _ = std::fs::create_dir_all(&dir);
        let log = dir.join(format!("{ns}.log"));
        Self {
            client,
            ns,
            operator: None,
            log,
            starts: 0,
            extra_args: Vec::new(),
            nodes: Vec::new(),
        }
    }

    /// The operator log, opened for appending twice: stdout and stderr of a process.
    pub fn log_handles(&self) -> (std::fs::File, std::fs::File) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", self.log.display()));
        let err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot clone log handle: {e}"));
        (log, err)
    }

    /// Waits (at most 60 s) until Framework `name` is registered; on failure shows the
    /// operator's log.
    pub async fn wait_registered(&self, name: &str) -> mesos_operator::api::Framework {
        self.wait_registered_with(name, &|| self.log_tail(40)).await
    }

    /// [`Self::wait_registered`] for an operator whose log `log` returns.
    pub async fn wait_registered_with(
        &self,
        name: &str,
        log: &dyn Fn() -> String,
    ) -> mesos_operator::api::Framework {
        let api: Api<mesos_operator::api::Framework> = self.api();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Ok(fw) = api.get(name).await
                && fw.is_registered()
            {
                return fw;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "framework {name} never registered; operator log:\n{}",
            log()
        );
    }

    /// Starts (or restarts) the operator process for this namespace.
    pub fn start_operator(&mut self) {
        self.starts += 1;
        let (log, err) = self.log_handles();
        let mut args: Vec<String> = [
            "--namespace",
            &self.ns,
            "--resync-period",
            "30s",
            "--unschedulable-retry",
            "1s",
            "--metrics-addr",
            "127.0.0.1:0",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        args.extend(self.extra_args.iter().cloned());
        let child =
            crate::process::spawn_operator(&args, std::path::Path::new(&kubeconfig()), (log, err));
        self.operator = Some(child);
    }

    /// SIGKILLs the operator (no graceful shutdown).
    pub fn kill_operator(&mut self) {
        if let Some(mut child) = self.operator.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Server-side applies a YAML manifest (one object) into the namespace.
    pub async fn apply<K>(&self, yaml: &str) -> K
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug,
    {
        let value: serde_json::Value =
            serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("bad test manifest: {e}\n{yaml}"));
        let name = value["metadata"]["name"]
            .as_str()
            .unwrap_or_else(|| panic!("manifest without a name:\n{yaml}"))
            .to_string();
        let api: Api<K> = Api::namespaced(self.client.clone(), &self.ns);
        api.patch(
            &name,
            &PatchParams::apply("e2e-test").force(),
            &Patch::Apply(&value),
        )
        .await
        .unwrap_or_else(|e| panic!("applying {name} failed: {e}"))
    }

    /// The namespace's API for a kind.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Polls the task until `pred` holds, or panics with its last status and the
    /// operator's log tail after `timeout`.
    pub async fn wait_task(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Task) -> bool,
    ) -> Task {
        let api: Api<Task> = self.api();
        let start = Instant::now();
        loop {
            let task = api.get_opt(name).await.ok().flatten();
            if let Some(t) = &task
                && pred(t)
            {
                return t.clone();
            }
            if start.elapsed() > timeout {
                let status = task
                    .and_then(|t| t.status)
                    .map(|s| serde_yaml::to_string(&s).unwrap_or_default());
                panic!(
                    "task {}/{name}: timed out after {timeout:?} waiting for {what}; last status:\n{}\noperator log tail:\n{}",
                    self.ns,
                    status.unwrap_or_else(|| "<none>".into()),
                    self.log_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits for the task to reach `state`.
    pub async fn wait_state(&self, name: &str, state: TaskState, timeout: Duration) -> Task {
        self.wait_task(name, timeout, state.as_str(), |t| t.state() == Some(state))
            .await
    }

    /// Pods of the namespace belonging to task `name`.
    pub async fn pods_of(&self, task: &str) -> Vec<Pod> {
        let api: Api<Pod> = self.api();
        api.list(&ListParams::default().labels(&format!("mesos.operator.dev/task={task}")))
            .await
            .unwrap_or_else(|e| panic!("listing pods: {e}"))
            .items
    }

    /// Event reasons recorded about object `name` (any kind) in the namespace.
    pub async fn event_reasons(&self, name: &str) -> Vec<String> {
        let api: Api<k8s_openapi::api::events::v1::Event> = self.api();
        let mut reasons: Vec<String> = api
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .filter_map(|e| e.reason)
            .collect();
        let core: Api<Event> = self.api();
        reasons.extend(
            core.list(&ListParams::default())
                .await
                .map(|l| l.items)
                .unwrap_or_default()
                .into_iter()
                .filter(|e| e.involved_object.name.as_deref() == Some(name))
                .filter_map(|e| e.reason),
        );
        reasons
    }

    /// Waits until an Event with `reason` about `name` exists.
    pub async fn wait_event(&self, name: &str, reason: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            let reasons = self.event_reasons(name).await;
            if reasons.iter().any(|r| r == reason) {
                return;
            }
            if start.elapsed() > timeout {
                panic!("no {reason} event for {name} within {timeout:?}; events: {reasons:?}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The last `n` lines of the operator's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// How many times the operator was started.
    pub fn operator_starts(&self) -> u32 {
        self.starts
    }

    /// Deletes a task's pod as someone other than the operator would.
    pub async fn delete_pod(&self, name: &str) {
        let api: Api<Pod> = self.api();
        api.delete(name, &DeleteParams::default().grace_period(0))
            .await
            .unwrap_or_else(|e| panic!("deleting pod {name}: {e}"));
    }
}

impl TestEnv {
    /// Creates a kwok node owned by this test (deleted on drop), labelled
    /// `e2e-pool=<namespace>`, with `cpu` CPUs and `memory` (a quantity) allocatable.
    pub async fn add_node(
        &mut self,
        suffix: &str,
        cpu: &str,
        memory: &str,
        extra: serde_json::Value,
    ) -> String {
        use k8s_openapi::api::core::v1::Node;
        let name = format!("{}-{suffix}", self.ns);
        let mut value = serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {"kwok.x-k8s.io/node": "fake"},
                "labels": {"type": "kwok", "e2e-pool": self.ns, "kubernetes.io/hostname": name, "topology.kubernetes.io/zone": "zone-e2e"}
            },
            "status": {
                "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
                "capacity": {"cpu": cpu, "memory": memory, "pods": "110"}
            }
        });
        if let (Some(obj), Some(more)) = (value.as_object_mut(), extra.as_object()) {
            for (k, v) in more {
                obj.insert(k.clone(), v.clone());
            }
        }
        let node: Node = serde_json::from_value(value).unwrap_or_else(|e| panic!("bad node: {e}"));
        let api: Api<Node> = Api::all(self.client.clone());
        api.create(&PostParams::default(), &node)
            .await
            .unwrap_or_else(|e| panic!("creating node {name}: {e}"));
        self.nodes.push(name.clone());
        name
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.kill_operator();
        for node in &self.nodes {
            let _ = Command::new(kubectl())
                .args(["delete", "node", node, "--wait=false", "--ignore-not-found"])
                .env("KUBECONFIG", kubeconfig())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        if std::env::var("E2E_KEEP_NAMESPACES").is_ok() {
            return;
        }
        let _ = Command::new(kubectl())
            .args([
                "delete",
                "namespace",
                &self.ns,
                "--wait=false",
                "--ignore-not-found",
            ])
            .env("KUBECONFIG", kubeconfig())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // The operator is gone: nothing will run the Frameworks' teardown finalizer, so
        // remove it as an administrator uninstalling the operator would; otherwise the
        // namespace stays Terminating and the namespace controller retries it for good.
        let frameworks = Command::new(kubectl())
            .args(["-n", &self.ns, "get", "frameworks", "-o", "name"])
            .env("KUBECONFIG", kubeconfig())
            .stderr(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for framework in frameworks.lines().filter(|l| !l.is_empty()) {
            let _ = Command::new(kubectl())
                .args([
                    "-n",
                    &self.ns,
                    "patch",
                    framework,
                    "--type",
                    "merge",
                    "-p",
                    r#"{"metadata":{"finalizers":null}}"#,
                ])
                .env("KUBECONFIG", kubeconfig())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Name of a Pod's node.
pub fn node_of(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default()
}
