//! Delivery into a REAL NocoBase (tests/nocobase: NocoBase 2.2.15 from npm) by the operator, end to end: the first
//! secret and two rotations are delivered and read back for each target; revocation waits for the confirmation
//! (NocoBase stopped: the old secret stays until NocoBase is back); bad targets (incl. a missing record) are conditions
//! naming the fix, with a Warning event, and a rotation revokes nothing.

mod operator;
mod support;

use std::time::Duration;

use entramail_operator::api::{Acknowledgement, NocoBaseMailIntegration};
use serde_json::{Value, json};

use operator::spec::{NOCOBASE_ORIGIN, NocoBaseTarget};
use operator::{Fx, Spec, TENANT_ID, app_id_of, condition, data, has_condition, is_ready, key_of};
use support::eventually;
use support::nocobase::NocoBase;

const API_KEY_SECRET: &str = "nocobase-api-key";

fn delivered_for(o: &NocoBaseMailIntegration, key: &str) -> bool {
    key_of(o).as_deref() == Some(key) && has_condition(o, "Delivered", "True", "Delivered")
}

fn spec(nocobase: NocoBaseTarget) -> Spec {
    Spec::new(NOCOBASE_ORIGIN)
        .lifetime("24h")
        .overlap("1s")
        .nocobase(nocobase)
}

/// Waits until "mail" is Ready and its first key is delivered; returns (appId, keyId).
async fn provisioned_and_delivered(fx: &Fx) -> (String, String) {
    let cr = fx.wait_ready("mail").await;
    let k1 = key_of(&cr).unwrap();
    fx.wait(
        "mail",
        Duration::from_secs(60),
        "first key delivered",
        |o| delivered_for(o, &k1),
    )
    .await;
    (app_id_of(&cr), k1)
}

/// Rotates by annotation and waits until the new key is delivered; returns it.
async fn rotate_and_deliver(fx: &Fx, trigger: &str, old: &str) -> String {
    fx.annotate("mail", "entramail.io/rotate", trigger).await;
    let cr = fx
        .wait("mail", Duration::from_secs(60), "rotation delivered", |o| {
            key_of(o).is_some_and(|k| k != old)
                && has_condition(o, "Delivered", "True", "Delivered")
        })
        .await;
    key_of(&cr).unwrap()
}

async fn secret_text(fx: &Fx) -> String {
    data(&fx.secret("mail-entra").await.unwrap(), "clientSecret").unwrap()
}

#[tokio::test]
async fn record_target_receives_the_first_secret_and_two_rotations() {
    let nb = NocoBase::shared();
    let fx = Fx::start("dlv-record").await;
    // A collection of this test's own, the shape of the email manager's settings.
    let collection = format!("mail_{}", fx.ns.replace('-', "_"));
    nb.create_collection(
        &collection,
        &["provider", "clientId", "clientSecret", "tenantId"],
    )
    .await;
    let id = nb
        .create_record(
            &collection,
            json!({"provider": "outlook", "clientId": "", "clientSecret": ""}),
        )
        .await;
    fx.put_secret(API_KEY_SECRET, "key", nb.root_key().expose())
        .await;
    fx.create(
        "mail",
        spec(
            NocoBaseTarget::new(nb.url().as_str(), API_KEY_SECRET)
                .record(&collection, &id, "clientSecret")
                .client_id_field("clientId")
                .tenant_id_field("tenantId"),
        ),
    )
    .await;
    let (app, k1) = provisioned_and_delivered(&fx).await;
    let check = |want_key: String| {
        let (nb, fx, collection, id, app) = (&nb, &fx, &collection, &id, &app);
        async move {
            let rec = nb.record(collection, id).await.unwrap();
            let text = secret_text(fx).await;
            assert_eq!(
                rec["clientSecret"],
                Value::from(text.clone()),
                "record holds the Secret's secret"
            );
            assert_eq!(rec["clientId"], Value::from(app.clone()));
            assert_eq!(rec["tenantId"], Value::from(TENANT_ID));
            assert!(fx.h.is_secret_valid(TENANT_ID, app, &text));
            let cr = fx.integrations().get("mail").await.unwrap();
            assert_eq!(
                cr.status
                    .unwrap()
                    .delivery
                    .unwrap()
                    .record_key_id
                    .as_deref(),
                Some(want_key.as_str())
            );
        }
    };
    check(k1.clone()).await;

    let k2 = rotate_and_deliver(&fx, "r1", &k1).await;
    check(k2.clone()).await;
    eventually("k1 revoked after delivery", Duration::from_secs(20), || {
        !fx.live_keys(&app).contains(&k1)
    })
    .await;
    let k3 = rotate_and_deliver(&fx, "r2", &k2).await;
    check(k3.clone()).await;
    eventually("k2 revoked after delivery", Duration::from_secs(20), || {
        !fx.live_keys(&app).contains(&k2)
    })
    .await;
    assert_eq!(fx.live_keys(&app), vec![k3]);
}

