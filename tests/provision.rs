//! Provisioning against the real control plane + Graph emulator: create → Ready, Secret contents, app shape,
//! steady state without writes, faults, deletion policies, namespace restrictions.
//! Run: tests/testbed/with-control-plane.sh cargo test --workspace --test provision

mod operator;
mod support;

use std::{collections::BTreeSet, time::Duration};

use entramail_operator::{
    api::{DeletionPolicy, EntraTenant},
    planner::tag,
};
use k8s_openapi::api::events::v1::Event;
use kube::{Api, ResourceExt, api::ListParams};
use operator::{Fx, Spec, TENANT_ID, condition, data, is_ready, key_of, object_id_of};
use serde_json::json;

const SCOPES: [&str; 5] = [
    "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0",
    "7427e0e9-2fba-42fe-b0c0-848c9e6a8182",
    "652390e4-393a-48de-9484-05f9b1212954",
    "258f6531-6087-4cc4-bb90-092c5fb3ed3f",
    "e1fe6dd8-ba31-4d61-89e7-88639da4683d",
];

/// (reason, note) of the events in the fixture's namespace.
async fn events(fx: &Fx) -> Vec<(String, String)> {
    Api::<Event>::namespaced(fx.client.clone(), &fx.ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect()
}

/// Issue 12: the reconciles between drift checks (pokes, status echoes) cost no Graph request; a drift check costs
/// one (the application) and catches a credential deleted in Entra behind the operator's back.
#[tokio::test]
async fn pokes_cost_no_graph_request_and_the_drift_check_one() {
    let mut fx = Fx::start("prov-drift").await;
    fx.stop_operator().await;
    fx.configure(|c| c.drift_check_interval = Duration::from_secs(8));
    fx.start_operator();
    fx.create("mail", Spec::basic()).await;
    let cr = fx.wait_ready("mail").await;
    let key = key_of(&cr).unwrap();
    let obj_id = object_id_of(&cr);
    // Let the reconciles that follow provisioning settle (the one after the mint re-reads the app once).
    tokio::time::sleep(Duration::from_secs(2)).await;
    fx.h.reset_counts();
    for i in 0..5 {
        fx.annotate("mail", "poke", &i.to_string()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        fx.h.counts().values().sum::<u64>(),
        0,
        "Graph requests for pokes: {:?}",
        fx.h.counts()
    );

    // Behind the operator's back: the drift check (no poke) reads the app once and re-mints.
    assert!(fx.h.remove_password(TENANT_ID, &obj_id, &key));
    let cr = fx
        .wait(
            "mail",
            Duration::from_secs(30),
            "re-mint after drift check",
            |o| key_of(o).is_some_and(|k| k != key),
        )
        .await;
    assert!(is_ready(&cr));
    let counts = fx.h.counts();
    assert_eq!(
        counts.get("GET /servicePrincipals").copied().unwrap_or(0),
        0,
        "a drift check reads only the application: {counts:?}"
    );
    assert!(
        counts.get("GET /applications/{id}").copied().unwrap_or(0) >= 1,
        "{counts:?}"
    );
}

#[tokio::test]
async fn provisions_app_secret_and_then_stays_quiet() {
    // Long on purpose: one provisioning checked end to end (app, SP, Secret, status, events) and then its quiet
    // steady state.
    let mut fx = Fx::start("prov").await;
    fx.create("mail", Spec::basic()).await;
    let cr = fx.wait_ready("mail").await;
    let st = cr.status.clone().unwrap();
    let app_id = st.app_id.clone().unwrap();

    // The Secret holds a secret Entra accepts, plus client and tenant ids.
    let s = fx.secret("mail-entra").await.expect("Secret created");
    let text = data(&s, "clientSecret").unwrap();
    assert!(fx.h.is_secret_valid(TENANT_ID, &app_id, &text));
    assert_eq!(data(&s, "clientId").as_deref(), Some(app_id.as_str()));
    assert_eq!(data(&s, "tenantId").as_deref(), Some(TENANT_ID));
    assert!(data(&s, "expiresAt").is_some());
    assert!(data(&s, "previousClientSecret").is_none());
    assert_eq!(s.owner_references()[0].uid, cr.uid().unwrap());

    // The application has exactly the five delegated scopes and NocoBase's redirect URI.
    let app = fx.h.application_by_app_id(TENANT_ID, &app_id).unwrap();
    let ids: BTreeSet<String> = app
        .required_resource_access
        .iter()
        .flat_map(|r| r.resource_access.iter().map(|a| a.id.clone()))
        .collect();
    assert_eq!(ids, SCOPES.iter().map(|s| s.to_string()).collect());
    assert_eq!(
        app.web.redirect_uris,
        vec!["https://nocobase.example.com/admin/settings/mail/oauth2".to_string()]
    );
    assert_eq!(app.password_credentials.len(), 1);
    assert!(tag::is_ours(
        app.password_credentials[0].display_name.as_deref(),
        &cr.uid().unwrap()
    ));
    assert!(
        fx.h.service_principals(TENANT_ID)
            .iter()
            .any(|sp| sp.app_id == app_id)
    );
    assert_eq!(
        st.current_credential.as_ref().unwrap().key_id,
        app.password_credentials[0].key_id
    );

    // Events tell the story, without secret text; the tenant reports Ready.
    let wanted = ["Created", "CredentialCreated", "SecretCreated"];
    let events = fx
        .wait_events(
            &format!("the events {wanted:?}"),
            Duration::from_secs(15),
            |evs| {
                wanted
                    .iter()
                    .all(|w| evs.iter().any(|e| e.reason.as_deref() == Some(*w)))
            },
        )
        .await;
    let events: Vec<(String, String)> = events
        .into_iter()
        .map(|e| (e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect();
    assert!(events.iter().all(|(_, note)| !note.contains(&text)));
    let tenant = Api::<EntraTenant>::all(fx.client.clone())
        .get(&fx.tenant)
        .await
        .unwrap();
    let ready = tenant
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert!(ready.is_true(), "{ready:?}");

    // Steady state: a restarted operator re-reconciles everything and writes nothing anywhere.
    tokio::time::sleep(Duration::from_secs(1)).await;
    fx.stop_operator().await;
    let cr_rv = fx
        .integrations()
        .get("mail")
        .await
        .unwrap()
        .resource_version();
    let s_rv = fx.secret("mail-entra").await.unwrap().resource_version();
    fx.h.reset_counts();
    fx.start_operator();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(fx.h.reads() > 0, "operator did reconcile");
    assert_eq!(
        fx.h.writes(),
        0,
        "Graph writes in steady state: {:?}",
        fx.h.counts()
    );
    assert_eq!(
        fx.integrations()
            .get("mail")
            .await
            .unwrap()
            .resource_version(),
        cr_rv
    );
    assert_eq!(
        fx.secret("mail-entra").await.unwrap().resource_version(),
        s_rv
    );
}

#[tokio::test]
async fn converges_through_lag_throttling_and_server_errors() {
    let fx = Fx::start("faults").await;
    fx.h.set_replication_lag(Duration::from_millis(1500));
    fx.h.throttle_next(3, Duration::from_secs(1));
    fx.h.fail_next(2, 503);
    fx.create("mail", Spec::basic()).await;
    let cr = fx
        .wait("mail", Duration::from_secs(90), "Ready", is_ready)
        .await;
    let app_id = cr.status.unwrap().app_id.unwrap();
    let s = fx.secret("mail-entra").await.unwrap();
    assert!(fx.h.is_secret_valid(TENANT_ID, &app_id, &data(&s, "clientSecret").unwrap()));
    // Exactly one app for this CR and one credential: retries did not duplicate anything.
    assert_eq!(fx.h.applications(TENANT_ID).len(), 1);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let app = fx.h.application_by_app_id(TENANT_ID, &app_id).unwrap();
    assert_eq!(
        app.password_credentials.len(),
        1,
        "{:?}",
        app.password_credentials
    );
}

#[tokio::test]
async fn delete_policy_removes_the_application() {
    let fx = Fx::start("del").await;
    fx.create("mail", Spec::basic()).await;
    let cr = fx.wait_ready("mail").await;
    let app_id = cr.status.unwrap().app_id.unwrap();
    assert!(fx.h.application_by_app_id(TENANT_ID, &app_id).is_some());
    fx.delete("mail").await;
    fx.wait_gone("mail", Duration::from_secs(30)).await;
    assert!(fx.h.application_by_app_id(TENANT_ID, &app_id).is_none());
}

#[tokio::test]
async fn orphan_policy_keeps_the_application_but_revokes_our_secrets() {
    let fx = Fx::start("orphan").await;
    fx.create(
        "mail",
        Spec::basic().deletion_policy(DeletionPolicy::Orphan),
    )
    .await;
    let cr = fx.wait_ready("mail").await;
    let app_id = cr.status.unwrap().app_id.unwrap();
    fx.delete("mail").await;
    fx.wait_gone("mail", Duration::from_secs(30)).await;
    let app =
        fx.h.application_by_app_id(TENANT_ID, &app_id)
            .expect("app kept");
    assert!(
        app.password_credentials.is_empty(),
        "{:?}",
        app.password_credentials
    );
}

#[tokio::test]
async fn namespace_not_allowed_gets_a_condition_and_no_graph_writes() {
    let fx = Fx::start_with("denied", json!({"names": ["some-other-namespace"]})).await;
    fx.h.reset_counts();
    fx.create("mail", Spec::basic()).await;
    let cr = fx
        .wait("mail", Duration::from_secs(30), "TenantReady=False", |o| {
            condition(o, "TenantReady").is_some_and(|c| c.0 == "False")
        })
        .await;
    let (_, reason, message) = condition(&cr, "TenantReady").unwrap();
    assert_eq!(reason, "NamespaceNotAllowed");
    assert!(message.contains(&fx.ns), "{message}");
    assert!(!is_ready(&cr));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fx.h.writes(), 0);
    assert!(fx.h.applications(TENANT_ID).is_empty());
    assert!(fx.secret("mail-entra").await.is_none());
}

#[tokio::test]
async fn lifetime_policy_rejection_is_explained_and_recovers_after_fix() {
    let fx = Fx::start("policy").await;
    fx.h.set_max_credential_lifetime(Some(Duration::from_secs(3600)));
    fx.create("mail", Spec::basic()).await;
    let cr = fx
        .wait(
            "mail",
            Duration::from_secs(30),
            "CredentialReady=False",
            |o| condition(o, "CredentialReady").is_some_and(|c| c.0 == "False"),
        )
        .await;
    let (_, reason, message) = condition(&cr, "CredentialReady").unwrap();
    assert_eq!(reason, "CredentialLifetimePolicy");
    assert!(message.contains("policy"), "{message}");
    assert!(
        message.contains("3600 seconds"),
        "names the maximum: {message}"
    );
    assert!(
        message.contains("24h"),
        "names the requested lifetime: {message}"
    );
    assert!(fx.secret("mail-entra").await.is_none());

    fx.integrations()
        .patch(
            "mail",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"secret": {"lifetime": "30m"}}})),
        )
        .await
        .unwrap();
    fx.wait_ready("mail").await;
}

