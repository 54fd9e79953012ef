//! Scale-down victim selection: which `k` instances to kill.
//!
//! Order, as Marathon (`core/deployment/ScalingProposition.scala`) with two additions:
//!
//! 1. Instances not yet placed on a node (nothing to undo there).
//! 2. Kills that bring the kept set closer to the constraints (GROUP_BY, MAX_PER, UNIQUE,
//!    CLUSTER, and instances on nodes that no longer pass LIKE, UNLIKE or IS), never a
//!    kill after which no subset of the kept size could satisfy them while another kill
//!    would keep that possible ([`SpreadModel::feasible`]).
//! 3. Then by state: unreachable, staging, starting, running, the rest; within a state,
//!    not available (unhealthy or not ready) before available; then by `killSelection` on
//!    the launch time (an unknown launch time goes first, as in Marathon).
//!
//! Marathon restores the spread of GROUP_BY only and never looks at health when it scales
//! down (its TODO says it should); here every counting operator is restored, and
//! unavailable instances go before available ones of the same state.

use std::cmp::Ordering;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Instance;
use crate::constraints::{Constraints, NodeAttributes, SpreadCounts, SpreadModel};

/// Which instance goes first when scale-down has to choose between equals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum KillSelection {
    /// The most recently launched first (Marathon's default).
    #[default]
    YoungestFirst,
    /// The longest running first.
    OldestFirst,
}

/// Why an instance was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VictimReason {
    /// It was not placed on a node yet.
    NotPlaced,
    /// Killing it brings the kept instances closer to this constraint.
    Spread {
        /// The constraint's position in the spec's list.
        constraint: usize,
        /// The constraint as written.
        text: String,
    },
    /// Its state, health and age put it first.
    Order,
}

impl std::fmt::Display for VictimReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotPlaced => f.write_str("not placed yet"),
            Self::Spread { constraint, text } => {
                write!(f, "restores the spread of constraint {constraint} ({text})")
            }
            Self::Order => f.write_str("first by state and kill selection"),
        }
    }
}

/// One chosen instance: its index in the candidates, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Victim {
    /// Index into the candidates given to [`select_victims`].
    pub index: usize,
    /// Why it was chosen.
    pub reason: VictimReason,
}

/// Picks `k` of `candidates` to kill (all of them if `k` is larger), in kill order.
/// `kept` are instances that stay whatever happens (they count in the spread).
///
/// Cost per victim: `O(classes · constraints)` for UNIQUE, MAX_PER and the value-alone
/// rules (times the number of values for GROUP_BY and CLUSTER), plus a few
/// `O(values · log values)` feasibility checks; classes are the distinct combinations of
/// constrained values among the candidates. Measured (release build): 1,000 instances on
/// 500 hosts, `hostname MAX_PER 1` and `zone GROUP_BY 3`, 500 victims: about 0.2 s.
pub fn select_victims(
    candidates: &[&Instance],
    kept: &[&Instance],
    k: usize,
    constraints: &Constraints,
    selection: KillSelection,
) -> Vec<Victim> {
    let k = k.min(candidates.len());
    let order = kill_order(candidates, selection);
    let mut victims: Vec<Victim> = order
        .iter()
        .filter(|&&i| candidates.get(i).is_some_and(|c| c.node.is_none()))
        .take(k)
        .map(|&i| Victim {
            index: i,
            reason: VictimReason::NotPlaced,
        })
        .collect();
    let placed: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| candidates.get(i).is_some_and(|c| c.node.is_some()))
        .collect();
    let remaining = k - victims.len();
    if constraints.is_empty() {
        victims.extend(placed.iter().take(remaining).map(|&index| Victim {
            index,
            reason: VictimReason::Order,
        }));
        return victims;
    }
    victims.extend(spread_victims(
        candidates,
        &placed,
        kept,
        remaining,
        constraints,
    ));
    victims
}

