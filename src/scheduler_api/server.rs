//! The HTTP server of the scheduler API and the per-framework sessions.
//!
//! One session (a task) per subscribed framework owns everything that framework sees:
//! the offers sent, the updates awaiting acknowledgement ([`Delivery`]), the tasks
//! being created. Calls are checked in the handler (only malformed ones get a 4xx) and
//! handed to the session, which answers semantic errors on the stream, as Mesos does.
//! Every 250 ms the session compares the stores (Offers, Tasks) with what it sent.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use mesos_proto::v1::scheduler::{Call, Event, call, event};
use mesos_proto::{ContentType, v1};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::ApiSettings;
use super::adapter::{self, Caps, Delivery, OfferView};
use crate::api::{Framework, FrameworkSpec, OfferSettings, OfferState, SchedulerKind, Task};
use crate::error::{Error, Result};
use crate::runtime::{Context, FIELD_MANAGER};

/// Largest request body accepted (a bigger one is answered 413).
pub const MAX_BODY_BYTES: usize = 8 << 20;
/// Seconds between HEARTBEATs (Mesos' default).
pub const HEARTBEAT_SECONDS: f64 = 15.0;
/// How long a session's scheduler Lease is valid after a renewal.
const LEASE_SECONDS: i32 = 30;
/// How often a session renews it.
const LEASE_RENEW: Duration = Duration::from_secs(10);
/// How often a session compares the stores with what it sent.
const TICK: Duration = Duration::from_millis(250);
/// Events a slow reader may have queued before its stream is closed.
const STREAM_QUEUE: usize = 16_384;
/// Concurrent Task creations per ACCEPT.
const CREATE_CONCURRENCY: usize = 16;

/// Counters of `/metrics/snapshot`.
#[derive(Default)]
pub struct Counters {
    /// Status updates acknowledged.
    pub valid_acks: AtomicU64,
    /// Acknowledgements that matched nothing.
    pub invalid_acks: AtomicU64,
    /// Status updates sent (first sends).
    pub updates_sent: AtomicU64,
    /// Calls received, by any type.
    pub calls: AtomicU64,
    /// Malformed calls (4xx).
    pub bad_calls: AtomicU64,
    /// Launches the master refused at ACCEPT (no Task was created), by the state it
    /// answered (`TASK_LOST`, `TASK_ERROR`, ...): Mesos counts these in
    /// `master/tasks_<state>` as it does tasks that reached the state.
    pub refused_launches: std::sync::Mutex<HashMap<String, u64>>,
}

impl Counters {
    /// Counts one launch refused at ACCEPT with this answer.
    pub fn refused(&self, status: &v1::TaskStatus) {
        let name = v1::TaskState::try_from(status.state)
            .map(|s| s.as_str_name().to_string())
            .unwrap_or_default();
        let mut counts = self
            .refused_launches
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *counts.entry(name).or_default() += 1;
    }

    /// Launches refused at ACCEPT with this state (a `TASK_*` name).
    pub fn refused_as(&self, state: &str) -> u64 {
        self.refused_launches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(state)
            .copied()
            .unwrap_or(0)
    }
}

/// What the server shares: the controllers' context (once this replica leads).
pub struct ApiState {
    ctx: Arc<Mutex<Option<Arc<Context>>>>,
    client: kube::Client,
    /// With leader election: (namespace, name) of the Lease in which the leader records
    /// its scheduler API address, for a standby's 307.
    leader_record: Option<(String, String)>,
    /// This replica's own address (the pod IP with `POD_IP`), what a standby redirects to.
    direct: String,
    pub(super) settings: ApiSettings,
    pub(super) default_namespace: String,
    pub(super) advertise: String,
    sessions: Mutex<HashMap<String, SessionHandle>>,
    deliveries: Mutex<HashMap<String, Arc<Mutex<Delivery>>>>,
    pub(super) counters: Counters,
    pub(super) started: SystemTime,
}

struct SessionHandle {
    stream_id: String,
    authorization: Option<String>,
    /// The roles its principal may use (`None`: any).
    roles: Option<Vec<String>>,
    calls: mpsc::UnboundedSender<SessionMsg>,
}

enum SessionMsg {
    Call(Box<Call>),
    FailedOver,
    LaunchFailed(Box<v1::TaskStatus>),
}

impl ApiState {
    /// The controllers' context, once this replica leads.
    pub fn context(&self) -> Option<Arc<Context>> {
        self.ctx.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Frameworks with an open stream.
    pub fn subscribed(&self) -> HashSet<String> {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }
}

/// A handle to hand the controllers' context to the server when leadership starts.
#[derive(Clone)]
pub struct Leading {
    slot: Arc<Mutex<Option<Arc<Context>>>>,
    client: kube::Client,
    leader_record: Option<(String, String)>,
    direct: String,
}

impl Leading {
    /// This replica leads: the API serves with `ctx`, and (with leader election) records
    /// its address where standbys read it.
    pub async fn set(&self, ctx: Arc<Context>) {
        *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(ctx);
        let Some((namespace, name)) = &self.leader_record else {
            return;
        };
        let api: Api<Lease> = Api::namespaced(self.client.clone(), namespace);
        let patch = serde_json::json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name},
            "spec": {"holderIdentity": self.direct},
        });
        if let Err(e) = api
            .patch(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
        {
            warn!(error = %e, "cannot record the scheduler API's address for standbys");
        }
    }
}

/// The Lease in which the leader records its scheduler API address: `<leader lease>-api`.
pub fn leader_record_name(leader_lease: &str) -> String {
    format!("{leader_lease}-api")
}

/// The leader's scheduler API address, as it recorded it.
async fn leader_address(state: &ApiState) -> Option<String> {
    let (namespace, name) = state.leader_record.as_ref()?;
    let api: Api<Lease> = Api::namespaced(state.client.clone(), namespace);
    let lease = api.get_opt(name).await.ok().flatten()?;
    lease
        .spec?
        .holder_identity
        .filter(|a| !a.is_empty() && *a != state.direct)
}

/// A standby's answer: 307 to the leader (`Location: //host:port/path`, as Mesos), or 503
/// when no leader is known.
pub(super) async fn not_leading(state: &ApiState, path: &str) -> Response {
    match leader_address(state).await {
        Some(leader) => {
            let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("//{leader}{path}")) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
        None => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "this master is not the leader (or not yet recovered)",
        ),
    }
}

