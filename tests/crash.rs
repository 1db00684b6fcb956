//! Crash safety (issue 4). The operator binary runs as a separate process (its own namespace, tenant and label
//! selector) and is SIGKILLed at varying points of rotations — right after the trigger, right after addPassword,
//! right after the Secret write, after timed delays — and restarted. A watcher checks every Secret state it
//! observes: the clientSecret must work in Entra at that moment. After convergence exactly the expected
//! credentials exist: the current one (plus the previous during the overlap), no orphans, foreign ones untouched.
//! The same under 20% failing / 10% throttled Graph calls, and across a kube-apiserver restart mid-rotation.
//! Tests run one at a time (the apiserver restart would disturb the others).
//! Run: tests/testbed/with-control-plane.sh cargo test --workspace --test crash

mod operator;
mod support;

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex as StdMutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::{TimeDelta, Utc};
use entramail_operator::api::{NocoBaseMailIntegration, ROTATE_ANNOTATION, SignInAudience};
use futures::StreamExt;
use graph_emulator::EmulatorHandle;
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, ResourceExt,
    runtime::{WatchStreamExt, watcher},
};
use operator::{Fx, Spec, TENANT_ID, TEST_LABEL, data, is_ready, object_id_of};
use support::process::{self, OperatorProcess, free_port};
use tokio::process::Command;

const SECRET: &str = "mail-entra";
const KEY_ID_ANNOTATION: &str = "entramail.io/key-id";

/// One crash test at a time: the apiserver restart and the CPU budget (2 cores) are shared.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The operator binary, restarted after each SIGKILL, restricted to the fixture's namespace and label. Every run
/// appends to the same log file.
struct Operator {
    process: Option<OperatorProcess>,
    args: Vec<String>,
    log: PathBuf,
    starts: u32,
}

impl Operator {
    fn new(fx: &Fx) -> Self {
        let dir = std::env::temp_dir().join(format!("entramail-crash-{}", fx.ns));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("emulator-ca.pem");
        std::fs::write(&ca, fx.emu.ca_pem()).unwrap();
        let args = vec![
            "--no-leader-elect".to_string(),
            format!("--extra-ca-file={}", ca.display()),
            format!("--operator-namespace={}", fx.ns),
            format!("--watch-namespaces={}", fx.ns),
            format!("--label-selector={TEST_LABEL}={}", fx.ns),
        ];
        let mut p = Operator {
            process: None,
            args,
            log: dir.join("operator.log"),
            starts: 0,
        };
        p.start();
        p
    }

    fn start(&mut self) {
        assert!(self.process.is_none(), "operator already running");
        let metrics = format!("--metrics-bind-address=127.0.0.1:{}", free_port());
        let log_level =
            std::env::var("CRASH_OPERATOR_LOG").unwrap_or_else(|_| "info,kube=warn".into());
        let cmd = process::command(
            env!("CARGO_BIN_EXE_entramail-operator"),
            self.args.iter().chain([&metrics]),
            &[
                ("KUBECONFIG", support::kubeconfig_path().into_os_string()),
                ("RUST_LOG", log_level.into()),
            ],
        );
        let process = OperatorProcess::from_command(cmd, Some(&self.log)).unwrap();
        self.process = Some(process);
        self.starts += 1;
    }

    /// Panics (with the log tail) if the operator exited on its own: it must only ever die by our SIGKILL.
    fn assert_running(&mut self) {
        self.process
            .as_mut()
            .expect("operator not started")
            .assert_running();
    }

    /// SIGKILL, no chance to clean up.
    fn kill9(&mut self) {
        self.assert_running();
        self.process.take().expect("operator not started").kill9();
    }
}

