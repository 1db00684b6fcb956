//! NocoBaseMailIntegration reconcile: tenant → application → service principal → consent → rotation plan →
//! Secret → consumers → revocations → NocoBase push → status. Writes happen only when something differs.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        controller::Action,
        events::{Event, EventType, Recorder},
        finalizer::{self, finalizer},
    },
};

use super::{
    Context, consumers,
    error::{Error, Result},
    metrics::IntegrationState,
    push::{self, PushError},
    secret, tenant, time,
};
use crate::{
    api::{
        self, Condition, ConditionStatus, CredentialStatus, DeletionPolicy, EntraTenant, FINALIZER,
        NocoBaseMailIntegration, NocoBaseMailIntegrationStatus, PreviousCredentialStatus,
        ROTATE_ANNOTATION,
        conditions::{
            ADMIN_CONSENT_GRANTED, APPLICATION_READY, CONSUMERS_UPDATED, CREDENTIAL_READY,
            NOCOBASE_PUSHED, READY, SECRET_SYNCED, TENANT_READY,
        },
    },
    graph::{
        Application, ApplicationUpsert, GraphClient, MICROSOFT_GRAPH_APP_ID,
        RequiredResourceAccess, ResourceAccess, SecretText, WebApplication,
    },
    planner::{
        push as planner_push,
        rotation::{
            self, Action as Step, Consumers, LiveCredential, Policy, RenewBefore, Retiring,
            SecretWrite,
        },
        tag,
    },
};

pub const CONTROLLER: &str = "nocobasemailintegration";

/// Entry point used by the kube-runtime Controller.
#[tracing::instrument(skip_all, fields(namespace = cr.namespace().unwrap_or_default(), name = cr.name_any()))]
pub async fn reconcile(cr: Arc<NocoBaseMailIntegration>, ctx: Arc<Context>) -> Result<Action> {
    if let Some(wait) = take_echo(&cr) {
        return Ok(Action::requeue(wait.max(ctx.config.min_requeue)));
    }
    ctx.metrics.reconciled(CONTROLLER);
    let started = Instant::now();
    let ns = cr
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    if cr.meta().deletion_timestamp.is_some() {
        ctx.metrics.forget_integration(&ns, &cr.name_any());
    }
    let api: Api<NocoBaseMailIntegration> = Api::namespaced(ctx.client.clone(), &ns);
    let res = finalizer(&api, FINALIZER, cr, |ev| async {
        match ev {
            finalizer::Event::Apply(cr) => apply(cr, &ctx).await,
            finalizer::Event::Cleanup(cr) => cleanup(cr, &ctx).await,
        }
    })
    .await;
    ctx.metrics.observe_reconcile(CONTROLLER, started.elapsed());
    match res {
        Ok(a) => Ok(a),
        Err(finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e)) => Err(e),
        Err(e) => Err(Error::Finalizer(e.to_string())),
    }
}

/// The status written by a failed attempt (failedAttempts changes every time) comes back as a watch event, which
/// kube-runtime runs at once (the earliest schedule wins): without this every failure would trigger the next
/// one, past the backoff. So the reconcile of exactly the resourceVersion we wrote is skipped once and waits for
/// the retry that error_policy scheduled. Any other change (spec, annotations, tenant) still runs at once.
struct Echo {
    resource_version: String,
    retry_at: Option<Instant>,
}

/// By object UID. Process-wide: UIDs are unique, and a stale entry can only delay one attempt to its retry time.
static ECHOES: LazyLock<Mutex<HashMap<String, Echo>>> = LazyLock::new(Mutex::default);

fn echoes() -> std::sync::MutexGuard<'static, HashMap<String, Echo>> {
    ECHOES.lock().unwrap_or_else(|p| p.into_inner())
}

/// How long to wait when `cr` is the echo of our own failure status write (consumed on first sight).
fn take_echo(cr: &NocoBaseMailIntegration) -> Option<Duration> {
    let uid = cr.uid()?;
    let mut e = echoes();
    let is_echo = e
        .get(&uid)
        .is_some_and(|x| cr.resource_version().as_deref() == Some(x.resource_version.as_str()));
    if !is_echo {
        return None;
    }
    let retry_at = e.remove(&uid)?.retry_at?;
    Some(retry_at.saturating_duration_since(Instant::now()))
}

