//! Placement constraints in the allocator: unit tests per operator, and property tests
//! that placements of one cycle never break UNIQUE or MAX_PER and always satisfy every
//! constraint given what was placed before them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use mesos_model::constraints::{
    ConstraintOperator as Op, ConstraintSpec, NodeAttributes, PlacementTracker, ZONE_LABEL, parse,
};
use proptest::prelude::*;

use super::*;
use crate::api::resources::{Cpus, Mebibytes};
use crate::api::{Resources, SchedulerKind};

const MIB: u64 = 1 << 20;

fn res(cpus: u64, mem: u64) -> Resources {
    Resources {
        cpus: Cpus::from_millis(cpus),
        mem: Mebibytes::from_bytes(mem * MIB),
        ..Resources::default()
    }
}

/// An available agent with `cpus` milli-CPUs, 64 GiB and `labels`.
fn agent(name: &str, cpus: u64, labels: &[(&str, &str)]) -> Agent {
    let resources = res(cpus, 65536);
    Agent {
        name: name.to_owned(),
        allocatable: resources.clone(),
        unrequested: resources,
        pod_room: None,
        available: true,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// Six agents: two per zone a, b, c (region r1 for a and b, r2 for c), rack labels.
fn zoned_agents(cpus: u64) -> Vec<Agent> {
    (0..6)
        .map(|i| {
            let zone = ["zone-a", "zone-b", "zone-c"][i / 2];
            let region = if i < 4 { "r1" } else { "r2" };
            let rack = format!("rack-{}", i % 3);
            let disk = if i % 2 == 0 { "ssd" } else { "hdd" };
            agent(
                &format!("node-{i}"),
                cpus,
                &[
                    (ZONE_LABEL, zone),
                    ("topology.kubernetes.io/region", region),
                    ("rack", &rack),
                    ("example.com/disk", disk),
                ],
            )
        })
        .collect()
}

fn spec(field: &str, op: Op, value: Option<&str>) -> ConstraintSpec {
    ConstraintSpec::new(field, op, value)
}

fn group(
    key: &str,
    specs: &[ConstraintSpec],
    target: Option<u32>,
    placed: &[&str],
) -> PlacementGroup {
    PlacementGroup {
        key: key.to_owned(),
        constraints: Arc::new(parse(specs).expect("test constraints parse")),
        target,
        placed: placed.iter().map(|s| s.to_string()).collect(),
    }
}

fn tasks(count: usize, cpus: u64, group: Option<usize>) -> Vec<PendingTask> {
    (0..count)
        .map(|i| PendingTask {
            id: format!("ns/fw/task-{i:02}"),
            resources: res(cpus, 64),
            tolerated_agents: Vec::new(),
            group,
            random_ports: 0,
        })
        .collect()
}

fn snapshot(
    agents: Vec<Agent>,
    pending: Vec<PendingTask>,
    groups: Vec<PlacementGroup>,
) -> Snapshot {
    Snapshot {
        agents,
        frameworks: vec![Framework {
            id: "ns/fw".into(),
            role: "*".into(),
            kind: SchedulerKind::Builtin,
            pending_tasks: pending,
            ..Framework::default()
        }],
        groups,
        seed: 3,
        ..Snapshot::default()
    }
}

/// The agents chosen, in placement order.
fn chosen<'a>(d: &Decisions<'a>) -> Vec<&'a str> {
    d.placements.iter().map(|p| p.agent).collect()
}

fn label_of<'s>(s: &'s Snapshot, agent: &str, key: &str) -> &'s str {
    s.agents
        .iter()
        .find(|a| a.name == agent)
        .and_then(|a| a.labels.get(key))
        .map(String::as_str)
        .unwrap_or("")
}

fn counts<'a>(values: impl IntoIterator<Item = &'a str>) -> BTreeMap<&'a str, usize> {
    let mut map = BTreeMap::new();
    for v in values {
        *map.entry(v).or_insert(0) += 1;
    }
    map
}

