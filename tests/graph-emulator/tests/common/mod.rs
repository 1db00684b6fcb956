//! Shared fixtures: a started emulator with one tenant and operator client, and an HTTPS client trusting its CA.
#![allow(dead_code)]

use graph_emulator::{Emulator, EmulatorHandle};
use reqwest::{Method, RequestBuilder, Response};
use serde::Serialize;
use serde_json::{Value, json};

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const CLIENT_ID: &str = "0b5c6a1e-8d0f-4d8e-9a57-3f7f6c1d2e01";
pub const CLIENT_SECRET: &str = "operator-test-secret";
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
pub const EMAIL: &str = "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0";
pub const SMTP_SEND: &str = "258f6531-6087-4cc4-bb90-092c5fb3ed3f";

pub struct Fixture {
    pub emu: Emulator,
    pub handle: EmulatorHandle,
    pub http: reqwest::Client,
    pub token: String,
}

pub fn https_client(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap()
}

impl Fixture {
    pub async fn new() -> Fixture {
        let emu = Emulator::start().await.unwrap();
        let handle = emu.handle();
        handle.register_client_secret(TENANT, CLIENT_ID, CLIENT_SECRET);
        let http = https_client(&emu.ca_pem());
        let mut fixture = Fixture {
            emu,
            handle,
            http,
            token: String::new(),
        };
        fixture.token = fixture.token_for(CLIENT_ID, CLIENT_SECRET).await;
        fixture
    }

    pub fn token_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.emu.base_url())
    }

    pub async fn token_request(&self, tenant: &str, form: &[(&str, &str)]) -> Response {
        self.http
            .post(self.token_url(tenant))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn token_for(&self, client_id: &str, secret: &str) -> String {
        let res = self
            .token_request(
                TENANT,
                &[
                    ("client_id", client_id),
                    ("client_secret", secret),
                    ("grant_type", "client_credentials"),
                    ("scope", GRAPH_SCOPE),
                ],
            )
            .await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    pub fn graph(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.emu.graph_url()))
            .bearer_auth(&self.token)
    }

    /// A Graph request without a body.
    pub async fn send(&self, method: Method, path: &str) -> Response {
        self.graph(method, path).send().await.unwrap()
    }

    /// A Graph request with a JSON body.
    pub async fn send_json(&self, method: Method, path: &str, body: &impl Serialize) -> Response {
        self.graph(method, path).json(body).send().await.unwrap()
    }

    /// Creates the service principal of the application with this appId.
    pub async fn post_sp(&self, app_id: impl Serialize) -> Response {
        self.send_json(
            Method::POST,
            "/servicePrincipals",
            &json!({"appId": app_id}),
        )
        .await
    }

    /// URL of the emulator's admin API (`/_emulator...`).
    pub fn admin(&self, path: &str) -> String {
        format!("{}/_emulator{path}", self.emu.base_url())
    }

    /// Sets faults through the admin API.
    pub async fn set_faults(&self, body: Value) {
        let res = self
            .http
            .post(self.admin("/faults"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204, "{body}");
    }

    /// Upserts an application by uniqueName and returns the created JSON.
    pub async fn create_app(&self, unique_name: &str) -> Value {
        let res = self
            .graph(Method::PATCH, &format!("/applications(uniqueName='{unique_name}')"))
            .header("Prefer", "create-if-missing")
            .json(&json!({
                "displayName": format!("NocoBase mail {unique_name}"),
                "signInAudience": "AzureADMyOrg",
                "web": {"redirectUris": ["https://nocobase.example.com/admin/settings/mail/oauth2"]},
                "requiredResourceAccess": [{
                    "resourceAppId": graph_emulator::GRAPH_APP_ID,
                    "resourceAccess": [{"id": EMAIL, "type": "Scope"}, {"id": SMTP_SEND, "type": "Scope"}]
                }]
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        res.json().await.unwrap()
    }

    pub async fn add_password(&self, app_object_id: &str, body: Value) -> Response {
        self.graph(
            Method::POST,
            &format!("/applications/{app_object_id}/addPassword"),
        )
        .json(&body)
        .send()
        .await
        .unwrap()
    }

    pub fn graph_sp_id(&self) -> String {
        self.handle
            .service_principals(TENANT)
            .into_iter()
            .find(|s| s.app_id == graph_emulator::GRAPH_APP_ID)
            .unwrap()
            .id
    }
}

/// The `id` of a Graph object.
pub fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// Asserts Graph's error shape and returns the code.
pub async fn graph_error(res: Response, status: u16) -> (String, Value) {
    assert_eq!(res.status(), status);
    assert!(res.headers().contains_key("request-id"));
    assert!(res.headers().contains_key("client-request-id"));
    let body: Value = res.json().await.unwrap();
    let error = &body["error"];
    assert!(error["message"].is_string(), "{body}");
    assert!(error["innerError"]["request-id"].is_string(), "{body}");
    assert!(error["innerError"]["date"].is_string(), "{body}");
    (error["code"].as_str().unwrap().to_string(), body)
}

/// A syntactically valid unsigned JWT with the given claims.
pub fn jwt(claims: Value) -> String {
    use base64::Engine;
    let enc = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.c2ln",
        enc(&json!({"alg":"RS256","typ":"JWT"})),
        enc(&claims)
    )
}
