//! Status derivation without IO: conditions, the failure books and events from facts.

use super::*;
use crate::{
    api::{
        PreviousCredentialStatus,
        conditions::{APPLICATION_READY, CREDENTIAL_VERIFIED, SECRET_SYNCED},
        is_condition_true,
    },
    controller::{
        error::Error,
        integration::{
            execute::{Done, Minted},
            observe::Seen,
        },
    },
    graph::Application,
    planner::{
        delivery::Confirmation::{self, *},
        rotation::{Blocked, Holder, MintReason, Plan, RotationStatus, SecretView},
    },
};
use chrono::TimeZone;
use serde_json::json;

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).unwrap()
}

fn cr(delivery: serde_json::Value) -> NocoBaseMailIntegration {
    serde_json::from_value(json!({
        "apiVersion": "entramail.io/v1alpha1", "kind": "NocoBaseMailIntegration",
        "metadata": {"name": "mail", "namespace": "nb", "uid": "u1", "generation": 4},
        "spec": {"tenantRef": {"name": "t"}, "application": {"nocobaseOrigin": "https://x.example.com"},
                 "delivery": delivery},
    }))
    .unwrap()
}

fn backoff() -> Backoff {
    Backoff {
        base: Duration::from_secs(10),
        max: Duration::from_secs(300),
        max_permanent: Duration::from_secs(3600),
    }
}

fn run(c: &NocoBaseMailIntegration) -> Run {
    Run::new(c, NocoBaseMailIntegrationStatus::default(), now())
}

fn cond<'a>(r: &'a Run, t: &str) -> &'a Condition {
    find_condition(&r.status.conditions, t).unwrap_or_else(|| panic!("no {t}"))
}

fn deliveries(ack: Confirmation, record: Confirmation) -> Deliveries {
    Deliveries {
        consumers: NotConfigured,
        variables: NotConfigured,
        record,
        acknowledgement: ack,
    }
}

#[test]
fn success_with_a_credential_is_ready_and_clears_the_books() {
    let c = cr(json!({}));
    let mut r = run(&c);
    r.status.failed_attempts = Some(3);
    r.status.next_attempt_after = Some(time::to_time(now()));
    r.has_credential = true;
    assert_eq!(r.conclude(&Ok(None), &backoff(), "24h"), None);
    assert!(is_condition_true(&r.status.conditions, READY));
    assert_eq!(r.status.failed_attempts, Some(0));
    assert_eq!(r.status.next_attempt_after, None);
    assert_eq!(r.status.observed_generation, Some(4));
    assert!(r.notes.is_empty());
}

#[test]
fn a_permanent_failure_names_the_fix_and_backs_off_longer() {
    let c = cr(json!({}));
    let mut r = run(&c);
    r.status.failed_attempts = Some(9);
    let e = StepError::Application(Error::InvalidSpec("personal accounts in China".into()));
    let d = r.conclude(&Err(e), &backoff(), "24h").unwrap();
    assert_eq!(
        d,
        Duration::from_secs(3600),
        "10th permanent failure waits the hour"
    );
    let a = cond(&r, APPLICATION_READY);
    assert!(!a.is_true());
    assert_eq!(a.reason, "InvalidSpec");
    assert!(!is_condition_true(&r.status.conditions, READY));
    assert_eq!(r.status.failed_attempts, Some(10));
    assert_eq!(
        r.status.next_attempt_after,
        Some(time::to_time(now() + chrono::TimeDelta::seconds(3601)))
    );
    assert_eq!(
        r.status.failed_with_annotations.as_deref(),
        Some("rotate=;acknowledged-key-id=")
    );
    // One Warning for the new failure.
    assert_eq!(r.notes.iter().filter(|n| n.warning).count(), 1);
}

#[test]
fn a_spec_change_starts_the_backoff_over() {
    let mut c = cr(json!({}));
    let e = || StepError::Application(Error::InvalidSpec("personal accounts in China".into()));
    // Nine permanent failures recorded at generation 4: the tenth waits the hour.
    let mut status = NocoBaseMailIntegrationStatus {
        failed_attempts: Some(9),
        observed_generation: Some(4),
        ..Default::default()
    };
    let mut r = Run::new(&c, status.clone(), now());
    assert_eq!(
        r.conclude(&Err(e()), &backoff(), "24h"),
        Some(Duration::from_secs(3600))
    );
    assert_eq!(r.status.failed_attempts, Some(10));
    // The person edits the spec (generation 5) and it still fails: first attempt of the new spec, base delay.
    c.metadata.generation = Some(5);
    status.failed_attempts = Some(10);
    let mut r = Run::new(&c, status, now());
    assert_eq!(
        r.conclude(&Err(e()), &backoff(), "24h"),
        Some(Duration::from_secs(10))
    );
    assert_eq!(r.status.failed_attempts, Some(1));
    assert_eq!(r.status.observed_generation, Some(5));
    // The next failure of the same spec counts on from there.
    let mut again = Run::new(&c, r.status.clone(), now());
    again.conclude(&Err(e()), &backoff(), "24h");
    assert_eq!(again.status.failed_attempts, Some(2));
}

