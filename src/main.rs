//! The operator binary: JSON logs, health/metrics server, leader election, then both controllers.
//! `entramail-operator --help` lists the flags; each can also be set through the environment variable shown there.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use clap::Parser;
use entramail_operator::controller::{self, Config, Metrics, http};
use entramail_operator::delivery::AllowedDestinations;
use entramail_operator::shutdown::Shutdown;
use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;

#[derive(Debug, thiserror::Error)]
enum MainError {
    #[error("invalid flag: {0}")]
    Flag(String),
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("Kubernetes client: {0}")]
    Kube(#[from] kube::Error),
    #[error("leader election: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
}

/// Provisions Microsoft Entra app registrations for NocoBase mail and rotates their client secrets.
#[derive(Debug, Parser)]
#[command(name = "entramail-operator", version)]
struct Args {
    /// Address of the /healthz, /readyz and /metrics server.
    #[arg(
        long = "metrics-bind-address",
        env = "METRICS_BIND_ADDRESS",
        default_value = "0.0.0.0:8080"
    )]
    metrics_addr: SocketAddr,
    /// Namespace of the tenants' credential Secrets and the leader Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = controller::DEFAULT_OPERATOR_NAMESPACE)]
    operator_namespace: String,
    /// PEM file with extra CA certificates to trust (Graph, token authority, https NocoBase).
    #[arg(long, env = "EXTRA_CA_FILE")]
    extra_ca_file: Option<String>,
    /// Elect a leader through a Lease (run several replicas safely).
    #[arg(long, env = "LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    leader_elect: bool,
    /// Same as --leader-elect=false.
    #[arg(long, conflicts_with = "leader_elect")]
    no_leader_elect: bool,
    /// Namespaces whose integrations to manage (comma-separated); default all.
    #[arg(
        long,
        env = "WATCH_NAMESPACES",
        value_delimiter = ',',
        default_value = ""
    )]
    watch_namespaces: Vec<String>,
    /// Only handle EntraTenants and integrations with these labels (a label selector); default all.
    #[arg(long, env = "LABEL_SELECTOR")]
    label_selector: Option<String>,
    /// Reconciles running at once per integration controller.
    #[arg(long, env = "MAX_CONCURRENT_RECONCILES", default_value_t = Config::default().max_concurrent_reconciles,
          value_parser = clap::value_parser!(u16).range(1..))]
    max_concurrent_reconciles: u16,
    /// How long a quiet integration trusts what Graph last said before reading its application again to catch
    /// changes made outside the operator (a Go duration: "1h", "15m"). One Graph request per integration per
    /// interval; spec changes and rotations always read Graph.
    #[arg(long, env = "DRIFT_CHECK_INTERVAL", default_value = "1h")]
    drift_check_interval: entramail_operator::api::GoDuration,
    /// Hosts the operator may deliver client secrets to over NocoBase's API (comma-separated): exact names,
    /// "*.suffix" wildcards, IP addresses or CIDRs. Link-local and cloud metadata addresses are always refused.
    #[arg(
        long,
        env = "DELIVERY_ALLOWED_HOSTS",
        value_delimiter = ',',
        default_value = "*.svc,*.svc.cluster.local"
    )]
    delivery_allowed_hosts: Vec<String>,
}

impl Args {
    fn leader_elect(&self) -> bool {
        self.leader_elect && !self.no_leader_elect
    }

    fn watch_namespaces(&self) -> Vec<String> {
        self.watch_namespaces
            .iter()
            .map(|n| n.trim())
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect()
    }

    fn destinations(&self) -> Result<AllowedDestinations, MainError> {
        let d = AllowedDestinations::only(
            self.delivery_allowed_hosts
                .iter()
                .map(|h| h.trim())
                .filter(|h| !h.is_empty()),
        );
        d.validate()
            .map_err(|e| MainError::Flag(format!("--delivery-allowed-hosts: {e}")))?;
        Ok(d)
    }
}

/// After SIGTERM, in-flight reconciles get this long to finish. Bounded so the pod exits well inside the chart's
/// terminationGracePeriodSeconds (30s): a reconcile cut short is safe (tagged credentials, idempotent steps),
/// while a kubelet SIGKILL would skip the lease release and delay the standby by a full lease duration.
const DRAIN_GRACE: Duration = Duration::from_secs(10);
/// Time allowed to hand back the Lease after the controllers stopped.
const LEASE_RELEASE_GRACE: Duration = Duration::from_secs(5);

