//! `ResourceRole`: a Mesos role with its weight and quota.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::resources::Resources;

/// A Mesos role: its weight in weighted DRF and its quota. Frameworks name their role in
/// `spec.role`; a role without a ResourceRole has weight 1 and no quota. (Named
/// `ResourceRole` because `Role` is RBAC's.)
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "mesos.operator.dev",
    version = "v1alpha1",
    kind = "ResourceRole",
    status = "ResourceRoleStatus",
    shortname = "mrole",
    category = "mesos",
    derive = "PartialEq",
    doc = "A Mesos role: weight and quota.",
    printcolumn(name = "Weight", type_ = "number", json_path = ".spec.weight"),
    printcolumn(
        name = "Allocated-Cpus",
        type_ = "number",
        json_path = ".status.allocated.cpus"
    ),
    printcolumn(
        name = "Allocated-Mem",
        type_ = "number",
        json_path = ".status.allocated.mem"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRoleSpec {
    /// The role's weight: under contention roles get resources in proportion to their
    /// weights (weighted DRF).
    #[serde(default = "default_weight")]
    #[x_kube(validation = Rule::new("self > 0.0").message("spec.weight must be greater than 0"))]
    #[schemars(range(max = 1_000_000))]
    pub weight: f64,
    /// The role's quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
}

fn default_weight() -> f64 {
    1.0
}

/// A role's quota: a guarantee it is served first, and a limit it never exceeds.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[x_kube(validation = Rule::new("!has(self.guarantee) || !has(self.limit) || ((!has(self.guarantee.cpus) || (has(self.limit.cpus) && self.guarantee.cpus <= self.limit.cpus)) && (!has(self.guarantee.mem) || (has(self.limit.mem) && self.guarantee.mem <= self.limit.mem)))").message("spec.quota.guarantee must not exceed spec.quota.limit"))]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    /// Resources the role is guaranteed (served before any role's fair share).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guarantee: Option<Resources>,
    /// Resources the role never exceeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Resources>,
}

/// Observed state of a ResourceRole.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRoleStatus {
    /// Resources allocated to the role's frameworks.
    #[serde(default)]
    pub allocated: Resources,
    /// Resources offered to the role's frameworks.
    #[serde(default)]
    pub offered: Resources,
    /// Conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "super::condition::conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status reflects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

super::condition::condition_types! {
    /// The condition types of a ResourceRole.
    RoleCondition {
        /// The role's allocation covers its quota guarantee.
        GuaranteeMet,
    }
}
