//! What the Secret holds when the plan writes no new credential into it, and whether its metadata (labels,
//! annotations, tenantId, key names, a previous slot the plan keeps) must be rewritten to match the spec. Pure:
//! the executor only performs the write decided here (see [`execute`](super::execute)).

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Secret;

use super::observe::Seen;
use crate::{
    api::{CredentialStatus, NocoBaseMailIntegration},
    controller::{error::Error, secret, time},
    planner::rotation::{Action, Plan, SecretWrite},
};

/// The Secret's credential after this reconcile, and the rewrite it needs (if any).
pub struct Held {
    pub content: secret::Content,
    /// The Secret to apply because the live one differs from the spec; `None`: already in sync, or another planned
    /// write (dropping the previous slot) rewrites it anyway.
    pub repair: Option<Secret>,
}

/// `None` when the plan writes a new current credential (that write is the Secret's content) or when the Secret
/// holds no credential the plan keeps.
pub fn decide(
    cr: &NocoBaseMailIntegration,
    client_id: &str,
    tenant_id: &str,
    seen: &Seen,
    plan: &Plan,
    prior: Option<&CredentialStatus>,
    now: DateTime<Utc>,
) -> Result<Option<Held>, Error> {
    let writes_new = plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::WriteSecret(SecretWrite::NewCurrent { .. })));
    if writes_new {
        return Ok(None);
    }
    let keys = &cr.spec.secret.keys;
    let (Some(live), Some(key)) = (&seen.secret, seen.secret_key()) else {
        return Ok(None);
    };
    let Some(text) = secret::text(live, &keys.client_secret) else {
        return Ok(None);
    };
    if plan.blocked.is_none() && plan.status.current_key_id.as_deref() != Some(key) {
        return Ok(None);
    }
    let previous = seen
        .view
        .previous_key_id
        .as_ref()
        .filter(|p| plan.status.retiring.iter().any(|r| &r.key_id == *p))
        .and_then(|p| secret::text(live, &keys.previous_client_secret).map(|t| (p.clone(), t)));
    let content = secret::Content {
        client_id: client_id.to_string(),
        tenant_id: tenant_id.to_string(),
        current_key_id: key.to_string(),
        current: text,
        expires_at: current_end(seen, prior, now, key),
        previous,
    };
    let want = secret::desired(cr, &seen.secret_name, &content)?;
    // Dropping the previous slot writes the whole Secret from the spec already.
    let drops_previous = plan
        .actions
        .contains(&Action::WriteSecret(SecretWrite::DropPrevious));
    let repair = (!drops_previous && !secret::in_sync(live, &want, &keys.previous_client_secret))
        .then_some(want);
    Ok(Some(Held { content, repair }))
}

/// The expiry to record for the Secret's current credential `key`: Entra's, else what status recorded, else now.
pub fn current_end(
    seen: &Seen,
    prior: Option<&CredentialStatus>,
    now: DateTime<Utc>,
    key: &str,
) -> DateTime<Utc> {
    seen.live
        .iter()
        .find(|c| c.key_id == key)
        .and_then(|c| c.end)
        .or_else(|| {
            prior
                .filter(|c| c.key_id == key)
                .map(|c| time::from_time(&c.not_after))
        })
        .unwrap_or(now)
}

#[cfg(test)]
#[path = "held_tests.rs"]
mod tests;