#[tokio::test]
async fn variables_target_with_the_least_privilege_key() {
    let nb = NocoBase::shared();
    let fx = Fx::start("dlv-vars").await;
    let prefix = fx.ns.to_uppercase().replace('-', "_");
    let (id_var, secret_var, tenant_var) = (
        format!("{prefix}_CLIENT_ID"),
        format!("{prefix}_CLIENT_SECRET"),
        format!("{prefix}_TENANT_ID"),
    );
    fx.put_secret(API_KEY_SECRET, "key", nb.variables_key().expose())
        .await;
    // Variables serve plugins that read {{$env.NAME}}; the email manager does not, so without a record target a
    // person would be asked to acknowledge (Auto). This integration says nobody else needs to.
    let s = spec(
        NocoBaseTarget::new(nb.url().as_str(), API_KEY_SECRET).variables(
            &id_var,
            &secret_var,
            &tenant_var,
        ),
    )
    .acknowledgement(Acknowledgement::NotRequired);
    fx.create("mail", s).await;
    let cr = fx.wait_ready("mail").await;
    let app = app_id_of(&cr);
    let mut key = key_of(&cr).unwrap();
    for round in 0..3 {
        if round > 0 {
            key = rotate_and_deliver(&fx, &format!("r{round}"), &key).await;
        } else {
            let k = key.clone();
            fx.wait("mail", Duration::from_secs(60), "delivered", |o| {
                delivered_for(o, &k)
            })
            .await;
        }
        let text = secret_text(&fx).await;
        let stored = nb.variable(&secret_var).await.unwrap();
        assert_eq!(stored.type_, "secret");
        assert_ne!(stored.value, text, "NocoBase stores it encrypted");
        assert_eq!(
            nb.secret_plaintext(&secret_var).await.as_deref(),
            Some(text.as_str())
        );
        // Plain on purpose (README, docs/nocobase.md): identifiers, compared exactly on read-back.
        for (var, want) in [(&id_var, app.as_str()), (&tenant_var, TENANT_ID)] {
            let v = nb.variable(var).await.unwrap();
            assert_eq!((v.type_.as_str(), v.value.as_str()), ("default", want));
        }
    }
    eventually(
        "only the last secret is live",
        Duration::from_secs(20),
        || fx.live_keys(&app) == vec![key.clone()],
    )
    .await;
}

#[tokio::test]
async fn nocobase_down_keeps_the_old_secret_until_nocobase_confirms() {
    let nb = NocoBase::start_private();
    let fx = Fx::start("dlv-down").await;
    fx.put_secret(API_KEY_SECRET, "key", nb.root_key().expose())
        .await;
    let id = nb.record_id();
    fx.create(
        "mail",
        spec(
            NocoBaseTarget::new(nb.url().as_str(), API_KEY_SECRET)
                .record("mailSettings", &id, "clientSecret")
                .client_id_field("clientId"),
        ),
    )
    .await;
    let (app, k1) = provisioned_and_delivered(&fx).await;
    let text1 = secret_text(&fx).await;

    nb.stop();
    fx.annotate("mail", "entramail.io/rotate", "while-down")
        .await;
    let cr = fx
        .wait("mail", Duration::from_secs(60), "unreachable", |o| {
            key_of(o).is_some_and(|k| k != k1)
                && has_condition(o, "Delivered", "False", "NocoBaseUnreachable")
        })
        .await;
    let k2 = key_of(&cr).unwrap();
    assert!(
        is_ready(&cr),
        "the Secret is right; only the delivery waits"
    );
    fx.wait_events(
        "a Warning event NocoBaseUnreachable",
        Duration::from_secs(15),
        |evs| {
            evs.iter().any(|e| {
                e.type_.as_deref() == Some("Warning")
                    && e.reason.as_deref() == Some("NocoBaseUnreachable")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("mail")
            })
        },
    )
    .await;
    let msg = condition(&cr, "Delivered").unwrap().2;
    assert!(
        !msg.contains(&secret_text(&fx).await),
        "secret text in a condition"
    );
    // Well past the 1s overlap: NocoBase still holds k1, so k1 stays valid.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        fx.live_keys(&app).contains(&k1),
        "k1 revoked while NocoBase was down"
    );
    assert!(fx.h.is_secret_valid(TENANT_ID, &app, &text1));

    nb.start();
    fx.wait("mail", Duration::from_secs(90), "k2 delivered", |o| {
        delivered_for(o, &k2)
    })
    .await;
    let rec = nb.record("mailSettings", &id).await.unwrap();
    assert_eq!(rec["clientSecret"], Value::from(secret_text(&fx).await));
    eventually(
        "k1 revoked after confirmation",
        Duration::from_secs(20),
        || !fx.live_keys(&app).contains(&k1),
    )
    .await;
}

