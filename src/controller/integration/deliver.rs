//! Step 7: deliver the credential the Secret holds into NocoBase (Variables and secrets, and/or a collection
//! record, over NocoBase's HTTP API), confirm it by reading it back, and derive the Delivered condition with the
//! other channels (consumers' rollout, a person's acknowledgement). Once per credential: a confirmed keyId is
//! recorded in status.delivery, so the steady state sends nothing.
//!
//! A failure here leaves the Secret correct (Ready stays true) but holds back the revocation of the previous
//! credential, reports the reason in Delivered and backs off.

use super::{
    execute::Done,
    observe::{self, Seen},
    status::{DeliveryFailure, Run},
};
use kube::ResourceExt;

use crate::{
    api::{EntraTenant, NocoBaseMailIntegration},
    controller::{Context, consumers},
    graph::Application,
    planner::delivery::{consumers_after, to_deliver},
};

pub async fn nocobase(
    ctx: &Context,
    cr: &NocoBaseMailIntegration,
    app: &Application,
    tenant: &EntraTenant,
    seen: &Seen,
    done: &Done,
    run: &mut Run,
) {
    let key = done.in_secret.as_ref().map(|s| s.key_id.clone());
    let missing = missing_consumers(seen, done);
    // Missing consumers confirm nothing: like a restart that is still rolling out.
    let consumers = consumers_after(
        !cr.spec.rotation.consumers.is_empty(),
        !done.restarted.is_empty() || !missing.is_empty(),
        done.minted.is_some(),
        seen.consumers,
    );
    let before = observe::deliveries(cr, &run.status, key.as_deref(), consumers);
    let (variables, record) = to_deliver(&before);
    if let (Some(nb), Some(s)) = (&cr.spec.delivery.nocobase, &done.in_secret)
        && (variables || record)
    {
        let values = crate::delivery::Values {
            client_id: app.app_id.clone(),
            client_secret: s.text.clone(),
            tenant_id: tenant.spec.tenant_id.clone(),
        };
        match super::push::deliver(ctx, cr, nb, &values, variables, record).await {
            Ok(confirmed) => {
                let st = run.status.delivery.get_or_insert_with(Default::default);
                if confirmed.variables {
                    st.variables_key_id = Some(s.key_id.clone());
                }
                if confirmed.record {
                    st.record_key_id = Some(s.key_id.clone());
                }
                run.delivery_progressed = true;
                run.event(
                    "Delivered",
                    format!(
                        "client secret {} delivered to NocoBase ({}) and read back",
                        s.key_id,
                        confirmed.describe()
                    ),
                );
            }
            Err(f) => run.delivery_failure = Some(f),
        }
    }
    if run.delivery_failure.is_none()
        && !missing.is_empty()
        && let Some(k) = &key
    {
        // Not permanent: the workload may simply be created later; the retry looks again.
        run.delivery_failure = Some(DeliveryFailure {
            reason: consumers::CONSUMER_NOT_FOUND,
            message: consumers::not_found_message(
                &cr.namespace().unwrap_or_default(),
                &cr.name_any(),
                missing,
                k,
            ),
            permanent: false,
        });
    }
    if cr.spec.delivery.nocobase.is_none() {
        run.status.delivery = None;
    }
    let after = observe::deliveries(cr, &run.status, key.as_deref(), consumers);
    run.record_delivery(cr, key.as_deref(), &after);
}

/// Consumers named in the spec that do not exist: a restart in this reconcile knows best, otherwise what observe saw.
pub fn missing_consumers<'a>(seen: &'a Seen, done: &'a Done) -> &'a [String] {
    if done.restarted.is_empty() && done.missing_consumers.is_empty() {
        &seen.missing_consumers
    } else {
        &done.missing_consumers
    }
}
