//! The admission decision, pure: an App's dependencies and what the namespace holds in,
//! a verdict out.
//!
//! - Every dependency **added** by the request (all of them on CREATE, those not in the
//!   old object on UPDATE) must name an App of the namespace. Dependencies the App already
//!   had are not judged again: an App whose dependency was deleted later can still be
//!   scaled, edited or have its finalizers removed (its `Progressing` condition reports the
//!   missing dependency, as for an App created while the webhook was off).
//! - An added dependency must not close a cycle (`a → b → a`): from the dependency, the
//!   App itself must not be reachable through the namespace's other Apps. Cycles the
//!   namespace already had (created while the webhook was off) do not block an unrelated
//!   change.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// What an App of the namespace depends on (its name → `spec.dependencies`).
pub type Namespace = BTreeMap<String, Vec<String>>;

/// The verdict on one App.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Admit it.
    Allow,
    /// Refuse it: one message per offending dependency, each naming its field.
    Deny(Vec<String>),
}

impl Verdict {
    /// The message the API server shows (the reasons joined), empty when allowed.
    pub fn message(&self) -> String {
        match self {
            Verdict::Allow => String::new(),
            Verdict::Deny(reasons) => reasons.join("; "),
        }
    }
}

/// Judges App `name` of namespace `namespace` whose `spec.dependencies` become
/// `dependencies` (`previous`: what they were before an UPDATE, empty on CREATE);
/// `existing` holds every App of the namespace as stored now (the App itself included on
/// UPDATE, with its old dependencies).
pub fn judge(
    namespace: &str,
    name: &str,
    dependencies: &[String],
    previous: &[String],
    existing: &Namespace,
) -> Verdict {
    // The namespace as it would be with this request admitted.
    let mut graph = existing.clone();
    graph.insert(name.to_string(), dependencies.to_vec());
    let reasons: Vec<String> = dependencies
        .iter()
        .enumerate()
        .filter(|(_, d)| !previous.contains(d))
        .filter_map(|(i, dependency)| {
            let field = format!("spec.dependencies[{i}]");
            if dependency == name {
                // The CRD's CEL rule refuses this first; kept for a schema-less cluster.
                return Some(format!("{field}: an App cannot depend on itself"));
            }
            if !existing.contains_key(dependency) {
                return Some(format!(
                    "{field}: App \"{dependency}\" does not exist in namespace \"{namespace}\"; \
                     create it first (in one `kubectl apply -f`, list it before the Apps that \
                     depend on it)"
                ));
            }
            path(&graph, dependency, name).map(|mut cycle| {
                cycle.insert(0, name.to_string());
                format!(
                    "{field}: depending on App \"{dependency}\" makes a dependency cycle: {}",
                    cycle.join(" -> ")
                )
            })
        })
        .collect();
    if reasons.is_empty() {
        Verdict::Allow
    } else {
        Verdict::Deny(reasons)
    }
}

