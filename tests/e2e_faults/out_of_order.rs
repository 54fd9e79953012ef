//! Fault 7: a burst of out-of-order updates to one task's Pod and Task.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Update {
    PodPending,
    PodRunning,
    PodSucceeded,
    PodFailed,
    TaskAnnotation,
    TaskLabel,
}

pub(crate) const UPDATES: [Update; 6] = [
    Update::PodPending,
    Update::PodRunning,
    Update::PodSucceeded,
    Update::PodFailed,
    Update::TaskAnnotation,
    Update::TaskLabel,
];

/// Every (state, exit code) a watch showed of a task, in order.
pub(crate) type Seen = Arc<Mutex<Vec<(TaskState, Option<i32>)>>>;

pub(crate) fn pod_status(update: Update, container: &str, image: &str) -> serde_json::Value {
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
pub(crate) async fn burst_of_50_out_of_order_updates_never_regresses_a_task() {
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

pub(crate) fn dedup(states: impl Iterator<Item = TaskState>) -> Vec<TaskState> {
    let mut out: Vec<TaskState> = Vec::new();
    for s in states {
        if out.last() != Some(&s) {
            out.push(s);
        }
    }
    out
}