fn constrained_summary<'d>(d: &'d Decisions<'_>) -> Vec<(&'d str, bool, &'d str)> {
    d.unplaced
        .iter()
        .filter_map(|u| match &u.reason {
            UnplacedReason::Constrained {
                admitted_some,
                summary,
                ..
            } => Some((u.task, *admitted_some, summary.as_str())),
            _ => None,
        })
        .collect()
}

#[test]
fn unique_hostname_places_one_per_agent_in_one_cycle_and_explains_the_rest() {
    let s = snapshot(
        zoned_agents(8000),
        tasks(8, 100, Some(0)),
        vec![group(
            "ns/fw/web",
            &[spec("hostname", Op::Unique, None)],
            None,
            &[],
        )],
    );
    let d = allocate(&s);
    let agents = chosen(&d);
    assert_eq!(agents.len(), 6, "{d:?}");
    assert!(counts(agents).values().all(|&c| c == 1));
    let refused = constrained_summary(&d);
    assert_eq!(refused.len(), 2);
    for (_, admitted_some, summary) in refused {
        assert!(!admitted_some);
        assert!(
            summary.starts_with("0 of 6 nodes admit it: constraint 0 (hostname UNIQUE) refused 6"),
            "{summary}"
        );
    }
    let message = d.unplaced[0].reason.to_string();
    assert!(
        message.contains("placement constraints admit no available agent"),
        "{message}"
    );
}

#[test]
fn the_reason_does_not_change_with_the_visiting_order() {
    // The seed changes every cycle; the message on the task must not.
    let reasons: Vec<String> = (0..8)
        .map(|seed| {
            let s = Snapshot {
                seed,
                ..snapshot(
                    zoned_agents(8000),
                    tasks(1, 100, Some(0)),
                    vec![group(
                        "ns/fw/web",
                        &[spec("zone", Op::MaxPer, Some("1"))],
                        None,
                        &["node-0", "node-2", "node-5"],
                    )],
                )
            };
            allocate(&s).unplaced[0].reason.to_string()
        })
        .collect();
    assert!(reasons.iter().all(|r| *r == reasons[0]), "{reasons:?}");
    assert!(
        reasons[0].contains(
            "constraint 0 (zone MAX_PER 1) refused 6 (zone-a already has 1 instances (at most 1))"
        ),
        "{}",
        reasons[0]
    );
}

#[test]
fn live_tasks_and_launches_in_flight_count() {
    // node-0 and node-1 hold tasks of the group already (one running, one in flight).
    let s = snapshot(
        zoned_agents(8000),
        tasks(1, 100, Some(0)),
        vec![group(
            "ns/fw/web",
            &[spec("zone", Op::Unique, None)],
            None,
            &["node-0", "node-3"],
        )],
    );
    let d = allocate(&s);
    assert_eq!(chosen(&d).len(), 1);
    assert_eq!(label_of(&s, chosen(&d)[0], ZONE_LABEL), "zone-c");
}

#[test]
fn max_per_zone_holds_within_a_cycle() {
    let s = snapshot(
        zoned_agents(8000),
        tasks(9, 100, Some(0)),
        vec![group(
            "ns/fw/web",
            &[spec("zone", Op::MaxPer, Some("2"))],
            None,
            &["node-4"],
        )],
    );
    let d = allocate(&s);
    let zones = counts(chosen(&d).into_iter().map(|a| label_of(&s, a, ZONE_LABEL)));
    assert_eq!(
        zones,
        BTreeMap::from([("zone-a", 2), ("zone-b", 2), ("zone-c", 1)]),
        "node-4 (zone-c) already holds one"
    );
    assert_eq!(constrained_summary(&d).len(), 4);
}

