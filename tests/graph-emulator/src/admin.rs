//! `/_emulator/...`: the handle's controls over HTTP, for the standalone binary and the demo (e.g. with curl).
//! No authentication: the emulator is a test fixture and listens on loopback by default.

use crate::EmulatorHandle;
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
    fail_next: Option<u32>,
    fail_status: Option<u16>,
    failure_ratio: Option<f64>,
    /// 0 removes the policy.
    max_credential_lifetime_secs: Option<u64>,
    latency_ms: Option<u64>,
}

async fn set_faults(State(shared): State<Shared>, Json(body): Json<FaultsBody>) -> StatusCode {
    let h = handle(shared);
    let retry_after = Duration::from_secs(body.retry_after_secs.unwrap_or(1));
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
    StatusCode::NO_CONTENT
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
