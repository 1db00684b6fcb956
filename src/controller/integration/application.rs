//! Step 3: the app registration (created, or adopted), its service principal and optional admin consent.
//! What the app should look like is decided purely ([`desired`]); this module's IO only applies differences.

use kube::ResourceExt;

use super::{StepError, snapshot::Snapshot, status::Run};
use crate::{
    api::{
        EntraTenant, GRAPH_RESOURCE_APP_ID, NocoBaseMailIntegration, SignInAudience,
        conditions::{ADMIN_CONSENT_GRANTED, APPLICATION_READY},
    },
    controller::error::Error,
    graph::{
        ApiApplication, Application, ApplicationUpsert, GraphClient, RequiredResourceAccess,
        ResourceAccess, WebApplication,
    },
};

/// uniqueName of the app we create: stable per CR, so a lost status never creates a second app.
pub fn unique_name(uid: &str) -> String {
    format!("entramail-{uid}")
}

/// The `api` property a personal-account audience requires in the same request (Entra rejects the audience
/// otherwise: "Property api.requestedAccessTokenVersion is invalid."; docs/entra.md).
fn api_for(audience: SignInAudience) -> Option<ApiApplication> {
    audience
        .allows_personal_accounts()
        .then_some(ApiApplication {
            requested_access_token_version: Some(2),
        })
}

/// Our delegated Graph scopes merged into `existing` (other resources and permissions are kept).
fn merged_access(
    cr: &NocoBaseMailIntegration,
    existing: &[RequiredResourceAccess],
) -> Vec<RequiredResourceAccess> {
    let ours: Vec<ResourceAccess> = cr
        .spec
        .delegated_scopes()
        .iter()
        .map(|s| ResourceAccess {
            id: s.id.to_string(),
            kind: "Scope".into(),
        })
        .collect();
    let mut out = existing.to_vec();
    match out.iter_mut().find(|r| {
        r.resource_app_id
            .eq_ignore_ascii_case(GRAPH_RESOURCE_APP_ID)
    }) {
        Some(graph) => {
            for a in ours {
                if !graph
                    .resource_access
                    .iter()
                    .any(|h| h.id.eq_ignore_ascii_case(&a.id) && h.kind == a.kind)
                {
                    graph.resource_access.push(a);
                }
            }
        }
        None => out.push(RequiredResourceAccess {
            resource_app_id: GRAPH_RESOURCE_APP_ID.to_string(),
            resource_access: ours,
        }),
    }
    out
}

/// The application shape the spec asks for. `adopted`: the app someone else created (existingAppId): only what
/// the spec sets is changed (audience, name), our scopes and redirect URIs are added to what it has, nothing
/// is removed.
pub fn desired(cr: &NocoBaseMailIntegration, adopted: Option<&Application>) -> ApplicationUpsert {
    let app = &cr.spec.application;
    let ns = cr.namespace().unwrap_or_default();
    match adopted {
        None => {
            let audience = app.created_app_audience();
            ApplicationUpsert {
                display_name: Some(app.display_name(&ns, &cr.name_any())),
                sign_in_audience: Some(audience.as_graph_str().to_string()),
                api: api_for(audience),
                required_resource_access: Some(merged_access(cr, &[])),
                web: Some(WebApplication {
                    redirect_uris: app.effective_redirect_uris(),
                }),
                tags: None,
                notes: None,
            }
        }
        Some(have) => {
            let mut uris = have
                .web
                .as_ref()
                .map(|w| w.redirect_uris.clone())
                .unwrap_or_default();
            for u in app.effective_redirect_uris() {
                if !uris.contains(&u) {
                    uris.push(u);
                }
            }
            ApplicationUpsert {
                display_name: app.display_name.clone(),
                sign_in_audience: app.sign_in_audience.map(|a| a.as_graph_str().to_string()),
                api: app.sign_in_audience.and_then(api_for),
                required_resource_access: Some(merged_access(cr, &have.required_resource_access)),
                web: Some(WebApplication {
                    redirect_uris: uris,
                }),
                tags: None,
                notes: None,
            }
        }
    }
}

/// Entra's limit on client secrets for an app with this (live) audience: 2 when personal accounts may sign in.
pub fn max_secrets(app: &Application) -> Option<usize> {
    matches!(
        app.sign_in_audience.as_deref(),
        Some("AzureADandPersonalMicrosoftAccount" | "PersonalMicrosoftAccount")
    )
    .then_some(2)
}

/// Personal-account audiences do not exist in the national clouds (docs/entra.md): say so before Graph does.
fn check_cloud(cr: &NocoBaseMailIntegration, tenant: &EntraTenant) -> Result<(), Error> {
    let personal = match (
        &cr.spec.application.existing_app_id,
        cr.spec.application.sign_in_audience,
    ) {
        (_, Some(a)) => a.allows_personal_accounts(),
        (None, None) => SignInAudience::default().allows_personal_accounts(),
        (Some(_), None) => false,
    };
    let national = matches!(
        tenant.spec.cloud,
        crate::api::Cloud::AzureUsGovernment | crate::api::Cloud::AzureChina
    );
    if personal && national {
        return Err(Error::InvalidSpec(format!(
            "personal Microsoft accounts cannot sign in to apps in the {:?} cloud: set spec.application.signInAudience to AzureADMyOrg or AzureADMultipleOrgs",
            tenant.spec.cloud
        )));
    }
    Ok(())
}

