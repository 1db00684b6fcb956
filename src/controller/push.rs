//! The optional HTTP push of a new credential to NocoBase's API (spec.rotation.nocobasePush):
//! `POST <url>/api/<resource>:<action>` with a bearer API key and a JSON body rendered from a template.
//!
//! Nothing here formats secret text: errors carry the HTTP status code only (a response body may echo the
//! request), and the rendered body is never logged.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::{api::NocoBasePush, graph::SecretText};

/// Total time allowed for one push request.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a push failed. Messages never contain the API key, the client secret, the body or the response.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("NocoBase API key missing: {0}")]
    ApiKeyMissing(String),
    #[error("cannot read the NocoBase API key Secret: {0}")]
    ApiKeyUnreadable(String),
    #[error(
        "spec.rotation.nocobasePush.bodyTemplate does not render to valid JSON (line {line}, column {column})"
    )]
    TemplateInvalid { line: usize, column: usize },
    #[error("spec.rotation.nocobasePush.url is not a valid URL: {0}")]
    InvalidUrl(String),
    #[error("cannot build the HTTP client for NocoBase: {0}")]
    Client(String),
    #[error("push to NocoBase ({endpoint}) failed: HTTP {status}")]
    Status { endpoint: String, status: u16 },
    #[error("push to NocoBase ({endpoint}) failed: {message}")]
    Transport { endpoint: String, message: String },
}

impl PushError {
    /// Reason of the NocoBasePushed condition.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::ApiKeyMissing(_) => "ApiKeyMissing",
            Self::ApiKeyUnreadable(_) => "KubernetesApiError",
            Self::TemplateInvalid { .. } => "PushTemplateInvalid",
            Self::InvalidUrl(_) | Self::Client(_) => "PushInvalid",
            Self::Status { .. } | Self::Transport { .. } => "PushFailed",
        }
    }
}

/// The values the body template can refer to.
pub struct Values<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a SecretText,
    pub tenant_id: &'a str,
    pub expires_at: DateTime<Utc>,
}

/// JSON string contents (without the quotes) of `s`.
fn json_escaped(s: &str) -> String {
    let quoted = serde_json::Value::String(s.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// Replaces the placeholders with JSON-escaped values and checks that the result is JSON. The returned text holds
/// the client secret: send it, never log it.
pub fn render(template: &str, v: &Values<'_>) -> Result<String, PushError> {
    let body = template
        .replace("{{clientId}}", &json_escaped(v.client_id))
        .replace("{{tenantId}}", &json_escaped(v.tenant_id))
        .replace(
            "{{expiresAt}}",
            &json_escaped(&v.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        )
        .replace("{{clientSecret}}", &json_escaped(v.client_secret.expose()));
    match serde_json::from_str::<serde::de::IgnoredAny>(&body) {
        Ok(_) => Ok(body),
        Err(e) => Err(PushError::TemplateInvalid {
            line: e.line(),
            column: e.column(),
        }),
    }
}

/// `<url>/api/<resource>:<action>` (a trailing slash on url is ignored).
pub fn endpoint(cfg: &NocoBasePush) -> Result<url::Url, PushError> {
    let raw = format!(
        "{}/api/{}:{}",
        cfg.url.trim_end_matches('/'),
        cfg.resource,
        cfg.action
    );
    let url = url::Url::parse(&raw).map_err(|e| PushError::InvalidUrl(e.to_string()))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(PushError::InvalidUrl(format!(
            "scheme {other} is not http or https"
        ))),
    }
}

/// Sends the push. `extra_ca_pem`: the operator's extra trusted CAs (also used for https:// NocoBase URLs).
pub async fn send(
    cfg: &NocoBasePush,
    api_key: &SecretText,
    body: String,
    extra_ca_pem: Option<&str>,
) -> Result<(), PushError> {
    let url = endpoint(cfg)?;
    let shown = url.to_string();
    let http = client(extra_ca_pem)?;
    let resp = http
        .post(url)
        .bearer_auth(api_key.expose())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| PushError::Transport {
            endpoint: shown.clone(),
            message: transport_message(&e),
        })?;
    let status = resp.status();
    // The body is dropped unread: it may echo the request, secret included.
    drop(resp);
    if status.is_success() {
        Ok(())
    } else {
        Err(PushError::Status {
            endpoint: shown,
            status: status.as_u16(),
        })
    }
}

/// A client that does not follow redirects (they would carry the API key and body elsewhere).
fn client(extra_ca_pem: Option<&str>) -> Result<reqwest::Client, PushError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("entramail-operator/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(PUSH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = extra_ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| PushError::Client(e.to_string()))?;
        builder = builder.tls_certs_merge(certs);
    }
    builder
        .build()
        .map_err(|e| PushError::Client(e.to_string()))
}

