//! A Framework's status, decided (pure): task counts and allocated resources, outstanding
//! offers and the dominant share, registration, reconciliation answers, and liveness
//! (Connected, failover, teardown) from its scheduler's Lease. The reconciler
//! (`master::reconcile::framework`) reads the caches, calls [`plan_status`] and writes
//! what it returns.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;

use crate::api::condition::{ConditionStatus, Conditions};
use crate::api::framework::FrameworkCondition;
use crate::api::{Framework, FrameworkStatus, Offer, OfferState, Resources, Task, TaskCounts};
use crate::master::lifecycle::{self, Liveness};
use crate::master::planned_event::PlannedEvent;

/// What the decision reads: the framework and what the caches hold about it.
pub struct FrameworkWorld<'a> {
    /// The framework.
    pub framework: &'a Framework,
    /// Its tasks.
    pub tasks: Vec<&'a Task>,
    /// Its offers (any state).
    pub offers: Vec<&'a Offer>,
    /// The allocatable resources of every agent (the dominant share's denominator).
    pub cluster_total: Resources,
    /// Its scheduler's Lease, if one exists.
    pub lease: Option<&'a Lease>,
    /// The time.
    pub now: Timestamp,
}

/// What the reconciler writes, in this order.
#[derive(Debug, PartialEq)]
pub struct FrameworkPlan {
    /// REVIVE (suppressed → not suppressed): clear the framework's decline filters.
    pub revive: bool,
    /// The new status, when it differs from the stored one.
    pub status: Option<FrameworkStatus>,
    /// Events of the transitions the new status records (only with a new status).
    pub events: Vec<PlannedEvent>,
    /// Lines for the log with the new status.
    pub log: Vec<String>,
    /// Whether the allocator must look again (a scheduler left or came back).
    pub wake_allocation: bool,
    /// When liveness next changes by itself (a Lease expiring, a failover timeout).
    pub requeue_after: Option<Duration>,
}

impl FrameworkPlan {
    /// When to reconcile again.
    pub fn action(&self) -> Action {
        self.requeue_after
            .map_or_else(Action::await_change, Action::requeue)
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
            allocated = allocated.saturating_add(&task.spec.resources);
        }
    }
    (counts, allocated)
}

/// Offers the framework holds (outstanding or accepted) and what they have left.
fn held_offers(offers: &[&Offer]) -> (u32, Resources) {
    offers
        .iter()
        .filter(|o| {
            o.status
                .as_ref()
                .is_none_or(|s| matches!(s.state, OfferState::Outstanding | OfferState::Accepted))
        })
        .fold((0, Resources::default()), |(n, sum), offer| {
            let remaining = offer
                .status
                .as_ref()
                .map_or(&offer.spec.resources, |s| &s.remaining);
            (n + 1, sum.saturating_add(remaining))
        })
}