/// Creates or updates the app registration, then its service principal and (if asked) admin consent.
pub async fn ensure(
    cr: &NocoBaseMailIntegration,
    tenant: &EntraTenant,
    graph: &GraphClient,
    run: &mut Run,
) -> Result<Application, StepError> {
    let app = ensure_app(cr, tenant, graph, run)
        .await
        .map_err(StepError::Application)?;
    // First provisioning creates without reading first (409 reads back); later reconciles only read.
    let sp = match run.status.service_principal_id {
        None => graph.create_service_principal(&app.app_id).await,
        Some(_) => graph.ensure_service_principal(&app.app_id).await,
    }
    .map_err(|e| StepError::Application(e.into()))?;
    record_app(&app, &sp.id, run);
    if cr.spec.application.admin_consent {
        consent(cr, tenant, graph, &sp.id)
            .await
            .map_err(StepError::Consent)?;
        record_consent(cr, run);
    }
    Ok(app)
}

/// What [`ensure`] records, from a snapshot of a quiet reconcile (no Graph request).
pub fn from_snapshot(cr: &NocoBaseMailIntegration, snap: &Snapshot, run: &mut Run) -> Application {
    record_app(&snap.app, &snap.service_principal_id, run);
    if cr.spec.application.admin_consent {
        record_consent(cr, run);
    }
    snap.app.clone()
}

/// The drift check: one request, the application by object id. `None` when it is gone or no longer matches the
/// spec: the caller then reads (and repairs) everything live.
pub async fn recheck(
    cr: &NocoBaseMailIntegration,
    graph: &GraphClient,
    snap: &Snapshot,
    run: &mut Run,
) -> Result<Option<Application>, StepError> {
    let Some(app) = graph
        .get_application(&snap.app.id)
        .await
        .map_err(|e| StepError::Application(e.into()))?
    else {
        return Ok(None);
    };
    let adopted = cr.spec.application.existing_app_id.is_some();
    let want = desired(cr, adopted.then_some(&app));
    if app.app_id != snap.app.app_id || !want.is_satisfied_by(&app) {
        return Ok(None);
    }
    let snap = Snapshot {
        app,
        ..snap.clone()
    };
    Ok(Some(from_snapshot(cr, &snap, run)))
}

fn record_app(app: &Application, sp_id: &str, run: &mut Run) {
    run.status.app_id = Some(app.app_id.clone());
    run.status.application_object_id = Some(app.id.clone());
    run.status.service_principal_id = Some(sp_id.to_string());
    run.set(
        APPLICATION_READY,
        true,
        "Provisioned",
        format!("application {} with service principal", app.app_id),
    );
}

fn record_consent(cr: &NocoBaseMailIntegration, run: &mut Run) {
    run.set(
        ADMIN_CONSENT_GRANTED,
        true,
        "Granted",
        format!("tenant-wide consent for {}", consent_scope(cr)),
    );
}

/// The consent's scope: our delegated scopes, space-separated (as oauth2PermissionGrant.scope wants them).
fn consent_scope(cr: &NocoBaseMailIntegration) -> String {
    cr.spec
        .delegated_scopes()
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(" ")
}

async fn ensure_app(
    cr: &NocoBaseMailIntegration,
    tenant: &EntraTenant,
    graph: &GraphClient,
    run: &mut Run,
) -> Result<Application, Error> {
    check_cloud(cr, tenant)?;
    let uid = cr.uid().ok_or(Error::MissingField("metadata.uid"))?;
    let app = if let Some(app_id) = &cr.spec.application.existing_app_id {
        let app = graph
            .get_application_by_app_id(app_id)
            .await?
            .ok_or_else(|| Error::AdoptedAppNotFound(app_id.clone()))?;
        if run.status.app_id.is_none() {
            run.event("Adopted", format!("adopted existing application {app_id}"));
        }
        let want = desired(cr, Some(&app));
        if want.is_satisfied_by(&app) {
            app
        } else {
            graph.update_application(&app.id, &want).await?;
            run.event(
                "Updated",
                format!("updated application {app_id} to match the spec"),
            );
            // Keep what we know now (the audience decides Entra's limit on client secrets).
            Application {
                sign_in_audience: want.sign_in_audience.or(app.sign_in_audience.clone()),
                ..app
            }
        }
    } else {
        let want = desired(cr, None);
        let name = unique_name(&uid);
        // Never provisioned (no object id in status): the app almost surely does not exist, so upsert without
        // reading first (the upsert is idempotent on uniqueName and its 201 carries the app).
        let existing = match run.status.application_object_id {
            None => None,
            Some(_) => graph.get_application_by_unique_name(&name).await?,
        };
        match existing {
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
                );
                app
            }
        }
    };
    run.status.app_id = Some(app.app_id.clone());
    run.status.application_object_id = Some(app.id.clone());
    Ok(app)
}

async fn consent(
    cr: &NocoBaseMailIntegration,
    tenant: &EntraTenant,
    graph: &GraphClient,
    sp_id: &str,
) -> Result<(), Error> {
    let graph_sp_id = graph
        .microsoft_graph_service_principal_id()
        .await?
        .ok_or_else(|| Error::TenantConfig {
            tenant: tenant.name_any(),
            message: "the Microsoft Graph service principal is missing in the tenant".into(),
        })?;
    let scope = consent_scope(cr);
    // Not granted yet as far as status knows: create first (409 reads back and fixes the scope); once granted,
    // later reconciles only read.
    if cr
        .status
        .as_ref()
        .is_some_and(|s| crate::api::is_condition_true(&s.conditions, ADMIN_CONSENT_GRANTED))
    {
        graph
            .ensure_admin_consent(sp_id, &graph_sp_id, &scope)
            .await?;
    } else {
        graph
            .grant_admin_consent(sp_id, &graph_sp_id, &scope)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "application_tests.rs"]
mod tests;
