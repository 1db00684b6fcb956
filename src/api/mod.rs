//! Custom resource types of the `entramail.io/v1alpha1` API and the constants that go with them.

pub mod conditions;
pub mod delivery;
pub mod duration;
pub mod integration;
pub mod integration_secret;
pub mod integration_status;
pub mod manifests;
pub mod scopes;
pub mod tenant;
pub mod validation;

pub use conditions::{
    Condition, ConditionStatus, find_condition, is_condition_true, merge_conditions, set_condition,
};
pub use delivery::*;
pub use duration::GoDuration;
pub use integration::*;
pub use integration_secret::*;
pub use integration_status::*;
pub use scopes::{ExtraScope, GRAPH_RESOURCE_APP_ID, GraphScope, REQUIRED_SCOPES};
pub use tenant::*;

/// Set (to any new value, e.g. a timestamp) on a NocoBaseMailIntegration to force a rotation now.
pub const ROTATE_ANNOTATION: &str = "entramail.io/rotate";
/// Finalizer that lets the operator clean up Entra objects before the resource disappears.
pub const FINALIZER: &str = "entramail.io/cleanup";
/// Field manager of everything the operator server-side applies.
pub const FIELD_MANAGER: &str = "entramail-operator";
/// On the Secret: keyId of the credential in its current slot.
pub const KEY_ID_ANNOTATION: &str = "entramail.io/key-id";
/// On the Secret: keyId of the credential in its previous slot (present only while a previous one is kept).
pub const PREVIOUS_KEY_ID_ANNOTATION: &str = "entramail.io/previous-key-id";
/// Label on everything the operator creates (the Secret), and its value.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "entramail-operator";
/// Pod-template annotation bumped to restart a consumer workload (what `kubectl rollout restart` does).
pub const RESTARTED_AT_ANNOTATION: &str = "entramail.io/restartedAt";
