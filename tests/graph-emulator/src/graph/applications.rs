//! `/applications`: upsert by uniqueName, CRUD, addPassword / removePassword.

use super::odata;
use super::routes::Key;
use super::{Ctx, GraphResult, Reply, Request};
use crate::error::GraphError;
use crate::faults::{Cloud, RemovePasswordMissing};
use crate::model::{
    ApiApplication, Application, GRAPH_APP_ID, GRAPH_SCOPES, PasswordCredential,
    RequiredResourceAccess, WebApplication,
};
use crate::state::{SecretRecord, Stored, Tenant};
use axum::http::StatusCode;
use chrono::{DateTime, Months, Utc};
use serde_json::{Map, Value, json};

// [validation doc]: the per-audience rules below quote "Validation differences by supported account types",
// https://learn.microsoft.com/entra/identity-platform/supported-accounts-validation (source:
// https://github.com/MicrosoftDocs/entra-docs/blob/main/docs/identity-platform/supported-accounts-validation.md).

const SIGN_IN_AUDIENCES: &[&str] = &[
    "AzureADMyOrg",
    "AzureADMultipleOrgs",
    "AzureADandPersonalMicrosoftAccount",
    "PersonalMicrosoftAccount",
];

/// Audiences that include personal Microsoft accounts.
const PERSONAL_AUDIENCES: &[&str] = &[
    "AzureADandPersonalMicrosoftAccount",
    "PersonalMicrosoftAccount",
];

pub(super) fn is_personal(audience: &str) -> bool {
    PERSONAL_AUDIENCES.contains(&audience)
}

/// Graph application properties the emulator accepts and stores verbatim without interpreting them.
const PASSTHROUGH: &[&str] = &[
    "appRoles",
    "defaultRedirectUri",
    "groupMembershipClaims",
    "info",
    "isDeviceOnlyAuthSupported",
    "isFallbackPublicClient",
    "keyCredentials",
    "optionalClaims",
    "parentalControlSettings",
    "publicClient",
    "serviceManagementReference",
    "spa",
    "tokenEncryptionKeyId",
];

/// Entra's answer when an app management policy caps credential lifetime.
const POLICY_ID: &str = "00000000-0000-0000-0000-00000000e1a5";

/// Allowance for the client's clock and transit time when checking a lifetime cap.
const LIFETIME_TOLERANCE_SECS: i64 = 60;

/// The application a key names, replicated or not.
fn find<'t>(tenant: &'t Tenant, key: &Key) -> Option<&'t Stored<Application>> {
    match key {
        Key::Id(id) => tenant.apps.get(id),
        Key::Alt { property, value } => tenant.apps.values().find(|a| match *property {
            "appId" => a.value.app_id.eq_ignore_ascii_case(value),
            _ => a
                .value
                .unique_name
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(value)),
        }),
    }
}

