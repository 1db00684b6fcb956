//! Graph resource types (v1.0, camelCase JSON). Only the fields the operator reads or writes.

use super::SecretText;
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

/// The `api` complex property of an application (only what the operator sets).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiApplication {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_access_token_version: Option<i32>,
}

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// Body of an application create/update. `None`/unset fields are left unchanged by Graph.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationUpsert {
    /// Required by Graph when the upsert creates the application.
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_in_audience: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_resource_access: Option<Vec<RequiredResourceAccess>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web: Option<WebApplication>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiApplication>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl ApplicationUpsert {
    /// True when `app` already has every value this upsert would set, so no write is needed.
    /// Lists are compared as sets (Graph does not promise to keep order).
    pub fn is_satisfied_by(&self, app: &Application) -> bool {
        if app.display_name.as_deref() != Some(self.display_name.as_str()) {
            return false;
        }
        if let Some(aud) = &self.sign_in_audience
            && app.sign_in_audience.as_ref() != Some(aud)
        {
            return false;
        }
        if let Some(rra) = &self.required_resource_access
            && !same_resource_access(rra, &app.required_resource_access)
        {
            return false;
        }
        if let Some(web) = &self.web {
            let have = app
                .web
                .as_ref()
                .map(|w| w.redirect_uris.as_slice())
                .unwrap_or(&[]);
            if !same_set(&web.redirect_uris, have) {
                return false;
            }
        }
        if let Some(v) = self
            .api
            .as_ref()
            .and_then(|a| a.requested_access_token_version)
            && app
                .api
                .as_ref()
                .and_then(|a| a.requested_access_token_version)
                != Some(v)
        {
            return false;
        }
        if let Some(tags) = &self.tags
            && !same_set(tags, &app.tags)
        {
            return false;
        }
        if let Some(notes) = &self.notes
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
mod tests {
    use super::*;

    fn app() -> Application {
        serde_json::from_value(serde_json::json!({
            "id": "obj-1",
            "appId": "app-1",
            "displayName": "NocoBase mail",
            "uniqueName": "entramail-x",
            "signInAudience": "AzureADMyOrg",
            "requiredResourceAccess": [{
                "resourceAppId": "00000003-0000-0000-c000-000000000000",
                "resourceAccess": [
                    {"id": "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0", "type": "Scope"},
                    {"id": "7427e0e9-2fba-42fe-b0c0-848c9e6a8182", "type": "Scope"}
                ]
            }],
            "web": {"redirectUris": ["https://a/admin/settings/mail/oauth2"], "implicitGrantSettings": {}},
            "passwordCredentials": [{
                "keyId": "k1", "displayName": "entramail uid", "hint": "abc",
                "startDateTime": "2025-01-01T00:00:00Z", "endDateTime": "2025-04-01T00:00:00Z",
                "secretText": null
            }],
            "unknownField": 1
        }))
        .unwrap()
    }

    #[test]
    fn application_decodes_graph_json() {
        let a = app();
        assert_eq!(a.app_id, "app-1");
        assert_eq!(a.password_credentials[0].key_id, "k1");
        assert_eq!(a.web.as_ref().unwrap().redirect_uris.len(), 1);
    }

    #[test]
    fn upsert_serializes_only_set_fields() {
        let u = ApplicationUpsert {
            display_name: "x".into(),
            sign_in_audience: Some("AzureADMyOrg".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&u).unwrap(),
            serde_json::json!({"displayName": "x", "signInAudience": "AzureADMyOrg"})
        );
    }

    #[test]
    fn satisfied_ignores_order_and_unset_fields() {
        let a = app();
        let mut u = ApplicationUpsert {
            display_name: "NocoBase mail".into(),
            sign_in_audience: Some("AzureADMyOrg".into()),
            required_resource_access: Some(vec![RequiredResourceAccess {
                resource_app_id: "00000003-0000-0000-c000-000000000000".into(),
                resource_access: vec![
                    ResourceAccess {
                        id: "7427e0e9-2fba-42fe-b0c0-848c9e6a8182".into(),
                        kind: "Scope".into(),
                    },
                    ResourceAccess {
                        id: "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0".into(),
                        kind: "Scope".into(),
                    },
                ],
            }]),
            web: Some(WebApplication {
                redirect_uris: vec!["https://a/admin/settings/mail/oauth2".into()],
            }),
            ..Default::default()
        };
        assert!(u.is_satisfied_by(&a));
        u.web = Some(WebApplication {
            redirect_uris: vec!["https://b/".into()],
        });
        assert!(!u.is_satisfied_by(&a));
        u.web = None;
        u.display_name = "other".into();
        assert!(!u.is_satisfied_by(&a));
    }

    #[test]
    fn add_password_response_splits_secret() {
        let r: AddPasswordResponse = serde_json::from_value(serde_json::json!({
            "keyId": "k2", "displayName": "d", "hint": "Abc", "secretText": "Abc~very-secret",
            "startDateTime": "2025-01-01T00:00:00Z", "endDateTime": "2025-04-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(r.credential.key_id, "k2");
        assert_eq!(
            r.secret_text.as_ref().map(|s| s.expose()),
            Some("Abc~very-secret")
        );
        let np = NewPassword {
            credential: r.credential,
            secret_text: r.secret_text.unwrap(),
        };
        assert!(!format!("{np:?}").contains("very-secret"));
    }

    #[test]
    fn scopes_compare_as_sets() {
        assert!(same_scopes("email  offline_access", "offline_access email"));
        assert!(!same_scopes("email", "email SMTP.Send"));
    }
}