/// The framework's status and what to write, from what the caches hold.
pub fn plan_status(world: &FrameworkWorld<'_>) -> FrameworkPlan {
    let fw = world.framework;
    let name = fw.name_any();
    let (counts, allocated) = tally(world.tasks.iter().copied());
    let current = fw.status.clone().unwrap_or_default();
    let now = Time(world.now);
    let generation = fw.metadata.generation;
    let id = fw.uid().unwrap_or_default();
    let (offers, offered) = held_offers(&world.offers);
    let held = allocated.saturating_add(&offered);
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
        offers,
        offered,
        // Two decimals are plenty and keep the status from changing on float noise.
        dominant_share_percent: (held.dominant_share(&world.cluster_total) * 10_000.0).round()
            / 100.0,
        suppressed: fw.spec.offers.suppressed,
        allocated,
    };
    next.conditions.set(
        FrameworkCondition::Registered,
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
            world.tasks.iter().copied(),
            world.now,
        ));
    }
    let was_torn_down = current.conditions.is_true(FrameworkCondition::TornDown);
    let last_expiry = current.lease_expires_at.as_ref().map(|t| t.0);
    let live = lifecycle::liveness(fw, world.lease, last_expiry, was_torn_down, world.now);
    next.lease_expires_at = world
        .lease
        .and_then(lifecycle::lease_expiry)
        .or(last_expiry)
        .map(Time);
    set_liveness_conditions(&mut next, fw, &name, live, &now);
    let requeue_after = live.next_change().map(|at| {
        at.duration_since(world.now)
            .unsigned_abs()
            .max(Duration::from_millis(200))
    });
    let revive = current.suppressed && !fw.spec.offers.suppressed;
    if next == current {
        return FrameworkPlan {
            revive,
            status: None,
            events: Vec::new(),
            log: Vec::new(),
            wake_allocation: false,
            requeue_after,
        };
    }
    let (mut events, wake_allocation) = liveness_events(fw, &current, live, was_torn_down);
    let mut log: Vec<String> = matches!(live, Liveness::TornDown if !was_torn_down)
        .then(|| "failover timeout passed: framework torn down".to_string())
        .into_iter()
        .collect();
    if !current.conditions.is_true(FrameworkCondition::Registered) {
        log.push(format!("framework registered with id {id}"));
        events.push(PlannedEvent::normal(
            "Registered",
            format!("framework registered with id {id}"),
            "Register",
        ));
    }
    FrameworkPlan {
        revive,
        status: Some(next),
        events,
        log,
        wake_allocation,
        requeue_after,
    }
}

/// `Connected` (and `TornDown` once torn down) for the framework's liveness.
fn set_liveness_conditions(
    next: &mut FrameworkStatus,
    fw: &Framework,
    name: &str,
    live: Liveness,
    now: &Time,
) {
    let generation = fw.metadata.generation;
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
                lifecycle::lease_name(name)
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
        FrameworkCondition::Connected,
        connected,
        reason,
        &message,
        generation,
        now,
    );
    if live == Liveness::TornDown {
        next.conditions.set(
            FrameworkCondition::TornDown,
            ConditionStatus::True,
            "FailoverTimeout",
            &format!(
                "no scheduler within failoverTimeout ({}): every task killed",
                fw.spec.failover_timeout
            ),
            generation,
            now,
        );
    }
}

