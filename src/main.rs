//! The operator binary: JSON logs, health/metrics server, leader election, then both controllers.
//!
//! Flags (each also settable via env): --metrics-bind-address / METRICS_BIND_ADDRESS (default 0.0.0.0:8080),
//! --operator-namespace / POD_NAMESPACE (default entramail-system), --extra-ca-file / EXTRA_CA_FILE,
//! --watch-namespaces=a,b / WATCH_NAMESPACES (default: all), --no-leader-elect / LEADER_ELECT=false,
//! --label-selector / LABEL_SELECTOR (only handle EntraTenants and integrations with these labels; default: all).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use entramail_operator::controller::{self, Config, Metrics, http};
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

struct Args {
    metrics_addr: SocketAddr,
    operator_namespace: String,
    extra_ca_file: Option<String>,
    leader_elect: bool,
    watch_namespaces: Vec<String>,
    label_selector: Option<String>,
    max_concurrent_reconciles: u16,
}

fn parse_args() -> Result<Args, MainError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut metrics = env("METRICS_BIND_ADDRESS").unwrap_or_else(|| "0.0.0.0:8080".into());
    let mut ns = env("POD_NAMESPACE").unwrap_or_else(|| "entramail-system".into());
    let mut ca = env("EXTRA_CA_FILE");
    let mut leader = env("LEADER_ELECT").is_none_or(|v| v != "false");
    let mut watch = env("WATCH_NAMESPACES").unwrap_or_default();
    let mut selector = env("LABEL_SELECTOR");
    let mut concurrency = env("MAX_CONCURRENT_RECONCILES");
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| MainError::Flag(format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--metrics-bind-address" => metrics = value()?,
            "--operator-namespace" => ns = value()?,
            "--extra-ca-file" => ca = Some(value()?),
            "--watch-namespaces" => watch = value()?,
            "--label-selector" => selector = Some(value()?).filter(|v| !v.is_empty()),
            "--leader-elect" => leader = inline.as_deref() != Some("false"),
            "--no-leader-elect" => leader = false,
            "--max-concurrent-reconciles" => concurrency = Some(value()?),
            other => return Err(MainError::Flag(other.to_string())),
        }
    }
    Ok(Args {
        metrics_addr: metrics
            .parse()
            .map_err(|e| MainError::Flag(format!("--metrics-bind-address {metrics}: {e}")))?,
        operator_namespace: ns,
        extra_ca_file: ca,
        leader_elect: leader,
        watch_namespaces: watch
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect(),
        label_selector: selector,
        max_concurrent_reconciles: match concurrency {
            None => Config::default().max_concurrent_reconciles,
            Some(v) => v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                MainError::Flag(format!(
                    "--max-concurrent-reconciles {v}: expected a number from 1 to 65535"
                ))
            })?,
        },
    })
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
async fn main() -> std::process::ExitCode {
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

async fn run() -> Result<(), MainError> {
    // First, so a SIGTERM at any later moment is seen (see entramail_operator::shutdown).
    let shutdown = Shutdown::on_signals().map_err(MainError::Signals)?;
    let args = parse_args()?;
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
        watch_namespaces: args.watch_namespaces.clone(),
        extra_ca_pem,
        metrics,
        label_selector: args.label_selector.clone(),
        max_concurrent_reconciles: args.max_concurrent_reconciles,
        shutdown: shutdown.clone(),
        ..Config::default()
    };

    if args.leader_elect {
        let identity =
            std::env::var("POD_NAME").unwrap_or_else(|_| uuid::Uuid::new_v4().to_string());
        let manager = LeaseManagerBuilder::new(client.clone(), "entramail-operator")
            .with_namespace(&args.operator_namespace)
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
    } else {
        ready.store(true, Ordering::Relaxed);
        run_until_drained(controller::run(client, config), shutdown.clone()).await;
    }
    server.abort();
    Ok(())
}
