//! Typed Graph errors and decoding of Graph's JSON error bodies.

use crate::auth::AuthError;
use serde::Deserialize;
use std::time::Duration;

/// Graph's error code when a password credential's lifetime violates a tenant app-management policy.
pub const CODE_LIFETIME_POLICY: &str = "CredentialInvalidLifetimeAsPerAppPolicy";
/// Graph's error code when a tenant app-management policy forbids the credential type itself
/// (`passwordAddition` restriction: no client secrets at all), as opposed to its lifetime.
/// Seen in the wild on `addPassword`, e.g. OfficeDev/teams-toolkit's `aadErrorCode.credentialTypeNotAllowedAsPerAppPolicy`;
/// policy reference: <https://learn.microsoft.com/graph/api/resources/passwordcredentialconfiguration>.
pub const CODE_CREDENTIAL_TYPE_POLICY: &str = "CredentialTypeNotAllowedAsPerAppPolicy";
/// Graph's code when `addPassword` would exceed the two client secrets an app that allows personal Microsoft
/// accounts may have: `400 TooManyAppPasswords` "Not allowed to add 3 passwords. You can only add a maximum of 2
/// passwords." (Azure/azure-cli#12946, microsoft/coe-starter-kit#3695; the limit: entra-docs
/// `supported-accounts-validation.md`, see docs/entra.md). Not permanent: a slot frees when a credential is revoked
/// or expires, so the next reconcile re-reads the app and re-plans (the planner revokes or reports what blocks).
pub const CODE_TOO_MANY_APP_PASSWORDS: &str = "TooManyAppPasswords";
/// Error code for a service principal create that raced ahead of its application's replication.
pub const CODE_NO_BACKING_APPLICATION: &str = "NoBackingApplicationObject";
/// Graph's code for a 403 (any permission problem) and for the misleading replication 403 below.
pub const CODE_AUTHORIZATION_DENIED: &str = "Authorization_RequestDenied";
/// Message of the 403 Graph sends when `POST /servicePrincipals` runs before the application it names has
/// replicated (the grammar is Graph's). A maintainer of the Terraform AzureAD provider calls it "a known API issue
/// [...] the error message here is both misleading and wrong" and retries it
/// (hashicorp/terraform-provider-azuread#992, #581, #611).
pub const MESSAGE_BACKING_APPLICATION_NOT_LOCAL: &str =
    "the backing application of the service principal being created must in the local tenant";
/// Graph's code for a create that collides with an existing object, e.g. a second `oauth2PermissionGrant` for the
/// same client, resource and consent type ("Permission entry already exists.", hashicorp/terraform-provider-azuread#690).
pub const CODE_MULTIPLE_OBJECTS_WITH_SAME_KEY: &str = "Request_MultipleObjectsWithSameKeyValue";

/// A failed Graph call. Messages carry Graph's own error text and ids, never secrets or tokens.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("Graph returned HTTP {status} {code}: {message}{}", request_id.as_deref().map(|r| format!(" (request-id {r})")).unwrap_or_default())]
    Api {
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
        retry_after: Option<Duration>,
    },
    #[error("Graph transport error: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("cannot decode Graph response of {endpoint}: {message}")]
    Decode { endpoint: String, message: String },
    #[error("cannot get a token for Graph: {0}")]
    Auth(#[from] AuthError),
    #[error("invalid Graph client configuration: {0}")]
    Config(String),
}

impl GraphError {
    /// HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Graph's error code (e.g. `Request_ResourceNotFound`) of an API error.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The server's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Transient at the HTTP level: throttling, server errors, timeouts and connection failures
    /// (what the retry layer retries for idempotent calls).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api { status, .. } => *status == 429 || (500..=599).contains(status),
            Self::Transport(e) => !e.is_builder() && !e.is_redirect() && !e.is_decode(),
            _ => false,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// Only the unit tests ask; production code decides on [`Self::is_retryable`] and [`Self::retry_after`].
    #[cfg(test)]
    pub fn is_throttled(&self) -> bool {
        self.status() == Some(429)
    }

    /// The tenant's app-management policy rejected the requested secret lifetime.
    pub fn is_lifetime_policy(&self) -> bool {
        self.code() == Some(CODE_LIFETIME_POLICY)
    }

    /// The tenant's app-management policy forbids client secrets altogether (no lifetime will do).
    pub fn is_credential_type_policy(&self) -> bool {
        self.code() == Some(CODE_CREDENTIAL_TYPE_POLICY)
    }

    /// The outcome of the request is unknown: it may have been carried out although no usable answer came back
    /// (a 5xx, a timeout or a connection that dropped after the request could have been sent, or a success
    /// response whose body could not be read). For a non-idempotent create such as `addPassword` the caller
    /// must re-read the object instead of creating again. A connect failure is not ambiguous (nothing was sent),
    /// and neither is a 429 (Graph rejected the request without processing it).
    pub fn is_ambiguous(&self) -> bool {
        match self {
            Self::Api { status, .. } => (500..=599).contains(status),
            Self::Transport(e) => !e.is_builder() && !e.is_connect(),
            Self::Decode { .. } => true,
            Self::Auth(_) | Self::Config(_) => false,
        }
    }

