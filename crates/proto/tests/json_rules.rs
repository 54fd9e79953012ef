//! Mesos' JSON rules (stout), checked on Mesos-shaped bodies: the examples of Mesos'
//! scheduler HTTP API documentation (corrected where they contradict the protos), and
//! what pymesos sends.

use mesos_proto::v1::scheduler::{Call, Event, call, event};
use mesos_proto::v1::{self, master};
use mesos_proto::{CodecError, ContentType, decode, encode, from_json, to_json};
use serde_json::json;

fn call(json: serde_json::Value) -> Call {
    match from_json(&json) {
        Ok(call) => call,
        Err(e) => panic!("{json} does not decode: {e}"),
    }
}

fn mapping_error<M: mesos_proto::ReflectMessage + Default + std::fmt::Debug>(
    json: serde_json::Value,
) -> (String, String) {
    match from_json::<M>(&json) {
        Err(CodecError::JsonMapping { source, .. }) => (source.path, source.reason),
        other => panic!("expected a mapping error for {json}, got {other:?}"),
    }
}

fn missing_fields<M: mesos_proto::ReflectMessage + Default + std::fmt::Debug>(
    json: serde_json::Value,
) -> Vec<String> {
    match from_json::<M>(&json) {
        Err(CodecError::NotInitialized(e)) => e.missing,
        other => panic!("expected missing required fields in {json}, got {other:?}"),
    }
}

