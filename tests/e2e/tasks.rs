//! Task → Pod reconciliation, state by state.

use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use mesos_operator::api::condition::Conditions;
use mesos_operator::api::task::TaskCondition;
use mesos_operator::api::{Framework, Task, TaskReason, TaskState};

use crate::support::{TestEnv, node_of};

const T: Duration = Duration::from_secs(60);

fn framework(name: &str, capabilities: &[&str], scheduler: &str) -> String {
    format!(
        "apiVersion: mesos.operator.dev/v1alpha1\nkind: Framework\nmetadata:\n  name: {name}\nspec:\n  scheduler: {scheduler}\n  capabilities: [{}]\n",
        capabilities.join(", ")
    )
}

fn task(name: &str, framework: &str, annotations: &[(&str, &str)], extra: &str) -> String {
    let annotations: String = annotations
        .iter()
        .map(|(k, v)| format!("\n    {k}: \"{v}\""))
        .collect();
    let annotations = if annotations.is_empty() {
        String::new()
    } else {
        format!("\n  annotations:{annotations}")
    };
    format!(
        "apiVersion: mesos.operator.dev/v1alpha1\nkind: Task\nmetadata:\n  name: {name}{annotations}\nspec:\n  framework: {framework}\n  resources: {{cpus: 0.1, mem: 32}}\n  command: {{shell: \"echo hello\"}}\n{extra}"
    )
}