/// Watches and polls the Secret; every state seen must hold a client secret Entra accepts.
struct Invariant {
    observed: Arc<AtomicU64>,
    violations: Arc<StdMutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

async fn check_state(
    h: &EmulatorHandle,
    api: &Api<Secret>,
    s: &Secret,
    violations: &StdMutex<Vec<String>>,
) {
    let (Some(text), Some(app)) = (data(s, "clientSecret"), data(s, "clientId")) else {
        return;
    };
    if h.is_secret_valid(TENANT_ID, &app, &text) {
        return;
    }
    // A late watch event may show a state already replaced (and its credential retired since): count it only if
    // the Secret still holds that text now, i.e. it held a revoked secret at the moment of the check.
    if let Ok(Some(live)) = api.get_opt(SECRET).await
        && data(&live, "clientSecret").as_deref() == Some(text.as_str())
        && !h.is_secret_valid(TENANT_ID, &app, &text)
    {
        // Never the text itself: only the keyId.
        violations.lock().unwrap().push(format!(
            "Secret rv {} holds keyId {:?}, which Entra does not accept",
            live.resource_version().unwrap_or_default(),
            live.annotations().get(KEY_ID_ANNOTATION)
        ));
    }
}

impl Invariant {
    fn start(fx: &Fx) -> Self {
        let api = fx.secrets();
        let h = fx.h.clone();
        let observed = Arc::new(AtomicU64::new(0));
        let violations = Arc::new(StdMutex::new(Vec::new()));
        let (obs, viol) = (observed.clone(), violations.clone());
        let task = tokio::spawn(async move {
            let cfg = watcher::Config::default().fields(&format!("metadata.name={SECRET}"));
            let mut events = watcher(api.clone(), cfg)
                .default_backoff()
                .applied_objects()
                .boxed();
            let mut poll = tokio::time::interval(Duration::from_millis(100));
            loop {
                let s = tokio::select! {
                    ev = events.next() => match ev {
                        Some(Ok(s)) => Some(s),
                        _ => None,
                    },
                    _ = poll.tick() => api.get_opt(SECRET).await.ok().flatten(),
                };
                if let Some(s) = s {
                    obs.fetch_add(1, Ordering::Relaxed);
                    check_state(&h, &api, &s, &viol).await;
                }
            }
        });
        Invariant {
            observed,
            violations,
            task,
        }
    }

