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
//! wants to mint or revoke is discarded and made again from a fresh read of the application (see
//! `integration::apply`). A reconcile that acted leaves a snapshot whose application is stale (only its service
//! principal is reused); a failed one leaves none.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use chrono::{DateTime, Utc};

use crate::graph::Application;

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
