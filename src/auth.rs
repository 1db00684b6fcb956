//! Access tokens for Microsoft Graph.
//!
//! Built from a plain config ([`Cloud`] + [`AuthMethod`]); the controller maps the `EntraTenant` CRD onto it.
//! Token acquisition is delegated to `azure_identity` 1.0, pointed at the cloud's authority host via
//! `ClientOptions.cloud` and given our own reqwest transport so an extra CA (the tests' emulator CA, a
//! corporate TLS proxy) is trusted. Tokens are cached here until shortly before they expire.
//!
//! [`verify_client_secret`] proves that a client secret the operator minted authenticates (same cloud table and
//! TLS trust), riding out Entra's replication delay for fresh secrets.

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions, Transport};
use azure_identity::{
    ClientAssertionCredential, ClientAssertionCredentialOptions, ClientSecretCredential,
    ClientSecretCredentialOptions, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use chrono::{DateTime, TimeDelta, Utc};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Mutex;
use url::Url;

use crate::api::WellKnownEndpoints;

mod certificate;
pub(crate) mod http;
mod secret_text;
mod verify;

pub use secret_text::SecretText;
pub use verify::{
    REPLICATION_LAG_CODES, VerifyError, VerifyOptions, token_endpoint, verify_client_secret,
};

/// Renew a cached token when it has less than this left (Graph rejects tokens at expiry; leave room for
/// clock skew and a slow request).
const REFRESH_MARGIN: TimeDelta = TimeDelta::minutes(5);

/// Failure to obtain a token. Messages never contain secrets or tokens.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid authentication configuration: {0}")]
    Config(String),
    #[error("authentication method not supported: {0}")]
    Unsupported(String),
    #[error("token request failed: {0}")]
    Token(String),
}

/// A bearer token with its expiry. The token text is redacted in `Debug`.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: SecretText,
    pub expires_on: DateTime<Utc>,
}

/// Future returned by [`TokenSource::token`].
pub type TokenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<AccessToken, AuthError>> + Send + 'a>>;

/// Something that hands out Graph bearer tokens (cached by the implementation).
pub trait TokenSource: Send + Sync {
    fn token(&self) -> TokenFuture<'_>;

    /// Drops any cached token (Graph answered 401: revoked, or expired early by clock skew).
    fn invalidate(&self) {}
}

/// Which Microsoft cloud a tenant lives in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cloud {
    AzurePublic,
    AzureUSGovernment,
    AzureChina,
    /// Any other endpoint pair, e.g. the test emulator. Both must be https (azure_identity insists).
    Custom {
        authority_host: Url,
        graph_endpoint: Url,
    },
}

impl Cloud {
    /// (authority host, Graph endpoint); a well-known cloud's come from the one table,
    /// [`crate::api::WellKnownEndpoints`].
    fn endpoints(&self) -> (Url, Url) {
        let known = match self {
            Self::AzurePublic => WellKnownEndpoints::AZURE_PUBLIC,
            Self::AzureUSGovernment => WellKnownEndpoints::AZURE_US_GOVERNMENT,
            Self::AzureChina => WellKnownEndpoints::AZURE_CHINA,
            Self::Custom {
                authority_host,
                graph_endpoint,
            } => return (authority_host.clone(), graph_endpoint.clone()),
        };
        (
            fixed_url(known.authority_host),
            fixed_url(known.graph_endpoint),
        )
    }

    /// Entra ID authority host, e.g. `https://login.microsoftonline.com/`.
    pub fn authority_host(&self) -> Url {
        self.endpoints().0
    }

    /// Graph endpoint without the API version, e.g. `https://graph.microsoft.com/`.
    pub fn graph_endpoint(&self) -> Url {
        self.endpoints().1
    }

    /// Graph v1.0 base URL for [`crate::graph::GraphConfig::graph_base`], e.g. `https://graph.microsoft.com/v1.0`.
    pub fn graph_base(&self) -> Url {
        let text = format!(
            "{}/v1.0",
            self.graph_endpoint().as_str().trim_end_matches('/')
        );
        Url::parse(&text).unwrap_or_else(|_| self.graph_endpoint())
    }

