//! High availability: two operator processes on one namespace with leader election; the
//! leader is SIGKILLed mid-run, the standby takes the Lease over and the run completes with
//! no duplicate pod; a SIGTERM hands the Lease over without waiting for it to expire.

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use mesos_operator::api::{Framework, Task, TaskState};

use crate::observability::{framework, task};
use crate::process::{Operator, http_get, metric, wait_ready};
use crate::support::{TestEnv, kubeconfig};

const T: Duration = Duration::from_secs(90);
/// Short timings so the test is quick: the lease is valid 4 s, renewed 2 s before expiry.
const LEASE_SECONDS: u64 = 4;

fn start(env: &TestEnv, name: &str) -> Operator {
    let ns = env.ns.as_str();
    let duration = format!("{LEASE_SECONDS}s");
    Operator::start(
        ns,
        name,
        &[
            "--namespace",
            ns,
            "--leader-elect",
            "--leader-election-identity",
            name,
            "--leader-election-lease-duration",
            &duration,
            "--leader-election-renew-grace",
            "2s",
            "--metrics-addr",
            "127.0.0.1:0",
            "--scheduler-api-addr",
            "127.0.0.1:0",
            "--resync-period",
            "30s",
            "--unschedulable-retry",
            "1s",
        ],
        Path::new(&kubeconfig()),
    )
}

async fn lease(env: &TestEnv) -> Option<Lease> {
    let api: Api<Lease> = env.api();
    api.get_opt(&format!("mesos-operator-{}", env.ns))
        .await
        .ok()
        .flatten()
}

async fn holder(env: &TestEnv) -> Option<String> {
    lease(env)
        .await
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty())
}

/// Waits until one of `candidates` holds the lease; returns its name.
async fn wait_holder(env: &TestEnv, candidates: &[&str], timeout: Duration) -> String {
    let start = Instant::now();
    loop {
        if let Some(h) = holder(env).await
            && candidates.contains(&h.as_str())
        {
            return h;
        }
        assert!(
            start.elapsed() < timeout,
            "none of {candidates:?} took the lease within {timeout:?}; holder: {:?}",
            holder(env).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn elected(op: &Operator) -> Option<f64> {
    let addr = op.metrics_addr(T);
    http_get(&addr, "/metrics").and_then(|(_, body)| metric(&body, "mesos_master_elected"))
}

#[tokio::test]
async fn standby_takes_over_after_sigkill_and_sigterm_hands_over_promptly() {
    let env = TestEnv::without_operator("ha").await;
    let mut a = start(&env, "replica-a");
    let mut b = start(&env, "replica-b");
    let first = wait_holder(&env, &["replica-a", "replica-b"], T).await;
    let (leader, standby, standby_name) = if first == "replica-a" {
        (&mut a, &mut b, "replica-b")
    } else {
        (&mut b, &mut a, "replica-a")
    };
    // Both are ready (warm caches); only the leader reports itself elected.
    for _ in 0..100 {
        if elected(leader) == Some(1.0) && elected(standby) == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(elected(leader), Some(1.0), "{}", leader.log_tail(20));
    assert_eq!(elected(standby), Some(0.0), "{}", standby.log_tail(20));
    // A standby is ready (warm caches) although it does not lead.
    wait_ready(&standby.metrics_addr(T), T).await;

    // A run in progress: tasks running for a while when the leader dies.
    env.apply::<Framework>(&framework("batch", "Builtin")).await;
    env.wait_registered_with("batch", &|| leader.log_tail(30))
        .await;
    for i in 0..4 {
        env.apply::<Task>(&task(&format!("t{i}"), "batch", "15s", ""))
            .await;
    }
    for i in 0..4 {
        env.wait_task(&format!("t{i}"), T, "launched", |t| {
            t.status.as_ref().is_some_and(|s| s.pod.is_some())
        })
        .await;
    }

    let killed_at = Instant::now();
    leader.kill();
    let took_over = wait_holder(&env, &[standby_name], T).await;
    let failover = killed_at.elapsed();
    assert_eq!(took_over, standby_name);
    eprintln!(
        "leader failover after SIGKILL: {:.2} s (lease duration {LEASE_SECONDS} s)",
        failover.as_secs_f64()
    );
    // The lease of the dead leader must expire first: at most its duration after its last
    // renewal, plus the standby's jittered retry. Generous bound for a loaded machine.
    assert!(
        failover < Duration::from_secs(3 * LEASE_SECONDS),
        "take-over took {failover:?}"
    );

    // Work after the fail-over is done by the new leader, and the run completes.
    for i in 4..6 {
        env.apply::<Task>(&task(&format!("t{i}"), "batch", "1s", ""))
            .await;
    }
    let mut uids = Vec::new();
    for i in 0..6 {
        let t = env
            .wait_state(&format!("t{i}"), TaskState::Finished, T)
            .await;
        uids.push(t.status.and_then(|s| s.pod_uid).unwrap_or_default());
    }
    // No duplicate pod: one pod per task, the one its status recorded at launch.
    let pods: Api<Pod> = env.api();
    let pods = pods
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("listing pods: {e}"))
        .items;
    assert_eq!(pods.len(), 6, "one pod per task");
    for (i, uid) in uids.iter().enumerate() {
        assert_eq!(
            env.pods_of(&format!("t{i}"))
                .await
                .iter()
                .map(|p| p.metadata.uid.clone().unwrap_or_default())
                .collect::<Vec<_>>(),
            vec![uid.clone()],
            "t{i} ran in exactly the pod recorded at launch"
        );
    }
    assert_eq!(elected(standby), Some(1.0));

    // SIGTERM hand-over: a new standby takes the lease as soon as the leader releases it,
    // long before the released lease would have expired.
    let mut c = start(&env, "replica-c");
    wait_ready(&c.metrics_addr(T), T).await;
    let before = lease(&env).await.and_then(|l| l.spec).unwrap_or_default();
    let transitions = before.lease_transitions.unwrap_or_default();
    let terminated_at = Instant::now();
    standby.terminate();
    let status = standby.wait_exit(T);
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
    assert!(
        standby.log_text().contains("released the lease"),
        "{}",
        standby.log_tail(20)
    );
    wait_holder(&env, &["replica-c"], T).await;
    let handover = terminated_at.elapsed();
    eprintln!("SIGTERM hand-over: {:.2} s", handover.as_secs_f64());
    // kube-lease-manager takes a released lease in two writes (holder, then the
    // transition count): wait for the second.
    let counted = Instant::now();
    let after = loop {
        let after = lease(&env).await.and_then(|l| l.spec).unwrap_or_default();
        if after.lease_transitions.unwrap_or_default() > transitions {
            break after;
        }
        assert!(
            counted.elapsed() < T,
            "the hand-over to replica-c was never counted in leaseTransitions: {after:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Observable promptness: replica-c acquired the lease before the old holder's last
    // renewal would have expired.
    let (Some(renewed), Some(acquired)) = (before.renew_time.clone(), after.acquire_time.clone())
    else {
        panic!("lease times missing: {before:?} / {after:?}");
    };
    let expiry = renewed.0 + std::time::Duration::from_secs(LEASE_SECONDS);
    assert!(
        acquired.0 < expiry,
        "replica-c waited for expiry: acquired {} vs expiry {}",
        acquired.0,
        expiry
    );
    env.apply::<Task>(&task("after-handover", "batch", "1s", ""))
        .await;
    env.wait_state("after-handover", TaskState::Finished, T)
        .await;
    c.terminate();
    assert!(c.wait_exit(T).success());
}