/// The shortest dependency path from `from` to `to` (both ends included), by breadth-first
/// search; `None` when `to` cannot be reached.
fn path(graph: &Namespace, from: &str, to: &str) -> Option<Vec<String>> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut seen: BTreeSet<&str> = BTreeSet::from([from]);
    let mut queue: VecDeque<&str> = VecDeque::from([from]);
    while let Some(app) = queue.pop_front() {
        if app == to {
            let mut path = vec![to.to_string()];
            let mut at = to;
            while let Some(prev) = came_from.get(at) {
                path.push(prev.to_string());
                at = prev;
            }
            path.reverse();
            return Some(path);
        }
        for dep in graph.get(app).into_iter().flatten() {
            if seen.insert(dep.as_str()) {
                came_from.insert(dep.as_str(), app);
                queue.push_back(dep.as_str());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(apps: &[(&str, &[&str])]) -> Namespace {
        apps.iter()
            .map(|(a, deps)| (a.to_string(), deps.iter().map(|d| d.to_string()).collect()))
            .collect()
    }

    fn deps(d: &[&str]) -> Vec<String> {
        d.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn existing_dependencies_are_allowed() {
        let existing = ns(&[("db", &[]), ("cache", &[])]);
        assert_eq!(
            judge("prod", "web", &deps(&["db", "cache"]), &[], &existing),
            Verdict::Allow
        );
        assert_eq!(judge("prod", "web", &[], &[], &existing), Verdict::Allow);
        assert_eq!(
            judge("prod", "web", &[], &[], &Namespace::new()),
            Verdict::Allow
        );
    }

    #[test]
    fn a_missing_dependency_is_denied_naming_its_field_namespace_and_a_hint() {
        let existing = ns(&[("db", &[])]);
        let verdict = judge("prod", "web", &deps(&["db", "cache"]), &[], &existing);
        assert_eq!(
            verdict,
            Verdict::Deny(vec![
                "spec.dependencies[1]: App \"cache\" does not exist in namespace \"prod\"; \
                 create it first (in one `kubectl apply -f`, list it before the Apps that \
                 depend on it)"
                    .to_string()
            ])
        );
        assert!(
            verdict
                .message()
                .starts_with("spec.dependencies[1]: App \"cache\"")
        );
    }

    #[test]
    fn every_missing_dependency_is_named() {
        let verdict = judge("n", "web", &deps(&["a", "b"]), &[], &Namespace::new());
        let Verdict::Deny(reasons) = verdict else {
            panic!("allowed")
        };
        assert_eq!(reasons.len(), 2);
        assert!(reasons[0].starts_with("spec.dependencies[0]: App \"a\""));
        assert!(reasons[1].starts_with("spec.dependencies[1]: App \"b\""));
    }

    #[test]
    fn an_update_judges_only_the_dependencies_it_adds() {
        // `web` depended on `db`, since deleted: a scale or an edit still goes through.
        let existing = ns(&[("web", &["db"]), ("cache", &[])]);
        assert_eq!(
            judge("n", "web", &deps(&["db"]), &deps(&["db"]), &existing),
            Verdict::Allow
        );
        assert_eq!(
            judge(
                "n",
                "web",
                &deps(&["db", "cache"]),
                &deps(&["db"]),
                &existing
            ),
            Verdict::Allow
        );
        // Adding one that does not exist is refused, naming its index in the new list.
        let verdict = judge(
            "n",
            "web",
            &deps(&["db", "queue"]),
            &deps(&["db"]),
            &existing,
        );
        assert!(
            verdict
                .message()
                .starts_with("spec.dependencies[1]: App \"queue\" does not exist"),
            "{verdict:?}"
        );
    }

    #[test]
    fn a_dependency_closing_a_cycle_is_denied_with_the_cycle() {
        // b → a exists; a (updated) → b would close a → b → a.
        let existing = ns(&[("a", &[]), ("b", &["a"])]);
        let verdict = judge("n", "a", &deps(&["b"]), &[], &existing);
        assert_eq!(
            verdict,
            Verdict::Deny(vec![
                "spec.dependencies[0]: depending on App \"b\" makes a dependency cycle: a -> b -> a"
                    .to_string()
            ])
        );
        // A longer one, through the shortest path.
        let existing = ns(&[("a", &[]), ("b", &["c"]), ("c", &["d", "a"]), ("d", &["a"])]);
        assert!(
            judge("n", "a", &deps(&["b"]), &[], &existing)
                .message()
                .ends_with("a -> b -> c -> a")
        );
    }

    #[test]
    fn a_diamond_is_no_cycle() {
        let existing = ns(&[("db", &[]), ("api", &["db"]), ("worker", &["db"])]);
        assert_eq!(
            judge("n", "web", &deps(&["api", "worker", "db"]), &[], &existing),
            Verdict::Allow
        );
    }

    #[test]
    fn a_cycle_elsewhere_does_not_block_an_unrelated_app() {
        let existing = ns(&[("x", &["y"]), ("y", &["x"]), ("db", &[])]);
        assert_eq!(
            judge("n", "web", &deps(&["db"]), &[], &existing),
            Verdict::Allow
        );
        // Depending on an app of that cycle is no cycle through `web` either.
        assert_eq!(
            judge("n", "web", &deps(&["x"]), &[], &existing),
            Verdict::Allow
        );
    }

    #[test]
    fn depending_on_itself_is_denied() {
        let existing = ns(&[("a", &[])]);
        assert_eq!(
            judge("n", "a", &deps(&["a"]), &[], &existing).message(),
            "spec.dependencies[0]: an App cannot depend on itself"
        );
    }
}
