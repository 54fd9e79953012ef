//! Deployments: rolling bounds under several strategies, a failing version rolled back at
//! its deadline, pause and resume, the canary step, rollback by number, health kills with
//! a growing backoff, dependencies in order.

use std::time::{Duration, Instant};

use crate::support::TestEnv;
use crate::*;

/// Rolls 10 instances from version 1 to 2 under `strategy` (min health, max over) and
/// checks, at every sample, the healthy minimum and the over-capacity maximum.
async fn rolls_within_bounds(env: &TestEnv, name: &str, min_hc: f64, max_oc: f64) {
    let strategy = format!(
        "  upgradeStrategy: {{minimumHealthCapacity: {min_hc}, maximumOverCapacity: {max_oc}}}\n"
    );
    apply_app(env, &app(name, 10, "serve v1", &strategy)).await;
    wait_app(env, name, T, "version 1 deployed", |a| {
        deployed(a, 1, "Complete")
    })
    .await;
    let min_healthy = (10.0 * min_hc - 1e-9_f64).ceil() as usize;
    let mut max_live = (10.0 * (1.0 + max_oc) + 1e-9_f64).floor() as usize;
    if max_live == min_healthy {
        max_live += 1;
    }
    let sampler = Sampler::start(env, name, min_healthy, max_live);
    apply_app(env, &app(name, 10, "serve v2", &strategy)).await;
    let done = wait_app(env, name, T, "version 2 deployed", |a| {
        deployed(a, 2, "Complete")
    })
    .await;
    // A few more samples of the settled state.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let samples = sampler.finish().await;
    println!(
        "{name} ({min_hc}, {max_oc}): {} samples, fewest available {}, most live {} (bounds {min_healthy}, {max_live})",
        samples.taken, samples.min_available, samples.max_live
    );
    assert!(samples.taken > 10, "too few samples: {samples:?}");
    assert!(
        samples.violations.is_empty(),
        "bounds broken ({min_healthy} available, {max_live} live): {:#?}",
        samples.violations
    );
    let tasks = instances(env, name).await;
    assert_eq!(
        live_by_version(&tasks),
        BTreeMap::from([(2, 10)]),
        "{tasks:?}"
    );
    let status = done.status.clone().unwrap_or_default();
    assert_eq!(status.counts.available, 10);
    assert_eq!(status.stable_version, Some(2));
    assert_eq!(condition(&done, "Available").0, "True");
    assert_eq!(
        condition(&done, "Progressing"),
        ("False".into(), "Complete".into())
    );
    let reasons = env.event_reasons(name).await;
    for reason in ["DeploymentStarted", "DeploymentSucceeded"] {
        assert!(reasons.iter().any(|r| r == reason), "{reason}: {reasons:?}");
    }
}

#[tokio::test]
async fn rolling_deployments_of_10_keep_the_healthy_minimum_and_the_maximum() {
    let env = TestEnv::new("apps-roll").await;
    // Marathon's default: all stay, all may double.
    rolls_within_bounds(&env, "full", 1.0, 1.0).await;
    // Kubernetes-like: 70% kept, 20% over.
    rolls_within_bounds(&env, "partial", 0.7, 0.2).await;
    // No headroom at all: replace in place, half kept.
    rolls_within_bounds(&env, "inplace", 0.5, 0.0).await;
}

