//! Graph resources, faults and counters, through real HTTPS.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[tokio::test]
async fn upsert_creates_then_updates_and_respects_prefer() {
    let f = Fixture::new().await;
    let created = f.create_app("nocobase-a").await;
    assert!(
        created["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#applications/$entity")
    );
    assert_eq!(created["uniqueName"], "nocobase-a");
    assert_eq!(created["signInAudience"], "AzureADMyOrg");
    assert_eq!(created["passwordCredentials"], json!([]));
    assert_eq!(
        created["requiredResourceAccess"][0]["resourceAccess"][1]["id"],
        SMTP_SEND
    );
    assert!(uuid::Uuid::parse_str(created["appId"].as_str().unwrap()).is_ok());

    let path = "/applications(uniqueName='nocobase-a')";
    let update = f
        .graph(Method::PATCH, path)
        .header("Prefer", "create-if-missing")
        .json(&json!({"displayName": "renamed", "web": {"redirectUris": ["https://n.example.com/cb", "http://localhost:13000/cb"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(update.status(), 204);
    let app = f
        .handle
        .application_by_app_id(TENANT, created["appId"].as_str().unwrap())
        .unwrap();
    assert_eq!(app.display_name.as_deref(), Some("renamed"));
    assert_eq!(app.web.redirect_uris.len(), 2);
    assert_eq!(app.id, id(&created), "the upsert updated, not duplicated");
    assert_eq!(f.handle.applications(TENANT).len(), 1);

    let missing = f
        .send_json(
            Method::PATCH,
            "/applications(uniqueName='absent')",
            &json!({"displayName": "x"}),
        )
        .await;
    assert_eq!(
        graph_error(missing, 404).await.0,
        "Request_ResourceNotFound"
    );

    let no_name = f
        .graph(Method::PATCH, "/applications(uniqueName='nameless')")
        .header("Prefer", "create-if-missing")
        .json(&json!({"signInAudience": "AzureADMyOrg"}))
        .send()
        .await
        .unwrap();
    assert_eq!(graph_error(no_name, 400).await.0, "Request_BadRequest");
    assert_eq!(f.handle.applications(TENANT).len(), 1);
}

#[tokio::test]
async fn invalid_application_bodies_are_rejected() {
    let f = Fixture::new().await;
    let created = f.create_app("strict").await;
    let path = format!("/applications/{}", id(&created));
    for body in [
        json!({"passwordCredentials": [{"displayName": "x"}]}),
        json!({"requiredResourceAccess": [{"resourceAppId": graph_emulator::GRAPH_APP_ID,
            "resourceAccess": [{"id": "11111111-2222-3333-4444-555555555555", "type": "Scope"}]}]}),
        json!({"web": {"redirectUris": ["http://nocobase.example.com/cb"]}}),
        json!({"signInAudience": "Everyone"}),
        json!({"displayNme": "typo"}),
    ] {
        let res = f.send_json(Method::PATCH, &path, &body).await;
        let (code, _) = graph_error(res, 400).await;
        assert_eq!(code, "Request_BadRequest", "{body}");
    }
    let empty = f.send(Method::PATCH, &path).await;
    assert_eq!(graph_error(empty, 400).await.0, "Request_BadRequest");
    let app = &f.handle.applications(TENANT)[0];
    assert_eq!(
        app.sign_in_audience, "AzureADMyOrg",
        "rejected patches change nothing"
    );
}

#[tokio::test]
async fn applications_are_addressable_by_id_app_id_unique_name_and_filter() {
    let f = Fixture::new().await;
    let created = f.create_app("addr").await;
    f.create_app("other").await;
    let app_id = created["appId"].as_str().unwrap();
    for path in [
        format!("/applications/{}", id(&created)),
        format!("/applications(appId='{app_id}')"),
        "/applications(uniqueName='addr')".to_string(),
    ] {
        let res = f.send(Method::GET, &path).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.json::<Value>().await.unwrap()["id"], created["id"]);
    }
    let list: Value = f
        .graph(Method::GET, "/applications")
        .query(&[
            ("$filter", format!("appId eq '{app_id}'")),
            ("$select", "id,appId".to_string()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        list["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#applications")
    );
    assert_eq!(list["value"].as_array().unwrap().len(), 1);
    assert_eq!(
        list["value"][0],
        json!({"id": created["id"], "appId": app_id})
    );
    let by_name: Value = f
        .send(
            Method::GET,
            "/applications?$filter=displayName%20eq%20'NocoBase%20mail%20other'",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_name["value"].as_array().unwrap().len(), 1);
    let unsupported = f
        .send(
            Method::GET,
            "/applications?$filter=startswith(displayName,'N')",
        )
        .await;
    assert_eq!(
        graph_error(unsupported, 400).await.0,
        "Request_UnsupportedQuery"
    );
}

#[tokio::test]
async fn add_password_returns_secret_once_and_remove_password_revokes() {
    let f = Fixture::new().await;
    let created = f.create_app("secrets").await;
    let object_id = id(&created);
    let app_id = created["appId"].as_str().unwrap().to_string();
    let end = (f.handle.now() + chrono::Duration::days(90)).to_rfc3339();
    let res = f
        .add_password(
            &object_id,
            json!({"passwordCredential": {"displayName": "entramail uid-123", "endDateTime": end}}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let cred: Value = res.json().await.unwrap();
    let secret = cred["secretText"].as_str().unwrap().to_string();
    assert!((16..=64).contains(&secret.len()), "{}", secret.len());
    assert_eq!(cred["hint"].as_str().unwrap(), &secret[..3]);
    assert_eq!(cred["displayName"], "entramail uid-123");
    assert!(cred["customKeyIdentifier"].is_null());
    assert!(cred["startDateTime"].is_string());
    let key_id = cred["keyId"].as_str().unwrap().to_string();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(cred["endDateTime"].as_str().unwrap()).unwrap(),
        chrono::DateTime::parse_from_rfc3339(&end).unwrap()
    );

    let fetched: Value = f
        .send(Method::GET, &format!("/applications/{object_id}"))
        .await
        .json()
        .await
        .unwrap();
    let listed = &fetched["passwordCredentials"][0];
    assert_eq!(listed["keyId"], key_id.as_str());
    assert!(listed["secretText"].is_null());
    assert!(!fetched.to_string().contains(&secret));
    assert!(!format!("{:?}", f.handle.applications(TENANT)).contains(&secret));

    assert!(f.handle.is_secret_valid(TENANT, &app_id, &secret));
    // The minted secret authenticates its own app at the token endpoint.
    f.token_for(&app_id, &secret).await;

    let default_end: Value = f
        .add_password(&object_id, json!({}))
        .await
        .json()
        .await
        .unwrap();
    let start =
        chrono::DateTime::parse_from_rfc3339(default_end["startDateTime"].as_str().unwrap())
            .unwrap();
    let stop =
        chrono::DateTime::parse_from_rfc3339(default_end["endDateTime"].as_str().unwrap()).unwrap();
    assert!(
        (stop - start).num_days() >= 730,
        "default lifetime is two years"
    );

    let remove = |key: String| {
        f.graph(
            Method::POST,
            &format!("/applications/{object_id}/removePassword"),
        )
        .json(&json!({"keyId": key}))
        .send()
    };
    assert_eq!(remove(key_id.clone()).await.unwrap().status(), 204);
    assert!(!f.handle.is_secret_valid(TENANT, &app_id, &secret));
    let again = remove(key_id).await.unwrap();
    assert_eq!(graph_error(again, 400).await.0, "Request_BadRequest");
    assert_eq!(
        f.handle.applications(TENANT)[0].password_credentials.len(),
        1
    );
}

#[tokio::test]
async fn service_principal_grant_lifecycle_and_cascading_delete() {
    // Long on purpose: one object lifecycle (create, grant, read, delete, cascade) in order.
    let f = Fixture::new().await;
    let created = f.create_app("sp").await;
    let app_id = created["appId"].as_str().unwrap().to_string();
    let res = f.post_sp(&app_id).await;
    assert_eq!(res.status(), 201);
    let sp: Value = res.json().await.unwrap();
    assert_eq!(sp["appId"], app_id.as_str());
    assert_eq!(sp["servicePrincipalType"], "Application");
    assert_eq!(sp["displayName"], created["displayName"]);

    let dup = f.post_sp(&app_id).await;
    assert_eq!(
        graph_error(dup, 409).await.0,
        "Request_MultipleObjectsWithSameKeyValue"
    );

    let graph_sp: Value = f
        .send(
            Method::GET,
            &format!(
                "/servicePrincipals(appId='{}')",
                graph_emulator::GRAPH_APP_ID
            ),
        )
        .await
        .json()
        .await
        .unwrap();
    let scopes: Vec<&str> = graph_sp["oauth2PermissionScopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"].as_str().unwrap())
        .collect();
    for s in [
        "email",
        "offline_access",
        "IMAP.AccessAsUser.All",
        "SMTP.Send",
        "User.Read",
        "openid",
        "profile",
    ] {
        assert!(scopes.contains(&s), "{s}");
    }
    let filtered: Value = f
        .graph(Method::GET, "/servicePrincipals")
        .query(&[("$filter", format!("appId eq '{app_id}'"))])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["value"][0]["id"], sp["id"]);

    let grant_body = json!({"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph_sp["id"],
        "scope": "email offline_access IMAP.AccessAsUser.All SMTP.Send User.Read"});
    let res = f
        .send_json(Method::POST, "/oauth2PermissionGrants", &grant_body)
        .await;
    assert_eq!(res.status(), 201);
    let grant: Value = res.json().await.unwrap();
    assert_eq!(grant["consentType"], "AllPrincipals");
    let dup = f
        .send_json(Method::POST, "/oauth2PermissionGrants", &grant_body)
        .await;
    assert_eq!(
        graph_error(dup, 409).await.0,
        "Request_MultipleObjectsWithSameKeyValue"
    );
    let mut bad_scope = grant_body.clone();
    bad_scope["scope"] = json!("email Mail.Nonexistent");
    let res = f
        .send_json(Method::POST, "/oauth2PermissionGrants", &bad_scope)
        .await;
    assert_eq!(graph_error(res, 400).await.0, "Request_BadRequest");

    let grant_path = format!("/oauth2PermissionGrants/{}", id(&grant));
    let patch = f
        .send_json(
            Method::PATCH,
            &grant_path,
            &json!({"scope": "email offline_access"}),
        )
        .await;
    assert_eq!(patch.status(), 204);
    let bad_patch = f
        .send_json(
            Method::PATCH,
            &grant_path,
            &json!({"scope": "email Bogus.Scope"}),
        )
        .await;
    assert_eq!(graph_error(bad_patch, 400).await.0, "Request_BadRequest");
    let listed: Value = f
        .graph(Method::GET, "/oauth2PermissionGrants")
        .query(&[("$filter", format!("clientId eq '{}'", id(&sp)))])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["value"][0]["scope"], "email offline_access");

    // Deleting the application removes its service principal and grants, as Entra does.
    let del = f
        .send(Method::DELETE, &format!("/applications/{}", id(&created)))
        .await;
    assert_eq!(del.status(), 204);
    assert!(f.handle.grants(TENANT).is_empty());
    assert_eq!(
        f.handle.service_principals(TENANT).len(),
        1,
        "only Graph's SP remains"
    );
    let gone = f
        .send(Method::GET, &format!("/servicePrincipals/{}", id(&sp)))
        .await;
    assert_eq!(graph_error(gone, 404).await.0, "Request_ResourceNotFound");
}

#[tokio::test]
async fn grant_and_sp_deletion_endpoints() {
    let f = Fixture::new().await;
    let created = f.create_app("del").await;
    let sp: Value = f.post_sp(&created["appId"]).await.json().await.unwrap();
    let body = json!({"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": f.graph_sp_id(),
        "scope": "User.Read"});
    let grant: Value = f
        .send_json(Method::POST, "/oauth2PermissionGrants", &body)
        .await
        .json()
        .await
        .unwrap();
    let res = f
        .send(
            Method::DELETE,
            &format!("/oauth2PermissionGrants/{}", id(&grant)),
        )
        .await;
    assert_eq!(res.status(), 204);
    assert!(f.handle.grants(TENANT).is_empty());
    let res = f
        .send(Method::DELETE, &format!("/servicePrincipals/{}", id(&sp)))
        .await;
    assert_eq!(res.status(), 204);
    assert!(
        f.handle
            .application_by_app_id(TENANT, created["appId"].as_str().unwrap())
            .is_some(),
        "the app stays"
    );
}

#[tokio::test]
async fn replication_lag_hides_new_objects_from_other_calls() {
    let f = Fixture::new().await;
    f.handle.set_replication_lag(Duration::from_millis(400));
    let created = f.create_app("lagging").await;
    assert!(
        created["appId"].is_string(),
        "the create response is complete"
    );
    let object_id = id(&created);

    let get = f
        .send(Method::GET, &format!("/applications/{object_id}"))
        .await;
    assert_eq!(graph_error(get, 404).await.0, "Request_ResourceNotFound");
    let add = f.add_password(&object_id, json!({})).await;
    assert_eq!(graph_error(add, 404).await.0, "Request_ResourceNotFound");
    let sp = f.post_sp(&created["appId"]).await;
    let (code, body) = graph_error(sp, 400).await;
    assert_eq!(code, "Request_BadRequest");
    assert_eq!(
        body["error"]["details"][0]["code"],
        "NoBackingApplicationObject"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not reference a valid application object")
    );
    // A retried upsert during the lag must update, never duplicate.
    let retry = f
        .graph(Method::PATCH, "/applications(uniqueName='lagging')")
        .header("Prefer", "create-if-missing")
        .json(&json!({"displayName": "NocoBase mail lagging"}))
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 204);
    assert_eq!(f.handle.applications(TENANT).len(), 1);

    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(
        f.send(Method::GET, &format!("/applications/{object_id}"))
            .await
            .status(),
        200
    );
    let sp = f.post_sp(&created["appId"]).await;
    assert_eq!(sp.status(), 201);

    // The clock also ends the window.
    let later = f.create_app("lagging-2").await;
    f.handle.advance_clock(Duration::from_secs(1));
    assert_eq!(
        f.send(Method::GET, &format!("/applications/{}", id(&later)))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn throttling_and_server_errors_are_injected() {
    let f = Fixture::new().await;
    f.handle.throttle_next(2, Duration::from_secs(7));
    for _ in 0..2 {
        let res = f.send(Method::GET, "/applications").await;
        assert_eq!(res.headers()["retry-after"], "7");
        assert_eq!(graph_error(res, 429).await.0, "TooManyRequests");
    }
    assert_eq!(f.send(Method::GET, "/applications").await.status(), 200);

    f.handle.fail_next(1, 503);
    let res = f.send(Method::GET, "/applications").await;
    assert_eq!(graph_error(res, 503).await.0, "ServiceUnavailable");
    f.handle.fail_next(1, 500);
    let res = f.send(Method::GET, "/applications").await;
    assert_eq!(graph_error(res, 500).await.0, "generalException");
    assert_eq!(f.send(Method::GET, "/applications").await.status(), 200);

    f.handle.set_failure_ratio(1.0);
    assert_eq!(f.send(Method::GET, "/applications").await.status(), 503);
    f.handle.set_failure_ratio(0.0);
    f.handle.set_throttle_ratio(1.0, Duration::from_secs(2));
    let res = f.send(Method::GET, "/applications").await;
    assert_eq!(res.headers()["retry-after"], "2");
    assert_eq!(res.status(), 429);
    f.handle.set_throttle_ratio(0.0, Duration::from_secs(2));
    assert_eq!(f.send(Method::GET, "/applications").await.status(), 200);
}

#[tokio::test]
async fn ratio_faults_replay_with_the_same_seed() {
    async fn run(seed: u64) -> Vec<u16> {
        let emu = graph_emulator::Emulator::start_with(graph_emulator::EmulatorConfig {
            seed,
            ..Default::default()
        })
        .await
        .unwrap();
        let h = emu.handle();
        h.register_client_secret(TENANT, CLIENT_ID, CLIENT_SECRET);
        h.set_failure_ratio(0.5);
        let http = https_client(&emu.ca_pem());
        let form = [
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("grant_type", "client_credentials"),
            ("scope", GRAPH_SCOPE),
        ];
        let token: Value = http
            .post(format!("{}/{TENANT}/oauth2/v2.0/token", emu.base_url()))
            .form(&form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut statuses = Vec::new();
        for _ in 0..12 {
            let res = http
                .get(format!("{}/applications", emu.graph_url()))
                .bearer_auth(token["access_token"].as_str().unwrap())
                .send()
                .await
                .unwrap();
            statuses.push(res.status().as_u16());
        }
        statuses
    }
    let a = run(42).await;
    assert_eq!(a, run(42).await);
    assert!(a.contains(&200) && a.contains(&503), "{a:?}");
}

#[tokio::test]
async fn credential_lifetime_policy_rejects_long_secrets() {
    let f = Fixture::new().await;
    let created = f.create_app("policy").await;
    f.handle
        .set_max_credential_lifetime(Some(Duration::from_secs(180 * 86_400)));
    let too_long = (f.handle.now() + chrono::Duration::days(365)).to_rfc3339();
    let res = f
        .add_password(
            &id(&created),
            json!({"passwordCredential": {"endDateTime": too_long}}),
        )
        .await;
    let (code, body) = graph_error(res, 400).await;
    assert_eq!(code, "CredentialInvalidLifetimeAsPerAppPolicy");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("180 days")
    );
    let default = f
        .add_password(
            &id(&created),
            json!({"passwordCredential": {"displayName": "d"}}),
        )
        .await;
    assert_eq!(
        graph_error(default, 400).await.0,
        "CredentialInvalidLifetimeAsPerAppPolicy"
    );
    let ok_end = (f.handle.now() + chrono::Duration::days(180)).to_rfc3339();
    let ok = f
        .add_password(
            &id(&created),
            json!({"passwordCredential": {"endDateTime": ok_end}}),
        )
        .await;
    assert_eq!(ok.status(), 200);
    f.handle.set_max_credential_lifetime(None);
    assert_eq!(f.add_password(&id(&created), json!({})).await.status(), 200);
}

#[tokio::test]
async fn latency_is_added_to_every_request() {
    let f = Fixture::new().await;
    f.handle.set_latency(Duration::from_millis(250));
    let start = Instant::now();
    assert_eq!(f.send(Method::GET, "/applications").await.status(), 200);
    f.token_for(CLIENT_ID, CLIENT_SECRET).await;
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn advancing_the_clock_expires_credentials() {
    let f = Fixture::new().await;
    let created = f.create_app("expiry").await;
    let app_id = created["appId"].as_str().unwrap().to_string();
    let end = (f.handle.now() + chrono::Duration::days(30)).to_rfc3339();
    let cred: Value = f
        .add_password(
            &id(&created),
            json!({"passwordCredential": {"endDateTime": end}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let secret = cred["secretText"].as_str().unwrap().to_string();
    assert!(f.handle.is_secret_valid(TENANT, &app_id, &secret));
    let before = f.handle.now();
    f.handle.advance_clock(Duration::from_secs(31 * 86_400));
    assert!((f.handle.now() - before).num_days() >= 31);
    assert!(!f.handle.is_secret_valid(TENANT, &app_id, &secret));
    let res = f
        .token_request(
            TENANT,
            &[
                ("client_id", app_id.as_str()),
                ("client_secret", secret.as_str()),
                ("grant_type", "client_credentials"),
                ("scope", GRAPH_SCOPE),
            ],
        )
        .await;
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error_codes"][0], 7000222);
}

#[tokio::test]
async fn counters_track_routes_statuses_reads_and_writes() {
    let f = Fixture::new().await;
    f.handle.reset_counts();
    let created = f.create_app("counted").await;
    f.add_password(&id(&created), json!({})).await;
    f.send(Method::GET, &format!("/applications/{}", id(&created)))
        .await;
    f.send(Method::GET, "/applications/missing").await;
    let counts = f.handle.counts();
    assert_eq!(counts["PATCH /applications(uniqueName='{uniqueName}')"], 1);
    assert_eq!(counts["POST /applications/{id}/addPassword"], 1);
    assert_eq!(counts["GET /applications/{id}"], 2);
    let by_status = f.handle.counts_by_status();
    assert_eq!(by_status["GET /applications/{id} 404"], 1);
    assert_eq!(
        by_status["PATCH /applications(uniqueName='{uniqueName}') 201"],
        1
    );
    assert_eq!(f.handle.writes(), 2);
    assert_eq!(f.handle.reads(), 2);
    f.handle.reset_counts();
    assert!(f.handle.counts().is_empty());
    assert_eq!(f.handle.writes() + f.handle.reads(), 0);
}

#[tokio::test]
async fn drift_injection_bypasses_the_api() {
    let f = Fixture::new().await;
    let created = f.create_app("drift").await;
    let cred: Value = f
        .add_password(&id(&created), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let key_id = cred["keyId"].as_str().unwrap();
    assert!(f.handle.remove_password(TENANT, &id(&created), key_id));
    assert!(!f.handle.remove_password(TENANT, &id(&created), key_id));
    assert!(f.handle.delete_application(TENANT, &id(&created)));
    assert!(f.handle.applications(TENANT).is_empty());
    assert_eq!(f.handle.writes(), 2, "handle calls are not counted");
}

#[tokio::test]
async fn admin_api_drives_faults_and_clock() {
    let f = Fixture::new().await;
    f.set_faults(json!({"throttleNext": 1, "retryAfterSecs": 3}))
        .await;
    let res = f.send(Method::GET, "/applications").await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "3");
    let before = f.handle.now();
    let res: Value = f
        .http
        .post(f.admin("/clock/advance"))
        .json(&json!({"seconds": 86_400}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(res["now"].is_string());
    assert!((f.handle.now() - before).num_hours() >= 24);
    let pem = f
        .http
        .get(f.admin("/ca.pem"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(pem, f.emu.ca_pem());
    let counts: Value = f
        .http
        .get(f.admin("/counts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counts["counts"]["GET /applications"], 1);
    let res = f
        .http
        .post(f.admin("/clients"))
        .json(&json!({"tenantId": "t2", "clientId": "c2", "clientSecret": "s2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = f
        .token_request(
            "t2",
            &[
                ("client_id", "c2"),
                ("client_secret", "s2"),
                ("grant_type", "client_credentials"),
                ("scope", GRAPH_SCOPE),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn errors_echo_client_request_id() {
    let f = Fixture::new().await;
    let res = f
        .graph(Method::GET, "/applications/nope")
        .header("client-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["client-request-id"], "abc-123");
    let (_, body) = graph_error(res, 404).await;
    assert_eq!(body["error"]["innerError"]["client-request-id"], "abc-123");
    let unknown = f.send(Method::GET, "/users").await;
    assert_eq!(graph_error(unknown, 400).await.0, "Request_BadRequest");
    let wrong_method = f.send(Method::PUT, "/applications").await;
    assert_eq!(graph_error(wrong_method, 405).await.0, "Request_BadRequest");
}
