//! Security checks with the operator BINARY running under exactly the Helm chart's RBAC:
//! - the chart's ServiceAccount/ClusterRoles/Roles/bindings are rendered with `helm template` (default values, and
//!   watchNamespaces=[ns]), applied to the test control plane, and the operator runs with a TokenRequest token of
//!   that ServiceAccount (leader election included): provisioning, rotation and deletion work, nothing is forbidden;
//! - namespace isolation: consumers resolve in the CR's namespace only, a tenant whose allowedNamespaces exclude the
//!   CR's namespace is refused without Graph writes, cross-namespace names are rejected by the CRD;
//! - no secret text minted by the (emulated) Entra ever appears in the operator's logs (debug level), in events or
//!   in any status.
//!
//! Run: tests/testbed/with-control-plane.sh cargo test --workspace --test rbac
//! Needs helm in $TESTBIN (built by tests/tools/build.sh, which this test runs when helm is missing).

mod operator;
mod support;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
    sync::{Arc, Mutex},
    time::Duration,
};

use entramail_operator::api::{EntraTenant, NocoBaseMailIntegration};
use futures::FutureExt;
use graph_emulator::Emulator;
use k8s_openapi::api::{
    apps::v1::Deployment,
    authentication::v1::TokenRequest,
    coordination::v1::Lease,
    core::v1::{ConfigMap, Secret, ServiceAccount},
    events::v1::Event,
};
use kube::{
    Api, Client,
    api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
    core::GroupVersionKind,
    discovery::{self, Scope},
};
use operator::{
    OP_CLIENT_ID, OP_CREDENTIAL, OP_SECRET, Spec, TENANT_ID, condition, data, integration,
    is_ready, key_of,
};
use serde::Deserialize;
use serde_json::{Value, json};
use support::process::OperatorProcess;

/// The scenarios run one at a time: a cluster-wide operator would otherwise also reconcile the other scenario's CRs.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Kinds of the chart that make up the operator's identity and rights.
const RBAC_KINDS: [&str; 5] = [
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
];

fn testbin() -> PathBuf {
    let root = support::repo_root();
    let dir = std::env::var_os("TESTBIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target"))
                .join("testbin")
        });
    if dir.is_absolute() {
        dir
    } else {
        root.join(dir)
    }
}

/// The pinned helm, built by tests/tools/build.sh when missing; None (test skipped) if it cannot be built here.
fn helm() -> Option<PathBuf> {
    let helm = testbin().join("helm");
    if !helm.exists() {
        eprintln!(
            "rbac: {} missing; running tests/tools/build.sh helm",
            helm.display()
        );
        let status = Command::new(support::repo_root().join("tests/tools/build.sh"))
            .arg("helm")
            .env("TESTBIN", testbin())
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!(
                "rbac: SKIPPED: could not build helm ({status:?}); the chart RBAC was not tested"
            );
            return None;
        }
    }
    helm.exists().then_some(helm)
}

/// `helm template` of the chart into release namespace `opns`; returns only the RBAC objects.
fn render_rbac(helm: &Path, opns: &str, watch: Option<&str>) -> Vec<Value> {
    let home = std::env::temp_dir().join(format!("entramail-rbac-helm-{opns}"));
    let mut cmd = Command::new(helm);
    cmd.args(["template", "rbac"])
        .arg(support::repo_root().join("charts/entramail-operator"))
        .args([
            "--namespace",
            opns,
            "--set",
            &format!("fullnameOverride={opns}"),
        ])
        // helm must not touch the user's helm config or cache.
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"));
    if let Some(ns) = watch {
        cmd.args(["--set", &format!("watchNamespaces={{{ns}}}")]);
    }
    let out = cmd.output().expect("run helm template");
    assert!(
        out.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("helm output is UTF-8");
    let objs: Vec<Value> = serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).expect("parse rendered YAML"))
        .filter(|v| RBAC_KINDS.contains(&v["kind"].as_str().unwrap_or_default()))
        .collect();
    assert!(
        objs.iter().any(|o| o["kind"] == "ServiceAccount"),
        "chart rendered no ServiceAccount"
    );
    objs
}

