//! The Helm chart against the real cluster: lint, templates validated by the API server,
//! install/upgrade/uninstall, and the RBAC proof — the operator runs a representative
//! scenario under the chart's ServiceAccount (impersonated) and is denied what it does not
//! need.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod, Secret};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Config};
use mesos_operator::api::{Framework, Offer, Task, TaskState};

use crate::observability::{framework, task};
use crate::process::{Operator, impersonating_kubeconfig, must, repo, run_tool};
use crate::support::TestEnv;

const T: Duration = Duration::from_secs(90);

fn chart() -> String {
    repo().join("charts/mesos-operator").display().to_string()
}

/// A release name unique to the test's namespace (it names cluster-scoped objects too).
fn release(env: &TestEnv, prefix: &str) -> String {
    let suffix = env.ns.rsplit('-').next().unwrap_or("x");
    format!("{prefix}-{suffix}")
}

/// Uninstalls a release when the test ends, passed or not (its ClusterRole and binding are
/// cluster-scoped and would outlive the namespace).
struct Release {
    name: String,
    ns: String,
}

impl Drop for Release {
    fn drop(&mut self) {
        let _ = run_tool(
            "helm",
            &["uninstall", &self.name, "--namespace", &self.ns],
            None,
        );
    }
}

fn docs(yaml: &str) -> Vec<serde_json::Value> {
    yaml.split("\n---")
        .filter_map(|d| serde_yaml::from_str::<serde_json::Value>(d).ok())
        .filter(|v| v.is_object())
        .collect()
}

fn find<'a>(docs: &'a [serde_json::Value], kind: &str) -> &'a serde_json::Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} rendered"))
}

/// The ClusterRole's rules as `group/resource verb` lines.
fn rule_lines(role: &serde_json::Value) -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    for rule in role["rules"].as_array().into_iter().flatten() {
        for group in rule["apiGroups"].as_array().into_iter().flatten() {
            for resource in rule["resources"].as_array().into_iter().flatten() {
                for verb in rule["verbs"].as_array().into_iter().flatten() {
                    lines.insert(format!(
                        "{}/{} {}",
                        group.as_str().unwrap_or(""),
                        resource.as_str().unwrap_or(""),
                        verb.as_str().unwrap_or("")
                    ));
                }
            }
        }
    }
    lines
}

/// Exactly the permissions the code needs (see templates/clusterrole.yaml for the code
/// behind each). A new verb must be added here, with its reason in the template.
const CLUSTER_RULES: &[&str] = &[
    "/nodes list",
    "/nodes watch",
    "/pods create",
    "/pods delete",
    "/pods get",
    "/pods list",
    "/pods patch",
    "/pods watch",
    "coordination.k8s.io/leases list",
    "coordination.k8s.io/leases watch",
    "events.k8s.io/events create",
    "events.k8s.io/events patch",
    "mesos.operator.dev/apps list",
    "mesos.operator.dev/apps patch",
    "mesos.operator.dev/apps watch",
    "mesos.operator.dev/apps/status patch",
    "mesos.operator.dev/batchjobs list",
    "mesos.operator.dev/batchjobs watch",
    "mesos.operator.dev/batchjobs/status patch",
    "mesos.operator.dev/frameworks create",
    "mesos.operator.dev/frameworks get",
    "mesos.operator.dev/frameworks list",
    "mesos.operator.dev/frameworks patch",
    "mesos.operator.dev/frameworks watch",
    "mesos.operator.dev/frameworks/status patch",
    "mesos.operator.dev/offers create",
    "mesos.operator.dev/offers delete",
    "mesos.operator.dev/offers get",
    "mesos.operator.dev/offers list",
    "mesos.operator.dev/offers watch",
    "mesos.operator.dev/offers/status patch",
    "mesos.operator.dev/resourceroles list",
    "mesos.operator.dev/resourceroles watch",
    "mesos.operator.dev/resourceroles/status patch",
    "mesos.operator.dev/tasks create",
    "mesos.operator.dev/tasks delete",
    "mesos.operator.dev/tasks list",
    "mesos.operator.dev/tasks patch",
    "mesos.operator.dev/tasks watch",
    "mesos.operator.dev/tasks/status patch",
];

