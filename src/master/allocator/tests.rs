//! Unit tests, one or more per allocation rule, and property tests.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use proptest::prelude::*;

use super::*;
use crate::api::resources::{Cpus, Mebibytes, PortRange, PortRanges};
use crate::api::{Resources, SchedulerKind};

const MIB: u64 = 1 << 20;

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

/// The `now` of every test snapshot.
fn now() -> Timestamp {
    at(1_000_000)
}

fn ports(ranges: &[(u16, u16)]) -> PortRanges {
    PortRanges::new(ranges.iter().map(|&(begin, end)| PortRange { begin, end }))
}

/// `cpus` in milli-CPUs, `mem` in MiB.
fn res(cpus: u64, mem: u64) -> Resources {
    Resources {
        cpus: Cpus::from_millis(cpus),
        mem: Mebibytes::from_bytes(mem * MIB),
        ..Resources::default()
    }
}

fn with_ports(resources: Resources, ranges: &[(u16, u16)]) -> Resources {
    Resources {
        ports: ports(ranges),
        ..resources
    }
}

/// An available agent with `cpus` milli-CPUs, `mem` MiB and ports 31000-31009, all free.
fn agent(name: &str, cpus: u64, mem: u64) -> Agent {
    let resources = with_ports(res(cpus, mem), &[(31000, 31009)]);
    Agent {
        name: name.to_owned(),
        allocatable: resources.clone(),
        unrequested: resources,
        pod_room: None,
        available: true,
        labels: Default::default(),
    }
}

fn agents(count: usize, cpus: u64, mem: u64) -> Vec<Agent> {
    (0..count)
        .map(|i| agent(&format!("agent-{i:03}"), cpus, mem))
        .collect()
}

fn external(id: &str, role: &str) -> Framework {
    Framework {
        id: id.to_owned(),
        role: role.to_owned(),
        kind: SchedulerKind::External,
        ..Framework::default()
    }
}

fn builtin(id: &str, role: &str, tasks: Vec<PendingTask>) -> Framework {
    Framework {
        id: id.to_owned(),
        role: role.to_owned(),
        kind: SchedulerKind::Builtin,
        pending_tasks: tasks,
        ..Framework::default()
    }
}

fn task(id: &str, resources: Resources) -> PendingTask {
    PendingTask {
        id: id.to_owned(),
        resources,
        tolerated_agents: Vec::new(),
        group: None,
        random_ports: 0,
    }
}

fn tasks(prefix: &str, count: usize, resources: &Resources) -> Vec<PendingTask> {
    (0..count)
        .map(|i| task(&format!("{prefix}-{i:03}"), resources.clone()))
        .collect()
}

fn role(name: &str, weight: f64) -> Role {
    Role {
        name: name.to_owned(),
        weight,
        ..Role::default()
    }
}

fn offer(
    id: &str,
    framework: &str,
    agent: &str,
    resources: Resources,
    expires_at: Option<Timestamp>,
) -> OutstandingOffer {
    OutstandingOffer {
        id: id.to_owned(),
        framework: framework.to_owned(),
        agent: agent.to_owned(),
        resources,
        expires_at,
    }
}

fn snapshot(agents: Vec<Agent>, frameworks: Vec<Framework>) -> Snapshot {
    Snapshot {
        agents,
        frameworks,
        roles: Vec::new(),
        offers: Vec::new(),
        now: now(),
        groups: Vec::new(),
        seed: 42,
    }
}

/// Sum of the CPUs (milli) offered or placed to `framework` in `decisions`.
fn cpus_given(snapshot: &Snapshot, decisions: &Decisions<'_>, framework: &str) -> u64 {
    let offered: u64 = decisions
        .offers
        .iter()
        .filter(|o| o.framework == framework)
        .map(|o| o.resources.cpus.millis())
        .sum();
    let tasks: HashMap<&str, &Resources> = snapshot
        .frameworks
        .iter()
        .flat_map(|f| {
            f.pending_tasks
                .iter()
                .map(|t| (t.id.as_str(), &t.resources))
        })
        .collect();
    let placed: u64 = decisions
        .placements
        .iter()
        .filter(|p| p.framework == framework)
        .map(|p| tasks[p.task].cpus.millis())
        .sum();
    offered + placed
}

fn rescind_reasons<'a>(decisions: &Decisions<'a>) -> BTreeMap<&'a str, RescindReason> {
    decisions
        .rescinds
        .iter()
        .map(|r| (r.offer, r.reason))
        .collect()
}

// ----- rescinds -----

#[test]
fn expired_offers_are_rescinded_and_their_resources_offered_again() {
    let mut s = snapshot(
        vec![agent("a1", 4000, 8192), agent("a2", 4000, 8192)],
        vec![external("f", "r")],
    );
    s.offers = vec![
        offer("old", "f", "a1", res(4000, 8192), Some(at(999_999))),
        offer("due-now", "f", "a2", res(1000, 1024), Some(now())),
    ];
    let d = allocate(&s);
    assert_eq!(
        rescind_reasons(&d),
        BTreeMap::from([
            ("old", RescindReason::Expired),
            ("due-now", RescindReason::Expired)
        ])
    );
    // Both agents are whole again and offered again in full (ports included).
    assert_eq!(d.offers.len(), 2);
    for o in &d.offers {
        assert_eq!(o.resources, with_ports(res(4000, 8192), &[(31000, 31009)]));
        assert_eq!((o.framework, o.role), ("f", "r"));
    }
}

