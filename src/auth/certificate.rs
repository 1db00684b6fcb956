//! Client-certificate authentication without OpenSSL.
//!
//! Entra's certificate credential is a JWT client assertion signed with the certificate's private key. The
//! current documented form is PS256 (RSASSA-PSS, SHA-256) naming the certificate by the base64url SHA-256
//! thumbprint of its DER (`x5t#S256`); the older RS256 + SHA-1 `x5t` form is still accepted by Entra but no longer
//! the documented one, see <https://learn.microsoft.com/entra/identity-platform/certificate-credentials>. azure_identity's own
//! `ClientCertificateCredential` needs OpenSSL, which the static musl image avoids, so we build the assertion
//! here with aws-lc-rs (already linked for rustls) and hand it to `ClientAssertionCredential`.

use super::AuthError;
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair as _, RSA_PSS_SHA256, RsaKeyPair};
use azure_core::error::ErrorKind;
use azure_core::http::ClientMethodOptions;
use azure_identity::ClientAssertion;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use url::Url;

/// Assertions are good for this long; Entra recommends 5-10 minutes past `nbf`.
const ASSERTION_LIFETIME_SECS: i64 = 600;

/// Signs fresh client assertions for one app registration. `Debug` shows only the client ID and thumbprint.
pub(super) struct CertificateAssertion {
    client_id: String,
    audience: String,
    /// base64url of the header JSON: fixed for the certificate.
    header: String,
    thumbprint: String,
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl fmt::Debug for CertificateAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAssertion")
            .field("client_id", &self.client_id)
            .field("x5t#S256", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

impl CertificateAssertion {
    /// `pem` holds an RSA private key (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`) and its certificate,
    /// optionally followed by the chain; the certificate whose public key matches the key is used.
    pub(super) fn from_pem(
        pem: &str,
        client_id: &str,
        tenant_id: &str,
        authority_host: &Url,
    ) -> Result<Self, AuthError> {
        if !pem.contains("-----BEGIN") {
            return Err(AuthError::Unsupported(
                "client certificate is not PEM (PKCS#12 is not supported): store the certificate and its \
                 unencrypted private key as PEM (CERTIFICATE and PRIVATE KEY blocks) in the Secret key"
                    .into(),
            ));
        }
        let key = private_key(pem.as_bytes())?;
        let public_key = key.public_key().as_ref();
        let mut certificates = Vec::new();
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|_| {
                AuthError::Config("client certificate: a CERTIFICATE block is not valid PEM".into())
            })?;
            certificates.push(cert);
        }
        if certificates.is_empty() {
            return Err(AuthError::Config(
                "client certificate: the PEM has no CERTIFICATE block".into(),
            ));
        }
        // The key's PKCS#1 public key appears verbatim in its certificate's SubjectPublicKeyInfo, and nowhere
        // else in a chain (a certificate carries its issuer's signature, not its issuer's key).
        let cert = certificates
            .iter()
            .find(|c| contains(c.as_ref(), public_key))
            .ok_or_else(|| {
                AuthError::Config(
                    "client certificate: no CERTIFICATE in the PEM matches the private key".into(),
                )
            })?;
        let thumbprint = URL_SAFE_NO_PAD.encode(digest(&SHA256, cert.as_ref()));
        // The documented header (see the module comment). PSS salt length = digest length, as RFC 7518 3.5
        // requires for PS256 and as aws-lc-rs's RSA_PSS_SHA256 signs.
        let header = serde_json::json!({"alg": "PS256", "typ": "JWT", "x5t#S256": thumbprint});
        Ok(Self {
            client_id: client_id.to_owned(),
            audience: token_endpoint(authority_host, tenant_id)?,
            header: URL_SAFE_NO_PAD.encode(header.to_string()),
            thumbprint,
            key,
            rng: SystemRandom::new(),
        })
    }

    /// A signed assertion valid from `now` (unix seconds) for [`ASSERTION_LIFETIME_SECS`].
    pub(super) fn sign(&self, now: i64) -> Result<String, AuthError> {
        let claims = serde_json::json!({
            "aud": self.audience,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            self.header,
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PSS_SHA256,
                &self.rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| AuthError::Token("signing the client assertion failed".into()))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

#[async_trait::async_trait]
impl ClientAssertion for CertificateAssertion {
    async fn secret(
        &self,
        _options: Option<ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        self.sign(chrono::Utc::now().timestamp())
            .map_err(|e| azure_core::Error::with_message(ErrorKind::Credential, e.to_string()))
    }
}

/// The audience Entra expects: its token endpoint, computed as azure_identity computes the URL it posts to.
fn token_endpoint(authority_host: &Url, tenant_id: &str) -> Result<String, AuthError> {
    authority_host
        .join(&format!("/{tenant_id}/oauth2/v2.0/token"))
        .map(String::from)
        .map_err(|e| AuthError::Config(format!("token endpoint for tenant {tenant_id:?}: {e}")))
}

fn private_key(pem: &[u8]) -> Result<RsaKeyPair, AuthError> {
    let not_rsa = || {
        AuthError::Config(
            "client certificate: the private key is not a valid RSA key (Entra certificate credentials are RSA)"
                .into(),
        )
    };
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(PrivateKeyDer::Pkcs8(der)) => {
            RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).map_err(|_| not_rsa())
        }
        Ok(PrivateKeyDer::Pkcs1(der)) => {
            RsaKeyPair::from_der(der.secret_pkcs1_der()).map_err(|_| not_rsa())
        }
        Ok(_) => Err(not_rsa()),
        Err(_) => Err(AuthError::Config(
            "client certificate: the PEM has no unencrypted PRIVATE KEY or RSA PRIVATE KEY block"
                .into(),
        )),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
