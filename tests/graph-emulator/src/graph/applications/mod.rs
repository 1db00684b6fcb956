//! `/applications`: upsert by uniqueName, CRUD; addPassword / removePassword in [`passwords`], how a body changes an
//! app in [`patch`], Entra's rules on the result in [`validation`].

mod passwords;
mod patch;
mod validation;

pub(super) use passwords::{add_password, remove_password};

use super::odata;
use super::routes::Key;
use super::{Ctx, GraphResult, Reply, Request};
use crate::error::GraphError;
use crate::model::{ApiApplication, Application, WebApplication};
use crate::state::{Stored, Tenant};
use axum::http::StatusCode;
use patch::apply_patch;
use serde_json::{Map, Value};
use validation::validate_application;

/// Audiences that include personal Microsoft accounts.
const PERSONAL_AUDIENCES: &[&str] = &[
    "AzureADandPersonalMicrosoftAccount",
    "PersonalMicrosoftAccount",
];

pub(super) fn is_personal(audience: &str) -> bool {
    PERSONAL_AUDIENCES.contains(&audience)
}

/// The application a key names, replicated or not.
fn find<'t>(tenant: &'t Tenant, key: &Key) -> Option<&'t Stored<Application>> {
    match key {
        Key::Id(id) => tenant.apps.get(id),
        Key::Alt { property, value } => tenant.apps.values().find(|a| match *property {
            "appId" => a.value.app_id.eq_ignore_ascii_case(value),
            _ => a
                .value
                .unique_name
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(value)),
        }),
    }
}

/// Whether a write on `/applications` concerns an app whose audience includes personal accounts (the audience the
/// body sets, else the addressed app's current one), for the throttling quota of such writes.
pub(super) fn write_targets_personal_app(
    tenant: &Tenant,
    key: Option<&Key>,
    req: &Request<'_>,
) -> bool {
    let requested = req.json().ok().and_then(|body| {
        body.get("signInAudience")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    match requested {
        Some(audience) => is_personal(&audience),
        None => key
            .and_then(|k| find(tenant, k))
            .is_some_and(|a| is_personal(&a.value.sign_in_audience)),
    }
}

fn resolve(ctx: &Ctx<'_>, key: &Key, honour_lag: bool) -> Result<String, GraphError> {
    match find(ctx.tenant, key) {
        Some(app) if !honour_lag || app.visible(ctx.now) => Ok(app.value.id.clone()),
        _ => Err(GraphError::not_found(key.value())),
    }
}

fn render(ctx: &Ctx<'_>, app: &Application) -> Value {
    odata::entity(
        ctx.graph_url,
        "applications",
        serde_json::to_value(app).unwrap_or_default(),
    )
}

pub(super) fn list(ctx: &mut Ctx<'_>, req: &Request<'_>) -> GraphResult {
    let items = ctx
        .tenant
        .apps
        .values()
        .filter(|a| a.visible(ctx.now))
        .map(|a| serde_json::to_value(&a.value).unwrap_or_default())
        .collect();
    let items = odata::filter(
        items,
        req.query("$filter"),
        &[
            "appId",
            "displayName",
            "uniqueName",
            "id",
            "publisherDomain",
            "signInAudience",
        ],
        "Application",
    )?;
    let select = req.query("$select");
    let items = items
        .into_iter()
        .map(|v| odata::select(v, select))
        .collect();
    Ok(Reply::Json(
        StatusCode::OK,
        odata::collection(ctx.graph_url, "applications", items),
    ))
}

pub(super) fn get(ctx: &mut Ctx<'_>, key: &Key, req: &Request<'_>) -> GraphResult {
    let id = resolve(ctx, key, true)?;
    let app = &ctx.tenant.apps[&id].value;
    Ok(Reply::Json(
        StatusCode::OK,
        odata::select(render(ctx, app), req.query("$select")),
    ))
}

pub(super) fn create(ctx: &mut Ctx<'_>, req: &Request<'_>) -> GraphResult {
    let body = req.json()?;
    insert_new(ctx, None, &body)
}

/// PATCH: update; with `Prefer: create-if-missing` on a uniqueName key, an upsert.
///
/// Upserts see objects still inside the replication lag window: uniqueName is an alternate key Entra enforces
/// strongly, so a retried upsert updates rather than duplicates.
pub(super) fn patch(ctx: &mut Ctx<'_>, key: &Key, req: &Request<'_>) -> GraphResult {
    let body = req.json()?;
    let id = match key {
        Key::Alt {
            property: "uniqueName",
            value,
        } => match resolve(ctx, key, false) {
            Ok(id) => id,
            Err(_) if req.create_if_missing => return insert_new(ctx, Some(value.clone()), &body),
            Err(err) => return Err(err),
        },
        _ => resolve(ctx, key, true)?,
    };
    let stored = ctx
        .tenant
        .apps
        .get_mut(&id)
        .ok_or_else(|| GraphError::not_found(&id))?;
    let mut updated = stored.value.clone();
    apply_patch(&mut updated, &body, false)?;
    validate_application(&updated, ctx.settings.cloud)?;
    stored.value = updated;
    Ok(Reply::NoContent)
}

fn insert_new(
    ctx: &mut Ctx<'_>,
    unique_name: Option<String>,
    body: &Map<String, Value>,
) -> GraphResult {
    let mut app = Application {
        id: crate::secrets::guid(),
        app_id: crate::secrets::guid(),
        unique_name,
        display_name: None,
        description: None,
        notes: None,
        sign_in_audience: "AzureADMyOrg".to_string(),
        publisher_domain: publisher_domain(ctx.tenant_id),
        created_date_time: ctx.now,
        identifier_uris: Vec::new(),
        tags: Vec::new(),
        web: WebApplication::default(),
        api: ApiApplication::default(),
        required_resource_access: Vec::new(),
        password_credentials: Vec::new(),
        extra: Map::new(),
    };
    apply_patch(&mut app, body, true)?;
    if app
        .display_name
        .as_deref()
        .is_none_or(|d| d.trim().is_empty())
    {
        return Err(GraphError::bad_request(
            "Property 'displayName' is required and cannot be empty.",
        ));
    }
    validate_application(&app, ctx.settings.cloud)?;
    let response = render(ctx, &app);
    ctx.tenant.apps.insert(
        app.id.clone(),
        Stored {
            value: app,
            visible_at: ctx.visible_at(),
        },
    );
    Ok(Reply::Json(StatusCode::CREATED, response))
}

fn publisher_domain(tenant_id: &str) -> String {
    let label: String = tenant_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    format!("{}.onmicrosoft.com", label.to_ascii_lowercase())
}

pub(super) fn delete(ctx: &mut Ctx<'_>, key: &Key) -> GraphResult {
    let id = resolve(ctx, key, true)?;
    ctx.tenant.delete_app(&id);
    Ok(Reply::NoContent)
}
