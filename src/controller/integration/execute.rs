//! Step 6: carry out the rotation plan in order, stopping at the first failure, one method per action. Every effect
//! is one of the plan's actions, or the Secret metadata repair decided purely by [`held::decide`] (labels,
//! tenantId, keys brought back to the spec when no planned write rewrites the Secret).

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};

use super::{
    StepError,
    held::{self, Held},
    observe::Seen,
    status::Run,
};
use crate::{
    api::{EntraTenant, NocoBaseMailIntegration},
    auth::SecretText,
    controller::{Context, consumers, error::Error, secret, tenant, time},
    graph::{Application, GraphClient},
    planner::rotation::{Action as Step, MintReason, Plan, RevokeReason, SecretWrite},
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
    /// Consumers the restart did not find (they confirm nothing).
    pub missing_consumers: Vec<String>,
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
    // Decided before anything runs, from what was observed and planned (pure); performed last.
    let held = held::decide(
        cr,
        &app.app_id,
        &tenant.spec.tenant_id,
        seen,
        plan,
        run.status.current_credential.as_ref(),
        run.now,
    )
    .map_err(StepError::Secret)?;
    let ns = cr.namespace().unwrap_or_default();
    let mut x = Executor {
        ctx,
        cr,
        tenant,
        graph,
        app,
        seen,
        run,
        secrets: Api::namespaced(ctx.client.clone(), &ns),
        current_text: seen
            .secret
            .as_ref()
            .and_then(|s| secret::text(s, &cr.spec.secret.keys.client_secret)),
        new_text: None,
        done: Done::default(),
    };
    for step in &plan.actions {
        match step {
            Step::WriteSecret(SecretWrite::DropPrevious) => x.drop_previous().await?,
            Step::Revoke { key_id, reason } => x.revoke(key_id, *reason).await?,
            Step::Mint {
                display_name,
                end,
                reason,
            } => x.mint(display_name, *end, *reason).await?,
            Step::WriteSecret(SecretWrite::NewCurrent { previous_key_id }) => {
                x.new_current(previous_key_id.as_deref()).await?
            }
            Step::RestartConsumers => x.restart_consumers(&ns).await?,
        }
    }
    if let Some(h) = held {
        x.keep(h).await?;
    }
    Ok(x.done)
}

/// What the steps share: where they act, and what earlier steps produced.
struct Executor<'a> {
    ctx: &'a Context,
    cr: &'a NocoBaseMailIntegration,
    tenant: &'a EntraTenant,
    graph: &'a GraphClient,
    app: &'a Application,
    seen: &'a Seen,
    run: &'a mut Run,
    secrets: Api<Secret>,
    /// The Secret's current text before this reconcile.
    current_text: Option<SecretText>,
    /// The text minted in this reconcile (goes into the Secret with the next step).
    new_text: Option<SecretText>,
    done: Done,
}

