//! Placement constraints (Marathon's seven operators) on Tasks of a Builtin framework,
//! enforced by the allocator, on kwok nodes with zone, region and custom labels: where the
//! tasks land, and what an infeasible task says (it waits in TASK_STAGING with the reason
//! on its `Scheduled` condition, and no node is overcommitted).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use mesos_operator::api::condition::Conditions;
use mesos_operator::api::task::TaskCondition;
use mesos_operator::api::{Framework, Task, TaskReason, TaskState};
use serde_json::json;

use crate::support::{TestEnv, node_of};

const T: Duration = Duration::from_secs(60);

/// Six nodes: two per zone (a, b in region r1; c in region r2), racks 0–2, disks ssd/hdd.
/// Returns node name → (zone, region, rack, disk).
async fn zoned_pool(env: &mut TestEnv) -> BTreeMap<String, [String; 4]> {
    let mut pool = BTreeMap::new();
    for i in 0..6 {
        let zone = ["zone-a", "zone-b", "zone-c"][i / 2].to_string();
        let region = if i < 4 { "r1" } else { "r2" }.to_string();
        let rack = format!("rack-{}", i % 3);
        let disk = if i % 2 == 0 { "ssd" } else { "hdd" }.to_string();
        let name = format!("{}-n{i}", env.ns);
        let metadata = json!({
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {
                "type": "kwok",
                "e2e-pool": env.ns,
                "kubernetes.io/hostname": name,
                "topology.kubernetes.io/zone": zone,
                "topology.kubernetes.io/region": region,
                "rack": rack,
                "example.com/disk": disk,
            }
        });
        let created = env
            .add_node(
                &format!("n{i}"),
                "4",
                "16Gi",
                json!({ "metadata": metadata }),
            )
            .await;
        assert_eq!(created, name);
        pool.insert(name, [zone, region, rack, disk]);
    }
    pool
}

async fn env_with_pool(name: &str) -> (TestEnv, BTreeMap<String, [String; 4]>) {
    env_with_scheduler(name, "Builtin").await
}

async fn env_with_scheduler(
    name: &str,
    scheduler: &str,
) -> (TestEnv, BTreeMap<String, [String; 4]>) {
    let mut env = TestEnv::with_args(
        name,
        &[
            "--node-selector",
            "e2e-pool={ns}",
            "--allocation-interval",
            "200ms",
        ],
    )
    .await;
    let pool = zoned_pool(&mut env).await;
    if scheduler == "External" {
        renew_lease(&env).await;
    }
    env.apply::<Framework>(&format!(
        "apiVersion: mesos.operator.dev/v1alpha1\nkind: Framework\nmetadata:\n  name: fw\nspec:\n  scheduler: {scheduler}\n  offers: {{timeout: 120s}}\n"
    ))
    .await;
    env.wait_registered("fw").await;
    (env, pool)
}

/// Renews the External scheduler's Lease (2 s) once.
async fn renew_lease(env: &TestEnv) {
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    use kube::api::{Patch, PatchParams};
    let api: Api<Lease> = env.api();
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "fw-scheduler"},
        "spec": {"holderIdentity": "test-scheduler", "leaseDurationSeconds": 2,
                 "renewTime": MicroTime(k8s_openapi::jiff::Timestamp::now())}
    });
    api.patch(
        "fw-scheduler",
        &PatchParams::apply("test-scheduler").force(),
        &Patch::Apply(&lease),
    )
    .await
    .unwrap_or_else(|e| panic!("renewing the lease: {e}"));
}

/// A long-running task of group `group` with `constraints` (YAML flow items).
fn task(name: &str, group: &str, target: Option<u32>, constraints: &[&str], cpus: &str) -> String {
    let target = target
        .map(|t| format!("    targetInstances: {t}\n"))
        .unwrap_or_default();
    let list: String = constraints.iter().map(|c| format!("    - {c}\n")).collect();
    format!(
        "apiVersion: mesos.operator.dev/v1alpha1\nkind: Task\nmetadata:\n  name: {name}\nspec:\n  framework: fw\n  resources: {{cpus: {cpus}, mem: 32}}\n  command: {{shell: \"serve\"}}\n  placement:\n    group: {group}\n{target}    constraints:\n{list}"
    )
}

