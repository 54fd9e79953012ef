//! How a status is written (`--status-patch`): a server-side apply, or a JSON merge patch
//! of what changed. Both carry the object's resourceVersion as a precondition, so a status
//! computed from a stale object is refused (409) instead of overwriting a newer one.
//!
//! A merge patch sends only the status fields that differ from the object's current
//! status (a field that went away is sent as `null`); an apply sends the whole status and
//! makes the API server compute the field manager's ownership of every field on each
//! write. The benchmark (`bench/README.md`, "Cost per task") measures the two.

use serde_json::{Map, Value};

/// How the status subresource is written (`--status-patch`).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusPatch {
    /// Server-side apply of the whole status (field manager `mesos-operator`, forced).
    Apply,
    /// A JSON merge patch of the changed status fields, with the resourceVersion
    /// precondition.
    #[default]
    Merge,
}

/// The JSON merge patch (RFC 7386) that turns `current` into `next`, both objects:
/// changed and new members with their new value (objects recursively, arrays whole),
/// members `next` lacks as `null`. `None` when nothing changed.
pub fn merge_diff(current: &Value, next: &Value) -> Option<Value> {
    match (current, next) {
        (Value::Object(cur), Value::Object(nxt)) => {
            let mut patch = Map::new();
            for (key, value) in nxt {
                match cur.get(key) {
                    Some(old) if old == value => {}
                    Some(old @ Value::Object(_)) if value.is_object() => {
                        if let Some(inner) = merge_diff(old, value) {
                            patch.insert(key.clone(), inner);
                        }
                    }
                    // A null in `next` removes the member; one `current` lacks is no change.
                    None if value.is_null() => {}
                    _ => {
                        patch.insert(key.clone(), value.clone());
                    }
                }
            }
            for (key, old) in cur {
                if !nxt.contains_key(key) && !old.is_null() {
                    patch.insert(key.clone(), Value::Null);
                }
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        (cur, nxt) if cur == nxt => None,
        (_, nxt) => Some(nxt.clone()),
    }
}

/// The body of a merge patch of the status subresource from `current` (the object's
/// status, `null` when it has none) to `next`, preconditioned on `resource_version`.
/// `None` when the status would not change.
pub fn merge_body(current: &Value, next: &Value, resource_version: Option<&str>) -> Option<Value> {
    let empty = Value::Object(Map::new());
    let current = if current.is_object() { current } else { &empty };
    let status = merge_diff(current, next)?;
    let mut body = serde_json::json!({ "status": status });
    if let Some(rv) = resource_version {
        body["metadata"] = serde_json::json!({ "resourceVersion": rv });
    }
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 7386's application of a merge patch, to check that a diff reproduces `next`.
    fn apply_merge(target: &Value, patch: &Value) -> Value {
        match patch {
            Value::Object(p) => {
                let mut out = match target {
                    Value::Object(t) => t.clone(),
                    _ => Map::new(),
                };
                for (k, v) in p {
                    if v.is_null() {
                        out.remove(k);
                    } else {
                        let merged = apply_merge(out.get(k).unwrap_or(&Value::Null), v);
                        out.insert(k.clone(), merged);
                    }
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }

    #[test]
    fn only_what_changed_is_sent_and_what_went_away_is_nulled() {
        let current = json!({
            "state": "TASK_STARTING",
            "pod": "p",
            "message": "waiting",
            "history": [{"state": "TASK_STAGING"}],
            "nested": {"a": 1, "b": 2},
        });
        let next = json!({
            "state": "TASK_RUNNING",
            "pod": "p",
            "history": [{"state": "TASK_STAGING"}, {"state": "TASK_RUNNING"}],
            "nested": {"a": 1, "b": 3},
        });
        let diff = merge_diff(&current, &next).expect("a change");
        assert_eq!(
            diff,
            json!({
                "state": "TASK_RUNNING",
                "message": null,
                "history": [{"state": "TASK_STAGING"}, {"state": "TASK_RUNNING"}],
                "nested": {"b": 3},
            })
        );
        assert_eq!(apply_merge(&current, &diff), next);
    }

    #[test]
    fn no_change_is_no_patch() {
        let status = json!({"state": "TASK_RUNNING", "history": [1, 2]});
        assert_eq!(merge_diff(&status, &status), None);
        // A null member and an absent one are the same status.
        assert_eq!(
            merge_diff(&json!({"a": 1}), &json!({"a": 1, "message": null})),
            None
        );
        assert_eq!(merge_body(&Value::Null, &json!({}), Some("7")), None);
    }

    #[test]
    fn the_body_carries_the_resource_version_precondition() {
        let body = merge_body(&Value::Null, &json!({"state": "TASK_RUNNING"}), Some("42"))
            .expect("a change");
        assert_eq!(
            body,
            json!({"metadata": {"resourceVersion": "42"}, "status": {"state": "TASK_RUNNING"}})
        );
    }

    #[test]
    fn a_diff_applied_gives_the_next_status() {
        let cases = [
            (json!({}), json!({"a": {"b": [1]}})),
            (json!({"a": {"b": [1]}}), json!({})),
            (json!({"a": {"b": 1, "c": 2}}), json!({"a": {"c": 2}})),
            (json!({"a": "x"}), json!({"a": {"b": 1}})),
            (json!({"a": {"b": 1}}), json!({"a": "x"})),
        ];
        for (current, next) in cases {
            let diff = merge_diff(&current, &next).expect("a change");
            assert_eq!(apply_merge(&current, &diff), next, "{current} → {next}");
        }
    }
}
