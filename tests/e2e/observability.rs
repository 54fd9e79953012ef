//! Metrics, probes, events, JSON logs and `mesos-operator state`, checked against a known
//! workload on the real cluster.

use std::time::Duration;

use kube::api::ListParams;
use mesos_operator::api::{Framework, Task, TaskState};

use crate::process::{Operator, http_get, metric, strip_ansi, wait_metric};
use crate::support::{TestEnv, kubeconfig};

const T: Duration = Duration::from_secs(60);

/// A Framework manifest.
pub fn framework(name: &str, scheduler: &str) -> String {
    format!(
        "apiVersion: mesos.operator.dev/v1alpha1\nkind: Framework\nmetadata:\n  name: {name}\nspec:\n  scheduler: {scheduler}\n  capabilities: [TaskKillingState]\n"
    )
}

/// A Task manifest running for `run_for` (kwok), with `extra` spec lines.
pub fn task(name: &str, framework: &str, run_for: &str, extra: &str) -> String {
    format!(
        "apiVersion: mesos.operator.dev/v1alpha1\nkind: Task\nmetadata:\n  name: {name}\n  annotations:\n    kwok.mesos.operator.dev/run-for: \"{run_for}\"\nspec:\n  framework: {framework}\n  resources: {{cpus: 0.1, mem: 32}}\n  command: {{shell: \"sleep 1\"}}\n{extra}"
    )
}

#[tokio::test]
async fn metrics_probes_events_logs_and_state_after_a_known_workload() {
    let env = TestEnv::without_operator("observe").await;
    let ns = env.ns.clone();
    let op = Operator::start(
        &ns,
        "op",
        &[
            "--namespace",
            &ns,
            "--metrics-addr",
            "127.0.0.1:0",
            "--scheduler-api-addr",
            "127.0.0.1:0",
            "--resync-period",
            "30s",
            "--unschedulable-retry",
            "1s",
            "--log-format",
            "json",
            "--task-events",
            "all",
        ],
        std::path::Path::new(&kubeconfig()),
    );
    let addr = op.metrics_addr(T);
    let tail = || op.log_tail(40);

    // Probes: alive at once, ready once the caches are synced.
    assert_eq!(
        http_get(&addr, "/healthz").map(|(c, _)| c),
        Some(200),
        "/healthz"
    );
    let mut ready = None;
    for _ in 0..300 {
        ready = http_get(&addr, "/readyz");
        if ready.as_ref().is_some_and(|(c, _)| *c == 200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, body) = ready.unwrap_or_default();
    assert_eq!(code, 200, "/readyz: {body}");
    assert!(body.contains("leader"), "single process leads: {body}");

    // The known workload: 3 tasks to TASK_FINISHED, one killed, one that fits nowhere.
    env.apply::<Framework>(&framework("analytics", "Builtin"))
        .await;
    env.wait_registered_with("analytics", &tail).await;
    for i in 0..3 {
        env.apply::<Task>(&task(&format!("job-{i}"), "analytics", "1s", ""))
            .await;
    }
    env.apply::<Task>(&task("long", "analytics", "10m", ""))
        .await;
    env.apply::<Task>(&task("huge", "analytics", "1s", "").replace("cpus: 0.1", "cpus: 100000"))
        .await;
    for i in 0..3 {
        env.wait_state(&format!("job-{i}"), TaskState::Finished, T)
            .await;
    }
    env.wait_state("long", TaskState::Running, T).await;
    env.api::<Task>()
        .patch(
            "long",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"spec": {"kill": true}})),
        )
        .await
        .unwrap_or_else(|e| panic!("kill: {e}"));
    env.wait_state("long", TaskState::Killed, T).await;

    // Metrics: Mesos master names, values of this namespace's workload.
    let text = wait_metric(&addr, "mesos_master_tasks_finished", 3.0, T).await;
    let series = |s: &str| metric(&text, s);
    assert_eq!(
        series(&format!(
            "mesos_master_framework_tasks{{namespace=\"{ns}\",framework=\"analytics\",state=\"TASK_FINISHED\"}}"
        )),
        Some(3.0),
        "{text}"
    );
    let text = wait_metric(&addr, "mesos_master_tasks_killed", 1.0, T).await;
    let series = |s: &str| metric(&text, s);
    assert_eq!(series("mesos_master_tasks_running"), Some(0.0), "{text}");
    assert_eq!(
        series("mesos_master_tasks_staging"),
        Some(1.0),
        "huge waits: {text}"
    );
    assert_eq!(series("mesos_master_frameworks_active"), Some(1.0));
    assert_eq!(
        series("mesos_operator_frameworks{condition=\"Registered\",status=\"True\"}"),
        Some(1.0)
    );
    assert_eq!(series("mesos_master_elected"), Some(1.0));
    assert!(
        series("mesos_master_cpus_total").is_some_and(|v| v > 0.0),
        "{text}"
    );
    assert!(series("mesos_master_slaves_connected").is_some_and(|v| v >= 1.0));
    assert!(
        series("mesos_operator_reconcile_total{controller=\"task\"}").is_some_and(|v| v >= 5.0),
        "{text}"
    );
    assert!(
        series("mesos_operator_reconcile_duration_seconds_count{controller=\"framework\"}")
            .is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert!(text.contains("mesos_allocator_mesos_allocation_runs_total"));

    // Events on the transitions that matter, and a waiting task is not spammy: one
    // Unschedulable event although it is retried every second.
    env.wait_event("analytics", "Registered", T).await;
    env.wait_event("job-0", "Launched", T).await;
    env.wait_event("job-0", "Finished", T).await;
    env.wait_event("long", "Killed", T).await;
    let unschedulable = async || {
        env.event_reasons("huge")
            .await
            .into_iter()
            .filter(|r| r == "Unschedulable")
            .count()
    };
    env.wait_event("huge", "Unschedulable", T).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = unschedulable().await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        unschedulable().await,
        before,
        "a task retried every second while it fits nowhere gets no new Event per retry"
    );

    // JSON logs carry the reconcile span (kind, namespace, name).
    let logs = strip_ansi(&op.log_text());
    let in_span = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .any(|v| v["span"]["kind"] == "Task" && v["span"]["namespace"] == ns.as_str());
    assert!(
        in_span,
        "no JSON log line inside a Task reconcile span:\n{}",
        tail()
    );

    // `mesos-operator state` reads the API once and shows the framework's tasks by state.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mesos-operator"))
        .args(["state", "--namespace", &ns])
        .env("KUBECONFIG", kubeconfig())
        .output()
        .unwrap_or_else(|e| panic!("state: {e}"));
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{screen}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = screen
        .lines()
        .find(|l| l.starts_with(&format!("{ns}/analytics")))
        .unwrap_or_else(|| panic!("no framework row:\n{screen}"));
    let columns: Vec<&str> = row.split_whitespace().collect();
    // FRAMEWORK ROLE SCHEDULER REG SHARE STAGE START RUN KILLG FIN FAIL KILLD LOST ERR
    assert_eq!(columns.get(3), Some(&"yes"), "{row}");
    assert_eq!(columns.get(5), Some(&"1"), "staging: {row}");
    assert_eq!(columns.get(9), Some(&"3"), "finished: {row}");
    assert_eq!(columns.get(11), Some(&"1"), "killed: {row}");
    assert!(screen.contains("Tasks: staging 1"), "{screen}");
    assert!(screen.lines().count() < 60, "one screen:\n{screen}");

    let pods = env
        .api::<k8s_openapi::api::core::v1::Pod>()
        .list(&ListParams::default())
        .await
        .map(|l| l.items.len())
        .unwrap_or_default();
    assert_eq!(
        pods, 3,
        "one pod per finished task; the killed task's pod is gone and huge never launched"
    );
}

