use super::*;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use std::sync::{Arc, Mutex};

fn aad_error(status: u16, error: &str, code: u32, text: &str) -> (u16, String) {
    let body = serde_json::json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2025-01-01 00:00:00Z"),
        "error_codes": [code],
        "timestamp": "2025-01-01 00:00:00Z",
        "trace_id": "t",
        "correlation_id": "c",
    });
    (status, body.to_string())
}

#[test]
fn classifies_token_endpoint_answers() {
    let ok = br#"{"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0"}"#;
    assert_eq!(classify(200, ok, None), Outcome::Valid);
    // Replication lag, by error_codes.
    for (status, error, code) in [
        (401, "invalid_client", 7_000_215),
        (400, "unauthorized_client", 700_016),
        (401, "invalid_client", 7_000_222),
    ] {
        let (s, body) = aad_error(status, error, code, "x");
        assert_eq!(
            classify(s, body.as_bytes(), None),
            Outcome::NotYet { code },
            "{code}"
        );
    }
    // ... or, without error_codes, from the description.
    let only_text = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#;
    assert_eq!(
        classify(401, only_text, None),
        Outcome::NotYet { code: 7_000_215 }
    );
    // Anything else is final, with the first line of the description only.
    let (s, body) = aad_error(
        400,
        "unauthorized_client",
        7_000_112,
        "Application is disabled.",
    );
    assert_eq!(
        classify(s, body.as_bytes(), None),
        Outcome::Refused {
            status: 400,
            code: Some(7_000_112),
            error: "unauthorized_client".into(),
            description: "AADSTS7000112: Application is disabled.".into(),
        }
    );
    // Not JSON at all (a proxy page): final, no code.
    assert!(matches!(
        classify(403, b"<html>denied</html>", None),
        Outcome::Refused {
            code: None,
            status: 403,
            ..
        }
    ));
    // Throttling and server errors: try again, honouring Retry-After.
    assert_eq!(
        classify(429, b"", Some(Duration::from_millis(2128))),
        Outcome::Unavailable {
            message: "HTTP 429".into(),
            retry_after: Some(Duration::from_millis(2128))
        }
    );
    assert!(matches!(
        classify(503, b"", None),
        Outcome::Unavailable { .. }
    ));
    // A 2xx without a token proves nothing.
    assert!(matches!(
        classify(200, b"{}", None),
        Outcome::Unavailable { .. }
    ));
}

#[test]
fn parses_aadsts_codes_and_shortens() {
    assert_eq!(aadsts_code("AADSTS700016: Application ..."), Some(700_016));
    assert_eq!(aadsts_code("x AADSTS7000215"), Some(7_000_215));
    assert_eq!(aadsts_code("AADSTS: none"), None);
    assert_eq!(aadsts_code("no code"), None);
    let long = "é".repeat(400);
    assert!(shorten(&long).len() <= MAX_DESCRIPTION + 4);
}

#[test]
fn token_endpoint_follows_the_cloud() {
    assert_eq!(
        token_endpoint(&Cloud::AzurePublic, "t-1").unwrap().as_str(),
        "https://login.microsoftonline.com/t-1/oauth2/v2.0/token"
    );
    assert_eq!(
        token_endpoint(&Cloud::AzureChina, "t").unwrap().as_str(),
        "https://login.chinacloudapi.cn/t/oauth2/v2.0/token"
    );
    let custom = Cloud::Custom {
        authority_host: Url::parse("https://127.0.0.1:8443/base/").unwrap(),
        graph_endpoint: Url::parse("https://127.0.0.1:8443/").unwrap(),
    };
    assert_eq!(
        token_endpoint(&custom, "a/b").unwrap().as_str(),
        "https://127.0.0.1:8443/base/a%2Fb/oauth2/v2.0/token"
    );
    assert!(matches!(
        token_endpoint(&Cloud::AzurePublic, ""),
        Err(VerifyError::Config(_))
    ));
}

