//! Poisoned objects never stop the operator: objects stored under a looser, older schema
//! (the realistic way an object the Rust types cannot read gets into etcd) survive a CRD
//! upgrade; the operator reports each on the object, keeps serving every other object,
//! starts afresh with them present, and reconciles each normally once it is fixed.
//!
//! A binary of its own: it swaps the cluster-wide CRDs for permissive ones for a moment,
//! which must not overlap the other suites (test binaries run one after another).

use mesos_testkit::process;
use mesos_testkit::support;

use std::time::{Duration, Instant};

use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use mesos_operator::api::{Framework, Task, TaskState};
use mesos_operator::runtime::guard::Guarded;
use serde_json::{Value, json};

use process::{Operator, http_get, metric, wait_ready};
use support::{TestEnv, kubeconfig, kubectl_run};

const T: Duration = Duration::from_secs(60);
/// How soon a bad object must carry its report.
const REPORT: Duration = Duration::from_secs(20);

/// The real CRDs, as `crds/` holds them.
fn install_real_crds() {
    let (ok, out) = kubectl_run(
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=mesos-operator",
            "-f",
            concat!(env!("CARGO_MANIFEST_DIR"), "/crds"),
        ],
        "",
    );
    assert!(ok, "installing the real CRDs failed: {out}");
}

/// Task and Framework CRDs whose spec takes anything (an older, looser schema).
fn install_permissive_crds() {
    let mut docs = String::new();
    for (_, crd) in mesos_operator::cli::crds::all() {
        if !matches!(crd.spec.names.kind.as_str(), "Task" | "Framework" | "App") {
            continue;
        }
        let mut value = serde_json::to_value(&crd).expect("a CRD as JSON");
        for version in value["spec"]["versions"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            version["schema"]["openAPIV3Schema"]["properties"]["spec"] =
                json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
            // The App's root rules read spec fields that a free-form spec does not declare.
            if let Some(root) = version["schema"]["openAPIV3Schema"].as_object_mut() {
                root.remove("x-kubernetes-validations");
            }
        }
        docs.push_str("---\n");
        docs.push_str(&serde_yaml::to_string(&value).expect("yaml"));
    }
    let (ok, out) = kubectl_run(
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=mesos-operator",
            "-f",
            "-",
        ],
        &docs,
    );
    assert!(ok, "installing permissive CRDs failed: {out}");
}

/// Puts the real CRDs back whatever happens to the test.
struct RestoreCrds;

impl Drop for RestoreCrds {
    fn drop(&mut self) {
        install_real_crds();
    }
}