#[test]
fn cluster_pins_a_value_or_the_first_instance() {
    let s = snapshot(
        zoned_agents(8000),
        tasks(4, 100, Some(0)),
        vec![group(
            "ns/fw/web",
            &[spec("rack", Op::Cluster, Some("rack-1"))],
            None,
            &[],
        )],
    );
    let d = allocate(&s);
    assert_eq!(chosen(&d).len(), 4);
    assert!(
        chosen(&d)
            .iter()
            .all(|a| label_of(&s, a, "rack") == "rack-1")
    );

    // Without a value: the first live instance's region.
    let s = snapshot(
        zoned_agents(8000),
        tasks(4, 100, Some(0)),
        vec![group(
            "ns/fw/web",
            &[spec("region", Op::Cluster, None)],
            None,
            &["node-5"],
        )],
    );
    let d = allocate(&s);
    assert_eq!(chosen(&d).len(), 4);
    assert!(
        chosen(&d)
            .iter()
            .all(|a| label_of(&s, a, "topology.kubernetes.io/region") == "r2")
    );
}

#[test]
fn like_unlike_and_is_filter_agents() {
    for (specs, allowed) in [
        (
            vec![spec("example.com/disk", Op::Like, Some("ss.*"))],
            vec!["node-0", "node-2", "node-4"],
        ),
        (
            vec![spec("zone", Op::Unlike, Some("zone-(a|b)"))],
            vec!["node-4", "node-5"],
        ),
        (
            vec![spec("region", Op::Is, Some("r1"))],
            vec!["node-0", "node-1", "node-2", "node-3"],
        ),
        (
            vec![
                spec("hostname", Op::Like, Some("node-[13]")),
                spec("rack", Op::Is, Some("rack-0")),
            ],
            vec!["node-3"],
        ),
    ] {
        let s = snapshot(
            zoned_agents(8000),
            tasks(12, 100, Some(0)),
            vec![group("ns/fw/web", &specs, None, &[])],
        );
        let d = allocate(&s);
        assert_eq!(d.placements.len(), 12, "{specs:?}: {d:?}");
        for a in chosen(&d) {
            assert!(allowed.contains(&a), "{specs:?} placed on {a}");
        }
    }
}

#[test]
fn unlike_admits_agents_without_the_label_and_like_does_not() {
    let mut agents = zoned_agents(8000);
    agents.push(agent("bare", 8000, &[]));
    let s = snapshot(
        agents.clone(),
        tasks(10, 1000, Some(0)),
        vec![group(
            "ns/fw/web",
            &[spec("rack", Op::Unlike, Some("rack-.*"))],
            None,
            &[],
        )],
    );
    let d = allocate(&s);
    assert!(chosen(&d).iter().all(|a| *a == "bare"));
    assert_eq!(chosen(&d).len(), 8, "bare has room for 8");
    // The rest: the constraints admit one agent, which is full.
    let refused = constrained_summary(&d);
    assert_eq!(refused.len(), 2);
    assert!(refused.iter().all(|(_, admitted_some, _)| *admitted_some));
    let message = d.unplaced[0].reason.to_string();
    assert!(
        message.contains("no available agent that its placement constraints admit has room"),
        "{message}"
    );

    let s = snapshot(
        agents,
        tasks(1, 100, Some(0)),
        vec![group(
            "ns/fw/web",
            &[spec("gpu", Op::Like, Some(".*"))],
            None,
            &[],
        )],
    );
    let d = allocate(&s);
    assert!(d.placements.is_empty());
    let refused = constrained_summary(&d);
    assert!(
        refused[0].2.contains("has no label gpu"),
        "{}",
        refused[0].2
    );
}

#[test]
fn group_by_with_a_count_spreads_the_target_evenly() {
    // 6 instances over 3 zones: 2 each, whatever the first-fit order.
    let s = snapshot(
        zoned_agents(8000),
        tasks(6, 100, Some(0)),
        vec![group(
            "ns/fw/web",
            &[spec("zone", Op::GroupBy, Some("3"))],
            Some(6),
            &[],
        )],
    );
    let d = allocate(&s);
    let zones = counts(chosen(&d).into_iter().map(|a| label_of(&s, a, ZONE_LABEL)));
    assert_eq!(
        zones,
        BTreeMap::from([("zone-a", 2), ("zone-b", 2), ("zone-c", 2)])
    );

    // GROUP_BY 2 over 3 zones: only two zones are ever used, 3 each.
    let s = snapshot(
        zoned_agents(8000),
        tasks(8, 100, Some(0)),
        vec![group(
            "ns/fw/web",
            &[spec("zone", Op::GroupBy, Some("2"))],
            Some(6),
            &[],
        )],
    );
    let d = allocate(&s);
    let zones = counts(chosen(&d).into_iter().map(|a| label_of(&s, a, ZONE_LABEL)));
    assert_eq!(zones.len(), 2, "{zones:?}");
    assert!(zones.values().all(|&c| c == 3), "{zones:?}");
    assert_eq!(constrained_summary(&d).len(), 2);
}