    fn assert_clean(&self) {
        let v = self.violations.lock().unwrap();
        assert!(v.is_empty(), "Secret held a revoked credential: {v:#?}");
        assert!(
            self.observed.load(Ordering::Relaxed) > 0,
            "watcher saw no Secret state"
        );
    }
}

impl Drop for Invariant {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where to SIGKILL the operator after a rotate trigger.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// A fixed delay after the trigger.
    Delay(Duration),
    /// As soon as Entra answered an addPassword: before the Secret write.
    AfterAddPassword,
    /// As soon as the Secret holds a new keyId: before the status write and the revocations.
    AfterSecretWrite,
}

fn minted(h: &EmulatorHandle) -> u64 {
    h.counts_by_status()
        .iter()
        .filter(|(k, _)| k.contains("addPassword") && k.ends_with(" 200"))
        .map(|(_, n)| n)
        .sum()
}

async fn secret_key_id(fx: &Fx) -> Option<String> {
    fx.secrets()
        .get_opt(SECRET)
        .await
        .ok()
        .flatten()
        .and_then(|s| s.annotations().get(KEY_ID_ANNOTATION).cloned())
}

/// Waits for the kill point (bounded: if it never comes, e.g. under injected faults, kill anyway).
async fn wait_kill_point(fx: &Fx, at: KillAt, minted_before: u64, key_before: Option<String>) {
    let bound = Duration::from_secs(8);
    match at {
        KillAt::Delay(d) => tokio::time::sleep(d).await,
        KillAt::AfterAddPassword => {
            let every = Duration::from_millis(1);
            support::poll_until(bound, every, async || minted(&fx.h) != minted_before).await;
        }
        KillAt::AfterSecretWrite => {
            let every = Duration::from_millis(2);
            support::poll_until(bound, every, async || secret_key_id(fx).await != key_before).await;
        }
    }
}

fn ours(fx: &Fx, app: &str, uid: &str) -> (Vec<String>, Vec<String>) {
    let creds =
        fx.h.application_by_app_id(TENANT_ID, app)
            .map(|a| a.password_credentials)
            .unwrap_or_default();
    let (mine, other): (Vec<_>, Vec<_>) = creds
        .into_iter()
        .partition(|c| c.display_name.as_deref().is_some_and(|n| n.contains(uid)));
    (
        mine.into_iter().map(|c| c.key_id).collect(),
        other.into_iter().map(|c| c.key_id).collect(),
    )
}

/// Ready with the trigger handled, the Secret holding the status's current key, no previous slot, and in Entra
/// exactly that one credential of ours (foreign ones untouched).
async fn wait_converged(fx: &Fx, trigger: &str, foreign: &[String], timeout: Duration) -> String {
    support::eventually_ok("convergence", timeout, async || {
        converged(fx, trigger, foreign).await
    })
    .await
}

async fn converged(fx: &Fx, trigger: &str, foreign: &[String]) -> Result<String, String> {
    let cr: NocoBaseMailIntegration = fx
        .integrations()
        .get_opt("mail")
        .await
        .map_err(|e| e.to_string())?
        .ok_or("CR gone")?;
    let st = cr.status.clone().unwrap_or_default();
    if !is_ready(&cr) {
        return Err(format!(
            "not Ready: {:?}",
            operator::condition(&cr, "Ready")
        ));
    }
    if st.last_rotation_trigger.as_deref() != Some(trigger) {
        return Err(format!(
            "trigger {:?} not handled",
            st.last_rotation_trigger
        ));
    }
    let cur = st.current_credential.ok_or("no current credential")?.key_id;
    if !st.previous_credentials.is_empty() {
        return Err("overlap not over".into());
    }
    let s = fx
        .secrets()
        .get_opt(SECRET)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no Secret")?;
    if s.annotations().get(KEY_ID_ANNOTATION) != Some(&cur) {
        return Err("Secret does not hold the status's current key".into());
    }
    if data(&s, "previousClientSecret").is_some() {
        return Err("Secret still has a previous secret".into());
    }
    let app = st.app_id.ok_or("no appId")?;
    let text = data(&s, "clientSecret").ok_or("no clientSecret")?;
    if !fx.h.is_secret_valid(TENANT_ID, &app, &text) {
        return Err("current secret invalid".into());
    }
    let (mine, other) = ours(fx, &app, &cr.uid().unwrap_or_default());
    if mine != vec![cur.clone()] {
        return Err(format!("our credentials in Entra: {mine:?}, want [{cur}]"));
    }
    if other != foreign {
        return Err(format!("foreign credentials touched: {other:?}"));
    }
    Ok(cur)
}

/// A credential somebody else added to the application: must survive everything.
async fn add_foreign(fx: &Fx, app_object_id: &str) -> String {
    fx.operator_graph()
        .add_password(
            app_object_id,
            "added by a human",
            Utc::now() + TimeDelta::hours(2),
        )
        .await
        .unwrap()
        .credential
        .key_id
}

struct Setup {
    fx: Fx,
    op: Operator,
    inv: Invariant,
    /// Credentials somebody else added (none at Entra's limit of two).
    foreign: Vec<String>,
}

/// Where the app sits relative to Entra's limit on client secrets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Audience {
    /// The default (personal accounts allowed): at most 2 client secrets, so each forced rotation waits for the
    /// previous one to go before it can mint.
    PersonalAtTheLimit,
    /// AzureADMyOrg, with a foreign credential that must survive everything.
    OrganisationWithForeignSecret,
}

/// Fixture without the in-process operator, the operator binary instead, one Ready integration.
async fn setup(prefix: &str, audience: Audience) -> Setup {
    let mut fx = Fx::start(prefix).await;
    fx.stop_operator().await;
    let op = Operator::new(&fx);
    let mut spec = Spec::basic().lifetime("1h").overlap("2s");
    if audience == Audience::OrganisationWithForeignSecret {
        spec = spec.audience(SignInAudience::AzureAdMyOrg);
    }
    fx.create("mail", spec).await;
    let cr = fx.wait_ready("mail").await;
    let obj_id = object_id_of(&cr);
    let foreign = match audience {
        Audience::PersonalAtTheLimit => vec![],
        Audience::OrganisationWithForeignSecret => vec![add_foreign(&fx, &obj_id).await],
    };
    let inv = Invariant::start(&fx);
    Setup {
        fx,
        op,
        inv,
        foreign,
    }
}

