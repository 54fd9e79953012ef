//! The ResourceRole reconciler: a role's allocation and offers against its quota.

use std::sync::Arc;

use futures::StreamExt;
use kube::ResourceExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use tracing::debug;

use crate::api::condition::{ConditionStatus, Conditions};
use crate::api::role::RoleCondition;
use crate::api::{Framework, ResourceRole, ResourceRoleStatus, Resources};
use crate::error::{Error, Result};
use crate::runtime::{Context, resync_ticks, scaffold};

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
    let mut allocated = Resources::default();
    let mut offered = Resources::default();
    for fw in ctx
        .frameworks
        .state()
        .iter()
        .filter(|f| f.spec.role == name)
    {
        if let Some(status) = &fw.status {
            allocated = allocated.saturating_add(&status.allocated);
            offered = offered.saturating_add(&status.offered);
        }
    }
    let current = role.status.clone().unwrap_or_default();
    let generation = role.metadata.generation;
    let mut next = ResourceRoleStatus {
        allocated,
        offered,
        observed_generation: generation,
        ..current.clone()
    };
    if let Some(guarantee) = role.spec.quota.as_ref().and_then(|q| q.guarantee.as_ref()) {
        let met = next
            .allocated
            .saturating_add(&next.offered)
            .contains(guarantee);
        let (reason, message) = if met {
            (
                "Met",
                format!(
                    "allocated {} covers the guarantee {guarantee}",
                    next.allocated
                ),
            )
        } else {
            (
                "NotMet",
                format!(
                    "allocated {} is below the guarantee {guarantee}",
                    next.allocated
                ),
            )
        };
        let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::now(),
        );
        next.conditions.set(
            RoleCondition::GuaranteeMet,
            ConditionStatus::from_bool(met),
            reason,
            &message,
            generation,
            &now,
        );
    }
    if next == current {
        return Ok(Action::await_change());
    }
    ctx.apply_cluster_status(role, &next).await?;
    Ok(Action::await_change())
}