/// Candidate indices in kill order (state, availability, kill selection, index).
pub fn kill_order(candidates: &[&Instance], selection: KillSelection) -> Vec<usize> {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by(|&a, &b| match (candidates.get(a), candidates.get(b)) {
        (Some(x), Some(y)) => compare(x, y, selection).then(a.cmp(&b)),
        _ => a.cmp(&b),
    });
    order
}

fn compare(a: &Instance, b: &Instance, selection: KillSelection) -> Ordering {
    a.state
        .kill_weight()
        .cmp(&b.state.kill_weight())
        .then(a.available().cmp(&b.available()))
        .then_with(|| by_age(a.started_at, b.started_at, selection))
}

fn by_age(a: Option<Timestamp>, b: Option<Timestamp>, selection: KillSelection) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => match selection {
            KillSelection::YoungestFirst => b.cmp(&a),
            KillSelection::OldestFirst => a.cmp(&b),
        },
    }
}

/// The placed victims: `placed` are candidate indices in kill order; rows of the spread
/// model are the placed candidates (in that order) followed by the kept instances.
fn spread_victims(
    candidates: &[&Instance],
    placed: &[usize],
    kept: &[&Instance],
    k: usize,
    constraints: &Constraints,
) -> Vec<Victim> {
    let nodes: Vec<&NodeAttributes> = placed
        .iter()
        .filter_map(|&i| candidates.get(i).and_then(|c| c.node.as_ref()))
        .chain(kept.iter().filter_map(|c| c.node.as_ref()))
        .collect();
    let model = SpreadModel::new(constraints, &nodes);
    let mut counts = model.all_present();
    let keep = nodes.len().saturating_sub(k);
    let mut victims = Vec::with_capacity(k);
    for _ in 0..k.min(placed.len()) {
        let Some(row) = best_kill(&model, &mut counts, placed.len(), keep) else {
            break;
        };
        let before = model.violations(&counts, keep);
        model.remove(&mut counts, row);
        let after = model.violations(&counts, keep);
        let reason = improved(constraints, &before, &after);
        if let Some(&index) = placed.get(row) {
            victims.push(Victim { index, reason });
        }
    }
    victims
}

/// The row to kill next among the first `rows` (the candidates, in kill order): the
/// lowest violation after it, then the kill order, among those that keep `keep` reachable
/// (if any do; removing a row never makes an unreachable `keep` reachable). Rows of one
/// class are judged once, by their first (best) member.
fn best_kill(
    model: &SpreadModel<'_>,
    counts: &mut SpreadCounts,
    rows: usize,
    keep: usize,
) -> Option<usize> {
    let base = model.violations(counts, keep);
    let mut judged = vec![false; model.classes()];
    let mut ranked: Vec<(u64, usize)> = Vec::new();
    for row in (0..rows).filter(|&r| counts.contains(r)) {
        if let Some(seen) = judged.get_mut(model.class_of(row)).filter(|seen| !**seen) {
            *seen = true;
            ranked.push((model.violation_without(counts, &base, row, keep), row));
        }
    }
    ranked.sort_unstable();
    let lowest = ranked.first().map(|&(_, row)| row);
    if !model.feasible(counts, keep) {
        return lowest;
    }
    let keeps_feasible = |row: usize, counts: &mut SpreadCounts| {
        model.remove(counts, row);
        let ok = model.feasible(counts, keep);
        model.add(counts, row);
        ok
    };
    ranked
        .iter()
        .map(|&(_, row)| row)
        .find(|&row| keeps_feasible(row, counts))
        .or(lowest)
}

/// The first constraint whose violation the kill lowered, if any.
fn improved(constraints: &Constraints, before: &[u64], after: &[u64]) -> VictimReason {
    constraints
        .iter()
        .zip(before.iter().zip(after))
        .find(|(_, (b, a))| a < b)
        .map_or(VictimReason::Order, |(c, _)| VictimReason::Spread {
            constraint: c.index,
            text: c.spec.to_string(),
        })
}
