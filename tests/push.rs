//! The optional HTTP push of a new credential to NocoBase's API (spec.rotation.nocobasePush), against the real
//! control plane + Graph emulator and a small recording HTTP server standing in for NocoBase: one push per
//! credential, nothing in steady state or after a restart, failures reported with the status code only (never the
//! response body), retried with backoff, and holding back the revocation of the previous credential.
//! Run: tests/testbed/with-control-plane.sh cargo test --workspace --test push

mod operator;
mod support;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
};
use entramail_operator::api::NocoBaseMailIntegration;
use k8s_openapi::api::{core::v1::Secret, events::v1::Event};
use kube::api::{ListParams, PostParams};
use operator::{Fx, TENANT_ID, condition, data, is_ready};
use serde_json::{Value, json};

const API_KEY: &str = "nb-api-key-0123456789";
/// Put in every error response of the fake NocoBase: must never show up in status or events.
const MARKER: &str = "RESPONSE-BODY-MARKER-7f3a";

#[derive(Debug, Clone)]
struct Request {
    method: Method,
    path: String,
    authorization: Option<String>,
    content_type: Option<String>,
    body: String,
    answered: u16,
}

/// A stand-in for NocoBase's API: records every request and answers with `status`.
#[derive(Clone)]
struct FakeNocoBase {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    status: Arc<AtomicU16>,
}

impl FakeNocoBase {
    async fn start() -> FakeNocoBase {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let nb = FakeNocoBase {
            url,
            requests: Arc::default(),
            status: Arc::new(AtomicU16::new(200)),
        };
        let app = Router::new().fallback(handle).with_state(nb.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        nb
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Requests answered 2xx.
    fn accepted(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .collect()
    }
}

async fn handle(
    State(nb): State<FakeNocoBase>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let status = nb.status.load(Ordering::SeqCst);
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    nb.requests.lock().unwrap().push(Request {
        method,
        path: uri.path().to_owned(),
        authorization: header("authorization"),
        content_type: header("content-type"),
        body: body.clone(),
        answered: status,
    });
    let code = StatusCode::from_u16(status).unwrap();
    if code.is_success() {
        (code, r#"{"data":{}}"#.into())
    } else {
        // Like a careless server: the error echoes the request, secret included.
        (code, format!("{MARKER} could not save {body}"))
    }
}

async fn create_api_key(fx: &Fx, name: &str) {
    let s: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name},
        "stringData": {"token": API_KEY}
    }))
    .unwrap();
    fx.secrets()
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
}

fn spec(nb: &FakeNocoBase, overlap: &str, api_key_secret: &str) -> Value {
    json!({
        "application": {"nocobaseOrigin": "https://nocobase.example.com"},
        "secret": {"lifetime": "24h"},
        "rotation": {
            "overlap": overlap,
            "nocobasePush": {
                "url": nb.url,
                "resource": "emailSettings",
                "action": "update",
                "apiKeySecretRef": {"name": api_key_secret, "key": "token"},
            },
        },
    })
}

fn key_of(o: &NocoBaseMailIntegration) -> Option<String> {
    o.status
        .as_ref()?
        .current_credential
        .as_ref()
        .map(|c| c.key_id.clone())
}

fn pushed_key(o: &NocoBaseMailIntegration) -> Option<String> {
    o.status.as_ref()?.pushed_key_id.clone()
}

fn pushed(o: &NocoBaseMailIntegration) -> bool {
    condition(o, "NocoBasePushed").is_some_and(|c| c.0 == "True" && c.1 == "Pushed")
        && pushed_key(o).is_some()
        && pushed_key(o) == key_of(o)
}

/// (type, reason, note) of the events in the fixture's namespace.
async fn events(fx: &Fx) -> Vec<(String, String, String)> {
    kube::Api::<Event>::namespaced(fx.client.clone(), &fx.ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| {
            (
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.note.unwrap_or_default(),
            )
        })
        .collect()
}

/// The body of a push, parsed.
fn body(r: &Request) -> Value {
    serde_json::from_str(&r.body).expect("push body is JSON")
}

