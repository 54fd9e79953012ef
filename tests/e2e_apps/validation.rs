//! Impossible Apps are rejected by `kubectl apply` (schema and CEL rules), with a message
//! naming the field; what only the operator can judge is reported on the App.

use crate::support::{TestEnv, kubectl_run};
use crate::*;

fn rejected(ns: &str, what: &str, manifest: &str, field: &str) -> Result<(), String> {
    let (ok, out) = kubectl_run(
        &["apply", "--dry-run=server", "-n", ns, "-f", "-"],
        manifest,
    );
    if ok {
        return Err(format!(
            "{what}: accepted, expected a rejection naming {field}:\n{manifest}"
        ));
    }
    if !out.contains(field) {
        return Err(format!(
            "{what}: rejected, but the message does not name {field}: {out}"
        ));
    }
    println!("rejected ({what}): {}", out.trim());
    Ok(())
}

#[tokio::test]
async fn invalid_apps_are_rejected_at_apply_naming_the_field() {
    let env = TestEnv::without_operator("apps-validation").await;
    let ns = env.ns.as_str();
    let cases: Vec<(&str, String, &str)> = vec![
        ("negative instances", app("a", -1, "x", ""), "spec.instances"),
        (
            "bad constraint operator",
            app("a", 1, "x", "  constraints: [{field: hostname, operator: NEAR}]\n"),
            "spec.constraints[0].operator",
        ),
        (
            "MAX_PER without a count",
            app("a", 1, "x", "  constraints: [{field: zone, operator: MAX_PER}]\n"),
            "MAX_PER needs a positive integer",
        ),
        (
            "minimum health capacity above 1",
            app("a", 1, "x", "  upgradeStrategy: {minimumHealthCapacity: 1.5}\n"),
            "spec.upgradeStrategy.minimumHealthCapacity",
        ),
        (
            "maximum over capacity below 0",
            app("a", 1, "x", "  upgradeStrategy: {maximumOverCapacity: -0.1}\n"),
            "spec.upgradeStrategy.maximumOverCapacity",
        ),
        (
            "canary of 0",
            app("a", 1, "x", "  upgradeStrategy: {canaryInstances: 0}\n"),
            "spec.upgradeStrategy.canaryInstances",
        ),
        (
            "a dependency on itself",
            app("a", 1, "x", "  dependencies: [a]\n"),
            "cannot depend on itself",
        ),
        (
            "a dependency that is no name",
            app("a", 1, "x", "  dependencies: [\"Not_A_Name\"]\n"),
            "spec.dependencies[0]",
        ),
        (
            "expunge before inactive",
            app("a", 1, "x", "  unreachableStrategy: {inactiveAfterSeconds: 60, expungeAfterSeconds: 10}\n"),
            "expungeAfterSeconds must be at least inactiveAfterSeconds",
        ),
        (
            "negative backoff",
            app("a", 1, "x", "  backoff: {backoffSeconds: -1}\n"),
            "spec.backoff.backoffSeconds",
        ),
        (
            "a duplicated port",
            app("a", 1, "x", "  ports: [{port: 31000}, {port: 31000}]\n"),
            "each port at most once",
        ),
        (
            "requirePorts with a port 0",
            app("a", 1, "x", "  ports: [{name: http, port: 0}]\n  requirePorts: true\n"),
            "spec.ports: with spec.requirePorts every port is a literal host port",
        ),
        (
            "a readiness check on an unknown port",
            app("a", 1, "x", "  ports: [{name: http}]\n  readiness: {httpCheck: {portName: admin}}\n"),
            "spec.readiness.httpCheck.portName must name one of spec.ports",
        ),
        (
            "a port name that is no service name",
            app("a", 1, "x", "  ports: [{name: \"8080\"}]\n"),
            "spec.ports[0].name",
        ),
        (
            "both command and template",
            app("a", 1, "x", "  template: {spec: {containers: [{name: c, image: i}]}}\n"),
            "exactly one of spec.command or spec.template",
        ),
        (
            "zero cpus",
            "apiVersion: mesos.operator.dev/v1alpha1\nkind: App\nmetadata:\n  name: a\nspec:\n  resources: {cpus: 0, mem: 32}\n  command: {shell: x}\n".to_string(),
            "spec.resources.cpus",
        ),
        (
            "a name too long for its Tasks",
            app(&"a".repeat(41), 1, "x", ""),
            "metadata.name",
        ),
        (
            "a bad kill grace period",
            app("a", 1, "x", "  taskKillGracePeriod: 48h\n"),
            "spec.taskKillGracePeriod",
        ),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(what, manifest, field)| rejected(ns, what, manifest, field).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // A valid one is accepted.
    let (ok, out) = kubectl_run(
        &["apply", "--dry-run=server", "-n", ns, "-f", "-"],
        &app(
            "a",
            3,
            "x",
            "  constraints: [{field: zone, operator: GROUP_BY, value: \"2\"}]\n",
        ),
    );
    assert!(ok, "{out}");
}

#[tokio::test]
async fn a_regex_only_the_operator_can_refuse_is_reported_on_the_app() {
    let env = TestEnv::new("apps-invalid").await;
    apply_app(
        &env,
        &app(
            "a",
            2,
            "x",
            "  constraints: [{field: hostname, operator: LIKE, value: \"(unclosed\"}]\n",
        ),
    )
    .await;
    let a = wait_app(&env, "a", T, "Valid=False", |a| {
        condition(a, "Valid").0 == "False"
    })
    .await;
    let c = a
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Valid"))
        .cloned()
        .unwrap_or_else(|| panic!("Valid condition"));
    assert_eq!(c.reason, "InvalidConstraint");
    assert!(c.message.contains("spec.constraints"), "{}", c.message);
    assert!(instances(&env, "a").await.is_empty());
    env.wait_event("a", "InvalidConstraint", T).await;
    // Reported once: the condition is not rewritten in a loop.
    let api: kube::api::Api<mesos_operator::api::App> = env.api();
    let before = api
        .get("a")
        .await
        .map(|a| a.metadata.resource_version)
        .unwrap_or_default();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let after = api
        .get("a")
        .await
        .map(|a| a.metadata.resource_version)
        .unwrap_or_default();
    assert_eq!(before, after, "the App keeps being written");
    // Fixed: the condition goes, the app runs.
    apply_app(
        &env,
        &app(
            "a",
            2,
            "x",
            "  constraints: [{field: hostname, operator: LIKE, value: \"kwok.*\"}]\n",
        ),
    )
    .await;
    wait_app(&env, "a", T, "deployed", |a| {
        deployed(a, 1, "Complete") && condition(a, "Valid").0.is_empty()
    })
    .await;
}
