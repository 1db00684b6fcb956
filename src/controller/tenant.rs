//! EntraTenant: turning the CR into a Graph client (cached), and the tenant controller (Ready = token obtainable).

use std::{collections::BTreeMap, path::PathBuf, sync::Arc, time::Duration};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
    runtime::controller::Action,
};
use serde_json::json;
use url::Url;

use super::{
    Context,
    error::{Error, Result},
    metrics::GraphRequestMetrics,
    secret::text,
    time,
};
use crate::{
    api::{
        self, AuthMethod as ApiAuth, Condition, ConditionStatus, EntraTenant, EntraTenantStatus,
        conditions,
    },
    auth::{self, Cloud},
    graph::{GraphClient, GraphConfig},
};

fn config_err(tenant: &EntraTenant, message: impl Into<String>) -> Error {
    Error::TenantConfig {
        tenant: tenant.name_any(),
        message: message.into(),
    }
}

fn parse_url(tenant: &EntraTenant, field: &str, s: &str) -> Result<Url> {
    Url::parse(s).map_err(|e| config_err(tenant, format!("{field} {s:?} is not a URL: {e}")))
}

/// The credential material the tenant points at, plus the resourceVersion that keys the client cache.
async fn auth_method(ctx: &Context, tenant: &EntraTenant) -> Result<(auth::AuthMethod, String)> {
    let method = tenant
        .spec
        .auth
        .method()
        .map_err(|e| config_err(tenant, e.to_string()))?;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.config.operator_namespace);
    let read = |name: String, key: String| {
        let secrets = secrets.clone();
        async move {
            let s = secrets.get_opt(&name).await?.ok_or_else(|| {
                config_err(
                    tenant,
                    format!("Secret {}/{name} not found", ctx.config.operator_namespace),
                )
            })?;
            let value = text(&s, &key).ok_or_else(|| {
                config_err(
                    tenant,
                    format!(
                        "Secret {}/{name} has no key {key:?}",
                        ctx.config.operator_namespace
                    ),
                )
            })?;
            Ok::<_, Error>((value, s.resource_version().unwrap_or_default()))
        }
    };
    Ok(match method {
        ApiAuth::ClientSecret(cs) => {
            let (secret, rv) = read(cs.secret_ref.name.clone(), cs.secret_ref.key.clone()).await?;
            (
                auth::AuthMethod::ClientSecret {
                    client_id: cs.client_id.clone(),
                    secret,
                },
                rv,
            )
        }
        ApiAuth::ClientCertificate(cc) => {
            let (pem, rv) = read(cc.secret_ref.name.clone(), cc.secret_ref.key.clone()).await?;
            (
                auth::AuthMethod::ClientCertificate {
                    client_id: cc.client_id.clone(),
                    certificate_pem_or_pkcs12: pem,
                    password: None,
                },
                rv,
            )
        }
        ApiAuth::WorkloadIdentity(wi) => (
            auth::AuthMethod::WorkloadIdentity {
                client_id: wi.client_id.clone(),
                token_file: PathBuf::from(&wi.token_file),
            },
            String::new(),
        ),
        ApiAuth::ManagedIdentity(mi) => (
            auth::AuthMethod::ManagedIdentity {
                client_id: mi.client_id.clone(),
            },
            String::new(),
        ),
    })
}

pub(crate) fn cloud(tenant: &EntraTenant) -> Result<Cloud> {
    Ok(match tenant.spec.cloud {
        api::Cloud::AzurePublic => Cloud::AzurePublic,
        api::Cloud::AzureUsGovernment => Cloud::AzureUSGovernment,
        api::Cloud::AzureChina => Cloud::AzureChina,
        api::Cloud::Custom => {
            let e = tenant
                .spec
                .resolved_endpoints()
                .map_err(|e| config_err(tenant, e.to_string()))?;
            Cloud::Custom {
                authority_host: parse_url(tenant, "endpoints.authorityHost", &e.authority_host)?,
                graph_endpoint: parse_url(tenant, "endpoints.graphEndpoint", &e.graph_endpoint)?,
            }
        }
    })
}

