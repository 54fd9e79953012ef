//! The allocation loop: every `--allocation-interval` (and when woken), take a snapshot of
//! the stores, run the pure DRF [`allocator`](crate::master::allocator), and apply its decisions:
//! create Offers for External frameworks, rescind stale ones, delete declined offers whose
//! filter ran out, and launch the pending tasks of Builtin frameworks on the agents it
//! chose.

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::PostParams;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use tracing::{debug, info, warn};

use crate::api::offer::Decline;
use crate::api::{Offer, OfferSpec, OfferState, OfferStatus, SchedulerKind, Task, TaskState};
use crate::master::allocator::{self, Decisions, MinAllocatable, Snapshot};
use crate::master::placement;
use crate::master::pod::{build_pod, build_pod_with_ports, pod_name};
use crate::runtime::{Context, FIELD_MANAGER, NORMAL};

/// How many API writes the loop issues at once.
pub const WRITE_CONCURRENCY: usize = 32;

/// Key of a namespaced object in the snapshot (`namespace/name`).
pub fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

fn split(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

/// Runs the allocation loop until the process stops.
pub async fn run(ctx: Arc<Context>) {
    // One allocator for the life of the loop: it keeps its per-agent buffers between cycles.
    let mut engine = allocator::Allocator::new();
    let mut ticker = tokio::time::interval(ctx.settings.allocation_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = ctx.allocation_wakeup.notified() => {
                // Let a burst of changes land before the cycle: at most 20 cycles a
                // second however fast tasks arrive (each reads every cached pod).
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let started = std::time::Instant::now();
        let snapshot = snapshot(&ctx);
        let decisions = engine.allocate(&snapshot);
        let decided = started.elapsed();
        ctx.metrics.allocation_run(decided);
        apply(&ctx, &snapshot, &decisions).await;
        if !decisions.offers.is_empty()
            || !decisions.placements.is_empty()
            || !decisions.rescinds.is_empty()
        {
            debug!(
                offers = decisions.offers.len(),
                rescinds = decisions.rescinds.len(),
                placements = decisions.placements.len(),
                unplaced = decisions.unplaced.len(),
                allocate_ms = decided.as_secs_f64() * 1000.0,
                "allocation cycle"
            );
        }
    }
}

/// Whether a task waits for the allocator: not launched, not killed, not terminal, no pod
/// yet (in the store or just created).
fn pending(task: &Task, ctx: &Context, ns: &str) -> bool {
    let status = task.status.as_ref();
    task.metadata.deletion_timestamp.is_none()
        && !task.spec.kill
        && task.spec.offer.is_none()
        && status
            .is_none_or(|s| s.pod.is_none() && s.state.is_none_or(|st| st == TaskState::Staging))
        && ctx
            .pods
            .get(&ObjectRef::new(&pod_name(task)).within(ns))
            .is_none()
}

/// Reads the stores into the allocator's input.
#[expect(
    clippy::too_many_lines,
    reason = "not yet split into a pure decision and a short driver (issue 11)"
)]
pub fn snapshot(ctx: &Context) -> Snapshot {
    let now = Timestamp::now();
    let nodes = ctx.nodes.state();
    let pods = ctx.pods.state();
    let mut agents = placement::agents(nodes.iter().map(|n| &**n), pods.iter().map(|p| &**p));
    let pending_pods = ctx
        .placements
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pending(&pods);
    for pending in &pending_pods {
        if let Some(a) = agents.iter_mut().find(|a| a.name == pending.node) {
            placement::charge(a, &pending.resources);
        }
    }
    let launched: std::collections::HashSet<String> = pending_pods
        .iter()
        .map(|p| key(&p.namespace, &p.name))
        .collect();
    // Where each in-flight pod goes, for placement groups.
    let ledger_nodes: std::collections::HashMap<String, &str> = pending_pods
        .iter()
        .map(|p| (key(&p.namespace, &p.name), p.node.as_str()))
        .collect();
    let node_of = |ns: &str, t: &Task| task_node(ctx, &ledger_nodes, ns, t);
    let mut groups = PlacementGroups::default();
    // Whether a task's pod exists (in its status, the ledger or the store), before its
    // status may say so.
    let has_pod = |ns: &str, t: &Task| {
        t.status.as_ref().is_some_and(|s| s.pod.is_some())
            || launched.contains(&key(ns, &pod_name(t)))
            || ctx
                .pods
                .get(&ObjectRef::new(&pod_name(t)).within(ns))
                .is_some()
    };

    let tainted: Vec<&placement::Agent> = agents
        .iter()
        .filter(|a| !a.taints.is_empty() && a.unavailable.is_none())
        .collect();
    let tasks = ctx.tasks.state();
    let offers = ctx.offers.state();
    // What each framework holds: its pods, the pods being created for it, and the tasks
    // it launched on an accepted offer that have no pod yet. (An outstanding offer counts
    // as a whole, below.) Between an accept and the pod's arrival in the store neither
    // the offer nor a pod would count a task otherwise, and the allocator could offer a
    // capped role more than its limit.
    let mut allocated_by_framework: std::collections::HashMap<String, crate::api::Resources> =
        std::collections::HashMap::new();
    let mut charge_framework = |ns: &str, framework: &str, resources: &crate::api::Resources| {
        let slot = allocated_by_framework
            .entry(key(ns, framework))
            .or_default();
        *slot = slot.saturating_add(resources);
    };
    for pod in pods.iter().filter(|p| placement::holds_resources(p)) {
        if let (Some(ns), Some(fw)) = (
            pod.namespace(),
            pod.labels().get(crate::api::LABEL_FRAMEWORK),
        ) {
            charge_framework(&ns, fw, &placement::pod_requests(pod));
        }
    }
    for pending in &pending_pods {
        let task = ctx
            .tasks
            .get(&ObjectRef::new(&pending.name).within(&pending.namespace));
        if let Some(task) = task {
            charge_framework(&pending.namespace, &task.spec.framework, &pending.resources);
        }
    }
    let accepted: std::collections::HashSet<String> = offers
        .iter()
        .filter(|o| o.metadata.deletion_timestamp.is_none())
        .filter(|o| {
            o.status
                .as_ref()
                .is_some_and(|s| s.state == OfferState::Accepted)
                || launching(o)
        })
        .filter_map(|o| Some(key(&o.namespace()?, &o.name_any())))
        .collect();
    for t in tasks.iter() {
        let (Some(ns), Some(offer)) = (t.namespace(), t.spec.offer.as_deref()) else {
            continue;
        };
        if accepted.contains(&key(&ns, offer)) && !t.is_terminal() && !has_pod(&ns, t) {
            charge_framework(&ns, &t.spec.framework, &t.spec.resources);
        }
    }
    let mut frameworks = Vec::new();
    for fw in ctx.frameworks.state() {
        let Some(ns) = fw.namespace() else { continue };
        if !fw.is_connected() {
            continue;
        }
        let name = fw.name_any();
        let mine: Vec<&Task> = tasks
            .iter()
            .map(|t| &**t)
            .filter(|t| t.spec.framework == name && t.namespace().as_deref() == Some(ns.as_str()))
            .collect();
        // What the framework holds is what its pods hold (task statuses lag behind).
        let allocated = allocated_by_framework
            .get(&key(&ns, &name))
            .cloned()
            .unwrap_or_default();
        let mut pending_tasks = Vec::new();
        if fw.spec.scheduler == SchedulerKind::Builtin {
            let mut waiting: Vec<&Task> = mine
                .iter()
                .copied()
                .filter(|t| pending(t, ctx, &ns) && !launched.contains(&key(&ns, &t.name_any())))
                .collect();
            waiting.sort_by(|a, b| {
                a.metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| t.0)
                    .cmp(&b.metadata.creation_timestamp.as_ref().map(|t| t.0))
                    .then_with(|| a.name_any().cmp(&b.name_any()))
            });
            for t in waiting {
                let Ok(pod) = build_pod(t, "") else { continue };
                // Constraints that do not parse: the task reconciler reports TASK_ERROR.
                let Ok(group) = groups.entry(&ns, &name, t, &mine, &node_of) else {
                    continue;
                };
                let tolerations = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.tolerations.clone())
                    .unwrap_or_default();
                let tolerated_agents = if tolerations.is_empty() {
                    Vec::new()
                } else {
                    tainted
                        .iter()
                        .filter(|a| a.tolerates(&tolerations))
                        .map(|a| a.name.clone())
                        .collect()
                };
                pending_tasks.push(allocator::PendingTask {
                    id: key(&ns, &t.name_any()),
                    resources: placement::built_pod_requests(&pod),
                    tolerated_agents,
                    group,
                    random_ports: u32::try_from(t.spec.random_ports.len()).unwrap_or(u32::MAX),
                });
            }
        }
        let filters = offers
            .iter()
            .filter(|o| o.namespace().as_deref() == Some(ns.as_str()) && o.spec.framework == name)
            .filter_map(|o| {
                let until = o.status.as_ref().and_then(|s| s.filter_until.as_ref())?.0;
                (until > now).then(|| allocator::DeclineFilter {
                    agent: o.spec.agent.clone(),
                    until,
                    refused: o.spec.resources.clone(),
                })
            })
            .collect();
        frameworks.push(allocator::Framework {
            id: key(&ns, &name),
            role: fw.spec.role.clone(),
            kind: fw.spec.scheduler,
            suppressed: fw.spec.offers.suppressed,
            allocated,
            min_allocatable: fw
                .spec
                .offers
                .min_allocatable
                .clone()
                .map(MinAllocatable::all_of)
                .unwrap_or_default(),
            filters,
            pending_tasks,
        });
    }

    let roles = ctx
        .roles
        .state()
        .iter()
        .map(|r| allocator::Role {
            name: r.name_any(),
            weight: r.spec.weight,
            guarantee: r
                .spec
                .quota
                .as_ref()
                .and_then(|q| q.guarantee.clone())
                .unwrap_or_default(),
            limit: r
                .spec
                .quota
                .as_ref()
                .and_then(|q| q.limit.clone())
                .unwrap_or_default(),
        })
        .collect();

    // An accepted offer's remainder returns to the pool at once (Mesos: what an accept
    // leaves unused is declined). The Offer object lingers for the accept window so the
    // framework can finish its batch; launches on it are still checked against the agent's
    // free resources, so a remainder offered again elsewhere never overcommits.
    let outstanding = offers
        .iter()
        .filter(|o| o.metadata.deletion_timestamp.is_none())
        .filter(|o| {
            o.status
                .as_ref()
                .is_none_or(|s| s.state == OfferState::Outstanding)
                && !launching(o)
        })
        .filter_map(|o| {
            let ns = o.namespace()?;
            // A task launched on the offer holds its pod's resources on the agent from the
            // moment its pod exists (or is in the placement ledger), before its status
            // says so: count it against the offer from then on too, or the offer looks
            // bigger than what is left on its agent and is rescinded in the middle of the
            // framework's batch (whose later tasks are then dropped).
            Some(allocator::OutstandingOffer {
                id: key(&ns, &o.name_any()),
                framework: key(&ns, &o.spec.framework),
                agent: o.spec.agent.clone(),
                resources: offer_remaining_with(o, &tasks, |t| has_pod(&ns, t)),
                expires_at: o.spec.expires_at.as_ref().map(|t| t.0),
            })
        })
        .collect();

    // Node labels are read only when some pending task has constraints.
    let with_labels = !groups.list.is_empty();
    Snapshot {
        agents: agents
            .iter()
            .map(|a| allocator::Agent {
                name: a.name.clone(),
                allocatable: a.allocatable.clone(),
                unrequested: a.free(),
                pod_room: Some(
                    u32::try_from(a.max_pods.saturating_sub(a.pods)).unwrap_or(u32::MAX),
                ),
                available: a.unavailable.is_none() && a.taints.is_empty(),
                labels: if with_labels {
                    ctx.nodes
                        .get(&ObjectRef::new(&a.name))
                        .map(|n| n.labels().clone())
                        .unwrap_or_default()
                } else {
                    Default::default()
                },
            })
            .collect(),
        groups: groups.list,
        frameworks,
        roles,
        offers: outstanding,
        now,
        seed: ctx.allocation_seed(),
    }
}

