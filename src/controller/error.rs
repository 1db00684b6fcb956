//! The controller's error type: one variant per failing edge, each with a CamelCase reason for conditions/metrics.

use std::time::Duration;

use super::push::PushError;
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
    #[error("finalizer: {0}")]
    Finalizer(String),
    #[error(transparent)]
    Push(#[from] PushError),
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
            Self::Push(e) => e.reason(),
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
