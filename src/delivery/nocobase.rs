//! The NocoBase HTTP API client of the delivery: writes a client secret where NocoBase keeps it and reads it back.
//!
//! NocoBase's API (verified on NocoBase 2.2.15, see docs/nocobase.md): `<verb> /api/<resource>:<action>`;
//! `filterByTk`, `filterKeys[]` and `filter` only from the query string; the whole JSON body becomes the action's
//! `values`; `Authorization: Bearer <API key>`.
//!
//! Nothing here puts secret text, the API key, a request body or a response body into an error or a log line
//! (response bodies may echo the request): errors carry resource:action, status codes and NocoBase's short error
//! codes only.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

mod record;
mod variables;

use super::destination::{AllowedDestinations, refused_resolution};
use super::error::DeliveryError;
use crate::auth::SecretText;

/// Upper bound of one request to NocoBase (connect included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long [`NocoBaseClient::deliver_variables`] waits for NocoBase to come back after `app:refresh`.
pub const REFRESH_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest response body read (NocoBase's answers here are a few hundred bytes).
const MAX_BODY: usize = 1 << 20;

/// Which record of a collection to write: `filterByTk=<key>` (the primary key, usually `id`) or
/// `filter=<JSON>` (must match exactly one record).
#[derive(Debug, Clone, PartialEq)]
pub enum RecordKey {
    FilterByTk(String),
    Filter(Value),
}

/// What is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Values {
    pub client_id: String,
    pub client_secret: SecretText,
    pub tenant_id: String,
}

/// Names of NocoBase variables ("Variables and secrets") to deliver to. The client ID and tenant ID are stored as
/// plain variables (`type: default`, readable, compared on read-back), the client secret as `type: secret`
/// (encrypted at rest; NocoBase never returns it, so its read-back confirms presence and type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableNames {
    pub client_id: String,
    pub client_secret: String,
    pub tenant_id: Option<String>,
}

/// Fields of a collection record to deliver to (`None`: not written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMap {
    pub client_id: Option<String>,
    pub client_secret: String,
    pub tenant_id: Option<String>,
}

/// Kind of a NocoBase variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VariableType {
    /// Plain: NocoBase returns its value.
    Default,
    /// Encrypted at rest; `environmentVariables:list` returns its value as null.
    Secret,
    #[serde(other)]
    Other,
}

impl VariableType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Secret => "secret",
            Self::Other => "other",
        }
    }
}

/// What NocoBase tells about a variable. `value` is `Some` only for plain (`default`) variables.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VariableInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: VariableType,
    #[serde(default)]
    pub value: Option<String>,
}

/// A client for one NocoBase. Cheap to clone.
#[derive(Clone)]
pub struct NocoBaseClient {
    base: Url,
    api_key: SecretText,
    http: reqwest::Client,
}

impl std::fmt::Debug for NocoBaseClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NocoBaseClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
}

impl NocoBaseClient {
    /// A client for NocoBase at `base_url` (its root: the API is `base_url` + `api/`). `http` is used as given: build
    /// it with [`AllowedDestinations::http_client`], or use [`NocoBaseClient::for_destination`], to keep the
    /// destination rules. Every request is bounded by [`REQUEST_TIMEOUT`] whatever `http`'s own timeouts.
    pub fn new(base_url: Url, api_key: SecretText, http: reqwest::Client) -> Self {
        let mut base = base_url;
        base.set_query(None);
        base.set_fragment(None);
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Self {
            base,
            api_key,
            http,
        }
    }

    /// The client the operator uses: refuses `base_url` unless `allowed` permits it, and calls it through an HTTP
    /// client whose DNS answers are checked too (see [`AllowedDestinations`]).
    pub fn for_destination(
        base_url: Url,
        api_key: SecretText,
        allowed: &AllowedDestinations,
        extra_ca_pem: Option<&str>,
    ) -> Result<Self, DeliveryError> {
        allowed.check(&base_url)?;
        Ok(Self::new(
            base_url,
            api_key,
            allowed.http_client(extra_ca_pem)?,
        ))
    }