#[test]
fn group_by_without_a_count_keeps_values_even() {
    let s = snapshot(
        zoned_agents(8000),
        tasks(7, 100, Some(0)),
        vec![group(
            "ns/fw/web",
            &[spec("zone", Op::GroupBy, None)],
            None,
            &["node-0"],
        )],
    );
    let d = allocate(&s);
    assert_eq!(d.placements.len(), 7);
    let mut zones = counts(chosen(&d).into_iter().map(|a| label_of(&s, a, ZONE_LABEL)));
    *zones.entry("zone-a").or_insert(0) += 1;
    // 8 over 3 zones: 3, 3, 2 in some order.
    let mut sizes: Vec<usize> = zones.values().copied().collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![2, 3, 3], "{zones:?}");
}

#[test]
fn entries_of_one_group_share_their_placements() {
    // Old and new versions of one group, each with its own constraints: the new one's
    // UNIQUE hostname sees where the old one is placed in the same cycle.
    let mut pending = tasks(3, 100, Some(0));
    let mut new = tasks(6, 100, Some(1));
    for t in &mut new {
        t.id = t.id.replace("task", "new");
    }
    pending.append(&mut new);
    let s = snapshot(
        zoned_agents(8000),
        pending,
        vec![
            group(
                "ns/fw/web",
                &[spec("region", Op::Is, Some("r1"))],
                None,
                &[],
            ),
            group(
                "ns/fw/web",
                &[spec("hostname", Op::Unique, None)],
                None,
                &[],
            ),
        ],
    );
    let d = allocate(&s);
    // The old ones go anywhere in r1; the new ones on distinct nodes none of them uses.
    let old: Vec<&str> = d.placements[..3].iter().map(|p| p.agent).collect();
    let new: Vec<&str> = d.placements[3..].iter().map(|p| p.agent).collect();
    assert!(
        old.iter()
            .all(|a| label_of(&s, a, "topology.kubernetes.io/region") == "r1")
    );
    let old_nodes = counts(old.iter().copied()).len();
    assert_eq!(new.len(), 6 - old_nodes, "{d:?}");
    assert!(counts(new.iter().copied()).values().all(|&c| c == 1));
    assert!(new.iter().all(|a| !old.contains(a)), "{d:?}");
    // Another group's placements do not count.
    let s = snapshot(
        zoned_agents(8000),
        tasks(6, 100, Some(1)),
        vec![
            group("ns/fw/other", &[], None, &["node-0", "node-1"]),
            group(
                "ns/fw/web",
                &[spec("hostname", Op::Unique, None)],
                None,
                &[],
            ),
        ],
    );
    assert_eq!(allocate(&s).placements.len(), 6);
}

#[test]
fn tasks_without_constraints_are_unaffected_and_unknown_groups_are_ignored() {
    let mut pending = tasks(3, 100, None);
    pending[1].group = Some(7);
    let s = snapshot(zoned_agents(8000), pending, Vec::new());
    assert_eq!(allocate(&s).placements.len(), 3);
}

#[test]
fn an_agent_refused_by_constraints_is_not_remembered_as_full() {
    // A constrained task that fits nowhere must not make an unconstrained task of the
    // same size look unplaceable.
    let mut pending = tasks(2, 100, Some(0));
    pending[1].group = None;
    let s = snapshot(
        zoned_agents(8000),
        pending,
        vec![group(
            "ns/fw/web",
            &[spec("zone", Op::Is, Some("nowhere"))],
            None,
            &[],
        )],
    );
    let d = allocate(&s);
    assert_eq!(d.placements.len(), 1);
    assert_eq!(d.placements[0].task, "ns/fw/task-01");
}

