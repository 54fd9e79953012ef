//! The Offer reconciler (I/O): writes the status `master::offer_status` decides, counts
//! and records accepts and declines, and removes an accepted offer once released.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use tracing::debug;

use crate::api::{Offer, OfferState, OfferStatus, Task};
use crate::error::{Error, Result};
use crate::master::offer_status::{Release, decide, release};
use crate::runtime::{Context, NORMAL, resync_ticks, scaffold};

/// Runs the Offer controller until shutdown.
pub async fn run(ctx: Arc<Context>) {
    Controller::for_shared_stream(ctx.offers.subscribe(), ctx.offers.store())
        .watches_shared_stream(ctx.tasks.subscribe(), |task: Arc<Task>| {
            let ns = task.namespace()?;
            Some(ObjectRef::<Offer>::new(task.spec.offer.as_deref()?).within(&ns))
        })
        .reconcile_all_on(resync_ticks(ctx.settings.resync_period))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                debug!(error = %e, "offer reconcile failed");
            }
        })
        .await;
}

fn error_policy(offer: Arc<Offer>, error: &Error, ctx: Arc<Context>) -> Action {
    scaffold::error_policy(&*offer, error, &ctx)
}

async fn reconcile(offer: Arc<Offer>, ctx: Arc<Context>) -> Result<Action> {
    scaffold::reconcile(&*offer, &ctx, reconcile_offer(&offer, &ctx)).await
}

async fn reconcile_offer(offer: &Offer, ctx: &Context) -> Result<Action> {
    if offer.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = offer.namespace().ok_or(Error::MissingField {
        kind: "Offer",
        field: "metadata.namespace",
    })?;
    let framework = ctx
        .frameworks
        .get(&ObjectRef::new(&offer.spec.framework).within(&ns));
    let refuse = framework
        .as_ref()
        .map(|f| f.spec.offers.refuse_seconds)
        .unwrap_or(5);
    let now = Timestamp::now();
    let current = offer.status.clone().unwrap_or_default();
    let tasks = ctx.tasks_on_offer(&ns, &offer.name_any());
    let next = decide(offer, &tasks, refuse, now);
    if next != current {
        ctx.apply_status(offer, &next).await?;
        record_answer(ctx, offer, &ns, &current, &next).await;
        ctx.allocation_wakeup.notify_one();
    }
    match release(offer, &tasks, &next, now) {
        Release::Keep => Ok(Action::await_change()),
        Release::WaitFor(wait) => Ok(Action::requeue(wait)),
        Release::Remove => {
            ctx.delete_offer(
                &ns,
                &offer.name_any(),
                "releasing the remainder of an accepted offer",
            )
            .await?;
            ctx.allocation_wakeup.notify_one();
            Ok(Action::await_change())
        }
    }
}

/// Counts an accept or a decline once, and records a decline as an Event.
async fn record_answer(
    ctx: &Context,
    offer: &Offer,
    ns: &str,
    current: &OfferStatus,
    next: &OfferStatus,
) {
    if next.state == OfferState::Accepted && current.state != OfferState::Accepted {
        ctx.metrics.offer(
            ns,
            &offer.spec.framework,
            crate::runtime::metrics::OfferOutcome::Accepted,
        );
    }
    if next.state == OfferState::Declined && current.state != OfferState::Declined {
        ctx.metrics.offer(
            ns,
            &offer.spec.framework,
            crate::runtime::metrics::OfferOutcome::Declined,
        );
        let until = next
            .filter_until
            .as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_default();
        ctx.event(
            offer,
            NORMAL,
            "OfferDeclined",
            format!(
                "agent {} filtered for framework {} until {until}",
                offer.spec.agent, offer.spec.framework
            ),
            "Decline",
        )
        .await;
    }
}