fn states(task: &Task) -> Vec<TaskState> {
    task.status
        .as_ref()
        .map(|s| s.history.iter().map(|h| h.state).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn happy_path_walks_staging_running_finished() {
    // `--task-events all`: Launched and Finished are published too (the default is
    // Warnings only).
    let env = TestEnv::with_args("happy", &["--task-events", "all"]).await;
    env.apply::<Framework>(&framework("web", &["TaskKillingState"], "Builtin"))
        .await;
    let fw = env.wait_registered("web").await;
    let status = fw.status.clone().unwrap_or_default();
    assert_eq!(
        status.framework_id, fw.metadata.uid,
        "frameworkId is the Framework's UID"
    );

    env.apply::<Task>(&task(
        "hello",
        "web",
        &[("kwok.mesos.operator.dev/run-for", "3s")],
        "",
    ))
    .await;
    let running = env.wait_state("hello", TaskState::Running, T).await;
    let st = running.status.clone().unwrap_or_default();
    assert!(
        st.conditions.is_true(TaskCondition::Running),
        "Running condition: {:?}",
        st.conditions
    );
    assert!(st.conditions.is_true(TaskCondition::Scheduled));
    assert!(
        st.agent
            .as_deref()
            .is_some_and(|a| a.starts_with("kwok-node-")),
        "agent: {:?}",
        st.agent
    );
    assert!(st.start_time.is_some());

    let done = env.wait_state("hello", TaskState::Finished, T).await;
    let st = done.status.clone().unwrap_or_default();
    assert_eq!(st.exit_code, Some(0));
    assert!(st.finish_time.is_some());
    assert!(st.conditions.is_true(TaskCondition::Terminated));
    assert_eq!(st.observed_generation, done.metadata.generation);
    let history = states(&done);
    assert_eq!(
        history.first(),
        Some(&TaskState::Staging),
        "history {history:?}"
    );
    assert!(history.contains(&TaskState::Running), "history {history:?}");
    assert_eq!(history.last(), Some(&TaskState::Finished));

    // Exactly one pod, owned by the task, pinned to the reported agent, with the task's resources.
    let pods = env.pods_of("hello").await;
    assert_eq!(pods.len(), 1);
    let pod = &pods[0];
    assert_eq!(Some(node_of(pod)), st.agent);
    assert_eq!(
        pod.metadata
            .owner_references
            .as_ref()
            .map(|o| o[0].uid.clone()),
        done.metadata.uid
    );
    let c = &pod
        .spec
        .as_ref()
        .map(|s| s.containers.clone())
        .unwrap_or_default()[0];
    let requests = c
        .resources
        .as_ref()
        .and_then(|r| r.requests.clone())
        .unwrap_or_default();
    assert_eq!(requests.get("cpu").map(|q| q.0.as_str()), Some("100m"));
    assert_eq!(requests.get("memory").map(|q| q.0.as_str()), Some("32Mi"));

    // The framework's counters follow.
    let api: Api<Framework> = env.api();
    for _ in 0..100 {
        let fw = api.get("web").await.unwrap_or_else(|e| panic!("{e}"));
        if fw
            .status
            .as_ref()
            .is_some_and(|s| s.tasks.finished == 1 && s.tasks.running == 0)
        {
            env.wait_event("hello", "Launched", T).await;
            env.wait_event("hello", "Finished", T).await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("framework counters never showed the finished task");
}

#[tokio::test]
async fn failing_task_reports_exit_code_and_oom_reason() {
    // By default (`--task-events warnings`): failures get their Warning Events, the
    // Normal ones (Launched, Finished) are not published.
    let env = TestEnv::new("failing").await;
    env.apply::<Framework>(&framework("batch", &[], "Builtin"))
        .await;
    env.wait_registered("batch").await;
    env.apply::<Task>(&task(
        "crash",
        "batch",
        &[
            ("kwok.mesos.operator.dev/run-for", "1s"),
            ("kwok.mesos.operator.dev/exit-code", "3"),
        ],
        "",
    ))
    .await;
    env.apply::<Task>(&task(
        "oom",
        "batch",
        &[
            ("kwok.mesos.operator.dev/run-for", "1s"),
            ("kwok.mesos.operator.dev/exit-code", "137"),
            ("kwok.mesos.operator.dev/reason", "OOMKilled"),
        ],
        "",
    ))
    .await;
    let crash = env.wait_state("crash", TaskState::Failed, T).await;
    let st = crash.status.unwrap_or_default();
    assert_eq!(st.exit_code, Some(3));
    assert_eq!(st.reason, Some(TaskReason::ReasonCommandExecutorFailed));
    assert!(
        st.message
            .as_deref()
            .is_some_and(|m| m.contains("exited with code 3")),
        "{:?}",
        st.message
    );
    let oom = env.wait_state("oom", TaskState::Failed, T).await;
    let st = oom.status.unwrap_or_default();
    assert_eq!(st.reason, Some(TaskReason::ReasonContainerLimitationMemory));
    assert_eq!(st.exit_code, Some(137));
    env.apply::<Task>(&task(
        "fine",
        "batch",
        &[("kwok.mesos.operator.dev/run-for", "1s")],
        "",
    ))
    .await;
    env.wait_state("fine", TaskState::Finished, T).await;
    env.wait_event("crash", "Failed", T).await;
    for name in ["crash", "oom", "fine"] {
        let reasons = env.event_reasons(name).await;
        assert!(
            !reasons.iter().any(|r| r == "Launched" || r == "Finished"),
            "--task-events warnings published Normal events for {name}: {reasons:?}"
        );
    }
}

#[tokio::test]
async fn kill_goes_through_killing_to_killed() {
    let env = TestEnv::with_args("kill", &["--task-events", "all"]).await;
    env.apply::<Framework>(&framework("svc", &["TaskKillingState"], "Builtin"))
        .await;
    env.wait_registered("svc").await;
    env.apply::<Task>(&task(
        "server",
        "svc",
        &[],
        "  killPolicy: {gracePeriod: 2s}\n",
    ))
    .await;
    env.wait_state("server", TaskState::Running, T).await;
    let api: Api<Task> = env.api();
    api.patch(
        "server",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"kill": true}})),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let killed = env.wait_state("server", TaskState::Killed, T).await;
    let history = states(&killed);
    let killing = history.iter().position(|s| *s == TaskState::Killing);
    let end = history.iter().position(|s| *s == TaskState::Killed);
    assert!(killing.is_some() && killing < end, "history {history:?}");
    assert!(
        env.pods_of("server").await.is_empty(),
        "pod still there after TASK_KILLED"
    );
    env.wait_event("server", "Killed", T).await;
}

#[tokio::test]
async fn pod_deleted_out_of_band_is_lost_and_not_recreated() {
    let env = TestEnv::new("lost").await;
    env.apply::<Framework>(&framework("plain", &[], "Builtin"))
        .await;
    env.apply::<Framework>(&framework("aware", &["PartitionAware"], "Builtin"))
        .await;
    env.wait_registered("plain").await;
    env.wait_registered("aware").await;
    env.apply::<Task>(&task("victim", "plain", &[], "")).await;
    env.apply::<Task>(&task("aware-victim", "aware", &[], ""))
        .await;
    env.wait_state("victim", TaskState::Running, T).await;
    env.wait_state("aware-victim", TaskState::Running, T).await;
    env.delete_pod("victim").await;
    env.delete_pod("aware-victim").await;
    let lost = env.wait_state("victim", TaskState::Lost, T).await;
    assert!(
        lost.status
            .as_ref()
            .and_then(|s| s.message.clone())
            .is_some_and(|m| m.contains("deleted"))
    );
    env.wait_state("aware-victim", TaskState::GoneByOperator, T)
        .await;
    // The operator never relaunches a task on its own.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        env.pods_of("victim").await.is_empty(),
        "the operator recreated a lost task's pod"
    );
    env.wait_event("victim", "Lost", T).await;
}