/// Error policy: exponential backoff per object, Retry-After wins.
pub fn error_policy(cr: Arc<NocoBaseMailIntegration>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failed(CONTROLLER, err.reason());
    let n = ctx.bump_failures(&cr.uid().unwrap_or_default());
    let delay = ctx.config.backoff.delay(n, err.retry_after());
    if let Some(e) = echoes().get_mut(&cr.uid().unwrap_or_default()) {
        e.retry_at = Some(Instant::now() + delay);
    }
    tracing::warn!(
        namespace = cr.namespace().unwrap_or_default(),
        name = cr.name_any(),
        error = %err,
        reason = err.reason(),
        attempt = n,
        delay_ms = delay.as_millis() as u64,
        "reconcile failed"
    );
    Action::requeue(delay.max(ctx.config.min_requeue))
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

fn cond(
    cr: &NocoBaseMailIntegration,
    type_: &str,
    ok: bool,
    reason: &str,
    message: impl Into<String>,
) -> Condition {
    Condition::new(
        type_,
        ConditionStatus::from_bool(ok),
        reason,
        message,
        cr.meta().generation,
        time::to_time(time::now()),
    )
}

/// Mutable reconcile state: the status being built and the condition the current phase owns.
struct Run<'a> {
    cr: &'a NocoBaseMailIntegration,
    ctx: &'a Context,
    status: NocoBaseMailIntegrationStatus,
    phase: &'static str,
    now: DateTime<Utc>,
    /// A failure that leaves the rest of the reconcile valid (the NocoBase push): retried with backoff like any
    /// failure, but Ready stays true.
    deferred: Option<Error>,
}

impl Run<'_> {
    fn set(&mut self, type_: &str, ok: bool, reason: &str, message: impl Into<String>) {
        api::set_condition(
            &mut self.status.conditions,
            cond(self.cr, type_, ok, reason, message),
        );
    }

    async fn event(&self, reason: &str, note: String) {
        publish(self.ctx, self.cr, EventType::Normal, reason, note).await;
    }
}

/// The object as the apiserver has it now. The reflector store can lag far behind (after an apiserver restart its
/// watches answered 410 Gone for over a minute): planning on a stale status re-minted a credential on every
/// requeue. None: deleted (or replaced by a new object with the same name, which gets its own reconcile).
async fn fresh(
    ctx: &Context,
    cached: &NocoBaseMailIntegration,
) -> Result<Option<NocoBaseMailIntegration>> {
    let ns = cached
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    let live = Api::<NocoBaseMailIntegration>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&cached.name_any())
        .await?;
    Ok(live.filter(|l| l.uid() == cached.uid()))
}

