//! When an instance counts as ready for deployments: healthy, its readiness check passed
//! (if it has one), and `minReadySeconds` elapsed since both.
//!
//! Marathon: a readiness check (HTTP on a named port) gates deployments, "an instance is
//! ready once its readiness check returns one of `httpStatusCodesForReady`"; it is checked
//! until it first passes (readiness-checks.md). Kubernetes adds `minReadySeconds`: ready
//! only after that long without interruption. Here the check's result is a signal the
//! controller reads (the Pod's startup probe, `containerStatuses[].started`) and the time it
//! first passed; `minReadySeconds` counts from the later of the instance's start and that
//! time.

use jiff::Timestamp;

use super::time::plus_secs;

/// An app's readiness settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadinessPolicy {
    /// Seconds an instance must have been running and ready before it counts.
    pub min_ready_seconds: u32,
    /// Whether the app has a readiness check (then it must have passed).
    pub checked: bool,
}

/// What the controller saw of one instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadinessObservation {
    /// Running and healthy (its health check passes, or it has none).
    pub healthy: bool,
    /// Since when it runs, if known.
    pub running_since: Option<Timestamp>,
    /// When its readiness check passed, if it did (ignored without a check).
    pub check_passed_at: Option<Timestamp>,
}

/// The verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadinessVerdict {
    /// It counts as ready now.
    pub ready: bool,
    /// Not ready yet, but will be at this time if nothing changes (when to look again).
    pub ready_at: Option<Timestamp>,
}

/// Whether an instance is ready at `now`, and if not, when it will be.
pub fn readiness(
    policy: &ReadinessPolicy,
    seen: &ReadinessObservation,
    now: Timestamp,
) -> ReadinessVerdict {
    let not_ready = ReadinessVerdict {
        ready: false,
        ready_at: None,
    };
    if !seen.healthy {
        return not_ready;
    }
    if policy.min_ready_seconds == 0 && !policy.checked {
        return ReadinessVerdict {
            ready: true,
            ready_at: None,
        };
    }
    let since = if policy.checked {
        match seen.check_passed_at {
            None => return not_ready,
            Some(passed) => Some(seen.running_since.map_or(passed, |r| r.max(passed))),
        }
    } else {
        seen.running_since
    };
    match since.map(|t| plus_secs(t, u64::from(policy.min_ready_seconds))) {
        Some(at) if now >= at => ReadinessVerdict {
            ready: true,
            ready_at: None,
        },
        at => ReadinessVerdict {
            ready: false,
            ready_at: at,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn without_a_check_a_healthy_instance_is_ready_after_min_ready_seconds() {
        let policy = ReadinessPolicy {
            min_ready_seconds: 5,
            checked: false,
        };
        let seen = ReadinessObservation {
            healthy: true,
            running_since: Some(at(100)),
            check_passed_at: None,
        };
        assert_eq!(
            readiness(&policy, &seen, at(103)),
            ReadinessVerdict {
                ready: false,
                ready_at: Some(at(105))
            }
        );
        assert!(readiness(&policy, &seen, at(105)).ready);
        let unhealthy = ReadinessObservation {
            healthy: false,
            ..seen
        };
        assert_eq!(
            readiness(&policy, &unhealthy, at(1000)),
            ReadinessVerdict::default()
        );
    }

    #[test]
    fn a_check_that_has_not_passed_keeps_it_not_ready_with_no_wake_up() {
        let policy = ReadinessPolicy {
            min_ready_seconds: 0,
            checked: true,
        };
        let seen = ReadinessObservation {
            healthy: true,
            running_since: Some(at(100)),
            check_passed_at: None,
        };
        assert_eq!(
            readiness(&policy, &seen, at(10_000)),
            ReadinessVerdict::default()
        );
        let passed = ReadinessObservation {
            check_passed_at: Some(at(130)),
            ..seen
        };
        assert!(readiness(&policy, &passed, at(130)).ready);
    }

    #[test]
    fn min_ready_seconds_count_from_when_the_check_passed() {
        let policy = ReadinessPolicy {
            min_ready_seconds: 10,
            checked: true,
        };
        let seen = ReadinessObservation {
            healthy: true,
            running_since: Some(at(100)),
            check_passed_at: Some(at(130)),
        };
        assert_eq!(readiness(&policy, &seen, at(135)).ready_at, Some(at(140)));
        assert!(!readiness(&policy, &seen, at(139)).ready);
        assert!(readiness(&policy, &seen, at(140)).ready);
    }

    proptest! {
        /// Ready implies healthy and (with a check) a passed check; a passed check never
        /// makes an instance ready earlier than minReadySeconds after it; once ready it
        /// stays ready as time goes on; a promised `ready_at` is kept.
        #[test]
        fn readiness_is_monotone_and_gated(
            min_ready in 0u32..100,
            checked in any::<bool>(),
            healthy in any::<bool>(),
            running in prop::option::of(0i64..1000),
            passed in prop::option::of(0i64..1000),
            now in 0i64..2000,
            later in 0i64..500,
        ) {
            let policy = ReadinessPolicy { min_ready_seconds: min_ready, checked };
            let seen = ReadinessObservation {
                healthy,
                running_since: running.map(at),
                check_passed_at: passed.map(at),
            };
            let v = readiness(&policy, &seen, at(now));
            if v.ready {
                prop_assert!(healthy);
                if checked {
                    prop_assert!(passed.is_some_and(|p| now >= p + i64::from(min_ready)));
                }
                prop_assert!(readiness(&policy, &seen, at(now + later)).ready);
                prop_assert!(v.ready_at.is_none());
            }
            if let Some(t) = v.ready_at {
                prop_assert!(t > at(now));
                prop_assert!(readiness(&policy, &seen, t).ready);
            }
            if !healthy || (checked && passed.is_none()) {
                prop_assert_eq!(v, ReadinessVerdict::default());
            }
        }
    }
}
