//! Step 4: what is true right now — the live object, the app's client secrets in Entra, the Kubernetes Secret,
//! and how far the delivery of the Secret's credential has come. Reads only.

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};

use super::{StepError, application, status::Run};
use crate::{
    api::{
        ACKNOWLEDGED_KEY_ID_ANNOTATION, NocoBaseMailIntegration, NocoBaseMailIntegrationStatus,
        ROTATE_ANNOTATION, conditions::DELIVERED, is_condition_true,
    },
    controller::{
        Context, consumers,
        error::{Error, Result},
        secret, time,
    },
    graph::Application,
    planner::{
        delivery::{Confirmation, Deliveries},
        rotation::{
            self, LiveCredential, Policy, RenewBefore, Retiring, RotationStatus, SecretView,
        },
        tag,
    },
};

/// The object as the apiserver has it now. The reflector store can lag far behind (after an apiserver restart its
/// watches answered 410 Gone for over a minute): planning on a stale status re-minted a credential on every
/// requeue. None: deleted (or replaced by a new object with the same name, which gets its own reconcile).
pub async fn fresh(
    ctx: &Context,
    cached: &impl ResourceExt,
) -> Result<Option<NocoBaseMailIntegration>> {
    let ns = cached
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let live = Api::<NocoBaseMailIntegration>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&cached.name_any())
        .await?;
    Ok(live.filter(|l| l.uid() == cached.uid()))
}

/// Everything the planner and the later steps need to know.
pub struct Seen {
    pub uid: String,
    pub secret_name: String,
    /// The Secret as it is (None: missing).
    pub secret: Option<Secret>,
    pub view: SecretView,
    pub live: Vec<LiveCredential>,
    pub rotation: RotationStatus,
    pub deliveries: Deliveries,
    pub consumers: Confirmation,
    /// Consumers named in the spec that do not exist ("Deployment/name"), when their rollout was read.
    pub missing_consumers: Vec<String>,
    pub trigger: Option<String>,
    pub max_secrets: Option<usize>,
}

impl Seen {
    pub fn planner_input<'a>(
        &'a self,
        cr: &NocoBaseMailIntegration,
        ctx: &Context,
        run: &Run,
    ) -> rotation::Input<'a> {
        rotation::Input {
            uid: &self.uid,
            live: &self.live,
            secret: &self.view,
            status: &self.rotation,
            policy: policy(ctx, cr),
            trigger: self.trigger.as_deref(),
            delivered: self.deliveries.confirmed(),
            max_secrets: self.max_secrets,
            consumers: !cr.spec.rotation.consumers.is_empty(),
            now: run.now,
        }
    }

    /// The keyId the Secret holds with text, if any.
    pub fn secret_key(&self) -> Option<&str> {
        self.view.held_key()
    }
}

pub async fn credentials(
    ctx: &Context,
    cr: &NocoBaseMailIntegration,
    app: &Application,
    run: &Run,
) -> Result<Seen, StepError> {
    let ns = cr.namespace().unwrap_or_default();
    let uid = cr
        .uid()
        .ok_or(StepError::Credential(Error::MissingField("metadata.uid")))?;
    let secret_name = cr.spec.secret.secret_name(&cr.name_any());
    let live_secret = Api::<Secret>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&secret_name)
        .await
        .map_err(|e| StepError::Secret(e.into()))?;
    let view = secret::view(live_secret.as_ref(), cr);
    let secret_key = view.held_key().map(str::to_string);
    let rollout = consumer_state(ctx, cr, &run.status, &view)
        .await
        .map_err(StepError::Consumers)?;
    let consumers = rollout.confirmation;
    let deliveries = deliveries(cr, &run.status, secret_key.as_deref(), consumers);
    Ok(Seen {
        rotation: rotation_status(&uid, &run.status, run.now),
        uid,
        secret_name,
        secret: live_secret,
        view,
        live: live_credentials(app),
        deliveries,
        consumers,
        missing_consumers: rollout.missing,
        trigger: cr.annotations().get(ROTATE_ANNOTATION).cloned(),
        max_secrets: application::max_secrets(app),
    })
}

