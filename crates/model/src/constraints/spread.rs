//! Judging a whole set of placed instances at once, as scale-down needs: does the set
//! satisfy the constraints (with the set's own size as GROUP_BY's target), how far is it
//! from that, and could some subset of a given size satisfy them?
//!
//! The exact question (which subset of size `m` satisfies everything) is a matching
//! problem once two fields carry counting rules (UNIQUE on two fields alone is bipartite
//! matching, on three it is NP-hard), so [`SpreadCounts::feasible`] is exact for counting
//! rules on one field (with any number of LIKE, UNLIKE, IS and CLUSTER-with-value rules on
//! any fields) and, for several such fields, the conjunction of each field's answer.

use std::collections::BTreeMap;

use super::{Attributes, Constraints, Field, Rule};

/// The instances' values, interned per field.
#[derive(Clone, Debug)]
pub struct SpreadModel<'c> {
    constraints: &'c Constraints,
    /// The distinct fields the counting rules read.
    fields: Vec<Field>,
    /// Per constraint: the index of its field in `fields` (counting rules only).
    field_of: Vec<Option<usize>>,
    /// Per field, the number of distinct values.
    values_per_field: Vec<usize>,
    rows: Vec<Row>,
}

#[derive(Clone, Debug)]
struct Row {
    /// Per counting field: the interned value, `None` when the node lacks it.
    values: Vec<Option<usize>>,
    /// The constraints (by position) whose value-alone rule this node fails.
    fails: Vec<usize>,
    /// Whether the node passes every value-alone rule and has every counting field.
    eligible: bool,
    /// Rows with the same values and failures share a class.
    class: usize,
}

/// Which of a [`SpreadModel`]'s rows are in the set, counted per value.
#[derive(Clone, Debug)]
pub struct SpreadCounts {
    present: Vec<bool>,
    len: usize,
    eligible_len: usize,
    /// Per field, per value: present rows.
    all: Vec<Vec<u32>>,
    /// Per field, per value: present eligible rows.
    eligible: Vec<Vec<u32>>,
    /// Per field: present rows without the field.
    missing: Vec<u32>,
    /// Per constraint: present rows failing its value-alone rule.
    failing: Vec<u32>,
}

fn counts_by_value(rule: &Rule) -> bool {
    !rule.judges_value_alone()
}

impl<'c> SpreadModel<'c> {
    /// The model of the instances on `nodes` (one row per instance, in order).
    pub fn new<A: Attributes>(constraints: &'c Constraints, nodes: &[A]) -> Self {
        let mut fields: Vec<Field> = Vec::new();
        let field_of = constraints
            .iter()
            .map(|c| {
                counts_by_value(&c.rule).then(|| match fields.iter().position(|f| *f == c.field) {
                    Some(i) => i,
                    None => {
                        fields.push(c.field.clone());
                        fields.len() - 1
                    }
                })
            })
            .collect();
        let mut interned: Vec<BTreeMap<String, usize>> = vec![BTreeMap::new(); fields.len()];
        let mut classes: BTreeMap<(Vec<Option<usize>>, Vec<usize>), usize> = BTreeMap::new();
        let rows = nodes
            .iter()
            .map(|node| {
                let mut row = Self::row(constraints, &fields, &mut interned, node);
                let next = classes.len();
                row.class = *classes
                    .entry((row.values.clone(), row.fails.clone()))
                    .or_insert(next);
                row
            })
            .collect();
        Self {
            constraints,
            values_per_field: interned.iter().map(BTreeMap::len).collect(),
            fields,
            field_of,
            rows,
        }
    }

    fn row<A: Attributes>(
        constraints: &Constraints,
        fields: &[Field],
        interned: &mut [BTreeMap<String, usize>],
        node: &A,
    ) -> Row {
        let values: Vec<Option<usize>> = fields
            .iter()
            .zip(interned.iter_mut())
            .map(|(field, ids)| {
                node.value_of(field).map(|v| {
                    let next = ids.len();
                    *ids.entry(v.to_string()).or_insert(next)
                })
            })
            .collect();
        let fails: Vec<usize> = constraints
            .iter()
            .enumerate()
            .filter(|(_, c)| c.rule.judges_value_alone())
            .filter(|(_, c)| !c.rule.admits_value(node.value_of(&c.field)))
            .map(|(i, _)| i)
            .collect();
        let eligible = fails.is_empty() && values.iter().all(Option::is_some);
        Row {
            values,
            fails,
            eligible,
            class: 0,
        }
    }

