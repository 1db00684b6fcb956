//! Hook for counting Graph requests (the operator backs it with prometheus-client).

use std::time::Duration;

/// Called once per HTTP attempt (retries included).
///
/// `endpoint` is a path template such as `/applications/{id}/addPassword` — never a real id — so it is safe
/// as a metric label; `method` is the HTTP method; `status` is `None` when no response arrived.
pub trait GraphMetrics: Send + Sync {
    fn on_request(
        &self,
        endpoint: &'static str,
        method: &'static str,
        status: Option<u16>,
        duration: Duration,
    );

    /// The adaptive limit of requests in flight to this tenant (see `graph::limiter`), after each attempt.
    fn on_concurrency_limit(&self, _limit: usize) {}
}
