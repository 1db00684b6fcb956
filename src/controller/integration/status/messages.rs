//! The texts a person reads in conditions: what failed, and what to change where we know it.

use kube::ResourceExt;

use crate::{
    api::{ACKNOWLEDGED_KEY_ID_ANNOTATION, NocoBaseMailIntegration},
    controller::error::Error,
    planner::rotation::{Blocked, Holder},
};

/// What a person reads in the failing condition: the cause, plus what to change where we know it.
pub fn failure_message(e: &Error, spec_lifetime: &str) -> String {
    match e {
        Error::Graph(g) if g.is_lifetime_policy() => format!(
            "spec.secret.lifetime {spec_lifetime} exceeds the tenant's app-management policy; lower it. {g}"
        ),
        Error::Graph(g) if g.is_credential_type_policy() => format!(
            "the tenant's app-management policy does not allow client secrets for this app; ask an Entra admin to exempt it (or the operator's apps) from the passwordAddition restriction. {g}"
        ),
        e => e.to_string(),
    }
}

/// The condition message for a person who must paste the secret by hand.
pub(super) fn manual_message(
    cr: &NocoBaseMailIntegration,
    key: &str,
    previous: Option<(String, String)>,
) -> String {
    let ns = cr.namespace().unwrap_or_default();
    let secret = cr.spec.secret.secret_name(&cr.name_any());
    let keys = &cr.spec.secret.keys;
    let mut m = format!(
        "paste client ID ({}) and client secret {key} ({}) from Secret {ns}/{secret} into NocoBase (Settings → Email settings → Outlook), then run: kubectl annotate nocobasemailintegration {} -n {ns} {ACKNOWLEDGED_KEY_ID_ANNOTATION}={key} --overwrite",
        keys.client_id,
        keys.client_secret,
        cr.name_any()
    );
    if let Some((old, until)) = previous {
        m.push_str(&format!(
            ". Until then the previous client secret {old} stays valid; it expires at {until}"
        ));
    }
    m
}

/// Which credentials fill Entra's limit and what a person can do.
pub(super) fn blocked_message(
    cr: &NocoBaseMailIntegration,
    b: &Blocked,
    secret_name: &str,
) -> String {
    let ns = cr.namespace().unwrap_or_default();
    let holders: Vec<String> = b
        .holders
        .iter()
        .map(|(k, why, end)| {
            let until = end.map(|e| format!(", expires {e}")).unwrap_or_default();
            let why = match why {
                Holder::InSecret => format!("in Secret {secret_name}"),
                Holder::AwaitingDelivery => {
                    "previous, kept until its successor is confirmed delivered".into()
                }
                Holder::InOverlap(until) => format!(
                    "previous, its successor is confirmed; kept until the overlap ends at {until}"
                ),
                Holder::Foreign => "not created by the operator".into(),
            };
            format!("{k} ({why}{until})")
        })
        .collect();
    let mut fix = Vec::new();
    if b.holders.iter().any(|h| h.1 == Holder::AwaitingDelivery) {
        fix.push(format!(
            "confirm the delivery of the current client secret (see the Delivered condition; e.g. kubectl annotate nocobasemailintegration {} -n {ns} {ACKNOWLEDGED_KEY_ID_ANNOTATION}=<keyId> --overwrite) or wait until the previous one expires",
            cr.name_any()
        ));
    }
    if let Some(until) = b
        .holders
        .iter()
        .filter_map(|h| match h.1 {
            Holder::InOverlap(until) => Some(until),
            _ => None,
        })
        .min()
    {
        fix.push(format!(
            "wait until {until}, when spec.rotation.overlap (the minimum hold after a rotation) ends"
        ));
    }
    if b.holders.iter().any(|h| h.1 == Holder::Foreign) {
        fix.push(format!(
            "remove a client secret the operator did not create (az ad app credential delete --id {} --key-id <keyId>)",
            cr.status
                .as_ref()
                .and_then(|s| s.app_id.clone())
                .unwrap_or_else(|| "<appId>".into())
        ));
    }
    format!(
        "cannot create a new client secret ({:?}): apps that allow personal Microsoft accounts may have at most {} and these fill the slots: {}. To continue: {}",
        b.reason,
        b.limit,
        holders.join("; "),
        fix.join("; or ")
    )
}
