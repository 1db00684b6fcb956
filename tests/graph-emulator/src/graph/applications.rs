//! `/applications`: upsert by uniqueName, CRUD, addPassword / removePassword.

use super::odata;
use super::routes::Key;
use super::{Ctx, GraphResult, Reply, Request};
use crate::error::GraphError;
use crate::model::{
    Application, GRAPH_APP_ID, GRAPH_SCOPES, PasswordCredential, RequiredResourceAccess,
    WebApplication,
};
use crate::state::Stored;
use axum::http::StatusCode;
use chrono::{DateTime, Months, Utc};
use serde_json::{Map, Value};

const SIGN_IN_AUDIENCES: &[&str] = &[
    "AzureADMyOrg",
    "AzureADMultipleOrgs",
    "AzureADandPersonalMicrosoftAccount",
    "PersonalMicrosoftAccount",
];

/// Graph application properties the emulator accepts and stores verbatim without interpreting them.
const PASSTHROUGH: &[&str] = &[
    "api",
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

fn resolve(ctx: &Ctx<'_>, key: &Key, honour_lag: bool) -> Result<String, GraphError> {
    let found = match key {
        Key::Id(id) => ctx.tenant.apps.get(id),
        Key::Alt { property, value } => ctx.tenant.apps.values().find(|a| match *property {
            "appId" => a.value.app_id.eq_ignore_ascii_case(value),
            _ => a
                .value
                .unique_name
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(value)),
        }),
    };
    match found {
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
    if let Some(max) = ctx.max_credential_lifetime {
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
    ctx.tenant
        .secrets
        .insert(credential.key_id.clone(), secret.clone());
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
        return Err(GraphError::bad_request(format!(
            "No password credential with keyId '{key_id}' exists on the application."
        )));
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
