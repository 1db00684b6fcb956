//! The rotation plan: given the live credentials in Entra, what the Secret holds, our status, the policy and `now`,
//! decide which credential to mint, what to write, what to revoke, and when to look again.
//!
//! Rules (docs/rotation.md): schedule from the live credential's real endDateTime; two-phase rotation (mint →
//! Secret holds new as current, old as previous → restart consumers, deliver to NocoBase → once every delivery
//! confirmed the new one AND the overlap has passed, revoke the old); never revoke what the Secret holds, nor an
//! old credential whose successor is unconfirmed (it simply expires); only credentials tagged with our CR UID are
//! ever revoked. Entra caps personal-account apps at 2 client secrets: what is safe to revoke goes before a mint,
//! and a mint the cap still blocks is reported, never forced.

use chrono::{DateTime, TimeDelta, Utc};

use super::tag::{credential_tag, parse_tag};

mod limit;
mod types;

use limit::mint_or_block;

pub use types::*;

/// The instant to renew a credential valid from `start` to `end`.
pub fn renewal_time(start: DateTime<Utc>, end: DateTime<Utc>, policy: &Policy) -> DateTime<Utc> {
    let lifetime = end - start;
    let default = lifetime / 3;
    let before = match policy.renew_before {
        // A renewBefore as long as the lifetime would renew at once, forever; fall back like cert-manager does.
        Some(RenewBefore::Duration(d)) if d > TimeDelta::zero() && d < lifetime => d,
        Some(RenewBefore::Percentage(p)) if (1..=99).contains(&p) => lifetime * i32::from(p) / 100,
        _ => default,
    };
    end - before
}

fn effective_lifetime(policy: &Policy) -> TimeDelta {
    policy.lifetime.max(TimeDelta::seconds(1))
}

/// Decide what to do. Each phase is a function below, in the order it runs; `next` is the status being built and
/// `wake` collects the instants at which to look again.
pub fn plan(input: &Input<'_>) -> Plan {
    let view = View::new(input);
    let mut next = input.status.clone();
    let mut wake: Vec<DateTime<Utc>> = Vec::new();

    let mint_reason = schedule(&view, &mut next, &mut wake);
    retire(&view, mint_reason.is_some(), &mut next);
    let revocations = revocations(&view, mint_reason, &next);
    let revoked: Vec<&str> = revocations.iter().map(|(k, _)| k.as_str()).collect();
    let (minting, blocked) = mint_or_block(&view, mint_reason, &revoked, &mut next, &mut wake);
    let actions = actions(&view, &revocations, &revoked, minting, &mut next, &mut wake);
    forget_retired(&view, &revoked, minting.is_some(), &mut next);
    wake_for_retiring(&view, &next, &mut wake);

    let requeue_at = wake.into_iter().min().map(|t| t.max(input.now));
    Plan {
        actions,
        requeue_at,
        status: next,
        blocked,
    }
}

/// The planner's input and the facts every phase derives from it.
struct View<'i, 'a> {
    input: &'i Input<'a>,
    /// The key the Secret holds with text: consumers may use it, so it is never revoked in this plan.
    secret_key: Option<&'a str>,
}

impl<'i, 'a> View<'i, 'a> {
    fn new(input: &'i Input<'a>) -> Self {
        let secret_key = input.secret.held_key();
        Self { input, secret_key }
    }

    fn find(&self, key_id: &str) -> Option<&'a LiveCredential> {
        self.input.live.iter().find(|c| c.key_id == key_id)
    }

    /// Tagged with our CR UID: the only credentials this plan may ever revoke.
    fn ours(&self, c: &LiveCredential) -> bool {
        parse_tag(c.display_name.as_deref(), self.input.uid).is_some()
    }
}

/// Phase 1: does the current credential need replacing? If not, record its schedule in `next`.
fn schedule(
    view: &View<'_, '_>,
    next: &mut RotationStatus,
    wake: &mut Vec<DateTime<Utc>>,
) -> Option<MintReason> {
    let input = view.input;
    let trigger_pending = input
        .trigger
        .is_some_and(|t| Some(t) != input.status.handled_trigger.as_deref());
    let (mint_reason, schedule) = replacement(input, view.secret_key, trigger_pending, wake);
    if let Some((k, end, renew)) = schedule {
        next.not_after = Some(end);
        next.renewal_time = Some(renew);
        next.current_key_id = Some(k);
    }
    mint_reason
}

