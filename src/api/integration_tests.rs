use super::*;
use kube::CustomResourceExt;
use serde_json::json;

fn minimal() -> NocoBaseMailIntegrationSpec {
    serde_json::from_value(json!({
        "tenantRef": { "name": "contoso" },
        "application": { "nocobaseOrigin": "https://nocobase.example.com/" },
    }))
    .unwrap()
}

#[test]
fn rust_defaults_match_documented_defaults() {
    let spec = minimal();
    assert_eq!(spec.secret, SecretSpec::default());
    assert_eq!(
        spec.secret.lifetime.as_std(),
        std::time::Duration::from_secs(180 * 24 * 3600)
    );
    assert_eq!(
        spec.secret.keys.previous_client_secret,
        "previousClientSecret"
    );
    assert_eq!(
        spec.rotation.overlap.as_std(),
        std::time::Duration::from_secs(3600)
    );
    assert_eq!(spec.application.sign_in_audience, None);
    assert!(spec.delivery.acknowledgement_required());
    assert!(!spec.application.admin_consent);
    assert_eq!(spec.secret.secret_name("mail"), "mail-entra");
    assert_eq!(
        spec.application.display_name("ns", "mail"),
        "NocoBase mail (ns/mail)"
    );
}

#[test]
fn schema_defaults_equal_rust_defaults() {
    // The apiserver applies the schema defaults; the controller relies on the Rust ones. They must agree.
    let crd = serde_json::to_value(NocoBaseMailIntegration::crd()).unwrap();
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    assert_eq!(
        spec["secret"]["default"],
        serde_json::to_value(SecretSpec::default()).unwrap()
    );
    assert_eq!(
        spec["rotation"]["default"],
        serde_json::to_value(RotationSpec::default()).unwrap()
    );
    assert_eq!(
        spec["delivery"]["default"],
        serde_json::to_value(crate::api::DeliverySpec::default()).unwrap()
    );
    // No schema default: an adopted app keeps its audience unless the spec names one.
    assert!(
        spec["application"]["properties"]["signInAudience"]
            .get("default")
            .is_none()
    );
}

#[test]
fn minimal_spec_serialises_without_noise() {
    let json = serde_json::to_value(minimal()).unwrap();
    assert_eq!(
        json["application"],
        json!({
            "nocobaseOrigin": "https://nocobase.example.com/",
            "adminConsent": false,
        })
    );
    assert!(json.get("deletionPolicy").is_none());
    let back: NocoBaseMailIntegrationSpec = serde_json::from_value(json).unwrap();
    assert_eq!(back, minimal());
}

#[test]
fn redirect_uris_combine_explicit_and_derived_without_duplicates() {
    let mut app = minimal().application;
    app.redirect_uris = vec![
        "http://localhost:13000/cb".into(),
        "https://nocobase.example.com/admin/settings/mail/oauth2".into(),
    ];
    assert_eq!(
        app.effective_redirect_uris(),
        vec![
            "http://localhost:13000/cb".to_owned(),
            "https://nocobase.example.com/admin/settings/mail/oauth2".to_owned(),
        ]
    );
    app.nocobase_origin = None;
    assert_eq!(app.effective_redirect_uris().len(), 2);
}

#[test]
fn deletion_policy_defaults_to_orphan_for_adopted_apps() {
    let mut spec = minimal();
    assert_eq!(spec.deletion_policy(), DeletionPolicy::Delete);
    spec.application.existing_app_id = Some("66666666-7777-8888-9999-000000000000".into());
    assert_eq!(spec.deletion_policy(), DeletionPolicy::Orphan);
    spec.deletion_policy = Some(DeletionPolicy::Delete);
    assert_eq!(spec.deletion_policy(), DeletionPolicy::Delete);
}

#[test]
fn status_round_trips() {
    let status: NocoBaseMailIntegrationStatus = serde_json::from_value(json!({
        "observedGeneration": 3,
        "conditions": [{ "type": "Ready", "status": "True", "reason": "Ok", "message": "",
                          "lastTransitionTime": "2025-01-02T03:04:05Z" }],
        "appId": "66666666-7777-8888-9999-000000000000",
        "currentCredential": { "keyId": "k1", "hint": "abc", "notAfter": "2025-07-01T00:00:00Z" },
        "previousCredentials": [{ "keyId": "k0", "revokeAfter": "2025-01-02T04:04:05Z" }],
        "renewalTime": "2025-05-01T00:00:00Z",
    }))
    .unwrap();
    assert!(crate::api::is_condition_true(
        &status.conditions,
        crate::api::conditions::READY
    ));
    let again: NocoBaseMailIntegrationStatus =
        serde_json::from_value(serde_json::to_value(&status).unwrap()).unwrap();
    assert_eq!(again, status);
}
