//! The pure allocator: weighted Dominant Resource Fairness over roles, then over
//! the frameworks of each role, with quota guarantees and limits, decline filters,
//! suppression and offer expiry — Mesos' hierarchical allocator
//! (`src/master/allocator/mesos/hierarchical.cpp`) as a function.
//!
//! A [`Snapshot`] of the cluster goes in, [`Decisions`] come out of [`allocate`]
//! (or of [`Allocator::allocate`], which keeps its working memory from one cycle to
//! the next): offers to create for External frameworks, offers to rescind, and
//! agents for the pending tasks of Builtin frameworks (placed directly, with no
//! Offer objects and so no offer churn). No I/O, no clock reads; the seeded agent
//! shuffle makes it deterministic.
//!
//! Cost: `O((agents + allocations) · log agents + allocations · log frameworks)`
//! per cycle. Agents sit in a max-segment tree in visiting order, so first fit and
//! each External framework's forward-only cursor skip full agents in `O(log
//! agents)`; roles and frameworks sit in share-keyed heaps, and only the one that
//! received an allocation is re-keyed.
//!
//! Semantics, and where they differ from Mesos:
//!
//! - Shares and quota consumption count tasks **and** outstanding offers, as Mesos'
//!   sorters do; the cluster total is the allocatable resources of available agents.
//! - [`Agent::unrequested`] does not subtract outstanding offers: the allocator
//!   subtracts the offers it keeps (oldest first) and rescinds those that no longer
//!   fit.
//! - Quota guarantees and limits are scalar only. A limit dimension left at zero is
//!   unlimited. Unmet guarantees hold headroom back even for roles with no
//!   frameworks, as in Mesos. Unlike Mesos' stage 2, an allocation that helps a role
//!   towards its own unmet guarantee is credited against the headroom in both stages.
//! - A decline filter blocks offers that are a subset of what was refused (ports
//!   included), until its deadline; filters apply to Builtin placements too.
//! - An External framework gets at most one offer per agent per cycle, and none on
//!   an agent where it still holds an outstanding offer.
//! - A Builtin task that cannot be placed does not block the framework's later
//!   tasks. Tasks are placed first-fit in the shuffled agent order (the same order
//!   for every task of a cycle), so they pack onto fewer agents. A suppressed
//!   Builtin framework places nothing.
//! - Placement constraints (Marathon's operators, [`mesos_model::constraints`]) are a
//!   property of pending tasks ([`PendingTask::group`]): an agent they refuse is skipped,
//!   judged against the group's live tasks ([`PlacementGroup::placed`], launches in
//!   flight included) and every placement made earlier in the same cycle, so two
//!   launches of one cycle never break UNIQUE or MAX_PER together. A task they keep off
//!   every agent with room is left unplaced with [`UnplacedReason::Constrained`], whose
//!   summary lists agents by name (not in the per-cycle shuffled order), so it reads the
//!   same from one cycle to the next. A task with `GROUP_BY` without a count goes to an
//!   admitted agent whose value is least used (Marathon's rule admits any least-used
//!   value, new ones included, and first fit would pile every task onto one value);
//!   Marathon could not choose, as it saw one offer at a time.
//! - A task may ask for host ports from the agent's range without naming them
//!   ([`PendingTask::random_ports`], Marathon's port 0): it fits only where that many ports
//!   are free besides its fixed ones, and [`choose_ports`] picks them (from a seeded offset,
//!   wrapping around) out of the agent's free ports, which already exclude the ports of
//!   every live pod and launch in flight, and the placements made earlier in the cycle.
//! - Mesos' default `min_allocatable_resources` (`cpus:0.01|mem:32`, any of) is the
//!   default [`MinAllocatable`]; it applies to offers, not to Builtin tasks.

mod decisions;
mod engine;
mod max_tree;
mod names;
mod ports;
mod rng;
mod scalars;
mod snapshot;

#[cfg(test)]
mod constraint_tests;
#[cfg(test)]
mod tests;

pub use decisions::{
    Decisions, FrameworkUsage, NewOffer, Placement, Rescind, RescindReason, RoleUsage, Unplaced,
    UnplacedReason,
};
pub use engine::{Allocator, allocate};
pub use ports::{choose_ports, task_seed};
pub use snapshot::{
    Agent, DeclineFilter, Framework, MinAllocatable, OutstandingOffer, PendingTask, PlacementGroup,
    Role, Snapshot, Timestamp,
};
