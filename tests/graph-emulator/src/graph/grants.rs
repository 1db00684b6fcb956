//! `/oauth2PermissionGrants`: delegated permission grants (admin consent).

use super::odata;
use super::{Ctx, GraphResult, Reply, Request};
use crate::error::GraphError;
use crate::model::OAuth2PermissionGrant;
use crate::state::Stored;
use axum::http::StatusCode;
use serde_json::Value;

const RESOURCE: &str = "OAuth2PermissionGrant";

fn render(ctx: &Ctx<'_>, grant: &OAuth2PermissionGrant) -> Value {
    odata::entity(
        ctx.graph_url,
        "oauth2PermissionGrants",
        serde_json::to_value(grant).unwrap_or_default(),
    )
}

pub(super) fn list(ctx: &mut Ctx<'_>, req: &Request<'_>) -> GraphResult {
    let items = ctx
        .tenant
        .grants
        .values()
        .filter(|g| g.visible(ctx.now))
        .map(|g| serde_json::to_value(&g.value).unwrap_or_default())
        .collect();
    let items = odata::filter(
        items,
        req.query("$filter"),
        &["clientId", "resourceId", "consentType", "principalId", "id"],
        RESOURCE,
    )?;
    let select = req.query("$select");
    let items = items
        .into_iter()
        .map(|v| odata::select(v, select))
        .collect();
    Ok(Reply::Json(
        StatusCode::OK,
        odata::collection(ctx.graph_url, "oauth2PermissionGrants", items),
    ))
}

/// A grant replicates like other directory objects: invisible to reads and updates during the lag.
fn visible<'c>(ctx: &'c Ctx<'_>, id: &str) -> Result<&'c OAuth2PermissionGrant, GraphError> {
    ctx.tenant
        .grants
        .get(id)
        .filter(|g| g.visible(ctx.now))
        .map(|g| &g.value)
        .ok_or_else(|| GraphError::not_found(id))
}

pub(super) fn get(ctx: &mut Ctx<'_>, id: &str, req: &Request<'_>) -> GraphResult {
    let grant = visible(ctx, id)?;
    Ok(Reply::Json(
        StatusCode::OK,
        odata::select(render(ctx, grant), req.query("$select")),
    ))
}

fn string_field(
    body: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<String>, GraphError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(GraphError::invalid_value(name, RESOURCE)),
    }
}

/// Scope values must be ones the resource service principal publishes.
fn validate_scope(ctx: &Ctx<'_>, resource_id: &str, scope: &str) -> Result<(), GraphError> {
    let Some(resource) = ctx.tenant.sps.get(resource_id) else {
        return Err(GraphError::not_found(resource_id));
    };
    let published = &resource.value.oauth2_permission_scopes;
    if published.is_empty() {
        return Ok(());
    }
    match scope
        .split_whitespace()
        .find(|s| !published.iter().any(|p| p.value.eq_ignore_ascii_case(s)))
    {
        Some(unknown) => Err(GraphError::bad_request(format!(
            "Invalid value specified for property 'scope' of resource '{RESOURCE}': '{unknown}' is not a permission of the resource."
        ))),
        None => Ok(()),
    }
}

pub(super) fn create(ctx: &mut Ctx<'_>, req: &Request<'_>) -> GraphResult {
    let body = req.json()?;
    let client_id = string_field(&body, "clientId")?
        .ok_or_else(|| GraphError::invalid_value("clientId", RESOURCE))?;
    let resource_id = string_field(&body, "resourceId")?
        .ok_or_else(|| GraphError::invalid_value("resourceId", RESOURCE))?;
    let consent_type = string_field(&body, "consentType")?
        .ok_or_else(|| GraphError::invalid_value("consentType", RESOURCE))?;
    let principal_id = string_field(&body, "principalId")?;
    let scope = string_field(&body, "scope")?.unwrap_or_default();
    match (consent_type.as_str(), &principal_id) {
        ("AllPrincipals", None) | ("Principal", Some(_)) => {}
        _ => return Err(GraphError::invalid_value("consentType", RESOURCE)),
    }
    for id in [&client_id, &resource_id] {
        if !ctx.tenant.sps.get(id).is_some_and(|s| s.visible(ctx.now)) {
            return Err(GraphError::not_found(id));
        }
    }
    validate_scope(ctx, &resource_id, &scope)?;
    // One grant per (client, consentType, resource[, principal]); Entra answers a second one with 409
    // Request_MultipleObjectsWithSameKeyValue "Permission entry already exists."
    // (<https://github.com/hashicorp/terraform-provider-azuread/issues/690>). The key is enforced strongly: a grant
    // still replicating (invisible to GET) conflicts too.
    let duplicate = ctx.tenant.grants.values().map(|g| &g.value).any(|g| {
        g.client_id == client_id
            && g.resource_id == resource_id
            && g.consent_type == consent_type
            && g.principal_id == principal_id
    });
    if duplicate {
        return Err(GraphError::conflict("Permission entry already exists."));
    }
    let grant = OAuth2PermissionGrant {
        id: crate::secrets::grant_id(),
        client_id,
        consent_type,
        principal_id,
        resource_id,
        scope,
    };
    let response = render(ctx, &grant);
    let visible_at = ctx.visible_at();
    ctx.tenant.grants.insert(
        grant.id.clone(),
        Stored {
            value: grant,
            visible_at,
        },
    );
    Ok(Reply::Json(StatusCode::CREATED, response))
}

/// Only `scope` may change on an existing grant.
pub(super) fn patch(ctx: &mut Ctx<'_>, id: &str, req: &Request<'_>) -> GraphResult {
    let body = req.json()?;
    let resource_id = visible(ctx, id)?.resource_id.clone();
    let mut scope = None;
    for (name, value) in &body {
        match name.as_str() {
            n if n.starts_with('@') => {}
            "scope" => {
                scope = Some(
                    value
                        .as_str()
                        .ok_or_else(|| GraphError::invalid_value(name, RESOURCE))?
                        .to_string(),
                )
            }
            "id" | "clientId" | "resourceId" | "consentType" | "principalId" => {
                return Err(GraphError::bad_request(format!(
                    "Property '{name}' is read-only and cannot be set."
                )));
            }
            _ => return Err(GraphError::unknown_property(name)),
        }
    }
    if let Some(scope) = scope {
        validate_scope(ctx, &resource_id, &scope)?;
        if let Some(grant) = ctx.tenant.grants.get_mut(id) {
            grant.value.scope = scope;
        }
    }
    Ok(Reply::NoContent)
}

pub(super) fn delete(ctx: &mut Ctx<'_>, id: &str) -> GraphResult {
    visible(ctx, id)?;
    ctx.tenant.grants.remove(id);
    Ok(Reply::NoContent)
}
