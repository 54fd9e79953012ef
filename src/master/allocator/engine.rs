//! One allocation cycle: rescind, serve quota guarantees, then share by weighted DRF.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use mesos_model::constraints::{
    Attributes, Field, NodeAttributes, PlacementTracker, RejectionSummary, Rule,
};

use crate::api::SchedulerKind;
use crate::api::resources::PortRanges;

use super::decisions::{
    Decisions, FrameworkUsage, NewOffer, Placement, Rescind, RescindReason, RoleUsage, Unplaced,
    UnplacedReason,
};
use super::max_tree::{MaxTree, Room};
use super::names::{NameMap, name_map};
use super::rng::SplitMix64;
use super::scalars::Scalars;
use super::snapshot::{Agent, Framework, MinRule, OutstandingOffer, PendingTask, Snapshot};

/// Runs one allocation cycle over `snapshot`: pure and deterministic (same
/// snapshot, same decisions), no I/O, no clock.
///
/// 1. Outstanding offers are rescinded when their framework is gone or suppressed,
///    their agent gone or unavailable, they expired (`expires_at <= now`), or the
///    agent no longer has their resources (older offers are kept first); the
///    resources of rescinded offers return to the pool, those of kept offers stay
///    taken and count in their framework's share and its role's quota.
/// 2. Stage 1: roles whose quota guarantee is not yet met are served first (in
///    weighted-DRF order), each allocation making progress towards the guarantee.
/// 3. Stage 2: everything left goes in weighted-DRF order: roles by dominant share
///    ÷ weight, then frameworks of the role by dominant share (ties by name); the
///    chosen framework receives one allocation, shares are updated, repeat.
///
/// One allocation is, for a Builtin framework, its next pending task placed on the
/// first agent (in the seeded shuffled order) where it fits; for an External
/// framework, an offer of one agent's whole free remainder with all its free ports.
/// Every allocation stays within the role's quota limit, and beyond the role's own
/// unmet guarantee it takes only the surplus over what other roles' unmet
/// guarantees need (headroom).
///
/// This convenience allocates its working memory afresh; a control loop should
/// keep an [`Allocator`] and call [`Allocator::allocate`] instead.
pub fn allocate(snapshot: &Snapshot) -> Decisions<'_> {
    Allocator::new().allocate(snapshot)
}

/// The allocator with its working memory, reused from one cycle to the next.
///
/// At 10,000 agents one cycle works on a few MiB of per-agent state; keeping it
/// between cycles spares the control loop from faulting in fresh pages every
/// cycle (which costs more than the allocation itself). Holding it changes no
/// decision: [`Allocator::allocate`] is as pure as [`allocate`].
#[derive(Debug, Default)]
pub struct Allocator {
    agents: AgentTable,
}

impl Allocator {
    /// An allocator with no working memory yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs one allocation cycle over `snapshot`; see [`allocate`].
    pub fn allocate<'a>(&mut self, snapshot: &'a Snapshot) -> Decisions<'a> {
        let mut cycle = Cycle::new(snapshot, &mut self.agents);
        cycle.run_stage(Stage::Guarantees);
        cycle.run_stage(Stage::FairShare);
        cycle.finish()
    }
}

/// How many admitted agents a task with GROUP_BY without a count compares at most.
const SPREAD_CANDIDATES: usize = 64;

/// How many unplaceable needs a cycle remembers (see `Cycle::no_fit`).
const NO_FIT_MEMORY: usize = 16;

/// The two stages of Mesos' hierarchical allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Only roles with an unmet quota guarantee, and only allocations that make
    /// progress towards it.
    Guarantees,
    /// Everyone, up to quota limits and headroom.
    FairShare,
}

/// Outcome of giving a framework its turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// It received one allocation.
    Progress,
    /// It cannot receive anything more in this stage.
    Exhausted,
}

/// Why a task could not be placed in a stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Blocked {
    /// Stage 1 only: the task needs nothing its role's unmet guarantee covers.
    NotTowardGuarantee,
    /// It would take its role over the quota limit.
    QuotaLimit,
    /// It fits somewhere, but only by eating into other roles' guarantee headroom.
    HeldForGuarantees,
    /// No agent it may use has room for it.
    NoAgentFits,
}

/// Per-agent state of a cycle, indexed by visiting position (structure of arrays,
/// kept by [`Allocator`] between cycles).
#[derive(Debug, Default)]
struct AgentTable {
    /// Snapshot index of the agent at each position.
    order: Vec<usize>,
    /// Available: offered, counted in the cluster total.
    offerable: Vec<bool>,
    /// Free scalars: unrequested minus kept offers minus this cycle's allocations.
    free: Vec<Scalars>,
    /// Pod slots left (`u32::MAX`: unbounded).
    pods: Vec<u32>,
    /// Free ports once something took some (`None`: the snapshot's unrequested ports).
    ports: Vec<Option<PortRanges>>,
    /// Search tree over the rooms of offerable agents.
    tree: MaxTree,
}

impl AgentTable {
    /// Loads the snapshot's agents in the seeded shuffled order.
    fn load(&mut self, snapshot: &Snapshot) {
        let count = snapshot.agents.len();
        self.order.clear();
        self.order.extend(0..count);
        SplitMix64::new(snapshot.seed).shuffle(&mut self.order);
        let agents = self.order.iter().map(|&index| &snapshot.agents[index]);
        self.offerable.clear();
        self.offerable
            .extend(agents.clone().map(|agent| agent.available));
        self.free.clear();
        self.free
            .extend(agents.clone().map(|agent| Scalars::of(&agent.unrequested)));
        self.pods.clear();
        self.pods
            .extend(agents.map(|agent| agent.pod_room.unwrap_or(u32::MAX)));
        self.ports.clear();
        self.ports.resize_with(count, || None);
    }

