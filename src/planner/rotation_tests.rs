use super::*;
use crate::planner::tag::credential_tag;
use chrono::TimeZone;
use proptest::prelude::*;

const UID: &str = "uid-1";

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
}

fn policy() -> Policy {
    Policy {
        lifetime: TimeDelta::seconds(900),
        renew_before: None,
        overlap: TimeDelta::seconds(60),
        consistency_grace: TimeDelta::seconds(30),
    }
}

fn cred(key: &str, seq: Option<u64>, start: i64, end: i64) -> LiveCredential {
    LiveCredential {
        key_id: key.into(),
        display_name: seq.map(|s| credential_tag(UID, s)),
        start: Some(t(start)),
        end: Some(t(end)),
    }
}

fn holds(key: &str) -> SecretView {
    SecretView {
        current_key_id: Some(key.into()),
        has_text: true,
        previous_key_id: None,
    }
}

fn steady_status(key: &str, seq: u64) -> RotationStatus {
    RotationStatus {
        current_key_id: Some(key.into()),
        current_created: Some(t(0)),
        not_after: Some(t(900)),
        renewal_time: Some(t(600)),
        retiring: vec![],
        handled_trigger: None,
        sequence: seq,
    }
}

fn input<'a>(
    live: &'a [LiveCredential],
    secret: &'a SecretView,
    status: &'a RotationStatus,
    now: i64,
) -> Input<'a> {
    Input {
        uid: UID,
        live,
        secret,
        status,
        policy: policy(),
        trigger: None,
        delivered: true,
        max_secrets: None,
        consumers: true,
        now: t(now),
    }
}

#[test]
fn no_consumers_no_restart() {
    let (secret, status) = (SecretView::default(), RotationStatus::default());
    let p = plan(&Input {
        consumers: false,
        ..input(&[], &secret, &status, 0)
    });
    assert!(p.mint().is_some());
    assert!(!p.actions.contains(&Action::RestartConsumers));
}

#[test]
fn initial_mints_writes_restarts() {
    let st = RotationStatus::default();
    let p = plan(&input(&[], &SecretView::default(), &st, 0));
    assert_eq!(
        p.actions,
        vec![
            Action::Mint {
                display_name: "entramail:uid-1:1".into(),
                end: t(900),
                reason: MintReason::Initial
            },
            Action::WriteSecret(SecretWrite::NewCurrent {
                previous_key_id: None
            }),
            Action::RestartConsumers,
        ]
    );
    assert_eq!(p.status.not_after, Some(t(900)));
    assert_eq!(p.status.renewal_time, Some(t(600)));
    assert_eq!(p.status.sequence, 1);
    assert_eq!(p.requeue_at, Some(t(600)));
    assert!(p.status.retiring.is_empty());
}

#[test]
fn steady_state_is_empty_and_requeues_at_renewal() {
    let live = [cred("k1", Some(1), 0, 900)];
    let secret = holds("k1");
    let st = steady_status("k1", 1);
    let p = plan(&input(&live, &secret, &st, 100));
    assert!(p.actions.is_empty());
    assert_eq!(p.status, st);
    assert_eq!(p.requeue_at, Some(t(600)));
}

#[test]
fn schedule_follows_live_end_date_not_status() {
    // Someone (or Entra policy) shortened the credential: the live endDateTime wins.
    let live = [cred("k1", Some(1), 0, 300)];
    let secret = holds("k1");
    let st = steady_status("k1", 1);
    let p = plan(&input(&live, &secret, &st, 100));
    assert!(p.actions.is_empty());
    assert_eq!(p.status.not_after, Some(t(300)));
    assert_eq!(p.status.renewal_time, Some(t(200)));
    assert_eq!(p.requeue_at, Some(t(200)));
}

