//! The operator against Entra's documented rules, as the strict Graph emulator enforces them (issue: "Entra as it
//! really is"): the default personal-account audience, the limit of two client secrets, adopted apps, replication,
//! ambiguous addPassword, policies, verify-before-trust, and permanent backoff across restarts.

mod operator;
mod support;

use std::time::Duration;

use graph_emulator::{AfterCommitFailure, SpReplicationError};
use serde_json::json;

use operator::spec::NOCOBASE_ORIGIN;
use operator::{Fx, Spec, TENANT_ID, app_id_of, condition, data, has_condition, is_ready, key_of};
use support::eventually;

const ADD_PASSWORD: &str = "POST /applications/{id}/addPassword";

/// The default audience (no signInAudience), a person acknowledges each secret.
fn default_spec() -> Spec {
    Spec::new(NOCOBASE_ORIGIN).lifetime("24h").overlap("1s")
}

#[tokio::test]
async fn default_audience_goes_ready_with_v2_tokens_and_waits_for_acknowledgement() {
    // Long on purpose: the manual path followed through (Ready, condition, event, metric, acknowledgement,
    // revocation).
    let fx = Fx::start("entra-default").await;
    fx.create("mail", default_spec()).await;
    let cr = fx.wait_ready("mail").await;
    let app =
        fx.h.application_by_app_id(TENANT_ID, &app_id_of(&cr))
            .unwrap();
    assert_eq!(app.sign_in_audience, "AzureADandPersonalMicrosoftAccount");
    assert_eq!(app.api.requested_access_token_version, Some(2));
    let k1 = key_of(&cr).unwrap();
    // Verified before it reached the Secret.
    let v = condition(&cr, "CredentialVerified").unwrap();
    assert_eq!(v.0, "True", "{v:?}");
    // Nothing can confirm that NocoBase's email manager has it: a person is asked, with the exact command.
    let cr = fx
        .wait(
            "mail",
            Duration::from_secs(20),
            "ManualUpdateRequired",
            |o| has_condition(o, "Delivered", "False", "ManualUpdateRequired"),
        )
        .await;
    let msg = condition(&cr, "Delivered").unwrap().2;
    assert!(
        msg.contains(&format!(
            "kubectl annotate nocobasemailintegration mail -n {} entramail.io/acknowledged-key-id={k1} --overwrite",
            fx.ns
        )),
        "{msg}"
    );
    fx.wait_events(
        "a Warning event ManualUpdateRequired",
        Duration::from_secs(15),
        |evs| {
            evs.iter().any(|e| {
                e.type_.as_deref() == Some("Warning")
                    && e.reason.as_deref() == Some("ManualUpdateRequired")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("mail")
                    && e.note.as_deref().is_some_and(|n| n.contains(&k1))
            })
        },
    )
    .await;
    // The metric the chart's alert reads, from the operator's /metrics endpoint (as tests/metrics.rs serves it).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let state = entramail_operator::controller::http::HttpState {
        metrics: fx.metrics(),
        ready: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
    };
    tokio::spawn(async move {
        axum::serve(
            listener,
            entramail_operator::controller::http::router(state),
        )
        .await
    });
    let series = format!(
        "entramail_delivery_pending{{namespace=\"{}\",name=\"mail\"}} ",
        fx.ns
    );
    let pending = || {
        let (url, series) = (url.clone(), series.clone());
        async move {
            let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
            text.lines()
                .find_map(|l| {
                    l.strip_prefix(series.as_str())
                        .map(str::trim)
                        .map(str::to_string)
                })
                .unwrap_or_else(|| panic!("no {series}in {text}"))
        }
    };
    assert_eq!(
        pending().await,
        "1",
        "delivery pending before the acknowledgement"
    );
    fx.annotate("mail", "entramail.io/acknowledged-key-id", &k1)
        .await;
    fx.wait("mail", Duration::from_secs(20), "acknowledged", |o| {
        has_condition(o, "Delivered", "True", "Delivered")
    })
    .await;
    assert_eq!(
        pending().await,
        "0",
        "delivery pending after the acknowledgement"
    );
}

