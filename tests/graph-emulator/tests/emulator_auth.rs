//! Token endpoint (secret, assertion, failures), bearer checks on Graph, and azure_identity against the emulator.

mod common;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, Transport};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

async fn aad_error(res: reqwest::Response, status: u16) -> (String, i64) {
    assert_eq!(res.status(), status);
    let body: Value = res.json().await.unwrap();
    let description = body["error_description"].as_str().unwrap();
    let code = body["error_codes"][0].as_i64().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}:")),
        "{description}"
    );
    (body["error"].as_str().unwrap().to_string(), code)
}

fn secret_form<'a>(client: &'a str, secret: &'a str, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("client_id", client),
        ("client_secret", secret),
        ("grant_type", "client_credentials"),
        ("scope", scope),
    ]
}

#[tokio::test]
async fn client_secret_grant_succeeds_with_entra_shape() {
    let f = Fixture::new().await;
    let res = f
        .token_request(TENANT, &secret_form(CLIENT_ID, CLIENT_SECRET, GRAPH_SCOPE))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    assert!(body["access_token"].as_str().unwrap().len() > 20);
    assert_eq!(f.handle.counts()["POST /{tenant}/oauth2/v2.0/token"], 2);
    let debug = format!("{:?} {:?}", f.handle, f.emu);
    assert!(
        !debug.contains(CLIENT_SECRET) && !debug.contains(&f.token),
        "{debug}"
    );
}

#[tokio::test]
async fn token_failures_use_aad_error_shape() {
    let f = Fixture::new().await;
    let bad_secret = f
        .token_request(TENANT, &secret_form(CLIENT_ID, "wrong", GRAPH_SCOPE))
        .await;
    assert_eq!(
        aad_error(bad_secret, 401).await,
        ("invalid_client".into(), 7000215)
    );

    let unknown_client = f
        .token_request(TENANT, &secret_form("nobody", "x", GRAPH_SCOPE))
        .await;
    assert_eq!(
        aad_error(unknown_client, 400).await,
        ("unauthorized_client".into(), 700016)
    );

    let unknown_tenant = f
        .token_request(
            "no-such-tenant",
            &secret_form(CLIENT_ID, CLIENT_SECRET, GRAPH_SCOPE),
        )
        .await;
    assert_eq!(aad_error(unknown_tenant, 400).await.1, 90002);

    let bad_scope = f
        .token_request(TENANT, &secret_form(CLIENT_ID, CLIENT_SECRET, "User.Read"))
        .await;
    assert_eq!(
        aad_error(bad_scope, 400).await,
        ("invalid_scope".into(), 1002012)
    );

    let wrong_grant = f
        .token_request(
            TENANT,
            &[
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("grant_type", "password"),
                ("scope", GRAPH_SCOPE),
            ],
        )
        .await;
    assert_eq!(
        aad_error(wrong_grant, 400).await.0,
        "unsupported_grant_type"
    );
}

