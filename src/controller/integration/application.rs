//! Step 3: the app registration (created, or adopted), its service principal and optional admin consent.
//! What the app should look like is decided purely ([`desired`]); this module's IO only applies differences.

use kube::ResourceExt;

use super::{StepError, status::Run};
use crate::{
    api::{
        EntraTenant, NocoBaseMailIntegration, SignInAudience,
        conditions::{ADMIN_CONSENT_GRANTED, APPLICATION_READY},
    },
    controller::{Context, error::Error},
    graph::{
        ApiApplication, Application, ApplicationUpsert, GraphClient, MICROSOFT_GRAPH_APP_ID,
        RequiredResourceAccess, ResourceAccess, WebApplication,
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
            .eq_ignore_ascii_case(MICROSOFT_GRAPH_APP_ID)
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
            resource_app_id: MICROSOFT_GRAPH_APP_ID.to_string(),
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
    ctx: &Context,
    cr: &NocoBaseMailIntegration,
    tenant: &EntraTenant,
    graph: &GraphClient,
    run: &mut Run,
) -> Result<Application, StepError> {
    let app = ensure_app(cr, tenant, graph, run)
        .await
        .map_err(StepError::Application)?;
    let sp = graph
        .ensure_service_principal(&app.app_id)
        .await
        .map_err(|e| StepError::Application(e.into()))?;
    run.status.service_principal_id = Some(sp.id.clone());
    run.set(
        APPLICATION_READY,
        true,
        "Provisioned",
        format!("application {} with service principal", app.app_id),
    );
    if cr.spec.application.admin_consent {
        consent(ctx, cr, tenant, graph, &sp.id, run)
            .await
            .map_err(StepError::Consent)?;
    }
    Ok(app)
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
    _ctx: &Context,
    cr: &NocoBaseMailIntegration,
    tenant: &EntraTenant,
    graph: &GraphClient,
    sp_id: &str,
    run: &mut Run,
) -> Result<(), Error> {
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
        .ensure_admin_consent(sp_id, &graph_sp.id, &scope)
        .await?;
    run.set(
        ADMIN_CONSENT_GRANTED,
        true,
        "Granted",
        format!("tenant-wide consent for {scope}"),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cr(app: serde_json::Value) -> NocoBaseMailIntegration {
        serde_json::from_value(json!({
            "apiVersion": "entramail.io/v1alpha1", "kind": "NocoBaseMailIntegration",
            "metadata": {"name": "mail", "namespace": "ns", "uid": "u1"},
            "spec": {"tenantRef": {"name": "t"}, "application": app},
        }))
        .unwrap()
    }

    #[test]
    fn created_app_with_default_audience_asks_for_v2_tokens_in_the_same_request() {
        let want = desired(
            &cr(json!({"nocobaseOrigin": "https://nb.example.com"})),
            None,
        );
        assert_eq!(
            want.sign_in_audience.as_deref(),
            Some("AzureADandPersonalMicrosoftAccount")
        );
        assert_eq!(want.api.unwrap().requested_access_token_version, Some(2));
        let body = serde_json::to_value(desired(
            &cr(json!({"nocobaseOrigin": "https://nb.example.com"})),
            None,
        ))
        .unwrap();
        assert_eq!(body["api"]["requestedAccessTokenVersion"], 2);
        assert_eq!(
            body["requiredResourceAccess"][0]["resourceAccess"]
                .as_array()
                .unwrap()
                .len(),
            5
        );
    }

    #[test]
    fn organisational_audience_leaves_the_api_property_alone() {
        let want = desired(
            &cr(
                json!({"nocobaseOrigin": "https://nb.example.com", "signInAudience": "AzureADMyOrg"}),
            ),
            None,
        );
        assert!(want.api.is_none());
        assert!(serde_json::to_value(&want).unwrap().get("api").is_none());
    }

    fn adopted() -> Application {
        serde_json::from_value(json!({
            "id": "obj", "appId": "66666666-7777-8888-9999-000000000000", "displayName": "Theirs",
            "signInAudience": "AzureADMultipleOrgs",
            "requiredResourceAccess": [
                {"resourceAppId": "00000002-0000-0ff1-ce00-000000000000", "resourceAccess": [{"id": "x", "type": "Scope"}]},
                {"resourceAppId": MICROSOFT_GRAPH_APP_ID, "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]}
            ],
            "web": {"redirectUris": ["https://theirs.example.com/cb"]}
        }))
        .unwrap()
    }

    #[test]
    fn adopted_app_keeps_its_audience_name_permissions_and_redirects() {
        let c = cr(json!({"nocobaseOrigin": "https://nb.example.com",
                          "existingAppId": "66666666-7777-8888-9999-000000000000"}));
        let want = desired(&c, Some(&adopted()));
        assert_eq!(want.sign_in_audience, None, "audience not set by the spec");
        assert!(want.api.is_none());
        assert_eq!(want.display_name, None, "its name is kept");
        let rra = want.required_resource_access.unwrap();
        assert_eq!(rra.len(), 2, "the other resource is kept");
        let graph = rra
            .iter()
            .find(|r| r.resource_app_id == MICROSOFT_GRAPH_APP_ID)
            .unwrap();
        assert_eq!(graph.resource_access.len(), 5, "User.Read not duplicated");
        assert_eq!(
            want.web.unwrap().redirect_uris,
            vec![
                "https://theirs.example.com/cb".to_string(),
                "https://nb.example.com/admin/settings/mail/oauth2".to_string()
            ]
        );
    }

    #[test]
    fn adopted_app_gets_the_audience_only_when_the_spec_names_it() {
        let c = cr(
            json!({"nocobaseOrigin": "https://nb.example.com", "signInAudience": "PersonalMicrosoftAccount",
                          "existingAppId": "66666666-7777-8888-9999-000000000000"}),
        );
        let want = desired(&c, Some(&adopted()));
        assert_eq!(
            want.sign_in_audience.as_deref(),
            Some("PersonalMicrosoftAccount")
        );
        assert_eq!(want.api.unwrap().requested_access_token_version, Some(2));
    }

    fn tenant(cloud: &str) -> EntraTenant {
        serde_json::from_value(json!({
            "apiVersion": "entramail.io/v1alpha1", "kind": "EntraTenant",
            "metadata": {"name": "t"},
            "spec": {"tenantId": "11111111-2222-3333-4444-555555555555", "cloud": cloud,
                     "auth": {"managedIdentity": {}}},
        }))
        .unwrap()
    }

    #[test]
    fn personal_accounts_in_a_national_cloud_are_refused_before_graph_is_asked() {
        let default = cr(json!({"nocobaseOrigin": "https://nb.example.com"}));
        let err = check_cloud(&default, &tenant("AzureUSGovernment")).unwrap_err();
        assert!(
            err.to_string()
                .contains("set spec.application.signInAudience"),
            "{err}"
        );
        assert!(err.is_permanent());
        assert!(check_cloud(&default, &tenant("AzureChina")).is_err());
        assert!(check_cloud(&default, &tenant("AzurePublic")).is_ok());
        let org = cr(
            json!({"nocobaseOrigin": "https://nb.example.com", "signInAudience": "AzureADMyOrg"}),
        );
        assert!(check_cloud(&org, &tenant("AzureChina")).is_ok());
        // An adopted app keeps its own audience: nothing to refuse up front.
        let adopted = cr(json!({"nocobaseOrigin": "https://nb.example.com",
                                "existingAppId": "66666666-7777-8888-9999-000000000000"}));
        assert!(check_cloud(&adopted, &tenant("AzureChina")).is_ok());
    }

    #[test]
    fn limit_of_two_secrets_follows_the_live_audience() {
        let mut a = adopted();
        assert_eq!(max_secrets(&a), None);
        a.sign_in_audience = Some("AzureADandPersonalMicrosoftAccount".into());
        assert_eq!(max_secrets(&a), Some(2));
    }
}
