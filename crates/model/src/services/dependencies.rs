//! Dependencies between apps: validation (every dependency exists, no cycle) and the
//! order Marathon deploys in — an app starts and is upgraded only once its dependencies
//! are available, and stops only once the apps that depend on it have stopped.
//!
//! Departure: Marathon orders the steps of one deployment plan over a group; here each app
//! is reconciled on its own, so the order is a gate each app checks against the others'
//! status. Scaling an app down (but not to zero) is not gated.

use std::collections::{BTreeMap, BTreeSet};

/// A problem with the dependency graph.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DependencyError {
    /// An app depends on one that does not exist.
    #[error("app {app} depends on {dependency}, which does not exist")]
    Missing {
        /// The app.
        app: String,
        /// The missing dependency.
        dependency: String,
    },
    /// A cycle, named in order, the first app repeated at the end.
    #[error("dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}

/// The apps of one namespace and what each depends on.
pub type Graph = BTreeMap<String, Vec<String>>;

/// Every problem of the graph: missing dependencies first, then one cycle per strongly
/// tied group found (each named once).
pub fn validate(graph: &Graph) -> Vec<DependencyError> {
    let mut errors: Vec<DependencyError> = graph
        .iter()
        .flat_map(|(app, deps)| {
            deps.iter()
                .filter(|d| !graph.contains_key(*d))
                .map(move |d| DependencyError::Missing {
                    app: app.clone(),
                    dependency: d.clone(),
                })
        })
        .collect();
    let mut done = BTreeSet::new();
    for app in graph.keys() {
        if let Some(cycle) = find_cycle(graph, app, &mut done) {
            errors.push(DependencyError::Cycle(cycle));
        }
    }
    errors
}

/// A cycle reachable from `start` that goes through no app in `done`, by depth-first
/// search with an explicit stack; every app fully explored is added to `done`.
fn find_cycle(graph: &Graph, start: &str, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
    if done.contains(start) {
        return None;
    }
    let mut path: Vec<(&str, usize)> = vec![(start, 0)];
    while let Some(&mut (app, ref mut next)) = path.last_mut() {
        let deps = graph.get(app).map(Vec::as_slice).unwrap_or_default();
        let Some(dep) = deps.get(*next) else {
            done.insert(app.to_string());
            path.pop();
            continue;
        };
        *next += 1;
        if let Some(at) = path.iter().position(|(a, _)| a == dep) {
            let mut cycle: Vec<String> = path.iter().skip(at).map(|(a, _)| a.to_string()).collect();
            cycle.push(dep.clone());
            path.iter().for_each(|(a, _)| {
                done.insert(a.to_string());
            });
            return Some(cycle);
        }
        if graph.contains_key(dep) && !done.contains(dep) {
            path.push((dep, 0));
        }
    }
    None
}

/// The apps in start order: each level depends only on earlier levels (stop in reverse).
/// Apps on a cycle, or depending on one, are left out; [`validate`] names the cycle.
pub fn start_order(graph: &Graph) -> Vec<Vec<String>> {
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut levels = Vec::new();
    loop {
        let level: Vec<String> = graph
            .iter()
            .filter(|(app, _)| !placed.contains(app.as_str()))
            .filter(|(_, deps)| {
                deps.iter()
                    .all(|d| placed.contains(d.as_str()) || !graph.contains_key(d))
            })
            .map(|(app, _)| app.clone())
            .collect();
        if level.is_empty() {
            return levels;
        }
        for app in &level {
            if let Some((key, _)) = graph.get_key_value(app) {
                placed.insert(key.as_str());
            }
        }
        levels.push(level);
    }
}

/// The apps that depend on `app` directly.
pub fn dependents<'g>(graph: &'g Graph, app: &str) -> Vec<&'g str> {
    graph
        .iter()
        .filter(|(_, deps)| deps.iter().any(|d| d == app))
        .map(|(name, _)| name.as_str())
        .collect()
}

/// What the gates need to know of another app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppStatus {
    /// Its deployment completed and it has its minimum of healthy instances.
    pub available: bool,
    /// Its live instances.
    pub live_instances: u32,
}

/// A gate's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Go ahead.
    Open,
    /// Wait for these apps.
    Wait {
        /// The apps waited for.
        on: Vec<String>,
        /// Why, for the app's condition.
        message: String,
    },
}

/// May an app with these dependencies start or be upgraded? Only when each exists and is
/// available. `status` looks up another app of the namespace.
pub fn start_gate<'a>(
    dependencies: &[String],
    status: impl Fn(&str) -> Option<&'a AppStatus>,
) -> Gate {
    let waiting: Vec<(String, &str)> = dependencies
        .iter()
        .filter_map(|d| match status(d) {
            None => Some((d.clone(), "does not exist")),
            Some(s) if !s.available => Some((d.clone(), "is not available")),
            Some(_) => None,
        })
        .collect();
    gate(waiting, "waiting for dependencies")
}

/// May an app stop (scale to zero or be deleted)? Only once every app depending on it
/// has no live instance left.
pub fn stop_gate<'a>(dependents: &[&str], status: impl Fn(&str) -> Option<&'a AppStatus>) -> Gate {
    let waiting: Vec<(String, &str)> = dependents
        .iter()
        .filter(|d| status(d).is_some_and(|s| s.live_instances > 0))
        .map(|d| (d.to_string(), "still runs"))
        .collect();
    gate(waiting, "waiting for dependents to stop")
}

fn gate(waiting: Vec<(String, &str)>, what: &str) -> Gate {
    if waiting.is_empty() {
        return Gate::Open;
    }
    let detail: Vec<String> = waiting
        .iter()
        .map(|(a, why)| format!("{a} {why}"))
        .collect();
    Gate::Wait {
        message: format!("{what}: {}", detail.join(", ")),
        on: waiting.into_iter().map(|(a, _)| a).collect(),
    }
}
