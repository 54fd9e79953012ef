//! Framework liveness, failover and teardown: a pure function of the framework, its
//! scheduler's Lease and the time.
//!
//! An External framework's scheduler proves it is alive by renewing a
//! `coordination.k8s.io/v1` Lease named [`lease_name`] (`<framework>-scheduler`) in the
//! framework's namespace. Liveness is opt-in: until a Lease has been seen the framework
//! counts as connected (so simple schedulers need not run one). Once seen:
//!
//! - lease valid (renewTime + leaseDurationSeconds in the future) → `Connected`;
//! - expired or deleted → disconnected since it expired: offers rescinded, tasks keep
//!   running (Mesos failover);
//! - still disconnected `failoverTimeout` after it expired → torn down: every task killed,
//!   for good (a torn-down framework never reconnects, as in Mesos).
//!
//! The decision depends only on stored times (the Lease's, and `status.leaseExpiresAt`
//! for a Lease that was deleted), so it survives operator restarts — unlike Mesos'
//! MESOS-4659. Builtin frameworks are always connected.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::framework::{ReconcileRequest, ReconciledTask, ReconciliationAnswer};
use crate::api::{
    Framework, FrameworkCapability, SchedulerKind, Task, TaskReason, TaskSource, TaskState,
};

/// Finalizer that makes deleting a Framework tear it down in order.
pub const FINALIZER: &str = "mesos.operator.dev/teardown";

/// The name of the Lease an External framework's scheduler renews.
pub fn lease_name(framework: &str) -> String {
    format!("{framework}-scheduler")
}

/// A framework's liveness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// Builtin, or an External framework that never used a Lease.
    AlwaysConnected,
    /// The Lease is valid until `expires_at`.
    Connected {
        /// When the Lease expires unless renewed.
        expires_at: Timestamp,
    },
    /// The Lease expired at `since`; the framework is torn down at `teardown_at`.
    Disconnected {
        /// When the Lease expired.
        since: Timestamp,
        /// `since` + failoverTimeout.
        teardown_at: Timestamp,
    },
    /// Torn down (failover timeout passed, or already torn down before).
    TornDown,
}

impl Liveness {
    /// Whether the framework may receive offers and launch tasks.
    pub fn is_connected(self) -> bool {
        matches!(self, Self::AlwaysConnected | Self::Connected { .. })
    }

    /// When the liveness changes next without any event (for a requeue).
    pub fn next_change(self) -> Option<Timestamp> {
        match self {
            Self::Connected { expires_at } => Some(expires_at),
            Self::Disconnected { teardown_at, .. } => Some(teardown_at),
            _ => None,
        }
    }
}

/// When a Lease expires: renewTime (or acquireTime) + leaseDurationSeconds.
pub fn lease_expiry(lease: &Lease) -> Option<Timestamp> {
    let spec = lease.spec.as_ref()?;
    let renewed = spec.renew_time.as_ref().or(spec.acquire_time.as_ref())?.0;
    let seconds = i64::from(spec.lease_duration_seconds.unwrap_or(0).max(0));
    renewed.checked_add(SignedDuration::from_secs(seconds)).ok()
}

/// Decides a framework's liveness. `torn_down` is what the status already says (final);
/// `last_expiry` is the Lease expiry recorded in status (`status.leaseExpiresAt`).
pub fn liveness(
    framework: &Framework,
    lease: Option<&Lease>,
    last_expiry: Option<Timestamp>,
    torn_down: bool,
    now: Timestamp,
) -> Liveness {
    if framework.spec.scheduler == SchedulerKind::Builtin {
        return Liveness::AlwaysConnected;
    }
    if torn_down {
        return Liveness::TornDown;
    }
    let Some(expires_at) = lease.and_then(lease_expiry).or(last_expiry) else {
        return Liveness::AlwaysConnected;
    };
    if now < expires_at {
        return Liveness::Connected { expires_at };
    }
    let failover: std::time::Duration = framework.spec.failover_timeout.into();
    let failover = SignedDuration::try_from(failover).unwrap_or(SignedDuration::MAX);
    let teardown_at = expires_at.checked_add(failover).unwrap_or(Timestamp::MAX);
    if now >= teardown_at {
        Liveness::TornDown
    } else {
        Liveness::Disconnected {
            since: expires_at,
            teardown_at,
        }
    }
}

