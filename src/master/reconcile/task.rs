//! The Task reconciler: Task → Pod, and Pod → Task status.
//!
//! Read (stores, a live GET where a store's absence must be confirmed), decide (the pure
//! [`crate::master::task_state`], [`crate::master::placement`] and [`crate::master::pod`] functions), write (pod
//! create with server-side apply, pod delete for kills, status apply).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use tracing::{debug, info};

use crate::api::condition::{ConditionStatus, Conditions};
use crate::api::task::TaskCondition;
use crate::api::{
    Framework, FrameworkCapability, LABEL_MANAGED_BY, LABEL_TASK, MANAGER, Offer, OfferState,
    SchedulerKind, Task, TaskReason, TaskState, TaskStatus,
};
use crate::error::{Error, KubeContext, Result};
use crate::master::placement::{self, Agent};
use crate::master::pod::{build_pod, pod_name};
use crate::master::task_state::{self, Capabilities, NodeView, Observation, PodView, Update};
use crate::runtime::cache::IndexKey;
use crate::runtime::cached_pod::CachedPod;
use crate::runtime::guard::Guarded;
use crate::runtime::{Context, FIELD_MANAGER, NORMAL, WARNING, resync_ticks, scaffold};

/// Runs the Task controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    // One shared watch per kind (see `cache`): the Task cache is the one the allocator
    // reads, pod events include deletions.
    let (by_framework, by_node) = (ctx.clone(), ctx.clone());
    let nodes = ctx.nodes.store();
    let readiness = std::sync::Mutex::new(NodeReadiness::default());
    Controller::for_shared_stream(ctx.tasks.subscribe(), ctx.tasks.store())
        .with_config(Config::default().concurrency(ctx.settings.concurrency))
        .owns_shared_stream(ctx.pods.subscribe().filter(|pod| {
            futures::future::ready(
                pod.labels().get(LABEL_MANAGED_BY).map(String::as_str) == Some(MANAGER),
            )
        }))
        // A framework (re)registering or being deleted concerns its not-yet-launched tasks
        // (launched ones are not woken by every change of the framework's counters).
        .watches_shared_stream(ctx.frameworks.subscribe(), move |fw: Arc<Framework>| {
            let torn_down = fw.is_torn_down();
            let ns = fw.namespace().unwrap_or_default();
            let name = fw.name_any();
            by_framework
                .tasks_of_framework(&ns, &name)
                .into_iter()
                .filter(|t| {
                    (torn_down || t.status.as_ref().is_none_or(|s| s.pod.is_none()))
                        && !t.is_terminal()
                })
                .map(|t| ObjectRef::from_obj(&*t))
                .collect::<Vec<_>>()
        })
        // A node going NotReady, coming back or being deleted concerns the tasks on it.
        // Heartbeats and other status updates of a node wake nothing.
        .watches_shared_stream(ctx.nodes.subscribe(), move |node| {
            let name = node.name_any();
            let ready = nodes
                .get(&ObjectRef::from_obj(&*node))
                .map(|n| task_state::node_ready(&n));
            if !readiness
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .changed(&name, ready)
            {
                return Vec::new();
            }
            by_node
                .pods
                .indexed(&IndexKey::Node(name))
                .into_iter()
                .filter_map(|p| {
                    let task = p.labels().get(LABEL_TASK)?.clone();
                    Some(ObjectRef::<Task>::new(&task).within(&p.namespace()?))
                })
                .collect::<Vec<_>>()
        })
        .reconcile_all_on(resync_ticks(ctx.settings.resync_period))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                debug!(error = %e, "task reconcile failed");
            }
        })
        .await;
}

/// The last readiness seen of each node, so that only a change (NotReady, Ready again,
/// deleted) wakes the tasks on a node, not every heartbeat.
#[derive(Default)]
struct NodeReadiness(std::collections::HashMap<String, bool>);

impl NodeReadiness {
    /// Records node `name`'s readiness (`None`: deleted); whether it changed. A node seen
    /// for the first time counts as changed.
    fn changed(&mut self, name: &str, ready: Option<bool>) -> bool {
        match ready {
            None => self.0.remove(name).is_some(),
            Some(ready) => self.0.insert(name.to_string(), ready) != Some(ready),
        }
    }
}