#[tokio::test]
async fn bad_targets_are_explained_and_nothing_is_revoked() {
    // Long on purpose: a table of bad targets, each with its reason, fix and a rotation that must revoke nothing.
    let nb = NocoBase::shared();
    let fx = Fx::start("dlv-bad").await;
    fx.put_secret("root-key", "key", nb.root_key().expose())
        .await;
    fx.put_secret("no-permission-key", "key", nb.no_permission_key().expose())
        .await;
    let id = nb.record_id();
    let url = nb.url().to_string();
    let ns = fx.ns.clone();
    // (integration, spec.delivery.nocobase, reason, the fix its message must name)
    let cases = [
        (
            "no-permission",
            NocoBaseTarget::new(&url, "no-permission-key").record("mailSettings", &id, "clientSecret"),
            "NocoBaseForbidden",
            "give the API key's role the view and update actions on collection mailSettings".to_string(),
        ),
        (
            "missing-collection",
            NocoBaseTarget::new(&url, "root-key").record("noSuchCollection", &id, "clientSecret"),
            "NocoBaseNotFound",
            "check the collection name".to_string(),
        ),
        (
            "missing-record",
            NocoBaseTarget::new(&url, "root-key").record("mailSettings", "987654321", "clientSecret"),
            "RecordNotFound",
            "check the record key: filterByTk or filter must match the existing record of mailSettings".to_string(),
        ),
        (
            "missing-field",
            NocoBaseTarget::new(&url, "root-key").record("mailSettings", &id, "noSuchField"),
            "FieldMissing",
            "fix the field mapping: mailSettings has no field noSuchField".to_string(),
        ),
        (
            "not-allowed",
            NocoBaseTarget::new("http://nocobase.example.com:13000", "root-key").record(
                "mailSettings",
                &id,
                "clientSecret",
            ),
            "DestinationNotAllowed",
            "point the NocoBase URL at an allowed host, or add nocobase.example.com".to_string(),
        ),
        (
            "no-api-key",
            NocoBaseTarget::new(&url, "absent").record("mailSettings", &id, "clientSecret"),
            "ApiKeyMissing",
            format!("kubectl create secret generic absent -n {ns} --from-literal=key=<API key>"),
        ),
    ];
    for (name, nocobase, _, _) in &cases {
        fx.create(name, spec(nocobase.clone())).await;
    }
    let mut first_keys = Vec::new();
    for (name, _, reason, fix) in &cases {
        let cr = fx
            .wait(name, Duration::from_secs(60), reason, |o| {
                has_condition(o, "Delivered", "False", reason)
            })
            .await;
        assert!(is_ready(&cr), "{name}: Ready stays true");
        let msg = condition(&cr, "Delivered").unwrap().2;
        assert!(
            msg.contains(fix.as_str()),
            "{name}: the message must name the fix {fix:?}: {msg}"
        );
        fx.wait_events(
            &format!("{name}: a Warning event {reason}"),
            Duration::from_secs(15),
            |evs| {
                evs.iter().any(|e| {
                    e.type_.as_deref() == Some("Warning")
                        && e.reason.as_deref() == Some(reason)
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                })
            },
        )
        .await;
        first_keys.push((app_id_of(&cr), key_of(&cr).unwrap()));
    }
    // A rotation of an undeliverable integration keeps the old secret (NocoBase may still hold it), whatever the
    // reason.
    for (name, ..) in &cases {
        fx.annotate(name, "entramail.io/rotate", "r1").await;
    }
    for ((name, _, reason, _), (_, k1)) in cases.iter().zip(&first_keys) {
        fx.wait(
            name,
            Duration::from_secs(30),
            "rotated, still undelivered",
            |o| {
                key_of(o).is_some_and(|k| k != *k1)
                    && has_condition(o, "Delivered", "False", reason)
            },
        )
        .await;
    }
    // Well past the 1s overlap.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for ((name, ..), (app, k1)) in cases.iter().zip(&first_keys) {
        assert!(
            fx.live_keys(app).contains(k1),
            "{name}: revoked without a confirmed delivery"
        );
    }
}
