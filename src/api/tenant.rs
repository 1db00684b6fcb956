//! `EntraTenant`: how to reach and authenticate to one Microsoft Entra tenant (cluster-scoped, like
//! cert-manager's ClusterIssuer).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use kube::{
    CustomResource, KubeSchema,
    core::{Selector, SelectorExt},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    conditions::Condition,
    validation::{
        DNS1123_LABEL_REGEX, SECRET_KEY_REGEX, dns1123_subdomain_rule, guid_rule, https_url_rule,
    },
};

/// Where the workload identity token is mounted by the Azure workload identity webhook.
pub const DEFAULT_WORKLOAD_IDENTITY_TOKEN_FILE: &str =
    "/var/run/secrets/azure/tokens/azure-identity-token";

/// Why an EntraTenant spec cannot be used (the CRD's CEL rules normally prevent these).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantSpecError {
    #[error("auth must set exactly one method, found {0}")]
    AuthMethodCount(usize),
    #[error("cloud is Custom but endpoints are not set")]
    MissingEndpoints,
    #[error("allowedNamespaces.selector is invalid: {0}")]
    InvalidSelector(String),
}

/// A Microsoft Entra tenant the operator may create app registrations in, and the identity it uses there.
/// Referenced by NocoBaseMailIntegration.spec.tenantRef.name.
// printcolumn(...) entries legitimately repeat `type_ = ...`; clippy mistakes them for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "entramail.io",
    version = "v1alpha1",
    kind = "EntraTenant",
    status = "EntraTenantStatus",
    derive = "PartialEq",
    category = "entramail",
    doc = "A Microsoft Entra tenant and the credentials the operator uses to manage app registrations in it.",
    printcolumn(name = "Tenant ID", type_ = "string", json_path = ".spec.tenantId"),
    printcolumn(name = "Cloud", type_ = "string", json_path = ".spec.cloud"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("has(self.endpoints) == (self.cloud == 'Custom')")
    .message("endpoints must be set when cloud is Custom, and only then"))]
pub struct EntraTenantSpec {
    /// Directory (tenant) ID, a GUID. Immutable.
    #[schemars(length(max = 36))]
    #[x_kube(
        validation = guid_rule("tenantId"),
        validation = kube::core::Rule::new("self == oldSelf").message("tenantId is immutable; create a new EntraTenant instead"),
    )]
    pub tenant_id: String,

    /// Microsoft cloud: AzurePublic (default), AzureUSGovernment, AzureChina, or Custom (set endpoints).
    #[serde(default)]
    pub cloud: Cloud,

    /// Token authority and Graph endpoint; required when cloud is Custom, not allowed otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<CloudEndpoints>,

    /// How the operator authenticates to the tenant. Set exactly one method.
    pub auth: TenantAuth,

    /// Namespaces whose NocoBaseMailIntegrations may use this tenant. Absent: all namespaces
    /// (like cert-manager's ClusterIssuer). Present: a namespace is allowed if it is listed in names or
    /// its labels match selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_namespaces: Option<AllowedNamespaces>,

    /// Extra PEM CA certificates to trust for the authority and Graph endpoints (e.g. a proxy or an
    /// emulator with a private CA). The system trust store is still used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    #[x_kube(validation = kube::core::Rule::new("self.contains('-----BEGIN CERTIFICATE-----')").message("caBundle must contain PEM certificates"))]
    pub ca_bundle: Option<String>,
}

/// Microsoft cloud instance.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum Cloud {
    /// login.microsoftonline.com / graph.microsoft.com
    #[default]
    AzurePublic,
    /// login.microsoftonline.us / graph.microsoft.us
    #[serde(rename = "AzureUSGovernment")]
    AzureUsGovernment,
    /// login.chinacloudapi.cn / microsoftgraph.chinacloudapi.cn
    AzureChina,
    /// Endpoints given in spec.endpoints (e.g. US Gov DoD, or a test emulator).
    Custom,
}

