//! Shared fixture for the operator integration tests: a real control plane (test bed), a Graph emulator, an
//! EntraTenant pointing at it, and the operator running in-process, restricted by label to this test's objects.
#![allow(dead_code)]

use std::time::Duration;

use entramail_operator::{
    api::{EntraTenant, NocoBaseMailIntegration, ROTATE_ANNOTATION},
    auth::{self, AuthMethod, Cloud, SecretText},
    controller::{self, Config},
    graph::{GraphClient, GraphConfig, RetryPolicy},
    planner::backoff::Backoff,
};
use graph_emulator::{Emulator, EmulatorHandle};
use k8s_openapi::api::{core::v1::Secret, events::v1::Event};
use kube::{
    Api, Client,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};

use crate::support;

pub mod spec;
pub use spec::Spec;

pub const TENANT_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const OP_CLIENT_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
pub const OP_SECRET: &str = "operator-secret-value";
pub const TEST_LABEL: &str = "entramail.io/test-run";

pub struct Fx {
    pub client: Client,
    pub ns: String,
    pub emu: Emulator,
    pub h: EmulatorHandle,
    pub tenant: String,
    operator: Option<tokio::task::JoinHandle<()>>,
    config: Config,
}

pub fn fast_config(ns: &str) -> Config {
    Config {
        operator_namespace: ns.to_string(),
        backoff: Backoff {
            base: Duration::from_millis(200),
            max: Duration::from_secs(2),
            max_permanent: Duration::from_secs(4),
        },
        min_requeue: Duration::from_millis(100),
        consistency_grace: Duration::from_secs(5),
        graph_retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(300),
            max_total_wait: Duration::from_secs(3),
        },
        // Out-of-band changes in Entra (tests remove credentials behind the operator's back) are noticed within
        // seconds; tests/provision.rs checks the long-interval behaviour (no Graph request per poke).
        drift_check_interval: Duration::from_secs(2),
        label_selector: Some(format!("{TEST_LABEL}={ns}")),
        // The test bed's NocoBase listens on loopback.
        destinations: entramail_operator::delivery::AllowedDestinations::only(["127.0.0.1"]),
        verify: auth::VerifyOptions {
            max_wait: Duration::from_secs(10),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
            request_timeout: Duration::from_secs(5),
        },
        ..Config::default()
    }
}

impl Fx {
    /// Namespace, emulator, operator credential Secret, EntraTenant; then the operator.
    pub async fn start(prefix: &str) -> Fx {
        Self::start_with(prefix, json!(null)).await
    }

    /// `allowed`: the tenant's spec.allowedNamespaces (null = all).
    pub async fn start_with(prefix: &str, allowed: Value) -> Fx {
        let client = support::client().await;
        support::apply_crds(&client).await;
        let ns = support::namespace(&client, prefix).await;
        let emu = Emulator::start().await.expect("start emulator");
        let h = emu.handle();
        h.add_tenant(TENANT_ID);
        h.register_client_secret(TENANT_ID, OP_CLIENT_ID, OP_SECRET);

        put_secret(&client, &ns, OP_CREDENTIAL, "clientSecret", OP_SECRET).await;
        let tenant = ns.clone();
        create_tenant(&client, &tenant, &emu, allowed, json!({TEST_LABEL: ns})).await;
        let config = fast_config(&ns);
        let mut fx = Fx {
            client,
            ns,
            emu,
            h,
            tenant,
            operator: None,
            config,
        };
        fx.start_operator();
        fx
    }

    /// The operator's metrics registry (scrape it with `controller::http::router`).
    pub fn metrics(&self) -> std::sync::Arc<controller::Metrics> {
        self.config.metrics.clone()
    }

    /// Changes the operator's configuration for the next `start_operator`.
    pub fn configure(&mut self, f: impl FnOnce(&mut Config)) {
        f(&mut self.config);
    }

    pub fn start_operator(&mut self) {
        let fut = controller::run(self.client.clone(), self.config.clone());
        self.operator = Some(tokio::spawn(fut));
    }

    /// Simulates an operator crash/stop.
    pub async fn stop_operator(&mut self) {
        if let Some(t) = self.operator.take() {
            t.abort();
            let _ = t.await;
        }
    }

    pub fn integrations(&self) -> Api<NocoBaseMailIntegration> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// A Secret in the fixture's namespace holding one key (e.g. a NocoBase API key).
    pub async fn put_secret(&self, name: &str, key: &str, value: &str) {
        put_secret(&self.client, &self.ns, name, key, value).await
    }

    /// Creates a NocoBaseMailIntegration using this fixture's tenant, in `ns` (default: the fixture's).
    pub async fn create_in(&self, ns: &str, name: &str, spec: Spec) -> NocoBaseMailIntegration {
        let obj = integration(name, &self.tenant, spec, json!({TEST_LABEL: self.ns}));
        Api::<NocoBaseMailIntegration>::namespaced(self.client.clone(), ns)
            .create(&PostParams::default(), &obj)
            .await
            .unwrap()
    }

