//! Entra's rules on an application as a whole, after a create or update: per-audience limits and the Graph
//! permissions it may request.

use super::is_personal;
use super::passwords::PERSONAL_MAX_PASSWORDS;
use crate::error::GraphError;
use crate::faults::Cloud;
use crate::model::{
    Application, GRAPH_APP_ID, GRAPH_SCOPES, RequiredResourceAccess, WebApplication,
};
use axum::http::StatusCode;
use serde_json::{Value, json};

// [validation doc]: the per-audience rules below quote "Validation differences by supported account types",
// https://learn.microsoft.com/entra/identity-platform/supported-accounts-validation (source:
// https://github.com/MicrosoftDocs/entra-docs/blob/main/docs/identity-platform/supported-accounts-validation.md).

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
pub(super) fn validate_application(app: &Application, cloud: Cloud) -> Result<(), GraphError> {
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
    validate_tags_roles_and_scopes(app, personal)
}

/// Per-audience limits on tags, app roles, the scopes the app defines and its pre-authorized clients.
fn validate_tags_roles_and_scopes(app: &Application, personal: bool) -> Result<(), GraphError> {
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

pub(super) fn validate_resource_access(
    access: &[RequiredResourceAccess],
) -> Result<(), GraphError> {
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
