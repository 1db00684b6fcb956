//! Step 6: carry out the rotation plan in order, stopping at the first failure. Every effect is one of the plan's
//! actions, plus one named repair: the Secret's metadata (labels, tenantId, keys) brought back to the spec when
//! nothing else wrote it.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};

use super::{StepError, observe::Seen, status::Run};
use crate::{
    api::{EntraTenant, NocoBaseMailIntegration},
    auth::SecretText,
    controller::{Context, consumers, error::Error, secret, tenant, time},
    graph::{Application, GraphClient},
    planner::rotation::{Action as Step, Plan, SecretWrite},
};

/// A credential minted in this reconcile (metadata only; the text went into the Secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minted {
    pub key_id: String,
    pub hint: Option<String>,
    pub display_name: String,
    pub end: DateTime<Utc>,
    /// Token requests it took to prove the secret authenticates.
    pub verify_attempts: u32,
}

/// What the Secret holds after this reconcile (for the NocoBase delivery).
pub struct InSecret {
    pub key_id: String,
    pub text: SecretText,
    pub expires_at: DateTime<Utc>,
}

/// What the executed plan did.
#[derive(Default)]
pub struct Done {
    pub minted: Option<Minted>,
    pub in_secret: Option<InSecret>,
    pub secret_written: bool,
    pub restarted: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
pub async fn plan(
    ctx: &Context,
    cr: &NocoBaseMailIntegration,
    tenant: &EntraTenant,
    graph: &GraphClient,
    app: &Application,
    seen: &Seen,
    plan: &Plan,
    run: &mut Run,
) -> Result<Done, StepError> {
    if !plan.actions.is_empty() {
        tracing::info!(actions = ?plan.actions, "executing rotation plan");
    }
    let ns = cr.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let keys = &cr.spec.secret.keys;
    let mut done = Done::default();
    let mut new_text: Option<SecretText> = None;
    let current_text = seen
        .secret
        .as_ref()
        .and_then(|s| secret::text(s, &keys.client_secret));
    let content = |key_id: String, text: SecretText, expires_at, previous| secret::Content {
        client_id: app.app_id.clone(),
        tenant_id: tenant.spec.tenant_id.clone(),
        current_key_id: key_id,
        current: text,
        expires_at,
        previous,
    };
    for step in &plan.actions {
        match step {
            Step::WriteSecret(SecretWrite::DropPrevious) => {
                let (Some(key), Some(text)) = (seen.secret_key(), current_text.clone()) else {
                    continue;
                };
                let c = content(key.to_string(), text, current_end(seen, run, key), None);
                write(&secrets, cr, &seen.secret_name, &c).await?;
                done.secret_written = true;
            }
            Step::Revoke { key_id, reason } => {
                graph
                    .remove_password(&app.id, key_id)
                    .await
                    .map_err(|e| StepError::Credential(e.into()))?;
                run.event(
                    "Revoked",
                    format!("revoked client secret {key_id} ({reason:?})"),
                );
            }
            Step::Mint {
                display_name,
                end,
                reason,
            } => {
                // Not retried here: addPassword is not idempotent. After an ambiguous failure the next reconcile
                // re-reads the app and revokes the tagged orphan before minting again.
                let np = graph
                    .add_password(&app.id, display_name, *end)
                    .await
                    .map_err(|e| StepError::Credential(e.into()))?;
                let key_id = np.credential.key_id.clone();
                run.event(
                    "CredentialCreated",
                    format!("created client secret {key_id} ({reason:?})"),
                );
                // Verify before trust: an unproven secret never reaches the Secret or NocoBase; if it fails it is
                // an orphan that the next reconcile revokes.
                let attempts = verify(ctx, tenant, &app.app_id, &key_id, &np.secret_text)
                    .await
                    .map_err(StepError::Verify)?;
                done.minted = Some(Minted {
                    key_id,
                    hint: np.credential.hint.clone(),
                    display_name: display_name.clone(),
                    end: np.credential.end_date_time.map_or(*end, time::truncate),
                    verify_attempts: attempts,
                });
                new_text = Some(np.secret_text.clone());
            }
            Step::WriteSecret(SecretWrite::NewCurrent { previous_key_id }) => {
                let (Some(m), Some(text)) = (&done.minted, new_text.clone()) else {
                    continue;
                };
                let previous = previous_key_id
                    .as_ref()
                    .and_then(|k| current_text.clone().map(|t| (k.clone(), t)));
                let c = content(m.key_id.clone(), text, m.end, previous);
                write(&secrets, cr, &seen.secret_name, &c).await?;
                done.secret_written = true;
                done.in_secret = Some(InSecret {
                    key_id: c.current_key_id.clone(),
                    text: c.current.clone(),
                    expires_at: c.expires_at,
                });
                let reason = if seen.secret.is_some() {
                    "Rotated"
                } else {
                    "SecretCreated"
                };
                run.event(
                    reason,
                    format!(
                        "Secret {} now holds client secret {}",
                        seen.secret_name, m.key_id
                    ),
                );
            }
            Step::RestartConsumers => {
                let spec = &cr.spec.rotation.consumers;
                if spec.is_empty() {
                    continue;
                }
                done.restarted = consumers::restart(&ctx.client, &ns, spec, run.now)
                    .await
                    .map_err(StepError::Consumers)?;
                if !done.restarted.is_empty() {
                    run.event(
                        "ConsumersRestarted",
                        format!("restarted {}", done.restarted.join(", ")),
                    );
                }
            }
        }
    }
    if done.in_secret.is_none() {
        done.in_secret = repair_metadata(cr, tenant, app, seen, plan, run, &secrets, &mut done)
            .await
            .map_err(StepError::Secret)?;
    }
    Ok(done)
}

/// The expiry to record for the Secret's current credential.
fn current_end(seen: &Seen, run: &Run, key: &str) -> DateTime<Utc> {
    seen.live
        .iter()
        .find(|c| c.key_id == key)
        .and_then(|c| c.end)
        .or_else(|| {
            run.status
                .current_credential
                .as_ref()
                .filter(|c| c.key_id == key)
                .map(|c| time::from_time(&c.not_after))
        })
        .unwrap_or(run.now)
}

async fn write(
    secrets: &Api<Secret>,
    cr: &NocoBaseMailIntegration,
    name: &str,
    content: &secret::Content,
) -> Result<(), StepError> {
    let want = secret::desired(cr, name, content).map_err(StepError::Secret)?;
    secret::apply(secrets, &want)
        .await
        .map_err(StepError::Secret)?;
    Ok(())
}

/// The Secret exists with our current text but some field (labels, annotations, tenantId, keys, a previous slot
/// the plan keeps) differs from the spec: rewrite it. Returns what the Secret holds.
#[allow(clippy::too_many_arguments)]
async fn repair_metadata(
    cr: &NocoBaseMailIntegration,
    tenant: &EntraTenant,
    app: &Application,
    seen: &Seen,
    plan: &Plan,
    run: &Run,
    secrets: &Api<Secret>,
    done: &mut Done,
) -> Result<Option<InSecret>, Error> {
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
        client_id: app.app_id.clone(),
        tenant_id: tenant.spec.tenant_id.clone(),
        current_key_id: key.to_string(),
        current: text,
        expires_at: current_end(seen, run, key),
        previous,
    };
    let want = secret::desired(cr, &seen.secret_name, &content)?;
    if !done.secret_written && !secret::in_sync(live, &want, &keys.previous_client_secret) {
        secret::apply(secrets, &want).await?;
        done.secret_written = true;
        tracing::info!(secret = %seen.secret_name, "Secret updated to match the spec");
    }
    Ok(Some(InSecret {
        key_id: content.current_key_id,
        text: content.current,
        expires_at: content.expires_at,
    }))
}

/// Proves a just-minted secret authenticates: a client-credentials token request to the tenant's token endpoint,
/// retried through Entra's replication lag. Returns the attempts it took.
async fn verify(
    ctx: &Context,
    t: &EntraTenant,
    app_id: &str,
    key_id: &str,
    text: &SecretText,
) -> Result<u32, Error> {
    let cloud = tenant::cloud(t)?;
    let ca = tenant::extra_ca(ctx, t);
    crate::auth::verify_client_secret(
        &t.spec.tenant_id,
        &cloud,
        app_id,
        text,
        ca.as_deref(),
        &ctx.config.verify,
    )
    .await
    .map_err(|e| Error::NotVerified {
        key_id: key_id.to_string(),
        waited_secs: ctx.config.verify.max_wait.as_secs(),
        message: e.to_string(),
    })
}
