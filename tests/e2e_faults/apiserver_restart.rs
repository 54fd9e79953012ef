//! Fault 2: kube-apiserver restarted mid-run.

use super::*;

/// An operator process for `env`'s namespace and node pool, started by the test itself
/// for settings the harness fixes (its resync period); logs to `env.log` (the level from
/// `E2E_RUST_LOG` if set), SIGKILLed on drop.
pub(crate) struct Operator(std::process::Child);

impl Operator {
    fn start(env: &TestEnv, extra: &[&str]) -> Self {
        let (log, err) = env.log_handles();
        let pool = format!("e2e-pool={}", env.ns);
        let mut args = vec!["--namespace", &env.ns, "--node-selector", &pool];
        args.extend([
            "--unschedulable-retry",
            "1s",
            "--metrics-addr",
            "127.0.0.1:0",
            "--scheduler-api-addr",
            "127.0.0.1:0",
        ]);
        args.extend(extra);
        let kubeconfig = support::kubeconfig();
        let child = process::spawn_operator(&args, Path::new(&kubeconfig), (log, err));
        Self(child)
    }

    fn alive(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (at most 2 min) until no namespace is having its content deleted. Right after
/// kube-apiserver starts, the namespace controller may not see the custom resources yet
/// and finalize a namespace that still holds some, leaving them in etcd under a namespace
/// that no longer exists. (Namespaces that only wait for finalizers are not waited for.)
pub(crate) async fn wait_namespace_deletions(client: &kube::Client) {
    let api: Api<Namespace> = Api::all(client.clone());
    let start = Instant::now();
    loop {
        let busy: Vec<String> = list(&api, &ListParams::default())
            .await
            .into_iter()
            .filter(|n| n.metadata.deletion_timestamp.is_some())
            .filter(|n| {
                let conditions = n
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.clone())
                    .unwrap_or_default();
                !conditions
                    .iter()
                    .any(|c| c.type_ == "NamespaceFinalizersRemaining" && c.status == "True")
            })
            .map(|n| n.name_any())
            .collect();
        if busy.is_empty() || start.elapsed() > Duration::from_secs(120) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Restarts kube-apiserver of the cluster under test (etcd stays up); returns how long
/// the script took.
pub(crate) async fn restart_apiserver() -> Duration {
    let dir = std::env::var("CLUSTER_DIR").unwrap_or_default();
    assert!(
        !dir.is_empty(),
        "CLUSTER_DIR is not set: this test restarts kube-apiserver of the cluster under test and needs its directory (hack/test.sh exports it; by hand: eval \"$(bash hack/cluster.sh env)\")"
    );
    let start = Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/hack/cluster.sh"))
            .arg("restart-apiserver")
            .env("CLUSTER_DIR", &dir)
            .output()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .unwrap_or_else(|e| panic!("cannot run hack/cluster.sh: {e}"));
    assert!(
        out.status.success(),
        "hack/cluster.sh restart-apiserver failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed()
}

#[tokio::test]
pub(crate) async fn apiserver_restarted_mid_run_operator_reconnects_and_run_completes() {
    let _turn = SERIAL.lock().await;
    let started = Instant::now();
    // No periodic resync within the run (1 h): the run must complete on the operator's
    // watches alone. (Before the controllers shared the caches' watches, a reconcile could
    // be triggered by one watch and read another's lagging cache after a relist, and the
    // update was lost until the next resync.) FAULTS_APISERVER_RESYNC overrides it.
    let resync = std::env::var("FAULTS_APISERVER_RESYNC").unwrap_or_else(|_| "1h".into());
    let mut env = TestEnv::without_operator("apiserver").await;
    wait_namespace_deletions(&env.client).await;
    let mut operator = Operator::start(&env, &["--resync-period", &resync]);
    for i in 0..4 {
        env.add_node(&format!("n{i}"), "32", "256Gi", json!({}))
            .await;
    }
    let names = ["north", "south"];
    env.apply::<Framework>(&framework_yaml("north", "Builtin", &["PartitionAware"]))
        .await;
    env.apply::<Framework>(&framework_yaml("south", "Builtin", &[]))
        .await;
    for n in names {
        env.wait_registered(n).await;
    }
    // Batch 1 runs across two restarts; batch 2 is created only after the second one, so
    // it can finish only if the operator's watches came back on their own.
    let batch1 = short_tasks(&names, 200, "a");
    let batch2 = short_tasks(&names, 50, "b");
    let n1 = batch1.len();
    let total = n1 + batch2.len();
    let created = Arc::new(AtomicUsize::new(0));
    let creator = spawn_creator(env.api(), batch1, created.clone(), 8);
    let mut restarts = Vec::new();
    for fraction in [20, 60] {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let tasks = list(&env.api::<Task>(), &ListParams::default()).await;
            let terminal = terminal_count(&tasks);
            if terminal * 100 >= n1 * fraction {
                let took = restart_apiserver().await;
                let line = format!(
                    "kube-apiserver restart #{} at {} s ({} created, {terminal} terminal), back in {} s",
                    restarts.len() + 1,
                    secs(started.elapsed()),
                    created.load(Ordering::Relaxed),
                    secs(took)
                );
                println!("  {line}");
                restarts.push(line);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "invariant 'the run makes progress' broke: {terminal} of {n1} terminal after 10 min; operator log:\n{}",
                env.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let after_restarts = Instant::now();
    creator
        .await
        .unwrap_or_else(|e| panic!("creator panicked: {e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    let creator2 = spawn_creator(env.api(), batch2, created.clone(), 8);
    creator2
        .await
        .unwrap_or_else(|e| panic!("creator panicked: {e}"))
        .unwrap_or_else(|e| panic!("{e}"));

    let c = converge(&env, total, Duration::from_secs(300)).await;
    assert!(
        operator.alive(),
        "invariant 'the operator survives the outage (never restarted)' broke: it exited; log:\n{}",
        env.log_tail(40)
    );
    println!(
        "apiserver: {total} tasks over 2 Builtin frameworks ({n1} before, {} created after the restarts), {}; {} pods (one per task, each the one its task recorded), {} kube-apiserver restarts (etcd up), the same operator process throughout (resync {resync}), framework counters equal the truth; converged {} s after the last restart, {} s in all",
        total - n1,
        summary(&c),
        c.pods,
        restarts.len(),
        secs(after_restarts.elapsed()),
        secs(started.elapsed())
    );
    delete_frameworks(&env).await;
}