    /// What the search tree holds for the agent at `position`: nothing for agents
    /// that are not offerable (tasks that tolerate them look them up by name).
    fn room(&self, position: usize) -> Room {
        if self.offerable[position] {
            Room {
                free: self.free[position],
                pods: self.pods[position],
            }
        } else {
            Room::default()
        }
    }
}

/// An active decline filter.
struct FilterSlot<'a> {
    position: usize,
    refused: Scalars,
    refused_ports: &'a PortRanges,
}

/// A framework during the cycle.
struct FrameworkSlot<'a> {
    source: &'a Framework,
    role: usize,
    /// Rank of its id among all framework ids: the DRF tie-breaker.
    rank: u32,
    /// Non-terminal tasks, including placements of this cycle.
    allocated: Scalars,
    /// Kept outstanding offers and new offers.
    offered: Scalars,
    min_rule: MinRule,
    /// Active filters, sorted by agent position.
    filters: Vec<FilterSlot<'a>>,
    /// Positions of agents where it holds a kept outstanding offer, sorted.
    held_agents: Vec<usize>,
    /// Positions of agents offered to it in stage 1 of this cycle, ascending.
    offered_in_stage_one: Vec<usize>,
    /// External: next agent position to consider in the current stage.
    cursor: usize,
    /// Builtin: indices of its still pending tasks, in order.
    pending: Vec<usize>,
    /// Builtin: how many of `pending` were tried in the current stage.
    next_task: usize,
    /// Builtin: tasks tried in stage 1 and left for stage 2.
    deferred: Vec<usize>,
}

impl FrameworkSlot<'_> {
    fn share(&self, total: &Scalars) -> f64 {
        self.allocated
            .saturating_add(&self.offered)
            .dominant_share(total)
    }

    /// Whether a decline filter blocks `offered` (with `ports`) on the agent at
    /// `position`: some active filter there refused a superset of it.
    fn is_filtered(&self, position: usize, offered: &Scalars, ports: &PortRanges) -> bool {
        if self.filters.is_empty() {
            return false;
        }
        let first = self.filters.partition_point(|f| f.position < position);
        self.filters[first..]
            .iter()
            .take_while(|f| f.position == position)
            .any(|f| f.refused.contains(offered) && f.refused_ports.contains(ports))
    }

    /// Whether it holds an outstanding offer on the agent at `position` or got one
    /// earlier in this cycle.
    fn holds_offer_on(&self, position: usize) -> bool {
        self.held_agents.binary_search(&position).is_ok()
            || self.offered_in_stage_one.binary_search(&position).is_ok()
    }

    /// Whether it may still receive allocations in this stage.
    fn has_work(&self) -> bool {
        match self.source.kind {
            SchedulerKind::External => true,
            SchedulerKind::Builtin => self.next_task < self.pending.len(),
        }
    }
}

/// An entry of [`Snapshot::groups`] during the cycle.
struct GroupSlot<'a> {
    /// Where the group's tasks are, this cycle's placements included.
    tracker: PlacementTracker<'a>,
    /// `None`: the placed tasks and the one being placed.
    target: Option<u32>,
    /// Entries of the same group, this one included: a placement counts in each.
    siblings: Vec<usize>,
    /// A need that fit on no agent the constraints admit (for a task without ports or
    /// tolerated agents), with the placement count it was judged at: a later task of the
    /// entry needing at least as much fails at once until the group changes.
    failed: Option<(u32, Scalars)>,
    /// The last unplaced task's reason, with the placement count it was judged at.
    reason: Option<(u32, bool, String)>,
    /// Per GROUP_BY without a count: its field and how many of the group's tasks are on
    /// nodes with each value. Such a task goes where its values are least used (the rule
    /// admits any value that is among the least used, so first fit would pile every task
    /// onto the first value).
    spread: Vec<(&'a Field, std::collections::HashMap<Option<&'a str>, u32>)>,
}

impl<'a> GroupSlot<'a> {
    /// Counts a task of the group on `node`.
    fn record<A: Attributes + ?Sized>(&mut self, node: &'a A) {
        self.tracker.record(node);
        for (field, counts) in &mut self.spread {
            *counts.entry(node.value_of(field)).or_insert(0) += 1;
        }
    }

    /// How used `node`'s values of the spread fields are (lower is better).
    fn usage<A: Attributes + ?Sized>(&self, node: &A) -> u64 {
        self.spread
            .iter()
            .map(|(field, counts)| {
                u64::from(counts.get(&node.value_of(field)).copied().unwrap_or(0))
            })
            .sum()
    }

    /// Sets the target for one more placement.
    fn prepare(&mut self) {
        let target = self
            .target
            .unwrap_or_else(|| self.tracker.placed().saturating_add(1));
        self.tracker.set_target(target);
    }
}

/// A role during the cycle.
struct RoleSlot<'a> {
    name: &'a str,
    weight: f64,
    /// Rank of its name among all role names: the DRF tie-breaker.
    rank: u32,
    guarantee: Scalars,
    /// Quota limit (`u64::MAX` where unlimited).
    limit: Scalars,
    allocated: Scalars,
    offered: Scalars,
    /// Guarantee not yet covered by `allocated + offered`.
    unmet: Scalars,
    /// Its frameworks that may still receive allocations in the current stage.
    queue: ShareQueue,
}

impl RoleSlot<'_> {
    fn consumed(&self) -> Scalars {
        self.allocated.saturating_add(&self.offered)
    }

    fn weighted_share(&self, total: &Scalars) -> f64 {
        self.consumed().dominant_share(total) / self.weight
    }
}

/// A min-priority queue of (share, rank) → index: the DRF sorter. Only the entry
/// that received an allocation changes, so each step is `O(log n)`.
#[derive(Debug, Default)]
struct ShareQueue {
    heap: BinaryHeap<Reverse<(u64, u32, usize)>>,
}

impl ShareQueue {
    fn push(&mut self, share: f64, rank: u32, index: usize) {
        // Non-negative floats order like their bit patterns.
        let key = if share > 0.0 { share.to_bits() } else { 0 };
        self.heap.push(Reverse((key, rank, index)));
    }

