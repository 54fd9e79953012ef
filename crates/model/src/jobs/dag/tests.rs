use std::collections::BTreeMap;

use jiff::Timestamp;

use super::*;

fn view(edges: &[(&str, &[&str])]) -> GraphView {
    GraphView {
        jobs: edges
            .iter()
            .map(|(job, parents)| {
                let node = JobNode {
                    parents: parents.iter().map(|p| p.to_string()).collect(),
                    last_good: None,
                };
                (job.to_string(), node)
            })
            .collect(),
    }
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn a_valid_diamond_has_no_issues() {
    let v = view(&[("a", &[]), ("b", &["a"]), ("c", &["a"]), ("d", &["b", "c"])]);
    assert!(GraphAnalysis::new(&v).all().is_empty());
}

#[test]
fn missing_parents_are_named_on_the_child_and_block_its_descendants() {
    let v = view(&[("b", &["a", "z"]), ("c", &["b"]), ("d", &["c"])]);
    let analysis = GraphAnalysis::new(&v);
    assert_eq!(
        analysis.issues("b"),
        [GraphIssue::MissingParents {
            parents: strings(&["a", "z"])
        }]
    );
    assert_eq!(
        analysis.issues("c"),
        [GraphIssue::BlockedAncestor {
            ancestor: "b".into()
        }]
    );
    assert_eq!(
        analysis.issues("d"),
        [GraphIssue::BlockedAncestor {
            ancestor: "b".into()
        }]
    );
    assert_eq!(
        analysis.issues("b")[0].message(),
        "missing parent job(s): a, z"
    );
}

#[test]
fn cycles_name_their_path_in_trigger_order() {
    // a triggers b, b triggers c, c triggers a; d hangs off the cycle.
    let v = view(&[
        ("a", &["c"]),
        ("b", &["a"]),
        ("c", &["b"]),
        ("d", &["c"]),
        ("e", &[]),
    ]);
    let analysis = GraphAnalysis::new(&v);
    assert_eq!(
        analysis.issues("a"),
        [GraphIssue::Cycle {
            path: strings(&["a", "b", "c", "a"])
        }]
    );
    assert_eq!(
        analysis.issues("b"),
        [GraphIssue::Cycle {
            path: strings(&["b", "c", "a", "b"])
        }]
    );
    assert_eq!(
        analysis.issues("d"),
        [GraphIssue::BlockedAncestor {
            ancestor: "c".into()
        }]
    );
    assert!(analysis.issues("e").is_empty());
    assert_eq!(
        analysis.issues("a")[0].message(),
        "dependency cycle: a → b → c → a"
    );
}

#[test]
fn the_shortest_cycle_through_each_job_is_reported() {
    // a <-> b, and a longer loop a -> b -> c -> a.
    let v = view(&[("a", &["b", "c"]), ("b", &["a"]), ("c", &["b"])]);
    let analysis = GraphAnalysis::new(&v);
    assert_eq!(
        analysis.issues("a"),
        [GraphIssue::Cycle {
            path: strings(&["a", "b", "a"])
        }]
    );
    assert_eq!(
        analysis.issues("c"),
        [GraphIssue::Cycle {
            path: strings(&["c", "a", "b", "c"])
        }]
    );
}

#[test]
fn self_dependency_is_its_own_issue() {
    let v = view(&[("a", &["a"]), ("b", &["a"])]);
    let analysis = GraphAnalysis::new(&v);
    assert_eq!(analysis.issues("a"), [GraphIssue::SelfDependency]);
    assert_eq!(
        analysis.issues("b"),
        [GraphIssue::BlockedAncestor {
            ancestor: "a".into()
        }]
    );
}

#[test]
fn a_long_chain_needs_no_deep_recursion() {
    let names: Vec<String> = (0..50_000).map(|i| format!("j{i}")).collect();
    let mut jobs = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let parents = if i == 0 {
            vec!["missing".to_string()]
        } else {
            vec![names[i - 1].clone()]
        };
        jobs.insert(
            name.clone(),
            JobNode {
                parents,
                last_good: None,
            },
        );
    }
    let analysis = GraphAnalysis::new(&GraphView { jobs });
    assert_eq!(analysis.all().len(), 50_000);
    assert_eq!(
        analysis.issues("j49999"),
        [GraphIssue::BlockedAncestor {
            ancestor: "j0".into()
        }]
    );
}

fn run(name: &str, at: &str) -> RunRef {
    RunRef {
        name: name.into(),
        finished_at: at.parse().unwrap(),
    }
}

#[test]
fn an_edge_is_satisfied_by_a_parent_run_it_has_not_consumed() {
    let baseline: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
    let old = run("a-1", "2023-12-31T00:00:00Z");
    let new = run("a-2", "2024-01-02T00:00:00Z");
    // No record: only runs after the baseline count.
    assert_eq!(satisfying_run(None, Some(&old), baseline), None);
    assert_eq!(satisfying_run(None, Some(&new), baseline), Some(&new));
    // A record: any run other than the consumed one, whatever the clocks say.
    let consumed = EdgeState {
        consumed: Some(new.clone()),
    };
    assert_eq!(satisfying_run(Some(&consumed), Some(&new), baseline), None);
    assert_eq!(
        satisfying_run(Some(&consumed), Some(&old), baseline),
        Some(&old)
    );
    assert_eq!(
        satisfying_run(Some(&EdgeState::default()), Some(&old), baseline),
        Some(&old)
    );
    assert_eq!(
        satisfying_run(Some(&EdgeState::default()), None, baseline),
        None
    );
}

#[test]
fn next_edges_freeze_unsatisfied_new_edges_and_drop_old_ones() {
    let baseline: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
    let mut v = view(&[("a", &[]), ("b", &[])]);
    v.jobs.get_mut("a").unwrap().last_good = Some(run("a-1", "2023-12-31T00:00:00Z"));
    v.jobs.get_mut("b").unwrap().last_good = Some(run("b-1", "2024-01-02T00:00:00Z"));
    let old = BTreeMap::from([("gone".to_string(), EdgeState::default())]);
    let edges = next_edges(&strings(&["a", "b"]), &old, &v, baseline, None);
    assert_eq!(edges.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(
        edges["a"].consumed,
        Some(run("a-1", "2023-12-31T00:00:00Z"))
    );
    assert_eq!(edges["b"].consumed, None);
    // Same readiness before and after the records are written.
    assert_eq!(
        readiness(&strings(&["a", "b"]), &old, &v, baseline),
        Readiness::Waiting(strings(&["a"]))
    );
    assert_eq!(
        readiness(&strings(&["a", "b"]), &edges, &v, baseline),
        Readiness::Waiting(strings(&["a"]))
    );
}