    /// NocoBase's root URL as used.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn endpoint(&self, resource: &str, action: &str) -> Result<Url, DeliveryError> {
        let mut url = self.base.clone();
        {
            let Ok(mut segments) = url.path_segments_mut() else {
                return Err(DeliveryError::DestinationNotAllowed {
                    host: self.base.host_str().unwrap_or("").to_owned(),
                    why: "not an http(s) URL".into(),
                });
            };
            segments.pop_if_empty().push("api");
            // `users/1/roles`-style association resources are several segments; each is percent-encoded.
            let mut parts: Vec<&str> = resource.split('/').collect();
            let last = parts.pop().unwrap_or_default();
            for p in parts {
                segments.push(p);
            }
            segments.push(&format!("{last}:{action}"));
        }
        Ok(url)
    }

    /// One request; the parsed JSON answer of a 2xx, else the typed error.
    async fn call(
        &self,
        method: Method,
        resource: &str,
        action: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, DeliveryError> {
        let mut url = self.endpoint(resource, action)?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        let shown = format!("{resource}:{action}");
        let resp = self
            .request(method, url, &shown, body)?
            .send()
            .await
            .map_err(|e| self.transport_error(&shown, &e))?;
        let status = resp.status().as_u16();
        let bytes = self.read_body(resp, &shown, status).await?;
        answer(status, &bytes, resource, action, shown)
    }

    /// The request with its timeout, Accept, the API key (sensitive) and the JSON body.
    fn request(
        &self,
        method: Method,
        url: Url,
        shown: &str,
        body: Option<&Value>,
    ) -> Result<reqwest::RequestBuilder, DeliveryError> {
        let mut req = match method {
            Method::Get => self.http.get(url),
            Method::Post => self.http.post(url),
        }
        .timeout(REQUEST_TIMEOUT)
        .header(ACCEPT, "application/json");
        // An empty key is sent as no key at all, so that NocoBase says EMPTY_TOKEN.
        let key = self.api_key.expose().trim();
        if !key.is_empty() {
            let mut auth = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                DeliveryError::Unauthorized {
                    endpoint: shown.to_owned(),
                    code: "API_KEY_NOT_A_HEADER_VALUE".into(),
                }
            })?;
            auth.set_sensitive(true);
            req = req.header(AUTHORIZATION, auth);
        }
        Ok(match body {
            Some(b) => req
                .header(CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(b).expect("a JSON value serializes")),
            None => req,
        })
    }

    /// The response body, at most [`MAX_BODY`] bytes.
    async fn read_body(
        &self,
        mut resp: reqwest::Response,
        shown: &str,
        status: u16,
    ) -> Result<Vec<u8>, DeliveryError> {
        let mut bytes = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > MAX_BODY {
                        return Err(DeliveryError::InvalidResponse {
                            endpoint: shown.to_owned(),
                            what: format!("HTTP {status} with a body over {MAX_BODY} bytes"),
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(bytes),
                Err(e) => return Err(self.transport_error(shown, &e)),
            }
        }
    }

    fn transport_error(&self, shown: &str, e: &reqwest::Error) -> DeliveryError {
        if let Some(refused) = refused_resolution(e) {
            return DeliveryError::DestinationNotAllowed {
                host: refused.host.clone(),
                why: "it resolves only to link-local or cloud metadata addresses".into(),
            };
        }
        let cause = if e.is_timeout() {
            format!("no answer within {}s", REQUEST_TIMEOUT.as_secs())
        } else if e.is_connect() {
            format!("cannot connect to {}", self.base.host_str().unwrap_or(""))
        } else if e.is_redirect() {
            "redirects are not followed".to_owned()
        } else {
            "the connection failed".to_owned()
        };
        DeliveryError::Unreachable {
            endpoint: shown.to_owned(),
            cause,
        }
    }
}

/// The parsed JSON answer of a 2xx, else the typed error for the status.
fn answer(
    status: u16,
    bytes: &[u8],
    resource: &str,
    action: &str,
    shown: String,
) -> Result<Value, DeliveryError> {
    match status {
        200..=299 => serde_json::from_slice(bytes).map_err(|_| DeliveryError::InvalidResponse {
            endpoint: shown,
            what: format!("HTTP {status} without a JSON body"),
        }),
        401 => Err(DeliveryError::Unauthorized {
            endpoint: shown,
            code: error_code(bytes).unwrap_or_else(|| "no error code".into()),
        }),
        403 => Err(DeliveryError::Forbidden {
            resource: resource.to_owned(),
            action: action.to_owned(),
        }),
        404 => Err(DeliveryError::NotFound {
            resource: resource.to_owned(),
            action: action.to_owned(),
        }),
        _ => Err(DeliveryError::Status {
            endpoint: shown,
            status,
        }),
    }
}

fn invalid(resource: &str, action: &str, what: &str) -> DeliveryError {
    DeliveryError::InvalidResponse {
        endpoint: format!("{resource}:{action}"),
        what: what.to_owned(),
    }
}

/// NocoBase's short error code (`{"errors":[{"code":"INVALID_TOKEN",...}]}`), only if it looks like one
/// (upper-case letters, digits, underscores): nothing else of the body is ever shown.
fn error_code(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let code = v.pointer("/errors/0/code")?.as_str()?;
    let looks_like_code = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    looks_like_code.then(|| code.to_owned())
}

#[cfg(test)]
#[path = "nocobase_tests.rs"]
mod tests;
