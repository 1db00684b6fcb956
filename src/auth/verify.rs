//! Verify-before-trust: prove that a client secret we just minted authenticates before anything relies on it.
//!
//! The proof is the request NocoBase itself will make: a client-credentials token request to the tenant's
//! v2.0 token endpoint (`POST {authority}/{tenant}/oauth2/v2.0/token`, `grant_type=client_credentials`,
//! `scope=<graph>/.default`; <https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow>),
//! on the same cloud authority and with the same TLS trust as the operator's own credential.
//!
//! A fresh secret (and a fresh application) is not accepted everywhere at once: Entra replicates it
//! asynchronously (<https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/>).
//! Until then the token endpoint answers as if the secret were wrong:
//! - `AADSTS7000215` invalid client secret: "When I add a passwordCredential to an AAD Application, it does not
//!   work right away [...] I've observed latency from 4-18 seconds" (microsoftgraph/microsoft-graph-docs#17966);
//! - `AADSTS700016` application not found in the directory, for a just-created app
//!   (openshift/openshift-azure#2211, hashicorp/vault-plugin-secrets-azure#26,
//!   AzureAD/microsoft-authentication-library-for-dotnet#3706);
//! - `AADSTS7000222` the secret is expired, for a secret minted moments ago with a future end date
//!   (Azure-Samples/active-directory-dotnetcore-daemon-v2#87, dafthack/GraphRunner#28).
//!
//! Those three are retried with backoff up to [`VerifyOptions::max_wait`]; note that Entra gives the same answer
//! for a secret that is simply wrong, so running out of time yields [`VerifyError::NotYetValid`], not a verdict.
//! Any other AADSTS answer is final ([`VerifyError::Rejected`]). The secret never appears in an error or a log.

use super::http::{http_client_builder, parse_retry_after};
use super::{Cloud, SecretText};
use serde::Deserialize;
use std::{
    ops::ControlFlow,
    time::{Duration, Instant},
};
use url::Url;

/// AADSTS codes Entra answers while a fresh secret or application has not replicated yet (see module docs).
pub const REPLICATION_LAG_CODES: &[u32] = &[7_000_215, 700_016, 7_000_222];

/// Bounds for [`verify_client_secret`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Give up once this much time has passed since the first attempt (no attempt starts after it).
    pub max_wait: Duration,
    /// Wait before the second attempt; doubles each attempt (with jitter), up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Timeout of one token request.
    pub request_timeout: Duration,
}

impl Default for VerifyOptions {
    /// Two minutes: well past the 4–18 s propagation reported in microsoftgraph/microsoft-graph-docs#17966.
    fn default() -> Self {
        Self {
            max_wait: Duration::from_secs(120),
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Why a secret could not be shown to work. `Display` never includes the secret (nor Entra's text verbatim when
/// it would contain it).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Entra kept answering a replication-lag code (see [`REPLICATION_LAG_CODES`]) until `max_wait` ran out. The
    /// secret may still become valid, or may be wrong: Entra does not distinguish the two.
    #[error(
        "the client secret was not accepted within {waited:?} ({attempts} attempts; last answer AADSTS{code}: Entra may not have replicated it yet)"
    )]
    NotYetValid {
        code: u32,
        attempts: u32,
        waited: Duration,
    },
    /// Entra refused the request for a reason replication does not explain (disabled app, unknown tenant, …).
    #[error("Entra rejected the client secret: HTTP {status}{} {error}: {description}", code.map(|c| format!(" AADSTS{c}")).unwrap_or_default())]
    Rejected {
        status: u16,
        /// The AADSTS number, when Entra sent one.
        code: Option<u32>,
        /// OAuth `error`, e.g. `unauthorized_client`.
        error: String,
        /// Entra's `error_description`, shortened, with the secret scrubbed should it ever be echoed.
        description: String,
        attempts: u32,
    },
    /// No usable answer from the token endpoint (connection failures, timeouts, 5xx, 429) until `max_wait` ran out.
    #[error(
        "cannot verify the client secret: token endpoint unavailable after {attempts} attempts: {message}"
    )]
    Transport { message: String, attempts: u32 },
    /// The token endpoint URL or the HTTP client could not be built.
    #[error("cannot verify the client secret: {0}")]
    Config(String),
}