fn error_policy(task: Arc<Task>, error: &Error, ctx: Arc<Context>) -> Action {
    scaffold::error_policy(&*task, error, &ctx)
}

async fn reconcile(task: Arc<Task>, ctx: Arc<Context>) -> Result<Action> {
    scaffold::reconcile(&*task, &ctx, reconcile_task(&task, &ctx)).await
}

/// What the reconciler decided to write.
struct Outcome {
    update: Update,
    /// The pod to record in status (created or adopted).
    pod: Option<CachedPod>,
    /// `Scheduled=False` with this message (task waits for capacity).
    unschedulable: Option<String>,
    /// The task waits for the allocator: check again soon.
    waiting: bool,
}

#[expect(
    clippy::too_many_lines,
    reason = "not yet split into a pure decision and a short driver (issue 11)"
)]
async fn reconcile_task(task: &Task, ctx: &Context) -> Result<Action> {
    if task.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let current = task.status.clone().unwrap_or_default();
    if current.state.is_some_and(TaskState::is_terminal) {
        return Ok(Action::await_change());
    }
    let ns = task.namespace().ok_or(Error::MissingField {
        kind: "Task",
        field: "metadata.namespace",
    })?;
    let framework = ctx
        .frameworks
        .get(&ObjectRef::new(&task.spec.framework).within(&ns));
    let caps = capabilities(framework.as_deref());
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    // A torn-down or deleted framework's tasks are killed (Mesos TEARDOWN).
    let teardown = framework.as_deref().is_some_and(Framework::is_torn_down);
    let kill_requested = task.spec.kill || teardown;

    // Which pod do we have?
    let name = pod_name(task);
    let mut pod = ctx
        .pods
        .get(&ObjectRef::new(&name).within(&ns))
        .map(|p| (*p).clone());
    if pod.is_none() && current.pod.is_some() {
        // The store may lag behind a pod we just created: confirm before calling it gone.
        pod = Api::<CachedPod>::namespaced(ctx.client.clone(), &ns)
            .get_opt(&name)
            .await
            .context(|| format!("reading pod {name}"))?;
    }
    if let Some(p) = &pod
        && !owned_by(p, task)
    {
        if p.labels().get(LABEL_TASK) == Some(&task.name_any()) {
            // A pod of an earlier task of the same name, not yet garbage-collected.
            return Ok(Action::requeue(Duration::from_secs(2)));
        }
        let update = Update::decided(
            TaskState::Error,
            TaskReason::ReasonTaskInvalid,
            format!("pod {name} already exists and does not belong to this task"),
        );
        return write(
            task,
            ctx,
            &current,
            Outcome {
                update,
                pod: None,
                unschedulable: None,
                waiting: false,
            },
        )
        .await;
    }

    let mut outcome = match (&pod, &current.pod) {
        (Some(p), _) => {
            if kill_requested && p.metadata.deletion_timestamp.is_none() {
                kill(task, &pods, &name).await?;
            }
            repair_labels(task, p, &pods).await?;
            observe(
                task,
                ctx,
                caps,
                kill_requested,
                PodView::Present(p),
                pod.clone(),
            )
        }
        (None, Some(_)) => observe(task, ctx, caps, kill_requested, PodView::Gone, None),
        (None, None) if kill_requested => {
            observe(task, ctx, caps, kill_requested, PodView::NotCreated, None)
        }
        (None, None) => launch(task, ctx, framework.as_deref(), &ns).await?,
    };
    if teardown && matches!(outcome.update.state, TaskState::Killing | TaskState::Killed) {
        outcome.update.reason = Some(TaskReason::ReasonFrameworkRemoved);
        outcome.update.message = Some(format!("framework {} was torn down", task.spec.framework));
    }
    let retry = outcome.waiting;
    let action = write(task, ctx, &current, outcome).await?;
    // Everything else is driven by watch events and the periodic resync of every task.
    Ok(if retry {
        Action::requeue(ctx.settings.unschedulable_retry)
    } else {
        action
    })
}

