//! Certificate client credentials: registered certificates and real verification of the client assertions
//! signed with them (Entra "certificate credentials",
//! <https://learn.microsoft.com/entra/identity-platform/certificate-credentials>). The documented form is PS256
//! with `x5t#S256` (base64url SHA-256 of the certificate's DER); the older RS256 with a SHA-1 `x5t` is still
//! accepted by Entra, so both are accepted here.

use crate::EmulatorError;
use crate::error::AadError;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rcgen::{CertificateParams, DnType, KeyPair, PKCS_RSA_SHA256, date_time_ymd};
use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256, digest};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use serde::Deserialize;

/// A certificate an app registration may sign client assertions with.
#[derive(Debug, Clone)]
pub(crate) struct RegisteredCertificate {
    der: CertificateDer<'static>,
    /// base64url SHA-1 of the DER (`x5t`).
    x5t: String,
    /// base64url SHA-256 of the DER (`x5t#S256`).
    x5t_s256: String,
}

impl RegisteredCertificate {
    /// The first CERTIFICATE block of `pem`.
    pub fn from_pem(pem: &str) -> Result<Self, EmulatorError> {
        let der = CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| EmulatorError::ClientCertificate(format!("no PEM certificate: {e}")))?;
        webpki::EndEntityCert::try_from(&der).map_err(|e| {
            EmulatorError::ClientCertificate(format!("unparsable certificate: {e}"))
        })?;
        Ok(RegisteredCertificate {
            x5t: URL_SAFE_NO_PAD.encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, der.as_ref())),
            x5t_s256: URL_SAFE_NO_PAD.encode(digest(&SHA256, der.as_ref())),
            der,
        })
    }
}

/// A self-signed RSA certificate (PEM) for the PKCS#8 RSA key `pkcs8_der`, for tests of certificate auth.
/// (ring, the emulator's crypto, cannot generate RSA keys, so the caller brings one.)
pub fn self_signed_rsa_certificate(
    pkcs8_der: &[u8],
    common_name: &str,
) -> Result<String, EmulatorError> {
    let key = KeyPair::from_pkcs8_der_and_sign_algo(
        &PrivatePkcs8KeyDer::from(pkcs8_der.to_vec()),
        &PKCS_RSA_SHA256,
    )?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2099, 12, 31);
    Ok(params.self_signed(&key)?.pem())
}

#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    x5t: Option<String>,
    #[serde(rename = "x5t#S256")]
    x5t_s256: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    aud: Option<String>,
    iss: Option<String>,
    sub: Option<String>,
}

/// Whether `jwt`'s header names a certificate (`x5t` / `x5t#S256`): a certificate credential rather than a
/// federated token.
pub(crate) fn names_certificate(jwt: &str) -> bool {
    jwt.split('.')
        .next()
        .and_then(|h| decode::<Header>(h).ok())
        .is_some_and(|h| h.x5t.is_some() || h.x5t_s256.is_some())
}

fn decode<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, ()> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| ())?;
    serde_json::from_slice(&bytes).map_err(|_| ())
}

/// Normalises a thumbprint sent as base64 or base64url, padded or not (azure_identity's OpenSSL credential
/// sends padded standard base64, the documented form is base64url).
fn normalise(thumbprint: &str) -> String {
    thumbprint
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

fn rejected(message: String) -> AadError {
    AadError::new(StatusCode::UNAUTHORIZED, "invalid_client", 700027, message)
}

/// The form of an accepted certificate assertion: `"<alg> <thumbprint header>"`, e.g. `"PS256 x5t#S256"`.
pub(crate) type AssertionForm = String;

/// Verifies a certificate client assertion as Entra does: the certificate named by the header is registered,
/// the PS256 or RS256 signature verifies with its key, `aud` is this token endpoint, `iss` = `sub` = the client
/// ID. Expiry is checked by the caller. Returns the assertion's form, for tests to check what a client sent.
pub(crate) fn verify(
    jwt: &str,
    certificates: &[RegisteredCertificate],
    client_id: &str,
    audience: Option<&str>,
) -> Result<AssertionForm, AadError> {
    let malformed = || {
        AadError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50027,
            "JWT token is invalid or malformed.".to_string(),
        )
    };
    let parts: Vec<&str> = jwt.trim().split('.').collect();
    let [header_b64, claims_b64, signature_b64] = parts[..] else {
        return Err(malformed());
    };
    let header: Header = decode(header_b64).map_err(|_| malformed())?;
    let claims: Claims = decode(claims_b64).map_err(|_| malformed())?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64.trim_end_matches('='))
        .map_err(|_| malformed())?;
    // PS256: RSASSA-PSS with SHA-256 (salt length 32, RFC 7518 3.5) on an ordinary rsaEncryption key, hence
    // webpki's "legacy key" variant. RS256: RSASSA-PKCS1-v1_5 with SHA-256.
    let algorithm: &dyn rustls::pki_types::SignatureVerificationAlgorithm =
        match header.alg.as_deref() {
            Some("PS256") => webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
            Some("RS256") => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
            other => {
                return Err(rejected(format!(
                    "Client assertion uses unsupported algorithm '{}'; expected PS256 or RS256.",
                    other.unwrap_or_default()
                )));
            }
        };
    let x5t = header.x5t.as_deref().map(normalise);
    let x5t_s256 = header.x5t_s256.as_deref().map(normalise);
    let thumbprint = x5t.clone().or(x5t_s256.clone()).unwrap_or_default();
    let certificate = certificates
        .iter()
        .find(|c| {
            x5t.as_deref() == Some(c.x5t.as_str())
                || x5t_s256.as_deref() == Some(c.x5t_s256.as_str())
        })
        .ok_or_else(|| {
            rejected(format!(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{client_id}'.]"
            ))
        })?;
    let end_entity = webpki::EndEntityCert::try_from(&certificate.der)
        .map_err(|_| rejected("Client assertion failed signature validation.".to_string()))?;
    let signing_input = &jwt.trim()[..header_b64.len() + 1 + claims_b64.len()];
    end_entity
        .verify_signature(algorithm, signing_input.as_bytes(), &signature)
        .map_err(|_| rejected("Client assertion failed signature validation.".to_string()))?;
    if let Some(expected) = audience
        && claims.aud.as_deref() != Some(expected)
    {
        return Err(rejected(format!(
            "Client assertion audience claim does not match Realm issuer. Expected '{expected}', got '{}'.",
            claims.aud.unwrap_or_default()
        )));
    }
    if claims.iss.as_deref() != Some(client_id) || claims.sub.as_deref() != Some(client_id) {
        return Err(rejected(format!(
            "Client assertion issuer and subject must both be the client ID '{client_id}'."
        )));
    }
    // The thumbprint that matched names the form (a header may carry both).
    let named_by = if x5t_s256.as_deref() == Some(certificate.x5t_s256.as_str()) {
        "x5t#S256"
    } else {
        "x5t"
    };
    Ok(format!("{} {named_by}", header.alg.unwrap_or_default()))
}
