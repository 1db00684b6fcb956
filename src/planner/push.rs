//! The NocoBase push (spec.rotation.nocobasePush): whether the credential the Secret holds still has to be pushed,
//! and what a pending push means for revoking the previous credential. No IO.

/// Where the push of the credential the Secret holds stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// No push configured: only consumers and the overlap decide when the previous credential goes.
    NotConfigured,
    /// Configured, and the credential the Secret holds has not been pushed successfully yet.
    Pending,
    /// Configured, and the credential the Secret holds was pushed.
    Done,
}

/// The push state for the credential the Secret holds (`secret_key`, None when it holds none) given the keyId
/// last pushed successfully.
pub fn state(configured: bool, secret_key: Option<&str>, pushed: Option<&str>) -> Push {
    match (configured, secret_key) {
        (false, _) => Push::NotConfigured,
        (true, Some(k)) if pushed == Some(k) => Push::Done,
        (true, _) => Push::Pending,
    }
}

/// The keyId to push now, if any: the credential the Secret holds after this reconcile's writes, unless it was
/// already pushed. Once per credential: steady state and restarts push nothing.
pub fn to_push<'a>(
    configured: bool,
    secret_key: Option<&'a str>,
    pushed: Option<&str>,
) -> Option<&'a str> {
    (state(configured, secret_key, pushed) == Push::Pending)
        .then_some(secret_key)
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_configured_never_pushes() {
        assert_eq!(state(false, Some("k1"), None), Push::NotConfigured);
        assert_eq!(to_push(false, Some("k1"), None), None);
    }

    #[test]
    fn new_credential_is_pushed_once() {
        assert_eq!(state(true, Some("k1"), None), Push::Pending);
        assert_eq!(to_push(true, Some("k1"), None), Some("k1"));
        // After success the status records k1: nothing more to do (steady state, restart).
        assert_eq!(state(true, Some("k1"), Some("k1")), Push::Done);
        assert_eq!(to_push(true, Some("k1"), Some("k1")), None);
        // Rotation: the Secret holds k2.
        assert_eq!(state(true, Some("k2"), Some("k1")), Push::Pending);
        assert_eq!(to_push(true, Some("k2"), Some("k1")), Some("k2"));
    }

    #[test]
    fn nothing_to_push_without_a_credential_in_the_secret() {
        assert_eq!(state(true, None, Some("k1")), Push::Pending);
        assert_eq!(to_push(true, None, Some("k1")), None);
        assert_eq!(to_push(true, None, None), None);
    }
}
