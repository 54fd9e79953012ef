//! The operator SIGKILLed three times in the middle of a deployment: it completes with the
//! right instance count, within the bounds, and no instance duplicated.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::TestEnv;
use crate::*;

#[tokio::test]
async fn sigkilled_three_times_mid_deployment_it_completes_without_duplicates() {
    let mut env = TestEnv::new("apps-faults").await;
    let strategy = "  upgradeStrategy: {minimumHealthCapacity: 0.8, maximumOverCapacity: 0.2}\n  readiness: {minReadySeconds: 3}\n";
    apply_app(&env, &app("web", 10, "serve v1", strategy)).await;
    wait_app(&env, "web", T, "version 1 deployed", |a| {
        deployed(a, 1, "Complete")
    })
    .await;
    let sampler = Sampler::start(&env, "web", 8, 12);
    apply_app(&env, &app("web", 10, "serve v2", strategy)).await;
    for i in 0..3 {
        tokio::time::sleep(Duration::from_millis(700 + 300 * i)).await;
        env.kill_operator();
        let tasks = instances(&env, "web").await;
        let by = live_by_version(&tasks);
        println!("kill {}: {by:?}", i + 1);
        assert!(
            by.contains_key(&1),
            "kill {} came after the deployment: {by:?}",
            i + 1
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        env.start_operator();
    }
    let done = wait_app(&env, "web", T, "version 2 deployed", |a| {
        deployed(a, 2, "Complete")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let samples = sampler.finish().await;
    assert_eq!(env.operator_starts(), 4);
    assert!(samples.violations.is_empty(), "{:#?}", samples.violations);
    let tasks = instances(&env, "web").await;
    assert_eq!(
        live_by_version(&tasks),
        BTreeMap::from([(2, 10)]),
        "{tasks:?}"
    );
    // One Task per instance name; one pod per Task.
    let names: BTreeSet<&String> = tasks.keys().collect();
    assert_eq!(names.len(), tasks.len());
    for (name, t) in tasks.iter().filter(|(_, t)| live(t)) {
        assert_eq!(env.pods_of(name).await.len(), 1, "{name}: {t:?}");
    }
    assert_eq!(done.status.as_ref().map(|s| s.counts.available), Some(10));
}