async fn apply(cached: Arc<NocoBaseMailIntegration>, ctx: &Context) -> Result<Action> {
    let Some(cr) = fresh(ctx, &cached).await? else {
        return Ok(Action::await_change());
    };
    let old = cr.status.clone().unwrap_or_default();
    let mut run = Run {
        cr: &cr,
        ctx,
        status: old.clone(),
        phase: TENANT_READY,
        now: time::now(),
        deferred: None,
    };
    let result = provision(&mut run).await;
    // A push failure after the Secret was written: NocoBasePushed says so; Ready stays true.
    let (result, soft) = match (result, run.deferred.take()) {
        (Ok(_), Some(e)) => (Err(e), true),
        (r, _) => (r, false),
    };
    match &result {
        Err(_) if soft => {
            run.status.failed_attempts = Some(old.failed_attempts.unwrap_or(0).saturating_add(1));
            run.set(
                READY,
                true,
                "Ready",
                "application provisioned and credential in the Secret",
            );
        }
        Ok(_) => {
            run.set(
                READY,
                true,
                "Ready",
                "application provisioned and credential in the Secret",
            );
            ctx.reset_failures(&cr.uid().unwrap_or_default());
            echoes().remove(&cr.uid().unwrap_or_default());
            run.status.failed_attempts = match old.failed_attempts {
                None | Some(0) => old.failed_attempts,
                Some(_) => Some(0),
            };
        }
        Err(e) => {
            run.status.failed_attempts = Some(old.failed_attempts.unwrap_or(0).saturating_add(1));
            let phase = run.phase;
            let message = match e {
                // Say what to change: the tenant's policy caps the lifetime the spec asks for.
                Error::Graph(g) if g.is_lifetime_policy() => format!(
                    "spec.secret.lifetime {} exceeds the tenant's app-management policy; lower it. {g}",
                    cr.spec.secret.lifetime
                ),
                e => e.to_string(),
            };
            run.set(phase, false, e.reason(), message.clone());
            run.set(READY, false, e.reason(), message);
        }
    }
    run.status.observed_generation = cr.meta().generation;
    record_gauges(ctx, &cr, &run.status, result.is_ok() || soft);
    // Only the attempt counter moved: the same failure again.
    let same_failure = NocoBaseMailIntegrationStatus {
        failed_attempts: old.failed_attempts,
        ..run.status.clone()
    } == old;
    if run.status != old {
        let rv = write_status(ctx, &cr, &old, &run.status).await?;
        if let (Err(_), Some(uid), Some(rv)) = (&result, cr.uid(), rv) {
            echoes().insert(
                uid,
                Echo {
                    resource_version: rv,
                    retry_at: None,
                },
            );
        }
    }
    match result {
        Ok(next) => Ok(requeue_at(ctx, next)),
        Err(e) => {
            // One Warning event per distinct failure, not one per retry.
            if !same_failure {
                publish(ctx, &cr, EventType::Warning, e.reason(), e.to_string()).await;
            }
            Err(e)
        }
    }
}

/// Requeue exactly at `next` (plus a second so a truncated `now` has passed it), never polling.
fn requeue_at(ctx: &Context, next: Option<DateTime<Utc>>) -> Action {
    match next {
        None => Action::await_change(),
        Some(t) => {
            let delay =
                (t - Utc::now()).to_std().unwrap_or(Duration::ZERO) + Duration::from_secs(1);
            Action::requeue(delay.max(ctx.config.min_requeue))
        }
    }
}

/// Sets the per-integration gauges from the status just computed.
fn record_gauges(
    ctx: &Context,
    cr: &NocoBaseMailIntegration,
    st: &NocoBaseMailIntegrationStatus,
    ready: bool,
) {
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
        },
    );
}

/// Merge-patch the status; fields we dropped are nulled explicitly (merge patch keeps absent fields).
/// Returns the resourceVersion written.
async fn write_status(
    ctx: &Context,
    cr: &NocoBaseMailIntegration,
    old: &NocoBaseMailIntegrationStatus,
    new: &NocoBaseMailIntegrationStatus,
) -> Result<Option<String>> {
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
    let written = Api::<NocoBaseMailIntegration>::namespaced(ctx.client.clone(), &ns)
        .patch_status(
            &cr.name_any(),
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "status": body })),
        )
        .await?;
    Ok(written.resource_version())
}

async fn resolve_tenant(run: &mut Run<'_>) -> Result<(EntraTenant, GraphClient)> {
    let name = &run.cr.spec.tenant_ref.name;
    let tenant = Api::<EntraTenant>::all(run.ctx.client.clone())
        .get_opt(name)
        .await?
        .ok_or_else(|| Error::TenantNotFound(name.clone()))?;
    let ns = run.cr.namespace().unwrap_or_default();
    if !tenant::allows(run.ctx, &tenant, &ns).await? {
        return Err(Error::NamespaceNotAllowed {
            tenant: name.clone(),
            namespace: ns,
        });
    }
    let graph = tenant::graph_client(run.ctx, &tenant).await?;
    run.status.tenant_id = Some(tenant.spec.tenant_id.clone());
    run.set(
        TENANT_READY,
        true,
        "Resolved",
        format!("using EntraTenant {name}"),
    );
    Ok((tenant, graph))
}