fn owned_by(pod: &CachedPod, task: &Task) -> bool {
    let uid = task.uid();
    pod.owner_references()
        .iter()
        .any(|o| Some(&o.uid) == uid.as_ref())
}

fn capabilities(framework: Option<&Framework>) -> Capabilities {
    Capabilities {
        partition_aware: framework
            .is_some_and(|f| f.has_capability(FrameworkCapability::PartitionAware)),
        task_killing_state: framework
            .is_some_and(|f| f.has_capability(FrameworkCapability::TaskKillingState)),
    }
}

fn observe(
    task: &Task,
    ctx: &Context,
    caps: Capabilities,
    kill_requested: bool,
    view: PodView<'_>,
    pod: Option<CachedPod>,
) -> Outcome {
    let node_name = match view {
        PodView::Present(p) => p.spec.as_ref().and_then(|s| s.node_name.clone()),
        _ => task.status.as_ref().and_then(|s| s.agent.clone()),
    };
    let node = node_name
        .as_ref()
        .map(|n| ctx.nodes.get(&ObjectRef::new(n)));
    let node_view = match &node {
        None => NodeView::NotApplicable,
        Some(Some(n)) => NodeView::Present(n),
        Some(None) => NodeView::Deleted,
    };
    let update = task_state::derive(&Observation {
        capabilities: caps,
        kill_requested,
        has_health_check: task.spec.health_check.is_some(),
        has_readiness_check: task.spec.readiness_check.is_some(),
        pod: view,
        node: node_view,
    });
    Outcome {
        update,
        pod,
        unschedulable: None,
        waiting: false,
    }
}

/// Implicit reconciliation repairs drift: a pod whose task/framework labels were changed
/// gets them back (a merge patch: the pod's other fields stay as they are).
async fn repair_labels(task: &Task, pod: &CachedPod, pods: &Api<Pod>) -> Result<()> {
    let want = crate::master::pod::pod_labels(task);
    let have = pod.labels();
    if want.iter().all(|(k, v)| have.get(k) == Some(v)) || pod.metadata.deletion_timestamp.is_some()
    {
        return Ok(());
    }
    let name = pod.name_any();
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    pods.patch(
        &name,
        &params,
        &Patch::Merge(serde_json::json!({"metadata": {"labels": want}})),
    )
    .await
    .context(|| format!("restoring the labels of pod {name}"))?;
    info!(pod = %name, "restored the pod's task labels");
    Ok(())
}

async fn kill(task: &Task, pods: &Api<Pod>, name: &str) -> Result<()> {
    let mut params = DeleteParams::default();
    if let Some(policy) = &task.spec.kill_policy {
        let grace: Duration = policy.grace_period.into();
        params.grace_period_seconds = Some(u32::try_from(grace.as_secs()).unwrap_or(u32::MAX));
    }
    match pods.delete(name, &params).await {
        Ok(_) => {
            info!(pod = name, "kill requested; pod deleted");
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::Kube {
            context: format!("deleting pod {name} to kill the task"),
            source: e,
        }),
    }
}