    fn first(&self) -> Option<usize> {
        self.heap.peek().map(|Reverse((_, _, index))| *index)
    }

    fn pop_first(&mut self) {
        self.heap.pop();
    }

    fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    fn clear(&mut self) {
        self.heap.clear();
    }
}

/// Where an allocation goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Holding {
    /// A placed task: allocated.
    Task,
    /// An offer.
    Offer,
}

/// The state of one allocation cycle.
struct Cycle<'a, 'w> {
    snapshot: &'a Snapshot,
    /// Agents in visiting (shuffled) order.
    agents: &'w mut AgentTable,
    /// Agent name → position, for the names the snapshot refers to (offers,
    /// filters, tolerated agents); `usize::MAX` for names of no agent.
    agent_positions: NameMap<'a>,
    /// No position before this one has room (free resources and a pod slot) on
    /// an offerable agent; it only moves forward.
    front: usize,
    /// Scalar needs that fit on no offerable agent any more (minimal ones, a few
    /// at most). Agents only lose room within a cycle, so a task needing at least
    /// one of these fails at once instead of searching again: a flood of
    /// identical tasks that do not fit costs one search, not one each.
    no_fit: Vec<Scalars>,
    /// Placement groups, as [`Snapshot::groups`].
    groups: Vec<GroupSlot<'a>>,
    /// Frameworks in snapshot order, duplicates dropped.
    frameworks: Vec<FrameworkSlot<'a>>,
    roles: Vec<RoleSlot<'a>>,
    /// Allocatable resources of the offerable agents: the DRF denominator.
    total: Scalars,
    /// Free resources on offerable agents.
    available_headroom: Scalars,
    /// Sum of the roles' unmet guarantees.
    required_headroom: Scalars,
    decisions: Decisions<'a>,
}

impl<'a, 'w> Cycle<'a, 'w> {
    fn new(snapshot: &'a Snapshot, agents: &'w mut AgentTable) -> Cycle<'a, 'w> {
        agents.load(snapshot);
        let agent_positions = referenced_agents(snapshot, &agents.order);
        let (roles, role_index) = roles_of(snapshot);
        let groups = groups_of(snapshot, &agents.order, &agent_positions);
        let mut cycle = Cycle {
            snapshot,
            agents,
            agent_positions,
            front: 0,
            no_fit: Vec::new(),
            groups,
            frameworks: Vec::with_capacity(snapshot.frameworks.len()),
            roles,
            total: Scalars::ZERO,
            available_headroom: Scalars::ZERO,
            required_headroom: Scalars::ZERO,
            decisions: Decisions::default(),
        };
        let framework_index = cycle.add_frameworks(snapshot, &role_index);
        cycle.settle_outstanding_offers(snapshot, &framework_index);

        for framework in &cycle.frameworks {
            let role = &mut cycle.roles[framework.role];
            role.allocated = role.allocated.saturating_add(&framework.allocated);
            role.offered = role.offered.saturating_add(&framework.offered);
        }
        for role in &mut cycle.roles {
            role.unmet = role.guarantee.saturating_sub(&role.consumed());
            cycle.required_headroom = cycle.required_headroom.saturating_add(&role.unmet);
        }
        let table = &mut *cycle.agents;
        for (position, &index) in table.order.iter().enumerate() {
            if table.offerable[position] {
                let allocatable = Scalars::of(&snapshot.agents[index].allocatable);
                cycle.total = cycle.total.saturating_add(&allocatable);
                cycle.available_headroom = cycle
                    .available_headroom
                    .saturating_add(&table.free[position]);
            }
        }
        let mut tree = std::mem::take(&mut table.tree);
        tree.rebuild((0..table.order.len()).map(|position| table.room(position)));
        table.tree = tree;
        cycle.advance_front();
        cycle
            .decisions
            .offers
            .reserve(cycle.agents.order.len() + snapshot.frameworks.len());
        cycle
    }

