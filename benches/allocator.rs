//! One full allocation cycle at 1k and 10k agents × 10 and 100 frameworks.
//!
//! Snapshots come from a deterministic generator: four instance types with some
//! of their capacity already used by other pods, 2% unavailable agents, five
//! roles (weights 1 to 3, one with a quota guarantee, one with a limit), half of the
//! frameworks External (a few outstanding offers and decline filters each) and half
//! Builtin with 10 pending tasks each.
//!
//! Cycles run on one [`Allocator`] kept across iterations, as the controller keeps
//! it across cycles; `fresh/…` runs the one-shot [`allocate`], which sets up its
//! working memory anew every time.
//!
//! `constrained/…` is `builtin/…` with placement constraints on every task.
//!
//! Run: `cargo bench --bench allocator -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use mesos_operator::api::resources::{Cpus, Mebibytes, PortRange, PortRanges};
use mesos_operator::api::{Resources, SchedulerKind};
use mesos_operator::master::allocator::{
    Agent, Allocator, DeclineFilter, Framework, MinAllocatable, OutstandingOffer, PendingTask,
    PlacementGroup, Role, Snapshot, Timestamp, allocate,
};

const MIB: u64 = 1 << 20;
const NOW: i64 = 1_800_000_000;

/// splitmix64, so the snapshot is the same on every run.
struct Generator(u64);