#[tokio::test]
async fn a_version_that_never_gets_healthy_fails_at_its_deadline_and_rolls_back() {
    let env = TestEnv::new("apps-rollback").await;
    let strategy = "  upgradeStrategy: {progressDeadlineSeconds: 8, autoRollback: true}\n  healthCheck: {command: [\"true\"], delaySeconds: 0, intervalSeconds: 1, gracePeriodSeconds: 0, consecutiveFailures: 1000}\n";
    apply_app(&env, &app("web", 3, "serve v1", strategy)).await;
    wait_app(&env, "web", T, "version 1 deployed", |a| {
        deployed(a, 1, "Complete")
    })
    .await;
    let broken =
        format!("{strategy}  taskAnnotations: {{kwok.mesos.operator.dev/unhealthy: \"true\"}}\n");
    let sampler = Sampler::start(&env, "web", 3, 7);
    apply_app(&env, &app("web", 3, "serve v2", &broken)).await;
    let rolled = wait_app(&env, "web", T, "rolled back", |a| {
        deployed(a, 2, "RolledBack")
    })
    .await;
    let samples = sampler.finish().await;
    assert!(samples.violations.is_empty(), "{:#?}", samples.violations);
    let d = rolled
        .status
        .as_ref()
        .and_then(|s| s.deployment.clone())
        .unwrap_or_default();
    assert_eq!(d.rolling_back_to, Some(1), "{d:?}");
    assert_eq!(
        condition(&rolled, "Degraded"),
        ("True".into(), "RolledBack".into())
    );
    let tasks = instances(&env, "web").await;
    assert_eq!(
        live_by_version(&tasks),
        BTreeMap::from([(1, 3)]),
        "{tasks:?}"
    );
    // The Events follow the status write (under load, a moment later).
    for reason in ["RollbackStarted", "RolledBack"] {
        env.wait_event("web", reason, T).await;
    }
    assert!(
        d.message.contains("ProgressDeadlineExceeded"),
        "{}",
        d.message
    );
}

