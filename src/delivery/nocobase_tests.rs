use super::variables::{VariableList, confirm_variables};
use super::*;

fn client(base: &str) -> NocoBaseClient {
    NocoBaseClient::new(
        Url::parse(base).unwrap(),
        SecretText::new("k"),
        reqwest::Client::new(),
    )
}

#[test]
fn endpoints_keep_the_base_path_and_encode_segments() {
    let c = client("http://nocobase.apps.svc:13000");
    assert_eq!(
        c.endpoint("environmentVariables", "updateOrCreate")
            .unwrap()
            .as_str(),
        "http://nocobase.apps.svc:13000/api/environmentVariables:updateOrCreate"
    );
    let c = client("https://example.com/nocobase?x=1#y");
    assert_eq!(
        c.endpoint("mailSettings", "get").unwrap().as_str(),
        "https://example.com/nocobase/api/mailSettings:get"
    );
    assert_eq!(
        c.endpoint("users/1/roles", "add").unwrap().as_str(),
        "https://example.com/nocobase/api/users/1/roles:add"
    );
    assert_eq!(
        c.endpoint("a?b#c", "get").unwrap().as_str(),
        "https://example.com/nocobase/api/a%3Fb%23c:get"
    );
}

#[tokio::test]
async fn a_base_that_is_not_http_fails_instead_of_panicking() {
    let err = client("mailto:admin@example.com")
        .variable("X")
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "DestinationNotAllowed");
}

#[test]
fn only_short_codes_are_taken_from_error_bodies() {
    let body = br#"{"errors":[{"message":"Your session has expired.","code":"INVALID_TOKEN"}]}"#;
    assert_eq!(error_code(body).as_deref(), Some("INVALID_TOKEN"));
    assert_eq!(
        error_code(br#"{"errors":[{"message":"x","code":"secret value echoed"}]}"#),
        None
    );
    assert_eq!(error_code(b"Not Found"), None);
}

#[test]
fn variable_list_parses_secret_values_as_absent() {
    let body = r#"{"data":[{"name":"A","type":"secret","value":null},{"name":"B","type":"default","value":"x"},
            {"name":"C","type":"future"}],"meta":{"updated":true}}"#;
    let list: VariableList = serde_json::from_str(body).unwrap();
    assert!(list.meta.updated);
    assert_eq!(list.data[0].type_, VariableType::Secret);
    assert_eq!(list.data[0].value, None);
    assert_eq!(list.data[1].value.as_deref(), Some("x"));
    assert_eq!(list.data[2].type_, VariableType::Other);
}

#[test]
fn confirm_variables_compares_plain_values_and_types() {
    let vars = vec![
        VariableInfo {
            name: "ID".into(),
            type_: VariableType::Default,
            value: Some("id-1".into()),
        },
        VariableInfo {
            name: "SECRET".into(),
            type_: VariableType::Secret,
            value: None,
        },
    ];
    let ok = [
        ("ID", VariableType::Default, Some("id-1")),
        ("SECRET", VariableType::Secret, None),
    ];
    assert!(confirm_variables(&vars, &ok).is_ok());
    let wrong_value = [("ID", VariableType::Default, Some("id-2"))];
    assert_eq!(
        confirm_variables(&vars, &wrong_value).unwrap_err().reason(),
        "DeliveryMismatch"
    );
    let wrong_type = [("SECRET", VariableType::Default, None)];
    assert!(
        confirm_variables(&vars, &wrong_type)
            .unwrap_err()
            .to_string()
            .contains("type secret")
    );
    let missing = [("OTHER", VariableType::Secret, None)];
    assert!(confirm_variables(&vars, &missing).is_err());
}

#[test]
fn debug_shows_no_api_key() {
    let c = NocoBaseClient::new(
        Url::parse("http://n.svc").unwrap(),
        SecretText::new("super-secret-key"),
        reqwest::Client::new(),
    );
    assert!(!format!("{c:?}").contains("super-secret-key"));
}
