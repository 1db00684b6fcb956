//! `spec.delivery`: how each new client secret reaches NocoBase, and what confirms that it arrived. The previous
//! client secret is revoked only after every configured confirmation (docs/rotation.md "Delivery").

use std::collections::BTreeMap;

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Pattern of a NocoBase collection or field name (letters, digits, '_', '-', '.').
pub const NOCOBASE_NAME_REGEX: &str = "^[A-Za-z0-9._-]+$";
/// Pattern of a NocoBase "Variables and secrets" name (what `{{$env.NAME}}` can refer to).
pub const NOCOBASE_VARIABLE_REGEX: &str = "^[A-Za-z_][A-Za-z0-9_]*$";
/// Annotation a person sets to the new keyId after pasting the client secret into NocoBase by hand.
pub const ACKNOWLEDGED_KEY_ID_ANNOTATION: &str = "entramail.io/acknowledged-key-id";

/// Where the client secret goes besides the Kubernetes Secret, and what confirms it. NocoBase's email manager
/// keeps its Outlook client ID and secret in its own database: it reads neither the Kubernetes Secret nor
/// environment variables, so only `nocobase.record` (its settings record over NocoBase's API) or a person
/// (acknowledgement) can update it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct DeliverySpec {
    /// Deliver each new client secret into NocoBase over its HTTP API and confirm it by reading it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nocobase: Option<NocoBaseDelivery>,

    /// Whether a person must confirm each new client secret (annotation entramail.io/acknowledged-key-id=<keyId>)
    /// before the previous one is revoked. Auto (default): required unless nocobase.record is configured, the only
    /// automatic way into the email manager's settings (it reads neither the Secret nor NocoBase variables).
    /// Required, NotRequired.
    #[serde(default)]
    pub acknowledgement: Acknowledgement,
}

/// Whether a person's acknowledgement gates revocation.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum Acknowledgement {
    /// Required unless spec.delivery.nocobase.record is set.
    #[default]
    Auto,
    /// Always required, also with NocoBase API delivery.
    Required,
    /// Never required: the configured deliveries (or, with none, only spec.rotation.overlap) decide.
    NotRequired,
}

impl DeliverySpec {
    /// Whether a person has to acknowledge each new client secret.
    pub fn acknowledgement_required(&self) -> bool {
        match self.acknowledgement {
            Acknowledgement::Required => true,
            Acknowledgement::NotRequired => false,
            Acknowledgement::Auto => self.nocobase.as_ref().is_none_or(|n| n.record.is_none()),
        }
    }
}

/// NocoBase's HTTP API as a delivery target: `POST <url>/api/<resource>:<action>?<query>` with a bearer API key.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("has(self.variables) || has(self.record)")
    .message("nocobase delivery needs variables and/or record: where in NocoBase the client secret goes"))]
pub struct NocoBaseDelivery {
    /// Base URL of NocoBase as the operator reaches it, e.g. http://nocobase.nocobase.svc:13000 (a path prefix is
    /// kept). Only hosts the cluster admin allowed (operator flag --delivery-allowed-hosts, chart value
    /// delivery.allowedHosts) are called; link-local and cloud metadata addresses are always refused.
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(
        validation = kube::core::Rule::new("self.matches('^https?://[^ /?#]+[^ ?#]*$')").message("delivery.nocobase.url must be an http:// or https:// URL without spaces, query or fragment"),
        validation = kube::core::Rule::new("!self.matches('^https?://(169[.]254[.]|[[](fe80|FE80):|[[]fd00:ec2::254[]]|metadata[.]google[.]internal)')").message("delivery.nocobase.url must not point at a link-local or cloud metadata address"),
    )]
    pub url: String,

    /// Secret (in this namespace) and key holding a NocoBase API key (Settings → API keys), sent as a bearer
    /// token. The key's role needs the pm.environment-variables snippet for variables, and update/get on the
    /// collection for record.
    pub api_key_secret_ref: SecretKeySelector,

    /// Store client ID, client secret and tenant ID as NocoBase "Variables and secrets" (type secret), for
    /// plugins that read {{$env.NAME}}. NocoBase's email manager does NOT read them (its docs: "Not adapted").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<VariableNames>,

    /// Update one record of a NocoBase collection, e.g. the email manager's settings record (collection
    /// mailSettings); see docs/nocobase.md for how to find its key and field names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordTarget>,
}

