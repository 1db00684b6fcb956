//! Typed Graph errors and decoding of Graph's JSON error bodies.

use crate::auth::AuthError;
use serde::Deserialize;
use std::time::Duration;

/// Graph's error code when a password credential's lifetime violates a tenant app-management policy.
pub const CODE_LIFETIME_POLICY: &str = "CredentialInvalidLifetimeAsPerAppPolicy";
/// Error code for a service principal create that raced ahead of its application's replication.
pub const CODE_NO_BACKING_APPLICATION: &str = "NoBackingApplicationObject";

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

    /// Transient: throttling, server errors, timeouts and connection failures.
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

    pub fn is_throttled(&self) -> bool {
        self.status() == Some(429)
    }

    /// The tenant's app-management policy rejected the requested secret lifetime.
    pub fn is_lifetime_policy(&self) -> bool {
        self.code() == Some(CODE_LIFETIME_POLICY)
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

    /// A failure retrying cannot fix by itself: a policy, a permission, a bad request.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Api { status, .. } => {
                matches!(status, 400 | 401 | 403) && !self.is_no_backing_application()
            }
            Self::Config(_) => true,
            _ => false,
        }
    }

    /// Short CamelCase reason for a Kubernetes condition.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Api { .. } if self.is_lifetime_policy() => "CredentialLifetimePolicy",
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
mod tests {
    use super::*;

    #[test]
    fn decodes_graph_error_body() {
        let body = br#"{"error":{"code":"CredentialInvalidLifetimeAsPerAppPolicy","message":"Credential lifetime exceeds the max value allowed as per assigned policy.","innerError":{"date":"2024-01-01T00:00:00","request-id":"abc-123","client-request-id":"x"}}}"#;
        let e = decode_api_error(400, body, None, None);
        assert!(e.is_lifetime_policy());
        assert!(!e.is_retryable());
        assert_eq!(e.reason(), "CredentialLifetimePolicy");
        assert_eq!(e.code(), Some(CODE_LIFETIME_POLICY));
        match &e {
            GraphError::Api { request_id, .. } => {
                assert_eq!(request_id.as_deref(), Some("abc-123"))
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(e.to_string().contains("request-id abc-123"));
    }

    #[test]
    fn header_request_id_wins_and_retry_after_kept() {
        let body = br#"{"error":{"code":"TooManyRequests","message":"slow down","innerError":{"request-id":"body"}}}"#;
        let e = decode_api_error(429, body, Some("hdr".into()), Some(Duration::from_secs(2)));
        assert!(e.is_retryable());
        assert!(e.is_throttled());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(e.reason(), "GraphThrottled");
        match e {
            GraphError::Api { request_id, .. } => assert_eq!(request_id.as_deref(), Some("hdr")),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn non_json_body_and_classification() {
        let e = decode_api_error(503, b"<html>bad gateway</html>", None, None);
        assert_eq!(e.code(), Some("Http503"));
        assert!(e.is_retryable());
        assert_eq!(e.reason(), "GraphUnavailable");

        let nf = decode_api_error(
            404,
            br#"{"error":{"code":"Request_ResourceNotFound","message":"gone"}}"#,
            None,
            None,
        );
        assert!(nf.is_not_found());
        assert!(!nf.is_retryable());
        assert_eq!(nf.reason(), "GraphNotFound");
    }

    #[test]
    fn no_backing_application_detected_by_code_or_message() {
        let a = decode_api_error(
            400,
            br#"{"error":{"code":"NoBackingApplicationObject","message":"x"}}"#,
            None,
            None,
        );
        assert!(a.is_no_backing_application());
        let b = decode_api_error(
            400,
            br#"{"error":{"code":"Request_BadRequest","message":"The appId 'x' of the service principal does not reference a valid application object."}}"#,
            None,
            None,
        );
        assert!(b.is_no_backing_application());
    }

    #[test]
    fn long_messages_are_truncated() {
        let msg = "é".repeat(600);
        let body = format!(r#"{{"error":{{"code":"X","message":"{msg}"}}}}"#);
        let e = decode_api_error(400, body.as_bytes(), None, None);
        match e {
            GraphError::Api { message, .. } => assert!(message.len() <= MAX_MESSAGE + 4),
            other => panic!("unexpected {other:?}"),
        }
    }
}
