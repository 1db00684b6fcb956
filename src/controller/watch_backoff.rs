//! Backoff for the controllers' watch streams.
//!
//! kube-runtime applies one backoff to the merged trigger stream of a controller (its own watch plus every
//! `owns`/`watches`), so while it waits no watch is polled. After a kube-apiserver restart each of those watches
//! answers 410 Gone once and must relist; with the default backoff (up to 30s, reset only after an event) the
//! watches recover one after another and an annotation could go unnoticed for minutes. Short, capped delays
//! keep a real outage from becoming a hot loop while bringing the watches back within seconds.

use std::time::Duration;

use kube::runtime::utils::Backoff;

const FIRST: Duration = Duration::from_millis(200);
const MAX: Duration = Duration::from_secs(5);

/// Doubling from 200ms up to 5s; reset by kube-runtime on every event received.
#[derive(Debug, Clone)]
pub struct WatchBackoff {
    next: Duration,
}

impl Default for WatchBackoff {
    fn default() -> Self {
        Self { next: FIRST }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let current = self.next;
        self.next = (current * 2).min(MAX);
        Some(current)
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = WatchBackoff::default();
        let delays: Vec<u128> = b.by_ref().take(7).map(|d| d.as_millis()).collect();
        assert_eq!(delays, [200, 400, 800, 1600, 3200, 5000, 5000]);
        b.reset();
        assert_eq!(b.next(), Some(FIRST));
    }
}
