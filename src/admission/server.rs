//! The HTTP side of the webhook: `POST /validate-apps` takes an `admission.k8s.io/v1`
//! AdmissionReview and answers one with the same `uid`.
//!
//! - A body that is no AdmissionReview (or has no `request`) gets 400 and a plain-text
//!   reason; nothing a client sends can stop the server.
//! - Requests for another kind, or another operation than CREATE and UPDATE, are allowed.
//! - For an App the namespace's Apps are read by a **live list** (a quorum read, not the
//!   operator's cache): a dependency created a moment before — the document before it in
//!   one `kubectl apply -f` — must be seen, and a cache may lag behind. The pure
//!   [`super::decision::judge`] decides.
//! - If the list fails the request is refused (503, "try again"), consistent with the
//!   chart's `failurePolicy: Fail`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use kube::{Client, ResourceExt};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tracing::{Instrument, debug, info, info_span, warn};

use super::decision::{self, Namespace, Verdict};
use crate::api::App;

/// The path the ValidatingWebhookConfiguration calls.
pub const PATH: &str = "/validate-apps";
/// The longest the live list of Apps may take (under the webhook's 5 s timeout).
pub const LIST_TIMEOUT: Duration = Duration::from_secs(4);

/// What the handler needs.
pub struct WebhookState {
    /// Reads the namespace's Apps.
    pub client: Client,
    /// `mesos_operator_admission_reviews_total`.
    pub reviews: Reviews,
}

/// Label set of `mesos_operator_admission_reviews_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabels {
    /// `allowed`, `denied` (an unknown or cyclic dependency), `unchecked` (refused: the
    /// Apps could not be listed) or `malformed` (400).
    pub verdict: &'static str,
}

/// Reviews answered, by verdict.
pub type Reviews = Family<ReviewLabels, Counter>;

fn count(reviews: &Reviews, verdict: &'static str) {
    reviews.get_or_create(&ReviewLabels { verdict }).inc();
}

/// The webhook's routes.
pub fn router(state: Arc<WebhookState>) -> Router {
    Router::new()
        .route(PATH, post(review))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .with_state(state)
}

fn bad_request(reason: String) -> Response {
    (StatusCode::BAD_REQUEST, reason).into_response()
}

async fn review(State(state): State<Arc<WebhookState>>, body: Bytes) -> Response {
    let review: AdmissionReview<DynamicObject> = match serde_json::from_slice(&body) {
        Ok(review) => review,
        Err(e) => {
            count(&state.reviews, "malformed");
            return bad_request(format!("not an AdmissionReview: {e}\n"));
        }
    };
    let request: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(request) => request,
        Err(e) => {
            count(&state.reviews, "malformed");
            return bad_request(format!("an AdmissionReview without a request: {e}\n"));
        }
    };
    let span = info_span!(
        "admission",
        uid = %request.uid,
        operation = ?request.operation,
        namespace = request.namespace.as_deref().unwrap_or(""),
        name = %request.name,
    );
    let response = answer(&state.client, &request).instrument(span).await;
    let verdict = match (response.allowed, response.result.code) {
        (true, _) => "allowed",
        (false, 503) => "unchecked",
        (false, _) => "denied",
    };
    count(&state.reviews, verdict);
    axum::Json(response.into_review()).into_response()
}

/// Whether the request is about an App.
fn is_app(request: &AdmissionRequest<DynamicObject>) -> bool {
    request.kind.group == "mesos.operator.dev" && request.kind.kind == "App"
}

/// `spec.dependencies` of an object (empty when absent or not a list of names; the CRD
/// schema has refused those already).
pub fn dependencies(object: Option<&DynamicObject>) -> Vec<String> {
    object
        .and_then(|o| o.data.get("spec"))
        .and_then(|s| s.get("dependencies"))
        .and_then(|d| serde_json::from_value(d.clone()).ok())
        .unwrap_or_default()
}

async fn answer(client: &Client, request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    let response = AdmissionResponse::from(request);
    if !is_app(request) || !matches!(request.operation, Operation::Create | Operation::Update) {
        debug!(kind = %request.kind.kind, "not an App CREATE or UPDATE: allowed");
        return response;
    }
    let deps = dependencies(request.object.as_ref());
    let previous = match request.operation {
        Operation::Update => dependencies(request.old_object.as_ref()),
        _ => Vec::new(),
    };
    if deps.iter().all(|d| previous.contains(d)) {
        return response;
    }
    let namespace = request
        .namespace
        .clone()
        .or_else(|| request.object.as_ref().and_then(|o| o.namespace()))
        .unwrap_or_default();
    let existing = match list_apps(client, &namespace).await {
        Ok(existing) => existing,
        Err(reason) => {
            warn!(%reason, "cannot check the App's dependencies");
            let mut denied = response.deny(format!(
                "cannot check spec.dependencies: {reason}; try again"
            ));
            denied.result.code = 503;
            denied.result.reason = "ServiceUnavailable".into();
            return denied;
        }
    };
    match decision::judge(&namespace, &request.name, &deps, &previous, &existing) {
        Verdict::Allow => response,
        verdict @ Verdict::Deny(_) => {
            let message = verdict.message();
            info!(%message, "App refused");
            let mut denied = response.deny(message);
            denied.result.code = 422;
            denied.result.reason = "Invalid".into();
            denied
        }
    }
}

