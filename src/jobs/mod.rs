//! Chronos/Aurora-style batch jobs: the BatchJob kind as a framework of its own on the
//! Task API.
//!
//! - [`mapping`] (pure): Tasks ↔ runs, the plan's inputs and the status;
//! - [`reconcile`] (I/O): the BatchJob controller around `mesos_model::jobs`' plan.

pub mod mapping;
pub mod reconcile;

pub use reconcile::run;
