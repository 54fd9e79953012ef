//! A deserialize guard: one object that does not read as its Rust type never breaks a
//! list, a watch or a start-up.
//!
//! kube decodes a list page or a watch event as a whole: one object in it that fails to
//! deserialize (a duration the schema let through, a number too large for
//! [`crate::api::Resources`], a value of the wrong type stored under an older schema)
//! fails the whole page or event. A watch then retries forever, and a start-up list never
//! succeeds, so a single object stops every controller of the kind.
//!
//! [`Guarded<K>`] is the type the operator lists and watches instead of `K`. Its
//! `Deserialize` never fails on a JSON object: it keeps either the typed object or a
//! [`Refused`] — the object's metadata, the path of the field that could not be read, that
//! field's value and the error — so the caller keeps the bad object out of its typed cache
//! and tells its owner about it on the object itself (see `runtime::invalid`), while
//! the rest of the stream goes on.
//!
//! The idea is Stackable operator-rs' `DeserializeGuard`; this one also keeps the field
//! path and value (through `serde_path_to_error`) so the message can name them.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::api::condition::ObjectCondition;

/// Reason of `Valid=False`: the object does not read as its kind.
pub const REASON_INVALID_SPEC: &str = "InvalidSpec";
/// Reason of `Valid=True` after an object was fixed.
pub const REASON_VALID_SPEC: &str = "ValidSpec";

/// The longest rendering of an offending value kept in a message.
const MAX_VALUE_CHARS: usize = 120;

/// An object that may or may not read as `K`.
#[derive(Clone, Debug)]
pub struct Guarded<K> {
    /// The typed object, or why it could not be read.
    pub object: Result<K, Box<Refused>>,
    /// Whether the object's status carries the operator's own `Valid=False` /
    /// `InvalidSpec` mark (read from the raw JSON, so it is known for valid objects too:
    /// a fixed object still marked is one to clear).
    pub marked_invalid: bool,
}

/// An object that did not read as its kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Refused {
    /// The object's metadata (read on its own, so it is known even when the rest is not).
    pub metadata: ObjectMeta,
    /// What could not be read.
    pub error: DecodeError,
    /// The message of the operator's `Valid=False` condition already on the object, if any
    /// (so that an unchanged bad object is reported once, not on every relist).
    pub reported: Option<ReportedMark>,
}

/// The operator's earlier report on an object, as found in its status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportedMark {
    /// The condition's message.
    pub message: String,
    /// The condition's `observedGeneration`.
    pub observed_generation: Option<i64>,
}

/// Where and why an object failed to deserialize.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// The JSON path of the field, e.g. `spec.killPolicy.gracePeriod` (`.` for the object
    /// itself).
    pub path: String,
    /// The field's value as JSON (shortened), when the path leads to one.
    pub value: Option<String>,
    /// The deserializer's message, e.g. `invalid MiB value 1e15: is too large`.
    pub message: String,
}

impl std::fmt::Display for DecodeError {
    /// `spec.resources.mem: cannot read 1000000000000000: invalid MiB value …`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{}: cannot read {value}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

impl<K> Guarded<K> {
    /// The typed object, if it read.
    pub fn valid(&self) -> Option<&K> {
        self.object.as_ref().ok()
    }

    /// Why the object did not read, if it did not.
    pub fn refused(&self) -> Option<&Refused> {
        self.object.as_ref().err().map(|r| &**r)
    }
}

impl<K: DeserializeOwned> Guarded<K> {
    /// Reads `value` as `K`, keeping the error, the field path and the value if it does
    /// not.
    pub fn from_value(value: Value) -> Self {
        let marked = mark_of(&value);
        let marked_invalid = marked.is_some();
        // The fast path: no path tracking for objects that read. A deserializer that
        // panics on some value (kube's Go-duration parser does on `99999999999999999999h`)
        // must not take the watch down with it: the panic refuses the object too.
        let object = match catch(|| K::deserialize(&value).map_err(|e| e.to_string())) {
            Ok(k) => Ok(k),
            Err(plain) => Err(Box::new(Refused {
                metadata: metadata_of(&value),
                error: decode_error::<K>(&value, &plain),
                reported: marked,
            })),
        };
        Guarded {
            object,
            marked_invalid,
        }
    }
}

impl<'de, K: DeserializeOwned> Deserialize<'de> for Guarded<K> {
    /// Never fails on well-formed JSON: an object that does not read as `K` becomes a
    /// [`Refused`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(Guarded::from_value)
    }
}