#[test]
fn unexpired_offers_are_kept_and_their_agent_not_offered_again_to_the_holder() {
    let mut s = snapshot(
        vec![agent("a1", 4000, 8192)],
        vec![external("f", "r"), external("g", "r")],
    );
    s.offers = vec![offer(
        "live",
        "f",
        "a1",
        res(1000, 1024),
        Some(at(1_000_030)),
    )];
    let d = allocate(&s);
    assert!(d.rescinds.is_empty());
    // The rest of a1 goes to g (f already holds an offer there and has the larger share).
    assert_eq!(d.offers.len(), 1);
    assert_eq!(d.offers[0].framework, "g");
    assert_eq!(
        d.offers[0].resources,
        with_ports(res(3000, 7168), &[(31000, 31009)])
    );
    assert_eq!(d.frameworks[0].offered, res(1000, 1024));
}

#[test]
fn offers_whose_resources_are_gone_are_rescinded_oldest_kept() {
    // Other pods now use 2 of a1's 4 CPUs: two 1.5-CPU offers no longer both fit.
    let mut a1 = agent("a1", 4000, 8192);
    a1.unrequested = with_ports(res(2000, 8192), &[(31000, 31009)]);
    let mut s = snapshot(vec![a1], vec![external("f", "r"), external("g", "r")]);
    s.offers = vec![
        offer("younger", "g", "a1", res(1500, 1024), Some(at(1_000_020))),
        offer("older", "f", "a1", res(1500, 1024), Some(at(1_000_010))),
        offer(
            "ports-taken",
            "g",
            "a1",
            with_ports(res(0, 1), &[(30000, 30000)]),
            None,
        ),
    ];
    let d = allocate(&s);
    assert_eq!(
        rescind_reasons(&d),
        BTreeMap::from([
            ("younger", RescindReason::ResourcesGone),
            ("ports-taken", RescindReason::ResourcesGone)
        ])
    );
    // What remains beside the kept offer goes to g.
    assert_eq!(d.offers.len(), 1);
    assert_eq!(d.offers[0].framework, "g");
    assert_eq!(
        d.offers[0].resources,
        with_ports(res(500, 7168), &[(31000, 31009)])
    );
}

#[test]
fn suppressed_gone_and_unavailable_offers_are_rescinded() {
    let mut cordoned = agent("cordoned", 4000, 8192);
    cordoned.available = false;
    let mut quiet = external("quiet", "r");
    quiet.suppressed = true;
    let mut s = snapshot(
        vec![agent("a1", 4000, 8192), cordoned],
        vec![quiet, external("f", "r")],
    );
    s.offers = vec![
        offer("o-quiet", "quiet", "a1", res(1000, 1024), None),
        offer("o-gone", "deleted", "a1", res(1000, 1024), None),
        offer("o-cordoned", "f", "cordoned", res(1000, 1024), None),
        offer("o-no-agent", "f", "deleted-node", res(1000, 1024), None),
    ];
    let d = allocate(&s);
    assert_eq!(
        d.rescinds,
        vec![
            Rescind {
                offer: "o-quiet",
                reason: RescindReason::Suppressed
            },
            Rescind {
                offer: "o-gone",
                reason: RescindReason::FrameworkGone
            },
            Rescind {
                offer: "o-cordoned",
                reason: RescindReason::AgentUnavailable
            },
            Rescind {
                offer: "o-no-agent",
                reason: RescindReason::AgentUnavailable
            },
        ]
    );
    // The suppressed framework gets nothing, the cordoned agent is offered to nobody.
    assert_eq!(d.offers.len(), 1);
    assert_eq!((d.offers[0].framework, d.offers[0].agent), ("f", "a1"));
    assert_eq!(d.offers[0].resources.cpus, Cpus::from_millis(4000));
    assert_eq!(RescindReason::Suppressed.as_str(), "Suppressed");
    assert_eq!(RescindReason::Expired.to_string(), "the offer expired");
}

// ----- filters and minimums -----

#[test]
fn a_decline_filter_blocks_only_offers_that_are_a_subset_of_what_was_refused() {
    let refused = with_ports(res(2000, 4096), &[(31000, 31009)]);
    let filter = |agent: &str, until: Timestamp| DeclineFilter {
        agent: agent.into(),
        until,
        refused: refused.clone(),
    };
    let mut f = external("f", "a");
    f.filters = vec![
        filter("grown", at(1_000_005)),
        filter("same", at(1_000_005)),
        filter("lapsed", now()),
    ];
    // "grown" now has more than was refused: offered again. "same" is exactly what
    // was refused: filtered. The "lapsed" filter is over (`until <= now`).
    let all = vec![
        agent("grown", 4000, 8192),
        agent("same", 2000, 4096),
        agent("lapsed", 2000, 4096),
    ];
    let s = snapshot(all.clone(), vec![f.clone()]);
    let d = allocate(&s);
    let offered: BTreeSet<&str> = d.offers.iter().map(|o| o.agent).collect();
    assert_eq!(offered, BTreeSet::from(["grown", "lapsed"]));

    // The filtered agent goes to the next framework in line instead.
    let s = snapshot(vec![all[1].clone()], vec![f, external("g", "b")]);
    let d = allocate(&s);
    assert_eq!(d.offers.len(), 1);
    assert_eq!(d.offers[0].framework, "g");

    // A smaller remainder (other pods took some) is a subset: still filtered.
    let mut shrunk = agent("same", 2000, 4096);
    shrunk.unrequested = with_ports(res(1000, 4096), &[(31000, 31004)]);
    let mut f = external("f", "a");
    f.filters = vec![filter("same", at(1_000_005))];
    let s = snapshot(vec![shrunk], vec![f]);
    assert!(allocate(&s).offers.is_empty());
}

