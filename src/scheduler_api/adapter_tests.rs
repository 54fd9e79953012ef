use super::*;
use crate::api::{OfferSpec, OfferStatus, TaskStatus};
use mesos_proto::v1::framework_info::Capability;
use mesos_proto::v1::framework_info::capability::Type as CapType;

fn info_with(caps: &[CapType]) -> v1::FrameworkInfo {
    v1::FrameworkInfo {
        user: "root".into(),
        name: "test".into(),
        capabilities: caps
            .iter()
            .map(|t| Capability {
                r#type: Some(*t as i32),
            })
            .collect(),
        ..Default::default()
    }
}

fn scalar_res(name: &str, value: f64) -> v1::Resource {
    v1::Resource {
        name: name.into(),
        r#type: v1::value::Type::Scalar as i32,
        scalar: Some(v1::value::Scalar { value }),
        ..Default::default()
    }
}

fn task_info(id: &str, agent: &str, cpus: f64, mem: f64) -> v1::TaskInfo {
    v1::TaskInfo {
        name: id.into(),
        task_id: v1::TaskId { value: id.into() },
        agent_id: v1::AgentId {
            value: agent.into(),
        },
        resources: vec![scalar_res("cpus", cpus), scalar_res("mem", mem)],
        command: Some(v1::CommandInfo {
            value: Some("echo hi".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn res(cpus: f64, mem: f64) -> Resources {
    resources_from_proto(&[scalar_res("cpus", cpus), scalar_res("mem", mem)]).unwrap()
}

fn task_in(state: TaskState, id: &str) -> Task {
    let mut task = Task::new(
        &task_name("fw-id", id),
        TaskSpec {
            framework: "fw".into(),
            offer: Some("o1".into()),
            resources: res(0.1, 32.0),
            command: None,
            template: None,
            health_check: None,
            kill_policy: None,
            max_completion_time: None,
            kill: false,
            placement: None,
            random_ports: Vec::new(),
            readiness_check: None,
        },
    );
    task.metadata.annotations = Some(
        [
            (TASK_ID_ANNOTATION.to_string(), id.to_string()),
            (AGENT_ANNOTATION.to_string(), "node-1".to_string()),
        ]
        .into(),
    );
    task.status = Some(TaskStatus {
        state: Some(state),
        source: Some(TaskSource::Executor),
        ..Default::default()
    });
    task
}

#[test]
fn capabilities_decide_the_visible_state() {
    let none = Caps::default();
    let all = Caps::from_info(&info_with(&[
        CapType::PartitionAware,
        CapType::TaskKillingState,
        CapType::MultiRole,
        CapType::GpuResources,
    ]));
    assert!(all.partition_aware && all.task_killing_state && all.multi_role && all.gpu_resources);
    assert_eq!(visible_state(TaskState::Killing, none), TaskState::Running);
    assert_eq!(visible_state(TaskState::Killing, all), TaskState::Killing);
    for s in [
        TaskState::Dropped,
        TaskState::Unreachable,
        TaskState::Gone,
        TaskState::GoneByOperator,
        TaskState::Unknown,
    ] {
        assert_eq!(visible_state(s, none), TaskState::Lost, "{s}");
        assert_eq!(visible_state(s, all), s);
    }
    for s in [TaskState::Running, TaskState::Finished, TaskState::Failed] {
        assert_eq!(visible_state(s, none), s);
    }
}

#[test]
fn roles_of_a_framework() {
    let mut info = info_with(&[]);
    assert_eq!(framework_roles(&info).unwrap(), ["*"]);
    info.role = Some("web".into());
    assert_eq!(framework_roles(&info).unwrap(), ["web"]);
    info.roles = vec!["a".into()];
    assert_eq!(
        framework_roles(&info).unwrap(),
        ["web"],
        "roles needs MULTI_ROLE"
    );
    let mut multi = info_with(&[CapType::MultiRole]);
    multi.roles = vec!["a".into(), "b/c".into(), "a".into()];
    assert_eq!(framework_roles(&multi).unwrap(), ["a", "b/c"]);
    multi.role = Some("a".into());
    assert!(framework_roles(&multi).is_err());
    multi.role = None;
    multi.roles = vec!["bad*".into()];
    assert!(framework_roles(&multi).unwrap_err().contains("bad*"));
    let name = role_object_name("fw-12345678", "b/c");
    assert!(
        name.starts_with("fw-12345678-") && name.len() == 20,
        "{name}"
    );
    assert_ne!(name, role_object_name("fw-12345678", "a"));
}

#[test]
fn offers_carry_allocation_info_only_for_multi_role() {
    let mut offer = Offer::new(
        "o1",
        OfferSpec {
            framework: "fw".into(),
            agent: "node-1".into(),
            hostname: String::new(),
            role: "*".into(),
            resources: resources_from_proto(&[
                scalar_res("cpus", 2.0),
                scalar_res("mem", 1024.0),
                scalar_res("gpus", 1.0),
            ])
            .unwrap(),
            attributes: [("zone".to_string(), "a".to_string())].into(),
            expires_at: None,
            decline: None,
        },
    );
    let plain = offer_to_proto(&offer, "fid", Caps::default());
    assert_eq!(plain.id.value, "o1");
    assert_eq!(plain.hostname, "node-1");
    assert_eq!(plain.framework_id.value, "fid");
    assert!(plain.allocation_info.is_none());
    let names: Vec<&str> = plain.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["cpus", "mem"], "no GPUs without GPU_RESOURCES");
    assert!(plain.resources.iter().all(|r| r.allocation_info.is_none()));
    assert_eq!(plain.attributes[0].text.as_ref().unwrap().value, "a");
    let multi = Caps {
        multi_role: true,
        gpu_resources: true,
        ..Caps::default()
    };
    let m = offer_to_proto(&offer, "fid", multi);
    assert_eq!(m.allocation_info.unwrap().role.as_deref(), Some("*"));
    assert_eq!(m.resources.len(), 3);
    assert!(
        m.resources
            .iter()
            .all(|r| r.allocation_info.as_ref().unwrap().role.as_deref() == Some("*"))
    );
    // The remainder of a partly used offer is what is offered.
    offer.status = Some(OfferStatus {
        remaining: res(1.0, 512.0),
        ..Default::default()
    });
    let rest = offer_to_proto(&offer, "fid", Caps::default());
    assert_eq!(rest.resources[0].scalar.unwrap().value, 1.0);
    assert!(mesos_proto::check_initialized(&rest).is_ok());
}

#[test]
fn resources_round_trip_and_refuse_nonsense() {
    let ports = v1::Resource {
        name: "ports".into(),
        r#type: v1::value::Type::Ranges as i32,
        ranges: Some(v1::value::Ranges {
            range: vec![v1::value::Range {
                begin: 31000,
                end: 31002,
            }],
        }),
        ..Default::default()
    };
    let r = resources_from_proto(&[
        scalar_res("cpus", 0.5),
        scalar_res("mem", 128.0),
        scalar_res("disk", 10.0),
        ports,
    ])
    .unwrap();
    assert_eq!(r.cpus.millis(), 500);
    assert_eq!(r.mem.bytes(), 128 << 20);
    assert_eq!(r.ports.len(), 3);
    let back = resources_from_proto(&resources_to_proto(&r, "*", Caps::default())).unwrap();
    assert_eq!(back, r);
    assert!(resources_from_proto(&[scalar_res("cpus", -1.0)]).is_err());
    assert!(resources_from_proto(&[scalar_res("cpus", f64::NAN)]).is_err());
    assert!(
        resources_from_proto(&[scalar_res("bandwidth", 1.0)])
            .unwrap_err()
            .contains("not supported")
    );
    assert!(resources_from_proto(&[scalar_res("gpus", 0.5)]).is_err());
}

#[test]
fn task_info_becomes_a_task_spec() {
    let mut info = task_info("My_Task.1", "node-1", 0.25, 64.0);
    info.command = Some(v1::CommandInfo {
        shell: Some(false),
        value: Some("/bin/echo".into()),
        arguments: vec!["echo".into(), "hello".into()],
        environment: Some(v1::Environment {
            variables: vec![v1::environment::Variable {
                name: "A".into(),
                value: Some("1".into()),
                ..Default::default()
            }],
        }),
        ..Default::default()
    });
    info.container = Some(v1::ContainerInfo {
        r#type: v1::container_info::Type::Docker as i32,
        docker: Some(v1::container_info::DockerInfo {
            image: "alpine:3".into(),
            ..Default::default()
        }),
        ..Default::default()
    });
    info.kill_policy = Some(v1::KillPolicy {
        grace_period: Some(v1::DurationInfo {
            nanoseconds: 3_000_000_000,
        }),
    });
    info.max_completion_time = Some(v1::DurationInfo {
        nanoseconds: 60_000_000_000,
    });
    info.health_check = Some(v1::HealthCheck {
        r#type: Some(v1::health_check::Type::Tcp as i32),
        tcp: Some(v1::health_check::TcpCheckInfo {
            port: 8080,
            protocol: None,
        }),
        interval_seconds: Some(2.5),
        ..Default::default()
    });
    info.labels = Some(v1::Labels {
        labels: vec![v1::Label {
            key: "k".into(),
            value: Some("v".into()),
        }],
    });
    info.labels.as_mut().unwrap().labels.push(v1::Label {
        key: "kwok.mesos.operator.dev/run-for".into(),
        value: Some("1s".into()),
    });
    info.labels.as_mut().unwrap().labels.push(v1::Label {
        key: "not a key".into(),
        value: Some("x".into()),
    });
    let new = task_from_info(&info, "fw", "fid", "o1").unwrap();
    assert_eq!(new.annotations["kwok.mesos.operator.dev/run-for"], "1s");
    assert!(!new.annotations.contains_key("not a key"));
    assert!(is_annotation_key("a.b/c-d_e.f") && is_annotation_key("k"));
    assert!(!is_annotation_key("A_/x") && !is_annotation_key("a/") && !is_annotation_key("-a"));
    assert!(new.name.starts_with("my-task-1-"), "{}", new.name);
    assert!(new.name.len() <= 63);
    assert_eq!(new.annotations[TASK_ID_ANNOTATION], "My_Task.1");
    assert_eq!(new.annotations[AGENT_ANNOTATION], "node-1");
    assert_eq!(
        new.annotations[LABELS_ANNOTATION],
        r#"{"k":"v","kwok.mesos.operator.dev/run-for":"1s","not a key":"x"}"#
    );
    let command = new.spec.command.unwrap();
    assert_eq!(command.argv.unwrap(), ["echo", "hello"]);
    assert!(command.shell.is_none());
    assert_eq!(command.image, "alpine:3");
    assert_eq!(command.env[0].name, "A");
    assert_eq!(new.spec.offer.as_deref(), Some("o1"));
    let hc = new.spec.health_check.unwrap();
    assert_eq!(hc.tcp.unwrap().port, 8080);
    assert_eq!(hc.interval_seconds, 3);
    let grace: std::time::Duration = new.spec.kill_policy.unwrap().grace_period.into();
    assert_eq!(grace.as_secs(), 3);
    let max: std::time::Duration = new.spec.max_completion_time.unwrap().into();
    assert_eq!(max.as_secs(), 60);

    // Shell commands, MESOS container images.
    let mut shell = task_info("t", "node-1", 0.1, 32.0);
    shell.container = Some(v1::ContainerInfo {
        r#type: v1::container_info::Type::Mesos as i32,
        mesos: Some(v1::container_info::MesosInfo {
            image: Some(v1::Image {
                r#type: v1::image::Type::Docker as i32,
                docker: Some(v1::image::Docker {
                    name: "busybox:1".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }),
        ..Default::default()
    });
    let new = task_from_info(&shell, "fw", "fid", "o1").unwrap();
    let command = new.spec.command.unwrap();
    assert_eq!(command.shell.as_deref(), Some("echo hi"));
    assert_eq!(command.image, "busybox:1");
}

#[test]
fn unsupported_task_infos_say_why() {
    let mut custom = task_info("t", "n", 0.1, 32.0);
    custom.executor = Some(v1::ExecutorInfo::default());
    assert!(
        task_from_info(&custom, "fw", "fid", "o")
            .unwrap_err()
            .contains("custom executors")
    );
    let mut none = task_info("t", "n", 0.1, 32.0);
    none.command = None;
    assert!(task_from_info(&none, "fw", "fid", "o").is_err());
    let no_mem = v1::TaskInfo {
        resources: vec![scalar_res("cpus", 1.0)],
        ..task_info("t", "n", 0.1, 32.0)
    };
    assert!(
        task_from_info(&no_mem, "fw", "fid", "o")
            .unwrap_err()
            .contains("mem")
    );
}

#[test]
fn task_names_are_dns_names_unique_per_framework() {
    let a = task_name("fw-a", "task 1");
    let b = task_name("fw-b", "task 1");
    assert_ne!(a, b);
    assert_eq!(a, task_name("fw-a", "task 1"));
    for name in [
        a,
        task_name("f", "---"),
        task_name("f", &"x".repeat(300)),
        task_name("f", "ÜÖ"),
    ] {
        assert!(name.len() <= 63, "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
        assert!(!name.starts_with('-') && !name.ends_with('-'), "{name}");
    }
    assert_eq!(
        framework_name("My Framework!", "ABCDEF123"),
        "my-framework-abcdef12"
    );
}

#[test]
fn accept_packs_tasks_and_refuses_the_rest() {
    let offers = vec![
        OfferView {
            id: "o1".into(),
            agent: "node-1".into(),
            resources: res(1.0, 256.0),
        },
        OfferView {
            id: "o2".into(),
            agent: "node-1".into(),
            resources: res(1.0, 256.0),
        },
        OfferView {
            id: "o3".into(),
            agent: "node-1".into(),
            resources: res(1.0, 256.0),
        },
    ];
    let known: HashSet<String> = ["old".to_string()].into();
    let infos = vec![
        task_info("a", "node-1", 0.6, 100.0),
        task_info("b", "node-1", 0.6, 100.0),
        task_info("c", "node-1", 0.4, 100.0),
        task_info("big", "node-1", 2.0, 100.0),
        task_info("old", "node-1", 0.1, 10.0),
        task_info("a", "node-1", 0.1, 10.0),
        task_info("elsewhere", "node-2", 0.1, 10.0),
    ];
    let plan = plan_accept(
        &offers,
        None,
        &infos,
        &known,
        "fw",
        "fid",
        Caps::default(),
        1.0,
    );
    let placed: Vec<(&str, &str)> = plan
        .launches
        .iter()
        .map(|t| {
            (
                t.annotations[TASK_ID_ANNOTATION].as_str(),
                t.spec.offer.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(placed, [("a", "o1"), ("b", "o2"), ("c", "o1")]);
    assert_eq!(plan.unused_offers, ["o3"]);
    let refused: Vec<(&str, i32, Option<i32>)> = plan
        .refused
        .iter()
        .map(|s| (s.task_id.value.as_str(), s.state, s.reason))
        .collect();
    let error = v1::TaskState::TaskError as i32;
    let invalid = Some(Reason::TaskInvalid as i32);
    assert_eq!(
        refused,
        [
            ("big", error, invalid),
            ("old", error, invalid),
            ("a", error, invalid),
            ("elsewhere", error, invalid)
        ]
    );
    assert!(plan.refused.iter().all(|s| s.uuid.is_none()
        && s.source == Some(Source::Master as i32)
        && s.agent_id.is_some()));
}

#[test]
fn invalid_offers_lose_or_drop_every_task() {
    let infos = vec![
        task_info("a", "n", 0.1, 10.0),
        task_info("b", "n", 0.1, 10.0),
    ];
    let plan = plan_accept(
        &[],
        Some("offer x is not valid"),
        &infos,
        &HashSet::new(),
        "fw",
        "fid",
        Caps::default(),
        1.0,
    );
    assert!(plan.launches.is_empty());
    assert!(
        plan.refused
            .iter()
            .all(|s| s.state == v1::TaskState::TaskLost as i32
                && s.reason == Some(Reason::InvalidOffers as i32))
    );
    let aware = Caps {
        partition_aware: true,
        ..Caps::default()
    };
    let plan = plan_accept(
        &[],
        Some("x"),
        &infos,
        &HashSet::new(),
        "fw",
        "fid",
        aware,
        1.0,
    );
    assert!(
        plan.refused
            .iter()
            .all(|s| s.state == v1::TaskState::TaskDropped as i32)
    );
    let two_agents = vec![
        OfferView {
            id: "o1".into(),
            agent: "n".into(),
            resources: res(1.0, 100.0),
        },
        OfferView {
            id: "o2".into(),
            agent: "m".into(),
            resources: res(1.0, 100.0),
        },
    ];
    let plan = plan_accept(
        &two_agents,
        None,
        &infos,
        &HashSet::new(),
        "fw",
        "fid",
        Caps::default(),
        1.0,
    );
    assert_eq!(plan.refused.len(), 2);
    assert!(plan.launches.is_empty());
}

#[test]
fn reconciliation_explicit_and_implicit() {
    let running = task_in(TaskState::Running, "r");
    let done = task_in(TaskState::Finished, "f");
    let tasks: HashMap<String, &Task> =
        [("r".to_string(), &running), ("f".to_string(), &done)].into();
    let launching: HashSet<String> = ["new".to_string()].into();
    let implicit = reconcile(&tasks, &launching, &[], Caps::default(), 1.0);
    let got: Vec<(&str, i32)> = implicit
        .iter()
        .map(|s| (s.task_id.value.as_str(), s.state))
        .collect();
    assert_eq!(
        got,
        [
            ("r", v1::TaskState::TaskRunning as i32),
            ("new", v1::TaskState::TaskStaging as i32)
        ]
    );
    let asked: Vec<String> = ["f", "ghost", "r"].iter().map(|s| s.to_string()).collect();
    let explicit = reconcile(&tasks, &launching, &asked, Caps::default(), 1.0);
    let got: Vec<(&str, i32)> = explicit
        .iter()
        .map(|s| (s.task_id.value.as_str(), s.state))
        .collect();
    assert_eq!(
        got,
        [
            ("f", v1::TaskState::TaskFinished as i32),
            ("ghost", v1::TaskState::TaskLost as i32),
            ("r", v1::TaskState::TaskRunning as i32)
        ]
    );
    assert!(
        explicit
            .iter()
            .all(|s| s.reason == Some(Reason::Reconciliation as i32)
                && s.source == Some(Source::Master as i32)
                && s.uuid.is_none())
    );
    let aware = Caps {
        partition_aware: true,
        ..Caps::default()
    };
    let explicit = reconcile(&tasks, &launching, &asked, aware, 1.0);
    assert_eq!(explicit[1].state, v1::TaskState::TaskUnknown as i32);
}

#[test]
fn delivery_retries_until_acknowledged_and_skips_acknowledged_terminals() {
    let mut delivery = Delivery::default();
    let mut n = 0u8;
    let mut uuid = || {
        n += 1;
        vec![n; 16]
    };
    let staging = task_in(TaskState::Staging, "s");
    let running = task_in(TaskState::Running, "r");
    let tasks = [("s", &staging), ("r", &running)];
    let sent = delivery.changes(
        tasks.iter().map(|(a, b)| (*a, *b)),
        Caps::default(),
        0.0,
        &mut uuid,
    );
    assert_eq!(sent.len(), 1, "no update for STAGING");
    assert_eq!(sent[0].task_id.value, "r");
    let first = sent[0].uuid.clone().unwrap();
    assert_eq!(sent[0].agent_id.as_ref().unwrap().value, "node-1");
    // Nothing new: nothing sent; not yet due: no retry.
    assert!(
        delivery
            .changes(
                tasks.iter().map(|(a, b)| (*a, *b)),
                Caps::default(),
                1.0,
                &mut uuid
            )
            .is_empty()
    );
    assert!(delivery.retries(5.0).is_empty());
    let retried = delivery.retries(10.0);
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].uuid.as_deref(), Some(first.as_slice()));
    assert!(delivery.retries(25.0).is_empty(), "backoff doubled to 20 s");
    assert_eq!(delivery.retries(30.0).len(), 1);
    // A wrong uuid acknowledges nothing; the right one ends the retries.
    assert_eq!(delivery.acknowledge("r", &[9; 16], 30.0), None);
    assert_eq!(
        delivery.acknowledge("r", &first, 30.0),
        Some(Acked {
            state: TaskState::Running,
            next: None
        })
    );
    assert!(delivery.retries(10_000.0).is_empty());
    assert_eq!(delivery.pending_len(), 0);

    // A terminal state acknowledged before (annotation) is not sent again, e.g. after an
    // operator restart; one not acknowledged is.
    let mut acked = task_in(TaskState::Finished, "a");
    acked
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(ACKNOWLEDGED_ANNOTATION.into(), "TASK_FINISHED".into());
    let unacked = task_in(TaskState::Failed, "u");
    let mut fresh = Delivery::default();
    let sent = fresh.changes(
        [("a", &acked), ("u", &unacked)],
        Caps::default(),
        0.0,
        &mut uuid,
    );
    let ids: Vec<&str> = sent.iter().map(|s| s.task_id.value.as_str()).collect();
    assert_eq!(ids, ["u"]);
    assert_eq!(fresh.unacknowledged(1.0).len(), 1);
}

#[test]
fn refused_operations_answer_operation_error_only_with_an_id() {
    use v1::offer::operation::Type as Op;
    let reserve = v1::offer::Operation {
        r#type: Some(Op::Reserve as i32),
        id: Some(v1::OperationId {
            value: "op-1".into(),
        }),
        ..Default::default()
    };
    let (message, status) = refuse_operation(&reserve, None);
    assert!(message.contains("RESERVE is not supported"), "{message}");
    let status = status.expect("feedback asked");
    assert_eq!(status.state, v1::OperationState::OperationError as i32);
    assert_eq!(status.operation_id.unwrap().value, "op-1");
    assert_eq!(status.message.as_deref(), Some(message.as_str()));
    assert!(status.uuid.is_none() && status.agent_id.is_none());
    // No id: dropped (logged) with no update.
    let create = v1::offer::Operation {
        r#type: Some(Op::Create as i32),
        ..Default::default()
    };
    let (message, status) = refuse_operation(&create, None);
    assert!(message.contains("CREATE"));
    assert!(status.is_none());
    // On invalid offers, Mesos' own message.
    let (message, _) = refuse_operation(&reserve, Some("Offer o1 is no longer valid"));
    assert_eq!(
        message,
        "Operation attempted with invalid offers: Offer o1 is no longer valid"
    );
}

fn launch_group(executor: &str, ids: &[&str]) -> v1::offer::operation::LaunchGroup {
    v1::offer::operation::LaunchGroup {
        executor: v1::ExecutorInfo {
            r#type: Some(v1::executor_info::Type::Default as i32),
            executor_id: v1::ExecutorId {
                value: executor.into(),
            },
            resources: vec![scalar_res("cpus", 0.1), scalar_res("mem", 32.0)],
            ..Default::default()
        },
        task_group: v1::TaskGroupInfo {
            tasks: ids
                .iter()
                .map(|id| task_info(id, "node-1", 0.2, 64.0))
                .collect(),
        },
    }
}

#[test]
fn a_task_group_is_one_task_with_a_container_per_member() {
    let group = launch_group("ex", &["a", "b"]);
    let new = group_task(&group, "fw", "fw-id", "o1").unwrap();
    assert_eq!(new.spec.resources, res(0.5, 160.0));
    assert!(new.spec.command.is_none());
    let template = new.spec.template.as_ref().unwrap();
    let containers = template["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2);
    assert_eq!(containers[0]["name"], "t0-a");
    assert_eq!(
        containers[1]["command"],
        serde_json::json!(["/bin/sh", "-c", "echo hi"])
    );
    assert_eq!(template["spec"]["restartPolicy"], "Never");
    assert_eq!(new_task_ids(&new), vec!["a".to_string(), "b".to_string()]);
    assert_eq!(new.annotations[TASK_ID_ANNOTATION], "ex");
    // A custom executor is refused.
    let mut custom = launch_group("ex", &["a"]);
    custom.executor.r#type = Some(v1::executor_info::Type::Custom as i32);
    assert!(group_task(&custom, "fw", "fw-id", "o1").is_err());
}

#[test]
fn a_group_launches_whole_or_every_member_is_refused() {
    let offers = [OfferView {
        id: "o1".into(),
        agent: "node-1".into(),
        resources: res(1.0, 1024.0),
    }];
    let known: HashSet<String> = ["b".to_string()].into();
    let groups = [launch_group("g1", &["a", "b"]), launch_group("g2", &["c"])];
    let plan = plan_launches(
        &offers,
        None,
        &[],
        &groups,
        &known,
        "fw",
        "fw-id",
        Caps::default(),
        1.0,
    );
    // g1 has a task id in use: both members TASK_ERROR, REASON_TASK_GROUP_INVALID.
    assert_eq!(plan.refused.len(), 2);
    for status in &plan.refused {
        assert_eq!(status.state, v1::TaskState::TaskError as i32);
        assert_eq!(status.reason, Some(Reason::TaskGroupInvalid as i32));
    }
    assert_eq!(plan.launches.len(), 1);
    assert_eq!(new_task_ids(&plan.launches[0]), vec!["c".to_string()]);
    // A group bigger than the offer: refused whole.
    let big = [launch_group("g3", &["x", "y", "z", "w", "v"])];
    let plan = plan_launches(
        &offers,
        None,
        &[],
        &big,
        &HashSet::new(),
        "fw",
        "fw-id",
        Caps::default(),
        1.0,
    );
    assert!(plan.launches.is_empty());
    assert_eq!(plan.refused.len(), 5);
    assert_eq!(plan.unused_offers, vec!["o1".to_string()]);
}

#[test]
fn members_take_their_containers_states() {
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateTerminated,
    };
    let terminated = |code: i32| ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: code,
            ..Default::default()
        }),
        ..Default::default()
    };
    let running = ContainerState {
        running: Some(ContainerStateRunning::default()),
        ..Default::default()
    };
    assert_eq!(
        member_state(TaskState::Running, Some(&terminated(0))).0,
        TaskState::Finished
    );
    let (state, reason, _) = member_state(TaskState::Failed, Some(&terminated(3)));
    assert_eq!(state, TaskState::Failed);
    assert_eq!(reason, Some(TaskReason::ReasonCommandExecutorFailed));
    assert_eq!(
        member_state(TaskState::Running, Some(&running)).0,
        TaskState::Running
    );
    assert_eq!(
        member_state(TaskState::Running, None).0,
        TaskState::Starting
    );
    assert_eq!(member_state(TaskState::Killed, None).0, TaskState::Killed);

    // A group Task with its pod: one Task per member, keyed by the member's task name.
    let new = group_task(&launch_group("ex", &["a", "b"]), "fw", "fw-id", "o1").unwrap();
    let mut task = task_in(TaskState::Running, "ex");
    task.metadata.annotations = Some(new.annotations.clone());
    task.metadata.annotations.as_mut().unwrap().insert(
        format!("{MEMBER_ACKNOWLEDGED_PREFIX}t1-b"),
        "TASK_FAILED".into(),
    );
    let pod: crate::runtime::cached_pod::CachedPod = serde_json::from_value(serde_json::json!({
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "t0-a", "state": {"running": {}}},
            {"name": "t1-b", "state": {"terminated": {"exitCode": 1}}},
        ]}
    }))
    .unwrap();
    let members = member_tasks(&task, "fw-id", Some(&pod));
    assert_eq!(members.len(), 2);
    assert_eq!(members[0].0, task_name("fw-id", "a"));
    assert_eq!(mesos_task_id(&members[0].1), "a");
    assert_eq!(members[0].1.state(), Some(TaskState::Running));
    assert_eq!(members[1].1.state(), Some(TaskState::Failed));
    assert_eq!(
        members[1].1.metadata.annotations.as_ref().unwrap()[ACKNOWLEDGED_ANNOTATION],
        "TASK_FAILED"
    );
    assert_eq!(member_ids(&task), vec!["a".to_string(), "b".to_string()]);
}

#[test]
fn a_service_account_registers_in_its_namespace() {
    assert_eq!(
        token_namespace("system:serviceaccount:team-a:fw").as_deref(),
        Some("team-a")
    );
    assert_eq!(token_namespace("alice"), None);
    assert_eq!(token_namespace("system:serviceaccount::fw"), None);
}

#[test]
fn every_unacknowledged_update_is_delivered_in_order() {
    let mut n = 0u8;
    let mut uuid = || {
        n += 1;
        vec![n; 16]
    };
    let mut delivery = Delivery::default();
    let mut sent = Vec::new();
    // STARTING, RUNNING, FINISHED seen before any acknowledgement: only the head is sent.
    for state in [TaskState::Starting, TaskState::Running, TaskState::Finished] {
        let task = task_in(state, "t");
        sent.extend(delivery.changes([("t", &task)], Caps::default(), 0.0, &mut uuid));
    }
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].state, v1::TaskState::TaskStarting as i32);
    assert_eq!(delivery.pending_len(), 3);
    // Retries resend the head only; a re-subscribe too.
    let retried = delivery.retries(10.0);
    assert_eq!(retried, vec![sent[0].clone()]);
    assert_eq!(delivery.unacknowledged(11.0), vec![sent[0].clone()]);
    // Acknowledging out of order does nothing; in order releases the next, oldest first.
    assert_eq!(delivery.acknowledge("t", &[2; 16], 12.0), None);
    let acked = delivery.acknowledge("t", &[1; 16], 12.0).unwrap();
    assert_eq!(acked.state, TaskState::Starting);
    let next = acked.next.unwrap();
    assert_eq!(next.state, v1::TaskState::TaskRunning as i32);
    assert_eq!(next.uuid, Some(vec![2; 16]));
    // The new head's retries start from its release.
    assert!(delivery.retries(15.0).is_empty());
    assert_eq!(delivery.retries(22.0), vec![next]);
    let acked = delivery.acknowledge("t", &[2; 16], 23.0).unwrap();
    assert_eq!(acked.state, TaskState::Running);
    assert_eq!(
        acked.next.unwrap().state,
        v1::TaskState::TaskFinished as i32
    );
    let acked = delivery.acknowledge("t", &[3; 16], 24.0).unwrap();
    assert_eq!(acked.state, TaskState::Finished);
    assert!(acked.next.is_none());
    assert_eq!(delivery.pending_len(), 0);
}
