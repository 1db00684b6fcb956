//! The in-process control handle: registration, fault switches, clock, counters and inspection.

use crate::faults::{
    AfterCommitFailure, Cloud, RemovePasswordMissing, SpReplicationError, ThrottleBudget,
};
use crate::model::{Application, OAuth2PermissionGrant, ServicePrincipal};
use crate::state::Shared;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;

/// Cheap to clone; every control of a running [`crate::Emulator`]. Inspection and drift-injection methods bypass
/// authentication, faults, replication lag and the request counters.
#[derive(Clone, Debug)]
pub struct EmulatorHandle {
    pub(crate) shared: Shared,
}

impl EmulatorHandle {
    /// Creates the tenant (with Microsoft Graph's service principal) if it does not exist yet.
    pub fn add_tenant(&self, tenant_id: &str) {
        self.shared.lock().ensure_tenant(tenant_id);
    }

    /// Lets `client_id` obtain tokens for `tenant_id` with `secret` (the operator's own identity). Adds the tenant.
    pub fn register_client_secret(&self, tenant_id: &str, client_id: &str, secret: &str) {
        let mut inner = self.shared.lock();
        let reg = inner
            .ensure_tenant(tenant_id)
            .clients
            .entry(client_id.to_string())
            .or_default();
        reg.secrets.push(secret.to_string());
    }

    /// Lets `client_id` obtain tokens with a client assertion whose `sub` is `subject`. Adds the tenant.
    pub fn register_federated_client(&self, tenant_id: &str, client_id: &str, subject: &str) {
        let mut inner = self.shared.lock();
        let reg = inner
            .ensure_tenant(tenant_id)
            .clients
            .entry(client_id.to_string())
            .or_default();
        reg.federated_subjects.push(subject.to_string());
    }

    /// Lets `client_id` obtain tokens with client assertions signed by the key of the certificate in `cert_pem`
    /// (first CERTIFICATE block), verified for real: thumbprint, RS256 signature, audience, issuer/subject,
    /// expiry. Adds the tenant.
    pub fn register_certificate_client(
        &self,
        tenant_id: &str,
        client_id: &str,
        cert_pem: &str,
    ) -> Result<(), crate::EmulatorError> {
        let certificate = crate::client_cert::RegisteredCertificate::from_pem(cert_pem)?;
        let mut inner = self.shared.lock();
        let reg = inner
            .ensure_tenant(tenant_id)
            .clients
            .entry(client_id.to_string())
            .or_default();
        reg.certificates.push(certificate);
        Ok(())
    }

    /// Objects created from now on stay invisible to other calls for `d` (emulator clock).
    pub fn set_replication_lag(&self, d: Duration) {
        self.shared.lock().faults.replication_lag = d;
    }

    /// The next `n` authenticated Graph requests get 429 with `Retry-After` in seconds with up to three decimals
    /// (`Duration::from_millis(2128)` sends `2.128`, whole seconds send an integer).
    pub fn throttle_next(&self, n: u32, retry_after: Duration) {
        let mut inner = self.shared.lock();
        inner.faults.throttle_next = n;
        inner.faults.throttle_next_retry_after = retry_after;
    }

    /// Each authenticated Graph request is throttled with probability `ratio` (seeded RNG). 0 turns it off.
    pub fn set_throttle_ratio(&self, ratio: f64, retry_after: Duration) {
        let mut inner = self.shared.lock();
        inner.faults.throttle_ratio = ratio.clamp(0.0, 1.0);
        inner.faults.throttle_ratio_retry_after = retry_after;
    }

    /// The next `n` authenticated Graph requests fail with `status` (503 `ServiceUnavailable`, other 5xx
    /// `generalException`; a non-5xx status is treated as 503).
    pub fn fail_next(&self, n: u32, status: u16) {
        let mut inner = self.shared.lock();
        inner.faults.fail_next = n;
        inner.faults.fail_next_status = status;
    }

    /// Each authenticated Graph request fails with 503 with probability `ratio` (seeded RNG). 0 turns it off.
    pub fn set_failure_ratio(&self, ratio: f64) {
        self.shared.lock().faults.failure_ratio = ratio.clamp(0.0, 1.0);
    }

