//! unreachableStrategy with a NotReady node: after `inactiveAfterSeconds` a replacement is
//! launched, after `expungeAfterSeconds` the unreachable instance is killed.

use std::time::Instant;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use mesos_operator::api::app::ANNOTATION_KILL_REASON;

use crate::support::TestEnv;
use crate::*;

#[tokio::test]
async fn unreachable_instances_are_replaced_then_expunged() {
    let mut env = TestEnv::with_args("apps-unreach", &["--node-selector", "e2e-pool={ns}"]).await;
    for n in ["n0", "n1", "n2"] {
        env.add_node(n, "8", "32Gi", serde_json::json!({})).await;
    }
    // A host port: two instances never share a node.
    let extra = "  ports: [{name: http, port: 31500}]\n  requirePorts: true\n  unreachableStrategy: {inactiveAfterSeconds: 3, expungeAfterSeconds: 8}\n";
    apply_app(&env, &app("svc", 2, "serve", extra)).await;
    wait_app(&env, "svc", T, "deployed", |a| deployed(a, 1, "Complete")).await;
    let tasks = instances(&env, "svc").await;
    let (victim, task) = tasks
        .iter()
        .next()
        .map(|(n, t)| (n.clone(), t.clone()))
        .unwrap_or_else(|| panic!("an instance"));
    let node = task
        .status
        .and_then(|s| s.agent)
        .unwrap_or_else(|| panic!("placed"));

    let nodes: Api<Node> = Api::all(env.client.clone());
    let mark = |value: serde_json::Value| serde_json::json!({"metadata": {"annotations": {"kwok.mesos.operator.dev/not-ready": value}}});
    nodes
        .patch(
            &node,
            &PatchParams::default(),
            &Patch::Merge(mark(serde_json::json!("true"))),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    env.wait_state(&victim, TaskState::Unreachable, T).await;
    let unreachable_at = Instant::now();

    // Inactive: a replacement runs on the third node while the unreachable one waits.
    let a = wait_app(&env, "svc", T, "a replacement", |a| {
        a.status
            .as_ref()
            .is_some_and(|s| s.counts.unreachable == 1 && s.counts.available == 2)
    })
    .await;
    println!(
        "replacement available {:.1} s after TASK_UNREACHABLE",
        unreachable_at.elapsed().as_secs_f64()
    );
    // The inactive instance no longer counts; its Task is still there.
    assert_eq!(a.status.as_ref().map(|s| s.replicas), Some(2));
    let tasks = instances(&env, "svc").await;
    assert_eq!(tasks.values().filter(|t| live(t)).count(), 3, "{tasks:?}");

    // Expunged: killed, then gone from the app.
    let start = Instant::now();
    loop {
        let tasks = instances(&env, "svc").await;
        match tasks.get(&victim) {
            None => break,
            Some(t) if t.spec.kill => {
                assert_eq!(
                    t.annotations()
                        .get(ANNOTATION_KILL_REASON)
                        .map(String::as_str),
                    Some("UnreachableExpunged")
                );
                break;
            }
            Some(_) => {}
        }
        assert!(
            start.elapsed() < T,
            "{victim} never expunged: {:?}",
            tasks.get(&victim)
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    println!(
        "expunged {:.1} s after TASK_UNREACHABLE",
        unreachable_at.elapsed().as_secs_f64()
    );
    nodes
        .patch(
            &node,
            &PatchParams::default(),
            &Patch::Merge(mark(serde_json::Value::Null)),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let done = wait_app(&env, "svc", T, "2 live, none unreachable", |a| {
        a.status.as_ref().is_some_and(|s| {
            s.replicas == 2 && s.counts.available == 2 && s.counts.unreachable == 0
        })
    })
    .await;
    assert_eq!(done.spec.instances, 2);
}
