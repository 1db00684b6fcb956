//! Prometheus metrics (kept minimal): reconciles, errors by reason, Graph requests by endpoint and status.

use std::{sync::Arc, time::Duration};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family},
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

pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<ControllerLabels, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
    pub graph_requests: Family<GraphLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("entramail");
        let reconciles = Family::<ControllerLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let graph_requests = Family::<GraphLabels, Counter>::default();
        registry.register("reconciles", "Reconciliations run", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Failed reconciliations by reason",
            errors.clone(),
        );
        registry.register(
            "graph_requests",
            "Microsoft Graph HTTP attempts by endpoint template and status",
            graph_requests.clone(),
        );
        Self {
            registry,
            reconciles,
            errors,
            graph_requests,
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

    /// Text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// Adapter so the Graph client counts into our registry.
pub struct GraphRequestMetrics(pub Arc<Metrics>);

impl GraphMetrics for GraphRequestMetrics {
    fn on_request(
        &self,
        endpoint: &'static str,
        method: &'static str,
        status: Option<u16>,
        _duration: Duration,
    ) {
        self.0
            .graph_requests
            .get_or_create(&GraphLabels {
                endpoint: endpoint.into(),
                method: method.into(),
                status: status.map_or_else(|| "error".into(), |s| s.to_string()),
            })
            .inc();
    }
}
