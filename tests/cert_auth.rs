//! Client-certificate authentication against the emulator, which verifies the assertions for real
//! (thumbprint, PS256 or RS256 signature, audience, issuer/subject, expiry).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use entramail_operator::auth::{self, AuthError, AuthMethod, Cloud, SecretText};
use entramail_operator::graph::{GraphClient, GraphConfig};
use graph_emulator::{Emulator, self_signed_rsa_certificate};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use url::Url;

const TENANT: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT: &str = "cert-client-id";

/// An RSA key with its self-signed certificate.
struct TestCert {
    key: KeyPair,
    key_pem: String,
    cert_pem: String,
}

fn test_cert(cn: &str) -> TestCert {
    let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key).unwrap();
    let cert_pem = self_signed_rsa_certificate(pkcs8.as_ref(), cn).unwrap();
    let key_pem = pem_block("PRIVATE KEY", pkcs8.as_ref());
    TestCert {
        key,
        key_pem,
        cert_pem,
    }
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn cloud(emu: &Emulator) -> Cloud {
    let base = Url::parse(&emu.base_url()).unwrap();
    Cloud::Custom {
        authority_host: base.clone(),
        graph_endpoint: base,
    }
}

fn certificate_method(pem: String) -> AuthMethod {
    AuthMethod::ClientCertificate {
        client_id: CLIENT.into(),
        certificate_pem_or_pkcs12: SecretText::new(pem),
        password: None,
    }
}

#[tokio::test]
async fn certificate_credential_gets_a_token_graph_accepts() {
    let emu = Emulator::start().await.unwrap();
    let registered = test_cert("entramail operator");
    let unrelated = test_cert("some CA");
    emu.handle()
        .register_certificate_client(TENANT, CLIENT, &registered.cert_pem)
        .unwrap();

    // Key first and an unrelated certificate ahead of ours: the certificate matching the key is picked.
    let pem = format!(
        "{}{}{}",
        registered.key_pem, unrelated.cert_pem, registered.cert_pem
    );
    let method = certificate_method(pem);
    assert!(!format!("{method:?}").contains(&registered.key_pem[40..80]));
    let ca = emu.ca_pem();
    let credential = auth::credential(TENANT, &cloud(&emu), &method, Some(&ca)).unwrap();
    let token = credential.token().await.unwrap();
    assert!(!token.token.is_empty());
    assert!(token.expires_on > Utc::now());
    // The documented form (certificate-credentials doc): PS256 naming the certificate by x5t#S256, and only it.
    let forms = emu.handle().certificate_assertions();
    assert_eq!(
        forms.keys().collect::<Vec<_>>(),
        ["PS256 x5t#S256"],
        "{forms:?}"
    );

    let mut cfg = GraphConfig::new(Url::parse(&emu.graph_url()).unwrap(), credential);
    cfg.extra_ca_pem = Some(ca);
    let graph = GraphClient::new(cfg).unwrap();
    assert!(
        graph
            .get_application_by_unique_name("x")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn certificate_of_another_key_is_refused() {
    let emu = Emulator::start().await.unwrap();
    let registered = test_cert("registered");
    let other = test_cert("other");
    emu.handle()
        .register_certificate_client(TENANT, CLIENT, &registered.cert_pem)
        .unwrap();
    let method = certificate_method(format!("{}{}", other.cert_pem, other.key_pem));
    let credential = auth::credential(TENANT, &cloud(&emu), &method, Some(&emu.ca_pem())).unwrap();
    let err = credential.token().await.unwrap_err();
    assert!(matches!(err, AuthError::Token(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("AADSTS700027"), "{message}");
    assert!(message.contains("not registered"), "{message}");
}

#[tokio::test]
async fn pem_whose_key_matches_no_certificate_is_a_config_error() {
    let a = test_cert("a");
    let b = test_cert("b");
    let method = certificate_method(format!("{}{}", a.cert_pem, b.key_pem));
    let err = auth::credential(TENANT, &Cloud::AzurePublic, &method, None)
        .err()
        .unwrap();
    assert!(matches!(err, AuthError::Config(m) if m.contains("matches the private key")));
}

/// The emulator's token endpoint with one certificate client registered, for hand-made assertions.
struct TokenEndpoint {
    emu: Emulator,
    registered: TestCert,
    other: TestCert,
    endpoint: String,
    scope: String,
    http: reqwest::Client,
}

impl TokenEndpoint {
    async fn start() -> Self {
        let emu = Emulator::start().await.unwrap();
        let registered = test_cert("registered");
        emu.handle()
            .register_certificate_client(TENANT, CLIENT, &registered.cert_pem)
            .unwrap();
        let base = emu.base_url().trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .tls_certs_merge(
                reqwest::Certificate::from_pem_bundle(emu.ca_pem().as_bytes()).unwrap(),
            )
            .build()
            .unwrap();
        Self {
            endpoint: format!("{base}/{TENANT}/oauth2/v2.0/token"),
            scope: format!("{base}/.default"),
            emu,
            registered,
            other: test_cert("other"),
            http,
        }
    }

    fn cert_der(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(self.registered.cert_pem.as_bytes()).unwrap()
    }

    /// A client-credentials request with `assertion`: (status, JSON body).
    async fn post(&self, assertion: String) -> (u16, serde_json::Value) {
        let response = self
            .http
            .post(&self.endpoint)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT),
                ("scope", &self.scope),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &assertion),
            ])
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}

/// Hand-made assertions posted straight to the token endpoint: the emulator checks the signature, not just
/// the thumbprint, and the audience.
#[tokio::test]
async fn emulator_verifies_signature_and_audience() {
    // Long on purpose: one valid RS256 assertion and each way to break it.
    let t = TokenEndpoint::start().await;
    let (emu, registered, other, endpoint) = (&t.emu, &t.registered, &t.other, &t.endpoint);
    let sha1 = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        t.cert_der().as_ref(),
    );
    let post = |assertion: String| t.post(assertion);
    let now = Utc::now().timestamp();
    let claims = |aud: &str| serde_json::json!({"aud": aud, "iss": CLIENT, "sub": CLIENT, "jti": "j", "nbf": now, "iat": now, "exp": now + 600});
    // azure_identity's OpenSSL credential sends the thumbprint as padded standard base64: accepted too.
    let x5t_standard = STANDARD.encode(sha1.as_ref());
    let x5t_url = URL_SAFE_NO_PAD.encode(sha1.as_ref());

    let (status, body) = post(sign(&registered.key, &x5t_standard, &claims(endpoint))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(emu.handle().certificate_assertions()["RS256 x5t"], 1);

    // Claims the registered certificate, signed with another key.
    let (status, body) = post(sign(&other.key, &x5t_url, &claims(endpoint))).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
    let description = body["error_description"].as_str().unwrap();
    assert!(description.starts_with("AADSTS700027"), "{description}");
    assert!(
        description.contains("signature validation"),
        "{description}"
    );

    // Right key, wrong audience.
    let (status, body) = post(sign(
        &registered.key,
        &x5t_url,
        &claims("https://login.microsoftonline.com/x/oauth2/v2.0/token"),
    ))
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("audience")
    );
}

