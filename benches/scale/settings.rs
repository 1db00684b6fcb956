//! What to measure, from the environment (BENCH_*; see the bench's top-level documentation).

use std::{path::PathBuf, time::Duration};

use crate::support::BenchError;

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

impl Settings {
    /// How long to wait for all N to provision or rotate: generous for the machine, and three times what a tenant
    /// budget needs at least (a rotation writes each application twice, like a provisioning; with personal accounts
    /// Entra allows 60 such writes a minute).
    pub fn patience(&self, n: usize) -> Duration {
        Duration::from_secs(60 + 2 * n as u64)
            + Duration::from_secs_f64(3.0 * crate::report::ideal_secs(self, n))
    }
}
