//! Retry delay after failures: exponential from a base, capped; a server's Retry-After wins. Failures that
//! retrying cannot fix (a tenant policy, a bad request, a missing permission) grow to a longer cap, so a broken
//! integration costs a few Graph calls an hour, not a dozen.

use std::time::Duration;

/// Backoff parameters; tests use tiny values so they run fast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    /// Cap for transient failures (throttling, outages, replication lag).
    pub max: Duration,
    /// Cap for permanent failures (need a person: policy, permission, bad request).
    pub max_permanent: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(5),
            max: Duration::from_secs(300),
            max_permanent: Duration::from_secs(3600),
        }
    }
}

/// Whether retrying can fix a failure by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    Transient,
    Permanent,
}

impl Backoff {
    /// Delay before the next attempt after `failed_attempts` consecutive failures (1 = first failure).
    /// `retry_after` (e.g. from a 429) wins over the computed delay, still capped so a hostile value cannot park us.
    pub fn delay(
        &self,
        failed_attempts: u32,
        retry_after: Option<Duration>,
        persistence: Persistence,
    ) -> Duration {
        let cap = match persistence {
            Persistence::Transient => self.max,
            Persistence::Permanent => self.max_permanent.max(self.max),
        };
        if let Some(ra) = retry_after {
            return ra.min(cap).max(Duration::from_millis(1));
        }
        let exp = failed_attempts.saturating_sub(1).min(30);
        let factor = 1u32 << exp;
        self.base.saturating_mul(factor).min(cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use Persistence::*;

    fn b() -> Backoff {
        Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
            max_permanent: Duration::from_secs(3600),
        }
    }

    #[test]
    fn grows_exponentially_then_caps() {
        let b = b();
        assert_eq!(b.delay(1, None, Transient), Duration::from_secs(1));
        assert_eq!(b.delay(2, None, Transient), Duration::from_secs(2));
        assert_eq!(b.delay(3, None, Transient), Duration::from_secs(4));
        assert_eq!(b.delay(7, None, Transient), Duration::from_secs(60));
        assert_eq!(b.delay(u32::MAX, None, Transient), Duration::from_secs(60));
        assert_eq!(b.delay(0, None, Transient), Duration::from_secs(1));
    }

    #[test]
    fn permanent_failures_grow_to_an_hour() {
        let b = b();
        assert_eq!(b.delay(7, None, Permanent), Duration::from_secs(64));
        assert_eq!(b.delay(13, None, Permanent), Duration::from_secs(3600));
        assert_eq!(b.delay(30, None, Permanent), Duration::from_secs(3600));
        // Fewer than 12 attempts an hour once it settles.
        assert!(b.delay(20, None, Permanent) >= Duration::from_secs(300));
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let b = b();
        assert_eq!(
            b.delay(5, Some(Duration::from_secs(3)), Transient),
            Duration::from_secs(3)
        );
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(3600)), Transient),
            Duration::from_secs(60)
        );
    }

    proptest::proptest! {
        #[test]
        fn never_exceeds_cap(n in 0u32..100, ra in proptest::option::of(0u64..100_000)) {
            let d = b().delay(n, ra.map(Duration::from_secs), Transient);
            proptest::prop_assert!(d <= Duration::from_secs(60));
            let p = b().delay(n, ra.map(Duration::from_secs), Permanent);
            proptest::prop_assert!(p <= Duration::from_secs(3600) && p >= d);
            proptest::prop_assert!(d > Duration::ZERO);
        }
    }
}
