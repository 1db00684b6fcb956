//! IO around the planner: the reconcile loops for NocoBaseMailIntegration and EntraTenant, the Secret and
//! consumer handling, metrics and the health/metrics HTTP server. Start everything with [`run`].

pub mod cached;
pub mod consumers;
pub mod error;
pub mod http;
pub mod integration;
pub mod metrics;
pub mod secret;
pub mod tenant;
pub mod time;
pub mod watch_backoff;

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::StreamExt;
use k8s_openapi::api::{
    apps::v1::{Deployment, StatefulSet},
    core::v1::Secret,
};
use kube::{
    Api, Client, ResourceExt,
    core::PartialObjectMeta,
    runtime::{
        Controller, WatchStreamExt,
        controller::Action,
        events::Reporter,
        reflector::{self, ObjectRef, Store},
        watcher::{self, watcher},
    },
};
use tokio::sync::Mutex;

pub use cached::CachedIntegration;
pub use error::Error;
pub use metrics::Metrics;

use crate::{
    api::{ConsumerKind, EntraTenant},
    graph::{GraphClient, RetryPolicy},
    planner::backoff::Backoff,
};

/// Where the operator's own Secrets and Lease live unless told otherwise (chart: the release namespace).
pub const DEFAULT_OPERATOR_NAMESPACE: &str = "entramail-system";

/// Operator configuration. Production uses [`Config::default`] plus the operator namespace; tests shrink the
/// durations and pass the emulator's CA.
#[derive(Clone)]
pub struct Config {
    /// Namespace holding tenant credential Secrets (EntraTenant secretRefs) and the leader Lease.
    pub operator_namespace: String,
    /// Extra CA certificates (PEM) trusted for Graph and the token authority (tests: the emulator CA).
    pub extra_ca_pem: Option<String>,
    /// Which NocoBase URLs the operator may deliver client secrets to (cluster admin's choice).
    pub destinations: crate::delivery::AllowedDestinations,
    /// Backoff after failed reconciles.
    pub backoff: Backoff,
    /// Floor for every requeue delay.
    pub min_requeue: Duration,
    /// How long a just-minted credential may be missing from Graph reads before it counts as deleted.
    pub consistency_grace: Duration,
    /// Retries inside one Graph call (throttling, 5xx, replication lag).
    pub graph_retry: RetryPolicy,
    /// How long a just-minted client secret may take to authenticate (Entra replicates new secrets) before the
    /// attempt counts as failed, and how often to try.
    pub verify: crate::auth::VerifyOptions,
    /// How often a Ready tenant re-checks that a token is still obtainable.
    pub tenant_recheck: Duration,
    /// How long a quiet integration trusts what Graph last said before reading its application again (drift:
    /// someone changed or deleted it outside the operator). See `integration::snapshot`.
    pub drift_check_interval: Duration,
    /// Event reporter (controller name).
    pub reporter: String,
    /// Shared metrics registry.
    pub metrics: Arc<Metrics>,
    /// Only handle EntraTenants and NocoBaseMailIntegrations matching this label selector (tests run several
    /// operators side by side; production: None = all).
    pub label_selector: Option<String>,
    /// Namespaces whose integrations to manage; empty = all namespaces.
    pub watch_namespaces: Vec<String>,
    /// Reconciles running at once per integration controller (one per watched namespace, or one cluster-wide).
    /// Bounds memory and open Graph connections when many integrations need work at the same moment.
    pub max_concurrent_reconciles: u16,
    /// When raised, the controllers stop taking work and finish what is running.
    pub shutdown: crate::shutdown::Shutdown,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            operator_namespace: DEFAULT_OPERATOR_NAMESPACE.into(),
            destinations: crate::delivery::AllowedDestinations::default(),
            extra_ca_pem: None,
            backoff: Backoff::default(),
            min_requeue: Duration::from_secs(1),
            consistency_grace: Duration::from_secs(300),
            graph_retry: RetryPolicy::default(),
            verify: crate::auth::VerifyOptions::default(),
            tenant_recheck: Duration::from_secs(3600),
            drift_check_interval: Duration::from_secs(3600),
            reporter: "entramail-operator".into(),
            metrics: Arc::new(Metrics::default()),
            label_selector: None,
            watch_namespaces: Vec::new(),
            max_concurrent_reconciles: 16,
            shutdown: crate::shutdown::Shutdown::default(),
        }
    }
}

/// Shared state of the reconcilers.
pub struct Context {
    pub client: Client,
    pub config: Config,
    /// Who publishes events (see `integration::publish`: one `Recorder` per event).
    pub reporter: Reporter,
    pub metrics: Arc<Metrics>,
    /// Graph client per tenant name, with the cache key (tenant uid/generation/credential resourceVersion).
    graphs: Mutex<HashMap<String, (String, GraphClient)>>,
    /// What Graph said at each integration's last quiet reconcile.
    pub snapshots: integration::snapshot::Snapshots,
}

