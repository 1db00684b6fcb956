//! `NocoBaseMailIntegration`: one Entra app registration + client secret for NocoBase's email manager.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    delivery::DeliverySpec,
    duration::GoDuration,
    integration_secret::SecretSpec,
    integration_status::NocoBaseMailIntegrationStatus,
    scopes::{ExtraScope, GraphScope, delegated_scopes},
    validation::{DNS1123_LABEL_REGEX, guid_rule, immutable_rule, secure_url_rule},
};

/// Path NocoBase serves its mail OAuth callback on, appended to `nocobaseOrigin`.
pub const NOCOBASE_OAUTH_CALLBACK_PATH: &str = "/admin/settings/mail/oauth2";
/// Suffix of the default Secret name (`<cr-name>-entra`).
pub const DEFAULT_SECRET_SUFFIX: &str = "-entra";
/// Default credential lifetime: 180 days.
pub const DEFAULT_LIFETIME_HOURS: u64 = 4320;
/// Longest displayName Entra accepts: 120 characters, 90 for apps that allow personal Microsoft accounts (entra-docs
/// supported-accounts-validation; docs/entra.md). The default name is cut to the shorter one, so a later change of
/// audience still works.
pub const MAX_DISPLAY_NAME_CHARS: usize = 90;
/// Default overlap during which the previous credential stays valid.
pub const DEFAULT_OVERLAP_HOURS: u64 = 1;

/// Declares one NocoBase Microsoft/Outlook mail integration: the operator creates an Entra app registration
/// with the delegated Graph permissions NocoBase's email manager needs, writes its client ID and a client
/// secret into a Kubernetes Secret, and rotates the secret before it expires.
// printcolumn(...) entries legitimately repeat `type_ = ...`; clippy mistakes them for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "entramail.io",
    version = "v1alpha1",
    kind = "NocoBaseMailIntegration",
    namespaced,
    shortname = "nbmail",
    category = "entramail",
    status = "NocoBaseMailIntegrationStatus",
    derive = "PartialEq",
    doc = "A NocoBase mail integration backed by a Microsoft Entra app registration whose client secret the operator creates, stores in a Secret and rotates.",
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Client ID", type_ = "string", json_path = ".status.appId"),
    // "string", not "date": kubectl renders a future date as <invalid>; the RFC 3339 time is what people want here.
    printcolumn(name = "Expires", type_ = "string", json_path = ".status.currentCredential.notAfter"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = kube::core::Rule::new("has(self.spec.secret.name) || size(self.metadata.name) <= 247")
        .message("metadata.name is too long for the default Secret name <name>-entra; set spec.secret.name"),
)]
#[serde(rename_all = "camelCase")]
pub struct NocoBaseMailIntegrationSpec {
    /// The cluster-scoped EntraTenant that says which tenant to create the app in and how to authenticate.
    /// Immutable: to move to another tenant, create a new NocoBaseMailIntegration.
    #[x_kube(validation = immutable_rule("tenantRef"))]
    pub tenant_ref: TenantRef,

    /// The Entra app registration: name, audience, redirect URIs, permissions.
    pub application: ApplicationSpec,

    /// The Kubernetes Secret (in this namespace) that receives the client ID and client secret.
    #[serde(default)]
    pub secret: SecretSpec,

    /// How credential changes are rolled out to workloads that read the Secret, and how long the previous
    /// client secret is kept at least.
    #[serde(default)]
    pub rotation: RotationSpec,

    /// How each new client secret reaches NocoBase (its HTTP API, or a person) and what confirms it. The previous
    /// client secret is revoked only after every configured confirmation.
    #[serde(default)]
    pub delivery: DeliverySpec,

    /// What happens to the app registration when this resource is deleted (see DeletionPolicy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
}

/// Reference to an EntraTenant.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct TenantRef {
    /// Name of the EntraTenant (cluster-scoped).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The Entra app registration the operator creates (or adopts).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new("(has(self.redirectUris) && size(self.redirectUris) > 0) || has(self.nocobaseOrigin)")
        .message("set redirectUris and/or nocobaseOrigin: the app needs at least one redirect URI for NocoBase's OAuth callback"),
    validation = kube::core::Rule::new("!has(oldSelf.existingAppId) || (has(self.existingAppId) && self.existingAppId == oldSelf.existingAppId)")
        .message("existingAppId is immutable once set"),
    validation = kube::core::Rule::new("!has(self.displayName) || size(self.displayName) <= 90 || (has(self.signInAudience) ? self.signInAudience in ['AzureADMyOrg', 'AzureADMultipleOrgs'] : has(self.existingAppId))")
        .message("displayName may have at most 90 characters when personal Microsoft accounts may sign in (signInAudience AzureADandPersonalMicrosoftAccount, the default, or PersonalMicrosoftAccount)"),
)]
pub struct ApplicationSpec {
    /// Display name of the app registration in Entra, at most 120 characters, and at most 90 when personal
    /// Microsoft accounts may sign in (Entra's limits). Default: "NocoBase mail (<namespace>/<name>)", cut to 90.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 120))]
    pub display_name: Option<String>,

