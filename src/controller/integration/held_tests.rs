//! The Secret content decision without IO: what the Secret keeps and when its metadata is rewritten.

use super::*;
use crate::{
    auth::SecretText,
    planner::{
        delivery::{Confirmation::NotConfigured, Deliveries},
        rotation::{LiveCredential, Retiring, RotationStatus},
    },
};
use chrono::TimeZone;
use kube::ResourceExt;
use serde_json::json;

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).unwrap()
}

fn end() -> DateTime<Utc> {
    Utc.timestamp_opt(1_850_000_000, 0).unwrap()
}

fn cr(labels: serde_json::Value) -> NocoBaseMailIntegration {
    serde_json::from_value(json!({
        "apiVersion": "entramail.io/v1alpha1", "kind": "NocoBaseMailIntegration",
        "metadata": {"name": "mail", "namespace": "nb", "uid": "u1"},
        "spec": {"tenantRef": {"name": "t"}, "application": {"nocobaseOrigin": "https://x.example.com"},
                 "secret": {"labels": labels}},
    }))
    .unwrap()
}

/// The Secret as written for `key` (optionally with a previous slot), as the apiserver would return it.
fn live_secret(c: &NocoBaseMailIntegration, key: &str, previous: Option<&str>) -> Secret {
    let content = secret::Content {
        client_id: "a1".into(),
        tenant_id: "t1".into(),
        current_key_id: key.into(),
        current: SecretText::new("text"),
        expires_at: end(),
        previous: previous.map(|p| (p.to_string(), SecretText::new("old"))),
    };
    secret::desired(c, "mail-entra", &content).unwrap()
}

fn seen(c: &NocoBaseMailIntegration, secret: Option<Secret>) -> Seen {
    let view = secret::view(secret.as_ref(), c);
    Seen {
        uid: "u1".into(),
        secret_name: "mail-entra".into(),
        secret,
        view,
        live: vec![LiveCredential {
            key_id: "k1".into(),
            display_name: None,
            start: None,
            end: Some(end()),
        }],
        rotation: RotationStatus::default(),
        deliveries: Deliveries {
            consumers: NotConfigured,
            variables: NotConfigured,
            record: NotConfigured,
            acknowledgement: NotConfigured,
        },
        consumers: NotConfigured,
        missing_consumers: Vec::new(),
        trigger: None,
        max_secrets: None,
    }
}

fn plan(current: Option<&str>, actions: Vec<Action>) -> Plan {
    Plan {
        actions,
        requeue_at: None,
        status: RotationStatus {
            current_key_id: current.map(str::to_string),
            ..Default::default()
        },
        blocked: None,
    }
}

fn decide_for(c: &NocoBaseMailIntegration, s: &Seen, p: &Plan) -> Option<Held> {
    decide(c, "a1", "t1", s, p, None, now()).unwrap()
}

#[test]
fn a_secret_matching_the_spec_is_kept_without_a_write() {
    let c = cr(json!({}));
    let s = seen(&c, Some(live_secret(&c, "k1", None)));
    let h = decide_for(&c, &s, &plan(Some("k1"), vec![])).unwrap();
    assert!(h.repair.is_none());
    assert_eq!(h.content.current_key_id, "k1");
    assert_eq!(h.content.current.expose(), "text");
    assert_eq!(h.content.expires_at, end());
}

#[test]
fn a_label_the_spec_adds_is_repaired() {
    let old = cr(json!({}));
    let c = cr(json!({"team": "mail"}));
    let s = seen(&c, Some(live_secret(&old, "k1", None)));
    let h = decide_for(&c, &s, &plan(Some("k1"), vec![])).unwrap();
    let want = h.repair.expect("a repair");
    assert_eq!(want.labels().get("team").map(String::as_str), Some("mail"));
}

#[test]
fn no_repair_when_the_plan_drops_the_previous_slot_anyway() {
    let old = cr(json!({}));
    let c = cr(json!({"team": "mail"}));
    let s = seen(&c, Some(live_secret(&old, "k1", None)));
    let p = plan(
        Some("k1"),
        vec![Action::WriteSecret(SecretWrite::DropPrevious)],
    );
    let h = decide_for(&c, &s, &p).unwrap();
    assert!(h.repair.is_none());
}

#[test]
fn a_new_current_credential_or_no_secret_leaves_nothing_to_keep() {
    let c = cr(json!({}));
    let s = seen(&c, Some(live_secret(&c, "k1", None)));
    let mint = plan(
        None,
        vec![Action::WriteSecret(SecretWrite::NewCurrent {
            previous_key_id: Some("k1".into()),
        })],
    );
    assert!(decide_for(&c, &s, &mint).is_none());
    assert!(decide_for(&c, &seen(&c, None), &plan(Some("k1"), vec![])).is_none());
    // The plan keeps another credential than the Secret's: nothing of the Secret is trusted.
    assert!(decide_for(&c, &s, &plan(Some("k9"), vec![])).is_none());
}

#[test]
fn the_previous_slot_is_kept_only_while_it_is_retiring() {
    let c = cr(json!({}));
    let s = seen(&c, Some(live_secret(&c, "k1", Some("k0"))));
    let mut p = plan(Some("k1"), vec![]);
    let h = decide_for(&c, &s, &p).unwrap();
    assert!(h.content.previous.is_none());
    assert!(h.repair.is_some(), "the stale previous slot is removed");

    p.status.retiring.push(Retiring {
        key_id: "k0".into(),
        revoke_after: now(),
    });
    let h = decide_for(&c, &s, &p).unwrap();
    assert_eq!(
        h.content.previous.as_ref().map(|(k, _)| k.as_str()),
        Some("k0")
    );
    assert!(h.repair.is_none());
}

#[test]
fn the_expiry_comes_from_entra_else_status_else_now() {
    let c = cr(json!({}));
    let mut s = seen(&c, None);
    assert_eq!(current_end(&s, None, now(), "k1"), end());
    s.live.clear();
    let prior = CredentialStatus {
        key_id: "k1".into(),
        hint: None,
        not_after: time::to_time(end()),
        created_at: None,
        display_name: None,
    };
    assert_eq!(current_end(&s, Some(&prior), now(), "k1"), end());
    assert_eq!(current_end(&s, Some(&prior), now(), "k2"), now());
}