#[test]
fn a_filter_on_one_framework_does_not_block_another() {
    let mut f = external("f", "r");
    f.filters = vec![DeclineFilter {
        agent: "a1".into(),
        until: at(2_000_000),
        refused: with_ports(res(9000, 9000), &[(1, 65535)]),
    }];
    let s = snapshot(vec![agent("a1", 1000, 1024)], vec![f, external("g", "r")]);
    let d = allocate(&s);
    assert_eq!(d.offers.len(), 1);
    assert_eq!(d.offers[0].framework, "g");
}

#[test]
fn offers_below_the_minimum_allocatable_are_not_made() {
    // 0.005 CPU and 16 MiB: below Mesos' default cpus:0.01|mem:32.
    let crumbs = agent("crumbs", 5, 16);
    let cpu_only = agent("cpu-only", 10, 0);
    let s = snapshot(
        vec![crumbs.clone(), cpu_only.clone()],
        vec![external("f", "r")],
    );
    let d = allocate(&s);
    assert_eq!(
        d.offers.iter().map(|o| o.agent).collect::<Vec<_>>(),
        vec!["cpu-only"]
    );

    let mut anything = external("f", "r");
    anything.min_allocatable = MinAllocatable::anything();
    let s = snapshot(vec![crumbs.clone(), cpu_only.clone()], vec![anything]);
    let d = allocate(&s);
    assert_eq!(d.offers.len(), 2);

    let mut picky = external("f", "r");
    picky.min_allocatable = MinAllocatable::all_of(res(1000, 1024));
    let s = snapshot(
        vec![agent("small-mem", 2000, 512), agent("big", 2000, 2048)],
        vec![picky],
    );
    let d = allocate(&s);
    assert_eq!(
        d.offers.iter().map(|o| o.agent).collect::<Vec<_>>(),
        vec!["big"]
    );

    assert!(MinAllocatable::default().is_satisfied_by(&res(0, 32)));
    assert!(!MinAllocatable::default().is_satisfied_by(&with_ports(res(9, 31), &[(1, 9)])));
    assert!(!MinAllocatable::anything().is_satisfied_by(&Resources::default()));
    assert_eq!(MinAllocatable::default().alternatives().len(), 2);
}

// ----- quota -----

#[test]
fn quota_guarantees_are_served_first() {
    // Role b has ten times a's weight, but a is guaranteed 6 of the 8 CPUs.
    let mut s = snapshot(
        agents(8, 1000, 1024),
        vec![external("fa", "a"), external("fb", "b")],
    );
    s.roles = vec![
        Role {
            guarantee: res(6000, 0),
            ..role("a", 1.0)
        },
        role("b", 10.0),
    ];
    let d = allocate(&s);
    assert_eq!(cpus_given(&s, &d, "fa"), 6000);
    assert_eq!(cpus_given(&s, &d, "fb"), 2000);
    assert!(d.roles.iter().all(|r| r.guarantee_met));

    // Without the guarantee, weights decide: b gets 7 of 8 (1/10 < 7/8 ÷ 10 ... ).
    s.roles[0].guarantee = Resources::default();
    let d = allocate(&s);
    assert!(cpus_given(&s, &d, "fb") >= 7000);
}

#[test]
fn headroom_is_held_back_for_unmet_guarantees() {
    // Role g is guaranteed 3 CPUs but has no running framework yet: 3 of the 8
    // CPUs stay unoffered so that g can still get its guarantee.
    let mut s = snapshot(agents(4, 2000, 4096), vec![external("f", "r")]);
    s.roles = vec![Role {
        guarantee: res(3000, 0),
        ..role("g", 1.0)
    }];
    let d = allocate(&s);
    assert_eq!(cpus_given(&s, &d, "f"), 5000);
    // Memory is not guaranteed to anyone, so all of it is offered.
    let mem: u64 = d.offers.iter().map(|o| o.resources.mem.bytes()).sum();
    assert_eq!(mem, 4 * 4096 * MIB);
    let g = d.roles.iter().find(|r| r.role == "g").unwrap();
    assert!(!g.guarantee_met);

    // A Builtin task that would eat into the headroom waits, with the reason.
    let mut s = snapshot(
        agents(1, 2000, 4096),
        vec![builtin("b", "r", vec![task("big", res(1500, 64))])],
    );
    s.roles = vec![Role {
        guarantee: res(1000, 0),
        ..role("g", 1.0)
    }];
    let d = allocate(&s);
    assert!(d.placements.is_empty());
    assert_eq!(d.unplaced[0].reason, UnplacedReason::HeldForGuarantees);
    assert!(d.unplaced[0].reason.to_string().contains("held back"));
}

#[test]
fn quota_limits_are_never_exceeded() {
    // Limit of 3 CPUs (memory unlimited): offers are chopped at the limit.
    let mut s = snapshot(
        agents(4, 2000, 4096),
        vec![external("f", "capped"), external("g", "free")],
    );
    s.roles = vec![Role {
        limit: res(3000, 0),
        ..role("capped", 100.0)
    }];
    let d = allocate(&s);
    assert_eq!(cpus_given(&s, &d, "f"), 3000);
    assert_eq!(cpus_given(&s, &d, "g"), 5000);

    // Builtin: 5 one-CPU tasks, a limit of 3 CPUs including 1 already running.
    let mut b = builtin("b", "capped", tasks("t", 5, &res(1000, 128)));
    b.allocated = res(1000, 128);
    let mut s = snapshot(agents(4, 2000, 4096), vec![b]);
    s.roles = vec![Role {
        limit: res(3000, 0),
        ..role("capped", 1.0)
    }];
    let d = allocate(&s);
    assert_eq!(d.placements.len(), 2);
    assert_eq!(d.unplaced.len(), 3);
    assert_eq!(
        d.unplaced[0].reason,
        UnplacedReason::QuotaLimit { role: "capped" }
    );
    assert_eq!(d.roles[0].allocated.cpus, Cpus::from_millis(3000));
}

