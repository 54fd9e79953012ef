//! The Apps admission webhook (src/admission) on the real API server: an unknown
//! dependency is refused by `kubectl apply` with the field named, a known one accepted; the
//! operator self-provisions its certificate in a Secret, patches the caBundle, and a
//! restart reuses both.
//!
//! The test's ValidatingWebhookConfiguration calls `https://127.0.0.1:<port>` and selects
//! the test's namespace only, so parallel tests in other namespaces never meet it; it is
//! deleted at the end (also on failure).

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};

use crate::support::{TestEnv, kubectl_run};
use crate::*;
use mesos_testkit::process::{Operator, http_get, metric};
use mesos_testkit::support::kubeconfig;

/// Deletes the (cluster-scoped) configuration on drop.
struct Configuration(String);

impl Drop for Configuration {
    fn drop(&mut self) {
        let (ok, out) = kubectl_run(
            &[
                "delete",
                "validatingwebhookconfiguration",
                &self.0,
                "--ignore-not-found",
            ],
            "",
        );
        if !ok {
            eprintln!(
                "cannot delete ValidatingWebhookConfiguration {}: {out}",
                self.0
            );
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

async fn create_configuration(env: &TestEnv, name: &str, port: u16) -> Configuration {
    let manifest = format!(
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\n\
         metadata:\n  name: {name}\nwebhooks:\n- name: apps.mesos.operator.dev\n  \
         clientConfig:\n    url: https://127.0.0.1:{port}/validate-apps\n  \
         rules:\n  - apiGroups: [mesos.operator.dev]\n    apiVersions: [\"*\"]\n    \
         operations: [CREATE, UPDATE]\n    resources: [apps]\n    scope: Namespaced\n  \
         namespaceSelector:\n    matchLabels:\n      kubernetes.io/metadata.name: {ns}\n  \
         failurePolicy: Fail\n  sideEffects: None\n  admissionReviewVersions: [v1]\n  \
         timeoutSeconds: 5\n",
        ns = env.ns
    );
    let object: ValidatingWebhookConfiguration =
        serde_yaml::from_str(&manifest).unwrap_or_else(|e| panic!("{e}\n{manifest}"));
    let api: Api<ValidatingWebhookConfiguration> = Api::all(env.client.clone());
    api.create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|e| panic!("creating {name}: {e}"));
    Configuration(name.to_string())
}

/// The configuration's caBundle, once set.
async fn ca_bundle(env: &TestEnv, name: &str) -> Option<Vec<u8>> {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(env.client.clone());
    api.get(name)
        .await
        .ok()?
        .webhooks?
        .first()?
        .client_config
        .ca_bundle
        .clone()
        .map(|b| b.0)
}

async fn wait_ca_bundle(env: &TestEnv, name: &str) -> Vec<u8> {
    let start = Instant::now();
    loop {
        if let Some(bundle) = ca_bundle(env, name).await {
            return bundle;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the caBundle of {name} was never set; log:\n{}",
            env.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn apply(ns: &str, manifest: &str) -> (bool, String) {
    kubectl_run(&["apply", "-n", ns, "-f", "-"], manifest)
}

/// Applies until the webhook answers (the API server picks the new caBundle up a moment
/// after it is written), expecting a refusal that contains `expected`.
async fn wait_refused(env: &TestEnv, manifest: &str, expected: &str) -> String {
    let start = Instant::now();
    loop {
        let (ok, out) = apply(&env.ns, manifest);
        assert!(
            !ok,
            "accepted, expected a refusal naming {expected}:\n{manifest}\n{out}"
        );
        if out.contains(expected) {
            return out;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "refused, but never for {expected:?}; last: {out}\nlog:\n{}",
            env.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn with_deps(name: &str, deps: &str) -> String {
    app(
        name,
        0,
        "sleep 1000",
        &format!("  dependencies: [{deps}]\n"),
    )
}

#[tokio::test]
async fn unknown_dependencies_are_refused_at_apply_by_the_operators_webhook() {
    let port = free_port();
    let mut env = TestEnv::with_args(
        "apps-webhook",
        &[
            "--webhook-addr",
            &format!("127.0.0.1:{port}"),
            "--webhook-secret",
            "webhook-cert",
            "--webhook-secret-namespace",
            "{ns}",
            "--webhook-dns-names",
            "127.0.0.1",
            "--webhook-configuration",
            "e2e-apps-webhook-{ns}",
        ],
    )
    .await;
    let ns = env.ns.clone();
    // Created after the operator started: it keeps trying until the configuration exists.
    let name = format!("e2e-apps-webhook-{ns}");
    let _configuration = create_configuration(&env, &name, port).await;
    let bundle = wait_ca_bundle(&env, &name).await;
    let secrets: Api<Secret> = env.api();
    let secret = secrets
        .get("webhook-cert")
        .await
        .unwrap_or_else(|e| panic!("the webhook Secret: {e}"));
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    let data = secret.data.clone().unwrap_or_default();
    assert_eq!(
        data.get("ca.crt").map(|b| b.0.clone()),
        Some(bundle.clone())
    );
    assert!(data.contains_key("tls.crt") && data.contains_key("tls.key"));

    // An unknown dependency is refused, naming the field, the namespace, and what to do.
    let out = wait_refused(&env, &with_deps("web", "db"), "does not exist").await;
    println!("refused: {}", out.trim());
    assert!(
        out.contains(&format!(
            "spec.dependencies[0]: App \"db\" does not exist in namespace \"{ns}\"; create it first"
        )),
        "{out}"
    );
    let apps: Api<App> = env.api();
    assert!(
        apps.get_opt("web").await.unwrap().is_none(),
        "web was stored"
    );

    // Dependencies listed first in one multi-document apply: accepted.
    let (ok, out) = apply(
        &ns,
        &format!(
            "{}---\n{}",
            app("db", 0, "sleep 1000", ""),
            with_deps("web", "db")
        ),
    );
    assert!(ok, "db then web refused: {out}");
    assert!(apps.get_opt("web").await.unwrap().is_some());

    // An UPDATE adding an unknown dependency is refused, naming its index.
    let (ok, out) = apply(&ns, &with_deps("web", "db, cache"));
    assert!(
        !ok,
        "an update adding an unknown dependency was accepted: {out}"
    );
    assert!(
        out.contains("spec.dependencies[1]: App \"cache\" does not exist"),
        "{out}"
    );
    let stored = apps.get("web").await.unwrap();
    assert_eq!(stored.spec.dependencies, vec!["db".to_string()]);

    // A dependency closing a cycle is refused.
    let (ok, out) = apply(&ns, &with_deps("db", "web"));
    assert!(!ok, "a cycle was accepted: {out}");
    assert!(out.contains("dependency cycle: db -> web -> db"), "{out}");

    // Bytes that are no AdmissionReview: 400, and the server goes on answering.
    let curl = std::process::Command::new("curl")
        .args([
            "-sk",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "{\"kind\": \"AdmissionReview\", \"request\": 7}",
            &format!("https://127.0.0.1:{port}/validate-apps"),
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl: {e}"));
    assert_eq!(String::from_utf8_lossy(&curl.stdout), "400");

    // A restart reuses the Secret: the same certificate, the caBundle unchanged, and the
    // new process serves it (the API server still reaches the webhook over TLS).
    env.kill_operator();
    env.start_operator();
    let start = Instant::now();
    while env
        .log_tail(1_000_000)
        .matches("webhook certificate from its Secret")
        .count()
        < 1
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the restarted operator never read its Secret; log:\n{}",
            env.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let again = secrets.get("webhook-cert").await.unwrap();
    assert_eq!(
        again.metadata.resource_version, secret.metadata.resource_version,
        "the Secret was rewritten"
    );
    let out = wait_refused(&env, &with_deps("web", "db, queue"), "does not exist").await;
    assert!(out.contains("spec.dependencies[1]: App \"queue\""), "{out}");
    assert_eq!(
        ca_bundle(&env, &name).await,
        Some(bundle),
        "the caBundle changed"
    );
    // A change that adds no dependency still goes through.
    let (ok, out) = apply(&ns, &app("web", 1, "sleep 1000", "  dependencies: [db]\n"));
    assert!(ok, "{out}");

    // Deletes are not intercepted: with db deleted, web is still admitted when changed
    // (it adds no dependency), and its new version waits, saying why.
    let (ok, out) = kubectl_run(&["delete", "app", "db", "-n", &ns, "--wait"], "");
    assert!(ok, "{out}");
    let (ok, out) = apply(&ns, &app("web", 1, "sleep 2000", "  dependencies: [db]\n"));
    assert!(ok, "a change of web with db deleted was refused: {out}");
    let waiting = wait_app(&env, "web", T, "the new version waiting for db", |a| {
        phase(a) == "Waiting"
            && a.status
                .as_ref()
                .and_then(|s| s.deployment.as_ref())
                .is_some_and(|d| d.message.contains("db does not exist"))
    })
    .await;
    println!(
        "web: {:?}",
        waiting.status.and_then(|s| s.deployment).map(|d| d.message)
    );

    // The new process counted what it answered.
    let metrics = metrics_addr(&env.log_tail(1_000_000));
    let (_, text) =
        http_get(&metrics, "/metrics").unwrap_or_else(|| panic!("no /metrics at {metrics}"));
    let count = |verdict: &str| {
        metric(
            &text,
            &format!("mesos_operator_admission_reviews_total{{verdict=\"{verdict}\"}}"),
        )
        .unwrap_or(0.0)
    };
    assert!(count("denied") >= 1.0, "{text}");
    assert!(count("allowed") >= 1.0, "{text}");
}

/// The address the last operator start announced for /metrics.
fn metrics_addr(log: &str) -> String {
    let line = log
        .lines()
        .rfind(|l| l.contains("serving /metrics"))
        .unwrap_or_else(|| panic!("no metrics address in the log:\n{log}"));
    let at = line
        .find("127.0.0.1:")
        .unwrap_or_else(|| panic!("no address in {line}"));
    line[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
        .collect()
}

fn replica(ns: &str, name: &str, port: u16, configuration: &str) -> Operator {
    Operator::start(
        ns,
        name,
        &[
            "--namespace",
            ns,
            "--leader-elect",
            "--leader-election-identity",
            name,
            "--metrics-addr",
            "127.0.0.1:0",
            "--resync-period",
            "30s",
            "--webhook-addr",
            &format!("127.0.0.1:{port}"),
            "--webhook-secret",
            "webhook-cert",
            "--webhook-secret-namespace",
            ns,
            "--webhook-dns-names",
            "127.0.0.1",
            "--webhook-configuration",
            configuration,
        ],
        Path::new(&kubeconfig()),
    )
}

fn elected(op: &Operator) -> Option<f64> {
    let addr = op.metrics_addr(Duration::from_secs(60));
    http_get(&addr, "/metrics").and_then(|(_, body)| metric(&body, "mesos_master_elected"))
}

/// POSTs an AdmissionReview of a Pod to a replica, trusting only `ca`: the replica's
/// answer, or curl's error.
fn review_over_tls(port: u16, ca: &Path) -> String {
    let review = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": format!("uid-{port}"),
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": "CREATE",
            "userInfo": {},
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}},
            "oldObject": null,
        }
    });
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--cacert",
            &ca.display().to_string(),
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &review.to_string(),
            &format!("https://127.0.0.1:{port}/validate-apps"),
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl: {e}"));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn every_replica_serves_the_webhook_with_one_shared_certificate() {
    let env = TestEnv::without_operator("apps-webhook-ha").await;
    let ns = env.ns.clone();
    let name = format!("e2e-apps-webhook-{ns}");
    let (port_a, port_b) = (free_port(), free_port());
    let _configuration = create_configuration(&env, &name, port_a).await;
    // Started together: both find no Secret; one creates it, the other reads it.
    let a = replica(&ns, "a", port_a, &name);
    let b = replica(&ns, "b", port_b, &name);
    let bundle = wait_ca_bundle(&env, &name).await;
    let secret = env
        .api::<Secret>()
        .get("webhook-cert")
        .await
        .unwrap_or_else(|e| panic!("the webhook Secret: {e}"));
    assert_eq!(
        secret
            .data
            .unwrap_or_default()
            .get("ca.crt")
            .map(|b| b.0.clone()),
        Some(bundle.clone())
    );
    let ca = mesos_testkit::paths::target_tmpdir().join(format!("{ns}-ca.crt"));
    std::fs::write(&ca, &bundle).unwrap_or_else(|e| panic!("writing {}: {e}", ca.display()));

    // One leads, one stands by.
    let start = Instant::now();
    let standby_port = loop {
        match (elected(&a), elected(&b)) {
            (Some(1.0), Some(0.0)) => break port_b,
            (Some(0.0), Some(1.0)) => break port_a,
            other => assert!(
                start.elapsed() < Duration::from_secs(60),
                "no leader and standby: {other:?}\na:\n{}\nb:\n{}",
                a.log_tail(20),
                b.log_tail(20)
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Both answer over TLS with a certificate the one caBundle verifies.
    for port in [port_a, port_b] {
        let start = Instant::now();
        loop {
            let out = review_over_tls(port, &ca);
            if out.contains(&format!("\"uid\":\"uid-{port}\"")) && out.contains("\"allowed\":true")
            {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the replica on {port} did not answer: {out}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let created = [&a, &b]
        .iter()
        .filter(|op| op.log_text().contains("created the webhook certificate"))
        .count();
    assert_eq!(created, 1, "each replica made its own certificate");

    // The API server, sent to the standby, has its Apps refused there.
    let patch = serde_json::json!([{
        "op": "replace",
        "path": "/webhooks/0/clientConfig/url",
        "value": format!("https://127.0.0.1:{standby_port}/validate-apps"),
    }]);
    let (ok, out) = kubectl_run(
        &[
            "patch",
            "validatingwebhookconfiguration",
            &name,
            "--type",
            "json",
            "-p",
            &patch.to_string(),
        ],
        "",
    );
    assert!(ok, "pointing the webhook at the standby: {out}");
    // (The API server picks the new URL up a moment later: until then the first replica
    // may answer.)
    let standby = if standby_port == port_a { &a } else { &b };
    let start = Instant::now();
    loop {
        let out = wait_refused(&env, &with_deps("web", "db"), "does not exist").await;
        assert!(out.contains("spec.dependencies[0]: App \"db\""), "{out}");
        if standby.log_text().contains("App refused") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the standby never answered a review:\n{}",
            standby.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Rotation: the Secret deleted and b restarted, b makes a new certificate and patches
    // its CA in; a, still holding the old one, stops patching (no tug of war).
    let (ok, out) = kubectl_run(&["delete", "secret", "webhook-cert", "-n", &ns], "");
    assert!(ok, "{out}");
    drop(b);
    let b = replica(&ns, "b2", port_b, &name);
    let start = Instant::now();
    let rotated = loop {
        if let Some(now) = ca_bundle(&env, &name).await
            && now != bundle
        {
            break now;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the caBundle was never rotated:\n{}",
            b.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let start = Instant::now();
    while !a.log_text().contains("holds another CA now") {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the old replica never noticed the rotation:\n{}",
            a.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(ca_bundle(&env, &name).await, Some(rotated.clone()));
    let ca = mesos_testkit::paths::target_tmpdir().join(format!("{ns}-ca2.crt"));
    std::fs::write(&ca, &rotated).unwrap_or_else(|e| panic!("writing {}: {e}", ca.display()));
    let out = review_over_tls(port_b, &ca);
    assert!(out.contains("\"allowed\":true"), "{out}");
}