#[tokio::test]
async fn client_assertion_checks_subject_and_expiry() {
    let f = Fixture::new().await;
    let subject = "system:serviceaccount:entramail:operator";
    f.handle
        .register_federated_client(TENANT, "fed-client", subject);
    let now = f.handle.now().timestamp();
    let form = |assertion: &str| {
        vec![
            ("client_id".to_string(), "fed-client".to_string()),
            (
                "client_assertion_type".to_string(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
            ),
            ("client_assertion".to_string(), assertion.to_string()),
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("scope".to_string(), GRAPH_SCOPE.to_string()),
        ]
    };
    let post = |assertion: String| {
        let req = f.http.post(f.token_url(TENANT)).form(&form(&assertion));
        async move { req.send().await.unwrap() }
    };

    let ok = post(jwt(
        json!({"sub": subject, "exp": now + 600, "aud": "api://AzureADTokenExchange"}),
    ))
    .await;
    assert_eq!(ok.status(), 200);
    let token = ok.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = f
        .http
        .get(format!("{}/applications", f.emu.graph_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let expired = post(jwt(json!({"sub": subject, "exp": now - 5}))).await;
    assert_eq!(
        aad_error(expired, 400).await,
        ("invalid_client".into(), 700024)
    );
    let wrong_subject = post(jwt(
        json!({"sub": "system:serviceaccount:other:sa", "exp": now + 600}),
    ))
    .await;
    assert_eq!(
        aad_error(wrong_subject, 400).await,
        ("invalid_client".into(), 70021)
    );
    let malformed = post("not-a-jwt".to_string()).await;
    assert_eq!(aad_error(malformed, 400).await.1, 50027);
}

#[tokio::test]
async fn graph_requires_a_valid_unexpired_bearer_token() {
    let f = Fixture::new().await;
    let url = format!("{}/applications", f.emu.graph_url());
    let none = f.http.get(&url).send().await.unwrap();
    let (code, body) = graph_error(none, 401).await;
    assert_eq!(code, "InvalidAuthenticationToken");
    assert_eq!(body["error"]["message"], "Access token is empty.");

    let forged = f
        .http
        .get(&url)
        .bearer_auth("emu.forged")
        .send()
        .await
        .unwrap();
    assert_eq!(
        graph_error(forged, 401).await.0,
        "InvalidAuthenticationToken"
    );

    assert_eq!(f.send(Method::GET, "/applications").await.status(), 200);
    f.handle.advance_clock(Duration::from_secs(3600));
    let expired = f.send(Method::GET, "/applications").await;
    let (_, body) = graph_error(expired, 401).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn tokens_are_scoped_to_their_tenant() {
    let f = Fixture::new().await;
    let other = "8a1b2c3d-0000-4000-8000-00000000beef";
    f.handle
        .register_client_secret(other, "other-client", "other-secret");
    let created = f.create_app("tenant-scoped").await;
    assert_eq!(f.handle.applications(TENANT).len(), 1);
    assert!(f.handle.applications(other).is_empty());
    let form = secret_form("other-client", "other-secret", GRAPH_SCOPE);
    let res = f.token_request(other, &form).await;
    let token = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = f
        .http
        .get(format!(
            "{}/applications/{}",
            f.emu.graph_url(),
            created["id"].as_str().unwrap()
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(graph_error(res, 404).await.0, "Request_ResourceNotFound");
}

fn azure_options(f: &Fixture) -> ClientOptions {
    let mut cloud = CustomConfiguration::default();
    cloud.authority_host = f.emu.base_url();
    ClientOptions {
        transport: Some(Transport::new(Arc::new(https_client(&f.emu.ca_pem())))),
        cloud: Some(Arc::new(CloudConfiguration::Custom(cloud))),
        ..Default::default()
    }
}

#[tokio::test]
async fn azure_identity_client_secret_credential_gets_a_working_token() {
    use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
    let f = Fixture::new().await;
    let credential = ClientSecretCredential::new(
        TENANT,
        CLIENT_ID.to_string(),
        CLIENT_SECRET.to_string().into(),
        Some(ClientSecretCredentialOptions {
            client_options: azure_options(&f),
        }),
    )
    .unwrap();
    let token = credential.get_token(&[GRAPH_SCOPE], None).await.unwrap();
    let res = f
        .http
        .get(format!(
            "{}/servicePrincipals(appId='{}')",
            f.emu.graph_url(),
            graph_emulator::GRAPH_APP_ID
        ))
        .bearer_auth(token.token.secret())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let bad = ClientSecretCredential::new(
        TENANT,
        CLIENT_ID.to_string(),
        "wrong".to_string().into(),
        Some(ClientSecretCredentialOptions {
            client_options: azure_options(&f),
        }),
    )
    .unwrap();
    let err = bad.get_token(&[GRAPH_SCOPE], None).await.unwrap_err();
    assert!(err.to_string().contains("AADSTS7000215"), "{err}");
}

#[tokio::test]
async fn azure_identity_workload_identity_credential_gets_a_token() {
    use azure_identity::{
        ClientAssertionCredentialOptions, WorkloadIdentityCredential,
        WorkloadIdentityCredentialOptions,
    };
    let f = Fixture::new().await;
    let subject = "system:serviceaccount:entramail:operator";
    f.handle
        .register_federated_client(TENANT, "wi-client", subject);
    let path = std::env::temp_dir().join(format!("graph-emulator-sa-token-{}", std::process::id()));
    let exp = f.handle.now().timestamp() + 3600;
    std::fs::write(
        &path,
        jwt(json!({"sub": subject, "exp": exp, "aud": ["api://AzureADTokenExchange"]})),
    )
    .unwrap();
    let credential = WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
        credential_options: ClientAssertionCredentialOptions {
            client_options: azure_options(&f),
        },
        client_id: Some("wi-client".to_string()),
        tenant_id: Some(TENANT.to_string()),
        token_file_path: Some(path.clone()),
    }))
    .unwrap();
    let token = credential.get_token(&[GRAPH_SCOPE], None).await;
    let _ = std::fs::remove_file(&path);
    let token = token.unwrap();
    assert!(token.token.secret().starts_with("emu."));
}