/// Whether a write on `/applications` concerns an app whose audience includes personal accounts (the audience the
/// body sets, else the addressed app's current one), for the throttling quota of such writes.
pub(super) fn write_targets_personal_app(
    tenant: &Tenant,
    key: Option<&Key>,
    req: &Request<'_>,
) -> bool {
    let requested = req.json().ok().and_then(|body| {
        body.get("signInAudience")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    match requested {
        Some(audience) => is_personal(&audience),
        None => key
            .and_then(|k| find(tenant, k))
            .is_some_and(|a| is_personal(&a.value.sign_in_audience)),
    }
}

fn resolve(ctx: &Ctx<'_>, key: &Key, honour_lag: bool) -> Result<String, GraphError> {
    match find(ctx.tenant, key) {
        Some(app) if !honour_lag || app.visible(ctx.now) => Ok(app.value.id.clone()),
        _ => Err(GraphError::not_found(key.value())),
    }
}

fn render(ctx: &Ctx<'_>, app: &Application) -> Value {
    odata::entity(
        ctx.graph_url,
        "applications",
        serde_json::to_value(app).unwrap_or_default(),
    )
}

pub(super) fn list(ctx: &mut Ctx<'_>, req: &Request<'_>) -> GraphResult {
    let items = ctx
        .tenant
        .apps
        .values()
        .filter(|a| a.visible(ctx.now))
        .map(|a| serde_json::to_value(&a.value).unwrap_or_default())
        .collect();
    let items = odata::filter(
        items,
        req.query("$filter"),
        &[
            "appId",
            "displayName",
            "uniqueName",
            "id",
            "publisherDomain",
            "signInAudience",
        ],
        "Application",
    )?;
    let select = req.query("$select");
    let items = items
        .into_iter()
        .map(|v| odata::select(v, select))
        .collect();
    Ok(Reply::Json(
        StatusCode::OK,
        odata::collection(ctx.graph_url, "applications", items),
    ))
}

pub(super) fn get(ctx: &mut Ctx<'_>, key: &Key, req: &Request<'_>) -> GraphResult {
    let id = resolve(ctx, key, true)?;
    let app = &ctx.tenant.apps[&id].value;
    Ok(Reply::Json(
        StatusCode::OK,
        odata::select(render(ctx, app), req.query("$select")),
    ))
}

pub(super) fn create(ctx: &mut Ctx<'_>, req: &Request<'_>) -> GraphResult {
    let body = req.json()?;
    insert_new(ctx, None, &body)
}

/// PATCH: update; with `Prefer: create-if-missing` on a uniqueName key, an upsert.
///
/// Upserts see objects still inside the replication lag window: uniqueName is an alternate key Entra enforces
/// strongly, so a retried upsert updates rather than duplicates.
pub(super) fn patch(ctx: &mut Ctx<'_>, key: &Key, req: &Request<'_>) -> GraphResult {
    let body = req.json()?;
    let id = match key {
        Key::Alt {
            property: "uniqueName",
            value,
        } => match resolve(ctx, key, false) {
            Ok(id) => id,
            Err(_) if req.create_if_missing => return insert_new(ctx, Some(value.clone()), &body),
            Err(err) => return Err(err),
        },
        _ => resolve(ctx, key, true)?,
    };
    let stored = ctx
        .tenant
        .apps
        .get_mut(&id)
        .ok_or_else(|| GraphError::not_found(&id))?;
    let mut updated = stored.value.clone();
    apply_patch(&mut updated, &body, false)?;
    validate_application(&updated, ctx.settings.cloud)?;
    stored.value = updated;
    Ok(Reply::NoContent)
}

fn insert_new(
    ctx: &mut Ctx<'_>,
    unique_name: Option<String>,
    body: &Map<String, Value>,
) -> GraphResult {
    let mut app = Application {
        id: crate::secrets::guid(),
        app_id: crate::secrets::guid(),
        unique_name,
        display_name: None,
        description: None,
        notes: None,
        sign_in_audience: "AzureADMyOrg".to_string(),
        publisher_domain: publisher_domain(ctx.tenant_id),
        created_date_time: ctx.now,
        identifier_uris: Vec::new(),
        tags: Vec::new(),
        web: WebApplication::default(),
        api: ApiApplication::default(),
        required_resource_access: Vec::new(),
        password_credentials: Vec::new(),
        extra: Map::new(),
    };
    apply_patch(&mut app, body, true)?;
    if app
        .display_name
        .as_deref()
        .is_none_or(|d| d.trim().is_empty())
    {
        return Err(GraphError::bad_request(
            "Property 'displayName' is required and cannot be empty.",
        ));
    }
    validate_application(&app, ctx.settings.cloud)?;
    let response = render(ctx, &app);
    ctx.tenant.apps.insert(
        app.id.clone(),
        Stored {
            value: app,
            visible_at: ctx.visible_at(),
        },
    );
    Ok(Reply::Json(StatusCode::CREATED, response))
}

fn publisher_domain(tenant_id: &str) -> String {
    let label: String = tenant_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    format!("{}.onmicrosoft.com", label.to_ascii_lowercase())
}

pub(super) fn delete(ctx: &mut Ctx<'_>, key: &Key) -> GraphResult {
    let id = resolve(ctx, key, true)?;
    ctx.tenant.delete_app(&id);
    Ok(Reply::NoContent)
}

pub(super) fn add_password(ctx: &mut Ctx<'_>, key: &Key, req: &Request<'_>) -> GraphResult {
    let id = resolve(ctx, key, true)?;
    let body = req.json_or_empty()?;
    let params = match body.get("passwordCredential") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => {
            return Err(GraphError::invalid_value(
                "passwordCredential",
                "Application",
            ));
        }
    };
    let display_name = optional_string(&params, "displayName")?;
    let start = optional_date(&params, "startDateTime")?.unwrap_or(ctx.now);
    let end = match optional_date(&params, "endDateTime")? {
        Some(end) => end,
        // Entra's default lifetime is two years.
        None => start
            .checked_add_months(Months::new(24))
            .ok_or_else(|| GraphError::invalid_value("endDateTime", "PasswordCredential"))?,
    };
    if end <= start {
        return Err(GraphError::invalid_value(
            "endDateTime",
            "PasswordCredential",
        ));
    }
    // App management policy restriction `passwordAddition`
    // (<https://learn.microsoft.com/graph/api/resources/passwordcredentialconfiguration>). The code is the one
    // clients match on (e.g. OfficeDev/teams-toolkit's aadAppClient, which maps a 400 with it from addPassword);
    // "Credential type not allowed as per assigned policy" is quoted from live runs in public repositories; the
    // trailing policy id is inferred from the lifetime error's shape, not verified.
    if ctx.settings.block_password_addition {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "CredentialTypeNotAllowedAsPerAppPolicy",
            format!("Credential type not allowed as per assigned policy '{POLICY_ID}'."),
        ));
    }
    // "Client secrets (passwordCredentials): ... Maximum of two client secrets" for personal-account audiences
    // [validation doc]. Observed answer: 400 TooManyAppPasswords "Not allowed to add 3 passwords. You can only add
    // a maximum of 2 passwords." (<https://github.com/Azure/azure-cli/issues/12946>,
    // <https://github.com/microsoft/coe-starter-kit/issues/3695>).
    let app = &ctx.tenant.apps[&id].value;
    if is_personal(&app.sign_in_audience)
        && app.password_credentials.len() >= PERSONAL_MAX_PASSWORDS
    {
        let mut err = GraphError::new(
            StatusCode::BAD_REQUEST,
            "TooManyAppPasswords",
            format!(
                "Not allowed to add {} passwords. You can only add a maximum of {PERSONAL_MAX_PASSWORDS} passwords.",
                app.password_credentials.len() + 1
            ),
        );
        err.details = vec![json!({"target": "passwordCredentials", "code": "TooManyAppPasswords"})];
        return Err(err);
    }
    if let Some(max) = ctx.settings.max_credential_lifetime {
        let max = chrono::Duration::from_std(max).unwrap_or(chrono::Duration::MAX);
        if end - start > max + chrono::Duration::seconds(LIFETIME_TOLERANCE_SECS) {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "CredentialInvalidLifetimeAsPerAppPolicy",
                format!(
                    "Credential lifetime exceeds the max value allowed as per assigned policy '{POLICY_ID}'. \
                     The maximum allowed lifetime is {} days ({} seconds).",
                    max.num_days(),
                    max.num_seconds()
                ),
            ));
        }
    }
    let secret = crate::secrets::secret_text();
    let credential = PasswordCredential {
        custom_key_identifier: None,
        display_name,
        end_date_time: end,
        hint: Some(secret.chars().take(3).collect()),
        key_id: crate::secrets::guid(),
        secret_text: None,
        start_date_time: start,
    };
    let stored = ctx
        .tenant
        .apps
        .get_mut(&id)
        .ok_or_else(|| GraphError::not_found(&id))?;
    stored.value.password_credentials.push(credential.clone());
    ctx.tenant.secrets.insert(
        credential.key_id.clone(),
        SecretRecord {
            text: secret.clone(),
            usable_at: ctx.now + ctx.settings.secret_activation_lag,
        },
    );
    let response = PasswordCredential {
        secret_text: Some(secret),
        ..credential
    };
    Ok(Reply::Json(
        StatusCode::OK,
        odata::with_context(
            serde_json::to_value(&response).unwrap_or_default(),
            format!(
                "{}/$metadata#microsoft.graph.passwordCredential",
                ctx.graph_url
            ),
        ),
    ))
}