/// The node a task's pod is on: its pod in the store (while it holds resources), or its
/// launch in flight in the placement ledger (`ledger`: `namespace/pod` → node).
fn task_node(
    ctx: &Context,
    ledger: &std::collections::HashMap<String, &str>,
    ns: &str,
    task: &Task,
) -> Option<String> {
    let pod_name = pod_name(task);
    if let Some(pod) = ctx.pods.get(&ObjectRef::new(&pod_name).within(ns)) {
        return placement::holds_resources(&pod)
            .then(|| pod.spec.as_ref().and_then(|s| s.node_name.clone()))
            .flatten();
    }
    ledger.get(&key(ns, &pod_name)).map(|node| node.to_string())
}

/// The agents of the live tasks of `group` among `tasks` (one framework's, in one
/// namespace): every non-terminal task of the group with a node, first created first.
/// Pure: `node_of` says where a task's pod is (or goes, for a launch in flight).
pub fn group_placements<'t>(
    tasks: impl IntoIterator<Item = &'t Task>,
    group: &str,
    node_of: impl Fn(&Task) -> Option<String>,
) -> Vec<String> {
    let mut members: Vec<(&Task, String)> = tasks
        .into_iter()
        .filter(|t| {
            t.spec.placement.as_ref().is_some_and(|p| p.group == group)
                && !t.is_terminal()
                && t.metadata.deletion_timestamp.is_none()
        })
        .filter_map(|t| Some((t, node_of(t)?)))
        .collect();
    members.sort_by(|(a, _), (b, _)| {
        a.metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0)
            .cmp(&b.metadata.creation_timestamp.as_ref().map(|t| t.0))
            .then_with(|| a.name_any().cmp(&b.name_any()))
    });
    members.into_iter().map(|(_, node)| node).collect()
}

