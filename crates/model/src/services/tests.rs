//! Tests of the small services modules: victims, backoff, health, unreachable,
//! dependencies, strategy.

use std::collections::BTreeMap;

use jiff::Timestamp;
use proptest::prelude::*;

use super::dependencies::{self, AppStatus, DependencyError, Gate};
use super::*;
use crate::constraints::{
    ConstraintOperator, ConstraintSpec, Constraints, NodeAttributes, ZONE_LABEL, parse,
    satisfied_by,
};

pub(crate) fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).expect("valid timestamp")
}

pub(crate) fn instance(id: &str, state: InstanceState, started: i64) -> Instance {
    Instance {
        id: id.to_string(),
        version: 1,
        state,
        healthy: true,
        ready: true,
        started_at: Some(at(started)),
        failures: 0,
        node: Some(NodeAttributes::new(&format!("node-{id}"), [])),
    }
}

fn in_zone(id: &str, zone: &str) -> Instance {
    Instance {
        node: Some(NodeAttributes::new(
            &format!("node-{id}"),
            [(ZONE_LABEL, zone)],
        )),
        ..instance(id, InstanceState::Running, 0)
    }
}

fn constraints(list: &[(&str, ConstraintOperator, Option<&str>)]) -> Constraints {
    let specs: Vec<ConstraintSpec> = list
        .iter()
        .map(|(f, op, v)| ConstraintSpec::new(f, *op, *v))
        .collect();
    parse(&specs).expect("valid")
}

fn victim_ids(candidates: &[Instance], k: usize, c: &Constraints, s: KillSelection) -> Vec<String> {
    let refs: Vec<&Instance> = candidates.iter().collect();
    select_victims(&refs, &[], k, c, s)
        .iter()
        .filter_map(|v| candidates.get(v.index).map(|i| i.id.clone()))
        .collect()
}

#[test]
fn scale_down_follows_marathons_state_order_then_kill_selection() {
    use InstanceState::*;
    let mut unhealthy = instance("running-unhealthy", Running, 5);
    unhealthy.healthy = false;
    let fleet = vec![
        instance("running-old", Running, 1),
        instance("running-young", Running, 9),
        instance("starting", Starting, 2),
        unhealthy,
        instance("unreachable", Unreachable, 3),
        instance("staging", Staging, 4),
    ];
    let none = Constraints::default();
    let youngest = victim_ids(&fleet, 6, &none, KillSelection::YoungestFirst);
    assert_eq!(
        youngest,
        [
            "unreachable",
            "staging",
            "starting",
            "running-unhealthy",
            "running-young",
            "running-old"
        ]
    );
    let oldest = victim_ids(&fleet, 6, &none, KillSelection::OldestFirst);
    assert_eq!(oldest[4..], ["running-old", "running-young"]);
    assert_eq!(
        victim_ids(&fleet, 2, &none, KillSelection::YoungestFirst).len(),
        2
    );
    assert_eq!(
        victim_ids(&fleet, 9, &none, KillSelection::YoungestFirst).len(),
        6
    );
}

#[test]
fn scale_down_cancels_unplaced_launches_first() {
    let mut unplaced = instance("unplaced", InstanceState::Staging, 1);
    unplaced.node = None;
    let fleet = [
        instance("unreachable", InstanceState::Unreachable, 0),
        unplaced,
    ];
    let refs: Vec<&Instance> = fleet.iter().collect();
    let victims = select_victims(
        &refs,
        &[],
        1,
        &Constraints::default(),
        KillSelection::YoungestFirst,
    );
    assert_eq!(
        victims,
        vec![Victim {
            index: 1,
            reason: VictimReason::NotPlaced
        }]
    );
}

#[test]
fn scale_down_restores_the_spread_before_the_kill_order() {
    // Three in zone a (the youngest is b's), one in b: GROUP_BY 2 wants 2 + 1 of 3.
    let mut fleet = vec![
        in_zone("a1", "a"),
        in_zone("a2", "a"),
        in_zone("a3", "a"),
        in_zone("b1", "b"),
    ];
    fleet[3].started_at = Some(at(100));
    let c = constraints(&[("zone", ConstraintOperator::GroupBy, Some("2"))]);
    let refs: Vec<&Instance> = fleet.iter().collect();
    let victims = select_victims(&refs, &[], 1, &c, KillSelection::YoungestFirst);
    assert_eq!(victims.len(), 1);
    assert_eq!(
        fleet[victims[0].index]
            .node
            .as_ref()
            .and_then(|n| n.labels.get(ZONE_LABEL))
            .map(String::as_str),
        Some("a")
    );
    assert_eq!(
        victims[0].reason.to_string(),
        "restores the spread of constraint 0 (zone GROUP_BY 2)"
    );
    let max_per = constraints(&[("zone", ConstraintOperator::MaxPer, Some("1"))]);
    let kept: Vec<String> = {
        let v = victim_ids(&fleet, 2, &max_per, KillSelection::YoungestFirst);
        fleet
            .iter()
            .map(|i| i.id.clone())
            .filter(|id| !v.contains(id))
            .collect()
    };
    assert_eq!(kept.len(), 2);
    assert!(kept.contains(&"b1".to_string()), "one per zone: {kept:?}");
}