/// Decides where a not-yet-launched task runs and creates its pod.
#[expect(
    clippy::too_many_lines,
    reason = "not yet split into a pure decision and a short driver (issue 11)"
)]
async fn launch(
    task: &Task,
    ctx: &Context,
    framework: Option<&Framework>,
    ns: &str,
) -> Result<Outcome> {
    let invalid = |state: TaskState, reason: TaskReason, message: String| Outcome {
        update: Update::decided(state, reason, message),
        pod: None,
        unschedulable: None,
        waiting: false,
    };
    let fw_name = &task.spec.framework;
    let framework = match framework {
        Some(f) => f.clone(),
        None => {
            // Confirm with the API server: the store may not have seen a new framework yet.
            // Guarded: a Framework the operator cannot read is not the same as none.
            let api: Api<Guarded<Framework>> = Api::namespaced(ctx.client.clone(), ns);
            match api
                .get_opt(fw_name)
                .await
                .context(|| format!("reading framework {fw_name}"))?
            {
                Some(Guarded { object: Ok(f), .. }) => f,
                Some(Guarded {
                    object: Err(refused),
                    ..
                }) => {
                    // Fixing it registers it, and that wakes this task.
                    return Ok(Outcome {
                        update: Update {
                            message: Some(format!(
                                "waiting for framework {fw_name}, which the operator cannot read ({}); fix it",
                                refused.error
                            )),
                            ..staging()
                        },
                        pod: None,
                        unschedulable: None,
                        waiting: false,
                    });
                }
                None => {
                    return Ok(invalid(
                        TaskState::Error,
                        TaskReason::ReasonTaskInvalid,
                        format!("framework {fw_name} does not exist in namespace {ns}"),
                    ));
                }
            }
        }
    };
    if framework.metadata.deletion_timestamp.is_some() {
        return Ok(invalid(
            TaskState::Error,
            TaskReason::ReasonFrameworkRemoved,
            format!("framework {fw_name} is being deleted"),
        ));
    }
    if !framework.is_registered() {
        // The framework controller registers it; its status change triggers this task again.
        return Ok(Outcome {
            update: Update {
                message: Some(format!("waiting for framework {fw_name} to register")),
                ..staging()
            },
            pod: None,
            unschedulable: None,
            waiting: false,
        });
    }
    let caps = capabilities(Some(&framework));
    let dropped = if caps.partition_aware {
        TaskState::Dropped
    } else {
        TaskState::Error
    };

    // Validate the task's pod before placing it anywhere.
    match build_pod(task, "") {
        Ok(_) => {}
        Err(e) => {
            return Ok(invalid(
                TaskState::Error,
                TaskReason::ReasonTaskInvalid,
                e.0,
            ));
        }
    };
    // Constraints CEL cannot check (a regular expression that does not compile).
    if let Some(problems) = super::allocation::placement_problems(task) {
        return Ok(invalid(
            TaskState::Error,
            TaskReason::ReasonTaskInvalid,
            problems,
        ));
    }
    let demand = task.spec.resources.clone();

    // Place on the offer's agent (Builtin tasks wait for the allocation loop). The
    // placement lock makes concurrent launches see each other's pods before the store does.
    let node = {
        let agent = match &task.spec.offer {
            Some(offer_name) => {
                let api: Api<Guarded<Offer>> = Api::namespaced(ctx.client.clone(), ns);
                let offer = match api
                    .get_opt(offer_name)
                    .await
                    .context(|| format!("reading offer {offer_name}"))?
                {
                    Some(Guarded {
                        object: Err(refused),
                        ..
                    }) => {
                        return Ok(invalid(
                            dropped,
                            TaskReason::ReasonInvalidOffers,
                            format!("offer {offer_name} cannot be read: {}", refused.error),
                        ));
                    }
                    Some(Guarded { object: Ok(o), .. }) => Some(o),
                    None => None,
                };
                match check_offer(task, ctx, offer.as_ref(), offer_name, ns) {
                    Ok(agent) => agent,
                    Err(message) => {
                        return Ok(invalid(dropped, TaskReason::ReasonInvalidOffers, message));
                    }
                }
            }
            None if framework.spec.scheduler == SchedulerKind::External => {
                return Ok(invalid(
                    TaskState::Error,
                    TaskReason::ReasonInvalidOffers,
                    format!(
                        "framework {fw_name} has an External scheduler: its tasks must name the offer they are launched on (spec.offer)"
                    ),
                ));
            }
            None => {
                // Builtin: the allocation loop places pending tasks in DRF order. Report
                // why it could not (yet), or the API server's verdict on the pod it made.
                let task_key = super::allocation::key(ns, &task.name_any());
                let refused = ctx
                    .launch_errors
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&task_key);
                if let Some(message) = refused {
                    return Ok(invalid(
                        TaskState::Error,
                        TaskReason::ReasonTaskInvalid,
                        format!("the task's pod is invalid: {message}"),
                    ));
                }
                let why = ctx
                    .unplaced
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&task_key)
                    .cloned();
                ctx.allocation_wakeup.notify_one();
                return Ok(Outcome {
                    update: staging(),
                    pod: None,
                    unschedulable: why,
                    waiting: true,
                });
            }
        };
        let mut ledger = ctx.placements.lock().unwrap_or_else(|p| p.into_inner());
        let pods = ctx.pods.state();
        let mut agents = placement::agents(
            ctx.nodes.state().iter().map(|n| &**n),
            pods.iter().map(|p| &**p),
        );
        let in_flight = ledger.pending(&pods);
        for pending in &in_flight {
            if let Some(a) = agents.iter_mut().find(|a| a.name == pending.node) {
                placement::charge(a, &pending.resources);
            }
        }
        // The framework chose the agent: its placement constraints are checked there,
        // against the group's live tasks and the launches in flight.
        if let Err(message) =
            super::allocation::check_offered_agent(ctx, ns, task, &agent, &in_flight)
        {
            return Ok(invalid(dropped, TaskReason::ReasonInvalidOffers, message));
        }
        let chosen = match agents.iter().find(|a| a.name == agent) {
            Some(a)
                if a.unavailable.is_none()
                    && a.has_pod_room()
                    && demand.fits_in(&a.free()).is_ok() =>
            {
                agent
            }
            Some(a) => {
                return Ok(invalid(
                    dropped,
                    TaskReason::ReasonInvalidOffers,
                    vanished(a, &demand),
                ));
            }
            None => {
                return Ok(invalid(
                    dropped,
                    TaskReason::ReasonInvalidOffers,
                    format!("the offer's agent {agent} no longer exists"),
                ));
            }
        };
        ledger.insert(ns, &pod_name(task), &chosen, demand.clone());
        chosen
    };

    let pod = match build_pod(task, &node) {
        Ok(p) => p,
        Err(e) => {
            return Ok(invalid(
                TaskState::Error,
                TaskReason::ReasonTaskInvalid,
                e.0,
            ));
        }
    };
    let name = pod_name(task);
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let created = match api
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&crate::runtime::pod_apply_body(&pod)),
        )
        .await
    {
        Ok(p) => p,
        Err(kube::Error::Api(s)) if s.code == 422 || s.code == 400 => {
            forget(ctx, ns, &name);
            return Ok(invalid(
                TaskState::Error,
                TaskReason::ReasonTaskInvalid,
                format!("the task's pod is invalid: {}", s.message),
            ));
        }
        Err(kube::Error::Api(s)) if s.code == 403 && s.message.contains("being terminated") => {
            forget(ctx, ns, &name);
            return Ok(invalid(
                dropped,
                TaskReason::ReasonTaskInvalid,
                format!("cannot launch: {}", s.message),
            ));
        }
        Err(e) => {
            forget(ctx, ns, &name);
            return Err(Error::Kube {
                context: format!("creating pod {name} on {node}"),
                source: e,
            });
        }
    };
    info!(pod = %name, node = %node, "launched");
    ctx.event(
        task,
        NORMAL,
        "Launched",
        format!(
            "pod {name} launched on agent {node} with {}",
            task.spec.resources
        ),
        "Launch",
    )
    .await;
    let created = CachedPod::from(&created);
    let caps_view = capabilities(Some(&framework));
    let mut outcome = observe(
        task,
        ctx,
        caps_view,
        false,
        PodView::Present(&created),
        Some(created.clone()),
    );
    outcome.pod = Some(created);
    Ok(outcome)
}