/// The operator's Event recorder on the real API server: a repeat of the same Event
/// (object, type, reason, action) updates the first Event's series instead of creating
/// another; a different reason or object is a new Event.
#[tokio::test]
async fn repeated_events_fold_into_one_series() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::api::events::v1::Event;
    use kube::Resource;
    use kube::runtime::events::EventType;
    use mesos_operator::runtime::events::EventRecorder;

    let env = TestEnv::without_operator("events").await;
    let configmaps: kube::Api<ConfigMap> = env.api();
    let mut regarding = Vec::new();
    for name in ["a", "b"] {
        let cm = ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let cm = configmaps
            .create(&Default::default(), &cm)
            .await
            .expect("create a ConfigMap to regard");
        regarding.push(cm.object_ref(&()));
    }
    let recorder = EventRecorder::new(env.client.clone(), "mesos-operator-test", None);
    let publish = async |object: usize, reason: &str, note: &str| {
        recorder
            .publish(
                regarding[object].clone(),
                EventType::Warning,
                reason,
                "Place",
                note.into(),
            )
            .await
            .expect("publish an Event");
    };
    publish(0, "Unschedulable", "first").await;
    publish(0, "Unschedulable", "second").await;
    publish(0, "Unschedulable", "third").await;
    publish(0, "Launched", "other reason").await;
    publish(1, "Unschedulable", "other object").await;

    let events: kube::Api<Event> = env.api();
    let events = events
        .list(&Default::default())
        .await
        .expect("list Events")
        .items;
    let summary: Vec<(String, String, Option<i32>, String)> = events
        .iter()
        .map(|e| {
            (
                e.regarding
                    .as_ref()
                    .and_then(|r| r.name.clone())
                    .unwrap_or_default(),
                e.reason.clone().unwrap_or_default(),
                e.series.as_ref().map(|s| s.count),
                e.note.clone().unwrap_or_default(),
            )
        })
        .collect();
    println!("events: {summary:?}");
    assert_eq!(events.len(), 3, "three distinct Events: {summary:?}");
    let folded = summary
        .iter()
        .find(|(name, reason, ..)| name == "a" && reason == "Unschedulable")
        .unwrap_or_else(|| panic!("no Unschedulable Event for a: {summary:?}"));
    assert_eq!(
        (folded.2, folded.3.as_str()),
        (Some(3), "first"),
        "the repeats count in the first Event's series: {summary:?}"
    );
    for (name, reason) in [("a", "Launched"), ("b", "Unschedulable")] {
        assert!(
            summary
                .iter()
                .any(|(n, r, series, _)| n == name && r == reason && series.is_none()),
            "a distinct Event for {name}/{reason}: {summary:?}"
        );
    }
    let first = events.iter().find(|e| e.series.is_some());
    assert!(
        first.is_some_and(
            |e| e.reporting_controller.as_deref() == Some("mesos-operator-test")
                && e.type_.as_deref() == Some("Warning")
        ),
        "reported as the recorder's controller, type Warning: {first:?}"
    );
}
