//! Plumbing for the scale benchmark: settings, the operator process and its /proc figures, apiserver setup.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, atomic::AtomicBool},
    time::{Duration, Instant},
};

use crate::process::{self, OperatorProcess, free_port};
use entramail_operator::controller::{self, Config, Metrics, http};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
    config::{KubeConfigOptions, Kubeconfig},
    runtime::wait::{await_condition, conditions},
};

/// First argument that makes the bench binary act as the operator (see [`run_replica`]).
pub const REPLICA_FLAG: &str = "--operator-replica";

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("setting {0}")]
    Setting(String),
    #[error("Kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error("kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    #[error("JSON/YAML: {0}")]
    Json(#[from] serde_json::Error),
    #[error("YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("emulator: {0}")]
    Emulator(#[from] graph_emulator::EmulatorError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("operator: {0}")]
    Operator(String),
    #[error("timed out: {0}")]
    Timeout(String),
}

/// What to measure, from the environment.
pub struct Settings {
    pub sizes: Vec<usize>,
    pub latency: Duration,
    pub throttle_ratio: f64,
    /// Entra's resource-unit throttling budget of a tenant this size (the emulator's model), instead of random 429s.
    pub tenant_size: Option<graph_emulator::TenantSize>,
    /// spec.application.signInAudience of the benchmark's integrations (None: the operator's default, which
    /// includes personal accounts).
    pub audience: Option<String>,
    pub resyncs: u32,
    pub idle: Duration,
    /// The operator's --max-concurrent-reconciles.
    pub concurrency: u16,
    pub operator_bin: PathBuf,
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> Result<T, BenchError> {
    match std::env::var(key) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|_| BenchError::Setting(format!("{key}={v}"))),
        _ => Ok(default),
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, BenchError> {
        let sizes = std::env::var("BENCH_N").unwrap_or_else(|_| "100".into());
        let sizes = sizes
            .split(',')
            .map(|s| {
                s.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| BenchError::Setting(format!("BENCH_N={sizes}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            sizes,
            latency: Duration::from_millis(env_or("BENCH_LATENCY_MS", 50u64)?),
            throttle_ratio: env_or("BENCH_THROTTLE_RATIO", 0.02f64)?,
            tenant_size: match std::env::var("BENCH_TENANT_SIZE")
                .ok()
                .as_deref()
                .map(str::trim)
            {
                None | Some("") => None,
                Some("small") => Some(graph_emulator::TenantSize::Small),
                Some("medium") => Some(graph_emulator::TenantSize::Medium),
                Some("large") => Some(graph_emulator::TenantSize::Large),
                Some(other) => {
                    return Err(BenchError::Setting(format!(
                        "BENCH_TENANT_SIZE={other} (small, medium or large)"
                    )));
                }
            },
            audience: std::env::var("BENCH_AUDIENCE")
                .ok()
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty()),
            resyncs: env_or("BENCH_RESYNCS", 3u32)?,
            idle: Duration::from_secs(env_or("BENCH_IDLE_SECS", 20u64)?),
            concurrency: env_or(
                "BENCH_CONCURRENCY",
                entramail_operator::controller::Config::default().max_concurrent_reconciles,
            )?
            .max(1),
            operator_bin: std::env::var_os("BENCH_OPERATOR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_entramail-operator"))),
        })
    }
}

fn kubeconfig_path() -> Result<PathBuf, BenchError> {
    std::env::var_os("TESTBED_KUBECONFIG")
        .map(PathBuf::from)
        .ok_or_else(|| {
            BenchError::Setting(
                "TESTBED_KUBECONFIG is not set: run `make bench` (tests/testbed/with-control-plane.sh)".into(),
            )
        })
}