/// What is wrong with a task's placement constraints (those CEL cannot check, such as
/// a regular expression that does not compile), each named by its field path; `None`
/// when they parse.
pub fn placement_problems(task: &Task) -> Option<String> {
    let placement = task.spec.placement.as_ref()?;
    let errors = mesos_model::constraints::parse(&placement.constraints).err()?;
    let problems: Vec<String> = errors
        .0
        .iter()
        .map(|e| {
            format!(
                "spec.placement.constraints[{}].{} ({}): {}",
                e.index,
                e.problem.part(),
                e.constraint,
                e.problem
            )
        })
        .collect();
    Some(format!(
        "invalid placement constraints: {}",
        problems.join("; ")
    ))
}

/// Whether `task`'s placement constraints admit it on `agent` (a task launched on an
/// offer: its framework chose the agent), judged against the live tasks of its group
/// with the launches in flight (`pending`, the placement ledger) counted. The caller
/// holds the placement ledger's lock, so concurrent launches see each other.
pub fn check_offered_agent(
    ctx: &Context,
    ns: &str,
    task: &Task,
    agent: &str,
    pending: &[crate::runtime::PendingPod],
) -> Result<(), String> {
    use mesos_model::constraints::NodeAttributes;
    let Some(placement) = task
        .spec
        .placement
        .as_ref()
        .filter(|p| !p.constraints.is_empty())
    else {
        return Ok(());
    };
    let constraints = mesos_model::constraints::parse(&placement.constraints)
        .map_err(|e| format!("invalid placement constraints: {e}"))?;
    let ledger: std::collections::HashMap<String, &str> = pending
        .iter()
        .map(|p| (key(&p.namespace, &p.name), p.node.as_str()))
        .collect();
    let tasks = ctx.tasks.state();
    let others = tasks.iter().map(|t| &**t).filter(|t| {
        t.spec.framework == task.spec.framework
            && t.namespace().as_deref() == Some(ns)
            && t.uid() != task.uid()
    });
    let attributes = |name: &str| NodeAttributes {
        hostname: name.to_string(),
        labels: ctx
            .nodes
            .get(&ObjectRef::new(name))
            .map(|n| n.labels().clone())
            .unwrap_or_default(),
    };
    let placed: Vec<NodeAttributes> =
        group_placements(others, &placement.group, |t| task_node(ctx, &ledger, ns, t))
            .iter()
            .map(|name| attributes(name))
            .collect();
    let target = placement.target_instances.unwrap_or_else(|| {
        u32::try_from(placed.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    });
    mesos_model::constraints::evaluate(&constraints, &attributes(agent), &placed, target).map_err(
        |rejection| {
            format!(
                "agent {agent} breaks the task's placement {rejection} (group {})",
                placement.group
            )
        },
    )
}

/// The placement groups of one snapshot: one entry per (group, constraints, target), the
/// constraints parsed once per cycle.
#[derive(Default)]
struct PlacementGroups {
    list: Vec<allocator::PlacementGroup>,
    /// (group key, constraints, target) → index in `list`, or `None` if they do not parse.
    index: std::collections::HashMap<
        (
            String,
            Vec<mesos_model::constraints::ConstraintSpec>,
            Option<u32>,
        ),
        Option<usize>,
    >,
    /// Group key → where its live tasks are.
    placed: std::collections::HashMap<String, Vec<String>>,
}

impl PlacementGroups {
    /// The entry for a pending task of framework `framework` (whose tasks are `mine`):
    /// `Ok(None)` without constraints, `Err` when they do not parse.
    fn entry(
        &mut self,
        ns: &str,
        framework: &str,
        task: &Task,
        mine: &[&Task],
        node_of: &impl Fn(&str, &Task) -> Option<String>,
    ) -> Result<Option<usize>, ()> {
        let Some(placement) = task
            .spec
            .placement
            .as_ref()
            .filter(|p| !p.constraints.is_empty())
        else {
            return Ok(None);
        };
        let group_key = format!("{ns}/{framework}/{}", placement.group);
        let index_key = (
            group_key.clone(),
            placement.constraints.clone(),
            placement.target_instances,
        );
        if let Some(entry) = self.index.get(&index_key) {
            return entry.map(Some).ok_or(());
        }
        let entry = match mesos_model::constraints::parse(&placement.constraints) {
            Ok(constraints) => {
                let placed = self
                    .placed
                    .entry(group_key.clone())
                    .or_insert_with(|| {
                        group_placements(mine.iter().copied(), &placement.group, |t| node_of(ns, t))
                    })
                    .clone();
                self.list.push(allocator::PlacementGroup {
                    key: group_key,
                    constraints: Arc::new(constraints),
                    target: placement.target_instances,
                    placed,
                });
                Some(self.list.len() - 1)
            }
            Err(_) => None,
        };
        self.index.insert(index_key, entry);
        entry.map(Some).ok_or(())
    }
}

/// What is left of an offer after the tasks launched on it (their pods now count on the
/// agent itself, so they must not be counted twice).
pub fn offer_remaining(offer: &Offer, tasks: &[Arc<Task>]) -> crate::api::Resources {
    offer_remaining_with(offer, tasks, |t| {
        t.status.as_ref().is_some_and(|s| s.pod.is_some())
    })
}

/// [`offer_remaining`], with `launched` saying which of the offer's tasks have a pod.
fn offer_remaining_with(
    offer: &Offer,
    tasks: &[Arc<Task>],
    launched: impl Fn(&Task) -> bool,
) -> crate::api::Resources {
    let ns = offer.namespace();
    let name = offer.name_any();
    tasks
        .iter()
        .filter(|t| t.namespace() == ns && t.spec.offer.as_deref() == Some(name.as_str()))
        .filter(|t| launched(t))
        .fold(offer.spec.resources.clone(), |left, t| {
            left.saturating_sub(&t.spec.resources)
        })
}

#[expect(
    clippy::too_many_lines,
    reason = "not yet split into a pure decision and a short driver (issue 11)"
)]
async fn apply(ctx: &Arc<Context>, snapshot: &Snapshot, decisions: &Decisions<'_>) {
    let now = snapshot.now;
    // Unplaced Builtin tasks: the task reconciler reports why.
    {
        let mut unplaced = ctx.unplaced.lock().unwrap_or_else(|p| p.into_inner());
        unplaced.clear();
        for u in &decisions.unplaced {
            unplaced.insert(u.task.to_string(), unplaced_message(&u.reason));
        }
    }
    // Owned copies, so no borrow of the snapshot lives across the writes.
    let rescinds: Vec<(String, allocator::RescindReason)> = decisions
        .rescinds
        .iter()
        .map(|r| (r.offer.to_string(), r.reason))
        .collect();
    let offers: Vec<(String, String, String, crate::api::Resources)> = decisions
        .offers
        .iter()
        .map(|o| {
            (
                o.framework.to_string(),
                o.agent.to_string(),
                o.role.to_string(),
                o.resources.clone(),
            )
        })
        .collect();
    let placements: Vec<(String, String, Vec<u16>)> = decisions
        .placements
        .iter()
        .map(|p| (p.task.to_string(), p.agent.to_string(), p.ports.clone()))
        .collect();
    // Declined offers whose filter ran out are removed.
    let expired_filters: Vec<Arc<Offer>> = ctx
        .offers
        .state()
        .into_iter()
        .filter(|o| {
            o.status.as_ref().is_some_and(|s| {
                s.state == OfferState::Declined
                    && s.filter_until.as_ref().is_none_or(|u| u.0 <= now)
            })
        })
        .collect();

    let rescinds = stream::iter(rescinds)
        .map(|(offer, reason)| rescind(ctx, offer, reason))
        .buffer_unordered(WRITE_CONCURRENCY)
        .collect::<Vec<()>>();
    let cleanup = stream::iter(expired_filters)
        .map(|o| remove_declined(ctx, o))
        .buffer_unordered(WRITE_CONCURRENCY)
        .collect::<Vec<()>>();
    let creates = stream::iter(offers)
        .map(|(framework, agent, role, resources)| async move {
            if let Err(e) = create_offer(ctx, &framework, &agent, &role, resources, now).await {
                warn!(framework, agent, error = %e, "could not create offer");
            }
        })
        .buffer_unordered(WRITE_CONCURRENCY)
        .collect::<Vec<()>>();
    // Launches run in the background, WRITE_CONCURRENCY at a time across cycles: the
    // next cycle need not wait for this one's pods (they are reserved in the ledger).
    for (task, agent, ports) in placements {
        let Some(reserved) = reserve(ctx, &task, &agent, ports) else {
            continue;
        };
        let ctx = ctx.clone();
        tokio::spawn(async move {
            // The semaphore is never closed; without a permit, launch anyway.
            let permit = ctx.launch_slots.acquire().await.ok();
            let launched = launch(&ctx, &reserved).await;
            // The Event is not part of the launch: it does not hold a slot.
            drop(permit);
            if let Some((task, note)) = launched {
                ctx.event(&*task, NORMAL, "Launched", note, "Launch").await;
            }
        });
    }
    tokio::join!(rescinds, cleanup, creates);
}