/// Server-side applies rendered objects (as the admin, like `helm install` would).
async fn apply_objects(client: &Client, objs: &[Value]) {
    let pp = PatchParams::apply(support::TEST_MANAGER).force();
    for o in objs {
        let (group, version) = match o["apiVersion"].as_str().unwrap().split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), o["apiVersion"].as_str().unwrap().to_string()),
        };
        let gvk = GroupVersionKind::gvk(&group, &version, o["kind"].as_str().unwrap());
        let (ar, caps) = discovery::pinned_kind(client, &gvk).await.unwrap();
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => Api::namespaced_with(
                client.clone(),
                o["metadata"]["namespace"]
                    .as_str()
                    .expect("namespaced object has a namespace"),
                &ar,
            ),
            Scope::Cluster => Api::all_with(client.clone(), &ar),
        };
        let name = o["metadata"]["name"].as_str().unwrap();
        api.patch(name, &pp, &Patch::Apply(o))
            .await
            .unwrap_or_else(|e| panic!("apply {} {name}: {e}", o["kind"]));
    }
}

/// A kubeconfig that authenticates as the ServiceAccount (TokenRequest token) against the test control plane.
async fn sa_kubeconfig(client: &Client, ns: &str, sa: &str, dir: &Path) -> PathBuf {
    let tr: TokenRequest = serde_json::from_value(json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"audiences": [], "expirationSeconds": 3600}
    }))
    .unwrap();
    let tr = Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .create_token_request(sa, &PostParams::default(), &tr)
        .await
        .expect("TokenRequest for the chart's ServiceAccount");
    let token = tr.status.expect("token status").token;
    let admin = Kubeconfig::read_from(support::kubeconfig_path()).unwrap();
    let cluster = admin.clusters[0].cluster.clone().unwrap();
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "testbed", "cluster": {
            "server": cluster.server.unwrap(),
            "certificate-authority-data": cluster.certificate_authority_data.unwrap(),
        }}],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "testbed", "user": sa, "namespace": ns}}],
        "current-context": "sa",
    });
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_norway::to_string(&kubeconfig).unwrap()).unwrap();
    path
}

