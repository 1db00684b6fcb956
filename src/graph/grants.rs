//! Tenant-wide admin consent (`oauth2PermissionGrants` with consentType AllPrincipals).

use super::client::{Call, GraphClient, RetryAlso, encode_component};
use super::error::GraphError;
use super::model::{CONSENT_ALL_PRINCIPALS, Collection, OAuth2PermissionGrant};
use reqwest::Method;
use serde_json::json;

impl GraphClient {
    /// Lists the delegated permission grants whose client is `client_sp_id`.
    pub async fn list_permission_grants(
        &self,
        client_sp_id: &str,
    ) -> Result<Vec<OAuth2PermissionGrant>, GraphError> {
        const ENDPOINT: &str = "/oauth2PermissionGrants?$filter=clientId";
        let filter = format!("clientId eq '{}'", client_sp_id.replace('\'', "''"));
        let call = Call {
            method: Method::GET,
            endpoint: ENDPOINT,
            url: self.url("/oauth2PermissionGrants", Some(&filter))?,
            body: None,
            prefer: None,
            retry_also: RetryAlso::NONE,
        };
        let list: Collection<OAuth2PermissionGrant> = self.execute(&call).await?.json(ENDPOINT)?;
        Ok(list
            .value
            .into_iter()
            .filter(|g| g.client_id == client_sp_id)
            .collect())
    }

    /// Makes sure `client_sp_id` has tenant-wide consent for exactly `scope` (space-separated) on
    /// `resource_sp_id`: creates the grant if missing, patches its scope if different, writes nothing if equal.
    pub async fn ensure_admin_consent(
        &self,
        client_sp_id: &str,
        resource_sp_id: &str,
        scope: &str,
    ) -> Result<OAuth2PermissionGrant, GraphError> {
        let existing = self
            .list_permission_grants(client_sp_id)
            .await?
            .into_iter()
            .find(|g| g.resource_id == resource_sp_id && g.consent_type == CONSENT_ALL_PRINCIPALS);
        if let Some(mut grant) = existing {
            if grant.has_same_scopes(scope) {
                return Ok(grant);
            }
            let call = Call {
                method: Method::PATCH,
                endpoint: "/oauth2PermissionGrants/{id}",
                url: self.url(
                    &format!("/oauth2PermissionGrants/{}", encode_component(&grant.id)),
                    None,
                )?,
                body: Some(json!({ "scope": scope })),
                prefer: None,
                retry_also: RetryAlso::NONE,
            };
            self.execute(&call).await?;
            grant.scope = scope.to_owned();
            return Ok(grant);
        }
        const ENDPOINT: &str = "/oauth2PermissionGrants";
        let call = Call {
            method: Method::POST,
            endpoint: ENDPOINT,
            url: self.url("/oauth2PermissionGrants", None)?,
            body: Some(json!({
                "clientId": client_sp_id,
                "consentType": CONSENT_ALL_PRINCIPALS,
                "resourceId": resource_sp_id,
                "scope": scope,
            })),
            prefer: None,
            // A service principal created a moment ago may not be visible to the grant API yet.
            retry_also: RetryAlso {
                not_found: true,
                ..RetryAlso::NONE
            },
        };
        self.execute(&call).await?.json(ENDPOINT)
    }
}
