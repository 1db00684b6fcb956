//! What the controller's cache keeps of a NocoBaseMailIntegration: its metadata and the few fields the watch
//! mappers and `error_policy` read, deserialized into a small type instead of the whole object.
//!
//! Reconciles and cleanups GET the live object (`integration::observe::fresh`), so nothing else is worth holding
//! once per integration. At 10,000 integrations the cached objects were the largest part of the heap: even with
//! its fields emptied the typed object is 1.6 KB inline, this one under 0.5 KB (docs/scale.md, "Memory").
//! The watch still lists and watches the real resource; serde skips the fields not named here.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, core::NamespaceResourceScope};
use serde::{Deserialize, Serialize, de::IgnoredAny};

use crate::api::{ConsumerRef, NocoBaseMailIntegration};

/// A NocoBaseMailIntegration as the cache keeps it. Never written back whole: the only write made through it is
/// the finalizer's JSON patch of `metadata.finalizers`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct CachedIntegration {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: CachedSpec,
    #[serde(default)]
    pub status: Option<CachedStatus>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedSpec {
    #[serde(default)]
    pub tenant_ref: CachedTenantRef,
    #[serde(default)]
    pub rotation: CachedRotation,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct CachedTenantRef {
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct CachedRotation {
    #[serde(default)]
    pub consumers: Vec<ConsumerRef>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedStatus {
    #[serde(default)]
    pub failed_attempts: Option<i32>,
    /// Only how many: `IgnoredAny` takes no memory.
    #[serde(default, skip_serializing)]
    pub previous_credentials: Vec<IgnoredAny>,
}

impl CachedIntegration {
    /// A previous credential waits for revocation (its consumers' rollouts matter).
    pub fn has_previous_credential(&self) -> bool {
        self.status
            .as_ref()
            .is_some_and(|s| !s.previous_credentials.is_empty())
    }

    pub fn failed_attempts(&self) -> i32 {
        self.status
            .as_ref()
            .and_then(|s| s.failed_attempts)
            .unwrap_or(0)
    }

    /// Drops what no reader of the cache needs (managedFields alone is often the largest part of an object).
    pub fn slim(&mut self) {
        let m = &mut self.metadata;
        m.managed_fields = None;
        m.annotations = None;
        m.labels = None;
        m.owner_references = None;
    }
}

impl Resource for CachedIntegration {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        NocoBaseMailIntegration::kind(dt)
    }
    fn group(dt: &()) -> Cow<'_, str> {
        NocoBaseMailIntegration::group(dt)
    }
    fn version(dt: &()) -> Cow<'_, str> {
        NocoBaseMailIntegration::version(dt)
    }
    fn plural(dt: &()) -> Cow<'_, str> {
        NocoBaseMailIntegration::plural(dt)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_mappers_need_from_a_full_object() {
        let full = serde_json::json!({
            "apiVersion": "entramail.io/v1alpha1",
            "kind": "NocoBaseMailIntegration",
            "metadata": {"name": "crm", "namespace": "apps", "uid": "u1", "finalizers": ["f"],
                         "managedFields": [{"manager": "kubectl"}], "labels": {"a": "b"}},
            "spec": {"tenantRef": {"name": "contoso"},
                     "application": {"displayName": "CRM mail"},
                     "rotation": {"consumers": [{"kind": "Deployment", "name": "nocobase"}]}},
            "status": {"failedAttempts": 3,
                       "previousCredentials": [{"keyId": "k", "confirmedAt": "2026-01-01T00:00:00Z"}]}
        });
        let mut c: CachedIntegration = serde_json::from_value(full).unwrap();
        c.slim();
        assert_eq!(c.spec.tenant_ref.name, "contoso");
        assert_eq!(c.spec.rotation.consumers[0].name, "nocobase");
        assert!(c.has_previous_credential());
        assert_eq!(c.failed_attempts(), 3);
        assert!(c.metadata.managed_fields.is_none() && c.metadata.labels.is_none());
        assert_eq!(
            c.metadata.finalizers.as_deref(),
            Some(&["f".to_string()][..])
        );
        assert_eq!(
            CachedIntegration::plural(&()),
            NocoBaseMailIntegration::plural(&())
        );
    }

    #[test]
    fn an_object_without_spec_or_status_is_still_cached() {
        let c: CachedIntegration =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "x"}})).unwrap();
        assert!(!c.has_previous_credential());
        assert_eq!(c.failed_attempts(), 0);
    }
}