#[tokio::test]
async fn unknown_framework_and_bad_offer_are_task_errors() {
    let env = TestEnv::new("error").await;
    env.apply::<Task>(&task("orphan", "nope", &[], "")).await;
    let t = env.wait_state("orphan", TaskState::Error, T).await;
    let st = t.status.unwrap_or_default();
    assert_eq!(st.reason, Some(TaskReason::ReasonTaskInvalid));
    assert!(
        st.message
            .as_deref()
            .is_some_and(|m| m.contains("framework nope does not exist")),
        "{:?}",
        st.message
    );
    env.wait_event("orphan", "Error", T).await;

    env.apply::<Framework>(&framework("ext", &[], "External"))
        .await;
    env.wait_registered("ext").await;
    env.apply::<Task>(&task("no-offer", "ext", &[], "")).await;
    let t = env.wait_state("no-offer", TaskState::Error, T).await;
    assert!(
        t.status
            .and_then(|s| s.message)
            .is_some_and(|m| m.contains("spec.offer"))
    );
    env.apply::<Task>(&task(
        "bad-offer",
        "ext",
        &[],
        "  offer: offer-that-never-was\n",
    ))
    .await;
    let t = env.wait_state("bad-offer", TaskState::Error, T).await;
    assert_eq!(
        t.status.and_then(|s| s.reason),
        Some(TaskReason::ReasonInvalidOffers)
    );
    assert!(env.pods_of("bad-offer").await.is_empty());
}

#[tokio::test]
async fn task_that_fits_nowhere_waits_then_launches_when_capacity_appears() {
    // A pool of its own: one 8-cpu node now, a 128-cpu node later.
    let mut env = TestEnv::with_args("capacity", &["--node-selector", "e2e-pool={ns}"]).await;
    env.add_node("small", "8", "32Gi", serde_json::json!({}))
        .await;
    env.apply::<Framework>(&framework("big", &[], "Builtin"))
        .await;
    env.wait_registered("big").await;
    // A task far larger than any test node, tolerating a taint only this test's node has.
    let taint_key = format!("e2e.mesos.operator.dev/{}", env.ns);
    let manifest = format!(
        "apiVersion: mesos.operator.dev/v1alpha1\nkind: Task\nmetadata:\n  name: huge\nspec:\n  framework: big\n  resources: {{cpus: 100, mem: 1024}}\n  template:\n    spec:\n      tolerations: [{{key: \"{taint_key}\", operator: Exists}}]\n      containers: [{{name: main, image: busybox}}, {{name: sidecar, image: busybox}}]\n"
    );
    env.apply::<Task>(&manifest).await;
    let t = env
        .wait_task("huge", T, "an Unschedulable condition", |t| {
            t.status.as_ref().is_some_and(|s| {
                s.conditions
                    .get_condition(TaskCondition::Scheduled)
                    .is_some_and(|c| c.reason == "Unschedulable")
            })
        })
        .await;
    let st = t.status.unwrap_or_default();
    assert_eq!(st.state, Some(TaskState::Staging));
    let message = st
        .conditions
        .get_condition(TaskCondition::Scheduled)
        .map(|c| c.message.clone())
        .unwrap_or_default();
    assert!(
        message.starts_with("no node has 100 cpus free; largest free: "),
        "{message}"
    );
    env.wait_event("huge", "Unschedulable", T).await;
    assert!(env.pods_of("huge").await.is_empty());

    // Capacity appears: a big node, tainted so that only this test's task goes there.
    let taint = serde_json::json!({"spec": {"taints": [{"key": taint_key, "value": "x", "effect": "NoSchedule"}]}});
    let node_name = env.add_node("big", "128", "256Gi", taint).await;
    let running = env.wait_state("huge", TaskState::Running, T).await;
    assert_eq!(
        running.status.as_ref().and_then(|s| s.agent.clone()),
        Some(node_name.clone())
    );
    let pods = env.pods_of("huge").await;
    assert_eq!(pods.len(), 1);
    let spec = pods[0].spec.clone().unwrap_or_default();
    assert_eq!(
        spec.containers.len(),
        2,
        "a task group runs all its containers"
    );
}

