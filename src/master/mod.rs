//! Mesos' semantics on Kubernetes objects.
//!
//! Pure (no I/O, no clock of their own, unit and property tested):
//! - [`allocator`]: the DRF allocator — offers, Builtin placements, quota, constraints;
//! - [`task_state`]: a Task's Mesos state folded from its Pod;
//! - [`placement`]: what a node has free, from its Pods and the in-flight launches;
//! - [`pod`]: the Pod a Task becomes;
//! - [`lifecycle`]: framework liveness, failover and teardown;
//! - [`framework_status`]: a Framework's status and the Events of its transitions;
//! - [`offer_status`]: an Offer's answer, its remainder and when it is released;
//! - [`planned_event`]: an Event a decision asks for;
//! - [`role_status`]: a ResourceRole's holdings and quota guarantee.
//!
//! I/O: [`reconcile`], the controllers that read the caches, call the above and write.

pub mod allocator;
pub mod framework_status;
pub mod lifecycle;
pub mod offer_status;
pub mod placement;
pub mod planned_event;
pub mod pod;
pub mod reconcile;
pub mod role_status;
pub mod task_state;