/// What went wrong on the wire, without the URL (already in the message) or anything the server sent.
fn transport_message(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("timed out after {}s", PUSH_TIMEOUT.as_secs())
    } else if e.is_connect() {
        "cannot connect".into()
    } else {
        "request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cfg(url: &str) -> NocoBasePush {
        NocoBasePush {
            url: url.into(),
            api_key_secret_ref: crate::api::SecretKeySelector {
                name: "nb".into(),
                key: "token".into(),
            },
            resource: "emailSettings".into(),
            action: "update".into(),
            body_template: None,
        }
    }

    fn values(secret: &SecretText) -> Values<'_> {
        Values {
            client_id: "66666666-7777-8888-9999-000000000000",
            client_secret: secret,
            tenant_id: "11111111-2222-3333-4444-555555555555",
            expires_at: Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap(),
        }
    }

    #[test]
    fn default_template_renders_client_id_and_secret() {
        let s = SecretText::new("abc~def");
        let body = render(cfg("http://x").body_template(), &values(&s)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"clientId": "66666666-7777-8888-9999-000000000000", "clientSecret": "abc~def"})
        );
    }

    #[test]
    fn values_are_json_escaped() {
        let s = SecretText::new(r#"q"uo\te"}, "evil": {"#);
        let body = render(
            r#"{"filter":{"id":1},"values":{"secret":"{{clientSecret}}","tenant":"{{tenantId}}","exp":"{{expiresAt}}"}}"#,
            &values(&s),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["values"]["secret"], r#"q"uo\te"}, "evil": {"#);
        assert_eq!(
            v["values"]["tenant"],
            "11111111-2222-3333-4444-555555555555"
        );
        assert_eq!(v["values"]["exp"], "2026-05-01T12:00:00Z");
        assert!(v.get("evil").is_none());
    }

    #[test]
    fn invalid_json_is_reported_without_the_body() {
        let s = SecretText::new("very-secret-text");
        let err = render(r#"{"secret": {{clientSecret}}}"#, &values(&s)).unwrap_err();
        assert_eq!(err.reason(), "PushTemplateInvalid");
        let msg = err.to_string();
        assert!(!msg.contains("very-secret-text"), "{msg}");
        assert!(msg.contains("line 1"), "{msg}");
    }

    #[test]
    fn endpoint_joins_base_resource_and_action() {
        assert_eq!(
            endpoint(&cfg("http://nocobase.ns.svc:13000"))
                .unwrap()
                .as_str(),
            "http://nocobase.ns.svc:13000/api/emailSettings:update"
        );
        assert_eq!(
            endpoint(&cfg("https://nb.example.com/prefix/"))
                .unwrap()
                .as_str(),
            "https://nb.example.com/prefix/api/emailSettings:update"
        );
        assert!(endpoint(&cfg("ftp://x")).is_err());
        assert!(endpoint(&cfg("not a url")).is_err());
    }

    #[test]
    fn status_error_names_the_code_only() {
        let e = PushError::Status {
            endpoint: "http://x/api/a:b".into(),
            status: 500,
        };
        assert_eq!(e.reason(), "PushFailed");
        assert_eq!(
            e.to_string(),
            "push to NocoBase (http://x/api/a:b) failed: HTTP 500"
        );
    }
}
