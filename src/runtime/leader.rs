//! Leader election on a `coordination.k8s.io/v1` Lease, so that several replicas can run
//! with exactly one of them reconciling and writing.
//!
//! The lease itself is managed by the `kube-lease-manager` crate (server-side apply on
//! the Lease, renewal `renew-grace` before expiry, forced take-over of an expired lease).
//! This module adds what an operator needs around it:
//!
//! - [`Elector::acquire`] waits for the lease, or returns `None` when the process is asked
//!   to stop first. Followers also watch the Lease: when the holder *releases* it (a
//!   graceful shutdown), they try to take it at once instead of sleeping until it would
//!   have expired, so a SIGTERM hand-over takes well under a second.
//! - [`Leadership`] keeps renewing in the background; [`Leadership::lost`] resolves if
//!   the lease is taken over (or cannot be renewed for a whole lease duration), and
//!   [`Leadership::release`] frees it on shutdown.
//!
//! A replica that loses the lease stops (the caller returns an error and the process exits
//! non-zero): Kubernetes restarts it as a follower, as controller-runtime operators do.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::runtime::watcher;
use kube::{Api, Client};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::error::{Error, Result};
use crate::runtime::parse_duration;

/// Command-line settings of leader election (`mesos-operator run --leader-elect …`).
#[derive(clap::Args, Debug, Clone)]
pub struct LeaderElection {
    /// Run the controllers only while holding a coordination Lease, so that several
    /// replicas can run with one active (the Helm chart turns this on). Off by default:
    /// a single process needs no lease.
    #[arg(long = "leader-elect", env = "LEADER_ELECT")]
    pub enabled: bool,

    /// Namespace of the Lease. Default: `POD_NAMESPACE` (set by the chart), else the
    /// watched `--namespace`, else `default`.
    #[arg(
        id = "leader_election_namespace",
        long = "leader-election-namespace",
        env = "LEADER_ELECTION_NAMESPACE",
        value_name = "NAMESPACE"
    )]
    pub namespace: Option<String>,

    /// Name of the Lease. Default: `mesos-operator`, or `mesos-operator-<NAMESPACE>` with
    /// `--namespace`, so that operators watching different namespaces never compete.
    #[arg(long = "leader-election-id", env = "LEADER_ELECTION_ID")]
    pub lease_name: Option<String>,

    /// How long a lease is valid after its last renewal: the longest a crashed leader
    /// keeps the others waiting. Whole seconds (rounded up).
    #[arg(
        long = "leader-election-lease-duration",
        env = "LEADER_ELECTION_LEASE_DURATION",
        default_value = "15s",
        value_parser = parse_duration
    )]
    pub lease_duration: Duration,

    /// The leader renews this long before its lease expires (also the clock skew the
    /// replicas tolerate). Must be shorter than the lease duration. Whole seconds.
    #[arg(
        long = "leader-election-renew-grace",
        env = "LEADER_ELECTION_RENEW_GRACE",
        default_value = "5s",
        value_parser = parse_duration
    )]
    pub renew_grace: Duration,

    /// Holder identity written into the Lease. Default: `POD_NAME` (or the host name)
    /// followed by a random suffix, unique per process.
    #[arg(long = "leader-election-identity", env = "LEADER_ELECTION_IDENTITY")]
    pub identity: Option<String>,
}

impl Default for LeaderElection {
    fn default() -> Self {
        Self {
            enabled: false,
            namespace: None,
            lease_name: None,
            lease_duration: Duration::from_secs(15),
            renew_grace: Duration::from_secs(5),
            identity: None,
        }
    }
}

/// Name of the Lease for `settings` when the operator watches `watched` (None: all).
pub fn lease_name(settings: &LeaderElection, watched: Option<&str>) -> String {
    match (&settings.lease_name, watched) {
        (Some(name), _) => name.clone(),
        (None, Some(ns)) => format!("mesos-operator-{ns}"),
        (None, None) => "mesos-operator".to_string(),
    }
}

