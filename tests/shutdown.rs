//! The operator binary exits on SIGTERM whenever it arrives: during start-up, while waiting for leadership,
//! right after acquiring it (a SIGTERM there was once swallowed: the controllers registered their signal listener
//! only when first polled), and while running. Each run must be gone well inside the chart's 30s grace period.
//! Run: tests/testbed/with-control-plane.sh cargo test --workspace --test shutdown

mod support;

use std::time::{Duration, Instant};

use support::process::{OperatorProcess, free_port};

#[tokio::test]
async fn sigterm_at_any_moment_stops_the_operator() {
    let client = support::client().await;
    support::apply_crds(&client).await;
    let ns = support::namespace(&client, "shutdown").await;
    // Delays after spawn: before the handlers exist, around leader election and controller start, steady.
    for (i, delay_ms) in [0u64, 20, 50, 100, 150, 200, 300, 400, 600, 900, 1500, 3000]
        .into_iter()
        .enumerate()
    {
        let mut op = OperatorProcess::spawn(
            env!("CARGO_BIN_EXE_entramail-operator"),
            [
                format!("--operator-namespace={ns}"),
                format!("--metrics-bind-address=127.0.0.1:{}", free_port()),
                format!("--watch-namespaces={ns}"),
            ],
            &[
                ("KUBECONFIG", support::kubeconfig_path().into_os_string()),
                ("POD_NAME", format!("shutdown-{i}").into()),
                ("RUST_LOG", "warn".into()),
            ],
        )
        .unwrap();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let sent = Instant::now();
        let status = op
            .terminate(Duration::from_secs(20))
            .await
            .unwrap_or_else(|| {
                panic!("operator still running 20s after SIGTERM sent {delay_ms}ms after start")
            });
        println!(
            "SIGTERM after {delay_ms}ms: {status} in {:?}",
            sent.elapsed()
        );
    }
}