#[test]
fn renew_before_duration_and_percentage() {
    let mut pol = policy();
    pol.renew_before = Some(RenewBefore::Duration(TimeDelta::seconds(100)));
    assert_eq!(renewal_time(t(0), t(900), &pol), t(800));
    pol.renew_before = Some(RenewBefore::Duration(TimeDelta::seconds(900)));
    assert_eq!(
        renewal_time(t(0), t(900), &pol),
        t(600),
        "too long falls back to 1/3"
    );
    pol.renew_before = Some(RenewBefore::Percentage(10));
    assert_eq!(renewal_time(t(0), t(900), &pol), t(810));
    pol.renew_before = Some(RenewBefore::Percentage(0));
    assert_eq!(renewal_time(t(0), t(900), &pol), t(600));
}

#[test]
fn renewal_due_mints_and_keeps_old_as_previous() {
    let live = [cred("k1", Some(1), 0, 900)];
    let secret = holds("k1");
    let st = steady_status("k1", 1);
    let p = plan(&input(&live, &secret, &st, 600));
    assert_eq!(
        p.mint().map(|m| (m.0.to_string(), m.2)),
        Some(("entramail:uid-1:2".into(), MintReason::Renewal))
    );
    assert!(
        p.actions
            .contains(&Action::WriteSecret(SecretWrite::NewCurrent {
                previous_key_id: Some("k1".into())
            }))
    );
    assert!(p.actions.contains(&Action::RestartConsumers));
    assert_eq!(p.revocations().count(), 0, "old stays during overlap");
    assert_eq!(
        p.status.retiring,
        vec![Retiring {
            key_id: "k1".into(),
            revoke_after: t(660)
        }]
    );
    assert_eq!(p.status.current_key_id, None);
    assert_eq!(p.requeue_at, Some(t(660)));
}

fn after_rotation() -> (Vec<LiveCredential>, SecretView, RotationStatus) {
    let live = vec![cred("k1", Some(1), 0, 900), cred("k2", Some(2), 600, 1500)];
    let secret = SecretView {
        current_key_id: Some("k2".into()),
        has_text: true,
        previous_key_id: Some("k1".into()),
    };
    let st = RotationStatus {
        current_key_id: Some("k2".into()),
        current_created: Some(t(600)),
        not_after: Some(t(1500)),
        renewal_time: Some(t(1200)),
        retiring: vec![Retiring {
            key_id: "k1".into(),
            revoke_after: t(660),
        }],
        handled_trigger: None,
        sequence: 2,
    };
    (live, secret, st)
}

#[test]
fn old_key_waits_for_overlap_then_is_revoked_and_dropped_from_secret() {
    let (live, secret, st) = after_rotation();
    let p = plan(&input(&live, &secret, &st, 630));
    assert!(p.actions.is_empty());
    assert_eq!(p.requeue_at, Some(t(660)));

    let p = plan(&input(&live, &secret, &st, 660));
    assert_eq!(
        p.actions,
        vec![
            // The Secret lets go of the text first: it never holds a revoked credential.
            Action::WriteSecret(SecretWrite::DropPrevious),
            Action::Revoke {
                key_id: "k1".into(),
                reason: RevokeReason::Superseded
            },
        ]
    );
    assert!(p.status.retiring.is_empty());
    assert_eq!(p.requeue_at, Some(t(1200)));
}

#[test]
fn unconfirmed_delivery_keeps_the_previous_credential_past_the_overlap_until_it_expires() {
    let (live, secret, st) = after_rotation();
    // The overlap is a minimum hold: confirmed but still inside it, nothing goes.
    assert!(plan(&input(&live, &secret, &st, 630)).actions.is_empty());
    // Past the overlap but unconfirmed: nothing goes either; wake at k1's expiry.
    let mut i = input(&live, &secret, &st, 700);
    i.delivered = false;
    let p = plan(&i);
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    assert_eq!(p.requeue_at, Some(t(900)));
    assert_eq!(p.status.retiring.len(), 1);
    // Confirmed past the overlap: revoked.
    i.delivered = true;
    assert_eq!(
        plan(&i).revocations().collect::<Vec<_>>(),
        vec![("k1", RevokeReason::Superseded)]
    );
    // Unconfirmed and expired: harmless, revoked as expired (and dropped from the Secret first).
    let mut late = input(&live, &secret, &st, 900);
    late.delivered = false;
    let p = plan(&late);
    assert_eq!(
        p.actions,
        vec![
            Action::WriteSecret(SecretWrite::DropPrevious),
            Action::Revoke {
                key_id: "k1".into(),
                reason: RevokeReason::Expired
            },
        ]
    );
}

