//! Service principal operations.

use super::client::{Call, GraphClient, RetryAlso};
use super::error::GraphError;
use super::model::{Collection, ServicePrincipal};
use reqwest::Method;
use serde_json::json;

impl GraphClient {
    /// `GET /servicePrincipals?$filter=appId eq '…'`; `None` when the app has no service principal.
    pub async fn get_service_principal_by_app_id(
        &self,
        app_id: &str,
    ) -> Result<Option<ServicePrincipal>, GraphError> {
        const ENDPOINT: &str = "/servicePrincipals?$filter=appId";
        let filter = format!("appId eq '{}'", app_id.replace('\'', "''"));
        let call = Call {
            method: Method::GET,
            endpoint: ENDPOINT,
            url: self.url("/servicePrincipals", Some(&filter))?,
            body: None,
            prefer: None,
            retry_also: RetryAlso::NONE,
            idempotent: true,
        };
        let list: Collection<ServicePrincipal> = self.execute(&call).await?.json(ENDPOINT)?;
        Ok(list.value.into_iter().find(|sp| sp.app_id == app_id))
    }

    /// Returns the app's service principal, creating it only if absent (no write in steady state).
    /// See [`Self::create_service_principal`] for the races Entra shows right after the app was created.
    pub async fn ensure_service_principal(
        &self,
        app_id: &str,
    ) -> Result<ServicePrincipal, GraphError> {
        if let Some(sp) = self.get_service_principal_by_app_id(app_id).await? {
            return Ok(sp);
        }
        self.create_service_principal(app_id).await
    }

    /// Creates the app's service principal without reading first: one request on the provisioning path, where
    /// it almost never exists yet. A 409 (it exists: an earlier attempt or another writer) reads it back.
    ///
    /// Right after the application was created Entra may not know it yet, and says so in three ways: 404,
    /// 400 NoBackingApplicationObject, or 403 Authorization_RequestDenied "When using this permission, the backing
    /// application of the service principal being created must in the local tenant"
    /// (hashicorp/terraform-provider-azuread#992, #581). All three are retried with backoff within the client's
    /// retry policy; any other 403 is a real permission problem and returned at once.
    pub async fn create_service_principal(
        &self,
        app_id: &str,
    ) -> Result<ServicePrincipal, GraphError> {
        const ENDPOINT: &str = "/servicePrincipals";
        let call = Call {
            method: Method::POST,
            endpoint: ENDPOINT,
            url: self.url("/servicePrincipals", None)?,
            body: Some(json!({ "appId": app_id })),
            prefer: None,
            retry_also: RetryAlso {
                not_found: true,
                no_backing_application: true,
                backing_application_not_local: true,
                ..RetryAlso::NONE
            },
            idempotent: true,
        };
        match self.execute(&call).await {
            Ok(reply) => reply.json(ENDPOINT),
            Err(e) if e.is_conflict() => {
                self.get_service_principal_by_app_id(app_id).await?.ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Object id of the Microsoft Graph service principal in this tenant (the resource of admin consent).
    /// Looked up once per client (one client per tenant) and kept: it never changes for a tenant.
    pub async fn microsoft_graph_service_principal_id(&self) -> Result<Option<String>, GraphError> {
        if let Some(id) = self.tenant_cache.graph_sp_id.get() {
            return Ok(Some(id.clone()));
        }
        let Some(sp) = self
            .get_service_principal_by_app_id(crate::api::GRAPH_RESOURCE_APP_ID)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(
            self.tenant_cache.graph_sp_id.get_or_init(|| sp.id).clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::test_server::{Step, fast_retry, serve};
    use reqwest::Method;
    use serde_json::json;
    use std::time::Duration;

    const REPLICATION_403: &str = "When using this permission, the backing application of the service principal being created must in the local tenant";

    #[tokio::test]
    async fn replication_403_is_retried() {
        let server = serve(
            vec![
                Step::new(
                    Method::GET,
                    "/servicePrincipals?",
                    200,
                    json!({"value": []}),
                ),
                Step::error(
                    Method::POST,
                    "/servicePrincipals",
                    403,
                    "Authorization_RequestDenied",
                    REPLICATION_403,
                ),
                Step::error(
                    Method::POST,
                    "/servicePrincipals",
                    403,
                    "Authorization_RequestDenied",
                    REPLICATION_403,
                ),
                Step::new(
                    Method::POST,
                    "/servicePrincipals",
                    201,
                    json!({"id": "sp1", "appId": "a1"}),
                ),
            ],
            fast_retry(),
            Duration::from_secs(5),
        )
        .await;
        let sp = server.client.ensure_service_principal("a1").await.unwrap();
        assert_eq!(sp.id, "sp1");
        server.assert_done();
    }

    #[tokio::test]
    async fn other_403s_are_not_retried() {
        let server = serve(
            vec![
                Step::new(
                    Method::GET,
                    "/servicePrincipals?",
                    200,
                    json!({"value": []}),
                ),
                Step::error(
                    Method::POST,
                    "/servicePrincipals",
                    403,
                    "Authorization_RequestDenied",
                    "Insufficient privileges to complete the operation.",
                ),
            ],
            fast_retry(),
            Duration::from_secs(5),
        )
        .await;
        let err = server
            .client
            .ensure_service_principal("a1")
            .await
            .unwrap_err();
        assert!(err.is_permanent(), "{err}");
        server.assert_done();
    }
}