#[tokio::test]
async fn limit_of_two_blocks_a_forced_rotation_until_the_new_secret_is_acknowledged() {
    let fx = Fx::start("entra-limit").await;
    fx.create("mail", default_spec()).await;
    let cr = fx.wait_ready("mail").await;
    let app = app_id_of(&cr);
    let k1 = key_of(&cr).unwrap();
    fx.annotate("mail", "entramail.io/acknowledged-key-id", &k1)
        .await;

    // Rotation 1: k2 minted, k1 stays (k2 not acknowledged yet) past the 1s overlap.
    let cr = fx.rotate("mail", "r1", &k1).await;
    let k2 = key_of(&cr).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(fx.live_keys(&app).len(), 2);
    assert!(fx.live_keys(&app).contains(&k1), "k1 revoked unconfirmed");

    // Rotation 2 while both slots are taken: blocked, explained, nothing minted.
    let minted = fx.h.count(ADD_PASSWORD);
    fx.annotate("mail", "entramail.io/rotate", "r2").await;
    let cr = fx
        .wait("mail", Duration::from_secs(20), "SecretLimitReached", |o| {
            has_condition(o, "CredentialReady", "False", "SecretLimitReached")
        })
        .await;
    let msg = condition(&cr, "CredentialReady").unwrap().2;
    assert!(msg.contains(&k1) && msg.contains(&k2), "{msg}");
    assert!(msg.contains("acknowledged-key-id"), "{msg}");
    assert!(is_ready(&cr), "the Secret still holds a valid credential");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fx.h.count(ADD_PASSWORD), minted, "minted over the limit");

    // Acknowledge k2: k1 goes first, then the forced rotation proceeds to k3.
    fx.annotate("mail", "entramail.io/acknowledged-key-id", &k2)
        .await;
    let cr = fx
        .wait("mail", Duration::from_secs(30), "rotation 2", |o| {
            key_of(o).is_some_and(|k| k != k1 && k != k2)
        })
        .await;
    let k3 = key_of(&cr).unwrap();
    let live = fx.live_keys(&app);
    assert!(!live.contains(&k1), "{live:?}");
    assert!(live.contains(&k2) && live.contains(&k3), "{live:?}");
    let s = fx.secret("mail-entra").await.unwrap();
    assert!(fx.h.is_secret_valid(TENANT_ID, &app, &data(&s, "clientSecret").unwrap()));
    assert!(fx.h.is_secret_valid(TENANT_ID, &app, &data(&s, "previousClientSecret").unwrap()));
    assert_eq!(
        cr.status.unwrap().last_rotation_trigger.as_deref(),
        Some("r2")
    );
}

