use super::*;

#[test]
fn well_known_clouds() {
    let c = Cloud::AzurePublic;
    assert_eq!(
        c.authority_host().as_str(),
        "https://login.microsoftonline.com/"
    );
    assert_eq!(c.graph_base().as_str(), "https://graph.microsoft.com/v1.0");
    assert_eq!(c.graph_scope(), "https://graph.microsoft.com/.default");
    assert_eq!(
        Cloud::AzureUSGovernment.graph_scope(),
        "https://graph.microsoft.us/.default"
    );
    assert_eq!(
        Cloud::AzureChina.authority_host().as_str(),
        "https://login.chinacloudapi.cn/"
    );
}

#[test]
fn custom_cloud() {
    let c = Cloud::Custom {
        authority_host: Url::parse("https://127.0.0.1:8443").unwrap(),
        graph_endpoint: Url::parse("https://127.0.0.1:8443/").unwrap(),
    };
    assert_eq!(c.graph_base().as_str(), "https://127.0.0.1:8443/v1.0");
    assert_eq!(c.graph_scope(), "https://127.0.0.1:8443/.default");
    match c.azure_configuration() {
        CloudConfiguration::Custom(custom) => {
            assert_eq!(custom.authority_host, "https://127.0.0.1:8443")
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn certificate_auth_rejects_pkcs12_and_keyless_pem() {
    let build = |material: &str| {
        let method = AuthMethod::ClientCertificate {
            client_id: "c".into(),
            certificate_pem_or_pkcs12: SecretText::new(material),
            password: None,
        };
        credential("tenant", &Cloud::AzurePublic, &method, None)
            .err()
            .map(|e| e.to_string())
    };
    // PKCS#12 is binary (here: its DER SEQUENCE start); the error names PEM as the supported format.
    assert!(matches!(build("0\u{82}\u{a}"), Some(m) if m.contains("PKCS#12") && m.contains("PEM")));
    assert!(
        matches!(build("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), Some(m) if m.contains("PRIVATE KEY"))
    );
}

#[test]
fn auth_method_debug_redacts_secret() {
    let m = AuthMethod::ClientSecret {
        client_id: "c".into(),
        secret: SecretText::new("s3cr3t"),
    };
    assert!(!format!("{m:?}").contains("s3cr3t"));
}

#[tokio::test]
async fn client_secret_credential_builds_for_custom_cloud() {
    let cloud = Cloud::Custom {
        authority_host: Url::parse("https://login.example.test").unwrap(),
        graph_endpoint: Url::parse("https://graph.example.test").unwrap(),
    };
    let method = AuthMethod::ClientSecret {
        client_id: "c".into(),
        secret: SecretText::new("s"),
    };
    assert!(credential("tenant-1", &cloud, &method, None).is_ok());
}
