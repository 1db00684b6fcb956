use super::*;

/// Lines of the exposition that are samples (not comments).
fn samples(m: &Metrics) -> Vec<String> {
    m.encode()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

fn has(m: &Metrics, prefix: &str) -> bool {
    samples(m).iter().any(|l| l.starts_with(prefix))
}

#[test]
fn exposes_the_names_the_prometheus_rule_uses() {
    let m = Metrics::default();
    m.reconciled("nocobasemailintegration");
    m.failed("nocobasemailintegration", "TenantNotFound");
    m.observe_reconcile("nocobasemailintegration", Duration::from_millis(30));
    m.record_integration(
        "mail",
        "nb",
        IntegrationState {
            ready: true,
            not_after: Some(1_900_000_000),
            renewal_time: Some(1_800_000_000),
            delivery_pending: true,
            previous_not_after: Some(1_850_000_000),
        },
    );
    let g = GraphRequestMetrics(Arc::new(Metrics::default()), "contoso".into());
    g.on_request("/applications", "GET", Some(429), Duration::ZERO);
    g.on_concurrency_limit(8);

    assert!(has(
        &m,
        r#"entramail_reconciles_total{controller="nocobasemailintegration"} 1"#
    ));
    assert!(has(
        &m,
        r#"entramail_reconcile_errors_total{controller="nocobasemailintegration",reason="TenantNotFound"} 1"#
    ));
    assert!(has(
        &m,
        r#"entramail_reconcile_duration_seconds_count{controller="nocobasemailintegration"} 1"#
    ));
    assert!(has(
        &m,
        r#"entramail_reconcile_duration_seconds_bucket{le="0.04",controller="nocobasemailintegration"} 1"#
    ));
    assert!(has(
        &m,
        r#"entramail_credential_not_after_seconds{namespace="mail",name="nb"} 1900000000"#
    ));
    assert!(has(
        &m,
        r#"entramail_credential_renewal_time_seconds{namespace="mail",name="nb"} 1800000000"#
    ));
    assert!(has(
        &m,
        r#"entramail_integration_ready{namespace="mail",name="nb"} 1"#
    ));
    assert!(has(
        &m,
        r#"entramail_delivery_pending{namespace="mail",name="nb"} 1"#
    ));
    assert!(has(
        &m,
        r#"entramail_previous_credential_not_after_seconds{namespace="mail",name="nb"} 1850000000"#
    ));
    // An unused counter still shows 0, so increase() alerts have a series from the start.
    assert!(has(&m, "entramail_graph_throttled_total 0"));
    assert!(has(&g.0, "entramail_graph_throttled_total 1"));
    assert!(has(
        &g.0,
        r#"entramail_graph_concurrency_limit{tenant="contoso"} 8"#
    ));
    assert!(has(
        &g.0,
        r#"entramail_graph_requests_total{endpoint="/applications",method="GET",status="429"} 1"#
    ));
}

#[test]
fn not_ready_and_unknown_expiry_then_forgotten() {
    let m = Metrics::default();
    m.record_integration(
        "mail",
        "nb",
        IntegrationState {
            ready: true,
            not_after: Some(5),
            renewal_time: Some(4),
            ..Default::default()
        },
    );
    m.record_integration("mail", "nb", IntegrationState::default());
    assert!(has(
        &m,
        r#"entramail_integration_ready{namespace="mail",name="nb"} 0"#
    ));
    assert!(!has(&m, "entramail_credential_not_after_seconds{"));
    assert!(!has(&m, "entramail_credential_renewal_time_seconds{"));

    m.record_integration("mail", "other", IntegrationState::default());
    m.forget_integration("mail", "nb");
    let s = samples(&m);
    assert!(!s.iter().any(|l| l.contains(r#"name="nb""#)), "{s:?}");
    assert!(has(
        &m,
        r#"entramail_integration_ready{namespace="mail",name="other"} 0"#
    ));
}
