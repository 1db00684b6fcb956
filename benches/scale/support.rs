//! Plumbing for the scale benchmark: its error type, the admin client for the test control plane, the CRDs.

use std::{path::PathBuf, time::Duration};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
    config::{KubeConfigOptions, Kubeconfig},
    runtime::wait::{await_condition, conditions},
};

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

pub fn kubeconfig_path() -> Result<PathBuf, BenchError> {
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
