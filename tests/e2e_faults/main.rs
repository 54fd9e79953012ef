//! Fault tests of issue 4, end to end against a real API server: the operator killed with
//! SIGKILL mid-run, kube-apiserver restarted mid-run, a namespace and a Framework deleted
//! with running tasks, a burst of out-of-order updates to one task's Pod and Task.
//!
//! A separate test binary: cargo runs test binaries one after another, so restarting
//! kube-apiserver here never breaks a test of another binary; inside this binary the tests
//! take turns ([`SERIAL`]). Each test runs its own operator on a node pool of its own
//! (`--node-selector e2e-pool=<namespace>`), prints what it checked and fails with a
//! message naming the invariant that broke. The random fault schedules print their seed;
//! `FAULTS_SEED=<seed>` replays one.

#[path = "../e2e/support.rs"]
#[allow(dead_code)]
mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use mesos_operator::api::{
    Framework, LABEL_FRAMEWORK, LABEL_MANAGED_BY, LABEL_TASK, MANAGER, Offer, OfferState, Task,
    TaskCounts, TaskReason, TaskState,
};
use serde_json::json;
use support::TestEnv;

/// The tests restart kube-apiserver and saturate node pools: they take turns.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Operator arguments: manage only this test's nodes.
const POOL: &[&str] = &["--node-selector", "e2e-pool={ns}"];

const RUN_FOR: &str = "kwok.mesos.operator.dev/run-for";
const EXIT_CODE: &str = "kwok.mesos.operator.dev/exit-code";

// --- small tools ---------------------------------------------------------------------

/// splitmix64: a reproducible fault schedule without a dependency.
struct Rng(u64);

