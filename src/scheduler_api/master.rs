//! The master endpoints tools read, in Mesos' own shapes: `/version` (a purely numeric
//! version: pymesos parses it), `/health`, `/redirect`, `/state` (not proto JSON:
//! plain-string ids, `slave` for agent, resources summarized) and `/metrics/snapshot`
//! (numbers only, Mesos' key names).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kube::ResourceExt;
use mesos_proto::v1;
use serde_json::{Value, json};

use super::adapter::{self, cpus_f64, mib_f64};
use super::server::ApiState;
use crate::api::{OfferState, Resources, Task, TaskState};
use crate::placement;

/// The Mesos version this API speaks.
pub const MESOS_VERSION: &str = "1.11.0";

pub(super) fn routes() -> Router<Arc<ApiState>> {
    Router::new()
        .route("/version", get(version))
        .route("/health", get(health))
        .route("/master/health", get(health))
        .route("/redirect", get(redirect))
        .route("/master/redirect", get(redirect))
        .route("/state", get(state))
        .route("/master/state", get(state))
        .route("/state.json", get(state))
        .route("/master/state.json", get(state))
        .route("/metrics/snapshot", get(metrics))
        .route("/api/v1", axum::routing::post(operator_api))
        .route("/api/v1/operator", axum::routing::post(operator_api))
        .route("/master/api/v1", axum::routing::post(operator_api))
}

/// The v1 operator API (`POST /api/v1`): GET_HEALTH, GET_VERSION and GET_METRICS; any
/// other call is answered 501 (Not Implemented), as Mesos answers calls it lacks.
async fn operator_api(
    State(state): State<Arc<ApiState>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use mesos_proto::ContentType;
    use mesos_proto::v1::master::{call, response};
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return (
            StatusCode::BAD_REQUEST,
            "Expecting 'Content-Type' to be present",
        )
            .into_response();
    };
    let content_type = match ContentType::from_header(content_type) {
        Ok(ct) => ct,
        Err(e) => return (StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string()).into_response(),
    };
    let call: v1::master::Call = match mesos_proto::decode(&body, content_type) {
        Ok(call) => call,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("Failed to parse body into Call: {e}"),
            )
                .into_response();
        }
    };
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let Some(answer_type) = ContentType::negotiate(accept) else {
        return StatusCode::NOT_ACCEPTABLE.into_response();
    };
    let kind = call.r#type.and_then(|t| call::Type::try_from(t).ok());
    let mut out = v1::master::Response::default();
    match kind {
        Some(call::Type::GetHealth) => {
            out.r#type = Some(response::Type::GetHealth as i32);
            out.get_health = Some(response::GetHealth {
                healthy: state.context().is_some(),
            });
        }
        Some(call::Type::GetVersion) => {
            out.r#type = Some(response::Type::GetVersion as i32);
            out.get_version = Some(response::GetVersion {
                version_info: v1::VersionInfo {
                    version: MESOS_VERSION.to_string(),
                    build_date: Some("2020-11-19 12:00:00".to_string()),
                    build_time: Some(1_605_787_200.0),
                    build_user: Some("mesos-operator".to_string()),
                    ..Default::default()
                },
            });
        }
        Some(call::Type::GetMetrics) => {
            let Value::Object(snapshot) = snapshot_json(&state) else {
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            };
            out.r#type = Some(response::Type::GetMetrics as i32);
            out.get_metrics = Some(response::GetMetrics {
                metrics: snapshot
                    .into_iter()
                    .map(|(name, value)| v1::Metric {
                        name,
                        value: value.as_f64(),
                    })
                    .collect(),
            });
        }
        _ => {
            return (
                StatusCode::NOT_IMPLEMENTED,
                "this master serves GET_HEALTH, GET_VERSION and GET_METRICS of the operator API",
            )
                .into_response();
        }
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, answer_type.as_str())],
        mesos_proto::encode(&out, answer_type),
    )
        .into_response()
}

async fn version() -> Response {
    axum::Json(version_json()).into_response()
}

fn version_json() -> Value {
    json!({
        "version": MESOS_VERSION,
        "build_date": "2020-11-19 12:00:00",
        "build_time": 1_605_787_200,
        "build_user": "mesos-operator",
        "git_tag": concat!("mesos-operator-", env!("CARGO_PKG_VERSION")),
    })
}

async fn health(State(state): State<Arc<ApiState>>) -> Response {
    if state.context().is_some() {
        StatusCode::OK.into_response()
    } else {
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    }
}

async fn redirect(State(state): State<Arc<ApiState>>) -> Response {
    let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("//{}", state.advertise)) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn split_host_port(advertise: &str) -> (String, u32) {
    match advertise.rsplit_once(':') {
        Some((host, port)) => (host.to_string(), port.parse().unwrap_or(5050)),
        None => (advertise.to_string(), 5050),
    }
}

