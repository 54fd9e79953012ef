//! Schema pieces shared by the kinds: Go durations with per-field bounds, object names.
//!
//! Each one accepts only values the Rust types read (the structural property test in
//! `tests/e2e/schema_property.rs` holds the schema to that).

use schemars::{Schema, SchemaGenerator, json_schema};

/// A DNS-1123 subdomain: what Kubernetes accepts as the name of a Framework, Offer, Task
/// or Node.
pub const OBJECT_NAME: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// A Mesos role name: `/`-separated components, each of letters, digits, `_`, `-` and
/// `.`, not starting with `.` or `-` (so never `.` or `..`), none empty. `*` (the default
/// role) is allowed by a separate rule.
pub const ROLE_NAME: &str = r"^[a-zA-Z0-9_][a-zA-Z0-9_.-]*(/[a-zA-Z0-9_][a-zA-Z0-9_.-]*)*$";

/// A non-negative Go duration as `time.ParseDuration` (and kube's `Duration`) reads it:
/// `0`, or number-unit pairs such as `1h30m`, `1.5s`, `300ms`; no sign.
pub const GO_DURATION: &str = r"^(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$";

/// The longest duration string accepted.
pub const DURATION_MAX_LENGTH: u32 = 64;

fn duration(min: &str, max: &str) -> Schema {
    json_schema!({
        "type": "string",
        "maxLength": DURATION_MAX_LENGTH,
        "pattern": GO_DURATION,
        "x-kubernetes-validations": [{
            // Guarded by the pattern: a string that is no duration at all fails the
            // pattern (which the API server ratchets: an object stored under an older
            // schema can still have its status written), not an evaluation error here.
            "rule": format!(
                "!self.matches(r'{GO_DURATION}') || (duration(self) >= duration('{min}') && duration(self) <= duration('{max}'))"
            ),
            "message": format!("must be a duration from {min} to {max}"),
        }],
    })
}

/// `killPolicy.gracePeriod`: 0s to 24h (the Pod's `terminationGracePeriodSeconds`).
pub fn grace_period(_: &mut SchemaGenerator) -> Schema {
    duration("0s", "24h")
}

/// `maxCompletionTime`: 1s to 8760h (a year).
pub fn max_completion_time(_: &mut SchemaGenerator) -> Schema {
    duration("1s", "8760h")
}

/// `failoverTimeout`: 0s (tear down at once, Mesos' default) to 87600h (ten years).
pub fn failover_timeout(_: &mut SchemaGenerator) -> Schema {
    duration("0s", "87600h")
}

/// `offers.timeout`: 1s to 24h (a shorter offer would be rescinded before any scheduler
/// could answer it).
pub fn offer_timeout(_: &mut SchemaGenerator) -> Schema {
    duration("1s", "24h")
}