pub(super) fn remove_password(ctx: &mut Ctx<'_>, key: &Key, req: &Request<'_>) -> GraphResult {
    let id = resolve(ctx, key, true)?;
    let body = req.json()?;
    let key_id = body
        .get("keyId")
        .and_then(Value::as_str)
        .filter(|k| uuid::Uuid::parse_str(k).is_ok())
        .ok_or_else(|| GraphError::invalid_value("keyId", "PasswordCredential"))?
        .to_ascii_lowercase();
    let stored = ctx
        .tenant
        .apps
        .get_mut(&id)
        .ok_or_else(|| GraphError::not_found(&id))?;
    let before = stored.value.password_credentials.len();
    stored
        .value
        .password_credentials
        .retain(|c| !c.key_id.eq_ignore_ascii_case(&key_id));
    if stored.value.password_credentials.len() == before {
        // Undocumented, and no public report of Entra's real answer was found: see RemovePasswordMissing.
        return match ctx.settings.remove_password_missing {
            RemovePasswordMissing::BadRequest => Err(GraphError::bad_request(format!(
                "No password credential with keyId '{key_id}' exists on the application."
            ))),
            RemovePasswordMissing::NotFound => Err(GraphError::not_found(&key_id)),
            RemovePasswordMissing::NoContent => Ok(Reply::NoContent),
        };
    }
    ctx.tenant.secrets.remove(&key_id);
    Ok(Reply::NoContent)
}