#[test]
fn the_same_failure_again_publishes_no_new_warning() {
    let c = cr(json!({}));
    let mut r = run(&c);
    let e = || StepError::Tenant(Error::TenantNotFound("t".into()));
    r.conclude(&Err(e()), &backoff(), "24h");
    let mut again = Run::new(&c, r.status.clone(), now());
    again.conclude(&Err(e()), &backoff(), "24h");
    assert!(again.notes.is_empty(), "{:?}", again.notes);
    assert_eq!(again.status.failed_attempts, Some(2));
}

#[test]
fn awaiting_acknowledgement_tells_the_exact_command_once() {
    let c = cr(json!({}));
    let mut r = run(&c);
    r.status.previous_credentials = vec![PreviousCredentialStatus {
        key_id: "k1".into(),
        hint: None,
        not_after: Some(time::to_time(now() + chrono::TimeDelta::days(30))),
        revoke_after: None,
    }];
    r.record_delivery(&c, Some("k2"), &deliveries(Pending, NotConfigured));
    let d = cond(&r, DELIVERED);
    assert!(!d.is_true());
    assert_eq!(d.reason, MANUAL_UPDATE_REQUIRED);
    assert!(
        d.message.contains(
            "kubectl annotate nocobasemailintegration mail -n nb entramail.io/acknowledged-key-id=k2 --overwrite"
        ),
        "{}",
        d.message
    );
    assert!(d.message.contains("previous client secret k1 stays valid"));
    assert!(d.message.contains("Secret nb/mail-entra"));
    assert_eq!(r.notes.len(), 1);
    assert!(r.notes[0].warning);
    // The next reconcile with the same state: no second Warning.
    let mut again = Run::new(&c, r.status.clone(), now());
    again.record_delivery(&c, Some("k2"), &deliveries(Pending, NotConfigured));
    assert!(again.notes.is_empty());
    // Acknowledged: Delivered turns true.
    again.record_delivery(&c, Some("k2"), &deliveries(Confirmed, NotConfigured));
    assert!(cond(&again, DELIVERED).is_true());
    assert_eq!(cond(&again, DELIVERED).reason, "Delivered");
}

#[test]
fn a_failed_delivery_keeps_ready_but_reports_and_backs_off() {
    let c = cr(
        json!({"nocobase": {"url": "http://nb:13000", "apiKeySecretRef": {"name": "k", "key": "k"},
                              "record": {"collection": "mailSettings", "filterByTk": "1",
                                         "fields": {"clientSecret": "clientSecret"}}}}),
    );
    let mut r = run(&c);
    r.has_credential = true;
    r.delivery_failure = Some(DeliveryFailure {
        reason: "NocoBaseUnreachable",
        message: "cannot connect to http://nb:13000".into(),
        permanent: false,
    });
    r.record_delivery(&c, Some("k2"), &deliveries(NotConfigured, Pending));
    let d = r.conclude(&Ok(None), &backoff(), "24h");
    assert_eq!(d, Some(Duration::from_secs(10)));
    assert!(is_condition_true(&r.status.conditions, READY));
    assert_eq!(cond(&r, DELIVERED).reason, "NocoBaseUnreachable");
    assert_eq!(r.status.failed_attempts, Some(1));
    assert!(r.status.next_attempt_after.is_some());
}

#[test]
fn nothing_configured_and_acknowledgement_off_is_not_required() {
    let c = cr(json!({"acknowledgement": "NotRequired"}));
    let mut r = run(&c);
    r.record_delivery(&c, Some("k2"), &deliveries(NotConfigured, NotConfigured));
    assert!(cond(&r, DELIVERED).is_true());
    assert_eq!(cond(&r, DELIVERED).reason, "NotRequired");
}

