//! The rotation plan: given the live credentials in Entra, what the Secret holds, our status, the policy and `now`,
//! decide which credential to mint, what to write, what to revoke, and when to look again.
//!
//! Rules (DESIGN.md "Rotation model"): schedule from the live credential's real endDateTime; two-phase rotation
//! (mint → Secret holds new as current, old as previous → restart consumers / push to NocoBase → after rollout and
//! push, or after the overlap, revoke old);
//! never revoke what the Secret holds; only credentials tagged with our CR UID are ever revoked.

use chrono::{DateTime, TimeDelta, Utc};

use super::{
    push::Push,
    tag::{credential_tag, parse_tag},
};

/// One password credential as Graph lists it on the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCredential {
    pub key_id: String,
    pub display_name: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// What the Kubernetes Secret currently holds (no secret text, only facts about it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretView {
    /// keyId recorded with the current client secret (None: no Secret or no record).
    pub current_key_id: Option<String>,
    /// Whether the Secret still holds non-empty current secret text (false when deleted or edited away).
    pub has_text: bool,
    /// keyId of the previous client secret kept during an overlap.
    pub previous_key_id: Option<String>,
}

/// A superseded credential waiting to be revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retiring {
    pub key_id: String,
    pub revoke_after: DateTime<Utc>,
}

/// The rotation part of the CR status: input to the planner and, updated, its output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationStatus {
    pub current_key_id: Option<String>,
    /// When we minted the current credential (bounds how long we trust it while Graph replicates).
    pub current_created: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
    pub renewal_time: Option<DateTime<Utc>>,
    pub retiring: Vec<Retiring>,
    /// Last rotate-trigger annotation value acted on.
    pub handled_trigger: Option<String>,
    /// Sequence number of the last credential we minted.
    pub sequence: u64,
}

/// How long before notAfter to renew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewBefore {
    Duration(TimeDelta),
    /// Percentage of the lifetime left when renewing (1..=99).
    Percentage(u8),
}

/// Rotation policy from the spec (plus the controller's consistency grace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub lifetime: TimeDelta,
    /// None: renew with 1/3 of the lifetime left.
    pub renew_before: Option<RenewBefore>,
    /// How long the old credential stays valid after the Secret switched (upper bound when consumers are tracked).
    pub overlap: TimeDelta,
    /// How long a just-minted credential may be missing from Graph reads (replication lag) before we call it gone.
    pub consistency_grace: TimeDelta,
}

/// State of the consumer workloads after the last restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumers {
    /// No consumer workloads configured: only the overlap window tells us when the old secret is unused.
    NotConfigured,
    Progressing,
    RolledOut,
}

