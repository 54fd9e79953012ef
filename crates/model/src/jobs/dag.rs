//! The dependency graph: validation over a namespace's jobs, and the trigger rule.
//!
//! # Validation
//!
//! [`GraphAnalysis`] looks at every job of a namespace at once and reports, per affected
//! job, never by dropping it in silence (Chronos #815):
//!
//! - `SelfDependency`: the job lists itself;
//! - `MissingParents`: parents that are not jobs of the namespace (deleted ones included, so
//!   deleting a parent shows on its children at once);
//! - `Cycle`: the job is on a cycle, with the shortest cycle through it, in trigger order
//!   (`a → b → c → a`: a triggers b, b triggers c, c triggers a);
//! - `BlockedAncestor`: the job itself is fine but an ancestor has one of the issues above,
//!   so it can never trigger.
//!
//! # The trigger rule
//!
//! As in Chronos, a child runs once **every parent has succeeded since the child's own last
//! trigger** (a soft-failed run and a manual "mark succeeded" count as success). Chronos
//! kept a counter per edge in memory; here each edge records in the ledger which parent
//! run its last trigger consumed ([`EdgeState`]), and is satisfied when the parent's latest
//! good run (its ledger's `last_good`) is a different run. No clocks are compared, so clock
//! skew between the operator and the kubelets cannot lose or double a trigger, and a
//! restart resumes from the recorded edges. Several parent successes between two child
//! triggers collapse into one trigger (the latest of each parent is recorded).
//!
//! An edge with no record yet (a new job, or a parent just added) is satisfied by a good
//! parent run that finished after the child's baseline: its last run's start, or its
//! creation. The plan writes a record for every edge, so this clock comparison happens at
//! most once per edge.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::ledger::RunRef;

/// One job as the graph sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobNode {
    /// Its parents, as its spec lists them.
    pub parents: Vec<String>,
    /// Its latest run that counts as a success for dependents (its ledger's `last_good`).
    pub last_good: Option<RunRef>,
}

/// The jobs of one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GraphView {
    /// Every job by name.
    pub jobs: BTreeMap<String, JobNode>,
}

/// Why a job's dependencies cannot be satisfied.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum GraphIssue {
    /// The job lists itself as a parent.
    SelfDependency,
    /// These parents do not exist.
    MissingParents {
        /// The missing parents' names.
        parents: Vec<String>,
    },
    /// The job is on a cycle.
    Cycle {
        /// The shortest cycle through the job, in trigger order, starting and ending with it.
        path: Vec<String>,
    },
    /// An ancestor has an issue, so this job can never trigger.
    BlockedAncestor {
        /// The nearest such ancestor.
        ancestor: String,
    },
}

impl GraphIssue {
    /// A condition reason for it.
    pub fn reason(&self) -> &'static str {
        match self {
            GraphIssue::SelfDependency => "SelfDependency",
            GraphIssue::MissingParents { .. } => "MissingParent",
            GraphIssue::Cycle { .. } => "Cycle",
            GraphIssue::BlockedAncestor { .. } => "ParentBlocked",
        }
    }

    /// A message that names the jobs at fault.
    pub fn message(&self) -> String {
        match self {
            GraphIssue::SelfDependency => "the job lists itself as a parent".to_string(),
            GraphIssue::MissingParents { parents } => {
                format!("missing parent job(s): {}", parents.join(", "))
            }
            GraphIssue::Cycle { path } => format!("dependency cycle: {}", path.join(" → ")),
            GraphIssue::BlockedAncestor { ancestor } => {
                format!("ancestor job {ancestor} is blocked")
            }
        }
    }
}

/// Graph validation over a whole namespace, computed once (strongly connected components
/// by Tarjan's algorithm, then blocked ancestors along the condensation).
#[derive(Debug, Clone, Default)]
pub struct GraphAnalysis {
    issues: BTreeMap<String, Vec<GraphIssue>>,
}

impl GraphAnalysis {
    /// Analyses `view`.
    pub fn new(view: &GraphView) -> GraphAnalysis {
        let graph = Indexed::new(view);
        let components = strongly_connected(&graph);
        let mut issues: BTreeMap<String, Vec<GraphIssue>> = BTreeMap::new();
        let mut broken = vec![false; graph.names.len()];
        for (node, name) in graph.names.iter().enumerate() {
            let own = own_issues(view, &graph, &components, node, name);
            broken[node] = !own.is_empty();
            if !own.is_empty() {
                issues.insert(name.to_string(), own);
            }
        }
        for (node, ancestor) in blocked_ancestors(&graph, &components, &broken) {
            let name = graph
                .names
                .get(node)
                .map(|n| n.to_string())
                .unwrap_or_default();
            let ancestor = graph
                .names
                .get(ancestor)
                .map(|n| n.to_string())
                .unwrap_or_default();
            issues
                .entry(name)
                .or_default()
                .push(GraphIssue::BlockedAncestor { ancestor });
        }
        GraphAnalysis { issues }
    }