/// PS256 (the documented form) against the emulator: a good signature is accepted and recorded as such; one
/// by another key, a tampered one, and a PKCS#1 v1.5 signature under `alg: PS256` are all refused.
#[tokio::test]
async fn emulator_verifies_ps256_assertions() {
    // Long on purpose: one valid PS256 assertion and each way to break it.
    let t = TokenEndpoint::start().await;
    let (emu, registered, other, endpoint) = (&t.emu, &t.registered, &t.other, &t.endpoint);
    let x5t_s256 = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        t.cert_der().as_ref(),
    ));
    let post = |assertion: String| t.post(assertion);
    let now = Utc::now().timestamp();
    let claims = serde_json::json!({"aud": endpoint, "iss": CLIENT, "sub": CLIENT, "jti": "j", "nbf": now, "iat": now, "exp": now + 600});
    let header = serde_json::json!({"alg": "PS256", "typ": "JWT", "x5t#S256": x5t_s256});
    let refused = |status: u16, body: &serde_json::Value| {
        assert_eq!(status, 401, "{body}");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.starts_with("AADSTS700027"), "{description}");
        assert!(
            description.contains("signature validation"),
            "{description}"
        );
    };

    let good = sign_with(&registered.key, &RSA_PSS_SHA256, &header, &claims);
    let (status, body) = post(good.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(emu.handle().certificate_assertions()["PS256 x5t#S256"], 1);

    // Another key, claiming the registered certificate.
    let (status, body) = post(sign_with(&other.key, &RSA_PSS_SHA256, &header, &claims)).await;
    refused(status, &body);

    // The good assertion with one signature bit flipped.
    let (input, signature) = good.rsplit_once('.').unwrap();
    let mut signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    signature[10] ^= 0x01;
    let tampered = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));
    let (status, body) = post(tampered).await;
    refused(status, &body);

    // A valid RS256 signature labelled PS256: the algorithm in the header is the one verified.
    let (status, body) = post(sign_with(
        &registered.key,
        &RSA_PKCS1_SHA256,
        &header,
        &claims,
    ))
    .await;
    refused(status, &body);

    assert_eq!(
        emu.handle().certificate_assertions().values().sum::<u64>(),
        1,
        "only the good assertion was accepted"
    );
}

fn sign(key: &KeyPair, x5t: &str, claims: &serde_json::Value) -> String {
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5t": x5t});
    sign_with(key, &RSA_PKCS1_SHA256, &header, claims)
}

fn sign_with(
    key: &KeyPair,
    encoding: &'static dyn RsaEncoding,
    header: &serde_json::Value,
    claims: &serde_json::Value,
) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        encoding,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}
