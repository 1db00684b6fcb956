//! Graph resource types (v1.0, camelCase JSON). Only the fields the operator reads or writes.

use crate::auth::SecretText;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `requiredResourceAccess` entry: permissions on one resource API (e.g. Microsoft Graph).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequiredResourceAccess {
    pub resource_app_id: String,
    #[serde(default)]
    pub resource_access: Vec<ResourceAccess>,
}

/// One permission: `type` is `Scope` (delegated) or `Role` (application).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceAccess {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// The `web` platform of an application (OAuth redirect URIs for confidential web apps).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebApplication {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
}

/// The `api` complex property of an application (`apiApplication`): settings of the app as a web API.
/// Only the fields the operator sets; Graph's other members (`oauth2PermissionScopes`, …) are ignored on read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiApplication {
    /// Access token version the app's API accepts: `1`, `2` or unset (null = v1).
    /// Must be `2` when `signInAudience` includes personal Microsoft accounts, and Graph insists on it being set
    /// in the same request that changes the audience (Azure/azure-cli#15512;
    /// microsoftgraph/microsoft-graph-docs-contrib#1122 for `PersonalMicrosoftAccount` as well).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_access_token_version: Option<i32>,
}

/// `signInAudience` values that include personal Microsoft accounts (and so need v2 access tokens).
pub const PERSONAL_ACCOUNT_AUDIENCES: &[&str] = &[
    "AzureADandPersonalMicrosoftAccount",
    "PersonalMicrosoftAccount",
];

/// A password credential as Graph lists it (never carries the secret text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    pub key_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub hint: Option<String>,
    #[serde(default)]
    pub start_date_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end_date_time: Option<DateTime<Utc>>,
}

/// An application registration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// Object id (used in `/applications/{id}` paths).
    pub id: String,
    /// Client id.
    pub app_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub unique_name: Option<String>,
    #[serde(default)]
    pub sign_in_audience: Option<String>,
    #[serde(default)]
    pub required_resource_access: Vec<RequiredResourceAccess>,
    #[serde(default)]
    pub web: Option<WebApplication>,
    #[serde(default)]
    pub api: Option<ApiApplication>,
    #[serde(default)]
    pub password_credentials: Vec<PasswordCredential>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub notes: Option<String>,
}

/// Body of an application create/update. Every field is optional and only the fields that are `Some` are sent,
/// so Graph leaves the others as they are: an adopted application never gets a property the spec did not ask for.
/// `displayName` is required by Graph when the upsert creates the application.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationUpsert {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_in_audience: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_resource_access: Option<Vec<RequiredResourceAccess>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web: Option<WebApplication>,
    /// Serialized as Graph expects: `"api":{"requestedAccessTokenVersion":2}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiApplication>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl ApplicationUpsert {
    /// The body actually sent: when the audience includes personal Microsoft accounts and the upsert leaves
    /// `api.requestedAccessTokenVersion` unset, it is set to 2 in the same request, because Graph rejects the
    /// audience otherwise (`InvalidAccessTokenVersion`, azure-ad-b2c/Scripts#2; Azure/azure-cli#15512).
    /// An explicitly set version is kept as given.
    pub fn normalized(&self) -> Self {
        let mut out = self.clone();
        let personal = out
            .sign_in_audience
            .as_deref()
            .is_some_and(|a| PERSONAL_ACCOUNT_AUDIENCES.contains(&a));
        if personal {
            let api = out.api.get_or_insert_with(ApiApplication::default);
            api.requested_access_token_version.get_or_insert(2);
        }
        out
    }

    /// True when `app` already has every value this upsert would set (after [`Self::normalized`]), so no write
    /// is needed. Lists are compared as sets (Graph does not promise to keep order).
    pub fn is_satisfied_by(&self, app: &Application) -> bool {
        let want = self.normalized();
        if let Some(name) = &want.display_name
            && app.display_name.as_ref() != Some(name)
        {
            return false;
        }
        if let Some(aud) = &want.sign_in_audience
            && app.sign_in_audience.as_ref() != Some(aud)
        {
            return false;
        }
        if let Some(rra) = &want.required_resource_access
            && !same_resource_access(rra, &app.required_resource_access)
        {
            return false;
        }
        if let Some(web) = &want.web {
            let have = app
                .web
                .as_ref()
                .map(|w| w.redirect_uris.as_slice())
                .unwrap_or(&[]);
            if !same_set(&web.redirect_uris, have) {
                return false;
            }
        }
        if let Some(version) = want
            .api
            .as_ref()
            .and_then(|a| a.requested_access_token_version)
            && app
                .api
                .as_ref()
                .and_then(|a| a.requested_access_token_version)
                != Some(version)
        {
            return false;
        }
        if let Some(tags) = &want.tags
            && !same_set(tags, &app.tags)
        {
            return false;
        }
        if let Some(notes) = &want.notes
            && app.notes.as_ref() != Some(notes)
        {
            return false;
        }
        true
    }
}