async fn rescind(ctx: &Context, offer: String, reason: allocator::RescindReason) {
    let (ns, name) = split(&offer);
    let framework = ctx
        .offers
        .get(&ObjectRef::new(name).within(ns))
        .and_then(|o| {
            ctx.frameworks
                .get(&ObjectRef::new(&o.spec.framework).within(ns))
        });
    match ctx.delete_offer(ns, name, "rescinding").await {
        Ok(true) => {
            info!(offer, reason = reason.as_str(), "offer rescinded");
            if let Some(fw) = framework {
                ctx.metrics.offer(
                    ns,
                    &fw.name_any(),
                    crate::runtime::metrics::OfferOutcome::Rescinded,
                );
                ctx.event(
                    &*fw,
                    NORMAL,
                    "OfferRescinded",
                    format!("offer {name} rescinded: {reason}"),
                    "Rescind",
                )
                .await;
            }
        }
        Ok(false) => {}
        Err(e) => warn!(error = %e, "could not rescind offer"),
    }
}

async fn remove_declined(ctx: &Context, offer: Arc<Offer>) {
    let ns = offer.namespace().unwrap_or_default();
    if let Err(e) = ctx
        .delete_offer(
            &ns,
            &offer.name_any(),
            "removing a declined offer whose filter ended",
        )
        .await
    {
        warn!(error = %e, "could not remove a declined offer");
    }
}