/// The application shape the spec asks for. For an adopted app without a displayName we keep its name.
fn desired_app(cr: &NocoBaseMailIntegration, current_name: Option<&str>) -> ApplicationUpsert {
    let app = &cr.spec.application;
    let display_name = match (&app.display_name, current_name) {
        (None, Some(n)) if app.existing_app_id.is_some() => n.to_string(),
        _ => app.display_name(&cr.namespace().unwrap_or_default(), &cr.name_any()),
    };
    ApplicationUpsert {
        display_name: Some(display_name),
        sign_in_audience: Some(app.sign_in_audience.as_graph_str().to_string()),
        required_resource_access: Some(vec![RequiredResourceAccess {
            resource_app_id: MICROSOFT_GRAPH_APP_ID.to_string(),
            resource_access: cr
                .spec
                .delegated_scopes()
                .iter()
                .map(|s| ResourceAccess {
                    id: s.id.to_string(),
                    kind: "Scope".into(),
                })
                .collect(),
        }]),
        web: Some(WebApplication {
            redirect_uris: app.effective_redirect_uris(),
        }),
        api: None,
        tags: None,
        notes: None,
    }
}

/// uniqueName of the app we create: stable per CR, so a lost status never creates a second app.
pub fn unique_name(uid: &str) -> String {
    format!("entramail-{uid}")
}

async fn ensure_application(run: &mut Run<'_>, graph: &GraphClient) -> Result<Application> {
    let cr = run.cr;
    let uid = cr.uid().ok_or(Error::MissingField("metadata.uid"))?;
    let app = if let Some(app_id) = &cr.spec.application.existing_app_id {
        let app = graph
            .get_application_by_app_id(app_id)
            .await?
            .ok_or_else(|| Error::AdoptedAppNotFound(app_id.clone()))?;
        let want = desired_app(cr, app.display_name.as_deref());
        if run.status.app_id.is_none() {
            run.event("Adopted", format!("adopted existing application {app_id}"))
                .await;
        }
        if want.is_satisfied_by(&app) {
            app
        } else {
            graph.update_application(&app.id, &want).await?;
            run.event(
                "Updated",
                format!("updated application {app_id} to match the spec"),
            )
            .await;
            app
        }
    } else {
        let want = desired_app(cr, None);
        let name = unique_name(&uid);
        match graph.get_application_by_unique_name(&name).await? {
            Some(app) if want.is_satisfied_by(&app) => app,
            _ => {
                let outcome = graph.upsert_application(&name, &want).await?;
                let created = outcome.was_created();
                let app = outcome.into_application();
                let (reason, what) = if created {
                    ("Created", "created")
                } else {
                    ("Updated", "updated")
                };
                run.event(
                    reason,
                    format!("{what} application {} (uniqueName {name})", app.app_id),
                )
                .await;
                app
            }
        }
    };
    run.status.app_id = Some(app.app_id.clone());
    run.status.application_object_id = Some(app.id.clone());
    Ok(app)
}

async fn provision(run: &mut Run<'_>) -> Result<Option<DateTime<Utc>>> {
    let cr = run.cr;
    run.phase = TENANT_READY;
    let (tenant, graph) = resolve_tenant(run).await?;

    run.phase = APPLICATION_READY;
    let app = ensure_application(run, &graph).await?;
    let sp = graph.ensure_service_principal(&app.app_id).await?;
    run.status.service_principal_id = Some(sp.id.clone());
    run.set(
        APPLICATION_READY,
        true,
        "Provisioned",
        format!("application {} with service principal", app.app_id),
    );

    if cr.spec.application.admin_consent {
        run.phase = ADMIN_CONSENT_GRANTED;
        let graph_sp = graph
            .get_service_principal_by_app_id(MICROSOFT_GRAPH_APP_ID)
            .await?
            .ok_or_else(|| Error::TenantConfig {
                tenant: tenant.name_any(),
                message: "the Microsoft Graph service principal is missing in the tenant".into(),
            })?;
        let scope = cr
            .spec
            .delegated_scopes()
            .iter()
            .map(|s| s.name)
            .collect::<Vec<_>>()
            .join(" ");
        graph
            .ensure_admin_consent(&sp.id, &graph_sp.id, &scope)
            .await?;
        run.set(
            ADMIN_CONSENT_GRANTED,
            true,
            "Granted",
            format!("tenant-wide consent for {scope}"),
        );
    }

    run.phase = CREDENTIAL_READY;
    rotate(run, &graph, &tenant, &app).await
}

