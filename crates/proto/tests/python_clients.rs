//! Cross-checks against clients we did not write: Python's `protobuf` package, with
//! classes that grpcio-tools' own protoc generates from the same vendored `.proto`
//! files, and pymesos 0.3.15's real request bodies.
//!
//! The Python 3.10 virtualenv comes from `tests/clients/setup.sh` (created on the first
//! run, about 30 s, then cached under ~/.cache/mesos-operator/venv). These tests fail,
//! never skip, when Python 3.10 is missing: `make test` must run them.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use mesos_proto::recordio::{RecordDecoder, encode_record};
use mesos_proto::v1::scheduler::{Call, Event, call, event};
use mesos_proto::v1::{self, master};
use mesos_proto::{CodecError, ContentType, decode, encode};
use serde_json::{Value, json};

/// The venv's directory, made (once per test binary) by the setup script.
fn venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients/setup.sh");
        let output = Command::new("bash")
            .arg(&script)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{} failed ({}). These cross-checks need Python 3.10 with the pinned packages of \
             tests/clients/requirements.txt, and fail rather than skip without them:\n{stderr}",
            script.display(),
            output.status
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        PathBuf::from(stdout.lines().last().unwrap_or_default().trim())
    })
}

/// The imports every snippet starts with.
const PRELUDE: &str = r#"
import base64, json, re, sys
from google.protobuf import json_format
from mesos.v1 import mesos_pb2 as mesos
from mesos.v1.scheduler import scheduler_pb2 as scheduler
from mesos.v1.master import master_pb2 as master
data = sys.stdin.buffer.read()
out = sys.stdout.buffer

def frame(message_bytes):
    return b"%d\n" % len(message_bytes) + message_bytes

def records(stream):
    # As pymesos reads a stream: a decimal length, a newline, the bytes.
    while stream:
        match = re.match(rb"^(\d+)\n", stream)
        assert match, "not RecordIO: %r" % stream[:20]
        start, length = match.end(), int(match.group(1))
        assert length > 0 and len(stream) >= start + length, "bad record"
        yield stream[start:start + length]
        stream = stream[start + length:]
"#;