/// The MasterInfo of SUBSCRIBED.
pub fn master_info(state: &ApiState) -> v1::MasterInfo {
    let (hostname, port) = split_host_port(&state.advertise);
    let ip = hostname
        .parse::<std::net::Ipv4Addr>()
        .map(|ip| u32::from_le_bytes(ip.octets()))
        .unwrap_or(0);
    v1::MasterInfo {
        id: master_id(state),
        ip,
        port,
        hostname: Some(hostname.clone()),
        version: Some(MESOS_VERSION.to_string()),
        address: Some(v1::Address {
            hostname: Some(hostname.clone()),
            ip: hostname
                .parse::<std::net::Ipv4Addr>()
                .ok()
                .map(|i| i.to_string()),
            port: i32::try_from(port).unwrap_or(5050),
        }),
        ..Default::default()
    }
}

fn master_id(state: &ApiState) -> String {
    let started = state
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("mesos-operator-{started}")
}

/// Mesos' summary of resources: `{"cpus":…,"gpus":…,"mem":…,"disk":…,"ports":"[a-b, …]"}`.
pub fn summary(r: &Resources) -> Value {
    let mut out = json!({
        "cpus": cpus_f64(r.cpus),
        "gpus": r.gpus as f64,
        "mem": mib_f64(r.mem),
        "disk": mib_f64(r.disk),
    });
    if !r.ports.is_empty()
        && let Some(obj) = out.as_object_mut()
    {
        let ranges: Vec<String> = r
            .ports
            .ranges()
            .iter()
            .map(|p| format!("{}-{}", p.begin, p.end))
            .collect();
        obj.insert("ports".into(), json!(format!("[{}]", ranges.join(", "))));
    }
    out
}

fn task_json(task: &Task, framework_id: &str) -> Value {
    let status = task.status.clone().unwrap_or_default();
    let state = status.state.unwrap_or(TaskState::Staging);
    let statuses: Vec<Value> = status
        .history
        .iter()
        .map(|h| {
            json!({
                "state": h.state.as_str(),
                "timestamp": h.timestamp.0.as_millisecond() as f64 / 1000.0,
            })
        })
        .collect();
    json!({
        "id": adapter::mesos_task_id(task),
        "name": task.name_any(),
        "framework_id": framework_id,
        "executor_id": "",
        "slave_id": adapter::task_agent(task),
        "state": state.as_str(),
        "resources": summary(&task.spec.resources),
        "role": "*",
        "statuses": statuses,
    })
}

