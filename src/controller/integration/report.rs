//! Step 9: the IO at the end — write the status if it changed, publish the events the steps noted, set the
//! per-integration metrics, and decide when to look again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        controller::Action,
        events::{Event, EventType, Recorder},
    },
};

use super::{CONTROLLER, StepError, status::Run};
use crate::{
    api::{
        NocoBaseMailIntegration, NocoBaseMailIntegrationStatus, conditions::DELIVERED,
        find_condition,
    },
    controller::{
        Context,
        error::{Error, Result},
        metrics::IntegrationState,
    },
};

pub async fn finish(
    ctx: &Context,
    cr: &NocoBaseMailIntegration,
    old: &NocoBaseMailIntegrationStatus,
    mut run: Run,
    outcome: Result<Option<DateTime<Utc>>, StepError>,
) -> Result<Action> {
    let retry = run.conclude(
        &outcome,
        &ctx.config.backoff,
        &cr.spec.secret.lifetime.to_string(),
    );
    if let Err(e) = &outcome {
        ctx.metrics.failed(CONTROLLER, e.cause().reason());
        tracing::warn!(error = %e, reason = e.cause().reason(), condition = e.condition(), "reconcile step failed");
    } else if let Some(f) = &run.delivery_failure {
        ctx.metrics.failed(CONTROLLER, f.reason);
    }
    record_gauges(ctx, cr, &run);
    if run.status != *old {
        write_status(ctx, cr, old, &run.status).await?;
    }
    // Side by side: a provisioning publishes three events, and each is an apiserver round trip.
    futures::future::join_all(std::mem::take(&mut run.notes).into_iter().map(|n| {
        let t = if n.warning {
            EventType::Warning
        } else {
            EventType::Normal
        };
        async move { publish(ctx, cr, t, &n.reason, n.message).await }
    }))
    .await;
    let next = match (&outcome, retry) {
        (_, Some(d)) => {
            let scheduled = outcome.as_ref().ok().copied().flatten();
            Some(match scheduled {
                Some(t) => d.min(until(t)),
                None => d,
            })
        }
        // A delivery was just confirmed: a previous credential may be revocable now.
        (Ok(_), None) if run.delivery_progressed => Some(Duration::ZERO),
        (Ok(next), None) => next.map(until),
        (Err(_), None) => None,
    };
    Ok(match next {
        None => Action::await_change(),
        Some(d) => Action::requeue(d.max(ctx.config.min_requeue)),
    })
}

/// Time until `t`, plus a second so a truncated `now` has passed it.
fn until(t: DateTime<Utc>) -> Duration {
    (t - Utc::now()).to_std().unwrap_or(Duration::ZERO) + Duration::from_secs(1)
}

async fn publish(
    ctx: &Context,
    cr: &NocoBaseMailIntegration,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: reason.into(),
        secondary: None,
    };
    // A Recorder per event: kube's Recorder keeps every event it published for minutes, to fold repeats into a
    // series; at a thousand integrations that cache was a large share of the operator's memory, and repeats are
    // already avoided here (a failure is published once, not per retry).
    let recorder = Recorder::new(ctx.client.clone(), ctx.reporter.clone());
    if let Err(e) = recorder.publish(&ev, &cr.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "cannot publish event");
    }
}

/// Publish one event outside the pipeline (cleanup).
pub async fn event(
    ctx: &Context,
    cr: &NocoBaseMailIntegration,
    warning: bool,
    reason: &str,
    note: String,
) {
    let t = if warning {
        EventType::Warning
    } else {
        EventType::Normal
    };
    publish(ctx, cr, t, reason, note).await;
}

fn record_gauges(ctx: &Context, cr: &NocoBaseMailIntegration, run: &Run) {
    let st = &run.status;
    let ready = crate::api::is_condition_true(&st.conditions, crate::api::conditions::READY);
    let delivery_pending = find_condition(&st.conditions, DELIVERED).is_some_and(|c| !c.is_true());
    ctx.metrics.record_integration(
        &cr.namespace().unwrap_or_default(),
        &cr.name_any(),
        IntegrationState {
            ready,
            not_after: st
                .current_credential
                .as_ref()
                .map(|c| c.not_after.0.as_second()),
            renewal_time: st.renewal_time.as_ref().map(|t| t.0.as_second()),
            delivery_pending,
            previous_not_after: st
                .previous_credentials
                .iter()
                .filter_map(|p| p.not_after.as_ref().map(|t| t.0.as_second()))
                .min(),
        },
    );
}

/// Merge-patch the status; fields we dropped are nulled explicitly (merge patch keeps absent fields).
async fn write_status(
    ctx: &Context,
    cr: &NocoBaseMailIntegration,
    old: &NocoBaseMailIntegrationStatus,
    new: &NocoBaseMailIntegrationStatus,
) -> Result<()> {
    let mut body = serde_json::to_value(new).map_err(|e| Error::InvalidSpec(e.to_string()))?;
    if let (Some(obj), Ok(serde_json::Value::Object(old))) =
        (body.as_object_mut(), serde_json::to_value(old))
    {
        for k in old.keys() {
            obj.entry(k.clone()).or_insert(serde_json::Value::Null);
        }
    }
    let ns = cr
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    Api::<NocoBaseMailIntegration>::namespaced(ctx.client.clone(), &ns)
        .patch_status(
            &cr.name_any(),
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "status": body })),
        )
        .await?;
    Ok(())
}