#[test]
fn instances_on_nodes_that_no_longer_match_go_first() {
    let mut fleet = vec![in_zone("a1", "a"), in_zone("b1", "b"), in_zone("c1", "c")];
    fleet[0].started_at = Some(at(50));
    let c = constraints(&[("zone", ConstraintOperator::Unlike, Some("b"))]);
    assert_eq!(
        victim_ids(&fleet, 1, &c, KillSelection::YoungestFirst),
        ["b1"]
    );
}

fn arb_victim_case() -> impl Strategy<Value = (Vec<Instance>, Vec<ConstraintSpec>, usize)> {
    let inst = (0..3usize, 0..5usize, 0..4u8, any::<bool>(), 0..100i64);
    let rule = prop_oneof![
        Just((ConstraintOperator::Unique, None)),
        Just((ConstraintOperator::Cluster, None)),
        Just((ConstraintOperator::GroupBy, None)),
        (1..4u32).prop_map(|n| (ConstraintOperator::GroupBy, Some(n))),
        (1..3u32).prop_map(|n| (ConstraintOperator::MaxPer, Some(n))),
    ];
    (
        prop::collection::vec(inst, 1..9),
        prop::collection::vec(rule, 1..3),
        prop::option::of(prop::sample::select(vec![
            ConstraintSpec::new("rack", ConstraintOperator::Like, Some("r-[12]")),
            ConstraintSpec::new("rack", ConstraintOperator::Unlike, Some("r-3")),
        ])),
        0..9usize,
    )
        .prop_filter("one GROUP_BY per field", |(_, rules, _, _)| {
            rules
                .iter()
                .filter(|(op, _)| *op == ConstraintOperator::GroupBy)
                .count()
                <= 1
        })
        .prop_map(|(raw, rules, predicate, k)| {
            let states = [
                InstanceState::Running,
                InstanceState::Staging,
                InstanceState::Starting,
                InstanceState::Unreachable,
            ];
            let fleet = raw
                .iter()
                .enumerate()
                .map(|(i, &(zone, rack, state, healthy, started))| {
                    let labels = [
                        (ZONE_LABEL, ["a", "b", "c"][zone]),
                        ("rack", ["r-1", "r-2", "r-3", "r-4", "r-5"][rack]),
                    ];
                    Instance {
                        healthy,
                        node: Some(NodeAttributes::new(&format!("n{i}"), labels)),
                        ..instance(&format!("i{i}"), states[usize::from(state)], started)
                    }
                })
                .collect();
            let mut specs: Vec<ConstraintSpec> = rules
                .iter()
                .map(|(op, n)| {
                    ConstraintSpec::new("zone", *op, n.map(|n| n.to_string()).as_deref())
                })
                .collect();
            specs.extend(predicate);
            (fleet, specs, k)
        })
}

proptest! {
    #[test]
    fn the_kept_set_satisfies_the_constraints_whenever_a_subset_of_its_size_does(
        (fleet, specs, k) in arb_victim_case(),
    ) {
        let c = parse(&specs).expect("valid");
        let refs: Vec<&Instance> = fleet.iter().collect();
        let victims = select_victims(&refs, &[], k, &c, KillSelection::YoungestFirst);
        let k = k.min(fleet.len());
        prop_assert_eq!(victims.len(), k);
        let mut seen: Vec<usize> = victims.iter().map(|v| v.index).collect();
        seen.sort_unstable();
        seen.dedup();
        prop_assert_eq!(seen.len(), k, "victims are distinct");
        let kept: Vec<&NodeAttributes> = fleet
            .iter()
            .enumerate()
            .filter(|(i, _)| !seen.contains(i))
            .filter_map(|(_, f)| f.node.as_ref())
            .collect();
        let nodes: Vec<&NodeAttributes> = fleet.iter().filter_map(|f| f.node.as_ref()).collect();
        let possible = crate::constraints::tests::subsets(nodes.len(), nodes.len() - k)
            .into_iter()
            .any(|s| satisfied_by(&c, &s.iter().filter_map(|&i| nodes.get(i).copied()).collect::<Vec<_>>()));
        if possible {
            prop_assert!(satisfied_by(&c, &kept), "kept {:?} under {:?}", kept, specs);
        }
    }
}