#[derive(Debug, Clone)]
pub struct Input<'a> {
    pub uid: &'a str,
    pub live: &'a [LiveCredential],
    pub secret: &'a SecretView,
    pub status: &'a RotationStatus,
    pub policy: Policy,
    /// Current value of the manual rotate-trigger annotation.
    pub trigger: Option<&'a str>,
    pub consumers: Consumers,
    /// Whether the credential the Secret holds was pushed to NocoBase (spec.rotation.nocobasePush).
    pub push: Push,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MintReason {
    Initial,
    /// The Secret was deleted or its text edited away.
    SecretLost,
    /// The credential the Secret holds no longer exists in Entra.
    CredentialGone,
    Renewal,
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    /// Tagged with our UID but neither in the Secret nor in status (e.g. crash after addPassword).
    Orphan,
    /// Replaced by a newer credential and the overlap/rollout is done.
    Superseded,
    /// Ours, unused, and past its end date.
    Expired,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretWrite {
    /// Write the just-minted credential as current; keep the Secret's current text as previous under this keyId.
    NewCurrent { previous_key_id: Option<String> },
    /// Remove the previous secret (its credential was revoked or is gone).
    DropPrevious,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Mint {
        display_name: String,
        end: DateTime<Utc>,
        reason: MintReason,
    },
    WriteSecret(SecretWrite),
    RestartConsumers,
    Revoke {
        key_id: String,
        reason: RevokeReason,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Execute in order; stop at the first failure.
    pub actions: Vec<Action>,
    /// When to reconcile next (never in the past); None = nothing scheduled.
    pub requeue_at: Option<DateTime<Utc>>,
    /// Status after the actions succeed. When a mint is planned `current_key_id` is None: fill in the minted keyId.
    pub status: RotationStatus,
}

impl Plan {
    pub fn mint(&self) -> Option<(&str, DateTime<Utc>, MintReason)> {
        self.actions.iter().find_map(|a| match a {
            Action::Mint {
                display_name,
                end,
                reason,
            } => Some((display_name.as_str(), *end, *reason)),
            _ => None,
        })
    }

    pub fn revocations(&self) -> impl Iterator<Item = (&str, RevokeReason)> {
        self.actions.iter().filter_map(|a| match a {
            Action::Revoke { key_id, reason } => Some((key_id.as_str(), *reason)),
            _ => None,
        })
    }
}

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

/// Whether NocoBase has picked up the credential the Secret holds, so the previous one may go before the overlap
/// ends: every configured signal (consumer rollout, API push) is done, and at least one is configured. Without
/// any signal only the overlap tells.
pub fn picked_up(consumers: Consumers, push: Push) -> bool {
    match (consumers, push) {
        (Consumers::NotConfigured, Push::NotConfigured) => false,
        (Consumers::Progressing, _) | (_, Push::Pending) => false,
        (Consumers::RolledOut | Consumers::NotConfigured, Push::Done | Push::NotConfigured) => true,
    }
}

fn effective_lifetime(policy: &Policy) -> TimeDelta {
    policy.lifetime.max(TimeDelta::seconds(1))
}

/// Decide what to do.
pub fn plan(input: &Input<'_>) -> Plan {
    let Input {
        uid,
        live,
        secret,
        status,
        policy,
        trigger,
        consumers,
        push,
        now,
    } = input.clone();
    let find = |k: &str| live.iter().find(|c| c.key_id == k);
    let ours = |c: &LiveCredential| parse_tag(c.display_name.as_deref(), uid).is_some();

    let mut next = status.clone();
    let mut actions = Vec::new();
    let mut wake: Vec<DateTime<Utc>> = Vec::new();

    // The key the Secret holds with text: consumers may use it, so it is never revoked in this plan.
    let secret_key = secret.current_key_id.as_deref().filter(|_| secret.has_text);
    let trigger_pending = trigger.is_some_and(|t| Some(t) != status.handled_trigger.as_deref());

    // --- Phase 1: does the current credential need replacing?
    let mint_reason = match secret_key {
        None if status.current_key_id.is_none() && secret.current_key_id.is_none() => {
            Some(MintReason::Initial)
        }
        None => Some(MintReason::SecretLost),
        Some(k) => {
            let schedule = match find(k) {
                Some(c) => c.end.map(|end| {
                    let start = c.start.unwrap_or(end - effective_lifetime(&policy));
                    (end, renewal_time(start, end, &policy))
                }),
                None => {
                    // Not visible: trust our own recent write during replication lag, else it is gone.
                    let trusted_until = (status.current_key_id.as_deref() == Some(k))
                        .then_some(status.current_created)
                        .flatten()
                        .map(|c| c + policy.consistency_grace)
                        .filter(|t| *t > now);
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
                None if find(k).is_none() => Some(MintReason::CredentialGone),
                // Live but without an end date: nothing to schedule from; only a manual trigger rotates.
                None => trigger_pending.then_some(MintReason::Manual),
                Some((end, renew)) => {
                    if renew <= now {
                        Some(MintReason::Renewal)
                    } else if trigger_pending {
                        Some(MintReason::Manual)
                    } else {
                        next.not_after = Some(end);
                        next.renewal_time = Some(renew);
                        next.current_key_id = Some(k.to_string());
                        wake.push(renew);
                        None
                    }
                }
            }
        }
    };

    let minting = mint_reason.is_some();
    if let Some(reason) = mint_reason {
        let seq = live
            .iter()
            .filter_map(|c| parse_tag(c.display_name.as_deref(), uid))
            .chain([status.sequence])
            .max()
            .unwrap_or(0)
            + 1;
        let end = now + effective_lifetime(&policy);
        actions.push(Action::Mint {
            display_name: credential_tag(uid, seq),
            end,
            reason,
        });
        actions.push(Action::WriteSecret(SecretWrite::NewCurrent {
            previous_key_id: secret_key.map(str::to_string),
        }));
        actions.push(Action::RestartConsumers);
        // The credential being replaced stays valid for the overlap: consumers may still run with it.
        let old = secret
            .current_key_id
            .clone()
            .or(status.current_key_id.clone());
        if let Some(old) = old
            && !next.retiring.iter().any(|r| r.key_id == old)
        {
            next.retiring.push(Retiring {
                key_id: old,
                revoke_after: now + policy.overlap,
            });
        }
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
    }

    // A previous secret whose key the status lost track of (e.g. status write failed): give it a fresh overlap.
    if let Some(p) = secret.previous_key_id.as_deref()
        && Some(p) != secret_key
        && find(p).is_some()
        && !next.retiring.iter().any(|r| r.key_id == p)
    {
        next.retiring.push(Retiring {
            key_id: p.to_string(),
            revoke_after: now + policy.overlap,
        });
    }

    // --- Phase 2: revocations, only among credentials tagged with our UID.
    let mut revoked: Vec<String> = Vec::new();
    for c in live.iter().filter(|c| ours(c)) {
        if Some(c.key_id.as_str()) == secret_key {
            continue;
        }
        if !minting && next.current_key_id.as_deref() == Some(c.key_id.as_str()) {
            continue;
        }
        let reason = match next.retiring.iter().find(|r| r.key_id == c.key_id) {
            Some(r) => {
                let rolled = !minting && picked_up(consumers, push);
                if now >= r.revoke_after || rolled {
                    Some(RevokeReason::Superseded)
                } else {
                    None
                }
            }
            None if c.end.is_some_and(|e| e <= now) => Some(RevokeReason::Expired),
            None => Some(RevokeReason::Orphan),
        };
        if let Some(reason) = reason {
            revoked.push(c.key_id.clone());
            actions.push(Action::Revoke {
                key_id: c.key_id.clone(),
                reason,
            });
        }
    }
    // Forget retiring entries that were revoked now or no longer exist (revoked earlier, or deleted by someone).
    // The key the Secret holds is current, never retiring (only a mint in this plan makes it retiring).
    next.retiring.retain(|r| {
        !revoked.contains(&r.key_id)
            && find(&r.key_id).is_some()
            && (minting || Some(r.key_id.as_str()) != secret_key)
    });
    wake.extend(next.retiring.iter().map(|r| r.revoke_after));

    // The Secret's previous text is useless once its credential is revoked or gone.
    if !minting
        && let Some(p) = secret.previous_key_id.as_deref()
        && Some(p) != secret_key
        && !next.retiring.iter().any(|r| r.key_id == p)
    {
        actions.push(Action::WriteSecret(SecretWrite::DropPrevious));
    }

    let requeue_at = wake.into_iter().min().map(|t| t.max(now));
    Plan {
        actions,
        requeue_at,
        status: next,
    }
}

#[cfg(test)]
#[path = "rotation_tests.rs"]
mod tests;
