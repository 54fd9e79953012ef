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

/// What kind of failure an error is, decided once ([`Error::category`]): how a
/// reconciler reacts to it and the `category` label of the reconcile error counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCategory {
    /// 409: the object changed under the write (a stale cache); the watch brings the
    /// newer one.
    Conflict,
    /// 404: the object (or its namespace) is gone.
    NotFound,
    /// 400/422: the API server refused what was written. Retrying the same write fails
    /// the same way: wait for a change.
    Invalid,
    /// 401/403: the operator may not do this (RBAC). Retrying soon does not help.
    Forbidden,
    /// 429, 5xx, timeouts and connection failures: worth retrying with backoff.
    Unavailable,
    /// Everything else: a bug or a local failure (serialization, I/O, configuration).
    Internal,
}

impl ErrorCategory {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCategory::Conflict => "conflict",
            ErrorCategory::NotFound => "not_found",
            ErrorCategory::Invalid => "invalid",
            ErrorCategory::Forbidden => "forbidden",
            ErrorCategory::Unavailable => "unavailable",
            ErrorCategory::Internal => "internal",
        }
    }

    /// Whether retrying the same reconcile soon cannot succeed (it waits for a change of
    /// the object, or the periodic resync).
    pub fn is_permanent(self) -> bool {
        matches!(
            self,
            ErrorCategory::Invalid | ErrorCategory::Forbidden | ErrorCategory::Internal
        )
    }
}

impl Error {
    /// Whether the error is an API answer with this HTTP status code.
    pub fn is_status(&self, code: u16) -> bool {
        self.api_code() == Some(code)
    }

    /// The API server's HTTP status code, when the error is its answer.
    fn api_code(&self) -> Option<u16> {
        match self {
            Error::Kube {
                source: kube::Error::Api(s),
                ..
            } => Some(s.code),
            _ => None,
        }
    }

    /// 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        self.category() == ErrorCategory::NotFound
    }

    /// 409 Conflict.
    pub fn is_conflict(&self) -> bool {
        self.category() == ErrorCategory::Conflict
    }

    /// 400 or 422: the API server refused the content.
    pub fn is_invalid(&self) -> bool {
        self.category() == ErrorCategory::Invalid
    }

    /// The error's category (see [`ErrorCategory`]).
    pub fn category(&self) -> ErrorCategory {
        match self {
            Error::Kube { source, .. } => match source {
                kube::Error::Api(s) => match s.code {
                    409 => ErrorCategory::Conflict,
                    404 | 410 => ErrorCategory::NotFound,
                    400 | 422 => ErrorCategory::Invalid,
                    401 | 403 => ErrorCategory::Forbidden,
                    _ => ErrorCategory::Unavailable,
                },
                kube::Error::SerdeError(_) | kube::Error::BuildRequest(_) => {
                    ErrorCategory::Internal
                }
                _ => ErrorCategory::Unavailable,
            },
            Error::LeaderElection { .. } | Error::LeadershipLost(_) => ErrorCategory::Unavailable,
            Error::Serde { .. }
            | Error::Io { .. }
            | Error::Yaml(_)
            | Error::MissingField { .. }
            | Error::Config(_) => ErrorCategory::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16) -> Error {
        Error::Kube {
            context: "testing".into(),
            source: kube::Error::Api(Box::new(
                kube::core::Status::failure("no", "Reason").with_code(code),
            )),
        }
    }

    #[test]
    fn api_answers_are_classified_by_code() {
        assert!(api(409).is_conflict());
        assert!(api(404).is_not_found());
        assert!(api(422).is_invalid());
        assert!(api(400).is_invalid());
        assert_eq!(api(403).category(), ErrorCategory::Forbidden);
        assert_eq!(api(500).category(), ErrorCategory::Unavailable);
        assert_eq!(api(429).category(), ErrorCategory::Unavailable);
        assert!(api(422).category().is_permanent());
        assert!(!api(500).category().is_permanent());
        assert!(!api(409).category().is_permanent());
        let missing = Error::MissingField {
            kind: "Task",
            field: "namespace",
        };
        assert_eq!(missing.category(), ErrorCategory::Internal);
        assert_eq!(ErrorCategory::NotFound.as_str(), "not_found");
    }
}