/// Applies `count` tasks `<group>-<i>` at once.
async fn apply_group(
    env: &TestEnv,
    group: &str,
    count: usize,
    target: Option<u32>,
    constraints: &[&str],
) -> Vec<String> {
    let names: Vec<String> = (0..count).map(|i| format!("{group}-{i}")).collect();
    let manifests: Vec<String> = names
        .iter()
        .map(|n| task(n, group, target, constraints, "0.1"))
        .collect();
    futures::future::join_all(manifests.iter().map(|m| env.apply::<Task>(m))).await;
    names
}

/// Waits until each task is either running or unschedulable, `placed` of them running;
/// returns the nodes of the running ones and the Scheduled messages of the others.
async fn settle(env: &TestEnv, names: &[String], placed: usize) -> (Vec<String>, Vec<String>) {
    let api: Api<Task> = env.api();
    let start = Instant::now();
    loop {
        let mut nodes = Vec::new();
        let mut waiting = Vec::new();
        for name in names {
            let Some(t) = api.get_opt(name).await.ok().flatten() else {
                continue;
            };
            let st = t.status.clone().unwrap_or_default();
            if st.state == Some(TaskState::Running) {
                let pods = env.pods_of(name).await;
                nodes.extend(pods.iter().map(node_of));
            } else if st.state == Some(TaskState::Staging)
                && let Some(c) = st.conditions.get_condition(TaskCondition::Scheduled)
                && c.reason == "Unschedulable"
            {
                waiting.push(c.message.clone());
            }
        }
        if nodes.len() == placed && nodes.len() + waiting.len() == names.len() {
            return (nodes, waiting);
        }
        if start.elapsed() > T {
            panic!(
                "{names:?}: expected {placed} running and the rest unschedulable; {} running on {nodes:?}, waiting: {waiting:?}\noperator log:\n{}",
                nodes.len(),
                env.log_tail(40)
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn counts<'a>(values: impl IntoIterator<Item = &'a str>) -> BTreeMap<&'a str, usize> {
    let mut map = BTreeMap::new();
    for v in values {
        *map.entry(v).or_insert(0) += 1;
    }
    map
}

/// Column `i` (0 zone, 1 region, 2 rack, 3 disk) of each node.
fn column<'p>(pool: &'p BTreeMap<String, [String; 4]>, nodes: &[String], i: usize) -> Vec<&'p str> {
    nodes.iter().map(|n| pool[n][i].as_str()).collect()
}

/// Pods never exceed a node's allocatable CPUs (4) on any node of the pool.
async fn assert_not_overcommitted(env: &TestEnv) {
    let pods: Api<Pod> = env.api();
    let mut millis: BTreeMap<String, i64> = BTreeMap::new();
    for pod in pods
        .list(&ListParams::default())
        .await
        .expect("list pods")
        .items
    {
        let cpu: i64 = pod
            .spec
            .as_ref()
            .map(|s| {
                s.containers
                    .iter()
                    .filter_map(|c| c.resources.as_ref()?.requests.as_ref()?.get("cpu").cloned())
                    .map(|q| {
                        let q = q.0;
                        match q.strip_suffix('m') {
                            Some(m) => m.parse::<i64>().unwrap_or(0),
                            None => (q.parse::<f64>().unwrap_or(0.0) * 1000.0) as i64,
                        }
                    })
                    .sum()
            })
            .unwrap_or(0);
        *millis.entry(node_of(&pod)).or_default() += cpu;
    }
    for (node, used) in millis {
        assert!(
            used <= 4000,
            "node {node} has {used}m CPU requested, more than its 4 CPUs"
        );
    }
}

