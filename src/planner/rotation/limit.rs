//! Entra's limit on client secrets (2 for apps that allow personal Microsoft accounts): whether it blocks the mint
//! after this plan's revocations, and which credentials fill the slots.

use chrono::{DateTime, Utc};

use super::{Blocked, Holder, Input, MintReason, RotationStatus, View};
use crate::planner::tag::parse_tag;

/// Phase 4: the mint, unless Entra's limit on client secrets blocks it. Returns (what to mint, what blocks it).
pub(super) fn mint_or_block(
    view: &View<'_, '_>,
    mint_reason: Option<MintReason>,
    revoked: &[&str],
    next: &mut RotationStatus,
    wake: &mut Vec<DateTime<Utc>>,
) -> (Option<MintReason>, Option<Blocked>) {
    let Input {
        live,
        max_secrets,
        now,
        ..
    } = *view.input;
    let Some(reason) = mint_reason else {
        return (None, None);
    };
    let remaining = live
        .iter()
        .filter(|c| !revoked.contains(&c.key_id.as_str()))
        .count();
    let limit = match max_secrets {
        Some(limit) if remaining >= limit => limit,
        _ => return (Some(reason), None),
    };
    let blocked = Blocked {
        reason,
        limit,
        holders: holders(view.input, view.secret_key, revoked, next),
    };
    // A slot frees when a holder expires or its hold ends (deliveries wake us themselves).
    wake.extend(
        live.iter()
            .filter(|c| view.ours(c) && !revoked.contains(&c.key_id.as_str()))
            .filter_map(|c| c.end)
            .filter(|e| *e > now),
    );
    if let Some(k) = view.secret_key
        && let Some(c) = view.find(k)
    {
        next.current_key_id = Some(k.to_string());
        next.not_after = c.end.or(next.not_after);
    }
    (None, Some(blocked))
}

/// The live credentials that fill Entra's limit after this plan's revocations, and why each stays.
fn holders(
    input: &Input<'_>,
    secret_key: Option<&str>,
    revoked: &[&str],
    next: &RotationStatus,
) -> Vec<(String, Holder, Option<DateTime<Utc>>)> {
    // Confirmed (the same test revocations() applies): only the overlap keeps it.
    let confirmed = input.delivered && secret_key.is_some();
    input
        .live
        .iter()
        .filter(|c| !revoked.contains(&c.key_id.as_str()))
        .map(|c| {
            let hold_ends = next
                .retiring
                .iter()
                .find(|r| r.key_id == c.key_id)
                .map(|r| r.revoke_after)
                .filter(|until| confirmed && *until > input.now);
            let why = if Some(c.key_id.as_str()) == secret_key {
                Holder::InSecret
            } else if parse_tag(c.display_name.as_deref(), input.uid).is_none() {
                Holder::Foreign
            } else if let Some(until) = hold_ends {
                Holder::InOverlap(until)
            } else {
                Holder::AwaitingDelivery
            };
            (c.key_id.clone(), why, c.end)
        })
        .collect()
}
