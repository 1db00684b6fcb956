//! `/servicePrincipals`: create for an application, read, delete.

use super::odata;
use super::routes::Key;
use super::{Ctx, GraphResult, Reply, Request};
use crate::error::GraphError;
use crate::faults::SpReplicationError;
use crate::model::{GRAPH_APP_ID, ServicePrincipal};
use crate::state::Stored;
use axum::http::StatusCode;
use serde_json::{Value, json};

fn resolve(ctx: &Ctx<'_>, key: &Key) -> Result<String, GraphError> {
    let found = match key {
        Key::Id(id) => ctx.tenant.sps.get(id),
        Key::Alt { value, .. } => ctx.tenant.sp_by_app_id(value),
    };
    match found {
        Some(sp) if sp.visible(ctx.now) => Ok(sp.value.id.clone()),
        _ => Err(GraphError::not_found(key.value())),
    }
}

fn render(ctx: &Ctx<'_>, sp: &ServicePrincipal) -> Value {
    odata::entity(
        ctx.graph_url,
        "servicePrincipals",
        serde_json::to_value(sp).unwrap_or_default(),
    )
}

pub(super) fn list(ctx: &mut Ctx<'_>, req: &Request<'_>) -> GraphResult {
    let items = ctx
        .tenant
        .sps
        .values()
        .filter(|s| s.visible(ctx.now))
        .map(|s| serde_json::to_value(&s.value).unwrap_or_default())
        .collect();
    let items = odata::filter(
        items,
        req.query("$filter"),
        &["appId", "displayName", "id", "servicePrincipalType"],
        "ServicePrincipal",
    )?;
    let select = req.query("$select");
    let items = items
        .into_iter()
        .map(|v| odata::select(v, select))
        .collect();
    Ok(Reply::Json(
        StatusCode::OK,
        odata::collection(ctx.graph_url, "servicePrincipals", items),
    ))
}

pub(super) fn get(ctx: &mut Ctx<'_>, key: &Key, req: &Request<'_>) -> GraphResult {
    let id = resolve(ctx, key)?;
    let sp = &ctx.tenant.sps[&id].value;
    Ok(Reply::Json(
        StatusCode::OK,
        odata::select(render(ctx, sp), req.query("$select")),
    ))
}

/// Entra's answer while the application has not replicated (or does not exist).
fn no_backing_application(app_id: &str) -> GraphError {
    let message = format!(
        "The appId '{app_id}' of the service principal does not reference a valid application object."
    );
    let mut err = GraphError::bad_request(message.clone());
    err.details = vec![json!({
        "code": "NoBackingApplicationObject",
        "message": message,
        "target": "appId",
    })];
    err
}

pub(super) fn create(ctx: &mut Ctx<'_>, req: &Request<'_>) -> GraphResult {
    let body = req.json()?;
    let app_id = body
        .get("appId")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| GraphError::bad_request("Property 'appId' is required."))?
        .to_string();
    if ctx.tenant.sp_by_app_id(&app_id).is_some() {
        return Err(GraphError::conflict(format!(
            "The service principal cannot be created, updated, or restored because the service principal name {app_id} is already in use."
        )));
    }
    let stored = ctx
        .tenant
        .app_id_by_app_id(&app_id)
        .and_then(|id| ctx.tenant.apps.get(&id))
        .ok_or_else(|| no_backing_application(&app_id))?;
    if !stored.visible(ctx.now) {
        return Err(match ctx.settings.sp_replication_error {
            SpReplicationError::NoBackingApplicationObject => no_backing_application(&app_id),
            // Entra's misleading answer for an application that has not replicated yet, wording verbatim (sic):
            // <https://github.com/hashicorp/terraform-provider-azuread/issues/992> ("This is a known API issue,
            // ... the error message here is both misleading and wrong"),
            // <https://github.com/hashicorp/terraform-provider-azuread/issues/611> (citing #581).
            SpReplicationError::Forbidden => GraphError::new(
                StatusCode::FORBIDDEN,
                "Authorization_RequestDenied",
                "When using this permission, the backing application of the service principal being created must in the local tenant",
            ),
        });
    }
    let app = stored.value.clone();
    let tags = match body.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|_| GraphError::invalid_value("tags", "ServicePrincipal"))?,
    };
    let account_enabled = body
        .get("accountEnabled")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let mut names = vec![app.app_id.clone()];
    names.extend(app.identifier_uris.iter().cloned());
    let sp = ServicePrincipal {
        id: crate::secrets::guid(),
        app_id: app.app_id.clone(),
        display_name: app.display_name.clone(),
        app_display_name: app.display_name.clone(),
        app_owner_organization_id: ctx.tenant_id.to_string(),
        account_enabled,
        service_principal_type: "Application".to_string(),
        sign_in_audience: app.sign_in_audience.clone(),
        service_principal_names: names,
        tags,
        oauth2_permission_scopes: Vec::new(),
    };
    let response = render(ctx, &sp);
    ctx.tenant.sps.insert(
        sp.id.clone(),
        Stored {
            value: sp,
            visible_at: ctx.visible_at(),
        },
    );
    Ok(Reply::Json(StatusCode::CREATED, response))
}

pub(super) fn delete(ctx: &mut Ctx<'_>, key: &Key) -> GraphResult {
    let id = resolve(ctx, key)?;
    if ctx.tenant.sps[&id].value.app_id == GRAPH_APP_ID {
        return Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ));
    }
    ctx.tenant.delete_sp(&id);
    Ok(Reply::NoContent)
}
