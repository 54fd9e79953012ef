//! The evaluator: may an instance of a group go on this node, given where the group's live
//! instances (in-flight launches included) already are? [`PlacementTracker`] keeps the
//! counts per value, and records each placement as it is made within an allocation cycle,
//! so the next placement of the same cycle sees it.

use std::collections::BTreeMap;
use std::fmt;

use super::{Attributes, Constraint, Constraints, Field, Rule};

/// Why a node was refused: which constraint, and a message for the task's condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The constraint's position in the spec's list (0-based).
    pub index: usize,
    /// The constraint as written (`zone UNIQUE`).
    pub constraint: String,
    /// What is wrong with this node (`zone-a already has an instance`).
    pub message: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "constraint {} ({}): {}",
            self.index, self.constraint, self.message
        )
    }
}

impl std::error::Error for Rejection {}

/// How many of the group's instances are on nodes with each value of one field.
#[derive(Clone, Debug, Default)]
struct ValueCounts {
    /// Instances per value (looked up by `&str`, without allocating: checks run once per
    /// candidate node in the allocator's hot loop).
    counts: BTreeMap<String, u32>,
    /// Instances on nodes without the field (Marathon counts them as a group of their
    /// own).
    missing: u32,
    /// The value of the first placement (what CLUSTER without a value pins).
    first: Option<Option<String>>,
}

impl ValueCounts {
    fn count(&self, value: &str) -> u32 {
        self.counts.get(value).copied().unwrap_or(0)
    }

    /// The count of `value`, if some instance has it.
    fn get(&self, value: &str) -> Option<u32> {
        self.counts.get(value).copied()
    }

    /// Every group's count, the instances without the field included as one.
    fn all(&self) -> impl Iterator<Item = u32> + '_ {
        self.counts
            .values()
            .copied()
            .chain((self.missing > 0).then_some(self.missing))
    }

    /// How many groups are in use (the instances without the field as one).
    fn groups(&self) -> usize {
        self.counts.len() + usize::from(self.missing > 0)
    }

    fn add(&mut self, value: Option<&str>) {
        if self.first.is_none() {
            self.first = Some(value.map(str::to_string));
        }
        match value {
            Some(value) => match self.counts.get_mut(value) {
                Some(count) => *count += 1,
                None => {
                    self.counts.insert(value.to_string(), 1);
                }
            },
            None => self.missing += 1,
        }
    }
}

/// The constraints of one group (an app's instances) and where its instances are.
#[derive(Clone, Debug)]
pub struct PlacementTracker<'c> {
    constraints: &'c Constraints,
    target: u32,
    placed: u32,
    /// One entry per constraint, in order.
    values: Vec<ValueCounts>,
}

impl<'c> PlacementTracker<'c> {
    /// A tracker for a group that should have `target` instances and has none placed yet.
    pub fn new(constraints: &'c Constraints, target: u32) -> Self {
        Self {
            constraints,
            target,
            placed: 0,
            values: vec![ValueCounts::default(); constraints.len()],
        }
    }

