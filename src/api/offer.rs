//! `Offer`: resources of one agent offered to one External framework.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::resources::Resources;

/// A resource offer: free resources of one agent (Node), offered to one framework until
/// it expires. The framework accepts by creating Tasks with `spec.offer` naming it, and
/// declines by setting `spec.decline` or deleting it.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "mesos.operator.dev",
    version = "v1alpha1",
    kind = "Offer",
    namespaced,
    status = "OfferStatus",
    shortname = "offer",
    category = "mesos",
    derive = "PartialEq",
    doc = "A resource offer of one agent to one framework.",
    printcolumn(name = "Framework", type_ = "string", json_path = ".spec.framework"),
    printcolumn(name = "Agent", type_ = "string", json_path = ".spec.agent"),
    printcolumn(name = "Cpus", type_ = "number", json_path = ".spec.resources.cpus"),
    printcolumn(name = "Mem", type_ = "number", json_path = ".spec.resources.mem"),
    printcolumn(name = "State", type_ = "string", json_path = ".status.state"),
    printcolumn(name = "Expires", type_ = "date", json_path = ".spec.expiresAt"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("self.framework == oldSelf.framework && self.agent == oldSelf.agent && self.resources == oldSelf.resources").message("an offer's framework, agent and resources are immutable"))]
#[serde(rename_all = "camelCase")]
pub struct OfferSpec {
    /// The framework the offer is made to.
    #[schemars(length(min = 1, max = 253), regex(pattern = super::schema::OBJECT_NAME))]
    pub framework: String,
    /// The agent (Node name) whose resources are offered.
    #[schemars(length(min = 1, max = 253), regex(pattern = super::schema::OBJECT_NAME))]
    pub agent: String,
    /// The agent's hostname.
    #[serde(default)]
    pub hostname: String,
    /// The role the resources are allocated to.
    #[serde(default)]
    #[schemars(length(max = 128))]
    pub role: String,
    /// The offered resources.
    pub resources: Resources,
    /// Agent attributes (node labels such as zone, region, instance type).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 1024))]
    pub attributes: BTreeMap<String, String>,
    /// When the offer is rescinded if unanswered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
    /// Set by the framework to decline the offer (Mesos DECLINE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline: Option<Decline>,
}

/// A framework's answer declining an offer.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Decline {
    /// How long the agent is not offered to the framework again; defaults to the
    /// framework's `offers.refuseSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 31_536_000))]
    pub refuse_seconds: Option<u32>,
}

/// Lifecycle of an offer.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum OfferState {
    /// Waiting for the framework's answer.
    #[default]
    Outstanding,
    /// Tasks were launched on it.
    Accepted,
    /// The framework declined it.
    Declined,
    /// The operator withdrew it (expired, resources gone, framework suppressed).
    Rescinded,
}

/// Observed state of an Offer.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OfferStatus {
    /// Outstanding, Accepted, Declined or Rescinded.
    #[serde(default)]
    pub state: OfferState,
    /// What is left of the offer after the tasks launched on it.
    #[serde(default)]
    pub remaining: Resources,
    /// Until when the agent is filtered for the framework after a decline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_until: Option<Time>,
    /// When the first task was launched on the offer; the remainder returns to the pool
    /// a few seconds later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<Time>,
    /// Tasks launched on the offer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<String>,
    /// Conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::condition::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