/// The objects of a list that read (objects that do not are left out).
pub fn readable<K: Clone>(list: kube::core::ObjectList<Guarded<K>>) -> Vec<K> {
    list.items
        .into_iter()
        .filter_map(|g| g.object.ok())
        .collect()
}

/// The error with its path: deserializes again, tracking the path this time.
fn decode_error<K: DeserializeOwned>(value: &Value, plain: &str) -> DecodeError {
    let tracked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        serde_path_to_error::deserialize::<_, K>(value)
    }));
    let Ok(tracked) = tracked else {
        return DecodeError {
            path: ".".into(),
            value: None,
            message: plain.to_string(),
        };
    };
    match tracked {
        Err(e) => {
            let path = e.path().to_string();
            let found = lookup(value, e.path());
            DecodeError {
                path,
                value: found.map(render),
                message: e.into_inner().to_string(),
            }
        }
        // Cannot happen (the same input failed a moment ago); keep the first message.
        Ok(_) => DecodeError {
            path: ".".into(),
            value: None,
            message: plain.to_string(),
        },
    }
}

/// Runs `f`, turning a panic into an error naming it.
fn catch<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(format!(
            "the value cannot be read (the deserializer panicked: {what})"
        ))
    })
}

/// The value at `path` in `value`, if the path names one.
fn lookup<'v>(value: &'v Value, path: &serde_path_to_error::Path) -> Option<&'v Value> {
    use serde_path_to_error::Segment;
    let mut at = value;
    for segment in path {
        at = match segment {
            Segment::Seq { index } => at.get(index)?,
            Segment::Map { key } => at.get(key.as_str())?,
            Segment::Enum { .. } => at,
            Segment::Unknown => return None,
        };
    }
    Some(at)
}

/// A value as compact JSON, cut to [`MAX_VALUE_CHARS`] characters.
fn render(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_VALUE_CHARS {
        return text;
    }
    let cut: String = text.chars().take(MAX_VALUE_CHARS).collect();
    format!("{cut}…")
}

/// The object's metadata, as far as it reads (the API server only stores valid metadata;
/// an unreadable one still keeps its name and namespace).
fn metadata_of(value: &Value) -> ObjectMeta {
    let raw = value.get("metadata").cloned().unwrap_or(Value::Null);
    ObjectMeta::deserialize(&raw).unwrap_or_else(|_| {
        let text = |key: &str| raw.get(key).and_then(Value::as_str).map(str::to_string);
        ObjectMeta {
            name: text("name"),
            namespace: text("namespace"),
            uid: text("uid"),
            resource_version: text("resourceVersion"),
            generation: raw.get("generation").and_then(Value::as_i64),
            ..ObjectMeta::default()
        }
    })
}

/// The operator's `Valid=False`/`InvalidSpec` condition in the raw status, if present.
fn mark_of(value: &Value) -> Option<ReportedMark> {
    let conditions = value.get("status")?.get("conditions")?.as_array()?;
    conditions.iter().find_map(|c| {
        let field = |key: &str| c.get(key).and_then(Value::as_str);
        (field("type") == Some(ObjectCondition::Valid.as_str())
            && field("status") == Some("False")
            && field("reason") == Some(REASON_INVALID_SPEC))
        .then(|| ReportedMark {
            message: field("message").unwrap_or_default().to_string(),
            observed_generation: c.get("observedGeneration").and_then(Value::as_i64),
        })
    })
}

impl<K: Resource> Resource for Guarded<K> {
    type DynamicType = K::DynamicType;
    type Scope = K::Scope;

    fn kind(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::version(dt)
    }

    fn plural(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        match &self.object {
            Ok(k) => k.meta(),
            Err(refused) => &refused.metadata,
        }
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        match &mut self.object {
            Ok(k) => k.meta_mut(),
            Err(refused) => &mut refused.metadata,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Framework, Task};
    use k8s_openapi::api::core::v1::Node;
    use kube::ResourceExt;
    use kube::core::{ObjectList, WatchEvent};
    use serde_json::json;

    fn task(name: &str, spec: Value) -> Value {
        json!({
            "apiVersion": "mesos.operator.dev/v1alpha1",
            "kind": "Task",
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"),
                         "resourceVersion": "7", "generation": 2},
            "spec": spec,
        })
    }

    fn good(name: &str) -> Value {
        task(
            name,
            json!({"framework": "demo", "resources": {"cpus": 0.1, "mem": 32}, "command": {"shell": "true"}}),
        )
    }

