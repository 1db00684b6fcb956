//! The Secret's desired content and the drift check, without IO.

use super::*;
use chrono::TimeZone;
use serde_json::json;

fn cr(secret: serde_json::Value) -> NocoBaseMailIntegration {
    serde_json::from_value(json!({
        "apiVersion": "entramail.io/v1alpha1", "kind": "NocoBaseMailIntegration",
        "metadata": {"name": "mail", "namespace": "nb", "uid": "u1"},
        "spec": {"tenantRef": {"name": "t"}, "application": {"nocobaseOrigin": "https://x.example.com"},
                 "secret": secret},
    }))
    .unwrap()
}

fn content(previous: Option<(&str, &str)>) -> Content {
    Content {
        client_id: "app".into(),
        tenant_id: "tenant".into(),
        current_key_id: "k2".into(),
        current: SecretText::new("new-text"),
        expires_at: Utc.timestamp_opt(1_900_000_000, 0).unwrap(),
        previous: previous.map(|(k, t)| (k.to_string(), SecretText::new(t))),
    }
}

fn data(s: &Secret, key: &str) -> Option<String> {
    s.data
        .as_ref()?
        .get(key)
        .map(|b| String::from_utf8(b.0.clone()).unwrap())
}

#[test]
fn desired_holds_the_spec_keys_labels_annotations_and_owner() {
    let c = cr(
        json!({"labels": {"team": "mail"}, "annotations": {"note": "x"},
                      "keys": {"clientSecret": "SECRET"}}),
    );
    let s = desired(&c, "mail-entra", &content(None)).unwrap();
    assert_eq!(s.metadata.name.as_deref(), Some("mail-entra"));
    assert_eq!(s.metadata.namespace.as_deref(), Some("nb"));
    assert_eq!(data(&s, "SECRET").as_deref(), Some("new-text"));
    assert_eq!(data(&s, "clientId").as_deref(), Some("app"));
    assert_eq!(data(&s, "tenantId").as_deref(), Some("tenant"));
    assert_eq!(
        data(&s, "expiresAt").as_deref(),
        Some("2030-03-17T17:46:40Z")
    );
    assert_eq!(data(&s, "previousClientSecret"), None);
    assert_eq!(s.labels().get("team").map(String::as_str), Some("mail"));
    assert_eq!(
        s.labels().get(MANAGED_BY_LABEL).map(String::as_str),
        Some(MANAGED_BY)
    );
    assert_eq!(s.annotations().get("note").map(String::as_str), Some("x"));
    assert_eq!(
        s.annotations().get(KEY_ID_ANNOTATION).map(String::as_str),
        Some("k2")
    );
    assert!(!s.annotations().contains_key(PREVIOUS_KEY_ID_ANNOTATION));
    assert_eq!(s.owner_references()[0].uid, "u1");
}

#[test]
fn desired_keeps_the_previous_text_under_its_key_id() {
    let c = cr(json!({}));
    let s = desired(&c, "mail-entra", &content(Some(("k1", "old-text")))).unwrap();
    assert_eq!(
        data(&s, "previousClientSecret").as_deref(),
        Some("old-text")
    );
    assert_eq!(
        s.annotations()
            .get(PREVIOUS_KEY_ID_ANNOTATION)
            .map(String::as_str),
        Some("k1")
    );
}

#[test]
fn desired_needs_the_owner_uid() {
    let mut c = cr(json!({}));
    c.metadata.uid = None;
    assert!(matches!(
        desired(&c, "mail-entra", &content(None)),
        Err(Error::MissingField(_))
    ));
}

#[test]
fn in_sync_tolerates_what_others_add_but_not_our_fields_changed() {
    let c = cr(json!({"labels": {"team": "mail"}}));
    let want = desired(&c, "mail-entra", &content(None)).unwrap();
    assert!(in_sync(&want, &want, "previousClientSecret"));

    let mut added = want.clone();
    added
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("other".into(), "y".into());
    added
        .data
        .as_mut()
        .unwrap()
        .insert("extra".into(), ByteString(b"z".to_vec()));
    assert!(in_sync(&added, &want, "previousClientSecret"));

    let mut relabelled = want.clone();
    relabelled
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("team".into(), "other".into());
    assert!(!in_sync(&relabelled, &want, "previousClientSecret"));

    let mut edited = want.clone();
    edited
        .data
        .as_mut()
        .unwrap()
        .insert("tenantId".into(), ByteString(b"t2".to_vec()));
    assert!(!in_sync(&edited, &want, "previousClientSecret"));

    let mut orphaned = want.clone();
    orphaned.metadata.owner_references = None;
    assert!(!in_sync(&orphaned, &want, "previousClientSecret"));
}

#[test]
fn in_sync_wants_a_previous_slot_we_no_longer_write_gone() {
    let c = cr(json!({}));
    let with_prev = desired(&c, "mail-entra", &content(Some(("k1", "old")))).unwrap();
    let without = desired(&c, "mail-entra", &content(None)).unwrap();
    assert!(!in_sync(&with_prev, &without, "previousClientSecret"));
    assert!(!in_sync(&without, &with_prev, "previousClientSecret"));
    let mut annotation_only = without.clone();
    annotation_only
        .metadata
        .annotations
        .as_mut()
        .unwrap()
        .insert(PREVIOUS_KEY_ID_ANNOTATION.into(), "k1".into());
    assert!(!in_sync(&annotation_only, &without, "previousClientSecret"));
}
