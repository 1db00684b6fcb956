//! One size N, phase by phase: the world it runs in ([`World`]: namespaces, emulator, tenant, operator), then
//! (a) [`provision`], (b) [`steady_state`], (c) [`mass_rotation`], (d) [`idle`], each filling its part of the row.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use entramail_operator::api::{EntraTenant, NocoBaseMailIntegration, is_condition_true};
use futures::{StreamExt, TryStreamExt, stream};
use graph_emulator::{Emulator, EmulatorHandle};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::json;

use crate::{
    operator::{Operator, cpu_seconds, peak_rss_kib},
    report::{Calls, Row, ideal_secs},
    settings::Settings,
    support::BenchError,
    watch::watch_writes,
};

const TENANT_ID: &str = "11111111-2222-3333-4444-555555555555";
const OP_CLIENT_ID: &str = "66666666-7777-8888-9999-000000000000";
/// Parallel apiserver requests the benchmark itself makes when creating/patching N objects.
const CLIENT_PARALLELISM: usize = 16;

/// Measures one size on a fresh operator process and emulator. Returns the row and a note when the operator had to
/// be replaced by a stand-in.
pub async fn run_size(
    client: &Client,
    settings: &Settings,
    n: usize,
) -> Result<(Row, Option<String>), BenchError> {
    let w = World::start(client, settings, n).await?;
    let mut row = Row {
        n,
        ..Row::default()
    };
    provision(&w, settings, &mut row).await?;
    steady_state(&w, settings, &mut row).await?;
    mass_rotation(&w, settings, &mut row).await?;
    idle(&w, settings, &mut row).await?;
    let note = w.op.note.clone();
    w.tear_down().await?;
    Ok((row, note))
}

/// Everything one size runs against.
struct World {
    client: Client,
    op_ns: String,
    ns: String,
    tenant: String,
    /// Kept alive for the whole size: dropping it stops the emulator.
    _emu: Emulator,
    h: EmulatorHandle,
    op: Operator,
    api: Api<NocoBaseMailIntegration>,
    names: Vec<String>,
}

impl World {
    /// Two fresh namespaces (the operator's and the integrations'), an emulator with one tenant, the EntraTenant
    /// pointing at it with its credentials Secret, and the operator.
    async fn start(client: &Client, settings: &Settings, n: usize) -> Result<Self, BenchError> {
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let op_ns = format!("bench-op-{suffix}");
        let ns = format!("bench-{suffix}");
        let tenant = format!("bench-{suffix}");
        for name in [&op_ns, &ns] {
            let obj: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
            Api::<Namespace>::all(client.clone())
                .create(&PostParams::default(), &obj)
                .await?;
        }
        let emu = Emulator::start().await?;
        let h = emu.handle();
        let op_secret = uuid::Uuid::new_v4().simple().to_string();
        h.add_tenant(TENANT_ID);
        h.register_client_secret(TENANT_ID, OP_CLIENT_ID, &op_secret);
        h.set_latency(settings.latency);
        create_tenant(client, &op_ns, &tenant, &emu.base_url(), &op_secret).await?;
        let op = Operator::start(settings, &op_ns, &emu.ca_pem()).await?;
        Ok(Self {
            client: client.clone(),
            api: Api::namespaced(client.clone(), &ns),
            names: (0..n).map(|i| format!("mail-{i:04}")).collect(),
            op_ns,
            ns,
            tenant,
            _emu: emu,
            h,
            op,
        })
    }

    fn n(&self) -> usize {
        self.names.len()
    }

    /// Cleans up while the operator still runs, so finalizers delete the apps; then stops it.
    async fn tear_down(mut self) -> Result<(), BenchError> {
        self.h.set_throttle_ratio(0.0, Duration::ZERO);
        self.h.set_throttle_budget(None);
        self.api
            .delete_collection(&DeleteParams::default(), &ListParams::default())
            .await?;
        let timeout = Duration::from_secs(60 + self.n() as u64);
        let _ = wait_all(&self.api, 0, timeout, "deleted", |_| true).await;
        self.op.stop().await;
        let _ = Api::<EntraTenant>::all(self.client.clone())
            .delete(&self.tenant, &DeleteParams::default())
            .await;
        for name in [&self.op_ns, &self.ns] {
            let _ = Api::<Namespace>::all(self.client.clone())
                .delete(name, &DeleteParams::default())
                .await;
        }
        Ok(())
    }
}

