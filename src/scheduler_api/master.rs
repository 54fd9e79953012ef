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
use mesos_proto::v1;
use serde_json::{Value, json};

use super::adapter::{cpus_f64, mib_f64};
use super::server::ApiState;
use super::view::{self, FrameworkView, MasterView, TaskView};
use crate::api::{OfferState, Resources, TaskState};
use crate::master::placement;

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
        .route(
            "/api/v1",
            axum::routing::post(super::operator::operator_api),
        )
        .route(
            "/api/v1/operator",
            axum::routing::post(super::operator::operator_api),
        )
        .route(
            "/master/api/v1",
            axum::routing::post(super::operator::operator_api),
        )
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

pub(super) fn master_id(state: &ApiState) -> String {
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

fn task_json(task: &TaskView) -> Value {
    let statuses: Vec<Value> = task
        .statuses
        .iter()
        .map(|s| {
            json!({
                "state": v1::TaskState::try_from(s.state).map(|s| s.as_str_name()).unwrap_or("TASK_UNKNOWN"),
                "timestamp": s.timestamp.unwrap_or(0.0),
            })
        })
        .collect();
    json!({
        "id": task.id,
        "name": task.name,
        "framework_id": task.framework_id,
        "executor_id": "",
        "slave_id": task.agent,
        "state": task.state.as_str(),
        "resources": summary(&task.resources),
        "role": task.role,
        "statuses": statuses,
    })
}

/// The master's state from the stores, as `/state` and the operator API show it.
pub(super) fn master_view(state: &ApiState) -> Option<MasterView> {
    let ctx = state.context()?;
    let nodes = ctx.nodes.state();
    let tasks = ctx.tasks.state();
    let offers = ctx.offers.state();
    let frameworks = ctx.frameworks.state();
    let subscribed = state.subscribed();
    let pod_of = |task: &crate::api::Task| {
        let pod = task.status.as_ref()?.pod.as_ref()?;
        let ns = task.metadata.namespace.as_deref()?;
        ctx.pods
            .get(&kube::runtime::reflector::ObjectRef::new(pod).within(ns))
    };
    Some(view::build(&view::Inputs {
        nodes: &nodes,
        tasks: &tasks,
        offers: &offers,
        frameworks: &frameworks,
        subscribed: &subscribed,
        pod_of: &pod_of,
    }))
}

fn framework_json(fw: &FrameworkView) -> Value {
    let info = mesos_proto::to_json(&fw.info);
    let field = |k: &str| info.get(k).cloned().unwrap_or(json!(""));
    let offers: Vec<Value> = fw
        .offers
        .iter()
        .map(|o| json!({"id": o.id, "framework_id": fw.id, "slave_id": o.agent, "resources": summary(&o.resources)}))
        .collect();
    json!({
        "id": fw.id,
        "name": fw.info.name,
        "user": field("user"),
        "hostname": field("hostname"),
        "webui_url": field("webui_url"),
        "principal": field("principal"),
        "role": fw.role,
        "roles": fw.roles,
        "capabilities": info.get("capabilities").cloned().unwrap_or(json!([])),
        "failover_timeout": fw.failover_timeout,
        "checkpoint": info.get("checkpoint").cloned().unwrap_or(json!(false)),
        "active": fw.active,
        "connected": fw.connected,
        "recovered": false,
        "registered_time": fw.registered_time,
        "unregistered_time": 0,
        "used_resources": summary(&fw.allocated),
        "offered_resources": summary(&fw.offered),
        "resources": summary(&fw.allocated.checked_add(&fw.offered).unwrap_or_default()),
        "tasks": fw.tasks.iter().filter(|t| t.state != TaskState::Unreachable).map(task_json).collect::<Vec<_>>(),
        "completed_tasks": fw.completed_tasks.iter().map(task_json).collect::<Vec<_>>(),
        "unreachable_tasks": fw.tasks.iter().filter(|t| t.state == TaskState::Unreachable).map(task_json).collect::<Vec<_>>(),
        "offers": offers,
        "executors": [],
        "labels": [],
    })
}

/// The flags `/state` and `GET_FLAGS` show.
pub(super) fn flags(state: &ApiState) -> Vec<(String, String)> {
    let (_, port) = split_host_port(&state.advertise);
    vec![
        ("port".to_string(), port.to_string()),
        (
            "authenticate_http_frameworks".to_string(),
            (!state.settings.allow_anonymous).to_string(),
        ),
        ("version".to_string(), MESOS_VERSION.to_string()),
    ]
}

/// Start (= election) time, epoch seconds.
pub(super) fn start_time(state: &ApiState) -> f64 {
    state
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

async fn state(
    State(state): State<Arc<ApiState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(view) = master_view(&state) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "not the leader").into_response();
    };
    let id = master_id(&state);
    let (hostname, port) = split_host_port(&state.advertise);
    let started = start_time(&state);
    let slaves: Vec<Value> = view
        .agents
        .iter()
        .map(|agent| {
            let name = &agent.id;
            json!({
                "id": name,
                "hostname": name,
                "port": 5051,
                "pid": format!("slave(1)@{name}:5051"),
                "attributes": agent.attributes,
                "registered_time": agent.registered_time,
                "resources": summary(&agent.total),
                "used_resources": summary(&agent.used),
                "offered_resources": summary(&agent.offered),
                "reserved_resources": {},
                "unreserved_resources": summary(&agent.total),
                "active": true,
                "deactivated": false,
                "version": MESOS_VERSION,
                "capabilities": [],
            })
        })
        .collect();
    let frameworks: Vec<Value> = view.frameworks.iter().map(framework_json).collect();
    let completed_frameworks: Vec<Value> = view
        .completed_frameworks
        .iter()
        .map(framework_json)
        .collect();
    let flags: serde_json::Map<String, Value> = flags(&state)
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
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
        "flags": flags,
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
pub(super) fn snapshot_json(state: &ApiState) -> Value {
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
    for task in tasks.iter() {
        let state = task.state().unwrap_or(TaskState::Staging);
        if !state.is_terminal() && task.status.as_ref().is_some_and(|s| s.pod.is_some()) {
            used = used.checked_add(&task.spec.resources).unwrap_or(used);
        }
    }
    // Tasks and frameworks as Mesos counts them (the view: a task group's members, a
    // MULTI_ROLE framework's roles as one framework).
    let view = master_view(state).unwrap_or_default();
    let mut counts: HashMap<TaskState, f64> = HashMap::new();
    for fw in view.frameworks.iter().chain(&view.completed_frameworks) {
        for task in fw.tasks.iter().chain(&fw.completed_tasks) {
            *counts.entry(task.state).or_default() += 1.0;
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
    let frameworks = &view.frameworks;
    let connected = frameworks.iter().filter(|f| f.connected).count() as f64;
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