#[test]
fn backoff_grows_by_its_factor_up_to_the_maximum() {
    let strategy = BackoffStrategy {
        backoff_seconds: 10.0,
        backoff_factor: 2.0,
        max_launch_delay_seconds: 35.0,
    };
    let mut state = BackoffState::default();
    let mut delays = vec![];
    for (i, t) in [0, 1, 2, 3].iter().enumerate() {
        state = state.on_termination(&strategy, 1, Termination::Failed, at(*t));
        delays.push(state.delay_seconds);
        assert_eq!(state.failures, i as u32 + 1);
    }
    assert_eq!(delays, [10.0, 20.0, 35.0, 35.0]);
    assert_eq!(state.launch_not_before(&strategy, at(3)), Some(at(38)));
    let status = state.status(&strategy, at(10));
    assert_eq!(status.current_delay_seconds, 35.0);
    assert_eq!(status.time_left_seconds, 28.0);
    assert_eq!(state.launch_not_before(&strategy, at(38)), None);
}

#[test]
fn backoff_ignores_kills_and_replays_and_resets_on_a_new_version_or_request() {
    let strategy = BackoffStrategy::default();
    let failed = BackoffState::default().on_termination(&strategy, 1, Termination::Finished, at(0));
    assert_eq!(failed.delay_seconds, 1.0);
    assert_eq!(
        failed.on_termination(&strategy, 1, Termination::Killed, at(5)),
        failed
    );
    assert_eq!(
        failed.on_termination(&strategy, 1, Termination::Lost, at(5)),
        failed
    );
    assert_eq!(
        failed.on_termination(&strategy, 1, Termination::Finished, at(0)),
        failed,
        "replay"
    );
    let health = failed.on_termination(&strategy, 1, Termination::HealthKill, at(1));
    assert!((health.delay_seconds - 1.15).abs() < 1e-9);
    assert_eq!(health.for_version(2).delay_seconds, 0.0);
    assert_eq!(health.for_version(2).version, Some(2));
    assert_eq!(health.reset().delay_seconds, 0.0);
    assert_eq!(health.reset().version, Some(1));
    let overdue = health.on_termination(&strategy, 1, Termination::Failed, at(1000));
    assert_eq!(
        overdue.delay_seconds, 1.0,
        "no failure for maxLaunchDelay: starts over"
    );
    assert_eq!(
        health.status(&strategy, at(1000)).current_delay_seconds,
        0.0
    );
    let bad = BackoffStrategy {
        backoff_factor: f64::NAN,
        ..BackoffStrategy::default()
    };
    assert_eq!(bad.validate().map_err(|e| e.field), Err("backoffFactor"));
    let json: BackoffStrategy = serde_json::from_str("{}").expect("defaults");
    assert_eq!(json, BackoffStrategy::default());
}

fn seen(
    state: InstanceState,
    healthy: Option<bool>,
    failures: u32,
    ever: bool,
) -> HealthObservation {
    HealthObservation {
        state,
        healthy,
        ready: Some(true),
        consecutive_failures: failures,
        ever_healthy: ever,
        started_at: Some(at(0)),
    }
}