fn seen() -> Seen {
    Seen {
        uid: "u1".into(),
        secret_name: "mail-entra".into(),
        secret: None,
        view: SecretView::default(),
        live: vec![],
        rotation: RotationStatus::default(),
        deliveries: deliveries(NotConfigured, NotConfigured),
        consumers: NotConfigured,
        missing_consumers: vec![],
        trigger: None,
        max_secrets: Some(2),
    }
}

fn app() -> Application {
    serde_json::from_value(json!({"id": "o", "appId": "a1"})).unwrap()
}

/// A plan whose manual mint Entra's limit of 2 blocks, these credentials filling the slots.
fn blocked_by(holders: Vec<(String, Holder, Option<DateTime<Utc>>)>) -> Plan {
    Plan {
        actions: vec![],
        requeue_at: None,
        status: RotationStatus::default(),
        blocked: Some(Blocked {
            reason: MintReason::Manual,
            limit: 2,
            holders,
        }),
    }
}

#[test]
fn a_blocked_mint_says_which_credentials_fill_the_limit_and_what_to_do() {
    let c = cr(json!({}));
    let mut r = run(&c);
    let plan = blocked_by(vec![
        ("k1".into(), Holder::AwaitingDelivery, Some(now())),
        ("x".into(), Holder::Foreign, None),
    ]);
    r.record_plan(&c, &app(), &seen(), &plan, &Done::default());
    let cr_ready = cond(&r, CREDENTIAL_READY);
    assert!(!cr_ready.is_true());
    assert_eq!(cr_ready.reason, "SecretLimitReached");
    assert!(cr_ready.message.contains("at most 2"));
    assert!(cr_ready.message.contains("k1 (previous"));
    assert!(cr_ready.message.contains("x (not created by the operator"));
    assert!(cr_ready.message.contains("az ad app credential delete"));
    assert!(cr_ready.message.contains("acknowledged-key-id"));
    assert!(
        r.notes
            .iter()
            .any(|n| n.warning && n.reason == "SecretLimitReached")
    );
    // Without any credential in the Secret the integration is not Ready, for the same reason.
    r.conclude(&Ok(None), &backoff(), "24h");
    assert_eq!(cond(&r, READY).reason, "SecretLimitReached");
}

#[test]
fn a_blocked_mint_held_by_a_confirmed_credential_inside_its_overlap_says_to_wait_for_the_overlap() {
    let c = cr(json!({}));
    let mut r = run(&c);
    let until = now() + chrono::TimeDelta::minutes(40);
    let plan = blocked_by(vec![
        ("k1".into(), Holder::InOverlap(until), Some(now())),
        ("k2".into(), Holder::InSecret, None),
    ]);
    r.record_plan(&c, &app(), &seen(), &plan, &Done::default());
    let message = cond(&r, CREDENTIAL_READY).message.clone();
    assert!(
        message.contains(&format!(
            "k1 (previous, its successor is confirmed; kept until the overlap ends at {until}"
        )),
        "{message}"
    );
    assert!(
        !message.contains("until its successor is confirmed delivered"),
        "{message}"
    );
    assert!(!message.contains("acknowledged-key-id"), "{message}");
    assert!(
        message.contains(&format!("wait until {until}")),
        "{message}"
    );
}

#[test]
fn a_mint_records_the_new_credential_and_its_verification() {
    let c = cr(json!({}));
    let mut r = run(&c);
    let done = Done {
        minted: Some(Minted {
            key_id: "k9".into(),
            hint: Some("abc".into()),
            display_name: "entramail:u1:9".into(),
            end: now() + chrono::TimeDelta::days(180),
            verify_attempts: 3,
        }),
        in_secret: Some(super::super::execute::InSecret {
            key_id: "k9".into(),
            text: crate::auth::SecretText::new("s"),
            expires_at: now(),
        }),
        secret_written: true,
        restarted: vec![],
        missing_consumers: vec![],
    };
    let plan = Plan {
        actions: vec![],
        requeue_at: None,
        status: RotationStatus::default(),
        blocked: None,
    };
    r.record_plan(&c, &app(), &seen(), &plan, &done);
    assert_eq!(r.status.current_credential.as_ref().unwrap().key_id, "k9");
    let v = cond(&r, CREDENTIAL_VERIFIED);
    assert!(v.is_true());
    assert!(v.message.contains("3 attempts"));
    assert!(is_condition_true(&r.status.conditions, SECRET_SYNCED));
    assert!(r.has_credential);
}
