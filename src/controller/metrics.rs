//! Prometheus metrics: reconciles, errors by reason and reconcile durations per controller; Graph requests by
//! endpoint and status plus throttling; per-integration gauges (credential expiry, renewal time, Ready) that the
//! chart's PrometheusRule alerts on.

use std::{sync::Arc, time::Duration};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

use crate::graph::GraphMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub controller: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GraphLabels {
    pub endpoint: String,
    pub method: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabels {
    pub tenant: String,
}

/// One NocoBaseMailIntegration. The strings are shared by the five per-integration gauges (each family keeps its own
/// copy of the label set; at 10,000 integrations separate strings were megabytes).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IntegrationLabels {
    pub namespace: Arc<String>,
    pub name: Arc<String>,
}

/// What the per-integration gauges show after a reconcile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IntegrationState {
    pub ready: bool,
    /// Unix seconds of the current credential's endDateTime.
    pub not_after: Option<i64>,
    /// Unix seconds of the planned renewal.
    pub renewal_time: Option<i64>,
    /// The Delivered condition is False (a person or NocoBase has not confirmed the current client secret).
    pub delivery_pending: bool,
    /// Unix seconds of the earliest expiry among previous client secrets kept for an unconfirmed delivery.
    pub previous_not_after: Option<i64>,
}

type HistogramFamily = Family<ControllerLabels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 10ms .. ~40s: a steady-state reconcile is a few reads, a rotation a handful of Graph writes with retries.
    Histogram::new(exponential_buckets(0.01, 2.0, 13))
}

pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<ControllerLabels, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
    pub reconcile_duration: HistogramFamily,
    pub graph_requests: Family<GraphLabels, Counter>,
    pub graph_throttled: Counter,
    pub graph_concurrency_limit: Family<TenantLabels, Gauge>,
    pub credential_not_after: Family<IntegrationLabels, Gauge>,
    pub credential_renewal_time: Family<IntegrationLabels, Gauge>,
    pub integration_ready: Family<IntegrationLabels, Gauge>,
    pub delivery_pending: Family<IntegrationLabels, Gauge>,
    pub previous_not_after: Family<IntegrationLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("entramail");
        let reconciles = Family::<ControllerLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let reconcile_duration = HistogramFamily::new_with_constructor(duration_histogram);
        let graph_requests = Family::<GraphLabels, Counter>::default();
        let graph_throttled = Counter::default();
        let graph_concurrency_limit = Family::<TenantLabels, Gauge>::default();
        let credential_not_after = Family::<IntegrationLabels, Gauge>::default();
        let credential_renewal_time = Family::<IntegrationLabels, Gauge>::default();
        let integration_ready = Family::<IntegrationLabels, Gauge>::default();
        let delivery_pending = Family::<IntegrationLabels, Gauge>::default();
        let previous_not_after = Family::<IntegrationLabels, Gauge>::default();
        registry.register("reconciles", "Reconciliations run", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Failed reconciliations by reason",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Wall time of one reconciliation",
            reconcile_duration.clone(),
        );
        registry.register(
            "graph_requests",
            "Microsoft Graph HTTP attempts by endpoint template and status",
            graph_requests.clone(),
        );
        registry.register(
            "graph_throttled",
            "Microsoft Graph responses with status 429 (throttled)",
            graph_throttled.clone(),
        );
        registry.register(
            "graph_concurrency_limit",
            "Microsoft Graph requests the operator lets through at once to an EntraTenant (grows while answered, halves on 429)",
            graph_concurrency_limit.clone(),
        );
        registry.register(
            "credential_not_after_seconds",
            "Expiry (unix seconds) of the client secret the integration's Secret holds",
            credential_not_after.clone(),
        );
        registry.register(
            "credential_renewal_time_seconds",
            "When (unix seconds) the operator will rotate the integration's client secret",
            credential_renewal_time.clone(),
        );
        registry.register(
            "integration_ready",
            "1 when the integration's Ready condition is True, else 0",
            integration_ready.clone(),
        );
        registry.register(
            "delivery_pending",
            "1 while the integration's current client secret is not confirmed delivered (Delivered=False), else 0",
            delivery_pending.clone(),
        );
        registry.register(
            "previous_credential_not_after_seconds",
            "Expiry (unix seconds) of the earliest previous client secret kept until the delivery of its successor is confirmed",
            previous_not_after.clone(),
        );
        Self {
            registry,
            reconciles,
            errors,
            reconcile_duration,
            graph_requests,
            graph_throttled,
            graph_concurrency_limit,
            credential_not_after,
            credential_renewal_time,
            integration_ready,
            delivery_pending,
            previous_not_after,
        }
    }
}