#[tokio::test]
async fn adopted_app_keeps_its_audience_and_permissions_and_a_full_limit_is_reported() {
    let fx = Fx::start("entra-adopt").await;
    let graph = fx.operator_graph();
    // Somebody else's app: personal accounts, its own permission on another API, two client secrets.
    let want = entramail_operator::graph::ApplicationUpsert {
        display_name: Some("Theirs".into()),
        sign_in_audience: Some("AzureADandPersonalMicrosoftAccount".into()),
        api: Some(entramail_operator::graph::ApiApplication {
            requested_access_token_version: Some(2),
        }),
        ..Default::default()
    };
    let app = graph
        .upsert_application("someone-elses-app", &want)
        .await
        .unwrap()
        .into_application();
    let end = chrono::Utc::now() + chrono::TimeDelta::days(30);
    let a = graph.add_password(&app.id, "human 1", end).await.unwrap();
    graph.add_password(&app.id, "human 2", end).await.unwrap();

    fx.create("mail", default_spec().existing_app(&app.app_id))
        .await;
    let cr = fx
        .wait("mail", Duration::from_secs(30), "SecretLimitReached", |o| {
            has_condition(o, "CredentialReady", "False", "SecretLimitReached")
        })
        .await;
    let msg = condition(&cr, "CredentialReady").unwrap().2;
    assert!(msg.contains("not created by the operator"), "{msg}");
    assert!(msg.contains("az ad app credential delete"), "{msg}");
    assert!(!is_ready(&cr), "no credential in the Secret");
    assert_eq!(fx.h.count(ADD_PASSWORD), 2, "only the two human ones");

    // A person removes one: the operator mints into the free slot, never touching the other human one.
    assert!(fx.h.remove_password(TENANT_ID, &app.id, &a.credential.key_id));
    fx.annotate("mail", "poke", "1").await;
    let cr = fx
        .wait("mail", Duration::from_secs(30), "Ready", is_ready)
        .await;
    let stored = fx.h.application_by_app_id(TENANT_ID, &app.app_id).unwrap();
    assert_eq!(
        stored.display_name.as_deref(),
        Some("Theirs"),
        "name not patched"
    );
    assert_eq!(
        stored.sign_in_audience, "AzureADandPersonalMicrosoftAccount",
        "audience not patched"
    );
    assert_eq!(stored.password_credentials.len(), 2);
    assert!(
        stored
            .password_credentials
            .iter()
            .any(|c| c.display_name.as_deref() == Some("human 2"))
    );
    assert!(key_of(&cr).is_some());
}

#[tokio::test]
async fn service_principal_forbidden_during_replication_is_retried() {
    let fx = Fx::start("entra-sp403").await;
    fx.h.set_replication_lag(Duration::from_secs(2));
    fx.h.set_sp_replication_error(SpReplicationError::Forbidden);
    fx.create("mail", Spec::basic()).await;
    let cr = fx
        .wait("mail", Duration::from_secs(60), "Ready", is_ready)
        .await;
    assert!(cr.status.unwrap().service_principal_id.is_some());
    assert!(
        fx.h.counts_by_status()
            .get("POST /servicePrincipals 403")
            .copied()
            .unwrap_or(0)
            >= 1,
        "the fault never fired: {:?}",
        fx.h.counts_by_status()
    );
}

#[tokio::test]
async fn ambiguous_add_password_leaves_no_second_secret() {
    let fx = Fx::start("entra-ambiguous").await;
    // The first addPassword creates the credential, then answers 500: the operator must not mint blindly again
    // (the default audience allows two), and the one it cannot use is revoked.
    fx.h.fail_after_commit_next(1, AfterCommitFailure::Status(500));
    fx.create("mail", Spec::basic()).await;
    let cr = fx.wait_ready("mail").await;
    let app = app_id_of(&cr);
    eventually("orphan revoked", Duration::from_secs(20), || {
        fx.live_keys(&app).len() == 1
    })
    .await;
    assert_eq!(fx.live_keys(&app), vec![key_of(&cr).unwrap()]);
    assert_eq!(fx.h.count(ADD_PASSWORD), 2, "one ambiguous, one good");
}

#[tokio::test]
async fn secrets_forbidden_by_policy_have_their_own_reason_and_recover() {
    let fx = Fx::start("entra-policy").await;
    fx.h.set_password_addition_blocked(true);
    fx.create("mail", Spec::basic()).await;
    let cr = fx
        .wait("mail", Duration::from_secs(30), "policy reason", |o| {
            has_condition(o, "CredentialReady", "False", "CredentialTypePolicy")
        })
        .await;
    let msg = condition(&cr, "CredentialReady").unwrap().2;
    assert!(msg.contains("does not allow client secrets"), "{msg}");
    fx.h.set_password_addition_blocked(false);
    fx.wait("mail", Duration::from_secs(30), "Ready", is_ready)
        .await;
}

