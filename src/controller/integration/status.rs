//! Step 8: status and conditions, derived purely from what the steps found and did (no IO here; `report` writes
//! it). One owner per condition:
//! TenantReady (resolve), ApplicationReady + AdminConsentGranted (application), CredentialReady +
//! CredentialVerified + SecretSynced + ConsumersUpdated ([`Run::record_plan`]), Delivered
//! ([`Run::record_delivery`]), Ready and the failure books ([`Run::conclude`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::Resource;

mod credential;
mod messages;

pub use messages::failure_message;
use messages::{blocked_message, manual_message};

use super::{
    StepError,
    gate::{self, MANUAL_UPDATE_REQUIRED},
};
use crate::{
    api::{
        self, Condition, ConditionStatus, NocoBaseMailIntegration, NocoBaseMailIntegrationStatus,
        conditions::{CREDENTIAL_READY, DELIVERED, READY},
        find_condition,
    },
    controller::{consumers, time},
    planner::{
        backoff::Backoff,
        delivery::{Confirmation, Deliveries},
    },
};

/// An event to publish (by `report`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

/// A delivery that failed after the Secret was written: Ready stays true, Delivered says why, backoff applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFailure {
    pub reason: &'static str,
    pub message: String,
    pub permanent: bool,
}

/// The status under construction, the events to publish, and the facts later steps add.
pub struct Run {
    pub status: NocoBaseMailIntegrationStatus,
    pub generation: Option<i64>,
    pub now: DateTime<Utc>,
    pub notes: Vec<Note>,
    pub delivery_failure: Option<DeliveryFailure>,
    /// A delivery was confirmed in this reconcile: look again soon (a previous credential may go now).
    pub delivery_progressed: bool,
    /// Whether the Secret holds a live credential after this reconcile (Ready needs it).
    pub has_credential: bool,
    /// The person-set annotations this attempt saw (recorded with a failure, see `gate`).
    pub annotations: String,
}

impl Run {
    pub fn new(
        cr: &NocoBaseMailIntegration,
        old: NocoBaseMailIntegrationStatus,
        now: DateTime<Utc>,
    ) -> Self {
        let has_credential = old.current_credential.is_some();
        Self {
            status: old,
            generation: cr.meta().generation,
            now,
            notes: Vec::new(),
            delivery_failure: None,
            delivery_progressed: false,
            has_credential,
            annotations: gate::annotations_fingerprint(cr),
        }
    }

    /// Sets a condition (keeping lastTransitionTime when its status did not change).
    pub fn set(&mut self, type_: &str, ok: bool, reason: &str, message: impl Into<String>) {
        self.set_status(type_, ConditionStatus::from_bool(ok), reason, message);
    }

    fn set_status(
        &mut self,
        type_: &str,
        status: ConditionStatus,
        reason: &str,
        message: impl Into<String>,
    ) {
        api::set_condition(
            &mut self.status.conditions,
            Condition::new(
                type_,
                status,
                reason,
                message,
                self.generation,
                time::to_time(self.now),
            ),
        );
    }

    /// A Normal event.
    pub fn event(&mut self, reason: &str, message: String) {
        self.notes.push(Note {
            warning: false,
            reason: reason.into(),
            message,
        });
    }

    fn warning_on_change(&mut self, old: Option<&Condition>, type_: &str) {
        let Some(new) = find_condition(&self.status.conditions, type_).cloned() else {
            return;
        };
        let changed = old.is_none_or(|o| o.reason != new.reason || o.message != new.message);
        if changed && !new.is_true() {
            self.notes.push(Note {
                warning: true,
                reason: new.reason,
                message: new.message,
            });
        }
    }

