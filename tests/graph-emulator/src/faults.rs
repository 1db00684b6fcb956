//! Fault injection switches, tenant-level options and the seeded decisions made from them.

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, VecDeque};
use std::str::FromStr;
use std::time::Duration;

/// Which Microsoft cloud the emulator plays. Personal-account audiences (`AzureADandPersonalMicrosoftAccount`,
/// `PersonalMicrosoftAccount`) exist only in the global cloud: "National clouds: Supported / Supported / Not
/// supported" in <https://learn.microsoft.com/entra/identity-platform/supported-accounts-validation>
/// (see also <https://github.com/MicrosoftDocs/azure-docs/issues/95954>).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Cloud {
    #[default]
    Global,
    /// Azure US Government (GCC High / DoD).
    UsGovernment,
    /// Azure China operated by 21Vianet.
    China,
}

impl FromStr for Cloud {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "global" | "public" | "azurepublic" => Ok(Cloud::Global),
            "usgov" | "usgovernment" | "azureusgovernment" => Ok(Cloud::UsGovernment),
            "china" | "azurechina" => Ok(Cloud::China),
            _ => Err(format!("unknown cloud '{s}' (global, usGovernment, china)")),
        }
    }
}

/// What `POST /servicePrincipals` answers while the application is still replicating.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SpReplicationError {
    /// 400 `Request_BadRequest` with `details[0].code = "NoBackingApplicationObject"`.
    #[default]
    NoBackingApplicationObject,
    /// 403 `Authorization_RequestDenied` "When using this permission, the backing application of the service
    /// principal being created must in the local tenant" (sic), which Entra also returns for a just-created app:
    /// <https://github.com/hashicorp/terraform-provider-azuread/issues/992>,
    /// <https://github.com/hashicorp/terraform-provider-azuread/issues/581>.
    Forbidden,
}

impl FromStr for SpReplicationError {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "nobackingapplicationobject" | "badrequest" => {
                Ok(SpReplicationError::NoBackingApplicationObject)
            }
            "forbidden" => Ok(SpReplicationError::Forbidden),
            _ => Err(format!(
                "unknown spReplicationError '{s}' (noBackingApplicationObject, forbidden)"
            )),
        }
    }
}

/// How an addPassword that has already created its credential fails (an ambiguous failure: the client cannot
/// tell whether the secret exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterCommitFailure {
    /// A Graph error with this status (5xx; a non-5xx status is treated as 500).
    Status(u16),
    /// The response is cut off: the connection (HTTP/1.1) or stream (HTTP/2) is reset before the body, so the
    /// client never receives the secret text.
    Drop,
}

/// What `removePassword` answers for a keyId the application does not have (e.g. already removed). Microsoft does
/// not document it and no public report of the real answer was found, so this is switchable; see the README.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RemovePasswordMissing {
    /// 400 `Request_BadRequest` (the emulator's long-standing answer).
    #[default]
    BadRequest,
    /// 404 `Request_ResourceNotFound`.
    NotFound,
    /// 204, as if the removal were idempotent.
    NoContent,
}

impl FromStr for RemovePasswordMissing {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "badrequest" | "400" => Ok(RemovePasswordMissing::BadRequest),
            "notfound" | "404" => Ok(RemovePasswordMissing::NotFound),
            "nocontent" | "204" => Ok(RemovePasswordMissing::NoContent),
            _ => Err(format!(
                "unknown removePasswordMissing '{s}' (badRequest, notFound, noContent)"
            )),
        }
    }
}

/// Tenant size classes of the identity and access throttling limits: S under 50 users, M 50-500, L above 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantSize {
    Small,
    Medium,
    Large,
}

impl FromStr for TenantSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "small" | "s" => Ok(TenantSize::Small),
            "medium" | "m" => Ok(TenantSize::Medium),
            "large" | "l" => Ok(TenantSize::Large),
            _ => Err(format!("unknown tenant size '{s}' (small, medium, large)")),
        }
    }
}