#[tokio::test]
async fn a_fresh_secret_is_verified_through_the_activation_lag() {
    let fx = Fx::start("entra-verify").await;
    fx.h.set_secret_activation_lag(Duration::from_secs(2));
    fx.create("mail", Spec::basic()).await;
    let cr = fx.wait_ready("mail").await;
    let v = condition(&cr, "CredentialVerified").unwrap();
    assert_eq!(v.0, "True", "{v:?}");
    let attempts: u32 =
        v.2.split('(')
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
    assert!(attempts > 1, "the lag was not ridden out: {v:?}");
}

#[tokio::test]
async fn permanent_failures_back_off_and_a_restart_honours_the_recorded_retry() {
    let mut fx = Fx::start("entra-backoff").await;
    fx.stop_operator().await;
    // Long enough that the recorded retry is always still ahead after the restart below: the first failure
    // waits 8 s, the second (permanent, doubled) 16 s, and the restart plus the 3 s look take far less.
    fx.configure(|c| {
        c.backoff.base = Duration::from_secs(8);
        c.backoff.max = Duration::from_secs(8);
        c.backoff.max_permanent = Duration::from_secs(60);
    });
    fx.start_operator();
    fx.h.set_password_addition_blocked(true);
    fx.create("mail", Spec::basic()).await;
    let cr = fx
        .wait("mail", Duration::from_secs(40), "second failure", |o| {
            o.status
                .as_ref()
                .and_then(|s| s.failed_attempts)
                .is_some_and(|n| n >= 2)
        })
        .await;
    let st = cr.status.unwrap();
    assert_eq!(st.failed_attempts, Some(2), "{st:?}");
    let next = st.next_attempt_after.clone().unwrap();
    let tried = fx.h.count(ADD_PASSWORD);
    // A restart inside the recorded backoff does not retry at once.
    fx.stop_operator().await;
    fx.start_operator();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let now = chrono::Utc::now().timestamp();
    assert!(
        now < next.0.as_second(),
        "the recorded retry ({next:?}) passed during the look: the test proves nothing"
    );
    assert_eq!(fx.h.count(ADD_PASSWORD), tried, "restart retried at once");
    // A spec change goes ahead at once.
    fx.h.set_password_addition_blocked(false);
    fx.integrations()
        .patch(
            "mail",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"secret": {"lifetime": "23h"}}})),
        )
        .await
        .unwrap();
    fx.wait(
        "mail",
        Duration::from_secs(10),
        "Ready after spec change",
        is_ready,
    )
    .await;
}

#[tokio::test]
async fn a_failing_forced_rotation_backs_off_instead_of_retrying_on_its_own_status_writes() {
    let fx = Fx::start("entra-trigger-backoff").await;
    fx.create("mail", Spec::basic()).await;
    fx.wait_ready("mail").await;
    fx.h.set_password_addition_blocked(true);
    let before = fx.h.count(ADD_PASSWORD);
    fx.annotate("mail", "entramail.io/rotate", "blocked").await;
    fx.wait("mail", Duration::from_secs(20), "policy reason", |o| {
        has_condition(o, "CredentialReady", "False", "CredentialTypePolicy")
    })
    .await;
    // The trigger stays pending while the mint fails; each failure's status write must not start the next attempt.
    // With the test backoff (200 ms doubling, 4 s cap for permanent failures) 8 s allow about 5 attempts.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let attempts = fx.h.count(ADD_PASSWORD) - before;
    assert!(
        (1..=8).contains(&attempts),
        "{attempts} addPassword attempts in 8 s"
    );
    // The same trigger goes through once the policy is lifted.
    fx.h.set_password_addition_blocked(false);
    fx.wait("mail", Duration::from_secs(20), "rotated", |o| {
        is_ready(o)
            && o.status
                .as_ref()
                .and_then(|s| s.last_rotation_trigger.as_deref())
                == Some("blocked")
    })
    .await;
}

const ADD_PASSWORD_REFUSED: &str = "POST /applications/{id}/addPassword 400";

