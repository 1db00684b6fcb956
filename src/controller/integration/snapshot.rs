//! What Graph said about an integration at its last quiet reconcile, so that the reconciles in between (pokes,
//! status echoes, delivery checks) cost no Graph request, and drift is checked once per interval with one request.
//!
//! The rule ([`decide`], pure):
//! - no snapshot, another generation or another tenant: read everything live (app, service principal, consent);
//! - a snapshot whose application is current and younger than the drift-check interval: use it, no Graph request;
//! - otherwise re-read only the application (one request: it carries the credentials, audience, scopes and
//!   redirect URIs). The service principal and consent are re-read on every spec change and operator start.
//!
//! A cached application only ever stands in for a reconcile that does nothing in Graph: a plan made from one that
//! wants to mint or revoke is discarded and made again from a fresh read of the application ([`replan`]). A reconcile that acted leaves a snapshot whose application is stale (only its service
//! principal is reused); a failed one leaves none.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use chrono::{DateTime, Utc};

use kube::ResourceExt;

use crate::{api::EntraTenant, graph::Application, planner::rotation::Plan};

/// Graph's answer at a quiet reconcile.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The integration's `metadata.generation` it was taken for.
    pub generation: Option<i64>,
    /// The tenant (uid/generation) it was read from.
    pub tenant: String,
    /// When the application was last read from Graph.
    pub app_read_at: DateTime<Utc>,
    /// False after a reconcile that changed the application (minted, revoked): read it again next time.
    pub app_current: bool,
    pub app: Application,
    pub service_principal_id: String,
}

/// How a reconcile learns Graph's state.
#[derive(Debug, Clone)]
pub enum Source {
    /// Read everything from Graph.
    Live,
    /// Re-read the application only; the service principal and consent as in the snapshot.
    AppOnly(Snapshot),
    /// No Graph request.
    Cached(Snapshot),
}

/// Which [`Source`] a reconcile at `now` uses.
pub fn decide(
    snapshot: Option<Snapshot>,
    generation: Option<i64>,
    tenant: &str,
    now: DateTime<Utc>,
    drift_check: Duration,
) -> Source {
    let Some(s) = snapshot else {
        return Source::Live;
    };
    if s.generation != generation || s.tenant != tenant {
        return Source::Live;
    }
    let age = (now - s.app_read_at).to_std().unwrap_or(Duration::ZERO);
    if !s.app_current || now < s.app_read_at || age >= drift_check {
        Source::AppOnly(s)
    } else {
        Source::Cached(s)
    }
}

/// What a snapshot keeps of the application: what planning and delivery read (ids, audience, credentials).
/// Scopes, redirect URIs, names and tags are only compared against the spec, and that happens on a fresh read;
/// at ten thousand integrations they were most of the snapshots' memory.
pub fn slim(app: Application) -> Application {
    Application {
        id: app.id,
        app_id: app.app_id,
        sign_in_audience: app.sign_in_audience,
        password_credentials: app.password_credentials,
        ..Default::default()
    }
}

/// When the snapshot's application must be read again: the interval plus up to a tenth of it, fixed per
/// integration (from its uid), so that integrations provisioned together do not check their drift in the same
/// second forever after (ten thousand reads at once would spend a tenant's throttling budget).
pub fn drift_check_at(s: &Snapshot, uid: &str, drift_check: Duration) -> DateTime<Utc> {
    // FNV-1a: stable across runs and versions, unlike std's hasher.
    let hash = uid.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let spread_ms = (drift_check.as_millis() / 10).max(1) as u64;
    let wait = drift_check + Duration::from_millis(hash % spread_ms);
    s.app_read_at + chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::MAX)
}

/// The tenant a snapshot is read from: its uid and generation (a changed tenant spec reads everything again).
pub fn tenant_key(t: &EntraTenant) -> String {
    format!(
        "{}/{}",
        t.uid().unwrap_or_default(),
        t.metadata.generation.unwrap_or_default()
    )
}

/// A plan made from the cached application that wants to act in Graph is discarded: plan again from a fresh read
/// of the application (its service principal and consent as cached).
pub fn replan(source: &Source, plan: &Plan) -> Option<Source> {
    match source {
        Source::Cached(s) if !plan.is_quiet() => Some(Source::AppOnly(s.clone())),
        _ => None,
    }
}

/// What a successful reconcile leaves for the next one, and when to look again: the plan's time, or for a quiet
/// plan the drift check if that comes first. `source` is the one [`decide`] chose (before any [`replan`]).
#[allow(clippy::too_many_arguments)]
pub fn after(
    source: &Source,
    plan: &Plan,
    generation: Option<i64>,
    tenant: String,
    service_principal_id: String,
    app: Application,
    uid: &str,
    now: DateTime<Utc>,
    drift_check: Duration,
) -> (Snapshot, Option<DateTime<Utc>>) {
    let quiet = plan.is_quiet();
    let snap = Snapshot {
        generation,
        tenant,
        app_read_at: match (source, quiet) {
            (Source::Cached(s), true) => s.app_read_at,
            _ => now,
        },
        // A reconcile that acted changed the application: only its service principal is worth keeping.
        app_current: quiet,
        service_principal_id,
        app: slim(app),
    };
    let mut requeue_at = plan.requeue_at;
    if quiet {
        let check_at = drift_check_at(&snap, uid, drift_check);
        requeue_at = Some(requeue_at.map_or(check_at, |t| t.min(check_at)));
    }
    (snap, requeue_at)
}

/// Snapshots by integration uid. A plain mutex: every access is a map lookup or insert.
#[derive(Debug, Default)]
pub struct Snapshots(Mutex<HashMap<String, Snapshot>>);

