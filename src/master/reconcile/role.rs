//! The ResourceRole reconciler: a role's allocation and offers against its quota.

use std::sync::Arc;

use futures::StreamExt;
use kube::ResourceExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use tracing::debug;

use crate::api::{Framework, ResourceRole};
use crate::error::{Error, Result};
use crate::master::role_status::plan_status;
use crate::runtime::{Context, resync_ticks, scaffold};
use k8s_openapi::jiff::Timestamp;

/// Runs the ResourceRole controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    Controller::for_shared_stream(ctx.roles.subscribe(), ctx.roles.store())
        .with_config(
            kube::runtime::controller::Config::default()
                .debounce(std::time::Duration::from_millis(500)),
        )
        .watches_shared_stream(ctx.frameworks.subscribe(), |fw: Arc<Framework>| {
            Some(ObjectRef::<ResourceRole>::new(&fw.spec.role))
        })
        .reconcile_all_on(resync_ticks(ctx.settings.resync_period))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                debug!(error = %e, "role reconcile failed");
            }
        })
        .await;
}

fn error_policy(role: Arc<ResourceRole>, error: &Error, ctx: Arc<Context>) -> Action {
    scaffold::error_policy(&*role, error, &ctx)
}

async fn reconcile(role: Arc<ResourceRole>, ctx: Arc<Context>) -> Result<Action> {
    scaffold::reconcile(&*role, &ctx, reconcile_role(&role, &ctx)).await
}

async fn reconcile_role(role: &ResourceRole, ctx: &Context) -> Result<Action> {
    let name = role.name_any();
    let frameworks = ctx.frameworks.state();
    let of_role = frameworks.iter().filter(|f| f.spec.role == name);
    if let Some(next) = plan_status(role, of_role.map(|f| &**f), Timestamp::now()) {
        ctx.apply_cluster_status(role, &next).await?;
    }
    Ok(Action::await_change())
}
