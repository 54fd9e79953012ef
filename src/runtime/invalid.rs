//! Objects that do not read as their kind: counted, kept out of the caches (see
//! [`super::cache::guarded`]) and reported on the object itself.
//!
//! A Task that does not read becomes `TASK_ERROR` with `REASON_TASK_INVALID` and a message
//! naming the field and the value; a Framework, Offer or ResourceRole gets the condition
//! `Valid=False`, reason `InvalidSpec`. Each also gets a Warning Event. The status is
//! written as a raw JSON merge patch of the status subresource, never through the Rust
//! type (which is what cannot read the object). Once the object reads again (fixed with
//! `kubectl edit`, or by a newer operator) its mark is replaced by `Valid=True` — for a
//! Task that also clears the `TASK_ERROR` the operator wrote, the one terminal state
//! that is lifted, since no pod was launched for a spec the operator could not read —
//! and the object is reconciled like any other.
//!
//! Built-in kinds the operator reads (Nodes, Pods, Leases) are counted and logged but not
//! written to: their owners are not the operator's users.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::{Api, Resource};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use super::{Context, WARNING};
use crate::api::GROUP;
use crate::api::condition::ObjectCondition;
use crate::error::{KubeContext, Result};
use crate::runtime::guard::{REASON_INVALID_SPEC, REASON_VALID_SPEC, Refused};

/// Label set of the refused-object metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// The object's kind, e.g. `Task`.
    pub kind: String,
}