/// Admin client for the test control plane.
pub async fn client() -> Result<Client, BenchError> {
    let kubeconfig = Kubeconfig::read_from(kubeconfig_path()?)?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

/// Server-side applies crds/*.yaml and waits until they are served.
pub async fn apply_crds(client: &Client) -> Result<(), BenchError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let crd: CustomResourceDefinition =
            serde_norway::from_str(&std::fs::read_to_string(&path)?)?;
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(
            &name,
            &PatchParams::apply("entramail-bench").force(),
            &Patch::Apply(&crd),
        )
        .await?;
        names.push(name);
    }
    for name in names {
        tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(api.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .map_err(|_| BenchError::Timeout(format!("CRD {name} established")))?
        .map_err(|e| BenchError::Operator(format!("watch CRD {name}: {e}")))?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(())
}

/// The operator as a child process with its metrics endpoint.
pub struct Operator {
    process: OperatorProcess,
    metrics_url: String,
    http: reqwest::Client,
    /// Set when the real binary could not be used (see [`Operator::start`]).
    pub note: Option<String>,
}

impl Operator {
    /// Starts the operator binary (`--no-leader-elect`, metrics on a free loopback port, the emulator's CA).
    /// If the binary dies before it is ready, the benchmark re-runs itself as a stand-in that wires the same
    /// library entry points as src/main.rs, and says so in the table's notes.
    pub async fn start(settings: &Settings, op_ns: &str, ca_pem: &str) -> Result<Self, BenchError> {
        let dir = std::env::temp_dir().join(format!("entramail-bench-{op_ns}"));
        std::fs::create_dir_all(&dir)?;
        let ca_file = dir.join("emulator-ca.pem");
        std::fs::write(&ca_file, ca_pem)?;
        let http = reqwest::Client::new();
        let bin = settings.operator_bin.clone();
        let concurrency = settings.concurrency.to_string();
        match Self::spawn(
            &http,
            &bin,
            &[],
            op_ns,
            &ca_file,
            &concurrency,
            &dir.join("operator.log"),
        )
        .await
        {
            Ok(op) => Ok(op),
            Err(e) => {
                let me = std::env::current_exe()?;
                let mut op = Self::spawn(
                    &http,
                    &me,
                    &[REPLICA_FLAG],
                    op_ns,
                    &ca_file,
                    &concurrency,
                    &dir.join("replica.log"),
                )
                .await?;
                op.note = Some(format!(
                    "the operator binary {} did not start ({e}); measured a stand-in process running the same \
                     library code (controller::run + http::serve, as src/main.rs with --no-leader-elect).",
                    bin.display()
                ));
                Ok(op)
            }
        }
    }

    async fn spawn(
        http: &reqwest::Client,
        bin: &Path,
        pre: &[&str],
        op_ns: &str,
        ca_file: &Path,
        concurrency: &str,
        log: &Path,
    ) -> Result<Self, BenchError> {
        let port = free_port();
        let mut cmd = process::command(
            bin,
            pre,
            &[
                ("KUBECONFIG", kubeconfig_path()?.into_os_string()),
                ("RUST_LOG", "warn".into()),
            ],
        );
        cmd.arg("--no-leader-elect")
            .args(["--operator-namespace", op_ns])
            .arg("--extra-ca-file")
            .arg(ca_file)
            .args(["--metrics-bind-address", &format!("127.0.0.1:{port}")])
            .args(["--max-concurrent-reconciles", concurrency]);
        let mut process = OperatorProcess::from_command(cmd, Some(log))?;
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = process.exited() {
                process.drain().await;
                let text = process.logs();
                let first = text
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .to_string();
                return Err(BenchError::Operator(format!(
                    "exited with {status}: {first}"
                )));
            }
            if let Ok(r) = http.get(format!("{base}/readyz")).send().await
                && r.status().is_success()
            {
                break;
            }
            if Instant::now() > deadline {
                process.kill9();
                return Err(BenchError::Operator("not ready within 30 s".into()));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(Self {
            process,
            metrics_url: format!("{base}/metrics"),
            http: http.clone(),
            note: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Integration reconciles so far (from the operator's own metrics).
    pub async fn reconciles(&self) -> Result<u64, BenchError> {
        let text = self
            .http
            .get(&self.metrics_url)
            .send()
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with("entramail_reconciles_total") && !l.contains("entratenant"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64)
    }

    pub async fn stop(&mut self) {
        // SIGTERM first: a graceful stop, as Kubernetes would do it.
        if self
            .process
            .terminate(Duration::from_secs(10))
            .await
            .is_none()
        {
            self.process.kill9();
        }
    }
}

/// Peak resident set size (VmHWM) of a process, in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64, BenchError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| BenchError::Operator(format!("no VmHWM in /proc/{pid}/status")))
}

/// User + system CPU time a process has used, in seconds.
pub fn cpu_seconds(pid: u32) -> Result<f64, BenchError> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 of the whole line.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => Ok((u + s) as f64 / clock_ticks() as f64),
        _ => Err(BenchError::Operator(format!(
            "cannot parse /proc/{pid}/stat"
        ))),
    }
}

fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100)
}

/// Stand-in for the operator binary: the same library calls as src/main.rs without leader election. Only used
/// when the real binary cannot start (the table says so).
pub async fn run_replica(args: &[String]) -> Result<(), BenchError> {
    entramail_operator::tls::install_crypto_provider();
    let mut metrics_addr: SocketAddr = ([127, 0, 0, 1], 8080).into();
    let mut operator_namespace = "entramail-system".to_string();
    let mut extra_ca_pem = None;
    let mut max_concurrent_reconciles = Config::default().max_concurrent_reconciles;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| BenchError::Setting(format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--metrics-bind-address" => {
                let v = value()?;
                metrics_addr = v.parse().map_err(|_| BenchError::Setting(v))?;
            }
            "--operator-namespace" => operator_namespace = value()?,
            "--extra-ca-file" => extra_ca_pem = Some(std::fs::read_to_string(value()?)?),
            "--max-concurrent-reconciles" => {
                let v = value()?;
                max_concurrent_reconciles = v.parse().map_err(|_| BenchError::Setting(v))?;
            }
            _ => {}
        }
    }
    let client = Client::try_default().await?;
    let metrics = Arc::new(Metrics::default());
    let state = http::HttpState {
        metrics: metrics.clone(),
        ready: Arc::new(AtomicBool::new(true)),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(metrics_addr, state, async {
        let _ = stop_rx.await;
    }));
    let config = Config {
        operator_namespace,
        extra_ca_pem,
        metrics,
        max_concurrent_reconciles,
        ..Config::default()
    };
    controller::run(client, config).await;
    let _ = stop_tx.send(());
    let _ = server.await;
    Ok(())
}