    fn bad_duration(name: &str) -> Value {
        task(
            name,
            json!({"framework": "demo", "resources": {"cpus": 0.1, "mem": 32}, "command": {"shell": "true"},
                   "killPolicy": {"gracePeriod": "soon"}}),
        )
    }

    fn bad_mem(name: &str) -> Value {
        task(
            name,
            json!({"framework": "demo", "resources": {"cpus": 0.1, "mem": 1e15}, "command": {"shell": "true"}}),
        )
    }

    fn names<K: Resource>(items: &[Guarded<K>], valid: bool) -> Vec<String> {
        items
            .iter()
            .filter(|g| g.object.is_ok() == valid)
            .map(|g| g.name_any())
            .collect()
    }

    #[test]
    fn a_bad_object_in_a_list_page_leaves_the_good_ones_readable() {
        let page = json!({
            "apiVersion": "mesos.operator.dev/v1alpha1", "kind": "TaskList",
            "metadata": {"resourceVersion": "42", "continue": "next"},
            "items": [good("a"), bad_duration("b"), good("c"), bad_mem("d"), good("e")],
        })
        .to_string();
        // The plain type fails the whole page: this is what broke the operator.
        assert!(serde_json::from_str::<ObjectList<Task>>(&page).is_err());
        let list: ObjectList<Guarded<Task>> = serde_json::from_str(&page).expect("a page");
        assert_eq!(names(&list.items, true), ["a", "c", "e"]);
        assert_eq!(names(&list.items, false), ["b", "d"]);
        assert_eq!(list.metadata.continue_.as_deref(), Some("next"));

        let b = list.items[1].refused().expect("refused");
        assert_eq!(b.error.path, "spec.killPolicy.gracePeriod");
        assert_eq!(b.error.value.as_deref(), Some("\"soon\""));
        assert_eq!(b.metadata.uid.as_deref(), Some("uid-b"));
        assert_eq!(b.metadata.generation, Some(2));
        let d = list.items[3].refused().expect("refused");
        assert_eq!(d.error.path, "spec.resources.mem");
        assert_eq!(d.error.value.as_deref(), Some("1000000000000000.0"));
        assert!(d.error.message.contains("too large"), "{}", d.error.message);
        assert_eq!(
            d.error.to_string(),
            format!(
                "spec.resources.mem: cannot read 1000000000000000.0: {}",
                d.error.message
            )
        );
        // The typed object is the one the plain type reads.
        let a: Task = serde_json::from_value(good("a")).expect("a task");
        assert_eq!(list.items[0].valid(), Some(&a));
    }

    #[test]
    fn a_bad_object_in_a_watch_event_is_kept_with_its_metadata() {
        for (line, path) in [
            (
                json!({"type": "ADDED", "object": bad_duration("b")}),
                "spec.killPolicy.gracePeriod",
            ),
            // The object before the type: serde buffers the content first.
            (
                json!({"object": bad_mem("d"), "type": "MODIFIED"}),
                "spec.resources.mem",
            ),
            (
                json!({"type": "DELETED", "object": task("w", json!({"framework": 7}))}),
                "spec.framework",
            ),
        ] {
            let text = line.to_string();
            assert!(serde_json::from_str::<WatchEvent<Task>>(&text).is_err());
            let event: WatchEvent<Guarded<Task>> = serde_json::from_str(&text).expect("an event");
            let object = match event {
                WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => o,
                other => panic!("unexpected {other:?}"),
            };
            let refused = object.refused().expect("refused");
            assert_eq!(refused.error.path, path);
            assert_eq!(object.namespace().as_deref(), Some("ns"));
        }
        let event: WatchEvent<Guarded<Task>> =
            serde_json::from_str(&json!({"type": "MODIFIED", "object": good("a")}).to_string())
                .expect("an event");
        assert!(matches!(event, WatchEvent::Modified(g) if g.valid().is_some()));
    }

