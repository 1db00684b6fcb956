//! The operator against Entra's documented rules, as the strict Graph emulator enforces them (issue: "Entra as it
//! really is"): the default personal-account audience, the limit of two client secrets, adopted apps, replication,
//! ambiguous addPassword, policies, verify-before-trust, and permanent backoff across restarts.

mod operator;
mod support;

use std::time::Duration;

use graph_emulator::{AfterCommitFailure, SpReplicationError};
use serde_json::json;

use operator::{Fx, TENANT_ID, app_id_of, condition, data, has_condition, is_ready, key_of};
use support::eventually;

const ADD_PASSWORD: &str = "POST /applications/{id}/addPassword";

/// The default audience (no signInAudience), a person acknowledges each secret.
fn default_spec() -> serde_json::Value {
    json!({
        "application": {"nocobaseOrigin": "https://nocobase.example.com"},
        "secret": {"lifetime": "24h"},
        "rotation": {"overlap": "1s"},
    })
}

#[tokio::test]
async fn default_audience_goes_ready_with_v2_tokens_and_waits_for_acknowledgement() {
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
    fx.annotate("mail", "entramail.io/acknowledged-key-id", &k1)
        .await;
    fx.wait("mail", Duration::from_secs(20), "acknowledged", |o| {
        has_condition(o, "Delivered", "True", "Delivered")
    })
    .await;
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
    fx.annotate("mail", "entramail.io/rotate", "r1").await;
    let cr = fx
        .wait("mail", Duration::from_secs(30), "rotation 1", |o| {
            key_of(o).is_some_and(|k| k != k1)
        })
        .await;
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

    let mut spec = default_spec();
    spec["application"]["existingAppId"] = app.app_id.clone().into();
    fx.create("mail", spec).await;
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
    fx.create("mail", operator::basic_spec()).await;
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
    fx.create("mail", operator::basic_spec()).await;
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
    fx.create("mail", operator::basic_spec()).await;
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
    fx.create("mail", operator::basic_spec()).await;
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
    fx.configure(|c| {
        c.backoff.base = Duration::from_secs(4);
        c.backoff.max = Duration::from_secs(4);
        c.backoff.max_permanent = Duration::from_secs(60);
    });
    fx.start_operator();
    fx.h.set_password_addition_blocked(true);
    fx.create("mail", operator::basic_spec()).await;
    let cr = fx
        .wait("mail", Duration::from_secs(30), "second failure", |o| {
            o.status
                .as_ref()
                .and_then(|s| s.failed_attempts)
                .is_some_and(|n| n >= 2)
        })
        .await;
    let st = cr.status.unwrap();
    let next = st.next_attempt_after.clone().unwrap();
    let tried = fx.h.count(ADD_PASSWORD);
    // A restart inside the recorded backoff does not retry at once.
    fx.stop_operator().await;
    fx.start_operator();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let now = chrono::Utc::now().timestamp();
    if now < next.0.as_second() {
        assert_eq!(fx.h.count(ADD_PASSWORD), tried, "restart retried at once");
    }
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
    fx.create("mail", operator::basic_spec()).await;
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
