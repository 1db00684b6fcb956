//! Step 1: the one set of books for backoff is the status (`failedAttempts`, `nextAttemptAfter`). A reconcile that
//! comes before the recorded retry time (the watch echo of our own failure write, an operator restart, a resync)
//! waits for it; a change of the spec or of an annotation the person set goes ahead at once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::ResourceExt;

use crate::{
    api::{ACKNOWLEDGED_KEY_ID_ANNOTATION, NocoBaseMailIntegration, ROTATE_ANNOTATION},
    controller::{error::Error, time},
    planner::backoff::{Backoff, Persistence},
};

/// The reason of the Delivered condition while a person's acknowledgement is awaited.
pub const MANUAL_UPDATE_REQUIRED: &str = "ManualUpdateRequired";

/// How long to wait after `attempts` consecutive failures ending with `err`.
pub fn delay(backoff: &Backoff, attempts: i32, err: &Error) -> Duration {
    delay_for(backoff, attempts, err.retry_after(), err.is_permanent())
}

/// How long to wait after `attempts` consecutive failures, the last one `permanent` (a person must act) or not.
pub fn delay_for(
    backoff: &Backoff,
    attempts: i32,
    retry_after: Option<Duration>,
    permanent: bool,
) -> Duration {
    let persistence = if permanent {
        Persistence::Permanent
    } else {
        Persistence::Transient
    };
    backoff.delay(
        u32::try_from(attempts.max(1)).unwrap_or(1),
        retry_after,
        persistence,
    )
}

/// The person-set annotations an attempt sees, as recorded with a failure (status.failedWithAnnotations).
pub fn annotations_fingerprint(cr: &NocoBaseMailIntegration) -> String {
    let a = cr.annotations();
    let get = |k: &str| a.get(k).map(String::as_str).unwrap_or("");
    format!(
        "rotate={};acknowledged-key-id={}",
        get(ROTATE_ANNOTATION),
        get(ACKNOWLEDGED_KEY_ID_ANNOTATION)
    )
}

/// Whether the person changed something the last failure could not have seen: the spec (generation) or one of the
/// annotations they set. The watch echo of our own failure write changes neither, so it waits.
fn changed_since_failure(cr: &NocoBaseMailIntegration) -> bool {
    let Some(st) = cr.status.as_ref() else {
        return true;
    };
    cr.metadata.generation != st.observed_generation
        || st.failed_with_annotations.as_deref() != Some(annotations_fingerprint(cr).as_str())
}

/// How long this reconcile must wait for the retry a recorded failure scheduled; None: go ahead.
pub fn wait(cr: &NocoBaseMailIntegration, now: DateTime<Utc>) -> Option<Duration> {
    let next = cr.status.as_ref()?.next_attempt_after.as_ref()?;
    let at = time::from_time(next);
    if at <= now || changed_since_failure(cr) {
        return None;
    }
    (at - now).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn cr(status: serde_json::Value, annotations: serde_json::Value) -> NocoBaseMailIntegration {
        serde_json::from_value(json!({
            "apiVersion": "entramail.io/v1alpha1", "kind": "NocoBaseMailIntegration",
            "metadata": {"name": "m", "namespace": "ns", "generation": 2, "annotations": annotations},
            "spec": {"tenantRef": {"name": "t"}, "application": {"nocobaseOrigin": "https://x.example.com"}},
            "status": status,
        }))
        .unwrap()
    }

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn failed(next: i64) -> serde_json::Value {
        failed_with(next, "rotate=;acknowledged-key-id=")
    }

    fn failed_with(next: i64, annotations: &str) -> serde_json::Value {
        json!({"observedGeneration": 2, "failedAttempts": 3,
               "nextAttemptAfter": time::to_time(at(next)).0.to_string(),
               "failedWithAnnotations": annotations,
               "currentCredential": {"keyId": "k2", "notAfter": "2030-01-01T00:00:00Z"},
               "conditions": [{"type": "Delivered", "status": "False", "reason": MANUAL_UPDATE_REQUIRED,
                               "message": "", "lastTransitionTime": "2030-01-01T00:00:00Z"}]})
    }

    #[test]
    fn waits_for_the_recorded_retry_time() {
        let c = cr(failed(100), json!({}));
        assert_eq!(wait(&c, at(40)), Some(Duration::from_secs(60)));
        assert_eq!(wait(&c, at(100)), None);
        assert_eq!(wait(&c, at(150)), None);
    }

    #[test]
    fn no_failure_no_wait() {
        let c = cr(json!({"observedGeneration": 2}), json!({}));
        assert_eq!(wait(&c, at(0)), None);
    }

    #[test]
    fn a_spec_change_or_a_new_trigger_goes_ahead_at_once() {
        let mut st = failed(100);
        st["observedGeneration"] = json!(1);
        assert_eq!(wait(&cr(st, json!({})), at(0)), None);
        let c = cr(failed(100), json!({ROTATE_ANNOTATION: "now"}));
        assert_eq!(wait(&c, at(0)), None);
    }

    #[test]
    fn a_new_acknowledgement_goes_ahead_at_once_other_annotations_wait() {
        let c = cr(failed(100), json!({ACKNOWLEDGED_KEY_ID_ANNOTATION: "k2"}));
        assert_eq!(wait(&c, at(0)), None);
        let c = cr(failed(100), json!({"unrelated": "x"}));
        assert!(wait(&c, at(0)).is_some());
    }

    #[test]
    fn the_trigger_that_failed_waits_for_its_retry() {
        // The echo of our own failure write while a forced rotation keeps failing: same trigger, so it waits
        // (without this, every failure's status write would trigger the next attempt at once).
        let c = cr(
            failed_with(100, "rotate=now;acknowledged-key-id="),
            json!({ROTATE_ANNOTATION: "now"}),
        );
        assert_eq!(wait(&c, at(40)), Some(Duration::from_secs(60)));
        let c = cr(
            failed_with(100, "rotate=now;acknowledged-key-id="),
            json!({ROTATE_ANNOTATION: "again"}),
        );
        assert_eq!(wait(&c, at(40)), None);
    }
}