fn policy(ctx: &Context, cr: &NocoBaseMailIntegration) -> Policy {
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
    cr: &NocoBaseMailIntegration,
    st: &NocoBaseMailIntegrationStatus,
    now: DateTime<Utc>,
) -> rotation::RotationStatus {
    let uid = cr.uid().unwrap_or_default();
    let cur = st.current_credential.as_ref();
    rotation::RotationStatus {
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
            .and_then(|c| tag::parse_tag(c.display_name.as_deref(), &uid))
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

async fn rotate(
    run: &mut Run<'_>,
    graph: &GraphClient,
    tenant: &EntraTenant,
    app: &Application,
) -> Result<Option<DateTime<Utc>>> {
    let cr = run.cr;
    let ctx = run.ctx;
    let now = run.now;
    let ns = cr.namespace().unwrap_or_default();
    let uid = cr.uid().ok_or(Error::MissingField("metadata.uid"))?;
    let secret_name = cr.spec.secret.secret_name(&cr.name_any());
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let live_secret = secrets.get_opt(&secret_name).await?;
    let view = secret::view(live_secret.as_ref(), cr);
    let spec_consumers = &cr.spec.rotation.consumers;
    let overlapping = !run.status.previous_credentials.is_empty() || view.previous_key_id.is_some();
    let consumer_state = if spec_consumers.is_empty() || !overlapping {
        Consumers::NotConfigured
    } else {
        consumers::rollout(&ctx.client, &ns, spec_consumers).await?
    };
    let live = live_credentials(app);
    let old_rot = rotation_status(cr, &run.status, now);
    let trigger = cr.annotations().get(ROTATE_ANNOTATION).cloned();
    let push_spec = cr.spec.rotation.nocobase_push.as_ref();
    let push_state = planner_push::state(
        push_spec.is_some(),
        view.current_key_id.as_deref().filter(|_| view.has_text),
        run.status.pushed_key_id.as_deref(),
    );
    let plan = rotation::plan(&rotation::Input {
        uid: &uid,
        live: &live,
        secret: &view,
        status: &old_rot,
        policy: policy(ctx, cr),
        trigger: trigger.as_deref(),
        consumers: consumer_state,
        push: push_state,
        now,
    });
    if !plan.actions.is_empty() {
        tracing::info!(actions = ?plan.actions, "executing rotation plan");
    }

    let keys = &cr.spec.secret.keys;
    let tenant_id = tenant.spec.tenant_id.clone();
    let mut minted = None;
    let mut current_status = run.status.current_credential.clone();
    let mut secret_written = false;
    // What the Secret holds after this reconcile's writes, for the push: (keyId, client secret, expiry).
    let mut in_secret: Option<(String, SecretText, DateTime<Utc>)> = None;
    for step in &plan.actions {
        match step {
            Step::Mint {
                display_name,
                end,
                reason,
            } => {
                run.phase = CREDENTIAL_READY;
                let np = graph.add_password(&app.id, display_name, *end).await?;
                run.event(
                    "CredentialCreated",
                    format!(
                        "created client secret {} ({reason:?})",
                        np.credential.key_id
                    ),
                )
                .await;
                current_status = Some(CredentialStatus {
                    key_id: np.credential.key_id.clone(),
                    hint: np.credential.hint.clone(),
                    not_after: time::to_time(
                        np.credential.end_date_time.map_or(*end, time::truncate),
                    ),
                    created_at: Some(time::to_time(now)),
                    display_name: Some(display_name.clone()),
                });
                minted = Some(np);
            }
            Step::WriteSecret(SecretWrite::NewCurrent { previous_key_id }) => {
                run.phase = SECRET_SYNCED;
                let Some(np) = &minted else { continue };
                let previous = previous_key_id.as_ref().and_then(|k| {
                    live_secret
                        .as_ref()
                        .and_then(|s| secret::text(s, &keys.client_secret))
                        .map(|t| (k.clone(), t))
                });
                let content = secret::Content {
                    client_id: app.app_id.clone(),
                    tenant_id: tenant_id.clone(),
                    current_key_id: np.credential.key_id.clone(),
                    current: np.secret_text.clone(),
                    expires_at: np.credential.end_date_time.map_or(now, time::truncate),
                    previous,
                };
                secret::apply(&secrets, &secret::desired(cr, &secret_name, &content)?).await?;
                secret_written = true;
                in_secret = Some((
                    content.current_key_id.clone(),
                    content.current.clone(),
                    content.expires_at,
                ));
                let reason = if live_secret.is_some() {
                    "Rotated"
                } else {
                    "SecretCreated"
                };
                run.event(
                    reason,
                    format!(
                        "Secret {secret_name} now holds client secret {}",
                        np.credential.key_id
                    ),
                )
                .await;
            }
            Step::WriteSecret(SecretWrite::DropPrevious) => {
                // Handled by the drift sync below, which rewrites the Secret without the previous slot.
            }
            Step::RestartConsumers => {
                run.phase = CONSUMERS_UPDATED;
                if !spec_consumers.is_empty() {
                    let done = consumers::restart(&ctx.client, &ns, spec_consumers, now).await?;
                    if !done.is_empty() {
                        run.event(
                            "ConsumersRestarted",
                            format!("restarted {}", done.join(", ")),
                        )
                        .await;
                    }
                }
            }
            Step::Revoke { key_id, reason } => {
                run.phase = CREDENTIAL_READY;
                graph.remove_password(&app.id, key_id).await?;
                run.event(
                    "Revoked",
                    format!("revoked client secret {key_id} ({reason:?})"),
                )
                .await;
            }
        }
    }

    // Status: current credential (from the mint, or the live one the Secret holds), retiring ones, schedule.
    if minted.is_none() {
        current_status = plan.status.current_key_id.as_ref().map(|k| {
            let live_c = app.password_credentials.iter().find(|c| &c.key_id == k);
            let prior = run
                .status
                .current_credential
                .as_ref()
                .filter(|c| &c.key_id == k);
            CredentialStatus {
                key_id: k.clone(),
                hint: live_c
                    .and_then(|c| c.hint.clone())
                    .or_else(|| prior.and_then(|c| c.hint.clone())),
                not_after: time::to_time(plan.status.not_after.unwrap_or(now)),
                created_at: prior.and_then(|c| c.created_at.clone()).or_else(|| {
                    live_c
                        .and_then(|c| c.start_date_time)
                        .map(|t| time::to_time(time::truncate(t)))
                }),
                display_name: live_c
                    .and_then(|c| c.display_name.clone())
                    .or_else(|| prior.and_then(|c| c.display_name.clone())),
            }
        });
    }
    run.status.current_credential = current_status.clone();
    run.status.previous_credentials = plan
        .status
        .retiring
        .iter()
        .map(|r| {
            let live_c = app
                .password_credentials
                .iter()
                .find(|c| c.key_id == r.key_id);
            PreviousCredentialStatus {
                key_id: r.key_id.clone(),
                hint: live_c.and_then(|c| c.hint.clone()),
                not_after: live_c
                    .and_then(|c| c.end_date_time)
                    .map(|t| time::to_time(time::truncate(t))),
                revoke_after: Some(time::to_time(r.revoke_after)),
            }
        })
        .collect();
    run.status.renewal_time = plan.status.renewal_time.map(time::to_time);
    run.status.last_rotation_trigger = plan.status.handled_trigger.clone();
    run.status.secret_name = Some(secret_name.clone());

    // Drift: the Secret exists with our text but some field (labels, tenantId, previous slot...) differs.
    if !secret_written
        && let (Some(live_s), Some(cur)) = (&live_secret, &current_status)
        && let Some(text) = secret::text(live_s, &keys.client_secret)
        && view.current_key_id.as_deref() == Some(cur.key_id.as_str())
    {
        let previous = view
            .previous_key_id
            .as_ref()
            .filter(|p| plan.status.retiring.iter().any(|r| &r.key_id == *p))
            .and_then(|p| {
                secret::text(live_s, &keys.previous_client_secret).map(|t| (p.clone(), t))
            });
        let content = secret::Content {
            client_id: app.app_id.clone(),
            tenant_id: tenant_id.clone(),
            current_key_id: cur.key_id.clone(),
            current: text,
            expires_at: time::from_time(&cur.not_after),
            previous,
        };
        let want = secret::desired(cr, &secret_name, &content)?;
        in_secret = Some((
            content.current_key_id.clone(),
            content.current.clone(),
            content.expires_at,
        ));
        if !secret::in_sync(live_s, &want, &keys.previous_client_secret) {
            run.phase = SECRET_SYNCED;
            secret::apply(&secrets, &want).await?;
            tracing::info!(secret = %secret_name, "Secret updated to match the spec");
        }
    }

    let not_after = current_status.as_ref().map(|c| c.not_after.clone());
    let renew = run.status.renewal_time.clone();
    run.set(
        CREDENTIAL_READY,
        true,
        "Valid",
        format!(
            "client secret valid until {}; renewal at {}",
            not_after.map(|t| t.0.to_string()).unwrap_or_default(),
            renew.map(|t| t.0.to_string()).unwrap_or_default()
        ),
    );
    run.set(
        SECRET_SYNCED,
        true,
        "Synced",
        format!("Secret {secret_name} holds the current client secret"),
    );
    if spec_consumers.is_empty() {
        run.set(
            CONSUMERS_UPDATED,
            true,
            "NoConsumers",
            "no consumer workloads configured",
        );
    } else if !run.status.previous_credentials.is_empty()
        && consumer_state == Consumers::Progressing
    {
        run.set(
            CONSUMERS_UPDATED,
            false,
            "RollingOut",
            format!(
                "waiting for {} to roll out",
                consumers::describe(spec_consumers)
            ),
        );
    } else {
        run.set(
            CONSUMERS_UPDATED,
            true,
            "UpToDate",
            format!(
                "{} restarted after the last credential change",
                consumers::describe(spec_consumers)
            ),
        );
    }
    if let Err(e) = push_current(run, &app.app_id, &tenant_id, in_secret).await {
        run.deferred = Some(e.into());
    }
    Ok(plan.requeue_at)
}

/// Pushes the credential the Secret holds to NocoBase if spec.rotation.nocobasePush is set and it was not pushed
/// yet; sets NocoBasePushed and status.pushedKeyId. Without a push spec both are cleared.
async fn push_current(
    run: &mut Run<'_>,
    client_id: &str,
    tenant_id: &str,
    in_secret: Option<(String, SecretText, DateTime<Utc>)>,
) -> Result<(), PushError> {
    let cr = run.cr;
    let Some(spec) = &cr.spec.rotation.nocobase_push else {
        run.status.pushed_key_id = None;
        run.status.conditions.retain(|c| c.type_ != NOCOBASE_PUSHED);
        return Ok(());
    };
    let secret_key = in_secret.as_ref().map(|(k, _, _)| k.as_str());
    let Some(key_id) = planner_push::to_push(true, secret_key, run.status.pushed_key_id.as_deref())
    else {
        if secret_key.is_some() {
            let pushed = run.status.pushed_key_id.clone().unwrap_or_default();
            run.set(
                NOCOBASE_PUSHED,
                true,
                "Pushed",
                format!("client secret {pushed} was pushed to NocoBase"),
            );
        }
        return Ok(());
    };
    let key_id = key_id.to_owned();
    let Some((_, text, expires_at)) = &in_secret else {
        return Ok(());
    };
    let result = async {
        let api_key = api_key(run, spec).await?;
        let body = push::render(
            spec.body_template(),
            &push::Values {
                client_id,
                client_secret: text,
                tenant_id,
                expires_at: *expires_at,
            },
        )?;
        push::send(spec, &api_key, body, run.ctx.config.extra_ca_pem.as_deref()).await
    }
    .await;
    match result {
        Ok(()) => {
            let endpoint = push::endpoint(spec)
                .map(|u| u.to_string())
                .unwrap_or_default();
            run.status.pushed_key_id = Some(key_id.clone());
            run.set(
                NOCOBASE_PUSHED,
                true,
                "Pushed",
                format!("client secret {key_id} was pushed to NocoBase"),
            );
            run.event(
                "Pushed",
                format!("pushed client secret {key_id} to {endpoint}"),
            )
            .await;
            Ok(())
        }
        Err(e) => {
            run.set(NOCOBASE_PUSHED, false, e.reason(), e.to_string());
            Err(e)
        }
    }
}

/// The NocoBase API key from spec.rotation.nocobasePush.apiKeySecretRef (in the integration's namespace).
async fn api_key(run: &Run<'_>, spec: &api::NocoBasePush) -> Result<SecretText, PushError> {
    let r = &spec.api_key_secret_ref;
    let ns = run.cr.namespace().unwrap_or_default();
    let s = Api::<Secret>::namespaced(run.ctx.client.clone(), &ns)
        .get_opt(&r.name)
        .await
        .map_err(|e| PushError::ApiKeyUnreadable(e.to_string()))?
        .ok_or_else(|| PushError::ApiKeyMissing(format!("Secret {ns}/{} not found", r.name)))?;
    secret::text(&s, &r.key).ok_or_else(|| {
        PushError::ApiKeyMissing(format!(
            "Secret {ns}/{} has no (non-empty) key {:?}",
            r.name, r.key
        ))
    })
}

/// Finalizer cleanup per deletionPolicy. If the EntraTenant is gone nothing can be cleaned: drop the
/// finalizer with a Warning rather than block deletion forever.
async fn cleanup(cr: Arc<NocoBaseMailIntegration>, ctx: &Context) -> Result<Action> {
    let name = &cr.spec.tenant_ref.name;
    let Some(tenant) = Api::<EntraTenant>::all(ctx.client.clone())
        .get_opt(name)
        .await?
    else {
        publish(
            ctx,
            &cr,
            EventType::Warning,
            "CleanupSkipped",
            format!("EntraTenant {name} no longer exists; the app registration and its client secrets were left in Entra"),
        )
        .await;
        return Ok(Action::await_change());
    };
    let graph = tenant::graph_client(ctx, &tenant).await?;
    let uid = cr.uid().ok_or(Error::MissingField("metadata.uid"))?;
    let adopted = cr.spec.application.existing_app_id.is_some();
    let status = cr.status.clone().unwrap_or_default();
    let app = match (
        &status.application_object_id,
        &cr.spec.application.existing_app_id,
    ) {
        (Some(id), _) => graph.get_application(id).await?,
        (None, Some(app_id)) => graph.get_application_by_app_id(app_id).await?,
        (None, None) => {
            graph
                .get_application_by_unique_name(&unique_name(&uid))
                .await?
        }
    };
    let Some(app) = app else {
        return Ok(Action::await_change());
    };
    // Adopted applications belong to someone else: never delete them, only revoke what we minted.
    if cr.spec.deletion_policy() == DeletionPolicy::Delete && !adopted {
        graph.delete_application(&app.id).await?;
        publish(
            ctx,
            &cr,
            EventType::Normal,
            "Deleted",
            format!("deleted application {}", app.app_id),
        )
        .await;
    } else {
        let mut revoked = 0;
        for c in app
            .password_credentials
            .iter()
            .filter(|c| tag::is_ours(c.display_name.as_deref(), &uid))
        {
            graph.remove_password(&app.id, &c.key_id).await?;
            revoked += 1;
        }
        publish(
            ctx,
            &cr,
            EventType::Normal,
            "Orphaned",
            format!("left application {} in Entra; revoked {revoked} client secret(s) minted by the operator", app.app_id),
        )
        .await;
    }
    Ok(Action::await_change())
}
