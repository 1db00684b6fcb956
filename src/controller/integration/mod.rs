//! NocoBaseMailIntegration reconcile, as a pipeline of named steps (one module each):
//!
//! 1. [`gate`]: wait out the backoff a recorded failure asked for (kept in status, so restarts honour it);
//! 2. [`resolve`]: the EntraTenant and a Graph client for it; [`snapshot`] decides whether Graph is read again;
//! 3. [`application`]: app registration, service principal, admin consent;
//! 4. [`observe`]: live credentials, the Secret, deliveries (consumers, NocoBase, acknowledgement);
//! 5. `planner::rotation::plan`: what to mint, write, revoke (pure);
//! 6. [`execute`]: carry out the plan (mint + verify, Secret, consumers, revocations) and the Secret repair that
//!    [`held`] decides (pure);
//! 7. [`deliver`]: push the Secret's credential into NocoBase and read it back;
//! 8. [`status`]: derive status and conditions from all of the above (pure);
//! 9. [`report`]: write status, events, metrics; [`snapshot`] keeps Graph's answer for the next reconcile.
//!
//! Writes happen only when something differs; the steady state makes none.

mod application;
mod cleanup;
mod deliver;
mod error;
mod execute;
mod gate;
mod held;
mod observe;
mod push;
mod report;
mod resolve;
pub mod snapshot;
pub mod status;

use std::{sync::Arc, time::Instant};

use kube::{
    Api, Resource, ResourceExt,
    runtime::{
        controller::Action,
        finalizer::{self, finalizer},
    },
};

pub use error::StepError;

use super::{
    CachedIntegration, Context,
    error::{Error, Result},
    time,
};
use crate::{
    api::{FINALIZER, NocoBaseMailIntegration},
    planner::rotation,
};

pub const CONTROLLER: &str = "nocobasemailintegration";

/// Entry point used by the kube-runtime Controller.
#[tracing::instrument(skip_all, fields(namespace = cr.namespace().unwrap_or_default(), name = cr.name_any()))]
pub async fn reconcile(cr: Arc<CachedIntegration>, ctx: Arc<Context>) -> Result<Action> {
    ctx.metrics.reconciled(CONTROLLER);
    let started = Instant::now();
    let ns = cr
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    if cr.meta().deletion_timestamp.is_some() {
        ctx.metrics.forget_integration(&ns, &cr.name_any());
        ctx.snapshots.forget(&cr.uid().unwrap_or_default());
    }
    // The finalizer patch goes through the cached type: it only touches metadata.finalizers.
    let api: Api<CachedIntegration> = Api::namespaced(ctx.client.clone(), &ns);
    let res = finalizer(&api, FINALIZER, cr, |ev| async {
        match ev {
            finalizer::Event::Apply(cr) => apply(cr, &ctx).await,
            finalizer::Event::Cleanup(cr) => cleanup::run(cr, &ctx).await,
        }
    })
    .await;
    ctx.metrics.observe_reconcile(CONTROLLER, started.elapsed());
    match res {
        Ok(a) => Ok(a),
        Err(finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e)) => Err(e),
        Err(e) => Err(Error::Finalizer(Box::new(e))),
    }
}

/// Only failures outside the pipeline land here (e.g. the status write itself failed): the pipeline records its
/// own failures in status and requeues with the backoff it recorded.
pub fn error_policy(cr: Arc<CachedIntegration>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failed(CONTROLLER, err.reason());
    let attempts = cr.failed_attempts();
    let delay = gate::delay(&ctx.config.backoff, attempts, err);
    tracing::warn!(
        namespace = cr.namespace().unwrap_or_default(),
        name = cr.name_any(),
        error = %err,
        reason = err.reason(),
        delay_ms = delay.as_millis() as u64,
        "reconcile failed"
    );
    Action::requeue(delay.max(ctx.config.min_requeue))
}