/// The Apps of `namespace` and their dependencies, by a live list.
async fn list_apps(client: &Client, namespace: &str) -> Result<Namespace, String> {
    let resource = ApiResource::erase::<App>(&());
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let list = tokio::time::timeout(LIST_TIMEOUT, api.list(&ListParams::default()))
        .await
        .map_err(|_| format!("listing the Apps of {namespace} took over {LIST_TIMEOUT:?}"))?
        .map_err(|e| format!("listing the Apps of {namespace}: {e}"))?;
    Ok(list
        .items
        .iter()
        .map(|app| (app.name_any(), dependencies(Some(app))))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client of an API server that is not there (nothing listens on port 9): any
    /// request the handler makes fails at once.
    fn state() -> Arc<WebhookState> {
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        Arc::new(WebhookState {
            client: Client::try_from(config).unwrap(),
            reviews: Reviews::default(),
        })
    }

    fn counted(state: &WebhookState, verdict: &'static str) -> u64 {
        state.reviews.get_or_create(&ReviewLabels { verdict }).get()
    }

    async fn call(body: &str) -> (StatusCode, String) {
        call_with(&state(), body).await
    }

    async fn call_with(state: &Arc<WebhookState>, body: &str) -> (StatusCode, String) {
        let response = review(State(state.clone()), Bytes::from(body.to_string())).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    fn request(operation: &str, group: &str, kind: &str, deps: &[&str], old: &[&str]) -> String {
        let object = |d: &[&str]| {
            serde_json::json!({
                "apiVersion": format!("{group}/v1"), "kind": kind,
                "metadata": {"name": "web", "namespace": "prod"},
                "spec": {"dependencies": d},
            })
        };
        serde_json::json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                "kind": {"group": group, "version": "v1", "kind": kind},
                "resource": {"group": group, "version": "v1", "resource": "things"},
                "name": "web",
                "namespace": "prod",
                "operation": operation,
                "userInfo": {"username": "alice"},
                "object": object(deps),
                "oldObject": if operation == "UPDATE" { object(old) } else { serde_json::Value::Null },
            }
        })
        .to_string()
    }

    fn response(body: &str) -> serde_json::Value {
        let review: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(review["apiVersion"], "admission.k8s.io/v1", "{body}");
        assert_eq!(review["kind"], "AdmissionReview", "{body}");
        assert_eq!(
            review["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002",
            "{body}"
        );
        review["response"].clone()
    }

    #[tokio::test]
    async fn reviews_are_counted_by_verdict() {
        let state = state();
        call_with(&state, "garbage").await;
        call_with(&state, &request("CREATE", "", "Pod", &[], &[])).await;
        call_with(
            &state,
            &request("CREATE", "mesos.operator.dev", "App", &["db"], &[]),
        )
        .await;
        assert_eq!(counted(&state, "malformed"), 1);
        assert_eq!(counted(&state, "allowed"), 1);
        assert_eq!(counted(&state, "unchecked"), 1);
        assert_eq!(counted(&state, "denied"), 0);
    }

    #[tokio::test]
    async fn malformed_bodies_get_400() {
        for body in [
            "",
            "garbage",
            "{\"apiVersion\": \"admission.k8s.io/v1\", \"kind\": \"AdmissionReview\"}",
            "{\"request\": {\"uid\": 7}}",
        ] {
            let (status, text) = call(body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body:?}: {text}");
            assert!(text.contains("AdmissionReview"), "{text}");
        }
    }

    #[tokio::test]
    async fn other_kinds_and_operations_are_allowed_with_the_uid_echoed() {
        for body in [
            request("CREATE", "", "Pod", &["nope"], &[]),
            request("CREATE", "mesos.operator.dev", "Task", &["nope"], &[]),
            request("DELETE", "mesos.operator.dev", "App", &["nope"], &[]),
        ] {
            let (status, text) = call(&body).await;
            assert_eq!(status, StatusCode::OK, "{text}");
            assert_eq!(response(&text)["allowed"], true, "{text}");
        }
    }

    #[tokio::test]
    async fn an_app_adding_no_dependency_is_allowed_without_reading_the_api() {
        for body in [
            request("CREATE", "mesos.operator.dev", "App", &[], &[]),
            request(
                "UPDATE",
                "mesos.operator.dev",
                "App",
                &["db"],
                &["db", "old"],
            ),
        ] {
            let (status, text) = call(&body).await;
            assert_eq!(status, StatusCode::OK, "{text}");
            assert_eq!(response(&text)["allowed"], true, "{text}");
        }
    }

    #[tokio::test]
    async fn an_app_is_refused_when_its_dependencies_cannot_be_checked() {
        let body = request(
            "UPDATE",
            "mesos.operator.dev",
            "App",
            &["db", "new"],
            &["db"],
        );
        let (status, text) = call(&body).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let response = response(&text);
        assert_eq!(response["allowed"], false, "{text}");
        assert_eq!(response["status"]["code"], 503, "{text}");
        assert!(
            response["status"]["message"]
                .as_str()
                .unwrap()
                .starts_with("cannot check spec.dependencies: listing the Apps of prod"),
            "{text}"
        );
    }

    #[test]
    fn dependencies_are_read_leniently() {
        let object: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "mesos.operator.dev/v1alpha1", "kind": "App",
            "metadata": {"name": "web"}, "spec": {"dependencies": ["db", "cache"]},
        }))
        .unwrap();
        assert_eq!(dependencies(Some(&object)), vec!["db", "cache"]);
        let odd: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "mesos.operator.dev/v1alpha1", "kind": "App",
            "metadata": {"name": "web"}, "spec": {"dependencies": "db"},
        }))
        .unwrap();
        assert!(dependencies(Some(&odd)).is_empty());
        assert!(dependencies(None).is_empty());
    }
}