/// The operator's credentials Secret in `op_ns` and a cluster-wide EntraTenant using it against the emulator.
async fn create_tenant(
    client: &Client,
    op_ns: &str,
    tenant: &str,
    emulator_url: &str,
    op_secret: &str,
) -> Result<(), BenchError> {
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "entra-operator-credentials"},
        "stringData": {"clientSecret": op_secret},
    }))?;
    Api::<Secret>::namespaced(client.clone(), op_ns)
        .create(&PostParams::default(), &secret)
        .await?;
    let t = json!({
        "apiVersion": "entramail.io/v1alpha1", "kind": "EntraTenant",
        "metadata": {"name": tenant},
        "spec": {
            "tenantId": TENANT_ID, "cloud": "Custom",
            "endpoints": {"authorityHost": emulator_url, "graphEndpoint": emulator_url},
            "auth": {"clientSecret": {"clientId": OP_CLIENT_ID,
                     "secretRef": {"name": "entra-operator-credentials", "key": "clientSecret"}}},
        }
    });
    Api::<EntraTenant>::all(client.clone())
        .create(&PostParams::default(), &serde_json::from_value(t)?)
        .await?;
    Ok(())
}

/// (a) N integrations at once, with throttling from here on: time until all are Ready, and what it cost.
async fn provision(w: &World, settings: &Settings, row: &mut Row) -> Result<(), BenchError> {
    let (h, n) = (&w.h, w.n());
    match settings.tenant_size {
        Some(size) => {
            h.set_throttle_budget(Some(graph_emulator::ThrottleBudget::for_tenant_size(size)))
        }
        None => h.set_throttle_ratio(settings.throttle_ratio, Duration::from_secs(1)),
    }
    h.reset_counts();
    let started = Instant::now();
    for_all(&w.names, |name| {
        let api = w.api.clone();
        let obj = integration(&name, &w.tenant, settings.audience.as_deref());
        async move {
            api.create(&PostParams::default(), &obj?).await?;
            Ok(())
        }
    })
    .await?;
    let timeout = settings.patience(n);
    wait_all(&w.api, n, timeout, "Ready", |o| {
        o.status
            .as_ref()
            .is_some_and(|s| is_condition_true(&s.conditions, "Ready"))
    })
    .await?;
    row.ready_secs = started.elapsed().as_secs_f64();
    row.graph_writes_per_int = h.writes() as f64 / n as f64;
    row.provision_calls = Calls::of(h, n);
    row.create_429 = count_status(h, 429);
    row.ideal_secs = ideal_secs(settings, n);
    Ok(())
}

/// One benchmark integration: a long lifetime (nothing due during the run) and a short overlap.
fn integration(
    name: &str,
    tenant: &str,
    audience: Option<&str>,
) -> Result<NocoBaseMailIntegration, BenchError> {
    let mut application = json!({"nocobaseOrigin": format!("https://{name}.example.com")});
    if let Some(a) = audience {
        application["signInAudience"] = a.into();
    }
    Ok(serde_json::from_value(json!({
        "apiVersion": "entramail.io/v1alpha1", "kind": "NocoBaseMailIntegration",
        "metadata": {"name": name},
        "spec": {
            "tenantRef": {"name": tenant},
            "application": application,
            "secret": {"lifetime": "4320h"},
            "rotation": {"overlap": "3s"},
            // Nothing delivers to NocoBase here: the old credential goes after the overlap alone.
            "delivery": {"acknowledgement": "NotRequired"},
        }
    }))?)
}