#[tokio::test]
async fn pause_resume_canary_and_rollback_by_version() {
    let env = TestEnv::new("apps-canary").await;
    let canary = "  upgradeStrategy: {canaryInstances: 2}\n";
    apply_app(&env, &app("web", 5, "serve v1", canary)).await;
    wait_app(&env, "web", T, "version 1 deployed", |a| {
        deployed(a, 1, "Complete")
    })
    .await;

    // The canary step: 2 of 5 on version 2, the rest stays on version 1 until promoted.
    apply_app(&env, &app("web", 5, "serve v2", canary)).await;
    wait_app(&env, "web", T, "the canary step", |a| {
        deployed(a, 2, "CanaryWaiting")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let tasks = instances(&env, "web").await;
    assert_eq!(
        live_by_version(&tasks),
        BTreeMap::from([(1, 3), (2, 2)]),
        "{tasks:?}"
    );
    annotate(
        &env,
        "web",
        mesos_operator::api::app::ANNOTATION_PROMOTE,
        "2",
    )
    .await;
    wait_app(&env, "web", T, "version 2 deployed", |a| {
        deployed(a, 2, "Complete")
    })
    .await;
    env.wait_event("web", "CanaryPromoted", T).await;

    // Paused from the start: version 3 launches nothing and kills nothing until resumed.
    let paused = "  paused: true\n";
    apply_app(&env, &app("web", 5, "serve v3", paused)).await;
    wait_app(&env, "web", T, "paused", |a| deployed(a, 3, "Paused")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let tasks = instances(&env, "web").await;
    assert_eq!(
        live_by_version(&tasks),
        BTreeMap::from([(2, 5)]),
        "{tasks:?}"
    );
    apply_app(&env, &app("web", 5, "serve v3", "")).await;
    wait_app(&env, "web", T, "version 3 deployed", |a| {
        deployed(a, 3, "Complete")
    })
    .await;
    env.wait_event("web", "DeploymentResumed", T).await;

    // Rollback by number: version 1's spec comes back, and it runs again as version 1.
    annotate(
        &env,
        "web",
        mesos_operator::api::app::ANNOTATION_ROLLBACK_TO,
        "1",
    )
    .await;
    let back = wait_app(&env, "web", T, "version 1 again", |a| {
        deployed(a, 1, "Complete")
    })
    .await;
    assert_eq!(
        back.spec.command.as_ref().and_then(|c| c.shell.as_deref()),
        Some("serve v1")
    );
    assert!(
        !back
            .annotations()
            .contains_key(mesos_operator::api::app::ANNOTATION_ROLLBACK_TO)
    );
    let tasks = instances(&env, "web").await;
    assert_eq!(
        live_by_version(&tasks),
        BTreeMap::from([(1, 5)]),
        "{tasks:?}"
    );
    let versions: Vec<u64> = back
        .status
        .as_ref()
        .map(|s| s.versions.iter().map(|v| v.version).collect())
        .unwrap_or_default();
    assert_eq!(versions, [1, 2, 3]);
    // An unknown version is refused with a Warning, and nothing changes.
    annotate(
        &env,
        "web",
        mesos_operator::api::app::ANNOTATION_ROLLBACK_TO,
        "42",
    )
    .await;
    env.wait_event("web", "UnknownVersion", T).await;
    wait_app(&env, "web", T, "the annotation removed", |a| {
        !a.annotations()
            .contains_key(mesos_operator::api::app::ANNOTATION_ROLLBACK_TO)
            && deployed(a, 1, "Complete")
    })
    .await;
}

#[tokio::test]
async fn health_failures_are_replaced_with_a_growing_backoff() {
    let env = TestEnv::new("apps-health").await;
    let extra = "  healthCheck: {command: [\"true\"], delaySeconds: 0, intervalSeconds: 1, gracePeriodSeconds: 0, consecutiveFailures: 1}\n  \
                 taskAnnotations: {kwok.mesos.operator.dev/unhealthy: \"true\"}\n  \
                 backoff: {backoffSeconds: 1, backoffFactor: 2, maxLaunchDelaySeconds: 60}\n  \
                 upgradeStrategy: {progressDeadlineSeconds: 0}\n";
    apply_app(&env, &app("sick", 1, "serve", extra)).await;
    let mut delays: Vec<f64> = Vec::new();
    let start = Instant::now();
    while delays.len() < 3 && start.elapsed() < T {
        let a = wait_app(&env, "sick", T, "a backoff", |_| true).await;
        let b = a
            .status
            .as_ref()
            .and_then(|s| s.backoff.clone())
            .unwrap_or_default();
        if b.current_delay_seconds > 0.0 && delays.last() != Some(&b.current_delay_seconds) {
            delays.push(b.current_delay_seconds);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("backoff delays seen: {delays:?}");
    assert!(
        delays.len() >= 3,
        "delays: {delays:?}\n{}",
        env.log_tail(30)
    );
    assert!(
        delays.windows(2).all(|w| w[1] > w[0]),
        "the delay must grow: {delays:?}"
    );
    let a = wait_app(&env, "sick", T, "a last failure", |a| {
        a.status
            .as_ref()
            .and_then(|s| s.last_task_failure.as_ref())
            .is_some()
    })
    .await;
    let failure = a
        .status
        .and_then(|s| s.last_task_failure)
        .unwrap_or_default();
    assert_eq!(failure.state, "HealthCheckFailed");
    assert!(failure.task.starts_with("sick-1-"));
    env.wait_event("sick", "HealthCheckFailed", T).await;
    // Never more than the one instance (plus the one being killed) at once.
    let tasks = instances(&env, "sick").await;
    assert!(tasks.values().filter(|t| live(t)).count() <= 2, "{tasks:?}");
}

#[tokio::test]
async fn dependencies_start_in_order() {
    let env = TestEnv::new("apps-deps").await;
    // The dependent first: it waits for its dependency, which does not exist yet.
    apply_app(&env, &app("web", 2, "serve web", "  dependencies: [db]\n")).await;
    let waiting = wait_app(&env, "web", T, "waiting", |a| phase(a) == "Waiting").await;
    let message = waiting
        .status
        .and_then(|s| s.deployment)
        .map(|d| d.message)
        .unwrap_or_default();
    assert!(message.contains("db does not exist"), "{message}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(instances(&env, "web").await.is_empty());

    apply_app(&env, &app("db", 2, "serve db", "")).await;
    let db = wait_app(&env, "db", T, "db deployed", |a| deployed(a, 1, "Complete")).await;
    wait_app(&env, "web", T, "web deployed", |a| {
        deployed(a, 1, "Complete")
    })
    .await;
    let db_done = db
        .status
        .and_then(|s| s.deployment)
        .and_then(|d| d.finished_at)
        .map(|t| t.0)
        .unwrap_or_else(|| panic!("db finished"));
    let web = instances(&env, "web").await;
    for t in web.values() {
        let created = t
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0)
            .unwrap_or_else(|| panic!("created"));
        // Creation times have second granularity.
        assert!(
            created.as_second() >= db_done.as_second(),
            "{} created before db was available",
            t.name_any()
        );
    }
}