    /// A tenant app-management policy: addPassword lifetimes beyond `max` (plus a minute of tolerance) fail with
    /// 400 `CredentialInvalidLifetimeAsPerAppPolicy`. `None` (the default) removes the policy.
    pub fn set_max_credential_lifetime(&self, max: Option<Duration>) {
        self.shared.lock().faults.max_credential_lifetime = max;
    }

    /// Delay added to every Graph and token request.
    pub fn set_latency(&self, d: Duration) {
        self.shared.lock().faults.latency = d;
    }

    /// Which cloud the emulator plays (default [`Cloud::Global`]). Outside the global cloud, personal-account
    /// audiences are rejected with 400.
    pub fn set_cloud(&self, cloud: Cloud) {
        self.shared.lock().faults.cloud = cloud;
    }

    /// What `POST /servicePrincipals` answers for an application still inside the replication lag window.
    pub fn set_sp_replication_error(&self, error: SpReplicationError) {
        self.shared.lock().faults.sp_replication_error = error;
    }

    /// The next `n` addPassword calls that succeed create their credential and then fail as `failure` says:
    /// an ambiguous failure, since addPassword is not idempotent.
    pub fn fail_after_commit_next(&self, n: u32, failure: AfterCommitFailure) {
        let mut inner = self.shared.lock();
        inner.faults.fail_after_commit_next = n;
        inner.faults.fail_after_commit = failure;
    }

    /// A tenant app-management policy blocking password addition: addPassword fails with 400
    /// `CredentialTypeNotAllowedAsPerAppPolicy`. `false` (the default) removes it.
    pub fn set_password_addition_blocked(&self, blocked: bool) {
        self.shared.lock().faults.block_password_addition = blocked;
    }

    /// What removePassword answers for a keyId the application does not have (default 400).
    pub fn set_remove_password_missing(&self, answer: RemovePasswordMissing) {
        self.shared.lock().faults.remove_password_missing = answer;
    }

    /// Secrets minted from now on are rejected by the token endpoint (AADSTS7000215) for `d` (emulator clock).
    pub fn set_secret_activation_lag(&self, d: Duration) {
        self.shared.lock().faults.secret_activation_lag = d;
    }

    /// Resource-unit throttling per application+tenant pair (off by default); `None` turns it off and forgets
    /// usage. See [`ThrottleBudget::for_tenant_size`].
    pub fn set_throttle_budget(&self, budget: Option<ThrottleBudget>) {
        let mut inner = self.shared.lock();
        inner.faults.throttle_budget = budget;
        if budget.is_none() {
            inner.budget = Default::default();
        }
    }

    /// Moves the emulator's clock forward (credential validity, token expiry, replication lag, new dates).
    pub fn advance_clock(&self, d: Duration) {
        let delta = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let mut inner = self.shared.lock();
        inner.clock_offset += delta;
    }

    /// Like [`Self::advance_clock`] but tokens already issued keep their remaining lifetime. Use it when the
    /// client caches tokens by real time (azure_identity does): after a plain jump past 3599 s, the cached token is
    /// rejected with 401 and the credential will not refresh it until its real-time expiry.
    pub fn advance_clock_preserving_tokens(&self, d: Duration) {
        let delta = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let mut inner = self.shared.lock();
        inner.clock_offset += delta;
        for token in inner.tokens.values_mut() {
            token.expires_at += delta;
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.shared.lock().now()
    }

    /// Requests by `"METHOD /route"`, e.g. `"POST /applications/{id}/addPassword"`,
    /// `"PATCH /applications(uniqueName='{uniqueName}')"`, `"POST /{tenant}/oauth2/v2.0/token"`.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.shared.lock().counters.by_route.clone()
    }

    /// Requests received on one route (a key of [`Self::counts`], e.g. `"POST /applications/{id}/addPassword"`).
    pub fn count(&self, route: &str) -> u64 {
        self.shared
            .lock()
            .counters
            .by_route
            .get(route)
            .copied()
            .unwrap_or(0)
    }

    /// Like [`Self::counts`] with the response status appended: `"POST /servicePrincipals 201"`.
    pub fn counts_by_status(&self) -> BTreeMap<String, u64> {
        self.shared.lock().counters.by_route_status.clone()
    }