fn forget(ctx: &Context, ns: &str, name: &str) {
    let mut ledger = ctx.placements.lock().unwrap_or_else(|p| p.into_inner());
    ledger.remove(ns, name);
}

fn vanished(agent: &Agent, demand: &crate::api::Resources) -> String {
    match demand.fits_in(&agent.free()) {
        Err(short) => format!(
            "the offer's resources are no longer free on agent {}: {short}",
            agent.name
        ),
        Ok(()) => format!(
            "agent {} is {}",
            agent.name,
            agent.unavailable.as_deref().unwrap_or("at its pod limit")
        ),
    }
}

/// Checks an offer a task names; returns the agent to launch on, or why the offer is invalid.
fn check_offer(
    task: &Task,
    ctx: &Context,
    offer: Option<&Offer>,
    name: &str,
    ns: &str,
) -> std::result::Result<String, String> {
    let offer = offer
        .ok_or_else(|| format!("offer {name} does not exist (expired, rescinded or never made)"))?;
    if offer.spec.framework != task.spec.framework {
        return Err(format!(
            "offer {name} was made to framework {}, not {}",
            offer.spec.framework, task.spec.framework
        ));
    }
    let state = offer.status.as_ref().map(|s| s.state).unwrap_or_default();
    if matches!(state, OfferState::Rescinded | OfferState::Declined) {
        return Err(format!("offer {name} is {state:?}"));
    }
    if let Some(expires) = &offer.spec.expires_at
        && expires.0 <= Timestamp::now()
    {
        return Err(format!("offer {name} expired at {}", expires.0));
    }
    // What earlier tasks launched on the offer already took.
    let mut remaining = offer.spec.resources.clone();
    for other in ctx.tasks_on_offer(ns, name) {
        if other.uid() != task.uid() && other.status.as_ref().and_then(|s| s.pod.as_ref()).is_some()
        {
            remaining = remaining.saturating_sub(&other.spec.resources);
        }
    }
    task.spec.resources.fits_in(&remaining).map_err(|short| {
        format!("the task does not fit in what remains of offer {name}: {short}")
    })?;
    Ok(offer.spec.agent.clone())
}

