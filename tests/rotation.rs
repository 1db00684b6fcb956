//! Rotation against the real control plane + Graph emulator, with short real lifetimes: scheduled renewal
//! with overlap and consumer restart, manual trigger, lost Secret, credential deleted in Entra, orphan sweep
//! after a simulated crash; the workloads target (a Deployment) through the first secret and two rotations.
//! Run: tests/testbed/with-control-plane.sh cargo test --workspace --test rotation

mod operator;
mod support;

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use entramail_operator::{
    api::{
        Acknowledgement, KEY_ID_ANNOTATION, RESTARTED_AT_ANNOTATION, ROTATE_ANNOTATION,
        SignInAudience,
    },
    planner::tag,
};
use k8s_openapi::api::apps::v1::Deployment;
use kube::{Api, ResourceExt, api::DeleteParams};
use operator::spec::NOCOBASE_ORIGIN;
use operator::{Fx, Spec, TENANT_ID, app_id_of, data, key_of, object_id_of};
use support::eventually;

#[tokio::test]
async fn scheduled_rotation_restarts_consumers_and_revokes_old_after_overlap() {
    // Long on purpose: one rotation followed through its phases (mint, Secret, restart, rollout, overlap, revoke).
    let fx = Fx::start("rot").await;
    operator::create_deployment(&fx.client, &fx.ns, "nocobase").await;
    fx.create(
        "mail",
        Spec::new(NOCOBASE_ORIGIN)
            .lifetime("30s")
            .renew_before("18s")
            .overlap("8s")
            .consumer("nocobase")
            // The consumer's rollout is the one confirmation.
            .acknowledgement(Acknowledgement::NotRequired),
    )
    .await;
    let cr = fx.wait_ready("mail").await;
    let app = app_id_of(&cr);
    let k1 = key_of(&cr).unwrap();
    let s1 = fx.secret("mail-entra").await.unwrap();
    let text1 = data(&s1, "clientSecret").unwrap();
    let renewal = cr.status.as_ref().unwrap().renewal_time.clone().unwrap();
    let not_after = cr
        .status
        .as_ref()
        .unwrap()
        .current_credential
        .as_ref()
        .unwrap()
        .not_after
        .clone();
    assert_eq!(
        not_after.0.as_second() - renewal.0.as_second(),
        18,
        "renewal = notAfter - renewBefore"
    );

    // Renewal ~12s after minting: new key, Secret switched, old kept as previous, consumer restarted.
    let cr2 = fx
        .wait("mail", Duration::from_secs(40), "rotation", |o| {
            key_of(o).is_some_and(|k| k != k1)
        })
        .await;
    let rotated_at = Instant::now();
    let k2 = key_of(&cr2).unwrap();
    let s2 = fx.secret("mail-entra").await.unwrap();
    let text2 = data(&s2, "clientSecret").unwrap();
    assert_ne!(text1, text2);
    assert!(fx.h.is_secret_valid(TENANT_ID, &app, &text2));
    assert_eq!(
        data(&s2, "previousClientSecret").as_deref(),
        Some(text1.as_str())
    );
    assert!(
        fx.live_keys(&app).contains(&k1),
        "old key revoked before the overlap"
    );
    assert!(
        fx.h.is_secret_valid(TENANT_ID, &app, &text1),
        "old secret must still work during the overlap"
    );
    let dep = Api::<Deployment>::namespaced(fx.client.clone(), &fx.ns)
        .get("nocobase")
        .await
        .unwrap();
    let ann = dep
        .spec
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap_or_default();
    assert!(
        ann.contains_key("entramail.io/restartedAt"),
        "consumer not restarted: {ann:?}"
    );

    // The overlap (8s) is only a minimum hold: while the consumer has not rolled out, the old credential stays
    // past it (the test bed has no kubelet, so nothing becomes available by itself).
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        fx.live_keys(&app).contains(&k1),
        "old key revoked although the consumer never rolled out"
    );
    let st = fx.integrations().get("mail").await.unwrap();
    let delivered = operator::condition(&st, "Delivered").unwrap();
    assert_eq!(
        (delivered.0.as_str(), delivered.1.as_str()),
        ("False", "RollingOut"),
        "{delivered:?}"
    );

    // The rollout finishes (what the deployment controller would write): now the old credential goes, and the
    // Secret drops the previous slot first.
    operator::mark_rolled_out(&fx.client, &fx.ns, "nocobase").await;
    eventually("old key revoked", Duration::from_secs(20), || {
        !fx.live_keys(&app).contains(&k1)
    })
    .await;
    assert!(
        rotated_at.elapsed() >= Duration::from_secs(8),
        "revoked too early: {:?}",
        rotated_at.elapsed()
    );
    assert!(fx.live_keys(&app).contains(&k2));
    let s = fx.secret("mail-entra").await.unwrap();
    assert_eq!(data(&s, "previousClientSecret"), None);
    assert_eq!(data(&s, "clientSecret").as_deref(), Some(text2.as_str()));
    let st = fx
        .wait("mail", Duration::from_secs(10), "Delivered", |o| {
            operator::condition(o, "Delivered").is_some_and(|c| c.0 == "True")
        })
        .await;
    assert!(st.status.unwrap().previous_credentials.is_empty());
}

