//! The NocoBase HTTP API client of the delivery: writes a client secret where NocoBase keeps it and reads it back.
//!
//! NocoBase's API (verified on NocoBase 2.2.15, see docs/nocobase.md): `<verb> /api/<resource>:<action>`;
//! `filterByTk`, `filterKeys[]` and `filter` only from the query string; the whole JSON body becomes the action's
//! `values`; `Authorization: Bearer <API key>`.
//!
//! Nothing here puts secret text, the API key, a request body or a response body into an error or a log line
//! (response bodies may echo the request): errors carry resource:action, status codes and NocoBase's short error
//! codes only.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use super::destination::{AllowedDestinations, refused_resolution};
use super::error::DeliveryError;
use crate::auth::SecretText;

/// Upper bound of one request to NocoBase (connect included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long [`NocoBaseClient::deliver_variables`] waits for NocoBase to come back after `app:refresh`.
pub const REFRESH_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest response body read (NocoBase's answers here are a few hundred bytes).
const MAX_BODY: usize = 1 << 20;

/// Which record of a collection to write: `filterByTk=<key>` (the primary key, usually `id`) or
/// `filter=<JSON>` (must match exactly one record).
#[derive(Debug, Clone, PartialEq)]
pub enum RecordKey {
    FilterByTk(String),
    Filter(Value),
}

/// What is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Values {
    pub client_id: String,
    pub client_secret: SecretText,
    pub tenant_id: String,
}

/// Names of NocoBase variables ("Variables and secrets") to deliver to. The client ID and tenant ID are stored as
/// plain variables (`type: default`, readable, compared on read-back), the client secret as `type: secret`
/// (encrypted at rest; NocoBase never returns it, so its read-back confirms presence and type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableNames {
    pub client_id: String,
    pub client_secret: String,
    pub tenant_id: Option<String>,
}

/// Fields of a collection record to deliver to (`None`: not written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMap {
    pub client_id: Option<String>,
    pub client_secret: String,
    pub tenant_id: Option<String>,
}

/// Kind of a NocoBase variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VariableType {
    /// Plain: NocoBase returns its value.
    Default,
    /// Encrypted at rest; `environmentVariables:list` returns its value as null.
    Secret,
    #[serde(other)]
    Other,
}

impl VariableType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Secret => "secret",
            Self::Other => "other",
        }
    }
}

/// What NocoBase tells about a variable. `value` is `Some` only for plain (`default`) variables.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VariableInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: VariableType,
    #[serde(default)]
    pub value: Option<String>,
}

/// NocoBase's answer to `environmentVariables:list`.
#[derive(Debug, Deserialize)]
struct VariableList {
    data: Vec<VariableInfo>,
    #[serde(default)]
    meta: VariableListMeta,
}

#[derive(Debug, Default, Deserialize)]
struct VariableListMeta {
    /// NocoBase's "variables changed since the app (re)started": its UI then asks for a restart.
    #[serde(default)]
    updated: bool,
}

/// A client for one NocoBase. Cheap to clone.
#[derive(Clone)]
pub struct NocoBaseClient {
    base: Url,
    api_key: SecretText,
    http: reqwest::Client,
}

impl std::fmt::Debug for NocoBaseClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NocoBaseClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
}

impl NocoBaseClient {
    /// A client for NocoBase at `base_url` (its root: the API is `base_url` + `api/`). `http` is used as given: build
    /// it with [`AllowedDestinations::http_client`], or use [`NocoBaseClient::for_destination`], to keep the
    /// destination rules. Every request is bounded by [`REQUEST_TIMEOUT`] whatever `http`'s own timeouts.
    pub fn new(base_url: Url, api_key: SecretText, http: reqwest::Client) -> Self {
        let mut base = base_url;
        base.set_query(None);
        base.set_fragment(None);
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Self {
            base,
            api_key,
            http,
        }
    }

