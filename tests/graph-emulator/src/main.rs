//! `graph-emulator`: the emulator as a standalone HTTPS server for the demo and manual testing.

use graph_emulator::{Cloud, Emulator, EmulatorConfig, EmulatorHandle, TenantSize, ThrottleBudget};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: graph-emulator [--bind 127.0.0.1:8443] [--tenant ID] [--client-id ID] [--client-secret S]
       [--federated-subject SUB] [--ca-out PATH] [--latency-ms N] [--max-lifetime-days N] [--seed N] [--san HOST]...
       [--cloud global|usGovernment|china] [--tenant-size small|medium|large] [--throttle-resource-units N]
       [--block-password-addition]
Faults, clock and counters are controlled at runtime under /_emulator (see README).";

#[derive(Debug, Default)]
struct Args {
    bind: Option<SocketAddr>,
    tenant: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    federated_subject: Option<String>,
    ca_out: Option<PathBuf>,
    latency_ms: Option<u64>,
    max_lifetime_days: Option<u64>,
    seed: Option<u64>,
    sans: Vec<String>,
    cloud: Option<Cloud>,
    tenant_size: Option<TenantSize>,
    throttle_resource_units: Option<u32>,
    block_password_addition: bool,
}

fn parse_args(mut raw: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args::default();
    while let Some(flag) = raw.next() {
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        if flag == "--block-password-addition" {
            args.block_password_addition = true;
            continue;
        }
        let value = raw.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--bind" => {
                args.bind = Some(
                    value
                        .parse()
                        .map_err(|_| format!("--bind: bad address {value}"))?,
                )
            }
            "--tenant" => args.tenant = Some(value),
            "--client-id" => args.client_id = Some(value),
            "--client-secret" => args.client_secret = Some(value),
            "--federated-subject" => args.federated_subject = Some(value),
            "--ca-out" => args.ca_out = Some(PathBuf::from(value)),
            "--latency-ms" => args.latency_ms = Some(number(&value)?),
            "--max-lifetime-days" => args.max_lifetime_days = Some(number(&value)?),
            "--seed" => args.seed = Some(number(&value)?),
            "--san" => args.sans.push(value),
            "--cloud" => args.cloud = Some(value.parse().map_err(|e| format!("--cloud: {e}"))?),
            "--tenant-size" => {
                args.tenant_size = Some(value.parse().map_err(|e| format!("--tenant-size: {e}"))?)
            }
            "--throttle-resource-units" => {
                args.throttle_resource_units = Some(
                    u32::try_from(number(&value)?)
                        .map_err(|_| format!("--throttle-resource-units: too large: {value}"))?,
                )
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("{msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut cfg = EmulatorConfig {
        extra_hosts: args.sans.clone(),
        ..EmulatorConfig::default()
    };
    cfg.bind = args
        .bind
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8443)));
    if let Some(seed) = args.seed {
        cfg.seed = seed;
    }
    let emulator = match Emulator::start_with(cfg).await {
        Ok(e) => e,
        Err(err) => {
            eprintln!("graph-emulator: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(msg) = configure(&emulator.handle(), &args) {
        eprintln!("{msg}");
        return ExitCode::from(2);
    }
    if let Some(path) = &args.ca_out
        && let Err(err) = std::fs::write(path, emulator.ca_pem())
    {
        eprintln!("graph-emulator: cannot write {}: {err}", path.display());
        return ExitCode::FAILURE;
    }
    tracing::info!(
        url = %emulator.base_url(),
        graph = %emulator.graph_url(),
        tenant = args.tenant.as_deref().unwrap_or("-"),
        client_id = args.client_id.as_deref().unwrap_or("-"),
        "graph emulator listening"
    );
    if let Err(err) = shutdown_signal().await {
        eprintln!("graph-emulator: cannot wait for a shutdown signal: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Tenant, clients and faults from the flags.
fn configure(handle: &EmulatorHandle, args: &Args) -> Result<(), String> {
    if let Some(tenant) = &args.tenant {
        handle.add_tenant(tenant);
        if let Some(client_id) = &args.client_id {
            if let Some(secret) = &args.client_secret {
                handle.register_client_secret(tenant, client_id, secret);
            }
            if let Some(subject) = &args.federated_subject {
                handle.register_federated_client(tenant, client_id, subject);
            }
        }
    } else if args.client_id.is_some() {
        return Err("graph-emulator: --client-id needs --tenant".into());
    }
    if let Some(ms) = args.latency_ms {
        handle.set_latency(Duration::from_millis(ms));
    }
    if let Some(days) = args.max_lifetime_days {
        handle.set_max_credential_lifetime(Some(Duration::from_secs(days * 86_400)));
    }
    if let Some(cloud) = args.cloud {
        handle.set_cloud(cloud);
    }
    if args.tenant_size.is_some() || args.throttle_resource_units.is_some() {
        let mut budget =
            ThrottleBudget::for_tenant_size(args.tenant_size.unwrap_or(TenantSize::Small));
        if let Some(ru) = args.throttle_resource_units {
            budget.resource_units = ru;
        }
        handle.set_throttle_budget(Some(budget));
    }
    if args.block_password_addition {
        handle.set_password_addition_blocked(true);
    }
    Ok(())
}

/// SIGINT or SIGTERM: as PID 1 in a container, an unhandled SIGTERM would be ignored.
async fn shutdown_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        res = tokio::signal::ctrl_c() => res,
        _ = term.recv() => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn tenant_level_flags() {
        let args = parse(&[
            "--cloud",
            "china",
            "--tenant-size",
            "large",
            "--block-password-addition",
            "--throttle-resource-units",
            "40",
        ])
        .unwrap();
        assert_eq!(args.cloud, Some(Cloud::China));
        assert_eq!(args.tenant_size, Some(TenantSize::Large));
        assert_eq!(args.throttle_resource_units, Some(40));
        assert!(args.block_password_addition);
        assert!(parse(&["--cloud", "mars"]).is_err());
        assert!(parse(&["--tenant-size", "huge"]).is_err());
        let defaults = parse(&[]).unwrap();
        assert_eq!(
            (
                defaults.cloud,
                defaults.tenant_size,
                defaults.block_password_addition
            ),
            (None, None, false)
        );
    }
}
