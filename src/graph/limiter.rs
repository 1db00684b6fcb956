//! Adaptive concurrency for one tenant's Graph requests: additive increase, multiplicative decrease (AIMD, the
//! rule TCP uses for congestion). Entra throttles per application and tenant with a budget the client cannot
//! read (docs/entra.md, "Throttling"); instead of a fixed number of requests in flight, the client grows it by
//! one per window of successes and halves it on a 429, so it settles near what the tenant allows and sends far
//! fewer requests into a throttled window (which Graph still charges for).
//!
//! [`Aimd`] is the pure rule; [`Limiter`] makes requests wait for a slot, and for the end of a throttled limit's
//! `Retry-After` ([`Hold`]).

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::Notify;

use super::hold::{Hold, Kind, Throttle};

/// How a request that held a slot ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Graph answered (any status but 429): the tenant had room.
    Answered,
    /// 429: over the budget.
    Throttled(Throttle),
    /// No answer (transport error, timeout): says nothing about the budget.
    Unknown,
}

/// The AIMD rule. `limit` is fractional so that additive increase can be +1 per `limit` successes.
#[derive(Debug, Clone)]
pub struct Aimd {
    limit: f64,
    min: f64,
    max: f64,
    in_flight: usize,
    /// Throttles within this long after a decrease are the same congestion event, not a new one (the requests
    /// in flight when the budget ran out all come back 429).
    calm: Duration,
    last_decrease: Option<Instant>,
}

impl Aimd {
    pub fn new(initial: usize, min: usize, max: usize, calm: Duration) -> Self {
        let min = min.max(1) as f64;
        let max = (max as f64).max(min);
        Self {
            limit: (initial as f64).clamp(min, max),
            min,
            max,
            in_flight: 0,
            calm,
            last_decrease: None,
        }
    }

