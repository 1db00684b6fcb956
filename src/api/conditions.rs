//! Status conditions shared by both custom resources, and a pure merge helper.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Overall readiness: true when everything below is true.
pub const READY: &str = "Ready";
/// The app registration and its service principal exist and match the spec.
pub const APPLICATION_READY: &str = "ApplicationReady";
/// A live client secret exists and is not due for renewal.
pub const CREDENTIAL_READY: &str = "CredentialReady";
/// The Kubernetes Secret holds the current credential.
pub const SECRET_SYNCED: &str = "SecretSynced";
/// Consumer workloads were restarted after the last credential change and rolled out.
pub const CONSUMERS_UPDATED: &str = "ConsumersUpdated";
/// The referenced EntraTenant exists, is Ready and allows this namespace.
pub const TENANT_READY: &str = "TenantReady";
/// Tenant-wide admin consent was granted (only when `adminConsent: true`).
pub const ADMIN_CONSENT_GRANTED: &str = "AdminConsentGranted";
/// The new client secret proved that it authenticates (a token request) before it went into the Secret.
pub const CREDENTIAL_VERIFIED: &str = "CredentialVerified";
/// Every configured delivery (NocoBase API read-back, consumers' rollout, a person's acknowledgement) confirmed
/// the credential the Secret holds. False does not make Ready false: the Secret still holds the right credential;
/// it holds back the revocation of the previous one.
pub const DELIVERED: &str = "Delivered";

/// Kubernetes-style condition status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub fn from_bool(b: bool) -> Self {
        if b { Self::True } else { Self::False }
    }
}

/// One aspect of the resource's current state (same shape as `metav1.Condition`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. Ready, ApplicationReady, CredentialReady, SecretSynced, ConsumersUpdated, TenantReady.
    #[serde(rename = "type")]
    pub type_: String,
    /// True, False or Unknown.
    pub status: ConditionStatus,
    /// Machine-readable CamelCase reason for the last transition.
    pub reason: String,
    /// Human-readable details.
    #[serde(default)]
    pub message: String,
    /// When the status last changed (not when the condition was last written).
    pub last_transition_time: Time,
    /// The metadata.generation this condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// A condition stamped with `now` as its transition time (kept by [`set_condition`] if the status did not change).
    pub fn new(
        type_: impl Into<String>,
        status: ConditionStatus,
        reason: impl Into<String>,
        message: impl Into<String>,
        observed_generation: Option<i64>,
        now: Time,
    ) -> Self {
        Self {
            type_: type_.into(),
            status,
            reason: reason.into(),
            message: message.into(),
            last_transition_time: now,
            observed_generation,
        }
    }

    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }
}

/// Finds the condition of the given type.
pub fn find_condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// True if the condition of that type exists and is True.
pub fn is_condition_true(conditions: &[Condition], type_: &str) -> bool {
    find_condition(conditions, type_).is_some_and(Condition::is_true)
}

/// Inserts or replaces the condition with the same type. If the status is unchanged the existing
/// `lastTransitionTime` is kept, so that re-reconciling a steady state changes nothing.
/// Returns whether the list changed (callers skip the status write when it did not).
pub fn set_condition(conditions: &mut Vec<Condition>, mut update: Condition) -> bool {
    match conditions.iter_mut().find(|c| c.type_ == update.type_) {
        Some(existing) => {
            if existing.status == update.status {
                update.last_transition_time = existing.last_transition_time.clone();
            }
            if *existing == update {
                false
            } else {
                *existing = update;
                true
            }
        }
        None => {
            conditions.push(update);
            true
        }
    }
}

/// Applies several updates with [`set_condition`]; returns a new list and whether anything changed.
pub fn merge_conditions(
    existing: &[Condition],
    updates: impl IntoIterator<Item = Condition>,
) -> (Vec<Condition>, bool) {
    let mut merged = existing.to_vec();
    let mut changed = false;
    for u in updates {
        changed |= set_condition(&mut merged, u);
    }
    (merged, changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn t(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    fn cond(status: ConditionStatus, reason: &str, now: i64) -> Condition {
        Condition::new(READY, status, reason, "msg", Some(1), t(now))
    }

    #[test]
    fn same_status_keeps_transition_time_and_reports_no_change() {
        let mut list = vec![cond(ConditionStatus::True, "Ok", 100)];
        assert!(!set_condition(
            &mut list,
            cond(ConditionStatus::True, "Ok", 200)
        ));
        assert_eq!(list[0].last_transition_time, t(100));
    }

    #[test]
    fn same_status_new_reason_updates_but_keeps_time() {
        let mut list = vec![cond(ConditionStatus::False, "A", 100)];
        assert!(set_condition(
            &mut list,
            cond(ConditionStatus::False, "B", 200)
        ));
        assert_eq!(list[0].reason, "B");
        assert_eq!(list[0].last_transition_time, t(100));
    }

    #[test]
    fn status_change_moves_transition_time() {
        let mut list = vec![cond(ConditionStatus::False, "A", 100)];
        assert!(set_condition(
            &mut list,
            cond(ConditionStatus::True, "Ok", 200)
        ));
        assert_eq!(list[0].last_transition_time, t(200));
        assert!(is_condition_true(&list, READY));
    }

    #[test]
    fn new_type_is_appended_and_others_untouched() {
        let (merged, changed) = merge_conditions(
            &[cond(ConditionStatus::True, "Ok", 100)],
            [Condition::new(
                SECRET_SYNCED,
                ConditionStatus::Unknown,
                "Pending",
                "",
                None,
                t(300),
            )],
        );
        assert!(changed);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].last_transition_time, t(100));
        assert_eq!(
            find_condition(&merged, SECRET_SYNCED).unwrap().status,
            ConditionStatus::Unknown
        );
    }

    #[test]
    fn wire_format_matches_metav1_condition() {
        let json = serde_json::to_value(cond(ConditionStatus::True, "Ok", 0)).unwrap();
        assert_eq!(json["type"], "Ready");
        assert_eq!(json["status"], "True");
        assert_eq!(json["lastTransitionTime"], "1970-01-01T00:00:00Z");
        assert_eq!(json["observedGeneration"], 1);
    }
}