#[tokio::test]
async fn manual_trigger_lost_secret_and_deleted_credential_each_mint_a_new_one() {
    let fx = Fx::start("rot-manual").await;
    fx.create("mail", Spec::basic().overlap("3s")).await;
    let cr = fx.wait_ready("mail").await;
    let app = app_id_of(&cr);
    let k1 = key_of(&cr).unwrap();

    // Manual trigger.
    let cr = fx.rotate("mail", "now-1", &k1).await;
    let k2 = key_of(&cr).unwrap();
    assert_eq!(
        cr.status.as_ref().unwrap().last_rotation_trigger.as_deref(),
        Some("now-1")
    );
    eventually("k1 revoked after overlap", Duration::from_secs(20), || {
        !fx.live_keys(&app).contains(&k1)
    })
    .await;

    // Secret deleted: a new credential, and the old one stays until the overlap ends.
    fx.secrets()
        .delete("mail-entra", &DeleteParams::default())
        .await
        .unwrap();
    let cr = fx
        .wait(
            "mail",
            Duration::from_secs(30),
            "re-mint after Secret loss",
            |o| key_of(o).is_some_and(|k| k != k2),
        )
        .await;
    let k3 = key_of(&cr).unwrap();
    let s = fx.secret("mail-entra").await.unwrap();
    assert!(fx.h.is_secret_valid(TENANT_ID, &app, &data(&s, "clientSecret").unwrap()));
    eventually("k2 revoked after overlap", Duration::from_secs(20), || {
        !fx.live_keys(&app).contains(&k2)
    })
    .await;

    // Our credential deleted in Entra behind our back: a new one is minted once the grace has passed.
    let obj_id = object_id_of(&cr);
    assert!(fx.h.remove_password(TENANT_ID, &obj_id, &k3));
    fx.annotate("mail", "poke", "1").await;
    let cr = fx
        .wait(
            "mail",
            Duration::from_secs(30),
            "re-mint after deletion",
            |o| key_of(o).is_some_and(|k| k != k3),
        )
        .await;
    let s = fx.secret("mail-entra").await.unwrap();
    assert!(fx.h.is_secret_valid(TENANT_ID, &app, &data(&s, "clientSecret").unwrap()));
    assert_eq!(fx.live_keys(&app), vec![key_of(&cr).unwrap()]);
}

