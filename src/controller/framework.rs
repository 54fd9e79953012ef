//! The Framework reconciler: registration, task counts and allocated resources.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use tracing::{Instrument, debug, info, info_span, warn};

use super::{Context, NORMAL, key_of, resync_ticks, scoped};
use crate::api::condition::{ConditionStatus, Conditions};
use crate::api::framework::CONDITION_REGISTERED;
use crate::api::{Framework, FrameworkStatus, Offer, OfferState, Resources, Task, TaskCounts};
use crate::error::{Error, Result};
use crate::placement;
use kube::api::DeleteParams;

/// Runs the Framework controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    let ns = ctx.settings.namespace.clone();
    let frameworks: Api<Framework> = scoped(&ctx.client, ns.as_deref());
    let tasks: Api<Task> = scoped(&ctx.client, ns.as_deref());
    let offers: Api<Offer> = scoped(&ctx.client, ns.as_deref());
    Controller::new(frameworks, watcher::Config::default())
        // Counts change in bursts; coalesce them into one status write.
        .with_config(
            Config::default()
                .concurrency(ctx.settings.concurrency)
                .debounce(std::time::Duration::from_millis(500)),
        )
        .watches(tasks, watcher::Config::default(), |task: Task| {
            let ns = task.namespace()?;
            Some(ObjectRef::<Framework>::new(&task.spec.framework).within(&ns))
        })
        .watches(offers, watcher::Config::default(), |offer: Offer| {
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
    ctx.metrics.reconcile_error("framework");
    let delay = ctx.backoff(key_of(&*fw));
    warn!(framework = %fw.name_any(), error = %error, retry_in = ?delay, "framework reconcile failed");
    Action::requeue(delay)
}

async fn reconcile(fw: Arc<Framework>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile("framework");
    let span = info_span!("reconcile", kind = "Framework", namespace = %fw.namespace().unwrap_or_default(), name = %fw.name_any());
    match reconcile_framework(&fw, &ctx).instrument(span).await {
        Ok(action) => {
            ctx.reset_backoff(&key_of(&*fw));
            Ok(action)
        }
        Err(e) if e.is_status(409) => Ok(Action::requeue(std::time::Duration::from_millis(500))),
        Err(e) => Err(e),
    }
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
            allocated = allocated
                .checked_add(&task.spec.resources)
                .unwrap_or(allocated);
        }
    }
    (counts, allocated)
}

/// Clears a framework's decline filters (the Declined offers that carry them).
async fn revive(ctx: &Context, ns: &str, name: &str) -> Result<()> {
    let api: Api<Offer> = Api::namespaced(ctx.client.clone(), ns);
    for offer in ctx.offers.state().iter().filter(|o| {
        o.spec.framework == name
            && o.namespace().as_deref() == Some(ns)
            && o.status
                .as_ref()
                .is_some_and(|s| s.state == OfferState::Declined)
    }) {
        match api
            .delete(&offer.name_any(), &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                return Err(Error::Kube {
                    context: format!("clearing the filter of offer {}", offer.name_any()),
                    source: e,
                });
            }
        }
    }
    info!(framework = name, "revived: decline filters cleared");
    ctx.allocation_wakeup.notify_one();
    Ok(())
}

async fn reconcile_framework(fw: &Framework, ctx: &Context) -> Result<Action> {
    if fw.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = fw.namespace().ok_or(Error::MissingField {
        kind: "Framework",
        field: "metadata.namespace",
    })?;
    let name = fw.name_any();
    let tasks = ctx.tasks.state();
    let (counts, allocated) = tally(
        tasks
            .iter()
            .map(|t| &**t)
            .filter(|t| t.spec.framework == name && t.namespace().as_deref() == Some(ns.as_str())),
    );

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
        offers: 0,
        offered: Resources::default(),
        dominant_share_percent: 0.0,
        suppressed: fw.spec.offers.suppressed,
        allocated,
    };
    for offer in ctx.offers.state().iter().filter(|o| {
        o.spec.framework == name
            && o.namespace().as_deref() == Some(ns.as_str())
            && o.status
                .as_ref()
                .is_none_or(|s| matches!(s.state, OfferState::Outstanding | OfferState::Accepted))
    }) {
        next.offers += 1;
        let remaining = offer
            .status
            .as_ref()
            .map(|s| s.remaining.clone())
            .unwrap_or_else(|| offer.spec.resources.clone());
        next.offered = next
            .offered
            .checked_add(&remaining)
            .unwrap_or(next.offered.clone());
    }
    let total = ctx
        .nodes
        .state()
        .iter()
        .map(|n| placement::agent_from_node(n).allocatable)
        .fold(Resources::default(), |sum, r| {
            sum.checked_add(&r).unwrap_or(sum)
        });
    let held = next
        .allocated
        .checked_add(&next.offered)
        .unwrap_or(next.allocated.clone());
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
    if next == current {
        return Ok(Action::await_change());
    }
    let newly_registered = !current.conditions.is_true(CONDITION_REGISTERED);
    ctx.apply_status(fw, &next).await?;
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