/// Applies a PATCH/POST body to `app`. Validates everything before the caller commits the result.
fn apply_patch(
    app: &mut Application,
    body: &Map<String, Value>,
    creating: bool,
) -> Result<(), GraphError> {
    for (name, value) in body {
        match name.as_str() {
            n if n.starts_with('@') => {}
            "displayName" => app.display_name = as_optional_string(name, value)?,
            "description" => app.description = as_optional_string(name, value)?,
            "notes" => app.notes = as_optional_string(name, value)?,
            "signInAudience" => {
                let audience = as_optional_string(name, value)?.unwrap_or_default();
                if !SIGN_IN_AUDIENCES.contains(&audience.as_str()) {
                    return Err(GraphError::invalid_value(name, "Application"));
                }
                app.sign_in_audience = audience;
            }
            "identifierUris" => app.identifier_uris = as_string_list(name, value)?,
            "tags" => app.tags = as_string_list(name, value)?,
            "web" => apply_web(&mut app.web, value)?,
            "api" => apply_api(&mut app.api, value)?,
            "requiredResourceAccess" => {
                let access: Vec<RequiredResourceAccess> = serde_json::from_value(value.clone())
                    .map_err(|_| GraphError::invalid_value(name, "Application"))?;
                validate_resource_access(&access)?;
                app.required_resource_access = access;
            }
            "uniqueName" => {
                let unique = as_optional_string(name, value)?;
                match (&app.unique_name, unique) {
                    (None, Some(u)) if creating => app.unique_name = Some(u),
                    (Some(current), Some(u)) if current.eq_ignore_ascii_case(&u) => {}
                    _ => {
                        return Err(GraphError::bad_request(
                            "Property 'uniqueName' is immutable once set.",
                        ));
                    }
                }
            }
            "passwordCredentials" => {
                return Err(GraphError::bad_request(
                    "Property 'passwordCredentials' cannot be set on this request; use the addPassword action.",
                ));
            }
            "id" | "appId" | "createdDateTime" | "publisherDomain" => {
                let current = serde_json::to_value(&*app)
                    .ok()
                    .and_then(|v| v.get(name).cloned());
                if current.as_ref() != Some(value) {
                    return Err(GraphError::bad_request(format!(
                        "Property '{name}' is read-only and cannot be set."
                    )));
                }
            }
            n if PASSTHROUGH.contains(&n) => {
                app.extra.insert(name.clone(), value.clone());
            }
            _ => return Err(GraphError::unknown_property(name)),
        }
    }
    Ok(())
}

