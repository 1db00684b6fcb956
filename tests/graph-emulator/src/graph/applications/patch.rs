//! How a POST/PATCH body changes an application: property by property, rejecting what Entra rejects on its own
//! (cross-property rules are in [`super::validation`]).

use super::validation::validate_resource_access;
use crate::error::GraphError;
use crate::model::{ApiApplication, Application, RequiredResourceAccess, WebApplication};
use serde_json::{Map, Value};

const SIGN_IN_AUDIENCES: &[&str] = &[
    "AzureADMyOrg",
    "AzureADMultipleOrgs",
    "AzureADandPersonalMicrosoftAccount",
    "PersonalMicrosoftAccount",
];

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

/// Applies a PATCH/POST body to `app`. Validates everything before the caller commits the result.
pub(super) fn apply_patch(
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

pub(super) fn as_optional_string(name: &str, value: &Value) -> Result<Option<String>, GraphError> {
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
