use super::*;
use crate::graph::test_server::{Step, serve};
use reqwest::Method;
use serde_json::json;

#[test]
fn encodes_components() {
    assert_eq!(
        encode_component("appId eq 'a b'"),
        "appId%20eq%20%27a%20b%27"
    );
    assert_eq!(encode_component("entramail-x_1.2~"), "entramail-x_1.2~");
    assert_eq!(odata_key("o'brien/x"), "o%27%27brien%2Fx");
}

#[test]
fn builds_urls() {
    let client = GraphClient::new(GraphConfig::new(
        Url::parse("https://graph.example.test/v1.0/").unwrap(),
        Arc::new(crate::auth::StaticToken("t".into())),
    ))
    .unwrap();
    assert_eq!(
        client
            .url("/servicePrincipals", Some("appId eq 'x'"))
            .unwrap()
            .as_str(),
        "https://graph.example.test/v1.0/servicePrincipals?$filter=appId%20eq%20%27x%27"
    );
    assert_eq!(
        client
            .url(
                &format!("/applications(uniqueName='{}')", odata_key("n1")),
                None
            )
            .unwrap()
            .as_str(),
        "https://graph.example.test/v1.0/applications(uniqueName='n1')"
    );
}

#[tokio::test]
async fn fractional_retry_after_is_honoured() {
    // A 2 s backoff: if "0.2" were not understood the client would wait at least 1 s.
    let retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_secs(2),
        max_delay: Duration::from_secs(2),
        max_total_wait: Duration::from_secs(10),
    };
    let server = serve(
        vec![
            Step::error(
                Method::GET,
                "/applications/o1",
                429,
                "TooManyRequests",
                "Please retry again later.",
            )
            .header("Retry-After", "0.2"),
            Step::new(
                Method::GET,
                "/applications/o1",
                200,
                json!({"id": "o1", "appId": "a1"}),
            ),
        ],
        retry,
        Duration::from_secs(5),
    )
    .await;
    let started = Instant::now();
    let app = server.client.get_application("o1").await.unwrap().unwrap();
    let elapsed = started.elapsed();
    assert_eq!(app.app_id, "a1");
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    server.assert_done();
}

#[tokio::test]
async fn fractional_retry_after_reaches_the_error() {
    let server = serve(
        vec![
            Step::error(
                Method::GET,
                "/applications/o1",
                429,
                "TooManyRequests",
                "Please retry again later.",
            )
            .header("Retry-After", "2.128"),
        ],
        RetryPolicy::none(),
        Duration::from_secs(5),
    )
    .await;
    let err = server.client.get_application("o1").await.unwrap_err();
    assert!(err.is_throttled());
    assert_eq!(err.retry_after(), Some(Duration::from_millis(2128)));
    server.assert_done();
}
