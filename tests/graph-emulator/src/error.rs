//! Error shapes: the crate's own error type, Graph's OData errors and Entra's token-endpoint errors.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::json;

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot bind the listener: {0}")]
    Bind(#[from] std::io::Error),
    #[error("cannot generate test certificates: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("cannot configure TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("invalid client certificate: {0}")]
    ClientCertificate(String),
}

/// Per-request identifiers Graph returns in headers and in error bodies.
#[derive(Debug, Clone)]
pub(crate) struct RequestIds {
    pub request_id: String,
    pub client_request_id: String,
}

impl RequestIds {
    pub fn from_headers(headers: &axum::http::HeaderMap) -> Self {
        let request_id = crate::secrets::guid();
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| request_id.clone());
        RequestIds {
            request_id,
            client_request_id,
        }
    }

    pub fn stamp(&self, response: &mut Response) {
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.request_id) {
            headers.insert("request-id", v);
        }
        if let Ok(v) = HeaderValue::from_str(&self.client_request_id) {
            headers.insert("client-request-id", v);
        }
    }
}

/// A Microsoft Graph error: `{"error":{"code","message","innerError":{...}}}`.
#[derive(Debug, Clone)]
pub(crate) struct GraphError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub details: Vec<serde_json::Value>,
    /// Rendered as `Retry-After` in seconds with up to three decimals (see [`retry_after_value`]).
    pub retry_after: Option<std::time::Duration>,
}

/// `Retry-After` as Graph sends it: whole seconds when whole, else seconds with up to three decimals, like the
/// `Retry-After: 2.128` of the sample response in <https://learn.microsoft.com/graph/throttling#sample-response>.
/// Sub-millisecond remainders round up so a client never retries early.
pub(crate) fn retry_after_value(d: std::time::Duration) -> String {
    let ms = d.as_nanos().div_ceil(1_000_000);
    let (secs, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        secs.to_string()
    } else {
        format!("{secs}.{frac:03}")
            .trim_end_matches('0')
            .to_string()
    }
}

impl GraphError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        GraphError {
            status,
            code: code.to_string(),
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Request_BadRequest", message)
    }

    pub fn not_found(key: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{key}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    pub fn unknown_property(name: &str) -> Self {
        Self::bad_request(format!(
            "Property '{name}' does not exist as a declared property or extension property."
        ))
    }

    pub fn invalid_value(property: &str, resource: &str) -> Self {
        Self::bad_request(format!(
            "Invalid value specified for property '{property}' of resource '{resource}'."
        ))
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "Request_MultipleObjectsWithSameKeyValue",
            message,
        )
    }

    pub fn render(&self, ids: &RequestIds, now: DateTime<Utc>) -> Response {
        let mut error = json!({
            "code": self.code,
            "message": self.message,
            "innerError": {
                "date": now.format("%Y-%m-%dT%H:%M:%S").to_string(),
                "request-id": ids.request_id,
                "client-request-id": ids.client_request_id,
            }
        });
        if !self.details.is_empty() {
            error["details"] = json!(self.details);
        }
        let mut response = (self.status, axum::Json(json!({ "error": error }))).into_response();
        if let Some(after) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&retry_after_value(after))
        {
            response.headers_mut().insert("retry-after", v);
        }
        ids.stamp(&mut response);
        response
    }
}

/// An Entra ID (AAD) token endpoint error.
///
/// `error_description` must stay free of JSON escapes: azure_identity 1.0 deserialises it as a borrowed `&str`.
#[derive(Debug, Clone)]
pub(crate) struct AadError {
    pub status: StatusCode,
    pub error: &'static str,
    pub code: u32,
    pub description: String,
}

impl AadError {
    pub fn new(status: StatusCode, error: &'static str, code: u32, description: String) -> Self {
        AadError {
            status,
            error,
            code,
            description,
        }
    }

    pub fn render(&self, ids: &RequestIds, now: DateTime<Utc>) -> Response {
        let body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {} Trace ID: {} Correlation ID: {} Timestamp: {}",
                self.code,
                self.description,
                ids.request_id,
                ids.client_request_id,
                now.format("%Y-%m-%d %H:%M:%SZ")
            ),
            "error_codes": [self.code],
            "timestamp": now.format("%Y-%m-%d %H:%M:%SZ").to_string(),
            "trace_id": ids.request_id,
            "correlation_id": ids.client_request_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        ids.stamp(&mut response);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn retry_after_keeps_up_to_three_decimals() {
        assert_eq!(retry_after_value(Duration::from_secs(7)), "7");
        assert_eq!(retry_after_value(Duration::from_millis(2_128)), "2.128");
        assert_eq!(retry_after_value(Duration::from_millis(500)), "0.5");
        assert_eq!(retry_after_value(Duration::from_millis(1_050)), "1.05");
        assert_eq!(retry_after_value(Duration::from_micros(1_000_001)), "1.001");
        assert_eq!(retry_after_value(Duration::ZERO), "0");
    }
}
