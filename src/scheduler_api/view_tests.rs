use super::*;
use serde_json::json;

fn node(name: &str) -> Arc<Node> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"zone": "a"}, "creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}
        }))
        .unwrap(),
    )
}

fn framework(name: &str, uid: &str, torn_down: bool) -> Arc<Framework> {
    let mut meta = json!({"name": name, "namespace": "ns", "uid": uid,
        "annotations": {adapter::FRAMEWORK_INFO_ANNOTATION:
            json!({"user": "alice", "name": "my-fw", "hostname": "h", "roles": ["web"]}).to_string()}});
    if torn_down {
        meta["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        meta["finalizers"] = json!(["x"]);
    }
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "mesos.operator.dev/v1alpha1", "kind": "Framework",
            "metadata": meta,
            "spec": {"role": "web", "scheduler": "External", "failoverTimeout": "30s"},
        }))
        .unwrap(),
    )
}

fn task(id: &str, state: &str, agent: Option<&str>) -> Arc<Task> {
    let mut status = json!({"state": state, "history": [
        {"state": "TASK_STAGING", "timestamp": "2026-01-01T00:00:01Z"},
        {"state": state, "timestamp": "2026-01-01T00:00:02Z", "source": "SOURCE_EXECUTOR"},
    ]});
    if let Some(agent) = agent {
        status["agent"] = json!(agent);
    }
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "mesos.operator.dev/v1alpha1", "kind": "Task",
            "metadata": {"name": format!("obj-{id}"), "namespace": "ns",
                "annotations": {adapter::TASK_ID_ANNOTATION: id}},
            "spec": {"framework": "fw", "resources": {"cpus": "0.5", "mem": "64Mi"},
                "command": {"shell": "true"}},
            "status": status,
        }))
        .unwrap(),
    )
}

fn offer(name: &str, agent: &str) -> Arc<Offer> {
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "mesos.operator.dev/v1alpha1", "kind": "Offer",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"framework": "fw", "agent": agent, "resources": {"cpus": "1", "mem": "128Mi"}},
        }))
        .unwrap(),
    )
}

fn built(
    nodes: &[Arc<Node>],
    tasks: &[Arc<Task>],
    offers: &[Arc<Offer>],
    fws: &[Arc<Framework>],
    subscribed: &[&str],
) -> MasterView {
    let subscribed: HashSet<String> = subscribed.iter().map(|s| s.to_string()).collect();
    build(&Inputs {
        nodes,
        tasks,
        offers,
        frameworks: fws,
        subscribed: &subscribed,
        pod_of: &|_| None,
    })
}

#[test]
fn the_view_groups_tasks_and_offers_by_framework_and_counts_agent_use() {
    let nodes = [node("n1"), node("n2")];
    let tasks = [
        task("a", "TASK_RUNNING", Some("n1")),
        task("b", "TASK_FINISHED", Some("n1")),
    ];
    let offers = [offer("o1", "n2")];
    let fws = [framework("fw", "uid-1", false)];
    let view = built(&nodes, &tasks, &offers, &fws, &["uid-1"]);
    assert_eq!(view.agents.len(), 2);
    let n1 = view.agents.iter().find(|a| a.id == "n1").unwrap();
    // Only the running task counts as used; the offer is n2's.
    assert_eq!(n1.used, tasks[0].spec.resources);
    assert!(n1.offered.is_empty());
    let n2 = view.agents.iter().find(|a| a.id == "n2").unwrap();
    assert_eq!(n2.offered, offers[0].spec.resources);
    assert_eq!(n1.attributes.get("zone").map(String::as_str), Some("a"));
    let fw = &view.frameworks[0];
    assert_eq!(fw.id, "uid-1");
    assert!(fw.active && fw.connected);
    assert_eq!(fw.info.user, "alice");
    assert_eq!(fw.info.id.as_ref().unwrap().value, "uid-1");
    assert_eq!(fw.failover_timeout, 30.0);
    assert_eq!(fw.tasks.len(), 1);
    assert_eq!(fw.tasks[0].id, "a");
    assert_eq!(fw.tasks[0].agent, "n1");
    assert_eq!(fw.tasks[0].role, "web");
    assert_eq!(fw.completed_tasks[0].state, TaskState::Finished);
    assert_eq!(fw.offers.len(), 1);
    assert_eq!(fw.offers[0].agent, "n2");
    // Not subscribed: not connected, not active.
    let view = built(&nodes, &tasks, &offers, &fws, &[]);
    assert!(!view.frameworks[0].connected && !view.frameworks[0].active);
    // TASK_UNREACHABLE tasks are listed apart.
    let more = [
        task("a", "TASK_RUNNING", Some("n1")),
        task("u", "TASK_UNREACHABLE", Some("n1")),
    ];
    let listed = get_tasks(&built(&nodes, &more, &offers, &fws, &[]));
    assert_eq!(listed.tasks.len(), 1);
    assert_eq!(listed.unreachable_tasks.len(), 1);
    assert_eq!(listed.unreachable_tasks[0].task_id.value, "u");
    // Torn down: a completed framework, its tasks still listed.
    let view = built(
        &nodes,
        &tasks,
        &offers,
        &[framework("fw", "uid-1", true)],
        &[],
    );
    assert!(view.frameworks.is_empty());
    assert_eq!(view.completed_frameworks.len(), 1);
    assert_eq!(get_tasks(&view).tasks.len(), 1);
}