/// A token endpoint on loopback HTTP that answers from a script and records what it was sent.
struct Scripted {
    cloud: Cloud,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Script = Arc<Mutex<Vec<(u16, String)>>>;

async fn scripted(answers: Vec<(u16, String)>) -> Scripted {
    let script: Script = Arc::new(Mutex::new(answers.into_iter().rev().collect()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    async fn handle(
        State((script, seen)): State<(Script, Arc<Mutex<Vec<String>>>)>,
        uri: axum::http::Uri,
        body: String,
    ) -> axum::response::Response {
        seen.lock().unwrap().push(format!("{uri} {body}"));
        let next = script.lock().unwrap().pop();
        let (status, body) = next.unwrap_or((500, String::new()));
        (
            StatusCode::from_u16(status).unwrap(),
            [("content-type", "application/json")],
            body,
        )
            .into_response()
    }
    let app = Router::new()
        .fallback(handle)
        .with_state((script, seen.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    Scripted {
        cloud: loopback_cloud(base),
        seen,
        task,
    }
}

/// Authority and Graph both at `base`.
fn loopback_cloud(base: Url) -> Cloud {
    Cloud::Custom {
        authority_host: base.clone(),
        graph_endpoint: base,
    }
}

fn fast(max_wait_ms: u64) -> VerifyOptions {
    VerifyOptions {
        max_wait: Duration::from_millis(max_wait_ms),
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        request_timeout: Duration::from_secs(5),
    }
}

const SECRET: &str = "Abc~s3cr3t-value";

/// Verifies [`SECRET`] of `client_id` in `tenant`, waiting at most `max_wait_ms` for replication.
async fn verify(
    cloud: &Cloud,
    tenant: &str,
    client_id: &str,
    max_wait_ms: u64,
) -> Result<u32, VerifyError> {
    verify_client_secret(
        tenant,
        cloud,
        client_id,
        &SecretText::new(SECRET),
        None,
        &fast(max_wait_ms),
    )
    .await
}

/// Entra's answer while a new secret has not replicated yet.
fn secret_lag() -> (u16, String) {
    aad_error(
        401,
        "invalid_client",
        7_000_215,
        "Invalid client secret provided.",
    )
}

#[tokio::test]
async fn retries_replication_lag_then_succeeds() {
    let server = scripted(vec![
        aad_error(
            400,
            "unauthorized_client",
            700_016,
            "Application not found.",
        ),
        secret_lag(),
        (200, r#"{"access_token":"tok","expires_in":3599}"#.into()),
    ])
    .await;
    let attempts = verify(&server.cloud, "tenant-1", "app-1", 5_000)
        .await
        .unwrap();
    assert_eq!(attempts, 3);
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    let first = &seen[0];
    assert!(first.starts_with("/tenant-1/oauth2/v2.0/token "), "{first}");
    for part in [
        "grant_type=client_credentials",
        "client_id=app-1",
        "client_secret=Abc%7Es3cr3t-value",
        "scope=http%3A%2F%2F127.0.0.1",
    ] {
        assert!(first.contains(part), "{part} in {first}");
    }
}

#[tokio::test]
async fn final_refusal_is_not_retried_and_never_shows_the_secret() {
    let server = scripted(vec![aad_error(
        400,
        "unauthorized_client",
        7_000_112,
        &format!("Application is disabled. (echo {SECRET})"),
    )])
    .await;
    let err = verify(&server.cloud, "t", "app", 5_000).await.unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::Rejected {
                code: Some(7_000_112),
                status: 400,
                attempts: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.attempts(), 1);
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(SECRET), "{text}");
        assert!(text.contains("AADSTS7000112"), "{text}");
    }
    assert_eq!(server.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn lag_that_outlasts_the_bound_is_not_yet_valid() {
    let lag = secret_lag();
    let server = scripted(vec![lag; 100]).await;
    let started = Instant::now();
    let err = verify(&server.cloud, "t", "app", 200).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    match &err {
        VerifyError::NotYetValid {
            code,
            attempts,
            waited,
        } => {
            assert_eq!(*code, 7_000_215);
            assert!(*attempts >= 2, "{attempts}");
            assert!(*waited <= Duration::from_millis(200) + Duration::from_millis(500));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err.to_string().contains(SECRET));
}

#[tokio::test]
async fn unreachable_endpoint_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let cloud = loopback_cloud(Url::parse(&format!("http://{addr}/")).unwrap());
    let err = verify(&cloud, "t", "app", 100).await.unwrap_err();
    assert!(matches!(err, VerifyError::Transport { .. }), "{err:?}");
    assert!(err.attempts() >= 1);
    assert!(!err.to_string().contains(SECRET));
}

#[tokio::test]
async fn server_errors_are_retried_with_retry_after() {
    let server = scripted(vec![
        (503, String::new()),
        (429, String::new()),
        (200, r#"{"access_token":"tok"}"#.into()),
    ])
    .await;
    let attempts = verify(&server.cloud, "t", "app", 5_000).await.unwrap();
    assert_eq!(attempts, 3);
}
