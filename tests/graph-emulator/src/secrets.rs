//! Random identifiers and secret material shaped like Entra's.

use rand::Rng;

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Entra client secrets use this URL-safe alphabet.
const SECRET_ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~-";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn pick(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

/// A 40-character client secret like Entra's (`abc8Q~...`): its first three characters form the hint.
pub(crate) fn secret_text() -> String {
    format!("{}8Q~{}", pick(ALNUM, 3), pick(SECRET_ALPHABET, 34))
}

/// An opaque bearer token; clients must not parse access tokens, so it is not a JWT.
pub(crate) fn access_token() -> String {
    format!("emu.{}", pick(ALNUM, 60))
}

/// oauth2PermissionGrant ids are 43-character base64url strings, not GUIDs.
pub(crate) fn grant_id() -> String {
    pick(B64URL, 43)
}

pub(crate) fn guid() -> String {
    uuid::Uuid::new_v4().to_string()
}