    /// How many rows (instances) the model has.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The class of row `row`: rows of one class look the same to every constraint
    /// (killing either changes the set's spread alike). Classes are numbered from 0.
    pub fn class_of(&self, row: usize) -> usize {
        self.rows.get(row).map_or(0, |r| r.class)
    }

    /// How many classes there are.
    pub fn classes(&self) -> usize {
        self.rows.iter().map(|r| r.class + 1).max().unwrap_or(0)
    }

    /// Counts with every row present.
    pub fn all_present(&self) -> SpreadCounts {
        let mut counts = SpreadCounts {
            present: vec![false; self.rows.len()],
            len: 0,
            eligible_len: 0,
            all: self.values_per_field.iter().map(|&n| vec![0; n]).collect(),
            eligible: self.values_per_field.iter().map(|&n| vec![0; n]).collect(),
            missing: vec![0; self.fields.len()],
            failing: vec![0; self.constraints.len()],
        };
        for row in 0..self.rows.len() {
            self.add(&mut counts, row);
        }
        counts
    }

    /// Puts row `row` (back) into the set.
    pub fn add(&self, counts: &mut SpreadCounts, row: usize) {
        self.update(counts, row, true);
    }

    /// Takes row `row` out of the set.
    pub fn remove(&self, counts: &mut SpreadCounts, row: usize) {
        self.update(counts, row, false);
    }

    fn update(&self, counts: &mut SpreadCounts, row: usize, add: bool) {
        let (Some(r), Some(present)) = (self.rows.get(row), counts.present.get_mut(row)) else {
            return;
        };
        if *present == add {
            return;
        }
        *present = add;
        let step = |n: &mut u32| *n = if add { *n + 1 } else { n.saturating_sub(1) };
        let step_len = |n: &mut usize| *n = if add { *n + 1 } else { n.saturating_sub(1) };
        step_len(&mut counts.len);
        if r.eligible {
            step_len(&mut counts.eligible_len);
        }
        for (f, value) in r.values.iter().enumerate() {
            match value {
                Some(v) => {
                    if let Some(n) = counts.all.get_mut(f).and_then(|c| c.get_mut(*v)) {
                        step(n);
                    }
                    if r.eligible
                        && let Some(n) = counts.eligible.get_mut(f).and_then(|c| c.get_mut(*v))
                    {
                        step(n);
                    }
                }
                None => counts.missing.get_mut(f).into_iter().for_each(step),
            }
        }
        for &c in &r.fails {
            counts.failing.get_mut(c).into_iter().for_each(step);
        }
    }

    /// Whether the present set satisfies every constraint, GROUP_BY spreading the set's
    /// own size.
    pub fn satisfied(&self, counts: &SpreadCounts) -> bool {
        self.violation(counts, counts.len) == 0
    }

    /// How far the present set is from satisfying the constraints when `m` instances are
    /// to be kept: zero exactly when it satisfies them (for `m` = its size); larger the
    /// more instances are over a limit, on a refused node, or off the spread.
    pub fn violation(&self, counts: &SpreadCounts, m: usize) -> u64 {
        self.violations(counts, m).iter().sum()
    }

    /// [`violation`](Self::violation) per constraint, in order.
    pub fn violations(&self, counts: &SpreadCounts, m: usize) -> Vec<u64> {
        self.constraints
            .iter()
            .enumerate()
            .map(|(i, c)| match self.field_of.get(i).copied().flatten() {
                None => u64::from(counts.failing.get(i).copied().unwrap_or(0)),
                Some(f) => {
                    let all = counts.all.get(f).map(Vec::as_slice).unwrap_or_default();
                    let missing = u64::from(counts.missing.get(f).copied().unwrap_or(0));
                    missing + counting_violation(&c.rule, all, counts.len, m)
                }
            })
            .collect()
    }