    /// The issues of `job` (empty when it can trigger, or is not in the view).
    pub fn issues(&self, job: &str) -> &[GraphIssue] {
        self.issues.get(job).map_or(&[], Vec::as_slice)
    }

    /// Every job with issues.
    pub fn all(&self) -> &BTreeMap<String, Vec<GraphIssue>> {
        &self.issues
    }
}

/// The view with jobs numbered and parent lists resolved to existing jobs.
struct Indexed<'a> {
    names: Vec<&'a str>,
    parents: Vec<Vec<usize>>,
}

impl<'a> Indexed<'a> {
    fn new(view: &'a GraphView) -> Self {
        let names: Vec<&str> = view.jobs.keys().map(String::as_str).collect();
        let index: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let parents = view
            .jobs
            .values()
            .map(|node| {
                let unique: BTreeSet<usize> = node
                    .parents
                    .iter()
                    .filter_map(|p| index.get(p.as_str()).copied())
                    .collect();
                unique.into_iter().collect()
            })
            .collect();
        Indexed { names, parents }
    }
}

/// Component id per node, and the nodes of each component, in Tarjan's emission order
/// (a component comes after every component it depends on).
struct Components {
    of: Vec<usize>,
    members: Vec<Vec<usize>>,
}

/// Tarjan's algorithm over parent edges, iterative (no recursion depth limit).
fn strongly_connected(graph: &Indexed<'_>) -> Components {
    let n = graph.names.len();
    let (mut index, mut low, mut on_stack) = (vec![usize::MAX; n], vec![0; n], vec![false; n]);
    let (mut stack, mut next_index) = (Vec::new(), 0);
    let mut components = Components {
        of: vec![0; n],
        members: Vec::new(),
    };
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work = vec![(root, 0usize)];
        while let Some(top) = work.last_mut() {
            let node = top.0;
            if index[node] == usize::MAX {
                (index[node], low[node]) = (next_index, next_index);
                next_index += 1;
                stack.push(node);
                on_stack[node] = true;
            }
            if let Some(&parent) = graph.parents[node].get(top.1) {
                top.1 += 1;
                if index[parent] == usize::MAX {
                    work.push((parent, 0));
                } else if on_stack[parent] {
                    low[node] = low[node].min(index[parent]);
                }
                continue;
            }
            work.pop();
            if let Some(&(caller, _)) = work.last() {
                low[caller] = low[caller].min(low[node]);
            }
            if low[node] == index[node] {
                let id = components.members.len();
                let mut members = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    components.of[member] = id;
                    members.push(member);
                    if member == node {
                        break;
                    }
                }
                components.members.push(members);
            }
        }
    }
    components
}

fn own_issues(
    view: &GraphView,
    graph: &Indexed<'_>,
    components: &Components,
    node: usize,
    name: &str,
) -> Vec<GraphIssue> {
    let mut issues = Vec::new();
    let parents = view
        .jobs
        .get(name)
        .map_or(&[][..], |n| n.parents.as_slice());
    if parents.iter().any(|p| p == name) {
        issues.push(GraphIssue::SelfDependency);
    }
    let missing: BTreeSet<String> = parents
        .iter()
        .filter(|p| !view.jobs.contains_key(*p))
        .cloned()
        .collect();
    if !missing.is_empty() {
        issues.push(GraphIssue::MissingParents {
            parents: missing.into_iter().collect(),
        });
    }
    let component = components
        .of
        .get(node)
        .and_then(|c| components.members.get(*c));
    if component.is_some_and(|members| members.len() > 1) {
        issues.push(GraphIssue::Cycle {
            path: shortest_cycle(graph, components, node),
        });
    }
    issues
}

/// The shortest cycle through `start` (within its component), in trigger order.
fn shortest_cycle(graph: &Indexed<'_>, components: &Components, start: usize) -> Vec<String> {
    let component = components.of.get(start).copied();
    let mut came_from: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    'search: while let Some(node) = queue.pop_front() {
        for &parent in graph.parents.get(node).map_or(&[][..], Vec::as_slice) {
            if parent == node || components.of.get(parent).copied() != component {
                continue;
            }
            if parent == start {
                came_from.insert(start, node);
                break 'search;
            }
            if let std::collections::btree_map::Entry::Vacant(entry) = came_from.entry(parent) {
                entry.insert(node);
                queue.push_back(parent);
            }
        }
    }
    // Walking `came_from` back from `start` goes child-wards: trigger order.
    let mut path = vec![start];
    let mut node = start;
    while let Some(&child) = came_from.get(&node) {
        path.push(child);
        if child == start || path.len() > graph.names.len() {
            break;
        }
        node = child;
    }
    path.iter()
        .map(|i| {
            graph
                .names
                .get(*i)
                .map(|n| n.to_string())
                .unwrap_or_default()
        })
        .collect()
}