impl VerifyError {
    /// Token requests sent before giving up (for metrics).
    pub fn attempts(&self) -> u32 {
        match self {
            Self::NotYetValid { attempts, .. }
            | Self::Rejected { attempts, .. }
            | Self::Transport { attempts, .. } => *attempts,
            Self::Config(_) => 0,
        }
    }
}

/// Token endpoint of `tenant_id` on `cloud`: `{authority_host}/{tenant}/oauth2/v2.0/token`, the URL
/// azure_identity uses for the operator's own credential.
pub fn token_endpoint(cloud: &Cloud, tenant_id: &str) -> Result<Url, VerifyError> {
    if tenant_id.is_empty() {
        return Err(VerifyError::Config("tenant id is empty".into()));
    }
    let mut url = cloud.authority_host();
    url.path_segments_mut()
        .map_err(|()| {
            VerifyError::Config(format!(
                "authority host {} cannot take a path",
                cloud.authority_host()
            ))
        })?
        .pop_if_empty()
        .extend([tenant_id, "oauth2", "v2.0", "token"]);
    Ok(url)
}

/// Proves that `secret` authenticates `client_id` in `tenant_id`: requests a client-credentials token for
/// `cloud`'s Graph scope, retrying while Entra answers a replication-lag code (see module docs) or is
/// unreachable, for at most `options.max_wait`. The token itself is discarded.
///
/// Returns the number of token requests sent (≥ 1) for metrics. `extra_ca_pem` is the same extra trust the
/// operator's own credential uses (the tests' emulator CA, a TLS-inspecting proxy).
pub async fn verify_client_secret(
    tenant_id: &str,
    cloud: &Cloud,
    client_id: &str,
    secret: &SecretText,
    extra_ca_pem: Option<&str>,
    options: &VerifyOptions,
) -> Result<u32, VerifyError> {
    let url = token_endpoint(cloud, tenant_id)?;
    // No redirects: the body carries the secret and must only ever go to the authority we chose.
    let http = http_client_builder(extra_ca_pem, Some(options.request_timeout))
        .map_err(|e| VerifyError::Config(format!("cannot build HTTP client: {e}")))?
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| VerifyError::Config(format!("cannot build HTTP client: {e}")))?;
    let scope = cloud.graph_scope();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret.expose()),
        ("scope", scope.as_str()),
    ];
    let started = Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let outcome = request_token(&http, &url, &form).await;
        match after_attempt(outcome, options, attempts, started, client_id, secret) {
            ControlFlow::Break(result) => return result,
            ControlFlow::Continue(delay) => tokio::time::sleep(delay).await,
        }
    }
}

/// One token request, classified.
async fn request_token(http: &reqwest::Client, url: &Url, form: &[(&str, &str)]) -> Outcome {
    match http.post(url.clone()).form(form).send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
            match resp.bytes().await {
                Ok(body) => classify(status, &body, retry_after),
                Err(e) => Outcome::Unavailable {
                    message: e.without_url().to_string(),
                    retry_after: None,
                },
            }
        }
        Err(e) => Outcome::Unavailable {
            message: e.without_url().to_string(),
            retry_after: None,
        },
    }
}

/// After attempt number `attempts`: the result (proven, refused, or out of time), or how long to wait before the
/// next one. Entra's texts are scrubbed of the secret before they go anywhere.
fn after_attempt(
    outcome: Outcome,
    options: &VerifyOptions,
    attempts: u32,
    started: Instant,
    client_id: &str,
    secret: &SecretText,
) -> ControlFlow<Result<u32, VerifyError>, Duration> {
    let in_time = |d: Option<Duration>| d.filter(|d| started.elapsed() + *d <= options.max_wait);
    match outcome {
        Outcome::Valid => {
            tracing::debug!(client_id, attempts, "new client secret authenticates");
            ControlFlow::Break(Ok(attempts))
        }
        Outcome::Refused {
            status,
            code,
            error,
            description,
        } => ControlFlow::Break(Err(VerifyError::Rejected {
            status,
            code,
            error: scrub(&error, secret),
            description: scrub(&description, secret),
            attempts,
        })),
        Outcome::NotYet { code } => {
            tracing::debug!(
                client_id,
                attempts,
                code,
                "new client secret not accepted yet"
            );
            match in_time(next_delay(options, attempts, None)) {
                Some(d) => ControlFlow::Continue(d),
                None => ControlFlow::Break(Err(VerifyError::NotYetValid {
                    code,
                    attempts,
                    waited: started.elapsed(),
                })),
            }
        }
        Outcome::Unavailable {
            message,
            retry_after,
        } => {
            let message = scrub(&message, secret);
            tracing::debug!(client_id, attempts, %message, "token endpoint unavailable");
            match in_time(next_delay(options, attempts, retry_after)) {
                Some(d) => ControlFlow::Continue(d),
                None => ControlFlow::Break(Err(VerifyError::Transport { message, attempts })),
            }
        }
    }
}

