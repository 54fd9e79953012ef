//! The webhook's certificate, self-provisioned as common operators do: a self-signed CA and
//! a serving certificate for the webhook's DNS names, kept in one Secret (type
//! `kubernetes.io/tls`: `tls.crt`, `tls.key`, `ca.crt`) so that every replica serves the
//! same one; the CA goes into the ValidatingWebhookConfiguration's `caBundle` by
//! server-side apply. With `--webhook-cert-dir` (cert-manager style) none of this runs.
//!
//! Get-or-create is race-free across replicas: the first `create` wins, the others get 409
//! and read the winner's Secret. A Secret made for other names (the Service was renamed)
//! is replaced, guarded by its resourceVersion.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::error::{Error, KubeContext, Result};

/// Annotation of the Secret: the names its certificate was made for (comma-separated).
pub const ANNOTATION_NAMES: &str = "mesos.operator.dev/webhook-names";
/// How long a generated certificate is valid.
pub const VALIDITY: time::Duration = time::Duration::days(3650);
/// Field manager of the `caBundle` patch.
pub const FIELD_MANAGER: &str = "mesos-operator-webhook";
/// How often the `caBundle` is checked once in place (an upgrade of the chart may reset it).
pub const RECHECK: Duration = Duration::from_secs(30);

/// A CA and the serving certificate it signed, PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// The CA certificate (the `caBundle`).
    pub ca_crt: String,
    /// The serving certificate.
    pub tls_crt: String,
    /// The serving certificate's private key.
    pub tls_key: String,
}

fn cert_error(e: rcgen::Error) -> Error {
    Error::Config(format!("generating the webhook certificate: {e}"))
}

/// A new CA and a serving certificate for `names` (DNS names or IP addresses), valid from
/// an hour before `now` for [`VALIDITY`].
pub fn generate(names: &[String], now: time::OffsetDateTime) -> Result<Bundle> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    if names.is_empty() {
        return Err(Error::Config(
            "--webhook-dns-names: the serving certificate needs at least one name".into(),
        ));
    }
    let not_before = now - time::Duration::hours(1);
    let not_after = now + VALIDITY;

    let ca_key = KeyPair::generate().map_err(cert_error)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(cert_error)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "mesos-operator webhook CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_cert = ca.self_signed(&ca_key).map_err(cert_error)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().map_err(cert_error)?;
    let mut leaf = CertificateParams::new(names.to_vec()).map_err(cert_error)?;
    leaf.distinguished_name.push(DnType::CommonName, &names[0]);
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    let cert = leaf.signed_by(&key, &issuer).map_err(cert_error)?;
    Ok(Bundle {
        ca_crt: ca_cert.pem(),
        // The chain: the leaf, then its CA.
        tls_crt: format!("{}{}", cert.pem(), ca_cert.pem()),
        tls_key: key.serialize_pem(),
    })
}

