//! Host ports and readiness checks: random ports from the agent's range shared on few
//! nodes (never one port twice on a node), requirePorts keeping instances apart, and
//! readiness checks (the Pod's startup probe, simulated by kwok's `start-after`) gating
//! rolling deployments.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::Api;
use mesos_operator::api::task::TaskCondition;

use crate::support::TestEnv;
use crate::*;

/// The agent's port range (every node's without a `mesos.operator.dev/ports` annotation,
/// `placement::AGENT_PORTS`).
const RANGE: std::ops::RangeInclusive<u16> = 31000..=32000;

fn host_ports(task: &Task) -> Vec<u16> {
    task.status
        .as_ref()
        .map(|s| s.host_ports.clone())
        .unwrap_or_default()
}

fn agent(task: &Task) -> String {
    task.status
        .as_ref()
        .and_then(|s| s.agent.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn random_ports_share_nodes_and_never_collide_on_one() {
    let mut env = TestEnv::with_args("apps-ports", &["--node-selector", "e2e-pool={ns}"]).await;
    for n in ["n0", "n1"] {
        env.add_node(n, "8", "32Gi", serde_json::json!({})).await;
    }
    let extra = "  ports: [{name: http, port: 0}, {name: admin, port: 10001}]\n";
    apply_app(&env, &app("web", 6, "serve", extra)).await;
    wait_app(&env, "web", T, "deployed", |a| deployed(a, 1, "Complete")).await;
    let tasks = instances(&env, "web").await;
    let live: Vec<&Task> = tasks.values().filter(|t| live(t)).collect();
    assert_eq!(live.len(), 6, "{tasks:?}");
    let mut by_node: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    let pods: Api<Pod> = env.api();
    for t in &live {
        let ports = host_ports(t);
        assert_eq!(ports.len(), 2, "{}: {ports:?}", t.name_any());
        assert!(
            ports.iter().all(|p| RANGE.contains(p)),
            "{}: {ports:?} outside the agent's range",
            t.name_any()
        );
        by_node.entry(agent(t)).or_default().extend(&ports);
        // The Pod: host ports as declared, and the environment.
        let pod = pods
            .get(&t.name_any())
            .await
            .unwrap_or_else(|e| panic!("pod {}: {e}", t.name_any()));
        let container = &pod
            .spec
            .as_ref()
            .unwrap_or_else(|| panic!("spec"))
            .containers[0];
        let declared: Vec<(Option<String>, Option<i32>)> = container
            .ports
            .iter()
            .flatten()
            .map(|p| (p.name.clone(), p.host_port))
            .collect();
        assert_eq!(
            declared,
            [
                (Some("http".to_string()), Some(i32::from(ports[0]))),
                (Some("admin".to_string()), Some(i32::from(ports[1])))
            ]
        );
        let env_vars: BTreeMap<String, String> = container
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
            .collect();
        let expect = [
            ("PORT0", ports[0].to_string()),
            ("PORT1", ports[1].to_string()),
            ("PORTS", format!("{},{}", ports[0], ports[1])),
            ("PORT_HTTP", ports[0].to_string()),
            ("PORT_ADMIN", ports[1].to_string()),
            ("PORT_10001", ports[1].to_string()),
        ];
        for (name, value) in expect {
            assert_eq!(
                env_vars.get(name),
                Some(&value),
                "{}: {name} in {env_vars:?}",
                t.name_any()
            );
        }
    }
    // Six instances on two nodes: nodes are shared, and no port is given twice on one.
    assert!(by_node.len() <= 2, "{by_node:?}");
    assert!(by_node.values().any(|p| p.len() >= 4), "{by_node:?}");
    for (node, ports) in &by_node {
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            ports.len(),
            "a port twice on {node}: {ports:?}"
        );
    }

    // A rolling deployment: old and new instances side by side on the same nodes, still
    // never one port twice on a node (in-flight launches counted).
    let sampler = PortSampler::start(&env, "web");
    apply_app(&env, &app("web", 6, "serve v2", extra)).await;
    wait_app(&env, "web", T, "version 2 deployed", |a| {
        deployed(a, 2, "Complete")
    })
    .await;
    let (samples, clashes) = sampler.finish().await;
    assert!(samples > 5, "too few samples: {samples}");
    assert!(clashes.is_empty(), "{clashes:#?}");
}

#[tokio::test]
async fn random_ports_stay_inside_each_nodes_range_and_run_out_with_it() {
    let mut env = TestEnv::with_args("apps-portrange", &["--node-selector", "e2e-pool={ns}"]).await;
    // Each node offers 4 host ports (the annotation sets a node's range).
    let range = serde_json::json!({"metadata": {"annotations": {"mesos.operator.dev/ports": "31100-31103"}}});
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(env.client.clone());
    for n in ["n0", "n1"] {
        let name = env.add_node(n, "8", "32Gi", serde_json::json!({})).await;
        nodes
            .patch(&name, &PatchParams::default(), &Patch::Merge(&range))
            .await
            .unwrap_or_else(|e| panic!("annotating {name}: {e}"));
    }
    // 2 ports each: 2 instances per node fit, the fifth waits for free ports.
    let extra =
        "  ports: [{name: a}, {name: b}]\n  upgradeStrategy: {progressDeadlineSeconds: 0}\n";
    apply_app(&env, &app("svc", 5, "serve", extra)).await;
    wait_app(&env, "svc", T, "4 running", |a| {
        a.status.as_ref().is_some_and(|s| s.counts.running == 4)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tasks = instances(&env, "svc").await;
    let mut by_node: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    for t in tasks
        .values()
        .filter(|t| t.state() == Some(TaskState::Running))
    {
        let ports = host_ports(t);
        assert_eq!(ports.len(), 2, "{t:?}");
        let held = by_node.entry(agent(t)).or_default();
        for p in ports {
            assert!((31100..=31103).contains(&p), "{p} outside the node's range");
            assert!(held.insert(p), "{p} twice on {}", agent(t));
        }
    }
    assert_eq!(
        by_node.values().map(BTreeSet::len).sum::<usize>(),
        8,
        "{by_node:?}"
    );
    let waiting: Vec<&Task> = tasks
        .values()
        .filter(|t| matches!(t.state(), Some(TaskState::Staging) | None))
        .collect();
    assert_eq!(waiting.len(), 1, "{tasks:?}");
    let message = waiting[0]
        .status
        .as_ref()
        .and_then(|s| s.message.clone())
        .unwrap_or_default();
    assert!(message.contains("2 free host ports"), "{message}");
}

/// Samples an app's live Tasks and records any two of them with one host port on one node.
struct PortSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: tokio::task::JoinHandle<(usize, Vec<String>)>,
}

impl PortSampler {
    fn start(env: &TestEnv, name: &str) -> Self {
        use std::sync::atomic::Ordering;
        let api: Api<Task> = env.api();
        let selector = format!("{}={name}", mesos_operator::api::app::LABEL_APP);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = tokio::spawn(async move {
            let (mut taken, mut clashes) = (0, Vec::new());
            while !flag.load(Ordering::Relaxed) {
                let params = kube::api::ListParams::default().labels(&selector);
                if let Ok(list) = api.list(&params).await {
                    taken += 1;
                    let mut seen: BTreeMap<(String, u16), String> = BTreeMap::new();
                    for t in list.items.iter().filter(|t| live(t)) {
                        for p in host_ports(t) {
                            if let Some(other) = seen.insert((agent(t), p), t.name_any()) {
                                clashes.push(format!(
                                    "{} and {other} both hold {p} on {}",
                                    t.name_any(),
                                    agent(t)
                                ));
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (taken, clashes)
        });
        Self { stop, handle }
    }

    async fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.handle
            .await
            .unwrap_or_else(|e| panic!("sampler failed: {e}"))
    }
}

#[tokio::test]
async fn required_ports_keep_instances_on_separate_nodes() {
    let mut env = TestEnv::with_args("apps-reqports", &["--node-selector", "e2e-pool={ns}"]).await;
    for n in ["n0", "n1"] {
        env.add_node(n, "8", "32Gi", serde_json::json!({})).await;
    }
    let extra = "  ports: [{name: http, port: 31555}]\n  requirePorts: true\n  upgradeStrategy: {progressDeadlineSeconds: 0}\n";
    apply_app(&env, &app("fixed", 3, "serve", extra)).await;
    // Two nodes, one port: two instances run, the third waits for a node with 31555 free.
    let a = wait_app(&env, "fixed", T, "2 running", |a| {
        a.status.as_ref().is_some_and(|s| s.counts.running == 2)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tasks = instances(&env, "fixed").await;
    let running: Vec<&Task> = tasks
        .values()
        .filter(|t| t.state() == Some(TaskState::Running))
        .collect();
    assert_eq!(running.len(), 2, "{tasks:?}\n{a:?}");
    let nodes: BTreeSet<String> = running.iter().map(|t| agent(t)).collect();
    assert_eq!(nodes.len(), 2, "two instances on one node: {nodes:?}");
    for t in &running {
        assert_eq!(host_ports(t), [31555]);
    }
    let waiting: Vec<&Task> = tasks
        .values()
        .filter(|t| matches!(t.state(), Some(TaskState::Staging) | None))
        .collect();
    assert_eq!(waiting.len(), 1, "{tasks:?}");
    let message = waiting[0]
        .status
        .as_ref()
        .and_then(|s| s.message.clone())
        .unwrap_or_default();
    assert!(message.contains("31555"), "{message}");
}

/// Tasks of `version` among `tasks`, live.
fn of_version(tasks: &BTreeMap<String, Task>, v: u64) -> Vec<&Task> {
    tasks
        .values()
        .filter(|t| version(t) == v && live(t))
        .collect()
}

/// Ready as the deployment counts it: running, healthy, its readiness check passed.
fn ready(task: &Task) -> bool {
    available(task) && task.status.as_ref().and_then(|s| s.ready) == Some(true)
}

#[tokio::test]
async fn a_readiness_check_gates_rolling_deployments() {
    let env = TestEnv::new("apps-ready").await;
    let base = "  ports: [{name: http, port: 0}]\n  readiness: {httpCheck: {portName: http, path: /ready, intervalSeconds: 1}}\n  upgradeStrategy: {minimumHealthCapacity: 1, maximumOverCapacity: 1, progressDeadlineSeconds: 10}\n";
    apply_app(&env, &app("web", 3, "serve v1", base)).await;
    let v1 = wait_app(&env, "web", T, "version 1 deployed", |a| {
        deployed(a, 1, "Complete")
    })
    .await;
    assert_eq!(v1.status.as_ref().map(|s| s.counts.available), Some(3));
    let tasks = instances(&env, "web").await;
    for t in of_version(&tasks, 1) {
        assert!(ready(t), "{t:?}");
    }
    // The Pod carries the check as its startup probe, on the named random port.
    let pods: Api<Pod> = env.api();
    let one = of_version(&tasks, 1)[0].name_any();
    let pod = pods.get(&one).await.unwrap_or_else(|e| panic!("{e}"));
    let probe = pod
        .spec
        .and_then(|s| s.containers.into_iter().next())
        .and_then(|c| c.startup_probe)
        .and_then(|p| p.http_get)
        .unwrap_or_else(|| panic!("a startup probe"));
    assert_eq!(
        probe.port,
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("http".into())
    );
    assert_eq!(probe.path.as_deref(), Some("/ready"));

    // Version 2's readiness check never passes: at every sample all 3 old instances stay
    // (minimumHealthCapacity 1), the deployment never completes and fails at its deadline.
    let never =
        format!("{base}  taskAnnotations: {{kwok.mesos.operator.dev/start-after: never}}\n");
    let sampler = Sampler::start(&env, "web", 3, 6);
    apply_app(&env, &app("web", 3, "serve v2", &never)).await;
    let failed = wait_app(&env, "web", T, "version 2 failed", |a| {
        deployed(a, 2, "Failed")
    })
    .await;
    let samples = sampler.finish().await;
    assert!(samples.violations.is_empty(), "{:#?}", samples.violations);
    let d = failed
        .status
        .as_ref()
        .and_then(|s| s.deployment.clone())
        .unwrap_or_default();
    assert_eq!(d.reason, "ProgressDeadlineExceeded", "{d:?}");
    let tasks = instances(&env, "web").await;
    assert_eq!(of_version(&tasks, 1).len(), 3, "{tasks:?}");
    assert!(of_version(&tasks, 1).iter().all(|t| ready(t)));
    let new = of_version(&tasks, 2);
    assert!(!new.is_empty(), "{tasks:?}");
    for t in &new {
        // Running and healthy (no health check), but not ready: the check did not pass.
        assert_eq!(t.state(), Some(TaskState::Running), "{t:?}");
        assert_eq!(
            t.status.as_ref().and_then(|s| s.ready),
            Some(false),
            "{t:?}"
        );
    }
    assert_eq!(
        failed.status.as_ref().map(|s| s.counts.available),
        Some(3),
        "only the old instances count"
    );

    // Version 3's check passes 4 s after each instance starts: the deployment completes,
    // and only after every new instance's check passed.
    let later = format!("{base}  taskAnnotations: {{kwok.mesos.operator.dev/start-after: 4s}}\n");
    let sampler = Sampler::start(&env, "web", 3, 6);
    apply_app(&env, &app("web", 3, "serve v3", &later)).await;
    let done = wait_app(&env, "web", T, "version 3 deployed", |a| {
        deployed(a, 3, "Complete")
    })
    .await;
    let samples = sampler.finish().await;
    assert!(samples.violations.is_empty(), "{:#?}", samples.violations);
    let finished = done
        .status
        .as_ref()
        .and_then(|s| s.deployment.as_ref())
        .and_then(|d| d.finished_at.clone())
        .map(|t| t.0)
        .unwrap_or_else(|| panic!("finished"));
    let tasks = instances(&env, "web").await;
    let v3 = of_version(&tasks, 3);
    assert_eq!(v3.len(), 3, "{tasks:?}");
    for t in v3 {
        let status = t.status.clone().unwrap_or_default();
        assert_eq!(status.ready, Some(true), "{t:?}");
        let passed = status
            .conditions
            .iter()
            .find(|c| c.type_ == TaskCondition::Ready && c.status == "True")
            .map(|c| c.last_transition_time.0)
            .unwrap_or_else(|| panic!("{}: no Ready condition", t.name_any()));
        let started = status
            .start_time
            .map(|t| t.0)
            .unwrap_or_else(|| panic!("started"));
        // Second granularity on both sides.
        assert!(
            passed.as_second() >= started.as_second() + 3,
            "{}: ready at {passed}, running since {started}",
            t.name_any()
        );
        assert!(
            finished.as_second() >= passed.as_second(),
            "completed at {finished} before {} was ready at {passed}",
            t.name_any()
        );
    }
    assert!(
        of_version(&tasks, 1).is_empty() && of_version(&tasks, 2).is_empty(),
        "{tasks:?}"
    );
}
