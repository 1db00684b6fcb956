//! Typed Microsoft Graph v1.0 resources, serialised with Graph's camelCase names.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Graph's own application id; its service principal exists in every tenant.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// Microsoft's own tenant, owner of first-party apps such as Graph.
pub const MICROSOFT_TENANT_ID: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";

/// Delegated scopes of Microsoft Graph the emulator knows (value, id), as in docs/entra.md "Delegated permissions".
pub const GRAPH_SCOPES: &[(&str, &str)] = &[
    ("email", "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0"),
    ("offline_access", "7427e0e9-2fba-42fe-b0c0-848c9e6a8182"),
    (
        "IMAP.AccessAsUser.All",
        "652390e4-393a-48de-9484-05f9b1212954",
    ),
    ("SMTP.Send", "258f6531-6087-4cc4-bb90-092c5fb3ed3f"),
    ("User.Read", "e1fe6dd8-ba31-4d61-89e7-88639da4683d"),
    ("openid", "37f7f235-527c-4136-accd-4a02d197296e"),
    ("profile", "14dad69e-099b-42c9-810b-d002981feec1"),
];

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebApplication {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub home_page_url: Option<String>,
    #[serde(default)]
    pub logout_url: Option<String>,
}

/// The `api` complex property of an application (Graph `apiApplication`), serialised with all its properties as
/// Graph does: <https://learn.microsoft.com/graph/api/resources/apiapplication?view=graph-rest-1.0>.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiApplication {
    #[serde(default)]
    pub accept_mapped_claims: Option<bool>,
    #[serde(default)]
    pub known_client_applications: Vec<String>,
    /// Stored verbatim.
    #[serde(default)]
    pub oauth2_permission_scopes: Vec<serde_json::Value>,
    /// Stored verbatim.
    #[serde(default)]
    pub pre_authorized_applications: Vec<serde_json::Value>,
    /// `1`, `2` or `null` (= 1). Must be 2 for personal-account audiences.
    #[serde(default)]
    pub requested_access_token_version: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAccess {
    pub id: String,
    /// "Scope" (delegated) or "Role" (application).
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RequiredResourceAccess {
    pub resource_app_id: String,
    #[serde(default)]
    pub resource_access: Vec<ResourceAccess>,
}

/// A client secret. `secret_text` is only ever `Some` in the addPassword response.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    pub custom_key_identifier: Option<String>,
    pub display_name: Option<String>,
    pub end_date_time: DateTime<Utc>,
    pub hint: Option<String>,
    pub key_id: String,
    pub secret_text: Option<String>,
    pub start_date_time: DateTime<Utc>,
}

// Hand-written so secret text can never reach logs through `{:?}`.
impl fmt::Debug for PasswordCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordCredential")
            .field("display_name", &self.display_name)
            .field("end_date_time", &self.end_date_time)
            .field("hint", &self.hint)
            .field("key_id", &self.key_id)
            .field(
                "secret_text",
                &self.secret_text.as_ref().map(|_| "<redacted>"),
            )
            .field("start_date_time", &self.start_date_time)
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    pub id: String,
    pub app_id: String,
    pub unique_name: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub notes: Option<String>,
    pub sign_in_audience: String,
    pub publisher_domain: String,
    pub created_date_time: DateTime<Utc>,
    #[serde(default)]
    pub identifier_uris: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub web: WebApplication,
    #[serde(default)]
    pub api: ApiApplication,
    #[serde(default)]
    pub required_resource_access: Vec<RequiredResourceAccess>,
    #[serde(default)]
    pub password_credentials: Vec<PasswordCredential>,
    /// Other Graph properties the emulator stores verbatim without modelling them.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PermissionScope {
    pub id: String,
    pub value: String,
    /// "User" or "Admin".
    #[serde(rename = "type")]
    pub kind: String,
    pub is_enabled: bool,
    pub admin_consent_display_name: String,
    pub admin_consent_description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub id: String,
    pub app_id: String,
    pub display_name: Option<String>,
    pub app_display_name: Option<String>,
    pub app_owner_organization_id: String,
    pub account_enabled: bool,
    pub service_principal_type: String,
    pub sign_in_audience: String,
    #[serde(default)]
    pub service_principal_names: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub oauth2_permission_scopes: Vec<PermissionScope>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2PermissionGrant {
    pub id: String,
    /// Object id of the client service principal.
    pub client_id: String,
    /// "AllPrincipals" or "Principal".
    pub consent_type: String,
    pub principal_id: Option<String>,
    /// Object id of the resource service principal (e.g. Microsoft Graph's).
    pub resource_id: String,
    /// Space-separated delegated scope values.
    pub scope: String,
}

/// Microsoft Graph's service principal as seeded in every tenant.
pub(crate) fn graph_service_principal(object_id: String) -> ServicePrincipal {
    ServicePrincipal {
        id: object_id,
        app_id: GRAPH_APP_ID.to_string(),
        display_name: Some("Microsoft Graph".to_string()),
        app_display_name: Some("Microsoft Graph".to_string()),
        app_owner_organization_id: MICROSOFT_TENANT_ID.to_string(),
        account_enabled: true,
        service_principal_type: "Application".to_string(),
        sign_in_audience: "AzureADMultipleOrgs".to_string(),
        service_principal_names: vec![
            GRAPH_APP_ID.to_string(),
            "https://graph.microsoft.com".to_string(),
        ],
        tags: Vec::new(),
        oauth2_permission_scopes: GRAPH_SCOPES
            .iter()
            .map(|(value, id)| PermissionScope {
                id: (*id).to_string(),
                value: (*value).to_string(),
                kind: "User".to_string(),
                is_enabled: true,
                admin_consent_display_name: (*value).to_string(),
                admin_consent_description: format!("Allows the app the '{value}' permission."),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_credential_debug_redacts_secret_text() {
        let cred = PasswordCredential {
            custom_key_identifier: None,
            display_name: Some("d".into()),
            end_date_time: Utc::now(),
            hint: Some("abc".into()),
            key_id: "k".into(),
            secret_text: Some("abc8Q~supersecretvalue".into()),
            start_date_time: Utc::now(),
        };
        let debug = format!("{cred:?}");
        assert!(!debug.contains("supersecret"), "{debug}");
        assert!(debug.contains("<redacted>"));
    }
}