#[test]
fn health_ignores_failures_in_the_grace_period_and_replaces_past_the_limit() {
    use InstanceState::*;
    let policy = HealthPolicy {
        grace_period_seconds: 60,
        max_consecutive_failures: 3,
    };
    let judge = |s: &HealthObservation, now: i64| summarize(&policy, true, false, s, at(now));
    let early = judge(&seen(Running, Some(false), 5, false), 30);
    assert_eq!(
        (early.health, early.replace, early.counting),
        (Health::Unknown, false, false)
    );
    assert_eq!(early.grace_ends_at, Some(at(60)));
    let once_healthy = judge(&seen(Running, Some(false), 3, true), 30);
    assert_eq!(
        (once_healthy.health, once_healthy.replace),
        (Health::Unhealthy, true)
    );
    let late = judge(&seen(Running, Some(false), 2, false), 90);
    assert_eq!(
        (late.health, late.replace, late.counting),
        (Health::Unhealthy, false, true)
    );
    let dead = judge(&seen(Running, Some(false), 3, false), 90);
    assert!(dead.replace);
    assert_eq!(
        dead.message,
        "3 consecutive health-check failures (at most 3): replacing it"
    );
    assert_eq!(
        judge(&seen(Running, Some(true), 0, true), 90).health,
        Health::Healthy
    );
    assert_eq!(
        judge(&seen(Running, None, 0, false), 90).health,
        Health::Unknown
    );
    assert_eq!(
        judge(&seen(Staging, None, 0, false), 90).health,
        Health::Unknown
    );
    let never = HealthPolicy {
        max_consecutive_failures: 0,
        ..policy.clone()
    };
    assert!(
        !summarize(
            &never,
            true,
            false,
            &seen(Running, Some(false), 99, true),
            at(90)
        )
        .replace
    );
    let unchecked = summarize(&policy, false, false, &seen(Running, None, 0, false), at(0));
    assert_eq!((unchecked.health, unchecked.ready), (Health::Healthy, true));
}

#[test]
fn readiness_gates_only_when_there_is_a_check() {
    let policy = HealthPolicy::default();
    let mut s = seen(InstanceState::Running, Some(true), 0, true);
    s.ready = None;
    assert!(!summarize(&policy, true, true, &s, at(0)).ready);
    assert!(summarize(&policy, true, false, &s, at(0)).ready);
    s.ready = Some(true);
    assert!(summarize(&policy, true, true, &s, at(0)).ready);
    s.state = InstanceState::Starting;
    assert!(!summarize(&policy, true, true, &s, at(0)).ready);
}

#[test]
fn unreachable_instances_wait_then_are_replaced_then_expunged() {
    use UnreachableDecision::*;
    let strategy = UnreachableStrategy {
        disabled: false,
        inactive_after_seconds: 60,
        expunge_after_seconds: 300,
    };
    let decide_at = |now| decide(&strategy, InstanceState::Unreachable, Some(at(0)), at(now));
    assert_eq!(
        decide_at(10),
        Wait {
            inactive_at: Some(at(60))
        }
    );
    assert_eq!(
        decide_at(60),
        Inactive {
            expunge_at: at(300)
        }
    );
    assert_eq!(
        decide(
            &strategy,
            InstanceState::UnreachableInactive,
            Some(at(0)),
            at(299)
        ),
        Inactive {
            expunge_at: at(300)
        }
    );
    assert_eq!(decide_at(300), Expunge);
    assert_eq!(
        decide(&strategy, InstanceState::Running, Some(at(0)), at(500)),
        Reachable
    );
    let disabled = UnreachableStrategy {
        disabled: true,
        ..strategy.clone()
    };
    assert_eq!(
        decide(
            &disabled,
            InstanceState::Unreachable,
            Some(at(0)),
            at(10_000)
        ),
        Wait { inactive_at: None }
    );
    assert_eq!(
        decide(
            &UnreachableStrategy::default(),
            InstanceState::Unreachable,
            None,
            at(0)
        ),
        Expunge
    );
}

#[test]
fn an_unreachable_strategy_expunges_no_sooner_than_it_replaces() {
    let bad = UnreachableStrategy {
        disabled: false,
        inactive_after_seconds: 10,
        expunge_after_seconds: 5,
    };
    assert_eq!(
        bad.validate().map_err(|e| e.to_string()),
        Err("expungeAfterSeconds (5) must be at least inactiveAfterSeconds (10)".to_string())
    );
}

fn graph(edges: &[(&str, &[&str])]) -> dependencies::Graph {
    edges
        .iter()
        .map(|(app, deps)| {
            (
                app.to_string(),
                deps.iter().map(|d| d.to_string()).collect(),
            )
        })
        .collect()
}

#[test]
fn dependency_validation_names_missing_apps_and_cycles() {
    let g = graph(&[
        ("web", &["api"]),
        ("api", &["db", "cache"]),
        ("db", &[]),
        ("worker", &["queue"]),
    ]);
    let errors = dependencies::validate(&g);
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "app api depends on cache, which does not exist",
            "app worker depends on queue, which does not exist"
        ]
    );
    let cyclic = graph(&[
        ("a", &["b"]),
        ("b", &["c"]),
        ("c", &["a"]),
        ("d", &["a"]),
        ("e", &["e"]),
    ]);
    let errors = dependencies::validate(&cyclic);
    assert_eq!(
        errors,
        vec![
            DependencyError::Cycle(vec!["a".into(), "b".into(), "c".into(), "a".into()]),
            DependencyError::Cycle(vec!["e".into(), "e".into()]),
        ]
    );
    assert_eq!(errors[0].to_string(), "dependency cycle: a -> b -> c -> a");
    assert_eq!(
        dependencies::start_order(&cyclic),
        Vec::<Vec<String>>::new()
    );
}

