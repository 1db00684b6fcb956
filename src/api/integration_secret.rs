//! `spec.secret` of a `NocoBaseMailIntegration`: the target Secret, its keys and the credential policy.

use std::collections::BTreeMap;

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::{
    duration::GoDuration,
    integration::{DEFAULT_LIFETIME_HOURS, DEFAULT_SECRET_SUFFIX},
    validation::{SECRET_KEY_REGEX, dns1123_subdomain_rule},
};

/// The target Secret and its credential policy.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = kube::core::Rule::new("!(has(self.renewBefore) && has(self.renewBeforePercentage))")
        .message("set either renewBefore or renewBeforePercentage, not both"),
    validation = kube::core::Rule::new("!has(self.renewBefore) || duration(self.renewBefore) < duration(self.lifetime)")
        .message("renewBefore must be shorter than lifetime"),
)]
pub struct SecretSpec {
    /// Name of the Secret in this namespace. Default: "<name of this resource>-entra".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    #[x_kube(validation = dns1123_subdomain_rule("secret.name"))]
    pub name: Option<String>,

    /// Keys the values are stored under in the Secret.
    #[serde(default)]
    pub keys: SecretKeys,

    /// Extra labels put on the Secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64))]
    pub labels: BTreeMap<String, String>,

    /// Extra annotations put on the Secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 64))]
    pub annotations: BTreeMap<String, String>,

    /// Validity of each client secret, as a Go duration (e.g. "4320h" = 180 days). Greater than 0, at most
    /// "17520h" (2 years). Tenants often enforce a shorter maximum via app-management policies.
    #[serde(default = "default_lifetime")]
    #[x_kube(
        validation = kube::core::Rule::new("duration(self) > duration('0s')").message("lifetime must be greater than 0"),
        validation = kube::core::Rule::new("duration(self) <= duration('17520h')").message("lifetime must be at most 17520h (2 years)"),
    )]
    pub lifetime: GoDuration,

    /// Renew when the current secret has this much validity left (Go duration, shorter than lifetime).
    /// Mutually exclusive with renewBeforePercentage. If neither is set, renewal starts when 1/3 of the
    /// lifetime is left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_before: Option<GoDuration>,

    /// Renew when this percentage (1-99) of the lifetime is left. Mutually exclusive with renewBefore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 99))]
    pub renew_before_percentage: Option<i32>,
}

impl Default for SecretSpec {
    fn default() -> Self {
        Self {
            name: None,
            keys: SecretKeys::default(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            lifetime: default_lifetime(),
            renew_before: None,
            renew_before_percentage: None,
        }
    }
}

fn default_lifetime() -> GoDuration {
    GoDuration::from_hours(DEFAULT_LIFETIME_HOURS)
}

impl SecretSpec {
    /// The Secret's name: `secret.name`, or `<cr_name>-entra`.
    pub fn secret_name(&self, cr_name: &str) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{cr_name}{DEFAULT_SECRET_SUFFIX}"))
    }
}

/// Keys inside the Secret. Each must be a valid Secret key (letters, digits, '-', '_', '.').
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "[self.clientId, self.clientSecret, self.tenantId, self.expiresAt, self.previousClientSecret].all(k, [self.clientId, self.clientSecret, self.tenantId, self.expiresAt, self.previousClientSecret].filter(x, x == k).size() == 1)"
).message("secret keys must all be different"))]
pub struct SecretKeys {
    /// Key holding the application (client) ID. Default "clientId".
    #[serde(default = "default_key_client_id")]
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_REGEX))]
    pub client_id: String,
    /// Key holding the current client secret. Default "clientSecret".
    #[serde(default = "default_key_client_secret")]
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_REGEX))]
    pub client_secret: String,
    /// Key holding the directory (tenant) ID. Default "tenantId".
    #[serde(default = "default_key_tenant_id")]
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_REGEX))]
    pub tenant_id: String,
    /// Key holding the current secret's expiry (RFC 3339). Default "expiresAt".
    #[serde(default = "default_key_expires_at")]
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_REGEX))]
    pub expires_at: String,
    /// Key holding the previous client secret during the rotation overlap (absent otherwise).
    /// Default "previousClientSecret".
    #[serde(default = "default_key_previous_client_secret")]
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_REGEX))]
    pub previous_client_secret: String,
}

fn default_key_client_id() -> String {
    "clientId".into()
}
fn default_key_client_secret() -> String {
    "clientSecret".into()
}
fn default_key_tenant_id() -> String {
    "tenantId".into()
}
fn default_key_expires_at() -> String {
    "expiresAt".into()
}
fn default_key_previous_client_secret() -> String {
    "previousClientSecret".into()
}

impl Default for SecretKeys {
    fn default() -> Self {
        Self {
            client_id: default_key_client_id(),
            client_secret: default_key_client_secret(),
            tenant_id: default_key_tenant_id(),
            expires_at: default_key_expires_at(),
            previous_client_secret: default_key_previous_client_secret(),
        }
    }
}