    /// The client the operator uses: refuses `base_url` unless `allowed` permits it, and calls it through an HTTP
    /// client whose DNS answers are checked too (see [`AllowedDestinations`]).
    pub fn for_destination(
        base_url: Url,
        api_key: SecretText,
        allowed: &AllowedDestinations,
        extra_ca_pem: Option<&str>,
    ) -> Result<Self, DeliveryError> {
        allowed.check(&base_url)?;
        Ok(Self::new(
            base_url,
            api_key,
            allowed.http_client(extra_ca_pem)?,
        ))
    }

    /// NocoBase's root URL as used.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    // ---------------------------------------------------------------------------------------------------------
    // Operations

    /// Creates or updates the secret variable `name` (`environmentVariables:updateOrCreate?filterKeys[]=name`, one
    /// object: an array body silently skips new names). Returns NocoBase's "restart needed" flag (`meta.updated`,
    /// set once an existing variable changes; [`Self::refresh_app`] clears it).
    pub async fn upsert_secret_variable(
        &self,
        name: &str,
        value: &SecretText,
    ) -> Result<bool, DeliveryError> {
        self.upsert_variable(name, VariableType::Secret, value.expose())
            .await?;
        Ok(self.list_variables(&[name]).await?.1)
    }

    /// Creates or updates the plain (`default`) variable `name`; returns the "restart needed" flag like
    /// [`Self::upsert_secret_variable`].
    pub async fn upsert_plain_variable(
        &self,
        name: &str,
        value: &str,
    ) -> Result<bool, DeliveryError> {
        self.upsert_variable(name, VariableType::Default, value)
            .await?;
        Ok(self.list_variables(&[name]).await?.1)
    }

    /// The variable `name` as NocoBase lists it (a secret's value is never returned), `None` if absent.
    pub async fn variable(&self, name: &str) -> Result<Option<VariableInfo>, DeliveryError> {
        let (vars, _) = self.list_variables(&[name]).await?;
        Ok(vars.into_iter().find(|v| v.name == name))
    }

    /// `app:refresh`: NocoBase reloads itself in-process (plugins re-read variables). It answers at once and is
    /// unavailable (503) for a moment afterwards; [`Self::deliver_variables`] waits for it.
    pub async fn refresh_app(&self) -> Result<(), DeliveryError> {
        self.call(
            Method::Post,
            "app",
            "refresh",
            &[],
            Some(&Value::Object(Map::new())),
        )
        .await
        .map(drop)
    }

    /// `<collection>:update` of the record `key` with `values` (body = the values; the key in the query string).
    /// NocoBase ignores fields the collection does not have. An empty answer means no record matched.
    pub async fn update_record(
        &self,
        collection: &str,
        key: &RecordKey,
        values: &[(&str, &str)],
    ) -> Result<(), DeliveryError> {
        let body: Map<String, Value> = values
            .iter()
            .map(|(field, value)| ((*field).to_owned(), Value::String((*value).to_owned())))
            .collect();
        let data = self
            .call(
                Method::Post,
                collection,
                "update",
                &key_query(key),
                Some(&Value::Object(body)),
            )
            .await?;
        match data.get("data") {
            Some(Value::Array(updated)) if updated.is_empty() => {
                Err(DeliveryError::RecordNotFound {
                    collection: collection.to_owned(),
                })
            }
            Some(Value::Array(_)) => Ok(()),
            _ => Err(invalid(
                collection,
                "update",
                "data is not an array of records",
            )),
        }
    }

    /// `<collection>:get` of the record `key` (with a filter: the first match).
    pub async fn get_record(
        &self,
        collection: &str,
        key: &RecordKey,
    ) -> Result<Map<String, Value>, DeliveryError> {
        let data = self
            .call(Method::Get, collection, "get", &key_query(key), None)
            .await?;
        match data.get("data") {
            Some(Value::Object(record)) => Ok(record.clone()),
            Some(Value::Null) => Err(DeliveryError::RecordNotFound {
                collection: collection.to_owned(),
            }),
            _ => Err(invalid(collection, "get", "data is not a record")),
        }
    }

