//! Documented Entra rules the emulator enforces (see the README's "Documented rules" for sources), through HTTPS.

mod common;

use common::*;
use graph_emulator::{
    AfterCommitFailure, Cloud, RemovePasswordMissing, SpReplicationError, TenantSize,
    ThrottleBudget,
};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use std::time::Duration;

const PERSONAL: &str = "AzureADandPersonalMicrosoftAccount";

async fn patch_app(f: &Fixture, object_id: &str, body: Value) -> Response {
    f.send_json(Method::PATCH, &format!("/applications/{object_id}"), &body)
        .await
}

async fn post_app(f: &Fixture, body: Value) -> Response {
    f.send_json(Method::POST, "/applications", &body).await
}

/// A personal-account app created through POST with the token version it needs.
async fn personal_app(f: &Fixture, name: &str) -> Value {
    let res = post_app(
        f,
        json!({"displayName": name, "signInAudience": PERSONAL, "api": {"requestedAccessTokenVersion": 2}}),
    )
    .await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

async fn error_message(res: Response, status: u16) -> (String, String, Value) {
    let (code, body) = graph_error(res, status).await;
    let message = body["error"]["message"].as_str().unwrap().to_string();
    (code, message, body)
}

#[tokio::test]
async fn personal_audiences_require_access_token_version_2() {
    // Long on purpose: each documented way to set a personal audience, accepted or refused.
    let f = Fixture::new().await;
    let created = f.create_app("audience").await;
    let object_id = id(&created);
    let check = |res: Response| async move {
        let (code, message, body) = error_message(res, 400).await;
        assert_eq!(code, "InvalidAccessTokenVersion");
        assert_eq!(
            message,
            "Property api.requestedAccessTokenVersion is invalid."
        );
        assert_eq!(
            body["error"]["details"][0]["target"],
            "api.requestedAccessTokenVersion"
        );
    };
    for audience in [PERSONAL, "PersonalMicrosoftAccount"] {
        check(patch_app(&f, &object_id, json!({"signInAudience": audience})).await).await;
        check(
            patch_app(
                &f,
                &object_id,
                json!({"signInAudience": audience, "api": {"requestedAccessTokenVersion": 1}}),
            )
            .await,
        )
        .await;
        check(post_app(&f, json!({"displayName": "p", "signInAudience": audience})).await).await;
    }
    let upsert = f
        .graph(Method::PATCH, "/applications(uniqueName='personal-upsert')")
        .header("Prefer", "create-if-missing")
        .json(&json!({"displayName": "p", "signInAudience": PERSONAL}))
        .send()
        .await
        .unwrap();
    check(upsert).await;
    assert_eq!(
        f.handle.applications(TENANT).len(),
        1,
        "rejected creates create nothing"
    );
    assert_eq!(
        f.handle.applications(TENANT)[0].sign_in_audience,
        "AzureADMyOrg"
    );

    // Both in the same request: accepted, and `api` reads back in Graph's shape.
    let both = patch_app(
        &f,
        &object_id,
        json!({"signInAudience": PERSONAL, "api": {"requestedAccessTokenVersion": 2}}),
    )
    .await;
    assert_eq!(both.status(), 204);
    let app: Value = f
        .send(Method::GET, &format!("/applications/{object_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(app["signInAudience"], PERSONAL);
    assert_eq!(
        app["api"],
        json!({"acceptMappedClaims": null, "knownClientApplications": [], "oauth2PermissionScopes": [],
               "preAuthorizedApplications": [], "requestedAccessTokenVersion": 2})
    );
    // Lowering the version of a personal app is refused; other api properties merge.
    check(
        patch_app(
            &f,
            &object_id,
            json!({"api": {"requestedAccessTokenVersion": null}}),
        )
        .await,
    )
    .await;
    let merge = patch_app(&f, &object_id, json!({"api": {"acceptMappedClaims": true}})).await;
    assert_eq!(merge.status(), 204);
    let api = &f.handle.applications(TENANT)[0].api;
    assert_eq!(
        (api.requested_access_token_version, api.accept_mapped_claims),
        (Some(2), Some(true))
    );
    // Only 1, 2 or null are versions.
    let other = f.create_app("org").await;
    let bad = patch_app(
        &f,
        &id(&other),
        json!({"api": {"requestedAccessTokenVersion": 3}}),
    )
    .await;
    assert_eq!(graph_error(bad, 400).await.0, "Request_BadRequest");
    let unknown = patch_app(
        &f,
        &id(&other),
        json!({"api": {"accessTokenAcceptedVersion": 2}}),
    )
    .await;
    assert_eq!(graph_error(unknown, 400).await.0, "Request_BadRequest");
}

#[tokio::test]
async fn audience_dependent_property_limits() {
    // Long on purpose: a table of audiences and the limits each must enforce.
    let f = Fixture::new().await;
    let org = f.create_app("org-limits").await;
    let personal = personal_app(&f, "personal-limits").await;
    let long = |n: usize| "n".repeat(n);
    let rejected = |res: Response, property: &'static str| async move {
        let (code, message, body) = error_message(res, 400).await;
        assert_eq!(code, "Request_BadRequest");
        assert_eq!(message, format!("Property {property} is invalid."));
        assert_eq!(body["error"]["details"][0]["target"], property);
    };
    // Display name: 120 characters, 90 with personal accounts.
    assert_eq!(
        patch_app(&f, &id(&org), json!({"displayName": long(120)}))
            .await
            .status(),
        204
    );
    rejected(
        patch_app(&f, &id(&org), json!({"displayName": long(121)})).await,
        "displayName",
    )
    .await;
    rejected(
        patch_app(&f, &id(&personal), json!({"displayName": long(91)})).await,
        "displayName",
    )
    .await;
    // An org app whose name is too long for a personal audience cannot switch to one.
    rejected(
        patch_app(
            &f,
            &id(&org),
            json!({"signInAudience": PERSONAL, "api": {"requestedAccessTokenVersion": 2}}),
        )
        .await,
        "displayName",
    )
    .await;
    // Redirect URIs: no query parameters or wildcards with personal accounts; no `! $ ' ( ) , ;` at all.
    let with_query = json!({"web": {"redirectUris": ["https://n.example.com/cb?tenant=a"]}});
    assert_eq!(
        patch_app(&f, &id(&org), with_query.clone()).await.status(),
        204
    );
    rejected(
        patch_app(&f, &id(&personal), with_query).await,
        "web.redirectUris",
    )
    .await;
    rejected(
        patch_app(
            &f,
            &id(&org),
            json!({"web": {"redirectUris": ["https://n.example.com/cb;x"]}}),
        )
        .await,
        "web.redirectUris",
    )
    .await;
    let many: Vec<String> = (0..101)
        .map(|i| format!("https://n.example.com/cb{i}"))
        .collect();
    rejected(
        patch_app(&f, &id(&personal), json!({"web": {"redirectUris": many}})).await,
        "web.redirectUris",
    )
    .await;
    // requiredResourceAccess: at most 30 permissions per resource with personal accounts.
    let scopes: Vec<Value> = (0..31)
        .map(|i| json!({"id": format!("00000000-0000-0000-0000-{i:012}"), "type": "Role"}))
        .collect();
    let rra = json!({"requiredResourceAccess": [{"resourceAppId": "11111111-1111-1111-1111-111111111111",
        "resourceAccess": scopes}]});
    assert_eq!(patch_app(&f, &id(&org), rra.clone()).await.status(), 204);
    rejected(
        patch_app(&f, &id(&personal), rra).await,
        "requiredResourceAccess",
    )
    .await;
    // Tags: 1-256 characters, no whitespace, no duplicates (every audience).
    for tags in [
        json!(["a b"]),
        json!([""]),
        json!(["x", "x"]),
        json!([long(257)]),
    ] {
        rejected(
            patch_app(&f, &id(&org), json!({"tags": tags})).await,
            "tags",
        )
        .await;
    }
    assert_eq!(
        patch_app(&f, &id(&org), json!({"tags": ["entramail", "managed"]}))
            .await
            .status(),
        204
    );
    // Identifier URIs: no urn: scheme with personal accounts.
    rejected(
        patch_app(
            &f,
            &id(&personal),
            json!({"identifierUris": ["urn:example:app"]}),
        )
        .await,
        "identifierUris",
    )
    .await;
    // App roles are not supported with personal accounts.
    let role = json!({"appRoles": [{"id": "22222222-2222-2222-2222-222222222222", "value": "r"}]});
    rejected(patch_app(&f, &id(&personal), role).await, "appRoles").await;
}

#[tokio::test]
async fn personal_apps_hold_at_most_two_client_secrets() {
    let f = Fixture::new().await;
    let personal = personal_app(&f, "two-secrets").await;
    for _ in 0..2 {
        assert_eq!(
            f.add_password(&id(&personal), json!({})).await.status(),
            200
        );
    }
    let (code, message, body) =
        error_message(f.add_password(&id(&personal), json!({})).await, 400).await;
    assert_eq!(code, "TooManyAppPasswords");
    assert_eq!(
        message,
        "Not allowed to add 3 passwords. You can only add a maximum of 2 passwords."
    );
    assert_eq!(
        body["error"]["details"][0],
        json!({"target": "passwordCredentials", "code": "TooManyAppPasswords"})
    );
    assert_eq!(
        f.handle.applications(TENANT)[0].password_credentials.len(),
        2
    );

    // Work/school apps have no such limit, but one with three secrets cannot become personal.
    let org = f.create_app("three-secrets").await;
    for _ in 0..3 {
        assert_eq!(f.add_password(&id(&org), json!({})).await.status(), 200);
    }
    let switch = patch_app(
        &f,
        &id(&org),
        json!({"signInAudience": PERSONAL, "api": {"requestedAccessTokenVersion": 2}}),
    )
    .await;
    let (_, message, _) = error_message(switch, 400).await;
    assert_eq!(message, "Property passwordCredentials is invalid.");
}

#[tokio::test]
async fn national_clouds_reject_personal_audiences() {
    let f = Fixture::new().await;
    let personal = json!({"displayName": "p", "signInAudience": PERSONAL,
        "api": {"requestedAccessTokenVersion": 2}});
    f.handle.set_cloud(Cloud::China);
    let (code, message, _) = error_message(post_app(&f, personal.clone()).await, 400).await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("Request_BadRequest", "Property signInAudience is invalid.")
    );
    assert_eq!(
        post_app(
            &f,
            json!({"displayName": "org", "signInAudience": "AzureADMultipleOrgs"})
        )
        .await
        .status(),
        201
    );
    f.set_faults(json!({"cloud": "usGovernment"})).await;
    assert_eq!(post_app(&f, personal.clone()).await.status(), 400);
    f.set_faults(json!({"cloud": "global"})).await;
    assert_eq!(post_app(&f, personal).await.status(), 201);
    let bad = f
        .http
        .post(f.admin("/faults"))
        .json(&json!({"cloud": "germany"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn service_principal_creation_during_replication_can_be_forbidden() {
    let f = Fixture::new().await;
    f.handle.set_replication_lag(Duration::from_secs(5));
    f.handle
        .set_sp_replication_error(SpReplicationError::Forbidden);
    let created = f.create_app("sp-403").await;
    let (code, message, _) = error_message(f.post_sp(&created["appId"]).await, 403).await;
    assert_eq!(code, "Authorization_RequestDenied");
    assert_eq!(
        message,
        "When using this permission, the backing application of the service principal being created must in the local tenant"
    );
    // An appId that does not exist at all still gets NoBackingApplicationObject.
    let (_, _, body) =
        error_message(f.post_sp("99999999-9999-9999-9999-999999999999").await, 400).await;
    assert_eq!(
        body["error"]["details"][0]["code"],
        "NoBackingApplicationObject"
    );
    // The JSON switch selects the default answer again.
    f.set_faults(json!({"spReplicationError": "noBackingApplicationObject"}))
        .await;
    assert_eq!(f.post_sp(&created["appId"]).await.status(), 400);
    f.set_faults(json!({"spReplicationError": "forbidden"}))
        .await;
    assert_eq!(f.post_sp(&created["appId"]).await.status(), 403);
    f.handle
        .advance_clock_preserving_tokens(Duration::from_secs(6));
    assert_eq!(f.post_sp(&created["appId"]).await.status(), 201);
}

#[tokio::test]
async fn retry_after_can_be_fractional() {
    let f = Fixture::new().await;
    f.handle.throttle_next(1, Duration::from_millis(2_128));
    let res = f.send(Method::GET, "/applications").await;
    assert_eq!(res.headers()["retry-after"], "2.128");
    assert_eq!(graph_error(res, 429).await.0, "TooManyRequests");
    f.set_faults(json!({"throttleNext": 1, "retryAfterMs": 1_500}))
        .await;
    let res = f.send(Method::GET, "/applications").await;
    assert_eq!(res.headers()["retry-after"], "1.5");
    f.handle.throttle_next(1, Duration::from_secs(3));
    let res = f.send(Method::GET, "/applications").await;
    assert_eq!(
        res.headers()["retry-after"],
        "3",
        "whole seconds stay integers"
    );
    assert_eq!(f.handle.throttled(), 3);
}

/// A service principal for a fresh app plus the body of an AllPrincipals grant to Microsoft Graph.
async fn grant_body(f: &Fixture, name: &str) -> Value {
    let created = f.create_app(name).await;
    let sp: Value = f.post_sp(&created["appId"]).await.json().await.unwrap();
    json!({"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": f.graph_sp_id(),
        "scope": "email offline_access"})
}

#[tokio::test]
async fn grants_replicate_but_duplicates_conflict_at_once() {
    let f = Fixture::new().await;
    let body = grant_body(&f, "grant-lag").await;
    f.handle.set_replication_lag(Duration::from_secs(5));
    let post = || {
        f.graph(Method::POST, "/oauth2PermissionGrants")
            .json(&body)
            .send()
    };
    let res = post().await.unwrap();
    assert_eq!(res.status(), 201);
    let grant: Value = res.json().await.unwrap();
    let path = format!("/oauth2PermissionGrants/{}", id(&grant));
    let get = f.send(Method::GET, &path).await;
    assert_eq!(graph_error(get, 404).await.0, "Request_ResourceNotFound");
    let listed = || async {
        f.graph(Method::GET, "/oauth2PermissionGrants")
            .query(&[(
                "$filter",
                format!("clientId eq '{}'", body["clientId"].as_str().unwrap()),
            )])
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["value"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(listed().await, 0);
    let patch = f
        .send_json(Method::PATCH, &path, &json!({"scope": "email"}))
        .await;
    assert_eq!(patch.status(), 404);
    let (code, message, _) = error_message(post().await.unwrap(), 409).await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "Request_MultipleObjectsWithSameKeyValue",
            "Permission entry already exists."
        )
    );
    assert_eq!(f.handle.grants(TENANT).len(), 1);
    f.handle
        .advance_clock_preserving_tokens(Duration::from_secs(5));
    assert_eq!(listed().await, 1);
    assert_eq!(f.send(Method::GET, &path).await.status(), 200);
}

#[tokio::test]
async fn add_password_can_fail_after_creating_the_credential() {
    let f = Fixture::new().await;
    let created = f.create_app("ambiguous").await;
    let count = || f.handle.applications(TENANT)[0].password_credentials.len();

    f.handle
        .fail_after_commit_next(1, AfterCommitFailure::Status(503));
    let res = f.add_password(&id(&created), json!({})).await;
    assert_eq!(graph_error(res, 503).await.0, "ServiceUnavailable");
    assert_eq!(count(), 1, "the credential exists despite the 503");
    assert_eq!(f.add_password(&id(&created), json!({})).await.status(), 200);
    assert_eq!(count(), 2, "the switch ran out");

    // Dropped connection: the client gets no response at all, the credential exists.
    f.handle.fail_after_commit_next(1, AfterCommitFailure::Drop);
    let dropped = async {
        let res = f
            .graph(
                Method::POST,
                &format!("/applications/{}/addPassword", id(&created)),
            )
            .json(&json!({}))
            .send()
            .await?;
        res.text().await
    }
    .await;
    assert!(dropped.is_err(), "{dropped:?}");
    assert_eq!(count(), 3);
    assert_eq!(
        f.handle.counts_by_status()["POST /applications/{id}/addPassword 0"],
        1
    );
    // Other requests still work (a new connection).
    assert_eq!(f.add_password(&id(&created), json!({})).await.status(), 200);

    f.set_faults(json!({"failAfterCommitNext": 1, "failAfterCommitStatus": 500}))
        .await;
    let res = f.add_password(&id(&created), json!({})).await;
    assert_eq!(graph_error(res, 500).await.0, "generalException");
    assert_eq!(count(), 5);
    // Failed addPasswords (before commit) do not consume the switch.
    f.handle
        .fail_after_commit_next(1, AfterCommitFailure::Status(502));
    let missing = f
        .add_password("00000000-0000-0000-0000-000000000000", json!({}))
        .await;
    assert_eq!(missing.status(), 404);
    assert_eq!(f.add_password(&id(&created), json!({})).await.status(), 502);
}

#[tokio::test]
async fn password_addition_policy_blocks_client_secrets() {
    let f = Fixture::new().await;
    let created = f.create_app("no-secrets").await;
    f.handle.set_password_addition_blocked(true);
    let (code, message, _) =
        error_message(f.add_password(&id(&created), json!({})).await, 400).await;
    assert_eq!(code, "CredentialTypeNotAllowedAsPerAppPolicy");
    assert!(
        message.starts_with("Credential type not allowed as per assigned policy"),
        "{message}"
    );
    assert!(
        f.handle.applications(TENANT)[0]
            .password_credentials
            .is_empty()
    );
    f.set_faults(json!({"blockPasswordAddition": false})).await;
    assert_eq!(f.add_password(&id(&created), json!({})).await.status(), 200);
    f.set_faults(json!({"blockPasswordAddition": true})).await;
    assert_eq!(f.add_password(&id(&created), json!({})).await.status(), 400);
}

#[tokio::test]
async fn remove_password_of_a_missing_key_is_switchable() {
    let f = Fixture::new().await;
    let created = f.create_app("remove-missing").await;
    let remove = || {
        f.graph(
            Method::POST,
            &format!("/applications/{}/removePassword", id(&created)),
        )
        .json(&json!({"keyId": "33333333-3333-3333-3333-333333333333"}))
        .send()
    };
    assert_eq!(
        graph_error(remove().await.unwrap(), 400).await.0,
        "Request_BadRequest"
    );
    f.handle
        .set_remove_password_missing(RemovePasswordMissing::NotFound);
    assert_eq!(
        graph_error(remove().await.unwrap(), 404).await.0,
        "Request_ResourceNotFound"
    );
    f.set_faults(json!({"removePasswordMissing": "noContent"}))
        .await;
    assert_eq!(remove().await.unwrap().status(), 204);
}

#[tokio::test]
async fn throttle_budget_charges_resource_units_per_app_and_tenant() {
    // Long on purpose: one budget drained step by step; each assertion depends on the units spent before it.
    let f = Fixture::new().await;
    let created = f.create_app("budget").await;
    let list = || f.graph(Method::GET, "/applications").send();
    // Off by default: no resource-unit headers.
    assert!(
        !list()
            .await
            .unwrap()
            .headers()
            .contains_key("x-ms-resource-unit")
    );

    f.handle.set_throttle_budget(Some(ThrottleBudget {
        resource_units: 5,
        ..ThrottleBudget::for_tenant_size(TenantSize::Small)
    }));
    let first = list().await.unwrap();
    assert_eq!(
        first.headers()["x-ms-resource-unit"],
        "2",
        "GET applications costs 2"
    );
    let selected = f.send(Method::GET, "/applications?$select=id").await;
    assert_eq!(
        selected.headers()["x-ms-resource-unit"],
        "1",
        "$select costs 1 less"
    );
    let get_one = || {
        f.graph(Method::GET, &format!("/applications/{}", id(&created)))
            .send()
    };
    let one = get_one().await.unwrap();
    assert_eq!(one.headers()["x-ms-resource-unit"], "1");
    assert!(
        !one.headers().contains_key("x-ms-throttle-limit-percentage"),
        "only above 0.8 of the limit"
    );
    let full = get_one().await.unwrap();
    assert_eq!(full.headers()["x-ms-throttle-limit-percentage"], "1.0");
    // 5 of 5 used: a list (2) does not fit.
    let throttled = list().await.unwrap();
    assert_eq!(
        throttled.headers()["x-ms-throttle-scope"],
        format!("Tenant_Application/ReadWrite/{CLIENT_ID}/{TENANT}").as_str()
    );
    assert_eq!(
        throttled.headers()["x-ms-throttle-information"],
        "ResourceUnitLimitExceeded"
    );
    let wait: f64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 0.0 && wait <= 10.0, "{wait}");
    assert_eq!(graph_error(throttled, 429).await.0, "TooManyRequests");
    assert_eq!((f.handle.budget_throttled(), f.handle.throttled()), (1, 1));

    // Writes draw on the same resource units.
    let res = f.add_password(&id(&created), json!({})).await;
    assert_eq!(res.status(), 429);
    assert_eq!(f.handle.budget_throttled(), 2);

    // Another application in the same tenant has its own budget. (Turning the budget off forgets usage.)
    f.handle.set_throttle_budget(None);
    let secret: Value = f
        .add_password(&id(&created), json!({}))
        .await
        .json()
        .await
        .unwrap();
    f.handle.set_throttle_budget(Some(ThrottleBudget {
        resource_units: 5,
        ..ThrottleBudget::for_tenant_size(TenantSize::Small)
    }));
    let app_token = f
        .token_for(
            created["appId"].as_str().unwrap(),
            secret["secretText"].as_str().unwrap(),
        )
        .await;
    for _ in 0..2 {
        let res = f
            .http
            .get(format!("{}/applications", f.emu.graph_url()))
            .bearer_auth(&app_token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    assert_eq!(
        list().await.unwrap().status(),
        200,
        "the operator's pair is untouched"
    );
    assert_eq!(list().await.unwrap().status(), 200);
    assert_eq!(list().await.unwrap().status(), 429);
    // The window slides with the emulator clock.
    f.handle
        .advance_clock_preserving_tokens(Duration::from_secs(10));
    assert_eq!(list().await.unwrap().status(), 200);

    // Write quota, through the admin API.
    f.set_faults(json!({"throttleBudget": {"tenantSize": "large", "writeRequests": 1}}))
        .await;
    let created_id = id(&created);
    let write = || patch_app(&f, &created_id, json!({"notes": "n"}));
    assert_eq!(write().await.status(), 204);
    let res = write().await;
    assert_eq!(
        res.headers()["x-ms-throttle-information"],
        "WriteLimitExceeded"
    );
    assert_eq!(
        res.headers()["x-ms-throttle-scope"],
        format!("Tenant_Application/Write/{CLIENT_ID}/{TENANT}").as_str()
    );
    assert_eq!(res.status(), 429);
    let counts: Value = f
        .http
        .get(f.admin("/counts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counts["budgetThrottled"], 4);
    assert_eq!(counts["throttled"], 4);
    f.set_faults(json!({"throttleBudget": null})).await;
    assert_eq!(write().await.status(), 204);
}

#[tokio::test]
async fn writes_on_personal_apps_have_their_own_quota() {
    let f = Fixture::new().await;
    let personal = personal_app(&f, "personal-writes").await;
    let org = f.create_app("org-writes").await;
    f.handle.set_throttle_budget(Some(ThrottleBudget {
        personal_app_writes: 1,
        ..ThrottleBudget::for_tenant_size(TenantSize::Medium)
    }));
    let (personal_id, org_id) = (id(&personal), id(&org));
    let note = |object_id| patch_app(&f, object_id, json!({"notes": "n"}));
    assert_eq!(note(&personal_id).await.status(), 204);
    let res = note(&personal_id).await;
    assert_eq!(
        res.headers()["x-ms-throttle-information"],
        "WriteLimitExceeded"
    );
    assert_eq!(res.status(), 429);
    assert_eq!(
        note(&org_id).await.status(),
        204,
        "work/school apps are not limited"
    );
    f.handle
        .advance_clock_preserving_tokens(Duration::from_secs(60));
    assert_eq!(note(&personal_id).await.status(), 204);
}

#[tokio::test]
async fn new_secrets_are_not_usable_before_the_activation_lag() {
    let f = Fixture::new().await;
    let created = f.create_app("activation").await;
    let app_id = created["appId"].as_str().unwrap().to_string();
    f.handle.set_secret_activation_lag(Duration::from_secs(20));
    let cred: Value = f
        .add_password(&id(&created), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let secret = cred["secretText"].as_str().unwrap().to_string();
    let form = [
        ("client_id", app_id.as_str()),
        ("client_secret", secret.as_str()),
        ("grant_type", "client_credentials"),
        ("scope", GRAPH_SCOPE),
    ];
    let request = || f.token_request(TENANT, &form);
    let res = request().await;
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"][0], 7000215);
    assert!(
        f.handle.is_secret_valid(TENANT, &app_id, &secret),
        "the credential itself is valid"
    );
    f.handle
        .advance_clock_preserving_tokens(Duration::from_secs(20));
    assert_eq!(request().await.status(), 200);

    f.set_faults(json!({"secretActivationLagMs": 0})).await;
    let fresh: Value = f
        .add_password(&id(&created), json!({}))
        .await
        .json()
        .await
        .unwrap();
    f.token_for(&app_id, fresh["secretText"].as_str().unwrap())
        .await;
}

#[tokio::test]
async fn new_applications_are_unknown_to_the_token_endpoint_during_replication() {
    let f = Fixture::new().await;
    f.handle.set_replication_lag(Duration::from_secs(5));
    let created = f.create_app("token-lag").await;
    let app_id = created["appId"].as_str().unwrap();
    let form = [
        ("client_id", app_id),
        ("client_secret", "not-a-real-secret"),
        ("grant_type", "client_credentials"),
        ("scope", GRAPH_SCOPE),
    ];
    let body: Value = f.token_request(TENANT, &form).await.json().await.unwrap();
    assert_eq!(body["error_codes"][0], 700016);
    f.handle
        .advance_clock_preserving_tokens(Duration::from_secs(5));
    let body: Value = f.token_request(TENANT, &form).await.json().await.unwrap();
    assert_eq!(
        body["error_codes"][0], 7000215,
        "known now; the secret is wrong"
    );
}