/// Exponential backoff with equal jitter (as the Graph client's), or the server's `Retry-After`.
fn next_delay(
    options: &VerifyOptions,
    attempts_made: u32,
    retry_after: Option<Duration>,
) -> Option<Duration> {
    if let Some(d) = retry_after {
        return Some(d);
    }
    let exp = attempts_made.saturating_sub(1).min(31);
    let full = options
        .base_delay
        .saturating_mul(1u32 << exp)
        .min(options.max_delay);
    let jitter: f64 = rand::random();
    Some(full / 2 + full.mul_f64(jitter.clamp(0.0, 1.0)) / 2)
}

/// What one token-endpoint answer means for the secret.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// A token was issued.
    Valid,
    /// A replication-lag code: try again.
    NotYet { code: u32 },
    /// A final refusal.
    Refused {
        status: u16,
        code: Option<u32>,
        error: String,
        description: String,
    },
    /// 429, 5xx, or no answer: try again.
    Unavailable {
        message: String,
        retry_after: Option<Duration>,
    },
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    access_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u32>,
}

/// Longest part of Entra's `error_description` kept in an error (it ends in trace ids and timestamps).
const MAX_DESCRIPTION: usize = 300;

fn classify(status: u16, body: &[u8], retry_after: Option<Duration>) -> Outcome {
    if (200..300).contains(&status) {
        // A 2xx without a token is not proof; treat it like an unavailable endpoint.
        return match serde_json::from_slice::<TokenResponse>(body) {
            Ok(TokenResponse {
                access_token: Some(t),
            }) if !t.is_empty() => Outcome::Valid,
            _ => Outcome::Unavailable {
                message: format!("HTTP {status} without an access token"),
                retry_after,
            },
        };
    }
    if status == 429 || (500..=599).contains(&status) {
        return Outcome::Unavailable {
            message: format!("HTTP {status}"),
            retry_after,
        };
    }
    let (error, description, codes) = match serde_json::from_slice::<TokenError>(body) {
        Ok(e) => (e.error, e.error_description, e.error_codes),
        Err(_) => (
            String::new(),
            String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            Vec::new(),
        ),
    };
    let code = codes.first().copied().or_else(|| aadsts_code(&description));
    if let Some(code) = code
        && REPLICATION_LAG_CODES.contains(&code)
    {
        return Outcome::NotYet { code };
    }
    Outcome::Refused {
        status,
        code,
        error,
        description: shorten(&description),
    }
}

/// The number in the first `AADSTS<digits>` of an Entra error description.
fn aadsts_code(description: &str) -> Option<u32> {
    let start = description.find("AADSTS")? + "AADSTS".len();
    let digits: String = description[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn shorten(text: &str) -> String {
    // Entra separates the message from its trace/correlation ids with CRLF; keep the message.
    let first = text.lines().next().unwrap_or_default();
    if first.len() <= MAX_DESCRIPTION {
        return first.to_owned();
    }
    let mut cut = MAX_DESCRIPTION;
    while !first.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &first[..cut])
}

/// Replaces any occurrence of the secret in text we are about to keep (defence in depth: Entra does not echo it).
fn scrub(text: &str, secret: &SecretText) -> String {
    let s = secret.expose();
    if s.is_empty() {
        text.to_owned()
    } else {
        text.replace(s, "[redacted]")
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