#[tokio::test]
async fn ambiguous_add_password_during_a_forced_rotation_at_the_limit_mints_once_more_not_over_it()
{
    // The default (personal) audience: two client secrets at most. During a forced rotation the Secret's k1 holds
    // one slot and the ambiguous addPassword's credential the other, so a blind second addPassword would be
    // refused (TooManyAppPasswords). The operator must re-read, revoke its tagged orphan, and only then mint.
    let fx = Fx::start("entra-ambiguous-limit").await;
    fx.create("mail", default_spec()).await;
    let cr = fx.wait_ready("mail").await;
    let app = app_id_of(&cr);
    let k1 = key_of(&cr).unwrap();
    let s = fx.secret("mail-entra").await.unwrap();
    let k1_text = data(&s, "clientSecret").unwrap();
    assert_eq!(fx.h.count(ADD_PASSWORD), 1);

    fx.h.fail_after_commit_next(1, AfterCommitFailure::Status(500));
    let cr = fx.rotate("mail", "r1", &k1).await;
    let k2 = key_of(&cr).unwrap();
    // Exactly one new credential besides k1 (kept: its successor is not acknowledged), the orphan gone.
    eventually("orphan revoked", Duration::from_secs(20), || {
        fx.live_keys(&app).len() == 2
    })
    .await;
    let mut live = fx.live_keys(&app);
    live.sort();
    let mut want = vec![k1.clone(), k2.clone()];
    want.sort();
    assert_eq!(live, want);
    // One ambiguous mint and one good one: never a mint over the limit.
    assert_eq!(fx.h.count(ADD_PASSWORD), 3, "{:?}", fx.h.counts_by_status());
    assert_eq!(
        fx.h.counts_by_status()
            .get(ADD_PASSWORD_REFUSED)
            .copied()
            .unwrap_or(0),
        0,
        "a blind retry hit the limit"
    );
    let s = fx.secret("mail-entra").await.unwrap();
    let current = data(&s, "clientSecret").unwrap();
    assert!(fx.h.is_secret_valid(TENANT_ID, &app, &current));
    assert_eq!(
        data(&s, "previousClientSecret").as_deref(),
        Some(k1_text.as_str())
    );
    assert_eq!(
        cr.status.unwrap().last_rotation_trigger.as_deref(),
        Some("r1")
    );
}

#[tokio::test]
async fn a_secret_that_never_authenticates_is_not_used_and_is_revoked() {
    // Entra's activation lag outlasts the operator's verification (10 s in the test fixture, see
    // tests/operator/mod.rs): the new secret must not reach the Secret, and must not stay in Entra.
    let fx = Fx::start("entra-verify-fails").await;
    fx.create("mail", default_spec()).await;
    let cr = fx.wait_ready("mail").await;
    let app = app_id_of(&cr);
    let k1 = key_of(&cr).unwrap();
    let before = fx.secret("mail-entra").await.unwrap().data;

    fx.h.set_secret_activation_lag(Duration::from_secs(60));
    fx.annotate("mail", "entramail.io/rotate", "r1").await;
    let cr = fx
        .wait(
            "mail",
            Duration::from_secs(40),
            "CredentialNotVerified",
            |o| has_condition(o, "CredentialVerified", "False", "CredentialNotVerified"),
        )
        .await;
    assert_eq!(key_of(&cr).as_deref(), Some(k1.as_str()));
    let s = fx.secret("mail-entra").await.unwrap();
    assert_eq!(s.data, before, "the Secret changed for an unproven secret");
    let unproven: Vec<String> = fx
        .live_keys(&app)
        .into_iter()
        .filter(|k| *k != k1)
        .collect();
    assert!(
        unproven.len() <= 1,
        "more than the limit allows: {unproven:?}"
    );

    // Once secrets authenticate again the rotation completes, and no unproven secret is left in Entra.
    fx.h.set_secret_activation_lag(Duration::ZERO);
    let cr = fx
        .wait("mail", Duration::from_secs(60), "rotated", |o| {
            key_of(o).is_some_and(|k| k != k1)
                && has_condition(o, "CredentialVerified", "True", "Verified")
        })
        .await;
    let k2 = key_of(&cr).unwrap();
    eventually("unproven secrets revoked", Duration::from_secs(20), || {
        let live = fx.live_keys(&app);
        live.len() == 2 && live.contains(&k1) && live.contains(&k2)
    })
    .await;
    for k in &unproven {
        assert_ne!(*k, k2, "the unproven secret was put to use");
    }
    let s = fx.secret("mail-entra").await.unwrap();
    assert!(fx.h.is_secret_valid(TENANT_ID, &app, &data(&s, "clientSecret").unwrap()));
    assert_eq!(
        fx.h.counts_by_status()
            .get(ADD_PASSWORD_REFUSED)
            .copied()
            .unwrap_or(0),
        0,
        "minted over the limit"
    );
}

