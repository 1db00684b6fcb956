//! After a 429, hold back the tenant's requests that the same limit would refuse until `Retry-After` has passed.
//!
//! Graph keeps charging a throttled client for the requests it sends while throttled ("Microsoft Graph continues
//! to log resource usage while a client is being throttled",
//! <https://learn.microsoft.com/graph/throttling#best-practices-to-handle-throttling>). Honouring `Retry-After`
//! only in the call that got the 429 is therefore not enough: with many integrations, the other calls keep the
//! window full and nothing gets through (seen in the scale bench: 15 of 100 rotations never finished against a
//! 60-writes-a-minute budget, every attempt answered 429; docs/scale.md, "Under Entra's budgets"). The budget is
//! per application and tenant, so the hold is per tenant, and covers only what the throttled limit covers:
//! `x-ms-throttle-scope` is `<Scope>/<Limit>/<ApplicationId>/<TenantId>` with Limit `Read` (GET), `Write` or
//! `ReadWrite` (<https://learn.microsoft.com/graph/throttling-limits#identity-and-access-service-limits>;
//! docs/entra.md, "Throttling"). A 429 without that header does not say that the tenant's budget is spent (the
//! identity service sends it with every throttled answer): only the call that got it waits.
//!
//! Pure: the caller passes the time. [`super::limiter::Limiter`] applies it (waiting, or refusing when the hold
//! outlasts what the call may wait).

use std::time::{Duration, Instant};

/// What a request is, for the limits Graph names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

impl Kind {
    pub fn of(method: &reqwest::Method) -> Self {
        if *method == reqwest::Method::GET {
            Kind::Read
        } else {
            Kind::Write
        }
    }
}

/// The limit a 429 says was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Read,
    Write,
    ReadWrite,
}

impl Limit {
    /// From `x-ms-throttle-scope`: None without the header; both kinds when its Limit part is unreadable.
    pub fn from_scope_header(value: Option<&str>) -> Option<Self> {
        Some(match value?.split('/').nth(1) {
            Some(l) if l.eq_ignore_ascii_case("read") => Limit::Read,
            Some(l) if l.eq_ignore_ascii_case("write") => Limit::Write,
            _ => Limit::ReadWrite,
        })
    }

    fn covers(self, kind: Kind) -> bool {
        matches!(
            (self, kind),
            (Limit::ReadWrite, _) | (Limit::Read, Kind::Read) | (Limit::Write, Kind::Write)
        )
    }
}

/// A 429 as the hold needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    pub retry_after: Option<Duration>,
    /// None: the 429 named no limit (no `x-ms-throttle-scope`).
    pub limit: Option<Limit>,
}

/// Until when reads and writes wait.
#[derive(Debug, Clone, Default)]
pub struct Hold {
    reads_until: Option<Instant>,
    writes_until: Option<Instant>,
    /// 429s without an answer in between, for the pause when Graph sends no `Retry-After`.
    streak: u32,
}

impl Hold {
    /// Without `Retry-After`, Microsoft recommends an exponential backoff: 1 s, doubling per 429 in a row, at most
    /// this long.
    pub const MAX_FALLBACK: Duration = Duration::from_secs(60);

    pub fn throttled(&mut self, throttle: Throttle, now: Instant) {
        let Some(limit) = throttle.limit else {
            return;
        };
        self.streak = self.streak.saturating_add(1);
        let pause = throttle.retry_after.unwrap_or_else(|| {
            Duration::from_secs(1u64 << (self.streak - 1).min(6)).min(Self::MAX_FALLBACK)
        });
        let until = now + pause;
        let extend =
            |slot: &mut Option<Instant>| *slot = Some(slot.map_or(until, |t| t.max(until)));
        if limit.covers(Kind::Read) {
            extend(&mut self.reads_until);
        }
        if limit.covers(Kind::Write) {
            extend(&mut self.writes_until);
        }
    }

    pub fn answered(&mut self) {
        self.streak = 0;
    }

    /// When a request of `kind` may go, if not now.
    pub fn until(&self, kind: Kind, now: Instant) -> Option<Instant> {
        match kind {
            Kind::Read => self.reads_until,
            Kind::Write => self.writes_until,
        }
        .filter(|t| *t > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(secs: u64, limit: Limit) -> Throttle {
        Throttle {
            retry_after: Some(Duration::from_secs(secs)),
            limit: Some(limit),
        }
    }

    #[test]
    fn reads_the_limit_from_the_scope_header() {
        let scope = |v| Limit::from_scope_header(Some(v));
        assert_eq!(
            scope("Tenant_Application/Write/9a3d526c-b3c1-4479-ba74-197b5c5751ae/0785ef7c"),
            Some(Limit::Write)
        );
        assert_eq!(scope("Tenant/Read/a/b"), Some(Limit::Read));
        assert_eq!(
            scope("Tenant_Application/ReadWrite/a/b"),
            Some(Limit::ReadWrite)
        );
        assert_eq!(scope("garbage"), Some(Limit::ReadWrite));
        assert_eq!(Limit::from_scope_header(None), None);
    }

    #[test]
    fn a_write_limit_holds_writes_only_until_retry_after() {
        let t0 = Instant::now();
        let mut h = Hold::default();
        h.throttled(throttle(30, Limit::Write), t0);
        assert_eq!(h.until(Kind::Write, t0), Some(t0 + Duration::from_secs(30)));
        assert_eq!(
            h.until(Kind::Read, t0),
            None,
            "reads are not charged to the write quota"
        );
        assert_eq!(h.until(Kind::Write, t0 + Duration::from_secs(30)), None);
    }

    #[test]
    fn a_read_write_limit_holds_both_and_a_shorter_retry_after_does_not_shorten_it() {
        let t0 = Instant::now();
        let mut h = Hold::default();
        h.throttled(throttle(10, Limit::ReadWrite), t0);
        h.throttled(throttle(2, Limit::ReadWrite), t0 + Duration::from_secs(1));
        let ten = Some(t0 + Duration::from_secs(10));
        assert_eq!(h.until(Kind::Read, t0), ten);
        assert_eq!(h.until(Kind::Write, t0), ten);
    }

    #[test]
    fn a_429_that_names_no_limit_holds_nothing() {
        let t0 = Instant::now();
        let mut h = Hold::default();
        h.throttled(
            Throttle {
                retry_after: Some(Duration::from_secs(5)),
                limit: None,
            },
            t0,
        );
        assert_eq!(h.until(Kind::Read, t0), None);
        assert_eq!(h.until(Kind::Write, t0), None);
    }

    #[test]
    fn without_retry_after_the_pause_doubles_until_an_answer() {
        let t0 = Instant::now();
        let mut h = Hold::default();
        let bare = Throttle {
            retry_after: None,
            limit: Some(Limit::ReadWrite),
        };
        let mut pauses = Vec::new();
        for _ in 0..9 {
            h.throttled(bare, t0);
            pauses.push(h.until(Kind::Read, t0).map(|t| t - t0));
            h = Hold {
                reads_until: None,
                writes_until: None,
                ..h
            };
        }
        let secs: Vec<u64> = pauses.iter().flatten().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        h.answered();
        h.throttled(bare, t0);
        assert_eq!(h.until(Kind::Write, t0), Some(t0 + Duration::from_secs(1)));
    }
}