#[test]
fn a_role_already_over_its_limit_gets_nothing_more_of_that_resource() {
    let mut f = external("f", "capped");
    f.allocated = res(5000, 0);
    let mut s = snapshot(agents(2, 2000, 4096), vec![f]);
    s.roles = vec![Role {
        limit: res(3000, 0),
        ..role("capped", 1.0)
    }];
    let d = allocate(&s);
    // Memory only (the limit does not cap memory).
    assert_eq!(cpus_given(&s, &d, "f"), 0);
    assert_eq!(d.offers.len(), 2);
}

// ----- weighted DRF -----

#[test]
fn roles_share_in_proportion_to_their_weights() {
    let mut s = snapshot(
        agents(8, 1000, 1024),
        vec![external("fa", "a"), external("fb", "b")],
    );
    s.roles = vec![role("a", 1.0), role("b", 3.0)];
    let d = allocate(&s);
    assert_eq!(cpus_given(&s, &d, "fa"), 2000);
    assert_eq!(cpus_given(&s, &d, "fb"), 6000);
    let b = d.roles.iter().find(|r| r.role == "b").unwrap();
    assert_eq!(b.dominant_share, 0.75);
    assert_eq!(b.weighted_share, 0.25);
}

#[test]
fn the_role_with_the_lowest_weighted_share_goes_first() {
    // One agent only: it goes to the lowest share ÷ weight.
    let mut fa = external("fa", "a");
    fa.allocated = res(1000, 0); // 1/10 of the cluster, weight 1: 0.1
    let mut fb = external("fb", "b");
    fb.allocated = res(2000, 0); // 2/10, weight 4: 0.05
    let mut all = agents(9, 1000, 1024);
    for a in &mut all[1..] {
        a.unrequested = Resources::default();
    }
    let mut s = snapshot(all, vec![fa, fb]);
    s.roles = vec![role("a", 1.0), role("b", 4.0)];
    let d = allocate(&s);
    assert_eq!(d.offers.len(), 1);
    assert_eq!(d.offers[0].framework, "fb");
}

#[test]
fn frameworks_of_a_role_are_ordered_by_share_then_name() {
    let mut busy = external("a-busy", "r");
    busy.allocated = res(500, 0);
    let s = snapshot(agents(1, 1000, 1024), vec![busy, external("z-idle", "r")]);
    let d = allocate(&s);
    assert_eq!(d.offers[0].framework, "z-idle");
    // Equal shares: by name.
    let s = snapshot(
        agents(1, 1000, 1024),
        vec![external("b", "r"), external("a", "r")],
    );
    assert_eq!(allocate(&s).offers[0].framework, "a");
    // Equal weighted shares across roles: by role name.
    let s = snapshot(
        agents(1, 1000, 1024),
        vec![external("x", "zeta"), external("y", "alpha")],
    );
    assert_eq!(allocate(&s).offers[0].framework, "y");
}

#[test]
fn builtin_frameworks_with_equal_weights_share_evenly() {
    let unit = res(1000, 1024);
    let s = snapshot(
        agents(10, 4000, 8192),
        vec![
            builtin("b1", "r1", tasks("b1", 40, &unit)),
            builtin("b2", "r2", tasks("b2", 40, &unit)),
        ],
    );
    let d = allocate(&s);
    assert_eq!(cpus_given(&s, &d, "b1"), 20_000);
    assert_eq!(cpus_given(&s, &d, "b2"), 20_000);
    assert_eq!(d.unplaced.len(), 40);
    // Placements alternate between the two frameworks.
    assert_eq!(d.placements[0].framework, "b1");
    assert_eq!(d.placements[1].framework, "b2");
}

// ----- Builtin placement -----

#[test]
fn builtin_tasks_are_placed_first_fit_respecting_ports_and_pod_room() {
    let mut tiny = agent("tiny", 8000, 8192);
    tiny.pod_room = Some(1);
    let web = with_ports(res(100, 64), &[(31000, 31000)]);
    let s = snapshot(
        vec![tiny, agent("a1", 8000, 8192), agent("a2", 8000, 8192)],
        vec![builtin(
            "b",
            "r",
            vec![
                task("w1", web.clone()),
                task("w2", web.clone()),
                task("w3", web.clone()),
                task("w4", web),
                task("huge", res(64_000, 1)),
            ],
        )],
    );
    let d = allocate(&s);
    // Three agents, one port 31000 each: three placements, each on its own agent.
    let agents_used: BTreeSet<&str> = d.placements.iter().map(|p| p.agent).collect();
    assert_eq!(d.placements.len(), 3);
    assert_eq!(agents_used.len(), 3);
    let reasons: BTreeMap<&str, String> = d
        .unplaced
        .iter()
        .map(|u| (u.task, u.reason.to_string()))
        .collect();
    assert_eq!(reasons.len(), 2);
    assert!(
        reasons["huge"].starts_with("no available agent has room for cpus:64;mem:1"),
        "{}",
        reasons["huge"]
    );
    assert!(reasons["w4"].starts_with("no available agent has room"));
}

