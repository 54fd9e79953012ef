//! What every fault test uses: a seeded fault schedule, Task builders, the world as the
//! API server holds it, and the invariants a run must keep.

use super::*;

/// splitmix64: a reproducible fault schedule without a dependency.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn seeded(test: &str) -> Self {
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

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub(crate) fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

pub(crate) fn framework_yaml(name: &str, scheduler: &str, capabilities: &[&str]) -> String {
    format!(
        "apiVersion: mesos.operator.dev/v1alpha1\nkind: Framework\nmetadata:\n  name: {name}\nspec:\n  scheduler: {scheduler}\n  capabilities: [{}]\n",
        capabilities.join(", ")
    )
}

/// A 0.1 cpu / 32 MiB task; `offer` for External frameworks.
pub(crate) fn task(
    name: &str,
    framework: &str,
    offer: Option<&str>,
    annotations: &[(&str, &str)],
) -> Task {
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
pub(crate) async fn list<K>(api: &Api<K>, params: &ListParams) -> Vec<K>
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
pub(crate) async fn create_task(api: &Api<Task>, t: &Task) -> Result<(), String> {
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
pub(crate) fn spawn_creator(
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
pub(crate) async fn delete_frameworks(env: &TestEnv) {
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

pub(crate) fn managed_pods() -> ListParams {
    ListParams::default().labels(&format!("{LABEL_MANAGED_BY}={MANAGER}"))
}

/// Everything of one namespace the invariants look at.
pub(crate) struct World {
    pub(crate) tasks: Vec<Task>,
    pub(crate) pods: Vec<Pod>,
    pub(crate) frameworks: Vec<Framework>,
}

pub(crate) async fn world(env: &TestEnv) -> World {
    World {
        tasks: list(&env.api::<Task>(), &ListParams::default()).await,
        pods: list(&env.api::<Pod>(), &ListParams::default()).await,
        frameworks: list(&env.api::<Framework>(), &ListParams::default()).await,
    }
}

pub(crate) fn terminal_count(tasks: &[Task]) -> usize {
    tasks.iter().filter(|t| t.is_terminal()).count()
}

/// Order of the states a task walks forwards; states that may come back (LOST,
/// UNREACHABLE, …) have none.
pub(crate) fn rank(state: TaskState) -> Option<u8> {
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
pub(crate) fn check_history(t: &Task) -> Result<(), String> {
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
pub(crate) struct Converged {
    pub(crate) by_state: BTreeMap<TaskState, usize>,
    pub(crate) pods: usize,
    pub(crate) frameworks: usize,
}

/// The end state of a run of short tasks (`run-for` pods, those with an `exit-code`
/// annotation fail): every task terminal in the state its pod says, at most one pod per
/// task and that pod the one the task recorded, histories monotone, framework counters
/// equal to the truth and nothing allocated.
pub(crate) fn check_run(w: &World, expected: usize) -> Result<Converged, String> {
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
pub(crate) async fn converge(env: &TestEnv, expected: usize, timeout: Duration) -> Converged {
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
pub(crate) async fn poke_stuck(env: &TestEnv, w: &World) -> String {
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
pub(crate) fn check_pods_mid_run(pods: &[Pod]) -> Result<(), String> {
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

pub(crate) fn summary(c: &Converged) -> String {
    c.by_state
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The short tasks of a run: `per_framework` per framework, interleaved, one in ten
/// failing with exit code 3.
pub(crate) fn short_tasks(frameworks: &[&str], per_framework: usize, prefix: &str) -> Vec<Task> {
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