#[test]
fn nothing_in_the_secret_never_confirms_a_successor() {
    // The Secret lost its text: even "delivered" cannot release the credential that was current as superseded.
    let live = [cred("k1", Some(1), 0, 900), cred("k0", Some(0), -600, 300)];
    let secret = SecretView::default();
    let mut st = steady_status("k1", 1);
    st.retiring = vec![Retiring {
        key_id: "k0".into(),
        revoke_after: t(0),
    }];
    let p = plan(&input(&live, &secret, &st, 100));
    assert_eq!(p.revocations().count(), 0, "{:?}", p.actions);
    assert_eq!(p.mint().map(|m| m.2), Some(MintReason::SecretLost));
}

#[test]
fn secret_lost_at_the_limit_revokes_the_oldest_retiring_credential_and_mints() {
    // Both slots hold retiring credentials of ours and the Secret is gone: without a revocation the replacement
    // would wait for k0's expiry, with no way to confirm anything meanwhile. The oldest goes, only it.
    let live = [cred("k1", Some(1), 0, 900), cred("k0", Some(0), -600, 300)];
    let secret = SecretView::default();
    let mut st = steady_status("k1", 1);
    st.retiring = vec![Retiring {
        key_id: "k0".into(),
        revoke_after: t(200),
    }];
    for delivered in [true, false] {
        let mut i = input(&live, &secret, &st, 100);
        i.max_secrets = Some(2);
        i.delivered = delivered;
        let p = plan(&i);
        assert!(p.blocked.is_none(), "{:?}", p.blocked);
        assert_eq!(
            p.revocations().collect::<Vec<_>>(),
            vec![("k0", RevokeReason::SecretLost)]
        );
        assert_eq!(p.mint().map(|m| m.2), Some(MintReason::SecretLost));
        // The revocation comes before the mint (Entra counts the slot at addPassword).
        let revoke = p
            .actions
            .iter()
            .position(|a| matches!(a, Action::Revoke { .. }));
        let mint = p
            .actions
            .iter()
            .position(|a| matches!(a, Action::Mint { .. }));
        assert!(revoke < mint, "{:?}", p.actions);
        // k1 (was current) stays retiring for its overlap.
        assert_eq!(
            p.status
                .retiring
                .iter()
                .map(|r| r.key_id.as_str())
                .collect::<Vec<_>>(),
            ["k1"]
        );
    }
}

#[test]
fn secret_lost_at_the_limit_revokes_the_older_mint_even_within_one_second() {
    // Two mints in the same second have equal start and end dates (whole seconds): the tag's sequence decides, not
    // the keyId ("k-a" sorts first but is the newer one).
    let live = [cred("k-a", Some(1), 0, 900), cred("k-z", Some(0), 0, 900)];
    let secret = SecretView::default();
    let mut st = steady_status("k-a", 1);
    st.retiring = vec![Retiring {
        key_id: "k-z".into(),
        revoke_after: t(200),
    }];
    let mut i = input(&live, &secret, &st, 100);
    i.max_secrets = Some(2);
    let p = plan(&i);
    assert_eq!(
        p.revocations().collect::<Vec<_>>(),
        vec![("k-z", RevokeReason::SecretLost)]
    );
    assert!(p.mint().is_some());
}

