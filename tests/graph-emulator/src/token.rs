//! Entra ID's v2.0 token endpoint, client-credentials grant only.

use crate::client_cert;
use crate::error::{AadError, RequestIds};
use crate::jwt;
use crate::state::{ClientRegistration, Inner, IssuedToken, Shared, Tenant};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::HashMap;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const TOKEN_LIFETIME_SECS: i64 = 3599;

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) async fn handle(
    State(shared): State<Shared>,
    Path(tenant_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The audience a certificate assertion must carry: this endpoint as the client addressed it (HTTP/1.1 Host,
    // HTTP/2 :authority in the URI).
    let authority = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.authority().map(ToString::to_string));
    let audience = authority.map(|a| format!("https://{a}/{tenant_id}/oauth2/v2.0/token"));
    let ids = RequestIds::from_headers(&headers);
    let latency = shared.lock().faults.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let form: HashMap<String, String> =
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
            .unwrap_or_default()
            .into_iter()
            .collect();
    let mut inner = shared.lock();
    let now = inner.now();
    let response = match issue(&mut inner, &tenant_id, &form, audience.as_deref(), now) {
        Ok(token) => {
            let mut response = (
                StatusCode::OK,
                axum::Json(json!({
                    "token_type": "Bearer",
                    "expires_in": TOKEN_LIFETIME_SECS,
                    "ext_expires_in": TOKEN_LIFETIME_SECS,
                    "access_token": token,
                })),
            )
                .into_response();
            ids.stamp(&mut response);
            response
        }
        Err(err) => err.render(&ids, now),
    };
    let status = response.status().as_u16();
    inner
        .counters
        .record("POST", "/{tenant}/oauth2/v2.0/token", status, false);
    drop(inner);
    let client_id = form
        .get("client_id")
        .map(String::as_str)
        .unwrap_or_default();
    tracing::debug!(tenant = %tenant_id, client_id, status, "token request");
    response
}

fn missing(parameter: &str) -> AadError {
    AadError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{parameter}'."),
    )
}

fn issue(
    inner: &mut Inner,
    tenant_id: &str,
    form: &HashMap<String, String>,
    audience: Option<&str>,
    now: DateTime<Utc>,
) -> Result<String, AadError> {
    let param = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
    let Some(tenant) = inner.tenants.get(tenant_id) else {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant_id}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        ));
    };
    let client_id = check_grant(&param)?;
    let registration = tenant.clients.get(client_id);
    // An application still inside the replication lag is unknown here too (AADSTS700016), as seen right after
    // creating an app: <https://github.com/hashicorp/vault-plugin-secrets-azure/issues/26>.
    let is_app = tenant.visible_app(client_id, now).is_some();
    let unknown_client = || {
        AadError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant_id}'. This can happen if the application has not been installed by the administrator of the tenant."
            ),
        )
    };
    if registration.is_none() && !is_app {
        return Err(unknown_client());
    }

    if let Some(secret) = param("client_secret") {
        check_secret(tenant, registration, client_id, secret, now)?;
    } else if let Some(assertion) = param("client_assertion") {
        let assertion_type = param("client_assertion_type");
        let form = check_assertion(
            registration,
            client_id,
            assertion,
            assertion_type,
            audience,
            now,
        )?;
        if let Some(form) = form {
            *inner
                .counters
                .certificate_assertions
                .entry(form)
                .or_default() += 1;
        }
    } else {
        return Err(AadError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".to_string(),
        ));
    }

    let token = crate::secrets::access_token();
    inner.tokens.retain(|_, t| t.expires_at > now);
    inner.tokens.insert(
        token.clone(),
        IssuedToken {
            tenant_id: tenant_id.to_string(),
            client_id: client_id.to_string(),
            expires_at: now + chrono::Duration::seconds(TOKEN_LIFETIME_SECS),
        },
    );
    Ok(token)
}

/// A client-credentials request with a `/.default` scope: returns the client_id.
fn check_grant<'f>(param: &impl Fn(&str) -> Option<&'f str>) -> Result<&'f str, AadError> {
    match param("grant_type") {
        None => return Err(missing("grant_type")),
        Some("client_credentials") => {}
        Some(other) => {
            return Err(AadError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
            ));
        }
    }
    let client_id = param("client_id").ok_or_else(|| missing("client_id"))?;
    let scope = param("scope").ok_or_else(|| missing("scope"))?;
    if scope.split_whitespace().count() != 1 || !scope.ends_with("/.default") {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        ));
    }
    Ok(client_id)
}

/// The client secret is a registered one (the operator's own) or an app's current one.
fn check_secret(
    tenant: &Tenant,
    registration: Option<&ClientRegistration>,
    client_id: &str,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<(), AadError> {
    let registered = registration.is_some_and(|r| r.secrets.iter().any(|s| s == secret));
    if !registered && !tenant.app_secret_valid(client_id, secret, now) {
        // A secret minted less than the activation lag ago is not known yet, hence "invalid", not "expired".
        return Err(if tenant.app_has_secret(client_id, secret, now) {
            AadError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000222,
                format!("The provided client secret keys for app '{client_id}' are expired."),
            )
        } else {
            AadError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                ),
            )
        });
    }
    Ok(())
}

/// A JWT-bearer client assertion: within its validity, and either signed by a registered certificate (returns the
/// form it used) or a federated credential's subject.
fn check_assertion(
    registration: Option<&ClientRegistration>,
    client_id: &str,
    assertion: &str,
    assertion_type: Option<&str>,
    audience: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<client_cert::AssertionForm>, AadError> {
    if assertion_type != Some(JWT_BEARER) {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50027,
            "The client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.".to_string(),
        ));
    }
    let claims = jwt::decode_unverified(assertion).map_err(|_| {
        AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50027,
            "JWT token is invalid or malformed.".to_string(),
        )
    })?;
    let ts = now.timestamp();
    if claims.exp.is_none_or(|exp| exp <= ts) || claims.nbf.is_some_and(|nbf| nbf > ts) {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            700024,
            "Client assertion is not within its valid time range.".to_string(),
        ));
    }
    let subject = claims.sub.unwrap_or_default();
    if client_cert::names_certificate(assertion) {
        let certificates = registration.map(|r| r.certificates.as_slice());
        return client_cert::verify(
            assertion,
            certificates.unwrap_or_default(),
            client_id,
            audience,
        )
        .map(Some);
    } else if !registration.is_some_and(|r| r.federated_subjects.contains(&subject)) {
        return Err(AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            70021,
            format!(
                "No matching federated identity record found for presented assertion. Assertion Subject: '{subject}'."
            ),
        ));
    }
    Ok(None)
}