    /// The agent at `position`.
    fn agent(&self, position: usize) -> &'a Agent {
        &self.snapshot.agents[self.agents.order[position]]
    }

    /// The free ports of the agent at `position`.
    fn free_ports(&self, position: usize) -> &PortRanges {
        match &self.agents.ports[position] {
            Some(ports) => ports,
            None => &self.agent(position).unrequested.ports,
        }
    }

    /// Removes `taken` from the free ports of the agent at `position`.
    fn take_ports(&mut self, position: usize, taken: &PortRanges) {
        if !taken.is_empty() {
            let left = self.free_ports(position).difference(taken);
            self.agents.ports[position] = Some(left);
        }
    }

    /// Takes `task`'s random ports out of the free ports of the agent at `position` (where
    /// [`Self::fits`] found room for them), and returns them.
    fn take_random_ports(&mut self, position: usize, task: &PendingTask) -> Vec<u16> {
        if task.random_ports == 0 {
            return Vec::new();
        }
        let seed = super::ports::task_seed(self.snapshot.seed, &task.id);
        let chosen = super::ports::choose_ports(
            self.free_ports(position),
            &task.resources.ports,
            task.random_ports,
            seed,
        )
        .unwrap_or_default();
        self.take_ports(position, &chosen.iter().copied().collect());
        chosen
    }

    /// The position of the agent named `name`, if there is one.
    fn agent_position(&self, name: &str) -> Option<usize> {
        self.agent_positions
            .get(name)
            .copied()
            .filter(|&position| position != usize::MAX)
    }

    /// Moves `front` past agents without room.
    fn advance_front(&mut self) {
        while self.front < self.agents.order.len() {
            let room = self.agents.room(self.front);
            if room.pods > 0 && !room.free.is_zero() {
                break;
            }
            self.front += 1;
        }
    }

    /// Records the new room of the agent at `position`.
    fn update_room(&mut self, position: usize) {
        let room = self.agents.room(position);
        self.agents.tree.set(position, room);
        if position == self.front {
            self.advance_front();
        }
    }

    /// Adds the snapshot's frameworks (the first of each id) and returns id → index.
    fn add_frameworks(&mut self, snapshot: &'a Snapshot, role_index: &NameMap<'a>) -> NameMap<'a> {
        let mut framework_index = name_map(snapshot.frameworks.len());
        for framework in &snapshot.frameworks {
            if framework_index.contains_key(framework.id.as_str()) {
                continue;
            }
            framework_index.insert(framework.id.as_str(), self.frameworks.len());
            let mut filters: Vec<FilterSlot<'a>> = framework
                .filters
                .iter()
                .filter(|filter| snapshot.now < filter.until)
                .filter_map(|filter| {
                    let position = self.agent_position(&filter.agent)?;
                    Some(FilterSlot {
                        position,
                        refused: Scalars::of(&filter.refused),
                        refused_ports: &filter.refused.ports,
                    })
                })
                .collect();
            filters.sort_by_key(|filter| filter.position);
            let pending = match framework.kind {
                SchedulerKind::Builtin => (0..framework.pending_tasks.len()).collect(),
                SchedulerKind::External => Vec::new(),
            };
            self.frameworks.push(FrameworkSlot {
                source: framework,
                // Every framework role was added to the role index.
                role: role_index
                    .get(framework.role.as_str())
                    .copied()
                    .unwrap_or_default(),
                rank: 0,
                allocated: Scalars::of(&framework.allocated),
                offered: Scalars::ZERO,
                min_rule: framework.min_allocatable.scalar_rule(),
                filters,
                held_agents: Vec::new(),
                offered_in_stage_one: Vec::new(),
                cursor: 0,
                pending,
                next_task: 0,
                deferred: Vec::new(),
            });
        }
        let mut by_id: Vec<usize> = (0..self.frameworks.len()).collect();
        by_id.sort_unstable_by_key(|&index| self.frameworks[index].source.id.as_str());
        for (rank, index) in by_id.into_iter().enumerate() {
            self.frameworks[index].rank = u32::try_from(rank).unwrap_or(u32::MAX);
        }
        framework_index
    }

    /// Decides which outstanding offers survive, takes their resources from their
    /// agents, and records the others as rescinds.
    fn settle_outstanding_offers(&mut self, snapshot: &'a Snapshot, framework_index: &NameMap<'a>) {
        let offers = &snapshot.offers;
        let mut reasons: Vec<Option<RescindReason>> = vec![None; offers.len()];
        // (agent position, offer index, framework index) of offers that may stay.
        let mut candidates: Vec<(usize, usize, usize)> = Vec::new();
        for (index, offer) in offers.iter().enumerate() {
            let framework = framework_index.get(offer.framework.as_str()).copied();
            let position = self.agent_position(&offer.agent);
            let reason = match (framework, position) {
                (None, _) => Some(RescindReason::FrameworkGone),
                (_, None) => Some(RescindReason::AgentUnavailable),
                (Some(_), Some(position)) if !self.agents.offerable[position] => {
                    Some(RescindReason::AgentUnavailable)
                }
                (Some(framework), _) if self.frameworks[framework].source.suppressed => {
                    Some(RescindReason::Suppressed)
                }
                _ if offer.expires_at.is_some_and(|at| at <= snapshot.now) => {
                    Some(RescindReason::Expired)
                }
                (Some(framework), Some(position)) => {
                    candidates.push((position, index, framework));
                    None
                }
            };
            reasons[index] = reason;
        }

        // Per agent, keep offers oldest first (earliest expiry, then id) while they fit.
        candidates.sort_unstable_by_key(|&(position, _, _)| position);
        let by_age = |a: &(usize, usize, usize), b: &(usize, usize, usize)| {
            let (x, y) = (&offers[a.1], &offers[b.1]);
            expiry_order(x)
                .cmp(&expiry_order(y))
                .then_with(|| x.id.cmp(&y.id))
        };
        for group in candidates.chunk_by_mut(|a, b| a.0 == b.0) {
            if group.len() > 1 {
                group.sort_unstable_by(by_age);
            }
            for &(position, index, framework) in group.iter() {
                let offer = &offers[index];
                let amount = Scalars::of(&offer.resources);
                if !self.agents.free[position].contains(&amount)
                    || !self.free_ports(position).contains(&offer.resources.ports)
                {
                    reasons[index] = Some(RescindReason::ResourcesGone);
                    continue;
                }
                self.agents.free[position] = self.agents.free[position].saturating_sub(&amount);
                self.take_ports(position, &offer.resources.ports);
                let framework = &mut self.frameworks[framework];
                framework.offered = framework.offered.saturating_add(&amount);
                framework.held_agents.push(position);
            }
        }
        for framework in &mut self.frameworks {
            framework.held_agents.sort_unstable();
            framework.held_agents.dedup();
        }
        self.decisions.rescinds = offers
            .iter()
            .zip(reasons)
            .filter_map(|(offer, reason)| {
                reason.map(|reason| Rescind {
                    offer: offer.id.as_str(),
                    reason,
                })
            })
            .collect();
    }

    /// Serves frameworks in weighted-DRF order until nobody can receive more.
    fn run_stage(&mut self, stage: Stage) {
        if stage == Stage::Guarantees && self.required_headroom.is_zero() {
            return;
        }
        for role in &mut self.roles {
            role.queue.clear();
        }
        for (index, framework) in self.frameworks.iter_mut().enumerate() {
            framework.cursor = 0;
            framework.next_task = 0;
            let role = &mut self.roles[framework.role];
            if framework.source.suppressed
                || !framework.has_work()
                || (stage == Stage::Guarantees && role.unmet.is_zero())
            {
                continue;
            }
            role.queue
                .push(framework.share(&self.total), framework.rank, index);
        }
        let mut role_queue = ShareQueue::default();
        for (index, role) in self.roles.iter().enumerate() {
            if !role.queue.is_empty() {
                role_queue.push(role.weighted_share(&self.total), role.rank, index);
            }
        }

        while let Some(role) = role_queue.first() {
            let Some(framework) = self.roles[role].queue.first() else {
                role_queue.pop_first();
                continue;
            };
            let step = match self.frameworks[framework].source.kind {
                SchedulerKind::Builtin => self.place_next_task(stage, framework),
                SchedulerKind::External => self.offer_next_agent(stage, framework),
            };
            let queue = &mut self.roles[role].queue;
            queue.pop_first();
            match step {
                Step::Progress => {
                    let slot = &self.frameworks[framework];
                    if slot.has_work() {
                        queue.push(slot.share(&self.total), slot.rank, framework);
                    }
                    role_queue.pop_first();
                    let role_slot = &self.roles[role];
                    let guarantee_met = stage == Stage::Guarantees && role_slot.unmet.is_zero();
                    if !guarantee_met && !role_slot.queue.is_empty() {
                        role_queue.push(
                            role_slot.weighted_share(&self.total),
                            role_slot.rank,
                            role,
                        );
                    }
                }
                Step::Exhausted => {
                    if queue.is_empty() {
                        role_queue.pop_first();
                    }
                }
            }
        }

        if stage == Stage::Guarantees {
            // Tasks tried in stage 1 come back, in their original order, for stage 2.
            for framework in &mut self.frameworks {
                let untried = framework
                    .pending
                    .split_off(framework.next_task.min(framework.pending.len()));
                framework.pending = std::mem::take(&mut framework.deferred);
                framework.pending.extend(untried);
                framework.next_task = 0;
            }
        }
    }

    /// What the role may take in one allocation, per dimension: within its quota
    /// limit, and beyond its own unmet guarantee only the headroom surplus.
    fn role_cap(&self, role: usize) -> Scalars {
        let role = &self.roles[role];
        let limit_left = role.limit.saturating_sub(&role.consumed());
        let surplus = self
            .available_headroom
            .saturating_sub(&self.required_headroom);
        limit_left.min_each(&role.unmet.saturating_add(&surplus))
    }

    /// External framework's turn: an offer of the next agent it may be offered.
    fn offer_next_agent(&mut self, stage: Stage, framework: usize) -> Step {
        let role = self.frameworks[framework].role;
        let cap = self.role_cap(role);
        let unmet = self.roles[role].unmet;
        loop {
            let slot = &self.frameworks[framework];
            let rule = &slot.min_rule;
            // Every condition is monotone in the room, as the tree requires.
            let found = self
                .agents
                .tree
                .first_from(slot.cursor.max(self.front), |room| {
                    let amount = room.free.min_each(&cap);
                    room.pods > 0
                        && rule.allows(&amount)
                        && (stage == Stage::FairShare || amount.overlaps(&unmet))
                });
            let Some(position) = found else {
                return Step::Exhausted;
            };
            // Nothing an agent can give ever grows within a cycle, so an agent
            // passed over now stays passed over: the cursor only moves forward.
            self.frameworks[framework].cursor = position + 1;
            let slot = &self.frameworks[framework];
            if slot.holds_offer_on(position) {
                continue;
            }
            let amount = self.agents.free[position].min_each(&cap);
            if slot.is_filtered(position, &amount, self.free_ports(position)) {
                continue;
            }

            self.take(role, framework, position, amount, Holding::Offer);
            if stage == Stage::Guarantees {
                self.frameworks[framework]
                    .offered_in_stage_one
                    .push(position);
            }
            let ports = match self.agents.ports[position].replace(PortRanges::empty()) {
                Some(ports) => ports,
                None => self.agent(position).unrequested.ports.clone(),
            };
            self.decisions.offers.push(NewOffer {
                framework: self.frameworks[framework].source.id.as_str(),
                agent: self.agent(position).name.as_str(),
                role: self.roles[role].name,
                resources: amount.with_ports(ports),
            });
            self.update_room(position);
            return Step::Progress;
        }
    }

    /// Builtin framework's turn: its next pending task that can be placed is placed.
    fn place_next_task(&mut self, stage: Stage, framework: usize) -> Step {
        let role = self.frameworks[framework].role;
        let source = self.frameworks[framework].source;
        loop {
            let slot = &mut self.frameworks[framework];
            let Some(&task_index) = slot.pending.get(slot.next_task) else {
                return Step::Exhausted;
            };
            slot.next_task += 1;
            let Some(task) = source.pending_tasks.get(task_index) else {
                continue;
            };
            let need = Scalars::of(&task.resources);
            match self.find_place(stage, framework, role, task, &need) {
                Ok(position) => {
                    self.take(role, framework, position, need, Holding::Task);
                    let pods = &mut self.agents.pods[position];
                    if *pods != u32::MAX {
                        *pods = pods.saturating_sub(1);
                    }
                    self.take_ports(position, &task.resources.ports);
                    let ports = self.take_random_ports(position, task);
                    self.record_placement(task, position);
                    self.decisions.placements.push(Placement {
                        task: task.id.as_str(),
                        framework: source.id.as_str(),
                        agent: self.agent(position).name.as_str(),
                        ports,
                    });
                    self.update_room(position);
                    return Step::Progress;
                }
                Err(blocked) => match stage {
                    Stage::Guarantees => self.frameworks[framework].deferred.push(task_index),
                    Stage::FairShare => {
                        let reason = self.unplaced_reason(blocked, role, task);
                        self.decisions.unplaced.push(Unplaced {
                            task: task.id.as_str(),
                            framework: source.id.as_str(),
                            reason,
                        });
                    }
                },
            }
        }
    }

    /// Where `task` goes, or why it cannot go anywhere in this stage.
    fn find_place(
        &mut self,
        stage: Stage,
        framework: usize,
        role: usize,
        task: &PendingTask,
        need: &Scalars,
    ) -> Result<usize, Blocked> {
        let role_slot = &self.roles[role];
        if stage == Stage::Guarantees && !need.overlaps(&role_slot.unmet) {
            return Err(Blocked::NotTowardGuarantee);
        }
        if !role_slot
            .limit
            .saturating_sub(&role_slot.consumed())
            .contains(need)
        {
            return Err(Blocked::QuotaLimit);
        }
        let group = self.group_of(task);
        if let Some(group) = group {
            let slot = &mut self.groups[group];
            slot.prepare();
            if slot.failed.is_some_and(|(placed, failed)| {
                placed == slot.tracker.placed() && need.contains(&failed)
            }) {
                return Err(Blocked::NoAgentFits);
            }
        }
        // Headroom is counted on offerable agents only, so it does not restrict
        // placements on the unavailable agents a task tolerates.
        let within_headroom = self.role_cap(role).contains(need);
        let found = match group.filter(|&group| !self.groups[group].spread.is_empty()) {
            Some(group) => self.least_used_fit(framework, group, task, need, within_headroom),
            None => {
                let offerable = self.first_fit_offerable(framework, task, need, within_headroom);
                self.first_fit_tolerated(framework, task, need, offerable)
            }
        };
        if found.is_none()
            && within_headroom
            && let Some(group) = group
            && task.resources.ports.is_empty()
            && task.random_ports == 0
            && task.tolerated_agents.is_empty()
        {
            let slot = &mut self.groups[group];
            slot.failed = Some((slot.tracker.placed(), *need));
        }
        match found {
            Some(position) => Ok(position),
            None if !within_headroom
                && self
                    .first_fit_offerable(framework, task, need, true)
                    .is_some() =>
            {
                Err(Blocked::HeldForGuarantees)
            }
            None => Err(Blocked::NoAgentFits),
        }
    }

    /// Whether `task` fits on the agent at `position` now.
    fn fits(&self, framework: usize, task: &PendingTask, need: &Scalars, position: usize) -> bool {
        let ports = &task.resources.ports;
        self.agents.pods[position] > 0
            && self.agents.free[position].contains(need)
            && self.free_ports(position).contains(ports)
            && super::ports::has_room(self.free_ports(position), ports, task.random_ports)
            && !self.frameworks[framework].is_filtered(position, need, ports)
            && self.admits(task, position)
    }

    /// The entry of [`Snapshot::groups`] that holds `task`'s constraints, if any.
    fn group_of(&self, task: &PendingTask) -> Option<usize> {
        task.group.filter(|&group| group < self.groups.len())
    }

    /// Whether `task`'s placement constraints admit one more task of its group on the
    /// agent at `position` (the target is set by [`GroupSlot::prepare`]).
    fn admits(&self, task: &PendingTask, position: usize) -> bool {
        self.group_of(task).is_none_or(|group| {
            self.groups[group]
                .tracker
                .check(self.agent(position))
                .is_ok()
        })
    }

    /// Counts a placement of `task` on the agent at `position` in every entry of its group.
    fn record_placement(&mut self, task: &PendingTask, position: usize) {
        let Some(group) = self.group_of(task) else {
            return;
        };
        let agent = self.agent(position);
        let siblings = std::mem::take(&mut self.groups[group].siblings);
        for &sibling in &siblings {
            self.groups[sibling].record(agent);
        }
        self.groups[group].siblings = siblings;
    }

    /// For a task with GROUP_BY without a count: of the agents where it fits and its
    /// constraints admit it (offerable ones if `allowed`, and unavailable ones it
    /// tolerates), the one whose spread values are least used, first in visiting order
    /// on ties. An agent with values no task of the group uses ends the search, and so
    /// does the [`SPREAD_CANDIDATES`]th admitted agent (in the shuffled order, that many
    /// cover the values of any field with a few dozen values with near certainty).
    fn least_used_fit(
        &self,
        framework: usize,
        group: usize,
        task: &PendingTask,
        need: &Scalars,
        allowed: bool,
    ) -> Option<usize> {
        let slot = &self.groups[group];
        let mut best: Option<(u64, usize)> = None;
        let mut seen = 0;
        let mut consider = |position: usize, best: &mut Option<(u64, usize)>| {
            let usage = slot.usage(self.agent(position));
            if best.is_none_or(|(least, at)| (usage, position) < (least, at)) {
                *best = Some((usage, position));
            }
            seen += 1;
            usage == 0 || seen >= SPREAD_CANDIDATES
        };
        if allowed && !self.no_fit.iter().any(|failed| need.contains(failed)) {
            let mut start = 0;
            while let Some(position) = self
                .agents
                .tree
                .first_from(start, |room| room.pods > 0 && room.free.contains(need))
            {
                if self.fits(framework, task, need, position) && consider(position, &mut best) {
                    break;
                }
                start = position + 1;
            }
        }
        for name in &task.tolerated_agents {
            if let Some(position) = self.agent_position(name)
                && !self.agents.offerable[position]
                && self.fits(framework, task, need, position)
            {
                consider(position, &mut best);
            }
        }
        best.map(|(_, position)| position)
    }

    /// Why `task`'s constraints keep it off every agent it may use (offerable agents, and
    /// unavailable ones it tolerates), judged once per group state; `None` when they
    /// refuse none (room alone decides).
    fn constrained_reason(
        &mut self,
        group: usize,
        task: &PendingTask,
    ) -> Option<UnplacedReason<'a>> {
        let slot = &self.groups[group];
        let placed = slot.tracker.placed();
        let cached = slot
            .reason
            .as_ref()
            .filter(|(at, _, _)| *at == placed && task.tolerated_agents.is_empty())
            .map(|(_, admitted, summary)| (*admitted, summary.clone()));
        let (admitted_some, summary) = cached.unwrap_or_else(|| {
            let mut summary = RejectionSummary::default();
            let tolerated: Vec<usize> = task
                .tolerated_agents
                .iter()
                .filter_map(|name| self.agent_position(name))
                .filter(|&position| !self.agents.offerable[position])
                .collect();
            // By name, not in the (per-cycle) shuffled order: the example node of each
            // refusal stays the same from one cycle to the next, and so does the message.
            let mut usable: Vec<&Agent> = (0..self.agents.order.len())
                .filter(|&position| self.agents.offerable[position])
                .chain(tolerated)
                .map(|position| self.agent(position))
                .collect();
            usable.sort_unstable_by(|a, b| a.name.cmp(&b.name));
            for agent in usable {
                summary.add(&slot.tracker.check(agent));
            }
            if summary.refused() == 0 {
                return (true, String::new());
            }
            (summary.refused() < summary.nodes(), summary.message())
        });
        if task.tolerated_agents.is_empty() {
            self.groups[group].reason = Some((placed, admitted_some, summary.clone()));
        }
        (!summary.is_empty()).then(|| UnplacedReason::Constrained {
            needed: task.resources.clone(),
            admitted_some,
            summary,
        })
    }

    /// The first offerable agent in visiting order where `task` fits (none unless
    /// `allowed`).
    fn first_fit_offerable(
        &mut self,
        framework: usize,
        task: &PendingTask,
        need: &Scalars,
        allowed: bool,
    ) -> Option<usize> {
        if !allowed {
            return None;
        }
        if self.no_fit.iter().any(|failed| need.contains(failed)) {
            return None;
        }
        // Only the scalars and pod room decide for a task without ports or constraints
        // whose framework has no filters: its failure can be remembered.
        let plain = task.resources.ports.is_empty()
            && task.random_ports == 0
            && task.group.is_none()
            && self.frameworks[framework].filters.is_empty();
        let mut start = 0;
        while let Some(position) = self
            .agents
            .tree
            .first_from(start, |room| room.pods > 0 && room.free.contains(need))
        {
            if self.fits(framework, task, need, position) {
                return Some(position);
            }
            start = position + 1;
        }
        if plain && self.no_fit.len() < NO_FIT_MEMORY {
            self.no_fit.retain(|failed| !failed.contains(need));
            self.no_fit.push(*need);
        }
        None
    }

    /// `best`, or an unavailable agent that `task` tolerates, fits on, and that
    /// comes earlier in visiting order.
    fn first_fit_tolerated(
        &self,
        framework: usize,
        task: &PendingTask,
        need: &Scalars,
        best: Option<usize>,
    ) -> Option<usize> {
        let mut found = best;
        for name in &task.tolerated_agents {
            if let Some(position) = self.agent_position(name)
                && !self.agents.offerable[position]
                && found.is_none_or(|best| position < best)
                && self.fits(framework, task, need, position)
            {
                found = Some(position);
            }
        }
        found
    }

    /// Books `amount` on the agent at `position` for `framework` of `role`.
    fn take(
        &mut self,
        role: usize,
        framework: usize,
        position: usize,
        amount: Scalars,
        holding: Holding,
    ) {
        let role = &mut self.roles[role];
        let toward_guarantee = amount.min_each(&role.unmet);
        role.unmet = role.unmet.saturating_sub(&toward_guarantee);
        self.required_headroom = self.required_headroom.saturating_sub(&toward_guarantee);
        let free = &mut self.agents.free[position];
        *free = free.saturating_sub(&amount);
        // (A task placed on an unavailable agent it tolerates lowers the required
        // headroom without using available headroom, so the surplus can grow: an
        // External framework's cursor may then have passed an agent it could now
        // get. It gets it next cycle; nothing is ever overcommitted.)
        if self.agents.offerable[position] {
            self.available_headroom = self.available_headroom.saturating_sub(&amount);
        }
        let framework = &mut self.frameworks[framework];
        match holding {
            Holding::Task => {
                role.allocated = role.allocated.saturating_add(&amount);
                framework.allocated = framework.allocated.saturating_add(&amount);
            }
            Holding::Offer => {
                role.offered = role.offered.saturating_add(&amount);
                framework.offered = framework.offered.saturating_add(&amount);
            }
        }
    }

    fn unplaced_reason(
        &mut self,
        blocked: Blocked,
        role: usize,
        task: &PendingTask,
    ) -> UnplacedReason<'a> {
        if blocked == Blocked::NoAgentFits
            && let Some(group) = self.group_of(task)
        {
            self.groups[group].prepare();
            if let Some(reason) = self.constrained_reason(group, task) {
                return reason;
            }
        }
        match blocked {
            Blocked::QuotaLimit => UnplacedReason::QuotaLimit {
                role: self.roles[role].name,
            },
            Blocked::HeldForGuarantees | Blocked::NotTowardGuarantee => {
                UnplacedReason::HeldForGuarantees
            }
            Blocked::NoAgentFits
                if task.random_ports > 0
                    && self
                        .agents
                        .tree
                        .most()
                        .free
                        .contains(&Scalars::of(&task.resources)) =>
            {
                UnplacedReason::NoFreePorts {
                    needed: task.resources.clone(),
                    random_ports: task.random_ports,
                }
            }
            Blocked::NoAgentFits => UnplacedReason::NoAgentFits {
                needed: task.resources.clone(),
                most_free: self.agents.tree.most().free.to_resources(),
            },
        }
    }

    /// Adds what suppressed frameworks leave pending and the usage summaries.
    fn finish(mut self) -> Decisions<'a> {
        for slot in &self.frameworks {
            if slot.source.suppressed && slot.source.kind == SchedulerKind::Builtin {
                self.decisions
                    .unplaced
                    .extend(slot.source.pending_tasks.iter().map(|task| Unplaced {
                        task: task.id.as_str(),
                        framework: slot.source.id.as_str(),
                        reason: UnplacedReason::FrameworkSuppressed,
                    }));
            }
        }
        self.decisions.frameworks = self
            .frameworks
            .iter()
            .map(|slot| FrameworkUsage {
                framework: slot.source.id.as_str(),
                role: self.roles[slot.role].name,
                allocated: slot.allocated.to_resources(),
                offered: slot.offered.to_resources(),
                dominant_share: slot.share(&self.total),
            })
            .collect();
        let mut roles: Vec<&RoleSlot<'a>> = self.roles.iter().collect();
        roles.sort_by_key(|role| role.rank);
        self.decisions.roles = roles
            .into_iter()
            .map(|role| RoleUsage {
                role: role.name,
                allocated: role.allocated.to_resources(),
                offered: role.offered.to_resources(),
                dominant_share: role.consumed().dominant_share(&self.total),
                weighted_share: role.weighted_share(&self.total),
                guarantee_met: role.consumed().contains(&role.guarantee),
            })
            .collect();
        self.decisions
    }
}

