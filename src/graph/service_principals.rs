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
        };
        let list: Collection<ServicePrincipal> = self.execute(&call).await?.json(ENDPOINT)?;
        Ok(list.value.into_iter().find(|sp| sp.app_id == app_id))
    }

    /// Returns the app's service principal, creating it only if absent (no write in steady state).
    ///
    /// Right after the application was created Entra may not know it yet (404 or
    /// 400 NoBackingApplicationObject): the create is retried with backoff. A 409 means another writer
    /// won the race; the existing one is read back.
    pub async fn ensure_service_principal(
        &self,
        app_id: &str,
    ) -> Result<ServicePrincipal, GraphError> {
        if let Some(sp) = self.get_service_principal_by_app_id(app_id).await? {
            return Ok(sp);
        }
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
                ..RetryAlso::NONE
            },
        };
        match self.execute(&call).await {
            Ok(reply) => reply.json(ENDPOINT),
            Err(e) if e.is_conflict() => {
                self.get_service_principal_by_app_id(app_id).await?.ok_or(e)
            }
            Err(e) => Err(e),
        }
    }
}