/// Triggers a rotation per kill point, SIGKILLs the operator there, restarts it; then one clean rotation.
async fn crash_loop(s: &mut Setup, kills: &[KillAt], converge_timeout: Duration) {
    for (i, at) in kills.iter().enumerate() {
        let before = minted(&s.fx.h);
        let key_before = secret_key_id(&s.fx).await;
        let trigger = format!("crash-{i}");
        s.fx.annotate("mail", ROTATE_ANNOTATION, &trigger).await;
        wait_kill_point(&s.fx, *at, before, key_before).await;
        s.op.kill9();
        // Sometimes come back at once, sometimes after the old process's work would have been observable.
        tokio::time::sleep(Duration::from_millis(50 * (i as u64 % 4))).await;
        s.op.start();
    }
    s.fx.annotate("mail", ROTATE_ANNOTATION, "final").await;
    let minted_before_final = minted(&s.fx.h);
    wait_converged(&s.fx, "final", &s.foreign, converge_timeout).await;
    s.op.assert_running();
    s.inv.assert_clean();
    println!(
        "{} kills, {} operator starts, {} credentials minted ({} for the final trigger), {} Secret states checked",
        kills.len(),
        s.op.starts,
        minted(&s.fx.h),
        minted(&s.fx.h) - minted_before_final,
        s.inv.observed.load(Ordering::Relaxed)
    );
}

fn kill_points() -> Vec<KillAt> {
    let mut v = vec![
        KillAt::AfterAddPassword,
        KillAt::AfterSecretWrite,
        KillAt::Delay(Duration::ZERO),
    ];
    v.extend(
        [20, 60, 120, 250, 500, 900]
            .into_iter()
            .map(|ms| KillAt::Delay(Duration::from_millis(ms))),
    );
    v.extend([KillAt::AfterAddPassword, KillAt::AfterSecretWrite]);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_each_step_of_rotation_never_exposes_a_revoked_secret() {
    let _serial = SERIAL.lock().await;
    // At Entra's limit of two: every forced rotation has to wait for the previous secret to go first.
    let mut s = setup("crash", Audience::PersonalAtTheLimit).await;
    crash_loop(&mut s, &kill_points(), Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_failing_and_throttled_graph_calls() {
    let _serial = SERIAL.lock().await;
    let mut s = setup("crash-faults", Audience::OrganisationWithForeignSecret).await;
    s.fx.h.set_failure_ratio(0.2);
    s.fx.h.set_throttle_ratio(0.1, Duration::from_secs(1));
    let kills = [
        KillAt::AfterAddPassword,
        KillAt::Delay(Duration::from_millis(100)),
        KillAt::AfterSecretWrite,
        KillAt::Delay(Duration::from_millis(400)),
        KillAt::AfterAddPassword,
    ];
    crash_loop(&mut s, &kills, Duration::from_secs(90)).await;
}

async fn restart_apiserver() {
    let script = std::env::var("TESTBED_CONTROL_PLANE")
        .expect("TESTBED_CONTROL_PLANE (run via the test bed)");
    let dir = std::env::var("TESTBED_DIR").expect("TESTBED_DIR (run via the test bed)");
    let out = Command::new(script)
        .arg("restart-apiserver")
        .arg(dir)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "restart-apiserver failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apiserver_restart_mid_rotation_operator_keeps_running_and_converges() {
    let _serial = SERIAL.lock().await;
    let mut s = setup("crash-apiserver", Audience::OrganisationWithForeignSecret).await;
    // Slow Graph so the rotation is in flight (between addPassword and the Secret write) when the apiserver dies.
    s.fx.h.set_latency(Duration::from_millis(300));
    s.fx.annotate("mail", ROTATE_ANNOTATION, "during-restart")
        .await;
    let before = minted(&s.fx.h);
    wait_kill_point(&s.fx, KillAt::AfterAddPassword, before, None).await;
    restart_apiserver().await;
    s.fx.h.set_latency(Duration::ZERO);
    wait_converged(&s.fx, "during-restart", &s.foreign, Duration::from_secs(90)).await;
    // The operator's watches came back: a new trigger after the restart is noticed and handled.
    s.fx.annotate("mail", ROTATE_ANNOTATION, "after-restart")
        .await;
    wait_converged(&s.fx, "after-restart", &s.foreign, Duration::from_secs(60)).await;
    s.op.assert_running();
    s.inv.assert_clean();
}