/// Binds the API's port and serves it; calls are answered 503 (or 307 to the leader)
/// until [`Leading::set`]. `None`: the default port was taken, the API is off.
pub async fn serve(
    settings: ApiSettings,
    watched_namespace: Option<&str>,
    client: kube::Client,
    leader_record: Option<(String, String)>,
) -> Result<Option<(SocketAddr, Leading)>> {
    let addr = settings.addr.unwrap_or(super::DEFAULT_ADDR);
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) if settings.addr.is_none() => {
            warn!(addr = %addr, error = %e, "the Mesos scheduler API is off: its default port is taken (set --scheduler-api-addr)");
            return Ok(None);
        }
        Err(source) => {
            return Err(Error::Io {
                context: format!("cannot listen on --scheduler-api-addr {addr}"),
                source,
            });
        }
    };
    let bound = listener.local_addr().map_err(|source| Error::Io {
        context: "reading the scheduler API's address".into(),
        source,
    })?;
    let default_namespace = settings
        .namespace
        .clone()
        .or_else(|| watched_namespace.map(str::to_string))
        .unwrap_or_else(|| "default".to_string());
    let advertise = settings.advertise.clone().unwrap_or_else(|| {
        if bound.ip().is_unspecified() {
            format!("127.0.0.1:{}", bound.port())
        } else {
            bound.to_string()
        }
    });
    let direct = match std::env::var("POD_IP") {
        Ok(ip) if !ip.is_empty() => format!("{ip}:{}", bound.port()),
        _ if bound.ip().is_unspecified() => format!("127.0.0.1:{}", bound.port()),
        _ => bound.to_string(),
    };
    let slot = Arc::new(Mutex::new(None));
    let leading = Leading {
        slot: slot.clone(),
        client: client.clone(),
        leader_record: leader_record.clone(),
        direct: direct.clone(),
    };
    let state = Arc::new(ApiState {
        ctx: slot.clone(),
        client,
        leader_record,
        direct,
        settings,
        default_namespace,
        advertise,
        sessions: Mutex::new(HashMap::new()),
        deliveries: Mutex::new(HashMap::new()),
        counters: Counters::default(),
        started: SystemTime::now(),
    });
    let tls = match (&state.settings.tls_cert, &state.settings.tls_key) {
        (Some(cert), Some(key)) => Some(super::tls::acceptor(cert, key)?),
        _ => None,
    };
    let app = router(state);
    let scheme = if tls.is_some() { "https" } else { "http" };
    match tls {
        Some(acceptor) => {
            let listener =
                super::tls::TlsListener::new(listener, acceptor).map_err(|source| Error::Io {
                    context: "reading the scheduler API's address".into(),
                    source,
                })?;
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    warn!(error = %e, "scheduler API server stopped");
                }
            });
        }
        None => {
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    warn!(error = %e, "scheduler API server stopped");
                }
            });
        }
    }
    info!(addr = %bound, scheme, "serving the Mesos scheduler API and master endpoints");
    Ok(Some((bound, leading)))
}

fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/api/v1/scheduler", post(scheduler))
        .route("/master/api/v1/scheduler", post(scheduler))
        .merge(super::master::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

fn text(status: StatusCode, message: impl Into<String>) -> Response {
    let mut response = (status, message.into()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn accepted() -> Response {
    let mut response = StatusCode::ACCEPTED.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}

fn now_seconds() -> f64 {
    mesos_proto::time::epoch_seconds(SystemTime::now())
}

fn new_uuid() -> Vec<u8> {
    mesos_proto::status_uuid::status_uuid_bytes(mesos_proto::status_uuid::Uuid::new_v4())
}

/// The namespace and roles a request may use, from its credentials.
struct Tenant {
    namespace: String,
    roles: Option<Vec<String>>,
    principal: Option<String>,
    authorization: Option<String>,
}

async fn authenticate(
    state: &ApiState,
    ctx: &Context,
    headers: &HeaderMap,
) -> std::result::Result<Tenant, Response> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Some(value) = authorization.clone() else {
        if state.settings.allow_anonymous {
            return Ok(Tenant {
                namespace: state.default_namespace.clone(),
                roles: None,
                principal: None,
                authorization: None,
            });
        }
        let mut response = text(
            StatusCode::UNAUTHORIZED,
            "this master needs HTTP Basic credentials (principal and secret) or a Kubernetes \
             bearer token",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"mesos\""),
        );
        return Err(response);
    };
    let unauthorized = || text(StatusCode::UNAUTHORIZED, "invalid credentials");
    if let Some(token) = value.strip_prefix("Bearer ") {
        return bearer(state, ctx, token.trim(), &value).await;
    }
    let (principal, secret) = parse_basic(&value).ok_or_else(unauthorized)?;
    let namespace = state
        .settings
        .credentials_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .unwrap_or_else(|| state.default_namespace.clone());
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let list = secrets
        .list(&ListParams::default().labels(PRINCIPAL_LABEL))
        .await
        .map_err(|e| {
            warn!(error = %e, "cannot read the principals' Secrets");
            text(StatusCode::SERVICE_UNAVAILABLE, "cannot check credentials")
        })?;
    for item in list.items {
        let data = item.data.unwrap_or_default();
        let field = |k: &str| {
            data.get(k)
                .and_then(|b| String::from_utf8(b.0.clone()).ok())
                .unwrap_or_default()
        };
        if field("principal") == principal && constant_time_eq(&field("secret"), &secret) {
            let roles = field("roles");
            let ns = field("namespace");
            return Ok(Tenant {
                namespace: if ns.is_empty() {
                    state.default_namespace.clone()
                } else {
                    ns
                },
                roles: (!roles.trim().is_empty()).then(|| {
                    roles
                        .split(',')
                        .map(|r| r.trim().to_string())
                        .filter(|r| !r.is_empty())
                        .collect()
                }),
                principal: Some(principal),
                authorization,
            });
        }
    }
    Err(unauthorized())
}

/// A Kubernetes bearer token: who it is (TokenReview), and whether that user may create
/// Frameworks in the namespace it registers in (SubjectAccessReview, verb `create` on
/// `frameworks.mesos.operator.dev`). A ServiceAccount registers in its own namespace,
/// any other user in `--scheduler-api-namespace`; the principal is the user name.
async fn bearer(
    state: &ApiState,
    ctx: &Context,
    token: &str,
    authorization: &str,
) -> std::result::Result<Tenant, Response> {
    use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
    };
    let unavailable = |e: kube::Error| {
        warn!(error = %e, "cannot review a bearer token");
        text(StatusCode::SERVICE_UNAVAILABLE, "cannot check credentials")
    };
    let review = TokenReview {
        spec: TokenReviewSpec {
            token: token.to_string(),
            audiences: None,
        },
        ..Default::default()
    };
    let reviewed = Api::<TokenReview>::all(ctx.client.clone())
        .create(&PostParams::default(), &review)
        .await
        .map_err(unavailable)?;
    let status = reviewed.status.unwrap_or_default();
    let user = status.user.unwrap_or_default();
    let Some(username) = user
        .username
        .clone()
        .filter(|_| status.authenticated == Some(true))
    else {
        return Err(text(StatusCode::UNAUTHORIZED, "invalid bearer token"));
    };
    let namespace =
        adapter::token_namespace(&username).unwrap_or_else(|| state.default_namespace.clone());
    let access = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(username.clone()),
            groups: user.groups.clone(),
            uid: user.uid.clone(),
            extra: user.extra.clone(),
            resource_attributes: Some(ResourceAttributes {
                group: Some("mesos.operator.dev".into()),
                resource: Some("frameworks".into()),
                verb: Some("create".into()),
                namespace: Some(namespace.clone()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let decided = Api::<SubjectAccessReview>::all(ctx.client.clone())
        .create(&PostParams::default(), &access)
        .await
        .map_err(unavailable)?;
    if !decided.status.is_some_and(|s| s.allowed) {
        return Err(text(
            StatusCode::FORBIDDEN,
            format!("{username} may not create frameworks in namespace {namespace}"),
        ));
    }
    Ok(Tenant {
        namespace,
        roles: None,
        principal: Some(username),
        authorization: Some(authorization.to_string()),
    })
}

/// Label of the Secrets that hold a principal's credentials.
pub const PRINCIPAL_LABEL: &str = "mesos.operator.dev/principal";

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// `Basic base64(principal:secret)` → (principal, secret).
pub fn parse_basic(value: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let encoded = value.strip_prefix("Basic ")?.trim();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (principal, secret) = text.split_once(':')?;
    Some((principal.to_string(), secret.to_string()))
}

async fn scheduler(
    State(state): State<Arc<ApiState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.counters.calls.fetch_add(1, Ordering::Relaxed);
    if state.context().is_none() {
        return not_leading(&state, uri.path()).await;
    }
    let response = handle(&state, &headers, &body).await;
    if response.status().is_client_error() {
        state.counters.bad_calls.fetch_add(1, Ordering::Relaxed);
    }
    response
}

async fn handle(state: &Arc<ApiState>, headers: &HeaderMap, body: &[u8]) -> Response {
    let Some(ctx) = state.context() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "this master is not the leader (or not yet recovered)",
        );
    };
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
        Err(e) => return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string()),
    };
    let call: Call = match mesos_proto::decode(body, content_type) {
        Ok(call) => call,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("Failed to validate scheduler::Call: {e}"),
            );
        }
    };
    if let Err(message) = validate_call(&call) {
        return text(
            StatusCode::BAD_REQUEST,
            format!("Failed to validate scheduler::Call: {message}"),
        );
    }
    let kind = call.r#type.and_then(|t| call::Type::try_from(t).ok());
    if kind == Some(call::Type::Subscribe) {
        let tenant = match authenticate(state, &ctx, headers).await {
            Ok(t) => t,
            Err(response) => return response,
        };
        if headers.contains_key("mesos-stream-id") {
            return text(
                StatusCode::BAD_REQUEST,
                "Subscribe calls should not include the 'Mesos-Stream-Id' header",
            );
        }
        let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
        let Some(stream_type) = ContentType::negotiate(accept) else {
            return text(
                StatusCode::NOT_ACCEPTABLE,
                "Expecting 'Accept' to allow application/json or application/x-protobuf",
            );
        };
        return subscribe(state.clone(), ctx, tenant, call, stream_type).await;
    }
    let Some(framework_id) = call.framework_id.as_ref().map(|f| f.value.clone()) else {
        return text(
            StatusCode::BAD_REQUEST,
            "Expecting 'framework_id' to be present",
        );
    };
    let stream_id = headers
        .get("mesos-stream-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // A call to a subscribed framework must carry the credentials it subscribed with
    // (compared as they are: no Secret lookup per call).
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let calls = {
        let sessions = state.sessions.lock().unwrap_or_else(|p| p.into_inner());
        match sessions.get(&framework_id) {
            Some(session) => {
                let Some(stream_id) = stream_id else {
                    return text(
                        StatusCode::BAD_REQUEST,
                        "All non-subscribe calls should include the 'Mesos-Stream-Id' header",
                    );
                };
                if stream_id != session.stream_id {
                    return text(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "The stream ID '{stream_id}' included in this request didn't match the stream ID currently associated with framework ID {framework_id}"
                        ),
                    );
                }
                let same = match (&session.authorization, &authorization) {
                    (None, _) => true,
                    (Some(a), Some(b)) => constant_time_eq(a, b),
                    (Some(_), None) => false,
                };
                if !same {
                    return text(
                        StatusCode::FORBIDDEN,
                        "the call's principal is not the framework's",
                    );
                }
                Some((session.calls.clone(), session.roles.clone()))
            }
            None => None,
        }
    };
    let Some((calls, allowed_roles)) = calls else {
        let tenant = match authenticate(state, &ctx, headers).await {
            Ok(t) => t,
            Err(response) => return response,
        };
        let known = ctx.frameworks.state().iter().any(|f| {
            f.uid().as_deref() == Some(framework_id.as_str())
                && f.namespace().as_deref() == Some(tenant.namespace.as_str())
        });
        return if known {
            text(StatusCode::FORBIDDEN, "Framework is not subscribed")
        } else {
            text(StatusCode::BAD_REQUEST, "Framework cannot be found")
        };
    };
    match kind {
        Some(call::Type::UpdateFramework) => {
            let info_id = call
                .update_framework
                .as_ref()
                .and_then(|u| u.framework_info.id.as_ref())
                .map(|i| i.value.clone());
            if info_id.as_deref() != Some(framework_id.as_str()) {
                return text(
                    StatusCode::BAD_REQUEST,
                    "'framework_info.id' must match the call's 'framework_id'",
                );
            }
            let roles = match call
                .update_framework
                .as_ref()
                .map(|u| adapter::framework_roles(&u.framework_info))
            {
                Some(Ok(roles)) => roles,
                Some(Err(message)) => return text(StatusCode::BAD_REQUEST, message),
                None => Vec::new(),
            };
            if let Some(allowed) = &allowed_roles
                && let Some(role) = roles
                    .iter()
                    .find(|role| !allowed.iter().any(|r| r == *role || r == "*"))
            {
                return text(
                    StatusCode::FORBIDDEN,
                    format!("Not authorized to use role '{role}'"),
                );
            }
            let _ = calls.send(SessionMsg::Call(Box::new(call)));
            StatusCode::OK.into_response()
        }
        Some(call::Type::ReconcileOperations) => {
            let response = v1::scheduler::Response {
                r#type: Some(v1::scheduler::response::Type::ReconcileOperations as i32),
                reconcile_operations: Some(v1::scheduler::response::ReconcileOperations {
                    operation_statuses: Vec::new(),
                }),
            };
            let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
            let ct = ContentType::negotiate(accept).unwrap_or(ContentType::Json);
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, ct.as_str())],
                mesos_proto::encode(&response, ct),
            )
                .into_response()
        }
        _ => {
            let _ = calls.send(SessionMsg::Call(Box::new(call)));
            accepted()
        }
    }
}

