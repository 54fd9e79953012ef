//! An Offer's status, decided (pure): its answer (declined, accepted) and what remains of it.
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

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;

use crate::api::{Offer, OfferState, OfferStatus, Task};

/// Annotation on an Offer: how many Tasks an ACCEPT of the scheduler API is creating on
/// it (the offer is kept until they all exist and are launched or refused).
pub const LAUNCHING_ANNOTATION: &str = "mesos.operator.dev/launching";

/// How long an accepted offer's remainder stays with the framework for more launches.
pub const ACCEPT_WINDOW: Duration = Duration::from_secs(1);

/// How long past [`ACCEPT_WINDOW`] an accepted offer waits for the tasks created on it
/// within the window that the operator has not launched yet.
pub const ACCEPT_HOLD: Duration = Duration::from_secs(30);

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
    let remaining = crate::master::reconcile::allocation::offer_remaining(offer, tasks);
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

/// What becomes of an offer once its status is `next`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// Nothing to do until it changes (not accepted).
    Keep,
    /// Look again after this long (the accept window is open, or launches are pending).
    WaitFor(Duration),
    /// Remove it: its remainder goes back to the pool.
    Remove,
}

/// Whether an accepted offer is released, given the tasks on it and `now`.
///
/// Tasks the framework created on the offer within the window are launched on it even
/// when the operator reaches them later (a batch of a hundred, a busy operator): the
/// offer stays until each of them has a pod or a verdict, for at most [`ACCEPT_HOLD`]
/// past the window. A scheduler-API ACCEPT says how many tasks it is creating on the
/// offer ([`LAUNCHING_ANNOTATION`]): the offer waits for all of them, however long their
/// creation takes (within [`ACCEPT_HOLD`]).
pub fn release(offer: &Offer, tasks: &[Arc<Task>], next: &OfferStatus, now: Timestamp) -> Release {
    let (OfferState::Accepted, Some(at)) = (next.state, &next.accepted_at) else {
        return Release::Keep;
    };
    let release =
        at.0.checked_add(SignedDuration::try_from(ACCEPT_WINDOW).unwrap_or_default())
            .unwrap_or(at.0);
    if now < release {
        let wait = release.duration_since(now).unsigned_abs();
        return Release::WaitFor(wait.max(Duration::from_millis(100)));
    }
    let expected: usize = offer
        .annotations()
        .get(LAUNCHING_ANNOTATION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
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
    if undecided && now < hold_until {
        Release::WaitFor(Duration::from_millis(200))
    } else {
        Release::Remove
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{OfferSpec, TaskStatus};

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn offer() -> Offer {
        let spec: OfferSpec = serde_json::from_value(serde_json::json!({
            "framework": "fw", "agent": "node-1", "resources": {"cpus": 4, "mem": 1024},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let mut o = Offer::new("o-1", spec);
        o.metadata.namespace = Some("ns".into());
        o
    }

    fn task_on_offer(created: i64, launched: bool) -> Arc<Task> {
        let mut t: Task = serde_json::from_value(serde_json::json!({
            "apiVersion": "mesos.operator.dev/v1alpha1", "kind": "Task",
            "metadata": {"name": "t", "namespace": "ns"},
            "spec": {"framework": "fw", "offer": "o-1", "resources": {"cpus": 1, "mem": 64},
                     "command": {"shell": "true"}},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        t.metadata.creation_timestamp = Some(Time(at(created)));
        t.status = Some(TaskStatus {
            pod: launched.then(|| "pod".to_string()),
            ..Default::default()
        });
        Arc::new(t)
    }

    fn accepted_at(secs: i64) -> OfferStatus {
        OfferStatus {
            state: OfferState::Accepted,
            accepted_at: Some(Time(at(secs))),
            ..Default::default()
        }
    }

    #[test]
    fn an_offer_not_accepted_is_kept() {
        let next = OfferStatus::default();
        assert_eq!(release(&offer(), &[], &next, at(100)), Release::Keep);
    }

    #[test]
    fn an_accepted_offer_waits_out_the_window_then_its_pending_launches_then_goes() {
        let o = offer();
        let next = accepted_at(100);
        // Inside the accept window: look again when it closes.
        assert_eq!(
            release(&o, &[], &next, at(100)),
            Release::WaitFor(ACCEPT_WINDOW)
        );
        // Past it, with a task created in the window and not launched yet: hold.
        let pending = [task_on_offer(100, false)];
        assert_eq!(
            release(&o, &pending, &next, at(102)),
            Release::WaitFor(Duration::from_millis(200))
        );
        // Launched, or held past ACCEPT_HOLD: removed.
        assert_eq!(
            release(&o, &[task_on_offer(100, true)], &next, at(102)),
            Release::Remove
        );
        assert_eq!(release(&o, &pending, &next, at(200)), Release::Remove);
        // A task created after the window does not hold the offer up.
        assert_eq!(
            release(&o, &[task_on_offer(150, false)], &next, at(160)),
            Release::Remove
        );
    }

    #[test]
    fn a_scheduler_api_accept_holds_the_offer_until_every_announced_task_exists() {
        let mut o = offer();
        o.metadata.annotations = Some([(LAUNCHING_ANNOTATION.to_string(), "2".to_string())].into());
        let next = accepted_at(100);
        let one = [task_on_offer(100, true)];
        assert_eq!(
            release(&o, &one, &next, at(105)),
            Release::WaitFor(Duration::from_millis(200))
        );
        let both = [task_on_offer(100, true), task_on_offer(104, true)];
        assert_eq!(release(&o, &both, &next, at(105)), Release::Remove);
    }
}