#[test]
fn secret_lost_at_the_limit_never_revokes_foreign_credentials_nor_more_than_needed() {
    let secret = SecretView::default();
    let st = steady_status("k1", 1);
    // One foreign, one of ours: ours goes, the foreign one stays.
    let live = [cred("k1", Some(1), 0, 900), cred("f", None, -900, 2000)];
    let mut i = input(&live, &secret, &st, 100);
    i.max_secrets = Some(2);
    let p = plan(&i);
    assert_eq!(
        p.revocations().collect::<Vec<_>>(),
        vec![("k1", RevokeReason::SecretLost)]
    );
    assert!(p.mint().is_some());
    // Below the limit nothing needs to go.
    let live = [cred("k1", Some(1), 0, 900)];
    let mut i = input(&live, &secret, &st, 100);
    i.max_secrets = Some(2);
    let p = plan(&i);
    assert_eq!(p.revocations().count(), 0);
    assert!(p.mint().is_some());
    // Two foreign ones: still blocked, nothing revoked.
    let live = [cred("a", None, 0, 900), cred("b", None, 0, 900)];
    let mut i = input(&live, &secret, &st, 100);
    i.max_secrets = Some(2);
    let p = plan(&i);
    assert_eq!(p.revocations().count(), 0);
    assert!(p.blocked.is_some());
}

#[test]
fn a_confirmed_credential_inside_its_overlap_is_reported_as_such_when_it_blocks() {
    let (live, secret, st) = after_rotation();
    let mut i = input(&live, &secret, &st, 630);
    i.max_secrets = Some(2);
    i.trigger = Some("now");
    let b = plan(&i).blocked.expect("blocked");
    assert_eq!(
        b.holders,
        vec![
            ("k1".into(), Holder::InOverlap(t(660)), Some(t(900))),
            ("k2".into(), Holder::InSecret, Some(t(1500))),
        ]
    );
    // Unconfirmed, the same credential waits for the delivery instead.
    i.delivered = false;
    let b = plan(&i).blocked.expect("blocked");
    assert_eq!(b.holders[0].1, Holder::AwaitingDelivery);
}

#[test]
fn limit_of_two_revokes_what_is_safe_before_minting() {
    // Renewal due; an orphan from a crash and an expired old one fill the slots: both go first, then the mint.
    let live = [cred("k1", Some(1), 0, 900), cred("crash", Some(2), 10, 910)];
    let secret = holds("k1");
    let st = steady_status("k1", 1);
    let mut i = input(&live, &secret, &st, 600);
    i.max_secrets = Some(2);
    let p = plan(&i);
    assert!(p.blocked.is_none());
    assert_eq!(
        p.actions[0],
        Action::Revoke {
            key_id: "crash".into(),
            reason: RevokeReason::Orphan
        }
    );
    assert!(matches!(p.actions[1], Action::Mint { .. }));
}

#[test]
fn limit_of_two_blocks_a_forced_rotation_during_an_unconfirmed_overlap() {
    let (live, secret, st) = after_rotation();
    let mut i = input(&live, &secret, &st, 700);
    i.delivered = false;
    i.max_secrets = Some(2);
    i.trigger = Some("now");
    let p = plan(&i);
    assert!(p.mint().is_none());
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    let b = p.blocked.expect("blocked");
    assert_eq!(b.reason, MintReason::Manual);
    assert_eq!(b.limit, 2);
    assert_eq!(
        b.holders,
        vec![
            ("k1".into(), Holder::AwaitingDelivery, Some(t(900))),
            ("k2".into(), Holder::InSecret, Some(t(1500))),
        ]
    );
    // The trigger stays pending, the Secret's credential stays current; wake when k1 expires.
    assert_eq!(p.status.handled_trigger, None);
    assert_eq!(p.status.current_key_id.as_deref(), Some("k2"));
    assert_eq!(p.requeue_at, Some(t(900)));
    // Once k2 is confirmed, k1 goes first and the forced rotation proceeds in the same plan.
    i.delivered = true;
    let p = plan(&i);
    assert!(p.blocked.is_none());
    assert_eq!(
        p.revocations().collect::<Vec<_>>(),
        vec![("k1", RevokeReason::Superseded)]
    );
    assert_eq!(p.mint().map(|m| m.2), Some(MintReason::Manual));
}