    pub async fn create(&self, name: &str, spec: Spec) -> NocoBaseMailIntegration {
        self.create_in(&self.ns.clone(), name, spec).await
    }

    pub async fn annotate(&self, name: &str, key: &str, value: &str) {
        self.integrations()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {key: value}}})),
            )
            .await
            .unwrap();
    }

    /// Forces a rotation (`entramail.io/rotate` = `trigger`) and waits until the status names a key other than
    /// `old`.
    pub async fn rotate(&self, name: &str, trigger: &str, old: &str) -> NocoBaseMailIntegration {
        self.annotate(name, ROTATE_ANNOTATION, trigger).await;
        self.wait(name, Duration::from_secs(30), "rotation", |o| {
            key_of(o).is_some_and(|k| k != old)
        })
        .await
    }

    pub async fn delete(&self, name: &str) {
        self.integrations()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }

    /// Polls until `pred` holds for the object in `ns` (or panics after `timeout`).
    pub async fn wait_in<F>(
        &self,
        ns: &str,
        name: &str,
        timeout: Duration,
        what: &str,
        pred: F,
    ) -> NocoBaseMailIntegration
    where
        F: Fn(&NocoBaseMailIntegration) -> bool,
    {
        let api: Api<NocoBaseMailIntegration> = Api::namespaced(self.client.clone(), ns);
        wait_for(&api, name, timeout, what, pred).await
    }

    pub async fn wait<F>(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        pred: F,
    ) -> NocoBaseMailIntegration
    where
        F: Fn(&NocoBaseMailIntegration) -> bool,
    {
        self.wait_in(&self.ns.clone(), name, timeout, what, pred)
            .await
    }

    pub async fn wait_ready(&self, name: &str) -> NocoBaseMailIntegration {
        self.wait(name, Duration::from_secs(60), "Ready", is_ready)
            .await
    }

    /// The events in the fixture's namespace once they satisfy `pred`. The operator publishes events after the
    /// status write a test usually waits for, so a single list right after it can miss them.
    pub async fn wait_events(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&[Event]) -> bool,
    ) -> Vec<Event> {
        let api = Api::<Event>::namespaced(self.client.clone(), &self.ns);
        support::eventually_ok(what, timeout, async || {
            let events = api.list(&Default::default()).await.unwrap().items;
            if pred(&events) {
                Ok(events)
            } else {
                Err(String::new())
            }
        })
        .await
    }

    /// Waits until the object is gone.
    pub async fn wait_gone(&self, name: &str, timeout: Duration) {
        support::eventually_async(&format!("{name} deleted"), timeout, async || {
            self.integrations().get_opt(name).await.unwrap().is_none()
        })
        .await;
    }

    pub async fn secret(&self, name: &str) -> Option<Secret> {
        self.secrets().get_opt(name).await.unwrap()
    }

    /// A Graph client with the operator's own credential, for changes made behind the operator's back.
    pub fn operator_graph(&self) -> GraphClient {
        let base = url::Url::parse(&self.emu.base_url()).unwrap();
        let cloud = Cloud::Custom {
            authority_host: base.clone(),
            graph_endpoint: base,
        };
        let method = AuthMethod::ClientSecret {
            client_id: OP_CLIENT_ID.into(),
            secret: SecretText::new(OP_SECRET),
        };
        let ca = self.emu.ca_pem();
        let cred = auth::credential(TENANT_ID, &cloud, &method, Some(&ca)).unwrap();
        let mut cfg = GraphConfig::new(cloud.graph_base(), cred);
        cfg.extra_ca_pem = Some(ca);
        GraphClient::new(cfg).unwrap()
    }

    /// keyIds of the application's password credentials as Entra (the emulator) has them now.
    pub fn live_keys(&self, app_id: &str) -> Vec<String> {
        self.h
            .application_by_app_id(TENANT_ID, app_id)
            .map(|a| {
                a.password_credentials
                    .into_iter()
                    .map(|c| c.key_id)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Fx {
    fn drop(&mut self) {
        if let Some(t) = self.operator.take() {
            t.abort();
        }
    }
}

/// Name of the Secret holding the operator's own client secret (key `clientSecret`).
pub const OP_CREDENTIAL: &str = "operator-credential";

/// A Secret in `ns` holding one key, server-side applied (so it also updates an existing one).
pub async fn put_secret(client: &Client, ns: &str, name: &str, key: &str, value: &str) {
    let s: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name},
        "stringData": {key: value}
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), ns)
        .patch(
            name,
            &PatchParams::apply(support::TEST_MANAGER).force(),
            &Patch::Apply(&s),
        )
        .await
        .unwrap();
}

