//! Request plumbing: base URL, bearer token, JSON, error decoding, bounded retries, metrics.

use super::error::{GraphError, decode_api_error};
use super::hold::{Kind, Limit, Throttle};
use super::limiter::{Aimd, Limiter, Outcome, Permit};
use super::metrics::GraphMetrics;
use super::retry::RetryPolicy;
use crate::auth::TokenSource;
use crate::auth::http::parse_retry_after;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// Everything needed to talk to one tenant's Graph.
#[derive(Clone)]
pub struct GraphConfig {
    /// Graph base including the version, e.g. `https://graph.microsoft.com/v1.0` (see `Cloud::graph_base`).
    pub graph_base: Url,
    /// Token source for the Graph scope (see `auth::credential`).
    pub credential: Arc<dyn TokenSource>,
    /// Extra CA certificates (PEM) to trust besides the system roots.
    pub extra_ca_pem: Option<String>,
    pub retry: RetryPolicy,
    /// Timeout of one HTTP attempt.
    pub timeout: Duration,
    pub metrics: Option<Arc<dyn GraphMetrics>>,
    /// Requests in flight to this tenant's Graph: where the adaptive limit starts, and its bounds.
    pub concurrency: Concurrency,
}

/// Bounds of the adaptive number of Graph requests in flight per tenant (see [`super::limiter`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concurrency {
    pub initial: usize,
    pub max: usize,
}

impl Default for Concurrency {
    fn default() -> Self {
        Self {
            initial: 16,
            max: 64,
        }
    }
}

impl GraphConfig {
    /// Config with default retry policy and a 30 s per-request timeout.
    pub fn new(graph_base: Url, credential: Arc<dyn TokenSource>) -> Self {
        Self {
            graph_base,
            credential,
            extra_ca_pem: None,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            metrics: None,
            concurrency: Concurrency::default(),
        }
    }
}

/// The one typed Microsoft Graph client. Cheap to clone.
#[derive(Clone)]
pub struct GraphClient {
    pub(crate) http: reqwest::Client,
    base: String,
    credential: Arc<dyn TokenSource>,
    pub(crate) retry: RetryPolicy,
    metrics: Option<Arc<dyn GraphMetrics>>,
    /// Facts about the tenant that never change, shared by the clones of this client.
    pub(crate) tenant_cache: Arc<TenantCache>,
    /// Adaptive requests-in-flight limit, shared by the clones of this client (one client per tenant).
    limiter: Arc<Limiter>,
}

/// Tenant facts looked up once per client instead of once per reconcile.
#[derive(Debug, Default)]
pub(crate) struct TenantCache {
    /// Object id of the Microsoft Graph service principal (see `microsoft_graph_service_principal_id`).
    pub graph_sp_id: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Which extra failures (beyond throttling, 5xx and transport errors) a call retries.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RetryAlso {
    /// 404 on an object that was just created elsewhere (replication lag).
    pub not_found: bool,
    /// 409 from a concurrent write.
    pub conflict: bool,
    /// 400 NoBackingApplicationObject (service principal created before its app replicated).
    pub no_backing_application: bool,
    /// 403 Authorization_RequestDenied "…backing application of the service principal being created must in the
    /// local tenant": the same race, reported as a permission error (only that message; other 403s are real).
    pub backing_application_not_local: bool,
}

impl RetryAlso {
    pub const NONE: Self = Self {
        not_found: false,
        conflict: false,
        no_backing_application: false,
        backing_application_not_local: false,
    };

    fn matches(self, err: &GraphError) -> bool {
        (self.not_found && err.is_not_found())
            || (self.conflict && err.is_conflict())
            || (self.no_backing_application && err.is_no_backing_application())
            || (self.backing_application_not_local && err.is_backing_application_not_local())
    }
}

/// One logical Graph call (retried as a unit).
pub(crate) struct Call {
    pub method: reqwest::Method,
    /// Path template for logs and metrics, e.g. `/applications/{id}`.
    pub endpoint: &'static str,
    pub url: Url,
    pub body: Option<serde_json::Value>,
    pub prefer: Option<&'static str>,
    pub retry_also: RetryAlso,
    /// False for a request that creates something new each time it is carried out (`addPassword` mints a new
    /// secret per call). Such a call is never re-sent after an ambiguous failure (5xx, timeout, dropped
    /// connection: see [`GraphError::is_ambiguous`]), because the first attempt may have succeeded; the error
    /// surfaces so the caller can re-read. Failures Graph did not act on (429, 401, connect errors, the 404s
    /// of `retry_also`) are still retried.
    pub idempotent: bool,
}

/// A successful response.
pub(crate) struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json<T: serde::de::DeserializeOwned>(&self, endpoint: &str) -> Result<T, GraphError> {
        serde_json::from_slice(&self.body).map_err(|e| GraphError::Decode {
            endpoint: endpoint.to_owned(),
            message: e.to_string(),
        })
    }
}

impl GraphClient {
    pub fn new(cfg: GraphConfig) -> Result<Self, GraphError> {
        if !matches!(cfg.graph_base.scheme(), "https" | "http") {
            return Err(GraphError::Config(format!(
                "graph base URL must be http(s): {}",
                cfg.graph_base
            )));
        }
        let http = crate::auth::http::http_client(cfg.extra_ca_pem.as_deref(), Some(cfg.timeout))
            .map_err(|e| GraphError::Config(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: cfg.graph_base.as_str().trim_end_matches('/').to_owned(),
            credential: cfg.credential,
            retry: cfg.retry,
            metrics: cfg.metrics,
            tenant_cache: Arc::default(),
            limiter: Arc::new(Limiter::new(Aimd::new(
                cfg.concurrency.initial,
                1,
                cfg.concurrency.max,
                // A 429 wave comes back within about one request latency; later ones are new congestion.
                Duration::from_secs(1),
            ))),
        })
    }