    /// The Delivered condition for the credential the Secret holds (`key`), given each channel's state.
    pub fn record_delivery(
        &mut self,
        cr: &NocoBaseMailIntegration,
        key: Option<&str>,
        d: &Deliveries,
    ) {
        let old = find_condition(&self.status.conditions, DELIVERED).cloned();
        let Some(key) = key else {
            return;
        };
        let (reason, message) = if let Some(f) = &self.delivery_failure {
            (f.reason.to_string(), f.message.clone())
        } else if d.acknowledgement == Confirmation::Pending {
            (
                MANUAL_UPDATE_REQUIRED.to_string(),
                manual_message(cr, key, self.waiting_previous()),
            )
        } else if d.consumers == Confirmation::Pending {
            (
                "RollingOut".to_string(),
                format!(
                    "waiting for {} to roll out with client secret {key}",
                    consumers::describe(&cr.spec.rotation.consumers)
                ),
            )
        } else if !d.pending().is_empty() {
            (
                "DeliveryPending".to_string(),
                format!("client secret {key} is not delivered to NocoBase yet"),
            )
        } else {
            let (reason, message) = if d.any_configured() {
                let what: Vec<&str> = [
                    (d.variables, "NocoBase variables (read back)"),
                    (d.record, "NocoBase record (read back)"),
                    (d.consumers, "consumer rollout"),
                    (d.acknowledgement, "acknowledged"),
                ]
                .into_iter()
                .filter(|(c, _)| *c == Confirmation::Confirmed)
                .map(|(_, w)| w)
                .collect();
                (
                    "Delivered",
                    format!("client secret {key} confirmed: {}", what.join(", ")),
                )
            } else {
                (
                    "NotRequired",
                    "no delivery configured and spec.delivery.acknowledgement is NotRequired: only spec.rotation.overlap holds the previous client secret".to_string(),
                )
            };
            self.set(DELIVERED, true, reason, message);
            return;
        };
        self.set(DELIVERED, false, &reason, message);
        self.warning_on_change(old.as_ref(), DELIVERED);
    }

    /// The earliest-expiring previous credential still valid: (keyId, notAfter).
    fn waiting_previous(&self) -> Option<(String, String)> {
        self.status
            .previous_credentials
            .iter()
            .filter_map(|p| p.not_after.as_ref().map(|t| (p.key_id.clone(), t.clone())))
            .min_by_key(|(_, t)| t.0)
            .map(|(k, t)| (k, t.0.to_string()))
    }

    /// Ready and the failure books, from the pipeline's outcome. Returns when to look again.
    pub fn conclude(
        &mut self,
        outcome: &Result<Option<DateTime<Utc>>, StepError>,
        backoff: &Backoff,
        spec_lifetime: &str,
    ) -> Option<Duration> {
        // failedAttempts counts failures of one spec: after a spec change the backoff starts over.
        let spec_changed = self
            .status
            .observed_generation
            .is_some_and(|g| Some(g) != self.generation);
        self.status.observed_generation = self.generation;
        let attempts = if spec_changed {
            1
        } else {
            self.status.failed_attempts.unwrap_or(0).saturating_add(1)
        };
        let old_ready = find_condition(&self.status.conditions, READY).cloned();
        let retry = match outcome {
            Ok(_) => {
                if self.has_credential {
                    self.set(
                        READY,
                        true,
                        "Ready",
                        "application provisioned and credential in the Secret",
                    );
                } else {
                    let why = find_condition(&self.status.conditions, CREDENTIAL_READY)
                        .filter(|c| !c.is_true())
                        .map(|c| (c.reason.clone(), c.message.clone()))
                        .unwrap_or_else(|| {
                            (
                                "NoCredential".into(),
                                "no client secret in the Secret".into(),
                            )
                        });
                    self.set(READY, false, &why.0, why.1);
                }
                self.delivery_failure
                    .as_ref()
                    .map(|f| gate::delay_for(backoff, attempts, None, f.permanent))
            }
            Err(e) => {
                let message = failure_message(e.cause(), spec_lifetime);
                let reason = e.cause().reason();
                self.set(e.condition(), false, reason, message.clone());
                self.set(READY, false, reason, message);
                Some(gate::delay(backoff, attempts, e.cause()))
            }
        };
        match retry {
            Some(d) => {
                self.status.failed_attempts = Some(attempts);
                self.status.failed_with_annotations = Some(self.annotations.clone());
                self.status.next_attempt_after = Some(time::to_time(
                    self.now + time::to_chrono_delta(d) + chrono::TimeDelta::seconds(1),
                ));
            }
            None => {
                if self.status.failed_attempts.is_some_and(|n| n != 0) {
                    self.status.failed_attempts = Some(0);
                }
                self.status.next_attempt_after = None;
                self.status.failed_with_annotations = None;
            }
        }
        self.warning_on_change(old_ready.as_ref(), READY);
        retry
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
