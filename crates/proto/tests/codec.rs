//! Round trips protobuf ⇄ prost ⇄ JSON, the required-field and enum checks on the
//! protobuf side, and coercions over arbitrary values.

mod common;

use mesos_proto::json::message_from_json;
use mesos_proto::v1::scheduler::{Call, Event, call};
use mesos_proto::v1::{self, master};
use mesos_proto::{
    CodecError, ContentType, ReflectMessage, check_initialized, decode, encode, from_json,
};
use proptest::prelude::*;
use prost::Message as _;
use serde_json::json;

/// The protobuf bytes of a JSON body, without any required-field check: what a client
/// that does not check them would send.
fn unchecked_protobuf<M: ReflectMessage + Default>(json: serde_json::Value) -> Vec<u8> {
    let descriptor = M::default().descriptor();
    message_from_json(&descriptor, &json)
        .expect("maps onto the message")
        .encode_to_vec()
}

fn not_initialized<M: ReflectMessage + Default + std::fmt::Debug>(bytes: &[u8]) -> Vec<String> {
    match decode::<M>(bytes, ContentType::Protobuf) {
        Err(CodecError::NotInitialized(e)) => e.missing,
        other => panic!("expected missing required fields, got {other:?}"),
    }
}

#[test]
fn protobuf_missing_required_fields_are_refused_recursively() {
    let bytes = unchecked_protobuf::<Call>(json!({
        "type": "ACCEPT",
        "accept": {"offer_ids": [{"value": "O1"}, {}], "operations": [{"type": "LAUNCH", "launch": {
            "task_infos": [{"name": "t", "task_id": {"value": "t"}, "resources": [{"name": "cpus"}]}]
        }}]}
    }));
    // prost alone takes it without complaint.
    assert!(Call::decode(bytes.as_slice()).is_ok());
    assert_eq!(
        not_initialized::<Call>(&bytes),
        [
            "accept.offer_ids[1].value",
            "accept.operations[0].launch.task_infos[0].agent_id",
            "accept.operations[0].launch.task_infos[0].resources[0].type",
        ]
    );
    let error = decode::<Call>(&bytes, ContentType::Protobuf).expect_err("refused");
    assert_eq!(
        error.to_string(),
        "mesos.v1.scheduler.Call is not initialized: missing required fields accept.offer_ids[1].value, \
         accept.operations[0].launch.task_infos[0].agent_id, accept.operations[0].launch.task_infos[0].resources[0].type"
    );
}

#[test]
fn protobuf_event_missing_a_nested_required_field_is_refused() {
    let bytes = unchecked_protobuf::<Event>(json!({
        "type": "OFFERS",
        "offers": {"offers": [{"id": {"value": "O1"}, "framework_id": {"value": "f"}, "agent_id": {"value": "S"}}]}
    }));
    assert_eq!(
        not_initialized::<Event>(&bytes),
        ["offers.offers[0].hostname"]
    );
    let bytes =
        unchecked_protobuf::<master::Event>(json!({"type": "TASK_ADDED", "task_added": {}}));
    assert_eq!(
        not_initialized::<master::Event>(&bytes),
        ["task_added.task"]
    );
}

#[test]
fn protobuf_undefined_enum_numbers_are_dropped_as_mesos_does() {
    // An optional enum: unset.
    let call = Call {
        r#type: Some(99),
        ..Default::default()
    };
    let decoded: Call = decode(&call.encode_to_vec(), ContentType::Protobuf).expect("decodes");
    assert_eq!(decoded.r#type, None);
    // A repeated enum: the element is dropped.
    let capabilities = v1::CapabilityInfo {
        capabilities: vec![1000, 9999, 1001],
    };
    let decoded: v1::CapabilityInfo =
        decode(&capabilities.encode_to_vec(), ContentType::Protobuf).expect("decodes");
    assert_eq!(decoded.capabilities, [1000, 1001]);
    // A required enum: then missing.
    let mut update = Event {
        r#type: Some(v1::scheduler::event::Type::Update as i32),
        update: Some(v1::scheduler::event::Update {
            status: v1::TaskStatus {
                state: 99,
                ..Default::default()
            },
        }),
        ..Default::default()
    };
    assert_eq!(
        not_initialized::<Event>(&update.encode_to_vec()),
        ["update.status.state"]
    );
    // And the check before sending names it.
    let error = check_initialized(&update).expect_err("undefined state");
    assert_eq!(
        (error.missing.len(), error.undefined_enum_values.as_slice()),
        (0, ["update.status.state".to_owned()].as_slice())
    );
    if let Some(u) = update.update.as_mut() {
        u.status.state = v1::TaskState::TaskFinished as i32;
    }
    assert_eq!(check_initialized(&update), Ok(()));
}

#[test]
fn check_initialized_finds_undefined_enums_deep_inside() {
    let offer = v1::Offer {
        resources: vec![v1::Resource {
            r#type: 42,
            ..Default::default()
        }],
        ..Default::default()
    };
    let event = mesos_proto::offers::offers_event(vec![offer]);
    let error = check_initialized(&event).expect_err("undefined resource type");
    assert_eq!(
        error.undefined_enum_values,
        ["offers.offers[0].resources[0].type"]
    );
    // Its JSON writes the number, as nothing else can stand for it.
    assert_eq!(
        mesos_proto::to_json(&event)["offers"]["offers"][0]["resources"][0]["type"],
        json!(42)
    );
}

#[test]
fn malformed_protobuf_is_a_protobuf_error() {
    match decode::<Call>(&[0x0a, 0xff, 0xff], ContentType::Protobuf) {
        Err(CodecError::Protobuf { message_type, .. }) => {
            assert_eq!(message_type, "mesos.v1.scheduler.Call")
        }
        other => panic!("expected a protobuf error, got {other:?}"),
    }
}

#[test]
fn operator_event_round_trip() {
    let event = master::Event {
        r#type: Some(master::event::Type::TaskAdded as i32),
        task_added: Some(master::event::TaskAdded {
            task: v1::Task {
                name: "t".into(),
                task_id: v1::TaskId { value: "t1".into() },
                framework_id: v1::FrameworkId { value: "f1".into() },
                agent_id: v1::AgentId { value: "S0".into() },
                state: v1::TaskState::TaskStaging as i32,
                ..Default::default()
            },
        }),
        ..Default::default()
    };
    for content_type in [ContentType::Json, ContentType::Protobuf] {
        let bytes = encode(&event, content_type);
        assert_eq!(
            decode::<master::Event>(&bytes, content_type).expect("decodes"),
            event,
            "{content_type}"
        );
    }
}

fn round_trips<M: ReflectMessage + Default + PartialEq + std::fmt::Debug>(
    message: &M,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(check_initialized(message), Ok(()));
    for content_type in [ContentType::Protobuf, ContentType::Json] {
        let bytes = encode(message, content_type);
        let decoded: M =
            decode(&bytes, content_type).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&decoded, message, "through {}", content_type);
    }
    // JSON → prost → protobuf bytes that prost alone reads back as the original (maps
    // make the bytes themselves depend on hash order).
    let from_json: M = decode(&encode(message, ContentType::Json), ContentType::Json)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let reread = M::decode(from_json.encode_to_vec().as_slice())
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&reread, message);
    Ok(())
}