#[test]
fn limit_of_two_filled_by_foreign_secrets_is_reported_not_forced() {
    // An adopted app that already has two client secrets somebody else made.
    let live = [cred("a", None, 0, 900), cred("b", None, 0, 900)];
    let secret = SecretView::default();
    let st = RotationStatus::default();
    let mut i = input(&live, &secret, &st, 0);
    i.max_secrets = Some(2);
    let p = plan(&i);
    assert!(p.actions.is_empty());
    let b = p.blocked.expect("blocked");
    assert_eq!(b.reason, MintReason::Initial);
    assert!(b.holders.iter().all(|h| h.1 == Holder::Foreign));
}

#[test]
fn revoked_previous_gone_from_graph_drops_secret_previous_only() {
    let (mut live, secret, mut st) = after_rotation();
    live.remove(0);
    st.retiring.clear();
    let p = plan(&input(&live, &secret, &st, 700));
    assert_eq!(
        p.actions,
        vec![Action::WriteSecret(SecretWrite::DropPrevious)]
    );
}

#[test]
fn status_lost_previous_gets_a_fresh_overlap() {
    let (live, secret, _) = after_rotation();
    let st = RotationStatus::default();
    let p = plan(&input(&live, &secret, &st, 700));
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    assert_eq!(p.status.retiring[0].revoke_after, t(760));
    assert_eq!(p.status.current_key_id.as_deref(), Some("k2"));
}

#[test]
fn orphan_tagged_with_our_uid_is_revoked_foreign_never() {
    let live = [
        cred("k1", Some(1), 0, 900),
        cred("crash", Some(2), 10, 910),
        cred("manual", None, 0, 100),
        LiveCredential {
            display_name: Some("entramail:other-uid:3".into()),
            ..cred("other", None, 0, 900)
        },
    ];
    let secret = holds("k1");
    let st = steady_status("k1", 1);
    let p = plan(&input(&live, &secret, &st, 200));
    assert_eq!(
        p.actions,
        vec![Action::Revoke {
            key_id: "crash".into(),
            reason: RevokeReason::Orphan
        }]
    );
}

#[test]
fn expired_own_unused_credential_is_revoked_as_expired() {
    let live = [
        cred("k1", Some(1), 0, 900),
        cred("old", Some(0), -1000, -10),
    ];
    let secret = holds("k1");
    let st = steady_status("k1", 1);
    let p = plan(&input(&live, &secret, &st, 200));
    assert_eq!(
        p.revocations().collect::<Vec<_>>(),
        vec![("old", RevokeReason::Expired)]
    );
}

#[test]
fn secret_lost_mints_and_keeps_old_until_overlap() {
    let live = [cred("k1", Some(1), 0, 900)];
    let secret = SecretView::default();
    let st = steady_status("k1", 1);
    let p = plan(&input(&live, &secret, &st, 100));
    assert_eq!(p.mint().map(|m| m.2), Some(MintReason::SecretLost));
    assert!(
        p.actions
            .contains(&Action::WriteSecret(SecretWrite::NewCurrent {
                previous_key_id: None
            }))
    );
    assert_eq!(p.revocations().count(), 0);
    assert_eq!(p.status.retiring[0].key_id, "k1");
    assert_eq!(p.status.retiring[0].revoke_after, t(160));
}

#[test]
fn secret_text_edited_away_counts_as_lost() {
    let live = [cred("k1", Some(1), 0, 900)];
    let secret = SecretView {
        has_text: false,
        ..holds("k1")
    };
    let st = steady_status("k1", 1);
    let p = plan(&input(&live, &secret, &st, 100));
    assert_eq!(p.mint().map(|m| m.2), Some(MintReason::SecretLost));
    assert_eq!(p.revocations().count(), 0);
}