/// CA certificates to trust: the operator's (tests: the emulator's) plus the tenant's caBundle.
pub(crate) fn extra_ca(ctx: &Context, tenant: &EntraTenant) -> Option<String> {
    let parts: Vec<&str> = [
        ctx.config.extra_ca_pem.as_deref(),
        tenant.spec.ca_bundle.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.trim().is_empty())
    .collect();
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// A Graph client for the tenant, reused while the tenant's generation and credential Secret are unchanged.
pub async fn graph_client(ctx: &Context, tenant: &EntraTenant) -> Result<GraphClient> {
    let (method, rv) = auth_method(ctx, tenant).await?;
    let key = format!(
        "{}/{}/{}",
        tenant.uid().unwrap_or_default(),
        tenant.metadata.generation.unwrap_or_default(),
        rv
    );
    let name = tenant.name_any();
    if let Some((k, client)) = ctx.graphs.lock().await.get(&name)
        && *k == key
    {
        return Ok(client.clone());
    }
    let cloud = cloud(tenant)?;
    let ca = extra_ca(ctx, tenant);
    let credential = auth::credential(&tenant.spec.tenant_id, &cloud, &method, ca.as_deref())?;
    let mut cfg = GraphConfig::new(cloud.graph_base(), credential);
    cfg.extra_ca_pem = ca;
    cfg.retry = ctx.config.graph_retry.clone();
    cfg.metrics = Some(Arc::new(GraphRequestMetrics(
        ctx.metrics.clone(),
        name.clone(),
    )));
    let client = GraphClient::new(cfg)?;
    ctx.graphs.lock().await.insert(name, (key, client.clone()));
    Ok(client)
}

/// Whether the tenant lets `namespace` use it.
pub async fn allows(ctx: &Context, tenant: &EntraTenant, namespace: &str) -> Result<bool> {
    if tenant.spec.allowed_namespaces.is_none() {
        return Ok(true);
    }
    let labels: BTreeMap<String, String> = Api::<Namespace>::all(ctx.client.clone())
        .get_opt(namespace)
        .await?
        .map(|n| n.labels().clone())
        .unwrap_or_default();
    tenant
        .spec
        .allows_namespace(namespace, &labels)
        .map_err(|e| config_err(tenant, e.to_string()))
}

/// Tenant reconcile: Ready = a token can be obtained. Status written only when it changes.
#[tracing::instrument(skip_all, fields(tenant = tenant.name_any()))]
pub async fn reconcile(tenant: Arc<EntraTenant>, ctx: Arc<Context>) -> Result<Action> {
    ctx.metrics.reconciled("entratenant");
    let result = async {
        let client_credential = {
            let (method, _) = auth_method(&ctx, &tenant).await?;
            let ca = extra_ca(&ctx, &tenant);
            auth::credential(
                &tenant.spec.tenant_id,
                &cloud(&tenant)?,
                &method,
                ca.as_deref(),
            )?
        };
        client_credential
            .token()
            .await
            .map(drop)
            .map_err(Error::from)
    }
    .await;
    let generation = tenant.metadata.generation;
    let cond = match &result {
        Ok(()) => Condition::new(
            conditions::READY,
            ConditionStatus::True,
            "TokenAcquired",
            "a Microsoft Graph token was obtained",
            generation,
            time::to_time(time::now()),
        ),
        Err(e) => Condition::new(
            conditions::READY,
            ConditionStatus::False,
            e.reason(),
            e.to_string(),
            generation,
            time::to_time(time::now()),
        ),
    };
    let old = tenant.status.clone().unwrap_or_default();
    let (conds, changed) = api::merge_conditions(&old.conditions, [cond]);
    if changed || old.observed_generation != generation {
        let status = EntraTenantStatus {
            observed_generation: generation,
            conditions: conds,
            last_token_acquired_at: if result.is_ok() {
                Some(time::to_time(time::now()))
            } else {
                old.last_token_acquired_at.clone()
            },
        };
        Api::<EntraTenant>::all(ctx.client.clone())
            .patch_status(
                &tenant.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await?;
    }
    match result {
        // Re-check periodically: credentials expire and get revoked outside the cluster.
        Ok(()) => Ok(Action::requeue(ctx.config.tenant_recheck)),
        Err(e) => {
            tracing::warn!(error = %e, "tenant not ready");
            Ok(Action::requeue(
                ctx.config.backoff.max.min(Duration::from_secs(300)),
            ))
        }
    }
}
