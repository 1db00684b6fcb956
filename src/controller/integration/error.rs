//! A failed step of the pipeline: which step (so which condition owns the failure) and its cause.

use crate::{
    api::conditions::{
        ADMIN_CONSENT_GRANTED, APPLICATION_READY, CONSUMERS_UPDATED, CREDENTIAL_READY,
        CREDENTIAL_VERIFIED, SECRET_SYNCED, TENANT_READY,
    },
    controller::error::Error,
};

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// Resolving the EntraTenant or building its Graph client.
    #[error(transparent)]
    Tenant(Error),
    /// The app registration or its service principal.
    #[error(transparent)]
    Application(Error),
    /// Tenant-wide admin consent.
    #[error(transparent)]
    Consent(Error),
    /// Reading, minting or revoking client secrets.
    #[error(transparent)]
    Credential(Error),
    /// A freshly minted secret did not authenticate.
    #[error(transparent)]
    Verify(Error),
    /// Reading or writing the Kubernetes Secret.
    #[error(transparent)]
    Secret(Error),
    /// Restarting or watching the consumer workloads.
    #[error(transparent)]
    Consumers(Error),
}

impl StepError {
    /// The condition that reports this failure.
    pub fn condition(&self) -> &'static str {
        match self {
            Self::Tenant(_) => TENANT_READY,
            Self::Application(_) => APPLICATION_READY,
            Self::Consent(_) => ADMIN_CONSENT_GRANTED,
            Self::Credential(_) => CREDENTIAL_READY,
            Self::Verify(_) => CREDENTIAL_VERIFIED,
            Self::Secret(_) => SECRET_SYNCED,
            Self::Consumers(_) => CONSUMERS_UPDATED,
        }
    }

    pub fn cause(&self) -> &Error {
        match self {
            Self::Tenant(e)
            | Self::Application(e)
            | Self::Consent(e)
            | Self::Credential(e)
            | Self::Verify(e)
            | Self::Secret(e)
            | Self::Consumers(e) => e,
        }
    }
}
