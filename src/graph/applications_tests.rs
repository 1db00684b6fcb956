use crate::graph::RetryPolicy;
use crate::graph::test_server::{Server, Step, fast_retry, serve};
use crate::graph::{GraphError, NewPassword};
use chrono::{TimeDelta, Utc};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

const ADD: &str = "/applications/o1/addPassword";
const REMOVE: &str = "/applications/o1/removePassword";
const KEY: &str = "6d1fe1c4-6f0b-4c53-9a3e-000000000001";

fn minted() -> serde_json::Value {
    json!({
        "keyId": KEY, "displayName": "entramail:uid:1", "hint": "Abc",
        "secretText": "Abc~very-secret", "endDateTime": "2030-01-01T00:00:00Z"
    })
}

fn app_with_keys(keys: &[&str]) -> serde_json::Value {
    let creds: Vec<_> = keys.iter().map(|k| json!({"keyId": k})).collect();
    json!({"id": "o1", "appId": "a1", "passwordCredentials": creds})
}

/// A scripted Graph with the fast retry policy and a 5s request timeout.
async fn graph(steps: Vec<Step>) -> Server {
    serve(steps, fast_retry(), Duration::from_secs(5)).await
}

/// addPassword on application o1, valid for 30 days.
async fn mint(server: &Server) -> Result<NewPassword, GraphError> {
    server
        .client
        .add_password("o1", "entramail:uid:1", Utc::now() + TimeDelta::days(30))
        .await
}

#[tokio::test]
async fn add_password_is_not_resent_after_a_server_error() {
    let server = graph(vec![Step::error(
        Method::POST,
        ADD,
        503,
        "ServiceUnavailable",
        "try later",
    )])
    .await;
    let err = mint(&server).await.unwrap_err();
    assert!(err.is_ambiguous(), "{err}");
    assert_eq!(err.status(), Some(503));
    assert_eq!(
        server.seen().len(),
        1,
        "a second POST could mint a second secret"
    );
    server.assert_done();
}

#[tokio::test]
async fn add_password_is_not_resent_after_a_timeout() {
    let server = serve(
        vec![Step::new(Method::POST, ADD, 200, minted()).delay(Duration::from_secs(3))],
        fast_retry(),
        Duration::from_millis(300),
    )
    .await;
    let err = mint(&server).await.unwrap_err();
    assert!(err.is_ambiguous(), "{err}");
    assert_eq!(err.reason(), "GraphUnreachable");
    assert_eq!(server.seen().len(), 1);
    assert!(!err.to_string().contains("very-secret"));
}

#[tokio::test]
async fn add_password_still_retries_what_graph_did_not_process() {
    let server = graph(vec![
        Step::error(Method::POST, ADD, 429, "TooManyRequests", "slow down")
            .header("Retry-After", "0.05"),
        Step::error(
            Method::POST,
            ADD,
            404,
            "Request_ResourceNotFound",
            "not yet",
        ),
        Step::new(Method::POST, ADD, 200, minted()),
    ])
    .await;
    let np = mint(&server).await.unwrap();
    assert_eq!(np.credential.key_id, KEY);
    assert_eq!(np.secret_text.expose(), "Abc~very-secret");
    server.assert_done();
}

#[tokio::test]
async fn add_password_success_without_secret_is_ambiguous() {
    let server = graph(vec![Step::new(
        Method::POST,
        ADD,
        200,
        json!({"keyId": KEY}),
    )])
    .await;
    let err = server
        .client
        .add_password("o1", "d", Utc::now() + TimeDelta::days(30))
        .await
        .unwrap_err();
    assert!(err.is_ambiguous(), "the credential was created: {err}");
    server.assert_done();
}

#[tokio::test]
async fn remove_password_of_a_gone_key_is_success_whatever_graph_says() {
    for (status, code, message) in [
        (
            400,
            "Request_BadRequest",
            "Invalid value specified for property 'keyId'.",
        ),
        (404, "Request_ResourceNotFound", "Resource does not exist."),
        (
            400,
            "Request_BadRequest",
            "No password credential found with keyId.",
        ),
    ] {
        let server = graph(vec![
            Step::error(Method::POST, REMOVE, status, code, message),
            Step::new(
                Method::GET,
                "/applications/o1",
                200,
                app_with_keys(&["other-key"]),
            ),
        ])
        .await;
        server.client.remove_password("o1", KEY).await.unwrap();
        server.assert_done();
    }
}

#[tokio::test]
async fn remove_password_when_the_application_is_gone_is_success() {
    let server = graph(vec![
        Step::error(
            Method::POST,
            REMOVE,
            404,
            "Request_ResourceNotFound",
            "gone",
        ),
        Step::error(
            Method::GET,
            "/applications/o1",
            404,
            "Request_ResourceNotFound",
            "gone",
        ),
    ])
    .await;
    server.client.remove_password("o1", KEY).await.unwrap();
    server.assert_done();
}

#[tokio::test]
async fn remove_password_fails_while_the_key_is_still_there() {
    let server = graph(vec![
        Step::error(
            Method::POST,
            REMOVE,
            400,
            "Request_BadRequest",
            "No password credential found with keyId.",
        ),
        // Case differs: GUIDs compare case-insensitively.
        Step::new(
            Method::GET,
            "/applications/o1",
            200,
            app_with_keys(&[&KEY.to_uppercase()]),
        ),
    ])
    .await;
    let err = server.client.remove_password("o1", KEY).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    server.assert_done();
}

#[tokio::test]
async fn remove_password_other_errors_are_not_second_guessed() {
    let server = serve(
        vec![Step::error(
            Method::POST,
            REMOVE,
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )],
        RetryPolicy::none(),
        Duration::from_secs(5),
    )
    .await;
    let err = server.client.remove_password("o1", KEY).await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    server.assert_done();
}
