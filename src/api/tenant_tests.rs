use super::*;
use serde_json::json;

fn spec(v: serde_json::Value) -> EntraTenantSpec {
    serde_json::from_value(v).unwrap()
}

#[test]
fn defaults_and_well_known_endpoints() {
    let s = spec(json!({ "tenantId": "11111111-2222-3333-4444-555555555555",
                         "auth": { "workloadIdentity": { "clientId": "66666666-7777-8888-9999-000000000000" } } }));
    assert_eq!(s.cloud, Cloud::AzurePublic);
    assert_eq!(
        s.resolved_endpoints().unwrap().authority_host,
        "https://login.microsoftonline.com"
    );
    match s.auth.method().unwrap() {
        AuthMethod::WorkloadIdentity(w) => {
            assert_eq!(w.token_file, DEFAULT_WORKLOAD_IDENTITY_TOKEN_FILE)
        }
        other => panic!("unexpected {other:?}"),
    }
    let cn = EntraTenantSpec {
        cloud: Cloud::AzureChina,
        ..s.clone()
    };
    assert_eq!(
        cn.resolved_endpoints().unwrap().graph_endpoint,
        "https://microsoftgraph.chinacloudapi.cn"
    );
    let us: Cloud = serde_json::from_value(json!("AzureUSGovernment")).unwrap();
    assert_eq!(
        us.well_known_endpoints().unwrap().graph_endpoint,
        "https://graph.microsoft.us"
    );
    let custom = EntraTenantSpec {
        cloud: Cloud::Custom,
        ..s
    };
    assert_eq!(
        custom.resolved_endpoints(),
        Err(TenantSpecError::MissingEndpoints)
    );
}

#[test]
fn auth_method_requires_exactly_one() {
    assert_eq!(
        TenantAuth::default().method(),
        Err(TenantSpecError::AuthMethodCount(0))
    );
    let two = TenantAuth {
        managed_identity: Some(ManagedIdentityAuth::default()),
        workload_identity: Some(WorkloadIdentityAuth {
            client_id: "x".into(),
            token_file: "f".into(),
        }),
        ..TenantAuth::default()
    };
    assert_eq!(two.method(), Err(TenantSpecError::AuthMethodCount(2)));
}

#[test]
fn namespace_allow_list() {
    let base = spec(
        json!({ "tenantId": "11111111-2222-3333-4444-555555555555", "auth": { "managedIdentity": {} } }),
    );
    let none = BTreeMap::new();
    assert!(
        base.allows_namespace("anything", &none).unwrap(),
        "absent allowedNamespaces allows all"
    );

    let names_only = EntraTenantSpec {
        allowed_namespaces: Some(AllowedNamespaces {
            names: vec!["a".into()],
            selector: None,
        }),
        ..base.clone()
    };
    assert!(names_only.allows_namespace("a", &none).unwrap());
    assert!(!names_only.allows_namespace("b", &none).unwrap());

    let sel: LabelSelector = serde_json::from_value(json!({
        "matchExpressions": [{ "key": "team", "operator": "In", "values": ["mail"] }]
    }))
    .unwrap();
    let by_label = EntraTenantSpec {
        allowed_namespaces: Some(AllowedNamespaces {
            names: vec![],
            selector: Some(sel),
        }),
        ..base
    };
    let labels: BTreeMap<String, String> = [("team".to_owned(), "mail".to_owned())].into();
    assert!(by_label.allows_namespace("b", &labels).unwrap());
    assert!(!by_label.allows_namespace("b", &none).unwrap());
}