    /// Which accounts may sign in: AzureADMyOrg (this tenant only), AzureADMultipleOrgs (any Entra tenant),
    /// AzureADandPersonalMicrosoftAccount (any Entra tenant and personal Outlook.com accounts; the default for apps
    /// the operator creates), PersonalMicrosoftAccount (personal accounts only). Personal-account audiences allow at
    /// most 2 client secrets per app and are not available in the US Government and China clouds. An adopted app
    /// (existingAppId) keeps its audience unless this is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_audience: Option<SignInAudience>,

    /// Redirect URIs registered on the app (web platform). Each must be https://, except http://localhost
    /// and http://127.0.0.1 for local testing. Combined with the one derived from nocobaseOrigin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 256)))]
    #[x_kube(validation = kube::core::Rule::new("self.all(u, u.matches('".to_owned() + super::validation::SECURE_URL_REGEX + "'))")
        .message("redirectUris must start with https:// (http:// is only allowed for localhost and 127.0.0.1)"))]
    pub redirect_uris: Vec<String>,

    /// Public origin of NocoBase, e.g. https://nocobase.example.com (optionally with a path prefix).
    /// The operator registers <origin>/admin/settings/mail/oauth2, NocoBase's mail OAuth callback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    #[x_kube(validation = secure_url_rule("nocobaseOrigin"))]
    pub nocobase_origin: Option<String>,

    /// Delegated Microsoft Graph permissions to request in addition to the required ones (email,
    /// offline_access, IMAP.AccessAsUser.All, SMTP.Send, User.Read, which are always requested).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8), extend("x-kubernetes-list-type" = "set"))]
    pub extra_scopes: Vec<ExtraScope>,

    /// Grant tenant-wide admin consent for the permissions, so users are not prompted. Requires the
    /// operator's identity to hold DelegatedPermissionGrant.ReadWrite.All. Default false.
    #[serde(default)]
    pub admin_consent: bool,

    /// Adopt an existing app registration (its appId / client ID) instead of creating one. Immutable once set.
    /// When set, deletionPolicy defaults to Orphan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 36))]
    #[x_kube(validation = guid_rule("existingAppId"))]
    pub existing_app_id: Option<String>,
}

/// Who may sign in to the app (Graph `signInAudience`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum SignInAudience {
    /// Accounts in this tenant only.
    #[serde(rename = "AzureADMyOrg")]
    AzureAdMyOrg,
    /// Accounts in any Entra tenant.
    #[serde(rename = "AzureADMultipleOrgs")]
    AzureAdMultipleOrgs,
    /// Accounts in any Entra tenant and personal Microsoft accounts.
    #[default]
    #[serde(rename = "AzureADandPersonalMicrosoftAccount")]
    AzureAdAndPersonalMicrosoftAccount,
    /// Personal Microsoft accounts only.
    #[serde(rename = "PersonalMicrosoftAccount")]
    PersonalMicrosoftAccount,
}

impl SignInAudience {
    /// Whether personal Microsoft accounts may sign in: Entra then requires api.requestedAccessTokenVersion 2,
    /// allows at most 2 client secrets and no national cloud (docs/entra.md "Personal-account audiences").
    pub fn allows_personal_accounts(self) -> bool {
        matches!(
            self,
            Self::AzureAdAndPersonalMicrosoftAccount | Self::PersonalMicrosoftAccount
        )
    }

    /// The value Graph uses.
    pub fn as_graph_str(self) -> &'static str {
        match self {
            Self::AzureAdMyOrg => "AzureADMyOrg",
            Self::AzureAdMultipleOrgs => "AzureADMultipleOrgs",
            Self::AzureAdAndPersonalMicrosoftAccount => "AzureADandPersonalMicrosoftAccount",
            Self::PersonalMicrosoftAccount => "PersonalMicrosoftAccount",
        }
    }
}

