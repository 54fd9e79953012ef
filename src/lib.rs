//! mesos-operator: Apache Mesos' two-level scheduling model — frameworks, resource offers,
//! tasks, reconciliation — as Kubernetes custom resources reconciled to Pods.
//!
//! The layout shows the architecture:
//!
//! - [`api`]: the contract — the custom resources' Rust types, from which the CRDs are
//!   generated;
//! - [`master`]: Mesos' semantics — the pure core (allocator, task state, placement, pod
//!   builder, framework lifecycle) and, in `master::reconcile`, the controllers around it;
//! - [`scheduler_api`], [`services`], [`jobs`]: the frameworks built on the Task API (the
//!   Mesos v1 scheduler HTTP API, Marathon-style services, Chronos/Aurora-style jobs),
//!   each a pure mapping beside its reconciler;
//! - [`runtime`]: the process — context, caches and indexes, the controller scaffold,
//!   Events, leader election, metrics, telemetry;
//! - [`admission`]: the validating webhook for what a schema cannot check (an App's
//!   dependencies);
//! - [`cli`]: the `crds` and `state` subcommands.
//!
//! Pure decisions that need no Kubernetes types live in the workspace crate `mesos-model`,
//! so the compiler enforces that they do no I/O.

pub mod admission;
pub mod api;
pub mod cli;
pub mod error;
pub mod jobs;
pub mod master;
pub mod runtime;
pub mod scheduler_api;
pub mod services;

pub use error::{Error, Result};
