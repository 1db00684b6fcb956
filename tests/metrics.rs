//! Metrics and failure accounting against the real control plane + Graph emulator: the /metrics endpoint shows
//! the per-integration gauges the chart's PrometheusRule alerts on, drops them on deletion, and counts
//! throttling; status.failedAttempts counts consecutive failures without turning into a hot loop.
//! Run: tests/testbed/with-control-plane.sh cargo test --workspace --test metrics

mod operator;
mod support;

use std::{
    sync::{Arc, atomic::AtomicBool},
    time::Duration,
};

use entramail_operator::{
    api::EntraTenant,
    controller::http::{HttpState, router},
};
use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, PostParams};
use operator::{Fx, Spec, TEST_LABEL, is_ready};
use serde_json::json;

/// Serves the operator's /metrics on a free port and returns its URL.
async fn serve_metrics(fx: &Fx) -> String {
    let state = HttpState {
        metrics: fx.metrics(),
        ready: Arc::new(AtomicBool::new(true)),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    format!("http://{addr}/metrics")
}

async fn scrape(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// Value of the sample `name{labels}` (exact label text), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn exposes_integration_gauges_and_forgets_them_on_delete() {
    let fx = Fx::start("metrics").await;
    let url = serve_metrics(&fx).await;
    fx.h.throttle_next(1, Duration::from_secs(1));
    fx.create("mail", Spec::basic()).await;
    let cr = fx.wait_ready("mail").await;
    let st = cr.status.unwrap();

    let text = scrape(&url).await;
    // The one 429 halved the tenant's adaptive Graph limit (16 at the start); a few answers since cannot have
    // grown it back.
    let limit = sample(
        &text,
        &format!(
            "entramail_graph_concurrency_limit{{tenant=\"{}\"}}",
            fx.tenant
        ),
    );
    assert!(
        limit.is_some_and(|l| (1.0..16.0).contains(&l)),
        "{limit:?}: {text}"
    );
    let labels = format!("{{namespace=\"{}\",name=\"mail\"}}", fx.ns);
    assert_eq!(
        sample(&text, &format!("entramail_integration_ready{labels}")),
        Some(1.0),
        "{text}"
    );
    let not_after = st.current_credential.unwrap().not_after.0.as_second() as f64;
    assert_eq!(
        sample(
            &text,
            &format!("entramail_credential_not_after_seconds{labels}")
        ),
        Some(not_after)
    );
    let renewal = st.renewal_time.unwrap().0.as_second() as f64;
    assert_eq!(
        sample(
            &text,
            &format!("entramail_credential_renewal_time_seconds{labels}")
        ),
        Some(renewal)
    );
    assert!(renewal < not_after);
    assert!(
        sample(&text, "entramail_graph_throttled_total").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            r#"entramail_reconcile_duration_seconds_count{controller="nocobasemailintegration"}"#
        )
        .is_some_and(|n| n >= 1.0)
    );
    assert!(
        sample(
            &text,
            r#"entramail_reconciles_total{controller="nocobasemailintegration"}"#
        )
        .is_some_and(|n| n >= 1.0)
    );
    // A healthy integration never failed, so failedAttempts is not written at all.
    assert_eq!(st.failed_attempts, None);

    fx.delete("mail").await;
    fx.wait_gone("mail", Duration::from_secs(30)).await;
    let text = scrape(&url).await;
    assert!(
        !text.contains(&labels),
        "series left after deletion:\n{text}"
    );
}

#[tokio::test]
async fn failed_attempts_count_up_with_backoff_and_reset() {
    // Long on purpose: failures counted up across retries, then the reset; each step depends on the one before.
    let fx = Fx::start("failcount").await;
    let url = serve_metrics(&fx).await;
    // References a tenant that does not exist: every attempt fails with TenantNotFound.
    let missing = format!("{}-missing", fx.tenant);
    let obj = operator::integration(
        "broken",
        &missing,
        Spec::basic(),
        json!({TEST_LABEL: fx.ns}),
    );
    fx.integrations()
        .create(&PostParams::default(), &obj)
        .await
        .unwrap();

    fx.wait("broken", Duration::from_secs(30), "3 failures", |o| {
        o.status
            .as_ref()
            .and_then(|s| s.failed_attempts)
            .is_some_and(|n| n >= 3)
    })
    .await;
    // Backoff 200ms doubling to 2s: about 6 attempts in 6s. The echo of each status write must not start the
    // next attempt at once (that would be dozens).
    tokio::time::sleep(Duration::from_secs(6)).await;
    let n = fx
        .integrations()
        .get("broken")
        .await
        .unwrap()
        .status
        .and_then(|s| s.failed_attempts)
        .unwrap();
    assert!((4..=14).contains(&n), "failedAttempts {n} after ~8s");

    let text = scrape(&url).await;
    let labels = format!("{{namespace=\"{}\",name=\"broken\"}}", fx.ns);
    assert_eq!(
        sample(&text, &format!("entramail_integration_ready{labels}")),
        Some(0.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            r#"entramail_reconcile_errors_total{controller="nocobasemailintegration",reason="TenantNotFound"}"#
        )
        .is_some_and(|e| e >= 3.0),
        "{text}"
    );
    // One Warning event for the failure, not one per attempt.
    let warnings = kube::Api::<Event>::namespaced(fx.client.clone(), &fx.ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("TenantNotFound"))
        .count();
    assert_eq!(warnings, 1);

    // Creating the missing tenant (a copy of the fixture's) makes it Ready and resets the counter.
    let tenants = kube::Api::<EntraTenant>::all(fx.client.clone());
    let existing = tenants.get(&fx.tenant).await.unwrap();
    let copy: EntraTenant = serde_json::from_value(json!({
        "apiVersion": "entramail.io/v1alpha1", "kind": "EntraTenant",
        "metadata": {"name": missing, "labels": {TEST_LABEL: fx.ns}},
        "spec": existing.spec,
    }))
    .unwrap();
    tenants.create(&PostParams::default(), &copy).await.unwrap();
    let cr = fx.wait_ready("broken").await;
    assert!(is_ready(&cr));
    assert_eq!(cr.status.unwrap().failed_attempts, Some(0));
    let text = scrape(&url).await;
    assert_eq!(
        sample(&text, &format!("entramail_integration_ready{labels}")),
        Some(1.0)
    );
    // Cluster-scoped, so not removed with the test namespace.
    tenants.delete(&missing, &Default::default()).await.unwrap();
}
