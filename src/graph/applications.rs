//! Application registration operations: upsert, get, update, delete, add/remove password.

use super::client::{Call, GraphClient, RetryAlso, odata_key};
use super::error::GraphError;
use super::model::{
    AddPasswordResponse, Application, ApplicationUpsert, Collection, NewPassword, UpsertOutcome,
};
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::json;

impl GraphClient {
    /// Creates or updates the application with alternate key `uniqueName`
    /// (`PATCH /applications(uniqueName='…')` + `Prefer: create-if-missing`).
    ///
    /// Always writes: callers that want a write-free steady state check
    /// [`ApplicationUpsert::is_satisfied_by`] against `get_application_by_unique_name` first.
    /// Sends [`ApplicationUpsert::normalized`] (only the fields that are set; v2 tokens for personal audiences).
    /// Graph requires `displayName` when this creates the application.
    pub async fn upsert_application(
        &self,
        unique_name: &str,
        app: &ApplicationUpsert,
    ) -> Result<UpsertOutcome, GraphError> {
        const ENDPOINT: &str = "/applications(uniqueName={uniqueName})";
        let call = Call {
            method: Method::PATCH,
            endpoint: ENDPOINT,
            url: self.url(&unique_name_path(unique_name), None)?,
            body: Some(to_json(&app.normalized())?),
            prefer: Some("create-if-missing"),
            retry_also: RetryAlso {
                conflict: true,
                ..RetryAlso::NONE
            },
            idempotent: true,
        };
        let reply = self.execute(&call).await?;
        if reply.status == 201 && !reply.body.is_empty() {
            return Ok(UpsertOutcome::Created(reply.json(ENDPOINT)?));
        }
        if reply.status == 200 && !reply.body.is_empty() {
            return Ok(UpsertOutcome::Updated(reply.json(ENDPOINT)?));
        }
        // 204 (or an empty 201): read it back; a fresh write may not be readable yet, so 404 is retried.
        let app = self.fetch_by_unique_name(unique_name, true).await?;
        Ok(if reply.status == 201 {
            UpsertOutcome::Created(app)
        } else {
            UpsertOutcome::Updated(app)
        })
    }