#[test]
fn subscribe_from_the_docs() {
    let subscribe = call(json!({
        "type": "SUBSCRIBE",
        "subscribe": {
            "framework_info": {
                "user": "foo",
                "name": "Example HTTP Framework",
                "roles": ["test1", "test2"],
                "capabilities": [{"type": "MULTI_ROLE"}]
            },
            "suppressed_roles": ["test2"],
            "offer_constraints": {
                "role_constraints": {
                    "test1": {
                        "groups": [{
                            "attribute_constraints": [{
                                "selector": {"attribute_name": "foo"},
                                "predicate": {"exists": {}}
                            }]
                        }]
                    }
                }
            }
        }
    }));
    assert_eq!(subscribe.r#type(), call::Type::Subscribe);
    let body = subscribe.subscribe.expect("subscribe");
    let info = &body.framework_info;
    assert_eq!(
        (info.user.as_str(), info.name.as_str()),
        ("foo", "Example HTTP Framework")
    );
    assert_eq!(info.roles, ["test1", "test2"]);
    assert_eq!(
        info.capabilities[0].r#type(),
        v1::framework_info::capability::Type::MultiRole
    );
    assert_eq!(info.failover_timeout, None);
    assert_eq!(body.suppressed_roles, ["test2"]);
    let constraints = body.offer_constraints.expect("offer_constraints");
    let group = &constraints.role_constraints["test1"].groups[0];
    let constraint = &group.attribute_constraints[0];
    use v1::scheduler::attribute_constraint::{predicate, selector};
    assert_eq!(
        constraint.selector.selector,
        Some(selector::Selector::AttributeName("foo".into()))
    );
    // An empty object still sets the field (of a oneof): the predicate is "exists".
    assert_eq!(
        constraint.predicate.predicate,
        Some(predicate::Predicate::Exists(predicate::Exists {}))
    );
}

#[test]
fn subscribe_missing_its_user_names_the_field() {
    let missing = missing_fields::<Call>(json!({
        "type": "SUBSCRIBE",
        "subscribe": {"framework_info": {"name": "no user"}}
    }));
    assert_eq!(missing, ["subscribe.framework_info.user"]);
    let missing = missing_fields::<Call>(json!({"type": "SUBSCRIBE", "subscribe": {}}));
    assert_eq!(missing, ["subscribe.framework_info"]);
}

fn accept_json(limits: serde_json::Value) -> serde_json::Value {
    json!({
        "framework_id": {"value": "12220-3440-12532-2345"},
        "type": "ACCEPT",
        "accept": {
            "offer_ids": [{"value": "12220-3440-12532-O12"}],
            "operations": [{
                "type": "LAUNCH",
                "launch": {
                    "task_infos": [{
                        "name": "My Task",
                        "task_id": {"value": "12220-3440-12532-my-task"},
                        "agent_id": {"value": "12220-3440-12532-S1233"},
                        "command": {"shell": false, "value": "sleep", "arguments": ["sleep", "1000"]},
                        "resources": [
                            {"allocation_info": {"role": "engineering"}, "name": "cpus",
                             "role": "*", "type": "SCALAR", "scalar": {"value": 1.0}},
                            {"allocation_info": {"role": "engineering"}, "name": "mem",
                             "role": "*", "type": "SCALAR", "scalar": {"value": 128.0}},
                            {"name": "ports", "type": "RANGES",
                             "ranges": {"range": [{"begin": 31000, "end": 31001}]}}
                        ],
                        "limits": limits
                    }]
                }
            }],
            "filters": {"refuse_seconds": 5.0}
        }
    })
}

#[test]
fn accept_with_a_launch() {
    let accept = call(accept_json(
        json!({"cpus": {"value": "Infinity"}, "mem": {"value": 512.0}}),
    ));
    assert_eq!(
        accept.framework_id.as_ref().map(|id| id.value.as_str()),
        Some("12220-3440-12532-2345")
    );
    let body = accept.accept.expect("accept");
    assert_eq!(body.offer_ids[0].value, "12220-3440-12532-O12");
    assert_eq!(body.filters.and_then(|f| f.refuse_seconds), Some(5.0));
    let operation = &body.operations[0];
    assert_eq!(operation.r#type(), v1::offer::operation::Type::Launch);
    let task = &operation.launch.as_ref().expect("launch").task_infos[0];
    assert_eq!(task.agent_id.value, "12220-3440-12532-S1233");
    let command = task.command.as_ref().expect("command");
    assert_eq!(
        (command.shell, command.value.as_deref()),
        (Some(false), Some("sleep"))
    );
    assert_eq!(command.arguments, ["sleep", "1000"]);
    let cpus = &task.resources[0];
    assert_eq!(
        (cpus.name.as_str(), cpus.r#type()),
        ("cpus", v1::value::Type::Scalar)
    );
    assert_eq!(cpus.scalar.as_ref().map(|s| s.value), Some(1.0));
    assert_eq!(
        cpus.allocation_info
            .as_ref()
            .and_then(|a| a.role.as_deref()),
        Some("engineering")
    );
    let ports = &task.resources[2].ranges.as_ref().expect("ranges").range[0];
    assert_eq!((ports.begin, ports.end), (31000, 31001));
    assert_eq!(task.limits["cpus"].value, f64::INFINITY);
    assert_eq!(task.limits["mem"].value, 512.0);
}

#[test]
fn accept_with_limits_as_bare_values_is_refused_as_mesos_does() {
    // The documentation's `"cpus": "Infinity"` is not a Value.Scalar: stout refuses it.
    let (path, reason) = mapping_error::<Call>(accept_json(json!({"cpus": "Infinity"})));
    assert_eq!(
        path,
        "accept.operations[0].launch.task_infos[0].limits[\"cpus\"]"
    );
    assert_eq!(reason, "not expecting a JSON string");
}

#[test]
fn accept_with_a_task_missing_required_fields_names_each() {
    let mut body = accept_json(json!({"mem": {}}));
    let task = &mut body["accept"]["operations"][0]["launch"]["task_infos"][0];
    task.as_object_mut().expect("task").remove("agent_id");
    task["resources"][1]
        .as_object_mut()
        .expect("mem")
        .remove("name");
    let missing = missing_fields::<Call>(body);
    assert_eq!(
        missing,
        [
            "accept.operations[0].launch.task_infos[0].agent_id",
            "accept.operations[0].launch.task_infos[0].resources[1].name",
            "accept.operations[0].launch.task_infos[0].limits[\"mem\"].value",
        ]
    );
}

#[test]
fn decline_with_filters() {
    let decline = call(json!({
        "framework_id": {"value": "12220-3440-12532-2345"},
        "type": "DECLINE",
        "decline": {
            "offer_ids": [{"value": "12220-3440-12532-O12"}, {"value": "12220-3440-12532-O13"}],
            "filters": {"refuse_seconds": 5.0}
        }
    }));
    let body = decline.decline.expect("decline");
    let ids: Vec<&str> = body.offer_ids.iter().map(|id| id.value.as_str()).collect();
    assert_eq!(ids, ["12220-3440-12532-O12", "12220-3440-12532-O13"]);
    assert_eq!(body.filters.and_then(|f| f.refuse_seconds), Some(5.0));
}

#[test]
fn acknowledge_with_a_base64_uuid() {
    let uuid: Vec<u8> = (1..=16).collect();
    for encoded in ["AQIDBAUGBwgJCgsMDQ4PEA==", "AQIDBAUGBwgJCgsMDQ4PEA"] {
        let ack = call(json!({
            "framework_id": {"value": "f1"},
            "type": "ACKNOWLEDGE",
            "acknowledge": {"agent_id": {"value": "S0"}, "task_id": {"value": "t1"}, "uuid": encoded}
        }));
        let body = ack.acknowledge.expect("acknowledge");
        assert_eq!(body.uuid, uuid, "{encoded}");
        assert!(mesos_proto::status_uuid::parse_status_uuid(&body.uuid).is_ok());
    }
    let (path, reason) = mapping_error::<Call>(json!({
        "type": "ACKNOWLEDGE",
        "acknowledge": {"agent_id": {"value": "S0"}, "task_id": {"value": "t1"}, "uuid": "not base64!"}
    }));
    assert_eq!(path, "acknowledge.uuid");
    assert!(
        reason.starts_with("failed to base64 decode bytes"),
        "{reason}"
    );
}

#[test]
fn reconcile_explicit_implicit_and_pymesos_revive() {
    // pymesos sends only task ids.
    let explicit = call(json!({
        "framework_id": {"value": "f1"},
        "type": "RECONCILE",
        "reconcile": {"tasks": [{"task_id": {"value": "312325"}, "agent_id": {"value": "123535"}},
                                {"task_id": {"value": "t2"}}]}
    }));
    let tasks = explicit.reconcile.expect("reconcile").tasks;
    assert_eq!(
        tasks[0].agent_id.as_ref().map(|a| a.value.as_str()),
        Some("123535")
    );
    assert_eq!(
        (tasks[1].task_id.value.as_str(), tasks[1].agent_id.as_ref()),
        ("t2", None)
    );

    let implicit =
        call(json!({"framework_id": {"value": "f1"}, "type": "RECONCILE", "reconcile": {}}));
    assert_eq!(implicit.reconcile.map(|r| r.tasks.len()), Some(0));

    // pymesos leaves the wrapper out when it names no roles.
    let revive = call(json!({"framework_id": {"value": "f1"}, "type": "REVIVE"}));
    assert_eq!((revive.r#type(), revive.revive), (call::Type::Revive, None));
}

fn update_event() -> Event {
    Event {
        r#type: Some(event::Type::Update as i32),
        update: Some(event::Update {
            status: v1::TaskStatus {
                task_id: v1::TaskId { value: "t1".into() },
                state: v1::TaskState::TaskRunning as i32,
                source: Some(v1::task_status::Source::Executor as i32),
                agent_id: Some(v1::AgentId { value: "S0".into() }),
                timestamp: Some(1.5),
                uuid: Some(vec![1; 16]),
                data: Some(vec![0xfb, 0xff]),
                ..Default::default()
            },
        }),
        ..Default::default()
    }
}

#[test]
fn update_event_as_mesos_writes_it() {
    assert_eq!(
        to_json(&update_event()),
        json!({
            "type": "UPDATE",
            "update": {"status": {
                "task_id": {"value": "t1"},
                "state": "TASK_RUNNING",
                "source": "SOURCE_EXECUTOR",
                "agent_id": {"value": "S0"},
                "timestamp": 1.5,
                "uuid": "AQEBAQEBAQEBAQEBAQEBAQ==",
                // Standard base64 (`+`, `/`) with padding, not the URL-safe alphabet.
                "data": "+/8="
            }}
        })
    );
    let bytes = encode(&update_event(), ContentType::Json);
    assert_eq!(
        decode::<Event>(&bytes, ContentType::Json).expect("decodes"),
        update_event()
    );
}

#[test]
fn update_event_with_an_unknown_required_state_is_refused() {
    let mut json = to_json(&update_event());
    json["update"]["status"]["state"] = json!("TASK_BOGUS");
    let (path, reason) = mapping_error::<Event>(json);
    assert_eq!(path, "update.status.state");
    assert_eq!(reason, "failed to find enum for 'TASK_BOGUS'");
}

fn offer(id: &str) -> v1::Offer {
    let role = || {
        Some(v1::resource::AllocationInfo {
            role: Some("*".into()),
        })
    };
    v1::Offer {
        id: v1::OfferId { value: id.into() },
        framework_id: v1::FrameworkId { value: "f1".into() },
        agent_id: v1::AgentId { value: "S0".into() },
        hostname: "node-1".into(),
        allocation_info: role(),
        resources: vec![v1::Resource {
            name: "cpus".into(),
            r#type: v1::value::Type::Scalar as i32,
            scalar: Some(v1::value::Scalar { value: 2.0 }),
            allocation_info: role(),
            ..Default::default()
        }],
        attributes: vec![v1::Attribute {
            name: "os".into(),
            r#type: v1::value::Type::Text as i32,
            text: Some(v1::value::Text {
                value: "ubuntu16.04".into(),
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn offers_event_as_mesos_writes_it() {
    let event = mesos_proto::offers::offers_event(vec![offer("O1")]);
    assert_eq!(
        to_json(&event),
        json!({
            "type": "OFFERS",
            "offers": {"offers": [{
                "id": {"value": "O1"},
                "framework_id": {"value": "f1"},
                "agent_id": {"value": "S0"},
                "hostname": "node-1",
                "allocation_info": {"role": "*"},
                // `role` (deprecated, default "*") is not written when unset.
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 2.0},
                               "allocation_info": {"role": "*"}}],
                "attributes": [{"name": "os", "type": "TEXT", "text": {"value": "ubuntu16.04"}}]
            }]}
        })
    );
    // pymesos reads `event["offers"]`: present even with no offers.
    assert_eq!(
        to_json(&mesos_proto::offers::offers_event(Vec::new())),
        json!({"type": "OFFERS", "offers": {}})
    );
}

#[test]
fn heartbeat_and_subscribed_as_mesos_writes_them() {
    let heartbeat = Event {
        r#type: Some(event::Type::Heartbeat as i32),
        ..Default::default()
    };
    // Event has no Heartbeat message, so Mesos writes no nested object (pymesos
    // handles HEARTBEAT before looking for one).
    assert_eq!(to_json(&heartbeat), json!({"type": "HEARTBEAT"}));
    let subscribed = Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            framework_id: v1::FrameworkId { value: "f1".into() },
            heartbeat_interval_seconds: Some(15.0),
            master_info: Some(v1::MasterInfo {
                id: "m1".into(),
                ip: 0x0100_007f,
                port: 5050,
                version: Some("1.11.0".into()),
                ..Default::default()
            }),
        }),
        ..Default::default()
    };
    assert_eq!(
        to_json(&subscribed),
        json!({"type": "SUBSCRIBED", "subscribed": {
            "framework_id": {"value": "f1"},
            "heartbeat_interval_seconds": 15.0,
            "master_info": {"id": "m1", "ip": 16_777_343, "port": 5050, "version": "1.11.0"}
        }})
    );
}

#[test]
fn unset_fields_with_explicit_defaults_are_written() {
    let subscribe = Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: v1::FrameworkInfo {
                user: "u".into(),
                name: "n".into(),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        to_json(&subscribe)["subscribe"]["framework_info"],
        json!({"user": "u", "name": "n", "failover_timeout": 0.0, "checkpoint": false})
    );
    let filters = v1::Filters::default();
    assert_eq!(to_json(&filters), json!({"refuse_seconds": 5.0}));
    let command = v1::CommandInfo::default();
    assert_eq!(to_json(&command), json!({"shell": true}));
}

#[test]
fn camel_case_names_unknown_fields_and_nulls() {
    let subscribe = call(json!({
        "type": "SUBSCRIBE",
        "futureField": {"anything": [1, 2]},
        "subscribe": {
            "frameworkInfo": {"user": "u", "name": "n", "webuiUrl": "http://ui", "unknown": 1,
                              "roles": ["a", null, "b"], "hostname": null},
            "suppressedRoles": null
        },
        "framework_id": null
    }));
    let info = subscribe.subscribe.expect("subscribe").framework_info;
    assert_eq!(info.webui_url.as_deref(), Some("http://ui"));
    assert_eq!(info.roles, ["a", "b"]);
    assert_eq!(info.hostname, None);
    assert_eq!(subscribe.framework_id, None);
}

#[test]
fn unknown_enum_names_are_dropped_unless_required() {
    // An optional enum: unset, as if absent.
    let unknown_type = call(json!({"type": "FUTURE_CALL", "framework_id": {"value": "f1"}}));
    assert_eq!(unknown_type.r#type, None);
    // Inside a repeated message: the element stays, without its type.
    let subscribe = call(
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {
            "user": "u", "name": "n",
            "capabilities": [{"type": "FUTURE_CAPABILITY"}, {"type": "PARTITION_AWARE"}]
        }}}),
    );
    let capabilities = subscribe
        .subscribe
        .expect("subscribe")
        .framework_info
        .capabilities;
    assert_eq!(capabilities.len(), 2);
    assert_eq!(capabilities[0].r#type, None);
    assert_eq!(
        capabilities[1].r#type(),
        v1::framework_info::capability::Type::PartitionAware
    );
    // A repeated enum: the element is dropped.
    let linux: v1::CapabilityInfo =
        from_json(&json!({"capabilities": ["CHOWN", "FUTURE_CAP", "KILL"]})).expect("decodes");
    assert_eq!(
        linux.capabilities().collect::<Vec<_>>(),
        [
            v1::capability_info::Capability::Chown,
            v1::capability_info::Capability::Kill
        ]
    );
    // A required enum: an error (Resource.type).
    let (path, reason) =
        mapping_error::<v1::Resource>(json!({"name": "cpus", "type": "FUTURE_TYPE"}));
    assert_eq!(
        (path.as_str(), reason.as_str()),
        ("type", "failed to find enum for 'FUTURE_TYPE'")
    );
    // Enums are names only: a number is refused.
    let (path, reason) = mapping_error::<Call>(json!({"type": 1}));
    assert_eq!(
        (path.as_str(), reason.as_str()),
        ("type", "not expecting a JSON number")
    );
}

#[test]
fn bools_from_strings() {
    let command: v1::CommandInfo = from_json(&json!({"shell": "false"})).expect("decodes");
    assert_eq!(command.shell, Some(false));
    let command: v1::CommandInfo = from_json(&json!({"shell": "true"})).expect("decodes");
    assert_eq!(command.shell, Some(true));
    let (path, reason) = mapping_error::<v1::CommandInfo>(json!({"shell": "yes"}));
    assert_eq!(
        (path.as_str(), reason.as_str()),
        ("shell", "failed to parse 'yes' as a JSON boolean")
    );
    let (_, reason) = mapping_error::<v1::CommandInfo>(json!({"shell": 1}));
    assert_eq!(reason, "not expecting a JSON number");
}

#[test]
fn int64_as_numbers_out_and_strings_or_numbers_in() {
    let time = v1::TimeInfo {
        nanoseconds: 1_470_820_172_046_531_840,
    };
    assert_eq!(
        to_json(&time),
        json!({"nanoseconds": 1_470_820_172_046_531_840_i64})
    );
    for json in [
        json!({"nanoseconds": "1470820172046531840"}),
        json!({"nanoseconds": 1_470_820_172_046_531_840_i64}),
    ] {
        assert_eq!(
            from_json::<v1::TimeInfo>(&json).expect("decodes"),
            time,
            "{json}"
        );
    }
    // A fraction is truncated, as C++'s cast does; out of range is an error.
    let address: v1::Address = from_json(&json!({"port": 5050.9})).expect("decodes");
    assert_eq!(address.port, 5050);
    let address: v1::Address = from_json(&json!({"port": "-12"})).expect("decodes");
    assert_eq!(address.port, -12);
    let (path, reason) = mapping_error::<v1::Address>(json!({"port": 4_294_967_296_i64}));
    assert_eq!(
        (path.as_str(), reason.as_str()),
        ("port", "4294967296 is out of range for int32")
    );
    let (_, reason) = mapping_error::<v1::MasterInfo>(json!({"id": "m", "ip": -1, "port": 1}));
    assert_eq!(reason, "-1 is out of range for uint32");
    let (_, reason) = mapping_error::<v1::TimeInfo>(json!({"nanoseconds": "12abc"}));
    assert_eq!(reason, "failed to parse '12abc' as a JSON number");
    let (_, reason) = mapping_error::<v1::TimeInfo>(json!({"nanoseconds": "Infinity"}));
    assert_eq!(reason, "failed to parse 'Infinity' as a JSON number");
}

#[test]
fn doubles_take_infinity_and_numeric_strings() {
    let filters = |json| {
        from_json::<v1::Filters>(&json)
            .expect("decodes")
            .refuse_seconds
    };
    assert_eq!(
        filters(json!({"refuse_seconds": "Infinity"})),
        Some(f64::INFINITY)
    );
    assert_eq!(
        filters(json!({"refuse_seconds": "-Infinity"})),
        Some(f64::NEG_INFINITY)
    );
    assert_eq!(filters(json!({"refuse_seconds": "2.5"})), Some(2.5));
    assert_eq!(filters(json!({"refuse_seconds": 7})), Some(7.0));
    let (_, reason) = mapping_error::<v1::Filters>(json!({"refuse_seconds": "NaN"}));
    assert_eq!(reason, "failed to parse 'NaN' as a JSON number");
    // Written back as strings, since JSON has no infinity (Mesos writes a bare token).
    let infinite = v1::Filters {
        refuse_seconds: Some(f64::INFINITY),
    };
    assert_eq!(to_json(&infinite), json!({"refuse_seconds": "Infinity"}));
}

#[test]
fn single_values_for_repeated_fields_and_nested_arrays() {
    let subscribe = call(
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {
            "user": "u", "name": "n", "roles": "only-role"
        }}}),
    );
    assert_eq!(
        subscribe.subscribe.expect("subscribe").framework_info.roles,
        ["only-role"]
    );
    let decline = call(
        json!({"type": "DECLINE", "decline": {"offer_ids": [[{"value": "a"}], {"value": "b"}]}}),
    );
    let ids: Vec<String> = decline
        .decline
        .expect("decline")
        .offer_ids
        .into_iter()
        .map(|id| id.value)
        .collect();
    assert_eq!(ids, ["a", "b"]);
}

#[test]
fn shapes_that_do_not_fit_are_refused_with_their_path() {
    let (path, reason) =
        mapping_error::<Call>(json!({"type": "ACCEPT", "accept": {"offer_ids": ["O1"]}}));
    assert_eq!(
        (path.as_str(), reason.as_str()),
        ("accept.offer_ids[0]", "not expecting a JSON string")
    );
    let (path, reason) = mapping_error::<Call>(json!({"framework_id": {"value": 12}}));
    assert_eq!(
        (path.as_str(), reason.as_str()),
        ("framework_id.value", "not expecting a JSON number")
    );
    let (path, reason) = mapping_error::<Call>(json!({"framework_id": [{"value": "f"}]}));
    assert_eq!(
        (path.as_str(), reason.as_str()),
        ("framework_id", "not expecting a JSON array")
    );
    let (path, reason) = mapping_error::<Call>(json!(["SUBSCRIBE"]));
    assert_eq!(
        (path.as_str(), reason.as_str()),
        ("", "expecting a JSON object, not a JSON array")
    );
    match decode::<Call>(b"{\"type\": ", ContentType::Json) {
        Err(CodecError::Json(_)) => {}
        other => panic!("expected a JSON syntax error, got {other:?}"),
    }
}

#[test]
fn operator_api_calls_and_responses() {
    let get_health: master::Call = from_json(&json!({"type": "GET_HEALTH"})).expect("decodes");
    assert_eq!(get_health.r#type(), master::call::Type::GetHealth);
    let response = master::Response {
        r#type: Some(master::response::Type::GetHealth as i32),
        get_health: Some(master::response::GetHealth { healthy: true }),
        ..Default::default()
    };
    assert_eq!(
        to_json(&response),
        json!({"type": "GET_HEALTH", "get_health": {"healthy": true}})
    );
    let version = master::Response {
        r#type: Some(master::response::Type::GetVersion as i32),
        get_version: Some(master::response::GetVersion {
            version_info: v1::VersionInfo {
                version: "1.11.0".into(),
                build_time: Some(1.6e9),
                ..Default::default()
            },
        }),
        ..Default::default()
    };
    assert_eq!(
        to_json(&version),
        json!({"type": "GET_VERSION", "get_version": {"version_info": {"version": "1.11.0", "build_time": 1.6e9}}})
    );
    let missing =
        missing_fields::<master::Response>(json!({"type": "GET_HEALTH", "get_health": {}}));
    assert_eq!(missing, ["get_health.healthy"]);
}