/// Namespace of the Lease: the flag, else `pod_namespace`, else the watched namespace,
/// else `default`.
pub fn lease_namespace(
    settings: &LeaderElection,
    watched: Option<&str>,
    pod_namespace: Option<&str>,
) -> String {
    settings
        .namespace
        .as_deref()
        .or(pod_namespace)
        .or(watched)
        .unwrap_or("default")
        .to_string()
}

/// Lease duration and renew grace in whole seconds, validated (`0 < grace < duration`).
pub fn lease_seconds(settings: &LeaderElection) -> Result<(u64, u64)> {
    let secs = |d: Duration| d.as_secs() + u64::from(d.subsec_nanos() > 0);
    let (duration, grace) = (secs(settings.lease_duration), secs(settings.renew_grace));
    if grace == 0 || grace >= duration {
        return Err(Error::Config(format!(
            "--leader-election-renew-grace ({grace}s) must be at least 1s and shorter than \
             --leader-election-lease-duration ({duration}s)"
        )));
    }
    Ok((duration, grace))
}

fn default_identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "mesos-operator".to_string());
    // A random suffix (std's per-process random hash keys) keeps two processes with the
    // same host name apart.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{host}_{:08x}", hasher.finish() as u32)
}

/// Competes for one Lease.
pub struct Elector {
    client: Client,
    namespace: String,
    name: String,
    identity: String,
    duration: u64,
    grace: u64,
}

impl Elector {
    /// An elector for the operator watching `watched` (None: all namespaces).
    pub fn new(client: Client, settings: &LeaderElection, watched: Option<&str>) -> Result<Self> {
        let (duration, grace) = lease_seconds(settings)?;
        let pod_namespace = std::env::var("POD_NAMESPACE").ok();
        Ok(Self {
            client,
            namespace: lease_namespace(settings, watched, pod_namespace.as_deref()),
            name: lease_name(settings, watched),
            identity: settings.identity.clone().unwrap_or_else(default_identity),
            duration,
            grace,
        })
    }