/// Base URLs for tokens and Graph.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CloudEndpoints {
    /// Token authority host, e.g. https://login.microsoftonline.com (https only).
    #[schemars(length(max = 256))]
    #[x_kube(validation = https_url_rule("authorityHost"))]
    pub authority_host: String,
    /// Microsoft Graph base URL without version, e.g. https://graph.microsoft.com (https only).
    #[schemars(length(max = 256))]
    #[x_kube(validation = https_url_rule("graphEndpoint"))]
    pub graph_endpoint: String,
}

/// Endpoints of a well-known Microsoft cloud, without a trailing slash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WellKnownEndpoints {
    pub authority_host: &'static str,
    pub graph_endpoint: &'static str,
}

/// The one table of Microsoft cloud endpoints: [`Cloud::well_known_endpoints`] and `auth::Cloud` both read it.
impl WellKnownEndpoints {
    pub const AZURE_PUBLIC: Self = Self {
        authority_host: "https://login.microsoftonline.com",
        graph_endpoint: "https://graph.microsoft.com",
    };
    pub const AZURE_US_GOVERNMENT: Self = Self {
        authority_host: "https://login.microsoftonline.us",
        graph_endpoint: "https://graph.microsoft.us",
    };
    pub const AZURE_CHINA: Self = Self {
        authority_host: "https://login.chinacloudapi.cn",
        graph_endpoint: "https://microsoftgraph.chinacloudapi.cn",
    };
}

impl Cloud {
    /// Well-known endpoints; `None` for Custom.
    pub fn well_known_endpoints(self) -> Option<CloudEndpoints> {
        let known = match self {
            Cloud::AzurePublic => WellKnownEndpoints::AZURE_PUBLIC,
            Cloud::AzureUsGovernment => WellKnownEndpoints::AZURE_US_GOVERNMENT,
            Cloud::AzureChina => WellKnownEndpoints::AZURE_CHINA,
            Cloud::Custom => return None,
        };
        Some(CloudEndpoints {
            authority_host: known.authority_host.into(),
            graph_endpoint: known.graph_endpoint.into(),
        })
    }
}

/// Authentication methods; exactly one must be set.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "[has(self.workloadIdentity), has(self.clientSecret), has(self.clientCertificate), has(self.managedIdentity)].exists_one(x, x)"
).message("auth must set exactly one of workloadIdentity, clientSecret, clientCertificate, managedIdentity"))]
pub struct TenantAuth {
    /// Azure workload identity federation: the operator's service-account token is exchanged for an
    /// Entra token of the given app (client) ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<WorkloadIdentityAuth>,
    /// App (client) ID and a client secret read from a Secret in the operator's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecretAuth>,
    /// App (client) ID and a certificate with private key read from a Secret in the operator's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<ClientCertificateAuth>,
    /// Azure managed identity of the node/pod (system-assigned, or user-assigned with clientId).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_identity: Option<ManagedIdentityAuth>,
}

/// Borrowed view of the single configured auth method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod<'a> {
    WorkloadIdentity(&'a WorkloadIdentityAuth),
    ClientSecret(&'a ClientSecretAuth),
    ClientCertificate(&'a ClientCertificateAuth),
    ManagedIdentity(&'a ManagedIdentityAuth),
}

impl TenantAuth {
    /// The configured method; an error unless exactly one is set.
    pub fn method(&self) -> Result<AuthMethod<'_>, TenantSpecError> {
        let all = [
            self.workload_identity
                .as_ref()
                .map(AuthMethod::WorkloadIdentity),
            self.client_secret.as_ref().map(AuthMethod::ClientSecret),
            self.client_certificate
                .as_ref()
                .map(AuthMethod::ClientCertificate),
            self.managed_identity
                .as_ref()
                .map(AuthMethod::ManagedIdentity),
        ];
        let mut set = all.into_iter().flatten();
        match (set.next(), set.count()) {
            (Some(m), 0) => Ok(m),
            (None, _) => Err(TenantSpecError::AuthMethodCount(0)),
            (Some(_), rest) => Err(TenantSpecError::AuthMethodCount(rest + 1)),
        }
    }
}

/// Workload identity federation settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadIdentityAuth {
    /// App (client) ID with a federated credential for the operator's service account.
    #[schemars(length(max = 36))]
    #[x_kube(validation = guid_rule("clientId"))]
    pub client_id: String,
    /// Projected service-account token file. Default /var/run/secrets/azure/tokens/azure-identity-token.
    #[serde(default = "default_token_file")]
    #[schemars(length(min = 1, max = 1024))]
    pub token_file: String,
}

fn default_token_file() -> String {
    DEFAULT_WORKLOAD_IDENTITY_TOKEN_FILE.into()
}

/// Client secret settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ClientSecretAuth {
    /// App (client) ID of the operator's own app registration.
    #[schemars(length(max = 36))]
    #[x_kube(validation = guid_rule("clientId"))]
    pub client_id: String,
    /// Secret in the operator's namespace, and the key holding the client secret.
    pub secret_ref: OperatorSecretKeyRef,
}

