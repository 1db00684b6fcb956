//! Retry delay after failures: exponential from a base, capped; a server's Retry-After wins.

use std::time::Duration;

/// Backoff parameters; tests use tiny values so they run fast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(5),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// Delay before the next attempt after `failed_attempts` consecutive failures (1 = first failure).
    /// `retry_after` (e.g. from a 429) wins over the computed delay, still capped so a hostile value cannot park us.
    pub fn delay(&self, failed_attempts: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(self.max).max(Duration::from_millis(1));
        }
        let exp = failed_attempts.saturating_sub(1).min(30);
        let factor = 1u32 << exp;
        self.base.saturating_mul(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b() -> Backoff {
        Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }

    #[test]
    fn grows_exponentially_then_caps() {
        let b = b();
        assert_eq!(b.delay(1, None), Duration::from_secs(1));
        assert_eq!(b.delay(2, None), Duration::from_secs(2));
        assert_eq!(b.delay(3, None), Duration::from_secs(4));
        assert_eq!(b.delay(7, None), Duration::from_secs(60));
        assert_eq!(b.delay(u32::MAX, None), Duration::from_secs(60));
        assert_eq!(b.delay(0, None), Duration::from_secs(1));
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let b = b();
        assert_eq!(
            b.delay(5, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(60)
        );
    }

    proptest::proptest! {
        #[test]
        fn never_exceeds_cap(n in 0u32..100, ra in proptest::option::of(0u64..100_000)) {
            let d = b().delay(n, ra.map(Duration::from_secs));
            proptest::prop_assert!(d <= Duration::from_secs(60));
            proptest::prop_assert!(d > Duration::ZERO);
        }
    }
}