#[tokio::test]
async fn operator_restarted_mid_run_makes_no_duplicate_pod() {
    let mut env = TestEnv::new("restart").await;
    env.apply::<Framework>(&framework("steady", &[], "Builtin"))
        .await;
    env.wait_registered("steady").await;
    let n = 30;
    for i in 0..n {
        env.apply::<Task>(&task(
            &format!("t{i}"),
            "steady",
            &[("kwok.mesos.operator.dev/run-for", "4s")],
            "",
        ))
        .await;
        if i == n / 2 {
            env.kill_operator();
            env.start_operator();
        }
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    env.kill_operator();
    env.start_operator();
    for i in 0..n {
        env.wait_state(
            &format!("t{i}"),
            TaskState::Finished,
            Duration::from_secs(120),
        )
        .await;
    }
    let mut pods = 0;
    for i in 0..n {
        let p = env.pods_of(&format!("t{i}")).await;
        assert_eq!(p.len(), 1, "task t{i} has {} pods", p.len());
        pods += p.len();
    }
    assert_eq!(env.operator_starts(), 3);
    println!("restart: {n} tasks finished, {pods} pods, operator started 3 times");
}

/// Polls until node `name`'s Ready condition is `ready` (or, for `None`, the node is
/// gone) as the API server shows it, and returns when that became visible.
async fn node_visible(env: &TestEnv, name: &str, ready: Option<&str>) -> std::time::Instant {
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(env.client.clone());
    let start = std::time::Instant::now();
    loop {
        let node = nodes
            .get_opt(name)
            .await
            .unwrap_or_else(|e| panic!("reading node {name}: {e}"));
        let status = node.as_ref().map(|n| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
                .map(|c| c.status.clone())
                .unwrap_or_default()
        });
        if status.as_deref() == ready {
            return std::time::Instant::now();
        }
        assert!(
            start.elapsed() < T,
            "node {name}: Ready never became {ready:?} (now {status:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn node_not_ready_and_node_deleted_follow_partition_awareness() {
    let mut env = TestEnv::with_args("partition", &["--node-selector", "e2e-pool={ns}"]).await;
    let node = env.add_node("n0", "8", "32Gi", serde_json::json!({})).await;
    env.apply::<Framework>(&framework("aware", &["PartitionAware"], "Builtin"))
        .await;
    env.apply::<Framework>(&framework("plain", &[], "Builtin"))
        .await;
    env.wait_registered("aware").await;
    env.wait_registered("plain").await;
    env.apply::<Task>(&task("pa", "aware", &[], "")).await;
    env.apply::<Task>(&task("np", "plain", &[], "")).await;
    env.wait_state("pa", TaskState::Running, T).await;
    env.wait_state("np", TaskState::Running, T).await;

    // The node goes NotReady (kwok stops reporting it Ready).
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(env.client.clone());
    let mark = |value: serde_json::Value| serde_json::json!({"metadata": {"annotations": {"kwok.mesos.operator.dev/not-ready": value}}});
    nodes
        .patch(
            &node,
            &PatchParams::default(),
            &Patch::Merge(mark(serde_json::json!("true"))),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let visible = node_visible(&env, &node, Some("False")).await;
    let unreachable = env.wait_state("pa", TaskState::Unreachable, T).await;
    let st = unreachable.status.unwrap_or_default();
    assert_eq!(st.reason, Some(TaskReason::ReasonAgentDisconnected));
    assert!(st.unreachable_time.is_some());
    env.wait_state("np", TaskState::Lost, T).await;
    let to_unreachable = visible.elapsed();

    // It comes back: both tasks return to their true state.
    nodes
        .patch(
            &node,
            &PatchParams::default(),
            &Patch::Merge(mark(serde_json::Value::Null)),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let visible = node_visible(&env, &node, Some("True")).await;
    let back = env.wait_state("pa", TaskState::Running, T).await;
    assert!(back.status.and_then(|s| s.unreachable_time).is_none());
    env.wait_state("np", TaskState::Running, T).await;
    let to_running = visible.elapsed();

    // The node is deleted: TASK_GONE for the partition-aware framework, TASK_LOST otherwise.
    nodes
        .delete(&node, &Default::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let visible = node_visible(&env, &node, None).await;
    let gone = env.wait_state("pa", TaskState::Gone, T).await;
    assert_eq!(
        gone.status.and_then(|s| s.reason),
        Some(TaskReason::ReasonAgentRemoved)
    );
    let lost = env.wait_state("np", TaskState::Lost, T).await;
    assert_eq!(
        lost.status.and_then(|s| s.reason),
        Some(TaskReason::ReasonAgentRemoved)
    );
    let to_gone = visible.elapsed();
    // Reported, not asserted (tests never assert on speed): from the node change being
    // visible in the API server to both tasks showing the new state.
    println!(
        "partition: NotReady → UNREACHABLE/LOST in {:.2} s, Ready → RUNNING in {:.2} s, deleted → GONE/LOST in {:.2} s (from the node change being visible)",
        to_unreachable.as_secs_f64(),
        to_running.as_secs_f64(),
        to_gone.as_secs_f64()
    );
}
