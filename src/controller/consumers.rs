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

/// The reason (Delivered) while a consumer named in spec.rotation.consumers does not exist.
pub const CONSUMER_NOT_FOUND: &str = "ConsumerNotFound";

/// What a restart did.
#[derive(Debug, Default)]
pub struct Restarted {
    /// The workloads restarted ("Deployment/name").
    pub restarted: Vec<String>,
    /// The workloads not found ("Deployment/name"): nothing restarted them, so nothing confirms them.
    pub missing: Vec<String>,
}

/// Rollout-restart every consumer; missing workloads are skipped and reported (a misspelt name must not count as
/// a workload that has the new Secret).
pub async fn restart(
    client: &Client,
    ns: &str,
    consumers: &[ConsumerRef],
    now: DateTime<Utc>,
) -> Result<Restarted> {
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {
        RESTARTED_AT_ANNOTATION: now.to_rfc3339_opts(SecondsFormat::Secs, true)
    }}}}});
    let pp = PatchParams::default();
    let mut done = Restarted::default();
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
            Ok(()) => done.restarted.push(name(c)),
            Err(kube::Error::Api(e)) if e.code == 404 => {
                tracing::info!(consumer = %c.name, "consumer workload not found; not restarted");
                done.missing.push(name(c));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done)
}

/// The consumers' rollout for the credential the Secret holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    /// Confirmed only when every consumer exists and finished rolling out its latest template.
    pub confirmation: Confirmation,
    /// The consumers not found ("Deployment/name").
    pub missing: Vec<String>,
}

/// Whether all consumers exist and finished rolling out their latest template. A missing one is Pending, not
/// confirmed: with a typo in spec.rotation.consumers nothing would ever confirm the new credential, and revoking
/// the old one would cut off the workload that was meant.
pub async fn rollout(client: &Client, ns: &str, consumers: &[ConsumerRef]) -> Result<Rollout> {
    let mut missing = Vec::new();
    let mut rolling = false;
    for c in consumers {
        let done = match c.kind {
            ConsumerKind::Deployment => {
                let Some(d) = Api::<Deployment>::namespaced(client.clone(), ns)
                    .get_opt(&c.name)
                    .await?
                else {
                    missing.push(name(c));
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
                    missing.push(name(c));
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
            rolling = true;
        }
    }
    let confirmation = if rolling || !missing.is_empty() {
        Confirmation::Pending
    } else {
        Confirmation::Confirmed
    };
    Ok(Rollout {
        confirmation,
        missing,
    })
}

/// The Delivered message for consumers that do not exist: which, where, and how to fix it.
pub fn not_found_message(ns: &str, integration: &str, missing: &[String], key: &str) -> String {
    format!(
        "consumer {} not found in namespace {ns}, so nothing confirms client secret {key} and the previous client secret stays valid. Fix the kind or name in spec.rotation.consumers of nocobasemailintegration {integration} (kubectl get deployments,statefulsets -n {ns}), or create the workload; a workload that already runs with the previous secret must then be restarted once (kubectl rollout restart -n {ns} <kind>/<name>)",
        missing.join(", ")
    )
}

fn name(c: &ConsumerRef) -> String {
    format!("{:?}/{}", c.kind, c.name)
}

/// Names for messages.
pub fn describe(consumers: &[ConsumerRef]) -> String {
    consumers.iter().map(name).collect::<Vec<_>>().join(", ")
}
