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

// Not a sibling file: every benches/*.rs would become a bench target of its own.
#[path = "scale/plot.rs"]
mod plot;
#[path = "scale/support.rs"]
mod scale_support;
// The operator-process fixture the integration tests use.
#[path = "../tests/support/process.rs"]
mod process;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::{Duration, Instant},
};

use entramail_operator::api::{NocoBaseMailIntegration, is_condition_true};
use futures::{StreamExt, TryStreamExt, stream};
use graph_emulator::{Emulator, EmulatorHandle};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
    runtime::watcher,
};
use scale_support::{BenchError, Operator, Settings, cpu_seconds, peak_rss_kib};
use serde_json::{Value, json};

const TENANT_ID: &str = "11111111-2222-3333-4444-555555555555";
const OP_CLIENT_ID: &str = "66666666-7777-8888-9999-000000000000";
/// Parallel apiserver requests the benchmark itself makes when creating/patching N objects.
const CLIENT_PARALLELISM: usize = 16;
/// The fewest Graph requests a provisioning can make, one after the other: create the app (upsert on uniqueName,
/// its 201 carries the app), create its service principal, addPassword, one token request proving the new secret
/// works (docs/scale.md). The operator's own token is fetched once per tenant and is not on each path.
const MIN_PROVISION_CALLS: f64 = 4.0;
/// Writes among them, and writes on the application itself (Entra's personal-account app limit counts those).
const MIN_PROVISION_WRITES: f64 = 3.0;
const MIN_PROVISION_APP_WRITES: f64 = 2.0;

/// Graph requests per integration, by kind.
#[derive(Default, Clone, Copy)]
struct Calls {
    reads: f64,
    writes: f64,
    tokens: f64,
}

impl Calls {
    fn of(h: &EmulatorHandle, n: usize) -> Self {
        let (mut reads, mut writes, mut tokens) = (0u64, 0u64, 0u64);
        for (route, count) in h.counts() {
            if route.contains("/oauth2/") {
                tokens += count;
            } else if route.starts_with("GET ") {
                reads += count;
            } else {
                writes += count;
            }
        }
        let n = n.max(1) as f64;
        Self {
            reads: reads as f64 / n,
            writes: writes as f64 / n,
            tokens: tokens as f64 / n,
        }
    }

    fn total(&self) -> f64 {
        self.reads + self.writes + self.tokens
    }
}

/// One row of the table.
#[derive(Default)]
struct Row {
    n: usize,
    ready_secs: f64,
    ideal_secs: f64,
    /// Graph requests per provisioning: reads, writes, token requests (the operator's and the new secrets').
    provision_calls: Calls,
    graph_writes_per_int: f64,
    create_429: u64,
    steady_reconciles: u64,
    steady_graph_reads: f64,
    steady_graph_writes: f64,
    steady_api_writes: f64,
    rotate_secs: f64,
    revoke_secs: f64,
    rotate_429: u64,
    rotate_calls: Calls,
    rss_mib: f64,
    idle_cpu_pct: f64,
    busy_cpu_secs: f64,
}

