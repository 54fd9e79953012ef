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

fn offer(spec: &str) -> String {
    format!(
        "apiVersion: mesos.operator.dev/v1alpha1\nkind: Offer\nmetadata:\n  name: o\nspec:\n{spec}"
    )
}

/// A Task spec of the valid base with `resources` replaced.
fn with_resources(resources: &str) -> String {
    task(&format!(
        "  framework: f\n  resources: {resources}\n  command: {{shell: x}}\n"
    ))
}

const OFFER_OK: &str = "  framework: f\n  agent: node-1\n  resources: {cpus: 1, mem: 64}\n";

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
    // Every field the operator parses, at and past its bounds (issue 10).
    let long_name = "a".repeat(254);
    let many_ranges: String = (0..65)
        .map(|i| format!("{{begin: {}, end: {}}}", 31000 + 2 * i, 31000 + 2 * i))
        .collect::<Vec<_>>()
        .join(", ");
    let more: Vec<(&str, String, &str)> = vec![
        (
            "framework not an object name",
            task("  framework: Demo_1\n  resources: {cpus: 1, mem: 1}\n  command: {shell: x}\n"),
            "spec.framework",
        ),
        (
            "framework too long",
            task(&format!(
                "  framework: {long_name}\n  resources: {{cpus: 1, mem: 1}}\n  command: {{shell: x}}\n"
            )),
            "spec.framework",
        ),
        (
            "offer not an object name",
            task(&format!("{OK}  offer: Offer!\n")),
            "spec.offer",
        ),
        (
            "cpus beyond the maximum",
            with_resources("{cpus: 1e10, mem: 1}"),
            "spec.resources.cpus",
        ),
        (
            "mem beyond the maximum",
            with_resources("{cpus: 1, mem: 1e15}"),
            "spec.resources.mem",
        ),
        (
            "disk beyond the maximum",
            with_resources("{cpus: 1, mem: 1, disk: 1e15}"),
            "spec.resources.disk",
        ),
        (
            "gpus beyond the maximum",
            with_resources("{cpus: 1, mem: 1, gpus: 10000000000}"),
            "spec.resources.gpus",
        ),
        (
            "fractional gpus",
            with_resources("{cpus: 1, mem: 1, gpus: 1.5}"),
            "spec.resources.gpus",
        ),
        (
            "cpus as a string",
            with_resources("{cpus: lots, mem: 1}"),
            "spec.resources.cpus",
        ),
        (
            "port 0",
            with_resources("{cpus: 1, mem: 1, ports: [{begin: 0, end: 5}]}"),
            "spec.resources.ports[0].begin",
        ),
        (
            "port range begin after end",
            with_resources("{cpus: 1, mem: 1, ports: [{begin: 31010, end: 31000}]}"),
            "spec.resources.ports[0]",
        ),
        (
            "overlapping port ranges",
            with_resources(
                "{cpus: 1, mem: 1, ports: [{begin: 31000, end: 31010}, {begin: 31005, end: 31020}]}",
            ),
            "spec.resources.ports",
        ),
        (
            "too many port ranges",
            with_resources(&format!("{{cpus: 1, mem: 1, ports: [{many_ranges}]}}")),
            "spec.resources.ports",
        ),
        (
            "empty shell",
            task("  framework: f\n  resources: {cpus: 1, mem: 1}\n  command: {shell: \"\"}\n"),
            "spec.command.shell",
        ),
        (
            "empty argv",
            task("  framework: f\n  resources: {cpus: 1, mem: 1}\n  command: {argv: []}\n"),
            "spec.command.argv",
        ),
        (
            "empty image",
            task(
                "  framework: f\n  resources: {cpus: 1, mem: 1}\n  command: {shell: x, image: \"\"}\n",
            ),
            "spec.command.image",
        ),
        (
            "env not a list",
            task("  framework: f\n  resources: {cpus: 1, mem: 1}\n  command: {shell: x, env: x}\n"),
            "spec.command.env",
        ),
        (
            "http check port 0",
            task(&format!("{OK}  healthCheck: {{http: {{port: 0}}}}\n")),
            "spec.healthCheck.http.port",
        ),
        (
            "http check port 70000",
            task(&format!("{OK}  healthCheck: {{http: {{port: 70000}}}}\n")),
            "spec.healthCheck.http.port",
        ),
        (
            "unknown http scheme",
            task(&format!(
                "{OK}  healthCheck: {{http: {{port: 80, scheme: GOPHER}}}}\n"
            )),
            "spec.healthCheck.http.scheme",
        ),
        (
            "tcp check port -1",
            task(&format!("{OK}  healthCheck: {{tcp: {{port: -1}}}}\n")),
            "spec.healthCheck.tcp.port",
        ),
        (
            "empty check command",
            task(&format!("{OK}  healthCheck: {{command: []}}\n")),
            "spec.healthCheck.command",
        ),
        (
            "check delay beyond a day",
            task(&format!(
                "{OK}  healthCheck: {{tcp: {{port: 80}}, delaySeconds: 86401}}\n"
            )),
            "spec.healthCheck.delaySeconds",
        ),
        (
            "check timeout 0",
            task(&format!(
                "{OK}  healthCheck: {{tcp: {{port: 80}}, timeoutSeconds: 0}}\n"
            )),
            "spec.healthCheck.timeoutSeconds",
        ),
        (
            "1001 consecutive failures",
            task(&format!(
                "{OK}  healthCheck: {{tcp: {{port: 80}}, consecutiveFailures: 1001}}\n"
            )),
            "spec.healthCheck.consecutiveFailures",
        ),
        (
            "negative check grace period",
            task(&format!(
                "{OK}  healthCheck: {{tcp: {{port: 80}}, gracePeriodSeconds: -1}}\n"
            )),
            "spec.healthCheck.gracePeriodSeconds",
        ),
        (
            "grace period not a duration",
            task(&format!("{OK}  killPolicy: {{gracePeriod: soon}}\n")),
            "spec.killPolicy.gracePeriod",
        ),
        (
            "negative grace period",
            task(&format!("{OK}  killPolicy: {{gracePeriod: -5s}}\n")),
            "spec.killPolicy.gracePeriod",
        ),
        (
            "grace period beyond a day",
            task(&format!("{OK}  killPolicy: {{gracePeriod: 25h}}\n")),
            "spec.killPolicy.gracePeriod",
        ),
        (
            "kill policy without grace period",
            task(&format!("{OK}  killPolicy: {{}}\n")),
            "spec.killPolicy.gracePeriod",
        ),
        (
            "zero max completion time",
            task(&format!("{OK}  maxCompletionTime: 0s\n")),
            "spec.maxCompletionTime",
        ),
        (
            "max completion time overflowing",
            task(&format!("{OK}  maxCompletionTime: 99999999999999999999h\n")),
            "spec.maxCompletionTime",
        ),
        (
            "max completion time in days",
            task(&format!("{OK}  maxCompletionTime: 1d\n")),
            "spec.maxCompletionTime",
        ),
        (
            "kill not a boolean",
            task(&format!("{OK}  kill: \"yes\"\n")),
            "spec.kill",
        ),
        (
            "template without spec",
            task("  framework: f\n  resources: {cpus: 1, mem: 1}\n  template: {metadata: {}}\n"),
            "spec.template.spec",
        ),
        (
            "empty role component",
            framework("  role: \"a//b\"\n"),
            "spec.role",
        ),
        (
            "role with a .. component",
            framework("  role: \"a/../b\"\n"),
            "spec.role",
        ),
        (
            "role too long",
            framework(&format!("  role: {}\n", "r".repeat(129))),
            "spec.role",
        ),
        (
            "failover timeout not a duration",
            framework("  failoverTimeout: forever\n"),
            "spec.failoverTimeout",
        ),
        (
            "failover timeout beyond ten years",
            framework("  failoverTimeout: 87601h\n"),
            "spec.failoverTimeout",
        ),
        (
            "zero offer timeout",
            framework("  offers: {timeout: 0s}\n"),
            "spec.offers.timeout",
        ),
        (
            "offer timeout beyond a day",
            framework("  offers: {timeout: 25h}\n"),
            "spec.offers.timeout",
        ),
        (
            "refuseSeconds beyond a year",
            framework("  offers: {refuseSeconds: 31536001}\n"),
            "spec.offers.refuseSeconds",
        ),
        (
            "suppressed not a boolean",
            framework("  offers: {suppressed: \"no\"}\n"),
            "spec.offers.suppressed",
        ),
        (
            "minAllocatable mem beyond the maximum",
            framework("  offers: {minAllocatable: {mem: 1e15}}\n"),
            "spec.offers.minAllocatable.mem",
        ),
        (
            "duplicate capability",
            framework("  capabilities: [PartitionAware, PartitionAware]\n"),
            "spec.capabilities[1]",
        ),
        (
            "empty reconcile id",
            framework("  reconcile: {id: \"\"}\n"),
            "spec.reconcile.id",
        ),
        (
            "reconcile task not a name",
            framework("  reconcile: {id: r1, tasks: [\"Bad Name\"]}\n"),
            "spec.reconcile.tasks[0]",
        ),
        (
            "reconcile without id",
            framework("  reconcile: {tasks: [a]}\n"),
            "spec.reconcile.id",
        ),
        ("negative weight", role("  weight: -1\n"), "spec.weight"),
        (
            "weight beyond a million",
            role("  weight: 2000000\n"),
            "spec.weight",
        ),
        (
            "mem guarantee above limit",
            role("  quota: {guarantee: {mem: 10}, limit: {mem: 5}}\n"),
            "spec.quota",
        ),
        (
            "quota limit cpus beyond the maximum",
            role("  quota: {limit: {cpus: 1e10}}\n"),
            "spec.quota.limit.cpus",
        ),
        (
            "overlapping guarantee ports",
            role("  quota: {guarantee: {ports: [{begin: 1, end: 10}, {begin: 10, end: 20}]}}\n"),
            "spec.quota.guarantee.ports",
        ),
        (
            "offer framework not a name",
            offer("  framework: F!\n  agent: node-1\n  resources: {cpus: 1}\n"),
            "spec.framework",
        ),
        (
            "offer without agent",
            offer("  framework: f\n  agent: \"\"\n  resources: {cpus: 1}\n"),
            "spec.agent",
        ),
        (
            "offer mem beyond the maximum",
            offer("  framework: f\n  agent: node-1\n  resources: {mem: 1e15}\n"),
            "spec.resources.mem",
        ),
        (
            "negative decline refuseSeconds",
            offer(&format!("{OFFER_OK}  decline: {{refuseSeconds: -1}}\n")),
            "spec.decline.refuseSeconds",
        ),
        (
            "expiresAt not a time",
            offer(&format!("{OFFER_OK}  expiresAt: yesterday\n")),
            "spec.expiresAt",
        ),
        (
            "expiresAt past year 9999",
            offer(&format!(
                "{OFFER_OK}  expiresAt: \"9999-12-31T23:59:59Z\"\n"
            )),
            "spec.expiresAt",
        ),
        (
            "offer role too long",
            offer(&format!("{OFFER_OK}  role: {}\n", "r".repeat(129))),
            "spec.role",
        ),
        (
            "offer without resources",
            offer("  framework: f\n  agent: node-1\n"),
            "spec.resources",
        ),
    ];
    let cases: Vec<(&str, String, &str)> = cases.into_iter().chain(more).collect();
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