#[tokio::test]
async fn chart_lints_and_its_templates_pass_server_side_validation() {
    let env = TestEnv::without_operator("chart-tpl").await;
    let chart = chart();
    must("helm", &["lint", "--strict", &chart], None);
    let variants: [&[&str]; 3] = [
        &[],
        &[
            "--set",
            "watchNamespace=team-a",
            "--set",
            "podDisruptionBudget.minAvailable=1",
            "--set",
            "commonLabels.team=mesos",
            "--set",
            "commonAnnotations.owner=platform",
            "--set",
            "logFormat=text",
            "--set",
            "webhook.certSecret=my-cert",
        ],
        &[
            "--set",
            "replicaCount=1",
            "--set",
            "leaderElection.enabled=false",
            "--set",
            "metrics.service.enabled=false",
            "--set",
            "podDisruptionBudget.enabled=false",
            "--set",
            "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "--set",
            "webhook.enabled=false",
        ],
    ];
    let name = release(&env, "tpl");
    for values in variants {
        let mut args = vec!["lint", "--strict", chart.as_str()];
        args.extend_from_slice(values);
        must("helm", &args, None);
        let mut args = vec![
            "template",
            name.as_str(),
            chart.as_str(),
            "--namespace",
            env.ns.as_str(),
            "--include-crds",
        ];
        args.extend_from_slice(values);
        let rendered = must("helm", &args, None);
        // The API server validates every object (schemas, CRDs, RBAC) without storing it.
        let (ok, out, err) = run_tool(
            "kubectl",
            &[
                "apply",
                "--server-side",
                "--dry-run=server",
                "--force-conflicts",
                "--field-manager=chart-test",
                "-f",
                "-",
            ],
            Some(&rendered),
        );
        assert!(ok, "server-side dry run refused {values:?}:\n{out}\n{err}");
    }

    // The defaults: what a production install gets.
    let rendered = must(
        "helm",
        &["template", &name, &chart, "--namespace", &env.ns],
        None,
    );
    let docs = docs(&rendered);
    let deployment = find(&docs, "Deployment");
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 2);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = &pod["containers"][0];
    let sc = &container["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    let args: Vec<&str> = container["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(args.contains(&"--leader-elect"), "{args:?}");
    assert!(args.contains(&"--metrics-addr=0.0.0.0:8080"), "{args:?}");
    assert_eq!(
        rule_lines(find(&docs, "ClusterRole")),
        CLUSTER_RULES.iter().map(|s| s.to_string()).collect(),
        "the ClusterRole changed: update CLUSTER_RULES with the code that needs it"
    );
    let role = find(&docs, "Role");
    assert_eq!(
        rule_lines(role),
        [
            "coordination.k8s.io/leases create",
            "coordination.k8s.io/leases get",
            "coordination.k8s.io/leases list",
            "coordination.k8s.io/leases patch",
            "coordination.k8s.io/leases watch",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    );
    for kind in [
        "ServiceAccount",
        "ClusterRoleBinding",
        "RoleBinding",
        "Service",
        "PodDisruptionBudget",
    ] {
        find(&docs, kind);
    }
    assert!(!rendered.contains("kind: ServiceMonitor"), "off by default");
    webhook_renders(&docs, &name, &env.ns, &args);
    let without = must(
        "helm",
        &["template", &name, &chart, "--set", "webhook.enabled=false"],
        None,
    );
    assert!(!without.contains("ValidatingWebhookConfiguration"));
    assert!(!without.contains("--webhook-addr"));
    let own_cert = self::docs(&must(
        "helm",
        &[
            "template",
            &name,
            &chart,
            "--set",
            "webhook.certSecret=my-cert",
            "--set",
            "watchNamespace=team-a",
        ],
        None,
    ));
    let pod = &find(&own_cert, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["volumes"][0]["secret"]["secretName"], "my-cert");
    let own_args = pod["containers"][0]["args"].to_string();
    assert!(own_args.contains("--webhook-cert-dir="), "{own_args}");
    assert!(!own_args.contains("--webhook-configuration"), "{own_args}");
    // No Secret to provision: no Role for one.
    assert!(!own_cert.iter().any(|d| d["kind"] == "Role"
        && d["metadata"]["name"] == format!("{name}-mesos-operator-webhook")));
    let hook = &find(&own_cert, "ValidatingWebhookConfiguration")["webhooks"][0];
    assert_eq!(
        hook["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "team-a"
    );
    let with_monitor = must(
        "helm",
        &[
            "template",
            &name,
            &chart,
            "--set",
            "metrics.serviceMonitor.enabled=true",
        ],
        None,
    );
    assert!(with_monitor.contains("kind: ServiceMonitor"));
}

fn named<'a>(docs: &'a [serde_json::Value], kind: &str, name: &str) -> &'a serde_json::Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

/// The Apps admission webhook of the default values: the Deployment serves it, a Service
/// fronts it, the configuration calls it for App CREATE/UPDATE, and its RBAC is exactly the
/// Secret and the caBundle patch.
fn webhook_renders(docs: &[serde_json::Value], release: &str, ns: &str, args: &[&str]) {
    let full = format!("{release}-mesos-operator");
    for arg in [
        "--webhook-addr=0.0.0.0:9443".to_string(),
        format!("--webhook-secret={full}-webhook-cert"),
        format!(
            "--webhook-dns-names={full}-webhook.{ns}.svc,{full}-webhook.{ns}.svc.cluster.local"
        ),
        format!("--webhook-configuration={full}-apps"),
    ] {
        assert!(args.contains(&arg.as_str()), "{arg} not in {args:?}");
    }
    let ports = &find(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["ports"];
    assert!(
        ports
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == "webhook" && p["containerPort"] == 9443),
        "{ports}"
    );
    let service = named(docs, "Service", &format!("{full}-webhook"));
    assert_eq!(service["spec"]["ports"][0]["port"], 443);
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "webhook");
    let configuration = named(
        docs,
        "ValidatingWebhookConfiguration",
        &format!("{full}-apps"),
    );
    let hook = &configuration["webhooks"][0];
    assert_eq!(
        hook["clientConfig"]["service"]["name"],
        format!("{full}-webhook")
    );
    assert_eq!(hook["clientConfig"]["service"]["namespace"], ns);
    assert_eq!(hook["clientConfig"]["service"]["path"], "/validate-apps");
    assert_eq!(hook["failurePolicy"], "Fail");
    assert_eq!(hook["sideEffects"], "None");
    assert_eq!(hook["admissionReviewVersions"], serde_json::json!(["v1"]));
    assert_eq!(hook["timeoutSeconds"], 5);
    assert_eq!(
        hook["rules"][0]["resources"],
        serde_json::json!(["apps"]),
        "{hook}"
    );
    assert_eq!(
        hook["rules"][0]["operations"],
        serde_json::json!(["CREATE", "UPDATE"])
    );
    assert!(
        hook["namespaceSelector"].is_null(),
        "every namespace by default"
    );
    let lines = |d: &serde_json::Value| rule_lines(d).into_iter().collect::<Vec<_>>();
    assert_eq!(
        lines(named(docs, "ClusterRole", &format!("{full}-webhook"))),
        [
            "admissionregistration.k8s.io/validatingwebhookconfigurations get",
            "admissionregistration.k8s.io/validatingwebhookconfigurations patch",
        ]
    );
    let role = named(docs, "Role", &format!("{full}-webhook"));
    assert_eq!(
        lines(role),
        ["/secrets create", "/secrets get", "/secrets update"]
    );
    assert_eq!(
        role["rules"][1]["resourceNames"],
        serde_json::json!([format!("{full}-webhook-cert")])
    );
    for kind in ["ClusterRoleBinding", "RoleBinding"] {
        named(docs, kind, &format!("{full}-webhook"));
    }
}

