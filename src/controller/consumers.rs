//! Consumer workloads (NocoBase): rollout restart after a credential change, and whether that rollout finished.

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde_json::json;

use super::error::Result;
use crate::{
    api::{ConsumerKind, ConsumerRef},
    planner::delivery::Confirmation,
};

pub use crate::api::RESTARTED_AT_ANNOTATION;

/// Rollout-restart every consumer; missing workloads are skipped (they will read the new Secret when created).
/// Returns the names restarted.
pub async fn restart(
    client: &Client,
    ns: &str,
    consumers: &[ConsumerRef],
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {
        RESTARTED_AT_ANNOTATION: now.to_rfc3339_opts(SecondsFormat::Secs, true)
    }}}}});
    let pp = PatchParams::default();
    let mut done = Vec::new();
    for c in consumers {
        let res = match c.kind {
            ConsumerKind::Deployment => Api::<Deployment>::namespaced(client.clone(), ns)
                .patch(&c.name, &pp, &Patch::Merge(&patch))
                .await
                .map(drop),
            ConsumerKind::StatefulSet => Api::<StatefulSet>::namespaced(client.clone(), ns)
                .patch(&c.name, &pp, &Patch::Merge(&patch))
                .await
                .map(drop),
        };
        match res {
            Ok(()) => done.push(format!("{:?}/{}", c.kind, c.name)),
            Err(kube::Error::Api(e)) if e.code == 404 => {
                tracing::info!(consumer = %c.name, "consumer workload not found; not restarted");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done)
}

/// Whether all existing consumers finished rolling out their latest template (missing ones will read the new
/// Secret when they are created, so they count as confirmed).
pub async fn rollout(client: &Client, ns: &str, consumers: &[ConsumerRef]) -> Result<Confirmation> {
    for c in consumers {
        let done = match c.kind {
            ConsumerKind::Deployment => {
                let Some(d) = Api::<Deployment>::namespaced(client.clone(), ns)
                    .get_opt(&c.name)
                    .await?
                else {
                    continue;
                };
                let want = d.spec.replicas.unwrap_or(1);
                let st = d.status.clone().unwrap_or_default();
                st.observed_generation >= d.metadata.generation
                    && st.updated_replicas.unwrap_or(0) >= want
                    && st.replicas.unwrap_or(0) <= want
                    && st.available_replicas.unwrap_or(0) >= want
            }
            ConsumerKind::StatefulSet => {
                let Some(s) = Api::<StatefulSet>::namespaced(client.clone(), ns)
                    .get_opt(&c.name)
                    .await?
                else {
                    continue;
                };
                let want = s.spec.replicas.unwrap_or(1);
                let st = s.status.clone().unwrap_or_default();
                st.observed_generation >= s.metadata.generation
                    && st.updated_replicas.unwrap_or(0) >= want
                    && st.ready_replicas.unwrap_or(0) >= want
                    && st.update_revision.is_some()
                    && st.current_revision == st.update_revision
            }
        };
        if !done {
            tracing::debug!(consumer = %c.name, "consumer still rolling out");
            return Ok(Confirmation::Pending);
        }
    }
    Ok(Confirmation::Confirmed)
}

/// Names for messages.
pub fn describe(consumers: &[ConsumerRef]) -> String {
    consumers
        .iter()
        .map(|c| format!("{:?}/{}", c.kind, c.name))
        .collect::<Vec<_>>()
        .join(", ")
}
