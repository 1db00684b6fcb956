//! Microsoft Graph v1.0 under `/v1.0`: authentication, fault injection, routing and OData conventions.

mod applications;
mod budget;
mod grants;
mod odata;
mod routes;
mod service_principals;

use crate::error::{GraphError, RequestIds};
use crate::faults::{
    AfterCommitFailure, Cloud, Faults, Injected, RemovePasswordMissing, SpReplicationError,
};
use crate::state::{Inner, Shared, Tenant};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum_server::ConnectionShutdown;
use chrono::{DateTime, Utc};
use routes::{Entity, Key, Target};
use serde_json::{Map, Value};

/// What a Graph operation produced on success.
pub(crate) enum Reply {
    Json(StatusCode, Value),
    NoContent,
    /// The operation committed but the response is lost: the connection is closed before any byte of it.
    Drop,
}

impl Reply {
    fn render(self, ids: &RequestIds) -> Response {
        let mut response = match self {
            Reply::Json(status, body) => (status, axum::Json(body)).into_response(),
            Reply::NoContent => StatusCode::NO_CONTENT.into_response(),
            // Only reached when the connection could not be aborted (no axum-server connection handle).
            Reply::Drop => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        };
        ids.stamp(&mut response);
        response
    }
}

/// Response headers and facts a request produced besides its reply.
#[derive(Default)]
struct Extras {
    headers: Vec<(&'static str, String)>,
    budget_throttled: bool,
}

/// Tenant-level options the operations read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub max_credential_lifetime: Option<std::time::Duration>,
    pub cloud: Cloud,
    pub sp_replication_error: SpReplicationError,
    pub block_password_addition: bool,
    pub remove_password_missing: RemovePasswordMissing,
    pub secret_activation_lag: chrono::Duration,
}

impl Settings {
    fn of(faults: &Faults) -> Self {
        Self {
            max_credential_lifetime: faults.max_credential_lifetime,
            cloud: faults.cloud,
            sp_replication_error: faults.sp_replication_error,
            block_password_addition: faults.block_password_addition,
            remove_password_missing: faults.remove_password_missing,
            secret_activation_lag: chrono::Duration::from_std(faults.secret_activation_lag)
                .unwrap_or_default(),
        }
    }
}

type GraphResult = Result<Reply, GraphError>;

/// The parts of one request the operations read.
pub(crate) struct Request<'a> {
    body: &'a Bytes,
    query: Vec<(String, String)>,
    create_if_missing: bool,
}

impl Request<'_> {
    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The JSON object body; Graph's messages for empty and malformed payloads.
    fn json(&self) -> Result<Map<String, Value>, GraphError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(GraphError::bad_request(
                "Empty Payload. JSON content expected.",
            ));
        }
        match serde_json::from_slice::<Value>(self.body) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(GraphError::bad_request(
                "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
            )),
        }
    }

    /// Like [`Self::json`] but an absent body counts as `{}` (actions with optional parameters).
    fn json_or_empty(&self) -> Result<Map<String, Value>, GraphError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        self.json()
    }
}

/// Tenant-scoped view of the state for one operation.
pub(crate) struct Ctx<'a> {
    tenant_id: &'a str,
    tenant: &'a mut Tenant,
    now: DateTime<Utc>,
    /// Objects created now become visible to other calls at `now + lag`.
    lag: chrono::Duration,
    settings: Settings,
    graph_url: &'a str,
}

impl Ctx<'_> {
    fn visible_at(&self) -> DateTime<Utc> {
        self.now + self.lag
    }
}

/// Axum handler for everything under `/v1.0`.
pub(crate) async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    connection: Option<Extension<ConnectionShutdown>>,
    body: Bytes,
) -> Response {
    let latency = shared.lock().faults.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (response, drop_connection) = serve(&shared, &method, &uri, &headers, &body);
    if drop_connection && let Some(Extension(connection)) = connection {
        // Abort the connection this request came on (HTTP/2: with every stream on it); axum-server drops this
        // future with it, so not a byte of the response is written.
        connection.shutdown();
        std::future::pending::<()>().await;
    }
    response
}

