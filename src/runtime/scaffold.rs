//! What every reconciler shares, written once: a span and a duration sample per
//! reconcile, backoff that resets on success, a short requeue for a stale cache (409) or
//! a vanished object (404), and an error policy by [`ErrorCategory`]: transient failures
//! back off exponentially, permanent ones wait for a change of the object (or the
//! periodic resync) instead of retrying a write that will fail the same way.
//!
//! A controller implements [`Reconciled`] for its kind and wraps its body:
//!
//! ```ignore
//! async fn reconcile(task: Arc<Task>, ctx: Arc<Context>) -> Result<Action> {
//!     scaffold::reconcile(&*task, &ctx, reconcile_task(&task, &ctx)).await
//! }
//! fn error_policy(task: Arc<Task>, error: &Error, ctx: Arc<Context>) -> Action {
//!     scaffold::error_policy(&*task, error, &ctx)
//! }
//! ```

use std::future::Future;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use tracing::{Instrument, debug, info_span, warn};

use super::{Context, key_of};
use crate::api::{Framework, Offer, ResourceRole, Task};
use crate::error::{Error, ErrorCategory, Result};

/// A kind with a reconciler.
pub trait Reconciled: Resource<DynamicType = ()> {
    /// The `controller` label of the reconcile metrics.
    const CONTROLLER: &'static str;
    /// How soon to look again after a conflict or a 404: the watch usually brings the
    /// newer object (and another reconcile) first.
    const STALE_REQUEUE: Duration = Duration::from_millis(500);
}

impl Reconciled for Task {
    const CONTROLLER: &'static str = "task";
}

impl Reconciled for Framework {
    const CONTROLLER: &'static str = "framework";
}

impl Reconciled for Offer {
    const CONTROLLER: &'static str = "offer";
}

impl Reconciled for ResourceRole {
    const CONTROLLER: &'static str = "role";
}

/// Runs one reconcile of `obj` (the future `body`) in its span, timed; a success resets
/// the object's backoff.
pub async fn reconcile<K, F>(obj: &K, ctx: &Context, body: F) -> Result<Action>
where
    K: Reconciled,
    F: Future<Output = Result<Action>>,
{
    let _timer = ctx.metrics.reconcile(K::CONTROLLER);
    let span = info_span!(
        "reconcile",
        kind = %K::kind(&()),
        namespace = %obj.namespace().unwrap_or_default(),
        name = %obj.name_any()
    );
    match body.instrument(span).await {
        Ok(action) => {
            ctx.reset_backoff(&key_of(obj));
            Ok(action)
        }
        // Computed from a cached copy older than the server's, or the object went away
        // meanwhile: not a failure.
        Err(e)
            if matches!(
                e.category(),
                ErrorCategory::Conflict | ErrorCategory::NotFound
            ) =>
        {
            debug!(kind = %K::kind(&()), name = %obj.name_any(), error = %e, "stale object in cache; looking again shortly");
            Ok(Action::requeue(K::STALE_REQUEUE))
        }
        Err(e) => Err(e),
    }
}

/// What a failed reconcile does next, by the error's category; counted with it.
pub fn error_policy<K: Reconciled>(obj: &K, error: &Error, ctx: &Context) -> Action {
    let category = error.category();
    ctx.metrics
        .reconcile_error(K::CONTROLLER, category.as_str());
    if category.is_permanent() {
        warn!(
            kind = %K::kind(&()),
            namespace = ?obj.namespace(),
            name = %obj.name_any(),
            error = %error,
            category = category.as_str(),
            "reconcile failed; retrying on the next change of the object (or the resync)"
        );
        return Action::await_change();
    }
    let delay = ctx.backoff(key_of(obj));
    warn!(
        kind = %K::kind(&()),
        namespace = ?obj.namespace(),
        name = %obj.name_any(),
        error = %error,
        category = category.as_str(),
        retry_in = ?delay,
        "reconcile failed"
    );
    Action::requeue(delay)
}
