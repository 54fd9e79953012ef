//! The Framework reconciler: registration, task counts and allocated resources.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use tracing::{debug, info, warn};

use super::{Context, FIELD_MANAGER, NORMAL, WARNING, resync_ticks, scaffold};
use crate::api::condition::{ConditionStatus, Conditions};
use crate::api::framework::{CONDITION_CONNECTED, CONDITION_REGISTERED, CONDITION_TORN_DOWN};
use crate::api::{Framework, FrameworkStatus, Offer, OfferState, Resources, Task, TaskCounts};
use crate::error::{Error, Result};
use crate::lifecycle::{self, FINALIZER, Liveness};
use crate::placement;
use kube::api::{Patch, PatchParams};

/// Runs the Framework controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    Controller::for_shared_stream(ctx.frameworks.subscribe(), ctx.frameworks.store())
        // Counts change in bursts; coalesce them into one status write.
        .with_config(
            Config::default()
                .concurrency(ctx.settings.concurrency)
                .debounce(std::time::Duration::from_millis(500)),
        )
        .watches_shared_stream(ctx.tasks.subscribe(), |task: Arc<Task>| {
            let ns = task.namespace()?;
            Some(ObjectRef::<Framework>::new(&task.spec.framework).within(&ns))
        })
        .watches_shared_stream(ctx.offers.subscribe(), |offer: Arc<Offer>| {
            let ns = offer.namespace()?;
            Some(ObjectRef::<Framework>::new(&offer.spec.framework).within(&ns))
        })
        .reconcile_all_on(resync_ticks(ctx.settings.resync_period))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                debug!(error = %e, "framework reconcile failed");
            }
        })
        .await;
}

fn error_policy(fw: Arc<Framework>, error: &Error, ctx: Arc<Context>) -> Action {
    scaffold::error_policy(&*fw, error, &ctx)
}

async fn reconcile(fw: Arc<Framework>, ctx: Arc<Context>) -> Result<Action> {
    scaffold::reconcile(&*fw, &ctx, reconcile_framework(&fw, &ctx)).await
}

/// Task counts by state and the resources of launched, non-terminal tasks.
pub fn tally<'a>(tasks: impl IntoIterator<Item = &'a Task>) -> (TaskCounts, Resources) {
    let mut counts = TaskCounts::default();
    let mut allocated = Resources::default();
    for task in tasks {
        let Some(state) = task.state() else { continue };
        counts.add(state);
        let launched = task.status.as_ref().is_some_and(|s| s.pod.is_some());
        if launched && !state.is_terminal() {
            allocated = allocated.saturating_add(&task.spec.resources);
        }
    }
    (counts, allocated)
}

/// Clears a framework's decline filters (the Declined offers that carry them).
async fn revive(ctx: &Context, ns: &str, name: &str) -> Result<()> {
    for offer in ctx.offers_of_framework(ns, name).iter().filter(|o| {
        o.status
            .as_ref()
            .is_some_and(|s| s.state == OfferState::Declined)
    }) {
        ctx.delete_offer(ns, &offer.name_any(), "clearing a decline filter on revive")
            .await?;
    }
    info!(framework = name, "revived: decline filters cleared");
    ctx.allocation_wakeup.notify_one();
    Ok(())
}