/// Phase 2: retiring bookkeeping. A credential being replaced, or one the Secret keeps as previous, stays valid
/// at least for the overlap.
fn retire(view: &View<'_, '_>, replacing: bool, next: &mut RotationStatus) {
    let Input {
        secret,
        status,
        policy,
        now,
        ..
    } = view.input;
    let revoke_after = *now + policy.overlap;

    // The credential being replaced stays valid at least for the overlap: consumers may still run with it.
    if replacing
        && let Some(old) = secret
            .current_key_id
            .clone()
            .or(status.current_key_id.clone())
        && !next.retiring.iter().any(|r| r.key_id == old)
    {
        next.retiring.push(Retiring {
            key_id: old,
            revoke_after,
        });
    }

    // A previous secret whose key the status lost track of (e.g. status write failed): give it a fresh overlap.
    if let Some(p) = secret.previous_key_id.as_deref()
        && Some(p) != view.secret_key
        && view.find(p).is_some()
        && !next.retiring.iter().any(|r| r.key_id == p)
    {
        next.retiring.push(Retiring {
            key_id: p.to_string(),
            revoke_after,
        });
    }
}

/// Phase 3: revocations, only among credentials tagged with our UID, planned before any mint (Entra's limit).
fn revocations(
    view: &View<'_, '_>,
    mint_reason: Option<MintReason>,
    next: &RotationStatus,
) -> Vec<(String, RevokeReason)> {
    let Input {
        live,
        delivered,
        max_secrets,
        now,
        ..
    } = *view.input;
    let mut revocations = Vec::new();
    for c in live.iter().filter(|c| view.ours(c)) {
        if Some(c.key_id.as_str()) == view.secret_key {
            continue;
        }
        if mint_reason.is_none() && next.current_key_id.as_deref() == Some(c.key_id.as_str()) {
            continue;
        }
        let retiring = next.retiring.iter().find(|r| r.key_id == c.key_id);
        let expired = c.end.is_some_and(|e| e <= now);
        let reason = match retiring {
            // Its successor (the Secret's credential) confirmed everywhere, and the minimum hold passed.
            Some(r) if delivered && view.secret_key.is_some() && now >= r.revoke_after => {
                Some(RevokeReason::Superseded)
            }
            // Unconfirmed: it stays until it expires (NocoBase may still use it), then it is harmless.
            Some(_) if expired => Some(RevokeReason::Expired),
            Some(_) => None,
            None if expired => Some(RevokeReason::Expired),
            // Tagged but neither in the Secret nor in status, e.g. after a crash or an ambiguous addPassword.
            None => Some(RevokeReason::Orphan),
        };
        if let Some(reason) = reason {
            revocations.push((c.key_id.clone(), reason));
        }
    }
    // The Secret lost its text (deleted or edited away): nothing it could hold will ever confirm a successor, so
    // the retiring credentials would block the replacement at Entra's limit until they expire. Free just enough
    // slots, oldest first (no start date counts as oldest).
    if view.secret_key.is_none()
        && mint_reason.is_some()
        && let Some(limit) = max_secrets
    {
        let gone = |revocations: &[(String, RevokeReason)], k: &str| {
            revocations.iter().any(|(r, _)| r == k)
        };
        let mut remaining = live
            .iter()
            .filter(|c| !gone(&revocations, &c.key_id))
            .count();
        let mut candidates: Vec<&LiveCredential> = live
            .iter()
            .filter(|c| view.ours(c) && next.retiring.iter().any(|r| r.key_id == c.key_id))
            .filter(|c| !gone(&revocations, &c.key_id))
            .collect();
        // Our tag's sequence orders mints exactly; start dates are whole seconds and two mints can share one.
        candidates.sort_by_key(|c| {
            let sequence = parse_tag(c.display_name.as_deref(), view.input.uid);
            (sequence, c.start, c.end, c.key_id.clone())
        });
        for c in candidates {
            if remaining < limit {
                break;
            }
            revocations.push((c.key_id.clone(), RevokeReason::SecretLost));
            remaining -= 1;
        }
    }
    revocations
}

/// Phase 5: the actions, in order: drop the Secret's previous text, revoke, then mint, write and restart.
fn actions(
    view: &View<'_, '_>,
    revocations: &[(String, RevokeReason)],
    revoked: &[&str],
    minting: Option<MintReason>,
    next: &mut RotationStatus,
    wake: &mut Vec<DateTime<Utc>>,
) -> Vec<Action> {
    let mut actions = Vec::new();
    // The Secret's previous text goes before its credential is revoked (or once that credential is gone).
    let previous_goes =
        view.input.secret.previous_key_id.as_deref().filter(|p| {
            Some(*p) != view.secret_key && (revoked.contains(p) || view.find(p).is_none())
        });
    if previous_goes.is_some() {
        actions.push(Action::WriteSecret(SecretWrite::DropPrevious));
    }
    actions.extend(revocations.iter().map(|(key_id, reason)| Action::Revoke {
        key_id: key_id.clone(),
        reason: *reason,
    }));
    if let Some(reason) = minting {
        actions.extend(mint(view, reason, next, wake));
    }
    actions
}