#[test]
fn a_flood_of_tasks_that_fit_nowhere_is_reported_cheaply() {
    // Agents fragmented so that subtree maxima always pass but no agent fits:
    // without the memory of failed needs each task would visit every agent.
    let mut all = Vec::new();
    for i in 0..2000 {
        let (cpus, mem) = if i % 2 == 0 { (8000, 16) } else { (10, 8192) };
        all.push(agent(&format!("agent-{i:04}"), cpus, mem));
    }
    let big = res(4000, 4096);
    let mut pending = tasks("big", 3000, &big);
    pending.push(task("small", res(1000, 8)));
    let s = snapshot(all, vec![builtin("b", "r", pending)]);
    let started = std::time::Instant::now();
    let d = allocate(&s);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(d.unplaced.len(), 3000);
    assert!(
        d.unplaced
            .iter()
            .all(|u| matches!(u.reason, UnplacedReason::NoAgentFits { .. }))
    );
    assert_eq!(
        d.placements.iter().map(|p| p.task).collect::<Vec<_>>(),
        vec!["small"]
    );
}

#[test]
fn a_task_that_does_not_fit_does_not_block_later_tasks() {
    let s = snapshot(
        agents(1, 2000, 2048),
        vec![builtin(
            "b",
            "r",
            vec![task("big", res(4000, 1)), task("small", res(1000, 1))],
        )],
    );
    let d = allocate(&s);
    assert_eq!(
        d.placements.iter().map(|p| p.task).collect::<Vec<_>>(),
        vec!["small"]
    );
    assert_eq!(
        d.unplaced.iter().map(|u| u.task).collect::<Vec<_>>(),
        vec!["big"]
    );
}

#[test]
fn unavailable_agents_only_take_tasks_that_tolerate_them() {
    let mut gpu = agent("gpu-node", 8000, 8192);
    gpu.available = false; // tainted
    let mut tolerant = task("tolerant", res(6000, 1));
    tolerant.tolerated_agents = vec!["gpu-node".into(), "unknown-node".into()];
    let s = snapshot(
        vec![gpu, agent("a1", 2000, 2048)],
        vec![
            builtin("b", "r", vec![task("plain", res(6000, 1)), tolerant]),
            external("f", "r"),
        ],
    );
    let d = allocate(&s);
    assert_eq!(
        d.placements,
        vec![Placement {
            task: "tolerant",
            framework: "b",
            agent: "gpu-node",
            ports: Vec::new(),
        }]
    );
    assert_eq!(d.unplaced[0].task, "plain");
    // The tainted agent is not offered, and is not part of the cluster total.
    assert!(d.offers.iter().all(|o| o.agent == "a1"));
    let f = d.frameworks.iter().find(|u| u.framework == "f").unwrap();
    assert_eq!(f.dominant_share, 1.0);
}

#[test]
fn builtin_and_external_frameworks_share_agents() {
    let s = snapshot(
        agents(1, 4000, 8192),
        vec![
            builtin("b", "r1", vec![task("t", res(1000, 1024))]),
            external("f", "r2"),
        ],
    );
    let d = allocate(&s);
    assert_eq!(d.placements.len(), 1);
    assert_eq!(d.offers.len(), 1);
    assert_eq!(
        d.offers[0].resources,
        with_ports(res(3000, 7168), &[(31000, 31009)])
    );
}

#[test]
fn suppressed_builtin_frameworks_place_nothing() {
    let mut b = builtin("b", "r", vec![task("t", res(1000, 1))]);
    b.suppressed = true;
    let s = snapshot(agents(1, 4000, 8192), vec![b]);
    let d = allocate(&s);
    assert!(d.placements.is_empty());
    assert_eq!(d.unplaced[0].reason, UnplacedReason::FrameworkSuppressed);
}

// ----- determinism and odd input -----

#[test]
fn same_input_same_decisions_and_the_seed_changes_the_agent_order() {
    let s = snapshot(
        agents(100, 1000, 1024),
        vec![
            builtin("b", "r", vec![task("t", res(500, 1))]),
            external("f", "r"),
        ],
    );
    let first = allocate(&s);
    assert_eq!(first, allocate(&s));
    let agents_by_seed: BTreeSet<String> = (0..20u64)
        .map(|seed| {
            let s = Snapshot { seed, ..s.clone() };
            allocate(&s).placements[0].agent.to_owned()
        })
        .collect();
    assert!(agents_by_seed.len() > 5, "{agents_by_seed:?}");
}

#[test]
fn duplicates_empty_input_and_odd_weights_are_tolerated() {
    assert_eq!(allocate(&Snapshot::default()), Decisions::default());
    let mut s = snapshot(
        vec![agent("a", 1000, 1024)],
        vec![external("f", "r"), external("f", "other")],
    );
    s.roles = vec![role("r", f64::NAN), role("r", 5.0)];
    let d = allocate(&s);
    assert_eq!(d.offers.len(), 1);
    assert_eq!((d.offers[0].framework, d.offers[0].role), ("f", "r"));
    assert_eq!(d.frameworks.len(), 1);
    let r = d.roles.iter().find(|r| r.role == "r").unwrap();
    assert_eq!((r.dominant_share, r.weighted_share), (1.0, 1.0));
}

// ----- property tests -----