impl Rng {
    fn seeded(test: &str) -> Self {
        let seed = std::env::var("FAULTS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        println!("{test}: seed {seed} (FAULTS_SEED={seed} replays this schedule)");
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

fn framework_yaml(name: &str, scheduler: &str, capabilities: &[&str]) -> String {
    format!(
        "apiVersion: mesos.operator.dev/v1alpha1\nkind: Framework\nmetadata:\n  name: {name}\nspec:\n  scheduler: {scheduler}\n  capabilities: [{}]\n",
        capabilities.join(", ")
    )
}

/// A 0.1 cpu / 32 MiB task; `offer` for External frameworks.
fn task(name: &str, framework: &str, offer: Option<&str>, annotations: &[(&str, &str)]) -> Task {
    let annotations: BTreeMap<&str, &str> = annotations.iter().copied().collect();
    let mut spec = json!({
        "framework": framework,
        "resources": {"cpus": 0.1, "mem": 32},
        "command": {"shell": "sleep 1"},
    });
    if let Some(offer) = offer {
        spec["offer"] = json!(offer);
    }
    serde_json::from_value(json!({
        "apiVersion": "mesos.operator.dev/v1alpha1",
        "kind": "Task",
        "metadata": {"name": name, "annotations": annotations},
        "spec": spec,
    }))
    .unwrap_or_else(|e| panic!("bad test task {name}: {e}"))
}

/// Lists `api`, retrying for up to 90 s (the API server may be restarting).
async fn list<K>(api: &Api<K>, params: &ListParams) -> Vec<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let start = Instant::now();
    loop {
        match api.list(params).await {
            Ok(l) => return l.items,
            Err(_) if start.elapsed() < Duration::from_secs(90) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("listing failed for 90 s: {e}"),
        }
    }
}

/// Creates a task; retries transient errors for up to 2 min (an API-server restart); a
/// 409 means an earlier attempt landed.
async fn create_task(api: &Api<Task>, t: &Task) -> Result<(), String> {
    let start = Instant::now();
    loop {
        match api.create(&PostParams::default(), t).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => return Ok(()),
            Err(_) if start.elapsed() < Duration::from_secs(120) => {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => return Err(format!("creating task {}: {e}", t.name_any())),
        }
    }
}

/// Creates `tasks` with `parallel` requests in flight, counting them in `created`.
fn spawn_creator(
    api: Api<Task>,
    tasks: Vec<Task>,
    created: Arc<AtomicUsize>,
    parallel: usize,
) -> tokio::task::JoinHandle<Result<(), String>> {
    tokio::spawn(async move {
        let results: Vec<Result<(), String>> = futures::stream::iter(tasks)
            .map(|t| {
                let api = api.clone();
                let created = created.clone();
                async move {
                    create_task(&api, &t).await?;
                    created.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
            })
            .buffer_unordered(parallel)
            .collect()
            .await;
        results.into_iter().collect()
    })
}

/// Deletes the namespace's Frameworks while its operator still runs and waits until they
/// are gone: their teardown finalizer needs the operator, and the harness deletes the
/// namespace only after it killed the operator, which would leave the namespace
/// Terminating for good.
async fn delete_frameworks(env: &TestEnv) {
    let api: Api<Framework> = env.api();
    let _ = api
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await;
    let start = Instant::now();
    let mut left = Vec::new();
    while start.elapsed() < Duration::from_secs(60) {
        left = list(&api, &ListParams::default()).await;
        if left.is_empty() {
            println!(
                "  frameworks deleted: torn down and gone in {} s",
                secs(start.elapsed())
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!(
        "invariant 'a deleted framework is torn down and goes' broke: {} frameworks of {} still there after 60 s: {:?}\noperator log tail:\n{}",
        left.len(),
        env.ns,
        left.iter().map(|f| f.name_any()).collect::<Vec<_>>(),
        env.log_tail(20)
    );
}

fn managed_pods() -> ListParams {
    ListParams::default().labels(&format!("{LABEL_MANAGED_BY}={MANAGER}"))
}

/// Everything of one namespace the invariants look at.
struct World {
    tasks: Vec<Task>,
    pods: Vec<Pod>,
    frameworks: Vec<Framework>,
}

async fn world(env: &TestEnv) -> World {
    World {
        tasks: list(&env.api::<Task>(), &ListParams::default()).await,
        pods: list(&env.api::<Pod>(), &ListParams::default()).await,
        frameworks: list(&env.api::<Framework>(), &ListParams::default()).await,
    }
}

fn terminal_count(tasks: &[Task]) -> usize {
    tasks.iter().filter(|t| t.is_terminal()).count()
}

/// Order of the states a task walks forwards; states that may come back (LOST,
/// UNREACHABLE, …) have none.
fn rank(state: TaskState) -> Option<u8> {
    match state {
        TaskState::Staging => Some(0),
        TaskState::Starting => Some(1),
        TaskState::Running => Some(2),
        TaskState::Killing => Some(3),
        s if s.is_terminal() => Some(4),
        _ => None,
    }
}

/// A task's recorded history never leaves a terminal state and never walks backwards.
fn check_history(t: &Task) -> Result<(), String> {
    let history: Vec<TaskState> = t
        .status
        .as_ref()
        .map(|s| s.history.iter().map(|h| h.state).collect())
        .unwrap_or_default();
    if let Some(i) = history.iter().position(|s| s.is_terminal())
        && i + 1 != history.len()
    {
        return Err(format!(
            "invariant 'terminal states are final' broke: task {} history {history:?} has entries after {}",
            t.name_any(),
            history[i]
        ));
    }
    let ranks: Vec<u8> = history.iter().filter_map(|s| rank(*s)).collect();
    if ranks.windows(2).any(|w| w[1] <= w[0]) {
        return Err(format!(
            "invariant 'states never go backwards or repeat' broke: task {} history {history:?}",
            t.name_any()
        ));
    }
    if let (Some(last), Some(state)) = (history.last(), t.state())
        && *last != state
    {
        return Err(format!(
            "invariant 'history ends in the current state' broke: task {} is {state} but its history is {history:?}",
            t.name_any()
        ));
    }
    Ok(())
}

/// Counts of a run that converged.
struct Converged {
    by_state: BTreeMap<TaskState, usize>,
    pods: usize,
    frameworks: usize,
}

/// The end state of a run of short tasks (`run-for` pods, those with an `exit-code`
/// annotation fail): every task terminal in the state its pod says, at most one pod per
/// task and that pod the one the task recorded, histories monotone, framework counters
/// equal to the truth and nothing allocated.
fn check_run(w: &World, expected: usize) -> Result<Converged, String> {
    if w.tasks.len() != expected {
        return Err(format!(
            "invariant 'no task lost or added' broke: {} tasks, expected {expected}",
            w.tasks.len()
        ));
    }
    let live: Vec<String> = w
        .tasks
        .iter()
        .filter(|t| !t.is_terminal())
        .map(|t| {
            let phase = w
                .pods
                .iter()
                .find(|p| p.metadata.name == t.metadata.name)
                .and_then(|p| p.status.as_ref()?.phase.clone())
                .unwrap_or_else(|| "no pod".into());
            format!(
                "{} {} (pod {phase})",
                t.name_any(),
                t.state().map(|s| s.as_str()).unwrap_or("-")
            )
        })
        .collect();
    if !live.is_empty() {
        return Err(format!(
            "invariant 'every task terminal' broke: {} tasks not terminal, e.g. {:?}",
            live.len(),
            &live[..live.len().min(5)]
        ));
    }
    let names: HashSet<String> = w.tasks.iter().map(|t| t.name_any()).collect();
    let mut by_task: HashMap<String, Vec<&Pod>> = HashMap::new();
    for p in &w.pods {
        match p.labels().get(LABEL_TASK) {
            Some(task) if names.contains(task) => by_task.entry(task.clone()).or_default().push(p),
            other => {
                return Err(format!(
                    "invariant 'no orphan pod' broke: pod {} has task label {other:?} and no such task",
                    p.name_any()
                ));
            }
        }
    }
    if let Some((task, pods)) = by_task.iter().find(|(_, pods)| pods.len() > 1) {
        return Err(format!(
            "invariant 'at most one pod per task' broke: task {task} has {} pods {:?}",
            pods.len(),
            pods.iter().map(|p| p.name_any()).collect::<Vec<_>>()
        ));
    }
    let mut by_state: BTreeMap<TaskState, usize> = BTreeMap::new();
    for t in &w.tasks {
        let name = t.name_any();
        let state = t.state().unwrap_or(TaskState::Unknown);
        *by_state.entry(state).or_default() += 1;
        let status = t.status.clone().unwrap_or_default();
        let pod = by_task
            .get(&name)
            .and_then(|p| p.first().copied())
            .ok_or_else(|| {
                format!(
                    "invariant 'every task has its pod' broke: task {name} ({state}) has no pod"
                )
            })?;
        if status.pod_uid.as_deref() != pod.metadata.uid.as_deref() {
            return Err(format!(
                "invariant 'the pod is the one the task launched' broke: task {name} recorded pod uid {:?}, its pod has {:?}",
                status.pod_uid, pod.metadata.uid
            ));
        }
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        let fails = t.annotations().contains_key(EXIT_CODE);
        let (want, want_phase) = if fails {
            (TaskState::Failed, "Failed")
        } else {
            (TaskState::Finished, "Succeeded")
        };
        if phase != want_phase || state != want {
            return Err(format!(
                "invariant 'terminal in the state its pod says' broke: task {name} is {state}, its pod is {phase}, expected {want}/{want_phase}"
            ));
        }
        if fails && status.exit_code != Some(3) {
            return Err(format!(
                "invariant 'exit code reported' broke: task {name} exitCode {:?}, expected 3",
                status.exit_code
            ));
        }
        check_history(t)?;
    }
    for fw in &w.frameworks {
        let name = fw.name_any();
        let mut truth = TaskCounts::default();
        for t in w.tasks.iter().filter(|t| t.spec.framework == name) {
            if let Some(s) = t.state() {
                truth.add(s);
            }
        }
        let status = fw.status.clone().unwrap_or_default();
        if status.tasks != truth {
            return Err(format!(
                "invariant 'framework counters equal the truth' broke: framework {name} status.tasks {:?}, truth {truth:?}",
                status.tasks
            ));
        }
        if !status.allocated.is_empty() {
            return Err(format!(
                "invariant 'nothing allocated once every task ended' broke: framework {name} status.allocated {:?}",
                status.allocated
            ));
        }
    }
    Ok(Converged {
        by_state,
        pods: w.pods.len(),
        frameworks: w.frameworks.len(),
    })
}

/// Polls until [`check_run`] holds; panics with the last broken invariant after `timeout`.
async fn converge(env: &TestEnv, expected: usize, timeout: Duration) -> Converged {
    let start = Instant::now();
    let mut last_print = (Instant::now(), usize::MAX);
    loop {
        let w = world(env).await;
        let result = check_run(&w, expected);
        match result {
            Ok(c) => return c,
            Err(e) if start.elapsed() > timeout => {
                let diagnosis = poke_stuck(env, &w).await;
                panic!(
                    "{}: not converged after {timeout:?}: {e}\n{diagnosis}\noperator log tail:\n{}",
                    env.ns,
                    env.log_tail(40)
                )
            }
            Err(e) => {
                let terminal = terminal_count(&w.tasks);
                if last_print.0.elapsed() > Duration::from_secs(60)
                    || (terminal != last_print.1
                        && last_print.0.elapsed() > Duration::from_secs(15))
                {
                    last_print = (Instant::now(), terminal);
                    println!("  … {terminal} of {expected} terminal; waiting on: {e}");
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// For a failure message: touches the tasks whose pod ended while they did not (an
/// annotation change makes the operator reconcile them) and says whether that helped,
/// i.e. whether the operator had only missed the event or still sees an old pod.
async fn poke_stuck(env: &TestEnv, w: &World) -> String {
    let ended: HashSet<String> = w
        .pods
        .iter()
        .filter(|p| {
            matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            )
        })
        .map(|p| p.name_any())
        .collect();
    let stuck: Vec<String> = w
        .tasks
        .iter()
        .filter(|t| !t.is_terminal() && ended.contains(&t.name_any()))
        .map(|t| t.name_any())
        .collect();
    if stuck.is_empty() {
        return "no task is behind an ended pod".into();
    }
    let api: Api<Task> = env.api();
    for name in &stuck {
        let _ = api
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {"e2e/poke": "1"}}})),
            )
            .await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let tasks = list(&api, &ListParams::default()).await;
    let caught_up = tasks
        .iter()
        .filter(|t| stuck.contains(&t.name_any()) && t.is_terminal())
        .count();
    format!(
        "diagnosis: {} tasks stayed non-terminal although their pods ended (e.g. {:?}); after an annotation change made the operator reconcile them, {caught_up} of them caught up ({})",
        stuck.len(),
        &stuck[..stuck.len().min(3)],
        if caught_up == stuck.len() {
            "its caches were current: it had missed the pod events"
        } else {
            "its pod cache is stale"
        }
    )
}

/// At most one pod per task label, checked mid-run.
fn check_pods_mid_run(pods: &[Pod]) -> Result<(), String> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for p in pods {
        if let Some(task) = p.labels().get(LABEL_TASK)
            && let Some(other) =
                seen.insert(task.as_str(), p.metadata.name.as_deref().unwrap_or(""))
        {
            return Err(format!(
                "invariant 'at most one pod per task' broke mid-run: task {task} has pods {other} and {}",
                p.name_any()
            ));
        }
    }
    Ok(())
}

fn summary(c: &Converged) -> String {
    c.by_state
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The short tasks of a run: `per_framework` per framework, interleaved, one in ten
/// failing with exit code 3.
fn short_tasks(frameworks: &[&str], per_framework: usize, prefix: &str) -> Vec<Task> {
    let mut out = Vec::new();
    for i in 0..per_framework {
        for fw in frameworks {
            let name = format!("{fw}-{prefix}{i:04}");
            let mut annotations = vec![(RUN_FOR, "1s")];
            if i % 10 == 7 {
                annotations.push((EXIT_CODE, "3"));
            }
            out.push(task(&name, fw, None, &annotations));
        }
    }
    out
}

// --- 1. kill -9 of the operator -----------------------------------------------------

const KILL_FRAMEWORKS: usize = 4;
const KILL_TASKS_PER_FRAMEWORK: usize = 500;
const KILL_NODES: usize = 8;

#[tokio::test]
async fn operator_sigkilled_three_times_during_2000_tasks_loses_nothing() {
    let _turn = SERIAL.lock().await;
    let started = Instant::now();
    let mut rng = Rng::seeded("kill9");
    let mut env = TestEnv::with_args("kill9", POOL).await;
    for i in 0..KILL_NODES {
        env.add_node(&format!("n{i}"), "32", "256Gi", json!({}))
            .await;
    }
    let frameworks: [(&str, &[&str]); KILL_FRAMEWORKS] = [
        ("alpha", &["PartitionAware"]),
        ("beta", &[]),
        ("gamma", &["TaskKillingState"]),
        ("delta", &["PartitionAware", "TaskKillingState"]),
    ];
    for (name, caps) in frameworks {
        env.apply::<Framework>(&framework_yaml(name, "Builtin", caps))
            .await;
    }
    for (name, _) in frameworks {
        env.wait_registered(name).await;
    }
    let names: Vec<&str> = frameworks.iter().map(|(n, _)| *n).collect();
    let tasks = short_tasks(&names, KILL_TASKS_PER_FRAMEWORK, "");
    let total = tasks.len();
    let created = Arc::new(AtomicUsize::new(0));
    let creator = spawn_creator(env.api(), tasks, created.clone(), 12);

    // Three SIGKILLs: one while tasks are still being created (after 20–30 % of them),
    // two while they run and finish (at 30–40 % and 65–75 % terminal); each followed by
    // a random 0–1.5 s outage before the restart.
    enum At {
        Created(usize),
        Terminal(usize),
    }
    let mut percent = |from: u64| total * (from + rng.below(11)) as usize / 100;
    let schedule = [
        At::Created(percent(20)),
        At::Terminal(percent(30)),
        At::Terminal(percent(65)),
    ];
    let mut faults: Vec<String> = Vec::new();
    let mut terminal = 0usize;
    let mut last_list = Instant::now() - Duration::from_secs(10);
    let mut pod_checks = 0;
    let mut last_fault = Instant::now();
    for at in &schedule {
        loop {
            if last_list.elapsed() >= Duration::from_secs(2) {
                last_list = Instant::now();
                let tasks = list(&env.api::<Task>(), &ListParams::default()).await;
                terminal = terminal_count(&tasks);
                pod_checks += 1;
                if pod_checks % 5 == 0 {
                    let pods = list(&env.api::<Pod>(), &managed_pods()).await;
                    if let Err(e) = check_pods_mid_run(&pods) {
                        panic!("{e}");
                    }
                }
            }
            let reached = match at {
                At::Created(n) => created.load(Ordering::Relaxed) >= *n,
                At::Terminal(n) => terminal >= *n,
            };
            if reached {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(900),
                "invariant 'the run makes progress' broke: after 15 min only {} created, {terminal} terminal of {total}; operator log:\n{}",
                created.load(Ordering::Relaxed),
                env.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        env.kill_operator();
        let outage = Duration::from_millis(rng.below(1500));
        tokio::time::sleep(outage).await;
        env.start_operator();
        last_fault = Instant::now();
        let line = format!(
            "SIGKILL #{} at {} s: {} created, {terminal} terminal; restarted after {} ms",
            faults.len() + 1,
            secs(started.elapsed()),
            created.load(Ordering::Relaxed),
            outage.as_millis()
        );
        println!("  {line}");
        faults.push(line);
    }
    creator
        .await
        .unwrap_or_else(|e| panic!("creator panicked: {e}"))
        .unwrap_or_else(|e| panic!("{e}"));

    let c = converge(&env, total, Duration::from_secs(900)).await;
    assert_eq!(
        env.operator_starts(),
        4,
        "invariant 'exactly three restarts' broke"
    );
    println!(
        "kill9: {total} tasks over {} Builtin frameworks on {KILL_NODES} nodes ({}), {} pods (one per task, each the one its task recorded), {} SIGKILLs of the operator, framework counters equal the truth; converged {} s after the last fault, {} s in all",
        c.frameworks,
        summary(&c),
        c.pods,
        faults.len(),
        secs(last_fault.elapsed()),
        secs(started.elapsed())
    );
    delete_frameworks(&env).await;
}

// --- 2. kube-apiserver restarted mid-run ----------------------------------------------

/// An operator process for `env`'s namespace and node pool, started by the test itself
/// for settings the harness fixes (its resync period); logs to `env.log` (the level from
/// FAULTS_RUST_LOG if set), SIGKILLed on drop.
struct Operator(std::process::Child);

impl Operator {
    fn start(env: &TestEnv, extra: &[&str]) -> Self {
        let (log, err) = env.log_handles();
        let pool = format!("e2e-pool={}", env.ns);
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_mesos-operator"))
            .args(["run", "--namespace", &env.ns, "--node-selector", &pool])
            .args([
                "--unschedulable-retry",
                "1s",
                "--metrics-addr",
                "127.0.0.1:0",
                "--scheduler-api-addr",
                "127.0.0.1:0",
            ])
            .args(extra)
            .env("KUBECONFIG", support::kubeconfig())
            .env(
                "RUST_LOG",
                std::env::var("FAULTS_RUST_LOG")
                    .unwrap_or_else(|_| "info,mesos_operator=debug".into()),
            )
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the operator: {e}"));
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
async fn wait_namespace_deletions(client: &kube::Client) {
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
async fn restart_apiserver() -> Duration {
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
async fn apiserver_restarted_mid_run_operator_reconnects_and_run_completes() {
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

// --- 5. deleting a namespace, deleting a Framework -------------------------------------

async fn offers_of(env: &TestEnv, framework: &str) -> Vec<Offer> {
    list(&env.api::<Offer>(), &ListParams::default())
        .await
        .into_iter()
        .filter(|o| o.spec.framework == framework)
        .collect()
}

fn outstanding(o: &Offer) -> bool {
    o.metadata.deletion_timestamp.is_none()
        && o.status
            .as_ref()
            .is_some_and(|s| s.state == OfferState::Outstanding)
}

/// Launches `n` never-ending tasks `<framework>-<i>` on the framework's outstanding
/// offers (as an External scheduler would: one batch per offer, created at once) and
/// waits for them to run. Tasks an offer could not take (it went away meanwhile) are
/// replaced; returns the names of the running ones and how many were replaced.
async fn launch_on_offers(env: &TestEnv, framework: &str, n: usize) -> (Vec<String>, usize) {
    let api: Api<Task> = env.api();
    let start = Instant::now();
    let mut used: HashSet<String> = HashSet::new();
    let mut next = 0usize;
    loop {
        let tasks = list(&api, &ListParams::default()).await;
        let mine: Vec<&Task> = tasks
            .iter()
            .filter(|t| t.spec.framework == framework)
            .collect();
        let running: Vec<String> = mine
            .iter()
            .filter(|t| t.state() == Some(TaskState::Running))
            .map(|t| t.name_any())
            .collect();
        if running.len() >= n {
            let dropped: Vec<&Task> = mine.iter().copied().filter(|t| t.is_terminal()).collect();
            if let Some(t) = dropped.first() {
                println!(
                    "  {framework}: {} tasks dropped by their offer while launching and replaced, e.g. {} {:?}: {}",
                    dropped.len(),
                    t.name_any(),
                    t.state(),
                    t.status
                        .as_ref()
                        .and_then(|s| s.message.clone())
                        .unwrap_or_default()
                );
            }
            return (running, dropped.len());
        }
        let live = mine.iter().filter(|t| !t.is_terminal()).count();
        let missing = n.saturating_sub(live);
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "could not get {n} tasks of {framework} running on offers in 2 min ({} running, {live} live); operator log:\n{}",
            running.len(),
            env.log_tail(40)
        );
        if missing > 0 {
            let mut budget = missing;
            for offer in offers_of(env, framework)
                .await
                .into_iter()
                .filter(outstanding)
            {
                let name = offer.name_any();
                if budget == 0 || !used.insert(name.clone()) {
                    continue;
                }
                let fit = (offer.spec.resources.cpus.millis() / 100)
                    .min(offer.spec.resources.mem.bytes() >> 25) as usize;
                let batch: Vec<Task> = (0..fit.min(budget))
                    .map(|_| {
                        next += 1;
                        task(&format!("{framework}-{next}"), framework, Some(&name), &[])
                    })
                    .collect();
                budget -= batch.len();
                let results =
                    futures::future::join_all(batch.iter().map(|t| create_task(&api, t))).await;
                for r in results {
                    r.unwrap_or_else(|e| panic!("{e}"));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn wait_running(env: &TestEnv, names: &[String]) {
    let start = Instant::now();
    loop {
        let tasks = list(&env.api::<Task>(), &ListParams::default()).await;
        let want: HashSet<&String> = names.iter().collect();
        let running = tasks
            .iter()
            .filter(|t| want.contains(&t.name_any()) && t.state() == Some(TaskState::Running))
            .count();
        if running == names.len() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "only {running} of {} tasks RUNNING after 2 min; operator log:\n{}",
            names.len(),
            env.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn wait_outstanding_offer(env: &TestEnv, framework: &str) -> usize {
    let start = Instant::now();
    loop {
        let n = offers_of(env, framework)
            .await
            .iter()
            .filter(|o| outstanding(o))
            .count();
        if n > 0 {
            return n;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "framework {framework} got no outstanding offer within 60 s; operator log:\n{}",
            env.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn namespace_deleted_with_running_tasks_leaks_nothing() {
    let _turn = SERIAL.lock().await;
    let mut env = TestEnv::with_args("nsdel", POOL).await;
    for i in 0..2 {
        env.add_node(&format!("n{i}"), "16", "64Gi", json!({}))
            .await;
    }
    env.apply::<Framework>(&framework_yaml("web", "Builtin", &["TaskKillingState"]))
        .await;
    env.apply::<Framework>(&framework_yaml("ext", "External", &["PartitionAware"]))
        .await;
    env.wait_registered("web").await;
    env.wait_registered("ext").await;
    let api: Api<Task> = env.api();
    let mut names = Vec::new();
    for i in 0..20 {
        let t = task(&format!("web-{i}"), "web", None, &[]);
        create_task(&api, &t)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        names.push(t.name_any());
    }
    let (ext, replaced) = launch_on_offers(&env, "ext", 10).await;
    names.extend(ext);
    wait_running(&env, &names).await;
    let offers_before = wait_outstanding_offer(&env, "ext").await;
    let w = world(&env).await;
    let (tasks_before, pods_before) = (w.tasks.len(), w.pods.len());

    let namespaces: Api<Namespace> = Api::all(env.client.clone());
    let t0 = Instant::now();
    namespaces
        .delete(&env.ns, &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("deleting namespace {}: {e}", env.ns));
    loop {
        match namespaces.get_opt(&env.ns).await {
            Ok(None) => break,
            Ok(Some(ns)) => assert!(
                t0.elapsed() < Duration::from_secs(180),
                "invariant 'a deleted namespace goes away' broke: {} still there after 3 min: {:?}; operator log:\n{}",
                env.ns,
                ns.status,
                env.log_tail(40)
            ),
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let gone_after = t0.elapsed();
    // Give a misbehaving operator the chance to re-create something, then look.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let in_ns = ListParams::default().fields(&format!("metadata.namespace={}", env.ns));
    let pods = list(&Api::<Pod>::all(env.client.clone()), &in_ns).await;
    let tasks = list(&Api::<Task>::all(env.client.clone()), &in_ns).await;
    let offers = list(&Api::<Offer>::all(env.client.clone()), &in_ns).await;
    let frameworks = list(&Api::<Framework>::all(env.client.clone()), &in_ns).await;
    assert!(
        pods.is_empty() && tasks.is_empty() && offers.is_empty() && frameworks.is_empty(),
        "invariant 'nothing leaks after a namespace is deleted' broke: {} pods, {} tasks, {} offers, {} frameworks left in {}",
        pods.len(),
        tasks.len(),
        offers.len(),
        frameworks.len(),
        env.ns
    );
    let log = std::fs::read_to_string(&env.log).unwrap_or_default();
    assert!(
        !log.contains("panicked"),
        "invariant 'the operator survives its namespace' broke:\n{}",
        env.log_tail(40)
    );
    println!(
        "nsdel: namespace with 2 frameworks, {tasks_before} tasks ({} running, {replaced} dropped by their offer), {pods_before} pods, {offers_before} outstanding offers deleted; gone in {} s, then 0 pods, 0 tasks, 0 offers, 0 frameworks left",
        names.len(),
        secs(gone_after)
    );
}

#[tokio::test]
async fn framework_deleted_with_100_running_tasks_is_torn_down() {
    let _turn = SERIAL.lock().await;
    let mut env = TestEnv::with_args("fwdel", POOL).await;
    for i in 0..2 {
        env.add_node(&format!("n{i}"), "32", "128Gi", json!({}))
            .await;
    }
    env.apply::<Framework>(&framework_yaml("doomed", "External", &["TaskKillingState"]))
        .await;
    env.apply::<Framework>(&framework_yaml("bystander", "Builtin", &[]))
        .await;
    env.wait_registered("doomed").await;
    env.wait_registered("bystander").await;
    let api: Api<Task> = env.api();
    let mut bystanders = Vec::new();
    for i in 0..5 {
        let t = task(&format!("bystander-{i}"), "bystander", None, &[]);
        create_task(&api, &t)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        bystanders.push(t.name_any());
    }
    let (doomed, replaced) = launch_on_offers(&env, "doomed", 100).await;
    let doomed: Vec<String> = doomed.into_iter().take(100).collect();
    wait_running(&env, &bystanders).await;
    let offers_before = wait_outstanding_offer(&env, "doomed").await;

    let frameworks: Api<Framework> = env.api();
    let t0 = Instant::now();
    frameworks
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("deleting framework doomed: {e}"));
    let doomed_set: HashSet<&String> = doomed.iter().collect();
    let pods_of_doomed = ListParams::default().labels(&format!("{LABEL_FRAMEWORK}=doomed"));
    let last_error = loop {
        let fw_gone = frameworks
            .get_opt("doomed")
            .await
            .map(|f| f.is_none())
            .unwrap_or(false);
        let tasks = list(&api, &ListParams::default()).await;
        let not_killed: Vec<String> = tasks
            .iter()
            .filter(|t| doomed_set.contains(&t.name_any()) && t.state() != Some(TaskState::Killed))
            .map(|t| format!("{} {:?}", t.name_any(), t.state()))
            .collect();
        let pods = list(&env.api::<Pod>(), &pods_of_doomed).await;
        let offers = offers_of(&env, "doomed").await;
        let error = if !not_killed.is_empty() {
            Some(format!(
                "invariant 'every task of a deleted framework is TASK_KILLED' broke: {} of {} not killed, e.g. {:?}",
                not_killed.len(),
                doomed.len(),
                &not_killed[..not_killed.len().min(5)]
            ))
        } else if !pods.is_empty() {
            Some(format!(
                "invariant 'no pod of a deleted framework left' broke: {} pods left",
                pods.len()
            ))
        } else if !offers.is_empty() {
            Some(format!(
                "invariant 'no offer of a deleted framework left' broke: {} offers left",
                offers.len()
            ))
        } else if !fw_gone {
            Some("invariant 'the deleted Framework goes away' broke: it is still there".into())
        } else {
            None
        };
        match error {
            None => break None,
            Some(e) if t0.elapsed() > Duration::from_secs(180) => break Some(e),
            Some(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    if let Some(e) = last_error {
        panic!(
            "fwdel: not torn down 3 min after the deletion: {e}\noperator log tail:\n{}",
            env.log_tail(40)
        );
    }
    let torn_down_in = t0.elapsed();
    let tasks = list(&api, &ListParams::default()).await;
    for t in tasks.iter().filter(|t| doomed_set.contains(&t.name_any())) {
        let status = t.status.clone().unwrap_or_default();
        let message = status.message.clone().unwrap_or_default().to_lowercase();
        assert!(
            status.reason == Some(TaskReason::ReasonFrameworkRemoved)
                || message.contains("teardown")
                || message.contains("torn down"),
            "invariant 'killed with a teardown reason' broke: task {} reason {:?} message {:?}",
            t.name_any(),
            status.reason,
            status.message
        );
        check_history(t).unwrap_or_else(|e| panic!("{e}"));
    }
    // The other framework of the namespace is untouched.
    let by_name: HashMap<String, &Task> = tasks.iter().map(|t| (t.name_any(), t)).collect();
    for b in &bystanders {
        let state = by_name.get(b).and_then(|t| t.state());
        assert_eq!(
            state,
            Some(TaskState::Running),
            "invariant 'teardown touches only its framework' broke: {b} is {state:?}"
        );
        assert_eq!(
            env.pods_of(b).await.len(),
            1,
            "invariant 'teardown touches only its framework' broke: {b} lost its pod"
        );
    }
    println!(
        "fwdel: External framework with {} running tasks ({replaced} more dropped by their offer while launching) and {offers_before} outstanding offers deleted: torn down in {} s, {} TASK_KILLED with a teardown reason, 0 pods, 0 offers left, Framework gone; {} tasks of another framework still RUNNING",
        doomed.len(),
        secs(torn_down_in),
        doomed.len(),
        bystanders.len()
    );
    delete_frameworks(&env).await;
}

// --- 7. a burst of out-of-order updates --------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Update {
    PodPending,
    PodRunning,
    PodSucceeded,
    PodFailed,
    TaskAnnotation,
    TaskLabel,
}

const UPDATES: [Update; 6] = [
    Update::PodPending,
    Update::PodRunning,
    Update::PodSucceeded,
    Update::PodFailed,
    Update::TaskAnnotation,
    Update::TaskLabel,
];

/// Every (state, exit code) a watch showed of a task, in order.
type Seen = Arc<Mutex<Vec<(TaskState, Option<i32>)>>>;

fn pod_status(update: Update, container: &str, image: &str) -> serde_json::Value {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let (phase, state, ready) = match update {
        Update::PodPending => (
            "Pending",
            json!({"waiting": {"reason": "ContainerCreating"}}),
            false,
        ),
        Update::PodRunning => ("Running", json!({"running": {"startedAt": now}}), true),
        Update::PodSucceeded => (
            "Succeeded",
            json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}),
            false,
        ),
        _ => (
            "Failed",
            json!({"terminated": {"exitCode": 3, "reason": "Error", "startedAt": now, "finishedAt": now}}),
            false,
        ),
    };
    json!({"status": {
        "phase": phase,
        "containerStatuses": [{
            "name": container, "image": image, "imageID": "", "ready": ready,
            "restartCount": 0, "started": ready, "state": state
        }]
    }})
}

#[tokio::test]
async fn burst_of_50_out_of_order_updates_never_regresses_a_task() {
    let _turn = SERIAL.lock().await;
    let mut rng = Rng::seeded("burst");
    let mut env = TestEnv::with_args("burst", POOL).await;
    env.add_node("n0", "8", "32Gi", json!({})).await;
    env.apply::<Framework>(&framework_yaml("burst", "Builtin", &["PartitionAware"]))
        .await;
    env.wait_registered("burst").await;
    let tasks: Api<Task> = env.api();
    let pods: Api<Pod> = env.api();
    let rounds = 4;
    let mut total_updates = 0;
    for round in 0..rounds {
        let name = format!("b{round}");
        create_task(&tasks, &task(&name, "burst", None, &[]))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        env.wait_state(&name, TaskState::Running, Duration::from_secs(60))
            .await;
        let pod = pods
            .get(&name)
            .await
            .unwrap_or_else(|e| panic!("task {name} RUNNING without its pod: {e}"));
        let container = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
            .unwrap_or_default();

        // Every version of the task the API server shows while the burst lands.
        let seen: Seen = Arc::default();
        let watch = {
            let seen = seen.clone();
            let stream = watcher(
                tasks.clone(),
                watcher::Config::default().fields(&format!("metadata.name={name}")),
            );
            tokio::spawn(async move {
                let mut stream = std::pin::pin!(stream);
                while let Some(event) = stream.next().await {
                    if let Ok(watcher::Event::Apply(t) | watcher::Event::InitApply(t)) = event
                        && let Some(state) = t.state()
                    {
                        let exit = t.status.as_ref().and_then(|s| s.exit_code);
                        seen.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((state, exit));
                    }
                }
            })
        };
        // Pods of the task, sampled while the burst lands.
        let max_pods = Arc::new(AtomicUsize::new(0));
        let sampler = {
            let max_pods = max_pods.clone();
            let pods = pods.clone();
            let selector = ListParams::default().labels(&format!("{LABEL_TASK}={name}"));
            tokio::spawn(async move {
                loop {
                    if let Ok(l) = pods.list(&selector).await {
                        max_pods.fetch_max(l.items.len(), Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };

        // 50 updates, each after a random delay of 0–400 ms: they land in random order,
        // many at once.
        let plan: Vec<(Update, Duration)> = (0..50)
            .map(|_| {
                (
                    UPDATES[rng.below(UPDATES.len() as u64) as usize],
                    Duration::from_millis(rng.below(400)),
                )
            })
            .collect();
        total_updates += plan.len();
        let results = futures::future::join_all(plan.iter().enumerate().map(|(i, (u, delay))| {
            let (pods, tasks, name, container) =
                (pods.clone(), tasks.clone(), name.clone(), container.clone());
            async move {
                tokio::time::sleep(*delay).await;
                let result = match u {
                    Update::TaskAnnotation => tasks
                        .patch(
                            &name,
                            &PatchParams::default(),
                            &Patch::Merge(
                                json!({"metadata": {"annotations": {"e2e/burst": i.to_string()}}}),
                            ),
                        )
                        .await
                        .map(|_| ()),
                    Update::TaskLabel => tasks
                        .patch(
                            &name,
                            &PatchParams::default(),
                            &Patch::Merge(
                                json!({"metadata": {"labels": {"e2e-burst": i.to_string()}}}),
                            ),
                        )
                        .await
                        .map(|_| ()),
                    _ => pods
                        .patch_status(
                            &name,
                            &PatchParams::default(),
                            &Patch::Merge(pod_status(*u, &container.0, &container.1)),
                        )
                        .await
                        .map(|_| ()),
                };
                (*u, *delay, result.is_ok())
            }
        }))
        .await;
        let mut landed: Vec<(Duration, Update)> = results
            .iter()
            .filter(|(_, _, ok)| *ok)
            .map(|(u, d, _)| (*d, *u))
            .collect();
        landed.sort();
        let refused: BTreeMap<Update, usize> =
            results
                .iter()
                .filter(|(_, _, ok)| !ok)
                .fold(BTreeMap::new(), |mut m, (u, _, _)| {
                    *m.entry(*u).or_default() += 1;
                    m
                });
        let accepted = |u: Update| landed.iter().any(|(_, x)| *x == u);

        // Quiet: the task settles (its state unchanged for 3 s).
        let start = Instant::now();
        let mut last = (None, Instant::now());
        let settled = loop {
            let t = tasks.get(&name).await.unwrap_or_else(|e| panic!("{e}"));
            if t.state() != last.0 {
                last = (t.state(), Instant::now());
            } else if last.1.elapsed() > Duration::from_secs(3) {
                break t;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "task {name} never settled after the burst"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        sampler.abort();
        watch.abort();
        let seen = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let pod = pods.get(&name).await.unwrap_or_else(|e| panic!("{e}"));
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        let ctx = format!(
            "round {round}, updates in landing order {:?}, refused {refused:?}, states seen {:?}, pod now {phase}",
            landed.iter().map(|(_, u)| *u).collect::<Vec<_>>(),
            seen.iter().map(|(s, _)| *s).collect::<Vec<_>>()
        );

        // Terminal states are final: once seen, every later version shows the same.
        if let Some(first) = seen.iter().position(|(s, _)| s.is_terminal()) {
            let end = seen[first];
            assert!(
                seen[first..].iter().all(|x| *x == end),
                "invariant 'a terminal state is final' broke for task {name}: {ctx}"
            );
        }
        let ranks: Vec<u8> = seen.iter().filter_map(|(s, _)| rank(*s)).collect();
        assert!(
            ranks.windows(2).all(|w| w[0] <= w[1]),
            "invariant 'states never go backwards' broke for task {name} (watched versions); {ctx}"
        );
        check_history(&settled).unwrap_or_else(|e| panic!("{e}; {ctx}"));
        assert!(
            max_pods.load(Ordering::Relaxed) <= 1,
            "invariant 'at most one pod per task' broke for {name}: {} pods seen; {ctx}",
            max_pods.load(Ordering::Relaxed)
        );
        assert_eq!(
            settled.status.as_ref().and_then(|s| s.pod_uid.clone()),
            pod.metadata.uid,
            "invariant 'the pod is the one the task launched' broke for {name}; {ctx}"
        );
        let state = settled.state().unwrap_or(TaskState::Unknown);
        match state {
            TaskState::Finished => assert!(
                accepted(Update::PodSucceeded),
                "invariant 'the terminal state is one the pod reported' broke: {name} FINISHED but no Succeeded landed; {ctx}"
            ),
            TaskState::Failed => {
                assert!(
                    accepted(Update::PodFailed),
                    "invariant 'the terminal state is one the pod reported' broke: {name} FAILED but no Failed landed; {ctx}"
                );
                assert_eq!(
                    settled.status.as_ref().and_then(|s| s.exit_code),
                    Some(3),
                    "invariant 'exit code reported' broke; {ctx}"
                );
            }
            _ => {
                // Not terminal: the pod never was, and the task, RUNNING before the
                // burst, still is (a late Pending does not walk the launch back).
                assert!(
                    phase != "Succeeded" && phase != "Failed",
                    "invariant 'a terminal pod makes a terminal task' broke: {name} is {state}, pod {phase}; {ctx}"
                );
                assert_eq!(
                    state,
                    TaskState::Running,
                    "invariant 'a RUNNING task stays RUNNING until it ends' broke for {name}; {ctx}"
                );
            }
        }
        let late_pending = landed
            .iter()
            .filter(|(_, u)| *u == Update::PodPending)
            .count();
        println!(
            "  burst round {round}: 50 updates ({} landed, {late_pending} of them a late Pending after Running; refused by the API {refused:?}), {} task versions watched, pod {phase}, task {state}; states seen {:?}",
            landed.len(),
            seen.len(),
            dedup(seen.iter().map(|(s, _)| *s))
        );
    }
    println!(
        "burst: {rounds} tasks × 50 concurrent out-of-order updates ({total_updates} in all: pod phase Pending/Running/Succeeded/Failed, task annotations/labels); no terminal state ever changed, histories monotone, at most one pod per task"
    );
    delete_frameworks(&env).await;
}

fn dedup(states: impl Iterator<Item = TaskState>) -> Vec<TaskState> {
    let mut out: Vec<TaskState> = Vec::new();
    for s in states {
        if out.last() != Some(&s) {
            out.push(s);
        }
    }
    out
}
