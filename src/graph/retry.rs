//! Pure retry/backoff policy for Graph calls: exponential backoff with jitter, `Retry-After` wins,
//! bounded by attempts and total wait so a stuck call hands control back to the controller.

use std::time::Duration;

/// Bounds for retrying one Graph call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts including the first one (1 = never retry).
    pub max_attempts: u32,
    /// Delay before the first retry; doubles each retry.
    pub base_delay: Duration,
    /// Cap for one computed backoff delay (not for `Retry-After`).
    pub max_delay: Duration,
    /// Cap for the sum of all waits of one call; a wait that would exceed it ends the call.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            // 8 attempts ≈ 16–30 s of waiting: enough for typical Entra replication lag.
            max_attempts: 8,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_total_wait: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// How long to wait before the next attempt, or `None` to give up.
    ///
    /// - `attempts_made`: attempts already sent (≥ 1).
    /// - `waited`: sum of waits already spent on this call.
    /// - `retry_after`: the server's `Retry-After`, honoured exactly when present.
    /// - `jitter`: a number in `[0, 1)`; the backoff delay `d` becomes `d/2 + jitter·d/2`
    ///   ("equal jitter": spreads clients out but never retries immediately).
    pub fn next_delay(
        &self,
        attempts_made: u32,
        waited: Duration,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        if attempts_made >= self.max_attempts {
            return None;
        }
        let delay = match retry_after {
            Some(d) => d,
            None => {
                let exp = attempts_made.saturating_sub(1).min(31);
                let full = self
                    .base_delay
                    .saturating_mul(1u32 << exp)
                    .min(self.max_delay);
                let jitter = if jitter.is_finite() {
                    jitter.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                full / 2 + full.mul_f64(jitter) / 2
            }
        };
        if waited.saturating_add(delay) > self.max_total_wait {
            return None;
        }
        Some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_total_wait: Duration::from_secs(10),
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = policy();
        // jitter 0.999.. ≈ full delay, jitter 0 = half delay
        assert_eq!(
            p.next_delay(1, Duration::ZERO, None, 0.0),
            Some(Duration::from_millis(50))
        );
        assert_eq!(
            p.next_delay(2, Duration::ZERO, None, 0.0),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            p.next_delay(3, Duration::ZERO, None, 0.0),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            p.next_delay(4, Duration::ZERO, None, 1.0),
            Some(Duration::from_millis(800))
        );
        let big = RetryPolicy {
            max_attempts: 50,
            ..p
        };
        assert_eq!(
            big.next_delay(20, Duration::ZERO, None, 1.0),
            Some(Duration::from_millis(1000))
        );
    }

    #[test]
    fn retry_after_wins_exactly() {
        let p = policy();
        assert_eq!(
            p.next_delay(1, Duration::ZERO, Some(Duration::from_secs(3)), 0.7),
            Some(Duration::from_secs(3))
        );
        // Retry-After above the backoff cap is still honoured if the budget allows it.
        assert_eq!(
            p.next_delay(1, Duration::ZERO, Some(Duration::from_secs(5)), 0.0),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn attempts_stop() {
        let p = policy();
        assert!(p.next_delay(4, Duration::ZERO, None, 0.5).is_some());
        assert_eq!(p.next_delay(5, Duration::ZERO, None, 0.5), None);
        assert_eq!(
            RetryPolicy::none().next_delay(1, Duration::ZERO, None, 0.5),
            None
        );
    }

    #[test]
    fn total_wait_budget_stops() {
        let p = policy();
        assert_eq!(
            p.next_delay(1, Duration::from_secs(8), Some(Duration::from_secs(3)), 0.0),
            None
        );
        assert_eq!(
            p.next_delay(1, Duration::ZERO, Some(Duration::from_secs(11)), 0.0),
            None
        );
    }

    proptest! {
        #[test]
        fn delay_within_bounds(attempt in 1u32..10, jitter in 0.0f64..1.0, waited_ms in 0u64..20_000) {
            let p = policy();
            let waited = Duration::from_millis(waited_ms);
            if let Some(d) = p.next_delay(attempt, waited, None, jitter) {
                prop_assert!(attempt < p.max_attempts);
                prop_assert!(d <= p.max_delay);
                prop_assert!(d >= Duration::from_millis(50));
                prop_assert!(waited + d <= p.max_total_wait);
            }
        }
    }
}