/// Merges an `api` object into the application's (only the properties present change, like `web`).
fn apply_api(api: &mut ApiApplication, value: &Value) -> Result<(), GraphError> {
    let map = match value {
        Value::Null => {
            *api = ApiApplication::default();
            return Ok(());
        }
        Value::Object(map) => map,
        _ => return Err(GraphError::invalid_value("api", "Application")),
    };
    let invalid = |name: &str| GraphError::invalid_value(&format!("api.{name}"), "Application");
    for (name, value) in map {
        match name.as_str() {
            n if n.starts_with('@') => {}
            // "Possible values for requestedAccessTokenVersion are 1, 2, or null"
            // (<https://learn.microsoft.com/graph/api/resources/apiapplication>).
            "requestedAccessTokenVersion" => {
                api.requested_access_token_version = match value {
                    Value::Null => None,
                    Value::Number(n) if matches!(n.as_i64(), Some(1 | 2)) => n.as_i64(),
                    _ => return Err(invalid(name)),
                }
            }
            "acceptMappedClaims" => {
                api.accept_mapped_claims = match value {
                    Value::Null => None,
                    Value::Bool(b) => Some(*b),
                    _ => return Err(invalid(name)),
                }
            }
            "knownClientApplications" => {
                let ids: Vec<String> =
                    serde_json::from_value(value.clone()).map_err(|_| invalid(name))?;
                if ids.iter().any(|id| uuid::Uuid::parse_str(id).is_err()) {
                    return Err(invalid(name));
                }
                api.known_client_applications = ids;
            }
            "oauth2PermissionScopes" => {
                api.oauth2_permission_scopes =
                    serde_json::from_value(value.clone()).map_err(|_| invalid(name))?
            }
            "preAuthorizedApplications" => {
                api.pre_authorized_applications =
                    serde_json::from_value(value.clone()).map_err(|_| invalid(name))?
            }
            _ => return Err(GraphError::unknown_property(name)),
        }
    }
    Ok(())
}

const PERSONAL_MAX_PASSWORDS: usize = 2;

/// Entra's answer for a property that is invalid in combination with the rest of the app, modelled on the one
/// verified instance of these audience rules ("Property api.requestedAccessTokenVersion is invalid." with a
/// `GenericError` detail, below). For the other properties the exact code and text are not published; this shape
/// is the emulator's best guess.
fn invalid_property(property: &str) -> GraphError {
    let mut err = GraphError::bad_request(format!("Property {property} is invalid."));
    err.details = vec![json!({"target": property, "code": "GenericError"})];
    err
}

/// Cross-property rules checked on the application as it would be after a create or update, so that properties
/// which depend on each other (signInAudience and api.requestedAccessTokenVersion) can change in the same request.
fn validate_application(app: &Application, cloud: Cloud) -> Result<(), GraphError> {
    let personal = is_personal(&app.sign_in_audience);
    // "National clouds: Supported | Supported | Not supported" [validation doc]. Error text not published: best
    // guess.
    if personal && cloud != Cloud::Global {
        return Err(invalid_property("signInAudience"));
    }
    // "If signInAudience on the application is configured as AzureADandPersonalMicrosoftAccount, the value for this
    // property must be 2" (<https://learn.microsoft.com/graph/api/resources/apiapplication>); the same holds for
    // PersonalMicrosoftAccount (<https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/1122>).
    // Entra's answer, with the code and detail observed in
    // <https://github.com/MicrosoftDocs/azure-docs/issues/59474> (and the message in
    // <https://github.com/Azure/azure-cli/issues/15512>, <https://github.com/azure-ad-b2c/Scripts/issues/2>).
    if personal && app.api.requested_access_token_version != Some(2) {
        let mut err = GraphError::new(
            StatusCode::BAD_REQUEST,
            "InvalidAccessTokenVersion",
            "Property api.requestedAccessTokenVersion is invalid.",
        );
        err.details =
            vec![json!({"target": "api.requestedAccessTokenVersion", "code": "GenericError"})];
        return Err(err);
    }
    // "Display name: Maximum length of 120 characters | 120 | 90" [validation doc].
    let max_name = if personal { 90 } else { 120 };
    if app
        .display_name
        .as_deref()
        .is_some_and(|d| d.chars().count() > max_name)
    {
        return Err(invalid_property("displayName"));
    }
    // "Client secrets: No limit | No limit | Maximum of two client secrets": an app with more cannot switch to a
    // personal audience ("If you change this property you may need to change other properties first").
    if personal && app.password_credentials.len() > PERSONAL_MAX_PASSWORDS {
        return Err(invalid_property("passwordCredentials"));
    }
    validate_redirect_uris(&app.web, personal)?;
    validate_identifier_uris(&app.identifier_uris, personal)?;
    validate_resource_access_limits(&app.required_resource_access, personal)?;
    // "Tags: Individual tag size must be between 1 and 256 characters (inclusive); No whitespaces or duplicate tags
    // allowed" (all audiences). Duplicates are compared exactly.
    for (i, tag) in app.tags.iter().enumerate() {
        let len = tag.chars().count();
        if !(1..=256).contains(&len)
            || tag.chars().any(char::is_whitespace)
            || app.tags[..i].contains(tag)
        {
            return Err(invalid_property("tags"));
        }
    }
    // "appRoles: Supported | Supported | Not supported".
    if personal
        && app
            .extra
            .get("appRoles")
            .and_then(Value::as_array)
            .is_some_and(|roles| !roles.is_empty())
    {
        return Err(invalid_property("appRoles"));
    }
    // "Scopes defined by this API: maximum scope name length of 120 | 120 | 40; maximum of 100 scopes defined
    // (personal)". "Authorized client applications (personal): maximum of 100 client apps, 30 scopes per client".
    let max_scope = if personal { 40 } else { 120 };
    let scopes = &app.api.oauth2_permission_scopes;
    if (personal && scopes.len() > 100)
        || scopes.iter().any(|s| {
            s.get("value")
                .and_then(Value::as_str)
                .is_some_and(|v| v.chars().count() > max_scope)
        })
    {
        return Err(invalid_property("api.oauth2PermissionScopes"));
    }
    let pre_authorized = &app.api.pre_authorized_applications;
    if personal
        && (pre_authorized.len() > 100
            || pre_authorized.iter().any(|p| {
                p.get("delegatedPermissionIds")
                    .and_then(Value::as_array)
                    .is_some_and(|ids| ids.len() > 30)
            }))
    {
        return Err(invalid_property("api.preAuthorizedApplications"));
    }
    Ok(())
}