fn staging() -> Update {
    task_state::derive(&Observation {
        capabilities: Capabilities::default(),
        kill_requested: false,
        has_health_check: false,
        has_readiness_check: false,
        pod: PodView::NotCreated,
        node: NodeView::NotApplicable,
    })
}

/// How long to hold a status write back that only reports progress (into TASK_STAGING or
/// TASK_STARTING, no message, no condition beyond the state's own) so that it can be
/// folded into the next one: the rest of `window` since the task's creation (no pod yet)
/// or its pod's. A task whose pod is `reserved` (the allocator placed it and its create is
/// queued or in flight) is held a whole `window` whatever its age: the pod's arrival
/// wakes it with more to report. `None`: write now.
fn hold_progress(
    task: &Task,
    current: &TaskStatus,
    next: &TaskStatus,
    outcome: &Outcome,
    window: Duration,
    reserved: bool,
) -> Option<Duration> {
    let progress = matches!(next.state, Some(TaskState::Staging | TaskState::Starting))
        && matches!(current.state, None | Some(TaskState::Staging))
        && outcome.unschedulable.is_none()
        && outcome.update.message.is_none()
        && current.message == next.message;
    if !progress || window.is_zero() {
        return None;
    }
    if reserved && outcome.pod.is_none() && next.state == Some(TaskState::Staging) {
        return Some(window);
    }
    let since = outcome
        .pod
        .as_ref()
        .and_then(|p| p.metadata.creation_timestamp.as_ref())
        .or(task.metadata.creation_timestamp.as_ref())?;
    let age = Timestamp::now().duration_since(since.0);
    let age = Duration::try_from(age).unwrap_or_default();
    window.checked_sub(age).filter(|rest| !rest.is_zero())
}