/// The pipeline. Reads as the list of steps; each returns what the next needs, failures carry their step.
async fn apply(cached: Arc<CachedIntegration>, ctx: &Context) -> Result<Action> {
    // The reflector's copy can lag far behind (after an apiserver restart); plan on the live object.
    let Some(cr) = observe::fresh(ctx, &*cached).await? else {
        return Ok(Action::await_change());
    };
    let now = time::now();
    if let Some(wait) = gate::wait(&cr, now) {
        return Ok(Action::requeue(wait.max(ctx.config.min_requeue)));
    }
    let old = cr.status.clone().unwrap_or_default();
    let mut run = status::Run::new(&cr, old.clone(), now);

    let outcome = async {
        let (tenant, graph) = resolve::tenant(ctx, &cr, &mut run).await?;
        let source = snapshot_source(ctx, &cr, &tenant, now);
        let (app, seen, plan) =
            observe_and_plan(ctx, &cr, &tenant, &graph, &source, &mut run).await?;
        let done = execute::plan(ctx, &cr, &tenant, &graph, &app, &seen, &plan, &mut run).await?;
        run.record_plan(&cr, &app, &seen, &plan, &done);
        deliver::nocobase(ctx, &cr, &app, &tenant, &seen, &done, &mut run).await;
        Ok::<_, StepError>(remember(ctx, &cr, &tenant, &source, &plan, app, &run))
    }
    .await;
    if outcome.is_err() {
        ctx.snapshots.forget(&cr.uid().unwrap_or_default());
    }

    report::finish(ctx, &cr, &old, run, outcome).await
}

/// Which Graph state this reconcile starts from (see [`snapshot::decide`]).
fn snapshot_source(
    ctx: &Context,
    cr: &NocoBaseMailIntegration,
    tenant: &crate::api::EntraTenant,
    now: chrono::DateTime<chrono::Utc>,
) -> snapshot::Source {
    snapshot::decide(
        ctx.snapshots.get(&cr.uid().unwrap_or_default()),
        cr.meta().generation,
        &snapshot::tenant_key(tenant),
        now,
        ctx.config.drift_check_interval,
    )
}

/// Keeps the snapshot for the next reconcile; returns when to look again.
fn remember(
    ctx: &Context,
    cr: &NocoBaseMailIntegration,
    tenant: &crate::api::EntraTenant,
    source: &snapshot::Source,
    plan: &rotation::Plan,
    app: crate::graph::Application,
    run: &status::Run,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let uid = cr.uid().unwrap_or_default();
    let (snap, requeue_at) = snapshot::after(
        source,
        plan,
        cr.meta().generation,
        snapshot::tenant_key(tenant),
        run.status.service_principal_id.clone().unwrap_or_default(),
        app,
        &uid,
        run.now,
        ctx.config.drift_check_interval,
    );
    ctx.snapshots.keep(&uid, snap);
    requeue_at
}

/// Steps 3–5: Graph's state (live, app only, or the snapshot: see [`snapshot`]), what the cluster holds, the plan.
async fn observe_and_plan(
    ctx: &Context,
    cr: &NocoBaseMailIntegration,
    tenant: &crate::api::EntraTenant,
    graph: &crate::graph::GraphClient,
    source: &snapshot::Source,
    run: &mut status::Run,
) -> std::result::Result<(crate::graph::Application, observe::Seen, rotation::Plan), StepError> {
    let planned = observe_once(ctx, cr, tenant, graph, source, run).await?;
    match snapshot::replan(source, &planned.2) {
        // Something to do in Graph: act on what Graph says now, not on the cached application.
        Some(fresh) => observe_once(ctx, cr, tenant, graph, &fresh, run).await,
        None => Ok(planned),
    }
}

async fn observe_once(
    ctx: &Context,
    cr: &NocoBaseMailIntegration,
    tenant: &crate::api::EntraTenant,
    graph: &crate::graph::GraphClient,
    source: &snapshot::Source,
    run: &mut status::Run,
) -> std::result::Result<(crate::graph::Application, observe::Seen, rotation::Plan), StepError> {
    let app = match source {
        snapshot::Source::Cached(s) => application::from_snapshot(cr, s, run),
        snapshot::Source::AppOnly(s) => match application::recheck(cr, graph, s, run).await? {
            Some(app) => app,
            None => application::ensure(cr, tenant, graph, run).await?,
        },
        snapshot::Source::Live => application::ensure(cr, tenant, graph, run).await?,
    };
    let seen = observe::credentials(ctx, cr, &app, run).await?;
    let plan = rotation::plan(&seen.planner_input(cr, ctx, run));
    Ok((app, seen, plan))
}