async fn client_from(path: &Path) -> Client {
    let kc = Kubeconfig::read_from(path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

fn is_forbidden<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> bool {
    matches!(r, Err(kube::Error::Api(s)) if s.code == 403)
}

/// The operator binary as the chart runs it: only the ServiceAccount's kubeconfig, nothing of the test's environment.
fn spawn_operator(
    kubeconfig: &Path,
    opns: &str,
    watch: Option<&str>,
    pod: &str,
) -> OperatorProcess {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_entramail-operator"));
    cmd.args([
        "--metrics-bind-address",
        "127.0.0.1:0",
        "--operator-namespace",
        opns,
    ]);
    if let Some(ns) = watch {
        cmd.arg(format!("--watch-namespaces={ns}"));
    }
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("KUBECONFIG", kubeconfig)
        .env("RUST_LOG", "debug,kube=info")
        .env("POD_NAME", pod);
    OperatorProcess::from_command(cmd, None).expect("start operator binary")
}

/// SIGTERM, as the kubelet does; the operator must exit on its own (releasing its Lease).
async fn terminate(op: &mut OperatorProcess) -> std::process::ExitStatus {
    op.terminate(Duration::from_secs(20))
        .await
        .expect("operator ignored SIGTERM for 20s")
}

/// [`operator::wait_for`] with 90 s, printing the operator's logs when it times out.
async fn wait_for(
    api: &Api<NocoBaseMailIntegration>,
    name: &str,
    what: &str,
    op: &OperatorProcess,
    pred: impl Fn(&NocoBaseMailIntegration) -> bool,
) -> NocoBaseMailIntegration {
    with_logs(
        op,
        operator::wait_for(api, name, Duration::from_secs(90), what, pred),
    )
    .await
}

/// Runs a wait; when it panics (times out), prints the operator's logs first.
async fn with_logs<T>(op: &OperatorProcess, wait: impl Future<Output = T>) -> T {
    match std::panic::AssertUnwindSafe(wait).catch_unwind().await {
        Ok(v) => v,
        Err(panic) => {
            eprintln!("operator logs:\n{}", op.logs());
            std::panic::resume_unwind(panic)
        }
    }
}

/// Records every secret text the Secret ever holds (polled), so the scan knows what must never leak.
fn observe_secret_texts(
    api: Api<Secret>,
    name: String,
    seen: Arc<Mutex<BTreeSet<String>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Ok(Some(s)) = api.get_opt(&name).await {
                for key in ["clientSecret", "previousClientSecret"] {
                    if let Some(t) = data(&s, key) {
                        seen.lock().unwrap().insert(t);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// Everything observable outside the Secret: events in the namespaces involved, statuses of our objects.
async fn observable_text(
    client: &Client,
    namespaces: &[&str],
    crs: &[NocoBaseMailIntegration],
    tenants: &[&str],
) -> String {
    let mut out = String::new();
    for ns in namespaces {
        for e in Api::<Event>::namespaced(client.clone(), ns)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
        {
            out.push_str(&serde_json::to_string(&e).unwrap());
            out.push('\n');
        }
    }
    for cr in crs {
        out.push_str(&serde_json::to_string(&cr.status).unwrap());
        out.push('\n');
    }
    for t in tenants {
        if let Some(t) = Api::<EntraTenant>::all(client.clone())
            .get_opt(t)
            .await
            .unwrap()
        {
            out.push_str(&serde_json::to_string(&t.status).unwrap());
            out.push('\n');
        }
    }
    out
}

/// One full run of the operator binary under the chart's RBAC: leader election, provisioning, manual rotation with
/// a consumer restart, a refused tenant, deletion; then the isolation and secret-leak assertions.
async fn chart_rbac_scenario(watch_namespaces: bool) {
    // Long on purpose: one story under the chart's RBAC, each step needs the state the previous one left (one
    // operator process, one ServiceAccount token).
    let Some(helm) = helm() else { return };
    let _serial = SERIAL.lock().await;
    let admin = support::client().await;
    support::apply_crds(&admin).await;
    let opns = support::namespace(&admin, "rbac-op").await;
    let appns = support::namespace(&admin, "rbac-app").await;
    let otherns = support::namespace(&admin, "rbac-other").await;
    let watch = watch_namespaces.then_some(appns.as_str());

    // The chart's identity and rights, nothing else.
    let rbac = render_rbac(&helm, &opns, watch);
    apply_objects(&admin, &rbac).await;
    let sa = rbac
        .iter()
        .find(|o| o["kind"] == "ServiceAccount")
        .and_then(|o| o["metadata"]["name"].as_str())
        .unwrap()
        .to_string();
    let dir = std::env::temp_dir().join(format!("entramail-rbac-{opns}"));
    let kubeconfig = sa_kubeconfig(&admin, &opns, &sa, &dir).await;

    // Sanity: the kubeconfig really is the restricted ServiceAccount, not the admin.
    let sa_client = client_from(&kubeconfig).await;
    assert!(
        is_forbidden(
            Api::<ConfigMap>::namespaced(sa_client.clone(), &appns)
                .list(&ListParams::default())
                .await
        ),
        "the chart must not grant ConfigMaps"
    );
    assert!(
        is_forbidden(
            Api::<Lease>::namespaced(sa_client.clone(), &appns)
                .list(&ListParams::default())
                .await
        ),
        "Lease rights belong to the release namespace only"
    );
    if watch_namespaces {
        assert!(
            is_forbidden(
                Api::<Secret>::namespaced(sa_client.clone(), &otherns)
                    .list(&ListParams::default())
                    .await
            ),
            "with watchNamespaces, Secrets outside the watched namespaces must be forbidden"
        );
    }

    // Entra side: one emulator the CR may use, a second one behind a tenant that refuses the CR's namespace.
    let emu = Emulator::start().await.unwrap();
    let h = emu.handle();
    h.add_tenant(TENANT_ID);
    h.register_client_secret(TENANT_ID, OP_CLIENT_ID, OP_SECRET);
    let emu_denied = Emulator::start().await.unwrap();
    let hd = emu_denied.handle();
    hd.add_tenant(TENANT_ID);
    hd.register_client_secret(TENANT_ID, OP_CLIENT_ID, OP_SECRET);
    operator::put_secret(&admin, &opns, OP_CREDENTIAL, "clientSecret", OP_SECRET).await;
    let tenant = opns.clone();
    let tenant_denied = format!("{opns}-denied");
    operator::create_tenant(&admin, &tenant, &emu, Value::Null, Value::Null).await;
    let only_other = json!({"names": [otherns]});
    operator::create_tenant(&admin, &tenant_denied, &emu_denied, only_other, Value::Null).await;

    // Same-named consumer workloads in the CR's namespace and in another one.
    operator::create_deployment(&admin, &appns, "nocobase").await;
    let other_dep = operator::create_deployment(&admin, &otherns, "nocobase").await;

    let mut op = spawn_operator(&kubeconfig, &opns, watch, &format!("pod-{opns}"));
    op.wait_log("acquired leadership", Duration::from_secs(30))
        .await;
    let lease = Api::<Lease>::namespaced(admin.clone(), &opns)
        .get("entramail-operator")
        .await
        .expect("leader Lease in the release namespace");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some(format!("pod-{opns}").as_str())
    );
    // With watchNamespaces, a second replica waits as a standby (leader election under the same ServiceAccount).
    let standby = if watch_namespaces {
        let mut standby = spawn_operator(&kubeconfig, &opns, watch, &format!("standby-{opns}"));
        standby
            .wait_log("waiting for leadership", Duration::from_secs(30))
            .await;
        Some(standby)
    } else {
        None
    };

    let crs: Api<NocoBaseMailIntegration> = Api::namespaced(admin.clone(), &appns);
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &appns);
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let observer = observe_secret_texts(secrets.clone(), "mail-entra".into(), seen.clone());
    crs.create(
        &PostParams::default(),
        &integration(
            "mail",
            &tenant,
            Spec::basic().overlap("3s").consumer("nocobase"),
            Value::Null,
        ),
    )
    .await
    .unwrap();
    crs.create(
        &PostParams::default(),
        &integration("denied", &tenant_denied, Spec::basic(), Value::Null),
    )
    .await
    .unwrap();

    // Provisioned: a valid secret in the CR's namespace.
    let cr = wait_for(&crs, "mail", "Ready", &op, is_ready).await;
    let app_id = cr.status.as_ref().unwrap().app_id.clone().unwrap();
    let k1 = key_of(&cr).unwrap();
    let s = secrets.get("mail-entra").await.unwrap();
    let text1 = data(&s, "clientSecret").unwrap();
    assert!(h.is_secret_valid(TENANT_ID, &app_id, &text1));

    // Rotation by annotation: new secret, consumer in the CR's namespace restarted, old key revoked after overlap.
    crs.patch(
        "mail",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"entramail.io/rotate": "rbac-1"}}})),
    )
    .await
    .unwrap();
    let cr = wait_for(&crs, "mail", "rotation", &op, |o| {
        key_of(o).is_some_and(|k| k != k1)
    })
    .await;
    let k2 = key_of(&cr).unwrap();
    let text2 = data(&secrets.get("mail-entra").await.unwrap(), "clientSecret").unwrap();
    assert_ne!(text1, text2);
    assert!(h.is_secret_valid(TENANT_ID, &app_id, &text2));
    // The consumer's rollout (no kubelet here: its status as the deployment controller would write it) confirms
    // the delivery; only then does the old key go.
    operator::mark_rolled_out(&admin, &appns, "nocobase").await;
    let only_new_key =
        support::eventually_ok("old key revoked", Duration::from_secs(30), async || {
            let keys: Vec<String> = h
                .application_by_app_id(TENANT_ID, &app_id)
                .unwrap()
                .password_credentials
                .into_iter()
                .map(|c| c.key_id)
                .collect();
            if keys == vec![k2.clone()] {
                Ok(())
            } else {
                Err(format!("keys {keys:?}"))
            }
        });
    with_logs(&op, only_new_key).await;
    let restarted = |d: &Deployment| {
        d.spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .is_some_and(|a| a.contains_key("entramail.io/restartedAt"))
    };
    let own = Api::<Deployment>::namespaced(admin.clone(), &appns)
        .get("nocobase")
        .await
        .unwrap();
    assert!(
        restarted(&own),
        "consumer in the CR's namespace not restarted"
    );
    let other = Api::<Deployment>::namespaced(admin.clone(), &otherns)
        .get("nocobase")
        .await
        .unwrap();
    assert!(
        !restarted(&other),
        "a same-named Deployment in another namespace was restarted"
    );
    assert_eq!(
        other.metadata.generation, other_dep.metadata.generation,
        "Deployment in another namespace was modified"
    );
    assert!(
        Api::<Secret>::namespaced(admin.clone(), &otherns)
            .get_opt("mail-entra")
            .await
            .unwrap()
            .is_none()
    );

    // The refusing tenant: condition on the CR, no Graph writes, no Secret.
    let denied = wait_for(&crs, "denied", "TenantReady=False", &op, |o| {
        condition(o, "TenantReady").is_some_and(|c| c.0 == "False")
    })
    .await;
    assert_eq!(
        condition(&denied, "TenantReady").unwrap().1,
        "NamespaceNotAllowed"
    );
    assert_eq!(
        hd.writes(),
        0,
        "Graph writes for a refused namespace: {:?}",
        hd.counts()
    );
    assert!(secrets.get_opt("denied-entra").await.unwrap().is_none());

    // Deletion under the ServiceAccount: finalizer removed, application deleted (default policy Delete).
    for name in ["mail", "denied"] {
        crs.delete(name, &DeleteParams::default()).await.unwrap();
    }
    let all_deleted = support::eventually_async(
        "integrations deleted",
        Duration::from_secs(60),
        async || {
            crs.list(&ListParams::default())
                .await
                .unwrap()
                .items
                .is_empty()
        },
    );
    with_logs(&op, all_deleted).await;
    assert!(h.application_by_app_id(TENANT_ID, &app_id).is_none());
    observer.abort();
    let final_crs = vec![cr, denied];
    let observable = observable_text(
        &admin,
        &[&appns, &opns, &otherns, "default"],
        &final_crs,
        &[&tenant, &tenant_denied],
    )
    .await;
    for t in [&tenant, &tenant_denied] {
        Api::<EntraTenant>::all(admin.clone())
            .delete(t, &DeleteParams::default())
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    if let Some(standby) = &standby {
        assert!(
            !standby.logs().contains("acquired leadership"),
            "two leaders at once"
        );
    }
    let status = terminate(&mut op).await;
    let mut logs = op.logs();
    assert!(status.success(), "operator exit {status}:\n{logs}");
    if let Some(mut standby) = standby {
        // The leader released its Lease on SIGTERM: the standby takes over under the same rights.
        standby
            .wait_log("acquired leadership", Duration::from_secs(60))
            .await;
        let lease = Api::<Lease>::namespaced(admin.clone(), &opns)
            .get("entramail-operator")
            .await
            .unwrap();
        assert_eq!(
            lease.spec.and_then(|s| s.holder_identity).as_deref(),
            Some(format!("standby-{opns}").as_str())
        );
        let status = terminate(&mut standby).await;
        let standby_logs = standby.logs();
        assert!(status.success(), "standby exit {status}:\n{standby_logs}");
        logs.push_str(&standby_logs);
    }

    // Under exactly the chart's RBAC, nothing was forbidden. The apiserver's denial reads `<resource> is forbidden:
    // User "system:serviceaccount:..." cannot ...`; a cluster-wide operator also logs other tests' leftover
    // integrations, whose names or reasons (e.g. NocoBaseForbidden) may contain the word.
    let denial = |l: &str| l.to_lowercase().contains("is forbidden: user");
    assert!(
        !logs.lines().any(denial),
        "operator hit RBAC denials:\n{}",
        logs.lines()
            .filter(|l| denial(l))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        logs.contains("DEBUG") || logs.contains("\"level\":\"DEBUG\""),
        "debug logs were captured"
    );

    // No secret text anywhere but the Secret.
    let mut texts = seen.lock().unwrap().clone();
    texts.insert(text1);
    texts.insert(text2);
    assert!(texts.len() >= 2, "observed secrets: {}", texts.len());
    texts.insert(OP_SECRET.to_string());
    for (i, t) in texts.iter().enumerate() {
        assert!(
            !logs.contains(t.as_str()),
            "secret #{i} appears in the operator logs"
        );
        assert!(
            !observable.contains(t.as_str()),
            "secret #{i} appears in events or status"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn operator_binary_works_with_chart_rbac_cluster_wide() {
    chart_rbac_scenario(false).await;
}

#[tokio::test]
async fn operator_binary_works_with_chart_rbac_watch_namespaces() {
    chart_rbac_scenario(true).await;
}

/// A CR cannot name a Secret or a consumer in another namespace: the CRD rejects anything but a plain name.
#[tokio::test]
async fn crd_rejects_cross_namespace_names() {
    let admin = support::client().await;
    support::apply_crds(&admin).await;
    let ns = support::namespace(&admin, "rbac-crd").await;
    let crs: Api<NocoBaseMailIntegration> = Api::namespaced(admin.clone(), &ns);
    let cases = [
        (
            "secret-ns",
            Spec::new("https://n.example.com").secret_name("other-ns/x"),
        ),
        (
            "consumer-ns",
            Spec::new("https://n.example.com").consumer("other-ns/nocobase"),
        ),
    ];
    for (name, spec) in cases {
        let r = crs
            .create(
                &PostParams::default(),
                &integration(name, "t", spec, Value::Null),
            )
            .await;
        assert!(
            matches!(&r, Err(kube::Error::Api(s)) if s.code == 422),
            "{name}: expected 422 Invalid, got {r:?}"
        );
    }
    assert!(
        crs.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