/// Acts as the scheduler for the Deployment's pods (the test cluster runs none): binds
/// every unbound pod of `release` to a kwok node.
async fn bind_pods(client: &Client, ns: &str, release: &str) -> usize {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let nodes: Api<Node> = Api::all(client.clone());
    let node = nodes
        .list(&ListParams::default().labels("type=kwok"))
        .await
        .ok()
        .and_then(|l| {
            l.items
                .into_iter()
                .filter_map(|n| n.metadata.name)
                .find(|n| n.starts_with("kwok-node-"))
        })
        .unwrap_or_else(|| "kwok-node-0".into());
    let mut bound = 0;
    let list = pods
        .list(&ListParams::default().labels(&format!("app.kubernetes.io/instance={release}")))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    for pod in list {
        if pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_ref())
            .is_some()
        {
            bound += 1;
            continue;
        }
        let name = pod.metadata.name.clone().unwrap_or_default();
        let binding = serde_json::json!({
            "apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": name},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        });
        if pods
            .create_subresource::<_, serde_json::Value>(
                "binding",
                &name,
                &PostParams::default(),
                &binding,
            )
            .await
            .is_ok()
        {
            bound += 1;
        }
    }
    bound
}

#[tokio::test]
async fn chart_installs_upgrades_and_uninstalls() {
    let env = TestEnv::without_operator("chart-life").await;
    let chart = chart();
    let name = release(&env, "life");
    let full = format!("{name}-mesos-operator");
    // The release's webhook has no process behind it (kwok pods): it judges the Apps of
    // this namespace only, never those of the tests running beside it.
    let scope = format!(
        "webhook.namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name={}",
        env.ns
    );
    must(
        "helm",
        &[
            "install",
            &name,
            &chart,
            "--namespace",
            &env.ns,
            "--set",
            &scope,
        ],
        None,
    );
    let configurations: Api<ValidatingWebhookConfiguration> = Api::all(env.client.clone());
    let configuration = configurations
        .get(&format!("{full}-apps"))
        .await
        .unwrap_or_else(|e| panic!("the webhook configuration: {e}"));
    let selector = configuration.webhooks.unwrap_or_default()[0]
        .namespace_selector
        .clone()
        .and_then(|s| s.match_labels)
        .unwrap_or_default();
    assert_eq!(
        selector.get("kubernetes.io/metadata.name"),
        Some(&env.ns),
        "the webhook is not scoped to the test's namespace"
    );
    let _release = Release {
        name: name.clone(),
        ns: env.ns.clone(),
    };
    let deployments: Api<Deployment> = env.api();
    let deployment = deployments
        .get(&full)
        .await
        .unwrap_or_else(|e| panic!("deployment {full}: {e}"));
    assert_eq!(deployment.spec.replicas, Some(2));
    let roles: Api<ClusterRole> = Api::all(env.client.clone());
    roles
        .get(&full)
        .await
        .unwrap_or_else(|e| panic!("clusterrole {full}: {e}"));

    // kwok plays the kubelet: bound pods become Running and Ready.
    let start = Instant::now();
    loop {
        bind_pods(&env.client, &env.ns, &name).await;
        let ready = deployments
            .get(&full)
            .await
            .ok()
            .and_then(|d| d.status)
            .and_then(|s| s.ready_replicas)
            .unwrap_or_default();
        if ready == 2 {
            break;
        }
        assert!(start.elapsed() < T, "deployment never had 2 ready replicas");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    must(
        "helm",
        &[
            "upgrade",
            &name,
            &chart,
            "--namespace",
            &env.ns,
            "--reuse-values",
            "--set",
            "replicaCount=3",
            "--set",
            "logLevel=debug",
        ],
        None,
    );
    let upgraded = deployments
        .get(&full)
        .await
        .unwrap_or_else(|e| panic!("deployment {full}: {e}"));
    let spec = upgraded.spec;
    assert_eq!(spec.replicas, Some(3));
    let args = spec
        .template
        .spec
        .map(|p| p.containers[0].args.clone().unwrap_or_default())
        .unwrap_or_default();
    assert!(args.contains(&"--log-level=debug".to_string()), "{args:?}");
    let history = must(
        "helm",
        &["history", &name, "--namespace", &env.ns, "-o", "json"],
        None,
    );
    let history: serde_json::Value = serde_json::from_str(&history).unwrap_or_default();
    assert_eq!(history.as_array().map(Vec::len), Some(2), "{history}");

    must(
        "helm",
        &["uninstall", &name, "--namespace", &env.ns, "--wait"],
        None,
    );
    assert!(deployments.get_opt(&full).await.ok().flatten().is_none());
    assert!(roles.get_opt(&full).await.ok().flatten().is_none());
    assert!(
        configurations
            .get_opt(&format!("{full}-apps"))
            .await
            .ok()
            .flatten()
            .is_none()
    );
    // CRDs are never deleted by an uninstall (they hold the users' objects).
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(env.client.clone());
    assert!(
        crds.get_opt("tasks.mesos.operator.dev")
            .await
            .ok()
            .flatten()
            .is_some()
    );
}

async fn wait_offer(env: &TestEnv, framework: &str, log: &dyn Fn() -> String) -> String {
    let api: Api<Offer> = env.api();
    let start = Instant::now();
    loop {
        if let Some(offer) = api
            .list(&ListParams::default())
            .await
            .ok()
            .and_then(|l| l.items.into_iter().find(|o| o.spec.framework == framework))
        {
            return offer.metadata.name.unwrap_or_default();
        }
        assert!(
            start.elapsed() < T,
            "no offer for {framework}; operator log:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn can_i(user: &str, ns: &str, verb: &str, resource: &str) -> bool {
    let mut args = vec!["auth", "can-i", verb];
    let subresource;
    match resource.split_once('/') {
        Some((kind, sub)) => {
            subresource = format!("--subresource={sub}");
            args.extend([kind, subresource.as_str()]);
        }
        None => args.push(resource),
    }
    args.extend(["--namespace", ns, "--as", user]);
    let (_, out, _) = run_tool("kubectl", &args, None);
    out.trim() == "yes"
}

#[tokio::test]
async fn operator_runs_under_the_charts_service_account_and_nothing_more() {
    let env = TestEnv::without_operator("rbac").await;
    let ns = env.ns.clone();
    let name = release(&env, "rbac");
    let full = format!("{name}-mesos-operator");
    // The chart's ServiceAccount, ClusterRole, leader-election Role and bindings (no pods).
    must(
        "helm",
        &[
            "install",
            &name,
            &chart(),
            "--namespace",
            &ns,
            "--set",
            "replicaCount=0",
            // The controllers' own rules; the scheduler API's (templates/scheduler-api.yaml:
            // it writes Frameworks, Tasks and scheduler Leases for the frameworks it serves)
            // are a separate ClusterRole.
            "--set",
            "schedulerApi.rbac=false",
            // The webhook (its Secret, its caBundle), judging this namespace's Apps only.
            "--set",
            &format!("webhook.namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name={ns}"),
        ],
        None,
    );
    let _release = Release {
        name: name.clone(),
        ns: ns.clone(),
    };
    let user = format!("system:serviceaccount:{ns}:{full}");
    let kubeconfig = impersonating_kubeconfig(&user, &format!("{ns}.yaml"));

    // The chart's arguments, with the namespace of this test watched.
    let op = Operator::start(
        &ns,
        "as-sa",
        &[
            "--namespace",
            &ns,
            "--leader-elect",
            "--leader-election-namespace",
            &ns,
            "--leader-election-id",
            &full,
            "--metrics-addr",
            "127.0.0.1:0",
            "--scheduler-api-addr",
            "127.0.0.1:0",
            "--resync-period",
            "30s",
            "--unschedulable-retry",
            "1s",
            "--webhook-addr",
            "127.0.0.1:0",
            "--webhook-secret",
            &format!("{full}-webhook-cert"),
            "--webhook-secret-namespace",
            &ns,
            "--webhook-dns-names",
            "127.0.0.1",
            "--webhook-configuration",
            &format!("{full}-apps"),
            // Every Task Event too, so that each kind of Event is written under the
            // ServiceAccount.
            "--task-events",
            "all",
        ],
        &kubeconfig,
    );
    let tail = || op.log_tail(40);

    // The webhook's certificate: its Secret created, its CA patched into the configuration.
    let configurations: Api<ValidatingWebhookConfiguration> = Api::all(env.client.clone());
    let start = Instant::now();
    let bundle = loop {
        let bundle = configurations
            .get(&format!("{full}-apps"))
            .await
            .ok()
            .and_then(|c| c.webhooks?.first()?.client_config.ca_bundle.clone());
        if let Some(bundle) = bundle {
            break bundle;
        }
        assert!(
            start.elapsed() < T,
            "the caBundle was never set:\n{}",
            tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let cert = env
        .api::<Secret>()
        .get(&format!("{full}-webhook-cert"))
        .await
        .unwrap_or_else(|e| panic!("the webhook Secret: {e}"));
    assert_eq!(cert.data.unwrap_or_default().get("ca.crt"), Some(&bundle));

    // Builtin framework: registered, a task finishes, a task is killed.
    env.apply::<Framework>(&framework("web", "Builtin")).await;
    env.wait_registered_with("web", &tail).await;
    env.apply::<Task>(&task("hello", "web", "1s", "")).await;
    env.apply::<Task>(&task("forever", "web", "10m", "")).await;
    env.wait_state("hello", TaskState::Finished, T).await;
    env.wait_state("forever", TaskState::Running, T).await;
    env.api::<Task>()
        .patch(
            "forever",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"kill": true}})),
        )
        .await
        .unwrap_or_else(|e| panic!("kill: {e}"));
    env.wait_state("forever", TaskState::Killed, T).await;

    // External framework: the allocator creates an offer, a task launched on it finishes.
    env.apply::<Framework>(&framework("ext", "External")).await;
    env.wait_registered_with("ext", &tail).await;
    let offer = wait_offer(&env, "ext", &tail).await;
    env.apply::<Task>(&task(
        "on-offer",
        "ext",
        "1s",
        &format!("  offer: {offer}\n"),
    ))
    .await;
    env.wait_state("on-offer", TaskState::Finished, T).await;

    // Events were written under the ServiceAccount.
    env.wait_event("web", "Registered", T).await;
    env.wait_event("hello", "Launched", T).await;
    env.wait_event("hello", "Finished", T).await;
    env.wait_event("forever", "Killed", T).await;

    // It held its Lease (the Role allows exactly that one).
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = env.api();
    let lease = leases
        .get(&full)
        .await
        .unwrap_or_else(|e| panic!("lease {full}: {e}"));
    assert!(lease.spec.and_then(|s| s.holder_identity).is_some());

    // Nothing it did was refused.
    let log = op.log_text().to_lowercase();
    for word in ["forbidden", "code: 403"] {
        assert!(!log.contains(word), "a request was denied:\n{}", tail());
    }

    // And it may do no more than it needs.
    for (verb, resource) in [
        ("delete", "nodes"),
        ("patch", "nodes"),
        // Only its own Secret (create cannot be limited to a name).
        ("get", "secrets"),
        ("update", "secrets"),
        ("list", "secrets"),
        (
            "list",
            "validatingwebhookconfigurations.admissionregistration.k8s.io",
        ),
        (
            "patch",
            "validatingwebhookconfigurations.admissionregistration.k8s.io",
        ),
        ("update", "pods"),
        ("deletecollection", "pods"),
        ("delete", "frameworks.mesos.operator.dev"),
        ("patch", "batchjobs.mesos.operator.dev"),
        ("delete", "batchjobs.mesos.operator.dev"),
        ("delete", "apps.mesos.operator.dev"),
        ("create", "deployments.apps"),
        ("create", "clusterroles.rbac.authorization.k8s.io"),
        ("create", "events"),
        ("delete", "leases.coordination.k8s.io"),
    ] {
        assert!(
            !can_i(&user, &ns, verb, resource),
            "the ServiceAccount may {verb} {resource}"
        );
    }
    assert!(!can_i(
        &user,
        "default",
        "patch",
        "leases.coordination.k8s.io"
    ));
    for (verb, resource) in [
        ("patch", "pods"),
        ("delete", "pods"),
        ("create", "events.events.k8s.io"),
        ("patch", "tasks.mesos.operator.dev/status"),
        ("create", "offers.mesos.operator.dev"),
        ("create", "secrets"),
    ] {
        assert!(
            can_i(&user, &ns, verb, resource),
            "cannot {verb} {resource}"
        );
    }
    for (verb, object) in [
        ("get", format!("secrets/{full}-webhook-cert")),
        ("update", format!("secrets/{full}-webhook-cert")),
        (
            "get",
            format!("validatingwebhookconfigurations.admissionregistration.k8s.io/{full}-apps"),
        ),
        (
            "patch",
            format!("validatingwebhookconfigurations.admissionregistration.k8s.io/{full}-apps"),
        ),
    ] {
        let (_, out, _) = run_tool(
            "kubectl",
            &["auth", "can-i", verb, &object, "-n", &ns, "--as", &user],
            None,
        );
        assert_eq!(out.trim(), "yes", "cannot {verb} {object}");
    }
    // Real requests, refused with 403 (dry run: nothing would change even if allowed).
    let config = Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&kubeconfig).unwrap_or_else(|e| panic!("{e}")),
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let client = Client::try_from(config).unwrap_or_else(|e| panic!("{e}"));
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    match secrets.list(&ListParams::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "{s:?}"),
        other => panic!("listing secrets was not refused: {other:?}"),
    }
    let nodes: Api<Node> = Api::all(client);
    let dry_run = DeleteParams {
        dry_run: true,
        ..DeleteParams::default()
    };
    match nodes.delete("kwok-node-0", &dry_run).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "{s:?}"),
        other => panic!("deleting a node was not refused: {other:?}"),
    }

    drop(op);
}