/// Name → position (in `order`) of the agents the snapshot refers to by name
/// (offers, filters, tolerated agents), `usize::MAX` for names of no agent.
/// Hashing only referenced names, not every agent's, keeps this cheap at 10,000
/// agents.
fn referenced_agents<'a>(snapshot: &'a Snapshot, order: &[usize]) -> NameMap<'a> {
    let mut positions = name_map(0);
    let referenced = snapshot
        .offers
        .iter()
        .map(|offer| offer.agent.as_str())
        .chain(snapshot.frameworks.iter().flat_map(|framework| {
            framework
                .filters
                .iter()
                .map(|filter| filter.agent.as_str())
                .chain(
                    framework
                        .pending_tasks
                        .iter()
                        .flat_map(|task| task.tolerated_agents.iter().map(String::as_str)),
                )
        }))
        .chain(
            snapshot
                .groups
                .iter()
                .flat_map(|group| group.placed.iter().map(String::as_str)),
        );
    for name in referenced {
        positions.insert(name, usize::MAX);
    }
    if !positions.is_empty() {
        for (position, &index) in order.iter().enumerate() {
            if let Some(slot) = positions.get_mut(snapshot.agents[index].name.as_str()) {
                // Should names repeat, the first in visiting order wins.
                *slot = (*slot).min(position);
            }
        }
    }
    positions
}