impl Metrics {
    pub fn reconciled(&self, controller: &str) {
        self.reconciles
            .get_or_create(&ControllerLabels {
                controller: controller.into(),
            })
            .inc();
    }

    pub fn failed(&self, controller: &str, reason: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                controller: controller.into(),
                reason: reason.into(),
            })
            .inc();
    }

    /// Records how long one reconcile took (successful or not).
    pub fn observe_reconcile(&self, controller: &str, elapsed: Duration) {
        self.reconcile_duration
            .get_or_create(&ControllerLabels {
                controller: controller.into(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Sets the per-integration gauges; a value that is unknown (no credential yet) has no series.
    pub fn record_integration(&self, namespace: &str, name: &str, state: IntegrationState) {
        let labels = IntegrationLabels {
            namespace: Arc::new(namespace.into()),
            name: Arc::new(name.into()),
        };
        self.integration_ready
            .get_or_create(&labels)
            .set(i64::from(state.ready));
        set_or_remove(&self.credential_not_after, &labels, state.not_after);
        set_or_remove(&self.credential_renewal_time, &labels, state.renewal_time);
        self.delivery_pending
            .get_or_create(&labels)
            .set(i64::from(state.delivery_pending));
        set_or_remove(&self.previous_not_after, &labels, state.previous_not_after);
    }

    /// Drops every per-integration series (the CR is being deleted).
    pub fn forget_integration(&self, namespace: &str, name: &str) {
        let labels = IntegrationLabels {
            namespace: Arc::new(namespace.into()),
            name: Arc::new(name.into()),
        };
        self.integration_ready.remove(&labels);
        self.credential_not_after.remove(&labels);
        self.credential_renewal_time.remove(&labels);
        self.delivery_pending.remove(&labels);
        self.previous_not_after.remove(&labels);
    }

    /// Text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

fn set_or_remove(
    family: &Family<IntegrationLabels, Gauge>,
    labels: &IntegrationLabels,
    v: Option<i64>,
) {
    match v {
        Some(v) => {
            family.get_or_create(labels).set(v);
        }
        None => {
            family.remove(labels);
        }
    }
}

/// Adapter so the Graph client counts into our registry.
/// Graph request metrics of one EntraTenant's client: (the registry, the tenant's name).
pub struct GraphRequestMetrics(pub Arc<Metrics>, pub String);

impl GraphMetrics for GraphRequestMetrics {
    fn on_request(
        &self,
        endpoint: &'static str,
        method: &'static str,
        status: Option<u16>,
        _duration: Duration,
    ) {
        if status == Some(429) {
            self.0.graph_throttled.inc();
        }
        self.0
            .graph_requests
            .get_or_create(&GraphLabels {
                endpoint: endpoint.into(),
                method: method.into(),
                status: status.map_or_else(|| "error".into(), |s| s.to_string()),
            })
            .inc();
    }

    fn on_concurrency_limit(&self, limit: usize) {
        self.0
            .graph_concurrency_limit
            .get_or_create(&TenantLabels {
                tenant: self.1.clone(),
            })
            .set(i64::try_from(limit).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
