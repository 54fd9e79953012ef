//! proptest strategies for Mesos messages, shared by the integration tests.
//!
//! Fields with an explicit `[default = …]` are always set: Mesos' JSON writes them
//! when unset, so `None` would come back as `Some(default)`.

#![allow(dead_code)]

use std::collections::HashMap;

use mesos_proto::DESCRIPTOR_POOL;
use mesos_proto::v1::scheduler::{Call, Event, call, event};
use mesos_proto::v1::{self, value};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

/// Every number the enum `full_name` defines.
pub fn enum_value(full_name: &str) -> impl Strategy<Value = i32> {
    let numbers: Vec<i32> = DESCRIPTOR_POOL
        .get_enum_by_name(full_name)
        .map(|e| e.values().map(|v| v.number()).collect())
        .unwrap_or_default();
    assert!(!numbers.is_empty(), "no enum {full_name}");
    prop::sample::select(numbers)
}

pub fn id() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._-]{0,16}"
}

/// Any text, escapes and non-ASCII included.
pub fn text() -> impl Strategy<Value = String> {
    any::<String>()
}

/// Any double but NaN (which is not equal to itself), infinities included.
pub fn double() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("NaN never equals itself", |f| !f.is_nan())
}

pub fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..24)
}

fn role() -> impl Strategy<Value = Option<v1::resource::AllocationInfo>> {
    option::of(option::of(id()).prop_map(|role| v1::resource::AllocationInfo { role }))
}

/// A resource of any kind; it sets the deprecated `role` too, which Mesos still reads.
#[allow(deprecated)]
pub fn resource() -> impl Strategy<Value = v1::Resource> {
    let scalar = double().prop_map(|value| {
        (
            value::Type::Scalar,
            Some(value::Scalar { value }),
            None,
            None,
        )
    });
    let ranges = vec((any::<u64>(), any::<u64>()), 0..3).prop_map(|ranges| {
        let range = ranges
            .into_iter()
            .map(|(begin, end)| value::Range { begin, end })
            .collect();
        (
            value::Type::Ranges,
            None,
            Some(value::Ranges { range }),
            None,
        )
    });
    let set = vec(text(), 0..3)
        .prop_map(|item| (value::Type::Set, None, None, Some(value::Set { item })));
    (
        id(),
        prop_oneof![scalar, ranges, set],
        role(),
        option::of(id()),
    )
        .prop_map(
            |(name, (kind, scalar, ranges, set), allocation_info, role)| v1::Resource {
                name,
                r#type: kind as i32,
                scalar,
                ranges,
                set,
                allocation_info,
                role,
                ..Default::default()
            },
        )
}

fn attribute() -> impl Strategy<Value = v1::Attribute> {
    (id(), text()).prop_map(|(name, value)| v1::Attribute {
        name,
        r#type: value::Type::Text as i32,
        text: Some(value::Text { value }),
        ..Default::default()
    })
}

pub fn offer() -> impl Strategy<Value = v1::Offer> {
    (
        (id(), id(), id(), text()),
        vec(resource(), 0..4),
        vec(attribute(), 0..2),
        vec(id(), 0..2),
        role(),
    )
        .prop_map(
            |(
                (id, framework, agent, hostname),
                resources,
                attributes,
                executors,
                allocation_info,
            )| {
                v1::Offer {
                    id: v1::OfferId { value: id },
                    framework_id: v1::FrameworkId { value: framework },
                    agent_id: v1::AgentId { value: agent },
                    hostname,
                    resources,
                    attributes,
                    executor_ids: executors
                        .into_iter()
                        .map(|value| v1::ExecutorId { value })
                        .collect(),
                    allocation_info,
                    ..Default::default()
                }
            },
        )
}

fn labels() -> impl Strategy<Value = Option<v1::Labels>> {
    option::of(vec((text(), option::of(text())), 0..3).prop_map(|labels| {
        v1::Labels {
            labels: labels
                .into_iter()
                .map(|(key, value)| v1::Label { key, value })
                .collect(),
        }
    }))
}

