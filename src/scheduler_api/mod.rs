//! The Mesos v1 scheduler HTTP API (`POST /api/v1/scheduler`) and the master endpoints
//! tools read (`/version`, `/health`, `/redirect`, `/state`, `/metrics/snapshot`), on
//! their own port (Mesos' 5050 by default).
//!
//! An adapter over the resource API, not a second master: a SUBSCRIBE registers (or
//! re-attaches) a `Framework` of scheduler kind External; OFFERS are the allocator's
//! Offer objects; ACCEPT creates the Tasks an External scheduler would; DECLINE,
//! SUPPRESS, REVIVE, KILL and TEARDOWN write the same fields. The framework's stream
//! keeps its scheduler Lease renewed, so a broken stream is a disconnected scheduler
//! and `failoverTimeout` applies as for any External framework.
//!
//! - [`adapter`]: the pure mapping (unit tested).
//! - [`server`]: the HTTP server, the per-framework sessions.
//! - [`master`]: the read-only master endpoints.
//! - [`view`]: the master's state, built once for `/state` and the operator API (pure).
//! - [`operator`]: the v1 operator API (`POST /api/v1`) and its event stream.
//!
//! Tenancy: every framework of a principal lives in one namespace. With HTTP Basic
//! credentials (what pymesos sends), the principal's Secret (label
//! `mesos.operator.dev/principal`, in `--scheduler-api-credentials-namespace`) holds
//! `principal`, `secret`, `namespace` and optionally `roles` (comma-separated, Mesos'
//! `register_frameworks` ACL; empty means any). Without credentials, a framework is
//! refused (401) unless `--scheduler-api-allow-anonymous` (development) is given; it
//! then lives in `--scheduler-api-namespace`. A Kubernetes bearer token is checked with
//! a TokenReview and a SubjectAccessReview (`create` on frameworks in the namespace it
//! registers in: a ServiceAccount's own, any other user's `--scheduler-api-namespace`).
//! With `--scheduler-api-tls-cert`/`--key` the port speaks TLS ([`tls`]).

// Mesos' deprecated fields (`FrameworkInfo.role`, `Resource.role`, RECONCILE_OPERATIONS)
// are what pre-MULTI_ROLE frameworks read and write.
#[allow(deprecated)]
pub mod adapter;
pub mod master;
pub mod operator;
#[allow(deprecated)]
pub mod server;
pub mod tls;
pub mod view;

use std::net::SocketAddr;

/// The scheduler API's address without `--scheduler-api-addr`: Mesos' 5050.
pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 5050);

/// Command-line settings of the scheduler API.
#[derive(clap::Args, Debug, Clone)]
pub struct ApiSettings {
    /// Address of the Mesos HTTP API (scheduler API and master endpoints). Port 0 picks
    /// a free port (the bound address is logged). Default: 0.0.0.0:5050, Mesos' port;
    /// when that default is taken the API is off (with a warning), while an address
    /// given here that cannot be bound stops the operator.
    #[arg(
        id = "scheduler_api_addr",
        long = "scheduler-api-addr",
        env = "SCHEDULER_API_ADDR",
        value_name = "ADDR"
    )]
    pub addr: Option<SocketAddr>,

    /// Namespace of frameworks that subscribe without credentials (with
    /// `--scheduler-api-allow-anonymous`). Default: the watched `--namespace`, else
    /// `default`.
    #[arg(
        id = "scheduler_api_namespace",
        long = "scheduler-api-namespace",
        env = "SCHEDULER_API_NAMESPACE"
    )]
    pub namespace: Option<String>,

    /// Let frameworks subscribe without credentials (development only).
    #[arg(
        id = "scheduler_api_allow_anonymous",
        long = "scheduler-api-allow-anonymous",
        env = "SCHEDULER_API_ALLOW_ANONYMOUS"
    )]
    pub allow_anonymous: bool,

    /// Namespace of the principals' Secrets. Default: `POD_NAMESPACE`, else the
    /// anonymous namespace.
    #[arg(
        id = "scheduler_api_credentials_namespace",
        long = "scheduler-api-credentials-namespace",
        env = "SCHEDULER_API_CREDENTIALS_NAMESPACE"
    )]
    pub credentials_namespace: Option<String>,

    /// PEM certificate chain: the API is served over TLS (with `--scheduler-api-tls-key`).
    #[arg(
        id = "scheduler_api_tls_cert",
        long = "scheduler-api-tls-cert",
        env = "SCHEDULER_API_TLS_CERT",
        requires = "scheduler_api_tls_key"
    )]
    pub tls_cert: Option<std::path::PathBuf>,

    /// PEM private key of `--scheduler-api-tls-cert`.
    #[arg(
        id = "scheduler_api_tls_key",
        long = "scheduler-api-tls-key",
        env = "SCHEDULER_API_TLS_KEY",
        requires = "scheduler_api_tls_cert"
    )]
    pub tls_key: Option<std::path::PathBuf>,

    /// `host:port` frameworks and tools reach this API at (MasterInfo, `/redirect`).
    /// Default: the bound address.
    #[arg(
        id = "scheduler_api_advertise",
        long = "scheduler-api-advertise",
        env = "SCHEDULER_API_ADVERTISE"
    )]
    pub advertise: Option<String>,
}