/// A user-facing reason a task waits.
fn unplaced_message(reason: &allocator::UnplacedReason<'_>) -> String {
    match reason {
        allocator::UnplacedReason::NoAgentFits { needed, most_free } => {
            placement::no_fit_message(needed, most_free)
        }
        other => other.to_string(),
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "not yet split into a pure decision and a short driver (issue 11)"
)]
async fn create_offer(
    ctx: &Context,
    framework_key: &str,
    agent: &str,
    role: &str,
    resources: crate::api::Resources,
    now: Timestamp,
) -> crate::Result<()> {
    let (ns, fw_name) = split(framework_key);
    let Some(framework) = ctx.frameworks.get(&ObjectRef::new(fw_name).within(ns)) else {
        return Ok(());
    };
    let timeout: Duration = framework.spec.offers.timeout.into();
    let expires = now
        .checked_add(SignedDuration::try_from(timeout).unwrap_or(SignedDuration::from_secs(30)))
        .unwrap_or(now);
    let attributes = ctx
        .nodes
        .get(&ObjectRef::new(agent))
        .map(|n| n.labels().clone())
        .unwrap_or_default();
    let mut object = Offer::new(
        "",
        OfferSpec {
            framework: fw_name.to_string(),
            agent: agent.to_string(),
            hostname: agent.to_string(),
            role: role.to_string(),
            resources: resources.clone(),
            attributes,
            expires_at: Some(Time(expires)),
            decline: None::<Decline>,
        },
    );
    object.metadata.name = None;
    object.metadata.generate_name = Some(format!("{fw_name}-"));
    object.metadata.namespace = Some(ns.to_string());
    object.metadata.owner_references = framework.controller_owner_ref(&()).map(|o| vec![o]);
    object.metadata.labels = Some(
        [
            (crate::api::LABEL_FRAMEWORK.to_string(), fw_name.to_string()),
            (
                crate::api::LABEL_MANAGED_BY.to_string(),
                crate::api::MANAGER.to_string(),
            ),
        ]
        .into(),
    );
    let api: Api<Offer> = Api::namespaced(ctx.client.clone(), ns);
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    let created = api
        .create(&params, &object)
        .await
        .map_err(|e| crate::Error::Kube {
            context: format!("creating an offer of {agent} for {fw_name}"),
            source: e,
        })?;
    let status = OfferStatus {
        state: OfferState::Outstanding,
        remaining: resources,
        ..Default::default()
    };
    ctx.apply_status(&created, &status).await?;
    ctx.metrics
        .offer(ns, fw_name, crate::runtime::metrics::OfferOutcome::Sent);
    debug!(offer = %created.name_any(), framework = fw_name, agent, "offer made");
    Ok(())
}