#[test]
fn apps_start_after_their_dependencies_and_stop_before_them() {
    let g = graph(&[
        ("web", &["api"]),
        ("api", &["db"]),
        ("db", &[]),
        ("batch", &["db"]),
    ]);
    assert_eq!(
        dependencies::start_order(&g),
        vec![
            vec!["db".to_string()],
            vec!["api".into(), "batch".into()],
            vec!["web".into()]
        ]
    );
}

fn statuses() -> BTreeMap<&'static str, AppStatus> {
    [
        (
            "db",
            AppStatus {
                available: true,
                live_instances: 3,
            },
        ),
        (
            "api",
            AppStatus {
                available: false,
                live_instances: 1,
            },
        ),
        (
            "batch",
            AppStatus {
                available: true,
                live_instances: 0,
            },
        ),
    ]
    .into()
}

#[test]
fn the_gates_wait_for_dependencies_and_dependents() {
    let g = graph(&[
        ("web", &["api"]),
        ("api", &["db"]),
        ("db", &[]),
        ("batch", &["db"]),
    ]);
    let status = statuses();
    let lookup = |name: &str| status.get(name);
    assert_eq!(
        dependencies::start_gate(&["db".to_string()], lookup),
        Gate::Open
    );
    assert_eq!(
        dependencies::start_gate(&["api".to_string(), "gone".to_string()], lookup),
        Gate::Wait {
            on: vec!["api".into(), "gone".into()],
            message: "waiting for dependencies: api is not available, gone does not exist".into(),
        }
    );
    let dependents = dependencies::dependents(&g, "db");
    assert_eq!(dependents, ["api", "batch"]);
    assert_eq!(
        dependencies::stop_gate(&dependents, lookup),
        Gate::Wait {
            on: vec!["api".into()],
            message: "waiting for dependents to stop: api still runs".into()
        }
    );
    assert_eq!(
        dependencies::stop_gate(&dependencies::dependents(&g, "web"), lookup),
        Gate::Open
    );
}

#[test]
fn capacity_follows_task_replace_actor() {
    let cap = |min: f64, over: f64, n: u32| {
        let s = UpgradeStrategy {
            minimum_health_capacity: min,
            maximum_over_capacity: over,
            ..UpgradeStrategy::default()
        };
        let c = s.capacity(n);
        (c.min_healthy, c.max_instances, c.surge)
    };
    assert_eq!(cap(1.0, 1.0, 10), (10, 20, false));
    assert_eq!(cap(0.5, 0.0, 10), (5, 10, false));
    assert_eq!(cap(1.0, 0.0, 10), (10, 11, true));
    assert_eq!(cap(0.7, 0.1, 10), (7, 11, false));
    assert_eq!(cap(0.5, 0.5, 3), (2, 4, false));
    assert_eq!(cap(0.0, 0.0, 4), (0, 4, false));
    assert_eq!(cap(1.0, 0.0, 0), (0, 1, true));
    let bad = UpgradeStrategy {
        minimum_health_capacity: 1.5,
        ..UpgradeStrategy::default()
    };
    assert_eq!(
        bad.validate().map_err(|e| e.to_string()),
        Err("minimumHealthCapacity must be between 0 and 1, not 1.5".to_string())
    );
    let nan = UpgradeStrategy {
        maximum_over_capacity: f64::NAN,
        ..UpgradeStrategy::default()
    };
    assert!(nan.validate().is_err());
    let empty = UpgradeStrategy {
        canary_instances: Some(0),
        ..UpgradeStrategy::default()
    };
    assert_eq!(empty.validate(), Err(StrategyError::EmptyCanary));
    let json: UpgradeStrategy = serde_json::from_str("{}").expect("defaults");
    assert_eq!(json, UpgradeStrategy::default());
    let text = serde_json::to_string(&UpgradeStrategy::default()).expect("serializes");
    assert_eq!(
        text,
        r#"{"minimumHealthCapacity":1.0,"maximumOverCapacity":1.0,"progressDeadlineSeconds":600,"autoRollback":false}"#
    );
}