async fn reconcile_framework(fw: &Framework, ctx: &Context) -> Result<Action> {
    let ns = fw.namespace().ok_or(Error::MissingField {
        kind: "Framework",
        field: "metadata.namespace",
    })?;
    let name = fw.name_any();
    if fw.metadata.deletion_timestamp.is_some() {
        return teardown_on_delete(fw, ctx, &ns, &name).await;
    }
    if !fw.finalizers().iter().any(|f| f == FINALIZER) {
        set_finalizer(ctx, &ns, &name, true).await?;
    }
    let tasks = ctx.tasks_of_framework(&ns, &name);
    let (counts, allocated) = tally(tasks.iter().map(|t| &**t));

    let current = fw.status.clone().unwrap_or_default();
    let now = Time(Timestamp::now());
    let generation = fw.metadata.generation;
    let id = fw.uid().unwrap_or_default();
    let mut next = FrameworkStatus {
        framework_id: Some(id.clone()),
        observed_generation: generation,
        registered_time: current
            .registered_time
            .clone()
            .or_else(|| Some(now.clone())),
        conditions: current.conditions.clone(),
        tasks: counts,
        lease_expires_at: None,
        reconciliation: current.reconciliation.clone(),
        offers: 0,
        offered: Resources::default(),
        dominant_share_percent: 0.0,
        suppressed: fw.spec.offers.suppressed,
        allocated,
    };
    for offer in ctx.offers_of_framework(&ns, &name).iter().filter(|o| {
        o.status
            .as_ref()
            .is_none_or(|s| matches!(s.state, OfferState::Outstanding | OfferState::Accepted))
    }) {
        next.offers += 1;
        let remaining = offer
            .status
            .as_ref()
            .map(|s| s.remaining.clone())
            .unwrap_or_else(|| offer.spec.resources.clone());
        next.offered = next.offered.saturating_add(&remaining);
    }
    let total = ctx
        .nodes
        .state()
        .iter()
        .map(|n| placement::agent_from_node(n).allocatable)
        .fold(Resources::default(), |sum, r| sum.saturating_add(&r));
    let held = next.allocated.saturating_add(&next.offered);
    // Two decimals are plenty and keep the status from changing on float noise.
    next.dominant_share_percent = (held.dominant_share(&total) * 10_000.0).round() / 100.0;

    // REVIVE: suppressed → not suppressed clears the framework's decline filters.
    if current.suppressed && !fw.spec.offers.suppressed {
        revive(ctx, &ns, &name).await?;
    }
    next.conditions.set(
        CONDITION_REGISTERED,
        ConditionStatus::True,
        "Registered",
        &format!(
            "framework registered with id {id} (role {}, {:?} scheduler)",
            fw.spec.role, fw.spec.scheduler
        ),
        generation,
        &now,
    );
    // Explicit (named tasks) or implicit (none named) reconciliation, answered once per id.
    if let Some(request) = &fw.spec.reconcile
        && current
            .reconciliation
            .as_ref()
            .is_none_or(|a| a.id != request.id)
    {
        next.reconciliation = Some(lifecycle::answer_reconciliation(
            fw,
            request,
            tasks.iter().map(|t| &**t),
            now.0,
        ));
    }

    // Liveness (External frameworks with a scheduler Lease): Connected / failover / teardown.
    let lease = ctx
        .leases
        .get(&ObjectRef::new(&lifecycle::lease_name(&name)).within(&ns));
    let was_torn_down = current.conditions.is_true(CONDITION_TORN_DOWN);
    let last_expiry = current.lease_expires_at.as_ref().map(|t| t.0);
    let live = lifecycle::liveness(fw, lease.as_deref(), last_expiry, was_torn_down, now.0);
    next.lease_expires_at = lease
        .as_deref()
        .and_then(lifecycle::lease_expiry)
        .or(last_expiry)
        .map(Time);
    let (connected, reason, message) = match live {
        Liveness::AlwaysConnected => (
            ConditionStatus::True,
            "Connected",
            "the framework is connected".to_string(),
        ),
        Liveness::Connected { expires_at } => (
            ConditionStatus::True,
            "LeaseRenewed",
            format!(
                "the scheduler's Lease {} is valid until {expires_at}",
                lifecycle::lease_name(&name)
            ),
        ),
        Liveness::Disconnected { since, teardown_at } => (
            ConditionStatus::False,
            "LeaseExpired",
            format!(
                "the scheduler's Lease expired at {since}; offers rescinded, tasks keep running; torn down at {teardown_at} unless it reconnects"
            ),
        ),
        Liveness::TornDown => (
            ConditionStatus::False,
            "TornDown",
            "the framework was torn down".to_string(),
        ),
    };
    next.conditions.set(
        CONDITION_CONNECTED,
        connected,
        reason,
        &message,
        generation,
        &now,
    );
    if live == Liveness::TornDown {
        next.conditions.set(
            CONDITION_TORN_DOWN,
            ConditionStatus::True,
            "FailoverTimeout",
            &format!(
                "no scheduler within failoverTimeout ({}): every task killed",
                fw.spec.failover_timeout
            ),
            generation,
            &now,
        );
    }
    let requeue = live.next_change().map(|at| {
        let wait = at.duration_since(now.0).unsigned_abs();
        Action::requeue(wait.max(std::time::Duration::from_millis(200)))
    });
    let action = requeue.unwrap_or_else(Action::await_change);
    let was_connected = current
        .conditions
        .get_condition(CONDITION_CONNECTED)
        .is_none_or(|c| c.status != "False");
    if next == current {
        return Ok(action);
    }
    ctx.apply_status(fw, &next).await?;
    match live {
        Liveness::TornDown if !was_torn_down => {
            warn!(framework = %name, "failover timeout passed: framework torn down");
            ctx.event(fw, WARNING, "TornDown", format!("no scheduler within failoverTimeout {}: framework torn down, its tasks are killed", fw.spec.failover_timeout), "Teardown").await;
            ctx.allocation_wakeup.notify_one();
        }
        Liveness::Disconnected { teardown_at, .. } if was_connected => {
            ctx.event(fw, WARNING, "Disconnected", format!("scheduler Lease expired: offers rescinded; tasks keep running until {teardown_at}"), "Disconnect").await;
            ctx.allocation_wakeup.notify_one();
        }
        Liveness::Connected { .. } if !was_connected => {
            ctx.event(
                fw,
                NORMAL,
                "Reconnected",
                "scheduler Lease renewed within failoverTimeout".to_string(),
                "Reconnect",
            )
            .await;
            ctx.allocation_wakeup.notify_one();
        }
        _ => {}
    }
    let newly_registered = !current.conditions.is_true(CONDITION_REGISTERED);
    if newly_registered {
        info!(framework_id = %id, "framework registered");
        ctx.event(
            fw,
            NORMAL,
            "Registered",
            format!("framework registered with id {id}"),
            "Register",
        )
        .await;
    }
    Ok(action)
}