/// Random but small snapshots that exercise every rule at once.
fn arb_snapshot() -> impl Strategy<Value = Snapshot> {
    let agent = (
        0u64..6000,
        0u64..8192,
        0u64..3,
        any::<bool>(),
        prop::option::of(0u32..3),
        0u8..10,
    )
        .prop_map(|(cpus, mem, gpus, port_block, pods, availability)| {
            let mut resources = res(cpus, mem);
            resources.gpus = gpus;
            if port_block {
                resources.ports = ports(&[(31000, 31003)]);
            }
            Agent {
                name: String::new(),
                allocatable: resources.clone(),
                unrequested: resources,
                pod_room: pods,
                available: availability < 8,
                labels: Default::default(),
            }
        });
    let task = (
        0u64..3000,
        0u64..4096,
        0u64..2,
        prop::option::of(31000u16..31005),
        prop::collection::vec(0usize..8, 0..2),
    )
        .prop_map(|(cpus, mem, gpus, port, tolerated)| {
            let mut resources = res(cpus, mem);
            resources.gpus = gpus;
            if let Some(port) = port {
                resources.ports = ports(&[(port, port)]);
            }
            PendingTask {
                id: String::new(),
                resources,
                tolerated_agents: tolerated
                    .into_iter()
                    .map(|i| format!("agent-{i}"))
                    .collect(),
                group: None,
                random_ports: 0,
            }
        });
    let framework = (
        0usize..4,
        any::<bool>(),
        0u8..10,
        0u64..3000,
        0u8..3,
        prop::collection::vec((0usize..8, -5i64..5, 0u64..6000, 0u64..8192), 0..3),
        prop::collection::vec(task, 0..6),
    )
        .prop_map(
            |(role, external, suppressed, allocated, min, filters, pending)| Framework {
                id: String::new(),
                role: format!("role-{role}"),
                kind: if external {
                    SchedulerKind::External
                } else {
                    SchedulerKind::Builtin
                },
                suppressed: suppressed == 0,
                allocated: res(allocated, allocated),
                min_allocatable: match min {
                    0 => MinAllocatable::default(),
                    1 => MinAllocatable::anything(),
                    _ => MinAllocatable::all_of(res(500, 256)),
                },
                filters: filters
                    .into_iter()
                    .map(|(agent, until, cpus, mem)| DeclineFilter {
                        agent: format!("agent-{agent}"),
                        until: at(1_000_000 + until),
                        refused: with_ports(res(cpus, mem), &[(31000, 31003)]),
                    })
                    .collect(),
                pending_tasks: pending,
            },
        );
    let quota = (0u64..4).prop_map(|i| i * 1500);
    let role = (
        prop::sample::select(vec![0.5, 1.0, 2.0, 3.0]),
        quota.clone(),
        quota.clone(),
        quota,
        0u64..3,
    )
        .prop_map(|(weight, g_cpus, l_cpus, g_mem, l_mem)| Role {
            name: String::new(),
            weight,
            guarantee: res(g_cpus, g_mem),
            limit: res(
                if l_cpus == 0 { 0 } else { l_cpus.max(g_cpus) },
                l_mem * 3000,
            ),
        });
    let offer = (
        0usize..6,
        0usize..9,
        0u64..3000,
        0u64..4096,
        any::<bool>(),
        prop::option::of(-3i64..3),
    )
        .prop_map(
            |(framework, agent, cpus, mem, with_port, expires)| OutstandingOffer {
                id: String::new(),
                framework: format!("fw-{framework}"),
                agent: format!("agent-{agent}"),
                resources: if with_port {
                    with_ports(res(cpus, mem), &[(31001, 31001)])
                } else {
                    res(cpus, mem)
                },
                expires_at: expires.map(|e| at(1_000_000 + e)),
            },
        );
    (
        prop::collection::vec(agent, 0..8),
        prop::collection::vec(framework, 0..5),
        prop::collection::vec(role, 0..4),
        prop::collection::vec(offer, 0..6),
        any::<u64>(),
    )
        .prop_map(
            |(mut agents, mut frameworks, mut roles, mut offers, seed)| {
                for (i, a) in agents.iter_mut().enumerate() {
                    a.name = format!("agent-{i}");
                }
                for (i, f) in frameworks.iter_mut().enumerate() {
                    f.id = format!("fw-{i}");
                    for (j, t) in f.pending_tasks.iter_mut().enumerate() {
                        t.id = format!("fw-{i}/task-{j}");
                    }
                }
                for (i, r) in roles.iter_mut().enumerate() {
                    r.name = format!("role-{i}");
                }
                for (i, o) in offers.iter_mut().enumerate() {
                    o.id = format!("offer-{i}");
                }
                Snapshot {
                    agents,
                    frameworks,
                    roles,
                    offers,
                    now: now(),
                    groups: Vec::new(),
                    seed,
                }
            },
        )
}

/// Outstanding offers that were not rescinded.
fn kept_offers<'s>(s: &'s Snapshot, d: &Decisions<'_>) -> Vec<&'s OutstandingOffer> {
    let rescinded: BTreeSet<&str> = d.rescinds.iter().map(|r| r.offer).collect();
    s.offers
        .iter()
        .filter(|o| !rescinded.contains(o.id.as_str()))
        .collect()
}

fn task_resources(s: &Snapshot) -> HashMap<&str, &PendingTask> {
    s.frameworks
        .iter()
        .flat_map(|f| f.pending_tasks.iter().map(|t| (t.id.as_str(), t)))
        .collect()
}

fn add(a: &Resources, b: &Resources) -> Resources {
    Resources {
        ports: PortRanges::empty(),
        ..a.checked_add(b).unwrap()
    }
}