#[tokio::test]
async fn adopted_app_with_another_audience_keeps_it() {
    // An app somebody else made for work and school accounts of any tenant, without requestedAccessTokenVersion.
    // The spec leaves signInAudience out: the default (personal accounts) must not be patched onto it.
    let fx = Fx::start("entra-adopt-orgs").await;
    let graph = fx.operator_graph();
    let want = entramail_operator::graph::ApplicationUpsert {
        display_name: Some("Theirs".into()),
        sign_in_audience: Some("AzureADMultipleOrgs".into()),
        ..Default::default()
    };
    let app = graph
        .upsert_application("someone-elses-orgs-app", &want)
        .await
        .unwrap()
        .into_application();
    fx.create("mail", default_spec().existing_app(&app.app_id))
        .await;
    let cr = fx.wait_ready("mail").await;
    assert!(key_of(&cr).is_some());
    // A second reconcile (a poke) must not patch it either.
    fx.annotate("mail", "poke", "1").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stored = fx.h.application_by_app_id(TENANT_ID, &app.app_id).unwrap();
    assert_eq!(
        stored.sign_in_audience, "AzureADMultipleOrgs",
        "audience patched"
    );
    assert_eq!(
        stored.api.requested_access_token_version, None,
        "token version patched"
    );
    assert_eq!(
        stored.display_name.as_deref(),
        Some("Theirs"),
        "name patched"
    );
}

#[tokio::test]
async fn a_lost_secret_at_the_limit_revokes_the_oldest_retiring_secret_and_mints() {
    // Both slots taken after a rotation whose new secret is not acknowledged; then the Secret is deleted. Nothing
    // can confirm either secret any more, so the oldest (k1) goes to make room, and a new one is minted.
    let fx = Fx::start("entra-lost-limit").await;
    fx.create("mail", default_spec()).await;
    let cr = fx.wait_ready("mail").await;
    let app = app_id_of(&cr);
    let k1 = key_of(&cr).unwrap();
    let cr = fx.rotate("mail", "r1", &k1).await;
    let k2 = key_of(&cr).unwrap();
    assert_eq!(fx.live_keys(&app).len(), 2);

    fx.secrets()
        .delete("mail-entra", &kube::api::DeleteParams::default())
        .await
        .unwrap();
    let cr = fx
        .wait(
            "mail",
            Duration::from_secs(30),
            "re-mint after Secret loss",
            |o| is_ready(o) && key_of(o).is_some_and(|k| k != k1 && k != k2),
        )
        .await;
    let k3 = key_of(&cr).unwrap();
    let mut live = fx.live_keys(&app);
    live.sort();
    let mut want = vec![k2.clone(), k3.clone()];
    want.sort();
    assert_eq!(
        live, want,
        "k1 (the oldest) revoked, k2 kept for its overlap"
    );
    let s = fx.secret("mail-entra").await.unwrap();
    assert!(fx.h.is_secret_valid(TENANT_ID, &app, &data(&s, "clientSecret").unwrap()));
    assert_eq!(
        fx.h.counts_by_status()
            .get(ADD_PASSWORD_REFUSED)
            .copied()
            .unwrap_or(0),
        0,
        "minted over the limit"
    );
    assert_eq!(fx.h.count(ADD_PASSWORD), 3);
}