/// The checks Mesos makes on a call before anything else (`validation::scheduler::call`):
/// the call's own message is present, uuids are uuids.
pub fn validate_call(call: &Call) -> std::result::Result<(), String> {
    use call::Type;
    let Some(kind) = call.r#type.and_then(|t| Type::try_from(t).ok()) else {
        return Err("Expecting 'type' to be present".into());
    };
    let need = |present: bool, field: &str| {
        if present {
            Ok(())
        } else {
            Err(format!("Expecting '{field}' to be present"))
        }
    };
    match kind {
        Type::Unknown => Err("Expecting 'type' to be a known call".into()),
        Type::Subscribe => {
            let subscribe = call
                .subscribe
                .as_ref()
                .ok_or("Expecting 'subscribe' to be present")?;
            if let Some(id) = &call.framework_id
                && subscribe.framework_info.id.as_ref() != Some(id)
            {
                return Err("'framework_id' differs from 'subscribe.framework_info.id'".into());
            }
            Ok(())
        }
        Type::Accept => need(call.accept.is_some(), "accept"),
        Type::Decline => need(call.decline.is_some(), "decline"),
        Type::AcceptInverseOffers => need(
            call.accept_inverse_offers.is_some(),
            "accept_inverse_offers",
        ),
        Type::DeclineInverseOffers => need(
            call.decline_inverse_offers.is_some(),
            "decline_inverse_offers",
        ),
        Type::Kill => need(call.kill.is_some(), "kill"),
        Type::Shutdown => need(call.shutdown.is_some(), "shutdown"),
        Type::Acknowledge => {
            let ack = call
                .acknowledge
                .as_ref()
                .ok_or("Expecting 'acknowledge' to be present")?;
            mesos_proto::status_uuid::parse_status_uuid(&ack.uuid)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        Type::AcknowledgeOperationStatus => need(
            call.acknowledge_operation_status.is_some(),
            "acknowledge_operation_status",
        ),
        Type::Reconcile => need(call.reconcile.is_some(), "reconcile"),
        Type::ReconcileOperations => {
            need(call.reconcile_operations.is_some(), "reconcile_operations")
        }
        Type::Message => need(call.message.is_some(), "message"),
        Type::Request => need(call.request.is_some(), "request"),
        Type::UpdateFramework => need(call.update_framework.is_some(), "update_framework"),
        // pymesos sends REVIVE and SUPPRESS without their message when it has no roles.
        Type::Teardown | Type::Revive | Type::Suppress => Ok(()),
    }
}

/// The stream of one subscription: SUBSCRIBED, HEARTBEAT, then the session's events.
struct Stream {
    tx: mpsc::Sender<std::result::Result<Bytes, Infallible>>,
    content_type: ContentType,
}

