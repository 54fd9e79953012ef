//! The master's controllers (I/O): each reads the shared caches, asks the pure core
//! ([`crate::master`]) what the world should look like, and writes the difference back
//! with server-side apply.
//!
//! - [`allocation`]: the allocation loop — offers to External frameworks, placements of
//!   Builtin tasks;
//! - [`task`]: a Task to its Pod and its status;
//! - [`framework`], [`offer`], [`role`]: the status of the other kinds.

// Reconcilers read, call a pure decision and write: they stay short (clippy.toml sets
// the bar at 60 lines).
#![warn(clippy::too_many_lines)]

pub mod allocation;
pub mod framework;
pub mod offer;
pub mod role;
pub mod task;