    /// [`violation`](Self::violation) once row `row` is removed, from the present
    /// violations `base` ([`violations`](Self::violations) for the same `m`): in constant
    /// time for UNIQUE, MAX_PER and the value-alone rules, in the number of values for the
    /// others.
    pub fn violation_without(
        &self,
        counts: &SpreadCounts,
        base: &[u64],
        row: usize,
        m: usize,
    ) -> u64 {
        let total = base.iter().sum();
        let Some(r) = self.rows.get(row).filter(|_| counts.contains(row)) else {
            return total;
        };
        let change: u64 = self
            .constraints
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let before = base.get(i).copied().unwrap_or(0);
                let after = match self.field_of.get(i).copied().flatten() {
                    None => before.saturating_sub(u64::from(r.fails.contains(&i))),
                    Some(f) => self.counting_without(counts, &c.rule, f, r, before, m),
                };
                before.saturating_sub(after)
            })
            .sum();
        total - change.min(total)
    }

    /// A counting rule's violation without row `r`, from its violation `before` with it.
    fn counting_without(
        &self,
        counts: &SpreadCounts,
        rule: &Rule,
        f: usize,
        r: &Row,
        before: u64,
        m: usize,
    ) -> u64 {
        let Some(v) = r.values.get(f).copied().flatten() else {
            // One fewer missing; CLUSTER without a value also loses one from its size.
            return before.saturating_sub(1 + u64::from(matches!(rule, Rule::Cluster(None))));
        };
        let all = counts.all.get(f).map(Vec::as_slice).unwrap_or_default();
        let c = all.get(v).copied().unwrap_or(0);
        match rule {
            Rule::Unique => before.saturating_sub(u64::from(c > 1)),
            Rule::MaxPer(n) => before.saturating_sub(u64::from(c > *n)),
            _ => {
                let missing = u64::from(counts.missing.get(f).copied().unwrap_or(0));
                let mut fewer = all.to_vec();
                if let Some(n) = fewer.get_mut(v) {
                    *n = n.saturating_sub(1);
                }
                missing + counting_violation(rule, &fewer, counts.len.saturating_sub(1), m)
            }
        }
    }

    /// Whether some subset of `m` present instances could satisfy the constraints (exact
    /// for counting rules on one field; see the module docs).
    pub fn feasible(&self, counts: &SpreadCounts, m: usize) -> bool {
        if m == 0 {
            return true;
        }
        if counts.eligible_len < m {
            return false;
        }
        (0..self.fields.len()).all(|f| {
            let rules: Vec<&Rule> = self
                .constraints
                .iter()
                .enumerate()
                .filter(|(i, _)| self.field_of.get(*i).copied().flatten() == Some(f))
                .map(|(_, c)| &c.rule)
                .collect();
            let eligible = counts
                .eligible
                .get(f)
                .map(Vec::as_slice)
                .unwrap_or_default();
            field_feasible(eligible, &rules, m)
        })
    }
}

impl SpreadCounts {
    /// How many rows are present.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether row `row` is present.
    pub fn contains(&self, row: usize) -> bool {
        self.present.get(row).copied().unwrap_or(false)
    }
}

/// GROUP_BY's share per value when `m` instances spread over `n` values: `(m / n, m % n)`.
fn share(m: usize, n: u32) -> (u64, u64) {
    let (m, n) = (m as u64, u64::from(n.max(1)));
    (m / n, m % n)
}

/// The violation of one counting rule over the per-value counts of the present rows.
fn counting_violation(rule: &Rule, counts: &[u32], len: usize, m: usize) -> u64 {
    let used = counts.iter().copied().filter(|&c| c > 0).map(u64::from);
    match rule {
        Rule::Unique => used.map(|c| c - 1).sum(),
        Rule::MaxPer(n) => used.map(|c| c.saturating_sub(u64::from(*n))).sum(),
        Rule::Cluster(None) => len as u64 - used.max().unwrap_or(0).min(len as u64),
        Rule::GroupBy(None) => {
            let (lo, hi) = used.fold((u64::MAX, 0), |(lo, hi), c| (lo.min(c), hi.max(c)));
            hi.saturating_sub(lo).saturating_sub(1)
        }
        Rule::GroupBy(Some(n)) => group_by_violation(counts, m, *n),
        _ => 0,
    }
}