/// Identity of an object across its versions.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    /// Kind.
    pub kind: String,
    /// Namespace (none for cluster-scoped kinds).
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl Key {
    fn new(kind: &str, meta: &ObjectMeta) -> Self {
        Self {
            kind: kind.to_string(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
        }
    }
}

/// What to write on an object.
#[derive(Clone, Debug, PartialEq)]
pub enum Report {
    /// It does not read: mark it.
    Invalid {
        /// The object's kind as an API resource.
        resource: ApiResource,
        /// What could not be read.
        refused: Box<Refused>,
    },
    /// It reads again but still carries the mark: clear it.
    Fixed {
        /// The object's kind as an API resource.
        resource: ApiResource,
        /// The object's metadata.
        metadata: Box<ObjectMeta>,
    },
}

#[derive(Default)]
struct State {
    /// Objects known not to read: the generation and error last refused.
    invalid: HashMap<Key, (Option<i64>, String)>,
    /// Reports to write, the latest per object.
    pending: BTreeMap<Key, Report>,
}

/// The refused objects of every watched kind: metrics, and the reports to write.
pub struct Invalids {
    refused_total: Family<KindLabels, Counter>,
    current: Family<KindLabels, Gauge>,
    state: Mutex<State>,
    wake: tokio::sync::Notify,
}

impl Default for Invalids {
    fn default() -> Self {
        Self {
            refused_total: Family::default(),
            current: Family::default(),
            state: Mutex::new(State::default()),
            wake: tokio::sync::Notify::new(),
        }
    }
}

impl Invalids {
    /// The counter of refused objects by kind (each object version counts once) and the
    /// gauge of objects currently refused, for [`crate::runtime::metrics::Metrics`].
    pub fn metrics(&self) -> (Family<KindLabels, Counter>, Family<KindLabels, Gauge>) {
        (self.refused_total.clone(), self.current.clone())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An object of `K` read: it is no longer refused; if it still carries the operator's
    /// mark (`marked`), clear the mark.
    pub fn readable<K: Resource<DynamicType = ()>>(&self, obj: &K, marked: bool, deleted: bool) {
        let kind = K::kind(&());
        let key = Key::new(&kind, obj.meta());
        let mut state = self.state();
        if state.invalid.remove(&key).is_some() {
            self.current
                .get_or_create(&KindLabels {
                    kind: kind.to_string(),
                })
                .dec();
            info!(kind = %kind, namespace = ?key.namespace, name = %key.name, "object reads again");
        }
        if deleted {
            state.pending.remove(&key);
        } else if marked && reportable::<K>() {
            state.pending.insert(
                key,
                Report::Fixed {
                    resource: ApiResource::erase::<K>(&()),
                    metadata: Box::new(obj.meta().clone()),
                },
            );
            self.wake.notify_one();
        }
    }

    /// An object of `K` did not read (`deleted`: it was deleted as such).
    pub fn refused<K: Resource<DynamicType = ()>>(&self, refused: Box<Refused>, deleted: bool) {
        let kind = K::kind(&());
        let labels = KindLabels {
            kind: kind.to_string(),
        };
        let key = Key::new(&kind, &refused.metadata);
        let mut state = self.state();
        if deleted {
            state.pending.remove(&key);
            if state.invalid.remove(&key).is_some() {
                self.current.get_or_create(&labels).dec();
            }
            return;
        }
        let error = refused.error.to_string();
        let version = (refused.metadata.generation, error.clone());
        match state.invalid.insert(key.clone(), version.clone()) {
            Some(old) if old == version => return,
            Some(_) => {}
            None => {
                self.current.get_or_create(&labels).inc();
            }
        }
        self.refused_total.get_or_create(&labels).inc();
        warn!(kind = %kind, namespace = ?key.namespace, name = %key.name, %error,
            "object does not read as its kind; left out of the cache");
        let already = refused.reported.as_ref().is_some_and(|m| {
            m.message == error && m.observed_generation == refused.metadata.generation
        });
        if reportable::<K>() && !already {
            state.pending.insert(
                key,
                Report::Invalid {
                    resource: ApiResource::erase::<K>(&()),
                    refused,
                },
            );
            self.wake.notify_one();
        }
    }

    /// Every report waiting to be written.
    pub fn take(&self) -> Vec<(Key, Report)> {
        std::mem::take(&mut self.state().pending)
            .into_iter()
            .collect()
    }

    /// Puts back a report whose write failed, unless a newer one came meanwhile.
    fn retry(&self, key: Key, report: Report) {
        self.state().pending.entry(key).or_insert(report);
    }

    /// Objects currently refused, by kind (for tests and the log).
    pub fn count(&self, kind: &str) -> usize {
        self.state()
            .invalid
            .keys()
            .filter(|k| k.kind == kind)
            .count()
    }
}

/// Only the operator's own kinds get a status report.
fn reportable<K: Resource<DynamicType = ()>>() -> bool {
    K::group(&()) == GROUP
}

/// The status the operator applies to an object that does not read: for a Task
/// `TASK_ERROR`/`REASON_TASK_INVALID` with the message, for any kind the condition
/// `Valid=False`, reason `InvalidSpec`.
pub fn invalid_status(kind: &str, refused: &Refused, now: &Time) -> Value {
    let message = refused.error.to_string();
    let generation = refused.metadata.generation;
    let valid = json!({
        "type": ObjectCondition::Valid.as_str(), "status": "False", "reason": REASON_INVALID_SPEC,
        "message": message, "observedGeneration": generation, "lastTransitionTime": now,
    });
    if kind == "Task" {
        json!({
            "state": "TASK_ERROR",
            "reason": "REASON_TASK_INVALID",
            "source": "SOURCE_MASTER",
            "message": format!("the operator cannot read this Task: {message}"),
            "observedGeneration": generation,
            "finishTime": now,
            "conditions": [valid, {
                "type": crate::api::task::TaskCondition::Terminated.as_str(), "status": "True",
                "reason": "TASK_ERROR", "message": message,
                "observedGeneration": generation, "lastTransitionTime": now,
            }],
        })
    } else {
        json!({ "observedGeneration": generation, "conditions": [valid] })
    }
}

/// The status (a merge patch) the operator writes on a fixed object that still carries its
/// mark: `Valid=True`, and for a Task the `TASK_ERROR` of the report removed, so the
/// task's controller starts afresh (no pod was launched for the unreadable spec).
pub fn fixed_status(kind: &str, generation: Option<i64>, now: &Time) -> Value {
    let mut status = json!({
        "observedGeneration": generation,
        "conditions": [{
            "type": ObjectCondition::Valid.as_str(), "status": "True", "reason": REASON_VALID_SPEC,
            "message": format!("the {kind} reads again"),
            "observedGeneration": generation, "lastTransitionTime": now,
        }],
    });
    if kind == "Task" {
        for field in ["state", "reason", "message", "source", "finishTime"] {
            status[field] = Value::Null;
        }
    }
    status
}

/// Writes the waiting reports until the process ends (run by the leader only).
pub async fn run(ctx: Arc<Context>) {
    let mut delay = Duration::from_secs(1);
    loop {
        let woken = ctx.invalids.wake.notified();
        let mut failed = false;
        for (key, report) in ctx.invalids.take() {
            match write(&ctx, &report).await {
                Ok(()) => {}
                // Gone, or changed meanwhile: its next version is refused (or read) anew.
                Err(e) if e.is_not_found() || e.is_conflict() => {
                    debug!(?key, error = %e, "object changed before its report was written");
                }
                Err(e) => {
                    warn!(?key, error = %e, retry_in = ?delay, "could not report an invalid object");
                    ctx.invalids.retry(key, report);
                    failed = true;
                }
            }
        }
        if failed {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = woken => {}
            }
            delay = (delay * 2).min(Duration::from_secs(60));
        } else {
            delay = Duration::from_secs(1);
            woken.await;
        }
    }
}

async fn write(ctx: &Context, report: &Report) -> Result<()> {
    let now = Time(Timestamp::now());
    let (resource, metadata, status) = match report {
        Report::Invalid { resource, refused } => (
            resource,
            &refused.metadata,
            invalid_status(&resource.kind, refused, &now),
        ),
        Report::Fixed { resource, metadata } => (
            resource,
            &**metadata,
            fixed_status(&resource.kind, metadata.generation, &now),
        ),
    };
    let name = metadata.name.clone().unwrap_or_default();
    let api: Api<DynamicObject> = match metadata.namespace.as_deref() {
        Some(ns) => Api::namespaced_with(ctx.client.clone(), ns, resource),
        None => Api::all_with(ctx.client.clone(), resource),
    };
    // A JSON merge patch, not server-side apply: apply needs the live object to match the
    // schema's types (it builds a typed object for field ownership), which is exactly what
    // an object stored under an older schema may not do. The resourceVersion is a
    // precondition: a report on a version that changed meanwhile is refused (409).
    let body = json!({
        "metadata": { "resourceVersion": metadata.resource_version },
        "status": status,
    });
    let written = api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&body))
        .await
        .context(|| format!("reporting on {} {name}", resource.kind));
    // 422: the API server validates the whole object on a status write, and a rule of the
    // installed schema cannot even evaluate on a field of the wrong type (CEL errors are
    // not ratcheted). No status can be written then, until the object is fixed; the Event
    // below still tells the owner (`kubectl describe` shows it with the object).
    let refused_status = match &written {
        Err(e) if e.is_invalid() => {
            warn!(kind = %resource.kind, namespace = ?metadata.namespace, %name, error = %e,
                "the API server refuses any status for this object; reporting with an Event only");
            true
        }
        Err(_) => return written.map(|_| ()),
        Ok(_) => false,
    };
    if let Report::Invalid { refused, .. } = report {
        let regarding = ObjectReference {
            api_version: Some(resource.api_version.clone()),
            kind: Some(resource.kind.clone()),
            name: Some(name.clone()),
            namespace: metadata.namespace.clone(),
            uid: metadata.uid.clone(),
            ..ObjectReference::default()
        };
        let mut note = format!(
            "the operator cannot read this {}: {}; fix or delete it",
            resource.kind, refused.error
        );
        if refused_status {
            note.push_str(
                " (its status cannot be written: it does not match the installed schema)",
            );
        }
        if let Err(e) = ctx
            .recorder
            .publish(regarding, WARNING, REASON_INVALID_SPEC, "Validate", note)
            .await
        {
            warn!(error = %e, "could not publish event");
        }
    }
    info!(kind = %resource.kind, namespace = ?metadata.namespace, %name,
        fixed = matches!(report, Report::Fixed { .. }), "reported on an invalid object");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Task, TaskReason, TaskState, TaskStatus};
    use crate::runtime::guard::Guarded;
    use k8s_openapi::api::core::v1::Node;

    fn bad_task(generation: i64, mem: Value, status: Option<Value>) -> Guarded<Task> {
        let mut v = json!({
            "apiVersion": "mesos.operator.dev/v1alpha1", "kind": "Task",
            "metadata": {"name": "t", "namespace": "ns", "uid": "u", "generation": generation,
                         "resourceVersion": "1"},
            "spec": {"framework": "demo", "resources": {"cpus": 1, "mem": mem},
                     "command": {"shell": "true"}},
        });
        if let Some(status) = status {
            v["status"] = status;
        }
        serde_json::from_value(v).expect("guarded")
    }

    fn refused(g: Guarded<Task>) -> Box<Refused> {
        match g.object {
            Err(r) => r,
            Ok(_) => panic!("expected a refused object"),
        }
    }

    fn now() -> Time {
        Time(Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH))
    }

    #[test]
    fn the_task_report_reads_as_a_task_status_naming_field_and_value() {
        let r = refused(bad_task(3, json!(1e15), None));
        let status: TaskStatus =
            serde_json::from_value(invalid_status("Task", &r, &now())).expect("a TaskStatus");
        assert_eq!(status.state, Some(TaskState::Error));
        assert_eq!(status.reason, Some(TaskReason::ReasonTaskInvalid));
        let message = status.message.unwrap_or_default();
        assert!(
            message.contains("spec.resources.mem") && message.contains("1000000000000000"),
            "{message}"
        );
        assert_eq!(status.observed_generation, Some(3));
        let valid = status
            .conditions
            .iter()
            .find(|c| c.type_ == "Valid")
            .expect("Valid");
        assert_eq!(
            (valid.status.as_str(), valid.reason.as_str()),
            ("False", "InvalidSpec")
        );
        // The next version carries this mark: it is recognised as already reported.
        let marked = bad_task(3, json!(1e15), Some(invalid_status("Task", &r, &now())));
        let again = refused(marked);
        assert_eq!(
            again.reported.as_ref().map(|m| m.message.as_str()),
            Some(r.error.to_string().as_str())
        );
        let other = invalid_status("Framework", &r, &now());
        assert!(other.get("state").is_none());
        assert_eq!(other["conditions"][0]["reason"], "InvalidSpec");
        let fixed = fixed_status("Task", Some(4), &now());
        assert_eq!(fixed["conditions"][0]["status"], "True");
        assert_eq!(fixed["state"], Value::Null);
        assert!(
            fixed_status("Offer", Some(4), &now())
                .get("state")
                .is_none()
        );
    }

    #[test]
    fn each_object_version_is_counted_and_reported_once() {
        let invalids = Invalids::default();
        invalids.refused::<Task>(refused(bad_task(1, json!(1e15), None)), false);
        // The same version again (a relist, or the event of the operator's own status
        // write): nothing new.
        invalids.refused::<Task>(refused(bad_task(1, json!(1e15), None)), false);
        let (total, current) = invalids.metrics();
        let task = KindLabels {
            kind: "Task".into(),
        };
        assert_eq!(total.get_or_create(&task).get(), 1);
        assert_eq!(current.get_or_create(&task).get(), 1);
        assert_eq!(invalids.take().len(), 1);
        assert!(invalids.take().is_empty());

        // A new generation with a new error: counted and reported again.
        invalids.refused::<Task>(refused(bad_task(2, json!(-1), None)), false);
        assert_eq!(total.get_or_create(&task).get(), 2);
        assert_eq!(current.get_or_create(&task).get(), 1);
        assert!(matches!(
            invalids.take().as_slice(),
            [(_, Report::Invalid { .. })]
        ));

        // Already marked with this very message on the object (after a restart): counted,
        // not written again.
        let r = refused(bad_task(2, json!(-1), None));
        let status = invalid_status("Task", &r, &now());
        let restarted = Invalids::default();
        restarted.refused::<Task>(refused(bad_task(2, json!(-1), Some(status.clone()))), false);
        assert_eq!(restarted.count("Task"), 1);
        assert!(restarted.take().is_empty());

        // Fixed: no longer counted as current; the mark is cleared.
        let fixed: Guarded<Task> = {
            let mut v =
                serde_json::to_value(bad_task(2, json!(64), None).valid().cloned()).expect("json");
            v["status"] = status;
            serde_json::from_value(v).expect("guarded")
        };
        let marked = fixed.marked_invalid;
        let task_obj = fixed.object.expect("reads");
        invalids.readable(&task_obj, marked, false);
        assert_eq!(current.get_or_create(&task).get(), 0);
        assert!(matches!(
            invalids.take().as_slice(),
            [(_, Report::Fixed { .. })]
        ));

        // Built-in kinds are counted but never written to.
        let node: Guarded<Node> = serde_json::from_value(
            json!({"metadata": {"name": "n"}, "spec": {"unschedulable": "yes"}}),
        )
        .expect("guarded");
        invalids.refused::<Node>(node.object.expect_err("refused"), false);
        assert_eq!(invalids.count("Node"), 1);
        assert!(invalids.take().is_empty());

        // Deleted while refused: forgotten.
        invalids.refused::<Task>(refused(bad_task(5, json!(-1), None)), false);
        invalids.refused::<Task>(refused(bad_task(5, json!(-1), None)), true);
        assert_eq!(invalids.count("Task"), 0);
        assert!(invalids.take().is_empty());
    }
}