    /// Requests allowed in flight now.
    pub fn limit(&self) -> usize {
        self.limit.floor() as usize
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Takes a slot if one is free.
    pub fn try_acquire(&mut self) -> bool {
        if self.in_flight < self.limit() {
            self.in_flight += 1;
            true
        } else {
            false
        }
    }

    /// Gives a slot back and adapts the limit to how the request ended.
    pub fn release(&mut self, outcome: Outcome, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        match outcome {
            Outcome::Answered => self.limit = (self.limit + 1.0 / self.limit).min(self.max),
            Outcome::Throttled(_) => {
                let same_event = self
                    .last_decrease
                    .is_some_and(|t| now.saturating_duration_since(t) < self.calm);
                if !same_event {
                    self.limit = (self.limit / 2.0).max(self.min);
                    self.last_decrease = Some(now);
                }
            }
            Outcome::Unknown => {}
        }
    }
}

/// Tokio's clock (the same as the system's, except when a test pauses it), since holds end with a tokio sleep.
fn clock_now() -> Instant {
    tokio::time::Instant::now().into_std()
}

#[derive(Debug)]
struct State {
    aimd: Aimd,
    hold: Hold,
}

/// Makes Graph requests of one tenant wait for an [`Aimd`] slot and for any [`Hold`] on their kind.
#[derive(Debug)]
pub struct Limiter {
    state: Mutex<State>,
    freed: Notify,
}

impl Limiter {
    pub fn new(rule: Aimd) -> Self {
        Self {
            state: Mutex::new(State {
                aimd: rule,
                hold: Hold::default(),
            }),
            freed: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent under a panic elsewhere (plain counters), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until requests of `kind` are not held and a slot is free; the permit gives the slot back when dropped
    /// (as [`Outcome::Unknown`] unless told otherwise). A hold that ends more than `patience` from now is not waited
    /// out: `Err` says how long it still runs, so the caller can give its place back (a reconcile waiting here
    /// keeps one of the controller's slots, which other tenants' integrations need meanwhile).
    pub async fn acquire(
        self: &Arc<Self>,
        kind: Kind,
        patience: Duration,
    ) -> Result<Permit, Duration> {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before the check, so a release between the check and the await is not missed.
            freed.as_mut().enable();
            let held_until = {
                let now = clock_now();
                let mut s = self.state();
                match s.hold.until(kind, now) {
                    Some(until) if until - now > patience => return Err(until - now),
                    Some(until) => Some(until),
                    None if s.aimd.try_acquire() => {
                        return Ok(Permit {
                            limiter: self.clone(),
                            outcome: Outcome::Unknown,
                        });
                    }
                    None => None,
                }
            };
            match held_until {
                Some(until) => tokio::time::sleep_until(until.into()).await,
                None => freed.await,
            }
        }
    }

    /// (limit, in flight) now.
    pub fn current(&self) -> (usize, usize) {
        let s = self.state();
        (s.aimd.limit(), s.aimd.in_flight())
    }
}

/// A slot held by one request.
#[derive(Debug)]
pub struct Permit {
    limiter: Arc<Limiter>,
    outcome: Outcome,
}

impl Permit {
    pub fn finish(mut self, outcome: Outcome) {
        self.outcome = outcome;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        {
            let now = clock_now();
            let mut s = self.limiter.state();
            s.aimd.release(self.outcome, now);
            match self.outcome {
                Outcome::Throttled(t) => s.hold.throttled(t, now),
                Outcome::Answered => s.hold.answered(),
                Outcome::Unknown => {}
            }
        }
        // Wake every waiter: after an increase more than one may go.
        self.limiter.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::graph::hold::Limit;

    const CALM: Duration = Duration::from_secs(1);
    const THROTTLED: Outcome = Outcome::Throttled(Throttle {
        retry_after: None,
        limit: None,
    });

    #[test]
    fn grows_by_one_per_window_of_successes() {
        let mut a = Aimd::new(4, 1, 64, CALM);
        let now = Instant::now();
        for _ in 0..4 {
            assert!(a.try_acquire());
            a.release(Outcome::Answered, now);
        }
        assert_eq!(a.limit(), 4, "4 + 4 × 1/4.x stays below 5");
        for _ in 0..2 {
            assert!(a.try_acquire());
            a.release(Outcome::Answered, now);
        }
        assert_eq!(a.limit(), 5);
    }

    #[test]
    fn halves_once_per_congestion_event_and_never_below_min() {
        let mut a = Aimd::new(16, 2, 64, CALM);
        let t0 = Instant::now();
        for _ in 0..16 {
            assert!(a.try_acquire());
        }
        assert!(!a.try_acquire(), "full");
        // All 16 in flight come back throttled: one decrease, not sixteen.
        for _ in 0..16 {
            a.release(THROTTLED, t0);
        }
        assert_eq!(a.limit(), 8);
        a.release(THROTTLED, t0 + CALM);
        a.release(THROTTLED, t0 + 2 * CALM);
        a.release(THROTTLED, t0 + 3 * CALM);
        assert_eq!(a.limit(), 2, "floor");
        assert_eq!(a.in_flight(), 0);
    }

    #[test]
    fn unknown_outcomes_change_nothing_and_max_caps() {
        let mut a = Aimd::new(3, 1, 3, CALM);
        assert!(a.try_acquire());
        a.release(Outcome::Unknown, Instant::now());
        assert_eq!(a.limit(), 3);
        for _ in 0..100 {
            assert!(a.try_acquire());
            a.release(Outcome::Answered, Instant::now());
        }
        assert_eq!(a.limit(), 3);
    }

    #[tokio::test]
    async fn a_waiting_request_goes_when_a_slot_frees() {
        let limiter = Arc::new(Limiter::new(Aimd::new(1, 1, 1, CALM)));
        let first = limiter.acquire(Kind::Read, PATIENCE).await.unwrap();
        let l2 = limiter.clone();
        let second = tokio::spawn(async move {
            l2.acquire(Kind::Read, PATIENCE)
                .await
                .unwrap()
                .finish(Outcome::Answered)
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "waits while the only slot is held");
        first.finish(Outcome::Answered);
        tokio::time::timeout(Duration::from_secs(2), second)
            .await
            .expect("second request got the slot")
            .unwrap();
        assert_eq!(limiter.current(), (1, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_write_429_writes_wait_for_retry_after_and_reads_do_not() {
        let limiter = Arc::new(Limiter::new(Aimd::new(4, 1, 4, CALM)));
        let t0 = tokio::time::Instant::now();
        write_throttled(&limiter, 30).await;
        limiter
            .acquire(Kind::Read, PATIENCE)
            .await
            .unwrap()
            .finish(Outcome::Answered);
        assert_eq!(t0.elapsed(), Duration::ZERO, "a read goes at once");
        limiter
            .acquire(Kind::Write, PATIENCE)
            .await
            .unwrap()
            .finish(Outcome::Answered);
        assert!(
            t0.elapsed() >= Duration::from_secs(30),
            "the next write waited out Retry-After: {:?}",
            t0.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_longer_than_the_patience_is_not_waited_out() {
        let limiter = Arc::new(Limiter::new(Aimd::new(4, 1, 4, CALM)));
        write_throttled(&limiter, 90).await;
        let t0 = tokio::time::Instant::now();
        let refused = limiter.acquire(Kind::Write, PATIENCE).await.unwrap_err();
        assert_eq!(
            refused,
            Duration::from_secs(90),
            "how long the hold still runs"
        );
        assert_eq!(t0.elapsed(), Duration::ZERO, "answered at once");
        assert_eq!(limiter.current().1, 0, "no slot taken");
    }

    const PATIENCE: Duration = Duration::from_secs(60);

    async fn write_throttled(limiter: &Arc<Limiter>, retry_after_secs: u64) {
        limiter
            .acquire(Kind::Write, PATIENCE)
            .await
            .unwrap()
            .finish(Outcome::Throttled(Throttle {
                retry_after: Some(Duration::from_secs(retry_after_secs)),
                limit: Some(Limit::Write),
            }));
    }
}