impl Stream {
    /// Sends an event; `false` when the reader is gone or too slow.
    fn send(&self, event: &Event) -> bool {
        let payload = mesos_proto::encode(event, self.content_type);
        let Ok(record) = mesos_proto::recordio::encode_record(&payload) else {
            return true;
        };
        self.tx.try_send(Ok(Bytes::from(record))).is_ok()
    }

    fn event(kind: event::Type) -> Event {
        Event {
            r#type: Some(kind as i32),
            ..Default::default()
        }
    }

    fn error(&self, message: &str) -> bool {
        self.send(&Event {
            error: Some(event::Error {
                message: message.to_string(),
            }),
            ..Self::event(event::Type::Error)
        })
    }

    fn update(&self, status: v1::TaskStatus) -> bool {
        self.send(&Event {
            update: Some(event::Update { status }),
            ..Self::event(event::Type::Update)
        })
    }
}

pub(super) fn stream_response(
    content_type: ContentType,
    stream_id: &str,
    rx: mpsc::Receiver<std::result::Result<Bytes, Infallible>>,
) -> Response {
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type.as_str()),
    );
    if let Ok(value) = HeaderValue::from_str(stream_id) {
        headers.insert("Mesos-Stream-Id", value);
    }
    response
}

/// A SUBSCRIBE that is refused semantically: 200, one ERROR event, end of stream.
fn refused_stream(content_type: ContentType, message: &str) -> Response {
    let (tx, rx) = mpsc::channel(2);
    let stream = Stream { tx, content_type };
    stream.error(message);
    drop(stream);
    stream_response(content_type, &uuid::Uuid::new_v4().to_string(), rx)
}

async fn subscribe(
    state: Arc<ApiState>,
    ctx: Arc<Context>,
    tenant: Tenant,
    call: Call,
    content_type: ContentType,
) -> Response {
    let Some(subscribe) = call.subscribe else {
        return text(
            StatusCode::BAD_REQUEST,
            "Expecting 'subscribe' to be present",
        );
    };
    let info = subscribe.framework_info;
    let roles = match adapter::framework_roles(&info) {
        Ok(roles) => roles,
        Err(message) => return refused_stream(content_type, &message),
    };
    let role = roles.first().cloned().unwrap_or_else(|| "*".to_string());
    if let Some(allowed) = &tenant.roles
        && let Some(role) = roles
            .iter()
            .find(|role| !allowed.iter().any(|r| r == *role || r == "*"))
    {
        return refused_stream(
            content_type,
            &format!(
                "Not authorized to use role '{role}' (principal {})",
                tenant.principal.as_deref().unwrap_or("")
            ),
        );
    }
    if let (Some(principal), Some(asked)) = (&tenant.principal, &info.principal)
        && principal != asked
    {
        return refused_stream(
            content_type,
            &format!(
                "FrameworkInfo.principal '{asked}' is not the authenticated principal '{principal}'"
            ),
        );
    }
    let framework = match register(&ctx, &tenant.namespace, &info, &role).await {
        Ok(Ok(fw)) => fw,
        Ok(Err(message)) => return refused_stream(content_type, &message),
        Err(e) => {
            warn!(error = %e, "cannot register a framework");
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot register the framework: {e}"),
            );
        }
    };
    let framework_id = framework.uid().unwrap_or_default();
    let name = framework.name_any();
    let objects = match role_objects(&ctx, &tenant.namespace, &framework, &info, &roles).await {
        Ok(objects) => objects,
        Err(e) => {
            warn!(error = %e, "cannot register a framework's roles");
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("cannot register the framework's roles: {e}"),
            );
        }
    };
    let stream_id = uuid::Uuid::new_v4().to_string();
    let (tx, rx) = mpsc::channel(STREAM_QUEUE);
    let (calls_tx, calls_rx) = mpsc::unbounded_channel();
    let previous = state
        .sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(
            framework_id.clone(),
            SessionHandle {
                stream_id: stream_id.clone(),
                authorization: tenant.authorization.clone(),
                roles: tenant.roles.clone(),
                calls: calls_tx,
            },
        );
    if let Some(previous) = previous {
        let _ = previous.calls.send(SessionMsg::FailedOver);
    }
    let delivery = state
        .deliveries
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(framework_id.clone())
        .or_default()
        .clone();
    info!(framework = %name, id = %framework_id, namespace = %tenant.namespace, "framework subscribed through the scheduler API");
    let session = Session {
        state: state.clone(),
        ctx,
        namespace: tenant.namespace,
        name,
        framework_id,
        stream_id: stream_id.clone(),
        caps: Caps::from_info(&info),
        role,
        stream: Stream { tx, content_type },
        delivery,
        sent_offers: HashSet::new(),
        answered: HashSet::new(),
        launching: HashSet::new(),
        members: HashMap::new(),
        killed_groups: HashSet::new(),
        objects,
    };
    tokio::spawn(session.run(calls_rx));
    stream_response(content_type, &stream_id, rx)
}

/// One Framework object of a subscribed framework: its first role's (the Mesos framework
/// id is its UID) or, for a MULTI_ROLE framework, one per other role (labelled with
/// [`adapter::ROLE_OF_LABEL`], owned by the first): each role is its own client of the
/// allocator, as Mesos' DRF sorts a multi-role framework in each of its roles.
#[derive(Debug, Clone, PartialEq)]
struct RoleObject {
    name: String,
    uid: String,
    role: String,
}

/// The Framework objects of `framework`'s roles, the missing ones created.
async fn role_objects(
    ctx: &Context,
    namespace: &str,
    framework: &Framework,
    info: &v1::FrameworkInfo,
    roles: &[String],
) -> Result<Vec<RoleObject>> {
    let primary_uid = framework.uid().unwrap_or_default();
    let primary = RoleObject {
        name: framework.name_any(),
        uid: primary_uid.clone(),
        role: framework.spec.role.clone(),
    };
    let api: Api<Framework> = Api::namespaced(ctx.client.clone(), namespace);
    let known = ctx.frameworks.state();
    let mut out = vec![primary.clone()];
    for role in roles.iter().filter(|r| **r != primary.role) {
        let name = adapter::role_object_name(&primary.name, role);
        let found = known
            .iter()
            .find(|f| f.name_any() == name && f.namespace().as_deref() == Some(namespace))
            .map(|f| (**f).clone());
        let object = match found {
            Some(f) => f,
            None => {
                let mut fw = Framework::new(
                    &name,
                    FrameworkSpec {
                        role: role.clone(),
                        capabilities: Caps::crd_capabilities(info),
                        failover_timeout: failover_timeout(info),
                        scheduler: SchedulerKind::External,
                        offers: OfferSettings::default(),
                        reconcile: None,
                    },
                );
                fw.metadata.labels = Some(
                    [
                        (
                            adapter::HTTP_FRAMEWORK_LABEL.to_string(),
                            "true".to_string(),
                        ),
                        (adapter::ROLE_OF_LABEL.to_string(), primary_uid.clone()),
                    ]
                    .into(),
                );
                fw.metadata.owner_references = Some(vec![
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                        api_version: Framework::api_version(&()).to_string(),
                        kind: Framework::kind(&()).to_string(),
                        name: primary.name.clone(),
                        uid: primary_uid.clone(),
                        ..Default::default()
                    },
                ]);
                match api.create(&PostParams::default(), &fw).await {
                    Ok(created) => created,
                    Err(kube::Error::Api(e)) if e.code == 409 => {
                        api.get(&name).await.map_err(|source| Error::Kube {
                            context: format!("reading Framework {name}"),
                            source,
                        })?
                    }
                    Err(source) => {
                        return Err(Error::Kube {
                            context: format!("creating Framework {name} (role {role})"),
                            source,
                        });
                    }
                }
            }
        };
        out.push(RoleObject {
            name,
            uid: object.uid().unwrap_or_default(),
            role: role.clone(),
        });
    }
    Ok(out)
}