    /// (limit, in flight) of the adaptive Graph request limit now.
    pub fn concurrency(&self) -> (usize, usize) {
        self.limiter.current()
    }

    /// Absolute URL for `path` (starting with `/`), optionally with an OData `$filter`.
    pub(crate) fn url(&self, path: &str, filter: Option<&str>) -> Result<Url, GraphError> {
        let mut text = format!("{}{}", self.base, path);
        if let Some(filter) = filter {
            text.push_str("?$filter=");
            text.push_str(&encode_component(filter));
        }
        Url::parse(&text).map_err(|e| GraphError::Config(format!("bad Graph URL for {path}: {e}")))
    }

    /// Sends `call`, retrying transient failures within the retry policy.
    pub(crate) async fn execute(&self, call: &Call) -> Result<Reply, GraphError> {
        let mut attempts = 0u32;
        let mut waited = Duration::ZERO;
        let mut reauthenticated = false;
        loop {
            attempts += 1;
            let kind = Kind::of(&call.method);
            let patience = self.retry.max_total_wait.saturating_sub(waited);
            let permit = match self.limiter.acquire(kind, patience).await {
                Ok(permit) => permit,
                Err(held_for) => return Err(held(kind, held_for)),
            };
            let result = self.send_once(call, permit).await;
            if let Some(m) = &self.metrics {
                m.on_concurrency_limit(self.limiter.current().0);
            }
            let err = match result {
                Ok(reply) => return Ok(reply),
                Err(err) => err,
            };
            // A 401 means our cached token is no longer accepted: fetch a new one and retry once.
            if err.status() == Some(401) && !reauthenticated {
                reauthenticated = true;
                self.credential.invalidate();
                continue;
            }
            if !(err.is_retryable() || call.retry_also.matches(&err)) {
                return Err(err);
            }
            if !call.idempotent && err.is_ambiguous() {
                tracing::debug!(endpoint = call.endpoint, method = %call.method, attempts, error = %err, "not re-sending a non-idempotent Graph call after an ambiguous failure");
                return Err(err);
            }
            let jitter: f64 = rand::random();
            let Some(delay) = self
                .retry
                .next_delay(attempts, waited, err.retry_after(), jitter)
            else {
                tracing::debug!(endpoint = call.endpoint, method = %call.method, attempts, error = %err, "Graph call gave up");
                return Err(err);
            };
            tracing::debug!(endpoint = call.endpoint, method = %call.method, attempts, ?delay, error = %err, "retrying Graph call");
            tokio::time::sleep(delay).await;
            waited += delay;
        }
    }

    /// One attempt; tells `permit` how it ended (a 429 with the limit Graph names, so the limiter holds back what
    /// that limit covers).
    async fn send_once(&self, call: &Call, permit: Permit) -> Result<Reply, GraphError> {
        let token = self.credential.token().await?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.token.expose()))
            .map_err(|_| GraphError::Config("access token is not a valid header value".into()))?;
        auth.set_sensitive(true);
        let mut req = self
            .http
            .request(call.method.clone(), call.url.clone())
            .header(AUTHORIZATION, auth);
        if let Some(prefer) = call.prefer {
            req = req.header("Prefer", prefer);
        }
        if let Some(body) = &call.body {
            req = req.header(CONTENT_TYPE, "application/json").json(body);
        }
        let started = Instant::now();
        let result = req.send().await;
        let status = result.as_ref().ok().map(|r| r.status().as_u16());
        self.record(call, status, started.elapsed());
        let resp = result.map_err(GraphError::Transport)?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let request_id = header("request-id");
        let retry_after =
            header(RETRY_AFTER.as_str()).and_then(|v| parse_retry_after(&v, chrono::Utc::now()));
        permit.finish(if status == 429 {
            Outcome::Throttled(Throttle {
                retry_after,
                limit: Limit::from_scope_header(header("x-ms-throttle-scope").as_deref()),
            })
        } else {
            Outcome::Answered
        });
        let body = resp.bytes().await.map_err(GraphError::Transport)?.to_vec();
        if (200..300).contains(&status) {
            Ok(Reply { status, body })
        } else {
            Err(decode_api_error(status, &body, request_id, retry_after))
        }
    }

    fn record(&self, call: &Call, status: Option<u16>, duration: Duration) {
        if let Some(metrics) = &self.metrics {
            metrics.on_request(call.endpoint, method_name(&call.method), status, duration);
        }
    }
}

/// The answer for a request not sent because a 429 holds its kind for longer than the call may wait: a 429 of our
/// own, so callers treat it as Graph's (GraphThrottled, retried after `Retry-After`).
fn held(kind: Kind, held_for: Duration) -> GraphError {
    GraphError::Api {
        status: 429,
        code: "TooManyRequests".into(),
        message: format!(
            "not sent: Graph throttled this tenant's {} for another {:.1} s (x-ms-throttle-scope)",
            match kind {
                Kind::Read => "reads",
                Kind::Write => "writes",
            },
            held_for.as_secs_f64()
        ),
        request_id: None,
        retry_after: Some(held_for),
    }
}

fn method_name(method: &reqwest::Method) -> &'static str {
    match *method {
        reqwest::Method::GET => "GET",
        reqwest::Method::POST => "POST",
        reqwest::Method::PATCH => "PATCH",
        reqwest::Method::PUT => "PUT",
        reqwest::Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}

/// Percent-encodes everything except RFC 3986 unreserved characters (safe in paths and queries).
pub(crate) fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// An OData string literal (single quotes doubled), percent-encoded for a URL.
pub(crate) fn odata_key(value: &str) -> String {
    encode_component(&value.replace('\'', "''"))
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