    /// `GET /applications/{id}`; `None` when it does not exist.
    pub async fn get_application(
        &self,
        object_id: &str,
    ) -> Result<Option<Application>, GraphError> {
        const ENDPOINT: &str = "/applications/{id}";
        let call = Call {
            method: Method::GET,
            endpoint: ENDPOINT,
            url: self.url(&object_path(object_id), None)?,
            body: None,
            prefer: None,
            retry_also: RetryAlso::NONE,
            idempotent: true,
        };
        match self.execute(&call).await {
            Ok(reply) => Ok(Some(reply.json(ENDPOINT)?)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /applications?$filter=appId eq '…'`; `None` when no application has that client id.
    pub async fn get_application_by_app_id(
        &self,
        app_id: &str,
    ) -> Result<Option<Application>, GraphError> {
        const ENDPOINT: &str = "/applications?$filter=appId";
        let filter = format!("appId eq '{}'", app_id.replace('\'', "''"));
        let call = Call {
            method: Method::GET,
            endpoint: ENDPOINT,
            url: self.url("/applications", Some(&filter))?,
            body: None,
            prefer: None,
            retry_also: RetryAlso::NONE,
            idempotent: true,
        };
        let list: Collection<Application> = self.execute(&call).await?.json(ENDPOINT)?;
        Ok(list.value.into_iter().find(|a| a.app_id == app_id))
    }

    /// `GET /applications(uniqueName='…')`; `None` when it does not exist.
    pub async fn get_application_by_unique_name(
        &self,
        unique_name: &str,
    ) -> Result<Option<Application>, GraphError> {
        match self.fetch_by_unique_name(unique_name, false).await {
            Ok(app) => Ok(Some(app)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn fetch_by_unique_name(
        &self,
        unique_name: &str,
        retry_not_found: bool,
    ) -> Result<Application, GraphError> {
        const ENDPOINT: &str = "/applications(uniqueName={uniqueName})";
        let call = Call {
            method: Method::GET,
            endpoint: ENDPOINT,
            url: self.url(&unique_name_path(unique_name), None)?,
            body: None,
            prefer: None,
            retry_also: RetryAlso {
                not_found: retry_not_found,
                ..RetryAlso::NONE
            },
            idempotent: true,
        };
        self.execute(&call).await?.json(ENDPOINT)
    }

    /// `PATCH /applications/{id}` with the fields of `patch` that are set (see [`ApplicationUpsert::normalized`]);
    /// Graph leaves every other property as it is.
    pub async fn update_application(
        &self,
        object_id: &str,
        patch: &ApplicationUpsert,
    ) -> Result<(), GraphError> {
        let call = Call {
            method: Method::PATCH,
            endpoint: "/applications/{id}",
            url: self.url(&object_path(object_id), None)?,
            body: Some(to_json(&patch.normalized())?),
            prefer: None,
            retry_also: RetryAlso {
                not_found: true,
                conflict: true,
                ..RetryAlso::NONE
            },
            idempotent: true,
        };
        self.execute(&call).await.map(drop)
    }

    /// `DELETE /applications/{id}`; an application that is already gone counts as success.
    pub async fn delete_application(&self, object_id: &str) -> Result<(), GraphError> {
        let call = Call {
            method: Method::DELETE,
            endpoint: "/applications/{id}",
            url: self.url(&object_path(object_id), None)?,
            body: None,
            prefer: None,
            retry_also: RetryAlso::NONE,
            idempotent: true,
        };
        match self.execute(&call).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `POST /applications/{id}/addPassword` with an explicit end date (Graph's 2-year default is often
    /// rejected by tenant policy). The secret text in the result exists nowhere else: store it at once.
    ///
    /// addPassword is not idempotent: every call that Graph carries out mints another secret. So it is retried
    /// only when Graph certainly did not act on it (429 with `Retry-After`, a 404 while a fresh application
    /// replicates, connect failures, a 401 token refresh). After a 5xx, a timeout, a dropped connection or an
    /// unreadable success body the error is returned with [`GraphError::is_ambiguous`] true: the credential may
    /// exist. Re-read the application and look for a credential with `display_name` before minting again (its
    /// secret text is lost; revoke it).
    pub async fn add_password(
        &self,
        object_id: &str,
        display_name: &str,
        end: DateTime<Utc>,
    ) -> Result<NewPassword, GraphError> {
        const ENDPOINT: &str = "/applications/{id}/addPassword";
        let call = Call {
            method: Method::POST,
            endpoint: ENDPOINT,
            url: self.url(&format!("{}/addPassword", object_path(object_id)), None)?,
            body: Some(json!({
                "passwordCredential": {
                    "displayName": display_name,
                    "endDateTime": end.to_rfc3339_opts(SecondsFormat::Secs, true),
                }
            })),
            prefer: None,
            retry_also: RetryAlso {
                not_found: true,
                ..RetryAlso::NONE
            },
            idempotent: false,
        };
        let resp: AddPasswordResponse = self.execute(&call).await?.json(ENDPOINT)?;
        let secret_text =
            resp.secret_text
                .filter(|s| !s.is_empty())
                .ok_or_else(|| GraphError::Decode {
                    endpoint: ENDPOINT.into(),
                    message: "response has no secretText".into(),
                })?;
        Ok(NewPassword {
            credential: resp.credential,
            secret_text,
        })
    }

    /// `POST /applications/{id}/removePassword`. A credential (or application) that is already gone counts as
    /// success, so a repeated revoke is harmless.
    ///
    /// What Graph answers for a keyId that no longer exists is not documented
    /// (<https://learn.microsoft.com/graph/api/application-removepassword> lists only `204`); 400 and 404 have both
    /// been seen. So on any 400/404 the application is re-read: if it is gone or no longer lists `key_id`, the
    /// revoke is done; only if the credential is still there does the error surface.
    pub async fn remove_password(&self, object_id: &str, key_id: &str) -> Result<(), GraphError> {
        let call = Call {
            method: Method::POST,
            endpoint: "/applications/{id}/removePassword",
            url: self.url(&format!("{}/removePassword", object_path(object_id)), None)?,
            body: Some(json!({ "keyId": key_id })),
            prefer: None,
            retry_also: RetryAlso::NONE,
            idempotent: true,
        };
        let err = match self.execute(&call).await {
            Ok(_) => return Ok(()),
            Err(e) if matches!(e.status(), Some(400 | 404)) => e,
            Err(e) => return Err(e),
        };
        match self.get_application(object_id).await? {
            None => Ok(()),
            Some(app) if !has_key(&app, key_id) => Ok(()),
            Some(_) => Err(err),
        }
    }
}

/// Whether `app` still lists a password credential with `key_id` (GUIDs compare case-insensitively).
fn has_key(app: &Application, key_id: &str) -> bool {
    app.password_credentials
        .iter()
        .any(|c| c.key_id.eq_ignore_ascii_case(key_id))
}

fn unique_name_path(unique_name: &str) -> String {
    format!("/applications(uniqueName='{}')", odata_key(unique_name))
}

fn object_path(object_id: &str) -> String {
    format!(
        "/applications/{}",
        super::client::encode_component(object_id)
    )
}

/// A request body as JSON. Failing here is a programming error, not a Graph answer (so not `Decode`, which
/// means Graph's success reply was unreadable and the request may have taken effect).
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, GraphError> {
    serde_json::to_value(value)
        .map_err(|e| GraphError::Config(format!("cannot encode request body: {e}")))
}

#[cfg(test)]
#[path = "applications_tests.rs"]
mod tests;