/// Registers a new framework, or finds the one a re-subscribing scheduler names.
/// `Ok(Err(message))` is a refusal answered on the stream.
async fn register(
    ctx: &Context,
    namespace: &str,
    info: &v1::FrameworkInfo,
    role: &str,
) -> Result<std::result::Result<Framework, String>> {
    let api: Api<Framework> = Api::namespaced(ctx.client.clone(), namespace);
    if let Some(id) = &info.id {
        let found = ctx.frameworks.state().into_iter().find(|f| {
            f.uid().as_deref() == Some(id.value.as_str())
                && f.namespace().as_deref() == Some(namespace)
        });
        return Ok(match found {
            Some(fw) if fw.is_torn_down() => Err("Framework has been removed".to_string()),
            Some(fw) => {
                let failover = failover_timeout(info);
                if fw.spec.failover_timeout != failover {
                    let patch = serde_json::json!({"spec": {"failoverTimeout": failover}});
                    api.patch(
                        &fw.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
                    .map_err(|source| Error::Kube {
                        context: "updating a re-subscribing framework".into(),
                        source,
                    })?;
                }
                Ok((*fw).clone())
            }
            None => Err("Framework has been removed".to_string()),
        });
    }
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let mut fw = Framework::new(
        &adapter::framework_name(&info.name, &suffix),
        FrameworkSpec {
            role: role.to_string(),
            capabilities: Caps::crd_capabilities(info),
            failover_timeout: failover_timeout(info),
            scheduler: SchedulerKind::External,
            offers: OfferSettings::default(),
            reconcile: None,
        },
    );
    fw.metadata.labels = Some(
        [(
            adapter::HTTP_FRAMEWORK_LABEL.to_string(),
            "true".to_string(),
        )]
        .into(),
    );
    fw.metadata.annotations = Some(
        [(
            adapter::FRAMEWORK_INFO_ANNOTATION.to_string(),
            mesos_proto::to_json(info).to_string(),
        )]
        .into(),
    );
    let created = api
        .create(&PostParams::default(), &fw)
        .await
        .map_err(|source| Error::Kube {
            context: format!("creating Framework {}", fw.name_any()),
            source,
        })?;
    Ok(Ok(created))
}

fn failover_timeout(info: &v1::FrameworkInfo) -> kube::core::Duration {
    let seconds = info
        .failover_timeout
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(0.0)
        .min(365.0 * 86_400.0);
    kube::core::Duration::from(Duration::from_secs_f64(seconds))
}

struct Session {
    state: Arc<ApiState>,
    ctx: Arc<Context>,
    namespace: String,
    name: String,
    framework_id: String,
    stream_id: String,
    caps: Caps,
    role: String,
    stream: Stream,
    delivery: Arc<Mutex<Delivery>>,
    /// Offers sent and not answered.
    sent_offers: HashSet<String>,
    /// Offers answered (accepted or declined): never sent again.
    answered: HashSet<String>,
    /// Mesos task ids being created.
    launching: HashSet<String>,
    /// Task-group members (delivery key) → (the group's Task, the member's container).
    members: HashMap<String, (String, String)>,
    /// Task groups killed because a member failed (as Mesos' default executor does).
    killed_groups: HashSet<String>,
    /// Its Framework objects, one per role (the first is `name`'s).
    objects: Vec<RoleObject>,
}

impl Session {
    async fn run(mut self, mut calls: mpsc::UnboundedReceiver<SessionMsg>) {
        let subscribed = Event {
            subscribed: Some(event::Subscribed {
                framework_id: v1::FrameworkId {
                    value: self.framework_id.clone(),
                },
                heartbeat_interval_seconds: Some(HEARTBEAT_SECONDS),
                master_info: Some(super::master::master_info(&self.state)),
            }),
            ..Stream::event(event::Type::Subscribed)
        };
        let mut open = self.stream.send(&subscribed)
            && self.stream.send(&Stream::event(event::Type::Heartbeat));
        self.renew_lease(LEASE_SECONDS).await;
        let resend = self
            .delivery
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unacknowledged(now_seconds());
        for status in resend {
            open = open && self.stream.update(status);
        }
        let mut last_heartbeat = Instant::now();
        let mut last_renew = Instant::now();
        let mut tick = tokio::time::interval(TICK);
        let mut failed_over = false;
        while open {
            tokio::select! {
                _ = tick.tick() => {
                    if self.stream.tx.is_closed() {
                        break;
                    }
                    if self.torn_down() {
                        self.state
                            .deliveries
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&self.framework_id);
                        self.stream.error("Framework has been removed");
                        break;
                    }
                    open = self.sync();
                    if last_heartbeat.elapsed().as_secs_f64() >= HEARTBEAT_SECONDS {
                        last_heartbeat = Instant::now();
                        open = open && self.stream.send(&Stream::event(event::Type::Heartbeat));
                    }
                    if last_renew.elapsed() >= LEASE_RENEW {
                        last_renew = Instant::now();
                        self.renew_lease(LEASE_SECONDS).await;
                    }
                }
                msg = calls.recv() => match msg {
                    Some(SessionMsg::Call(call)) => {
                        match self.on_call(*call).await {
                            Ok(keep) => open = keep,
                            Err(e) => warn!(framework = %self.name, error = %e, "a scheduler call failed"),
                        }
                    }
                    Some(SessionMsg::LaunchFailed(status)) => {
                        let status = *status;
                        self.launching.remove(&status.task_id.value);
                        open = self.stream.update(status);
                    }
                    Some(SessionMsg::FailedOver) | None => {
                        self.stream.error("Framework failed over");
                        failed_over = true;
                        break;
                    }
                }
            }
        }
        self.finish(failed_over).await;
    }

    fn torn_down(&self) -> bool {
        let fw = self
            .ctx
            .frameworks
            .state()
            .into_iter()
            .find(|f| f.uid().as_deref() == Some(self.framework_id.as_str()));
        fw.is_none_or(|f| f.is_torn_down())
    }

    async fn finish(&mut self, failed_over: bool) {
        if failed_over {
            return;
        }
        let removed = {
            let mut sessions = self
                .state
                .sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if sessions
                .get(&self.framework_id)
                .is_some_and(|s| s.stream_id == self.stream_id)
            {
                sessions.remove(&self.framework_id);
                true
            } else {
                false
            }
        };
        if removed {
            info!(framework = %self.name, "scheduler stream closed: the framework is disconnected");
            // The Lease ends now: the framework is disconnected (offers rescinded) and
            // its failover timeout starts.
            self.renew_lease(1).await;
        }
    }

    async fn renew_lease(&self, seconds: i32) {
        for object in &self.objects {
            self.renew_lease_of(&object.name, seconds).await;
        }
    }

    /// Whether `framework` (a Framework object name) is one of this framework's.
    fn owns(&self, framework: &str) -> bool {
        self.objects.iter().any(|o| o.name == framework)
    }

    async fn renew_lease_of(&self, framework: &str, seconds: i32) {
        let name = crate::master::lifecycle::lease_name(framework);
        let api: Api<Lease> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        let now = k8s_openapi::jiff::Timestamp::now();
        let patch = serde_json::json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name},
            "spec": {
                "holderIdentity": format!("scheduler-api/{}", self.stream_id),
                "leaseDurationSeconds": seconds,
                "renewTime": k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(now),
            }
        });
        if let Err(e) = api
            .patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
        {
            warn!(framework = %self.name, error = %e, "cannot renew the scheduler Lease");
        }
    }

    fn mine<'a>(&self, tasks: &'a [Arc<Task>]) -> Vec<&'a Task> {
        tasks
            .iter()
            .filter(|t| {
                self.owns(&t.spec.framework)
                    && t.namespace().as_deref() == Some(self.namespace.as_str())
            })
            .map(|t| &**t)
            .collect()
    }

    /// Sends new offers, rescinds vanished ones, sends new task states and due retries.
    fn sync(&mut self) -> bool {
        let offers = self.ctx.offers.state();
        let mut fresh = Vec::new();
        let mut live = HashSet::new();
        let objects: HashSet<String> = self.objects.iter().map(|o| o.name.clone()).collect();
        let namespace = self.namespace.clone();
        for offer in offers.iter().filter(|o| {
            objects.contains(&o.spec.framework)
                && o.namespace().as_deref() == Some(namespace.as_str())
        }) {
            let name = offer.name_any();
            let state = offer.status.as_ref().map(|s| s.state).unwrap_or_default();
            if state != OfferState::Outstanding || offer.metadata.deletion_timestamp.is_some() {
                continue;
            }
            live.insert(name.clone());
            if !self.sent_offers.contains(&name) && !self.answered.contains(&name) {
                self.sent_offers.insert(name);
                fresh.push(adapter::offer_to_proto(
                    offer,
                    &self.framework_id,
                    self.caps,
                ));
            }
        }
        let gone: Vec<String> = self
            .sent_offers
            .iter()
            .filter(|o| !live.contains(*o))
            .cloned()
            .collect();
        for offer in gone {
            self.sent_offers.remove(&offer);
            self.answered.insert(offer.clone());
            let rescind = Event {
                rescind: Some(event::Rescind {
                    offer_id: v1::OfferId { value: offer },
                }),
                ..Stream::event(event::Type::Rescind)
            };
            if !self.stream.send(&rescind) {
                return false;
            }
        }
        self.answered
            .retain(|o| offers.iter().any(|x| &x.name_any() == o));
        if !fresh.is_empty() {
            let split = mesos_proto::offers::split_offers(
                fresh,
                self.stream.content_type,
                mesos_proto::recordio::MESOS_GO_MAX_RECORD_BYTES,
            );
            for event in split.events {
                if !self.stream.send(&event) {
                    return false;
                }
            }
        }
        let tasks = self.ctx.tasks.state();
        let mine = self.mine(&tasks);
        for task in &mine {
            for id in adapter::member_ids(task) {
                self.launching.remove(&id);
            }
        }
        let names = self.expand(&mine);
        self.kill_failed_groups(&mine, &names);
        let now = now_seconds();
        let updates = {
            let mut delivery = self.delivery.lock().unwrap_or_else(|p| p.into_inner());
            let mut out = delivery.changes(
                names.iter().map(|(n, t)| (n.as_str(), t.as_ref())),
                self.caps,
                now,
                new_uuid,
            );
            self.state
                .counters
                .updates_sent
                .fetch_add(out.len() as u64, Ordering::Relaxed);
            out.extend(delivery.retries(now));
            let live: HashSet<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
            self.members.retain(|k, _| live.contains(k.as_str()));
            delivery.retain(&live);
            out
        };
        for status in updates {
            if !self.stream.update(status) {
                return false;
            }
        }
        true
    }

    /// What the framework is told about its tasks: (delivery key, Task), a task group's
    /// members each as their own Task (state from their container); records the members.
    fn expand<'a>(&mut self, mine: &[&'a Task]) -> Vec<(String, std::borrow::Cow<'a, Task>)> {
        use std::borrow::Cow;
        let mut out = Vec::with_capacity(mine.len());
        for task in mine {
            let Some(members) = adapter::group_members(task) else {
                out.push((task.name_any(), Cow::Borrowed(*task)));
                continue;
            };
            let pod = task
                .status
                .as_ref()
                .and_then(|s| s.pod.as_ref())
                .and_then(|pod| {
                    self.ctx
                        .pods
                        .get(&kube::runtime::reflector::ObjectRef::new(pod).within(&self.namespace))
                });
            for member in &members {
                self.members.insert(
                    adapter::task_name(&self.framework_id, &member.id),
                    (task.name_any(), member.container.clone()),
                );
            }
            for (key, one) in adapter::member_tasks(task, &self.framework_id, pod.as_deref()) {
                out.push((key, Cow::Owned(one)));
            }
        }
        out
    }

    /// A task group whose member failed is killed whole, as Mesos' default executor does.
    fn kill_failed_groups(
        &mut self,
        mine: &[&Task],
        expanded: &[(String, std::borrow::Cow<'_, Task>)],
    ) {
        for task in mine.iter().filter(|t| !t.is_terminal() && !t.spec.kill) {
            let name = task.name_any();
            if self.killed_groups.contains(&name) {
                continue;
            }
            let failed = expanded.iter().any(|(key, one)| {
                self.members
                    .get(key)
                    .is_some_and(|(group, _)| *group == name)
                    && one.state() == Some(crate::api::TaskState::Failed)
            });
            if failed {
                self.killed_groups.insert(name.clone());
                let api: Api<Task> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
                tokio::spawn(async move {
                    let patch = serde_json::json!({"spec": {"kill": true}});
                    if let Err(e) = api
                        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                    {
                        warn!(task = %name, error = %e, "cannot kill a task group");
                    }
                });
            }
        }
    }

    /// Handles one call; `Ok(false)` ends the stream.
    async fn on_call(&mut self, call: Call) -> Result<bool> {
        use call::Type;
        let kind = call.r#type.and_then(|t| Type::try_from(t).ok());
        debug!(framework = %self.name, call = ?kind, "scheduler call");
        match kind {
            Some(Type::Teardown) => {
                let api: Api<Framework> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
                for object in self.objects.iter().rev() {
                    match api.delete(&object.name, &DeleteParams::default()).await {
                        Ok(_) | Err(kube::Error::Api(_)) => {}
                        Err(e) => warn!(error = %e, "cannot delete a torn-down framework"),
                    }
                }
                self.state
                    .deliveries
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&self.framework_id);
                info!(framework = %self.name, "framework torn down by its scheduler");
                return Ok(false);
            }
            Some(Type::Accept) => {
                if let Some(accept) = call.accept {
                    return Ok(self.accept(accept).await);
                }
            }
            Some(Type::Decline) => {
                if let Some(decline) = call.decline {
                    self.decline(&decline.offer_ids, decline.filters.as_ref())
                        .await;
                }
            }
            Some(Type::Revive) => {
                let roles = call.revive.map(|r| r.roles).unwrap_or_default();
                self.set_suppressed(false, &roles, true).await?
            }
            Some(Type::Suppress) => {
                let roles = call.suppress.map(|r| r.roles).unwrap_or_default();
                self.set_suppressed(true, &roles, false).await?
            }
            Some(Type::Kill) => {
                if let Some(kill) = call.kill {
                    return Ok(self.kill(&kill.task_id.value).await);
                }
            }
            Some(Type::Acknowledge) => {
                if let Some(ack) = call.acknowledge {
                    self.acknowledge(&ack.task_id.value, &ack.uuid).await;
                }
            }
            Some(Type::Reconcile) => {
                if let Some(reconcile) = call.reconcile {
                    let asked: Vec<String> = reconcile
                        .tasks
                        .iter()
                        .map(|t| t.task_id.value.clone())
                        .collect();
                    let tasks = self.ctx.tasks.state();
                    let mine = self.mine(&tasks);
                    let expanded = self.expand(&mine);
                    let by_id: HashMap<String, &Task> = expanded
                        .iter()
                        .map(|(_, t)| (adapter::mesos_task_id(t), t.as_ref()))
                        .collect();
                    for status in adapter::reconcile(
                        &by_id,
                        &self.launching,
                        &asked,
                        self.caps,
                        now_seconds(),
                    ) {
                        if !self.stream.update(status) {
                            return Ok(false);
                        }
                    }
                }
            }
            Some(Type::UpdateFramework) => {
                if let Some(update) = call.update_framework {
                    self.caps = Caps::from_info(&update.framework_info);
                    let patch = serde_json::json!({"spec": {
                        "failoverTimeout": failover_timeout(&update.framework_info),
                        "capabilities": Caps::crd_capabilities(&update.framework_info),
                    }});
                    let api: Api<Framework> =
                        Api::namespaced(self.ctx.client.clone(), &self.namespace);
                    for object in &self.objects {
                        api.patch(&object.name, &PatchParams::default(), &Patch::Merge(&patch))
                            .await
                            .map_err(|source| Error::Kube {
                                context: "UPDATE_FRAMEWORK".into(),
                                source,
                            })?;
                    }
                    self.update_roles(&update.framework_info, &update.suppressed_roles)
                        .await?;
                }
            }
            // Answered and ignored, as Mesos' default allocator and a master without
            // executors, maintenance or operations feedback do.
            _ => {}
        }
        Ok(true)
    }

    /// UPDATE_FRAMEWORK's roles: a new role gets its Framework object (and offers); a role
    /// left is suppressed (no more offers in it), its tasks keep running, as in Mesos; the
    /// call's `suppressed_roles` are suppressed, the framework's other roles revived.
    async fn update_roles(
        &mut self,
        info: &v1::FrameworkInfo,
        suppressed_roles: &[String],
    ) -> Result<()> {
        let Ok(roles) = adapter::framework_roles(info) else {
            return Ok(());
        };
        let api: Api<Framework> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        let primary = api.get(&self.name).await.map_err(|source| Error::Kube {
            context: format!("reading Framework {}", self.name),
            source,
        })?;
        let objects = role_objects(&self.ctx, &self.namespace, &primary, info, &roles).await?;
        for object in objects {
            if !self.objects.iter().any(|o| o.name == object.name) {
                self.objects.push(object);
            }
        }
        let (offered, suppressed): (Vec<String>, Vec<String>) = self
            .objects
            .iter()
            .map(|o| o.role.clone())
            .partition(|role| roles.contains(role) && !suppressed_roles.contains(role));
        // (An empty list means every role to set_suppressed.)
        if !suppressed.is_empty() {
            self.set_suppressed(true, &suppressed, false).await?;
        }
        if !offered.is_empty() {
            self.set_suppressed(false, &offered, false).await?;
        }
        self.renew_lease(LEASE_SECONDS).await;
        Ok(())
    }

    /// SUPPRESS or REVIVE `roles` (empty: every role of the framework); REVIVE also
    /// clears their decline filters (`clear_filters`).
    async fn set_suppressed(
        &self,
        suppressed: bool,
        roles: &[String],
        clear_filters: bool,
    ) -> Result<()> {
        let api: Api<Framework> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        let patch = serde_json::json!({"spec": {"offers": {"suppressed": suppressed}}});
        let chosen: Vec<&RoleObject> = self
            .objects
            .iter()
            .filter(|o| roles.is_empty() || roles.contains(&o.role))
            .collect();
        for object in &chosen {
            api.patch(&object.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|source| Error::Kube {
                    context: format!("setting suppressed={suppressed} on {}", object.name),
                    source,
                })?;
        }
        if !suppressed && clear_filters {
            // REVIVE also clears the decline filters.
            for offer in self.ctx.offers.state().iter().filter(|o| {
                chosen.iter().any(|c| c.name == o.spec.framework)
                    && o.namespace().as_deref() == Some(self.namespace.as_str())
                    && o.status
                        .as_ref()
                        .is_some_and(|s| s.state == OfferState::Declined)
            }) {
                self.ctx
                    .delete_offer(
                        &self.namespace,
                        &offer.name_any(),
                        "clearing a filter on REVIVE",
                    )
                    .await?;
            }
        }
        self.ctx.allocation_wakeup.notify_one();
        Ok(())
    }

    async fn decline(&mut self, offer_ids: &[v1::OfferId], filters: Option<&v1::Filters>) {
        let refuse = filters
            .and_then(|f| f.refuse_seconds)
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or(5.0)
            .min(31_536_000.0)
            .ceil() as u32;
        let api: Api<crate::api::Offer> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        for id in offer_ids {
            if !self.sent_offers.remove(&id.value) {
                continue;
            }
            self.answered.insert(id.value.clone());
            let patch = serde_json::json!({"spec": {"decline": {"refuseSeconds": refuse}}});
            if let Err(e) = api
                .patch(&id.value, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                debug!(offer = %id.value, error = %e, "declining an offer that is gone");
            }
        }
    }

    async fn accept(&mut self, accept: call::Accept) -> bool {
        use v1::offer::operation::Type as Op;
        let now = now_seconds();
        let offers = self.ctx.offers.state();
        let mut views = Vec::new();
        let mut invalid = None;
        // The Framework object (role) the offers are allocated to.
        let mut object: Option<String> = None;
        for id in &accept.offer_ids {
            let found = offers.iter().find(|o| {
                o.name_any() == id.value
                    && o.namespace().as_deref() == Some(self.namespace.as_str())
                    && self.owns(&o.spec.framework)
            });
            match found {
                Some(o)
                    if self.sent_offers.contains(&id.value)
                        && o.status.as_ref().map(|s| s.state).unwrap_or_default()
                            == OfferState::Outstanding =>
                {
                    // Mesos: the offers of one ACCEPT share their allocation role.
                    match &object {
                        Some(name) if *name != o.spec.framework => {
                            invalid =
                                Some("the offers are allocated to more than one role".to_string());
                        }
                        _ => object = Some(o.spec.framework.clone()),
                    }
                    views.push(OfferView {
                        id: id.value.clone(),
                        agent: o.spec.agent.clone(),
                        resources: o
                            .status
                            .as_ref()
                            .filter(|s| !s.remaining.is_empty())
                            .map(|s| s.remaining.clone())
                            .unwrap_or_else(|| o.spec.resources.clone()),
                    });
                }
                _ => invalid = Some(format!("Offer {} is no longer valid", id.value)),
            }
        }
        for id in &accept.offer_ids {
            self.sent_offers.remove(&id.value);
            self.answered.insert(id.value.clone());
        }
        let mut infos = Vec::new();
        let mut groups = Vec::new();
        let mut refused = Vec::new();
        for operation in &accept.operations {
            match operation.r#type.and_then(|t| Op::try_from(t).ok()) {
                Some(Op::Launch) if operation.id.is_some() => {
                    // Mesos: LAUNCH gets no operation feedback; each task is TASK_ERROR.
                    for task in operation.launch.iter().flat_map(|l| l.task_infos.iter()) {
                        refused.push(adapter::master_status(
                            &task.task_id.value,
                            Some(&task.agent_id.value),
                            crate::api::TaskState::Error,
                            v1::task_status::Reason::TaskInvalid,
                            Some("The `id` field cannot be set on LAUNCH operations".into()),
                            now,
                        ));
                    }
                }
                Some(Op::Launch) => {
                    infos.extend(
                        operation
                            .launch
                            .iter()
                            .flat_map(|l| l.task_infos.iter().cloned()),
                    );
                }
                Some(Op::LaunchGroup) if operation.id.is_some() => {
                    for task in operation
                        .launch_group
                        .iter()
                        .flat_map(|g| g.task_group.tasks.iter())
                    {
                        refused.push(adapter::master_status(
                            &task.task_id.value,
                            Some(&task.agent_id.value),
                            crate::api::TaskState::Error,
                            v1::task_status::Reason::TaskGroupInvalid,
                            Some("The `id` field cannot be set on LAUNCH_GROUP operations".into()),
                            now,
                        ));
                    }
                }
                Some(Op::LaunchGroup) => groups.extend(operation.launch_group.iter().cloned()),
                _ => {
                    let (message, status) =
                        adapter::refuse_operation(operation, invalid.as_deref());
                    warn!(framework = %self.name, operation = ?operation.r#type.and_then(|t| Op::try_from(t).ok()), id = ?operation.id.as_ref().map(|i| &i.value), "dropping an offer operation: {message}");
                    if let Some(status) = status
                        && !self.stream.send(&Event {
                            update_operation_status: Some(event::UpdateOperationStatus { status }),
                            ..Stream::event(event::Type::UpdateOperationStatus)
                        })
                    {
                        return false;
                    }
                }
            }
        }
        let tasks = self.ctx.tasks.state();
        let mut known: HashSet<String> = self
            .mine(&tasks)
            .iter()
            .flat_map(|t| adapter::member_ids(t))
            .collect();
        known.extend(self.launching.iter().cloned());
        let views = if invalid.is_some() { Vec::new() } else { views };
        let object = self
            .objects
            .iter()
            .find(|o| object.as_deref() == Some(o.name.as_str()))
            .cloned()
            .unwrap_or_else(|| RoleObject {
                name: self.name.clone(),
                uid: self.framework_id.clone(),
                role: self.role.clone(),
            });
        let plan = adapter::plan_launches(
            &views,
            invalid.as_deref(),
            &infos,
            &groups,
            &known,
            &object.name,
            &self.framework_id,
            self.caps,
            now,
        );
        refused.extend(plan.refused);
        for status in refused {
            self.state.counters.refused(&status);
            if !self.stream.update(status) {
                return false;
            }
        }
        let unused: Vec<v1::OfferId> = plan
            .unused_offers
            .iter()
            .map(|o| v1::OfferId { value: o.clone() })
            .collect();
        for o in &unused {
            self.sent_offers.insert(o.value.clone());
        }
        self.decline(&unused, accept.filters.as_ref()).await;
        if plan.launches.is_empty() {
            return true;
        }
        let mut per_offer: HashMap<String, usize> = HashMap::new();
        for task in &plan.launches {
            self.launching.extend(adapter::new_task_ids(task));
            if let Some(offer) = &task.spec.offer {
                *per_offer.entry(offer.clone()).or_default() += 1;
            }
        }
        // The offer waits for every task of the ACCEPT, however long creating them takes.
        let offers_api: Api<crate::api::Offer> =
            Api::namespaced(self.ctx.client.clone(), &self.namespace);
        for (offer, count) in &per_offer {
            let patch = serde_json::json!({"metadata": {"annotations": {
                crate::master::offer_status::LAUNCHING_ANNOTATION: count.to_string()
            }}});
            if let Err(e) = offers_api
                .patch(offer, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                debug!(offer = %offer, error = %e, "cannot mark an offer as being launched on");
            }
        }
        let api: Api<Task> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        let owner = Self::owner(&object);
        let calls = self
            .state
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&self.framework_id)
            .map(|s| s.calls.clone());
        let partition_aware = self.caps.partition_aware;
        tokio::spawn(async move {
            futures::stream::iter(plan.launches)
                .for_each_concurrent(CREATE_CONCURRENCY, |new| {
                    let api = api.clone();
                    let owner = owner.clone();
                    let calls = calls.clone();
                    async move {
                        let ids = adapter::new_task_ids(&new);
                        let agent = new.annotations.get(adapter::AGENT_ANNOTATION).cloned();
                        let mut task = Task::new(&new.name, new.spec);
                        task.metadata.annotations = Some(new.annotations);
                        task.metadata.owner_references = owner.map(|o| vec![o]);
                        if let Err(e) = api.create(&PostParams::default(), &task).await {
                            let (state, reason) = match &e {
                                kube::Error::Api(s) if s.code == 422 || s.code == 409 => (
                                    crate::api::TaskState::Error,
                                    v1::task_status::Reason::TaskInvalid,
                                ),
                                _ if partition_aware => (
                                    crate::api::TaskState::Dropped,
                                    v1::task_status::Reason::TaskInvalid,
                                ),
                                _ => (
                                    crate::api::TaskState::Lost,
                                    v1::task_status::Reason::TaskInvalid,
                                ),
                            };
                            for id in ids {
                                let status = adapter::master_status(
                                    &id,
                                    agent.as_deref(),
                                    state,
                                    reason,
                                    Some(format!("the task could not be created: {e}")),
                                    now_seconds(),
                                );
                                if let Some(calls) = &calls {
                                    let _ = calls.send(SessionMsg::LaunchFailed(Box::new(status)));
                                }
                            }
                        }
                    }
                })
                .await;
        });
        self.ctx.allocation_wakeup.notify_one();
        true
    }

    fn owner(
        object: &RoleObject,
    ) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference> {
        Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: Framework::api_version(&()).to_string(),
                kind: Framework::kind(&()).to_string(),
                name: object.name.clone(),
                uid: object.uid.clone(),
                ..Default::default()
            },
        )
    }

    async fn kill(&mut self, task_id: &str) -> bool {
        let key = adapter::task_name(&self.framework_id, task_id);
        // Killing a member of a task group kills the group (Mesos' default executor).
        let name = self
            .members
            .get(&key)
            .map(|(group, _)| group.clone())
            .unwrap_or(key);
        let task = self.ctx.tasks.state().into_iter().find(|t| {
            t.name_any() == name && t.namespace().as_deref() == Some(self.namespace.as_str())
        });
        match task {
            Some(task) if !task.is_terminal() => {
                let api: Api<Task> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
                let patch = serde_json::json!({"spec": {"kill": true}});
                if let Err(e) = api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    warn!(task = %name, error = %e, "cannot kill a task");
                }
                true
            }
            Some(_) => true,
            None if self.launching.contains(task_id) => true,
            None => {
                let state = if self.caps.partition_aware {
                    crate::api::TaskState::Unknown
                } else {
                    crate::api::TaskState::Lost
                };
                self.stream.update(adapter::master_status(
                    task_id,
                    None,
                    state,
                    v1::task_status::Reason::Reconciliation,
                    Some("Attempted to kill an unknown task".into()),
                    now_seconds(),
                ))
            }
        }
    }

    async fn acknowledge(&self, task_id: &str, uuid: &[u8]) {
        let name = adapter::task_name(&self.framework_id, task_id);
        let acked = self
            .delivery
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .acknowledge(&name, uuid, now_seconds());
        if let Some(next) = acked.as_ref().and_then(|a| a.next.clone()) {
            self.state
                .counters
                .updates_sent
                .fetch_add(1, Ordering::Relaxed);
            self.stream.update(next);
        }
        let acked = acked.map(|a| a.state);
        let counter = if acked.is_some() {
            &self.state.counters.valid_acks
        } else {
            &self.state.counters.invalid_acks
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(state) = acked.filter(|s| s.is_terminal()) {
            let api: Api<Task> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
            let (object, key) = match self.members.get(&name) {
                Some((group, container)) => (
                    group.clone(),
                    format!("{}{container}", adapter::MEMBER_ACKNOWLEDGED_PREFIX),
                ),
                None => (name.clone(), adapter::ACKNOWLEDGED_ANNOTATION.to_string()),
            };
            let patch = serde_json::json!({"metadata": {"annotations": {key: state.as_str()}}});
            if let Err(e) = api
                .patch(&object, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                debug!(task = %name, error = %e, "cannot record an acknowledgement");
            }
        }
        let _ = &self.role;
    }
}