impl Generator {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn resources(millis: u64, mib: u64) -> Resources {
    Resources {
        cpus: Cpus::from_millis(millis),
        mem: Mebibytes::from_bytes(mib * MIB),
        disk: Mebibytes::from_bytes(mib * 4 * MIB),
        ..Resources::default()
    }
}

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `externals` External frameworks (the rest Builtin) among `frameworks`.
pub fn cluster(agent_count: usize, frameworks: usize, externals: usize) -> Snapshot {
    let mut generator = Generator(agent_count as u64 * 1_000 + frameworks as u64);
    let agent_ports = PortRanges::from(PortRange {
        begin: 31000,
        end: 32000,
    });
    let agents: Vec<Agent> = (0..agent_count)
        .map(|i| {
            let size = 1u64 << generator.below(4); // 4, 8, 16 or 32 CPUs
            let allocatable = Resources {
                ports: agent_ports.clone(),
                ..resources(4000 * size, 16384 * size)
            };
            // Other pods use up to a quarter of the node.
            let used = resources(generator.below(1000 * size), generator.below(4096 * size));
            Agent {
                name: format!("node-{i:05}"),
                unrequested: allocatable.saturating_sub(&used),
                allocatable,
                pod_room: Some(110),
                available: generator.below(50) != 0,
                labels: Default::default(),
            }
        })
        .collect();
    let roles: Vec<Role> = (0..5)
        .map(|i| Role {
            name: format!("role-{i}"),
            weight: 1.0 + (i % 3) as f64,
            guarantee: if i == 0 {
                resources(400 * agent_count as u64, 0)
            } else {
                Resources::default()
            },
            limit: if i == 1 {
                resources(2000 * agent_count as u64, 0)
            } else {
                Resources::default()
            },
        })
        .collect();
    let mut offers = Vec::new();
    let frameworks: Vec<Framework> = (0..frameworks)
        .map(|i| {
            let id = format!("ns-{}/framework-{i:03}", i % 7);
            let external = i < externals;
            let mut filters = Vec::new();
            let mut pending_tasks = Vec::new();
            if external {
                for j in 0..3 {
                    let agent = &agents[generator.below(agent_count as u64) as usize];
                    offers.push(OutstandingOffer {
                        id: format!("{id}-offer-{j}"),
                        framework: id.clone(),
                        agent: agent.name.clone(),
                        resources: resources(1000, 1024),
                        // One in three has expired.
                        expires_at: Some(at(NOW + 20 - 15 * j)),
                    });
                    filters.push(DeclineFilter {
                        agent: agents[generator.below(agent_count as u64) as usize]
                            .name
                            .clone(),
                        until: at(NOW + 5),
                        refused: agent.allocatable.clone(),
                    });
                }
            } else {
                pending_tasks = (0..10)
                    .map(|j| PendingTask {
                        id: format!("{id}/task-{j}"),
                        resources: resources(
                            500 * (1 + generator.below(4)),
                            512 * (1 + generator.below(8)),
                        ),
                        tolerated_agents: Vec::new(),
                        group: None,
                        random_ports: 0,
                    })
                    .collect();
            }
            Framework {
                id,
                role: format!("role-{}", i % 5),
                kind: if external {
                    SchedulerKind::External
                } else {
                    SchedulerKind::Builtin
                },
                suppressed: i % 10 == 9,
                allocated: resources(generator.below(64_000), generator.below(128 * 1024)),
                min_allocatable: MinAllocatable::default(),
                filters,
                pending_tasks,
            }
        })
        .collect();
    Snapshot {
        agents,
        frameworks,
        roles,
        offers,
        now: at(NOW),
        groups: Vec::new(),
        seed: 7,
    }
}

/// [`cluster`] with every framework Builtin and placement constraints on every task: agents
/// in 10 zones and 40 racks; each framework's 10 tasks are one group with `hostname
/// UNIQUE`, `zone GROUP_BY` (no count) and `rack MAX_PER 2`, a third of the groups with 5
/// live tasks already.
fn constrained(agent_count: usize, frameworks: usize) -> Snapshot {
    use mesos_model::constraints::{ConstraintOperator as Op, ConstraintSpec, parse};
    let mut snapshot = cluster(agent_count, frameworks, 0);
    for (i, agent) in snapshot.agents.iter_mut().enumerate() {
        agent.labels = [
            (
                "topology.kubernetes.io/zone".to_string(),
                format!("zone-{}", i % 10),
            ),
            ("rack".to_string(), format!("rack-{}", i % 40)),
        ]
        .into();
    }
    let specs = [
        ConstraintSpec::new("hostname", Op::Unique, None),
        ConstraintSpec::new("zone", Op::GroupBy, None),
        ConstraintSpec::new("rack", Op::MaxPer, Some("2")),
    ];
    let constraints = std::sync::Arc::new(parse(&specs).unwrap_or_default());
    let names: Vec<String> = snapshot.agents.iter().map(|a| a.name.clone()).collect();
    for (i, framework) in snapshot.frameworks.iter_mut().enumerate() {
        snapshot.groups.push(PlacementGroup {
            key: format!("{}/web", framework.id),
            constraints: constraints.clone(),
            target: Some(15),
            placed: if i % 3 == 0 {
                (0..5)
                    .map(|j| names[(i * 7 + j * 13) % names.len()].clone())
                    .collect()
            } else {
                Vec::new()
            },
        });
        for task in &mut framework.pending_tasks {
            task.group = Some(i);
        }
    }
    snapshot
}

fn bench_cycle(c: &mut Criterion) {
    let mut group = c.benchmark_group("allocate");
    let mut allocator = Allocator::new();
    let mut run =
        |group: &mut criterion::BenchmarkGroup<'_, _>, kind: &str, snapshot: &Snapshot| {
            let id = format!("{}x{}", snapshot.agents.len(), snapshot.frameworks.len());
            let decisions = allocator.allocate(snapshot);
            println!(
                "{kind} {id}: {} offers, {} placements, {} unplaced, {} rescinds",
                decisions.offers.len(),
                decisions.placements.len(),
                decisions.unplaced.len(),
                decisions.rescinds.len()
            );
            group.bench_with_input(BenchmarkId::new(kind, id), snapshot, |b, snapshot| {
                b.iter(|| allocator.allocate(black_box(snapshot)))
            });
        };
    for agents in [1_000, 10_000] {
        for frameworks in [10, 100] {
            run(
                &mut group,
                "mixed",
                &cluster(agents, frameworks, frameworks / 2),
            );
        }
    }
    // Worst case for offers: every framework External, every agent offered.
    run(&mut group, "external", &cluster(10_000, 100, 100));
    // Worst case for placements: every framework Builtin, 10 tasks each.
    run(&mut group, "builtin", &cluster(10_000, 100, 0));
    // The same with placement constraints on every task.
    run(&mut group, "constrained", &constrained(10_000, 100));
    // The one-shot function, working memory set up anew each cycle.
    let mixed = cluster(10_000, 100, 50);
    group.bench_with_input(
        BenchmarkId::new("fresh", "10000x100"),
        &mixed,
        |b, snapshot| b.iter(|| allocate(black_box(snapshot))),
    );
    group.finish();
}

criterion_group!(benches, bench_cycle);
criterion_main!(benches);