#[tokio::test]
async fn provisioning_and_each_rotation_push_exactly_once() {
    let mut fx = Fx::start("push").await;
    let nb = FakeNocoBase::start().await;
    create_api_key(&fx, "nocobase-api").await;
    fx.create("mail", spec(&nb, "3s", "nocobase-api")).await;
    let cr = fx
        .wait("mail", Duration::from_secs(60), "pushed", |o| {
            is_ready(o) && pushed(o)
        })
        .await;
    let app_id = cr.status.as_ref().unwrap().app_id.clone().unwrap();
    let k1 = key_of(&cr).unwrap();
    let s = fx.secret("mail-entra").await.unwrap();
    let text1 = data(&s, "clientSecret").unwrap();

    // (1) Exactly one POST to /api/<resource>:<action>, bearer key, JSON with the Secret's values.
    let reqs = nb.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let r = &reqs[0];
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.path, "/api/emailSettings:update");
    assert_eq!(
        r.authorization.as_deref(),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    assert_eq!(r.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        body(r),
        json!({"clientId": app_id, "clientSecret": text1}),
        "default body template"
    );
    assert_eq!(r.answered, 200);

    // (2) A manual rotation pushes the new secret once.
    fx.annotate("mail", "entramail.io/rotate", "push-1").await;
    let cr = fx
        .wait("mail", Duration::from_secs(30), "rotation pushed", |o| {
            key_of(o).is_some_and(|k| k != k1) && pushed(o)
        })
        .await;
    let k2 = key_of(&cr).unwrap();
    let text2 = data(&fx.secret("mail-entra").await.unwrap(), "clientSecret").unwrap();
    assert_ne!(text1, text2);
    let reqs = nb.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(body(&reqs[1])["clientSecret"], text2.as_str());
    assert_eq!(body(&reqs[1])["clientId"], app_id.as_str());

    // Pushed (and no consumers to wait for): the previous credential goes, the current one stays.
    let deadline = Instant::now() + Duration::from_secs(20);
    while fx.live_keys(&app_id).contains(&k1) {
        assert!(Instant::now() < deadline, "k1 never revoked");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(fx.live_keys(&app_id).contains(&k2));

    // A resync (annotation poke) and an operator restart push nothing more.
    fx.annotate("mail", "poke", "1").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    fx.stop_operator().await;
    fx.start_operator();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(nb.requests().len(), 2, "{:?}", nb.requests());
    let cr = fx.integrations().get("mail").await.unwrap();
    assert!(pushed(&cr));
    assert_eq!(pushed_key(&cr).as_deref(), Some(k2.as_str()));

    // Nothing secret in events or status.
    let status = serde_json::to_string(&cr.status).unwrap();
    for (_, _, note) in events(&fx).await {
        for secret in [text1.as_str(), text2.as_str(), API_KEY] {
            assert!(!note.contains(secret), "secret text in event: {note}");
            assert!(!status.contains(secret), "secret text in status");
        }
    }
    assert!(
        events(&fx).await.iter().any(|(_, r, _)| r == "Pushed"),
        "no Pushed event"
    );
}

#[tokio::test]
async fn failing_push_is_reported_retried_and_holds_back_revocation() {
    let fx = Fx::start("push-fail").await;
    let nb = FakeNocoBase::start().await;
    create_api_key(&fx, "nocobase-api").await;
    fx.create("mail", spec(&nb, "40s", "nocobase-api")).await;
    let cr = fx
        .wait("mail", Duration::from_secs(60), "pushed", pushed)
        .await;
    let app_id = cr.status.as_ref().unwrap().app_id.clone().unwrap();
    let k1 = key_of(&cr).unwrap();

    // NocoBase fails; a rotation writes the Secret, the push fails with the status code only.
    nb.answer(500);
    fx.annotate("mail", "entramail.io/rotate", "fail-1").await;
    let cr = fx
        .wait("mail", Duration::from_secs(30), "PushFailed", |o| {
            key_of(o).is_some_and(|k| k != k1)
                && condition(o, "NocoBasePushed").is_some_and(|c| c.0 == "False")
        })
        .await;
    let k2 = key_of(&cr).unwrap();
    let (_, reason, message) = condition(&cr, "NocoBasePushed").unwrap();
    assert_eq!(reason, "PushFailed");
    assert!(message.contains("500"), "{message}");
    assert!(is_ready(&cr), "a push failure must not make Ready false");
    assert_eq!(pushed_key(&cr).as_deref(), Some(k1.as_str()));
    let text2 = data(&fx.secret("mail-entra").await.unwrap(), "clientSecret").unwrap();
    assert!(fx.h.is_secret_valid(TENANT_ID, &app_id, &text2));

    // Retried with backoff; meanwhile the previous credential stays valid.
    let deadline = Instant::now() + Duration::from_secs(30);
    while nb.requests().iter().filter(|r| r.answered == 500).count() < 3 {
        assert!(Instant::now() < deadline, "push not retried");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        fx.live_keys(&app_id).contains(&k1),
        "previous credential revoked before the push succeeded"
    );
    let cr = fx.integrations().get("mail").await.unwrap();
    assert!(
        cr.status.as_ref().unwrap().failed_attempts.unwrap_or(0) >= 1,
        "failedAttempts not counted"
    );

    // The response body (which echoed the secret) is nowhere: not in status, not in events.
    let status = serde_json::to_string(&cr.status).unwrap();
    assert!(!status.contains(MARKER));
    assert!(!status.contains(&text2));
    let evs = events(&fx).await;
    assert!(
        evs.iter()
            .any(|(t, r, n)| t == "Warning" && r == "PushFailed" && n.contains("500")),
        "no PushFailed Warning event: {evs:?}"
    );
    for (_, _, note) in &evs {
        assert!(!note.contains(MARKER), "response body in event: {note}");
        assert!(!note.contains(&text2), "secret text in event: {note}");
        assert!(!note.contains(API_KEY), "API key in event: {note}");
    }

    // NocoBase recovers: the push succeeds once, and then the previous credential goes (before the overlap ends).
    nb.answer(200);
    let cr = fx
        .wait(
            "mail",
            Duration::from_secs(30),
            "pushed after recovery",
            pushed,
        )
        .await;
    assert_eq!(pushed_key(&cr).as_deref(), Some(k2.as_str()));
    assert_eq!(
        cr.status.as_ref().unwrap().failed_attempts.unwrap_or(0),
        0,
        "failedAttempts reset after success"
    );
    let ok = nb.accepted();
    assert_eq!(ok.len(), 2, "one accepted push per credential: {ok:?}");
    assert_eq!(body(&ok[1])["clientSecret"], text2.as_str());
    let deadline = Instant::now() + Duration::from_secs(20);
    while fx.live_keys(&app_id).contains(&k1) {
        assert!(Instant::now() < deadline, "k1 not revoked after the push");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(fx.live_keys(&app_id).contains(&k2));
}

#[tokio::test]
async fn overlap_bounds_the_wait_for_a_push_that_never_succeeds() {
    let fx = Fx::start("push-overlap").await;
    let nb = FakeNocoBase::start().await;
    create_api_key(&fx, "nocobase-api").await;
    fx.create("mail", spec(&nb, "5s", "nocobase-api")).await;
    let cr = fx
        .wait("mail", Duration::from_secs(60), "pushed", pushed)
        .await;
    let app_id = cr.status.as_ref().unwrap().app_id.clone().unwrap();
    let k1 = key_of(&cr).unwrap();

    nb.answer(503);
    fx.annotate("mail", "entramail.io/rotate", "never").await;
    let cr = fx
        .wait("mail", Duration::from_secs(30), "rotated", |o| {
            key_of(o).is_some_and(|k| k != k1)
        })
        .await;
    let rotated = Instant::now();
    let k2 = key_of(&cr).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while fx.live_keys(&app_id).contains(&k1) {
        assert!(
            Instant::now() < deadline,
            "k1 never revoked after the overlap"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        rotated.elapsed() >= Duration::from_secs(3),
        "revoked before the overlap ended: {:?}",
        rotated.elapsed()
    );
    // The credential the Secret holds is never revoked, pushed or not.
    assert!(fx.live_keys(&app_id).contains(&k2));
    let s = fx.secret("mail-entra").await.unwrap();
    assert!(fx.h.is_secret_valid(TENANT_ID, &app_id, &data(&s, "clientSecret").unwrap()));
    let cr = fx.integrations().get("mail").await.unwrap();
    let (st, reason, message) = condition(&cr, "NocoBasePushed").unwrap();
    assert_eq!((st.as_str(), reason.as_str()), ("False", "PushFailed"));
    assert!(message.contains("503"), "{message}");
}

#[tokio::test]
async fn missing_api_key_secret_is_reported_until_it_exists() {
    let fx = Fx::start("push-key").await;
    let nb = FakeNocoBase::start().await;
    fx.create("mail", spec(&nb, "3s", "not-there-yet")).await;
    let cr = fx
        .wait("mail", Duration::from_secs(60), "ApiKeyMissing", |o| {
            condition(o, "NocoBasePushed").is_some_and(|c| c.0 == "False" && c.1 == "ApiKeyMissing")
        })
        .await;
    let (_, _, message) = condition(&cr, "NocoBasePushed").unwrap();
    assert!(message.contains("not-there-yet"), "{message}");
    assert!(is_ready(&cr), "the Secret is synced: Ready stays true");
    assert!(cr.status.as_ref().unwrap().pushed_key_id.is_none());
    assert!(nb.requests().is_empty(), "pushed without an API key");

    // The key appears: the retry (backoff) pushes.
    create_api_key(&fx, "not-there-yet").await;
    fx.wait("mail", Duration::from_secs(30), "pushed", pushed)
        .await;
    assert_eq!(nb.requests().len(), 1);
    assert_eq!(
        nb.requests()[0].authorization.as_deref(),
        Some(format!("Bearer {API_KEY}").as_str())
    );
}

#[tokio::test]
async fn invalid_body_template_is_reported_and_nothing_is_sent() {
    let fx = Fx::start("push-tpl").await;
    let nb = FakeNocoBase::start().await;
    create_api_key(&fx, "nocobase-api").await;
    let mut s = spec(&nb, "3s", "nocobase-api");
    s["rotation"]["nocobasePush"]["bodyTemplate"] = json!(r#"{"secret": {{clientSecret}}}"#);
    fx.create("mail", s).await;
    let cr = fx
        .wait(
            "mail",
            Duration::from_secs(60),
            "PushTemplateInvalid",
            |o| condition(o, "NocoBasePushed").is_some_and(|c| c.1 == "PushTemplateInvalid"),
        )
        .await;
    let text = data(&fx.secret("mail-entra").await.unwrap(), "clientSecret").unwrap();
    let status = serde_json::to_string(&cr.status).unwrap();
    assert!(!status.contains(&text), "rendered body leaked into status");
    assert!(nb.requests().is_empty());
}