// --- properties ---------------------------------------------------------------------

fn arb_constraint() -> impl Strategy<Value = ConstraintSpec> {
    let field = prop::sample::select(vec!["hostname", "zone", "region", "rack"]);
    (field, 0u8..7, 1u32..4).prop_map(|(field, op, n)| match op {
        0 | 1 => spec(field, Op::Unique, None),
        2 | 3 => spec(field, Op::MaxPer, Some(&n.to_string())),
        4 => spec(field, Op::GroupBy, Some(&n.to_string())),
        5 => spec(field, Op::Cluster, None),
        _ => spec(field, Op::Unlike, Some("zone-a|rack-0")),
    })
}

fn arb_case() -> impl Strategy<Value = Snapshot> {
    let agents = prop::collection::vec((0usize..3, 0usize..3, 500u64..4000, any::<bool>()), 1..10);
    let groups = prop::collection::vec(
        (
            prop::collection::vec(arb_constraint(), 0..3),
            prop::option::of(1u32..8),
            prop::collection::vec(0usize..10, 0..3),
            0usize..2,
        ),
        1..4,
    );
    let tasks = prop::collection::vec((0usize..4, 100u64..1500), 0..24);
    (agents, groups, tasks, any::<u64>()).prop_map(|(agents, groups, tasks, seed)| {
        let agents: Vec<Agent> = agents
            .into_iter()
            .enumerate()
            .map(|(i, (zone, rack, cpus, available))| {
                let zone = format!("zone-{}", ["a", "b", "c"][zone]);
                let region = if zone == "zone-c" { "r2" } else { "r1" };
                let rack = format!("rack-{rack}");
                let mut a = agent(
                    &format!("node-{i}"),
                    cpus,
                    &[
                        (ZONE_LABEL, &zone),
                        ("topology.kubernetes.io/region", region),
                        ("rack", &rack),
                    ],
                );
                a.available = available || i == 0;
                a
            })
            .collect();
        let count = agents.len();
        let groups: Vec<PlacementGroup> = groups
            .into_iter()
            .map(|(specs, target, placed, key)| {
                let placed: Vec<String> = placed
                    .into_iter()
                    .map(|i| format!("node-{}", i % (count + 1)))
                    .collect();
                PlacementGroup {
                    key: format!("ns/fw/g{key}"),
                    constraints: Arc::new(parse(&specs).expect("generated constraints parse")),
                    target,
                    placed,
                }
            })
            .collect();
        let group_count = groups.len();
        let pending = tasks
            .into_iter()
            .enumerate()
            .map(|(i, (g, cpus))| PendingTask {
                id: format!("ns/fw/task-{i:02}"),
                resources: res(cpus, 64),
                tolerated_agents: Vec::new(),
                group: (g < group_count).then_some(g),
                random_ports: 0,
            })
            .collect();
        Snapshot {
            seed,
            ..snapshot(agents, pending, groups)
        }
    })
}