/// An arbitrary JSON value whose keys are often real field names, to reach deep.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let keys = prop::sample::select(vec![
        "type",
        "subscribe",
        "framework_info",
        "user",
        "name",
        "roles",
        "accept",
        "offer_ids",
        "value",
        "operations",
        "launch",
        "task_infos",
        "resources",
        "scalar",
        "limits",
        "uuid",
        "acknowledge",
        "capabilities",
        "failover_timeout",
        "shell",
        "ranges",
        "range",
        "begin",
    ]);
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        prop_oneof![
            Just("SUBSCRIBE".to_owned()),
            Just("Infinity".to_owned()),
            Just("true".to_owned()),
            ".*".prop_map(String::from)
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(6, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(keys.clone(), inner, 0..5).prop_map(|m| {
                serde_json::Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #[test]
    fn accept_calls_round_trip(call in common::accept_call()) {
        round_trips(&call)?;
    }

    #[test]
    fn update_events_round_trip(event in common::update_event()) {
        round_trips(&event)?;
    }

    #[test]
    fn offers_events_round_trip(event in common::offers_event()) {
        round_trips(&event)?;
    }

    #[test]
    fn int64_and_uint64_accept_strings_and_numbers(n in any::<i64>(), begin in any::<u64>()) {
        let time: v1::TimeInfo = from_json(&json!({"nanoseconds": n.to_string()})).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(time.nanoseconds, n);
        let time: v1::TimeInfo = from_json(&json!({"nanoseconds": n})).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(time.nanoseconds, n);
        let range: v1::value::Range = from_json(&json!({"begin": begin.to_string(), "end": begin}))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!((range.begin, range.end), (begin, begin));
        prop_assert_eq!(mesos_proto::to_json(&range), json!({"begin": begin, "end": begin}));
    }

    #[test]
    fn bools_accept_strings(shell in any::<bool>()) {
        let command: v1::CommandInfo = from_json(&json!({"shell": shell.to_string()}))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(command.shell, Some(shell));
    }

    #[test]
    fn doubles_accept_numeric_strings(refuse in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
        let filters: v1::Filters = from_json(&json!({"refuse_seconds": refuse.to_string()}))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(filters.refuse_seconds, Some(refuse));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode::<Call>(&bytes, ContentType::Protobuf);
        let _ = decode::<Event>(&bytes, ContentType::Protobuf);
        let _ = decode::<Call>(&bytes, ContentType::Json);
    }

    #[test]
    fn arbitrary_json_never_panics(json in json_value()) {
        let body = json.to_string();
        let _ = decode::<Call>(body.as_bytes(), ContentType::Json);
        let _ = decode::<master::Call>(body.as_bytes(), ContentType::Json);
        let wrapped = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": json}});
        let _ = decode::<Call>(wrapped.to_string().as_bytes(), ContentType::Json);
    }
}

#[test]
fn a_subscribe_call_round_trips_through_both_codecs() {
    let subscribe = Call {
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: v1::FrameworkInfo {
                user: "root".into(),
                name: "pymesos".into(),
                failover_timeout: Some(100.0),
                checkpoint: Some(true),
                roles: vec!["*".into()],
                capabilities: vec![v1::framework_info::Capability {
                    r#type: Some(v1::framework_info::capability::Type::MultiRole as i32),
                }],
                ..Default::default()
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    round_trips(&subscribe).expect("round trips");
}

#[test]
fn map_values_equal_to_their_default_are_left_out() {
    // prost writes a map entry without its value when the value is the default, so a
    // zero limit reaches the peer as a `Value.Scalar` with no `value`: Mesos' C++ and
    // mesos-go refuse that as not initialized, and the check says so before sending.
    let task = v1::TaskInfo {
        limits: [("cpus".to_owned(), v1::value::Scalar { value: 0.0 })]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let error = check_initialized(&task).expect_err("a zero limit is lost");
    assert_eq!(error.missing, ["limits[\"cpus\"].value"]);
    assert_eq!(mesos_proto::to_json(&task)["limits"], json!({"cpus": {}}));
    let task = v1::TaskInfo {
        limits: [("cpus".to_owned(), v1::value::Scalar { value: 0.5 })]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    assert_eq!(check_initialized(&task), Ok(()));
}
