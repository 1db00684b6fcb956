//! The operator under measurement: a child process with its metrics endpoint, and its /proc figures.

use std::{
    ffi::OsString,
    path::Path,
    time::{Duration, Instant},
};

use crate::{
    process::{self, OperatorProcess, free_port},
    settings::Settings,
    support::{BenchError, kubeconfig_path},
};

/// Set in the environment of the stand-in process: the bench binary then runs the operator's own `main` (src/main.rs,
/// compiled into the bench) instead of benchmarking (see [`Operator::start`]).
pub const REPLICA_ENV: &str = "ENTRAMAIL_BENCH_OPERATOR_REPLICA";

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
    /// If the binary dies before it is ready, the benchmark re-runs itself as a stand-in that runs src/main.rs with
    /// the same flags (parsed by the operator's own clap `Args`), and says so in the table's notes.
    pub async fn start(settings: &Settings, op_ns: &str, ca_pem: &str) -> Result<Self, BenchError> {
        let dir = std::env::temp_dir().join(format!("entramail-bench-{op_ns}"));
        std::fs::create_dir_all(&dir)?;
        let ca_file = dir.join("emulator-ca.pem");
        std::fs::write(&ca_file, ca_pem)?;
        let http = reqwest::Client::new();
        let bin = &settings.operator_bin;
        let args = |port: u16| flags(settings, op_ns, &ca_file, port);
        match Self::spawn(&http, bin, args, None, &dir.join("operator.log")).await {
            Ok(op) => Ok(op),
            Err(e) => {
                let me = std::env::current_exe()?;
                let mut op = Self::spawn(
                    &http,
                    &me,
                    args,
                    Some(REPLICA_ENV),
                    &dir.join("replica.log"),
                )
                .await?;
                op.note = Some(format!(
                    "the operator binary {} did not start ({e}); measured a stand-in process running the same \
                     code (src/main.rs compiled into the benchmark, same flags, --no-leader-elect).",
                    bin.display()
                ));
                Ok(op)
            }
        }
    }

    /// Spawns `bin` with the flags `args(port)` for a free metrics port and waits until it is ready.
    async fn spawn(
        http: &reqwest::Client,
        bin: &Path,
        args: impl Fn(u16) -> Vec<OsString>,
        replica_env: Option<&str>,
        log: &Path,
    ) -> Result<Self, BenchError> {
        let port = free_port();
        let mut env: Vec<(&str, OsString)> = vec![
            ("KUBECONFIG", kubeconfig_path()?.into_os_string()),
            ("RUST_LOG", "warn".into()),
        ];
        env.extend(replica_env.map(|k| (k, OsString::from("1"))));
        let cmd = process::command(bin, args(port), &env);
        let mut process = OperatorProcess::from_command(cmd, Some(log))?;
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&mut process, http, &base).await?;
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

/// The operator's command line for the benchmark (flags of src/main.rs's `Args`).
fn flags(settings: &Settings, op_ns: &str, ca_file: &Path, port: u16) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["--no-leader-elect".into(), "--operator-namespace".into()];
    args.push(op_ns.into());
    args.push("--extra-ca-file".into());
    args.push(ca_file.into());
    args.push("--metrics-bind-address".into());
    args.push(format!("127.0.0.1:{port}").into());
    args.push("--max-concurrent-reconciles".into());
    args.push(settings.concurrency.to_string().into());
    args
}

/// Polls /readyz for up to 30 s; fails early, with the first log line, when the process exits.
async fn wait_ready(
    process: &mut OperatorProcess,
    http: &reqwest::Client,
    base: &str,
) -> Result<(), BenchError> {
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
            return Ok(());
        }
        if Instant::now() > deadline {
            process.kill9();
            return Err(BenchError::Operator("not ready within 30 s".into()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
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