/// A Task spec of the valid base with a placement of `constraints` (YAML flow items).
fn with_constraints(constraints: &[&str]) -> String {
    let list: String = constraints.iter().map(|c| format!("    - {c}\n")).collect();
    task(&format!(
        "{OK}  placement:\n    group: web\n    constraints:\n{list}"
    ))
}

#[tokio::test]
async fn invalid_placement_constraints_are_rejected_with_the_field_named() {
    let env = TestEnv::without_operator("validation-placement").await;
    let ns = env.ns.as_str();
    let c0 = "spec.placement.constraints[0]";
    let c1 = "spec.placement.constraints[1]";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown operator",
            with_constraints(&["{field: zone, operator: SPREAD}"]),
            "spec.placement.constraints[0].operator",
        ),
        (
            "operator in lower case",
            with_constraints(&["{field: zone, operator: unique}"]),
            "spec.placement.constraints[0].operator",
        ),
        (
            "empty field",
            with_constraints(&["{field: \"\", operator: UNIQUE}"]),
            "spec.placement.constraints[0].field",
        ),
        (
            "UNIQUE with a value",
            with_constraints(&["{field: hostname, operator: UNIQUE, value: x}"]),
            c0,
        ),
        (
            "LIKE without a value",
            with_constraints(&[
                "{field: hostname, operator: UNIQUE}",
                "{field: rack, operator: LIKE}",
            ]),
            c1,
        ),
        (
            "UNLIKE with an empty value",
            with_constraints(&["{field: rack, operator: UNLIKE, value: \"\"}"]),
            c0,
        ),
        (
            "MAX_PER without a count",
            with_constraints(&["{field: zone, operator: MAX_PER}"]),
            c0,
        ),
        (
            "MAX_PER 0",
            with_constraints(&["{field: zone, operator: MAX_PER, value: \"0\"}"]),
            c0,
        ),
        (
            "MAX_PER not a number",
            with_constraints(&["{field: zone, operator: MAX_PER, value: two}"]),
            c0,
        ),
        (
            "GROUP_BY negative",
            with_constraints(&["{field: zone, operator: GROUP_BY, value: \"-1\"}"]),
            c0,
        ),
        (
            "IS without a value",
            with_constraints(&["{field: zone, operator: IS}"]),
            c0,
        ),
        (
            "IS with a space",
            with_constraints(&["{field: zone, operator: IS, value: \"a b\"}"]),
            c0,
        ),
        (
            "empty group",
            task(&format!("{OK}  placement:\n    group: \"\"\n")),
            "spec.placement.group",
        ),
        (
            "group not an object name",
            task(&format!("{OK}  placement:\n    group: Web_1\n")),
            "spec.placement.group",
        ),
        (
            "targetInstances 0",
            task(&format!(
                "{OK}  placement:\n    group: web\n    targetInstances: 0\n"
            )),
            "spec.placement.targetInstances",
        ),
    ];
    let mut failures = Vec::new();
    for (what, manifest, field) in &cases {
        if let Err(e) = rejected(ns, what, manifest, field) {
            failures.push(e);
        }
    }
    // Valid ones pass (a bad regular expression too: CEL cannot compile one, so the
    // operator reports it on the Task), and the placement is immutable.
    let valid = with_constraints(&[
        "{field: hostname, operator: UNIQUE}",
        "{field: example.com/rack, operator: GROUP_BY, value: \"3\"}",
        "{field: zone, operator: LIKE, value: \"zone-[\"}",
    ]);
    let (ok, out) = kubectl_run(&["apply", "-n", ns, "-f", "-"], &valid);
    assert!(ok, "a valid placement was rejected: {out}");
    if let Err(e) = rejected(
        ns,
        "placement changed",
        &with_constraints(&["{field: hostname, operator: UNIQUE}"]),
        "spec.placement is immutable",
    ) {
        failures.push(e);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
