//! Graph client against the in-process Graph/Entra emulator (HTTPS with its own CA).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeDelta, Utc};
use entramail_operator::api::GRAPH_RESOURCE_APP_ID;
use entramail_operator::auth::{self, AuthMethod, Cloud, SecretText, TokenSource};
use entramail_operator::graph::{
    ApiApplication, Application, ApplicationUpsert, GraphClient, GraphConfig, GraphMetrics,
    NewPassword, RequiredResourceAccess, ResourceAccess, RetryPolicy, UpsertOutcome,
    WebApplication,
};
use graph_emulator::{Emulator, EmulatorHandle, TenantSize, ThrottleBudget};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::Url;

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const OPERATOR_CLIENT: &str = "op-client-id";
const OPERATOR_SECRET: &str = "op-secret-value";

struct Fixture {
    emu: Emulator,
    handle: EmulatorHandle,
    graph: GraphClient,
    metrics: Arc<Recorder>,
}

#[derive(Default)]
struct Recorder(Mutex<Vec<(String, String, Option<u16>)>>);

impl GraphMetrics for Recorder {
    fn on_request(
        &self,
        endpoint: &'static str,
        method: &'static str,
        status: Option<u16>,
        _: Duration,
    ) {
        self.0
            .lock()
            .unwrap()
            .push((endpoint.to_owned(), method.to_owned(), status));
    }
}

fn cloud(emu: &Emulator) -> Cloud {
    let base = Url::parse(&emu.base_url()).unwrap();
    Cloud::Custom {
        authority_host: base.clone(),
        graph_endpoint: base,
    }
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 12,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(400),
        max_total_wait: Duration::from_secs(10),
    }
}

/// A credential for `method` against the emulator's tenant, trusting the emulator's CA.
fn credential(emu: &Emulator, method: AuthMethod) -> Arc<dyn TokenSource> {
    auth::credential(TENANT, &cloud(emu), &method, Some(&emu.ca_pem())).unwrap()
}

/// Graph settings for the emulator with `credential`, trusting the emulator's CA.
fn graph_config(emu: &Emulator, credential: Arc<dyn TokenSource>) -> GraphConfig {
    let mut cfg = GraphConfig::new(Url::parse(&emu.graph_url()).unwrap(), credential);
    cfg.extra_ca_pem = Some(emu.ca_pem());
    cfg
}

fn operator_secret(secret: &str) -> AuthMethod {
    AuthMethod::ClientSecret {
        client_id: OPERATOR_CLIENT.into(),
        secret: SecretText::new(secret),
    }
}

async fn fixture_with(retry: RetryPolicy) -> Fixture {
    let emu = Emulator::start().await.unwrap();
    let handle = emu.handle();
    handle.register_client_secret(TENANT, OPERATOR_CLIENT, OPERATOR_SECRET);
    let metrics = Arc::new(Recorder::default());
    let mut cfg = graph_config(&emu, credential(&emu, operator_secret(OPERATOR_SECRET)));
    cfg.retry = retry;
    cfg.metrics = Some(metrics.clone());
    let graph = GraphClient::new(cfg).unwrap();
    Fixture {
        emu,
        handle,
        graph,
        metrics,
    }
}

impl Fixture {
    /// Creates (or updates) the mail application `unique_name`, displayed as `display_name`.
    async fn app(&self, unique_name: &str, display_name: &str) -> Application {
        self.graph
            .upsert_application(unique_name, &mail_app(display_name))
            .await
            .unwrap()
            .into_application()
    }

    /// One request, so that the token is fetched and cached before what a test counts or times.
    async fn warm_up(&self) {
        self.graph
            .get_application_by_unique_name("warm-up")
            .await
            .unwrap();
    }

    /// Adds a client secret valid for `days`.
    async fn add_password(&self, app: &Application, days: i64) -> NewPassword {
        self.graph
            .add_password(&app.id, "entramail uid", Utc::now() + TimeDelta::days(days))
            .await
            .unwrap()
    }