/// Answers a reconciliation request (Mesos RECONCILE) from the tasks the operator knows:
/// each named task's latest state; a name it never knew is TASK_UNKNOWN for
/// partition-aware frameworks and TASK_LOST for the others. No names: every task of the
/// framework (implicit reconciliation). Entries carry REASON_RECONCILIATION and
/// SOURCE_MASTER, in the order asked (by name when implicit).
pub fn answer_reconciliation<'a>(
    framework: &Framework,
    request: &ReconcileRequest,
    tasks: impl IntoIterator<Item = &'a Task>,
    now: Timestamp,
) -> ReconciliationAnswer {
    let name = framework.metadata.name.as_deref().unwrap_or_default();
    let ns = framework.metadata.namespace.as_deref();
    let mine: BTreeMap<&str, &Task> = tasks
        .into_iter()
        .filter(|t| t.spec.framework == name && t.metadata.namespace.as_deref() == ns)
        .filter_map(|t| Some((t.metadata.name.as_deref()?, t)))
        .collect();
    let entry = |task_name: &str| -> ReconciledTask {
        match mine.get(task_name) {
            Some(t) => {
                let status = t.status.clone().unwrap_or_default();
                ReconciledTask {
                    name: task_name.to_string(),
                    state: status.state.unwrap_or(TaskState::Staging),
                    reason: TaskReason::ReasonReconciliation,
                    source: TaskSource::Master,
                    agent: status.agent,
                    message: status.message,
                }
            }
            None => ReconciledTask {
                name: task_name.to_string(),
                state: if framework.has_capability(FrameworkCapability::PartitionAware) {
                    TaskState::Unknown
                } else {
                    TaskState::Lost
                },
                reason: TaskReason::ReasonReconciliation,
                source: TaskSource::Master,
                agent: None,
                message: Some("the operator does not know this task".to_string()),
            },
        }
    };
    let tasks = if request.tasks.is_empty() {
        mine.keys().map(|n| entry(n)).collect()
    } else {
        request.tasks.iter().map(|n| entry(n)).collect()
    };
    ReconciliationAnswer {
        id: request.id.clone(),
        answered_at: Some(Time(now)),
        tasks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::FrameworkSpec;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn framework(kind: SchedulerKind, failover: &str) -> Framework {
        let spec: FrameworkSpec = serde_json::from_value(
            serde_json::json!({"scheduler": kind, "failoverTimeout": failover}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        Framework::new("fw", spec)
    }

    fn lease(renewed: i64, duration: i32) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                renew_time: Some(MicroTime(at(renewed))),
                lease_duration_seconds: Some(duration),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn reconciliation_answers_known_and_unknown_tasks() {
        let mut fw = framework(SchedulerKind::Builtin, "10s");
        fw.metadata.namespace = Some("ns".into());
        let mut known = crate::api::Task::new(
            "known",
            serde_json::from_value(serde_json::json!({
                "framework": "fw", "resources": {"cpus": 1, "mem": 1}, "command": {"shell": "x"}
            }))
            .unwrap_or_else(|e| panic!("{e}")),
        );
        known.metadata.namespace = Some("ns".into());
        known.status = Some(crate::api::TaskStatus {
            state: Some(TaskState::Running),
            agent: Some("n1".into()),
            ..Default::default()
        });
        let mut other_ns = known.clone();
        other_ns.metadata.namespace = Some("elsewhere".into());
        let request = ReconcileRequest {
            id: "1".into(),
            tasks: vec!["known".into(), "ghost".into()],
        };
        let answer = answer_reconciliation(&fw, &request, [&known, &other_ns], at(5));
        let states: Vec<(String, TaskState)> = answer
            .tasks
            .iter()
            .map(|t| (t.name.clone(), t.state))
            .collect();
        assert_eq!(
            states,
            vec![
                ("known".to_string(), TaskState::Running),
                ("ghost".to_string(), TaskState::Lost)
            ]
        );
        assert!(answer.tasks.iter().all(
            |t| t.reason == TaskReason::ReasonReconciliation && t.source == TaskSource::Master
        ));
        assert_eq!(answer.tasks[0].agent.as_deref(), Some("n1"));
        fw.spec
            .capabilities
            .push(FrameworkCapability::PartitionAware);
        let answer = answer_reconciliation(&fw, &request, [&known], at(5));
        assert_eq!(answer.tasks[1].state, TaskState::Unknown);
        let implicit = ReconcileRequest {
            id: "2".into(),
            tasks: vec![],
        };
        let answer = answer_reconciliation(&fw, &implicit, [&known, &other_ns], at(6));
        assert_eq!(answer.tasks.len(), 1);
        assert_eq!(answer.id, "2");
    }

    #[test]
    fn builtin_is_always_connected() {
        let fw = framework(SchedulerKind::Builtin, "10s");
        assert_eq!(
            liveness(&fw, Some(&lease(0, 1)), None, true, at(1000)),
            Liveness::AlwaysConnected
        );
    }

    #[test]
    fn external_without_a_lease_ever_is_connected() {
        let fw = framework(SchedulerKind::External, "10s");
        assert_eq!(
            liveness(&fw, None, None, false, at(1000)),
            Liveness::AlwaysConnected
        );
    }

    #[test]
    fn lease_valid_expired_then_torn_down() {
        let fw = framework(SchedulerKind::External, "60s");
        let l = lease(100, 15);
        assert_eq!(
            liveness(&fw, Some(&l), None, false, at(110)),
            Liveness::Connected {
                expires_at: at(115)
            }
        );
        assert_eq!(
            liveness(&fw, Some(&l), None, false, at(120)),
            Liveness::Disconnected {
                since: at(115),
                teardown_at: at(175)
            }
        );
        assert_eq!(
            liveness(&fw, Some(&l), None, false, at(175)),
            Liveness::TornDown
        );
        // Renewed in time: connected again.
        assert!(liveness(&fw, Some(&lease(170, 15)), None, false, at(171)).is_connected());
    }

    #[test]
    fn a_deleted_lease_counts_from_the_recorded_expiry_and_teardown_is_final() {
        let fw = framework(SchedulerKind::External, "30s");
        assert_eq!(
            liveness(&fw, None, Some(at(50)), false, at(60)),
            Liveness::Disconnected {
                since: at(50),
                teardown_at: at(80)
            }
        );
        assert_eq!(
            liveness(&fw, None, Some(at(50)), false, at(80)),
            Liveness::TornDown
        );
        assert_eq!(
            liveness(&fw, Some(&lease(1000, 15)), None, true, at(1001)),
            Liveness::TornDown
        );
    }
}