    /// `addPassword` hit Entra's limit on client secrets (see [`CODE_TOO_MANY_APP_PASSWORDS`]); matched on the
    /// message too, in case the code only appears in the error details.
    pub fn is_too_many_app_passwords(&self) -> bool {
        match self {
            Self::Api { code, message, .. } => {
                code == CODE_TOO_MANY_APP_PASSWORDS
                    || message.contains("You can only add a maximum of")
            }
            _ => false,
        }
    }

    /// A service principal create ran ahead of its application's replication (eventual consistency).
    pub fn is_no_backing_application(&self) -> bool {
        match self {
            Self::Api { code, message, .. } => {
                code == CODE_NO_BACKING_APPLICATION
                    || message.contains(CODE_NO_BACKING_APPLICATION)
                    || message.contains("does not reference a valid application object")
            }
            _ => false,
        }
    }

    /// A service principal create answered with the misleading replication 403 (see
    /// [`MESSAGE_BACKING_APPLICATION_NOT_LOCAL`]). Any other 403 is a real permission problem.
    pub fn is_backing_application_not_local(&self) -> bool {
        match self {
            Self::Api {
                status: 403,
                message,
                ..
            } => message
                .to_ascii_lowercase()
                .contains(MESSAGE_BACKING_APPLICATION_NOT_LOCAL),
            _ => false,
        }
    }

    /// Entra has not replicated something this request depends on yet: worth retrying after a short wait.
    pub fn is_replication_lag(&self) -> bool {
        self.is_no_backing_application() || self.is_backing_application_not_local()
    }

    /// Retrying the same request cannot succeed until someone changes the spec or the tenant: bad requests
    /// (other than replication lag), authentication and permission failures (other than the replication 403),
    /// tenant credential policies and invalid configuration. The controller backs these off long instead of
    /// hammering Graph. Everything else (429, 5xx, timeouts, replication lag, 404 on fresh objects, 409 races)
    /// is transient.
    pub fn is_permanent(&self) -> bool {
        if self.is_lifetime_policy() || self.is_credential_type_policy() {
            return true;
        }
        // Our own view of the app was stale (a credential we did not count, or one still replicating): the next
        // reconcile re-reads it and plans around the limit.
        if self.is_too_many_app_passwords() {
            return false;
        }
        match self {
            Self::Api { status, .. } => {
                matches!(status, 400 | 401 | 403) && !self.is_replication_lag()
            }
            Self::Config(_) => true,
            Self::Auth(AuthError::Config(_) | AuthError::Unsupported(_)) => true,
            Self::Auth(AuthError::Token(_)) | Self::Transport(_) | Self::Decode { .. } => false,
        }
    }

    /// Short CamelCase reason for a Kubernetes condition.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Api { .. } if self.is_lifetime_policy() => "CredentialLifetimePolicy",
            Self::Api { .. } if self.is_credential_type_policy() => "CredentialTypePolicy",
            // The reason the planner reports when it sees the limit itself.
            Self::Api { .. } if self.is_too_many_app_passwords() => "SecretLimitReached",
            Self::Api { status, .. } => match status {
                400 => "GraphBadRequest",
                401 => "GraphUnauthorized",
                403 => "GraphForbidden",
                404 => "GraphNotFound",
                409 => "GraphConflict",
                429 => "GraphThrottled",
                500..=599 => "GraphUnavailable",
                _ => "GraphError",
            },
            Self::Transport(_) => "GraphUnreachable",
            Self::Decode { .. } => "GraphBadResponse",
            Self::Auth(_) => "AuthenticationFailed",
            Self::Config(_) => "GraphConfigInvalid",
        }
    }
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default, alias = "innererror")]
    inner_error: Option<InnerError>,
}

#[derive(Deserialize)]
struct InnerError {
    #[serde(rename = "request-id")]
    request_id: Option<String>,
}

/// Longest Graph message kept in an error (condition messages should stay short).
const MAX_MESSAGE: usize = 512;

/// Builds an `Api` error from a non-success response.
/// `request_id_header` is Graph's `request-id` response header; the body's innerError is the fallback.
pub(crate) fn decode_api_error(
    status: u16,
    body: &[u8],
    request_id_header: Option<String>,
    retry_after: Option<Duration>,
) -> GraphError {
    let (code, message, body_request_id) = match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(env) => (
            env.error.code,
            env.error.message,
            env.error.inner_error.and_then(|i| i.request_id),
        ),
        // Not Graph's JSON (e.g. a proxy's HTML page): keep a short prefix only.
        Err(_) => (
            String::new(),
            String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            None,
        ),
    };
    let code = if code.is_empty() {
        format!("Http{status}")
    } else {
        code
    };
    let mut message = message;
    if message.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    GraphError::Api {
        status,
        code,
        message,
        request_id: request_id_header.or(body_request_id),
        retry_after,
    }
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
