//! The controller's error type: one variant per failing edge, each with a CamelCase reason for conditions/metrics.

use std::time::Duration;

use crate::{auth::AuthError, graph::GraphError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error("cannot build Graph credential: {0}")]
    Auth(#[from] AuthError),
    #[error("EntraTenant {0:?} does not exist")]
    TenantNotFound(String),
    #[error("EntraTenant {tenant:?} is misconfigured: {message}")]
    TenantConfig { tenant: String, message: String },
    #[error(
        "EntraTenant {tenant:?} does not allow namespace {namespace:?} (see its spec.allowedNamespaces)"
    )]
    NamespaceNotAllowed { tenant: String, namespace: String },
    #[error("no application with appId {0} exists in the tenant (spec.application.existingAppId)")]
    AdoptedAppNotFound(String),
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    #[error("object has no {0}")]
    MissingField(&'static str),
    /// Adding or removing the finalizer failed (the Apply/Cleanup failures are returned as themselves).
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
    #[error("the new client secret {key_id} did not authenticate within {waited_secs}s: {source}")]
    NotVerified {
        key_id: String,
        waited_secs: u64,
        #[source]
        source: crate::auth::VerifyError,
    },
    /// The rotation plan contradicts itself (a bug, never the spec's fault): nothing of it is carried out further.
    #[error("invalid rotation plan: {0}")]
    InvalidPlan(&'static str),
}

impl Error {
    /// Short CamelCase reason for conditions, events and metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Kube(_) => "KubernetesApiError",
            Self::Graph(e) => e.reason(),
            Self::Auth(_) => "AuthenticationFailed",
            Self::TenantNotFound(_) => "TenantNotFound",
            Self::TenantConfig { .. } => "TenantMisconfigured",
            Self::NamespaceNotAllowed { .. } => "NamespaceNotAllowed",
            Self::AdoptedAppNotFound(_) => "ApplicationNotFound",
            Self::InvalidSpec(_) => "InvalidSpec",
            Self::MissingField(_) => "InvalidObject",
            Self::Finalizer(_) => "FinalizerFailed",
            Self::NotVerified { .. } => "CredentialNotVerified",
            Self::InvalidPlan(_) => "InvalidPlan",
        }
    }

    /// Whether retrying can fix this by itself (replication, throttling, outages) or a person must act (policy,
    /// permission, configuration); permanent failures back off up to an hour.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Graph(g) => g.is_permanent(),
            Self::Kube(_) | Self::TenantNotFound(_) | Self::NotVerified { .. } => false,
            Self::Auth(_)
            | Self::TenantConfig { .. }
            | Self::NamespaceNotAllowed { .. }
            | Self::AdoptedAppNotFound(_)
            | Self::InvalidSpec(_)
            | Self::MissingField(_) => true,
            Self::Finalizer(_) | Self::InvalidPlan(_) => false,
        }
    }

    /// The server-requested wait (429 Retry-After), which wins over our backoff.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Graph(e) => e.retry_after(),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