impl Executor<'_> {
    fn content(
        &self,
        key_id: String,
        text: SecretText,
        expires_at: DateTime<Utc>,
        previous: Option<(String, SecretText)>,
    ) -> secret::Content {
        secret::Content {
            client_id: self.app.app_id.clone(),
            tenant_id: self.tenant.spec.tenant_id.clone(),
            current_key_id: key_id,
            current: text,
            expires_at,
            previous,
        }
    }

    /// Rewrites the Secret without its previous slot (nothing to drop when it holds no current text).
    async fn drop_previous(&mut self) -> Result<(), StepError> {
        let (Some(key), Some(text)) = (self.seen.secret_key(), self.current_text.clone()) else {
            return Ok(());
        };
        let prior = self.run.status.current_credential.as_ref();
        let end = held::current_end(self.seen, prior, self.run.now, key);
        let c = self.content(key.to_string(), text, end, None);
        write(&self.secrets, self.cr, &self.seen.secret_name, &c).await?;
        self.done.secret_written = true;
        Ok(())
    }

    async fn revoke(&mut self, key_id: &str, reason: RevokeReason) -> Result<(), StepError> {
        self.graph
            .remove_password(&self.app.id, key_id)
            .await
            .map_err(|e| StepError::Credential(e.into()))?;
        self.run.event(
            "Revoked",
            format!("revoked client secret {key_id} ({reason:?})"),
        );
        Ok(())
    }

    async fn mint(
        &mut self,
        display_name: &str,
        end: DateTime<Utc>,
        reason: MintReason,
    ) -> Result<(), StepError> {
        // Not retried here: addPassword is not idempotent. After an ambiguous failure the next reconcile re-reads
        // the app and revokes the tagged orphan before minting again.
        let np = self
            .graph
            .add_password(&self.app.id, display_name, end)
            .await
            .map_err(|e| StepError::Credential(e.into()))?;
        let key_id = np.credential.key_id.clone();
        self.run.event(
            "CredentialCreated",
            format!("created client secret {key_id} ({reason:?})"),
        );
        // Verify before trust: an unproven secret never reaches the Secret or NocoBase; if it fails it is an
        // orphan that the next reconcile revokes.
        let attempts = verify(
            self.ctx,
            self.tenant,
            &self.app.app_id,
            &key_id,
            &np.secret_text,
        )
        .await
        .map_err(StepError::Verify)?;
        self.done.minted = Some(Minted {
            key_id,
            hint: np.credential.hint.clone(),
            display_name: display_name.to_string(),
            end: np.credential.end_date_time.map_or(end, time::truncate),
            verify_attempts: attempts,
        });
        self.new_text = Some(np.secret_text.clone());
        Ok(())
    }

    /// Writes the credential minted by the plan's previous step as current, the old text as previous.
    async fn new_current(&mut self, previous_key_id: Option<&str>) -> Result<(), StepError> {
        // The planner always puts the mint right before this write, and a failed mint stops the plan: without one
        // the plan itself is wrong, and writing anything would lose the Secret's credential.
        let (Some(m), Some(text)) = (self.done.minted.clone(), self.new_text.clone()) else {
            return Err(StepError::Secret(Error::InvalidPlan(
                "a new current credential to write without a minted one",
            )));
        };
        let previous =
            previous_key_id.and_then(|k| self.current_text.clone().map(|t| (k.to_string(), t)));
        let c = self.content(m.key_id.clone(), text, m.end, previous);
        write(&self.secrets, self.cr, &self.seen.secret_name, &c).await?;
        self.done.secret_written = true;
        self.done.in_secret = Some(InSecret {
            key_id: c.current_key_id,
            text: c.current,
            expires_at: c.expires_at,
        });
        let reason = if self.seen.secret.is_some() {
            "Rotated"
        } else {
            "SecretCreated"
        };
        self.run.event(
            reason,
            format!(
                "Secret {} now holds client secret {}",
                self.seen.secret_name, m.key_id
            ),
        );
        Ok(())
    }

    /// Planned only when spec.rotation.consumers names workloads.
    async fn restart_consumers(&mut self, ns: &str) -> Result<(), StepError> {
        let spec = &self.cr.spec.rotation.consumers;
        let r = consumers::restart(&self.ctx.client, ns, spec, self.run.now)
            .await
            .map_err(StepError::Consumers)?;
        (self.done.restarted, self.done.missing_consumers) = (r.restarted, r.missing);
        if !self.done.restarted.is_empty() {
            self.run.event(
                "ConsumersRestarted",
                format!("restarted {}", self.done.restarted.join(", ")),
            );
        }
        Ok(())
    }

    /// The Secret keeps its credential: record it for delivery, and apply the metadata repair [`held::decide`]
    /// found necessary.
    async fn keep(&mut self, h: Held) -> Result<(), StepError> {
        if let Some(want) = &h.repair {
            secret::apply(&self.secrets, want)
                .await
                .map_err(StepError::Secret)?;
            self.done.secret_written = true;
            tracing::info!(secret = %self.seen.secret_name, "Secret updated to match the spec");
        }
        self.done.in_secret = Some(InSecret {
            key_id: h.content.current_key_id,
            text: h.content.current,
            expires_at: h.content.expires_at,
        });
        Ok(())
    }
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
    .map_err(|source| Error::NotVerified {
        key_id: key_id.to_string(),
        waited_secs: ctx.config.verify.max_wait.as_secs(),
        source,
    })
}