/// Everything but the latency: returns the response and whether to drop the connection instead of sending it.
fn serve(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> (Response, bool) {
    let ids = RequestIds::from_headers(headers);
    let path = uri.path().strip_prefix("/v1.0").unwrap_or_default();
    let target = routes::parse(path);
    let label = match &target {
        Ok(t) => t.label(),
        Err(_) => "/{unmatched}".to_string(),
    };
    let query = uri
        .query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default();
    let create_if_missing = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("create-if-missing"));
    let request = Request {
        body,
        query,
        create_if_missing,
    };

    let mut inner = shared.lock();
    let now = inner.now();
    let mut extras = Extras::default();
    let outcome = process(
        &mut inner,
        method,
        headers,
        target,
        &request,
        now,
        &mut extras,
    );
    let drop_connection = matches!(outcome, Ok(Reply::Drop));
    let mut response = match outcome {
        Ok(reply) => reply.render(&ids),
        Err(err) => err.render(&ids, now),
    };
    for (name, value) in extras.headers {
        if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    // A dropped connection has no status; it is counted as 0.
    let status = if drop_connection {
        0
    } else {
        response.status().as_u16()
    };
    inner.counters.record(method.as_str(), &label, status, true);
    if extras.budget_throttled {
        inner.counters.budget_throttled += 1;
    }
    drop(inner);
    tracing::debug!(%method, route = %label, status, request_id = %ids.request_id, "graph request");
    (response, drop_connection)
}

fn process(
    inner: &mut Inner,
    method: &Method,
    headers: &HeaderMap,
    target: Result<Target, GraphError>,
    request: &Request<'_>,
    now: DateTime<Utc>,
    extras: &mut Extras,
) -> GraphResult {
    let (tenant_id, client_id) = authenticate(inner, headers, now)?;
    if let Some(fault) = inner.faults.next() {
        return Err(fault_error(fault));
    }
    let target = target?;
    budget::charge(
        inner,
        (&tenant_id, &client_id),
        method,
        &target,
        request,
        now,
        extras,
    )?;
    let add_password = *method == Method::POST
        && target.entity == Entity::Applications
        && target.action.as_deref() == Some("addPassword");
    let Inner {
        tenants,
        faults,
        graph_url,
        ..
    } = inner;
    let lag = chrono::Duration::from_std(faults.replication_lag).unwrap_or_default();
    let settings = Settings::of(faults);
    let Some(tenant) = tenants.get_mut(&tenant_id) else {
        return Err(unauthenticated("Access token validation failure."));
    };
    let mut ctx = Ctx {
        tenant_id: &tenant_id,
        tenant,
        now,
        lag,
        settings,
        graph_url,
    };
    let result = dispatch(&mut ctx, method, target, request);
    // addPassword is not idempotent: the credential exists even though the caller sees a failure.
    if add_password && result.is_ok() && faults.fail_after_commit_next > 0 {
        faults.fail_after_commit_next -= 1;
        return match faults.fail_after_commit {
            AfterCommitFailure::Status(status) => Err(fault_error(Injected::Fail { status })),
            AfterCommitFailure::Drop => Ok(Reply::Drop),
        };
    }
    result
}

fn unauthenticated(message: &str) -> GraphError {
    GraphError::new(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        message,
    )
}

/// Returns the tenant and client the bearer token was issued for.
fn authenticate(
    inner: &Inner,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Result<(String, String), GraphError> {
    let header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim();
    let token = match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => "",
    };
    if token.is_empty() {
        return Err(unauthenticated("Access token is empty."));
    }
    let Some(issued) = inner.tokens.get(token) else {
        return Err(unauthenticated("Access token validation failure."));
    };
    if now >= issued.expires_at {
        return Err(unauthenticated(
            "Lifetime validation failed, the token is expired.",
        ));
    }
    Ok((issued.tenant_id.clone(), issued.client_id.clone()))
}

fn fault_error(fault: Injected) -> GraphError {
    match fault {
        Injected::Throttle { retry_after } => {
            let mut err = GraphError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Application or user has been throttled.",
            );
            err.retry_after = Some(retry_after);
            err
        }
        Injected::Fail { status } => {
            let status = StatusCode::from_u16(status)
                .ok()
                .filter(|s| s.is_server_error())
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            if status == StatusCode::SERVICE_UNAVAILABLE {
                GraphError::new(
                    status,
                    "ServiceUnavailable",
                    "The service is temporarily unavailable. Please retry later.",
                )
            } else {
                GraphError::new(
                    status,
                    "generalException",
                    "General exception while processing.",
                )
            }
        }
    }
}

fn dispatch(ctx: &mut Ctx<'_>, method: &Method, target: Target, req: &Request<'_>) -> GraphResult {
    use Entity::*;
    let m = method.clone();
    match (target.entity, &target.key, target.action.as_deref()) {
        (Applications, None, None) if m == Method::GET => applications::list(ctx, req),
        (Applications, None, None) if m == Method::POST => applications::create(ctx, req),
        (Applications, Some(k), None) if m == Method::GET => applications::get(ctx, k, req),
        (Applications, Some(k), None) if m == Method::PATCH => applications::patch(ctx, k, req),
        (Applications, Some(k), None) if m == Method::DELETE => applications::delete(ctx, k),
        (Applications, Some(k), Some("addPassword")) if m == Method::POST => {
            applications::add_password(ctx, k, req)
        }
        (Applications, Some(k), Some("removePassword")) if m == Method::POST => {
            applications::remove_password(ctx, k, req)
        }
        (ServicePrincipals, None, None) if m == Method::GET => service_principals::list(ctx, req),
        (ServicePrincipals, None, None) if m == Method::POST => {
            service_principals::create(ctx, req)
        }
        (ServicePrincipals, Some(k), None) if m == Method::GET => {
            service_principals::get(ctx, k, req)
        }
        (ServicePrincipals, Some(k), None) if m == Method::DELETE => {
            service_principals::delete(ctx, k)
        }
        (Grants, None, None) if m == Method::GET => grants::list(ctx, req),
        (Grants, None, None) if m == Method::POST => grants::create(ctx, req),
        (Grants, Some(Key::Id(id)), None) if m == Method::GET => grants::get(ctx, id, req),
        (Grants, Some(Key::Id(id)), None) if m == Method::PATCH => grants::patch(ctx, id, req),
        (Grants, Some(Key::Id(id)), None) if m == Method::DELETE => grants::delete(ctx, id),
        (_, _, Some(action))
            if !matches!(
                (target.entity, action),
                (Applications, "addPassword" | "removePassword")
            ) =>
        {
            Err(GraphError::bad_request(format!(
                "Resource not found for the segment '{action}'."
            )))
        }
        _ => Err(GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )),
    }
}
