//! Fault 5: a namespace, and a Framework, deleted with running tasks.

use super::*;

pub(crate) async fn offers_of(env: &TestEnv, framework: &str) -> Vec<Offer> {
    list(&env.api::<Offer>(), &ListParams::default())
        .await
        .into_iter()
        .filter(|o| o.spec.framework == framework)
        .collect()
}

pub(crate) fn outstanding(o: &Offer) -> bool {
    o.metadata.deletion_timestamp.is_none()
        && o.status
            .as_ref()
            .is_some_and(|s| s.state == OfferState::Outstanding)
}

/// Launches `n` never-ending tasks `<framework>-<i>` on the framework's outstanding
/// offers (as an External scheduler would: one batch per offer, created at once) and
/// waits for them to run. Tasks an offer could not take (it went away meanwhile) are
/// replaced; returns the names of the running ones and how many were replaced.
pub(crate) async fn launch_on_offers(
    env: &TestEnv,
    framework: &str,
    n: usize,
) -> (Vec<String>, usize) {
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

pub(crate) async fn wait_running(env: &TestEnv, names: &[String]) {
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

pub(crate) async fn wait_outstanding_offer(env: &TestEnv, framework: &str) -> usize {
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
pub(crate) async fn namespace_deleted_with_running_tasks_leaks_nothing() {
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
pub(crate) async fn framework_deleted_with_100_running_tasks_is_torn_down() {
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