/// Names of the NocoBase variables that receive the values.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VariableNames {
    /// Variable for the application (client) ID. Default ENTRA_CLIENT_ID.
    #[serde(default = "default_var_client_id")]
    #[schemars(length(min = 1, max = 128), pattern(NOCOBASE_VARIABLE_REGEX))]
    pub client_id: String,
    /// Variable for the client secret. Default ENTRA_CLIENT_SECRET.
    #[serde(default = "default_var_client_secret")]
    #[schemars(length(min = 1, max = 128), pattern(NOCOBASE_VARIABLE_REGEX))]
    pub client_secret: String,
    /// Variable for the directory (tenant) ID. Default ENTRA_TENANT_ID.
    #[serde(default = "default_var_tenant_id")]
    #[schemars(length(min = 1, max = 128), pattern(NOCOBASE_VARIABLE_REGEX))]
    pub tenant_id: String,
}

fn default_var_client_id() -> String {
    "ENTRA_CLIENT_ID".into()
}
fn default_var_client_secret() -> String {
    "ENTRA_CLIENT_SECRET".into()
}
fn default_var_tenant_id() -> String {
    "ENTRA_TENANT_ID".into()
}

impl Default for VariableNames {
    fn default() -> Self {
        Self {
            client_id: default_var_client_id(),
            client_secret: default_var_client_secret(),
            tenant_id: default_var_tenant_id(),
        }
    }
}

/// One record of a NocoBase collection: which record, and which of its fields get which value.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("has(self.filterByTk) != has(self.filter)")
    .message("record needs exactly one of filterByTk (the record's key) or filter (field equalities)"))]
pub struct RecordTarget {
    /// Collection name, e.g. mailSettings.
    #[schemars(length(min = 1, max = 128), pattern(NOCOBASE_NAME_REGEX))]
    pub collection: String,
    /// The record's primary key (NocoBase's filterByTk), e.g. the id seen in the browser's network tab.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub filter_by_tk: Option<String>,
    /// Selects the record by field equalities instead (NocoBase filter), e.g. {provider: outlook}; must match
    /// exactly one record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 8, "minProperties" = 1))]
    pub filter: Option<BTreeMap<String, String>>,
    /// Which field of the record receives which value.
    pub fields: RecordFields,
}

/// Field names in the record.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordFields {
    /// Field for the application (client) ID (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), pattern(NOCOBASE_NAME_REGEX))]
    pub client_id: Option<String>,
    /// Field for the client secret.
    #[schemars(length(min = 1, max = 128), pattern(NOCOBASE_NAME_REGEX))]
    pub client_secret: String,
    /// Field for the directory (tenant) ID (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), pattern(NOCOBASE_NAME_REGEX))]
    pub tenant_id: Option<String>,
}

/// A key in a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretKeySelector {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret.
    #[schemars(
        length(min = 1, max = 253),
        pattern(super::validation::SECRET_KEY_REGEX)
    )]
    pub key: String,
}

/// Which credential each NocoBase target confirmed (read back after writing).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryStatus {
    /// keyId of the client secret last confirmed in NocoBase's Variables and secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables_key_id: Option<String>,
    /// keyId of the client secret last confirmed in the NocoBase record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_key_id: Option<String>,
}

impl DeliveryStatus {
    pub fn is_empty(&self) -> bool {
        self.variables_key_id.is_none() && self.record_key_id.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> DeliverySpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn only_a_record_target_or_an_explicit_choice_spares_the_acknowledgement() {
        let nb = |target: serde_json::Value| {
            let mut n = json!({"url": "http://nb.nb.svc:13000", "apiKeySecretRef": {"name": "k", "key": "k"}});
            n.as_object_mut()
                .unwrap()
                .extend(target.as_object().unwrap().clone());
            n
        };
        assert!(spec(json!({})).acknowledgement_required());
        // Variables never reach the email manager: still a person.
        assert!(spec(json!({"nocobase": nb(json!({"variables": {}}))})).acknowledgement_required());
        let record = json!({"record": {"collection": "mailSettings", "filterByTk": "1",
                                        "fields": {"clientSecret": "clientSecret"}}});
        assert!(!spec(json!({"nocobase": nb(record.clone())})).acknowledgement_required());
        assert!(
            spec(json!({"nocobase": nb(record), "acknowledgement": "Required"}))
                .acknowledgement_required()
        );
        assert!(!spec(json!({"acknowledgement": "NotRequired"})).acknowledgement_required());
    }
}