/// Redirect URI rules (<https://learn.microsoft.com/entra/identity-platform/reply-url>): at most 256 URIs for
/// work/school audiences and 100 with personal accounts; no `! $ ' ( ) , ;`; no query parameters and no wildcards
/// with personal accounts. Front-channel logout URL [validation doc]: no `http` scheme, at most 255 characters, no
/// wildcards with personal accounts.
fn validate_redirect_uris(web: &WebApplication, personal: bool) -> Result<(), GraphError> {
    let max = if personal { 100 } else { 256 };
    let bad_uri = |uri: &str| {
        uri.contains(['!', '$', '\'', '(', ')', ',', ';'])
            || (personal && (uri.contains('?') || uri.contains('*')))
    };
    if web.redirect_uris.len() > max || web.redirect_uris.iter().any(|u| bad_uri(u)) {
        return Err(invalid_property("web.redirectUris"));
    }
    if let Some(logout) = web.logout_url.as_deref()
        && (!logout.starts_with("https://")
            || logout.chars().count() > 255
            || (personal && logout.contains('*')))
    {
        return Err(invalid_property("web.logoutUrl"));
    }
    Ok(())
}

/// "Application ID URI: ... Maximum length of 255 characters | 255 | 120; urn:// schemes aren't supported,
/// wildcards, fragments and query strings aren't supported, maximum of 50 identifierURIs (personal)"
/// [validation doc]. Uniqueness and the verified-domain policy are not modelled.
fn validate_identifier_uris(uris: &[String], personal: bool) -> Result<(), GraphError> {
    let max_len = if personal { 120 } else { 255 };
    let bad = |uri: &str| {
        uri.chars().count() > max_len
            || uri.contains('*')
            || (personal
                && (uri.to_ascii_lowercase().starts_with("urn:")
                    || uri.contains('?')
                    || uri.contains('#')))
    };
    if (personal && uris.len() > 50) || uris.iter().any(|u| bad(u)) {
        return Err(invalid_property("identifierUris"));
    }
    Ok(())
}

/// "API permissions: No more than 50 total APIs (resource apps) ... No more than 400 permissions total across all
/// APIs | 400 | 200; maximum of 30 permissions per resource (personal)" [validation doc]. The "no more than 10 APIs
/// from other tenants" rule is not modelled.
fn validate_resource_access_limits(
    access: &[RequiredResourceAccess],
    personal: bool,
) -> Result<(), GraphError> {
    let total: usize = access.iter().map(|r| r.resource_access.len()).sum();
    let max_total = if personal { 200 } else { 400 };
    if access.len() > 50
        || total > max_total
        || (personal && access.iter().any(|r| r.resource_access.len() > 30))
    {
        return Err(invalid_property("requiredResourceAccess"));
    }
    Ok(())
}