fn same_set<T: Ord + Clone>(a: &[T], b: &[T]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    a.dedup();
    b.sort();
    b.dedup();
    a == b
}

fn same_resource_access(want: &[RequiredResourceAccess], have: &[RequiredResourceAccess]) -> bool {
    let flatten = |list: &[RequiredResourceAccess]| {
        let mut out: Vec<(String, String, String)> = list
            .iter()
            .flat_map(|r| {
                r.resource_access.iter().map(|a| {
                    (
                        r.resource_app_id.clone(),
                        a.id.to_lowercase(),
                        a.kind.clone(),
                    )
                })
            })
            .collect();
        out.sort();
        out.dedup();
        out
    };
    flatten(want) == flatten(have)
}

/// Result of `upsert_application`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpsertOutcome {
    Created(Application),
    Updated(Application),
}

impl UpsertOutcome {
    pub fn application(&self) -> &Application {
        match self {
            Self::Created(a) | Self::Updated(a) => a,
        }
    }

    pub fn into_application(self) -> Application {
        match self {
            Self::Created(a) | Self::Updated(a) => a,
        }
    }

    pub fn was_created(&self) -> bool {
        matches!(self, Self::Created(_))
    }
}

/// A freshly minted password: Graph returns the secret text exactly once.
#[derive(Debug, Clone)]
pub struct NewPassword {
    pub credential: PasswordCredential,
    pub secret_text: SecretText,
}

/// `addPassword` response: a password credential plus its secret text.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AddPasswordResponse {
    #[serde(flatten)]
    pub credential: PasswordCredential,
    #[serde(default)]
    pub secret_text: Option<SecretText>,
}

/// A delegated permission an API (e.g. Graph) exposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionScope {
    pub id: String,
    #[serde(default)]
    pub value: Option<String>,
}

/// A service principal (enterprise application).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub id: String,
    pub app_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub oauth2_permission_scopes: Vec<PermissionScope>,
}

/// Consent type for tenant-wide admin consent.
pub const CONSENT_ALL_PRINCIPALS: &str = "AllPrincipals";

/// A delegated permission grant (`oauth2PermissionGrant`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2PermissionGrant {
    pub id: String,
    pub client_id: String,
    pub consent_type: String,
    #[serde(default)]
    pub principal_id: Option<String>,
    pub resource_id: String,
    #[serde(default)]
    pub scope: String,
}

impl OAuth2PermissionGrant {
    /// True when the grant's space-separated scope holds exactly the same scopes as `scope`.
    pub fn has_same_scopes(&self, scope: &str) -> bool {
        same_scopes(&self.scope, scope)
    }
}

pub(crate) fn same_scopes(a: &str, b: &str) -> bool {
    let set = |s: &str| {
        let mut v: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
        v.sort();
        v.dedup();
        v
    };
    set(a) == set(b)
}

/// Graph's collection envelope.
#[derive(Deserialize)]
pub(crate) struct Collection<T> {
    pub value: Vec<T>,
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