impl Context {
    pub fn new(client: Client, config: Config) -> Self {
        let reporter = Reporter {
            controller: config.reporter.clone(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            metrics: config.metrics.clone(),
            client,
            config,
            reporter,
            graphs: Mutex::default(),
            snapshots: Default::default(),
        }
    }
}

/// Integrations with a credential waiting for revocation that name this workload as a consumer.
fn rolling_consumers<K: ResourceExt>(
    store: &Store<CachedIntegration>,
    kind: ConsumerKind,
    workload: &K,
) -> Vec<ObjectRef<CachedIntegration>> {
    let (ns, name) = (workload.namespace(), workload.name_any());
    store
        .state()
        .into_iter()
        .filter(|i| {
            i.namespace() == ns
                && i.has_previous_credential()
                && i.spec
                    .rotation
                    .consumers
                    .iter()
                    .any(|c| c.kind == kind && c.name == name)
        })
        .map(|i| ObjectRef::from_obj(&*i))
        .collect()
}

fn tenant_error_policy(_t: Arc<EntraTenant>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failed("entratenant", err.reason());
    tracing::warn!(error = %err, "tenant reconcile failed");
    Action::requeue(
        ctx.config
            .backoff
            .delay(
                3,
                err.retry_after(),
                crate::planner::backoff::Persistence::Transient,
            )
            .max(ctx.config.min_requeue),
    )
}

fn api_in<K>(client: &Client, ns: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The NocoBaseMailIntegration controller for one namespace (or all when `ns` is None).
async fn run_integrations(ctx: Arc<Context>, selected: watcher::Config, ns: Option<String>) {
    let client = ctx.client.clone();
    let ns = ns.as_deref();
    let tenants: Api<EntraTenant> = Api::all(client.clone());
    let owned = watcher::Config::default().labels(&format!(
        "{}={}",
        secret::MANAGED_BY_LABEL,
        secret::MANAGED_BY
    ));
    // The cache keeps small objects (see `cached`). No backoff of its own: the controller's trigger_backoff already
    // covers this stream.
    let (reader, writer) = reflector::store();
    let integrations = watcher(api_in::<CachedIntegration>(&client, ns), selected.clone())
        .modify(CachedIntegration::slim)
        .reflect(writer)
        .applied_objects();
    let integration_ctl = Controller::for_stream(integrations, reader)
        .owns(api_in::<Secret>(&client, ns), owned)
        .trigger_backoff(watch_backoff::WatchBackoff::default());
    let store = integration_ctl.store();
    // A tenant change (Ready, allowed namespaces, credentials) re-evaluates every integration using it.
    let integration_ctl = integration_ctl.watches(tenants, selected, move |t: EntraTenant| {
        let name = t.name_any();
        store
            .state()
            .into_iter()
            .filter(|i| i.spec.tenant_ref.name == name)
            .map(|i| ObjectRef::from_obj(&*i))
            .collect::<Vec<_>>()
    });
    // During an overlap, a consumer finishing its rollout lets the old credential go early; outside an
    // overlap workload changes are ignored so the steady state stays quiet. Only names matter here, so the watches
    // are metadata-only (any change, status included, still arrives as a new resourceVersion).
    let (s1, s2) = (integration_ctl.store(), integration_ctl.store());
    integration_ctl
        .watches_stream(
            watcher(
                api_in::<PartialObjectMeta<Deployment>>(&client, ns),
                watcher::Config::default(),
            )
            .touched_objects(),
            move |d| rolling_consumers(&s1, ConsumerKind::Deployment, &d),
        )
        .watches_stream(
            watcher(
                api_in::<PartialObjectMeta<StatefulSet>>(&client, ns),
                watcher::Config::default(),
            )
            .touched_objects(),
            move |d| rolling_consumers(&s2, ConsumerKind::StatefulSet, &d),
        )
        .with_config(
            kube::runtime::controller::Config::default()
                .concurrency(ctx.config.max_concurrent_reconciles),
        )
        .graceful_shutdown_on(ctx.config.shutdown.clone().requested())
        .run(integration::reconcile, integration::error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "integration controller event");
            }
        })
        .await;
}

/// Runs both controllers until `config.shutdown` is raised (SIGTERM/SIGINT) or the returned future is dropped.
pub async fn run(client: Client, config: Config) {
    let ctx = Arc::new(Context::new(client.clone(), config));
    let tenants: Api<EntraTenant> = Api::all(client.clone());
    let selected = match &ctx.config.label_selector {
        Some(sel) => watcher::Config::default().labels(sel),
        None => watcher::Config::default(),
    };
    // One integration controller per watched namespace (namespaced RBAC), or one cluster-wide.
    let namespaces: Vec<Option<String>> = if ctx.config.watch_namespaces.is_empty() {
        vec![None]
    } else {
        ctx.config
            .watch_namespaces
            .iter()
            .cloned()
            .map(Some)
            .collect()
    };
    let integration_fut = futures::future::join_all(
        namespaces
            .into_iter()
            .map(|ns| run_integrations(ctx.clone(), selected.clone(), ns)),
    );

    let tenant_ctl =
        Controller::new(tenants, selected).trigger_backoff(watch_backoff::WatchBackoff::default());
    let tenant_store = tenant_ctl.store();
    let op_secrets: Api<Secret> = Api::namespaced(client.clone(), &ctx.config.operator_namespace);
    // A rotated operator credential Secret re-checks the tenants that reference it.
    let tenant_fut = tenant_ctl
        .watches(op_secrets, watcher::Config::default(), move |s: Secret| {
            let name = s.name_any();
            tenant_store
                .state()
                .into_iter()
                .filter(|t| {
                    let a = &t.spec.auth;
                    a.client_secret
                        .as_ref()
                        .is_some_and(|c| c.secret_ref.name == name)
                        || a.client_certificate
                            .as_ref()
                            .is_some_and(|c| c.secret_ref.name == name)
                })
                .map(|t| ObjectRef::from_obj(&*t))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(ctx.config.shutdown.clone().requested())
        .run(tenant::reconcile, tenant_error_policy, ctx.clone())
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "tenant controller event");
            }
        });

    futures::join!(integration_fut, tenant_fut);
}
