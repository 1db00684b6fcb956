//! The conditions the executed plan owns: CredentialReady, CredentialVerified, SecretSynced, ConsumersUpdated, and
//! the credential fields of status. One function per condition.

use super::{Run, blocked_message};
use crate::{
    api::{
        CredentialStatus, NocoBaseMailIntegration, PreviousCredentialStatus,
        conditions::{CONSUMERS_UPDATED, CREDENTIAL_READY, CREDENTIAL_VERIFIED, SECRET_SYNCED},
        find_condition,
    },
    controller::{
        consumers,
        integration::{execute::Done, observe::Seen},
        time,
    },
    graph::Application,
    planner::{delivery::Confirmation, rotation::Plan},
};

impl Run {
    /// Credential, Secret and consumer facts after the plan ran.
    pub fn record_plan(
        &mut self,
        cr: &NocoBaseMailIntegration,
        app: &Application,
        seen: &Seen,
        plan: &Plan,
        done: &Done,
    ) {
        let current = self.current_credential(app, plan, done);
        self.has_credential = done.in_secret.is_some();
        self.status.current_credential = current.clone();
        self.status.previous_credentials = previous_credentials(app, plan);
        self.status.renewal_time = plan.status.renewal_time.map(time::to_time);
        self.status.last_rotation_trigger = plan.status.handled_trigger.clone();
        self.status.secret_name = Some(seen.secret_name.clone());

        self.credential_ready(cr, plan, &seen.secret_name, current.as_ref());
        self.credential_verified(done);
        self.secret_synced(&seen.secret_name);
        self.consumers_updated(cr, seen, done);
    }

    /// The credential the Secret holds now: the one just minted, else the plan's current one (with what Entra and
    /// the previous status know about it).
    fn current_credential(
        &self,
        app: &Application,
        plan: &Plan,
        done: &Done,
    ) -> Option<CredentialStatus> {
        let now = self.now;
        if let Some(m) = &done.minted {
            return Some(CredentialStatus {
                key_id: m.key_id.clone(),
                hint: m.hint.clone(),
                not_after: time::to_time(m.end),
                created_at: Some(time::to_time(now)),
                display_name: Some(m.display_name.clone()),
            });
        }
        plan.status.current_key_id.as_ref().map(|k| {
            let live = app.password_credentials.iter().find(|c| &c.key_id == k);
            let prior = self
                .status
                .current_credential
                .as_ref()
                .filter(|c| &c.key_id == k);
            CredentialStatus {
                key_id: k.clone(),
                hint: live
                    .and_then(|c| c.hint.clone())
                    .or_else(|| prior.and_then(|c| c.hint.clone())),
                not_after: time::to_time(plan.status.not_after.unwrap_or(now)),
                created_at: prior.and_then(|c| c.created_at.clone()).or_else(|| {
                    live.and_then(|c| c.start_date_time)
                        .map(|t| time::to_time(time::truncate(t)))
                }),
                display_name: live
                    .and_then(|c| c.display_name.clone())
                    .or_else(|| prior.and_then(|c| c.display_name.clone())),
            }
        })
    }

    fn credential_ready(
        &mut self,
        cr: &NocoBaseMailIntegration,
        plan: &Plan,
        secret_name: &str,
        current: Option<&CredentialStatus>,
    ) {
        let old = find_condition(&self.status.conditions, CREDENTIAL_READY).cloned();
        match &plan.blocked {
            Some(b) => {
                let msg = blocked_message(cr, b, secret_name);
                self.set(CREDENTIAL_READY, false, "SecretLimitReached", msg);
            }
            None => {
                let not_after = current.map(|c| c.not_after.0.to_string());
                let renew = self.status.renewal_time.as_ref().map(|t| t.0.to_string());
                self.set(
                    CREDENTIAL_READY,
                    true,
                    "Valid",
                    format!(
                        "client secret valid until {}; renewal at {}",
                        not_after.unwrap_or_default(),
                        renew.unwrap_or_default()
                    ),
                );
            }
        }
        self.warning_on_change(old.as_ref(), CREDENTIAL_READY);
    }

    /// Set only by a mint (its proof); otherwise the condition keeps what the last mint recorded.
    fn credential_verified(&mut self, done: &Done) {
        let Some(m) = &done.minted else {
            return;
        };
        self.set(
            CREDENTIAL_VERIFIED,
            true,
            "Verified",
            format!(
                "client secret {} obtained a token from the tenant's token endpoint ({} attempt{})",
                m.key_id,
                m.verify_attempts,
                if m.verify_attempts == 1 { "" } else { "s" }
            ),
        );
    }

    fn secret_synced(&mut self, secret_name: &str) {
        if self.has_credential {
            self.set(
                SECRET_SYNCED,
                true,
                "Synced",
                format!("Secret {secret_name} holds the current client secret"),
            );
        }
    }

    fn consumers_updated(&mut self, cr: &NocoBaseMailIntegration, seen: &Seen, done: &Done) {
        let spec_consumers = &cr.spec.rotation.consumers;
        let missing = super::super::deliver::missing_consumers(seen, done);
        if spec_consumers.is_empty() {
            self.set(
                CONSUMERS_UPDATED,
                true,
                "NoConsumers",
                "no consumer workloads configured",
            );
        } else if !missing.is_empty() {
            self.set(
                CONSUMERS_UPDATED,
                false,
                consumers::CONSUMER_NOT_FOUND,
                format!("{} not found (see Delivered)", missing.join(", ")),
            );
        } else if !done.restarted.is_empty() || seen.consumers == Confirmation::Pending {
            self.set(
                CONSUMERS_UPDATED,
                false,
                "RollingOut",
                format!(
                    "waiting for {} to roll out",
                    consumers::describe(spec_consumers)
                ),
            );
        } else {
            self.set(
                CONSUMERS_UPDATED,
                true,
                "UpToDate",
                format!(
                    "{} restarted after the last credential change",
                    consumers::describe(spec_consumers)
                ),
            );
        }
    }
}

/// The superseded credentials the plan keeps retiring, with what Entra says about them.
fn previous_credentials(app: &Application, plan: &Plan) -> Vec<PreviousCredentialStatus> {
    plan.status
        .retiring
        .iter()
        .map(|r| {
            let live = app
                .password_credentials
                .iter()
                .find(|c| c.key_id == r.key_id);
            PreviousCredentialStatus {
                key_id: r.key_id.clone(),
                hint: live.and_then(|c| c.hint.clone()),
                not_after: live
                    .and_then(|c| c.end_date_time)
                    .map(|t| time::to_time(time::truncate(t))),
                revoke_after: Some(time::to_time(r.revoke_after)),
            }
        })
        .collect()
}