/// A Builtin task reserved in the placement ledger on the agent the allocator chose,
/// waiting for a launch slot. It holds names only: the pod is built when the slot is
/// free, from the task as it is then, so thousands of waiting launches cost little
/// memory and a task killed while it waited is not launched.
struct Launch {
    task_key: String,
    agent: String,
    pod_name: String,
    /// The host ports the allocator took for the task's `spec.randomPorts`.
    ports: Vec<u16>,
}

/// Reserves the resources of a Builtin task's pod on `agent` in the placement ledger at
/// once, so that the next allocation cycle counts them (and skips the task) even while
/// the pod waits to be created.
fn reserve(ctx: &Context, task_key: &str, agent: &str, ports: Vec<u16>) -> Option<Launch> {
    let (ns, name) = split(task_key);
    let task = ctx.tasks.get(&ObjectRef::new(name).within(ns))?;
    // A pod that cannot be built: the task reconciler reports TASK_ERROR.
    let pod = build_pod_with_ports(&task, agent, &ports).ok()?;
    let pod_name = pod_name(&task);
    ctx.placements
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(ns, &pod_name, agent, placement::built_pod_requests(&pod));
    Some(Launch {
        task_key: task_key.to_string(),
        agent: agent.to_string(),
        pod_name,
        ports,
    })
}

