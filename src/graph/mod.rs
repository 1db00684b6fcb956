//! The one Microsoft Graph client: typed models, errors, retry policy and the operations the controller uses.

mod applications;
mod client;
mod error;
mod grants;
pub mod hold;
pub mod limiter;
mod metrics;
mod model;
mod retry;
mod service_principals;
#[cfg(test)]
mod test_server;

pub use client::{Concurrency, GraphClient, GraphConfig};
pub use error::{
    CODE_AUTHORIZATION_DENIED, CODE_CREDENTIAL_TYPE_POLICY, CODE_LIFETIME_POLICY,
    CODE_MULTIPLE_OBJECTS_WITH_SAME_KEY, CODE_NO_BACKING_APPLICATION, GraphError,
    MESSAGE_BACKING_APPLICATION_NOT_LOCAL,
};
pub use metrics::GraphMetrics;
pub use model::{
    ApiApplication, Application, ApplicationUpsert, CONSENT_ALL_PRINCIPALS, NewPassword,
    OAuth2PermissionGrant, PERSONAL_ACCOUNT_AUDIENCES, PasswordCredential, PermissionScope,
    RequiredResourceAccess, ResourceAccess, ServicePrincipal, UpsertOutcome, WebApplication,
};
pub use retry::RetryPolicy;