/// (b) Steady state: pokes re-run every reconcile; the operator should neither call Graph writes nor the apiserver.
async fn steady_state(w: &World, settings: &Settings, row: &mut Row) -> Result<(), BenchError> {
    let (h, n) = (&w.h, w.n());
    tokio::time::sleep(Duration::from_secs(2)).await;
    h.reset_counts();
    let (watch_stop, api_writes) = watch_writes(&w.client, &w.ns).await;
    let base_reconciles = w.op.reconciles().await?;
    for round in 0..settings.resyncs {
        for_all(&w.names, |name| {
            let api = w.api.clone();
            async move {
                let patch = json!({"metadata": {"annotations": {"bench.entramail.io/poke": round.to_string()}}});
                api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                    .await?;
                Ok(())
            }
        })
        .await?;
        let want = base_reconciles + (round as u64 + 1) * n as u64;
        let timeout = Duration::from_secs(60 + n as u64 / 5);
        let what = format!("resync round {round}: reconciles");
        poll(
            timeout,
            &what,
            async || Ok(w.op.reconciles().await? >= want),
        )
        .await?;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = watch_stop.send(());
    let api_writes = api_writes.await.unwrap_or(0);
    let resynced = (settings.resyncs as usize * n) as f64;
    row.steady_reconciles = w.op.reconciles().await? - base_reconciles;
    row.steady_graph_reads = h.reads() as f64 / resynced;
    row.steady_graph_writes = h.writes() as f64 / resynced;
    row.steady_api_writes = api_writes as f64 / resynced;
    Ok(())
}

/// (c) Mass rotation: every integration due at the same moment (entramail.io/rotate); time until all hold a new
/// credential, and until every old one is revoked.
async fn mass_rotation(w: &World, settings: &Settings, row: &mut Row) -> Result<(), BenchError> {
    let (h, n) = (&w.h, w.n());
    let listed = w.api.list(&ListParams::default()).await?;
    let before: HashMap<String, String> = listed
        .iter()
        .filter_map(|o| Some((o.name_any(), key_of(o)?)))
        .collect();
    let app_ids: HashSet<String> = listed
        .into_iter()
        .filter_map(|o| o.status?.app_id)
        .collect();
    h.reset_counts();
    let trigger = format!("bench-{}", chrono::Utc::now().timestamp());
    let started = Instant::now();
    for_all(&w.names, |name| {
        let api = w.api.clone();
        let patch = json!({"metadata": {"annotations": {"entramail.io/rotate": trigger}}});
        async move {
            api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await?;
            Ok(())
        }
    })
    .await?;
    let timeout = settings.patience(n);
    wait_all(&w.api, n, timeout, "rotated", |o| {
        key_of(o).is_some_and(|k| before.get(&o.name_any()) != Some(&k))
    })
    .await?;
    row.rotate_secs = started.elapsed().as_secs_f64();
    let old_credentials_left = || {
        h.applications(TENANT_ID)
            .iter()
            .filter(|a| app_ids.contains(&a.app_id) && a.password_credentials.len() != 1)
            .count()
    };
    poll(
        timeout,
        "apps still holding their old credential",
        async || Ok(old_credentials_left() == 0),
    )
    .await
    .map_err(|_| {
        BenchError::Timeout(format!(
            "{} apps still hold their old credential",
            old_credentials_left()
        ))
    })?;
    row.revoke_secs = started.elapsed().as_secs_f64();
    row.rotate_429 = count_status(h, 429);
    row.rotate_calls = Calls::of(h, n);
    row.busy_cpu_secs = cpu_seconds(w.op.pid())?;
    Ok(())
}

/// (d) Idle: nothing due for months, no changes; CPU over the idle window and the peak RSS of the whole run.
async fn idle(w: &World, settings: &Settings, row: &mut Row) -> Result<(), BenchError> {
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu0 = cpu_seconds(w.op.pid())?;
    tokio::time::sleep(settings.idle).await;
    let cpu1 = cpu_seconds(w.op.pid())?;
    row.idle_cpu_pct = 100.0 * (cpu1 - cpu0) / settings.idle.as_secs_f64();
    row.rss_mib = peak_rss_kib(w.op.pid())? as f64 / 1024.0;
    Ok(())
}

fn key_of(o: &NocoBaseMailIntegration) -> Option<String> {
    Some(
        o.status
            .as_ref()?
            .current_credential
            .as_ref()?
            .key_id
            .clone(),
    )
}

fn count_status(h: &EmulatorHandle, status: u16) -> u64 {
    let suffix = format!(" {status}");
    h.counts_by_status()
        .iter()
        .filter(|(k, _)| k.ends_with(&suffix))
        .map(|(_, v)| v)
        .sum()
}

/// Runs `f` for every name with bounded parallelism; the first error wins.
async fn for_all<F, Fut>(names: &[String], f: F) -> Result<(), BenchError>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), BenchError>>,
{
    stream::iter(names.iter().cloned().map(f))
        .buffer_unordered(CLIENT_PARALLELISM)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Every 250 ms until `done` says so; a timeout names `what`.
async fn poll(
    timeout: Duration,
    what: &str,
    mut done: impl AsyncFnMut() -> Result<bool, BenchError>,
) -> Result<(), BenchError> {
    let deadline = Instant::now() + timeout;
    loop {
        if done().await? {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(BenchError::Timeout(format!("{what} after {timeout:?}")));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Polls until exactly `want` objects exist and all satisfy `pred`.
async fn wait_all(
    api: &Api<NocoBaseMailIntegration>,
    want: usize,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&NocoBaseMailIntegration) -> bool,
) -> Result<(), BenchError> {
    let deadline = Instant::now() + timeout;
    loop {
        let list = api.list(&ListParams::default()).await?;
        let ok = list.items.iter().filter(|o| pred(o)).count();
        if list.items.len() == want && ok == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(BenchError::Timeout(format!(
                "{what}: {ok}/{want} after {timeout:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