    /// A tracker seeded with the nodes of the group's live instances (in-flight launches
    /// included), in order: the first one is what CLUSTER without a value pins.
    pub fn with_placements<I>(constraints: &'c Constraints, target: u32, placements: I) -> Self
    where
        I: IntoIterator,
        I::Item: Attributes,
    {
        let mut tracker = Self::new(constraints, target);
        for node in placements {
            tracker.record(&node);
        }
        tracker
    }

    /// How many placements it knows.
    pub fn placed(&self) -> u32 {
        self.placed
    }

    /// The group's target instance count (what GROUP_BY spreads).
    pub fn target(&self) -> u32 {
        self.target
    }

    /// Changes the target instance count (for a group whose target is "the instances
    /// placed so far and this one", which grows with each placement).
    pub fn set_target(&mut self, target: u32) {
        self.target = target;
    }

    /// Whether one more instance may go on `node`: `Err` names the first constraint that
    /// refuses it.
    pub fn check<A: Attributes + ?Sized>(&self, node: &A) -> Result<(), Rejection> {
        for (constraint, values) in self.constraints.iter().zip(&self.values) {
            let value = node.value_of(&constraint.field);
            if let Err(message) = self.check_one(constraint, values, value, node.hostname()) {
                return Err(Rejection {
                    index: constraint.index,
                    constraint: constraint.spec.to_string(),
                    message,
                });
            }
        }
        Ok(())
    }

    /// Records an instance placed on `node` (whether or not the constraints admitted it).
    pub fn record<A: Attributes + ?Sized>(&mut self, node: &A) {
        for (constraint, values) in self.constraints.iter().zip(self.values.iter_mut()) {
            values.add(node.value_of(&constraint.field));
        }
        self.placed += 1;
    }

    /// [`check`](Self::check), and [`record`](Self::record) when admitted.
    pub fn place<A: Attributes + ?Sized>(&mut self, node: &A) -> Result<(), Rejection> {
        self.check(node)?;
        self.record(node);
        Ok(())
    }

    fn check_one(
        &self,
        constraint: &Constraint,
        values: &ValueCounts,
        value: Option<&str>,
        hostname: &str,
    ) -> Result<(), String> {
        let Some(value) = value else {
            return match constraint.rule {
                Rule::Unlike(_) => Ok(()),
                _ => Err(missing(&constraint.field, hostname)),
            };
        };
        let field = &constraint.field;
        match &constraint.rule {
            Rule::Unique => match values.count(value) {
                0 => Ok(()),
                _ => Err(format!("{value} already has an instance")),
            },
            Rule::Cluster(None) => check_cluster_first(field, values, value),
            Rule::GroupBy(Some(n)) => self.check_group_by(field, values, value, *n),
            Rule::GroupBy(None) => check_even(values, value),
            Rule::MaxPer(n) => match values.count(value) {
                c if c < *n => Ok(()),
                c => Err(format!("{value} already has {c} instances (at most {n})")),
            },
            rule if rule.admits_value(Some(value)) => Ok(()),
            Rule::Like(_) => Err(format!("{field} is {value}, which does not match")),
            Rule::Unlike(_) => Err(format!("{field} is {value}, which matches")),
            Rule::Is(want) | Rule::Cluster(Some(want)) => {
                Err(format!("{field} is {value}, not {want}"))
            }
        }
    }

    /// Marathon's GROUP_BY with a count (`Constraints.scala`, `checkGroupBy`): with `t`
    /// target instances over `n` values, each value holds `t / n`, and `t % n` of them may
    /// hold one more; a new value is taken only while fewer than `n` are in use.
    fn check_group_by(
        &self,
        field: &Field,
        values: &ValueCounts,
        value: &str,
        n: u32,
    ) -> Result<(), String> {
        let per_value = self.target / n;
        let remainder = self.target % n;
        let consumed: u32 = values.all().map(|c| c.saturating_sub(per_value)).sum();
        let used = u32::try_from(values.groups()).unwrap_or(u32::MAX);
        match values.get(value).as_ref() {
            None if used < n => Ok(()),
            None => Err(format!(
                "{used} values of {field} are in use already, the most GROUP_BY {n} allows"
            )),
            Some(&c) if c < per_value || (c == per_value && consumed < remainder) => Ok(()),
            Some(&c) => Err(format!(
                "{value} already holds {c} instances, the most GROUP_BY {n} allows for {} \
                 instances ({per_value} per value, {remainder} values with one more)",
                self.target
            )),
        }
    }
}

/// CLUSTER without a value: every instance takes the first instance's value.
fn check_cluster_first(field: &Field, values: &ValueCounts, value: &str) -> Result<(), String> {
    match &values.first {
        None => Ok(()),
        Some(Some(first)) if first == value => Ok(()),
        Some(Some(first)) => Err(format!(
            "the instances run where {field} is {first}, not {value}"
        )),
        Some(None) => Err(format!("the first instance's node has no {field}")),
    }
}

/// GROUP_BY without a count: a new value is always taken; a used one only while it is
/// among the least used (Marathon's rule before its GROUP_BY change of 2020, which made a
/// missing count divide by zero).
fn check_even(values: &ValueCounts, value: &str) -> Result<(), String> {
    let least = values.all().min().unwrap_or(0);
    match values.get(value).as_ref() {
        None => Ok(()),
        Some(&c) if c <= least => Ok(()),
        Some(&c) => Err(format!(
            "{value} holds {c} instances, more than the least used value ({least})"
        )),
    }
}

fn missing(field: &Field, hostname: &str) -> String {
    match field {
        Field::Hostname => format!("{hostname} has no hostname"),
        Field::Label(key) => format!("{hostname} has no label {key}"),
        other => format!(
            "{hostname} has no {other} (label {})",
            other.label_key().unwrap_or_default()
        ),
    }
}

/// Whether one more instance may go on `node`, given the nodes of the group's live
/// instances and its target count: [`PlacementTracker::check`] in one call.
pub fn evaluate<A, I>(
    constraints: &Constraints,
    node: &A,
    placements: I,
    target: u32,
) -> Result<(), Rejection>
where
    A: Attributes + ?Sized,
    I: IntoIterator,
    I::Item: Attributes,
{
    PlacementTracker::with_placements(constraints, target, placements).check(node)
}

/// Why an instance fits on no node: the refusals of every node, per constraint, for a
/// condition message such as `0 of 5 nodes admit it: constraint 0 (zone UNIQUE) refused 5
/// (zone-a already has an instance)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RejectionSummary {
    nodes: u32,
    refused: u32,
    /// Per constraint index: its text, how many nodes it refused, the first message.
    per_constraint: BTreeMap<usize, (String, u32, String)>,
}

impl RejectionSummary {
    /// Records a node that was tried: `Ok` if it admitted the instance.
    pub fn add(&mut self, verdict: &Result<(), Rejection>) {
        self.nodes += 1;
        if let Err(r) = verdict {
            self.refused += 1;
            let entry = self
                .per_constraint
                .entry(r.index)
                .or_insert_with(|| (r.constraint.clone(), 0, r.message.clone()));
            entry.1 += 1;
        }
    }

    /// How many nodes refused.
    pub fn refused(&self) -> u32 {
        self.refused
    }

    /// How many nodes were tried.
    pub fn nodes(&self) -> u32 {
        self.nodes
    }

    /// One line for a condition or an event.
    pub fn message(&self) -> String {
        let admitted = self.nodes - self.refused;
        let reasons: Vec<String> = self
            .per_constraint
            .iter()
            .map(|(index, (text, count, example))| {
                format!("constraint {index} ({text}) refused {count} ({example})")
            })
            .collect();
        if reasons.is_empty() {
            format!("{admitted} of {} nodes admit it", self.nodes)
        } else {
            format!(
                "{admitted} of {} nodes admit it: {}",
                self.nodes,
                reasons.join("; ")
            )
        }
    }
}