/// The Events of a liveness transition, and whether the allocator must look again.
fn liveness_events(
    fw: &Framework,
    current: &FrameworkStatus,
    live: Liveness,
    was_torn_down: bool,
) -> (Vec<PlannedEvent>, bool) {
    let was_connected = current
        .conditions
        .get_condition(FrameworkCondition::Connected)
        .is_none_or(|c| c.status != "False");
    let event = match live {
        Liveness::TornDown if !was_torn_down => PlannedEvent::warning(
            "TornDown",
            format!(
                "no scheduler within failoverTimeout {}: framework torn down, its tasks are killed",
                fw.spec.failover_timeout
            ),
            "Teardown",
        ),
        Liveness::Disconnected { teardown_at, .. } if was_connected => PlannedEvent::warning(
            "Disconnected",
            format!(
                "scheduler Lease expired: offers rescinded; tasks keep running until {teardown_at}"
            ),
            "Disconnect",
        ),
        Liveness::Connected { .. } if !was_connected => PlannedEvent::normal(
            "Reconnected",
            "scheduler Lease renewed within failoverTimeout".to_string(),
            "Reconnect",
        ),
        _ => return (Vec::new(), false),
    };
    (vec![event], true)
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

    fn framework(kind: &str, failover: &str, suppressed: bool) -> Framework {
        let spec: crate::api::FrameworkSpec = serde_json::from_value(serde_json::json!({
            "scheduler": kind, "failoverTimeout": failover, "offers": {"suppressed": suppressed},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let mut fw = Framework::new("fw", spec);
        fw.metadata.namespace = Some("ns".into());
        fw.metadata.uid = Some("uid-1".into());
        fw.metadata.generation = Some(3);
        fw
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn lease(renewed: i64, duration: i32) -> Lease {
        use k8s_openapi::api::coordination::v1::LeaseSpec;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
        Lease {
            spec: Some(LeaseSpec {
                renew_time: Some(MicroTime(at(renewed))),
                lease_duration_seconds: Some(duration),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn world<'a>(
        fw: &'a Framework,
        tasks: &'a [Task],
        lease: Option<&'a Lease>,
        now: i64,
    ) -> FrameworkWorld<'a> {
        FrameworkWorld {
            framework: fw,
            tasks: tasks.iter().collect(),
            offers: Vec::new(),
            cluster_total: serde_json::from_str(r#"{"cpus": 10, "mem": 1024}"#).unwrap_or_default(),
            lease,
            now: at(now),
        }
    }

    #[test]
    fn a_new_framework_is_registered_once_with_one_event() {
        let mut fw = framework("Builtin", "60s", false);
        let tasks = [task(Some(TaskState::Running), true, "2")];
        let plan = plan_status(&world(&fw, &tasks, None, 100));
        let status = plan.status.clone().unwrap_or_default();
        assert!(status.conditions.is_true(FrameworkCondition::Registered));
        assert_eq!(status.framework_id.as_deref(), Some("uid-1"));
        assert_eq!(status.observed_generation, Some(3));
        assert_eq!((status.tasks.running, status.allocated.cpus.0), (1, 2000));
        assert!((status.dominant_share_percent - 20.0).abs() < 1e-9);
        let reasons: Vec<_> = plan.events.iter().map(|e| e.reason).collect();
        assert_eq!(reasons, ["Registered"]);
        assert!(!plan.revive && !plan.wake_allocation);
        assert_eq!(plan.requeue_after, None);
        // The stored status is the plan's: nothing to write, no Event again.
        fw.status = plan.status;
        let again = plan_status(&world(&fw, &tasks, None, 200));
        assert_eq!(again.status, None);
        assert!(again.events.is_empty());
    }

    #[test]
    fn unsuppressing_revives_before_anything_else() {
        let mut fw = framework("External", "60s", true);
        fw.status = plan_status(&world(&fw, &[], None, 0)).status;
        fw.spec.offers.suppressed = false;
        let plan = plan_status(&world(&fw, &[], None, 10));
        assert!(plan.revive);
        assert_eq!(plan.status.map(|s| s.suppressed), Some(false));
    }

    #[test]
    fn an_expired_lease_disconnects_once_then_tears_down_at_the_failover_timeout() {
        let mut fw = framework("External", "30s", false);
        let renewed = lease(0, 10);
        // Connected: requeued for when the Lease expires.
        let connected = plan_status(&world(&fw, &[], Some(&renewed), 5));
        assert_eq!(connected.requeue_after, Some(Duration::from_secs(5)));
        fw.status = connected.status;
        // Expired: Disconnected, one Warning, the allocator told (offers are rescinded).
        let expired = plan_status(&world(&fw, &[], Some(&renewed), 12));
        let status = expired.status.clone().unwrap_or_default();
        let connected_condition = status
            .conditions
            .get_condition(FrameworkCondition::Connected);
        assert_eq!(
            connected_condition.map(|c| c.reason.as_str()),
            Some("LeaseExpired")
        );
        assert_eq!(
            expired.events.iter().map(|e| e.reason).collect::<Vec<_>>(),
            ["Disconnected"]
        );
        assert!(expired.wake_allocation);
        fw.status = expired.status;
        // Past the failover timeout: torn down, one Warning, never again.
        let torn = plan_status(&world(&fw, &[], Some(&renewed), 45));
        let status = torn.status.clone().unwrap_or_default();
        assert!(status.conditions.is_true(FrameworkCondition::TornDown));
        assert_eq!(
            torn.events.iter().map(|e| e.reason).collect::<Vec<_>>(),
            ["TornDown"]
        );
        fw.status = torn.status;
        let later = plan_status(&world(&fw, &[], Some(&renewed), 90));
        assert!(later.events.is_empty());
    }
}