#[test]
fn get_state_messages_are_complete_protos() {
    let nodes = [node("n1")];
    let tasks = [task("a", "TASK_RUNNING", Some("n1"))];
    let fws = [framework("fw", "uid-1", false)];
    let view = built(&nodes, &tasks, &[], &fws, &["uid-1"]);
    let state = get_state(&view, "1.11.0");
    let message = v1::master::Response {
        r#type: Some(v1::master::response::Type::GetState as i32),
        get_state: Some(state.clone()),
        ..Default::default()
    };
    // Every proto2 required field is set (what gogo-based clients enforce).
    mesos_proto::check_initialized(&message).unwrap();
    let tasks = state.get_tasks.unwrap();
    let t = &tasks.tasks[0];
    assert_eq!(t.task_id.value, "a");
    assert_eq!(t.framework_id.value, "uid-1");
    assert_eq!(t.agent_id.value, "n1");
    assert_eq!(t.state, v1::TaskState::TaskRunning as i32);
    assert_eq!(t.statuses.len(), 2);
    assert_eq!(t.statuses[1].timestamp, Some(1_767_225_602.0));
    let cpus = t.resources.iter().find(|r| r.name == "cpus").unwrap();
    assert_eq!(cpus.scalar.as_ref().unwrap().value, 0.5);
    assert_eq!(
        cpus.allocation_info.as_ref().unwrap().role.as_deref(),
        Some("web")
    );
    let agent = &state.get_agents.unwrap().agents[0];
    assert_eq!(agent.agent_info.hostname, "n1");
    assert_eq!(agent.agent_info.id.as_ref().unwrap().value, "n1");
    let total_cpus = agent
        .total_resources
        .iter()
        .find(|r| r.name == "cpus")
        .unwrap();
    assert_eq!(total_cpus.scalar.as_ref().unwrap().value, 4.0);
    let allocated = agent
        .allocated_resources
        .iter()
        .find(|r| r.name == "cpus")
        .unwrap();
    assert_eq!(allocated.scalar.as_ref().unwrap().value, 0.5);
    let fw = &state.get_frameworks.unwrap().frameworks[0];
    assert_eq!(fw.framework_info.name, "my-fw");
    assert!(fw.active && fw.connected);
}