/// Waits until the API server applies the schema in force: a bad Task passes a dry run
/// (`permissive`) or is refused (real).
async fn wait_schema(ns: &str, permissive: bool) {
    let probe = "apiVersion: mesos.operator.dev/v1alpha1\nkind: Task\nmetadata: {name: probe}\nspec: {framework: demo, resources: {cpus: -1, mem: 1}, command: {shell: x}}\n";
    let start = Instant::now();
    loop {
        let (ok, out) = kubectl_run(&["apply", "--dry-run=server", "-n", ns, "-f", "-"], probe);
        if ok == permissive {
            return;
        }
        assert!(
            start.elapsed() < T,
            "the {} schema never took effect: {out}",
            if permissive { "permissive" } else { "real" }
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn apply(ns: &str, yaml: &str) {
    let (ok, out) = kubectl_run(&["apply", "-n", ns, "-f", "-"], yaml);
    assert!(ok, "kubectl apply failed: {out}\n{yaml}");
}

fn task_yaml(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: mesos.operator.dev/v1alpha1\nkind: Task\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

fn framework_yaml(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: mesos.operator.dev/v1alpha1\nkind: Framework\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

const GOOD: &str =
    "  framework: demo\n  resources: {cpus: 0.1, mem: 32}\n  command: {shell: \"true\"}\n";

/// A bad object: its name, manifest, and what its report must name.
struct Bad {
    kind: &'static str,
    name: &'static str,
    yaml: String,
    field: &'static str,
    value: &'static str,
    /// Whether the API server lets any status be written on it: not when a CEL rule of
    /// the installed schema cannot evaluate on one of its fields (a value of the wrong
    /// type under a rule); such an object is reported with an Event only.
    status: bool,
}

fn bad_task(name: &'static str, spec: &str, field: &'static str, value: &'static str) -> Bad {
    Bad {
        kind: "Task",
        name,
        yaml: task_yaml(name, spec),
        field,
        value,
        status: true,
    }
}

fn bad_framework(name: &'static str, spec: &str, field: &'static str, value: &'static str) -> Bad {
    Bad {
        kind: "Framework",
        name,
        yaml: framework_yaml(name, spec),
        field,
        value,
        status: true,
    }
}

fn bad_app(name: &'static str, spec: &str, field: &'static str, value: &'static str) -> Bad {
    Bad {
        kind: "App",
        name,
        yaml: format!(
            "apiVersion: mesos.operator.dev/v1alpha1\nkind: App\nmetadata:\n  name: {name}\nspec:\n  resources: {{cpus: 0.1, mem: 32}}\n  command: {{shell: serve}}\n{spec}"
        ),
        field,
        value,
        status: true,
    }
}

fn first_batch() -> Vec<Bad> {
    vec![
        bad_app(
            "app-bad-type",
            "  upgradeStrategy: {minimumHealthCapacity: most}\n",
            "spec.upgradeStrategy.minimumHealthCapacity",
            "\"most\"",
        ),
        bad_task(
            "bad-duration",
            &format!("{GOOD}  killPolicy: {{gracePeriod: soon}}\n"),
            "spec.killPolicy.gracePeriod",
            "\"soon\"",
        ),
        bad_task(
            "bad-mem",
            "  framework: demo\n  resources: {cpus: 0.1, mem: 1e15}\n  command: {shell: \"true\"}\n",
            "spec.resources.mem",
            "1000000000000000",
        ),
        bad_task(
            "bad-type",
            "  framework: demo\n  resources: {cpus: 0.1, mem: 32}\n  command: \"true\"\n",
            "spec.command",
            "\"true\"",
        ),
        bad_task(
            "bad-enum",
            &format!("{GOOD}  healthCheck: {{http: {{port: 80, scheme: GOPHER}}}}\n"),
            "spec.healthCheck.http.scheme",
            "GOPHER",
        ),
        bad_framework(
            "fw-bad-duration",
            "  failoverTimeout: forever\n",
            "spec.failoverTimeout",
            "\"forever\"",
        ),
        bad_framework(
            "fw-bad-enum",
            "  scheduler: Magic\n",
            "spec.scheduler",
            "Magic",
        ),
        bad_framework(
            "fw-bad-type",
            "  offers: {refuseSeconds: five}\n",
            "spec.offers.refuseSeconds",
            "\"five\"",
        ),
    ]
}

fn second_batch() -> Vec<Bad> {
    vec![
        bad_task(
            "bad2-ports",
            "  framework: demo\n  resources: {cpus: 0.1, mem: 32, ports: [{begin: 31010, end: 31000}]}\n  command: {shell: \"true\"}\n",
            "spec.resources.ports[0]",
            "31010",
        ),
        Bad {
            status: false,
            ..bad_task(
                "bad2-cpus",
                "  framework: demo\n  resources: {cpus: lots, mem: 32}\n  command: {shell: \"true\"}\n",
                "spec.resources.cpus",
                "\"lots\"",
            )
        },
        bad_framework(
            "fw2-bad-timeout",
            "  offers: {timeout: 5 minutes}\n",
            "spec.offers.timeout",
            "\"5 minutes\"",
        ),
    ]
}

fn dynamic(env: &TestEnv, kind: &str) -> Api<DynamicObject> {
    let resource = match kind {
        "Task" => ApiResource::erase::<Task>(&()),
        "App" => ApiResource::erase::<mesos_operator::api::App>(&()),
        _ => ApiResource::erase::<Framework>(&()),
    };
    Api::namespaced_with(env.client.clone(), &env.ns, &resource)
}

fn condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Waits until every bad object carries its report: the field and the value named, for a
/// Task TASK_ERROR/REASON_TASK_INVALID, for every kind Valid=False/InvalidSpec, and a
/// Warning Event InvalidSpec.
async fn wait_reported(env: &TestEnv, bad: &[Bad], log: &dyn Fn() -> String) {
    let start = Instant::now();
    for b in bad.iter().filter(|b| b.status) {
        let api = dynamic(env, b.kind);
        loop {
            let status = api
                .get_opt(b.name)
                .await
                .ok()
                .flatten()
                .map(|o| o.data["status"].clone())
                .unwrap_or(Value::Null);
            let valid = condition(&status, "Valid");
            let message = valid
                .and_then(|c| c["message"].as_str())
                .unwrap_or_default();
            let ok = valid.is_some_and(|c| c["status"] == "False" && c["reason"] == "InvalidSpec")
                && message.contains(b.field)
                && message.contains(b.value)
                && (b.kind != "Task"
                    || (status["state"] == "TASK_ERROR"
                        && status["reason"] == "REASON_TASK_INVALID"
                        && status["message"]
                            .as_str()
                            .is_some_and(|m| m.contains(b.field) && m.contains(b.value))));
            if ok {
                println!("{} {}: {}", b.kind, b.name, message);
                break;
            }
            assert!(
                start.elapsed() < REPORT,
                "{} {} was not reported within {REPORT:?}; status: {status}\noperator log:\n{}",
                b.kind,
                b.name,
                log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for b in bad {
        env.wait_event(b.name, "InvalidSpec", REPORT).await;
        if !b.status {
            let note = event_note(env, b.name, "InvalidSpec").await;
            assert!(
                note.contains(b.field) && note.contains(b.value),
                "the Event on {} does not name {} and {}: {note}",
                b.name,
                b.field,
                b.value
            );
        }
    }
}

/// The note of the (first) Event with `reason` about `name`.
async fn event_note(env: &TestEnv, name: &str, reason: &str) -> String {
    let api: Api<k8s_openapi::api::events::v1::Event> = env.api();
    api.list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .find(|e| {
            e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                && e.reason.as_deref() == Some(reason)
        })
        .and_then(|e| e.note)
        .unwrap_or_default()
}

/// Creates `n` good tasks named `prefix-i` and waits until all are TASK_FINISHED.
async fn run_good_tasks(env: &TestEnv, prefix: &str, n: usize, log: &dyn Fn() -> String) {
    let api: Api<Task> = env.api();
    for i in 0..n {
        let value: Value = serde_yaml::from_str(&task_yaml(&format!("{prefix}-{i}"), GOOD))
            .expect("a task manifest");
        let mut task: Task = serde_json::from_value(value).expect("a task");
        task.metadata.annotations = Some(
            [(
                "kwok.mesos.operator.dev/run-for".to_string(),
                "1s".to_string(),
            )]
            .into(),
        );
        api.create(&PostParams::default(), &task)
            .await
            .unwrap_or_else(|e| panic!("creating {prefix}-{i}: {e}"));
    }
    let start = Instant::now();
    // The namespace holds Tasks the Rust type cannot read: list them guarded.
    let guarded: Api<Guarded<Task>> = env.api();
    loop {
        let tasks = guarded
            .list(&ListParams::default())
            .await
            .unwrap_or_else(|e| panic!("listing tasks: {e}"));
        let finished = tasks
            .items
            .iter()
            .filter_map(Guarded::valid)
            .filter(|t| {
                t.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with(&format!("{prefix}-")))
                    && t.state() == Some(TaskState::Finished)
            })
            .count();
        if finished == n {
            println!(
                "{n} tasks {prefix}-* TASK_FINISHED in {:?}",
                start.elapsed()
            );
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "only {finished} of {n} tasks {prefix}-* finished; operator log:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn start(env: &TestEnv, name: &str) -> Operator {
    let kubeconfig = std::path::PathBuf::from(kubeconfig());
    Operator::start(
        &env.ns,
        name,
        &[
            "--namespace",
            &env.ns,
            "--metrics-addr",
            "127.0.0.1:0",
            "--resync-period",
            "30s",
            "--scheduler-api-addr",
            "127.0.0.1:0",
        ],
        &kubeconfig,
    )
}

#[tokio::test]
async fn poisoned_objects_never_stop_the_operator() {
    let _restore = RestoreCrds;
    let env = TestEnv::without_operator("poison").await;
    let ns = env.ns.clone();
    install_real_crds();
    wait_schema(&ns, false).await;
    apply(&ns, &framework_yaml("demo", "  scheduler: Builtin\n"));

    // (a) A running operator: bad objects appear (under a looser schema) and stay after
    // the real CRDs are back.
    let mut a = start(&env, "a");
    let a_log = || a.log_tail(60);
    wait_ready(&a.metrics_addr(T), T).await;
    env.wait_registered_with("demo", &a_log).await;
    install_permissive_crds();
    wait_schema(&ns, true).await;
    let batch1 = first_batch();
    for b in &batch1 {
        apply(&ns, &b.yaml);
    }
    install_real_crds();
    wait_schema(&ns, false).await;
    wait_reported(&env, &batch1, &a_log).await;
    // A good task of a framework the operator cannot read waits, and says why.
    apply(
        &ns,
        &task_yaml(
            "of-bad-framework",
            "  framework: fw-bad-enum\n  resources: {cpus: 0.1, mem: 32}\n  command: {shell: \"true\"}\n",
        ),
    );
    env.wait_task(
        "of-bad-framework",
        T,
        "a message about its framework",
        |t| {
            t.state() == Some(TaskState::Staging)
                && t.status
                    .as_ref()
                    .and_then(|s| s.message.as_deref())
                    .is_some_and(|m| m.contains("fw-bad-enum") && m.contains("spec.scheduler"))
        },
    )
    .await;
    run_good_tasks(&env, "good-a", 50, &a_log).await;
    let scrape = http_get(&a.metrics_addr(T), "/metrics")
        .map(|(_, body)| body)
        .unwrap_or_default();
    let refused = |kind: &str| {
        metric(
            &scrape,
            &format!("mesos_operator_objects_refused_total{{kind=\"{kind}\"}}"),
        )
        .unwrap_or(0.0)
    };
    assert!(refused("Task") >= 4.0, "refused Tasks: {}", refused("Task"));
    assert!(
        refused("Framework") >= 3.0,
        "refused Frameworks: {}",
        refused("Framework")
    );
    a.kill();

    // (b) An operator started afresh with bad objects present, some not yet reported.
    install_permissive_crds();
    wait_schema(&ns, true).await;
    let batch2 = second_batch();
    for b in &batch2 {
        apply(&ns, &b.yaml);
    }
    install_real_crds();
    wait_schema(&ns, false).await;
    let b = start(&env, "b");
    let b_log = || b.log_tail(60);
    wait_ready(&b.metrics_addr(T), T).await;
    wait_reported(&env, &batch2, &b_log).await;
    wait_reported(&env, &batch1, &b_log).await;
    run_good_tasks(&env, "good-b", 50, &b_log).await;

    // (c) Fixing a bad object makes it reconcile normally.
    let (ok, out) = kubectl_run(
        &[
            "patch",
            "-n",
            &ns,
            "task",
            "bad-duration",
            "--type",
            "merge",
            "-p",
            r#"{"metadata":{"annotations":{"kwok.mesos.operator.dev/run-for":"1s"}},"spec":{"killPolicy":{"gracePeriod":"5s"}}}"#,
        ],
        "",
    );
    assert!(ok, "fixing bad-duration was refused: {out}");
    let fixed = env
        .wait_task("bad-duration", T, "TASK_FINISHED after the fix", |t| {
            t.state() == Some(TaskState::Finished)
        })
        .await;
    let history: Vec<TaskState> = fixed
        .status
        .as_ref()
        .map(|s| s.history.iter().map(|h| h.state).collect())
        .unwrap_or_default();
    assert!(
        !history.contains(&TaskState::Error),
        "the fixed task's history still has TASK_ERROR: {history:?}"
    );
    let (ok, out) = kubectl_run(
        &[
            "patch",
            "-n",
            &ns,
            "framework",
            "fw-bad-duration",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"failoverTimeout":"1h"}}"#,
        ],
        "",
    );
    assert!(ok, "fixing fw-bad-duration was refused: {out}");
    env.wait_registered_with("fw-bad-duration", &b_log).await;
    let (ok, out) = kubectl_run(
        &[
            "patch",
            "-n",
            &ns,
            "app",
            "app-bad-type",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"upgradeStrategy":{"minimumHealthCapacity":1}}}"#,
        ],
        "",
    );
    assert!(ok, "fixing app-bad-type was refused: {out}");
    let apps = dynamic(&env, "App");
    let start = Instant::now();
    loop {
        let app = apps.get("app-bad-type").await.expect("app-bad-type");
        if app.data["status"]["deployment"]["phase"] == "Complete" {
            break;
        }
        assert!(
            start.elapsed() < T,
            "the fixed App never deployed: {}\n{}",
            app.data["status"],
            b_log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The other bad objects are still reported, and still out of the way.
    let api = dynamic(&env, "Task");
    let still = api.get("bad-mem").await.expect("bad-mem");
    assert_eq!(still.data["status"]["state"], "TASK_ERROR");
    drop(b);
}