/// The snapshot's placement groups, each tracker seeded with where its group's live
/// tasks are.
fn groups_of<'a>(
    snapshot: &'a Snapshot,
    order: &[usize],
    positions: &NameMap<'a>,
) -> Vec<GroupSlot<'a>> {
    let mut by_key: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (index, group) in snapshot.groups.iter().enumerate() {
        by_key.entry(group.key.as_str()).or_default().push(index);
    }
    snapshot
        .groups
        .iter()
        .map(|group| {
            let mut slot = GroupSlot {
                tracker: PlacementTracker::new(&group.constraints, group.target.unwrap_or(1)),
                target: group.target,
                siblings: by_key.get(group.key.as_str()).cloned().unwrap_or_default(),
                failed: None,
                reason: None,
                spread: group
                    .constraints
                    .iter()
                    .filter(|c| matches!(c.rule, Rule::GroupBy(None)))
                    .map(|c| (&c.field, Default::default()))
                    .collect(),
            };
            for name in &group.placed {
                match positions.get(name.as_str()).copied() {
                    Some(position) if position != usize::MAX => {
                        slot.record(&snapshot.agents[order[position]]);
                    }
                    _ => {
                        // A node the snapshot does not hold counts by its name alone.
                        let node = NodeAttributes::new(name, []);
                        slot.tracker.record(&node);
                        for (field, counts) in &mut slot.spread {
                            let value = (**field == Field::Hostname).then_some(name.as_str());
                            *counts.entry(value).or_insert(0) += 1;
                        }
                    }
                }
            }
            slot
        })
        .collect()
}