/// Folds the outcome into the status and writes it if anything changed; publishes the
/// Events that matter.
#[expect(
    clippy::too_many_lines,
    reason = "not yet split into a pure decision and a short driver (issue 11)"
)]
async fn write(
    task: &Task,
    ctx: &Context,
    current: &TaskStatus,
    outcome: Outcome,
) -> Result<Action> {
    let now = Time(Timestamp::now());
    let generation = task.metadata.generation;
    let mut base = current.clone();
    // A launch writes STAGING and STARTING in one status update.
    if outcome.pod.is_some() && base.state.is_none() {
        base = task_state::apply(&base, &staging(), generation, &now);
    }
    let mut next = task_state::apply(&base, &outcome.update, generation, &now);
    if let Some(pod) = &outcome.pod {
        next.pod = pod.metadata.name.clone();
        next.pod_uid = pod.metadata.uid.clone();
        next.host_ports = crate::master::placement::pod_host_ports(pod);
    }
    match &outcome.unschedulable {
        Some(why) => {
            next.conditions.set(
                TaskCondition::Scheduled,
                ConditionStatus::False,
                "Unschedulable",
                why,
                generation,
                &now,
            );
            next.message = Some(why.clone());
        }
        None if next.state == Some(TaskState::Staging) && outcome.update.message.is_some() => {
            next.conditions.set(
                TaskCondition::Scheduled,
                ConditionStatus::False,
                "WaitingForFramework",
                outcome.update.message.as_deref().unwrap_or_default(),
                generation,
                &now,
            );
        }
        None => {}
    }
    if &next == current {
        return Ok(Action::await_change());
    }
    let reserved = task.namespace().is_some_and(|ns| {
        ctx.placements
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&ns, &pod_name(task))
    });
    if let Some(wait) = hold_progress(
        task,
        current,
        &next,
        &outcome,
        ctx.settings.status_coalesce,
        reserved,
    ) {
        return Ok(Action::requeue(wait));
    }
    ctx.apply_status(task, &next).await?;
    debug!(
        task = %task.name_any(),
        from = ?current.state,
        to = ?next.state,
        unschedulable = outcome.unschedulable.is_some(),
        "task status written"
    );

    let was_unschedulable = current
        .conditions
        .get_condition(TaskCondition::Scheduled)
        .is_some_and(|c| {
            c.reason == "Unschedulable"
                && Some(c.message.as_str()) == outcome.unschedulable.as_deref()
        });
    if let Some(why) = &outcome.unschedulable
        && !was_unschedulable
    {
        ctx.event(task, WARNING, "Unschedulable", why.clone(), "Place")
            .await;
    }
    if next.state != current.state
        && let Some(state) = next.state
    {
        let message = next.message.clone().unwrap_or_default();
        let note = if message.is_empty() {
            state.to_string()
        } else {
            format!("{state}: {message}")
        };
        match state {
            TaskState::Failed
            | TaskState::Error
            | TaskState::Dropped
            | TaskState::Lost
            | TaskState::Gone
            | TaskState::GoneByOperator
            | TaskState::Unreachable => {
                ctx.event(task, WARNING, &task_state::camel(state), note, "Update")
                    .await;
            }
            TaskState::Killed | TaskState::Finished => {
                ctx.event(task, NORMAL, &task_state::camel(state), note, "Update")
                    .await;
            }
            _ => {}
        }
    }
    Ok(Action::await_change())
}