#[tokio::test]
async fn unique_max_per_and_cluster_place_as_marathon_does() {
    let (env, pool) = env_with_pool("cons-a").await;

    // UNIQUE hostname: 8 tasks launched together on 6 nodes: 6 run, one per node; 2 wait.
    let names = apply_group(
        &env,
        "uniq",
        8,
        None,
        &["{field: hostname, operator: UNIQUE}"],
    )
    .await;
    let (nodes, waiting) = settle(&env, &names, 6).await;
    assert_eq!(nodes.iter().collect::<BTreeSet<_>>().len(), 6, "{nodes:?}");
    assert_eq!(waiting.len(), 2);
    for message in &waiting {
        assert!(
            message.contains("placement constraints admit no available agent")
                && message.contains("0 of 6 nodes admit it")
                && message.contains("constraint 0 (hostname UNIQUE) refused 6"),
            "{message}"
        );
    }

    // MAX_PER zone 1: one per zone.
    let names = apply_group(
        &env,
        "maxper",
        5,
        None,
        &["{field: zone, operator: MAX_PER, value: \"1\"}"],
    )
    .await;
    let (nodes, waiting) = settle(&env, &names, 3).await;
    assert_eq!(
        counts(column(&pool, &nodes, 0)),
        BTreeMap::from([("zone-a", 1), ("zone-b", 1), ("zone-c", 1)])
    );
    assert!(
        waiting.iter().all(|m| m.contains("zone MAX_PER 1")),
        "{waiting:?}"
    );

    // CLUSTER with a value: every task on rack-1.
    let names = apply_group(
        &env,
        "rack",
        4,
        None,
        &["{field: rack, operator: CLUSTER, value: rack-1}"],
    )
    .await;
    let (nodes, _) = settle(&env, &names, 4).await;
    assert!(
        column(&pool, &nodes, 2).iter().all(|r| *r == "rack-1"),
        "{nodes:?}"
    );

    // CLUSTER without a value: every task in the first one's region.
    let names = apply_group(
        &env,
        "region",
        4,
        None,
        &["{field: region, operator: CLUSTER}"],
    )
    .await;
    let (nodes, _) = settle(&env, &names, 4).await;
    assert_eq!(
        column(&pool, &nodes, 1)
            .into_iter()
            .collect::<BTreeSet<_>>()
            .len(),
        1,
        "{nodes:?}"
    );
    assert_not_overcommitted(&env).await;
}

#[tokio::test]
async fn like_unlike_is_and_group_by_place_as_marathon_does() {
    let (env, pool) = env_with_pool("cons-b").await;

    // LIKE on a custom label: ssd nodes only.
    let names = apply_group(
        &env,
        "ssd",
        4,
        None,
        &["{field: example.com/disk, operator: LIKE, value: \"ss.*\"}"],
    )
    .await;
    let (nodes, _) = settle(&env, &names, 4).await;
    assert!(
        column(&pool, &nodes, 3).iter().all(|d| *d == "ssd"),
        "{nodes:?}"
    );

    // UNLIKE zone a|b: zone-c only.
    let names = apply_group(
        &env,
        "notab",
        3,
        None,
        &["{field: zone, operator: UNLIKE, value: \"zone-(a|b)\"}"],
    )
    .await;
    let (nodes, _) = settle(&env, &names, 3).await;
    assert!(
        column(&pool, &nodes, 0).iter().all(|z| *z == "zone-c"),
        "{nodes:?}"
    );

    // IS region r1 together with hostname UNIQUE: the four r1 nodes, one each.
    let names = apply_group(
        &env,
        "r1",
        5,
        None,
        &[
            "{field: region, operator: IS, value: r1}",
            "{field: hostname, operator: UNIQUE}",
        ],
    )
    .await;
    let (nodes, waiting) = settle(&env, &names, 4).await;
    assert!(
        column(&pool, &nodes, 1).iter().all(|r| *r == "r1"),
        "{nodes:?}"
    );
    assert_eq!(nodes.iter().collect::<BTreeSet<_>>().len(), 4);
    assert!(
        waiting[0].contains("constraint 0 (region IS r1) refused 2")
            && waiting[0].contains("constraint 1 (hostname UNIQUE) refused 4"),
        "{waiting:?}"
    );

    // GROUP_BY zone 3 with 6 target instances: two per zone.
    let names = apply_group(
        &env,
        "spread",
        6,
        Some(6),
        &["{field: zone, operator: GROUP_BY, value: \"3\"}"],
    )
    .await;
    let (nodes, _) = settle(&env, &names, 6).await;
    assert_eq!(
        counts(column(&pool, &nodes, 0)),
        BTreeMap::from([("zone-a", 2), ("zone-b", 2), ("zone-c", 2)])
    );

    // GROUP_BY rack without a count: 6 tasks, two per rack.
    let names = apply_group(
        &env,
        "even",
        6,
        None,
        &["{field: rack, operator: GROUP_BY}"],
    )
    .await;
    let (nodes, _) = settle(&env, &names, 6).await;
    assert_eq!(
        counts(column(&pool, &nodes, 2)),
        BTreeMap::from([("rack-0", 2), ("rack-1", 2), ("rack-2", 2)])
    );
    assert_not_overcommitted(&env).await;
}