#[tokio::test]
async fn orphan_from_a_crash_is_revoked_foreign_credentials_are_not() {
    let mut fx = Fx::start("rot-orphan").await;
    // An organisational audience: no limit of 2 client secrets (the test adds two behind the operator's back).
    fx.create("mail", Spec::basic().audience(SignInAudience::AzureAdMyOrg))
        .await;
    let cr = fx.wait_ready("mail").await;
    let app = app_id_of(&cr);
    let k1 = key_of(&cr).unwrap();
    let obj_id = object_id_of(&cr);
    fx.stop_operator().await;

    // Behind the operator's back: a credential tagged with this CR's UID (as if we crashed after addPassword)
    // and one somebody else created.
    let graph = fx.operator_graph();
    let end = Utc::now() + TimeDelta::hours(1);
    let orphan = graph
        .add_password(&obj_id, &tag::credential_tag(&cr.uid().unwrap(), 7), end)
        .await
        .unwrap();
    let foreign = graph
        .add_password(&obj_id, "added by a human", end)
        .await
        .unwrap();

    fx.start_operator();
    let orphan_key = orphan.credential.key_id.clone();
    eventually("orphan revoked", Duration::from_secs(30), || {
        !fx.live_keys(&app).contains(&orphan_key)
    })
    .await;
    let keys = fx.live_keys(&app);
    assert!(keys.contains(&k1), "current credential must stay");
    assert!(
        keys.contains(&foreign.credential.key_id),
        "foreign credential must never be touched"
    );
    let s = fx.secret("mail-entra").await.unwrap();
    assert!(fx.h.is_secret_valid(TENANT_ID, &app, &data(&s, "clientSecret").unwrap()));
}

/// The pod template's restartedAt annotation of the "nocobase" Deployment.
async fn restarted_at(fx: &Fx) -> Option<String> {
    Api::<Deployment>::namespaced(fx.client.clone(), &fx.ns)
        .get("nocobase")
        .await
        .unwrap()
        .spec
        .template
        .metadata
        .and_then(|m| m.annotations)
        .and_then(|a| a.get(RESTARTED_AT_ANNOTATION).cloned())
}

/// The Secret holds `key` (its keyId annotation) and its text authenticates in Entra.
async fn secret_holds(fx: &Fx, app: &str, key: &str) {
    let s = fx.secret("mail-entra").await.unwrap();
    assert_eq!(
        s.annotations().get(KEY_ID_ANNOTATION).map(String::as_str),
        Some(key),
        "the Secret must hold the newest key"
    );
    let text = data(&s, "clientSecret").unwrap();
    assert!(fx.h.is_secret_valid(TENANT_ID, app, &text));
}

/// The workloads target alone (a Deployment reading the Secret, nothing else to confirm): the first secret and two
/// forced rotations each restart it, and each old secret stays live until that rollout finished. The test bed has
/// no kubelet, so `mark_rolled_out` writes what the deployment controller would; `make e2e-node` checks the same
/// with real pods (tests/node/e2e.sh).
#[tokio::test]
async fn workloads_target_restarts_for_the_first_secret_and_two_rotations() {
    let fx = Fx::start("rot-wl").await;
    operator::create_deployment(&fx.client, &fx.ns, "nocobase").await;
    fx.create("mail", Spec::basic().overlap("1s").consumer("nocobase"))
        .await;
    let cr = fx.wait_ready("mail").await;
    let app = app_id_of(&cr);
    let mut key = key_of(&cr).unwrap();
    secret_holds(&fx, &app, &key).await;
    let mut restarted = restarted_at(&fx)
        .await
        .expect("the Deployment restarted for the first secret");
    operator::mark_rolled_out(&fx.client, &fx.ns, "nocobase").await;
    fx.wait(
        "mail",
        Duration::from_secs(20),
        "first rollout confirmed",
        |o| operator::has_condition(o, "Delivered", "True", "Delivered"),
    )
    .await;

    for round in 1..=2 {
        let old = key.clone();
        // restartedAt has second resolution: a restart in the same second would not change the template.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        fx.annotate("mail", ROTATE_ANNOTATION, &format!("r{round}"))
            .await;
        let cr = fx
            .wait(
                "mail",
                Duration::from_secs(30),
                "rotated, rolling out",
                |o| {
                    key_of(o).is_some_and(|k| k != old)
                        && operator::has_condition(o, "Delivered", "False", "RollingOut")
                },
            )
            .await;
        key = key_of(&cr).unwrap();
        secret_holds(&fx, &app, &key).await;
        let now_restarted = restarted_at(&fx).await.expect("restartedAt");
        assert_ne!(
            now_restarted, restarted,
            "round {round}: the pod template did not get a new restartedAt"
        );
        restarted = now_restarted;

        // Well past the 1s overlap: the rollout has not finished, so the old secret stays live.
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(
            fx.live_keys(&app).contains(&old),
            "round {round}: old key revoked before the rollout finished"
        );
        secret_holds(&fx, &app, &key).await;

        operator::mark_rolled_out(&fx.client, &fx.ns, "nocobase").await;
        eventually(
            &format!("round {round}: old key revoked after the rollout"),
            Duration::from_secs(20),
            || !fx.live_keys(&app).contains(&old),
        )
        .await;
        assert_eq!(fx.live_keys(&app), vec![key.clone()]);
        secret_holds(&fx, &app, &key).await;
        fx.wait("mail", Duration::from_secs(20), "rollout confirmed", |o| {
            operator::has_condition(o, "Delivered", "True", "Delivered")
        })
        .await;
    }
}

