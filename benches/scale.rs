//! Scale benchmark: the operator binary (a separate process, so its memory and CPU can be measured) against the
//! real test control plane and an in-process Graph emulator with fixed latency and random throttling. Prints a
//! markdown table; it is a measurement program, not a timed test.
//!
//!   make bench                          # N=100
//!   BENCH_N=100,1000 make bench         # several sizes, each on a fresh operator process and emulator
//!
//! Environment: BENCH_REPORT_DIR (write scale-results.md and scale.svg there, e.g. docs), BENCH_N (default 100), BENCH_LATENCY_MS (50), BENCH_THROTTLE_RATIO (0.02), BENCH_TENANT_SIZE
//! (small|medium|large: Entra's resource-unit budget per app and tenant as the emulator models it, replacing the
//! random 429s of BENCH_THROTTLE_RATIO), BENCH_AUDIENCE (spec.application.signInAudience, e.g. AzureADMyOrg;
//! default the operator's), BENCH_RESYNCS (3),
//! BENCH_IDLE_SECS (20), BENCH_CONCURRENCY (the operator's --max-concurrent-reconciles; default: its default),
//! BENCH_OPERATOR (path of the operator binary; default the one cargo built with this bench).
//!
//! Scenarios per N: (a) N integrations created at once, time until all Ready vs the Graph-latency bound;
//! (b) steady state: every integration re-reconciled BENCH_RESYNCS times (annotation pokes), counting Graph
//! reads/writes and the operator's apiserver writes; (c) mass rotation: every integration triggered at the same
//! moment (entramail.io/rotate), time until all hold a new credential and all old ones are revoked, and 429s;
//! (d) the operator's peak RSS (VmHWM) and idle CPU.

// Not sibling files: every benches/*.rs would become a bench target of its own.
#[path = "scale/operator.rs"]
mod operator;
#[path = "scale/plot.rs"]
mod plot;
#[path = "scale/report.rs"]
mod report;
#[path = "scale/scenarios.rs"]
mod scenarios;
#[path = "scale/settings.rs"]
mod settings;
#[path = "scale/support.rs"]
mod support;
#[path = "scale/watch.rs"]
mod watch;
// The operator-process fixture the integration tests use.
#[path = "../tests/support/process.rs"]
mod process;
// The operator's own entry point (its clap `Args` and wiring): what the stand-in process runs (see operator.rs).
#[path = "../src/main.rs"]
mod operator_main;

use std::{path::Path, process::ExitCode};

use settings::Settings;
use support::BenchError;

fn main() -> ExitCode {
    if std::env::var_os(operator::REPLICA_ENV).is_some() {
        return operator_main::main();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("scale: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = if let Some(dir) = std::env::var_os("BENCH_REPLOT") {
        report::replot(Path::new(&dir))
    } else {
        runtime.block_on(bench())
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scale: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn bench() -> Result<(), BenchError> {
    entramail_operator::tls::install_crypto_provider();
    let settings = Settings::from_env()?;
    let client = support::client().await?;
    support::apply_crds(&client).await?;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for &n in &settings.sizes {
        eprintln!("scale: N={n} ...");
        let (row, note) = scenarios::run_size(&client, &settings, n).await?;
        rows.push(row);
        notes.extend(note);
        // After every size, so that a long run that fails later still leaves what it measured.
        if let Some(dir) = std::env::var_os("BENCH_REPORT_DIR") {
            report::write_report(Path::new(&dir), &settings, &rows, &notes)?;
        }
    }
    report::print_table(&settings, &rows, &notes);
    Ok(())
}
