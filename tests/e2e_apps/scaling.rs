//! Scaling: `kubectl scale` through the scale subresource, scale-down victims, 0 suspends,
//! and a HorizontalPodAutoscaler that finds the App as its scale target.

use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::Api;

use crate::support::{TestEnv, kubectl_run};
use crate::*;

#[tokio::test]
async fn kubectl_scale_and_an_hpa_drive_the_instances() {
    let env = TestEnv::new("apps-scale").await;
    apply_app(
        &env,
        &app("web", 2, "serve", "  killSelection: OldestFirst\n"),
    )
    .await;
    wait_app(&env, "web", T, "deployed", |a| deployed(a, 1, "Complete")).await;

    let (ok, out) = kubectl_run(&["scale", "-n", &env.ns, "app/web", "--replicas", "5"], "");
    assert!(ok, "kubectl scale: {out}");
    let a = wait_app(&env, "web", T, "5 available", |a| {
        a.spec.instances == 5 && a.status.as_ref().is_some_and(|s| s.counts.available == 5)
    })
    .await;
    // The scale subresource reads what the status holds.
    let (ok, out) = kubectl_run(
        &[
            "get",
            "--raw",
            &format!(
                "/apis/mesos.operator.dev/v1alpha1/namespaces/{}/apps/web/scale",
                env.ns
            ),
        ],
        "",
    );
    assert!(ok, "{out}");
    let scale: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    assert_eq!(scale["spec"]["replicas"], 5, "{out}");
    assert_eq!(
        scale["status"]["selector"], "mesos.operator.dev/app=web",
        "{out}"
    );
    // A scale change is no new version.
    assert_eq!(a.status.as_ref().and_then(|s| s.version), Some(1));

    // Scale down: the oldest first.
    let before = instances(&env, "web").await;
    let (ok, out) = kubectl_run(&["scale", "-n", &env.ns, "app/web", "--replicas", "3"], "");
    assert!(ok, "{out}");
    wait_app(&env, "web", T, "3 live", |a| {
        a.status
            .as_ref()
            .is_some_and(|s| s.replicas == 3 && s.counts.available == 3)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = instances(&env, "web").await;
    let kept: Vec<&String> = after
        .iter()
        .filter(|(_, t)| live(t))
        .map(|(n, _)| n)
        .collect();
    let mut created: Vec<(String, String)> = before
        .iter()
        .map(|(n, t)| {
            let c = t
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|c| c.0.to_string())
                .unwrap_or_default();
            (c, n.clone())
        })
        .collect();
    created.sort();
    // OldestFirst: when the two oldest are strictly older than the rest, both went.
    if created.len() == 5 && created[2].0 > created[1].0 {
        for (_, oldest) in created.iter().take(2) {
            assert!(!kept.contains(&oldest), "{oldest} kept: {kept:?}");
        }
    }
    assert_eq!(kept.len(), 3);

    // 0 suspends.
    kubectl_run(&["scale", "-n", &env.ns, "app/web", "--replicas", "0"], "");
    wait_app(&env, "web", T, "suspended", |a| {
        a.status.as_ref().is_some_and(|s| s.replicas == 0)
            && condition(a, "Available").1 == "Suspended"
    })
    .await;

    // An HPA on the App: it finds the scale target (no metrics server here, so it
    // cannot compute a metric, but AbleToScale says the target resolved).
    kubectl_run(&["scale", "-n", &env.ns, "app/web", "--replicas", "2"], "");
    let hpa = format!(
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\n  namespace: {}\nspec:\n  \
         scaleTargetRef: {{apiVersion: mesos.operator.dev/v1alpha1, kind: App, name: web}}\n  minReplicas: 2\n  maxReplicas: 4\n  \
         metrics:\n  - type: Resource\n    resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 50}}}}\n",
        env.ns
    );
    let (ok, out) = kubectl_run(&["apply", "-f", "-"], &hpa);
    assert!(ok, "{out}");
    let api: Api<HorizontalPodAutoscaler> = env.api();
    let start = std::time::Instant::now();
    loop {
        let h = api.get("web").await.ok();
        let able = h
            .as_ref()
            .and_then(|h| h.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "AbleToScale").cloned());
        if let Some(c) = &able {
            assert_eq!(c.status, "True", "{c:?}");
            println!(
                "HPA AbleToScale: {} ({})",
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default()
            );
            break;
        }
        assert!(
            start.elapsed() < T,
            "the HPA never reported AbleToScale: {h:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn scale_down_restores_the_spread_of_group_by() {
    let mut env = TestEnv::with_args("apps-spread", &["--node-selector", "e2e-pool={ns}"]).await;
    // Two zones, room for two instances per node: four instances are 2 + 2.
    for (n, zone) in [("a", "zone-a"), ("b", "zone-b")] {
        env.add_node(
            n,
            "1",
            "4Gi",
            serde_json::json!({"metadata": {
                "name": format!("{}-{n}", env.ns),
                "annotations": {"kwok.x-k8s.io/node": "fake"},
                "labels": {"type": "kwok", "e2e-pool": env.ns, "topology.kubernetes.io/zone": zone},
            }}),
        )
        .await;
    }
    let spec = |n: i32| {
        format!(
            "apiVersion: mesos.operator.dev/v1alpha1\nkind: App\nmetadata:\n  name: web\nspec:\n  instances: {n}\n  \
             resources: {{cpus: 0.5, mem: 32}}\n  command: {{shell: serve}}\n  \
             constraints: [{{field: zone, operator: GROUP_BY, value: \"2\"}}]\n"
        )
    };
    apply_app(&env, &spec(4)).await;
    wait_app(&env, "web", T, "4 available", |a| {
        deployed(a, 1, "Complete")
    })
    .await;
    let zones = |tasks: &BTreeMap<String, Task>| {
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for t in tasks.values().filter(|t| live(t) && !t.spec.kill) {
            let node = t
                .status
                .as_ref()
                .and_then(|s| s.agent.clone())
                .unwrap_or_default();
            *by.entry(node).or_insert(0) += 1;
        }
        by
    };
    let before = zones(&instances(&env, "web").await);
    assert_eq!(
        before.values().copied().collect::<Vec<_>>(),
        [2, 2],
        "{before:?}"
    );
    apply_app(&env, &spec(2)).await;
    wait_app(&env, "web", T, "2 live", |a| {
        a.status.as_ref().is_some_and(|s| s.replicas == 2)
    })
    .await;
    let after = zones(&instances(&env, "web").await);
    assert_eq!(
        after.values().copied().collect::<Vec<_>>(),
        [1, 1],
        "{after:?}"
    );
}