/// A consumer that does not exist (a typo in spec.rotation.consumers) confirms nothing: Delivered says which and
/// how to fix it, a Warning event, and a rotation keeps the old secret until the workload exists and rolled out.
#[tokio::test]
async fn missing_consumer_is_explained_and_keeps_the_old_secret() {
    let fx = Fx::start("rot-missing").await;
    fx.create("mail", Spec::basic().overlap("1s").consumer("nocobse"))
        .await;
    let cr = fx
        .wait("mail", Duration::from_secs(60), "ConsumerNotFound", |o| {
            operator::is_ready(o)
                && operator::has_condition(o, "Delivered", "False", "ConsumerNotFound")
        })
        .await;
    let app = app_id_of(&cr);
    let k1 = key_of(&cr).unwrap();
    let msg = operator::condition(&cr, "Delivered").unwrap().2;
    for part in [
        "Deployment/nocobse",
        &format!("namespace {}", fx.ns),
        "spec.rotation.consumers",
        "kubectl get deployments,statefulsets",
    ] {
        assert!(msg.contains(part), "message lacks {part:?}: {msg}");
    }
    assert!(operator::has_condition(
        &cr,
        "ConsumersUpdated",
        "False",
        "ConsumerNotFound"
    ));
    fx.wait_events(
        "a Warning event ConsumerNotFound",
        Duration::from_secs(15),
        |evs| {
            evs.iter().any(|e| {
                e.type_.as_deref() == Some("Warning")
                    && e.reason.as_deref() == Some("ConsumerNotFound")
            })
        },
    )
    .await;

    fx.annotate("mail", ROTATE_ANNOTATION, "r1").await;
    let cr = fx
        .wait("mail", Duration::from_secs(30), "rotated", |o| {
            key_of(o).is_some_and(|k| k != k1)
                && operator::has_condition(o, "Delivered", "False", "ConsumerNotFound")
        })
        .await;
    let k2 = key_of(&cr).unwrap();
    secret_holds(&fx, &app, &k2).await;
    // Well past the 1s overlap, and the operator retried meanwhile (test backoff: at most 2 s).
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        fx.live_keys(&app).contains(&k1),
        "old key revoked although the consumer does not exist"
    );

    // The workload appears and rolls out: now the old secret goes.
    operator::create_deployment(&fx.client, &fx.ns, "nocobse").await;
    operator::mark_rolled_out(&fx.client, &fx.ns, "nocobse").await;
    eventually(
        "old key revoked once the consumer exists and rolled out",
        Duration::from_secs(30),
        || !fx.live_keys(&app).contains(&k1),
    )
    .await;
    assert_eq!(fx.live_keys(&app), vec![k2.clone()]);
    secret_holds(&fx, &app, &k2).await;
}
