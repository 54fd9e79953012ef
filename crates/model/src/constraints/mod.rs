//! Marathon's placement constraints: UNIQUE, CLUSTER, GROUP_BY, MAX_PER, LIKE, UNLIKE and
//! IS, on a node's name, zone, region or any label.
//!
//! - [`ConstraintSpec`] is what a custom resource holds (serde + JSON schema with CEL
//!   rules); [`parse`] checks a list of them into [`Constraints`], or names each bad one
//!   by position with what is wrong ([`ConstraintErrors`]). [`parse_marathon`] reads
//!   Marathon's `[field, OPERATOR, value]` arrays.
//! - [`PlacementTracker`] answers "may one more instance of this group go on this node?"
//!   against the nodes of the group's live instances (in-flight launches included) and its
//!   target count, and records each placement made in an allocation cycle so the next one
//!   sees it: two launches of one cycle cannot break UNIQUE or MAX_PER together.
//!   [`RejectionSummary`] turns the refusals of every node into one message.
//! - [`SpreadModel`] judges a whole set at once, for scale-down (`services::victims`).
//!
//! Semantics are Marathon's (`mesos/Constraints.scala` at 90619da): a field's value is
//! compared as text; a node without the field passes only UNLIKE; UNIQUE refuses a value
//! any instance has; CLUSTER with a value requires it, without one requires the first
//! instance's value; MAX_PER N refuses a value N instances have; LIKE and UNLIKE match the
//! whole value; GROUP_BY N with `t` target instances lets each value hold `t / N`, lets
//! `t % N` values hold one more, and takes a new value only while fewer than N are in use
//! (instances on nodes without the field count as one value, as in Marathon).
//!
//! Where this departs from Marathon, and why:
//!
//! - **GROUP_BY without a count.** Marathon's current code divides by a zero count there
//!   (it throws); its rule before the 2020 change (#7206) is used instead: a new value is
//!   always taken, a used value only while it is among the least used.
//! - **Fields.** `hostname` is the node's name, `zone` and `region` the
//!   `topology.kubernetes.io/` labels; every other field is a node label (Mesos agent
//!   attributes become labels). A label literally named `zone` is reached by its full key
//!   only if it has a prefix; the bare word means the topology label.
//! - **IS compares text only.** Kubernetes labels are text, so Marathon's scalar rounding
//!   (`1.0` IS `1`) does not apply. IS needs a non-empty value (Marathon accepted an empty
//!   one).
//! - **Counts are positive.** MAX_PER and GROUP_BY refuse 0 and negative counts (Marathon
//!   accepted any integer; 0 made MAX_PER refuse every node and GROUP_BY divide by zero).
//! - **Regular expressions** are Rust's `regex` syntax (RE2-like: no look-around or
//!   back-references) rather than Java's; patterns over 1 MiB compiled are refused.
//! - **An empty value** counts as no value, for every operator.
//! - **The target count** is an argument ([`PlacementTracker::new`]); Marathon read it
//!   from the first placed instance's app, or used 1. During a rollout, pass the
//!   deployment planner's `placement_target` (old and new instances coexist).
//! - **Whole sets** ([`SpreadModel`], used by scale-down) are judged with the set's own
//!   size as GROUP_BY's target; an instance on a node without a counted field violates
//!   the rule. Marathon judged only GROUP_BY's evenness when it scaled down.

mod attributes;
mod parse;
mod spec;
mod spread;
mod tracker;

#[cfg(test)]
pub(crate) mod tests;

pub use attributes::{Attributes, NodeAttributes};
pub use parse::{
    Constraint, ConstraintError, ConstraintErrors, ConstraintProblem, Constraints, Field,
    REGION_LABEL, Rule, ZONE_LABEL, parse, parse_marathon,
};
pub use spec::{ConstraintOperator, ConstraintSpec};
pub use spread::{SpreadCounts, SpreadModel, satisfied_by};
pub use tracker::{PlacementTracker, Rejection, RejectionSummary, evaluate};
