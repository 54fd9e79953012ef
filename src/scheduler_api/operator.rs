//! The v1 operator API (`POST /api/v1`): GET_HEALTH, GET_VERSION, GET_METRICS,
//! GET_FLAGS, GET_MASTER, GET_STATE, GET_AGENTS, GET_FRAMEWORKS, GET_TASKS,
//! GET_EXECUTORS (none: command tasks only) and SUBSCRIBE (a RecordIO stream: SUBSCRIBED
//! with the whole state, HEARTBEAT, then TASK_ADDED, TASK_UPDATED, AGENT_ADDED,
//! AGENT_REMOVED, FRAMEWORK_ADDED, FRAMEWORK_UPDATED, FRAMEWORK_REMOVED as the stores
//! change). Other calls are answered 501, as Mesos answers calls it lacks. The state comes
//! from [`super::view`], the same one `/state` renders.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mesos_proto::ContentType;
use mesos_proto::v1;
use mesos_proto::v1::master::{call, event, response};
use serde_json::Value;
use tokio::sync::mpsc;

use super::master::{MESOS_VERSION, master_view, snapshot_json};
use super::server::{ApiState, HEARTBEAT_SECONDS, stream_response};
use super::view::{self, Told};

/// How often an operator stream compares the state with what it told.
const TICK: Duration = Duration::from_millis(250);
/// Events a slow operator-stream reader may have queued before its stream is closed.
const STREAM_QUEUE: usize = 16_384;

fn text(status: StatusCode, message: &str) -> Response {
    (status, message.to_string()).into_response()
}

/// `POST /api/v1`.
pub(super) async fn operator_api(
    State(state): State<Arc<ApiState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A standby answers as a Mesos standby master does: 307 to the leader (503 before
    // one is known).
    if state.context().is_none() {
        return super::server::not_leading(&state, uri.path()).await;
    }
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return text(
            StatusCode::BAD_REQUEST,
            "Expecting 'Content-Type' to be present",
        );
    };
    let content_type = match ContentType::from_header(content_type) {
        Ok(ct) => ct,
        Err(e) => return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, &e.to_string()),
    };
    let call: v1::master::Call = match mesos_proto::decode(&body, content_type) {
        Ok(call) => call,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("Failed to parse body into Call: {e}"),
            );
        }
    };
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let Some(answer_type) = ContentType::negotiate(accept) else {
        return StatusCode::NOT_ACCEPTABLE.into_response();
    };
    let kind = call.r#type.and_then(|t| call::Type::try_from(t).ok());
    let mut out = v1::master::Response::default();
    let needs_state = matches!(
        kind,
        Some(
            call::Type::GetState
                | call::Type::GetAgents
                | call::Type::GetFrameworks
                | call::Type::GetTasks
                | call::Type::GetExecutors
                | call::Type::Subscribe
        )
    );
    let view = if needs_state {
        match master_view(&state) {
            Some(view) => Some(view),
            None => {
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "this master is not the leader",
                );
            }
        }
    } else {
        None
    };
    let view = view.unwrap_or_default();
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
                version_info: version_info(),
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
        Some(call::Type::GetFlags) => {
            out.r#type = Some(response::Type::GetFlags as i32);
            out.get_flags = Some(response::GetFlags {
                flags: super::master::flags(&state)
                    .into_iter()
                    .map(|(name, value)| v1::Flag {
                        name,
                        value: Some(value),
                    })
                    .collect(),
            });
        }
        Some(call::Type::GetMaster) => {
            let started = super::master::start_time(&state);
            out.r#type = Some(response::Type::GetMaster as i32);
            out.get_master = Some(response::GetMaster {
                master_info: Some(super::master::master_info(&state)),
                start_time: Some(started),
                elected_time: Some(started),
            });
        }
        Some(call::Type::GetState) => {
            out.r#type = Some(response::Type::GetState as i32);
            out.get_state = Some(view::get_state(&view, MESOS_VERSION));
        }
        Some(call::Type::GetAgents) => {
            out.r#type = Some(response::Type::GetAgents as i32);
            out.get_agents = Some(view::get_agents(&view, MESOS_VERSION));
        }
        Some(call::Type::GetFrameworks) => {
            out.r#type = Some(response::Type::GetFrameworks as i32);
            out.get_frameworks = Some(view::get_frameworks(&view));
        }
        Some(call::Type::GetTasks) => {
            out.r#type = Some(response::Type::GetTasks as i32);
            out.get_tasks = Some(view::get_tasks(&view));
        }
        Some(call::Type::GetExecutors) => {
            out.r#type = Some(response::Type::GetExecutors as i32);
            out.get_executors = Some(response::GetExecutors::default());
        }
        Some(call::Type::Subscribe) => return subscribe(state, view, answer_type),
        _ => {
            return text(
                StatusCode::NOT_IMPLEMENTED,
                "this master serves GET_HEALTH, GET_VERSION, GET_METRICS, GET_FLAGS, \
                 GET_MASTER, GET_STATE, GET_AGENTS, GET_FRAMEWORKS, GET_TASKS, GET_EXECUTORS \
                 and SUBSCRIBE of the operator API",
            );
        }
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, answer_type.as_str())],
        mesos_proto::encode(&out, answer_type),
    )
        .into_response()
}

fn version_info() -> v1::VersionInfo {
    v1::VersionInfo {
        version: MESOS_VERSION.to_string(),
        build_date: Some("2020-11-19 12:00:00".to_string()),
        build_time: Some(1_605_787_200.0),
        build_user: Some("mesos-operator".to_string()),
        ..Default::default()
    }
}

fn record(event: &v1::master::Event, content_type: ContentType) -> Option<Bytes> {
    let payload = mesos_proto::encode(event, content_type);
    mesos_proto::recordio::encode_record(&payload)
        .ok()
        .map(Bytes::from)
}

fn heartbeat() -> v1::master::Event {
    v1::master::Event {
        r#type: Some(event::Type::Heartbeat as i32),
        ..Default::default()
    }
}

/// The operator SUBSCRIBE: SUBSCRIBED with the state, a HEARTBEAT, then every change.
fn subscribe(state: Arc<ApiState>, first: view::MasterView, content_type: ContentType) -> Response {
    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
    let subscribed = v1::master::Event {
        r#type: Some(event::Type::Subscribed as i32),
        subscribed: Some(event::Subscribed {
            get_state: Some(view::get_state(&first, MESOS_VERSION)),
            heartbeat_interval_seconds: Some(HEARTBEAT_SECONDS),
        }),
        ..Default::default()
    };
    let mut told = Told::new(&first);
    for event in [subscribed, heartbeat()] {
        if let Some(bytes) = record(&event, content_type) {
            let _ = tx.try_send(Ok(bytes));
        }
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        let mut last_heartbeat = Instant::now();
        loop {
            tick.tick().await;
            if tx.is_closed() {
                break;
            }
            let Some(view) = master_view(&state) else {
                break;
            };
            let mut events = told.changes(&view, MESOS_VERSION);
            if last_heartbeat.elapsed().as_secs_f64() >= HEARTBEAT_SECONDS {
                last_heartbeat = Instant::now();
                events.push(heartbeat());
            }
            let mut open = true;
            for event in events {
                if let Some(bytes) = record(&event, content_type)
                    && tx.try_send(Ok(bytes)).is_err()
                {
                    open = false;
                    break;
                }
            }
            if !open {
                break;
            }
        }
    });
    stream_response(content_type, &uuid::Uuid::new_v4().to_string(), rx)
}
