//! Marathon-style services: the App kind as a framework of its own on the Task API.
//!
//! - [`mapping`] (pure): Tasks ↔ instances, versions, the planner's inputs and the status;
//! - [`reconcile`] (I/O): the App controller around `mesos_model::services`' deployment
//!   planner.

pub mod mapping;
pub mod reconcile;

pub use reconcile::run;
