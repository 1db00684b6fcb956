//! Why a delivery to NocoBase failed, in words for a Kubernetes condition (`reason`) and for a person (`fix`).
//!
//! Nothing here carries secret text, the API key, a request body or a response body: only the resource and action
//! called (e.g. `environmentVariables:updateOrCreate`), HTTP status codes and NocoBase's short error codes
//! (e.g. `INVALID_TOKEN`), names of variables, collections and fields.

/// A failed or unconfirmed delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The NocoBase URL (or an address its host name resolved to) is not an allowed destination.
    #[error("NocoBase destination {host} is not allowed: {why}")]
    DestinationNotAllowed { host: String, why: String },
    /// No HTTP answer: connection refused, DNS failure, TLS failure or timeout.
    #[error("cannot reach NocoBase ({endpoint}): {cause}")]
    Unreachable { endpoint: String, cause: String },
    /// 401: NocoBase did not accept the API key (`EMPTY_TOKEN`, `INVALID_TOKEN`, ...).
    #[error("NocoBase rejected the API key on {endpoint}: HTTP 401 {code}")]
    Unauthorized { endpoint: String, code: String },
    /// 403: the API key's role lacks a permission.
    #[error("NocoBase denied {resource}:{action} to the API key's role (HTTP 403)")]
    Forbidden { resource: String, action: String },
    /// 404: NocoBase has no such resource (for a record delivery: no such collection).
    #[error("NocoBase has no resource {resource} (HTTP 404 on {resource}:{action})")]
    NotFound { resource: String, action: String },
    /// The record key matched no record of the collection.
    #[error("no record of NocoBase collection {collection} matches the configured record key")]
    RecordNotFound { collection: String },
    /// The record filter matched more than one record; one delivery writes exactly one.
    #[error(
        "the record filter matches {matches} records of NocoBase collection {collection}, expected exactly one"
    )]
    AmbiguousRecord { collection: String, matches: u64 },
    /// A mapped field is not in the record NocoBase returns: no such field (NocoBase ignores unknown fields on
    /// update), or the key's role may not view it (NocoBase leaves such fields out).
    #[error("NocoBase collection {collection} shows no field {field} in the record read back")]
    FieldMissing { collection: String, field: String },
    /// The read-back disagrees with what was written. `target` is a collection or a variable name.
    #[error("NocoBase read-back of {target} does not match what was written ({field})")]
    Mismatch { target: String, field: String },
    /// Any other non-success HTTP status.
    #[error("NocoBase answered HTTP {status} to {endpoint}")]
    Status { endpoint: String, status: u16 },
    /// A success status with a body that is not what NocoBase's API returns.
    #[error("unexpected NocoBase response to {endpoint}: {what}")]
    InvalidResponse { endpoint: String, what: String },
    /// The HTTP client could not be built (e.g. an invalid CA bundle).
    #[error("cannot build the HTTP client for NocoBase: {0}")]
    Client(String),
}

impl DeliveryError {
    /// CamelCase reason for a Kubernetes condition.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::DestinationNotAllowed { .. } => "DestinationNotAllowed",
            Self::Unreachable { .. } => "NocoBaseUnreachable",
            Self::Unauthorized { .. } => "NocoBaseUnauthorized",
            Self::Forbidden { .. } => "NocoBaseForbidden",
            Self::NotFound { .. } => "NocoBaseNotFound",
            Self::RecordNotFound { .. } => "RecordNotFound",
            Self::AmbiguousRecord { .. } => "RecordAmbiguous",
            Self::FieldMissing { .. } => "FieldMissing",
            Self::Mismatch { .. } => "DeliveryMismatch",
            Self::Status { .. } => "NocoBaseHttpError",
            Self::InvalidResponse { .. } => "NocoBaseInvalidResponse",
            Self::Client(_) => "HttpClientInvalid",
        }
    }

    /// One line telling a person what to do about it.
    pub fn fix(&self) -> String {
        match self {
            Self::DestinationNotAllowed { host, .. } => format!(
                "point the NocoBase URL at an allowed host, or add {host} to the operator's allowed NocoBase \
                 destinations (link-local and cloud metadata addresses are refused unless explicitly allowed)"
            ),
            Self::Unreachable { .. } => {
                "check that NocoBase is running and that the URL (scheme, host, port) is reachable from the operator's \
                 pod (Service, NetworkPolicy, TLS CA)"
                    .into()
            }
            Self::Unauthorized { code, .. } => format!(
                "NocoBase says {code}: create a new API key (Settings → API keys) and update the Secret; keys also \
                 stop working when NocoBase's APP_KEY changes"
            ),
            Self::Forbidden { resource, action } => match resource.as_str() {
                "environmentVariables" | "app" => format!(
                    "give the API key's role the system snippet pm.environment-variables (Roles → System \
                     permissions: \"Variables and secrets\"), which covers environmentVariables:* and app:refresh \
                     (denied: {resource}:{action})"
                ),
                collection => format!(
                    "give the API key's role the view and update actions on collection {collection} (Roles → Data \
                     source permissions; both with the mapped fields), or use a key of a role that has them"
                ),
            },
            Self::NotFound { resource, .. } => format!(
                "NocoBase has no {resource}: check the collection name (browser network tab on Settings → Email \
                 settings shows it) and that the plugin that owns it is enabled"
            ),
            Self::RecordNotFound { collection } => format!(
                "check the record key: filterByTk or filter must match the existing record of {collection} (see the \
                 mailSettings:get request in the browser network tab on Settings → Email settings)"
            ),
            Self::AmbiguousRecord { collection, .. } => format!(
                "narrow the record filter (or use filterByTk) so it matches exactly one record of {collection}"
            ),
            Self::FieldMissing { collection, field } => format!(
                "fix the field mapping: {collection} has no field {field} (the browser network tab on Settings → \
                 Email settings shows the real field names), or let the API key's role view that field (field \
                 permissions of the view action)"
            ),
            Self::Mismatch { target, field } => format!(
                "NocoBase stores {target} ({field}) differently from what was written (a hook or field type that \
                 transforms values?): check the field's type in NocoBase and its logs"
            ),
            Self::Status { status, .. } if *status >= 500 => {
                "NocoBase failed on its side: check NocoBase's logs; the operator retries".into()
            }
            Self::Status { status, .. } => format!(
                "NocoBase refused the request with HTTP {status}: check the URL (it must be NocoBase's root, not a \
                 page), the collection, the record key and NocoBase's logs"
            ),
            Self::InvalidResponse { .. } => {
                "the URL does not seem to answer like NocoBase's API: check that it is NocoBase's root URL (the API is \
                 under /api/)"
                    .into()
            }
            Self::Client(_) => "check the CA bundle configured for NocoBase".into(),
        }
    }

    /// Worth retrying later without any change by a person (NocoBase down, overloaded or restarting).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}