/// Scalar consumption (tasks and kept outstanding offers) of every role, before
/// and after the decisions.
fn role_consumption(
    s: &Snapshot,
    d: &Decisions<'_>,
) -> (HashMap<String, Resources>, HashMap<String, Resources>) {
    let role_of: HashMap<&str, &str> = s
        .frameworks
        .iter()
        .map(|f| (f.id.as_str(), f.role.as_str()))
        .collect();
    let mut before: HashMap<String, Resources> = HashMap::new();
    for f in &s.frameworks {
        let entry = before.entry(f.role.clone()).or_default();
        *entry = add(entry, &f.allocated);
    }
    for o in kept_offers(s, d) {
        let entry = before
            .entry(role_of[o.framework.as_str()].to_owned())
            .or_default();
        *entry = add(entry, &o.resources);
    }
    let mut after = before.clone();
    for o in &d.offers {
        let entry = after.entry(o.role.to_owned()).or_default();
        *entry = add(entry, &o.resources);
    }
    let tasks = task_resources(s);
    for p in &d.placements {
        let entry = after.entry(role_of[p.framework].to_owned()).or_default();
        *entry = add(entry, &tasks[p.task].resources);
    }
    (before, after)
}

fn scalars(r: &Resources) -> [u64; 4] {
    [r.cpus.millis(), r.mem.bytes(), r.disk.bytes(), r.gpus]
}

/// Runs `cycles` cycles of two External frameworks (roles of weights 1 and 3) that
/// accept every offer whole, on `count` identical agents where every running task
/// ends with probability `churn` per cycle. Returns role a's share of the CPUs.
fn converge(count: usize, churn: f64, skewed_start: bool, seed: u64, cycles: u64) -> f64 {
    let agent_size = res(4000, 8192);
    let mut running: Vec<(usize, usize, Resources)> = Vec::new(); // (framework, agent, resources)
    if skewed_start {
        running = (0..count).map(|a| (0, a, agent_size.clone())).collect();
    }
    let mut rng = super::rng::SplitMix64::new(seed);
    for cycle in 0..cycles {
        running.retain(|_| (rng.next_u64() as f64 / u64::MAX as f64) >= churn);
        let mut s = snapshot(
            agents(count, 4000, 8192),
            vec![external("fa", "a"), external("fb", "b")],
        );
        s.roles = vec![role("a", 1.0), role("b", 3.0)];
        s.seed = seed ^ cycle;
        for (framework, agent, resources) in &running {
            let a = &mut s.agents[*agent];
            a.unrequested = a.unrequested.checked_sub(resources).unwrap();
            let f = &mut s.frameworks[*framework];
            f.allocated = f.allocated.checked_add(resources).unwrap();
        }
        let d = allocate(&s);
        let accepted: Vec<(usize, usize, Resources)> = d
            .offers
            .iter()
            .map(|o| {
                let framework = usize::from(o.framework == "fb");
                let agent = s.agents.iter().position(|a| a.name == o.agent).unwrap();
                (
                    framework,
                    agent,
                    Resources {
                        ports: PortRanges::empty(),
                        ..o.resources.clone()
                    },
                )
            })
            .collect();
        running.extend(accepted);
    }
    let cpus = |framework: usize| -> u64 {
        running
            .iter()
            .filter(|r| r.0 == framework)
            .map(|r| r.2.cpus.millis())
            .sum()
    };
    let total = count as u64 * 4000;
    assert_eq!(cpus(0) + cpus(1), total, "the cluster stays saturated");
    cpus(0) as f64 / total as f64
}