#[test]
fn the_event_stream_sends_only_what_changed() {
    use v1::master::event::Type;
    let kinds = |events: &[v1::master::Event]| -> Vec<Type> {
        events
            .iter()
            .map(|e| Type::try_from(e.r#type.unwrap()).unwrap())
            .collect()
    };
    let nodes = [node("n1")];
    let fws = [framework("fw", "uid-1", false)];
    let start = built(&nodes, &[], &[], &fws, &[]);
    let mut told = Told::new(&start);
    assert!(told.changes(&start, "1.11.0").is_empty(), "nothing changed");
    // A task appears, the framework connects, an agent joins.
    let t1 = [task("a", "TASK_STARTING", Some("n1"))];
    let nodes2 = [node("n1"), node("n2")];
    let next = built(&nodes2, &t1, &[], &fws, &["uid-1"]);
    let events = told.changes(&next, "1.11.0");
    assert_eq!(
        kinds(&events),
        vec![
            Type::AgentAdded,
            Type::FrameworkUpdated,
            Type::TaskAdded,
            Type::TaskUpdated
        ]
    );
    // Added, then its transitions past TASK_STAGING, as Mesos applies them.
    assert_eq!(
        events[3].task_updated.as_ref().unwrap().status.state,
        v1::TaskState::TaskStarting as i32
    );
    assert_eq!(
        events[2].task_added.as_ref().unwrap().task.task_id.value,
        "a"
    );
    // The task runs: TASK_UPDATED with its status and state.
    let t2 = [task("a", "TASK_RUNNING", Some("n1"))];
    let events = told.changes(&built(&nodes2, &t2, &[], &fws, &["uid-1"]), "1.11.0");
    assert_eq!(kinds(&events), vec![Type::TaskUpdated]);
    let updated = events[0].task_updated.as_ref().unwrap();
    assert_eq!(updated.framework_id.value, "uid-1");
    assert_eq!(updated.state, v1::TaskState::TaskRunning as i32);
    assert_eq!(updated.status.task_id.value, "a");
    assert_eq!(updated.status.state, v1::TaskState::TaskRunning as i32);
    // The framework is torn down and an agent leaves.
    let gone = [framework("fw", "uid-1", true)];
    let events = told.changes(&built(&nodes, &t2, &[], &gone, &[]), "1.11.0");
    assert_eq!(
        kinds(&events),
        vec![Type::FrameworkRemoved, Type::AgentRemoved]
    );
    assert_eq!(
        events[0]
            .framework_removed
            .as_ref()
            .unwrap()
            .framework_info
            .name,
        "my-fw"
    );
    assert_eq!(
        events[1].agent_removed.as_ref().unwrap().agent_id.value,
        "n2"
    );
    // A new framework: FRAMEWORK_ADDED.
    let other = [framework("fw2", "uid-2", false)];
    let events = told.changes(&built(&nodes, &[], &[], &other, &[]), "1.11.0");
    assert_eq!(kinds(&events), vec![Type::FrameworkAdded]);
}

#[test]
fn a_multi_role_framework_is_one_framework_with_its_roles() {
    let primary = framework("fw", "uid-1", false);
    let mut other = (*framework("fw-r2", "uid-2", false)).clone();
    other.spec.role = "batch".into();
    other
        .metadata
        .labels
        .get_or_insert_default()
        .insert(adapter::ROLE_OF_LABEL.into(), "uid-1".into());
    let mut t2 = (*task("b", "TASK_RUNNING", Some("n1"))).clone();
    t2.spec.framework = "fw-r2".into();
    let mut o2 = (*offer("o2", "n1")).clone();
    o2.spec.framework = "fw-r2".into();
    let view = built(
        &[node("n1")],
        &[task("a", "TASK_RUNNING", Some("n1")), Arc::new(t2)],
        &[Arc::new(o2)],
        &[primary, Arc::new(other)],
        &["uid-1"],
    );
    assert_eq!(view.frameworks.len(), 1);
    let fw = &view.frameworks[0];
    assert_eq!(fw.roles, ["web", "batch"]);
    let ids: Vec<(&str, &str, &str)> = fw
        .tasks
        .iter()
        .map(|t| (t.id.as_str(), t.role.as_str(), t.framework_id.as_str()))
        .collect();
    assert_eq!(ids, [("a", "web", "uid-1"), ("b", "batch", "uid-1")]);
    assert_eq!(fw.offers.len(), 1);
    assert_eq!(fw.offers[0].role, "batch");
    let proto = framework_proto(fw);
    assert_eq!(
        proto.offers[0]
            .allocation_info
            .as_ref()
            .unwrap()
            .role
            .as_deref(),
        Some("batch")
    );
}
