//! Errors of the operator library.

/// Everything that can go wrong in the operator library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the Kubernetes API failed.
    #[error("Kubernetes API call failed while {context}: {source}")]
    Kube {
        /// What the operator was doing.
        context: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },

    /// An object could not be (de)serialized.
    #[error("serialization failed while {context}: {source}")]
    Serde {
        /// What the operator was doing.
        context: String,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },

    /// A file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What the operator was doing.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// YAML output failed.
    #[error("YAML serialization failed: {0}")]
    Yaml(#[from] serde_yaml::Error),

    /// An object lacks a field the operator needs (e.g. a namespace or name).
    #[error("{kind} object is missing {field}")]
    MissingField {
        /// The object's kind.
        kind: &'static str,
        /// The missing field.
        field: &'static str,
    },

    /// The kubeconfig or in-cluster configuration could not be loaded.
    #[error("cannot configure the Kubernetes client: {0}")]
    Config(String),

    /// Leader election failed (the Lease could not be read, created or released).
    #[error("leader election failed while {context}: {source}")]
    LeaderElection {
        /// What the operator was doing.
        context: String,
        /// The lease manager's error.
        #[source]
        source: kube_lease_manager::LeaseManagerError,
    },

    /// Another replica took the Lease over (or it could not be renewed in time): this
    /// replica must stop reconciling.
    #[error("lost the leader election Lease {0}")]
    LeadershipLost(String),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds context to a `kube::Error`.
pub trait KubeContext<T> {
    /// Wraps the error with what the operator was doing.
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> KubeContext<T> for std::result::Result<T, kube::Error> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Kube {
            context: context(),
            source,
        })
    }
}

impl Error {
    /// Whether the error is an API answer with this HTTP status code.
    pub fn is_status(&self, code: u16) -> bool {
        matches!(self, Error::Kube { source: kube::Error::Api(s), .. } if s.code == code)
    }
}