fn main() -> std::process::ExitCode {
    // `cargo bench` passes `--bench`; the only flag of our own starts the operator stand-in (see scale_support).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("scale: cannot start tokio: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = if args.first().map(String::as_str) == Some(scale_support::REPLICA_FLAG) {
        runtime.block_on(scale_support::run_replica(&args[1..]))
    } else if let Some(dir) = std::env::var_os("BENCH_REPLOT") {
        replot(std::path::Path::new(&dir))
    } else {
        runtime.block_on(bench())
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scale: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn bench() -> Result<(), BenchError> {
    entramail_operator::tls::install_crypto_provider();
    let settings = Settings::from_env()?;
    let client = scale_support::client().await?;
    scale_support::apply_crds(&client).await?;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for &n in &settings.sizes {
        eprintln!("scale: N={n} ...");
        let (row, note) = run_size(&client, &settings, n).await?;
        rows.push(row);
        notes.extend(note);
        // After every size, so that a long run that fails later still leaves what it measured.
        if let Some(dir) = std::env::var_os("BENCH_REPORT_DIR") {
            write_report(std::path::Path::new(&dir), &settings, &rows, &notes)?;
        }
    }
    print_table(&settings, &rows, &notes);
    Ok(())
}

/// BENCH_REPLOT=docs: draws scale.svg again from the scale-results.md a run wrote (after a change to the drawing,
/// without measuring again).
fn replot(dir: &std::path::Path) -> Result<(), BenchError> {
    let md = std::fs::read_to_string(dir.join("scale-results.md"))?;
    let settings = md
        .lines()
        .find(|l| l.starts_with("Graph latency"))
        .unwrap_or_default();
    let when = md
        .split(" on ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .unwrap_or_default();
    let num = |cell: &str| -> f64 {
        cell.split_whitespace()
            .next()
            .and_then(|v| v.trim_end_matches('×').parse().ok())
            .unwrap_or(0.0)
    };
    let points: Vec<plot::Point> = md
        .lines()
        .filter(|l| l.starts_with("| ") && l.as_bytes().get(2).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let c: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let cell = |i: usize| c.get(i).copied().unwrap_or_default();
            plot::Point {
                n: num(cell(0)),
                ready_secs: num(cell(1)),
                ideal_secs: num(cell(2)),
                provision_calls: num(cell(4)),
                rotate_secs: num(cell(11)),
                rotate_calls: num(cell(12)),
                rss_mib: num(cell(14)),
            }
        })
        .collect();
    if points.is_empty() {
        return Err(BenchError::Setting(format!(
            "BENCH_REPLOT: no table rows in {}",
            dir.join("scale-results.md").display()
        )));
    }
    std::fs::write(
        dir.join("scale.svg"),
        plot::svg(
            &points,
            &format!("entramail-operator scale benchmark, {when}: {settings}"),
        ),
    )?;
    eprintln!("scale: redrew {}/scale.svg", dir.display());
    Ok(())
}

/// docs/scale.md's generated part and docs/scale.svg, from this run.
fn write_report(
    dir: &std::path::Path,
    s: &Settings,
    rows: &[Row],
    notes: &[String],
) -> Result<(), BenchError> {
    let when = chrono::Utc::now().format("%Y-%m-%d");
    let sizes: Vec<String> = s.sizes.iter().map(|n| n.to_string()).collect();
    let mut md = format!(
        "<!-- Generated by `BENCH_N={} BENCH_REPORT_DIR=docs make bench` on {when}; do not edit by hand. -->\n\n{}\n\n{}",
        sizes.join(","),
        settings_line(s),
        table(rows)
    );
    for n in notes {
        md.push_str(&format!("\nNote: {n}\n"));
    }
    std::fs::write(dir.join("scale-results.md"), md)?;
    let points: Vec<plot::Point> = rows
        .iter()
        .map(|r| plot::Point {
            n: r.n as f64,
            ready_secs: r.ready_secs,
            ideal_secs: r.ideal_secs,
            rotate_secs: r.revoke_secs,
            provision_calls: r.provision_calls.total(),
            rotate_calls: r.rotate_calls.total(),
            rss_mib: r.rss_mib,
        })
        .collect();
    std::fs::write(
        dir.join("scale.svg"),
        plot::svg(
            &points,
            &format!(
                "entramail-operator scale benchmark, {when}: {}",
                settings_line(s)
            ),
        ),
    )?;
    eprintln!(
        "scale: wrote {}/scale-results.md and scale.svg",
        dir.display()
    );
    Ok(())
}

async fn run_size(
    client: &Client,
    settings: &Settings,
    n: usize,
) -> Result<(Row, Option<String>), BenchError> {
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

    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "entra-operator-credentials"},
        "stringData": {"clientSecret": op_secret},
    }))?;
    Api::<Secret>::namespaced(client.clone(), &op_ns)
        .create(&PostParams::default(), &secret)
        .await?;
    let t = json!({
        "apiVersion": "entramail.io/v1alpha1", "kind": "EntraTenant",
        "metadata": {"name": tenant},
        "spec": {
            "tenantId": TENANT_ID, "cloud": "Custom",
            "endpoints": {"authorityHost": emu.base_url(), "graphEndpoint": emu.base_url()},
            "auth": {"clientSecret": {"clientId": OP_CLIENT_ID,
                     "secretRef": {"name": "entra-operator-credentials", "key": "clientSecret"}}},
        }
    });
    Api::<entramail_operator::api::EntraTenant>::all(client.clone())
        .create(&PostParams::default(), &serde_json::from_value(t)?)
        .await?;

    let mut op = Operator::start(settings, &op_ns, &emu.ca_pem()).await?;
    let note = op.note.clone();
    let api: Api<NocoBaseMailIntegration> = Api::namespaced(client.clone(), &ns);
    let mut row = Row {
        n,
        ..Row::default()
    };

    // (a) N at once, with random throttling from here on.
    match settings.tenant_size {
        Some(size) => {
            h.set_throttle_budget(Some(graph_emulator::ThrottleBudget::for_tenant_size(size)))
        }
        None => h.set_throttle_ratio(settings.throttle_ratio, Duration::from_secs(1)),
    }
    h.reset_counts();
    let names: Vec<String> = (0..n).map(|i| format!("mail-{i:04}")).collect();
    let started = Instant::now();
    for_all(&names, |name| {
        let api = api.clone();
        let tenant = tenant.clone();
        let audience = settings.audience.clone();
        async move {
            let mut application = json!({"nocobaseOrigin": format!("https://{name}.example.com")});
            if let Some(a) = audience {
                application["signInAudience"] = a.into();
            }
            let obj: NocoBaseMailIntegration = serde_json::from_value(json!({
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
            }))?;
            api.create(&PostParams::default(), &obj).await?;
            Ok(())
        }
    })
    .await?;
    wait_all(
        &api,
        n,
        Duration::from_secs(60 + 2 * n as u64),
        "Ready",
        |o| {
            o.status
                .as_ref()
                .is_some_and(|s| is_condition_true(&s.conditions, "Ready"))
        },
    )
    .await?;
    row.ready_secs = started.elapsed().as_secs_f64();
    row.graph_writes_per_int = h.writes() as f64 / n as f64;
    row.provision_calls = Calls::of(&h, n);
    row.create_429 = count_status(&h, 429);
    row.ideal_secs = ideal_secs(settings, n);

    // (b) steady state: pokes re-run every reconcile; the operator should neither call Graph writes nor the apiserver.
    tokio::time::sleep(Duration::from_secs(2)).await;
    h.reset_counts();
    let (watch_stop, api_writes) = watch_writes(client, &ns).await;
    let base_reconciles = op.reconciles().await?;
    for round in 0..settings.resyncs {
        for_all(&names, |name| {
            let api = api.clone();
            async move {
                let patch = json!({"metadata": {"annotations": {"bench.entramail.io/poke": round.to_string()}}});
                api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                    .await?;
                Ok(())
            }
        })
        .await?;
        let want = base_reconciles + (round as u64 + 1) * n as u64;
        let deadline = Instant::now() + Duration::from_secs(60 + n as u64 / 5);
        while op.reconciles().await? < want {
            if Instant::now() > deadline {
                return Err(BenchError::Timeout(format!(
                    "resync round {round}: reconciles"
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = watch_stop.send(());
    let api_writes = api_writes.await.unwrap_or(0);
    let resynced = (settings.resyncs as usize * n) as f64;
    row.steady_reconciles = op.reconciles().await? - base_reconciles;
    row.steady_graph_reads = h.reads() as f64 / resynced;
    row.steady_graph_writes = h.writes() as f64 / resynced;
    row.steady_api_writes = api_writes as f64 / resynced;

    // (c) mass rotation: every integration due at the same moment.
    let before: HashMap<String, String> = api
        .list(&ListParams::default())
        .await?
        .into_iter()
        .filter_map(|o| Some((o.name_any(), key_of(&o)?)))
        .collect();
    let app_ids: HashSet<String> = api
        .list(&ListParams::default())
        .await?
        .into_iter()
        .filter_map(|o| o.status?.app_id)
        .collect();
    h.reset_counts();
    let trigger = format!("bench-{}", chrono::Utc::now().timestamp());
    let started = Instant::now();
    for_all(&names, |name| {
        let api = api.clone();
        let trigger = trigger.clone();
        async move {
            let patch = json!({"metadata": {"annotations": {"entramail.io/rotate": trigger}}});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                .await?;
            Ok(())
        }
    })
    .await?;
    wait_all(
        &api,
        n,
        Duration::from_secs(60 + 2 * n as u64),
        "rotated",
        |o| key_of(o).is_some_and(|k| before.get(&o.name_any()) != Some(&k)),
    )
    .await?;
    row.rotate_secs = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(60 + 2 * n as u64);
    loop {
        let pending = h
            .applications(TENANT_ID)
            .iter()
            .filter(|a| app_ids.contains(&a.app_id) && a.password_credentials.len() != 1)
            .count();
        if pending == 0 {
            break;
        }
        if Instant::now() > deadline {
            return Err(BenchError::Timeout(format!(
                "{pending} apps still hold their old credential"
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    row.revoke_secs = started.elapsed().as_secs_f64();
    row.rotate_429 = count_status(&h, 429);
    row.rotate_calls = Calls::of(&h, n);
    row.busy_cpu_secs = cpu_seconds(op.pid())?;

    // (d) idle: nothing due for months, no changes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu0 = cpu_seconds(op.pid())?;
    tokio::time::sleep(settings.idle).await;
    let cpu1 = cpu_seconds(op.pid())?;
    row.idle_cpu_pct = 100.0 * (cpu1 - cpu0) / settings.idle.as_secs_f64();
    row.rss_mib = peak_rss_kib(op.pid())? as f64 / 1024.0;

    // Clean up while the operator still runs, so finalizers delete the apps; then stop it.
    h.set_throttle_ratio(0.0, Duration::ZERO);
    h.set_throttle_budget(None);
    api.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await?;
    let _ = wait_all(
        &api,
        0,
        Duration::from_secs(60 + n as u64),
        "deleted",
        |_| true,
    )
    .await;
    op.stop().await;
    let _ = Api::<entramail_operator::api::EntraTenant>::all(client.clone())
        .delete(&tenant, &DeleteParams::default())
        .await;
    for name in [&op_ns, &ns] {
        let _ = Api::<Namespace>::all(client.clone())
            .delete(name, &DeleteParams::default())
            .await;
    }
    Ok((row, note))
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

/// Counts changes the operator makes to the integrations and Secrets in `ns` until told to stop. Our own pokes
/// (annotations) are not changes: an integration counts as written when anything but its annotations changed.
async fn watch_writes(
    client: &Client,
    ns: &str,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<u64>,
) {
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let crs = watcher(
        Api::<NocoBaseMailIntegration>::namespaced(client.clone(), ns),
        watcher::Config::default(),
    )
    .map_ok(|e| keyed("cr", e));
    let secrets = watcher(
        Api::<Secret>::namespaced(client.clone(), ns),
        watcher::Config::default(),
    )
    .map_ok(|e| keyed("secret", e));
    let mut events = stream::select(crs.boxed(), secrets.boxed());
    let task = tokio::spawn(async move {
        let mut seen: BTreeMap<(&str, String), String> = BTreeMap::new();
        let mut synced = 0;
        let mut writes = 0;
        loop {
            tokio::select! {
                _ = &mut stop_rx => return writes,
                ev = events.next() => match ev {
                    None => return writes,
                    Some(Err(_)) => continue,
                    Some(Ok(watcher::Event::InitApply((kind, name, fp)))) => { seen.insert((kind, name), fp); }
                    Some(Ok(watcher::Event::InitDone)) => synced += 1,
                    Some(Ok(watcher::Event::Init)) => {}
                    Some(Ok(watcher::Event::Apply((kind, name, fp)))) => {
                        if synced >= 2 && seen.get(&(kind, name.clone())) != Some(&fp) {
                            writes += 1;
                        }
                        seen.insert((kind, name), fp);
                    }
                    Some(Ok(watcher::Event::Delete(_))) => writes += 1,
                }
            }
        }
    });
    // Let both initial lists complete before the first poke.
    tokio::time::sleep(Duration::from_secs(2)).await;
    (stop_tx, task)
}

/// (kind, name, fingerprint) of an object in a watch event.
type Keyed = (&'static str, String, String);

fn keyed<K: ResourceExt + serde::Serialize>(
    kind: &'static str,
    ev: watcher::Event<K>,
) -> watcher::Event<Keyed> {
    let f = |o: K| (kind, o.name_any(), fingerprint(&o));
    match ev {
        watcher::Event::Apply(o) => watcher::Event::Apply(f(o)),
        watcher::Event::Delete(o) => watcher::Event::Delete(f(o)),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitApply(o) => watcher::Event::InitApply(f(o)),
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

/// The object without the fields that change when nothing but our own annotations changed.
fn fingerprint(o: &impl serde::Serialize) -> String {
    let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in ["resourceVersion", "managedFields", "annotations"] {
            meta.remove(k);
        }
    }
    v.to_string()
}

/// The critical-path ideal of (a): the fewest Graph requests a provisioning needs, one after the other at the
/// emulator's latency, --max-concurrent-reconciles integrations at a time; with a tenant budget, also the time
/// Entra's write limits need for the fewest writes (whichever is longer).
fn ideal_secs(s: &Settings, n: usize) -> f64 {
    let latency_bound = MIN_PROVISION_CALLS
        * s.latency.as_secs_f64()
        * (n as f64 / f64::from(s.concurrency)).ceil();
    let budget_bound = s.tenant_size.map_or(0.0, |size| {
        let b = graph_emulator::ThrottleBudget::for_tenant_size(size);
        let per_sec = |count: u32, window: Duration| f64::from(count) / window.as_secs_f64();
        let writes = (n as f64 * MIN_PROVISION_WRITES - f64::from(b.write_requests)).max(0.0)
            / per_sec(b.write_requests, b.write_window);
        // Audiences with personal accounts (the default) have a stricter app write limit (docs/entra.md).
        let personal = s.audience.as_deref().is_none_or(|a| a.contains("Personal"));
        let app_writes = if personal {
            (n as f64 * MIN_PROVISION_APP_WRITES - f64::from(b.personal_app_writes)).max(0.0)
                / per_sec(b.personal_app_writes, b.personal_app_write_window)
        } else {
            0.0
        };
        writes.max(app_writes)
    });
    latency_bound.max(budget_bound)
}

fn settings_line(s: &Settings) -> String {
    format!(
        "Graph latency {} ms, throttling {}, audience {}, {} resync rounds, idle window {} s, \
         --max-concurrent-reconciles {}, {} CPU cores.",
        s.latency.as_millis(),
        match s.tenant_size {
            Some(size) => format!("Entra's resource-unit budget of a {size:?} tenant"),
            None => format!("ratio {} (Retry-After 1 s)", s.throttle_ratio),
        },
        s.audience
            .as_deref()
            .unwrap_or("default (AzureADandPersonalMicrosoftAccount)"),
        s.resyncs,
        s.idle.as_secs(),
        s.concurrency,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    )
}

fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str(
        "| N | (a) all Ready | critical-path ideal | ratio | Graph calls / provisioning (reads + writes + tokens) | 429s / integration (a) | (b) reconciles | Graph reads / resync | Graph writes / resync | apiserver writes / resync | (c) all rotated | old revoked | Graph calls / rotation (reads + writes + tokens) | 429s / integration (c) | (d) peak RSS | idle CPU | CPU time (a–c) |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        let calls = |c: &Calls| {
            format!(
                "{:.1} ({:.1} + {:.1} + {:.1})",
                c.total(),
                c.reads,
                c.writes,
                c.tokens
            )
        };
        let per = |x: u64| x as f64 / r.n.max(1) as f64;
        out.push_str(&format!(
            "| {} | {:.1} s | {:.2} s | {} | {} | {:.3} | {} | {:.2} | {:.2} | {:.2} | {:.1} s | {:.1} s | {} | {:.3} | {:.1} MiB | {:.2} % | {:.1} s |\n",
            r.n,
            r.ready_secs,
            r.ideal_secs,
            if r.ideal_secs > 0.0 {
                format!("{:.1}×", r.ready_secs / r.ideal_secs)
            } else {
                "–".to_string()
            },
            calls(&r.provision_calls),
            per(r.create_429),
            r.steady_reconciles,
            r.steady_graph_reads,
            r.steady_graph_writes,
            r.steady_api_writes,
            r.rotate_secs,
            r.revoke_secs,
            calls(&r.rotate_calls),
            per(r.rotate_429),
            r.rss_mib,
            r.idle_cpu_pct,
            r.busy_cpu_secs,
        ));
    }
    out
}

fn print_table(s: &Settings, rows: &[Row], notes: &[String]) {
    println!("\n{}\n", settings_line(s));
    print!("{}", table(rows));
    for n in notes {
        println!("\nNote: {n}");
    }
}