/// Runs `code` (after [`PRELUDE`]) in the venv's Python with `stdin`; its stdout.
fn python(code: &str, stdin: &[u8]) -> Vec<u8> {
    let venv = venv();
    let mut child = Command::new(venv.join("bin/python"))
        .arg("-c")
        .arg(format!("{PRELUDE}\n{code}"))
        .env("PYTHONPATH", venv.join("mesos_pb"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the venv's python starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&stdin));
    let output = child.wait_with_output().expect("python runs");
    writer
        .join()
        .expect("the writer thread ends")
        .expect("python reads its input");
    assert!(
        output.status.success(),
        "python failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn records(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut decoder = RecordDecoder::new(1 << 20);
    let records = decoder.decode(stream).expect("a valid RecordIO stream");
    decoder.finish().expect("the stream ends between records");
    records
}

fn json_lines(output: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect()
}

/// A SUBSCRIBE and an ACCEPT with a LAUNCH, as Python builds them.
const PYTHON_CALLS: &str = r#"
subscribe = scheduler.Call(type=scheduler.Call.SUBSCRIBE)
info = subscribe.subscribe.framework_info
info.user, info.name, info.failover_timeout, info.checkpoint = "root", "py-framework", 100.0, True
info.roles.append("analytics")
info.capabilities.add(type=mesos.FrameworkInfo.Capability.MULTI_ROLE)
info.capabilities.add(type=mesos.FrameworkInfo.Capability.PARTITION_AWARE)
subscribe.subscribe.suppressed_roles.append("analytics")

accept = scheduler.Call(type=scheduler.Call.ACCEPT)
accept.framework_id.value = "f-1"
accept.accept.offer_ids.add(value="O-1")
accept.accept.filters.refuse_seconds = 2.5
launch = accept.accept.operations.add(type=mesos.Offer.Operation.LAUNCH).launch
task = launch.task_infos.add(name="sleepy")
task.task_id.value, task.agent_id.value = "t-1", "S-1"
task.command.shell = False
task.command.value = "/bin/sleep"
task.command.arguments.extend(["sleep", "10"])
task.command.environment.variables.add(name="GREETING", value="héllo")
task.container.type = mesos.ContainerInfo.MESOS
task.container.mesos.image.type = mesos.Image.DOCKER
task.container.mesos.image.docker.name = "busybox:1.36"
for name, amount in (("cpus", 0.25), ("mem", 64.0)):
    r = task.resources.add(name=name, type=mesos.Value.SCALAR)
    r.scalar.value = amount
    r.allocation_info.role = "analytics"
ports = task.resources.add(name="ports", type=mesos.Value.RANGES)
ports.ranges.range.add(begin=31000, end=31001)
task.limits["cpus"].value = float("inf")
task.max_completion_time.nanoseconds = 3600 * 10**9
task.labels.labels.add(key="team", value="data")
task.kill_policy.grace_period.nanoseconds = 5 * 10**9
"#;

fn python_calls(encoding: &str) -> Vec<u8> {
    python(&format!("{PYTHON_CALLS}\n{encoding}"), b"")
}

fn check_subscribe(call: &Call) {
    assert_eq!(call.r#type(), call::Type::Subscribe);
    let body = call.subscribe.as_ref().expect("subscribe");
    let info = &body.framework_info;
    assert_eq!(
        (info.user.as_str(), info.name.as_str()),
        ("root", "py-framework")
    );
    assert_eq!(
        (info.failover_timeout, info.checkpoint),
        (Some(100.0), Some(true))
    );
    assert_eq!(info.roles, ["analytics"]);
    let capabilities: Vec<_> = info.capabilities.iter().map(|c| c.r#type()).collect();
    use v1::framework_info::capability::Type;
    assert_eq!(capabilities, [Type::MultiRole, Type::PartitionAware]);
    assert_eq!(body.suppressed_roles, ["analytics"]);
}

fn check_accept(call: &Call) {
    assert_eq!(call.r#type(), call::Type::Accept);
    assert_eq!(
        call.framework_id.as_ref().map(|f| f.value.as_str()),
        Some("f-1")
    );
    let accept = call.accept.as_ref().expect("accept");
    assert_eq!(accept.offer_ids[0].value, "O-1");
    assert_eq!(
        accept.filters.as_ref().and_then(|f| f.refuse_seconds),
        Some(2.5)
    );
    let operation = &accept.operations[0];
    assert_eq!(operation.r#type(), v1::offer::operation::Type::Launch);
    let task = &operation.launch.as_ref().expect("launch").task_infos[0];
    assert_eq!(
        (
            task.name.as_str(),
            task.task_id.value.as_str(),
            task.agent_id.value.as_str()
        ),
        ("sleepy", "t-1", "S-1")
    );
    let command = task.command.as_ref().expect("command");
    assert_eq!(
        (command.shell, command.value.as_deref()),
        (Some(false), Some("/bin/sleep"))
    );
    assert_eq!(command.arguments, ["sleep", "10"]);
    let variable = &command.environment.as_ref().expect("environment").variables[0];
    assert_eq!(
        (variable.name.as_str(), variable.value.as_deref()),
        ("GREETING", Some("héllo"))
    );
    let container = task.container.as_ref().expect("container");
    assert_eq!(container.r#type(), v1::container_info::Type::Mesos);
    let image = container
        .mesos
        .as_ref()
        .and_then(|m| m.image.as_ref())
        .expect("image");
    assert_eq!(image.r#type(), v1::image::Type::Docker);
    assert_eq!(
        image.docker.as_ref().map(|d| d.name.as_str()),
        Some("busybox:1.36")
    );
    let scalars: Vec<(&str, Option<f64>, Option<&str>)> = task
        .resources
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.scalar.as_ref().map(|s| s.value),
                r.allocation_info.as_ref().and_then(|a| a.role.as_deref()),
            )
        })
        .collect();
    assert_eq!(
        scalars,
        [
            ("cpus", Some(0.25), Some("analytics")),
            ("mem", Some(64.0), Some("analytics")),
            ("ports", None, None)
        ]
    );
    let range = &task.resources[2].ranges.as_ref().expect("ranges").range[0];
    assert_eq!((range.begin, range.end), (31000, 31001));
    assert_eq!(task.limits["cpus"].value, f64::INFINITY);
    assert_eq!(
        task.max_completion_time.map(|d| d.nanoseconds),
        Some(3_600_000_000_000)
    );
    assert_eq!(
        task.labels
            .as_ref()
            .map(|l| (l.labels[0].key.as_str(), l.labels[0].value.as_deref())),
        Some(("team", Some("data")))
    );
    let grace = task
        .kill_policy
        .as_ref()
        .and_then(|k| k.grace_period)
        .map(|g| g.nanoseconds);
    assert_eq!(grace, Some(5_000_000_000));
}

#[test]
fn python_protobuf_calls_decode_and_validate() {
    let stream = python_calls(
        "out.write(frame(subscribe.SerializeToString()) + frame(accept.SerializeToString()))",
    );
    let calls: Vec<Call> = records(&stream)
        .iter()
        .map(|bytes| decode(bytes, ContentType::Protobuf).expect("a valid call"))
        .collect();
    check_subscribe(&calls[0]);
    check_accept(&calls[1]);
}

#[test]
fn python_json_calls_in_camel_case_with_string_int64s_decode() {
    // json_format's defaults: camelCase names, 64-bit integers as strings.
    let output = python_calls(
        "for c in (subscribe, accept): out.write(json_format.MessageToJson(c, indent=None).encode() + b'\\n')",
    );
    let lines = String::from_utf8_lossy(&output).into_owned();
    assert!(
        lines.contains("\"frameworkInfo\"") && lines.contains("\"nanoseconds\": \"3600000000000\""),
        "{lines}"
    );
    let calls: Vec<Call> = lines
        .lines()
        .map(|line| decode(line.as_bytes(), ContentType::Json).expect("a valid call"))
        .collect();
    check_subscribe(&calls[0]);
    check_accept(&calls[1]);
}

#[test]
fn python_partial_calls_are_refused_with_the_paths_python_reports() {
    let output = python_calls(
        r#"
task.ClearField("agent_id")
task.resources[1].ClearField("name")
task.limits["mem"].SetInParent()
accept.accept.offer_ids.add()
subscribe.subscribe.framework_info.ClearField("user")
for c in (subscribe, accept):
    print(json.dumps({"bytes": base64.b64encode(c.SerializePartialToString()).decode(),
                      "errors": sorted(c.FindInitializationErrors())}))
"#,
    );
    for line in json_lines(&output) {
        let bytes = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            line["bytes"].as_str().expect("bytes"),
        )
        .expect("base64");
        let python_errors: Vec<String> =
            serde_json::from_value(line["errors"].clone()).expect("a list");
        assert!(!python_errors.is_empty());
        match decode::<Call>(&bytes, ContentType::Protobuf) {
            Err(CodecError::NotInitialized(e)) => {
                let mut ours = e.missing.clone();
                ours.sort();
                assert_eq!(ours, python_errors);
            }
            other => panic!("expected missing required fields {python_errors:?}, got {other:?}"),
        }
    }
}

fn rust_events() -> Vec<Event> {
    let role = || {
        Some(v1::resource::AllocationInfo {
            role: Some("analytics".into()),
        })
    };
    let offer = |id: &str, cpus: f64| v1::Offer {
        id: v1::OfferId { value: id.into() },
        framework_id: v1::FrameworkId {
            value: "f-1".into(),
        },
        agent_id: v1::AgentId {
            value: format!("S-{id}"),
        },
        hostname: format!("node-{id}"),
        allocation_info: role(),
        resources: vec![
            v1::Resource {
                name: "cpus".into(),
                r#type: v1::value::Type::Scalar as i32,
                scalar: Some(v1::value::Scalar { value: cpus }),
                allocation_info: role(),
                ..Default::default()
            },
            v1::Resource {
                name: "ports".into(),
                r#type: v1::value::Type::Ranges as i32,
                ranges: Some(v1::value::Ranges {
                    range: vec![v1::value::Range {
                        begin: 31000,
                        end: 32000,
                    }],
                }),
                allocation_info: role(),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let subscribed = Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            framework_id: v1::FrameworkId {
                value: "f-1".into(),
            },
            heartbeat_interval_seconds: Some(15.0),
            master_info: Some(v1::MasterInfo {
                id: "master-1".into(),
                ip: 0x0100_007f,
                port: 5050,
                hostname: Some("mesos-operator".into()),
                version: Some("1.11.0".into()),
                ..Default::default()
            }),
        }),
        ..Default::default()
    };
    let update = Event {
        r#type: Some(event::Type::Update as i32),
        update: Some(event::Update {
            status: v1::TaskStatus {
                task_id: v1::TaskId {
                    value: "t-1".into(),
                },
                state: v1::TaskState::TaskFailed as i32,
                message: Some("exit code 3".into()),
                source: Some(v1::task_status::Source::Executor as i32),
                reason: Some(v1::task_status::Reason::CommandExecutorFailed as i32),
                agent_id: Some(v1::AgentId {
                    value: "S-1".into(),
                }),
                timestamp: Some(1_700_000_000.25),
                uuid: Some(mesos_proto::status_uuid::status_uuid_bytes(
                    mesos_proto::status_uuid::Uuid::from_u128(
                        0x0123_4567_89ab_cdef_0123_4567_89ab_cdef,
                    ),
                )),
                ..Default::default()
            },
        }),
        ..Default::default()
    };
    let heartbeat = Event {
        r#type: Some(event::Type::Heartbeat as i32),
        ..Default::default()
    };
    vec![
        subscribed,
        mesos_proto::offers::offers_event(vec![offer("O-1", 2.0), offer("O-2", 0.5)]),
        update,
        heartbeat,
    ]
}

fn stream_of(events: &[Event], content_type: ContentType) -> Vec<u8> {
    events
        .iter()
        .flat_map(|e| encode_record(&encode(e, content_type)).expect("never empty"))
        .collect()
}

#[test]
fn rust_protobuf_events_decode_in_python() {
    let output = python(
        r#"
for record in records(data):
    event = scheduler.Event.FromString(record)
    print(json.dumps({"initialized": event.IsInitialized(),
                      "event": json_format.MessageToDict(event, preserving_proto_field_name=True)}))
"#,
        &stream_of(&rust_events(), ContentType::Protobuf),
    );
    let decoded = json_lines(&output);
    assert_eq!(decoded.len(), 4);
    assert!(
        decoded.iter().all(|d| d["initialized"] == json!(true)),
        "{decoded:?}"
    );
    let events: Vec<&Value> = decoded.iter().map(|d| &d["event"]).collect();
    assert_eq!(events[0]["subscribed"]["framework_id"]["value"], "f-1");
    assert_eq!(
        events[0]["subscribed"]["master_info"]["ip"],
        json!(16_777_343)
    );
    assert_eq!(events[0]["subscribed"]["master_info"]["port"], json!(5050));
    let offers = events[1]["offers"]["offers"].as_array().expect("offers");
    assert_eq!(offers.len(), 2);
    assert_eq!(offers[1]["resources"][0]["scalar"]["value"], json!(0.5));
    assert_eq!(
        offers[1]["resources"][0]["allocation_info"]["role"],
        "analytics"
    );
    assert_eq!(
        offers[0]["resources"][1]["ranges"]["range"][0],
        json!({"begin": "31000", "end": "32000"})
    );
    let status = &events[2]["update"]["status"];
    assert_eq!(status["state"], "TASK_FAILED");
    assert_eq!(status["reason"], "REASON_COMMAND_EXECUTOR_FAILED");
    assert_eq!(status["agent_id"]["value"], "S-1");
    assert_eq!(status["uuid"], "ASNFZ4mrze8BI0VniavN7w==");
    assert_eq!(status["timestamp"], json!(1_700_000_000.25));
    assert_eq!(events[3], &json!({"type": "HEARTBEAT"}));
}

#[test]
fn rust_json_events_parse_in_python_and_come_back_equal() {
    let events = rust_events();
    let output = python(
        r#"
for record in records(data):
    event = json_format.Parse(record.decode("utf-8"), scheduler.Event())
    assert event.IsInitialized(), event.FindInitializationErrors()
    out.write(frame(event.SerializeToString()))
"#,
        &stream_of(&events, ContentType::Json),
    );
    let back: Vec<Event> = records(&output)
        .iter()
        .map(|bytes| decode(bytes, ContentType::Protobuf).expect("a valid event"))
        .collect();
    assert_eq!(back, events);
}

#[test]
fn python_json_of_operator_api_decodes() {
    let output = python(
        r#"
call = master.Call(type=master.Call.GET_STATE)
response = master.Response(type=master.Response.GET_HEALTH)
response.get_health.healthy = True
for m in (call, response):
    print(json_format.MessageToJson(m, indent=None, preserving_proto_field_name=True))
"#,
        b"",
    );
    let text = String::from_utf8_lossy(&output).into_owned();
    let mut lines = text.lines();
    let call: master::Call = decode(
        lines.next().unwrap_or_default().as_bytes(),
        ContentType::Json,
    )
    .expect("a call");
    assert_eq!(call.r#type(), master::call::Type::GetState);
    let response: master::Response = decode(
        lines.next().unwrap_or_default().as_bytes(),
        ContentType::Json,
    )
    .expect("a response");
    assert_eq!(response.get_health.map(|h| h.healthy), Some(true));
}

#[test]
fn pymesos_imports_and_its_http_parser_is_pure_python() {
    let output = python(
        r#"
import pymesos
from pymesos import MesosSchedulerDriver, MesosExecutorDriver
from http_parser.http import HttpParser
print(pymesos.__version__ if hasattr(pymesos, "__version__") else "", HttpParser.__module__)
"#,
        b"",
    );
    assert!(
        String::from_utf8_lossy(&output)
            .trim_end()
            .ends_with("http_parser.pyparser")
    );
}

/// pymesos 0.3.15's own request bodies, captured at its `_send`.
#[test]
fn pymesos_request_bodies_decode() {
    let output = python(
        r#"
from pymesos import MesosSchedulerDriver
bodies = []
class Capture(MesosSchedulerDriver):
    def _send(self, body, path="/api/v1/scheduler", method="POST", headers={}):
        bodies.append(json.dumps(body))
        return {}
driver = Capture(None, {"user": "root", "name": "cross-check"}, "127.0.0.1:5050")
driver.version = "1.11.0"
request = driver.gen_request().decode()
bodies.append(request.split("\r\n\r\n", 1)[1])
driver.stream_id = "stream-1"
driver.framework_id = "f-1"
task = {"name": "t", "task_id": {"value": "t-1"}, "agent_id": {"value": "S-1"},
        "command": {"value": "echo hi"},
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}]}
driver.launchTasks({"value": "O-1"}, [task], filters={"refuse_seconds": 5})
driver.declineOffer([{"value": "O-2"}], filters={"refuse_seconds": 60})
driver.reviveOffers()
driver.suppressOffers(["*"])
driver.killTask({"value": "t-1"})
driver.acknowledgeStatusUpdate({"agent_id": {"value": "S-1"}, "task_id": {"value": "t-1"},
                                "uuid": "ASNFZ4mrze8BI0VniavN7w==", "state": "TASK_RUNNING"})
driver.reconcileTasks([{"task_id": {"value": "t-1"}}])
driver.reconcileTasks([])
print("\n".join(bodies))
"#,
        b"",
    );
    let text = String::from_utf8_lossy(&output).into_owned();
    let calls: Vec<Call> = text
        .lines()
        .map(|line| {
            decode(line.as_bytes(), ContentType::Json).unwrap_or_else(|e| panic!("{line}: {e}"))
        })
        .collect();
    let types: Vec<call::Type> = calls.iter().map(Call::r#type).collect();
    use call::Type as T;
    assert_eq!(
        types,
        [
            T::Subscribe,
            T::Accept,
            T::Decline,
            T::Revive,
            T::Suppress,
            T::Kill,
            T::Acknowledge,
            T::Reconcile,
            T::Reconcile
        ]
    );
    let info = &calls[0]
        .subscribe
        .as_ref()
        .expect("subscribe")
        .framework_info;
    // pymesos adds failover_timeout 100 and, for a master of version 1.0 or later, GPU_RESOURCES.
    assert_eq!(info.failover_timeout, Some(100.0));
    assert_eq!(
        info.capabilities[0].r#type(),
        v1::framework_info::capability::Type::GpuResources
    );
    let task = &calls[1].accept.as_ref().expect("accept").operations[0]
        .launch
        .as_ref()
        .expect("launch")
        .task_infos[0];
    assert_eq!(
        task.command.as_ref().and_then(|c| c.value.as_deref()),
        Some("echo hi")
    );
    assert_eq!(
        calls[2]
            .decline
            .as_ref()
            .and_then(|d| d.filters)
            .and_then(|f| f.refuse_seconds),
        Some(60.0)
    );
    assert_eq!(calls[3].revive, None);
    assert_eq!(
        calls[4].suppress.as_ref().map(|s| s.roles.clone()),
        Some(vec!["*".to_owned()])
    );
    let kill = calls[5].kill.as_ref().expect("kill");
    assert_eq!(
        (kill.task_id.value.as_str(), kill.agent_id.as_ref()),
        ("t-1", None)
    );
    let ack = calls[6].acknowledge.as_ref().expect("acknowledge");
    assert_eq!(
        mesos_proto::status_uuid::parse_status_uuid(&ack.uuid).map(|u| u.as_u128()),
        Ok(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef)
    );
    assert_eq!(calls[7].reconcile.as_ref().map(|r| r.tasks.len()), Some(1));
    assert_eq!(calls[8].reconcile.as_ref().map(|r| r.tasks.len()), Some(0));
}

/// Arbitrary events from Rust, read by Python (protobuf and JSON) and written back.
#[test]
fn arbitrary_rust_events_survive_python() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = proptest::prop_oneof![common::update_event(), common::offers_event()];
    let events: Vec<Event> = (0..64)
        .map(|_| strategy.new_tree(&mut runner).expect("a value").current())
        .collect();
    let code = r#"
kind, stream = data.split(b"\n", 1)
for record in records(stream):
    if kind == b"json":
        event = json_format.Parse(record.decode("utf-8"), scheduler.Event())
    else:
        event = scheduler.Event.FromString(record)
    assert event.IsInitialized(), event.FindInitializationErrors()
    out.write(frame(event.SerializeToString()))
"#;
    for (kind, content_type) in [
        ("json", ContentType::Json),
        ("protobuf", ContentType::Protobuf),
    ] {
        let mut input = format!("{kind}\n").into_bytes();
        input.extend(stream_of(&events, content_type));
        let back: Vec<Event> = records(&python(code, &input))
            .iter()
            .map(|bytes| decode(bytes, ContentType::Protobuf).expect("a valid event"))
            .collect();
        assert_eq!(back, events, "through {kind}");
    }
}