#[tokio::test]
async fn admin_consent_grants_the_five_scopes_once() {
    let fx = Fx::start("consent").await;
    fx.create("mail", Spec::basic().admin_consent()).await;
    let cr = fx.wait_ready("mail").await;
    let sp_id = cr
        .status
        .as_ref()
        .unwrap()
        .service_principal_id
        .clone()
        .unwrap();
    let grants: Vec<_> =
        fx.h.grants(TENANT_ID)
            .into_iter()
            .filter(|g| g.client_id == sp_id)
            .collect();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].consent_type, "AllPrincipals");
    let scopes: BTreeSet<&str> = grants[0].scope.split_whitespace().collect();
    assert_eq!(
        scopes,
        BTreeSet::from([
            "email",
            "offline_access",
            "IMAP.AccessAsUser.All",
            "SMTP.Send",
            "User.Read"
        ])
    );
    assert_eq!(
        condition(&cr, "AdminConsentGranted")
            .map(|c| c.0)
            .as_deref(),
        Some("True")
    );
}

#[tokio::test]
async fn deleting_after_the_tenant_is_gone_does_not_hang() {
    let fx = Fx::start("tenant-gone").await;
    fx.create("mail", Spec::basic()).await;
    let cr = fx.wait_ready("mail").await;
    let app_id = cr.status.unwrap().app_id.unwrap();
    Api::<EntraTenant>::all(fx.client.clone())
        .delete(&fx.tenant, &Default::default())
        .await
        .unwrap();
    fx.delete("mail").await;
    fx.wait_gone("mail", Duration::from_secs(30)).await;
    assert!(events(&fx).await.iter().any(|(r, _)| r == "CleanupSkipped"));
    // Nothing could be cleaned up without the tenant: the app is still there.
    assert!(fx.h.application_by_app_id(TENANT_ID, &app_id).is_some());
}
