//! Fault 1: the operator SIGKILLed mid-run.

use super::*;

pub(crate) const KILL_FRAMEWORKS: usize = 4;
pub(crate) const KILL_TASKS_PER_FRAMEWORK: usize = 500;
pub(crate) const KILL_NODES: usize = 8;

#[tokio::test]
pub(crate) async fn operator_sigkilled_three_times_during_2000_tasks_loses_nothing() {
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