    /// Checks `secret` of `client_id` against the token endpoint of `tenant`.
    async fn verify(
        &self,
        tenant: &str,
        client_id: &str,
        secret: &SecretText,
        options: &auth::VerifyOptions,
    ) -> Result<u32, auth::VerifyError> {
        auth::verify_client_secret(
            tenant,
            &cloud(&self.emu),
            client_id,
            secret,
            Some(&self.emu.ca_pem()),
            options,
        )
        .await
    }
}

async fn fixture() -> Fixture {
    fixture_with(fast_retry()).await
}

fn mail_app(name: &str) -> ApplicationUpsert {
    ApplicationUpsert {
        display_name: Some(name.into()),
        sign_in_audience: Some("AzureADMyOrg".into()),
        required_resource_access: Some(vec![RequiredResourceAccess {
            resource_app_id: GRAPH_RESOURCE_APP_ID.into(),
            resource_access: vec![
                ResourceAccess {
                    id: "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0".into(),
                    kind: "Scope".into(),
                },
                ResourceAccess {
                    id: "7427e0e9-2fba-42fe-b0c0-848c9e6a8182".into(),
                    kind: "Scope".into(),
                },
            ],
        }]),
        web: Some(WebApplication {
            redirect_uris: vec!["https://nocobase.example/admin/settings/mail/oauth2".into()],
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn client_secret_token_and_application_lifecycle() {
    // Long on purpose: one application lifecycle through the Graph client, in order.
    let f = fixture().await;
    let created = f
        .graph
        .upsert_application("entramail-a", &mail_app("Mail A"))
        .await
        .unwrap();
    let app = match created {
        UpsertOutcome::Created(app) => app,
        other => panic!("expected Created, got {other:?}"),
    };
    assert_eq!(app.display_name.as_deref(), Some("Mail A"));
    assert!(mail_app("Mail A").is_satisfied_by(&app));

    let updated = f
        .graph
        .upsert_application("entramail-a", &mail_app("Mail A2"))
        .await
        .unwrap();
    assert!(!updated.was_created());
    assert_eq!(updated.application().id, app.id);
    assert_eq!(
        updated.application().display_name.as_deref(),
        Some("Mail A2")
    );

    let by_name = f
        .graph
        .get_application_by_unique_name("entramail-a")
        .await
        .unwrap()
        .unwrap();
    let by_id = f.graph.get_application(&app.id).await.unwrap().unwrap();
    let by_app_id = f
        .graph
        .get_application_by_app_id(&app.app_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_name.id, app.id);
    assert_eq!(by_id.app_id, app.app_id);
    assert_eq!(by_app_id.id, app.id);
    assert!(
        f.graph
            .get_application_by_unique_name("nope")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        f.graph
            .get_application_by_app_id("00000000-0000-0000-0000-000000000001")
            .await
            .unwrap()
            .is_none()
    );

    let patch = ApplicationUpsert {
        display_name: Some("Mail A3".into()),
        ..Default::default()
    };
    f.graph.update_application(&app.id, &patch).await.unwrap();
    assert_eq!(
        f.graph
            .get_application(&app.id)
            .await
            .unwrap()
            .unwrap()
            .display_name
            .as_deref(),
        Some("Mail A3")
    );

    f.graph.delete_application(&app.id).await.unwrap();
    f.graph.delete_application(&app.id).await.unwrap(); // already gone = Ok
    assert!(f.graph.get_application(&app.id).await.unwrap().is_none());
    assert!(f.handle.applications(TENANT).is_empty());

    // one token for the whole test: the credential caches it
    assert_eq!(f.handle.count("POST /{tenant}/oauth2/v2.0/token"), 1);
    // metrics use templates, never ids
    let recorded = f.metrics.0.lock().unwrap().clone();
    assert!(
        recorded
            .iter()
            .any(|(e, m, s)| e == "/applications/{id}" && m == "DELETE" && *s == Some(404))
    );
    assert!(recorded.iter().all(|(e, _, _)| !e.contains(&app.id)));
}

#[tokio::test]
async fn workload_identity_token_file() {
    let emu = Emulator::start().await.unwrap();
    let subject = "system:serviceaccount:entramail:operator";
    emu.handle()
        .register_federated_client(TENANT, "wi-client", subject);
    let enc = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let jwt = format!(
        "{}.{}.c2ln",
        enc(serde_json::json!({"alg": "RS256", "typ": "JWT"})),
        enc(serde_json::json!({
            "iss": "https://kubernetes.default.svc",
            "sub": subject,
            "aud": ["api://AzureADTokenExchange"],
            "exp": (Utc::now() + TimeDelta::hours(1)).timestamp(),
            "nbf": Utc::now().timestamp() - 60,
        }))
    );
    let dir = std::env::temp_dir().join(format!("entramail-wi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("token");
    std::fs::write(&token_file, jwt).unwrap();

    let wi = credential(
        &emu,
        AuthMethod::WorkloadIdentity {
            client_id: "wi-client".into(),
            token_file: token_file.clone(),
        },
    );
    let token = wi.token().await.unwrap();
    assert!(!token.token.is_empty());
    assert!(token.expires_on > Utc::now());
    assert!(!format!("{token:?}").contains(token.token.expose()));

    let graph = GraphClient::new(graph_config(&emu, wi)).unwrap();
    assert!(
        graph
            .get_application_by_unique_name("x")
            .await
            .unwrap()
            .is_none()
    );

    // An unregistered subject is refused with an auth error.
    emu.handle()
        .register_federated_client(TENANT, "other-client", "system:serviceaccount:x:y");
    let bad = credential(
        &emu,
        AuthMethod::WorkloadIdentity {
            client_id: "other-client".into(),
            token_file,
        },
    );
    assert!(bad.token().await.is_err());
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn wrong_client_secret_is_an_auth_error() {
    let emu = Emulator::start().await.unwrap();
    emu.handle()
        .register_client_secret(TENANT, OPERATOR_CLIENT, OPERATOR_SECRET);
    let wrong = credential(&emu, operator_secret("wrong-secret-xyz"));
    let graph = GraphClient::new(graph_config(&emu, wrong)).unwrap();
    let err = graph.get_application("x").await.unwrap_err();
    assert_eq!(err.reason(), "AuthenticationFailed");
    assert!(!err.to_string().contains("wrong-secret-xyz"));
    assert!(!format!("{err:?}").contains("wrong-secret-xyz"));
}

#[tokio::test]
async fn add_and_remove_password() {
    let f = fixture().await;
    let app = f.app("entramail-p", "Mail P").await;
    let end = Utc::now() + TimeDelta::days(90);
    let new = f
        .graph
        .add_password(&app.id, "entramail uid-123", end)
        .await
        .unwrap();
    assert!(!format!("{new:?}").contains(new.secret_text.expose()));
    assert_eq!(
        new.credential.display_name.as_deref(),
        Some("entramail uid-123")
    );
    let got_end = new.credential.end_date_time.unwrap();
    assert!(
        (got_end - end).num_seconds().abs() <= 1,
        "end {got_end} vs {end}"
    );
    assert!(
        f.handle
            .is_secret_valid(TENANT, &app.app_id, new.secret_text.expose())
    );

    let listed = f.graph.get_application(&app.id).await.unwrap().unwrap();
    assert!(
        listed
            .password_credentials
            .iter()
            .any(|c| c.key_id == new.credential.key_id)
    );

    f.graph
        .remove_password(&app.id, &new.credential.key_id)
        .await
        .unwrap();
    assert!(
        !f.handle
            .is_secret_valid(TENANT, &app.app_id, new.secret_text.expose())
    );
    // unknown key / repeated revoke is fine
    f.graph
        .remove_password(&app.id, &new.credential.key_id)
        .await
        .unwrap();
    let listed = f.graph.get_application(&app.id).await.unwrap().unwrap();
    assert!(listed.password_credentials.is_empty());
}

#[tokio::test]
async fn lifetime_policy_error_is_classified_and_not_retried() {
    let f = fixture().await;
    let app = f.app("entramail-l", "Mail L").await;
    f.handle
        .set_max_credential_lifetime(Some(Duration::from_secs(30 * 24 * 3600)));
    let before = f.handle.count("POST /applications/{id}/addPassword");
    let err = f
        .graph
        .add_password(&app.id, "entramail uid", Utc::now() + TimeDelta::days(90))
        .await
        .unwrap_err();
    assert!(err.is_lifetime_policy(), "{err}");
    assert!(!err.is_retryable());
    assert_eq!(err.reason(), "CredentialLifetimePolicy");
    assert_eq!(
        f.handle.count("POST /applications/{id}/addPassword"),
        before + 1
    );
    // within policy works
    f.add_password(&app, 20).await;
}

#[tokio::test]
async fn service_principal_and_consent_under_replication_lag_then_steady_state() {
    let f = fixture().await;
    f.handle.set_replication_lag(Duration::from_millis(1000));
    let app = f.app("entramail-s", "Mail S").await;
    let sp = f.graph.ensure_service_principal(&app.app_id).await.unwrap();
    assert_eq!(sp.app_id, app.app_id);
    let by_status = f.handle.counts_by_status();
    let lagged = ["POST /servicePrincipals 400", "POST /servicePrincipals 404"]
        .iter()
        .filter_map(|k| by_status.get(*k))
        .sum::<u64>();
    assert!(
        lagged >= 1,
        "expected the create to hit replication lag: {by_status:?}"
    );
    let graph_sp = f
        .graph
        .get_service_principal_by_app_id(GRAPH_RESOURCE_APP_ID)
        .await
        .unwrap()
        .expect("Graph SP exists in every tenant");
    let scope = "email offline_access IMAP.AccessAsUser.All SMTP.Send User.Read";
    let grant = f
        .graph
        .ensure_admin_consent(&sp.id, &graph_sp.id, scope)
        .await
        .unwrap();
    assert_eq!(grant.consent_type, "AllPrincipals");
    assert!(grant.has_same_scopes(scope));

    // Wait out the lag, then steady state: ensure_* make no writes at all.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let writes = f.handle.writes();
    let again = f.graph.ensure_service_principal(&app.app_id).await.unwrap();
    assert_eq!(again.id, sp.id);
    let same = f
        .graph
        .ensure_admin_consent(
            &sp.id,
            &graph_sp.id,
            "offline_access email User.Read SMTP.Send IMAP.AccessAsUser.All",
        )
        .await
        .unwrap();
    assert_eq!(same.id, grant.id);
    let current = f
        .graph
        .get_application_by_unique_name("entramail-s")
        .await
        .unwrap()
        .unwrap();
    assert!(mail_app("Mail S").is_satisfied_by(&current));
    assert_eq!(f.handle.writes(), writes, "steady state must not write");

    // A changed scope is one PATCH.
    let patched = f
        .graph
        .ensure_admin_consent(&sp.id, &graph_sp.id, "email offline_access")
        .await
        .unwrap();
    assert!(patched.has_same_scopes("offline_access email"));
    assert_eq!(f.handle.writes(), writes + 1);
    assert_eq!(f.handle.grants(TENANT).len(), 1);
    assert_eq!(
        f.handle
            .service_principals(TENANT)
            .iter()
            .filter(|s| s.app_id == app.app_id)
            .count(),
        1
    );
}

#[tokio::test]
async fn throttling_honours_retry_after() {
    let f = fixture().await;
    f.warm_up().await; // token fetched, not timed
    let key = "GET /applications(uniqueName='{uniqueName}')";
    let before = f.handle.count(key);
    f.handle.throttle_next(2, Duration::from_secs(1));
    let started = Instant::now();
    assert!(
        f.graph
            .get_application_by_unique_name("x")
            .await
            .unwrap()
            .is_none()
    );
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_secs(2), "waited only {elapsed:?}");
    assert!(elapsed < Duration::from_secs(6), "waited {elapsed:?}");
    assert_eq!(f.handle.count(key), before + 3);
}

#[tokio::test]
async fn throttling_beyond_budget_returns_retry_after() {
    let f = fixture_with(RetryPolicy {
        max_total_wait: Duration::from_secs(1),
        ..fast_retry()
    })
    .await;
    f.handle.throttle_next(1, Duration::from_secs(5));
    let started = Instant::now();
    let err = f
        .graph
        .get_application_by_unique_name("x")
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
    assert_eq!(err.reason(), "GraphThrottled");
}

/// A 429 for the tenant's write quota (`x-ms-throttle-scope: Tenant_Application/Write/...`) holds the client's
/// other writes until its `Retry-After`: sent meanwhile they would be refused and charged too, which kept the
/// window full for good in the scale bench. Reads are not held. A write whose call may not wait that long is not
/// sent at all: it fails at once with the time the hold still runs, as a 429 would. Fails without the hold: the
/// third write is sent into the throttled window and refused there.
#[tokio::test]
async fn a_write_quota_429_holds_the_other_writes_until_retry_after() {
    let f = fixture_with(RetryPolicy {
        max_total_wait: Duration::from_millis(500),
        ..fast_retry()
    })
    .await;
    let app = f.app("entramail-hold", "Mail Hold").await;
    f.warm_up().await;
    f.handle.set_throttle_budget(Some(ThrottleBudget {
        write_requests: 1,
        write_window: Duration::from_secs(3),
        ..ThrottleBudget::for_tenant_size(TenantSize::Large)
    }));
    let end = Utc::now() + TimeDelta::days(30);
    let refusals = || {
        f.handle
            .counts_by_status()
            .get("POST /applications/{id}/addPassword 429")
            .copied()
            .unwrap_or(0)
    };
    f.add_password(&app, 30).await;
    let refused = f
        .graph
        .add_password(&app.id, "entramail uid", end)
        .await
        .unwrap_err();
    assert_eq!(
        (refused.status(), refusals()),
        (Some(429), 1),
        "the quota's one write is spent"
    );

    let started = Instant::now();
    f.graph.get_application(&app.id).await.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a read is not held by a write quota: {:?}",
        started.elapsed()
    );
    let held = f
        .graph
        .add_password(&app.id, "entramail uid", end)
        .await
        .unwrap_err();
    assert_eq!(held.status(), Some(429));
    let wait = held.retry_after().expect("how long the hold still runs");
    assert!(
        wait > Duration::from_secs(1) && wait <= Duration::from_secs(3),
        "{wait:?}"
    );
    assert_eq!(refusals(), 1, "the held write was not sent");

    tokio::time::sleep(wait).await;
    f.graph
        .add_password(&app.id, "entramail uid", end)
        .await
        .expect("after the hold the write goes, and the quota has room");
    assert_eq!(refusals(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_then_surface() {
    let f = fixture().await;
    f.warm_up().await;
    let key = "GET /applications(uniqueName='{uniqueName}')";
    let before = f.handle.count(key);
    f.handle.fail_next(2, 503);
    assert!(
        f.graph
            .get_application_by_unique_name("x")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(f.handle.count(key), before + 3);

    let f = fixture_with(RetryPolicy {
        max_attempts: 3,
        ..fast_retry()
    })
    .await;
    f.warm_up().await;
    let before = f.handle.count(key);
    f.handle.fail_next(10, 500);
    let err = f
        .graph
        .get_application_by_unique_name("x")
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.status(), Some(500));
    assert_eq!(f.handle.count(key), before + 3);
    drop(f.emu);
}

#[tokio::test]
async fn add_password_right_after_create_rides_out_replication_lag() {
    let f = fixture().await;
    f.handle.set_replication_lag(Duration::from_millis(800));
    let app = f.app("entramail-lag", "Mail Lag").await;
    let pw = f.add_password(&app, 30).await;
    assert!(
        f.handle
            .is_secret_valid(TENANT, &app.app_id, pw.secret_text.expose())
    );
    let by_status = f.handle.counts_by_status();
    assert!(
        by_status
            .get("POST /applications/{id}/addPassword 404")
            .copied()
            .unwrap_or(0)
            >= 1,
        "expected a lagged 404 first: {by_status:?}"
    );
    assert_eq!(
        by_status.get("POST /applications/{id}/addPassword 200"),
        Some(&1)
    );
}

#[tokio::test]
async fn rejected_token_is_replaced_once() {
    let f = fixture().await;
    f.warm_up().await;
    // The emulator's clock jumps past the token's expiry: Graph now answers 401 to the cached token.
    f.handle.advance_clock(Duration::from_secs(3 * 3600));
    assert!(
        f.graph
            .get_application_by_unique_name("x")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(f.handle.count("POST /{tenant}/oauth2/v2.0/token"), 2);
    let by_status = f.handle.counts_by_status();
    assert_eq!(
        by_status.get("GET /applications(uniqueName='{uniqueName}') 401"),
        Some(&1),
        "{by_status:?}"
    );
}

#[tokio::test]
async fn a_fresh_secret_verifies_against_the_token_endpoint() {
    let f = fixture().await;
    let app = f.app("entramail-v", "Mail V").await;
    let pw = f.add_password(&app, 30).await;
    let options = auth::VerifyOptions {
        max_wait: Duration::from_secs(5),
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
        request_timeout: Duration::from_secs(5),
    };
    let before = f.handle.count("POST /{tenant}/oauth2/v2.0/token");
    let attempts = f
        .verify(TENANT, &app.app_id, &pw.secret_text, &options)
        .await
        .unwrap();
    assert!(attempts >= 1);
    assert_eq!(
        f.handle.count("POST /{tenant}/oauth2/v2.0/token"),
        before + u64::from(attempts)
    );

    // A secret Entra does not know looks exactly like one that has not replicated: after the bound it is
    // NotYetValid (AADSTS7000215), never a success, and the error does not carry the secret.
    let wrong = SecretText::new("not-the-secret~123");
    let short = auth::VerifyOptions {
        max_wait: Duration::from_millis(300),
        ..options.clone()
    };
    let err = f
        .verify(TENANT, &app.app_id, &wrong, &short)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            auth::VerifyError::NotYetValid {
                code: 7_000_215,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("not-the-secret"));

    // An unknown tenant is final at once.
    let err = f
        .verify(
            "99999999-0000-0000-0000-000000000000",
            &app.app_id,
            &pw.secret_text,
            &options,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, auth::VerifyError::Rejected { attempts: 1, .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains(pw.secret_text.expose()));
}

#[tokio::test]
async fn add_password_is_not_resent_after_a_server_error() {
    let f = fixture().await;
    let app = f.app("entramail-amb", "Mail Amb").await;
    let key = "POST /applications/{id}/addPassword";
    let before = f.handle.count(key);
    f.handle.fail_next(1, 503);
    let err = f
        .graph
        .add_password(&app.id, "entramail uid", Utc::now() + TimeDelta::days(30))
        .await
        .unwrap_err();
    assert!(err.is_ambiguous(), "{err}");
    assert!(!err.is_permanent());
    assert_eq!(
        f.handle.count(key),
        before + 1,
        "must not mint blindly again"
    );
    // Idempotent calls are still retried through the same fault.
    f.handle.fail_next(1, 503);
    assert!(f.graph.get_application(&app.id).await.unwrap().is_some());
}

#[tokio::test]
async fn personal_account_audience_is_created_with_v2_tokens() {
    let f = fixture().await;
    let want = ApplicationUpsert {
        sign_in_audience: Some("AzureADandPersonalMicrosoftAccount".into()),
        ..mail_app("Mail Personal")
    };
    let app = f
        .graph
        .upsert_application("entramail-msa", &want)
        .await
        .unwrap()
        .into_application();
    assert_eq!(
        app.api
            .as_ref()
            .and_then(|a| a.requested_access_token_version),
        Some(2)
    );
    assert!(want.is_satisfied_by(&app));
    let stored = f.handle.application_by_app_id(TENANT, &app.app_id).unwrap();
    assert_eq!(stored.api.requested_access_token_version, Some(2));

    // An update that sets only the redirect URIs sends nothing else (no audience, no api, no name).
    let only_web = ApplicationUpsert {
        web: Some(WebApplication {
            redirect_uris: vec!["https://other.example/admin/settings/mail/oauth2".into()],
        }),
        ..Default::default()
    };
    f.graph
        .update_application(&app.id, &only_web)
        .await
        .unwrap();
    let after = f.graph.get_application(&app.id).await.unwrap().unwrap();
    assert_eq!(after.display_name.as_deref(), Some("Mail Personal"));
    assert_eq!(
        after.sign_in_audience.as_deref(),
        Some("AzureADandPersonalMicrosoftAccount")
    );
    assert_eq!(
        after.api,
        Some(ApiApplication {
            requested_access_token_version: Some(2)
        })
    );
    assert!(only_web.is_satisfied_by(&after));
}