    /// Client-credentials scope for Graph, e.g. `https://graph.microsoft.com/.default`.
    pub fn graph_scope(&self) -> String {
        format!(
            "{}/.default",
            self.graph_endpoint().as_str().trim_end_matches('/')
        )
    }

    fn azure_configuration(&self) -> CloudConfiguration {
        match self {
            Self::AzurePublic => CloudConfiguration::AzurePublic,
            Self::AzureUSGovernment => CloudConfiguration::AzureGovernment,
            Self::AzureChina => CloudConfiguration::AzureChina,
            Self::Custom { authority_host, .. } => {
                // CustomConfiguration is non_exhaustive: start from Default.
                let mut custom = CustomConfiguration::default();
                custom.authority_host = authority_host.as_str().trim_end_matches('/').to_owned();
                CloudConfiguration::Custom(custom)
            }
        }
    }
}

/// Parses one of the compile-time constant URLs of [`WellKnownEndpoints`].
fn fixed_url(text: &'static str) -> Url {
    match Url::parse(text) {
        Ok(url) => url,
        Err(e) => unreachable!("constant URL {text} is invalid: {e}"),
    }
}

/// How the operator authenticates to a tenant.
#[derive(Debug, Clone)]
pub enum AuthMethod {
    ClientSecret {
        client_id: String,
        secret: SecretText,
    },
    /// Federated credential: a projected Kubernetes service-account token used as client assertion.
    WorkloadIdentity {
        client_id: String,
        token_file: PathBuf,
    },
    /// App credential certificate: PEM with the RSA private key (PKCS#8 or PKCS#1, unencrypted) and its
    /// certificate. PKCS#12 is rejected; `password` is unused for PEM.
    ClientCertificate {
        client_id: String,
        certificate_pem_or_pkcs12: SecretText,
        password: Option<SecretText>,
    },
    ManagedIdentity {
        client_id: Option<String>,
    },
}

/// Builds a cached Graph token source for `tenant_id`. Configuration errors surface here, token
/// errors on first use.
pub fn credential(
    tenant_id: &str,
    cloud: &Cloud,
    method: &AuthMethod,
    extra_ca_pem: Option<&str>,
) -> Result<Arc<dyn TokenSource>, AuthError> {
    let recipe = Recipe {
        tenant_id: tenant_id.to_owned(),
        cloud: cloud.clone(),
        method: method.clone(),
        extra_ca_pem: extra_ca_pem.map(str::to_owned),
    };
    let credential = recipe.build()?;
    Ok(Arc::new(AzureTokenSource {
        scope: cloud.graph_scope(),
        recipe,
        stale: AtomicBool::new(false),
        state: Mutex::new(CacheState {
            credential,
            token: None,
        }),
    }))
}

/// Everything needed to (re)build the azure_identity credential. Rebuilding is the only way to drop
/// azure_identity's internal token cache, which `invalidate` needs.
struct Recipe {
    tenant_id: String,
    cloud: Cloud,
    method: AuthMethod,
    extra_ca_pem: Option<String>,
}

impl Recipe {
    fn build(&self) -> Result<Arc<dyn TokenCredential>, AuthError> {
        build_credential(
            &self.tenant_id,
            &self.cloud,
            &self.method,
            self.extra_ca_pem.as_deref(),
        )
    }
}

/// Token requests fail fast (about 3 s at most): azure_core's default retries for up to a minute, which held a
/// reconcile slot per integration of an unreachable tenant and starved the healthy ones; the controller's own
/// backoff retries across reconciles instead.
fn token_retry() -> RetryOptions {
    RetryOptions::exponential(ExponentialRetryOptions {
        initial_delay: azure_core::time::Duration::milliseconds(200),
        max_retries: 3,
        max_total_elapsed: azure_core::time::Duration::seconds(10),
        max_delay: azure_core::time::Duration::seconds(2),
    })
}