#[test]
fn credential_gone_in_entra_mints_new() {
    let secret = holds("k1");
    let st = steady_status("k1", 1);
    let p = plan(&input(&[], &secret, &st, 100));
    assert_eq!(p.mint().map(|m| m.2), Some(MintReason::CredentialGone));
    assert_eq!(p.status.sequence, 2);
}

#[test]
fn just_minted_credential_missing_during_replication_lag_is_trusted() {
    let secret = holds("k1");
    let st = steady_status("k1", 1); // created at t(0), grace 30s
    let p = plan(&input(&[], &secret, &st, 10));
    assert!(p.actions.is_empty());
    assert_eq!(p.requeue_at, Some(t(30)));
    assert_eq!(p.status, st);
}

#[test]
fn manual_trigger_rotates_once() {
    let live = [cred("k1", Some(1), 0, 900)];
    let secret = holds("k1");
    let st = steady_status("k1", 1);
    let mut i = input(&live, &secret, &st, 100);
    i.trigger = Some("2026-01-01");
    let p = plan(&i);
    assert_eq!(p.mint().map(|m| m.2), Some(MintReason::Manual));
    assert_eq!(p.status.handled_trigger.as_deref(), Some("2026-01-01"));

    let mut handled = st.clone();
    handled.handled_trigger = Some("2026-01-01".into());
    let mut i = input(&live, &secret, &handled, 100);
    i.trigger = Some("2026-01-01");
    assert!(plan(&i).actions.is_empty());
}

#[test]
fn initial_with_trigger_marks_it_handled() {
    let st = RotationStatus::default();
    let secret = SecretView::default();
    let mut i = input(&[], &secret, &st, 0);
    i.trigger = Some("x");
    let p = plan(&i);
    assert_eq!(p.mint().map(|m| m.2), Some(MintReason::Initial));
    assert_eq!(p.status.handled_trigger.as_deref(), Some("x"));
}

#[test]
fn sequence_skips_past_orphans() {
    let live = [cred("k1", Some(1), 0, 900), cred("crash", Some(5), 10, 910)];
    let secret = holds("k1");
    let st = steady_status("k1", 1);
    let p = plan(&input(&live, &secret, &st, 600));
    assert_eq!(
        p.mint().map(|m| m.0.to_string()),
        Some("entramail:uid-1:6".into())
    );
    assert_eq!(
        p.revocations().collect::<Vec<_>>(),
        vec![("crash", RevokeReason::Orphan)]
    );
}

// --- property tests over arbitrary worlds ---

fn arb_cred() -> impl Strategy<Value = LiveCredential> {
    (
        0usize..6,
        prop_oneof![Just(None), Just(Some(UID)), Just(Some("foreign"))],
        0u64..5,
        -2000i64..2000,
        1i64..2000,
    )
        .prop_map(|(k, who, seq, start, len)| LiveCredential {
            key_id: format!("k{k}"),
            display_name: who.map(|u| credential_tag(u, seq)),
            start: Some(t(start)),
            end: Some(t(start + len)),
        })
}

fn arb_key() -> impl Strategy<Value = Option<String>> {
    proptest::option::of((0usize..6).prop_map(|k| format!("k{k}")))
}

prop_compose! {
    fn arb_world()(
        live in proptest::collection::vec(arb_cred(), 0..5),
        cur in arb_key(), has_text in any::<bool>(), prev in arb_key(),
        st_cur in arb_key(), created in proptest::option::of(-100i64..100),
        retiring in proptest::collection::vec((0usize..6, -100i64..200), 0..3),
        seq in 0u64..4, now in -100i64..3000,
        trigger in proptest::option::of("[ab]"), handled in proptest::option::of("[ab]"),
        delivered in any::<bool>(),
        limit in prop_oneof![Just(None), Just(Some(2usize))],
    ) -> (Vec<LiveCredential>, SecretView, RotationStatus, i64, Option<String>, (bool, Option<usize>)) {
        let mut dedup = live;
        dedup.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        dedup.dedup_by(|a, b| a.key_id == b.key_id);
        let status = RotationStatus {
            current_key_id: st_cur,
            current_created: created.map(t),
            not_after: created.map(|c| t(c + 900)),
            renewal_time: created.map(|c| t(c + 600)),
            retiring: retiring.into_iter().map(|(k, s)| Retiring { key_id: format!("k{k}"), revoke_after: t(s) }).collect(),
            handled_trigger: handled,
            sequence: seq,
        };
        (dedup, SecretView { current_key_id: cur, has_text, previous_key_id: prev }, status, now, trigger, (delivered, limit))
    }
}