/// Client certificate settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ClientCertificateAuth {
    /// App (client) ID of the operator's own app registration.
    #[schemars(length(max = 36))]
    #[x_kube(validation = guid_rule("clientId"))]
    pub client_id: String,
    /// Secret in the operator's namespace, and the key holding the certificate and its private key as PEM:
    /// an unencrypted PRIVATE KEY (PKCS#8) or RSA PRIVATE KEY (PKCS#1) block plus the CERTIFICATE
    /// (chain certificates may follow; the one matching the key is used). PKCS#12 is not supported.
    pub secret_ref: OperatorSecretKeyRef,
}

/// Managed identity settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ManagedIdentityAuth {
    /// Client ID of a user-assigned identity; omit for the system-assigned identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 36))]
    #[x_kube(validation = guid_rule("clientId"))]
    pub client_id: Option<String>,
}

/// A key in a Secret in the operator's own namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct OperatorSecretKeyRef {
    /// Secret name.
    #[schemars(length(max = 253))]
    #[x_kube(validation = dns1123_subdomain_rule("secretRef.name"))]
    pub name: String,
    /// Key within the Secret.
    #[schemars(length(min = 1, max = 253), pattern(SECRET_KEY_REGEX))]
    pub key: String,
}

/// Which namespaces may use the tenant.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("has(self.names) || has(self.selector)")
    .message("allowedNamespaces needs names and/or selector; omit allowedNamespaces to allow all namespaces"))]
pub struct AllowedNamespaces {
    /// Namespace names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(length(max = 63), pattern(DNS1123_LABEL_REGEX)), extend("x-kubernetes-list-type" = "set"))]
    pub names: Vec<String>,
    /// Label selector on namespaces (an empty selector {} matches every namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

impl EntraTenantSpec {
    /// Endpoints to use: the cloud's well-known ones, or spec.endpoints for Custom.
    pub fn resolved_endpoints(&self) -> Result<CloudEndpoints, TenantSpecError> {
        match self.cloud.well_known_endpoints() {
            Some(e) => Ok(e),
            None => self
                .endpoints
                .clone()
                .ok_or(TenantSpecError::MissingEndpoints),
        }
    }

    /// Whether a namespace with this name and these labels may use the tenant.
    pub fn allows_namespace(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<bool, TenantSpecError> {
        let Some(allowed) = &self.allowed_namespaces else {
            return Ok(true);
        };
        if allowed.names.iter().any(|n| n == name) {
            return Ok(true);
        }
        match &allowed.selector {
            None => Ok(false),
            Some(sel) => {
                let selector = Selector::try_from(sel.clone())
                    .map_err(|e| TenantSpecError::InvalidSelector(e.to_string()))?;
                Ok(selector.matches(labels))
            }
        }
    }
}

/// Observed state of the tenant.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntraTenantStatus {
    /// The metadata.generation last checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready is True when a token for Microsoft Graph could be obtained with the configured auth.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// When a token was last obtained successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_token_acquired_at: Option<Time>,
}

#[cfg(test)]
#[path = "tenant_tests.rs"]
mod tests;