/// Creates a reserved task's pod (a plain create: cheaper for the API server than an
/// apply, and the pod is new). A task that is gone, killed or ended while it waited is
/// not launched, and on failure the reservation is released. Returns the task and the
/// Launched Event's note when this call created the pod.
#[expect(
    clippy::too_many_lines,
    reason = "not yet split into a pure decision and a short driver (issue 11)"
)]
async fn launch(ctx: &Context, launch: &Launch) -> Option<(Arc<Task>, String)> {
    let Launch {
        task_key,
        agent,
        pod_name,
        ports,
    } = launch;
    let (ns, name) = split(task_key);
    let release = || {
        ctx.placements
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(ns, pod_name);
    };
    let task = ctx
        .tasks
        .get(&ObjectRef::new(name).within(ns))
        .filter(|t| !t.spec.kill && !t.is_terminal() && t.metadata.deletion_timestamp.is_none());
    let Some((task, pod)) = task.and_then(|t| {
        build_pod_with_ports(&t, agent, ports)
            .ok()
            .map(|pod| (t, pod))
    }) else {
        release();
        return None;
    };
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    match api.create(&params, &pod).await {
        Ok(_) => {
            info!(task = task_key, agent, "launched");
            let mut note = format!(
                "pod {pod_name} launched on agent {agent} with {}",
                task.spec.resources
            );
            if !ports.is_empty() {
                let list: Vec<String> = ports.iter().map(u16::to_string).collect();
                note.push_str(&format!(
                    " and host ports {} from the agent's range",
                    list.join(",")
                ));
            }
            Some((task, note))
        }
        // An earlier attempt (or an earlier process) created it: the task reconciler
        // adopts it if it is the task's own, and reports TASK_ERROR if not.
        Err(kube::Error::Api(s)) if s.code == 409 => None,
        Err(e) => {
            release();
            // A pod the API server refuses makes the task TASK_ERROR (in the task reconciler).
            if let kube::Error::Api(s) = &e
                && (s.code == 400 || s.code == 422)
            {
                ctx.launch_errors
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(task_key.to_string(), s.message.clone());
            }
            warn!(task = task_key, agent, error = %e, "launch failed");
            None
        }
    }
}

/// Whether a scheduler-API ACCEPT is creating tasks on `offer`: consumed, as an accepted
/// offer is, even before the offer reconciler says so.
fn launching(offer: &Offer) -> bool {
    offer
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(crate::master::offer_status::LAUNCHING_ANNOTATION))
}