proptest! {
    #[test]
    fn invariants((live, secret, status, now, trigger, (delivered, limit)) in arb_world()) {
        let i = Input { uid: UID, live: &live, secret: &secret, status: &status, policy: policy(),
            trigger: trigger.as_deref(), delivered, max_secrets: limit, consumers: true, now: t(now) };
        let p = plan(&i);
        let secret_key = secret.current_key_id.clone().filter(|_| secret.has_text);
        let mints = p.actions.iter().filter(|a| matches!(a, Action::Mint { .. })).count();
        prop_assert!(mints <= 1);
        for (k, _) in p.revocations() {
            prop_assert!(Some(k.to_string()) != secret_key, "revoked the Secret's key {k}");
            let c = live.iter().find(|c| c.key_id == k).unwrap();
            prop_assert!(crate::planner::tag::is_ours(c.display_name.as_deref(), UID), "revoked foreign {k}");
        }
        // A superseded credential goes only once its successor is confirmed everywhere and the overlap passed.
        for (k, reason) in p.revocations() {
            if reason == RevokeReason::Superseded {
                prop_assert!(delivered && secret_key.is_some(), "revoked {k} unconfirmed");
                if let Some(r) = status.retiring.iter().find(|r| r.key_id == k) {
                    prop_assert!(t(now) >= r.revoke_after, "revoked {k} inside the overlap");
                }
            }
        }
        // Entra's limit is never exceeded by a mint: what stays live after the revocations, plus one, fits.
        if let (Some(max), Some(_)) = (limit, p.mint()) {
            let revoked: Vec<&str> = p.revocations().map(|(k, _)| k).collect();
            let remaining = live.iter().filter(|c| !revoked.contains(&c.key_id.as_str())).count();
            prop_assert!(remaining < max, "minted over the limit");
        }
        // Blocked and minting are exclusive.
        prop_assert!(!(p.blocked.is_some() && p.mint().is_some()));
        // The Secret's previous text is dropped before its credential is revoked.
        if let Some(prev) = secret.previous_key_id.as_deref()
            && let Some(pos) = p.actions.iter().position(|a| matches!(a, Action::Revoke { key_id, .. } if key_id == prev))
        {
            prop_assert!(p.actions[..pos].contains(&Action::WriteSecret(SecretWrite::DropPrevious)));
        }
        if let Some(r) = p.requeue_at { prop_assert!(r >= t(now)); }
        // Nothing to do now means nothing to look at now: no busy requeue loop.
        if p.actions.is_empty() && let Some(r) = p.requeue_at {
            prop_assert!(r > t(now), "requeue at now with nothing to do");
        }
        if let Some((_, end, _)) = p.mint() {
            prop_assert!(end > t(now));
            prop_assert!(p.status.renewal_time.unwrap() > t(now), "fresh credential must not be due at once");
            // A minted credential is always followed by the Secret write before anything else can fail.
            let at = p.actions.iter().position(|a| matches!(a, Action::Mint { .. })).unwrap();
            let secret_next = matches!(p.actions.get(at + 1), Some(Action::WriteSecret(SecretWrite::NewCurrent { .. })));
            prop_assert!(secret_next);
        }
        // Re-planning a steady result (nothing to do) gives the same status: no write loops.
        if p.actions.is_empty() {
            let again = plan(&Input { status: &p.status, ..i.clone() });
            prop_assert!(again.actions.is_empty());
            prop_assert_eq!(again.status, p.status);
        }
    }
}