/// Adds (or removes) the teardown finalizer with server-side apply.
async fn set_finalizer(ctx: &Context, ns: &str, name: &str, present: bool) -> Result<()> {
    let api: Api<Framework> = Api::namespaced(ctx.client.clone(), ns);
    let finalizers: Vec<&str> = if present { vec![FINALIZER] } else { vec![] };
    let patch = serde_json::json!({
        "apiVersion": <Framework as kube::Resource>::api_version(&()),
        "kind": <Framework as kube::Resource>::kind(&()),
        "metadata": { "name": name, "finalizers": finalizers },
    });
    match api
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::Kube {
            context: format!("updating the finalizer of framework {name}"),
            source: e,
        }),
    }
}

/// A deleted Framework is torn down in order: its tasks are killed (each with its grace
/// period, by the task reconciler), its offers removed, and only then the finalizer goes.
async fn teardown_on_delete(fw: &Framework, ctx: &Context, ns: &str, name: &str) -> Result<Action> {
    if !fw.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    for offer in ctx
        .offers
        .state()
        .iter()
        .filter(|o| o.spec.framework == name && o.namespace().as_deref() == Some(ns))
    {
        ctx.delete_offer(
            ns,
            &offer.name_any(),
            "removing the offers of a deleted framework",
        )
        .await?;
    }
    // Pods that ended (Succeeded/Failed) run nothing and hold nothing: they stay as the
    // record of finished tasks and do not hold the teardown up.
    let live_pods = ctx
        .pods
        .state()
        .iter()
        .filter(|p| {
            p.namespace().as_deref() == Some(ns)
                && p.labels()
                    .get(crate::api::LABEL_FRAMEWORK)
                    .map(String::as_str)
                    == Some(name)
                && !crate::placement::pod_has_ended(p)
        })
        .count();
    let live_tasks = ctx
        .tasks
        .state()
        .iter()
        .filter(|t| {
            t.namespace().as_deref() == Some(ns) && t.spec.framework == name && !t.is_terminal()
        })
        .count();
    if live_pods > 0 || live_tasks > 0 {
        debug!(
            framework = name,
            live_pods, live_tasks, "teardown in progress"
        );
        return Ok(Action::requeue(std::time::Duration::from_secs(1)));
    }
    set_finalizer(ctx, ns, name, false).await?;
    info!(
        framework = name,
        "framework deleted: every task killed, offers removed"
    );
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{TaskSpec, TaskState, TaskStatus};

    fn task(state: Option<TaskState>, launched: bool, cpus: &str) -> Task {
        let mut t = Task::new(
            "t",
            TaskSpec {
                framework: "fw".into(),
                offer: None,
                resources: serde_json::from_str(&format!(r#"{{"cpus": {cpus}, "mem": 32}}"#))
                    .unwrap_or_default(),
                command: None,
                template: None,
                health_check: None,
                kill_policy: None,
                max_completion_time: None,
                kill: false,
                placement: None,
                random_ports: Vec::new(),
                readiness_check: None,
            },
        );
        t.status = Some(TaskStatus {
            state,
            pod: launched.then(|| "p".to_string()),
            ..Default::default()
        });
        t
    }

    #[test]
    fn tally_counts_states_and_allocates_only_launched_live_tasks() {
        let tasks = [
            task(Some(TaskState::Running), true, "1"),
            task(Some(TaskState::Running), true, "0.5"),
            task(Some(TaskState::Finished), true, "4"),
            task(Some(TaskState::Staging), false, "8"),
            task(None, false, "16"),
        ];
        let (counts, allocated) = tally(&tasks);
        assert_eq!((counts.running, counts.finished, counts.staging), (2, 1, 1));
        assert_eq!(allocated.cpus.0, 1500);
        assert_eq!(allocated.mem.0, 64 * 1024 * 1024);
    }
}