    /// Graph POST/PATCH/DELETE requests received, whatever their outcome (token requests excluded).
    pub fn writes(&self) -> u64 {
        self.shared.lock().counters.writes
    }

    /// Graph GET requests received, whatever their outcome.
    pub fn reads(&self) -> u64 {
        self.shared.lock().counters.reads
    }

    /// Graph responses with status 429, injected or from the throttle budget.
    pub fn throttled(&self) -> u64 {
        self.shared.lock().counters.throttled
    }

    /// Graph 429s caused by the resource-unit throttle budget.
    pub fn budget_throttled(&self) -> u64 {
        self.shared.lock().counters.budget_throttled
    }

    /// Accepted certificate client assertions by form: `"<alg> <thumbprint header>"`, e.g. `"PS256 x5t#S256"`.
    pub fn certificate_assertions(&self) -> BTreeMap<String, u64> {
        self.shared.lock().counters.certificate_assertions.clone()
    }

    pub fn reset_counts(&self) {
        self.shared.lock().counters = Default::default();
    }

    /// All applications of the tenant, including ones still inside the replication lag window.
    pub fn applications(&self, tenant_id: &str) -> Vec<Application> {
        self.shared
            .lock()
            .tenants
            .get(tenant_id)
            .map(|t| t.apps.values().map(|a| a.value.clone()).collect())
            .unwrap_or_default()
    }

    pub fn application_by_app_id(&self, tenant_id: &str, app_id: &str) -> Option<Application> {
        let inner = self.shared.lock();
        let tenant = inner.tenants.get(tenant_id)?;
        let id = tenant.app_id_by_app_id(app_id)?;
        tenant.apps.get(&id).map(|a| a.value.clone())
    }

    /// Whether `secret_text` is a password credential of the app that exists and is valid at the emulator's now
    /// (replication lag and secret activation lag aside: see the token endpoint for those).
    pub fn is_secret_valid(&self, tenant_id: &str, app_id: &str, secret_text: &str) -> bool {
        let inner = self.shared.lock();
        let now = inner.now();
        let Some(tenant) = inner.tenants.get(tenant_id) else {
            return false;
        };
        let Some(app) = tenant
            .app_id_by_app_id(app_id)
            .and_then(|id| tenant.apps.get(&id))
        else {
            return false;
        };
        app.value.password_credentials.iter().any(|c| {
            c.start_date_time <= now
                && now < c.end_date_time
                && tenant
                    .secrets
                    .get(&c.key_id)
                    .is_some_and(|s| s.text == secret_text)
        })
    }

    /// Drift injection: deletes a password credential behind the operator's back.
    pub fn remove_password(&self, tenant_id: &str, app_object_id: &str, key_id: &str) -> bool {
        let mut inner = self.shared.lock();
        let Some(tenant) = inner.tenants.get_mut(tenant_id) else {
            return false;
        };
        let Some(app) = tenant.apps.get_mut(app_object_id) else {
            return false;
        };
        let before = app.value.password_credentials.len();
        app.value
            .password_credentials
            .retain(|c| !c.key_id.eq_ignore_ascii_case(key_id));
        let removed = app.value.password_credentials.len() != before;
        if removed {
            tenant.secrets.remove(key_id);
        }
        removed
    }

    /// Drift injection: deletes an application (with its service principal and grants).
    pub fn delete_application(&self, tenant_id: &str, app_object_id: &str) -> bool {
        self.shared
            .lock()
            .tenants
            .get_mut(tenant_id)
            .is_some_and(|t| t.delete_app(app_object_id))
    }

    /// All service principals of the tenant, Microsoft Graph's included.
    pub fn service_principals(&self, tenant_id: &str) -> Vec<ServicePrincipal> {
        self.shared
            .lock()
            .tenants
            .get(tenant_id)
            .map(|t| t.sps.values().map(|s| s.value.clone()).collect())
            .unwrap_or_default()
    }

    /// All grants of the tenant, including ones still inside the replication lag window.
    pub fn grants(&self, tenant_id: &str) -> Vec<OAuth2PermissionGrant> {
        self.shared
            .lock()
            .tenants
            .get(tenant_id)
            .map(|t| t.grants.values().map(|g| g.value.clone()).collect())
            .unwrap_or_default()
    }
}