impl Snapshots {
    pub fn get(&self, uid: &str) -> Option<Snapshot> {
        self.0.lock().ok()?.get(uid).cloned()
    }

    pub fn keep(&self, uid: &str, s: Snapshot) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(uid.to_string(), s);
        }
    }

    pub fn forget(&self, uid: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn snap(generation: i64, tenant: &str, at: i64) -> Snapshot {
        Snapshot {
            generation: Some(generation),
            tenant: tenant.into(),
            app_read_at: t(at),
            app_current: true,
            app: Application {
                id: "o1".into(),
                app_id: "a1".into(),
                ..Default::default()
            },
            service_principal_id: "sp1".into(),
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    fn plan(actions: Vec<crate::planner::rotation::Action>) -> Plan {
        Plan {
            actions,
            requeue_at: Some(t(7200)),
            status: Default::default(),
            blocked: None,
        }
    }

    fn revoke() -> crate::planner::rotation::Action {
        crate::planner::rotation::Action::Revoke {
            key_id: "k".into(),
            reason: crate::planner::rotation::RevokeReason::Orphan,
        }
    }

    #[test]
    fn a_cached_plan_with_work_is_made_again_from_a_fresh_read() {
        let cached = Source::Cached(snap(1, "t/1", 0));
        assert!(matches!(
            replan(&cached, &plan(vec![revoke()])),
            Some(Source::AppOnly(_))
        ));
        assert!(replan(&cached, &plan(vec![])).is_none());
        assert!(replan(&Source::Live, &plan(vec![revoke()])).is_none());
    }

    #[test]
    fn after_a_quiet_reconcile_the_snapshot_stays_current_and_the_drift_check_is_due() {
        let cached = Source::Cached(snap(1, "t/1", 0));
        let app = snap(1, "t/1", 0).app;
        let (s, at) = after(
            &cached,
            &plan(vec![]),
            Some(1),
            "t/1".into(),
            "sp1".into(),
            app.clone(),
            "u",
            t(10),
            HOUR,
        );
        assert!(s.app_current);
        assert_eq!(s.app_read_at, t(0), "a cached read keeps its age");
        let check = drift_check_at(&s, "u", HOUR);
        assert_eq!(at, Some(check.min(t(7200))));
        assert!(check >= t(3600) && check < t(3960));

        let (s, at) = after(
            &Source::Live,
            &plan(vec![revoke()]),
            Some(1),
            "t/1".into(),
            "sp1".into(),
            app,
            "u",
            t(10),
            HOUR,
        );
        assert!(
            !s.app_current,
            "a reconcile that acted leaves a stale application"
        );
        assert_eq!(s.app_read_at, t(10));
        assert_eq!(at, Some(t(7200)));
    }

    #[test]
    fn no_snapshot_reads_live() {
        assert!(matches!(
            decide(None, Some(1), "t/1", t(0), HOUR),
            Source::Live
        ));
    }

    #[test]
    fn a_spec_or_tenant_change_reads_live() {
        assert!(matches!(
            decide(Some(snap(1, "t/1", 0)), Some(2), "t/1", t(10), HOUR),
            Source::Live
        ));
        assert!(matches!(
            decide(Some(snap(1, "t/1", 0)), Some(1), "t/2", t(10), HOUR),
            Source::Live
        ));
    }

    #[test]
    fn a_young_snapshot_costs_nothing_and_an_old_one_one_read() {
        assert!(matches!(
            decide(Some(snap(1, "t/1", 0)), Some(1), "t/1", t(3599), HOUR),
            Source::Cached(_)
        ));
        assert!(matches!(
            decide(Some(snap(1, "t/1", 0)), Some(1), "t/1", t(3600), HOUR),
            Source::AppOnly(_)
        ));
        // A clock that went backwards does not make a snapshot young forever.
        assert!(matches!(
            decide(Some(snap(1, "t/1", 100)), Some(1), "t/1", t(0), HOUR),
            Source::AppOnly(_)
        ));
        let at = drift_check_at(&snap(1, "t/1", 0), "uid-1", HOUR);
        assert!(at >= t(3600) && at < t(3960), "{at}");
        assert_eq!(
            at,
            drift_check_at(&snap(1, "t/1", 0), "uid-1", HOUR),
            "stable"
        );
        let spread: std::collections::BTreeSet<_> = (0..20)
            .map(|i| drift_check_at(&snap(1, "t/1", 0), &format!("uid-{i}"), HOUR))
            .collect();
        assert!(spread.len() > 15, "integrations check at different times");
    }

    #[test]
    fn after_acting_the_application_is_read_again() {
        let stale = Snapshot {
            app_current: false,
            ..snap(1, "t/1", 0)
        };
        assert!(matches!(
            decide(Some(stale), Some(1), "t/1", t(1), HOUR),
            Source::AppOnly(_)
        ));
    }

    #[test]
    fn slim_keeps_what_planning_reads() {
        let app = Application {
            id: "o1".into(),
            app_id: "a1".into(),
            display_name: Some("name".into()),
            sign_in_audience: Some("AzureADMyOrg".into()),
            tags: vec!["t".into()],
            ..Default::default()
        };
        let s = slim(app);
        assert_eq!(
            (
                s.id.as_str(),
                s.app_id.as_str(),
                s.sign_in_audience.as_deref()
            ),
            ("o1", "a1", Some("AzureADMyOrg"))
        );
        assert!(s.display_name.is_none() && s.tags.is_empty());
    }

    #[test]
    fn the_map_keeps_and_forgets() {
        let m = Snapshots::default();
        m.keep("u1", snap(1, "t/1", 0));
        assert_eq!(
            m.get("u1").map(|s| s.service_principal_id),
            Some("sp1".into())
        );
        m.forget("u1");
        assert!(m.get("u1").is_none());
    }
}
