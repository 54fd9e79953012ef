//! The API cost of a task, on the wire (issue 15; `bench/README.md`, "Cost per task"): by
//! default a task that succeeds gets no Event, its status is written as merge patches
//! (no server-side apply of the whole status), and at most once per state it enters.

use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use mesos_operator::api::{Framework, Task, TaskState};

use crate::observability::{framework, task};
use crate::process::{Operator, http_get, metric};
use crate::support::{TestEnv, kubeconfig};

const T: Duration = Duration::from_secs(90);
const TASKS: usize = 6;

#[tokio::test]
async fn a_task_that_succeeds_costs_no_event_and_one_merge_patch_per_state() {
    let env = TestEnv::without_operator("cost").await;
    let ns = env.ns.clone();
    // The default settings: only the namespace and the metrics address are given.
    let op = Operator::start(
        &ns,
        "op",
        &["--namespace", &ns, "--metrics-addr", "127.0.0.1:0"],
        std::path::Path::new(&kubeconfig()),
    );
    let addr = op.metrics_addr(T);
    let tail = || op.log_tail(40);
    env.apply::<Framework>(&framework("batch", "Builtin")).await;
    env.wait_registered_with("batch", &tail).await;
    for i in 0..TASKS {
        env.apply::<Task>(&task(&format!("t-{i}"), "batch", "1s", ""))
            .await;
    }
    let mut done = Vec::new();
    for i in 0..TASKS {
        done.push(
            env.wait_state(&format!("t-{i}"), TaskState::Finished, T)
                .await,
        );
    }

    // No Event about any Task; the framework still gets its Registered Event.
    env.wait_event("batch", "Registered", T).await;
    let events: Api<Event> = env.api();
    let about_tasks: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("listing events: {e}"))
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some("Task"))
        .map(|e| format!("{:?} {:?}", e.reason, e.regarding.and_then(|r| r.name)))
        .collect();
    assert!(
        about_tasks.is_empty(),
        "Events about tasks that succeeded: {about_tasks:?}"
    );

    // Status writes: merge patches (an Update of the status subresource in managedFields,
    // no Apply), at most one per state a task went through, and none that changed nothing.
    for t in &done {
        let fields = t.metadata.managed_fields.clone().unwrap_or_default();
        let status_writes: Vec<(&str, &str)> = fields
            .iter()
            .filter(|f| f.subresource.as_deref() == Some("status"))
            .map(|f| {
                (
                    f.manager.as_deref().unwrap_or_default(),
                    f.operation.as_deref().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            status_writes,
            vec![("mesos-operator", "Update")],
            "managedFields of {:?}",
            t.metadata.name
        );
    }
    let states: usize = done
        .iter()
        .map(|t| t.status.as_ref().map_or(0, |s| s.history.len()))
        .sum();
    let text = http_get(&addr, "/metrics")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let series = |verb: &str, resource: &str| {
        metric(
            &text,
            &format!(
                "mesos_operator_api_requests_total{{verb=\"{verb}\",resource=\"{resource}\"}}"
            ),
        )
        .unwrap_or(0.0)
    };
    // A write refused for a stale cache (409) is retried: each failed task reconcile may
    // have cost one patch more.
    let failed: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with("mesos_operator_reconcile_errors_total{")
                && l.contains("controller=\"task\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let patches = series("patch", "tasks/status");
    assert!(
        patches >= TASKS as f64 && patches <= states as f64 + failed,
        "{patches} task status patches for {TASKS} tasks that went through {states} states \
         ({failed} failed reconciles); operator log:\n{}",
        tail()
    );
    assert_eq!(
        series("create", "events"),
        1.0,
        "only the framework's Registered Event: {text}"
    );
}
