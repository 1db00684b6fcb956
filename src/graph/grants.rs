//! Tenant-wide admin consent (`oauth2PermissionGrants` with consentType AllPrincipals).
//!
//! There is at most one grant per (client, resource, consentType[, principal]): a second create answers
//! `409 Request_MultipleObjectsWithSameKeyValue` "Permission entry already exists."
//! (hashicorp/terraform-provider-azuread#690). Grants replicate with a delay like every directory object
//! (<https://learn.microsoft.com/graph/api/oauth2permissiongrant-list>: "might have replication delays for
//! delegated permission grants that were recently created [...] minimized if a filter on clientId is specified"),
//! so a 409 can name a grant that a read does not return yet.

use super::client::{Call, GraphClient, RetryAlso, encode_component};
use super::error::GraphError;
use super::model::{CONSENT_ALL_PRINCIPALS, Collection, OAuth2PermissionGrant};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

impl GraphClient {
    /// The tenant-wide (AllPrincipals) grant of `client_sp_id` on `resource_sp_id`, if one is visible.
    ///
    /// `GET /oauth2PermissionGrants?$filter=clientId eq '…' and consentType eq 'AllPrincipals' and resourceId eq '…'`:
    /// clientId, consentType and resourceId all support `$filter` (`eq` only) per the oAuth2PermissionGrant
    /// resource reference, and filtering on clientId keeps the replication delay small (list reference above).
    /// The result is checked again here, so a server that ignored part of the filter cannot mislead us.
    pub async fn get_admin_consent(
        &self,
        client_sp_id: &str,
        resource_sp_id: &str,
    ) -> Result<Option<OAuth2PermissionGrant>, GraphError> {
        const ENDPOINT: &str = "/oauth2PermissionGrants?$filter=clientId,consentType,resourceId";
        let key = |v: &str| v.replace('\'', "''");
        let filter = format!(
            "clientId eq '{}' and consentType eq '{CONSENT_ALL_PRINCIPALS}' and resourceId eq '{}'",
            key(client_sp_id),
            key(resource_sp_id)
        );
        let call = Call {
            method: Method::GET,
            endpoint: ENDPOINT,
            url: self.url("/oauth2PermissionGrants", Some(&filter))?,
            body: None,
            prefer: None,
            retry_also: RetryAlso::NONE,
            idempotent: true,
        };
        let list: Collection<OAuth2PermissionGrant> = self.execute(&call).await?.json(ENDPOINT)?;
        Ok(list.value.into_iter().find(|g| {
            g.client_id == client_sp_id
                && g.resource_id == resource_sp_id
                && g.consent_type == CONSENT_ALL_PRINCIPALS
        }))
    }

    /// Makes sure `client_sp_id` has tenant-wide consent for exactly `scope` (space-separated) on
    /// `resource_sp_id`, reading first: in steady state this is one GET and no write.
    /// Creates the grant if none is visible; if the create answers 409 (the grant exists but had not replicated
    /// to our read, or a concurrent writer made it) it is re-read and its scope patched if different.
    /// Use [`Self::grant_admin_consent`] for a client service principal that was just created.
    pub async fn ensure_admin_consent(
        &self,
        client_sp_id: &str,
        resource_sp_id: &str,
        scope: &str,
    ) -> Result<OAuth2PermissionGrant, GraphError> {
        match self.get_admin_consent(client_sp_id, resource_sp_id).await? {
            Some(grant) => self.set_grant_scope(grant, scope).await,
            None => {
                self.grant_admin_consent(client_sp_id, resource_sp_id, scope)
                    .await
            }
        }
    }

    /// Like [`Self::ensure_admin_consent`] but creates first, saving the read on the critical path when the
    /// grant is most likely absent (a client service principal created moments ago). On
    /// `409 Request_MultipleObjectsWithSameKeyValue` the existing grant is read back, retrying within the
    /// client's retry policy while it has not replicated yet, and its scope is patched if it differs.
    /// Note: every call writes (a POST that may answer 409), so steady-state reconciles should use
    /// `ensure_admin_consent`.
    pub async fn grant_admin_consent(
        &self,
        client_sp_id: &str,
        resource_sp_id: &str,
        scope: &str,
    ) -> Result<OAuth2PermissionGrant, GraphError> {
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
            // A service principal created a moment ago may not be visible to the grant API yet. The create is
            // safe to re-send: a duplicate answers 409, handled below.
            retry_also: RetryAlso {
                not_found: true,
                ..RetryAlso::NONE
            },
            idempotent: true,
        };
        let conflict = match self.execute(&call).await {
            Ok(reply) => return reply.json(ENDPOINT),
            Err(e) if e.is_conflict() => e,
            Err(e) => return Err(e),
        };
        let grant = self
            .reread_existing_grant(client_sp_id, resource_sp_id)
            .await?
            .ok_or(conflict)?;
        self.set_grant_scope(grant, scope).await
    }

    /// After a 409: the grant exists, but a read may not return it until it replicates. Retries within the
    /// client's retry policy; `None` when it never showed up (the caller returns the 409, which is transient).
    async fn reread_existing_grant(
        &self,
        client_sp_id: &str,
        resource_sp_id: &str,
    ) -> Result<Option<OAuth2PermissionGrant>, GraphError> {
        let mut attempts = 0u32;
        let mut waited = Duration::ZERO;
        loop {
            attempts += 1;
            if let Some(grant) = self.get_admin_consent(client_sp_id, resource_sp_id).await? {
                return Ok(Some(grant));
            }
            let jitter: f64 = rand::random();
            let Some(delay) = self.retry.next_delay(attempts, waited, None, jitter) else {
                return Ok(None);
            };
            tracing::debug!(
                attempts,
                ?delay,
                "grant answered 409 but is not readable yet; retrying"
            );
            tokio::time::sleep(delay).await;
            waited += delay;
        }
    }

    /// Patches the grant's scope when it differs from `scope`; no write when equal.
    async fn set_grant_scope(
        &self,
        mut grant: OAuth2PermissionGrant,
        scope: &str,
    ) -> Result<OAuth2PermissionGrant, GraphError> {
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
            // Just after a 409 the grant may not be addressable by id yet either.
            retry_also: RetryAlso {
                not_found: true,
                ..RetryAlso::NONE
            },
            idempotent: true,
        };
        self.execute(&call).await?;
        grant.scope = scope.to_owned();
        Ok(grant)
    }
}