fn attributes_of(s: &Snapshot, name: &str) -> NodeAttributes {
    s.agents
        .iter()
        .find(|a| a.name == name)
        .map(|a| NodeAttributes {
            hostname: a.name.clone(),
            labels: a.labels.clone(),
        })
        .unwrap_or_else(|| NodeAttributes::new(name, []))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Replaying the cycle's placements in order, each one was admitted by its task's
    /// constraints given the group's live tasks and every earlier placement of the group
    /// in the cycle (whatever constraints those carried).
    #[test]
    fn every_placement_satisfies_its_constraints(s in arb_case()) {
        let d = allocate(&s);
        let tasks: HashMap<&str, &PendingTask> = s.frameworks[0]
            .pending_tasks
            .iter()
            .map(|t| (t.id.as_str(), t))
            .collect();
        let mut trackers: Vec<PlacementTracker<'_>> = s
            .groups
            .iter()
            .map(|g| {
                PlacementTracker::with_placements(
                    &g.constraints,
                    1,
                    g.placed.iter().map(|n| attributes_of(&s, n)),
                )
            })
            .collect();
        for p in &d.placements {
            let task = tasks[p.task];
            let Some(g) = task.group else { continue };
            let node = attributes_of(&s, p.agent);
            let tracker = &mut trackers[g];
            let target = s.groups[g].target.unwrap_or(tracker.placed() + 1);
            tracker.set_target(target);
            prop_assert!(
                tracker.check(&node).is_ok(),
                "{} on {} breaks {:?}: {:?}",
                p.task, p.agent, s.groups[g].constraints.specs(), tracker.check(&node)
            );
            for (i, other) in s.groups.iter().enumerate() {
                if other.key == s.groups[g].key {
                    trackers[i].record(&node);
                }
            }
        }
    }

    /// UNIQUE and MAX_PER hold over the whole group after one cycle of concurrent
    /// launches (when the live tasks did not break them already).
    #[test]
    fn one_cycle_never_breaks_unique_or_max_per(s in arb_case()) {
        let d = allocate(&s);
        let tasks: HashMap<&str, &PendingTask> = s.frameworks[0]
            .pending_tasks
            .iter()
            .map(|t| (t.id.as_str(), t))
            .collect();
        for (g, group) in s.groups.iter().enumerate() {
            // Every node of the group's tasks: live ones, and this cycle's of any entry
            // of the group.
            let mut nodes: Vec<NodeAttributes> =
                group.placed.iter().map(|n| attributes_of(&s, n)).collect();
            let before = nodes.len();
            let mut mine_placed = 0;
            for p in &d.placements {
                let Some(t) = tasks[p.task].group else { continue };
                if s.groups[t].key == group.key {
                    nodes.push(attributes_of(&s, p.agent));
                    mine_placed += usize::from(t == g);
                }
            }
            let siblings = s.groups.iter().filter(|o| o.key == group.key).count();
            if mine_placed == 0 || siblings > 1 {
                continue;
            }
            for c in group.constraints.iter() {
                let limit = match &c.rule {
                    mesos_model::constraints::Rule::Unique => 1,
                    mesos_model::constraints::Rule::MaxPer(n) => *n as usize,
                    _ => continue,
                };
                let value = |n: &NodeAttributes| {
                    use mesos_model::constraints::Attributes;
                    n.value_of(&c.field).map(str::to_string)
                };
                let live = counts_owned(nodes[..before].iter().map(value));
                let all = counts_owned(nodes.iter().map(value));
                for (v, n) in &all {
                    let Some(v) = v else { continue };
                    let had = live.get(&Some(v.clone())).copied().unwrap_or(0);
                    prop_assert!(
                        *n <= limit.max(had),
                        "{} {v}: {n} tasks, at most {limit} (live {had}); placements {:?}",
                        c.spec, d.placements
                    );
                }
            }
        }
    }

    /// Constraints never overcommit an agent either.
    #[test]
    fn constrained_placements_fit(s in arb_case()) {
        let d = allocate(&s);
        let mut used: HashMap<&str, u64> = HashMap::new();
        let tasks: HashMap<&str, &PendingTask> = s.frameworks[0]
            .pending_tasks
            .iter()
            .map(|t| (t.id.as_str(), t))
            .collect();
        for p in &d.placements {
            *used.entry(p.agent).or_default() += tasks[p.task].resources.cpus.0;
        }
        for a in &s.agents {
            prop_assert!(used.get(a.name.as_str()).copied().unwrap_or(0) <= a.unrequested.cpus.0);
        }
    }
}

fn counts_owned(values: impl Iterator<Item = Option<String>>) -> HashMap<Option<String>, usize> {
    let mut map = HashMap::new();
    for v in values {
        *map.entry(v).or_insert(0) += 1;
    }
    map
}
