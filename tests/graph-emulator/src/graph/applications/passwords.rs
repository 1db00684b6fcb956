//! `addPassword` / `removePassword`: a new client secret (checked against the tenant's policies and the audience's
//! limit), or one removed.

use super::patch::as_optional_string;
use super::{is_personal, resolve};
use crate::error::GraphError;
use crate::faults::RemovePasswordMissing;
use crate::graph::{Ctx, GraphResult, Reply, Request, odata, routes::Key};
use crate::model::PasswordCredential;
use crate::state::SecretRecord;
use axum::http::StatusCode;
use chrono::{DateTime, Months, Utc};
use serde_json::{Map, Value, json};

// [validation doc]: see validation.rs.

/// Entra's answer when an app management policy caps credential lifetime.
const POLICY_ID: &str = "00000000-0000-0000-0000-00000000e1a5";

/// Allowance for the client's clock and transit time when checking a lifetime cap.
const LIFETIME_TOLERANCE_SECS: i64 = 60;

/// At most this many client secrets on an app whose audience includes personal accounts [validation doc].
pub(super) const PERSONAL_MAX_PASSWORDS: usize = 2;

pub(in crate::graph) fn add_password(
    ctx: &mut Ctx<'_>,
    key: &Key,
    req: &Request<'_>,
) -> GraphResult {
    let id = resolve(ctx, key, true)?;
    let asked = Requested::parse(&req.json_or_empty()?, ctx.now)?;
    check_policies(ctx, &id, &asked)?;
    let secret = crate::secrets::secret_text();
    let credential = PasswordCredential {
        custom_key_identifier: None,
        display_name: asked.display_name,
        end_date_time: asked.end,
        hint: Some(secret.chars().take(3).collect()),
        key_id: crate::secrets::guid(),
        secret_text: None,
        start_date_time: asked.start,
    };
    let stored = ctx
        .tenant
        .apps
        .get_mut(&id)
        .ok_or_else(|| GraphError::not_found(&id))?;
    stored.value.password_credentials.push(credential.clone());
    ctx.tenant.secrets.insert(
        credential.key_id.clone(),
        SecretRecord {
            text: secret.clone(),
            usable_at: ctx.now + ctx.settings.secret_activation_lag,
        },
    );
    let response = PasswordCredential {
        secret_text: Some(secret),
        ..credential
    };
    Ok(Reply::Json(
        StatusCode::OK,
        odata::with_context(
            serde_json::to_value(&response).unwrap_or_default(),
            format!(
                "{}/$metadata#microsoft.graph.passwordCredential",
                ctx.graph_url
            ),
        ),
    ))
}

/// What an addPassword body asks for (`passwordCredential`, optional), with Entra's defaults filled in.
struct Requested {
    display_name: Option<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl Requested {
    fn parse(body: &Map<String, Value>, now: DateTime<Utc>) -> Result<Self, GraphError> {
        let params = match body.get("passwordCredential") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map.clone(),
            Some(_) => {
                return Err(GraphError::invalid_value(
                    "passwordCredential",
                    "Application",
                ));
            }
        };
        let display_name = optional_string(&params, "displayName")?;
        let start = optional_date(&params, "startDateTime")?.unwrap_or(now);
        let end = match optional_date(&params, "endDateTime")? {
            Some(end) => end,
            // Entra's default lifetime is two years.
            None => start
                .checked_add_months(Months::new(24))
                .ok_or_else(|| GraphError::invalid_value("endDateTime", "PasswordCredential"))?,
        };
        if end <= start {
            return Err(GraphError::invalid_value(
                "endDateTime",
                "PasswordCredential",
            ));
        }
        Ok(Self {
            display_name,
            start,
            end,
        })
    }
}