/// The mint with its Secret write and, when there are consumers, their restart; `next` records the new credential's schedule.
fn mint(
    view: &View<'_, '_>,
    reason: MintReason,
    next: &mut RotationStatus,
    wake: &mut Vec<DateTime<Utc>>,
) -> Vec<Action> {
    let Input {
        uid,
        live,
        status,
        policy,
        trigger,
        consumers,
        now,
        ..
    } = *view.input;
    let seq = live
        .iter()
        .filter_map(|c| parse_tag(c.display_name.as_deref(), uid))
        .chain([status.sequence])
        .max()
        .unwrap_or(0)
        + 1;
    let end = now + effective_lifetime(&policy);
    let renew = renewal_time(now, end, &policy);
    next.current_key_id = None;
    next.current_created = Some(now);
    next.not_after = Some(end);
    next.renewal_time = Some(renew);
    next.sequence = seq;
    if trigger.is_some() {
        next.handled_trigger = trigger.map(str::to_string);
    }
    wake.push(renew);
    let mut actions = vec![
        Action::Mint {
            display_name: credential_tag(uid, seq),
            end,
            reason,
        },
        Action::WriteSecret(SecretWrite::NewCurrent {
            previous_key_id: view.secret_key.map(str::to_string),
        }),
    ];
    if consumers {
        actions.push(Action::RestartConsumers);
    }
    actions
}

/// Phase 6: forget retiring entries that were revoked now or no longer exist (revoked earlier, or deleted by
/// someone). The key the Secret holds is current, never retiring (only a mint in this plan makes it retiring).
fn forget_retired(view: &View<'_, '_>, revoked: &[&str], minting: bool, next: &mut RotationStatus) {
    next.retiring.retain(|r| {
        !revoked.contains(&r.key_id.as_str())
            && view.find(&r.key_id).is_some()
            && (minting || Some(r.key_id.as_str()) != view.secret_key)
    });
}

/// Phase 7: wake at the end of each hold (to revoke if confirmed) and at each retiring credential's expiry. A hold
/// that has passed is not a reason to look again: a confirmation arrives as a watch event (annotation, rollout) or
/// with the delivery's own retry.
fn wake_for_retiring(view: &View<'_, '_>, next: &RotationStatus, wake: &mut Vec<DateTime<Utc>>) {
    let now = view.input.now;
    for r in &next.retiring {
        if r.revoke_after > now {
            wake.push(r.revoke_after);
        }
        if let Some(end) = view
            .find(&r.key_id)
            .and_then(|c| c.end)
            .filter(|e| *e > now)
        {
            wake.push(end);
        }
    }
}

/// Why the credential the Secret holds needs replacing (if it does), else its (keyId, end, renewal) schedule.
#[allow(clippy::type_complexity)]
fn replacement(
    input: &Input<'_>,
    secret_key: Option<&str>,
    trigger_pending: bool,
    wake: &mut Vec<DateTime<Utc>>,
) -> (
    Option<MintReason>,
    Option<(String, DateTime<Utc>, DateTime<Utc>)>,
) {
    let Input {
        live,
        secret,
        status,
        policy,
        now,
        ..
    } = input;
    let find = |k: &str| live.iter().find(|c| c.key_id == k);
    let Some(k) = secret_key else {
        return if status.current_key_id.is_none() && secret.current_key_id.is_none() {
            (Some(MintReason::Initial), None)
        } else {
            (Some(MintReason::SecretLost), None)
        };
    };
    let schedule = match find(k) {
        Some(c) => c.end.map(|end| {
            let start = c.start.unwrap_or(end - effective_lifetime(policy));
            (end, renewal_time(start, end, policy))
        }),
        None => {
            // Not visible: trust our own recent write during replication lag, else it is gone.
            let trusted_until = (status.current_key_id.as_deref() == Some(k))
                .then_some(status.current_created)
                .flatten()
                .map(|c| c + policy.consistency_grace)
                .filter(|t| t > now);
            match trusted_until {
                Some(t) => {
                    wake.push(t);
                    status.not_after.zip(status.renewal_time)
                }
                None => None,
            }
        }
    };
    match schedule {
        None if find(k).is_none() => (Some(MintReason::CredentialGone), None),
        // Live but without an end date: nothing to schedule from; only a manual trigger rotates.
        None => (trigger_pending.then_some(MintReason::Manual), None),
        Some((end, renew)) => {
            if renew <= *now {
                (Some(MintReason::Renewal), None)
            } else if trigger_pending {
                (Some(MintReason::Manual), None)
            } else {
                wake.push(renew);
                (None, Some((k.to_string(), end, renew)))
            }
        }
    }
}

#[cfg(test)]
#[path = "rotation_tests.rs"]
mod tests;