async fn state(
    State(state): State<Arc<ApiState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(ctx) = state.context() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "not the leader").into_response();
    };
    let id = master_id(&state);
    let (hostname, port) = split_host_port(&state.advertise);
    let started = state
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let tasks = ctx.tasks.state();
    let offers = ctx.offers.state();
    let subscribed = state.subscribed();
    let mut used_by_node: HashMap<String, Resources> = HashMap::new();
    for task in tasks.iter().filter(|t| !t.is_terminal()) {
        if let Some(agent) = task.status.as_ref().and_then(|s| s.agent.clone()) {
            let entry = used_by_node.entry(agent).or_default();
            *entry = entry
                .checked_add(&task.spec.resources)
                .unwrap_or(entry.clone());
        }
    }
    let mut offered_by_node: HashMap<String, Resources> = HashMap::new();
    for offer in offers.iter().filter(|o| {
        o.status
            .as_ref()
            .is_none_or(|s| s.state == OfferState::Outstanding)
    }) {
        let entry = offered_by_node.entry(offer.spec.agent.clone()).or_default();
        *entry = entry
            .checked_add(&offer.spec.resources)
            .unwrap_or(entry.clone());
    }
    let slaves: Vec<Value> = ctx
        .nodes
        .state()
        .iter()
        .map(|node| {
            let agent = placement::agent_from_node(node);
            let name = node.name_any();
            let used = used_by_node.get(&name).cloned().unwrap_or_default();
            let attributes: serde_json::Map<String, Value> = node
                .labels()
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            json!({
                "id": name,
                "hostname": name,
                "port": 5051,
                "pid": format!("slave(1)@{name}:5051"),
                "attributes": attributes,
                "registered_time": node.creation_timestamp().map(|t| t.0.as_millisecond() as f64 / 1000.0).unwrap_or(0.0),
                "resources": summary(&agent.allocatable),
                "used_resources": summary(&used),
                "offered_resources": summary(&offered_by_node.get(&name).cloned().unwrap_or_default()),
                "reserved_resources": {},
                "unreserved_resources": summary(&agent.allocatable),
                "active": true,
                "deactivated": false,
                "version": MESOS_VERSION,
                "capabilities": [],
            })
        })
        .collect();
    let mut frameworks = Vec::new();
    let mut completed_frameworks = Vec::new();
    for fw in ctx.frameworks.state().iter() {
        let ns = fw.namespace().unwrap_or_default();
        let name = fw.name_any();
        let fid = fw.uid().unwrap_or_default();
        let info: Value = fw
            .annotations()
            .get(adapter::FRAMEWORK_INFO_ANNOTATION)
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or(Value::Null);
        let mine: Vec<&Task> = tasks
            .iter()
            .filter(|t| t.spec.framework == name && t.namespace().as_deref() == Some(ns.as_str()))
            .map(|t| &**t)
            .collect();
        let (active, completed): (Vec<&Task>, Vec<&Task>) =
            mine.iter().partition(|t| !t.is_terminal());
        let status = fw.status.clone().unwrap_or_default();
        let failover: std::time::Duration = fw.spec.failover_timeout.into();
        let connected =
            subscribed.contains(&fid) || fw.spec.scheduler == crate::api::SchedulerKind::Builtin;
        let field = |k: &str| info.get(k).cloned().unwrap_or(json!(""));
        let offers_json: Vec<Value> = offers
            .iter()
            .filter(|o| o.spec.framework == name && o.namespace().as_deref() == Some(ns.as_str()))
            .filter(|o| o.status.as_ref().is_none_or(|s| s.state == OfferState::Outstanding))
            .map(|o| json!({"id": o.name_any(), "framework_id": fid, "slave_id": o.spec.agent, "resources": summary(&o.spec.resources)}))
            .collect();
        let entry = json!({
            "id": fid,
            "name": info.get("name").cloned().unwrap_or(json!(name)),
            "user": field("user"),
            "hostname": field("hostname"),
            "webui_url": field("webui_url"),
            "principal": field("principal"),
            "role": fw.spec.role,
            "roles": [fw.spec.role],
            "capabilities": info.get("capabilities").cloned().unwrap_or(json!([])),
            "failover_timeout": failover.as_secs_f64(),
            "checkpoint": info.get("checkpoint").cloned().unwrap_or(json!(false)),
            "active": connected && !fw.is_torn_down(),
            "connected": connected,
            "recovered": false,
            "registered_time": status.registered_time.as_ref().map(|t| t.0.as_millisecond() as f64 / 1000.0).unwrap_or(0.0),
            "unregistered_time": 0,
            "used_resources": summary(&status.allocated),
            "offered_resources": summary(&status.offered),
            "resources": summary(&status.allocated.checked_add(&status.offered).unwrap_or_default()),
            "tasks": active.iter().map(|t| task_json(t, &fid)).collect::<Vec<_>>(),
            "completed_tasks": completed.iter().map(|t| task_json(t, &fid)).collect::<Vec<_>>(),
            "unreachable_tasks": [],
            "offers": offers_json,
            "executors": [],
            "labels": [],
        });
        if fw.is_torn_down() {
            completed_frameworks.push(entry);
        } else {
            frameworks.push(entry);
        }
    }
    let pid = format!("master@{hostname}:{port}");
    let body = json!({
        "version": MESOS_VERSION,
        "build_date": "2020-11-19 12:00:00",
        "build_time": 1_605_787_200,
        "build_user": "mesos-operator",
        "start_time": started,
        "elected_time": started,
        "id": id,
        "pid": pid,
        "hostname": hostname,
        "capabilities": [],
        "activated_slaves": slaves.len(),
        "deactivated_slaves": 0,
        "unreachable_slaves": 0,
        "leader": pid,
        "leader_info": {"id": id, "pid": pid, "port": port, "hostname": hostname},
        "cluster": "kubernetes",
        "flags": {"port": port.to_string(), "authenticate_http_frameworks": (!state.settings.allow_anonymous).to_string()},
        "slaves": slaves,
        "recovered_slaves": [],
        "frameworks": frameworks,
        "completed_frameworks": completed_frameworks,
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    });
    match query.get("jsonp") {
        Some(callback)
            if callback
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') =>
        {
            (
                [(header::CONTENT_TYPE, "text/javascript")],
                format!("{callback}({body});"),
            )
                .into_response()
        }
        _ => axum::Json(body).into_response(),
    }
}

async fn metrics(State(state): State<Arc<ApiState>>) -> Response {
    axum::Json(snapshot_json(&state)).into_response()
}

