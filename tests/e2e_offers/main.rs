//! End-to-end tests of resource offers and the weighted DRF allocator (External
//! frameworks), against a real API server. Each test runs its operator on a node pool of
//! its own (`--node-selector e2e-pool=<namespace>`), so saturating it disturbs no other
//! test. A separate test binary: cargo runs it after the main e2e suite.

#[path = "../e2e/support.rs"]
#[allow(dead_code)]
mod support;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use mesos_operator::api::{
    Framework, Offer, OfferState, ResourceRole, Task, TaskReason, TaskState,
};
use support::TestEnv;

const T: Duration = Duration::from_secs(60);

fn external(name: &str, role: &str, extra: &str) -> String {
    format!(
        "apiVersion: mesos.operator.dev/v1alpha1\nkind: Framework\nmetadata:\n  name: {name}\nspec:\n  scheduler: External\n  role: \"{role}\"\n  capabilities: [PartitionAware]\n{extra}"
    )
}

async fn offers(env: &TestEnv) -> Vec<Offer> {
    let api: Api<Offer> = env.api();
    api.list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

async fn wait_offer(env: &TestEnv, what: &str, pred: impl Fn(&Offer) -> bool) -> Offer {
    let start = Instant::now();
    loop {
        if let Some(o) = offers(env).await.into_iter().find(|o| pred(o)) {
            return o;
        }
        assert!(
            start.elapsed() < T,
            "no offer {what} within {T:?}; operator log:\n{}",
            env.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn outstanding(o: &Offer) -> bool {
    o.metadata.deletion_timestamp.is_none()
        && o.status
            .as_ref()
            .is_some_and(|s| s.state == OfferState::Outstanding)
}

fn offer_task(name: &str, offer: &Offer, cpus: f64, mem: u64, run_for: Option<&str>) -> String {
    let annotations = run_for
        .map(|d| format!("\n  annotations:\n    kwok.mesos.operator.dev/run-for: {d}"))
        .unwrap_or_default();
    format!(
        "apiVersion: mesos.operator.dev/v1alpha1\nkind: Task\nmetadata:\n  name: {name}{annotations}\nspec:\n  framework: {}\n  offer: {}\n  resources: {{cpus: {cpus}, mem: {mem}}}\n  command: {{shell: \"sleep 1\"}}\n",
        offer.spec.framework,
        offer.metadata.name.clone().unwrap_or_default()
    )
}

async fn decline(env: &TestEnv, offer: &Offer, refuse_seconds: u32) {
    let api: Api<Offer> = env.api();
    let name = offer.metadata.name.clone().unwrap_or_default();
    let patch = serde_json::json!({"spec": {"decline": {"refuseSeconds": refuse_seconds}}});
    if let Err(e) = api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        // Rescinded in the meantime: nothing to decline.
        println!("decline of {name} skipped: {e}");
    }
}

#[tokio::test]
async fn weighted_drf_shares_converge_to_role_weights() {
    let mut env = TestEnv::with_args(
        "drf",
        &[
            "--node-selector",
            "e2e-pool={ns}",
            "--allocation-interval",
            "200ms",
        ],
    )
    .await;
    for i in 0..2 {
        env.add_node(&format!("n{i}"), "8", "64Gi", serde_json::json!({}))
            .await;
    }
    let light = format!("{}-light", env.ns);
    let heavy = format!("{}-heavy", env.ns);
    let roles: Api<ResourceRole> = Api::all(env.client.clone());
    for (role, weight) in [(&light, 1.0), (&heavy, 3.0)] {
        let manifest = serde_json::json!({"apiVersion": "mesos.operator.dev/v1alpha1", "kind": "ResourceRole", "metadata": {"name": role}, "spec": {"weight": weight}});
        roles
            .patch(
                role,
                &PatchParams::apply("e2e-test").force(),
                &Patch::Apply(&manifest),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let settings = "  offers: {timeout: 5s, refuseSeconds: 1}\n";
    env.apply::<Framework>(&external("light", &light, settings))
        .await;
    env.apply::<Framework>(&external("heavy", &heavy, settings))
        .await;

    // A test scheduler that accepts every offer it can use (1-cpu tasks of 2 s) and
    // declines the rest; allocations are sampled once the cluster is saturated.
    let tasks: Api<Task> = env.api();
    let pods: Api<Pod> = env.api();
    let mut answered: HashSet<String> = HashSet::new();
    let mut launched = 0usize;
    let mut samples: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let start = Instant::now();
    let (warmup, total) = (Duration::from_secs(15), Duration::from_secs(45));
    let mut next_sample = start + warmup;
    while start.elapsed() < total {
        for offer in offers(&env).await.into_iter().filter(outstanding) {
            let name = offer.metadata.name.clone().unwrap_or_default();
            if !answered.insert(name) {
                continue;
            }
            let cpus = offer.spec.resources.cpus.millis() / 1000;
            let mem_mib = offer.spec.resources.mem.bytes() >> 20;
            let n = cpus.min(mem_mib / 256);
            if n == 0 {
                decline(&env, &offer, 1).await;
                continue;
            }
            for _ in 0..n {
                launched += 1;
                let manifest = offer_task(
                    &format!("{}-{launched}", offer.spec.framework),
                    &offer,
                    1.0,
                    256,
                    Some("2s"),
                );
                let value: serde_json::Value = serde_yaml::from_str(&manifest).unwrap_or_default();
                let name = format!("{}-{launched}", offer.spec.framework);
                tasks
                    .patch(
                        &name,
                        &PatchParams::apply("e2e-test"),
                        &Patch::Apply(&value),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
        if Instant::now() >= next_sample {
            next_sample += Duration::from_millis(500);
            // Ground truth: cpus of the running pods of each framework.
            let running = pods
                .list(&ListParams::default().fields("status.phase=Running"))
                .await
                .map(|l| l.items)
                .unwrap_or_default();
            for fw in ["light", "heavy"] {
                let n = running
                    .iter()
                    .filter(|p| {
                        p.labels()
                            .get("mesos.operator.dev/framework")
                            .map(String::as_str)
                            == Some(fw)
                    })
                    .count();
                samples.entry(fw).or_default().push(n as f64);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mean = |fw: &str| {
        samples
            .get(fw)
            .map(|v| v.iter().sum::<f64>() / v.len().max(1) as f64)
            .unwrap_or(0.0)
    };
    let (l, h) = (mean("light"), mean("heavy"));
    let light_share = l / (l + h).max(f64::EPSILON);
    println!(
        "drf: {launched} tasks launched; mean running light {l:.2} cpus, heavy {h:.2} cpus; light share {:.1}% (weights 1:3 → 25%)",
        light_share * 100.0
    );
    assert!(
        l + h >= 10.0,
        "the cluster (16 cpus) was never saturated: light {l:.2}, heavy {h:.2}; log:\n{}",
        env.log_tail(30)
    );
    assert!(
        (0.15..=0.35).contains(&light_share),
        "light share {:.1}% is not near 25% (light {l:.2}, heavy {h:.2} cpus)",
        light_share * 100.0
    );
    for role in [&light, &heavy] {
        let _ = roles.delete(role, &Default::default()).await;
    }
}

#[tokio::test]
async fn accept_decline_suppress_revive_and_timeout() {
    let mut env = TestEnv::with_args(
        "offers",
        &[
            "--node-selector",
            "e2e-pool={ns}",
            "--allocation-interval",
            "200ms",
        ],
    )
    .await;
    let agent = env.add_node("n0", "8", "32Gi", serde_json::json!({})).await;
    env.apply::<Framework>(&external(
        "ext",
        "*",
        "  offers: {timeout: 3s, refuseSeconds: 300}\n",
    ))
    .await;

    // An offer of the whole agent, with its attributes and expiry.
    let offer = wait_offer(&env, "for the framework", outstanding).await;
    assert_eq!(offer.spec.agent, agent);
    assert_eq!(offer.spec.framework, "ext");
    assert_eq!(offer.spec.resources.cpus.millis(), 8000);
    assert_eq!(
        offer
            .spec
            .attributes
            .get("topology.kubernetes.io/zone")
            .map(String::as_str),
        Some("zone-e2e")
    );
    assert!(offer.spec.expires_at.is_some());
    let owner = offer.metadata.owner_references.clone().unwrap_or_default();
    assert_eq!(owner.first().map(|o| o.kind.as_str()), Some("Framework"));

    // Offer timeout: unanswered, it is rescinded and the agent offered again.
    let first = offer.metadata.name.clone().unwrap_or_default();
    let again = wait_offer(&env, "after the first expired", |o| {
        outstanding(o) && o.metadata.name.as_deref() != Some(first.as_str())
    })
    .await;
    env.wait_event("ext", "OfferRescinded", T).await;

    // Accept part of it: the task runs on the offer's agent and the offer shows what remains.
    let tasks: Api<Task> = env.api();
    let _ = tasks;
    env.apply::<Task>(&offer_task("accepted", &again, 2.0, 1024, None))
        .await;
    let running = env.wait_state("accepted", TaskState::Running, T).await;
    assert_eq!(running.status.and_then(|s| s.agent), Some(agent.clone()));
    // A task that does not fit in what remains is refused.
    env.apply::<Task>(&offer_task("too-big", &again, 7.0, 1024, None))
        .await;
    let refused = env.wait_state("too-big", TaskState::Dropped, T).await;
    assert_eq!(
        refused.status.and_then(|s| s.reason),
        Some(TaskReason::ReasonInvalidOffers)
    );

    // The remainder returns to the pool: the next offer holds the agent minus the task.
    let rest = wait_offer(&env, "of the remainder", |o| {
        outstanding(o) && o.spec.resources.cpus.millis() == 6000
    })
    .await;

    // Decline with a long filter: no new offer of that agent while it holds.
    decline(&env, &rest, 300).await;
    let declined = rest.metadata.name.clone().unwrap_or_default();
    wait_offer(&env, "declined", |o| {
        o.metadata.name.as_deref() == Some(declined.as_str())
            && o.status
                .as_ref()
                .is_some_and(|s| s.state == OfferState::Declined && s.filter_until.is_some())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !offers(&env).await.iter().any(outstanding),
        "an agent filtered for 300 s was offered again"
    );

    // Suppress, then revive: revive clears the filter and offers come back.
    let fws: Api<Framework> = env.api();
    fws.patch(
        "ext",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"offers": {"suppressed": true}}})),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..50 {
        if fws
            .get("ext")
            .await
            .ok()
            .and_then(|f| f.status)
            .is_some_and(|s| s.suppressed)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !offers(&env).await.iter().any(outstanding),
        "a suppressed framework got an offer"
    );
    fws.patch(
        "ext",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"offers": {"suppressed": false}}})),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let revived = wait_offer(&env, "after REVIVE", outstanding).await;
    assert_eq!(revived.spec.resources.cpus.millis(), 6000);
    let status = fws
        .get("ext")
        .await
        .ok()
        .and_then(|f| f.status)
        .unwrap_or_default();
    println!(
        "offers: framework status offers={} offered={} allocated={} share={}%",
        status.offers, status.offered, status.allocated, status.dominant_share_percent
    );
}
