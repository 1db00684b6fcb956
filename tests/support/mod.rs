//! Shared helpers for integration tests that run against the real control plane started by
//! `tests/testbed/with-control-plane.sh` (which exports `TESTBED_KUBECONFIG`).
//!
//! Each integration test file includes this with `mod support;`.
// Every test binary compiles this module but uses only part of it.
#![allow(dead_code)]

/// A real NocoBase (from `tests/nocobase/with-nocobase.sh`).
pub mod nocobase;
/// The operator binary as a child process.
pub mod process;

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Config};

/// Field manager used for objects the tests themselves write.
pub const TEST_MANAGER: &str = "entramail-tests";

/// Path of the admin kubeconfig of the running test control plane.
pub fn kubeconfig_path() -> PathBuf {
    match std::env::var_os("TESTBED_KUBECONFIG") {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "TESTBED_KUBECONFIG is not set: run integration tests through the test bed, e.g. \
             `tests/testbed/with-control-plane.sh cargo test --workspace` (or `make test`)"
        ),
    }
}

/// A fresh client for the test control plane (admin). A new one per call: every `#[tokio::test]` has its own
/// runtime and a client's connection pool must not outlive the runtime it was made on.
pub async fn client() -> Client {
    entramail_operator::tls::install_crypto_provider();
    let kubeconfig = Kubeconfig::read_from(kubeconfig_path()).expect("read test kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("load test kubeconfig");
    Client::try_from(config).expect("build kube client")
}

/// The repository root (where `crds/` and `examples/` live).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Reads every CRD in `dir`.
pub fn read_crds(dir: &Path) -> Vec<CustomResourceDefinition> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("read crd");
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", p.display()))
        })
        .collect()
}

/// Server-side applies the given CRDs and waits until the apiserver serves them.
pub async fn apply_crd_objects(client: &Client, crds: &[CustomResourceDefinition]) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let pp = PatchParams::apply(TEST_MANAGER).force();
    for crd in crds {
        let name = crd.metadata.name.clone().expect("crd name");
        api.patch(&name, &pp, &Patch::Apply(crd))
            .await
            .unwrap_or_else(|e| panic!("apply CRD {name}: {e}"));
    }
    for crd in crds {
        let name = crd.metadata.name.clone().expect("crd name");
        tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(api.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .unwrap_or_else(|_| panic!("CRD {name} not established within 30s"))
        .expect("watch CRD");
    }
    // Established means the apiserver accepts the kind; discovery for clients can lag a moment behind.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// Applies the project's generated CRDs (`crds/*.yaml`).
pub async fn apply_crds(client: &Client) {
    apply_crd_objects(client, &read_crds(&repo_root().join("crds"))).await;
}

/// Creates a fresh namespace named `<prefix>-<random>` and returns its name.
pub async fn namespace(client: &Client, prefix: &str) -> String {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "generateName": format!("{prefix}-") }
    }))
    .expect("namespace object");
    let created = api
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    created.metadata.name.expect("generated namespace name")
}

/// How often the waits below look again.
const POLL: Duration = Duration::from_millis(200);

/// Polls a synchronous predicate (e.g. on the emulator's state) until it holds, or panics after `timeout`.
pub async fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    eventually_async(what, timeout, async || f()).await
}

/// Polls an async predicate (e.g. a GET against the apiserver) until it holds, or panics after `timeout`.
pub async fn eventually_async(what: &str, timeout: Duration, mut f: impl AsyncFnMut() -> bool) {
    eventually_ok(what, timeout, async || {
        if f().await {
            Ok(())
        } else {
            Err(String::new())
        }
    })
    .await
}

/// Polls an async check until it yields a value, or panics after `timeout` with `what` and the check's last reason.
pub async fn eventually_ok<T>(
    what: &str,
    timeout: Duration,
    mut f: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(why) if tokio::time::Instant::now() >= deadline => {
                if why.is_empty() {
                    panic!("timed out waiting for {what}");
                }
                panic!("timed out waiting for {what}: {why}");
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// Polls `f` every `every` until it holds or `timeout` passes; returns whether it held. For waits that carry on
/// either way (e.g. a kill point that injected faults may never reach).
pub async fn poll_until(
    timeout: Duration,
    every: Duration,
    mut f: impl AsyncFnMut() -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if f().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(every).await;
    }
}
