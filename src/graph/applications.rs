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
            body: Some(to_json(app)?),
            prefer: Some("create-if-missing"),
            retry_also: RetryAlso {
                conflict: true,
                ..RetryAlso::NONE
            },
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
        };
        self.execute(&call).await?.json(ENDPOINT)
    }

    /// `PATCH /applications/{id}` with the given fields.
    pub async fn update_application(
        &self,
        object_id: &str,
        patch: &ApplicationUpsert,
    ) -> Result<(), GraphError> {
        let call = Call {
            method: Method::PATCH,
            endpoint: "/applications/{id}",
            url: self.url(&object_path(object_id), None)?,
            body: Some(to_json(patch)?),
            prefer: None,
            retry_also: RetryAlso {
                not_found: true,
                conflict: true,
                ..RetryAlso::NONE
            },
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
    /// 404 is retried (the application may have just been created); note that a retried timeout can mint
    /// a second credential — it carries the same display name, so the caller's orphan sweep finds it.
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

    /// `POST /applications/{id}/removePassword`. A credential (or application) that is already gone
    /// counts as success, so a repeated revoke is harmless.
    pub async fn remove_password(&self, object_id: &str, key_id: &str) -> Result<(), GraphError> {
        let call = Call {
            method: Method::POST,
            endpoint: "/applications/{id}/removePassword",
            url: self.url(&format!("{}/removePassword", object_path(object_id)), None)?,
            body: Some(json!({ "keyId": key_id })),
            prefer: None,
            retry_also: RetryAlso::NONE,
        };
        match self.execute(&call).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() || is_unknown_key(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Graph answers an unknown keyId with 400 and a "not found"-style message rather than 404.
fn is_unknown_key(err: &GraphError) -> bool {
    match err {
        GraphError::Api {
            status: 400,
            code,
            message,
            ..
        } => {
            let text = format!("{code} {message}").to_lowercase();
            (text.contains("notfound")
                || text.contains("not found")
                || text.contains("no password"))
                && (text.contains("key") || text.contains("credential"))
        }
        _ => false,
    }
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

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, GraphError> {
    serde_json::to_value(value).map_err(|e| GraphError::Decode {
        endpoint: "request body".into(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::error::decode_api_error;

    #[test]
    fn unknown_key_is_recognised() {
        let e = decode_api_error(
            400,
            br#"{"error":{"code":"Request_BadRequest","message":"No password credential found with keyId 'x'."}}"#,
            None,
            None,
        );
        assert!(is_unknown_key(&e));
        let other = decode_api_error(
            400,
            br#"{"error":{"code":"Request_BadRequest","message":"Invalid value for endDateTime"}}"#,
            None,
            None,
        );
        assert!(!is_unknown_key(&other));
    }
}
