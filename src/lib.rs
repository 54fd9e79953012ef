//! mesos-operator: Apache Mesos' two-level scheduling model — frameworks, resource offers,
//! tasks, reconciliation — as Kubernetes custom resources reconciled to Pods.
//!
//! The pure core ([`api::resources`], [`task_state`], [`placement`], [`pod`]) decides;
//! the thin I/O layer ([`controller`]) reads the API server, calls the core and writes back.

pub mod admission;
pub mod allocator;
pub mod api;
pub mod api_requests;
pub mod cached_pod;
pub mod controller;
pub mod crds;
pub mod error;
pub mod events;
pub mod guard;
pub mod jobs;
pub mod leader;
pub mod lifecycle;
pub mod metrics;
pub mod placement;
pub mod pod;
pub mod scheduler_api;
pub mod services;
pub mod state;
pub mod task_state;
pub mod telemetry;

pub use error::{Error, Result};
