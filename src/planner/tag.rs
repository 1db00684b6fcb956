//! The displayName tag that marks a password credential as minted by us for one CR.
//!
//! Format: `entramail:<cr-uid>:<sequence>`. The UID makes credentials recognisable after a crash between
//! addPassword and the Secret write (an orphan), and keeps us away from credentials we did not mint.

const PREFIX: &str = "entramail:";

/// The tag to put into a new credential's displayName.
pub fn credential_tag(uid: &str, sequence: u64) -> String {
    format!("{PREFIX}{uid}:{sequence}")
}

/// The sequence number if `display_name` is our tag for `uid`; `None` for anything else (foreign or untagged).
pub fn parse_tag(display_name: Option<&str>, uid: &str) -> Option<u64> {
    let rest = display_name?.strip_prefix(PREFIX)?;
    let (tag_uid, seq) = rest.rsplit_once(':')?;
    if tag_uid.is_empty() || tag_uid != uid {
        return None;
    }
    seq.parse().ok()
}

/// Whether `display_name` is our tag for `uid`.
pub fn is_ours(display_name: Option<&str>, uid: &str) -> bool {
    parse_tag(display_name, uid).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = credential_tag("abc-123", 7);
        assert_eq!(t, "entramail:abc-123:7");
        assert_eq!(parse_tag(Some(&t), "abc-123"), Some(7));
    }

    #[test]
    fn foreign_and_malformed_are_not_ours() {
        assert_eq!(parse_tag(Some("entramail:other:1"), "abc"), None);
        assert_eq!(parse_tag(Some("manual secret"), "abc"), None);
        assert_eq!(parse_tag(None, "abc"), None);
        assert_eq!(parse_tag(Some("entramail:abc:x"), "abc"), None);
        assert_eq!(parse_tag(Some("entramail:abc"), "abc"), None);
        assert_eq!(parse_tag(Some("entramail::1"), ""), None);
        assert!(!is_ours(Some("xentramail:abc:1"), "abc"));
    }
}