fn build_credential(
    tenant_id: &str,
    cloud: &Cloud,
    method: &AuthMethod,
    extra_ca_pem: Option<&str>,
) -> Result<Arc<dyn TokenCredential>, AuthError> {
    let client_options = || -> Result<ClientOptions, AuthError> {
        let http =
            http::http_client(extra_ca_pem, None).map_err(|e| AuthError::Config(e.to_string()))?;
        Ok(ClientOptions {
            cloud: Some(Arc::new(cloud.azure_configuration())),
            transport: Some(Transport::new(Arc::new(http))),
            retry: token_retry(),
            ..ClientOptions::default()
        })
    };
    let inner: Arc<dyn TokenCredential> = match method {
        AuthMethod::ClientSecret { client_id, secret } => {
            let options = ClientSecretCredentialOptions {
                client_options: client_options()?,
            };
            ClientSecretCredential::new(
                tenant_id,
                client_id.clone(),
                azure_core::credentials::Secret::new(secret.expose().to_owned()),
                Some(options),
            )
            .map_err(|e| AuthError::Config(e.to_string()))?
        }
        AuthMethod::WorkloadIdentity {
            client_id,
            token_file,
        } => {
            let credential_options = ClientAssertionCredentialOptions {
                client_options: client_options()?,
            };
            let options = WorkloadIdentityCredentialOptions {
                credential_options,
                client_id: Some(client_id.clone()),
                tenant_id: Some(tenant_id.to_owned()),
                token_file_path: Some(token_file.clone()),
            };
            WorkloadIdentityCredential::new(Some(options))
                .map_err(|e| AuthError::Config(e.to_string()))?
        }
        AuthMethod::ManagedIdentity { client_id } => {
            let options = ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                client_options: client_options()?,
            };
            ManagedIdentityCredential::new(Some(options))
                .map_err(|e| AuthError::Config(e.to_string()))?
        }
        AuthMethod::ClientCertificate {
            client_id,
            certificate_pem_or_pkcs12,
            password: _,
        } => {
            let assertion = certificate::CertificateAssertion::from_pem(
                certificate_pem_or_pkcs12.expose(),
                client_id,
                tenant_id,
                &cloud.authority_host(),
            )?;
            let options = ClientAssertionCredentialOptions {
                client_options: client_options()?,
            };
            ClientAssertionCredential::new(
                tenant_id.to_owned(),
                client_id.clone(),
                assertion,
                Some(options),
            )
            .map_err(|e| AuthError::Config(e.to_string()))?
        }
    };
    Ok(inner)
}

/// azure_identity credential + our own expiry-aware cache.
struct AzureTokenSource {
    recipe: Recipe,
    scope: String,
    /// Set by `invalidate`; the next `token` rebuilds the credential.
    stale: AtomicBool,
    state: Mutex<CacheState>,
}

struct CacheState {
    credential: Arc<dyn TokenCredential>,
    token: Option<AccessToken>,
}

impl TokenSource for AzureTokenSource {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async move {
            // Holding the lock across the fetch makes concurrent callers share one token request.
            let mut state = self.state.lock().await;
            if self.stale.swap(false, Ordering::SeqCst) {
                state.credential = self.recipe.build()?;
                state.token = None;
            }
            if let Some(token) = state.token.as_ref()
                && token.expires_on - Utc::now() > REFRESH_MARGIN
            {
                return Ok(token.clone());
            }
            let fresh = state
                .credential
                .get_token(&[self.scope.as_str()], None)
                .await
                .map_err(|e| AuthError::Token(e.to_string()))?;
            let expires_on = DateTime::<Utc>::from_timestamp(fresh.expires_on.unix_timestamp(), 0)
                .unwrap_or_else(Utc::now);
            let token = AccessToken {
                token: SecretText::new(fresh.token.secret().to_owned()),
                expires_on,
            };
            state.token = Some(token.clone());
            Ok(token)
        })
    }

    fn invalidate(&self) {
        self.stale.store(true, Ordering::SeqCst);
    }
}

/// A fixed token, for tests and tools.
#[derive(Debug, Clone)]
pub struct StaticToken(pub SecretText);

impl TokenSource for StaticToken {
    fn token(&self) -> TokenFuture<'_> {
        let token = AccessToken {
            token: self.0.clone(),
            expires_on: Utc::now() + TimeDelta::hours(1),
        };
        Box::pin(async move { Ok(token) })
    }
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
