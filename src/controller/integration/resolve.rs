//! Step 2: the EntraTenant this integration names, whether it lets this namespace in, and its Graph client.

use kube::{Api, ResourceExt};

use super::{StepError, status::Run};
use crate::{
    api::{EntraTenant, NocoBaseMailIntegration, conditions::TENANT_READY},
    controller::{Context, error::Error, tenant},
    graph::GraphClient,
};

pub async fn tenant(
    ctx: &Context,
    cr: &NocoBaseMailIntegration,
    run: &mut Run,
) -> Result<(EntraTenant, GraphClient), StepError> {
    let name = &cr.spec.tenant_ref.name;
    let inner = async {
        let tenant = Api::<EntraTenant>::all(ctx.client.clone())
            .get_opt(name)
            .await?
            .ok_or_else(|| Error::TenantNotFound(name.clone()))?;
        let ns = cr.namespace().unwrap_or_default();
        if !tenant::allows(ctx, &tenant, &ns).await? {
            return Err(Error::NamespaceNotAllowed {
                tenant: name.clone(),
                namespace: ns,
            });
        }
        let graph = tenant::graph_client(ctx, &tenant).await?;
        Ok((tenant, graph))
    };
    let (tenant, graph) = inner.await.map_err(StepError::Tenant)?;
    run.status.tenant_id = Some(tenant.spec.tenant_id.clone());
    run.set(
        TENANT_READY,
        true,
        "Resolved",
        format!("using EntraTenant {name}"),
    );
    Ok((tenant, graph))
}
