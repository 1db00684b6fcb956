use super::*;

#[test]
fn counted_faults_run_out_and_ratios_replay_per_seed() {
    let mut f = Faults::new(7);
    f.throttle_next = 1;
    f.fail_next = 1;
    f.fail_next_status = 500;
    assert!(matches!(f.next(), Some(Injected::Throttle { .. })));
    assert_eq!(f.next(), Some(Injected::Fail { status: 500 }));
    assert_eq!(f.next(), None);

    let run = |seed| {
        let mut f = Faults::new(seed);
        f.failure_ratio = 0.5;
        (0..64).map(|_| f.next().is_some()).collect::<Vec<_>>()
    };
    assert_eq!(run(1), run(1));
    let hits = run(1).into_iter().filter(|h| *h).count();
    assert!((16..=48).contains(&hits), "ratio 0.5 gave {hits}/64");
}

#[test]
fn tenant_sizes_follow_the_documented_resource_unit_budgets() {
    let ru = |s| ThrottleBudget::for_tenant_size(s).resource_units;
    assert_eq!(
        (
            ru(TenantSize::Small),
            ru(TenantSize::Medium),
            ru(TenantSize::Large)
        ),
        (3_500, 5_000, 8_000)
    );
    let b = ThrottleBudget::for_tenant_size(TenantSize::Small);
    assert_eq!((b.write_requests, b.write_window.as_secs()), (3_000, 150));
    assert_eq!("m".parse::<TenantSize>(), Ok(TenantSize::Medium));
    assert_eq!("usGovernment".parse::<Cloud>(), Ok(Cloud::UsGovernment));
}

#[test]
fn ledger_throttles_per_pair_and_frees_the_window_as_it_slides() {
    let budget = ThrottleBudget {
        resource_units: 4,
        window: Duration::from_secs(10),
        ..ThrottleBudget::for_tenant_size(TenantSize::Small)
    };
    let mut ledger = BudgetLedger::default();
    let t0 = Utc::now();
    let read = |ru| Charge {
        resource_units: ru,
        write: false,
        personal_app_write: false,
    };
    assert!(matches!(
        ledger.charge(&budget, "t", "c", read(2), t0),
        BudgetDecision::Allowed { .. }
    ));
    let at = |ms| t0 + chrono::Duration::milliseconds(ms);
    assert!(matches!(
        ledger.charge(&budget, "t", "c", read(2), at(1_500)),
        BudgetDecision::Allowed {
            limit_percentage: Some(_),
            ..
        }
    ));
    // 4 used; another 1 does not fit until the first entry (t0) leaves the window at t0 + 10 s.
    match ledger.charge(&budget, "t", "c", read(1), at(2_000)) {
        BudgetDecision::Throttled {
            retry_after,
            reason,
            ..
        } => {
            assert_eq!(reason, "ResourceUnitLimitExceeded");
            assert_eq!(retry_after, Duration::from_secs(8));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(
            ledger.charge(&budget, "t", "other-client", read(2), at(2_000)),
            BudgetDecision::Allowed { .. }
        ),
        "budgets are per application+tenant pair"
    );
    // At t0 + 10 s the first 2 RU expire: 2 (t0+1.5) + 1 (throttled, still logged) + 1 fits in 4.
    assert!(matches!(
        ledger.charge(&budget, "t", "c", read(1), at(10_000)),
        BudgetDecision::Allowed { .. }
    ));
}

#[test]
fn ledger_enforces_the_write_quota_separately() {
    let budget = ThrottleBudget {
        write_requests: 1,
        ..ThrottleBudget::for_tenant_size(TenantSize::Large)
    };
    let mut ledger = BudgetLedger::default();
    let now = Utc::now();
    let write = Charge {
        resource_units: 1,
        write: true,
        personal_app_write: false,
    };
    assert!(matches!(
        ledger.charge(&budget, "t", "c", write, now),
        BudgetDecision::Allowed { .. }
    ));
    assert!(matches!(
        ledger.charge(&budget, "t", "c", write, now),
        BudgetDecision::Throttled {
            limit: "Write",
            reason: "WriteLimitExceeded",
            ..
        }
    ));
}