#[test]
fn weighted_shares_converge_from_a_skewed_start() {
    let share = converge(40, 0.3, true, 7, 60);
    assert!((share - 0.25).abs() <= 0.03, "role a holds {share}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_agent_is_ever_overcommitted(s in arb_snapshot()) {
        let d = allocate(&s);
        let tasks = task_resources(&s);
        let mut used: HashMap<String, (Resources, u32)> = HashMap::new();
        let mut claim = |agent: &str, r: &Resources, pods: u32| -> Result<(), TestCaseError> {
            let entry = used.entry(agent.to_owned()).or_default();
            prop_assert!(entry.0.ports.intersection(&r.ports).is_empty(), "ports handed out twice on {}", agent);
            entry.0 = entry.0.checked_add(r).unwrap();
            entry.1 += pods;
            Ok(())
        };
        for o in kept_offers(&s, &d) {
            claim(&o.agent, &o.resources, 0)?;
        }
        for o in &d.offers {
            prop_assert!(!o.resources.is_empty());
            claim(o.agent, &o.resources, 0)?;
        }
        for p in &d.placements {
            claim(p.agent, &tasks[p.task].resources, 1)?;
        }
        for (name, (total, pods)) in used {
            let agent = s.agents.iter().find(|a| a.name == name).unwrap();
            prop_assert!(agent.unrequested.contains(&total), "{} overcommitted: {} > {}", name, total, agent.unrequested);
            prop_assert!(agent.pod_room.is_none_or(|room| pods <= room));
        }
        for o in &d.offers {
            let agent = s.agents.iter().find(|a| a.name == o.agent).unwrap();
            prop_assert!(agent.available);
        }
        for p in &d.placements {
            let agent = s.agents.iter().find(|a| a.name == p.agent).unwrap();
            prop_assert!(agent.available || tasks[p.task].tolerated_agents.contains(&agent.name));
        }
        // Every pending task of every Builtin framework is accounted for exactly once.
        let builtin_tasks: usize = s.frameworks.iter().filter(|f| f.kind == SchedulerKind::Builtin).map(|f| f.pending_tasks.len()).sum();
        prop_assert_eq!(d.placements.len() + d.unplaced.len(), builtin_tasks);
    }

    #[test]
    fn quota_limits_are_never_exceeded_by_new_allocations(s in arb_snapshot()) {
        let d = allocate(&s);
        let (before, after) = role_consumption(&s, &d);
        for role in &s.roles {
            let limit = scalars(&role.limit);
            let (was, now) = (scalars(&before.get(&role.name).cloned().unwrap_or_default()), scalars(&after.get(&role.name).cloned().unwrap_or_default()));
            for dim in 0..4 {
                if limit[dim] == 0 {
                    continue;
                }
                if was[dim] >= limit[dim] {
                    prop_assert_eq!(now[dim], was[dim], "role {} grew beyond its limit in dimension {}", role.name, dim);
                } else {
                    prop_assert!(now[dim] <= limit[dim], "role {} over its limit in dimension {}: {} > {}", role.name, dim, now[dim], limit[dim]);
                }
            }
        }
    }

    #[test]
    fn guarantees_are_met_when_capacity_allows(
        agent_count in 1usize..12,
        agent_cpus in 1u64..8,
        guarantees in prop::collection::vec((0u64..12, 0u64..12, any::<bool>()), 1..4),
        seed in any::<u64>(),
        greedy_weight in 1.0f64..100.0,
    ) {
        // Roles with guarantees (in whole CPUs and GiB), one framework each with
        // enough demand, plus a greedy heavy role without quota competing for all.
        let total_cpus = agent_count as u64 * agent_cpus;
        let mut s = snapshot(agents(agent_count, agent_cpus * 1000, agent_cpus * 1024), vec![external("greedy", "greedy")]);
        s.roles.push(role("greedy", greedy_weight));
        s.seed = seed;
        let (mut cpus_left, mut mem_left) = (total_cpus, total_cpus);
        for (i, (cpus, mem, is_external)) in guarantees.into_iter().enumerate() {
            let (cpus, mem) = (cpus.min(cpus_left), mem.min(mem_left));
            cpus_left -= cpus;
            mem_left -= mem;
            let name = format!("quota-{i}");
            s.roles.push(Role { guarantee: res(cpus * 1000, mem * 1024), ..role(&name, 1.0) });
            s.frameworks.push(if is_external {
                let mut f = external(&format!("f-{i}"), &name);
                f.min_allocatable = MinAllocatable::anything();
                f
            } else {
                // Unit tasks: one CPU, or 1 GiB, so packing never strands a guarantee.
                let mut pending = tasks(&format!("f-{i}-cpu"), cpus as usize, &res(1000, 0));
                pending.extend(tasks(&format!("f-{i}-mem"), mem as usize, &res(0, 1024)));
                builtin(&format!("f-{i}"), &name, pending)
            });
        }
        let d = allocate(&s);
        for usage in &d.roles {
            prop_assert!(usage.guarantee_met, "{} not met: {:?}", usage.role, usage);
        }
    }

    #[test]
    fn weighted_shares_converge_to_the_weights(
        count in 40usize..80,
        churn in 0.2f64..0.6,
        skewed in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let share = converge(count, churn, skewed, seed, 50);
        prop_assert!((share - 0.25).abs() <= 0.04, "role a holds {} of the cluster", share);
    }

    #[test]
    fn decisions_are_deterministic(s in arb_snapshot(), other in arb_snapshot()) {
        let first = allocate(&s);
        let copy = s.clone();
        prop_assert_eq!(&first, &allocate(&copy));
        // A reused allocator decides exactly as a fresh one, whatever it ran before.
        let mut allocator = Allocator::new();
        let _ = allocator.allocate(&other);
        prop_assert_eq!(&first, &allocator.allocate(&s));
        prop_assert_eq!(allocate(&other), allocator.allocate(&other));
    }
}

#[test]
fn random_ports_share_an_agent_never_a_port_and_run_out_with_the_range() {
    // One agent with ports 31000-31009: three tasks of 3 random ports each fit (9 ports),
    // a fourth does not; a task with a fixed port takes it out of the choice.
    let mut fixed = task("fixed", with_ports(res(100, 64), &[(31004, 31004)]));
    fixed.random_ports = 0;
    let mut pending = vec![fixed];
    for i in 0..4 {
        let mut t = task(&format!("r{i}"), res(100, 64));
        t.random_ports = 3;
        pending.push(t);
    }
    let s = snapshot(
        vec![agent("a1", 8000, 8192)],
        vec![builtin("b", "r", pending)],
    );
    let d = allocate(&s);
    let placed: BTreeMap<&str, &Vec<u16>> =
        d.placements.iter().map(|p| (p.task, &p.ports)).collect();
    assert_eq!(placed.len(), 4, "{:?}", d.unplaced);
    assert!(placed["fixed"].is_empty());
    let mut seen = BTreeSet::from([31004u16]);
    for name in ["r0", "r1", "r2"] {
        assert_eq!(placed[name].len(), 3);
        for p in placed[name] {
            assert!((31000..=31009).contains(p), "{p} outside the agent's range");
            assert!(seen.insert(*p), "port {p} given twice");
        }
    }
    assert_eq!(d.unplaced.len(), 1);
    assert_eq!(d.unplaced[0].task, "r3");
    assert_eq!(
        d.unplaced[0].reason.to_string(),
        "no available agent with room for cpus:0.1;mem:64 has 3 free host ports left in its port range"
    );
}

#[test]
fn random_ports_skip_an_agent_whose_free_ports_are_too_few() {
    let mut small = agent("a-small", 8000, 8192);
    small.unrequested.ports = ports(&[(31000, 31001)]);
    let mut t = task("t", res(100, 64));
    t.random_ports = 3;
    let s = snapshot(
        vec![small, agent("a-big", 8000, 8192)],
        vec![builtin("b", "r", vec![t])],
    );
    let d = allocate(&s);
    assert_eq!(d.placements.len(), 1);
    assert_eq!(d.placements[0].agent, "a-big");
    assert_eq!(d.placements[0].ports.len(), 3);
}