/// An EntraTenant against the emulator, authenticating with [`OP_CREDENTIAL`]. `allowed`: its
/// spec.allowedNamespaces (null = all); `labels`: its labels (null = none).
pub async fn create_tenant(
    client: &Client,
    name: &str,
    emu: &Emulator,
    allowed: Value,
    labels: Value,
) {
    let mut spec = json!({
        "tenantId": TENANT_ID,
        "cloud": "Custom",
        "endpoints": {"authorityHost": emu.base_url(), "graphEndpoint": emu.base_url()},
        "auth": {"clientSecret": {"clientId": OP_CLIENT_ID,
                 "secretRef": {"name": OP_CREDENTIAL, "key": "clientSecret"}}},
        "caBundle": emu.ca_pem(),
    });
    if !allowed.is_null() {
        spec["allowedNamespaces"] = allowed;
    }
    let t: EntraTenant = serde_json::from_value(json!({
        "apiVersion": "entramail.io/v1alpha1", "kind": "EntraTenant",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }))
    .unwrap();
    Api::<EntraTenant>::all(client.clone())
        .create(&PostParams::default(), &t)
        .await
        .unwrap();
}

/// A NocoBaseMailIntegration object using `tenant`, with `labels` (null = none).
pub fn integration(name: &str, tenant: &str, spec: Spec, labels: Value) -> NocoBaseMailIntegration {
    let mut obj = NocoBaseMailIntegration::new(name, spec.for_tenant(tenant));
    obj.metadata.labels = serde_json::from_value(labels).unwrap();
    obj
}

/// Polls until `pred` holds for the object `name` (or panics after `timeout` with its last status).
pub async fn wait_for(
    api: &Api<NocoBaseMailIntegration>,
    name: &str,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&NocoBaseMailIntegration) -> bool,
) -> NocoBaseMailIntegration {
    support::eventually_ok(&format!("{what} on {name}"), timeout, async || {
        match api.get_opt(name).await.unwrap() {
            Some(o) if pred(&o) => Ok(o),
            obj => Err(format!(
                "last status: {}",
                serde_json::to_string_pretty(&obj.and_then(|o| o.status)).unwrap()
            )),
        }
    })
    .await
}

pub fn is_ready(o: &NocoBaseMailIntegration) -> bool {
    condition(o, "Ready").is_some_and(|c| c.0 == "True")
}

/// (status, reason, message) of a condition.
pub fn condition(o: &NocoBaseMailIntegration, type_: &str) -> Option<(String, String, String)> {
    let v = serde_json::to_value(o.status.as_ref()?).ok()?;
    v["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_string(),
                c["reason"].as_str().unwrap_or_default().to_string(),
                c["message"].as_str().unwrap_or_default().to_string(),
            )
        })
}

pub fn data(s: &Secret, key: &str) -> Option<String> {
    s.data
        .as_ref()?
        .get(key)
        .map(|b| String::from_utf8(b.0.clone()).unwrap())
}

/// keyId of the credential the integration's status says the Secret holds.
pub fn key_of(o: &NocoBaseMailIntegration) -> Option<String> {
    o.status
        .as_ref()?
        .current_credential
        .as_ref()
        .map(|c| c.key_id.clone())
}

/// The integration's application (client) ID.
pub fn app_id_of(o: &NocoBaseMailIntegration) -> String {
    o.status
        .as_ref()
        .and_then(|s| s.app_id.clone())
        .expect("status.appId")
}

/// Object id of the integration's application (Graph's `/applications/{id}`).
pub fn object_id_of(o: &NocoBaseMailIntegration) -> String {
    o.status
        .as_ref()
        .and_then(|s| s.application_object_id.clone())
        .expect("status.applicationObjectId")
}

/// Whether the condition `type_` has this status and reason.
pub fn has_condition(o: &NocoBaseMailIntegration, type_: &str, status: &str, reason: &str) -> bool {
    condition(o, type_).is_some_and(|c| c.0 == status && c.1 == reason)
}

/// Creates a one-replica NocoBase Deployment `name` in `ns`: a consumer for the operator to restart.
pub async fn create_deployment(
    client: &Client,
    ns: &str,
    name: &str,
) -> k8s_openapi::api::apps::v1::Deployment {
    let d: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "nocobase", "image": "nocobase/nocobase"}]}}
        }
    }))
    .unwrap();
    Api::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &d)
        .await
        .unwrap()
}

/// Writes the Deployment status a finished rollout of its current template has (what the deployment controller and
/// kubelets would write; the test bed has no node).
pub async fn mark_rolled_out(client: &Client, ns: &str, name: &str) {
    let api = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), ns);
    let d = api.get(name).await.unwrap();
    let generation = d.metadata.generation.unwrap_or(1);
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {
            "observedGeneration": generation, "replicas": 1, "updatedReplicas": 1,
            "readyReplicas": 1, "availableReplicas": 1}})),
    )
    .await
    .unwrap();
}