#[tokio::test]
async fn infeasible_constraints_wait_with_a_message_and_bad_ones_are_task_errors() {
    let (env, pool) = env_with_pool("cons-c").await;
    let first = pool.keys().next().cloned().unwrap_or_default();

    // No node is in that zone: the task waits, says why, and gets an Event.
    env.apply::<Task>(&task(
        "nowhere",
        "nowhere",
        None,
        &["{field: zone, operator: IS, value: zone-z}"],
        "0.1",
    ))
    .await;
    let (_, waiting) = settle(&env, &["nowhere".to_string()], 0).await;
    assert!(
        waiting[0].contains("its placement constraints admit no available agent")
            && waiting[0].contains("constraint 0 (zone IS zone-z) refused 6"),
        "{waiting:?}"
    );
    env.wait_event("nowhere", "Unschedulable", T).await;
    let t: Task = env.api().get("nowhere").await.expect("task");
    assert_eq!(
        t.status.and_then(|s| s.message).unwrap_or_default(),
        waiting[0]
    );
    assert!(env.pods_of("nowhere").await.is_empty());

    // Pinned to one node by hostname: three 1.5-CPU tasks, two fit on its 4 CPUs; the
    // third waits (the node is never overcommitted) and says that the one node the
    // constraints admit has no room.
    let pin = format!("{{field: hostname, operator: LIKE, value: \"{first}\"}}");
    for i in 0..3 {
        env.apply::<Task>(&task(
            &format!("pinned-{i}"),
            "pinned",
            None,
            &[&pin],
            "1.5",
        ))
        .await;
    }
    let names: Vec<String> = (0..3).map(|i| format!("pinned-{i}")).collect();
    let (nodes, waiting) = settle(&env, &names, 2).await;
    assert!(nodes.iter().all(|n| *n == first), "{nodes:?}");
    assert!(
        waiting[0].contains("no available agent that its placement constraints admit has room")
            && waiting[0].contains("1 of 6 nodes admit it"),
        "{waiting:?}"
    );
    assert_not_overcommitted(&env).await;
    let nodes: Api<Node> = Api::all(env.client.clone());
    assert!(nodes.get(&first).await.is_ok());

    // A regular expression that does not compile (CEL cannot tell): TASK_ERROR naming it.
    env.apply::<Task>(&task(
        "badregex",
        "bad",
        None,
        &[
            "{field: hostname, operator: UNIQUE}",
            "{field: rack, operator: LIKE, value: \"rack-[\"}",
        ],
        "0.1",
    ))
    .await;
    let t = env.wait_state("badregex", TaskState::Error, T).await;
    let st = t.status.unwrap_or_default();
    assert_eq!(st.reason, Some(TaskReason::ReasonTaskInvalid));
    let message = st.message.unwrap_or_default();
    assert!(
        message.contains("spec.placement.constraints[1].value")
            && message.contains("not a valid regular expression"),
        "{message}"
    );
    assert!(env.pods_of("badregex").await.is_empty());
}

