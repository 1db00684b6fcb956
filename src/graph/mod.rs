//! The one Microsoft Graph client: typed models, errors, retry policy and the operations the controller uses.

mod applications;
mod client;
mod error;
mod grants;
mod metrics;
mod model;
mod retry;
mod secret;
mod service_principals;

pub use client::{GraphClient, GraphConfig};
pub use error::{CODE_LIFETIME_POLICY, CODE_NO_BACKING_APPLICATION, GraphError};
pub use metrics::GraphMetrics;
pub use model::{
    ApiApplication, Application, ApplicationUpsert, CONSENT_ALL_PRINCIPALS, NewPassword,
    OAuth2PermissionGrant, PasswordCredential, PermissionScope, RequiredResourceAccess,
    ResourceAccess, ServicePrincipal, UpsertOutcome, WebApplication,
};
pub use retry::{RetryPolicy, parse_retry_after};
pub use secret::SecretText;

/// App id of the Microsoft Graph resource (its service principal is the consent resource).
pub const MICROSOFT_GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
