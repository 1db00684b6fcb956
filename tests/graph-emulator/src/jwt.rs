//! Reading client assertions (workload identity federation) without verifying them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub(crate) struct AssertionClaims {
    pub sub: Option<String>,
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum JwtError {
    #[error("the assertion is not a three-part JWT")]
    Shape,
    #[error("a JWT part is not base64url JSON")]
    Encoding,
}

/// Decodes the header and claims of a JWT.
///
/// The signature is deliberately NOT checked: the emulator has no issuer keys, and the tests exercise the
/// operator's handling of the token exchange, not JWT cryptography. Expiry and subject are checked by the caller.
pub(crate) fn decode_unverified(jwt: &str) -> Result<AssertionClaims, JwtError> {
    let parts: Vec<&str> = jwt.trim().split('.').collect();
    if parts.len() != 3 {
        return Err(JwtError::Shape);
    }
    let decode = |part: &str| -> Result<serde_json::Value, JwtError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|_| JwtError::Encoding)?;
        serde_json::from_slice(&bytes).map_err(|_| JwtError::Encoding)
    };
    let header = decode(parts[0])?;
    if header.get("alg").and_then(|a| a.as_str()).is_none() {
        return Err(JwtError::Encoding);
    }
    serde_json::from_value(decode(parts[1])?).map_err(|_| JwtError::Encoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_claims_and_rejects_garbage() {
        let enc = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let jwt = format!(
            "{}.{}.sig",
            enc(serde_json::json!({"alg":"RS256"})),
            enc(serde_json::json!({"sub":"system:serviceaccount:ns:sa","exp":42}))
        );
        let claims = decode_unverified(&jwt).unwrap();
        assert_eq!(claims.sub.as_deref(), Some("system:serviceaccount:ns:sa"));
        assert_eq!(claims.exp, Some(42));
        assert!(matches!(decode_unverified("a.b"), Err(JwtError::Shape)));
        assert!(matches!(
            decode_unverified("!!.??.x"),
            Err(JwtError::Encoding)
        ));
    }
}
