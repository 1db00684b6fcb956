//! The Kubernetes Secret that carries the credential to NocoBase: what it holds (for the planner), the desired
//! object, and a server-side apply. Secret text only ever travels inside `SecretText` and `ByteString`.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::{
    ByteString, api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::OwnerReference,
};
use kube::{
    Api, Resource, ResourceExt,
    api::{ObjectMeta, Patch, PatchParams},
};

use super::error::{Error, Result};
use crate::{api::NocoBaseMailIntegration, auth::SecretText, planner::rotation::SecretView};

pub use crate::api::{
    FIELD_MANAGER, KEY_ID_ANNOTATION, MANAGED_BY, MANAGED_BY_LABEL, PREVIOUS_KEY_ID_ANNOTATION,
};

/// What the planner needs to know about the Secret (no secret text).
pub fn view(secret: Option<&Secret>, cr: &NocoBaseMailIntegration) -> SecretView {
    let Some(s) = secret else {
        return SecretView::default();
    };
    let keys = &cr.spec.secret.keys;
    let ann = |k: &str| s.annotations().get(k).filter(|v| !v.is_empty()).cloned();
    SecretView {
        current_key_id: ann(KEY_ID_ANNOTATION),
        has_text: text(s, &keys.client_secret).is_some(),
        previous_key_id: ann(PREVIOUS_KEY_ID_ANNOTATION)
            .filter(|_| text(s, &keys.previous_client_secret).is_some()),
    }
}

/// Non-empty text under `key`.
pub fn text(secret: &Secret, key: &str) -> Option<SecretText> {
    let bytes = secret.data.as_ref()?.get(key)?;
    let s = std::str::from_utf8(&bytes.0).ok()?;
    (!s.is_empty()).then(|| SecretText::new(s))
}

/// The full content we write.
pub struct Content {
    pub client_id: String,
    pub tenant_id: String,
    pub current_key_id: String,
    pub current: SecretText,
    pub expires_at: DateTime<Utc>,
    pub previous: Option<(String, SecretText)>,
}

/// The Secret as we want it: owned by the CR, spec labels/annotations, keys per spec.
pub fn desired(cr: &NocoBaseMailIntegration, name: &str, c: &Content) -> Result<Secret> {
    let keys = &cr.spec.secret.keys;
    let owner = cr
        .controller_owner_ref(&())
        .ok_or(Error::MissingField("metadata.uid"))?;
    let mut data = BTreeMap::new();
    let b = |s: &str| ByteString(s.as_bytes().to_vec());
    data.insert(keys.client_id.clone(), b(&c.client_id));
    data.insert(keys.tenant_id.clone(), b(&c.tenant_id));
    data.insert(keys.client_secret.clone(), b(c.current.expose()));
    data.insert(
        keys.expires_at.clone(),
        b(&c.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true)),
    );
    let mut annotations = cr.spec.secret.annotations.clone();
    annotations.insert(KEY_ID_ANNOTATION.into(), c.current_key_id.clone());
    if let Some((key_id, text)) = &c.previous {
        data.insert(keys.previous_client_secret.clone(), b(text.expose()));
        annotations.insert(PREVIOUS_KEY_ID_ANNOTATION.into(), key_id.clone());
    }
    let mut labels = cr.spec.secret.labels.clone();
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: cr.namespace(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Default::default()
    })
}

/// Whether `live` already has everything `want` sets (so no write is needed). Keys others added are left alone;
/// only the previous-secret slot must disappear when we no longer write it.
pub fn in_sync(live: &Secret, want: &Secret, previous_key: &str) -> bool {
    fn subset<V: PartialEq>(
        want: Option<&BTreeMap<String, V>>,
        have: Option<&BTreeMap<String, V>>,
    ) -> bool {
        want.into_iter()
            .flatten()
            .all(|(k, v)| have.and_then(|h| h.get(k)) == Some(v))
    }
    let want_prev = want
        .data
        .as_ref()
        .is_some_and(|d| d.contains_key(previous_key));
    let live_prev = live
        .data
        .as_ref()
        .is_some_and(|d| d.contains_key(previous_key))
        || live.annotations().contains_key(PREVIOUS_KEY_ID_ANNOTATION);
    let owners_ok = want
        .owner_references()
        .iter()
        .all(|o: &OwnerReference| live.owner_references().iter().any(|l| l.uid == o.uid));
    subset(want.data.as_ref(), live.data.as_ref())
        && subset(want.metadata.labels.as_ref(), live.metadata.labels.as_ref())
        && subset(
            want.metadata.annotations.as_ref(),
            live.metadata.annotations.as_ref(),
        )
        && (want_prev || !live_prev)
        && owners_ok
}

/// Server-side apply as the operator's field manager; fields we stop sending are removed by the apiserver.
pub async fn apply(api: &Api<Secret>, secret: &Secret) -> Result<Secret> {
    let name = secret
        .meta()
        .name
        .clone()
        .ok_or(Error::MissingField("metadata.name"))?;
    let mut body = secret.clone();
    body.metadata.managed_fields = None;
    let obj = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": body.metadata,
        "type": body.type_,
        "data": body.data,
    });
    Ok(api
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&obj),
        )
        .await?)
}

#[cfg(test)]
#[path = "secret_tests.rs"]
mod tests;