/// Each delivery channel's state for the credential `key` (pure).
pub fn deliveries(
    cr: &NocoBaseMailIntegration,
    status: &NocoBaseMailIntegrationStatus,
    key: Option<&str>,
    consumers: Confirmation,
) -> Deliveries {
    let d = &cr.spec.delivery;
    let nb = d.nocobase.as_ref();
    let confirmed = status.delivery.clone().unwrap_or_default();
    Deliveries {
        consumers,
        variables: Confirmation::by_key(
            nb.is_some_and(|n| n.variables.is_some()),
            key,
            confirmed.variables_key_id.as_deref(),
        ),
        record: Confirmation::by_key(
            nb.is_some_and(|n| n.record.is_some()),
            key,
            confirmed.record_key_id.as_deref(),
        ),
        acknowledgement: Confirmation::by_key(
            d.acknowledgement_required(),
            key,
            cr.annotations()
                .get(ACKNOWLEDGED_KEY_ID_ANNOTATION)
                .map(String::as_str),
        ),
    }
}

/// Consumers' rollout, read only while it matters (a previous credential is waiting, or Delivered is not yet
/// true): the steady state makes no Kubernetes reads for it.
async fn consumer_state(
    ctx: &Context,
    cr: &NocoBaseMailIntegration,
    status: &NocoBaseMailIntegrationStatus,
    view: &SecretView,
) -> Result<consumers::Rollout> {
    let spec = &cr.spec.rotation.consumers;
    let settled = |confirmation| consumers::Rollout {
        confirmation,
        missing: Vec::new(),
    };
    if spec.is_empty() {
        return Ok(settled(Confirmation::NotConfigured));
    }
    let waiting = !status.previous_credentials.is_empty()
        || view.previous_key_id.is_some()
        || !is_condition_true(&status.conditions, DELIVERED);
    if !waiting {
        return Ok(settled(Confirmation::Confirmed));
    }
    let ns = cr.namespace().unwrap_or_default();
    consumers::rollout(&ctx.client, &ns, spec).await
}

pub fn policy(ctx: &Context, cr: &NocoBaseMailIntegration) -> Policy {
    let s = &cr.spec.secret;
    Policy {
        lifetime: time::to_chrono_delta(s.lifetime.as_std()),
        renew_before: match (&s.renew_before, s.renew_before_percentage) {
            (Some(d), _) => Some(RenewBefore::Duration(time::to_chrono_delta(d.as_std()))),
            (None, Some(p)) => u8::try_from(p).ok().map(RenewBefore::Percentage),
            (None, None) => None,
        },
        overlap: time::to_chrono_delta(cr.spec.rotation.overlap.as_std()),
        consistency_grace: time::to_chrono_delta(ctx.config.consistency_grace),
    }
}

fn rotation_status(
    uid: &str,
    st: &NocoBaseMailIntegrationStatus,
    now: chrono::DateTime<chrono::Utc>,
) -> RotationStatus {
    let cur = st.current_credential.as_ref();
    RotationStatus {
        current_key_id: cur.map(|c| c.key_id.clone()),
        current_created: cur.and_then(|c| c.created_at.as_ref()).map(time::from_time),
        not_after: cur.map(|c| time::from_time(&c.not_after)),
        renewal_time: st.renewal_time.as_ref().map(time::from_time),
        retiring: st
            .previous_credentials
            .iter()
            .map(|p| Retiring {
                key_id: p.key_id.clone(),
                revoke_after: p.revoke_after.as_ref().map_or(now, time::from_time),
            })
            .collect(),
        handled_trigger: st.last_rotation_trigger.clone(),
        sequence: cur
            .and_then(|c| tag::parse_tag(c.display_name.as_deref(), uid))
            .unwrap_or(0),
    }
}

fn live_credentials(app: &Application) -> Vec<LiveCredential> {
    app.password_credentials
        .iter()
        .map(|c| LiveCredential {
            key_id: c.key_id.clone(),
            display_name: c.display_name.clone(),
            start: c.start_date_time.map(time::truncate),
            end: c.end_date_time.map(time::truncate),
        })
        .collect()
}