/// Microsoft Graph's identity and access throttling limits for one application+tenant pair
/// (<https://learn.microsoft.com/graph/throttling-limits#identity-and-access-service-limits>): a ResourceUnit
/// budget per 10 seconds by tenant size (S 3,500, M 5,000, L 8,000), a write quota of 3,000 requests per 2 minutes
/// and 30 seconds, and, for POST/PATCH/DELETE on `applications` whose signInAudience is a personal-account one,
/// 60 requests per minute. Fields are public so tests can shrink them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleBudget {
    /// ResourceUnits allowed per `window`.
    pub resource_units: u32,
    pub window: Duration,
    /// Write requests (POST, PATCH, PUT, DELETE) allowed per `write_window`.
    pub write_requests: u32,
    pub write_window: Duration,
    /// Writes on `/applications` targeting personal-account apps allowed per `personal_app_write_window`.
    pub personal_app_writes: u32,
    pub personal_app_write_window: Duration,
}

impl ThrottleBudget {
    pub fn for_tenant_size(size: TenantSize) -> Self {
        ThrottleBudget {
            resource_units: match size {
                TenantSize::Small => 3_500,
                TenantSize::Medium => 5_000,
                TenantSize::Large => 8_000,
            },
            window: Duration::from_secs(10),
            write_requests: 3_000,
            write_window: Duration::from_secs(150),
            personal_app_writes: 60,
            personal_app_write_window: Duration::from_secs(60),
        }
    }
}

/// A fault chosen for one Graph request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Injected {
    Throttle { retry_after: Duration },
    Fail { status: u16 },
}

#[derive(Debug)]
pub(crate) struct Faults {
    pub replication_lag: Duration,
    pub throttle_next: u32,
    pub throttle_next_retry_after: Duration,
    pub throttle_ratio: f64,
    pub throttle_ratio_retry_after: Duration,
    pub fail_next: u32,
    pub fail_next_status: u16,
    pub failure_ratio: f64,
    pub max_credential_lifetime: Option<Duration>,
    pub latency: Duration,
    pub cloud: Cloud,
    pub sp_replication_error: SpReplicationError,
    /// The next `n` successful addPassword calls fail after creating the credential.
    pub fail_after_commit_next: u32,
    pub fail_after_commit: AfterCommitFailure,
    /// App management policy `passwordAddition`: addPassword is refused.
    pub block_password_addition: bool,
    pub remove_password_missing: RemovePasswordMissing,
    /// A new client secret is unknown to the token endpoint for this long.
    pub secret_activation_lag: Duration,
    pub throttle_budget: Option<ThrottleBudget>,
    rng: StdRng,
}

impl Faults {
    pub fn new(seed: u64) -> Self {
        Faults {
            replication_lag: Duration::ZERO,
            throttle_next: 0,
            throttle_next_retry_after: Duration::from_secs(1),
            throttle_ratio: 0.0,
            throttle_ratio_retry_after: Duration::from_secs(1),
            fail_next: 0,
            fail_next_status: 503,
            failure_ratio: 0.0,
            max_credential_lifetime: None,
            latency: Duration::ZERO,
            cloud: Cloud::Global,
            sp_replication_error: SpReplicationError::NoBackingApplicationObject,
            fail_after_commit_next: 0,
            fail_after_commit: AfterCommitFailure::Status(500),
            block_password_addition: false,
            remove_password_missing: RemovePasswordMissing::BadRequest,
            secret_activation_lag: Duration::ZERO,
            throttle_budget: None,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Decides the fault (if any) for the next authenticated Graph request. Counted faults win over ratios;
    /// the RNG is only drawn while a ratio is set, so a seed replays identically.
    pub fn next(&mut self) -> Option<Injected> {
        if self.throttle_next > 0 {
            self.throttle_next -= 1;
            return Some(Injected::Throttle {
                retry_after: self.throttle_next_retry_after,
            });
        }
        if self.fail_next > 0 {
            self.fail_next -= 1;
            return Some(Injected::Fail {
                status: self.fail_next_status,
            });
        }
        if self.throttle_ratio > 0.0 && self.rng.random::<f64>() < self.throttle_ratio {
            return Some(Injected::Throttle {
                retry_after: self.throttle_ratio_retry_after,
            });
        }
        if self.failure_ratio > 0.0 && self.rng.random::<f64>() < self.failure_ratio {
            return Some(Injected::Fail { status: 503 });
        }
        None
    }
}

/// What one Graph request costs against a [`ThrottleBudget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Charge {
    pub resource_units: u32,
    pub write: bool,
    pub personal_app_write: bool,
}

/// The ledger's verdict on one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BudgetDecision {
    Allowed {
        resource_units: u32,
        /// Share of the ResourceUnit budget in use, reported once above 0.8.
        limit_percentage: Option<f64>,
    },
    Throttled {
        retry_after: Duration,
        /// `ReadWrite` (ResourceUnits) or `Write` (write quota), as in `x-ms-throttle-scope`.
        limit: &'static str,
        /// `x-ms-throttle-information`.
        reason: &'static str,
    },
}

