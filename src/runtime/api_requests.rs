//! Client-side count of the operator's API server requests, by verb and resource:
//! `mesos_operator_api_requests_total{verb,resource}` on `/metrics`.
//!
//! A [`tower`](tower_layer) layer around the kube client's HTTP service classifies every
//! request from its method and URL (the API server's own verbs: `get`, `list`, `watch`,
//! `create`, `update`, `patch`, `delete`) and its resource, with the subresource after a
//! slash (`tasks/status`). Requests are counted when sent, whatever their outcome; a
//! watch counts once per (re)connection.

use std::task::{Context, Poll};

use http::{Method, Request};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// An API server verb, as in the API server's audit log and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    /// GET of one object.
    Get,
    /// GET of a collection.
    List,
    /// GET with `watch=true`.
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH (server-side apply included).
    Patch,
    /// DELETE of one object or a collection.
    Delete,
}

impl Verb {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::List => "list",
            Self::Watch => "watch",
            Self::Create => "create",
            Self::Update => "update",
            Self::Patch => "patch",
            Self::Delete => "delete",
        }
    }

    /// Whether the verb writes (create, update, patch, delete).
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Self::Create | Self::Update | Self::Patch | Self::Delete
        )
    }
}

/// Verb and resource of one request; `None` for what is not a resource request
/// (discovery, `/version`, other methods).
pub fn classify(method: &Method, path: &str, query: Option<&str>) -> Option<(Verb, String)> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // /api/v1/... and /apis/GROUP/VERSION/...
    let rest = match segments.first() {
        Some(&"api") => segments.get(2..)?,
        Some(&"apis") => segments.get(3..)?,
        _ => return None,
    };
    // namespaces/NS/RESOURCE/... is namespaced; namespaces and namespaces/NS are the
    // Namespace resource itself (namespaces/NS/status too: fewer than three segments after).
    let rest = match rest {
        ["namespaces", _, resource, ..] if !matches!(*resource, "status" | "finalize") => {
            &rest[2..]
        }
        _ => rest,
    };
    let resource = rest.first()?;
    let named = rest.len() >= 2;
    let resource = match rest.get(2) {
        Some(sub) => format!("{resource}/{sub}"),
        None => (*resource).to_string(),
    };
    let watch = query.is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let verb = match *method {
        Method::GET if watch => Verb::Watch,
        Method::GET if named => Verb::Get,
        Method::GET => Verb::List,
        Method::POST => Verb::Create,
        Method::PUT => Verb::Update,
        Method::PATCH => Verb::Patch,
        Method::DELETE => Verb::Delete,
        _ => return None,
    };
    Some((verb, resource))
}

/// Labels of `mesos_operator_api_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`).
    pub verb: String,
    /// The resource, with the subresource after a slash (`tasks/status`).
    pub resource: String,
}

/// The counters, shared by the layer and the metrics registry.
pub type RequestCounters = Family<RequestLabels, Counter>;

/// Counts each request passing through it in [`RequestCounters`].
#[derive(Clone, Debug, Default)]
pub struct CountRequestsLayer {
    counters: RequestCounters,
}

impl CountRequestsLayer {
    /// A layer counting into `counters`.
    pub fn new(counters: RequestCounters) -> Self {
        Self { counters }
    }
}

impl<S> tower_layer::Layer<S> for CountRequestsLayer {
    type Service = CountRequests<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CountRequests {
            inner,
            counters: self.counters.clone(),
        }
    }
}

/// The service of [`CountRequestsLayer`].
#[derive(Clone, Debug)]
pub struct CountRequests<S> {
    inner: S,
    counters: RequestCounters,
}

impl<S, B> tower_service::Service<Request<B>> for CountRequests<S>
where
    S: tower_service::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if let Some((verb, resource)) = classify(req.method(), req.uri().path(), req.uri().query())
        {
            self.counters
                .get_or_create(&RequestLabels {
                    verb: verb.as_str().to_string(),
                    resource,
                })
                .inc();
        }
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(method: Method, uri: &str) -> Option<(&'static str, String)> {
        let (path, query) = match uri.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (uri, None),
        };
        classify(&method, path, query).map(|(v, r)| (v.as_str(), r))
    }

    fn some(verb: &'static str, resource: &str) -> Option<(&'static str, String)> {
        Some((verb, resource.to_string()))
    }

    #[test]
    fn verbs_from_method_and_watch() {
        let tasks = "/apis/mesos.operator.dev/v1alpha1/namespaces/ns/tasks";
        assert_eq!(c(Method::GET, tasks), some("list", "tasks"));
        assert_eq!(
            c(
                Method::GET,
                &format!("{tasks}?labelSelector=a%3Db&limit=500")
            ),
            some("list", "tasks")
        );
        assert_eq!(
            c(
                Method::GET,
                &format!("{tasks}?resourceVersion=12&watch=true&timeoutSeconds=290")
            ),
            some("watch", "tasks")
        );
        assert_eq!(c(Method::GET, &format!("{tasks}/t1")), some("get", "tasks"));
        assert_eq!(c(Method::POST, tasks), some("create", "tasks"));
        assert_eq!(
            c(Method::PUT, &format!("{tasks}/t1")),
            some("update", "tasks")
        );
        assert_eq!(
            c(
                Method::PATCH,
                &format!("{tasks}/t1/status?fieldManager=m&force=true")
            ),
            some("patch", "tasks/status")
        );
        assert_eq!(
            c(Method::DELETE, &format!("{tasks}/t1")),
            some("delete", "tasks")
        );
        assert_eq!(c(Method::DELETE, tasks), some("delete", "tasks"));
        assert!(Verb::Patch.is_write() && !Verb::Watch.is_write());
    }

    #[test]
    fn core_cluster_scoped_and_all_namespaces() {
        assert_eq!(
            c(Method::GET, "/api/v1/pods?watch=1"),
            some("watch", "pods")
        );
        assert_eq!(
            c(Method::POST, "/api/v1/namespaces/ns/pods"),
            some("create", "pods")
        );
        assert_eq!(
            c(Method::POST, "/api/v1/namespaces/ns/pods/p/binding"),
            some("create", "pods/binding")
        );
        assert_eq!(c(Method::GET, "/api/v1/nodes/n1"), some("get", "nodes"));
        assert_eq!(
            c(Method::GET, "/api/v1/namespaces"),
            some("list", "namespaces")
        );
        assert_eq!(
            c(Method::DELETE, "/api/v1/namespaces/ns"),
            some("delete", "namespaces")
        );
        assert_eq!(
            c(Method::PUT, "/api/v1/namespaces/ns/status"),
            some("update", "namespaces/status")
        );
        assert_eq!(
            c(Method::POST, "/api/v1/namespaces/ns/events"),
            some("create", "events")
        );
        assert_eq!(
            c(
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l"
            ),
            some("update", "leases")
        );
    }

    #[test]
    fn non_resource_requests_are_not_counted() {
        assert_eq!(c(Method::GET, "/version"), None);
        assert_eq!(c(Method::GET, "/apis"), None);
        assert_eq!(c(Method::GET, "/apis/mesos.operator.dev/v1alpha1"), None);
        assert_eq!(c(Method::GET, "/api/v1"), None);
        assert_eq!(c(Method::OPTIONS, "/api/v1/pods"), None);
    }
}
