//! The Framework reconciler: registration, task counts and allocated resources.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use tracing::{debug, info};

use crate::api::{Framework, Offer, OfferState, Resources, Task};
use crate::error::{Error, Result};
use crate::master::framework_status::{FrameworkWorld, plan_status};
use crate::master::lifecycle::{self, FINALIZER};
use crate::master::placement;
use crate::runtime::{Context, FIELD_MANAGER, resync_ticks, scaffold};
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
    // Read.
    let tasks = ctx.tasks_of_framework(&ns, &name);
    let offers = ctx.offers_of_framework(&ns, &name);
    let cluster_total = ctx
        .nodes
        .state()
        .iter()
        .map(|n| placement::agent_from_node(n).allocatable)
        .fold(Resources::default(), |sum, r| sum.saturating_add(&r));
    let lease = ctx
        .leases
        .get(&ObjectRef::new(&lifecycle::lease_name(&name)).within(&ns));
    // Decide.
    let plan = plan_status(&FrameworkWorld {
        framework: fw,
        tasks: tasks.iter().map(|t| &**t).collect(),
        offers: offers.iter().map(|o| &**o).collect(),
        cluster_total,
        lease: lease.as_deref(),
        now: Timestamp::now(),
    });
    // Write: REVIVE first (it clears decline filters), then the status, then the Events
    // of the transitions that status records.
    if plan.revive {
        revive(ctx, &ns, &name).await?;
    }
    let Some(status) = &plan.status else {
        return Ok(plan.action());
    };
    ctx.apply_status(fw, status).await?;
    for line in &plan.log {
        info!(framework = %name, "{line}");
    }
    for event in &plan.events {
        ctx.emit(fw, event).await;
    }
    if plan.wake_allocation {
        ctx.allocation_wakeup.notify_one();
    }
    Ok(plan.action())
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
                && !crate::master::placement::pod_has_ended(p)
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