/// How a new credential reaches workloads that read the Secret, and how long the previous one is kept at least.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("!has(self.nocobasePush)")
    .message("rotation.nocobasePush was removed (it could not reach NocoBase's API): use spec.delivery.nocobase with variables or record"))]
pub struct RotationSpec {
    /// Minimum time the previous client secret stays valid after the Secret switched to the new one (Go duration,
    /// default "1h", at most "720h"). It is a floor, not a deadline: the previous secret is revoked only once
    /// every delivery (spec.delivery, consumers) confirmed the new one; unconfirmed, it simply expires.
    #[serde(default = "default_overlap")]
    #[x_kube(validation = kube::core::Rule::new("duration(self) <= duration('720h')").message("overlap must be at most 720h (30 days)"))]
    pub overlap: GoDuration,

    /// Workloads in this namespace that read the Secret (env or files): rollout-restarted after the credential
    /// changed; their finished rollout confirms the delivery. NocoBase's email manager does not read the Secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["kind", "name"]))]
    pub consumers: Vec<ConsumerRef>,

    /// Removed; kept in the schema only so that old manifests are rejected with a message instead of pruned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("type" = "object", "x-kubernetes-preserve-unknown-fields" = true))]
    pub nocobase_push: Option<serde_json::Value>,
}

impl Default for RotationSpec {
    fn default() -> Self {
        Self {
            overlap: default_overlap(),
            consumers: Vec::new(),
            nocobase_push: None,
        }
    }
}

fn default_overlap() -> GoDuration {
    GoDuration::from_hours(DEFAULT_OVERLAP_HOURS)
}

/// A workload that reads the Secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct ConsumerRef {
    /// Deployment or StatefulSet.
    pub kind: ConsumerKind,
    /// Name of the workload in this namespace.
    #[schemars(length(min = 1, max = 253), pattern(DNS1123_LABEL_REGEX))]
    pub name: String,
}

/// Kinds of workload that can be restarted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ConsumerKind {
    Deployment,
    StatefulSet,
}

/// What happens to the app registration when this resource is deleted. Delete removes it from Entra
/// (and with it every credential). Orphan leaves the app registration and only revokes the client secrets
/// the operator minted. Default: Delete, or Orphan when application.existingAppId is set (an adopted app
/// is only deleted if you ask for it explicitly).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the app registration.
    Delete,
    /// Keep the app registration; revoke only the operator's client secrets.
    Orphan,
}

impl NocoBaseMailIntegrationSpec {
    /// deletionPolicy, or its default: Orphan for adopted apps, Delete otherwise.
    pub fn deletion_policy(&self) -> DeletionPolicy {
        self.deletion_policy
            .unwrap_or(if self.application.existing_app_id.is_some() {
                DeletionPolicy::Orphan
            } else {
                DeletionPolicy::Delete
            })
    }

    /// Delegated Graph permissions to request: the required five plus extraScopes.
    pub fn delegated_scopes(&self) -> Vec<GraphScope> {
        delegated_scopes(&self.application.extra_scopes)
    }
}

impl ApplicationSpec {
    /// displayName, or "NocoBase mail (<namespace>/<name>)".
    /// The default is cut to [`MAX_DISPLAY_NAME_CHARS`] (Entra's limit for personal-account audiences).
    pub fn display_name(&self, namespace: &str, name: &str) -> String {
        self.display_name.clone().unwrap_or_else(|| {
            format!("NocoBase mail ({namespace}/{name})")
                .chars()
                .take(MAX_DISPLAY_NAME_CHARS)
                .collect()
        })
    }

    /// signInAudience for an app the operator creates (default: AzureADandPersonalMicrosoftAccount).
    pub fn created_app_audience(&self) -> SignInAudience {
        self.sign_in_audience.unwrap_or_default()
    }

    /// redirectUris plus `<nocobaseOrigin>/admin/settings/mail/oauth2`, without duplicates, in that order.
    pub fn effective_redirect_uris(&self) -> Vec<String> {
        let mut uris: Vec<String> = Vec::with_capacity(self.redirect_uris.len() + 1);
        let derived = self
            .nocobase_origin
            .as_deref()
            .map(|o| format!("{}{NOCOBASE_OAUTH_CALLBACK_PATH}", o.trim_end_matches('/')));
        for u in self.redirect_uris.iter().cloned().chain(derived) {
            if !uris.contains(&u) {
                uris.push(u);
            }
        }
        uris
    }
}

#[cfg(test)]
#[path = "integration_tests.rs"]
mod tests;
