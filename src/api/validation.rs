//! Regexes and CEL rules shared by both custom resources. The apiserver enforces them
//! (readable messages via CEL); the same regexes document the contract for Rust callers.

use kube::core::{Message, Rule};

/// A GUID in its canonical 8-4-4-4-12 form, any hex case.
pub const GUID_REGEX: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// A DNS-1123 subdomain (what Kubernetes requires for most object names, e.g. Secrets).
/// `[.]` instead of `\.` so that the same text is valid inside a CEL string literal.
pub const DNS1123_SUBDOMAIN_REGEX: &str =
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// A DNS-1123 label (Deployment/StatefulSet names, namespace names).
pub const DNS1123_LABEL_REGEX: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// A valid key inside a Secret's `data`.
pub const SECRET_KEY_REGEX: &str = "^[-._a-zA-Z0-9]+$";
/// An https URL, or http on the loopback host only (what Entra accepts for redirect URIs).
pub const SECURE_URL_REGEX: &str =
    "^(https://[^/:?# ]+|http://(localhost|127[.]0[.]0[.]1))(:[0-9]{1,5})?(/[^ #]*)?$";
/// An https URL without query or fragment (custom cloud endpoints).
pub const HTTPS_URL_REGEX: &str = "^https://[^/:?# ]+(:[0-9]{1,5})?(/[^ ?#]*)?$";

/// CEL: the string is a GUID.
pub fn guid_rule(what: &str) -> Rule {
    Rule::new(format!("self.matches('{GUID_REGEX}')")).message(Message::Message(format!(
        "{what} must be a GUID like 00000000-0000-0000-0000-000000000000"
    )))
}

/// CEL: the string is a DNS-1123 subdomain of at most 253 characters.
pub fn dns1123_subdomain_rule(what: &str) -> Rule {
    Rule::new(format!("size(self) <= 253 && self.matches('{DNS1123_SUBDOMAIN_REGEX}')")).message(Message::Message(format!(
        "{what} must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters"
    )))
}

/// CEL: https, or http only for localhost/127.0.0.1.
pub fn secure_url_rule(what: &str) -> Rule {
    Rule::new(format!("self.matches('{SECURE_URL_REGEX}')")).message(Message::Message(format!(
        "{what} must start with https:// (http:// is only allowed for localhost and 127.0.0.1)"
    )))
}

/// CEL: an https URL.
pub fn https_url_rule(what: &str) -> Rule {
    Rule::new(format!("self.matches('{HTTPS_URL_REGEX}')")).message(Message::Message(format!(
        "{what} must be an https:// URL without query or fragment"
    )))
}

/// CEL: a field that cannot change after creation.
pub fn immutable_rule(what: &str) -> Rule {
    Rule::new("self == oldSelf").message(Message::Message(format!("{what} is immutable")))
}