/// For each node whose own dependencies are fine but an ancestor's are not: (node, nearest
/// broken ancestor outside its own component).
fn blocked_ancestors(
    graph: &Indexed<'_>,
    components: &Components,
    broken: &[bool],
) -> Vec<(usize, usize)> {
    // Emission order puts a component after everything it depends on.
    let mut blocker: Vec<Option<usize>> = vec![None; components.members.len()];
    for (id, members) in components.members.iter().enumerate() {
        let upstream = members
            .iter()
            .flat_map(|m| graph.parents.get(*m).into_iter().flatten());
        let found = upstream
            .filter(|p| components.of.get(**p) != Some(&id))
            .find_map(|&p| {
                let pc = components.of.get(p).copied()?;
                if broken.get(p).copied().unwrap_or(false) {
                    Some(p)
                } else {
                    blocker.get(pc).copied().flatten()
                }
            });
        if let Some(slot) = blocker.get_mut(id) {
            *slot = found;
        }
    }
    (0..graph.names.len())
        .filter(|node| !broken.get(*node).copied().unwrap_or(false))
        .filter_map(|node| {
            Some((
                node,
                blocker.get(*components.of.get(node)?).copied().flatten()?,
            ))
        })
        .collect()
}

/// What a child's last parent trigger consumed on one edge.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EdgeState {
    /// The parent run consumed (`None`: none yet, any good parent run satisfies the edge).
    pub consumed: Option<RunRef>,
}

/// The parent run that satisfies an edge now, if any: the parent's latest good run, unless
/// the edge already consumed it. Without a record, only a run finished after `baseline`.
pub fn satisfying_run<'a>(
    edge: Option<&EdgeState>,
    parent_last_good: Option<&'a RunRef>,
    baseline: Timestamp,
) -> Option<&'a RunRef> {
    let good = parent_last_good?;
    match edge {
        Some(edge) => (edge.consumed.as_ref().map(|c| &c.name) != Some(&good.name)).then_some(good),
        None => (good.finished_at > baseline).then_some(good),
    }
}

/// Whether every parent of a job is satisfied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Every edge is satisfied, by these parent runs.
    Ready(BTreeMap<String, RunRef>),
    /// These parents have not succeeded since the last trigger.
    Waiting(Vec<String>),
}

/// The trigger rule: are all of `parents` satisfied, given the job's edges?
pub fn readiness(
    parents: &[String],
    edges: &BTreeMap<String, EdgeState>,
    graph: &GraphView,
    baseline: Timestamp,
) -> Readiness {
    let mut ready = BTreeMap::new();
    let mut waiting = Vec::new();
    for parent in parents {
        let last_good = graph
            .jobs
            .get(parent)
            .and_then(|node| node.last_good.as_ref());
        match satisfying_run(edges.get(parent), last_good, baseline) {
            Some(run) => {
                ready.insert(parent.clone(), run.clone());
            }
            None => waiting.push(parent.clone()),
        }
    }
    if waiting.is_empty() {
        Readiness::Ready(ready)
    } else {
        Readiness::Waiting(waiting)
    }
}

/// The edge records after a plan: consumed runs for a trigger, the current state otherwise.
/// An edge seen for the first time and not satisfied is frozen at the parent's current
/// latest good run, so the baseline comparison happens once. Edges to parents no longer
/// listed are dropped.
pub fn next_edges(
    parents: &[String],
    edges: &BTreeMap<String, EdgeState>,
    graph: &GraphView,
    baseline: Timestamp,
    consumed: Option<&BTreeMap<String, RunRef>>,
) -> BTreeMap<String, EdgeState> {
    parents
        .iter()
        .map(|parent| {
            let last_good = graph
                .jobs
                .get(parent)
                .and_then(|node| node.last_good.as_ref());
            let state = match (consumed.and_then(|c| c.get(parent)), edges.get(parent)) {
                (Some(run), _) => EdgeState {
                    consumed: Some(run.clone()),
                },
                (None, Some(existing)) => existing.clone(),
                (None, None) if satisfying_run(None, last_good, baseline).is_some() => {
                    EdgeState::default()
                }
                (None, None) => EdgeState {
                    consumed: last_good.cloned(),
                },
            };
            (parent.clone(), state)
        })
        .collect()
}

#[cfg(test)]
mod tests;