/// The tenant's app management policy and the audience's secret limit, in the order Entra is assumed to apply them.
fn check_policies(ctx: &Ctx<'_>, id: &str, asked: &Requested) -> Result<(), GraphError> {
    // A tenant or app management policy may forbid new client secrets: restriction type `passwordAddition`
    // (<https://learn.microsoft.com/graph/api/resources/passwordcredentialconfiguration>,
    // <https://learn.microsoft.com/graph/api/resources/applicationauthenticationmethodpolicy>, introduced in
    // <https://github.com/microsoftgraph/microsoft-graph-docs/pull/13418>). The code is the one clients match on
    // (e.g. OfficeDev/teams-toolkit's aadAppClient, which maps a 400 with it from addPassword). "Credential type not
    // allowed as per assigned policy" is quoted from live runs in public repositories; the trailing policy id is
    // inferred from the lifetime error's shape, not verified.
    if ctx.settings.block_password_addition {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "CredentialTypeNotAllowedAsPerAppPolicy",
            format!("Credential type not allowed as per assigned policy '{POLICY_ID}'."),
        ));
    }
    // "Client secrets (passwordCredentials): ... Maximum of two client secrets" for personal-account audiences
    // [validation doc]. Observed answer: 400 TooManyAppPasswords "Not allowed to add 3 passwords. You can only add
    // a maximum of 2 passwords." (<https://github.com/Azure/azure-cli/issues/12946>,
    // <https://github.com/microsoft/coe-starter-kit/issues/3695>).
    let app = &ctx.tenant.apps[id].value;
    if is_personal(&app.sign_in_audience)
        && app.password_credentials.len() >= PERSONAL_MAX_PASSWORDS
    {
        let mut err = GraphError::new(
            StatusCode::BAD_REQUEST,
            "TooManyAppPasswords",
            format!(
                "Not allowed to add {} passwords. You can only add a maximum of {PERSONAL_MAX_PASSWORDS} passwords.",
                app.password_credentials.len() + 1
            ),
        );
        err.details = vec![json!({"target": "passwordCredentials", "code": "TooManyAppPasswords"})];
        return Err(err);
    }
    if let Some(max) = ctx.settings.max_credential_lifetime {
        let max = chrono::Duration::from_std(max).unwrap_or(chrono::Duration::MAX);
        if asked.end - asked.start > max + chrono::Duration::seconds(LIFETIME_TOLERANCE_SECS) {
            return Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "CredentialInvalidLifetimeAsPerAppPolicy",
                format!(
                    "Credential lifetime exceeds the max value allowed as per assigned policy '{POLICY_ID}'. \
                     The maximum allowed lifetime is {} days ({} seconds).",
                    max.num_days(),
                    max.num_seconds()
                ),
            ));
        }
    }
    Ok(())
}

pub(in crate::graph) fn remove_password(
    ctx: &mut Ctx<'_>,
    key: &Key,
    req: &Request<'_>,
) -> GraphResult {
    let id = resolve(ctx, key, true)?;
    let body = req.json()?;
    let key_id = body
        .get("keyId")
        .and_then(Value::as_str)
        .filter(|k| uuid::Uuid::parse_str(k).is_ok())
        .ok_or_else(|| GraphError::invalid_value("keyId", "PasswordCredential"))?
        .to_ascii_lowercase();
    let stored = ctx
        .tenant
        .apps
        .get_mut(&id)
        .ok_or_else(|| GraphError::not_found(&id))?;
    let before = stored.value.password_credentials.len();
    stored
        .value
        .password_credentials
        .retain(|c| !c.key_id.eq_ignore_ascii_case(&key_id));
    if stored.value.password_credentials.len() == before {
        // Undocumented, and no public report of Entra's real answer was found: see RemovePasswordMissing.
        return match ctx.settings.remove_password_missing {
            RemovePasswordMissing::BadRequest => Err(GraphError::bad_request(format!(
                "No password credential with keyId '{key_id}' exists on the application."
            ))),
            RemovePasswordMissing::NotFound => Err(GraphError::not_found(&key_id)),
            RemovePasswordMissing::NoContent => Ok(Reply::NoContent),
        };
    }
    ctx.tenant.secrets.remove(&key_id);
    Ok(Reply::NoContent)
}

fn optional_string(map: &Map<String, Value>, name: &str) -> Result<Option<String>, GraphError> {
    map.get(name)
        .map_or(Ok(None), |v| as_optional_string(name, v))
}

fn optional_date(
    map: &Map<String, Value>,
    name: &str,
) -> Result<Option<DateTime<Utc>>, GraphError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|d| Some(d.with_timezone(&Utc)))
            .map_err(|_| GraphError::invalid_value(name, "PasswordCredential")),
        Some(_) => Err(GraphError::invalid_value(name, "PasswordCredential")),
    }
}