/// The snapshot's roles (first of each name) plus default roles named by
/// frameworks, with their name ranks; and name → index.
fn roles_of(snapshot: &Snapshot) -> (Vec<RoleSlot<'_>>, NameMap<'_>) {
    let mut roles = Vec::with_capacity(snapshot.roles.len());
    let mut index = name_map(snapshot.roles.len());
    for role in &snapshot.roles {
        if index.contains_key(role.name.as_str()) {
            continue;
        }
        index.insert(role.name.as_str(), roles.len());
        roles.push(RoleSlot {
            weight: if role.weight.is_finite() && role.weight > 0.0 {
                role.weight
            } else {
                1.0
            },
            guarantee: Scalars::of(&role.guarantee),
            limit: Scalars::limit_of(&role.limit),
            ..default_role(role.name.as_str())
        });
    }
    for framework in &snapshot.frameworks {
        if !index.contains_key(framework.role.as_str()) {
            index.insert(framework.role.as_str(), roles.len());
            roles.push(default_role(framework.role.as_str()));
        }
    }
    let mut by_name: Vec<usize> = (0..roles.len()).collect();
    by_name.sort_unstable_by_key(|&role| roles[role].name);
    for (rank, role) in by_name.into_iter().enumerate() {
        roles[role].rank = u32::try_from(rank).unwrap_or(u32::MAX);
    }
    (roles, index)
}

/// A role with weight 1 and no quota.
fn default_role(name: &str) -> RoleSlot<'_> {
    RoleSlot {
        name,
        weight: 1.0,
        rank: 0,
        guarantee: Scalars::ZERO,
        limit: Scalars::UNBOUNDED,
        allocated: Scalars::ZERO,
        offered: Scalars::ZERO,
        unmet: Scalars::ZERO,
        queue: ShareQueue::default(),
    }
}

/// Offers that expire earlier sort first; offers without expiry last.
fn expiry_order(offer: &OutstandingOffer) -> (bool, Option<super::Timestamp>) {
    (offer.expires_at.is_none(), offer.expires_at)
}
