//! A Microsoft Graph / Entra ID emulator for the operator's tests, benchmarks and demo.
//!
//! One HTTPS listener (test CA from [`Emulator::ca_pem`]) serves the token endpoint
//! `POST /{tenant}/oauth2/v2.0/token`, Graph under `/v1.0` (applications, servicePrincipals,
//! oauth2PermissionGrants) and an admin API under `/_emulator`. Faults (replication lag, throttling, 5xx,
//! credential lifetime policy, latency), the documented Entra rules' switches (cloud, password policy, throttle
//! budget, ...; see the README) and the clock are switched at runtime through [`EmulatorHandle`].

mod admin;
mod client_cert;
mod error;
mod faults;
mod graph;
mod handle;
mod jwt;
pub mod model;
mod secrets;
mod state;
mod tls;
mod token;

pub use client_cert::self_signed_rsa_certificate;
pub use error::EmulatorError;
pub use faults::{
    AfterCommitFailure, Cloud, RemovePasswordMissing, SpReplicationError, TenantSize,
    ThrottleBudget,
};
pub use handle::EmulatorHandle;
pub use model::{
    ApiApplication, Application, GRAPH_APP_ID, GRAPH_SCOPES, OAuth2PermissionGrant,
    PasswordCredential, PermissionScope, RequiredResourceAccess, ResourceAccess, ServicePrincipal,
    WebApplication,
};

use axum::Router;
use axum::routing::{any, post};
use axum_server::tls_rustls::RustlsConfig;
use state::SharedState;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// How to start an [`Emulator`].
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Listen address; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Seed of the RNG behind ratio-based faults, so runs replay.
    pub seed: u64,
    /// Extra DNS names / IPs for the server certificate besides `localhost` and `127.0.0.1`.
    pub extra_hosts: Vec<String>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            seed: 0x5eed,
            extra_hosts: Vec::new(),
        }
    }
}

/// A running emulator. Dropping it shuts the server down.
pub struct Emulator {
    base_url: String,
    ca_pem: String,
    handle: EmulatorHandle,
    server: axum_server::Handle<SocketAddr>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts on `127.0.0.1` with a free port. Must be called inside a tokio runtime.
    pub async fn start() -> Result<Emulator, EmulatorError> {
        Self::start_with(EmulatorConfig::default()).await
    }

    pub async fn start_with(cfg: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        let tls = tls::generate(&cfg.extra_hosts)?;
        let listener = std::net::TcpListener::bind(cfg.bind)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let host = match addr.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        let base_url = format!("https://{host}:{}", addr.port());
        let shared = Arc::new(SharedState::new(cfg.seed, tls.ca_pem.clone()));
        shared.lock().graph_url = format!("{base_url}/v1.0");

        let app = router(shared.clone());
        let server = axum_server::Handle::new();
        let serve =
            axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(tls.server_config))?
                .handle(server.clone())
                .serve(app.into_make_service());
        let task = tokio::spawn(async move {
            if let Err(err) = serve.await {
                tracing::error!(error = %err, "graph emulator server stopped");
            }
        });
        Ok(Emulator {
            base_url,
            ca_pem: tls.ca_pem,
            handle: EmulatorHandle { shared },
            server,
            task,
        })
    }

    /// `https://127.0.0.1:PORT`: both the authority host and the Graph host.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// `base_url() + "/v1.0"`.
    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.base_url)
    }

    /// The test CA certificate (PEM) clients must trust.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    pub fn handle(&self) -> EmulatorHandle {
        self.handle.clone()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.server.shutdown();
        self.task.abort();
    }
}

fn router(shared: state::Shared) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token::handle))
        .route("/v1.0/{*path}", any(graph::handle))
        .nest("/_emulator", admin::router())
        .with_state(shared)
}
