//! The pure Mesos model of mesos-operator.
//!
//! Everything here is a decision or the data it decides on: the API contract (the custom
//! resource types), resource arithmetic, the DRF allocator, the task-state fold, placement
//! and constraints, deployment steps and schedule math. Nothing here does I/O, reads a
//! clock or spawns a task: inputs come in as plain values (the current time included) and
//! plans come out. The crate has no async runtime and no Kubernetes client among its
//! dependencies, so the compiler keeps it that way; the `mesos-operator` crate reads the
//! API server, calls into this crate and writes the result back.

pub mod constraints;
pub mod jobs;
pub mod services;