/// `/metrics/snapshot`: a flat object of numbers with Mesos' key names.
fn snapshot_json(state: &ApiState) -> Value {
    let Some(ctx) = state.context() else {
        return json!({"master/elected": 0.0});
    };
    let mut m: serde_json::Map<String, Value> = serde_json::Map::new();
    let mut put = |k: &str, v: f64| {
        m.insert(k.to_string(), json!(v));
    };
    put("master/elected", 1.0);
    let uptime = state
        .started
        .elapsed()
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    put("master/uptime_secs", uptime);
    let total = ctx
        .nodes
        .state()
        .iter()
        .map(|n| placement::agent_from_node(n).allocatable)
        .fold(Resources::default(), |sum, r| {
            sum.checked_add(&r).unwrap_or(sum)
        });
    let tasks = ctx.tasks.state();
    let mut used = Resources::default();
    let mut counts: HashMap<TaskState, f64> = HashMap::new();
    for task in tasks.iter() {
        let state = task.state().unwrap_or(TaskState::Staging);
        *counts.entry(state).or_default() += 1.0;
        if !state.is_terminal() && task.status.as_ref().is_some_and(|s| s.pod.is_some()) {
            used = used.checked_add(&task.spec.resources).unwrap_or(used);
        }
    }
    for (name, t, u) in [
        ("cpus", cpus_f64(total.cpus), cpus_f64(used.cpus)),
        ("mem", mib_f64(total.mem), mib_f64(used.mem)),
        ("disk", mib_f64(total.disk), mib_f64(used.disk)),
        ("gpus", total.gpus as f64, used.gpus as f64),
    ] {
        put(&format!("master/{name}_total"), t);
        put(&format!("master/{name}_used"), u);
        put(
            &format!("master/{name}_percent"),
            if t > 0.0 { u / t } else { 0.0 },
        );
        put(&format!("master/{name}_revocable_total"), 0.0);
        put(&format!("master/{name}_revocable_used"), 0.0);
        put(&format!("master/{name}_revocable_percent"), 0.0);
    }
    for task_state in TaskState::ALL {
        let key = task_state
            .as_str()
            .trim_start_matches("TASK_")
            .to_ascii_lowercase();
        let refused = state.counters.refused_as(task_state.as_str()) as f64;
        put(
            &format!("master/tasks_{key}"),
            counts.get(&task_state).copied().unwrap_or(0.0) + refused,
        );
    }
    let nodes = ctx.nodes.state().len() as f64;
    put("master/slaves_active", nodes);
    put("master/slaves_inactive", 0.0);
    put("master/slaves_disconnected", 0.0);
    put("master/slaves_unreachable", 0.0);
    let subscribed = state.subscribed();
    let frameworks = ctx.frameworks.state();
    let connected = frameworks
        .iter()
        .filter(|f| {
            f.uid().is_some_and(|u| subscribed.contains(&u))
                || f.spec.scheduler == crate::api::SchedulerKind::Builtin
        })
        .count() as f64;
    put("master/frameworks_active", connected);
    put("master/frameworks_connected", connected);
    put(
        "master/frameworks_inactive",
        frameworks.len() as f64 - connected,
    );
    put(
        "master/frameworks_disconnected",
        frameworks.len() as f64 - connected,
    );
    let outstanding = ctx
        .offers
        .state()
        .iter()
        .filter(|o| {
            o.status
                .as_ref()
                .is_none_or(|s| s.state == OfferState::Outstanding)
        })
        .count() as f64;
    put("master/outstanding_offers", outstanding);
    let c = &state.counters;
    put(
        "master/valid_status_update_acknowledgements",
        c.valid_acks.load(Ordering::Relaxed) as f64,
    );
    put(
        "master/invalid_status_update_acknowledgements",
        c.invalid_acks.load(Ordering::Relaxed) as f64,
    );
    put(
        "master/valid_status_updates",
        c.updates_sent.load(Ordering::Relaxed) as f64,
    );
    put("master/invalid_status_updates", 0.0);
    put(
        "master/messages_scheduler_calls",
        c.calls.load(Ordering::Relaxed) as f64,
    );
    put(
        "master/invalid_scheduler_calls",
        c.bad_calls.load(Ordering::Relaxed) as f64,
    );
    for (name, t) in [
        ("cpus", cpus_f64(total.cpus)),
        ("mem", mib_f64(total.mem)),
        ("disk", mib_f64(total.disk)),
    ] {
        put(&format!("allocator/mesos/resources/{name}/total"), t);
    }
    put(
        "allocator/mesos/resources/cpus/offered_or_allocated",
        cpus_f64(used.cpus),
    );
    put(
        "allocator/mesos/resources/mem/offered_or_allocated",
        mib_f64(used.mem),
    );
    put(
        "allocator/mesos/resources/disk/offered_or_allocated",
        mib_f64(used.disk),
    );
    Value::Object(m)
}
