//! The emulator's whole world, behind one mutex: tenants and their objects, tokens, faults, clock, counters.

use crate::faults::{BudgetLedger, Faults};
use crate::model::{Application, OAuth2PermissionGrant, ServicePrincipal, graph_service_principal};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// A directory object plus the instant it becomes visible to reads (replication lag).
#[derive(Debug, Clone)]
pub(crate) struct Stored<T> {
    pub value: T,
    pub visible_at: DateTime<Utc>,
}

impl<T> Stored<T> {
    pub fn visible(&self, now: DateTime<Utc>) -> bool {
        now >= self.visible_at
    }
}

/// No `Debug`: holds secrets.
#[derive(Default)]
pub(crate) struct ClientRegistration {
    pub secrets: Vec<String>,
    pub federated_subjects: Vec<String>,
    pub certificates: Vec<crate::client_cert::RegisteredCertificate>,
}

/// The text of a minted client secret and when the token endpoint starts accepting it. No `Debug`.
pub(crate) struct SecretRecord {
    pub text: String,
    /// Secrets are not usable the instant addPassword returns: "When I add a passwordCredential to an AAD
    /// Application, it does not work right away ... I've observed latency from 4-18 seconds"
    /// (<https://github.com/microsoftgraph/microsoft-graph-docs/issues/17966>).
    pub usable_at: DateTime<Utc>,
}

/// No `Debug`: holds secret text.
pub(crate) struct Tenant {
    pub clients: HashMap<String, ClientRegistration>,
    /// Keyed by object id.
    pub apps: BTreeMap<String, Stored<Application>>,
    /// Secret text by passwordCredential keyId; kept apart so the app objects never carry it.
    pub secrets: HashMap<String, SecretRecord>,
    pub sps: BTreeMap<String, Stored<ServicePrincipal>>,
    pub grants: BTreeMap<String, Stored<OAuth2PermissionGrant>>,
}

impl Tenant {
    fn new(now: DateTime<Utc>) -> Self {
        let graph = graph_service_principal(crate::secrets::guid());
        let mut sps = BTreeMap::new();
        sps.insert(
            graph.id.clone(),
            Stored {
                value: graph,
                visible_at: now,
            },
        );
        Tenant {
            clients: HashMap::new(),
            apps: BTreeMap::new(),
            secrets: HashMap::new(),
            sps,
            grants: BTreeMap::new(),
        }
    }

    pub fn app_id_by_app_id(&self, app_id: &str) -> Option<String> {
        self.apps
            .values()
            .find(|a| a.value.app_id.eq_ignore_ascii_case(app_id))
            .map(|a| a.value.id.clone())
    }

    pub fn sp_by_app_id(&self, app_id: &str) -> Option<&Stored<ServicePrincipal>> {
        self.sps
            .values()
            .find(|s| s.value.app_id.eq_ignore_ascii_case(app_id))
    }

    /// Deletes an application with its service principal and that principal's grants, as Entra does.
    pub fn delete_app(&mut self, object_id: &str) -> bool {
        let Some(app) = self.apps.remove(object_id) else {
            return false;
        };
        for cred in &app.value.password_credentials {
            self.secrets.remove(&cred.key_id);
        }
        if let Some(sp_id) = self
            .sp_by_app_id(&app.value.app_id)
            .map(|s| s.value.id.clone())
        {
            self.delete_sp(&sp_id);
        }
        true
    }

    pub fn delete_sp(&mut self, sp_id: &str) -> bool {
        if self.sps.remove(sp_id).is_none() {
            return false;
        }
        self.grants.retain(|_, g| g.value.client_id != sp_id);
        true
    }

    /// The app with this appId if it has replicated to the token service by `now`.
    pub fn visible_app(&self, app_id: &str, now: DateTime<Utc>) -> Option<&Stored<Application>> {
        self.app_id_by_app_id(app_id)
            .and_then(|id| self.apps.get(&id))
            .filter(|a| a.visible(now))
    }

    /// Whether `secret` is a current (started, unexpired, activated) password credential of the app with `app_id`.
    pub fn app_secret_valid(&self, app_id: &str, secret: &str, now: DateTime<Utc>) -> bool {
        let Some(app) = self.visible_app(app_id, now) else {
            return false;
        };
        app.value.password_credentials.iter().any(|c| {
            c.start_date_time <= now
                && now < c.end_date_time
                && self
                    .secrets
                    .get(&c.key_id)
                    .is_some_and(|s| s.text == secret && s.usable_at <= now)
        })
    }

    /// Whether the app has an activated credential with this secret text at all, valid or not.
    pub fn app_has_secret(&self, app_id: &str, secret: &str, now: DateTime<Utc>) -> bool {
        self.visible_app(app_id, now).is_some_and(|app| {
            app.value.password_credentials.iter().any(|c| {
                self.secrets
                    .get(&c.key_id)
                    .is_some_and(|s| s.text == secret && s.usable_at <= now)
            })
        })
    }
}

pub(crate) struct IssuedToken {
    pub tenant_id: String,
    /// The client the token was issued to: the application half of the throttling pair.
    pub client_id: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub by_route: BTreeMap<String, u64>,
    pub by_route_status: BTreeMap<String, u64>,
    pub reads: u64,
    pub writes: u64,
    /// Graph responses with status 429, whatever caused them.
    pub throttled: u64,
    /// 429s caused by the resource-unit budget.
    pub budget_throttled: u64,
    /// Accepted certificate client assertions by form (`"PS256 x5t#S256"`, `"RS256 x5t"`).
    pub certificate_assertions: BTreeMap<String, u64>,
}

impl Counters {
    /// `graph` marks Graph requests, the only ones counted as reads or writes.
    pub fn record(&mut self, method: &str, route: &str, status: u16, graph: bool) {
        *self
            .by_route
            .entry(format!("{method} {route}"))
            .or_default() += 1;
        *self
            .by_route_status
            .entry(format!("{method} {route} {status}"))
            .or_default() += 1;
        if graph {
            if status == 429 {
                self.throttled += 1;
            }
            if method == "GET" {
                self.reads += 1;
            } else {
                self.writes += 1;
            }
        }
    }
}

pub(crate) struct Inner {
    pub clock_offset: chrono::Duration,
    pub tenants: HashMap<String, Tenant>,
    pub tokens: HashMap<String, IssuedToken>,
    pub faults: Faults,
    pub budget: BudgetLedger,
    pub counters: Counters,
    pub graph_url: String,
}

impl Inner {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.clock_offset
    }

    pub fn ensure_tenant(&mut self, tenant_id: &str) -> &mut Tenant {
        let now = self.now();
        self.tenants
            .entry(tenant_id.to_string())
            .or_insert_with(|| Tenant::new(now))
    }
}

pub(crate) type Shared = Arc<SharedState>;

pub(crate) struct SharedState {
    inner: Mutex<Inner>,
    pub ca_pem: String,
}

// Hand-written so neither secrets nor tokens can leak through `{:?}` of a handle.
impl std::fmt::Debug for SharedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedState").finish_non_exhaustive()
    }
}

impl SharedState {
    pub fn new(seed: u64, ca_pem: String) -> Self {
        SharedState {
            inner: Mutex::new(Inner {
                clock_offset: chrono::Duration::zero(),
                tenants: HashMap::new(),
                tokens: HashMap::new(),
                faults: Faults::new(seed),
                budget: BudgetLedger::default(),
                counters: Counters::default(),
                graph_url: String::new(),
            }),
            ca_pem,
        }
    }

    /// A panic while locked cannot leave the maps half-updated in a way that matters to a test emulator.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}
