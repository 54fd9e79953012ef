//! The Offer reconciler: an offer's answer (declined, accepted) and what remains of it.
//!
//! Decline = set `spec.decline` (optionally with `refuseSeconds`): the offer becomes
//! `Declined` with `status.filterUntil`, and the allocator does not offer that agent to the
//! framework again before then (the declined Offer object is the filter, so filters survive
//! operator restarts; it is removed when the filter ends). Accept = create Tasks naming the
//! offer: it becomes `Accepted`, and [`ACCEPT_WINDOW`] (1 s, time for the framework to
//! create the rest of its batch) after the first launch, once the tasks created within
//! that window are launched, the offer is removed (its remainder returned to the pool at
//! the first launch: Mesos declines what an accept leaves unused). Expiry and vanished
//! resources are the allocator's (rescind).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use tracing::debug;

use crate::api::{Offer, OfferState, OfferStatus, Task};
use crate::error::{Error, Result};
use crate::runtime::{Context, NORMAL, resync_ticks, scaffold};

/// How long an accepted offer's remainder stays with the framework for more launches.
/// Annotation on an Offer: how many Tasks an ACCEPT of the scheduler API is creating on
/// it (the offer is kept until they all exist and are launched or refused).
pub const LAUNCHING_ANNOTATION: &str = "mesos.operator.dev/launching";

pub const ACCEPT_WINDOW: Duration = Duration::from_secs(1);

/// How long past [`ACCEPT_WINDOW`] an accepted offer waits for the tasks created on it
/// within the window that the operator has not launched yet.
pub const ACCEPT_HOLD: Duration = Duration::from_secs(30);

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

/// The status an offer should have, given the tasks launched on it and `now`.
pub fn decide(
    offer: &Offer,
    tasks: &[Arc<Task>],
    refuse_seconds: u32,
    now: Timestamp,
) -> OfferStatus {
    let current = offer.status.clone().unwrap_or_default();
    let ns = offer.namespace();
    let name = offer.name_any();
    let launched: Vec<String> = tasks
        .iter()
        .filter(|t| t.namespace() == ns && t.spec.offer.as_deref() == Some(name.as_str()))
        .filter(|t| t.status.as_ref().is_some_and(|s| s.pod.is_some()))
        .map(|t| t.name_any())
        .collect();
    let remaining = super::allocation::offer_remaining(offer, tasks);
    let mut next = OfferStatus {
        remaining,
        tasks: launched,
        observed_generation: offer.metadata.generation,
        ..current.clone()
    };
    if current.state == OfferState::Rescinded || current.state == OfferState::Declined {
        return next;
    }
    if let Some(decline) = &offer.spec.decline {
        let seconds = decline.refuse_seconds.unwrap_or(refuse_seconds);
        next.state = OfferState::Declined;
        next.filter_until = Some(Time(
            now.checked_add(SignedDuration::from_secs(i64::from(seconds)))
                .unwrap_or(now),
        ));
    } else if !next.tasks.is_empty() || offer.annotations().contains_key(LAUNCHING_ANNOTATION) {
        // Launched on, or named by a scheduler-API ACCEPT whose tasks are being created:
        // consumed (no longer outstanding, so neither rescinded nor re-offered).
        next.state = OfferState::Accepted;
        next.accepted_at = current.accepted_at.or(Some(Time(now)));
    }
    next
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
    let next = decide(
        offer,
        &ctx.tasks_on_offer(&ns, &offer.name_any()),
        refuse,
        now,
    );
    if next != current {
        ctx.apply_status(offer, &next).await?;
        if next.state == OfferState::Accepted && current.state != OfferState::Accepted {
            ctx.metrics.offer(
                &ns,
                &offer.spec.framework,
                crate::runtime::metrics::OfferOutcome::Accepted,
            );
        }
        if next.state == OfferState::Declined && current.state != OfferState::Declined {
            ctx.metrics.offer(
                &ns,
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
        ctx.allocation_wakeup.notify_one();
    }
    if next.state == OfferState::Accepted
        && let Some(at) = &next.accepted_at
    {
        let release =
            at.0.checked_add(SignedDuration::try_from(ACCEPT_WINDOW).unwrap_or_default())
                .unwrap_or(at.0);
        // Tasks the framework created on the offer within the window are launched on it
        // even when the operator reaches them later (a batch of a hundred, a busy
        // operator): the offer stays until each of them has a pod or a verdict, for at
        // most ACCEPT_HOLD past the window.
        // A scheduler-API ACCEPT says how many tasks it is creating on the offer
        // (LAUNCHING_ANNOTATION): the offer waits for all of them, however long their
        // creation takes (within ACCEPT_HOLD).
        let expected: usize = offer
            .annotations()
            .get(LAUNCHING_ANNOTATION)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let tasks = ctx.tasks_on_offer(&ns, &offer.name_any());
        let undecided = tasks.len() < expected
            || tasks.iter().any(|t| {
                t.status
                    .as_ref()
                    .is_none_or(|s| s.pod.is_none() && !s.state.is_some_and(|st| st.is_terminal()))
                    && (expected > 0
                        || t.metadata
                            .creation_timestamp
                            .as_ref()
                            .is_none_or(|c| c.0 <= release))
            });
        let hold_until = release
            .checked_add(SignedDuration::try_from(ACCEPT_HOLD).unwrap_or_default())
            .unwrap_or(release);
        if release <= now && undecided && now < hold_until {
            return Ok(Action::requeue(Duration::from_millis(200)));
        }
        if release <= now {
            ctx.delete_offer(
                &ns,
                &offer.name_any(),
                "releasing the remainder of an accepted offer",
            )
            .await?;
            ctx.allocation_wakeup.notify_one();
            return Ok(Action::await_change());
        }
        let wait = release.duration_since(now).unsigned_abs();
        return Ok(Action::requeue(wait.max(Duration::from_millis(100))));
    }
    Ok(Action::await_change())
}