    /// How many records of `collection` match `filter` (`<collection>:list`, `meta.count`).
    pub async fn count_records(
        &self,
        collection: &str,
        filter: &Value,
    ) -> Result<u64, DeliveryError> {
        let query = [("filter", filter.to_string()), ("pageSize", "1".to_owned())];
        let data = self
            .call(Method::Get, collection, "list", &query, None)
            .await?;
        data.pointer("/meta/count")
            .and_then(Value::as_u64)
            .ok_or_else(|| invalid(collection, "list", "no meta.count"))
    }

    /// Delivers to NocoBase variables, confirmed: upserts the client ID and tenant ID as plain variables and the
    /// client secret as a secret variable, reads them back (plain values compared, the secret's presence and type
    /// checked), and when NocoBase then flags a restart as needed, refreshes the app and waits until it serves the
    /// variables again with the flag cleared. Ok only when all of that is confirmed.
    pub async fn deliver_variables(
        &self,
        names: &VariableNames,
        values: &Values,
    ) -> Result<(), DeliveryError> {
        self.upsert_variable(&names.client_id, VariableType::Default, &values.client_id)
            .await?;
        if let Some(tenant) = &names.tenant_id {
            self.upsert_variable(tenant, VariableType::Default, &values.tenant_id)
                .await?;
        }
        self.upsert_variable(
            &names.client_secret,
            VariableType::Secret,
            values.client_secret.expose(),
        )
        .await?;

        let mut expected: Vec<(&str, VariableType, Option<&str>)> = vec![
            (
                &names.client_id,
                VariableType::Default,
                Some(&values.client_id),
            ),
            (&names.client_secret, VariableType::Secret, None),
        ];
        if let Some(tenant) = &names.tenant_id {
            expected.push((tenant, VariableType::Default, Some(&values.tenant_id)));
        }
        let wanted: Vec<&str> = expected.iter().map(|(n, ..)| *n).collect();
        let (vars, restart_needed) = self.list_variables(&wanted).await?;
        confirm_variables(&vars, &expected)?;
        if !restart_needed {
            return Ok(());
        }

        self.refresh_app().await?;
        let deadline = tokio::time::Instant::now() + REFRESH_TIMEOUT;
        // NocoBase answers app:refresh before it restarts: give it a moment to begin, then wait for it.
        tokio::time::sleep(Duration::from_millis(500)).await;
        loop {
            match self.list_variables(&wanted).await {
                Ok((vars, false)) => return confirm_variables(&vars, &expected),
                Ok((_, true)) => {}
                Err(e) if e.is_transient() => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(DeliveryError::Mismatch {
                    target: "environmentVariables".into(),
                    field: "restart still flagged as needed after app:refresh".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Delivers to a record of a collection (e.g. the email manager's `mailSettings`), confirmed: reads the record
    /// first (every mapped field must exist: NocoBase would silently ignore an unknown one), updates the mapped
    /// fields, reads the record back and compares every mapped field. A `Filter` key must match exactly one record.
    pub async fn deliver_record(
        &self,
        collection: &str,
        key: &RecordKey,
        fields: &FieldMap,
        values: &Values,
    ) -> Result<(), DeliveryError> {
        let mut writes: Vec<(&str, &str)> =
            vec![(&fields.client_secret, values.client_secret.expose())];
        if let Some(f) = &fields.client_id {
            writes.push((f, &values.client_id));
        }
        if let Some(f) = &fields.tenant_id {
            writes.push((f, &values.tenant_id));
        }

        if let RecordKey::Filter(filter) = key {
            match self.count_records(collection, filter).await? {
                0 => {
                    return Err(DeliveryError::RecordNotFound {
                        collection: collection.to_owned(),
                    });
                }
                1 => {}
                n => {
                    return Err(DeliveryError::AmbiguousRecord {
                        collection: collection.to_owned(),
                        matches: n,
                    });
                }
            }
        }
        let before = self.get_record(collection, key).await?;
        if let Some((field, _)) = writes.iter().find(|(f, _)| !before.contains_key(*f)) {
            return Err(DeliveryError::FieldMissing {
                collection: collection.to_owned(),
                field: (*field).to_owned(),
            });
        }

        self.update_record(collection, key, &writes).await?;

        let after = self.get_record(collection, key).await?;
        for (field, value) in &writes {
            match after.get(*field) {
                None => {
                    return Err(DeliveryError::FieldMissing {
                        collection: collection.to_owned(),
                        field: (*field).to_owned(),
                    });
                }
                Some(Value::String(read)) if read == value => {}
                Some(_) => {
                    return Err(DeliveryError::Mismatch {
                        target: collection.to_owned(),
                        field: (*field).to_owned(),
                    });
                }
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------------------------------------------------
    // Plumbing

    async fn upsert_variable(
        &self,
        name: &str,
        type_: VariableType,
        value: &str,
    ) -> Result<(), DeliveryError> {
        // One object, never an array: NocoBase answers 200 to an array and silently skips names it does not have.
        let body = serde_json::json!({ "name": name, "type": type_.as_str(), "value": value });
        let query = [("filterKeys[]", "name".to_owned())];
        let data = self
            .call(
                Method::Post,
                "environmentVariables",
                "updateOrCreate",
                &query,
                Some(&body),
            )
            .await?;
        // Created: data is the record; updated: data is the list of updated records.
        match data.get("data") {
            Some(Value::Object(_)) => Ok(()),
            Some(Value::Array(updated)) if !updated.is_empty() => Ok(()),
            _ => Err(invalid(
                "environmentVariables",
                "updateOrCreate",
                "no record in data",
            )),
        }
    }

    /// The variables named `names` and NocoBase's "restart needed" flag.
    async fn list_variables(
        &self,
        names: &[&str],
    ) -> Result<(Vec<VariableInfo>, bool), DeliveryError> {
        let filter = serde_json::json!({ "name": { "$in": names } });
        let query = [
            ("filter", filter.to_string()),
            ("paginate", "false".to_owned()),
        ];
        let data = self
            .call(Method::Get, "environmentVariables", "list", &query, None)
            .await?;
        let list: VariableList = serde_json::from_value(data)
            .map_err(|_| invalid("environmentVariables", "list", "not a list of variables"))?;
        Ok((list.data, list.meta.updated))
    }

    fn endpoint(&self, resource: &str, action: &str) -> Result<Url, DeliveryError> {
        let mut url = self.base.clone();
        {
            let Ok(mut segments) = url.path_segments_mut() else {
                return Err(DeliveryError::DestinationNotAllowed {
                    host: self.base.host_str().unwrap_or("").to_owned(),
                    why: "not an http(s) URL".into(),
                });
            };
            segments.pop_if_empty().push("api");
            // `users/1/roles`-style association resources are several segments; each is percent-encoded.
            let mut parts: Vec<&str> = resource.split('/').collect();
            let last = parts.pop().unwrap_or_default();
            for p in parts {
                segments.push(p);
            }
            segments.push(&format!("{last}:{action}"));
        }
        Ok(url)
    }

    /// One request; the parsed JSON answer of a 2xx, else the typed error.
    async fn call(
        &self,
        method: Method,
        resource: &str,
        action: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, DeliveryError> {
        let mut url = self.endpoint(resource, action)?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        let shown = format!("{resource}:{action}");
        let mut req = match method {
            Method::Get => self.http.get(url),
            Method::Post => self.http.post(url),
        }
        .timeout(REQUEST_TIMEOUT)
        .header(ACCEPT, "application/json");
        // An empty key is sent as no key at all, so that NocoBase says EMPTY_TOKEN.
        let key = self.api_key.expose().trim();
        if !key.is_empty() {
            let mut auth = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                DeliveryError::Unauthorized {
                    endpoint: shown.clone(),
                    code: "API_KEY_NOT_A_HEADER_VALUE".into(),
                }
            })?;
            auth.set_sensitive(true);
            req = req.header(AUTHORIZATION, auth);
        }
        let req = match body {
            Some(b) => req
                .header(CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(b).expect("a JSON value serializes")),
            None => req,
        };

        let mut resp = req
            .send()
            .await
            .map_err(|e| self.transport_error(&shown, &e))?;
        let status = resp.status().as_u16();
        let mut bytes = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > MAX_BODY {
                        return Err(DeliveryError::InvalidResponse {
                            endpoint: shown,
                            what: format!("HTTP {status} with a body over {MAX_BODY} bytes"),
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(self.transport_error(&shown, &e)),
            }
        }
        match status {
            200..=299 => {
                serde_json::from_slice(&bytes).map_err(|_| DeliveryError::InvalidResponse {
                    endpoint: shown,
                    what: format!("HTTP {status} without a JSON body"),
                })
            }
            401 => Err(DeliveryError::Unauthorized {
                endpoint: shown,
                code: error_code(&bytes).unwrap_or_else(|| "no error code".into()),
            }),
            403 => Err(DeliveryError::Forbidden {
                resource: resource.to_owned(),
                action: action.to_owned(),
            }),
            404 => Err(DeliveryError::NotFound {
                resource: resource.to_owned(),
                action: action.to_owned(),
            }),
            _ => Err(DeliveryError::Status {
                endpoint: shown,
                status,
            }),
        }
    }

    fn transport_error(&self, shown: &str, e: &reqwest::Error) -> DeliveryError {
        if let Some(refused) = refused_resolution(e) {
            return DeliveryError::DestinationNotAllowed {
                host: refused.host.clone(),
                why: "it resolves only to link-local or cloud metadata addresses".into(),
            };
        }
        let cause = if e.is_timeout() {
            format!("no answer within {}s", REQUEST_TIMEOUT.as_secs())
        } else if e.is_connect() {
            format!("cannot connect to {}", self.base.host_str().unwrap_or(""))
        } else if e.is_redirect() {
            "redirects are not followed".to_owned()
        } else {
            "the connection failed".to_owned()
        };
        DeliveryError::Unreachable {
            endpoint: shown.to_owned(),
            cause,
        }
    }
}

fn key_query(key: &RecordKey) -> Vec<(&'static str, String)> {
    match key {
        RecordKey::FilterByTk(tk) => vec![("filterByTk", tk.clone())],
        RecordKey::Filter(filter) => vec![("filter", filter.to_string())],
    }
}

fn invalid(resource: &str, action: &str, what: &str) -> DeliveryError {
    DeliveryError::InvalidResponse {
        endpoint: format!("{resource}:{action}"),
        what: what.to_owned(),
    }
}

/// NocoBase's short error code (`{"errors":[{"code":"INVALID_TOKEN",...}]}`), only if it looks like one
/// (upper-case letters, digits, underscores): nothing else of the body is ever shown.
fn error_code(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let code = v.pointer("/errors/0/code")?.as_str()?;
    let looks_like_code = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    looks_like_code.then(|| code.to_owned())
}

fn confirm_variables(
    vars: &[VariableInfo],
    expected: &[(&str, VariableType, Option<&str>)],
) -> Result<(), DeliveryError> {
    for (name, type_, value) in expected {
        let Some(found) = vars.iter().find(|v| v.name == *name) else {
            return Err(DeliveryError::Mismatch {
                target: format!("variable {name}"),
                field: "missing after write".into(),
            });
        };
        if found.type_ != *type_ {
            return Err(DeliveryError::Mismatch {
                target: format!("variable {name}"),
                field: format!(
                    "type {} instead of {}",
                    found.type_.as_str(),
                    type_.as_str()
                ),
            });
        }
        if let Some(v) = value
            && found.value.as_deref() != Some(*v)
        {
            return Err(DeliveryError::Mismatch {
                target: format!("variable {name}"),
                field: "value".into(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "nocobase_tests.rs"]
mod tests;
