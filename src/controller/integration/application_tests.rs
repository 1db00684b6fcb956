use super::*;
use serde_json::json;

fn cr(app: serde_json::Value) -> NocoBaseMailIntegration {
    serde_json::from_value(json!({
        "apiVersion": "entramail.io/v1alpha1", "kind": "NocoBaseMailIntegration",
        "metadata": {"name": "mail", "namespace": "ns", "uid": "u1"},
        "spec": {"tenantRef": {"name": "t"}, "application": app},
    }))
    .unwrap()
}

#[test]
fn created_app_with_default_audience_asks_for_v2_tokens_in_the_same_request() {
    let want = desired(
        &cr(json!({"nocobaseOrigin": "https://nb.example.com"})),
        None,
    );
    assert_eq!(
        want.sign_in_audience.as_deref(),
        Some("AzureADandPersonalMicrosoftAccount")
    );
    assert_eq!(want.api.unwrap().requested_access_token_version, Some(2));
    let body = serde_json::to_value(desired(
        &cr(json!({"nocobaseOrigin": "https://nb.example.com"})),
        None,
    ))
    .unwrap();
    assert_eq!(body["api"]["requestedAccessTokenVersion"], 2);
    assert_eq!(
        body["requiredResourceAccess"][0]["resourceAccess"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
}

#[test]
fn organisational_audience_leaves_the_api_property_alone() {
    let want = desired(
        &cr(json!({"nocobaseOrigin": "https://nb.example.com", "signInAudience": "AzureADMyOrg"})),
        None,
    );
    assert!(want.api.is_none());
    assert!(serde_json::to_value(&want).unwrap().get("api").is_none());
}

fn adopted() -> Application {
    serde_json::from_value(json!({
        "id": "obj", "appId": "66666666-7777-8888-9999-000000000000", "displayName": "Theirs",
        "signInAudience": "AzureADMultipleOrgs",
        "requiredResourceAccess": [
            {"resourceAppId": "00000002-0000-0ff1-ce00-000000000000", "resourceAccess": [{"id": "x", "type": "Scope"}]},
            {"resourceAppId": GRAPH_RESOURCE_APP_ID, "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]}
        ],
        "web": {"redirectUris": ["https://theirs.example.com/cb"]}
    }))
    .unwrap()
}

#[test]
fn adopted_app_keeps_its_audience_name_permissions_and_redirects() {
    let c = cr(json!({"nocobaseOrigin": "https://nb.example.com",
                      "existingAppId": "66666666-7777-8888-9999-000000000000"}));
    let want = desired(&c, Some(&adopted()));
    assert_eq!(want.sign_in_audience, None, "audience not set by the spec");
    assert!(want.api.is_none());
    assert_eq!(want.display_name, None, "its name is kept");
    let rra = want.required_resource_access.unwrap();
    assert_eq!(rra.len(), 2, "the other resource is kept");
    let graph = rra
        .iter()
        .find(|r| r.resource_app_id == GRAPH_RESOURCE_APP_ID)
        .unwrap();
    assert_eq!(graph.resource_access.len(), 5, "User.Read not duplicated");
    assert_eq!(
        want.web.unwrap().redirect_uris,
        vec![
            "https://theirs.example.com/cb".to_string(),
            "https://nb.example.com/admin/settings/mail/oauth2".to_string()
        ]
    );
}

#[test]
fn adopted_app_gets_the_audience_only_when_the_spec_names_it() {
    let c = cr(
        json!({"nocobaseOrigin": "https://nb.example.com", "signInAudience": "PersonalMicrosoftAccount",
                      "existingAppId": "66666666-7777-8888-9999-000000000000"}),
    );
    let want = desired(&c, Some(&adopted()));
    assert_eq!(
        want.sign_in_audience.as_deref(),
        Some("PersonalMicrosoftAccount")
    );
    assert_eq!(want.api.unwrap().requested_access_token_version, Some(2));
}

#[test]
fn limit_of_two_secrets_follows_the_live_audience() {
    let mut a = adopted();
    assert_eq!(max_secrets(&a), None);
    a.sign_in_audience = Some("AzureADandPersonalMicrosoftAccount".into());
    assert_eq!(max_secrets(&a), Some(2));
}

fn tenant(cloud: &str) -> EntraTenant {
    serde_json::from_value(json!({
        "apiVersion": "entramail.io/v1alpha1", "kind": "EntraTenant",
        "metadata": {"name": "t"},
        "spec": {"tenantId": "11111111-2222-3333-4444-555555555555", "cloud": cloud,
                 "auth": {"managedIdentity": {}}},
    }))
    .unwrap()
}

#[test]
fn personal_accounts_in_a_national_cloud_are_refused_before_graph_is_asked() {
    let default = cr(json!({"nocobaseOrigin": "https://nb.example.com"}));
    let err = check_cloud(&default, &tenant("AzureUSGovernment")).unwrap_err();
    assert!(
        err.to_string()
            .contains("set spec.application.signInAudience"),
        "{err}"
    );
    assert!(err.is_permanent());
    assert!(check_cloud(&default, &tenant("AzureChina")).is_err());
    assert!(check_cloud(&default, &tenant("AzurePublic")).is_ok());
    let org =
        cr(json!({"nocobaseOrigin": "https://nb.example.com", "signInAudience": "AzureADMyOrg"}));
    assert!(check_cloud(&org, &tenant("AzureChina")).is_ok());
    // An adopted app keeps its own audience: nothing to refuse up front.
    let adopted = cr(json!({"nocobaseOrigin": "https://nb.example.com",
                            "existingAppId": "66666666-7777-8888-9999-000000000000"}));
    assert!(check_cloud(&adopted, &tenant("AzureChina")).is_ok());
}
