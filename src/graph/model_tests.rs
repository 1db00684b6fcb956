use super::*;

fn app() -> Application {
    serde_json::from_value(serde_json::json!({
        "id": "obj-1",
        "appId": "app-1",
        "displayName": "NocoBase mail",
        "uniqueName": "entramail-x",
        "signInAudience": "AzureADMyOrg",
        "requiredResourceAccess": [{
            "resourceAppId": "00000003-0000-0000-c000-000000000000",
            "resourceAccess": [
                {"id": "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0", "type": "Scope"},
                {"id": "7427e0e9-2fba-42fe-b0c0-848c9e6a8182", "type": "Scope"}
            ]
        }],
        "web": {"redirectUris": ["https://a/admin/settings/mail/oauth2"], "implicitGrantSettings": {}},
        "passwordCredentials": [{
            "keyId": "k1", "displayName": "entramail uid", "hint": "abc",
            "startDateTime": "2025-01-01T00:00:00Z", "endDateTime": "2025-04-01T00:00:00Z",
            "secretText": null
        }],
        "unknownField": 1
    }))
    .unwrap()
}

#[test]
fn application_decodes_graph_json() {
    let a = app();
    assert_eq!(a.app_id, "app-1");
    assert_eq!(a.password_credentials[0].key_id, "k1");
    assert_eq!(a.web.as_ref().unwrap().redirect_uris.len(), 1);
}

#[test]
fn upsert_serializes_only_set_fields() {
    let u = ApplicationUpsert {
        display_name: Some("x".into()),
        sign_in_audience: Some("AzureADMyOrg".into()),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&u).unwrap(),
        serde_json::json!({"displayName": "x", "signInAudience": "AzureADMyOrg"})
    );
    // Nothing set: nothing sent (an adopted app keeps all its own values, its name included).
    assert_eq!(
        serde_json::to_value(ApplicationUpsert::default()).unwrap(),
        serde_json::json!({})
    );
    let only_redirects = ApplicationUpsert {
        web: Some(WebApplication {
            redirect_uris: vec!["https://a/".into()],
        }),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(only_redirects.normalized()).unwrap(),
        serde_json::json!({"web": {"redirectUris": ["https://a/"]}})
    );
}

#[test]
fn api_serializes_as_graph_does() {
    let u = ApplicationUpsert {
        api: Some(ApiApplication {
            requested_access_token_version: Some(2),
        }),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&u).unwrap(),
        serde_json::json!({"api": {"requestedAccessTokenVersion": 2}})
    );
    // An empty api object is not sent as a null version.
    let empty = ApplicationUpsert {
        api: Some(ApiApplication::default()),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&empty).unwrap(),
        serde_json::json!({"api": {}})
    );
}

#[test]
fn personal_audiences_get_v2_tokens_in_the_same_request() {
    for audience in PERSONAL_ACCOUNT_AUDIENCES {
        let u = ApplicationUpsert {
            sign_in_audience: Some((*audience).into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(u.normalized()).unwrap(),
            serde_json::json!({
                "signInAudience": audience,
                "api": {"requestedAccessTokenVersion": 2}
            })
        );
    }
    // Organisational audiences are left alone.
    let org = ApplicationUpsert {
        sign_in_audience: Some("AzureADMultipleOrgs".into()),
        ..Default::default()
    };
    assert_eq!(org.normalized(), org);
    // An explicit choice is the caller's (Graph will say if it is wrong).
    let explicit = ApplicationUpsert {
        sign_in_audience: Some("PersonalMicrosoftAccount".into()),
        api: Some(ApiApplication {
            requested_access_token_version: Some(1),
        }),
        ..Default::default()
    };
    assert_eq!(explicit.normalized(), explicit);
}

#[test]
fn satisfied_compares_token_version_only_when_set() {
    let mut a = app();
    let want_v2 = ApplicationUpsert {
        api: Some(ApiApplication {
            requested_access_token_version: Some(2),
        }),
        ..Default::default()
    };
    assert!(
        !want_v2.is_satisfied_by(&a),
        "app has no api.requestedAccessTokenVersion"
    );
    let unset = ApplicationUpsert::default();
    assert!(unset.is_satisfied_by(&a));
    a = serde_json::from_value(serde_json::json!({
        "id": "o", "appId": "a", "signInAudience": "AzureADandPersonalMicrosoftAccount",
        "api": {"requestedAccessTokenVersion": 2, "oauth2PermissionScopes": [], "acceptMappedClaims": null}
    }))
    .unwrap();
    assert!(want_v2.is_satisfied_by(&a));
    // A personal audience implies v2: satisfied by an app that has both, not by one stuck on v1.
    let personal = ApplicationUpsert {
        sign_in_audience: Some("AzureADandPersonalMicrosoftAccount".into()),
        ..Default::default()
    };
    assert!(personal.is_satisfied_by(&a));
    a.api = Some(ApiApplication {
        requested_access_token_version: None,
    });
    assert!(!personal.is_satisfied_by(&a));
}

#[test]
fn satisfied_ignores_order_and_unset_fields() {
    let a = app();
    let mut u = ApplicationUpsert {
        display_name: Some("NocoBase mail".into()),
        sign_in_audience: Some("AzureADMyOrg".into()),
        required_resource_access: Some(vec![RequiredResourceAccess {
            resource_app_id: "00000003-0000-0000-c000-000000000000".into(),
            resource_access: vec![
                ResourceAccess {
                    id: "7427e0e9-2fba-42fe-b0c0-848c9e6a8182".into(),
                    kind: "Scope".into(),
                },
                ResourceAccess {
                    id: "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0".into(),
                    kind: "Scope".into(),
                },
            ],
        }]),
        web: Some(WebApplication {
            redirect_uris: vec!["https://a/admin/settings/mail/oauth2".into()],
        }),
        ..Default::default()
    };
    assert!(u.is_satisfied_by(&a));
    u.web = Some(WebApplication {
        redirect_uris: vec!["https://b/".into()],
    });
    assert!(!u.is_satisfied_by(&a));
    u.web = None;
    u.display_name = Some("other".into());
    assert!(!u.is_satisfied_by(&a));
    u.display_name = None;
    assert!(u.is_satisfied_by(&a), "an unset name is not compared");
}

#[test]
fn add_password_response_splits_secret() {
    let r: AddPasswordResponse = serde_json::from_value(serde_json::json!({
        "keyId": "k2", "displayName": "d", "hint": "Abc", "secretText": "Abc~very-secret",
        "startDateTime": "2025-01-01T00:00:00Z", "endDateTime": "2025-04-01T00:00:00Z"
    }))
    .unwrap();
    assert_eq!(r.credential.key_id, "k2");
    assert_eq!(
        r.secret_text.as_ref().map(|s| s.expose()),
        Some("Abc~very-secret")
    );
    let np = NewPassword {
        credential: r.credential,
        secret_text: r.secret_text.unwrap(),
    };
    assert!(!format!("{np:?}").contains("very-secret"));
}

#[test]
fn scopes_compare_as_sets() {
    assert!(same_scopes("email  offline_access", "offline_access email"));
    assert!(!same_scopes("email", "email SMTP.Send"));
}
