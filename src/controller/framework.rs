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
use crate::api::{Framework, FrameworkStatus, Resources, Task, TaskCounts};
use crate::error::{Error, Result};

/// Runs the Framework controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    let ns = ctx.settings.namespace.clone();
    let frameworks: Api<Framework> = scoped(&ctx.client, ns.as_deref());
    let tasks: Api<Task> = scoped(&ctx.client, ns.as_deref());
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
    let delay = ctx.backoff(key_of(&*fw));
    warn!(framework = %fw.name_any(), error = %error, retry_in = ?delay, "framework reconcile failed");
    Action::requeue(delay)
}

async fn reconcile(fw: Arc<Framework>, ctx: Arc<Context>) -> Result<Action> {
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
        allocated,
    };
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
