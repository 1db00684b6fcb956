//! The status of a `NocoBaseMailIntegration`: observed state, written by the operator.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{conditions::Condition, delivery::DeliveryStatus};

/// Observed state, written by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NocoBaseMailIntegrationStatus {
    /// The metadata.generation last fully reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, TenantReady, ApplicationReady, CredentialReady, CredentialVerified, SecretSynced, ConsumersUpdated,
    /// AdminConsentGranted, Delivered (a pending or failed delivery does not make Ready false).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Application (client) ID of the app registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// Object ID of the app registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_object_id: Option<String>,
    /// Object ID of the app's service principal (enterprise application).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal_id: Option<String>,
    /// The client secret currently stored in the Secret (metadata only, never the value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_credential: Option<CredentialStatus>,
    /// Older client secrets still valid in Entra, waiting to be revoked after the overlap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["keyId"]))]
    pub previous_credentials: Vec<PreviousCredentialStatus>,
    /// When the operator will create the next client secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_time: Option<Time>,
    /// Consecutive failed attempts (drives back-off); reset on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_attempts: Option<i32>,
    /// After a failure: no new attempt before this time unless the spec or an annotation changes (survives
    /// operator restarts, so a restart does not retry every failing integration at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_after: Option<Time>,
    /// The person-set annotations (rotate, acknowledged-key-id) the last failed attempt saw: when they change, the
    /// next attempt goes ahead at once instead of waiting for nextAttemptAfter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_with_annotations: Option<String>,
    /// The last value of the entramail.io/rotate annotation that was acted upon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotation_trigger: Option<String>,
    /// Name of the Secret holding the credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// What each NocoBase delivery target confirmed (spec.delivery.nocobase).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryStatus>,
    /// Directory (tenant) ID the app lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

/// The live client secret (Graph passwordCredential metadata).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialStatus {
    /// passwordCredential keyId.
    pub key_id: String,
    /// First characters of the secret, as shown in the Entra portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Expiry (endDateTime).
    pub not_after: Time,
    /// When the operator created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
    /// passwordCredential displayName (carries this resource's UID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// A superseded client secret awaiting revocation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreviousCredentialStatus {
    /// passwordCredential keyId.
    pub key_id: String,
    /// First characters of the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Expiry (endDateTime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<Time>,
    /// Earliest time it will be revoked (Secret switch + overlap), once every delivery confirmed its successor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_after: Option<Time>,
}