    #[test]
    fn bookmarks_and_errors_pass_through_the_guard() {
        let bookmark = json!({"type": "BOOKMARK", "object": {
            "apiVersion": "mesos.operator.dev/v1alpha1", "kind": "Task",
            "metadata": {"resourceVersion": "99",
                         "annotations": {"k8s.io/initial-events-end": "true"}}}})
        .to_string();
        let event: WatchEvent<Guarded<Task>> = serde_json::from_str(&bookmark).expect("bookmark");
        match event {
            WatchEvent::Bookmark(b) => assert_eq!(b.metadata.resource_version, "99"),
            other => panic!("unexpected {other:?}"),
        }
        // Events after a bookmark in the same stream still read one by one.
        let lines = [
            bookmark.clone(),
            json!({"type": "ADDED", "object": bad_mem("x")}).to_string(),
            json!({"type": "ADDED", "object": good("y")}).to_string(),
        ];
        let read: Vec<WatchEvent<Guarded<Task>>> = lines
            .iter()
            .map(|l| serde_json::from_str(l).expect("an event"))
            .collect();
        assert!(matches!(&read[1], WatchEvent::Added(g) if g.refused().is_some()));
        assert!(matches!(&read[2], WatchEvent::Added(g) if g.valid().is_some()));
        let error = json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1",
            "status": "Failure", "message": "too old", "reason": "Expired", "code": 410}})
        .to_string();
        let event: WatchEvent<Guarded<Task>> = serde_json::from_str(&error).expect("error");
        assert!(matches!(event, WatchEvent::Error(s) if s.code == 410));
    }

    #[test]
    fn the_operators_own_mark_is_read_from_the_raw_status() {
        let mut marked = bad_mem("m");
        marked["status"] = json!({"state": "TASK_ERROR", "conditions": [
            {"type": "Valid", "status": "False", "reason": "InvalidSpec", "message": "old",
             "observedGeneration": 2, "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
        let g: Guarded<Task> = serde_json::from_value(marked).expect("guarded");
        assert!(g.marked_invalid);
        assert_eq!(
            g.refused().and_then(|r| r.reported.clone()),
            Some(ReportedMark {
                message: "old".into(),
                observed_generation: Some(2)
            })
        );
        // Fixed: it reads, and still carries the mark to clear.
        let mut fixed = good("m");
        fixed["status"] = json!({"conditions": [{"type": "Valid", "status": "False",
            "reason": "InvalidSpec", "message": "old", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
        let g: Guarded<Task> = serde_json::from_value(fixed).expect("guarded");
        assert!(g.valid().is_some() && g.marked_invalid);
        let g: Guarded<Task> = serde_json::from_value(good("n")).expect("guarded");
        assert!(!g.marked_invalid);
    }

    #[test]
    fn other_kinds_and_odd_shapes() {
        // A wrong type deep in a Framework.
        let fw = json!({"apiVersion": "mesos.operator.dev/v1alpha1", "kind": "Framework",
            "metadata": {"name": "f", "namespace": "ns"},
            "spec": {"offers": {"timeout": "-"}, "capabilities": ["PartitionAware", "Teleport"]}});
        let g: Guarded<Framework> = serde_json::from_value(fw).expect("guarded");
        let refused = g.refused().expect("refused");
        assert!(
            refused.error.path == "spec.offers.timeout"
                || refused.error.path.starts_with("spec.capabilities"),
            "{}",
            refused.error.path
        );
        // A Node of the wrong shape is still a Node-shaped guard.
        let node = json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": "yes"}});
        let g: Guarded<Node> = serde_json::from_value(node).expect("guarded");
        assert_eq!(g.name_any(), "n1");
        assert_eq!(
            g.refused().map(|r| r.error.path.as_str()),
            Some("spec.unschedulable")
        );
        // Unreadable metadata keeps the name.
        let odd = json!({"metadata": {"name": "o", "namespace": "ns", "labels": 5}, "spec": {}});
        let g: Guarded<Task> = serde_json::from_value(odd).expect("guarded");
        assert_eq!(g.name_any(), "o");
        assert_eq!(g.namespace().as_deref(), Some("ns"));
        // A value that makes kube's duration parser panic is refused, not a crash.
        let g: Guarded<Task> = serde_json::from_value(task(
            "p",
            json!({"framework": "f", "resources": {"cpus": 1, "mem": 1}, "command": {"shell": "x"},
                   "maxCompletionTime": "99999999999999999999h"}),
        ))
        .expect("guarded");
        let refused = g.refused().expect("refused");
        assert!(
            refused.error.message.contains("panicked"),
            "{}",
            refused.error.message
        );
        // Long values are cut.
        let long = "x".repeat(500);
        let g: Guarded<Task> = serde_json::from_value(task(
            "l",
            json!({"framework": "f", "resources": {"cpus": long}}),
        ))
        .expect("guarded");
        let value = g
            .refused()
            .and_then(|r| r.error.value.clone())
            .unwrap_or_default();
        assert!(value.chars().count() <= MAX_VALUE_CHARS + 1 && value.ends_with('…'));
    }
}