#[cfg(test)]
mod tests {
    use crate::graph::RetryPolicy;
    use crate::graph::test_server::{Step, fast_retry, serve};
    use reqwest::Method;
    use serde_json::json;
    use std::time::Duration;

    const LIST: &str = "/oauth2PermissionGrants?$filter=clientId%20eq%20%27c1%27%20and%20consentType%20eq%20%27AllPrincipals%27%20and%20resourceId%20eq%20%27r1%27";

    fn grant(scope: &str) -> serde_json::Value {
        json!({"id": "g1", "clientId": "c1", "consentType": "AllPrincipals", "principalId": null,
               "resourceId": "r1", "scope": scope})
    }

    fn duplicate() -> Step {
        Step::error(
            Method::POST,
            "/oauth2PermissionGrants",
            409,
            "Request_MultipleObjectsWithSameKeyValue",
            "Permission entry already exists.",
        )
    }

    #[tokio::test]
    async fn create_first_then_409_rereads_until_replicated_and_patches() {
        let server = serve(
            vec![
                duplicate(),
                Step::new(Method::GET, LIST, 200, json!({"value": []})),
                Step::new(Method::GET, LIST, 200, json!({"value": [grant("email")]})),
                Step::new(
                    Method::PATCH,
                    "/oauth2PermissionGrants/g1",
                    204,
                    serde_json::Value::Null,
                ),
            ],
            fast_retry(),
            Duration::from_secs(5),
        )
        .await;
        let g = server
            .client
            .grant_admin_consent("c1", "r1", "email offline_access")
            .await
            .unwrap();
        assert_eq!(g.id, "g1");
        assert!(g.has_same_scopes("offline_access email"));
        server.assert_done();
        let seen = server.seen();
        assert!(
            seen[0].starts_with("POST /oauth2PermissionGrants "),
            "create first: {seen:?}"
        );
        assert!(
            seen[3].contains(r#"{"scope":"email offline_access"}"#),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn create_first_with_equal_scope_does_not_patch() {
        let server = serve(
            vec![
                duplicate(),
                Step::new(
                    Method::GET,
                    LIST,
                    200,
                    json!({"value": [grant("offline_access email")]}),
                ),
            ],
            fast_retry(),
            Duration::from_secs(5),
        )
        .await;
        server
            .client
            .grant_admin_consent("c1", "r1", "email offline_access")
            .await
            .unwrap();
        server.assert_done();
    }

    #[tokio::test]
    async fn a_409_whose_grant_never_shows_up_surfaces_the_conflict() {
        let retry = RetryPolicy {
            max_attempts: 3,
            ..fast_retry()
        };
        let server = serve(
            vec![
                duplicate(),
                Step::new(Method::GET, LIST, 200, json!({"value": []})),
                Step::new(Method::GET, LIST, 200, json!({"value": []})),
                Step::new(Method::GET, LIST, 200, json!({"value": []})),
            ],
            retry,
            Duration::from_secs(5),
        )
        .await;
        let err = server
            .client
            .grant_admin_consent("c1", "r1", "email")
            .await
            .unwrap_err();
        assert!(err.is_conflict());
        assert!(!err.is_permanent());
        server.assert_done();
    }

    #[tokio::test]
    async fn ensure_reads_first_and_writes_nothing_in_steady_state() {
        let server = serve(
            vec![Step::new(
                Method::GET,
                LIST,
                200,
                json!({"value": [grant("email")]}),
            )],
            fast_retry(),
            Duration::from_secs(5),
        )
        .await;
        server
            .client
            .ensure_admin_consent("c1", "r1", "email")
            .await
            .unwrap();
        server.assert_done();
    }

    #[tokio::test]
    async fn ensure_recovers_from_a_409_when_its_read_was_stale() {
        let server = serve(
            vec![
                Step::new(Method::GET, LIST, 200, json!({"value": []})),
                duplicate(),
                Step::new(Method::GET, LIST, 200, json!({"value": [grant("email")]})),
            ],
            fast_retry(),
            Duration::from_secs(5),
        )
        .await;
        let g = server
            .client
            .ensure_admin_consent("c1", "r1", "email")
            .await
            .unwrap();
        assert_eq!(g.id, "g1");
        server.assert_done();
    }
}