fn container_status() -> impl Strategy<Value = Option<v1::ContainerStatus>> {
    option::of(
        (id(), vec(id(), 0..2)).prop_map(|(container, ips)| v1::ContainerStatus {
            container_id: Some(v1::ContainerId {
                value: container,
                parent: None,
            }),
            network_infos: vec![v1::NetworkInfo {
                ip_addresses: ips
                    .into_iter()
                    .map(|ip| v1::network_info::IpAddress {
                        protocol: Some(v1::network_info::Protocol::IPv4 as i32),
                        ip_address: Some(ip),
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }),
    )
}

pub fn task_status() -> impl Strategy<Value = v1::TaskStatus> {
    (
        (id(), enum_value("mesos.v1.TaskState"), option::of(text())),
        option::of(enum_value("mesos.v1.TaskStatus.Source")),
        option::of(enum_value("mesos.v1.TaskStatus.Reason")),
        (option::of(bytes()), option::of(id()), option::of(double())),
        (option::of(vec(any::<u8>(), 16)), option::of(any::<bool>())),
        labels(),
        container_status(),
    )
        .prop_map(
            |(
                (task, state, message),
                source,
                reason,
                (data, agent, timestamp),
                (uuid, healthy),
                labels,
                container,
            )| {
                v1::TaskStatus {
                    task_id: v1::TaskId { value: task },
                    state,
                    message,
                    source,
                    reason,
                    data,
                    agent_id: agent.map(|value| v1::AgentId { value }),
                    timestamp,
                    uuid,
                    healthy,
                    labels,
                    container_status: container,
                    ..Default::default()
                }
            },
        )
}

fn command() -> impl Strategy<Value = v1::CommandInfo> {
    (
        any::<bool>(),
        option::of(text()),
        vec(text(), 0..3),
        option::of(id()),
        vec((id(), text()), 0..2),
    )
        .prop_map(
            |(shell, value, arguments, user, variables)| v1::CommandInfo {
                shell: Some(shell),
                value,
                arguments,
                user,
                environment: Some(v1::Environment {
                    variables: variables
                        .into_iter()
                        .map(|(name, value)| v1::environment::Variable {
                            name,
                            r#type: Some(v1::environment::variable::Type::Value as i32),
                            value: Some(value),
                            secret: None,
                        })
                        .collect(),
                }),
                ..Default::default()
            },
        )
}

pub fn task_info() -> impl Strategy<Value = v1::TaskInfo> {
    (
        (text(), id(), id()),
        vec(resource(), 0..3),
        command(),
        labels(),
        // Not 0: prost leaves a map value out of its entry when it equals the default,
        // and a `Value.Scalar` without its required `value` is not initialized (see
        // `map_values_equal_to_their_default_are_left_out` in codec.rs).
        proptest::collection::hash_map(id(), double().prop_filter("not 0", |v| *v != 0.0), 0..3),
    )
        .prop_map(
            |((name, task, agent), resources, command, labels, limits)| v1::TaskInfo {
                name,
                task_id: v1::TaskId { value: task },
                agent_id: v1::AgentId { value: agent },
                resources,
                command: Some(command),
                labels,
                limits: limits
                    .into_iter()
                    .map(|(name, value)| (name, value::Scalar { value }))
                    .collect::<HashMap<_, _>>(),
                ..Default::default()
            },
        )
}

pub fn accept_call() -> impl Strategy<Value = Call> {
    (
        id(),
        vec(id(), 0..3),
        vec(task_info(), 0..3),
        option::of(double()),
    )
        .prop_map(|(framework, offers, task_infos, refuse)| Call {
            framework_id: Some(v1::FrameworkId { value: framework }),
            r#type: Some(call::Type::Accept as i32),
            accept: Some(call::Accept {
                offer_ids: offers
                    .into_iter()
                    .map(|value| v1::OfferId { value })
                    .collect(),
                operations: vec![v1::offer::Operation {
                    r#type: Some(v1::offer::operation::Type::Launch as i32),
                    launch: Some(v1::offer::operation::Launch { task_infos }),
                    ..Default::default()
                }],
                filters: refuse.map(|refuse_seconds| v1::Filters {
                    refuse_seconds: Some(refuse_seconds),
                }),
            }),
            ..Default::default()
        })
}

pub fn update_event() -> impl Strategy<Value = Event> {
    task_status().prop_map(|status| Event {
        r#type: Some(event::Type::Update as i32),
        update: Some(event::Update { status }),
        ..Default::default()
    })
}

pub fn offers_event() -> impl Strategy<Value = Event> {
    vec(offer(), 0..4).prop_map(mesos_proto::offers::offers_event)
}
