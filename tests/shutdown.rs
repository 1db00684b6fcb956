//! The operator binary exits on SIGTERM whenever it arrives: during start-up, while waiting for leadership,
//! right after acquiring it (a SIGTERM there was once swallowed: the controllers registered their signal listener
//! only when first polled), and while running. Each run must be gone well inside the chart's 30s grace period.
//! Run: tests/testbed/with-control-plane.sh cargo test --workspace --test shutdown

mod support;

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::process::Command;

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

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
        let mut child = Command::new(env!("CARGO_BIN_EXE_entramail-operator"))
            .arg(format!("--operator-namespace={ns}"))
            .arg(format!("--metrics-bind-address=127.0.0.1:{}", free_port()))
            .arg(format!("--watch-namespaces={ns}"))
            .env("KUBECONFIG", support::kubeconfig_path())
            .env("POD_NAME", format!("shutdown-{i}"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let pid = child.id().expect("operator exited before SIGTERM");
        let sent = Instant::now();
        let kill = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!("operator still running 20s after SIGTERM sent {delay_ms}ms after start")
            })
            .unwrap();
        println!(
            "SIGTERM after {delay_ms}ms: {status} in {:?}",
            sent.elapsed()
        );
    }
}
