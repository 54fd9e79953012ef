//! Impossible manifests are rejected by `kubectl apply` (schema and CEL validation in the
//! CRDs), with a message naming the field.

use crate::support::{TestEnv, kubectl_run};

const TASK_HEAD: &str =
    "apiVersion: mesos.operator.dev/v1alpha1\nkind: Task\nmetadata:\n  name: t\nspec:\n";

fn task(spec: &str) -> String {
    format!("{TASK_HEAD}{spec}")
}

fn framework(spec: &str) -> String {
    format!(
        "apiVersion: mesos.operator.dev/v1alpha1\nkind: Framework\nmetadata:\n  name: f\nspec:\n{spec}"
    )
}

fn role(spec: &str) -> String {
    format!(
        "apiVersion: mesos.operator.dev/v1alpha1\nkind: ResourceRole\nmetadata:\n  name: r\nspec:\n{spec}"
    )
}

/// Applies `manifest` (server-side dry run, so nothing is created) and expects a rejection
/// naming `field`.
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

const OK: &str = "  framework: f\n  resources: {cpus: 1, mem: 64}\n  command: {shell: \"true\"}\n";

#[tokio::test]
async fn invalid_manifests_are_rejected_with_the_field_named() {
    let env = TestEnv::without_operator("validation").await;
    let ns = env.ns.as_str();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "negative cpus",
            task("  framework: f\n  resources: {cpus: -1, mem: 64}\n  command: {shell: x}\n"),
            "spec.resources.cpus",
        ),
        (
            "zero cpus",
            task("  framework: f\n  resources: {cpus: 0, mem: 64}\n  command: {shell: x}\n"),
            "spec.resources.cpus",
        ),
        (
            "zero mem",
            task("  framework: f\n  resources: {cpus: 1, mem: 0}\n  command: {shell: x}\n"),
            "spec.resources.mem",
        ),
        (
            "missing mem",
            task("  framework: f\n  resources: {cpus: 1}\n  command: {shell: x}\n"),
            "spec.resources.mem",
        ),
        (
            "negative disk",
            task(
                "  framework: f\n  resources: {cpus: 1, mem: 1, disk: -5}\n  command: {shell: x}\n",
            ),
            "spec.resources.disk",
        ),
        (
            "negative gpus",
            task(
                "  framework: f\n  resources: {cpus: 1, mem: 1, gpus: -1}\n  command: {shell: x}\n",
            ),
            "spec.resources.gpus",
        ),
        (
            "port out of range",
            task(
                "  framework: f\n  resources: {cpus: 1, mem: 1, ports: [{begin: 1, end: 70000}]}\n  command: {shell: x}\n",
            ),
            "spec.resources.ports[0].end",
        ),
        (
            "command and template",
            task(
                "  framework: f\n  resources: {cpus: 1, mem: 1}\n  command: {shell: x}\n  template: {spec: {containers: [{name: a}]}}\n",
            ),
            "spec.command or spec.template",
        ),
        (
            "neither command nor template",
            task("  framework: f\n  resources: {cpus: 1, mem: 1}\n"),
            "spec.command or spec.template",
        ),
        (
            "empty framework",
            task("  framework: \"\"\n  resources: {cpus: 1, mem: 1}\n  command: {shell: x}\n"),
            "spec.framework",
        ),
        (
            "missing framework",
            task("  resources: {cpus: 1, mem: 1}\n  command: {shell: x}\n"),
            "spec.framework",
        ),
        (
            "shell and argv",
            task(
                "  framework: f\n  resources: {cpus: 1, mem: 1}\n  command: {shell: x, argv: [\"run\"]}\n",
            ),
            "spec.command.shell or spec.command.argv",
        ),
        (
            "two health checks",
            task(&format!(
                "{OK}  healthCheck: {{http: {{port: 80}}, tcp: {{port: 80}}}}\n"
            )),
            "spec.healthCheck",
        ),
        (
            "health check interval 0",
            task(&format!(
                "{OK}  healthCheck: {{tcp: {{port: 80}}, intervalSeconds: 0}}\n"
            )),
            "spec.healthCheck.intervalSeconds",
        ),
        (
            "template without containers",
            task(
                "  framework: f\n  resources: {cpus: 1, mem: 1}\n  template: {spec: {containers: []}}\n",
            ),
            "spec.template.spec.containers",
        ),
        (
            "unknown scheduler",
            framework("  scheduler: Magic\n"),
            "spec.scheduler",
        ),
        ("bad role", framework("  role: \"../etc\"\n"), "spec.role"),
        (
            "unknown capability",
            framework("  capabilities: [Telepathy]\n"),
            "spec.capabilities[0]",
        ),
        (
            "negative refuseSeconds",
            framework("  offers: {refuseSeconds: -1}\n"),
            "spec.offers.refuseSeconds",
        ),
        ("zero weight", role("  weight: 0\n"), "spec.weight"),
        (
            "guarantee above limit",
            role("  quota: {guarantee: {cpus: 10}, limit: {cpus: 5}}\n"),
            "spec.quota",
        ),
    ];
    let mut failures = Vec::new();
    for (what, manifest, field) in &cases {
        if let Err(e) = rejected(ns, what, manifest, field) {
            failures.push(e);
        }
    }

    // Immutable fields: create a valid task, then change each.
    let (ok, out) = kubectl_run(&["apply", "-n", ns, "-f", "-"], &task(OK));
    assert!(ok, "a valid task was rejected: {out}");
    let changes: Vec<(&str, String, &str)> = vec![
        (
            "framework changed",
            task("  framework: g\n  resources: {cpus: 1, mem: 64}\n  command: {shell: \"true\"}\n"),
            "spec.framework is immutable",
        ),
        (
            "resources changed",
            task("  framework: f\n  resources: {cpus: 2, mem: 64}\n  command: {shell: \"true\"}\n"),
            "spec.resources is immutable",
        ),
        (
            "offer added",
            task(&format!("{OK}  offer: o1\n")),
            "spec.offer is immutable",
        ),
    ];
    for (what, manifest, field) in &changes {
        if let Err(e) = rejected(ns, what, manifest, field) {
            failures.push(e);
        }
    }
    let (ok, out) = kubectl_run(
        &["apply", "-n", ns, "-f", "-"],
        &task(&format!("{OK}  kill: true\n")),
    );
    assert!(ok, "kill: true was rejected: {out}");
    if let Err(e) = rejected(
        ns,
        "kill undone",
        &task(&format!("{OK}  kill: false\n")),
        "spec.kill",
    ) {
        failures.push(e);
    }
    let total = cases.len() + changes.len() + 1;
    assert!(
        failures.is_empty(),
        "{} of {total} invalid manifests were not rejected as expected:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("{total} invalid manifests rejected, each naming its field");
}