/// Timestamped costs inside one sliding window.
#[derive(Debug, Default)]
struct Window(VecDeque<(DateTime<Utc>, u32)>);

impl Window {
    fn prune(&mut self, now: DateTime<Utc>, span: chrono::Duration) {
        while self.0.front().is_some_and(|(t, _)| *t + span <= now) {
            self.0.pop_front();
        }
    }

    fn used(&self) -> u64 {
        self.0.iter().map(|(_, c)| u64::from(*c)).sum()
    }

    /// How long until a new request of `cost` fits under `limit`, as older entries leave the window.
    fn wait_for(
        &self,
        cost: u32,
        limit: u32,
        now: DateTime<Utc>,
        span: chrono::Duration,
    ) -> Duration {
        let mut used = self.used();
        for (t, c) in &self.0 {
            used -= u64::from(*c);
            if used + u64::from(cost) <= u64::from(limit) {
                return (*t + span - now).to_std().unwrap_or_default();
            }
        }
        span.to_std().unwrap_or_default()
    }
}

#[derive(Debug, Default)]
struct PairUsage {
    resource_units: Window,
    writes: Window,
    personal_app_writes: Window,
}

/// Usage per (tenant, client id) pair. Requests are logged even when throttled: "Microsoft Graph continues to log
/// resource usage while a client is being throttled" (<https://learn.microsoft.com/graph/throttling>).
#[derive(Debug, Default)]
pub(crate) struct BudgetLedger {
    pairs: HashMap<(String, String), PairUsage>,
}

impl BudgetLedger {
    pub fn charge(
        &mut self,
        budget: &ThrottleBudget,
        tenant_id: &str,
        client_id: &str,
        charge: Charge,
        now: DateTime<Utc>,
    ) -> BudgetDecision {
        let span = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let usage = self
            .pairs
            .entry((tenant_id.to_string(), client_id.to_ascii_lowercase()))
            .or_default();
        usage.resource_units.prune(now, span(budget.window));
        usage.writes.prune(now, span(budget.write_window));
        usage
            .personal_app_writes
            .prune(now, span(budget.personal_app_write_window));

        let mut verdict = None;
        let checks = [
            (
                &mut usage.resource_units,
                true,
                charge.resource_units,
                budget.resource_units,
                budget.window,
                "ReadWrite",
                "ResourceUnitLimitExceeded",
            ),
            (
                &mut usage.writes,
                charge.write,
                1,
                budget.write_requests,
                budget.write_window,
                "Write",
                "WriteLimitExceeded",
            ),
            (
                &mut usage.personal_app_writes,
                charge.personal_app_write,
                1,
                budget.personal_app_writes,
                budget.personal_app_write_window,
                "Write",
                "WriteLimitExceeded",
            ),
        ];
        for (window, applies, cost, limit, length, scope, reason) in checks {
            if !applies {
                continue;
            }
            let over = window.used() + u64::from(cost) > u64::from(limit);
            if over && verdict.is_none() {
                verdict = Some(BudgetDecision::Throttled {
                    // The retry itself costs `cost` again, on top of this request's logged usage.
                    retry_after: {
                        window.0.push_back((now, cost));
                        let wait = window.wait_for(cost, limit, now, span(length));
                        window.0.pop_back();
                        wait
                    },
                    limit: scope,
                    reason,
                });
            }
            window.0.push_back((now, cost));
        }
        verdict.unwrap_or_else(|| {
            let used = usage.resource_units.used() as f64;
            let share = used / f64::from(budget.resource_units.max(1));
            BudgetDecision::Allowed {
                resource_units: charge.resource_units,
                limit_percentage: (share > 0.8).then_some(share),
            }
        })
    }
}

#[cfg(test)]
#[path = "faults_tests.rs"]
mod tests;