    /// This process's holder identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// `namespace/name` of the Lease.
    pub fn lease(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    async fn manager(&self) -> Result<LeaseManager> {
        LeaseManagerBuilder::new(self.client.clone(), &self.name)
            .with_namespace(&self.namespace)
            .with_identity(&self.identity)
            .with_duration(self.duration)
            .with_grace(self.grace)
            .build()
            .await
            .map_err(|source| Error::LeaderElection {
                context: format!("preparing Lease {}", self.lease()),
                source,
            })
    }

    /// Waits until this process holds the Lease. Returns `None` if `shutdown` completes
    /// first (a follower asked to stop).
    pub async fn acquire(&self, shutdown: impl Future<Output = ()>) -> Result<Option<Leadership>> {
        let mut shutdown = std::pin::pin!(shutdown);
        let released = Arc::new(Notify::new());
        let watch_task = self.watch_releases(released.clone());
        let _stop_watch = AbortOnDrop(watch_task);
        info!(lease = %self.lease(), identity = %self.identity, "waiting to become the leader");
        let mut manager = self.manager().await?;
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => {
                    info!(lease = %self.lease(), "stopping before becoming the leader");
                    return Ok(None);
                }
                () = released.notified() => {
                    // The holder let go: look again now rather than when it would expire.
                    debug!(lease = %self.lease(), "lease released; trying to take it");
                    match self.manager().await {
                        Ok(fresh) => manager = fresh,
                        Err(e) => warn!(error = %e, "cannot re-read the lease; retrying on expiry"),
                    }
                }
                changed = manager.changed() => match changed {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(e) => {
                        warn!(lease = %self.lease(), error = %e, "leader election error; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
            }
        }
        info!(lease = %self.lease(), identity = %self.identity, "became the leader");
        Ok(Some(Leadership::start(
            manager,
            self.lease(),
            Duration::from_secs(self.duration),
        )))
    }

    /// Watches the Lease and notifies when it has no holder.
    fn watch_releases(&self, released: Arc<Notify>) -> JoinHandle<()> {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), &self.namespace);
        let config = watcher::Config::default().fields(&format!("metadata.name={}", self.name));
        tokio::spawn(async move {
            let stream = watcher::watcher(api, config);
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(watcher::Event::Apply(lease) | watcher::Event::InitApply(lease)) => {
                        let holder = lease.spec.and_then(|s| s.holder_identity);
                        if holder.as_deref().is_none_or(str::is_empty) {
                            released.notify_one();
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        debug!(error = %e, "lease watch error; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        })
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A held Lease, renewed in the background until released or lost.
pub struct Leadership {
    manager: Arc<LeaseManager>,
    lease: String,
    lost: watch::Receiver<bool>,
    renewer: JoinHandle<()>,
}

impl Leadership {
    fn start(manager: LeaseManager, lease: String, duration: Duration) -> Self {
        let manager = Arc::new(manager);
        let (tx, lost) = watch::channel(false);
        let renewing = manager.clone();
        let name = lease.clone();
        let renewer = tokio::spawn(async move {
            // `changed()` renews the lease before it expires and returns only when the
            // holder changes (Ok(false)) or the API answers with an error.
            let mut failing_since: Option<Instant> = None;
            loop {
                let call = Instant::now();
                match renewing.changed().await {
                    Ok(true) => failing_since = None,
                    Ok(false) => {
                        warn!(lease = %name, "the lease was taken over");
                        break;
                    }
                    Err(e) => {
                        // A call that ran for a while renewed at least once before failing.
                        if call.elapsed() > Duration::from_secs(2) {
                            failing_since = None;
                        }
                        let since = *failing_since.get_or_insert(call);
                        if since.elapsed() >= duration {
                            warn!(lease = %name, error = %e, "could not renew the lease for a whole lease duration");
                            break;
                        }
                        warn!(lease = %name, error = %e, "lease renewal failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            let _ = tx.send(true);
        });
        Self {
            manager,
            lease,
            lost,
            renewer,
        }
    }

    /// `namespace/name` of the held Lease.
    pub fn lease(&self) -> &str {
        &self.lease
    }

    /// Resolves when the lease is lost. Never resolves while it is held.
    pub async fn lost(&mut self) {
        if self.lost.wait_for(|lost| *lost).await.is_err() {
            // The renewer ended without a word: treat it as lost.
        }
    }

    /// Stops renewing and frees the lease so that a follower takes over at once.
    pub async fn release(self) -> Result<()> {
        self.renewer.abort();
        let _ = self.renewer.await;
        self.manager
            .release()
            .await
            .map_err(|source| Error::LeaderElection {
                context: format!("releasing Lease {}", self.lease),
                source,
            })?;
        info!(lease = %self.lease, "released the lease");
        Ok(())
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LeaderElection {
        LeaderElection::default()
    }

    #[test]
    fn lease_name_is_per_watched_namespace() {
        assert_eq!(lease_name(&settings(), None), "mesos-operator");
        assert_eq!(lease_name(&settings(), Some("a")), "mesos-operator-a");
        let named = LeaderElection {
            lease_name: Some("x".into()),
            ..settings()
        };
        assert_eq!(lease_name(&named, Some("a")), "x");
    }

    #[test]
    fn lease_namespace_prefers_flag_then_pod_then_watched() {
        assert_eq!(lease_namespace(&settings(), None, None), "default");
        assert_eq!(lease_namespace(&settings(), Some("w"), None), "w");
        assert_eq!(lease_namespace(&settings(), Some("w"), Some("p")), "p");
        let flagged = LeaderElection {
            namespace: Some("f".into()),
            ..settings()
        };
        assert_eq!(lease_namespace(&flagged, Some("w"), Some("p")), "f");
    }

    #[test]
    fn lease_seconds_round_up_and_validate() {
        assert_eq!(lease_seconds(&settings()).ok(), Some((15, 5)));
        let fractional = LeaderElection {
            lease_duration: Duration::from_millis(2500),
            renew_grace: Duration::from_millis(500),
            ..settings()
        };
        assert_eq!(lease_seconds(&fractional).ok(), Some((3, 1)));
        let bad = LeaderElection {
            lease_duration: Duration::from_secs(5),
            renew_grace: Duration::from_secs(5),
            ..settings()
        };
        assert!(lease_seconds(&bad).is_err());
    }

    #[test]
    fn identities_are_unique_per_call() {
        assert_ne!(default_identity(), default_identity());
    }
}