/// Runs the controllers until they stop by themselves after a shutdown signal, or [`DRAIN_GRACE`] after it.
async fn run_until_drained(controllers: impl Future<Output = ()>, shutdown: Shutdown) {
    tokio::pin!(controllers);
    tokio::select! {
        _ = &mut controllers => return,
        _ = shutdown.requested() => {}
    }
    if tokio::time::timeout(DRAIN_GRACE, controllers)
        .await
        .is_err()
    {
        tracing::warn!(grace = ?DRAIN_GRACE, "reconciles still running at shutdown; exiting anyway");
    }
}

#[tokio::main]
pub async fn main() -> std::process::ExitCode {
    entramail_operator::tls::install_crypto_provider();
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kube=warn".into()),
        )
        .init();
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "operator failed");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Waits for the lease, runs the controllers while it is held, and releases it on the way out.
async fn run_as_leader(
    client: Client,
    config: Config,
    namespace: &str,
    ready: &AtomicBool,
    shutdown: Shutdown,
) -> Result<(), MainError> {
    let identity = std::env::var("POD_NAME").unwrap_or_else(|_| uuid::Uuid::new_v4().to_string());
    let manager = LeaseManagerBuilder::new(client.clone(), "entramail-operator")
        .with_namespace(namespace)
        .with_identity(identity)
        .build()
        .await?;
    let (mut leader, lease_task) = manager.watch().await;
    tracing::info!("waiting for leadership");
    // Ready (for the Service) as soon as we run; standbys are healthy but not serving.
    loop {
        if *leader.borrow_and_update() {
            break;
        }
        tokio::select! {
            changed = leader.changed() => if changed.is_err() { return Ok(()); },
            _ = shutdown.clone().requested() => return Ok(()),
        }
    }
    tracing::info!("acquired leadership; starting controllers");
    ready.store(true, Ordering::Relaxed);
    let lost = async {
        while leader.changed().await.is_ok() {
            if !*leader.borrow() {
                return;
            }
        }
    };
    tokio::select! {
        _ = run_until_drained(controller::run(client, config), shutdown.clone()) => {},
        _ = lost => tracing::warn!("lost leadership; exiting so a fresh instance can wait for it"),
    }
    drop(leader); // closes the channel: the lease task releases the lease
    if tokio::time::timeout(LEASE_RELEASE_GRACE, lease_task)
        .await
        .is_err()
    {
        tracing::warn!("lease not released in time; a standby takes over when it expires");
    }
    Ok(())
}

async fn run() -> Result<(), MainError> {
    // First, so a SIGTERM at any later moment is seen (see entramail_operator::shutdown).
    let shutdown = Shutdown::on_signals().map_err(MainError::Signals)?;
    let args = Args::parse();
    let destinations = args.destinations()?;
    let extra_ca_pem = match &args.extra_ca_file {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| MainError::Read(p.clone(), e))?),
        None => None,
    };
    let client = Client::try_default().await?;
    let metrics = Arc::new(Metrics::default());
    let ready = Arc::new(AtomicBool::new(false));
    let state = http::HttpState {
        metrics: metrics.clone(),
        ready: ready.clone(),
    };
    let addr = args.metrics_addr;
    let server_shutdown = shutdown.clone();
    let server = tokio::spawn(async move {
        if let Err(e) = http::serve(addr, state, server_shutdown.requested()).await {
            tracing::error!(error = %e, %addr, "health/metrics server failed");
        }
    });

    let config = Config {
        operator_namespace: args.operator_namespace.clone(),
        watch_namespaces: args.watch_namespaces(),
        destinations,
        extra_ca_pem,
        metrics,
        label_selector: args.label_selector.clone().filter(|s| !s.is_empty()),
        max_concurrent_reconciles: args.max_concurrent_reconciles,
        drift_check_interval: args.drift_check_interval.as_std(),
        shutdown: shutdown.clone(),
        ..Config::default()
    };

    if args.leader_elect() {
        run_as_leader(client, config, &args.operator_namespace, &ready, shutdown).await?;
    } else {
        ready.store(true, Ordering::Relaxed);
        run_until_drained(controller::run(client, config), shutdown.clone()).await;
    }
    server.abort();
    Ok(())
}