/// A TLS server configuration from a PEM chain and key in memory.
pub fn acceptor(cert_pem: &str, key_pem: &str) -> Result<TlsAcceptor> {
    let invalid = |what: &str, e: &dyn std::fmt::Display| Error::Config(format!("{what}: {e}"));
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| invalid("the webhook's tls.crt", &e))?;
    if chain.is_empty() {
        return Err(Error::Config(
            "the webhook's tls.crt holds no certificate".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| invalid("the webhook's tls.key", &e))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("configuring TLS", &e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| invalid("the webhook's certificate and key", &e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The bundle a Secret holds, if it holds one made for `names`.
fn read(secret: &Secret, names: &[String]) -> Option<Bundle> {
    let data = secret.data.as_ref()?;
    let text = |key: &str| {
        data.get(key)
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .filter(|s| !s.is_empty())
    };
    let made_for = secret.annotations().get(ANNOTATION_NAMES)?;
    if *made_for != names.join(",") {
        return None;
    }
    Some(Bundle {
        ca_crt: text("ca.crt")?,
        tls_crt: text("tls.crt")?,
        tls_key: text("tls.key")?,
    })
}

fn secret_of(name: &str, names: &[String], bundle: &Bundle) -> Secret {
    let mut secret = Secret {
        type_: Some("kubernetes.io/tls".into()),
        data: Some(
            [
                ("ca.crt", &bundle.ca_crt),
                ("tls.crt", &bundle.tls_crt),
                ("tls.key", &bundle.tls_key),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
            .collect(),
        ),
        ..Secret::default()
    };
    secret.metadata.name = Some(name.to_string());
    secret.metadata.annotations = Some([(ANNOTATION_NAMES.to_string(), names.join(","))].into());
    secret.metadata.labels = Some(
        [(
            "app.kubernetes.io/managed-by".to_string(),
            "mesos-operator".to_string(),
        )]
        .into(),
    );
    secret
}

/// Gets Secret `namespace/name` or creates it with a new bundle for `names`; every replica
/// ends up with the same bundle.
pub async fn get_or_create(
    client: &Client,
    namespace: &str,
    name: &str,
    names: &[String],
) -> Result<Bundle> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for _ in 0..5 {
        let existing = api
            .get_opt(name)
            .await
            .context(|| format!("reading the webhook Secret {namespace}/{name}"))?;
        if let Some(bundle) = existing.as_ref().and_then(|s| read(s, names)) {
            info!(secret = %format!("{namespace}/{name}"), "webhook certificate from its Secret");
            return Ok(bundle);
        }
        let bundle = generate(names, time::OffsetDateTime::now_utc())?;
        let mut secret = secret_of(name, names, &bundle);
        let written = match existing {
            None => api.create(&PostParams::default(), &secret).await,
            Some(old) => {
                warn!(
                    secret = %format!("{namespace}/{name}"),
                    names = %names.join(","),
                    "the webhook Secret holds no certificate for these names: replacing it"
                );
                secret.metadata.resource_version = old.resource_version();
                api.replace(name, &PostParams::default(), &secret).await
            }
        };
        match written {
            Ok(_) => {
                info!(secret = %format!("{namespace}/{name}"), "created the webhook certificate");
                return Ok(bundle);
            }
            // Another replica was first: read its Secret.
            Err(kube::Error::Api(e)) if e.code == 409 => {
                debug!("the webhook Secret was written concurrently; reading it again");
            }
            Err(e) => {
                return Err(e).context(|| format!("writing the webhook Secret {namespace}/{name}"));
            }
        }
    }
    Err(Error::Config(format!(
        "the webhook Secret {namespace}/{name} kept changing while it was being read"
    )))
}

/// Puts `ca` into the `caBundle` of every webhook of ValidatingWebhookConfiguration
/// `name` (server-side apply, field manager [`FIELD_MANAGER`]); whether anything changed.
pub async fn apply_ca_bundle(client: &Client, name: &str, ca: &str) -> Result<bool> {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let current = api
        .get(name)
        .await
        .context(|| format!("reading ValidatingWebhookConfiguration {name}"))?;
    let webhooks = current.webhooks.unwrap_or_default();
    let stale: Vec<&str> = webhooks
        .iter()
        .filter(|w| {
            w.client_config.ca_bundle.as_ref().map(|b| b.0.as_slice()) != Some(ca.as_bytes())
        })
        .map(|w| w.name.as_str())
        .collect();
    if stale.is_empty() {
        return Ok(false);
    }
    let encoded = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(ca.as_bytes())
    };
    let patch = serde_json::json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": { "name": name },
        "webhooks": webhooks.iter().map(|w| serde_json::json!({
            "name": w.name,
            "clientConfig": { "caBundle": encoded },
        })).collect::<Vec<_>>(),
    });
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .context(|| format!("patching the caBundle of ValidatingWebhookConfiguration {name}"))?;
    info!(configuration = name, webhooks = ?stale, "patched the webhook caBundle");
    Ok(true)
}

/// Whether Secret `namespace/secret` now holds another CA than `ca` (it was deleted and
/// made again by a restarted replica: a rotation).
async fn rotated(client: &Client, namespace: &str, secret: &str, ca: &str) -> bool {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(secret).await {
        Ok(Some(s)) => s
            .data
            .as_ref()
            .and_then(|d| d.get("ca.crt"))
            .is_some_and(|b| b.0 != ca.as_bytes()),
        _ => false,
    }
}

/// Keeps `ca` in ValidatingWebhookConfiguration `name`: applies it now, retries with a
/// backoff (1 s doubling to 10 s) while that fails (the configuration may be created after
/// the operator starts), then checks again every [`RECHECK`]. Once Secret
/// `secret = (namespace, name)` holds another CA (rotated), this replica stops patching,
/// so that replicas of two generations never undo each other's caBundle.
pub async fn keep_ca_bundle(client: Client, name: String, ca: String, secret: (String, String)) {
    let mut backoff = Duration::from_secs(1);
    let mut waiting = false;
    loop {
        if rotated(&client, &secret.0, &secret.1, &ca).await {
            warn!(
                secret = %format!("{}/{}", secret.0, secret.1),
                "the webhook Secret holds another CA now: this replica no longer patches the \
                 caBundle; restart it to serve the new certificate"
            );
            return;
        }
        match apply_ca_bundle(&client, &name, &ca).await {
            Ok(_) => {
                backoff = Duration::from_secs(1);
                waiting = false;
                tokio::time::sleep(RECHECK).await;
            }
            Err(Error::Kube {
                source: kube::Error::Api(e),
                ..
            }) if e.code == 404 => {
                if !waiting {
                    info!(configuration = %name, "waiting for the ValidatingWebhookConfiguration to exist");
                    waiting = true;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
            Err(e) => {
                warn!(configuration = %name, error = %e, retry_in = ?backoff, "cannot set the webhook caBundle");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec![
            "svc.ns.svc".to_string(),
            "svc.ns.svc.cluster.local".to_string(),
            "127.0.0.1".to_string(),
        ]
    }

    #[test]
    fn a_generated_bundle_serves_tls() {
        let bundle = generate(&names(), time::OffsetDateTime::now_utc()).unwrap();
        assert!(bundle.ca_crt.starts_with("-----BEGIN CERTIFICATE-----"));
        // The chain is the leaf and its CA.
        assert_eq!(bundle.tls_crt.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(bundle.tls_crt.ends_with(&bundle.ca_crt));
        assert!(bundle.tls_key.contains("PRIVATE KEY"));
        acceptor(&bundle.tls_crt, &bundle.tls_key).unwrap();
        // Two generations differ (a fresh key each time).
        let other = generate(&names(), time::OffsetDateTime::now_utc()).unwrap();
        assert_ne!(other.ca_crt, bundle.ca_crt);
    }

    #[test]
    fn no_names_is_a_configuration_error() {
        assert!(matches!(
            generate(&[], time::OffsetDateTime::now_utc()),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn a_secret_is_read_back_only_for_the_names_it_was_made_for() {
        let bundle = generate(&names(), time::OffsetDateTime::now_utc()).unwrap();
        let secret = secret_of("cert", &names(), &bundle);
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(read(&secret, &names()), Some(bundle.clone()));
        assert_eq!(read(&secret, &names()[..1]), None);
        let mut empty = secret.clone();
        empty.data = None;
        assert_eq!(read(&empty, &names()), None);
    }

    #[test]
    fn garbage_is_refused_as_a_certificate() {
        assert!(acceptor("not a pem", "nor this").is_err());
    }
}