/// GROUP_BY with a count: instances above the per-value level, values beyond the `m % n`
/// allowed to hold one more, and the instances of the smallest values beyond `n` in use.
fn group_by_violation(counts: &[u32], m: usize, n: u32) -> u64 {
    let (q, r) = share(m, n);
    let level = q + u64::from(r > 0);
    let mut used: Vec<u64> = counts
        .iter()
        .copied()
        .filter(|&c| c > 0)
        .map(u64::from)
        .collect();
    let over: u64 = used.iter().map(|c| c.saturating_sub(level)).sum();
    let above = used.iter().filter(|&&c| c > q).count() as u64;
    let extra_values = if r > 0 { above.saturating_sub(r) } else { 0 };
    used.sort_unstable();
    let beyond = used.len().saturating_sub(n as usize);
    let stranded: u64 = used.iter().take(beyond).sum();
    over + extra_values + stranded
}

/// Whether `m` instances can be chosen from values with `eligible` instances each so that
/// the counting rules of one field hold: the best choice of `g` values is the `g` largest
/// capacities, and every total from `g` up to what they can hold together is reachable.
/// `O(values · log values)`.
fn field_feasible(eligible: &[u32], rules: &[&Rule], m: usize) -> bool {
    let mut caps: Vec<u64> = eligible
        .iter()
        .copied()
        .filter(|&c| c > 0)
        .map(|c| cap_for(u64::from(c), rules, m))
        .collect();
    caps.sort_unstable_by(|a, b| b.cmp(a));
    let mut most_values = caps.len().min(m);
    let mut shares = Vec::new();
    let mut even = false;
    for rule in rules {
        match rule {
            Rule::Cluster(None) => most_values = most_values.min(1),
            Rule::GroupBy(Some(n)) => {
                most_values = most_values.min(*n as usize);
                shares.push(share(m, *n));
            }
            Rule::GroupBy(None) => even = true,
            _ => {}
        }
    }
    let mut top = TopValues::new(shares);
    caps.iter()
        .take(most_values)
        .any(|&cap| m as u64 <= top.push(cap, even))
}

/// Running totals over the largest capacities, one more value at a time.
struct TopValues {
    count: u64,
    sum: u64,
    /// Per GROUP_BY with a count: its share `(q, r)`, the sum of `min(cap, q)`, and how
    /// many capacities exceed `q`.
    shares: Vec<((u64, u64), u64, u64)>,
    /// The values before the first one equal to the current least (for GROUP_BY without a
    /// count: those may hold one more than the least).
    above_least: u64,
    least: Option<u64>,
}

impl TopValues {
    fn new(shares: Vec<(u64, u64)>) -> Self {
        Self {
            count: 0,
            sum: 0,
            shares: shares.into_iter().map(|s| (s, 0, 0)).collect(),
            above_least: 0,
            least: None,
        }
    }

    /// Adds the next (not larger) capacity; returns the most the values so far can keep.
    fn push(&mut self, cap: u64, even: bool) -> u64 {
        if self.least != Some(cap) {
            self.above_least = self.count;
            self.least = Some(cap);
        }
        self.count += 1;
        self.sum += cap;
        let mut most = self.sum;
        for ((q, r), base, above) in &mut self.shares {
            *base += cap.min(*q);
            *above += u64::from(cap > *q);
            most = most.min(*base + (*above).min(*r));
        }
        if even {
            most = most.min(cap * self.count + self.above_least);
        }
        most
    }
}

/// The most instances a value with `count` eligible ones can keep.
fn cap_for(count: u64, rules: &[&Rule], m: usize) -> u64 {
    rules.iter().fold(count, |cap, rule| match rule {
        Rule::Unique => cap.min(1),
        Rule::MaxPer(n) => cap.min(u64::from(*n)),
        Rule::GroupBy(Some(n)) => {
            let (q, r) = share(m, *n);
            cap.min(q + u64::from(r > 0))
        }
        _ => cap,
    })
}

/// Whether the instances on `nodes`, as a whole, satisfy the constraints (GROUP_BY
/// spreading the set's own size): the check a scale-down result must pass.
pub fn satisfied_by<A: Attributes>(constraints: &Constraints, nodes: &[A]) -> bool {
    let model = SpreadModel::new(constraints, nodes);
    model.satisfied(&model.all_present())
}