#[cfg(test)]
#[allow(
    clippy::too_many_lines,
    reason = "the bar is for reconcilers, not for tables of test cases"
)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn task_created(seconds_ago: i64) -> Task {
        let mut task: Task = serde_json::from_value(serde_json::json!({
            "apiVersion": "mesos.operator.dev/v1alpha1",
            "kind": "Task",
            "metadata": {"name": "t", "namespace": "n"},
            "spec": {"framework": "f", "resources": {"cpus": 0.1, "mem": 32}, "command": {"shell": "true"}},
        }))
        .expect("a valid task");
        let created = Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(seconds_ago);
        task.metadata.creation_timestamp = Some(Time(created));
        task
    }

    fn outcome(state: TaskState) -> Outcome {
        Outcome {
            update: Update { state, ..staging() },
            pod: None,
            unschedulable: None,
            waiting: false,
        }
    }

    fn status(state: Option<TaskState>) -> TaskStatus {
        TaskStatus {
            state,
            ..TaskStatus::default()
        }
    }

    #[test]
    fn only_a_change_of_readiness_wakes_a_nodes_tasks() {
        let mut seen = NodeReadiness::default();
        assert!(seen.changed("a", Some(true)), "first sight");
        assert!(!seen.changed("a", Some(true)), "heartbeat");
        assert!(seen.changed("a", Some(false)), "NotReady");
        assert!(!seen.changed("a", Some(false)));
        assert!(seen.changed("a", Some(true)), "Ready again");
        assert!(seen.changed("a", None), "deleted");
        assert!(!seen.changed("a", None), "deleted twice");
        assert!(seen.changed("a", Some(true)), "recreated");
    }

    #[test]
    fn progress_alone_is_held_for_the_rest_of_the_window() {
        let window = Duration::from_secs(2);
        let held = hold_progress(
            &task_created(0),
            &status(None),
            &status(Some(TaskState::Staging)),
            &outcome(TaskState::Staging),
            window,
            false,
        );
        assert!(
            held.is_some_and(|d| d <= window && d > Duration::from_secs(1)),
            "{held:?}"
        );
        let starting = hold_progress(
            &task_created(1),
            &status(Some(TaskState::Staging)),
            &status(Some(TaskState::Starting)),
            &outcome(TaskState::Starting),
            window,
            false,
        );
        assert!(
            starting.is_some_and(|d| d <= Duration::from_secs(1)),
            "{starting:?}"
        );
    }

    #[test]
    fn a_task_whose_pod_is_reserved_holds_its_staging_write_whatever_its_age() {
        let window = Duration::from_secs(2);
        let old = task_created(30);
        let staging = || {
            hold_progress(
                &old,
                &status(None),
                &status(Some(TaskState::Staging)),
                &outcome(TaskState::Staging),
                window,
                true,
            )
        };
        assert_eq!(staging(), Some(window));
        // Not reserved: an old task's STAGING is written.
        assert_eq!(
            hold_progress(
                &old,
                &status(None),
                &status(Some(TaskState::Staging)),
                &outcome(TaskState::Staging),
                window,
                false
            ),
            None
        );
        // Something to say is written even when reserved.
        let mut unschedulable = outcome(TaskState::Staging);
        unschedulable.unschedulable = Some("no node has 100 cpus free".into());
        assert_eq!(
            hold_progress(
                &old,
                &status(None),
                &status(Some(TaskState::Staging)),
                &unschedulable,
                window,
                true
            ),
            None
        );
        // Running is written at once.
        assert_eq!(
            hold_progress(
                &old,
                &status(None),
                &status(Some(TaskState::Running)),
                &outcome(TaskState::Running),
                window,
                true
            ),
            None
        );
    }

    #[test]
    fn anything_but_fresh_progress_is_written_at_once() {
        let window = Duration::from_secs(2);
        let fresh = task_created(0);
        // Old enough: written.
        assert_eq!(
            hold_progress(
                &task_created(5),
                &status(None),
                &status(Some(TaskState::Staging)),
                &outcome(TaskState::Staging),
                window,
                false
            ),
            None
        );
        // Running, terminal: written.
        for state in [TaskState::Running, TaskState::Finished, TaskState::Failed] {
            assert_eq!(
                hold_progress(
                    &fresh,
                    &status(Some(TaskState::Staging)),
                    &status(Some(state)),
                    &outcome(state),
                    window,
                    false
                ),
                None,
                "{state}"
            );
        }
        // Something to say (waiting for a framework, unschedulable): written.
        let mut waiting = outcome(TaskState::Staging);
        waiting.update.message = Some("waiting for framework f to register".into());
        assert_eq!(
            hold_progress(
                &fresh,
                &status(None),
                &status(Some(TaskState::Staging)),
                &waiting,
                window,
                false
            ),
            None
        );
        let mut unschedulable = outcome(TaskState::Staging);
        unschedulable.unschedulable = Some("no node has 100 cpus free".into());
        assert_eq!(
            hold_progress(
                &fresh,
                &status(None),
                &status(Some(TaskState::Staging)),
                &unschedulable,
                window,
                false
            ),
            None
        );
        // Coalescing off.
        assert_eq!(
            hold_progress(
                &fresh,
                &status(None),
                &status(Some(TaskState::Staging)),
                &outcome(TaskState::Staging),
                Duration::ZERO,
                false
            ),
            None
        );
    }
}
