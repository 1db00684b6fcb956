//! `/_emulator/...`: the handle's controls over HTTP, for the standalone binary and the demo (e.g. with curl).
//! No authentication: the emulator is a test fixture and listens on loopback by default.

use crate::EmulatorHandle;
use crate::faults::{
    AfterCommitFailure, Cloud, RemovePasswordMissing, SpReplicationError, TenantSize,
    ThrottleBudget,
};
use crate::state::Shared;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route("/ca.pem", get(ca_pem))
        .route("/tenants", post(add_tenant))
        .route("/clients", post(add_client))
        .route("/faults", post(set_faults))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance_clock))
        .route("/counts", get(counts).delete(reset_counts))
        .route("/tenants/{tenant}/applications", get(applications))
        .route(
            "/tenants/{tenant}/servicePrincipals",
            get(service_principals),
        )
        .route("/tenants/{tenant}/oauth2PermissionGrants", get(grants))
}

fn handle(shared: Shared) -> EmulatorHandle {
    EmulatorHandle { shared }
}

async fn ca_pem(State(shared): State<Shared>) -> String {
    shared.ca_pem.clone()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TenantBody {
    tenant_id: String,
}

async fn add_tenant(State(shared): State<Shared>, Json(body): Json<TenantBody>) -> StatusCode {
    handle(shared).add_tenant(&body.tenant_id);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientBody {
    tenant_id: String,
    client_id: String,
    client_secret: Option<String>,
    federated_subject: Option<String>,
}

async fn add_client(State(shared): State<Shared>, Json(body): Json<ClientBody>) -> Response {
    let h = handle(shared);
    if body.client_secret.is_none() && body.federated_subject.is_none() {
        return (
            StatusCode::BAD_REQUEST,
            "clientSecret or federatedSubject is required",
        )
            .into_response();
    }
    if let Some(secret) = &body.client_secret {
        h.register_client_secret(&body.tenant_id, &body.client_id, secret);
    }
    if let Some(subject) = &body.federated_subject {
        h.register_federated_client(&body.tenant_id, &body.client_id, subject);
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Every field is optional; only the ones present change.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FaultsBody {
    replication_lag_ms: Option<u64>,
    throttle_next: Option<u32>,
    throttle_ratio: Option<f64>,
    retry_after_secs: Option<u64>,
    /// Wins over `retryAfterSecs`; rendered with up to three decimals (2128 -> `Retry-After: 2.128`).
    retry_after_ms: Option<u64>,
    fail_next: Option<u32>,
    fail_status: Option<u16>,
    failure_ratio: Option<f64>,
    /// 0 removes the policy.
    max_credential_lifetime_secs: Option<u64>,
    latency_ms: Option<u64>,
    /// "global", "usGovernment" or "china".
    cloud: Option<String>,
    /// "noBackingApplicationObject" or "forbidden".
    sp_replication_error: Option<String>,
    fail_after_commit_next: Option<u32>,
    /// Default 500.
    fail_after_commit_status: Option<u16>,
    /// Reset the connection instead of answering with a status.
    #[serde(default)]
    fail_after_commit_drop: bool,
    block_password_addition: Option<bool>,
    /// "badRequest", "notFound" or "noContent".
    remove_password_missing: Option<String>,
    secret_activation_lag_ms: Option<u64>,
    /// `null` turns the budget off; an object turns it on.
    #[serde(default, deserialize_with = "present")]
    throttle_budget: Option<Option<BudgetBody>>,
}

/// Distinguishes a present `null` (`Some(None)`) from an absent field (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BudgetBody {
    /// "small" (default), "medium" or "large": the documented ResourceUnit budget per 10 s.
    tenant_size: Option<String>,
    /// Overrides: ResourceUnits per window, window length, write requests per write window, write window length.
    resource_units: Option<u32>,
    window_ms: Option<u64>,
    write_requests: Option<u32>,
    write_window_ms: Option<u64>,
}

impl BudgetBody {
    fn budget(&self) -> Result<ThrottleBudget, String> {
        let size = match &self.tenant_size {
            Some(s) => s.parse::<TenantSize>()?,
            None => TenantSize::Small,
        };
        let mut budget = ThrottleBudget::for_tenant_size(size);
        if let Some(ru) = self.resource_units {
            budget.resource_units = ru;
        }
        if let Some(ms) = self.window_ms {
            budget.window = Duration::from_millis(ms);
        }
        if let Some(n) = self.write_requests {
            budget.write_requests = n;
        }
        if let Some(ms) = self.write_window_ms {
            budget.write_window = Duration::from_millis(ms);
        }
        Ok(budget)
    }
}

/// Parses every enumerated option before changing anything, so a bad value changes nothing.
struct ParsedOptions {
    cloud: Option<Cloud>,
    sp_replication_error: Option<SpReplicationError>,
    remove_password_missing: Option<RemovePasswordMissing>,
    throttle_budget: Option<Option<ThrottleBudget>>,
}

fn parse_options(body: &FaultsBody) -> Result<ParsedOptions, String> {
    Ok(ParsedOptions {
        cloud: body.cloud.as_deref().map(str::parse).transpose()?,
        sp_replication_error: body
            .sp_replication_error
            .as_deref()
            .map(str::parse)
            .transpose()?,
        remove_password_missing: body
            .remove_password_missing
            .as_deref()
            .map(str::parse)
            .transpose()?,
        throttle_budget: match &body.throttle_budget {
            None => None,
            Some(None) => Some(None),
            Some(Some(b)) => Some(Some(b.budget()?)),
        },
    })
}

async fn set_faults(State(shared): State<Shared>, Json(body): Json<FaultsBody>) -> Response {
    let options = match parse_options(&body) {
        Ok(options) => options,
        Err(msg) => return (StatusCode::BAD_REQUEST, msg).into_response(),
    };
    let h = handle(shared);
    let retry_after = match body.retry_after_ms {
        Some(ms) => Duration::from_millis(ms),
        None => Duration::from_secs(body.retry_after_secs.unwrap_or(1)),
    };
    if let Some(ms) = body.replication_lag_ms {
        h.set_replication_lag(Duration::from_millis(ms));
    }
    if let Some(n) = body.throttle_next {
        h.throttle_next(n, retry_after);
    }
    if let Some(ratio) = body.throttle_ratio {
        h.set_throttle_ratio(ratio, retry_after);
    }
    if let Some(n) = body.fail_next {
        h.fail_next(n, body.fail_status.unwrap_or(503));
    }
    if let Some(ratio) = body.failure_ratio {
        h.set_failure_ratio(ratio);
    }
    if let Some(secs) = body.max_credential_lifetime_secs {
        h.set_max_credential_lifetime((secs > 0).then(|| Duration::from_secs(secs)));
    }
    if let Some(ms) = body.latency_ms {
        h.set_latency(Duration::from_millis(ms));
    }
    if let Some(cloud) = options.cloud {
        h.set_cloud(cloud);
    }
    if let Some(error) = options.sp_replication_error {
        h.set_sp_replication_error(error);
    }
    if let Some(n) = body.fail_after_commit_next {
        let failure = if body.fail_after_commit_drop {
            AfterCommitFailure::Drop
        } else {
            AfterCommitFailure::Status(body.fail_after_commit_status.unwrap_or(500))
        };
        h.fail_after_commit_next(n, failure);
    }
    if let Some(blocked) = body.block_password_addition {
        h.set_password_addition_blocked(blocked);
    }
    if let Some(answer) = options.remove_password_missing {
        h.set_remove_password_missing(answer);
    }
    if let Some(ms) = body.secret_activation_lag_ms {
        h.set_secret_activation_lag(Duration::from_millis(ms));
    }
    if let Some(budget) = options.throttle_budget {
        h.set_throttle_budget(budget);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn clock(State(shared): State<Shared>) -> Json<serde_json::Value> {
    Json(json!({ "now": handle(shared).now() }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdvanceBody {
    seconds: u64,
    /// Shift issued tokens too, so clients with cached tokens keep working.
    #[serde(default)]
    preserve_tokens: bool,
}

async fn advance_clock(
    State(shared): State<Shared>,
    Json(body): Json<AdvanceBody>,
) -> Json<serde_json::Value> {
    let h = handle(shared);
    if body.preserve_tokens {
        h.advance_clock_preserving_tokens(Duration::from_secs(body.seconds));
    } else {
        h.advance_clock(Duration::from_secs(body.seconds));
    }
    Json(json!({ "now": h.now() }))
}

async fn counts(State(shared): State<Shared>) -> Json<serde_json::Value> {
    let h = handle(shared);
    Json(json!({
        "counts": h.counts(),
        "countsByStatus": h.counts_by_status(),
        "reads": h.reads(),
        "writes": h.writes(),
        "throttled": h.throttled(),
        "budgetThrottled": h.budget_throttled(),
    }))
}

async fn reset_counts(State(shared): State<Shared>) -> StatusCode {
    handle(shared).reset_counts();
    StatusCode::NO_CONTENT
}

async fn applications(State(shared): State<Shared>, Path(tenant): Path<String>) -> Response {
    Json(handle(shared).applications(&tenant)).into_response()
}

async fn service_principals(State(shared): State<Shared>, Path(tenant): Path<String>) -> Response {
    Json(handle(shared).service_principals(&tenant)).into_response()
}

async fn grants(State(shared): State<Shared>, Path(tenant): Path<String>) -> Response {
    Json(handle(shared).grants(&tenant)).into_response()
}