fn apply_web(web: &mut WebApplication, value: &Value) -> Result<(), GraphError> {
    let map = match value {
        Value::Null => {
            *web = WebApplication::default();
            return Ok(());
        }
        Value::Object(map) => map,
        _ => return Err(GraphError::invalid_value("web", "Application")),
    };
    for (name, value) in map {
        match name.as_str() {
            "redirectUris" => {
                let uris = as_string_list(name, value)?;
                if let Some(bad) = uris.iter().find(|u| !valid_redirect_uri(u)) {
                    return Err(GraphError::bad_request(format!(
                        "Invalid value specified for property 'web.redirectUris' of resource 'Application': '{bad}' must use https, or http with localhost."
                    )));
                }
                web.redirect_uris = uris;
            }
            "homePageUrl" => web.home_page_url = as_optional_string(name, value)?,
            "logoutUrl" => web.logout_url = as_optional_string(name, value)?,
            // Accepted but not modelled.
            "implicitGrantSettings" | "redirectUriSettings" => {}
            _ => return Err(GraphError::unknown_property(name)),
        }
    }
    Ok(())
}

/// Entra accepts web redirect URIs over https, or plain http only for localhost; at most 256 characters.
fn valid_redirect_uri(uri: &str) -> bool {
    let host_start = if let Some(rest) = uri.strip_prefix("https://") {
        rest
    } else if let Some(rest) = uri.strip_prefix("http://") {
        let host = rest.split(['/', ':', '?']).next().unwrap_or_default();
        if host != "localhost" && host != "127.0.0.1" {
            return false;
        }
        rest
    } else {
        return false;
    };
    uri.len() <= 256 && !host_start.is_empty() && !host_start.starts_with('/') && !uri.contains('#')
}

fn validate_resource_access(access: &[RequiredResourceAccess]) -> Result<(), GraphError> {
    let invalid = || GraphError::invalid_value("resourceAccess", "Application");
    for resource in access {
        if uuid::Uuid::parse_str(&resource.resource_app_id).is_err() {
            return Err(GraphError::invalid_value("resourceAppId", "Application"));
        }
        for entry in &resource.resource_access {
            if uuid::Uuid::parse_str(&entry.id).is_err()
                || !["Scope", "Role"].contains(&entry.kind.as_str())
            {
                return Err(invalid());
            }
            let known_graph_scope = GRAPH_SCOPES
                .iter()
                .any(|(_, id)| id.eq_ignore_ascii_case(&entry.id));
            if resource.resource_app_id.eq_ignore_ascii_case(GRAPH_APP_ID)
                && entry.kind == "Scope"
                && !known_graph_scope
            {
                return Err(invalid());
            }
        }
    }
    Ok(())
}

fn as_optional_string(name: &str, value: &Value) -> Result<Option<String>, GraphError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(GraphError::invalid_value(name, "Application")),
    }
}

fn as_string_list(name: &str, value: &Value) -> Result<Vec<String>, GraphError> {
    serde_json::from_value(value.clone())
        .map_err(|_| GraphError::invalid_value(name, "Application"))
}

fn optional_string(map: &Map<String, Value>, name: &str) -> Result<Option<String>, GraphError> {
    map.get(name)
        .map_or(Ok(None), |v| as_optional_string(name, v))
}

fn optional_date(
    map: &Map<String, Value>,
    name: &str,
) -> Result<Option<DateTime<Utc>>, GraphError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|d| Some(d.with_timezone(&Utc)))
            .map_err(|_| GraphError::invalid_value(name, "PasswordCredential")),
        Some(_) => Err(GraphError::invalid_value(name, "PasswordCredential")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        assert!(valid_redirect_uri(
            "https://nocobase.example.com/admin/settings/mail/oauth2"
        ));
        assert!(valid_redirect_uri(
            "http://localhost:13000/admin/settings/mail/oauth2"
        ));
        assert!(!valid_redirect_uri("http://nocobase.example.com/cb"));
        assert!(!valid_redirect_uri("ftp://x"));
        assert!(!valid_redirect_uri("https://x/#frag"));
    }
}
