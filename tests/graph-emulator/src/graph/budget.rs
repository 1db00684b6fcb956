//! Entra's resource-unit throttling as the emulator models it: what a request costs, and charging it to the
//! tenant's budget (a 429 with Entra's throttle headers when it is spent).

use super::routes::{Entity, Target};
use super::{Extras, Request, applications, fault_error};
use crate::error::GraphError;
use crate::faults::{BudgetDecision, Charge, Injected};
use crate::state::{Inner, Tenant};
use axum::http::Method;
use chrono::{DateTime, Utc};

/// Charges the request to the (tenant, client) budget when one is configured; the headers Entra sends go to
/// `extras`.
pub(super) fn charge(
    inner: &mut Inner,
    (tenant_id, client_id): (&str, &str),
    method: &Method,
    target: &Target,
    request: &Request<'_>,
    now: DateTime<Utc>,
    extras: &mut Extras,
) -> Result<(), GraphError> {
    if let Some(budget) = inner.faults.throttle_budget
        && let Some(tenant) = inner.tenants.get(tenant_id)
    {
        let charge = charge_for(method, target, request, tenant);
        match inner
            .budget
            .charge(&budget, tenant_id, client_id, charge, now)
        {
            BudgetDecision::Allowed {
                resource_units,
                limit_percentage,
            } => {
                extras
                    .headers
                    .push(("x-ms-resource-unit", resource_units.to_string()));
                if let Some(share) = limit_percentage {
                    extras
                        .headers
                        .push(("x-ms-throttle-limit-percentage", format!("{share:.1}")));
                }
            }
            BudgetDecision::Throttled {
                retry_after,
                limit,
                reason,
            } => {
                extras.budget_throttled = true;
                extras.headers.push((
                    "x-ms-throttle-scope",
                    format!("Tenant_Application/{limit}/{client_id}/{tenant_id}"),
                ));
                extras
                    .headers
                    .push(("x-ms-throttle-information", reason.to_string()));
                return Err(fault_error(Injected::Throttle { retry_after }));
            }
        }
    }
    Ok(())
}

/// The request's cost under the identity and access throttling limits
/// (<https://learn.microsoft.com/graph/throttling-limits#identity-and-access-service-limits>): base cost 2 for
/// `GET applications`, `GET oauth2PermissionGrants` and `GET oauth2PermissionGrants/{id}`, 1 for anything else;
/// `$select` -1, `$expand` +1, `$top` below 20 -1, never below 1. POST/PATCH/PUT/DELETE also cost one write, and
/// writes on `applications` whose signInAudience is a personal-account one count against their own quota.
fn charge_for(method: &Method, target: &Target, req: &Request<'_>, tenant: &Tenant) -> Charge {
    let read = *method == Method::GET;
    let mut cost: i64 = match (target.entity, &target.key, target.action.as_deref()) {
        (Entity::Applications, None, None) if read => 2,
        (Entity::Grants, _, None) if read => 2,
        _ => 1,
    };
    if req.query("$select").is_some() {
        cost -= 1;
    }
    if req.query("$expand").is_some() {
        cost += 1;
    }
    if req
        .query("$top")
        .and_then(|t| t.trim().parse::<u64>().ok())
        .is_some_and(|t| t < 20)
    {
        cost -= 1;
    }
    let personal_app_write = !read
        && target.entity == Entity::Applications
        && applications::write_targets_personal_app(tenant, target.key.as_ref(), req);
    Charge {
        resource_units: u32::try_from(cost.max(1)).unwrap_or(1),
        write: !read,
        personal_app_write,
    }
}
