//! The Apps validating admission webhook: what the CRD schema and its CEL rules cannot
//! judge because it needs other objects — an App's `spec.dependencies` must name Apps of
//! its namespace, and must not close a dependency cycle — is refused at apply time, with
//! the field named (`spec.dependencies[1]: App "db" does not exist in namespace "prod"`).
//!
//! - [`decision`]: the pure verdict (dependencies and the namespace's Apps in).
//! - [`server`]: HTTPS `POST /validate-apps` (AdmissionReview v1), a live list of Apps.
//! - [`certs`]: the serving certificate, self-provisioned in a Secret shared by every
//!   replica (its CA patched into the ValidatingWebhookConfiguration), or read from
//!   `--webhook-cert-dir`.
//!
//! Off unless `--webhook-addr` is given. Every replica serves it, leader or standby (it
//! only reads), from before the caches sync. The App controller still reports a missing
//! dependency on the App (an App admitted while the webhook was off, or whose dependency
//! was deleted since: deletes are not intercepted).

pub mod certs;
pub mod decision;
pub mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use kube::Client;
use tracing::{info, warn};

use crate::error::{Error, Result};

/// The webhook's flags.
#[derive(clap::Args, Debug, Clone)]
pub struct WebhookSettings {
    /// Serve the Apps validating admission webhook over HTTPS on this address (e.g.
    /// `0.0.0.0:9443`, path `/validate-apps`); off when unset.
    #[arg(id = "webhook_addr", long = "webhook-addr", env = "WEBHOOK_ADDR")]
    pub addr: Option<SocketAddr>,

    /// Directory holding the serving certificate as `tls.crt` and `tls.key` (e.g. mounted
    /// from a cert-manager Certificate); then no Secret is made and no caBundle patched.
    #[arg(
        id = "webhook_cert_dir",
        long = "webhook-cert-dir",
        env = "WEBHOOK_CERT_DIR"
    )]
    pub cert_dir: Option<PathBuf>,

    /// Secret (type kubernetes.io/tls) in which the operator keeps the webhook's
    /// self-signed CA and serving certificate, created if missing and shared by all
    /// replicas.
    #[arg(
        id = "webhook_secret",
        long = "webhook-secret",
        env = "WEBHOOK_SECRET",
        default_value = "mesos-operator-webhook-cert"
    )]
    pub secret: String,

    /// Namespace of `--webhook-secret`. Default: `POD_NAMESPACE`, else the watched
    /// `--namespace`, else `default`.
    #[arg(
        id = "webhook_secret_namespace",
        long = "webhook-secret-namespace",
        env = "WEBHOOK_SECRET_NAMESPACE"
    )]
    pub secret_namespace: Option<String>,

    /// Names the serving certificate is made for, comma-separated: the webhook Service's
    /// DNS names (`<svc>.<ns>.svc`), or IP addresses.
    #[arg(
        id = "webhook_dns_names",
        long = "webhook-dns-names",
        env = "WEBHOOK_DNS_NAMES",
        value_delimiter = ',',
        default_value = "localhost,127.0.0.1"
    )]
    pub dns_names: Vec<String>,

    /// ValidatingWebhookConfiguration whose webhooks get the CA in their `caBundle`
    /// (server-side apply, kept in place); unset: nothing is patched.
    #[arg(
        id = "webhook_configuration",
        long = "webhook-configuration",
        env = "WEBHOOK_CONFIGURATION"
    )]
    pub configuration: Option<String>,
}

/// Starts the webhook if `--webhook-addr` is set: provisions (or reads) its certificate,
/// keeps the caBundle patched, and serves; the bound address.
pub async fn serve(
    settings: &WebhookSettings,
    client: Client,
    watched_namespace: Option<&str>,
    reviews: server::Reviews,
) -> Result<Option<SocketAddr>> {
    let Some(addr) = settings.addr else {
        return Ok(None);
    };
    let acceptor = match &settings.cert_dir {
        Some(dir) => {
            if settings.configuration.is_some() {
                warn!(
                    "--webhook-configuration is ignored with --webhook-cert-dir: the caBundle \
                     is left to whoever issued the certificate"
                );
            }
            crate::scheduler_api::tls::acceptor(&dir.join("tls.crt"), &dir.join("tls.key"))?
        }
        None => {
            let namespace = settings
                .secret_namespace
                .clone()
                .or_else(|| std::env::var("POD_NAMESPACE").ok())
                .or_else(|| watched_namespace.map(str::to_string))
                .unwrap_or_else(|| "default".to_string());
            let bundle =
                certs::get_or_create(&client, &namespace, &settings.secret, &settings.dns_names)
                    .await?;
            if let Some(configuration) = &settings.configuration {
                tokio::spawn(certs::keep_ca_bundle(
                    client.clone(),
                    configuration.clone(),
                    bundle.ca_crt.clone(),
                    (namespace.clone(), settings.secret.clone()),
                ));
            }
            certs::acceptor(&bundle.tls_crt, &bundle.tls_key)?
        }
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Io {
            context: format!("cannot listen on --webhook-addr {addr}"),
            source,
        })?;
    let listener =
        crate::scheduler_api::tls::TlsListener::new(listener, acceptor).map_err(|source| {
            Error::Io {
                context: "reading the webhook's address".into(),
                source,
            }
        })?;
    let bound = axum::serve::Listener::local_addr(&listener).map_err(|source| Error::Io {
        context: "reading the webhook's address".into(),
        source,
    })?;
    let app = server::router(Arc::new(server::WebhookState { client, reviews }));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            warn!(error = %e, "admission webhook server stopped");
        }
    });
    info!(addr = %bound, path = server::PATH, "serving the Apps admission webhook over HTTPS");
    Ok(Some(bound))
}
