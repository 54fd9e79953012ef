//! The public contract: custom resource types of the `mesos.operator.dev/v1alpha1` API
//! and the resource arithmetic they share.

// `#[kube(printcolumn(...))]` repeats `type_ = ...` per column, which clippy mistakes for
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

pub mod app;
pub mod batchjob;
pub mod condition;
pub mod framework;
pub mod offer;
pub mod resources;
pub mod role;
pub mod schema;
pub mod task;

pub use app::{App, AppSpec, AppStatus};
pub use batchjob::{BatchJob, BatchJobSpec, BatchJobStatus};
pub use condition::{ConditionStatus, Conditions};
pub use framework::{
    Framework, FrameworkCapability, FrameworkSpec, FrameworkStatus, OfferSettings, SchedulerKind,
    TaskCounts,
};
pub use offer::{Offer, OfferSpec, OfferState, OfferStatus};
pub use resources::Resources;
pub use role::{Quota, ResourceRole, ResourceRoleSpec, ResourceRoleStatus};
pub use task::{
    CommandSpec, HealthCheck, KillPolicy, Task, TaskPlacement, TaskReason, TaskSource, TaskSpec,
    TaskState, TaskStatus, TaskStatusEntry,
};

/// The API group of every kind this operator serves.
pub const GROUP: &str = "mesos.operator.dev";
/// The API version of every kind this operator serves.
pub const VERSION: &str = "v1alpha1";

/// Label on every Pod the operator creates: the name of its Task.
pub const LABEL_TASK: &str = "mesos.operator.dev/task";
/// Label on every Pod the operator creates: the name of the Task's Framework.
pub const LABEL_FRAMEWORK: &str = "mesos.operator.dev/framework";
/// Standard label marking what the operator manages.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Value of [`LABEL_MANAGED_BY`].
pub const MANAGER: &str = "mesos-operator";
