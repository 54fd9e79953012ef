//! Framework lifecycle: an External scheduler's Lease, failover and teardown.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ListParams, Patch, PatchParams};
use mesos_operator::api::{Framework, Offer, OfferState, Task, TaskReason, TaskState};

use crate::support::TestEnv;

const T: Duration = Duration::from_secs(60);

async fn renew(env: &TestEnv, framework: &str) {
    let api: Api<Lease> = env.api();
    let name = format!("{framework}-scheduler");
    let lease = serde_json::json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name},
        "spec": {"holderIdentity": "test-scheduler", "leaseDurationSeconds": 2,
                 "renewTime": MicroTime(k8s_openapi::jiff::Timestamp::now())}
    });
    api.patch(
        &name,
        &PatchParams::apply("test-scheduler").force(),
        &Patch::Apply(&lease),
    )
    .await
    .unwrap_or_else(|e| panic!("renewing the lease: {e}"));
}

async fn condition(
    env: &TestEnv,
    framework: &str,
    type_: &str,
    status: &str,
    reason: &str,
) -> Duration {
    let api: Api<Framework> = env.api();
    let start = Instant::now();
    loop {
        let fw = api.get(framework).await.unwrap_or_else(|e| panic!("{e}"));
        let c = fw
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_).cloned());
        if c.as_ref()
            .is_some_and(|c| c.status == status && c.reason == reason)
        {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < T,
            "framework {framework}: no {type_}={status} ({reason}) within {T:?}; last {c:?}; log:\n{}",
            env.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn outstanding_offers(env: &TestEnv) -> usize {
    let api: Api<Offer> = env.api();
    api.list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .iter()
        .filter(|o| {
            o.metadata.deletion_timestamp.is_none()
                && o.status
                    .as_ref()
                    .is_some_and(|s| s.state == OfferState::Outstanding)
        })
        .count()
}

async fn wait_offers(env: &TestEnv, want_some: bool) {
    let start = Instant::now();
    while (outstanding_offers(env).await > 0) != want_some {
        assert!(
            start.elapsed() < T,
            "offers never became {}",
            if want_some { "available" } else { "rescinded" }
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Renews the Lease every 500 ms for `d`.
async fn keep_alive(env: &TestEnv, framework: &str, d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        renew(env, framework).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn lease_disconnects_reconnects_and_failover_timeout_tears_down_across_a_restart() {
    let mut env = TestEnv::with_args(
        "lease",
        &[
            "--node-selector",
            "e2e-pool={ns}",
            "--allocation-interval",
            "200ms",
        ],
    )
    .await;
    env.add_node("n0", "8", "32Gi", serde_json::json!({})).await;
    renew(&env, "sched").await;
    let manifest = "apiVersion: mesos.operator.dev/v1alpha1\nkind: Framework\nmetadata:\n  name: sched\nspec:\n  scheduler: External\n  failoverTimeout: 8s\n  capabilities: [TaskKillingState]\n  offers: {timeout: 60s}\n";
    env.apply::<Framework>(manifest).await;
    condition(&env, "sched", "Connected", "True", "LeaseRenewed").await;
    wait_offers(&env, true).await;

    // Launch a long-running task on the offer.
    let offers: Api<Offer> = env.api();
    let offer = offers
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no offer"));
    let task = format!(
        "apiVersion: mesos.operator.dev/v1alpha1\nkind: Task\nmetadata:\n  name: service\nspec:\n  framework: sched\n  offer: {}\n  resources: {{cpus: 1, mem: 128}}\n  command: {{shell: \"serve\"}}\n",
        offer.metadata.name.clone().unwrap_or_default()
    );
    let alive = keep_alive(&env, "sched", Duration::from_secs(3));
    let (_, _) = tokio::join!(alive, env.apply::<Task>(&task));
    env.wait_state("service", TaskState::Running, T).await;

    // Stop renewing: disconnected, offers rescinded, the task keeps running.
    let took = condition(&env, "sched", "Connected", "False", "LeaseExpired").await;
    wait_offers(&env, false).await;
    let tasks: Api<Task> = env.api();
    assert_eq!(
        tasks.get("service").await.ok().and_then(|t| t.state()),
        Some(TaskState::Running),
        "a disconnected framework's task must keep running"
    );
    env.wait_event("sched", "Disconnected", T).await;
    println!(
        "lease: disconnected {took:?} after the last check began; offers rescinded; task still running"
    );

    // Renew within failoverTimeout: connected again, nothing lost.
    renew(&env, "sched").await;
    condition(&env, "sched", "Connected", "True", "LeaseRenewed").await;
    wait_offers(&env, true).await;
    assert_eq!(
        tasks.get("service").await.ok().and_then(|t| t.state()),
        Some(TaskState::Running)
    );
    env.wait_event("sched", "Reconnected", T).await;

    // Stop renewing for good, and restart the operator while it is disconnected: the
    // failover timeout is computed from stored times and still tears the framework down.
    condition(&env, "sched", "Connected", "False", "LeaseExpired").await;
    env.kill_operator();
    tokio::time::sleep(Duration::from_secs(2)).await;
    env.start_operator();
    condition(&env, "sched", "TornDown", "True", "FailoverTimeout").await;
    let killed = env.wait_state("service", TaskState::Killed, T).await;
    assert_eq!(
        killed.status.and_then(|s| s.reason),
        Some(TaskReason::ReasonFrameworkRemoved)
    );
    assert!(
        env.pods_of("service").await.is_empty(),
        "a torn-down framework's pod is still there"
    );
    wait_offers(&env, false).await;
    env.wait_event("sched", "TornDown", T).await;
    // Torn down is final: a renewed Lease does not bring it back.
    renew(&env, "sched").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        outstanding_offers(&env).await,
        0,
        "a torn-down framework got an offer"
    );
    println!(
        "lease: reconnected within failover; torn down after failoverTimeout across an operator restart; task KILLED, pod gone"
    );
}

#[tokio::test]
async fn deleting_a_framework_kills_its_tasks_then_removes_it() {
    let env = TestEnv::new("fwdelete").await;
    env.apply::<Framework>("apiVersion: mesos.operator.dev/v1alpha1\nkind: Framework\nmetadata:\n  name: doomed\nspec:\n  capabilities: [TaskKillingState]\n").await;
    for i in 0..5 {
        let task = format!(
            "apiVersion: mesos.operator.dev/v1alpha1\nkind: Task\nmetadata:\n  name: t{i}\nspec:\n  framework: doomed\n  resources: {{cpus: 0.1, mem: 32}}\n  command: {{shell: serve}}\n  killPolicy: {{gracePeriod: 1s}}\n"
        );
        env.apply::<Task>(&task).await;
    }
    for i in 0..5 {
        env.wait_state(&format!("t{i}"), TaskState::Running, T)
            .await;
    }
    let api: Api<Framework> = env.api();
    let fw = api.get("doomed").await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        fw.metadata
            .finalizers
            .unwrap_or_default()
            .iter()
            .any(|f| f == "mesos.operator.dev/teardown"),
        "no teardown finalizer"
    );
    api.delete("doomed", &Default::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for i in 0..5 {
        let t = env.wait_state(&format!("t{i}"), TaskState::Killed, T).await;
        assert_eq!(
            t.status.and_then(|s| s.reason),
            Some(TaskReason::ReasonFrameworkRemoved)
        );
    }
    let start = Instant::now();
    while api.get_opt("doomed").await.ok().flatten().is_some() {
        assert!(
            start.elapsed() < T,
            "the framework was never removed after its tasks were killed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for i in 0..5 {
        assert!(
            env.pods_of(&format!("t{i}")).await.is_empty(),
            "pod t{i} leaked"
        );
    }
    println!(
        "fwdelete: 5 running tasks KILLED (REASON_FRAMEWORK_REMOVED), pods gone, framework removed"
    );
}

#[tokio::test]
async fn explicit_reconciliation_and_drift_repair() {
    let env = TestEnv::new("reconcile").await;
    env.apply::<Framework>("apiVersion: mesos.operator.dev/v1alpha1\nkind: Framework\nmetadata:\n  name: plain\nspec: {}\n").await;
    env.apply::<Framework>("apiVersion: mesos.operator.dev/v1alpha1\nkind: Framework\nmetadata:\n  name: aware\nspec:\n  capabilities: [PartitionAware]\n").await;
    for (task, fw, run_for) in [
        ("done", "plain", Some("1s")),
        ("live", "plain", None),
        ("pa-live", "aware", None),
    ] {
        let annotations = run_for
            .map(|d| format!("\n  annotations:\n    kwok.mesos.operator.dev/run-for: {d}"))
            .unwrap_or_default();
        env.apply::<Task>(&format!("apiVersion: mesos.operator.dev/v1alpha1\nkind: Task\nmetadata:\n  name: {task}{annotations}\nspec:\n  framework: {fw}\n  resources: {{cpus: 0.1, mem: 32}}\n  command: {{shell: x}}\n")).await;
    }
    env.wait_state("done", TaskState::Finished, T).await;
    env.wait_state("live", TaskState::Running, T).await;
    env.wait_state("pa-live", TaskState::Running, T).await;

    let api: Api<Framework> = env.api();
    let ask = |id: &str, tasks: &[&str]| serde_json::json!({"spec": {"reconcile": {"id": id, "tasks": tasks}}});
    let answer = |fw: Framework| fw.status.and_then(|s| s.reconciliation);
    api.patch(
        "plain",
        &PatchParams::default(),
        &Patch::Merge(ask("r1", &["done", "live", "never-was"])),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    api.patch(
        "aware",
        &PatchParams::default(),
        &Patch::Merge(ask("r1", &["pa-live", "never-was"])),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let start = Instant::now();
    let (plain, aware) = loop {
        let p = api
            .get("plain")
            .await
            .ok()
            .and_then(answer)
            .filter(|a| a.id == "r1");
        let a = api
            .get("aware")
            .await
            .ok()
            .and_then(answer)
            .filter(|a| a.id == "r1");
        if let (Some(p), Some(a)) = (p, a) {
            break (p, a);
        }
        assert!(
            start.elapsed() < T,
            "reconciliation r1 never answered; log:\n{}",
            env.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let states = |a: &mesos_operator::api::framework::ReconciliationAnswer| {
        a.tasks
            .iter()
            .map(|t| (t.name.clone(), t.state))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        states(&plain),
        vec![
            ("done".into(), TaskState::Finished),
            ("live".into(), TaskState::Running),
            ("never-was".into(), TaskState::Lost)
        ]
    );
    assert_eq!(
        states(&aware),
        vec![
            ("pa-live".into(), TaskState::Running),
            ("never-was".into(), TaskState::Unknown)
        ]
    );
    assert!(
        plain
            .tasks
            .iter()
            .chain(aware.tasks.iter())
            .all(|t| t.reason == TaskReason::ReasonReconciliation)
    );
    // Implicit: no names → every task of the framework.
    api.patch(
        "plain",
        &PatchParams::default(),
        &Patch::Merge(ask("r2", &[])),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let start = Instant::now();
    let implicit = loop {
        if let Some(a) = api
            .get("plain")
            .await
            .ok()
            .and_then(answer)
            .filter(|a| a.id == "r2")
        {
            break a;
        }
        assert!(start.elapsed() < T, "reconciliation r2 never answered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        states(&implicit),
        vec![
            ("done".into(), TaskState::Finished),
            ("live".into(), TaskState::Running)
        ]
    );

    // Drift: the pod's task label is tampered with; the resync puts it back.
    let pods: Api<k8s_openapi::api::core::v1::Pod> = env.api();
    pods.patch("live", &PatchParams::default(), &Patch::Merge(serde_json::json!({"metadata": {"labels": {"mesos.operator.dev/task": "someone-else"}}}))).await.unwrap_or_else(|e| panic!("{e}"));
    let start = Instant::now();
    loop {
        let label = pods
            .get("live")
            .await
            .ok()
            .and_then(|p| p.metadata.labels)
            .and_then(|l| l.get("mesos.operator.dev/task").cloned());
        if label.as_deref() == Some("live") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the tampered pod label was never repaired (resync every 30 s in tests)"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "reconcile: explicit answers FINISHED/RUNNING/LOST and RUNNING/UNKNOWN, implicit lists every task, tampered label repaired"
    );
}
