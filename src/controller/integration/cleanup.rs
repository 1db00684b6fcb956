//! Finalizer: what deleting an integration does in Entra, per deletionPolicy. If the EntraTenant is gone nothing
//! can be cleaned: drop the finalizer with a Warning rather than block deletion forever.

use std::sync::Arc;

use kube::{Api, ResourceExt, runtime::controller::Action};

use super::{application::unique_name, report};
use crate::{
    api::{DeletionPolicy, EntraTenant},
    controller::{
        CachedIntegration, Context,
        error::{Error, Result},
        tenant,
    },
    planner::tag,
};

pub async fn run(cached: Arc<CachedIntegration>, ctx: &Context) -> Result<Action> {
    // The cache keeps a small copy (no application spec, no status ids): clean up after the object as it is.
    let Some(cr) = super::observe::fresh(ctx, &*cached).await? else {
        return Ok(Action::await_change());
    };
    let name = &cr.spec.tenant_ref.name;
    let Some(t) = Api::<EntraTenant>::all(ctx.client.clone())
        .get_opt(name)
        .await?
    else {
        report::event(
            ctx,
            &cr,
            true,
            "CleanupSkipped",
            format!("EntraTenant {name} no longer exists; the app registration and its client secrets were left in Entra"),
        )
        .await;
        return Ok(Action::await_change());
    };
    let graph = tenant::graph_client(ctx, &t).await?;
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
        report::event(
            ctx,
            &cr,
            false,
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
        report::event(
            ctx,
            &cr,
            false,
            "Orphaned",
            format!("left application {} in Entra; revoked {revoked} client secret(s) minted by the operator", app.app_id),
        )
        .await;
    }
    Ok(Action::await_change())
}
