use super::*;

#[test]
fn decodes_graph_error_body() {
    let body = br#"{"error":{"code":"CredentialInvalidLifetimeAsPerAppPolicy","message":"Credential lifetime exceeds the max value allowed as per assigned policy.","innerError":{"date":"2024-01-01T00:00:00","request-id":"abc-123","client-request-id":"x"}}}"#;
    let e = decode_api_error(400, body, None, None);
    assert!(e.is_lifetime_policy());
    assert!(!e.is_retryable());
    assert_eq!(e.reason(), "CredentialLifetimePolicy");
    assert_eq!(e.code(), Some(CODE_LIFETIME_POLICY));
    match &e {
        GraphError::Api { request_id, .. } => {
            assert_eq!(request_id.as_deref(), Some("abc-123"))
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(e.to_string().contains("request-id abc-123"));
}

#[test]
fn header_request_id_wins_and_retry_after_kept() {
    let body = br#"{"error":{"code":"TooManyRequests","message":"slow down","innerError":{"request-id":"body"}}}"#;
    let e = decode_api_error(429, body, Some("hdr".into()), Some(Duration::from_secs(2)));
    assert!(e.is_retryable());
    assert!(e.is_throttled());
    assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
    assert_eq!(e.reason(), "GraphThrottled");
    match e {
        GraphError::Api { request_id, .. } => assert_eq!(request_id.as_deref(), Some("hdr")),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn non_json_body_and_classification() {
    let e = decode_api_error(503, b"<html>bad gateway</html>", None, None);
    assert_eq!(e.code(), Some("Http503"));
    assert!(e.is_retryable());
    assert_eq!(e.reason(), "GraphUnavailable");

    let nf = decode_api_error(
        404,
        br#"{"error":{"code":"Request_ResourceNotFound","message":"gone"}}"#,
        None,
        None,
    );
    assert!(nf.is_not_found());
    assert!(!nf.is_retryable());
    assert_eq!(nf.reason(), "GraphNotFound");
}

#[test]
fn no_backing_application_detected_by_code_or_message() {
    let a = decode_api_error(
        400,
        br#"{"error":{"code":"NoBackingApplicationObject","message":"x"}}"#,
        None,
        None,
    );
    assert!(a.is_no_backing_application());
    let b = decode_api_error(
        400,
        br#"{"error":{"code":"Request_BadRequest","message":"The appId 'x' of the service principal does not reference a valid application object."}}"#,
        None,
        None,
    );
    assert!(b.is_no_backing_application());
}

fn api(status: u16, code: &str, message: &str) -> GraphError {
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    decode_api_error(status, body.as_bytes(), None, None)
}

#[test]
fn credential_type_policy_is_classified_and_permanent() {
    let e = api(
        400,
        CODE_CREDENTIAL_TYPE_POLICY,
        "Credential type not allowed as per assigned policy.",
    );
    assert!(e.is_credential_type_policy());
    assert!(!e.is_lifetime_policy());
    assert!(e.is_permanent());
    assert!(!e.is_retryable());
    assert_eq!(e.reason(), "CredentialTypePolicy");
    // Permanent whatever status Graph picks for it.
    assert!(api(403, CODE_CREDENTIAL_TYPE_POLICY, "x").is_permanent());
    assert!(api(400, CODE_LIFETIME_POLICY, "x").is_permanent());
}

#[test]
fn replication_403_is_transient_other_403s_are_not() {
    // Verbatim from hashicorp/terraform-provider-azuread#992.
    let lag = api(
        403,
        CODE_AUTHORIZATION_DENIED,
        "When using this permission, the backing application of the service principal being created must in the local tenant",
    );
    assert!(lag.is_backing_application_not_local());
    assert!(lag.is_replication_lag());
    assert!(!lag.is_permanent());
    let denied = api(
        403,
        CODE_AUTHORIZATION_DENIED,
        "Insufficient privileges to complete the operation.",
    );
    assert!(!denied.is_backing_application_not_local());
    assert!(denied.is_permanent());
    // The message alone on another status is not the replication 403.
    assert!(
        !api(400, "X", "the backing application of the service principal being created must in the local tenant")
            .is_backing_application_not_local()
    );
}

#[test]
fn permanent_versus_transient() {
    assert!(api(400, "Request_BadRequest", "Invalid redirect URI").is_permanent());
    assert!(api(401, "InvalidAuthenticationToken", "x").is_permanent());
    assert!(!api(400, CODE_NO_BACKING_APPLICATION, "x").is_permanent());
    for status in [404, 409, 429, 500, 502, 503, 504] {
        assert!(!api(status, "X", "x").is_permanent(), "{status}");
    }
    assert!(GraphError::Config("x".into()).is_permanent());
    assert!(GraphError::Auth(AuthError::Config("x".into())).is_permanent());
    assert!(!GraphError::Auth(AuthError::Token("x".into())).is_permanent());
    assert!(
        !GraphError::Decode {
            endpoint: "e".into(),
            message: "m".into()
        }
        .is_permanent()
    );
}

#[test]
fn ambiguous_outcomes() {
    for status in [500, 502, 503, 504] {
        assert!(api(status, "X", "x").is_ambiguous(), "{status}");
    }
    for status in [400, 401, 403, 404, 409, 429] {
        assert!(!api(status, "X", "x").is_ambiguous(), "{status}");
    }
    // A success whose body we could not read: the create happened.
    assert!(
        GraphError::Decode {
            endpoint: "e".into(),
            message: "m".into()
        }
        .is_ambiguous()
    );
    assert!(!GraphError::Config("x".into()).is_ambiguous());
    assert!(!GraphError::Auth(AuthError::Token("x".into())).is_ambiguous());
}

#[tokio::test]
async fn transport_errors_ambiguous_only_once_sent() {
    // Connection refused: nothing reached a server, safe to send again.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let refused = reqwest::Client::new()
        .post(format!("http://{addr}/x"))
        .send()
        .await
        .unwrap_err();
    let e = GraphError::Transport(refused);
    assert!(e.is_retryable());
    assert!(!e.is_ambiguous());

    // A server that reads the request and times out answering: it may have acted on it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = tokio::io::AsyncReadExt::read(&mut sock, &mut buf).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let timed_out = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap()
        .post(format!("http://{addr}/x"))
        .body("{}")
        .send()
        .await
        .unwrap_err();
    assert!(timed_out.is_timeout());
    let e = GraphError::Transport(timed_out);
    assert!(e.is_retryable());
    assert!(e.is_ambiguous());
    server.abort();
}

#[test]
fn long_messages_are_truncated() {
    let msg = "é".repeat(600);
    let body = format!(r#"{{"error":{{"code":"X","message":"{msg}"}}}}"#);
    let e = decode_api_error(400, body.as_bytes(), None, None);
    match e {
        GraphError::Api { message, .. } => assert!(message.len() <= MAX_MESSAGE + 4),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn too_many_app_passwords_is_transient_and_reported_as_the_secret_limit() {
    // The emulator's (and Graph's observed) answer to a third client secret on a personal-account app.
    let e = api(
        400,
        CODE_TOO_MANY_APP_PASSWORDS,
        "Not allowed to add 3 passwords. You can only add a maximum of 2 passwords.",
    );
    assert!(e.is_too_many_app_passwords());
    assert!(
        !e.is_permanent(),
        "a slot frees: re-read and re-plan, not the long backoff"
    );
    assert!(
        !e.is_retryable(),
        "never retried blindly: addPassword is not idempotent"
    );
    assert!(!e.is_ambiguous());
    assert_eq!(e.reason(), "SecretLimitReached");
    // Recognised by its message when the code is generic.
    let e = api(
        400,
        "Request_BadRequest",
        "Not allowed to add 3 passwords. You can only add a maximum of 2 passwords.",
    );
    assert!(e.is_too_many_app_passwords());
    assert!(!e.is_permanent());
    // Any other 400 stays permanent.
    let other = api(400, "Request_BadRequest", "Property x is invalid.");
    assert!(!other.is_too_many_app_passwords());
    assert!(other.is_permanent());
    assert_eq!(other.reason(), "GraphBadRequest");
}