#[tokio::test]
async fn external_launches_that_break_constraints_are_refused_at_the_offers_agent() {
    use mesos_operator::api::{Offer, OfferState};
    let (env, pool) = env_with_scheduler("cons-ext", "External").await;
    let renewing = {
        let env_ns = env.ns.clone();
        let client = env.client.clone();
        tokio::spawn(async move {
            use k8s_openapi::api::coordination::v1::Lease;
            use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
            use kube::api::{Patch, PatchParams};
            let api: Api<Lease> = Api::namespaced(client, &env_ns);
            loop {
                let lease = json!({
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": "fw-scheduler"},
                    "spec": {"holderIdentity": "test-scheduler", "leaseDurationSeconds": 2,
                             "renewTime": MicroTime(k8s_openapi::jiff::Timestamp::now())}
                });
                let _ = api
                    .patch(
                        "fw-scheduler",
                        &PatchParams::apply("test-scheduler").force(),
                        &Patch::Apply(&lease),
                    )
                    .await;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    // An outstanding offer of one node.
    let offers: Api<Offer> = env.api();
    let start = Instant::now();
    let offer = loop {
        let outstanding = offers
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
            .into_iter()
            .find(|o| {
                o.status
                    .as_ref()
                    .is_some_and(|s| s.state == OfferState::Outstanding)
            });
        if let Some(o) = outstanding {
            break o;
        }
        assert!(
            start.elapsed() < T,
            "no offer; operator log:\n{}",
            env.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let offer_name = offer.metadata.name.clone().unwrap_or_default();
    let agent = offer.spec.agent.clone();
    let zone = pool[&agent][0].clone();
    let on_offer = |name: &str, constraint: &str| {
        task(name, "svc", None, &[constraint], "0.1").replace(
            "  framework: fw\n",
            &format!("  framework: fw\n  offer: {offer_name}\n"),
        )
    };
    // Two tasks of a hostname-UNIQUE group launched together on one offer: one runs, the
    // other is refused (the placement lock makes each see the other).
    let unique = "{field: hostname, operator: UNIQUE}";
    let (a, b) = (on_offer("ext-0", unique), on_offer("ext-1", unique));
    // With them, on the same offer (it is used up once accepted): a task of the group
    // whose zone rule the offer's agent breaks.
    let c =
        on_offer("ext-2", "{field: zone, operator: UNLIKE, value: ZONE}").replace("ZONE", &zone);
    futures::join!(
        env.apply::<Task>(&a),
        env.apply::<Task>(&b),
        env.apply::<Task>(&c)
    );
    let api: Api<Task> = env.api();
    let start = Instant::now();
    let (running, refused) = loop {
        let mut running = Vec::new();
        let mut refused = Vec::new();
        for name in ["ext-0", "ext-1"] {
            let st = api
                .get(name)
                .await
                .ok()
                .and_then(|t| t.status)
                .unwrap_or_default();
            match st.state {
                Some(TaskState::Running) => running.push(name),
                Some(TaskState::Error) => refused.push(st),
                _ => {}
            }
        }
        if running.len() + refused.len() == 2 {
            break (running, refused);
        }
        assert!(
            start.elapsed() < T,
            "ext tasks did not settle; log:\n{}",
            env.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(running.len(), 1, "{refused:?}");
    assert_eq!(refused[0].reason, Some(TaskReason::ReasonInvalidOffers));
    let message = refused[0].message.clone().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "agent {agent} breaks the task's placement constraint 0 (hostname UNIQUE)"
        )),
        "{message}"
    );
    let pods = env.pods_of(running[0]).await;
    assert_eq!(
        pods.iter().map(node_of).collect::<Vec<_>>(),
        vec![agent.clone()]
    );

    // The zone rule: refused at the offer's agent.
    let t = env.wait_state("ext-2", TaskState::Error, T).await;
    let message = t.status.and_then(|s| s.message).unwrap_or_default();
    assert!(message.contains("constraint 0 (zone UNLIKE"), "{message}");
    assert!(env.pods_of("ext-2").await.is_empty());
    renewing.abort();
}
