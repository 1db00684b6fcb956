//! Admission tests on the real apiserver: the generated CRDs accept valid objects (with the documented
//! defaults) and reject invalid ones with the readable messages of their CEL rules.
//!
//! Run: `tests/testbed/with-control-plane.sh cargo test --workspace --test admission`

mod support;

use entramail_operator::api::{
    ConsumerKind, DeletionPolicy, EntraTenant, EntraTenantSpec, ExtraScope,
    NocoBaseMailIntegration, SignInAudience,
};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use serde_json::{Value, json};

const TENANT_ID: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT_ID: &str = "66666666-7777-8888-9999-000000000000";

async fn setup(prefix: &str) -> (Client, String) {
    let client = support::client().await;
    support::apply_crds(&client).await;
    let ns = support::namespace(&client, prefix).await;
    (client, ns)
}

fn integration_api(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::erase::<NocoBaseMailIntegration>(&()),
    )
}

fn tenant_api(client: &Client) -> Api<DynamicObject> {
    Api::all_with(client.clone(), &ApiResource::erase::<EntraTenant>(&()))
}

fn object<K: Resource<DynamicType = ()>>(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": { "name": name },
        "spec": spec,
    }))
    .unwrap()
}

fn minimal_integration_spec() -> Value {
    json!({
        "tenantRef": { "name": "contoso" },
        "application": { "nocobaseOrigin": "https://nocobase.example.com" },
    })
}

fn minimal_tenant_spec() -> Value {
    json!({ "tenantId": TENANT_ID, "auth": { "managedIdentity": {} } })
}

/// A spec.delivery.nocobase with this url and a record target.
fn nocobase(url: Value) -> Value {
    json!({
        "url": url,
        "apiKeySecretRef": { "name": "nocobase-api", "key": "token" },
        "record": { "collection": "mailSettings", "filterByTk": "1",
                    "fields": { "clientId": "clientId", "clientSecret": "clientSecret" } },
    })
}

/// Sets `value` at a dotted path inside `spec` (creating objects on the way).
fn with(mut spec: Value, path: &str, value: Value) -> Value {
    let mut cur = &mut spec;
    let parts: Vec<&str> = path.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        cur = cur
            .as_object_mut()
            .unwrap()
            .entry(*p)
            .or_insert_with(|| json!({}));
    }
    cur.as_object_mut()
        .unwrap()
        .insert(parts[parts.len() - 1].to_owned(), value);
    spec
}

fn dry_run() -> PostParams {
    PostParams {
        dry_run: true,
        ..Default::default()
    }
}

fn assert_rejected<T: std::fmt::Debug>(case: &str, result: Result<T, kube::Error>, needle: &str) {
    match result {
        Ok(obj) => {
            panic!("{case}: expected rejection containing {needle:?}, but it was accepted: {obj:?}")
        }
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{case}: {status:?}");
            assert!(
                status.message.contains(needle),
                "{case}: message {:?} does not contain {needle:?}",
                status.message
            );
        }
        Err(e) => panic!("{case}: unexpected error {e}"),
    }
}

#[tokio::test]
async fn minimal_integration_gets_documented_defaults() {
    let (client, ns) = setup("adm-min").await;
    let api = integration_api(&client, &ns);
    api.create(
        &PostParams::default(),
        &object::<NocoBaseMailIntegration>("mail", minimal_integration_spec()),
    )
    .await
    .unwrap();

    let typed: Api<NocoBaseMailIntegration> = Api::namespaced(client.clone(), &ns);
    let got = typed.get("mail").await.unwrap();
    let spec = &got.spec;
    assert_eq!(spec.secret.lifetime.as_str(), "4320h");
    assert_eq!(spec.secret.name, None);
    assert_eq!(spec.secret.secret_name("mail"), "mail-entra");
    assert_eq!(spec.secret.keys.client_id, "clientId");
    assert_eq!(spec.secret.keys.client_secret, "clientSecret");
    assert_eq!(spec.secret.keys.tenant_id, "tenantId");
    assert_eq!(spec.secret.keys.expires_at, "expiresAt");
    assert_eq!(
        spec.secret.keys.previous_client_secret,
        "previousClientSecret"
    );
    assert_eq!(spec.secret.renew_before, None);
    assert_eq!(spec.secret.renew_before_percentage, None);
    assert_eq!(spec.rotation.overlap.as_str(), "1h");
    assert!(spec.rotation.consumers.is_empty());
    // No schema default: a created app gets the personal-account audience, an adopted one keeps its own.
    assert_eq!(spec.application.sign_in_audience, None);
    assert_eq!(
        spec.application.created_app_audience(),
        SignInAudience::AzureAdAndPersonalMicrosoftAccount
    );
    assert!(spec.delivery.acknowledgement_required());
    assert!(!spec.application.admin_consent);
    assert_eq!(spec.deletion_policy, None);
    assert_eq!(spec.deletion_policy(), DeletionPolicy::Delete);
    assert_eq!(
        spec.application.effective_redirect_uris(),
        vec!["https://nocobase.example.com/admin/settings/mail/oauth2".to_owned()]
    );
    assert_eq!(spec.delegated_scopes().len(), 5);

    let tenants = tenant_api(&client);
    let tenant_name = format!("{ns}-t");
    tenants
        .create(
            &PostParams::default(),
            &object::<EntraTenant>(&tenant_name, minimal_tenant_spec()),
        )
        .await
        .unwrap();
    let typed: Api<EntraTenant> = Api::all(client.clone());
    let t = typed.get(&tenant_name).await.unwrap();
    assert_eq!(t.spec.cloud, entramail_operator::api::Cloud::AzurePublic);
    assert_eq!(
        t.spec.resolved_endpoints().unwrap().graph_endpoint,
        "https://graph.microsoft.com"
    );
    assert!(t.spec.allows_namespace(&ns, &Default::default()).unwrap());
    assert!(matches!(
        t.spec.auth.method(),
        Ok(entramail_operator::api::AuthMethod::ManagedIdentity(_))
    ));
    typed
        .delete(&tenant_name, &Default::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn full_integration_round_trips_unchanged() {
    // Long on purpose: every field of the spec set once, so a round trip loses none.
    let (client, ns) = setup("adm-full").await;
    let spec = json!({
        "tenantRef": { "name": "contoso" },
        "application": {
            "displayName": "NocoBase mail (prod)",
            "signInAudience": "AzureADMyOrg",
            "redirectUris": ["https://nocobase.example.com/custom/callback", "http://localhost:13000/cb", "http://127.0.0.1/cb"],
            "nocobaseOrigin": "https://nocobase.example.com/",
            "extraScopes": ["openid", "profile"],
            "adminConsent": true,
            "existingAppId": CLIENT_ID,
        },
        "secret": {
            "name": "nocobase-mail.credentials",
            "keys": {
                "clientId": "CLIENT_ID", "clientSecret": "CLIENT_SECRET", "tenantId": "TENANT_ID",
                "expiresAt": "EXPIRES_AT", "previousClientSecret": "PREVIOUS_CLIENT_SECRET"
            },
            "labels": { "app.kubernetes.io/part-of": "nocobase" },
            "annotations": { "example.com/owner": "platform" },
            "lifetime": "2160h",
            "renewBefore": "720h",
        },
        "rotation": {
            "overlap": "30m",
            "consumers": [{ "kind": "Deployment", "name": "nocobase" }, { "kind": "StatefulSet", "name": "nocobase-worker" }],
        },
        "delivery": {
            "nocobase": {
                "url": "http://nocobase.nocobase.svc:13000",
                "apiKeySecretRef": { "name": "nocobase-api", "key": "token" },
                "variables": { "clientId": "OUTLOOK_CLIENT_ID", "clientSecret": "OUTLOOK_CLIENT_SECRET", "tenantId": "OUTLOOK_TENANT_ID" },
                "record": { "collection": "mailSettings", "filter": { "provider": "outlook" },
                            "fields": { "clientId": "clientId", "clientSecret": "clientSecret", "tenantId": "tenantId" } },
            },
            "acknowledgement": "Required",
        },
        "deletionPolicy": "Delete",
    });
    let api = integration_api(&client, &ns);
    let created = api
        .create(
            &PostParams::default(),
            &object::<NocoBaseMailIntegration>("full", spec.clone()),
        )
        .await
        .unwrap();
    assert_eq!(
        created.data["spec"], spec,
        "apiserver must not add or drop anything from a full spec"
    );

    let typed: Api<NocoBaseMailIntegration> = Api::namespaced(client.clone(), &ns);
    let got = typed.get("full").await.unwrap();
    assert_eq!(
        serde_json::to_value(&got.spec).unwrap(),
        spec,
        "Rust types must round-trip the spec"
    );
    assert_eq!(
        got.spec.application.extra_scopes,
        vec![ExtraScope::OpenId, ExtraScope::Profile]
    );
    assert_eq!(
        got.spec.rotation.consumers[1].kind,
        ConsumerKind::StatefulSet
    );
    assert_eq!(
        got.spec.secret.renew_before.as_ref().map(|d| d.as_std()),
        Some(std::time::Duration::from_secs(720 * 3600))
    );
    assert_eq!(got.spec.delegated_scopes().len(), 7);
    assert_eq!(
        got.spec
            .application
            .effective_redirect_uris()
            .last()
            .map(String::as_str),
        Some("https://nocobase.example.com/admin/settings/mail/oauth2")
    );

    // Orphan is the default for adopted apps.
    let adopted = with(
        minimal_integration_spec(),
        "application.existingAppId",
        json!(CLIENT_ID),
    );
    let created = api
        .create(
            &PostParams::default(),
            &object::<NocoBaseMailIntegration>("adopted", adopted),
        )
        .await
        .unwrap();
    let typed_obj: NocoBaseMailIntegration = created.try_parse().unwrap();
    assert_eq!(typed_obj.spec.deletion_policy(), DeletionPolicy::Orphan);
}

#[tokio::test]
async fn invalid_integrations_are_rejected_with_readable_messages() {
    // Long on purpose: a table of invalid specs and the message each must get, checked against the real apiserver.
    let (client, ns) = setup("adm-bad").await;
    let api = integration_api(&client, &ns);
    let base = minimal_integration_spec;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "lifetime over 2 years",
            with(base(), "secret.lifetime", json!("17521h")),
            "lifetime must be at most 17520h (2 years)",
        ),
        (
            "zero lifetime",
            with(base(), "secret.lifetime", json!("0s")),
            "lifetime must be greater than 0",
        ),
        (
            "lifetime not a duration",
            with(base(), "secret.lifetime", json!("180 days")),
            "should match",
        ),
        (
            "renewBefore equal to lifetime",
            with(
                with(base(), "secret.lifetime", json!("720h")),
                "secret.renewBefore",
                json!("720h"),
            ),
            "renewBefore must be shorter than lifetime",
        ),
        (
            "renewBefore longer than default lifetime",
            with(base(), "secret.renewBefore", json!("5000h")),
            "renewBefore must be shorter than lifetime",
        ),
        (
            "renewBefore and percentage",
            with(
                with(base(), "secret.renewBefore", json!("24h")),
                "secret.renewBeforePercentage",
                json!(20),
            ),
            "set either renewBefore or renewBeforePercentage, not both",
        ),
        (
            "percentage 100",
            with(base(), "secret.renewBeforePercentage", json!(100)),
            "less than or equal to 99",
        ),
        (
            "http redirect URI",
            with(
                base(),
                "application.redirectUris",
                json!(["http://nocobase.example.com/cb"]),
            ),
            "redirectUris must start with https:// (http:// is only allowed for localhost and 127.0.0.1)",
        ),
        (
            "http redirect URI disguised as localhost",
            with(
                base(),
                "application.redirectUris",
                json!(["http://localhost.evil.example/cb"]),
            ),
            "redirectUris must start with https://",
        ),
        (
            "http origin",
            with(
                base(),
                "application.nocobaseOrigin",
                json!("http://nocobase.example.com"),
            ),
            "nocobaseOrigin must start with https://",
        ),
        (
            "neither redirect URIs nor origin",
            with(base(), "application", json!({ "redirectUris": [] })),
            "set redirectUris and/or nocobaseOrigin",
        ),
        (
            "existingAppId not a GUID",
            with(base(), "application.existingAppId", json!("my-app")),
            "existingAppId must be a GUID",
        ),
        (
            "unknown extra scope",
            with(base(), "application.extraScopes", json!(["Mail.Send"])),
            "Unsupported value",
        ),
        (
            "bad Secret name",
            with(base(), "secret.name", json!("Mail_Secret")),
            "secret.name must be a DNS-1123 subdomain",
        ),
        (
            "bad Secret key",
            with(base(), "secret.keys.clientId", json!("client id")),
            "should match",
        ),
        (
            "duplicate Secret keys",
            with(base(), "secret.keys.tenantId", json!("clientId")),
            "secret keys must all be different",
        ),
        (
            "overlap too long",
            with(base(), "rotation.overlap", json!("721h")),
            "overlap must be at most 720h (30 days)",
        ),
        (
            "unknown consumer kind",
            with(
                base(),
                "rotation.consumers",
                json!([{ "kind": "DaemonSet", "name": "x" }]),
            ),
            "Unsupported value",
        ),
        (
            "missing tenantRef",
            json!({ "application": { "nocobaseOrigin": "https://a.example" } }),
            "tenantRef: Required value",
        ),
        (
            "NocoBase URL without http(s) scheme",
            with(
                base(),
                "delivery.nocobase",
                nocobase(json!("nocobase.ns.svc:13000")),
            ),
            "delivery.nocobase.url must be an http:// or https:// URL",
        ),
        (
            "NocoBase URL with a query",
            with(
                base(),
                "delivery.nocobase",
                nocobase(json!("http://nocobase:13000/?x=1")),
            ),
            "delivery.nocobase.url must be an http:// or https:// URL",
        ),
        (
            "NocoBase URL at the cloud metadata address",
            with(
                base(),
                "delivery.nocobase",
                nocobase(json!("http://169.254.169.254/latest")),
            ),
            "must not point at a link-local or cloud metadata address",
        ),
        (
            "NocoBase URL at an IPv6 link-local address",
            with(
                base(),
                "delivery.nocobase",
                nocobase(json!("http://[fe80::1]:13000")),
            ),
            "must not point at a link-local or cloud metadata address",
        ),
        (
            "NocoBase delivery without a target",
            with(
                base(),
                "delivery.nocobase",
                json!({"url": "http://nocobase:13000", "apiKeySecretRef": {"name": "k", "key": "k"}}),
            ),
            "nocobase delivery needs variables and/or record",
        ),
        (
            "record with both a key and a filter",
            with(
                with(
                    base(),
                    "delivery.nocobase",
                    nocobase(json!("http://nocobase:13000")),
                ),
                "delivery.nocobase.record.filter",
                json!({"provider": "outlook"}),
            ),
            "record needs exactly one of filterByTk",
        ),
        (
            "record collection with a path",
            with(
                with(
                    base(),
                    "delivery.nocobase",
                    nocobase(json!("http://nocobase:13000")),
                ),
                "delivery.nocobase.record.collection",
                json!("users/1/roles"),
            ),
            "collection in body should match",
        ),
        (
            "variable name NocoBase cannot refer to",
            with(
                with(
                    base(),
                    "delivery.nocobase",
                    nocobase(json!("http://nocobase:13000")),
                ),
                "delivery.nocobase.variables",
                json!({"clientSecret": "client-secret"}),
            ),
            "clientSecret in body should match",
        ),
        (
            "unknown acknowledgement mode",
            with(base(), "delivery.acknowledgement", json!("Sometimes")),
            "Unsupported value: \"Sometimes\"",
        ),
        (
            "the removed nocobasePush",
            with(
                base(),
                "rotation.nocobasePush",
                json!({"url": "http://nocobase:13000", "resource": "emailSettings", "action": "update"}),
            ),
            "rotation.nocobasePush was removed",
        ),
        (
            "display name longer than Entra allows",
            with(base(), "application.displayName", json!("x".repeat(121))),
            "may not be more than 120",
        ),
        (
            "display name longer than Entra allows for personal accounts (the default audience)",
            with(base(), "application.displayName", json!("x".repeat(91))),
            "displayName may have at most 90 characters when personal Microsoft accounts",
        ),
    ];
    for (case, spec, needle) in cases {
        let result = api
            .create(&dry_run(), &object::<NocoBaseMailIntegration>("bad", spec))
            .await;
        assert_rejected(case, result, needle);
    }

    let long_name = "a".repeat(250);
    let result = api
        .create(
            &dry_run(),
            &object::<NocoBaseMailIntegration>(&long_name, base()),
        )
        .await;
    assert_rejected(
        "name too long for default Secret name",
        result,
        "set spec.secret.name",
    );

    // The loopback exceptions are accepted.
    let ok = with(
        base(),
        "application.redirectUris",
        json!(["http://localhost:13000/cb", "http://127.0.0.1/cb"]),
    );
    api.create(&dry_run(), &object::<NocoBaseMailIntegration>("ok", ok))
        .await
        .unwrap();
}

#[tokio::test]
async fn tenant_ref_and_existing_app_id_are_immutable() {
    let (client, ns) = setup("adm-immut").await;
    let api = integration_api(&client, &ns);
    let pp = PatchParams::default();
    api.create(
        &PostParams::default(),
        &object::<NocoBaseMailIntegration>("plain", minimal_integration_spec()),
    )
    .await
    .unwrap();
    let result = api
        .patch(
            "plain",
            &pp,
            &Patch::Merge(json!({ "spec": { "tenantRef": { "name": "other" } } })),
        )
        .await;
    assert_rejected("change tenantRef", result, "tenantRef is immutable");

    // Other fields stay editable.
    api.patch(
        "plain",
        &pp,
        &Patch::Merge(json!({ "spec": { "secret": { "lifetime": "2160h" } } })),
    )
    .await
    .unwrap();

    let adopted = with(
        minimal_integration_spec(),
        "application.existingAppId",
        json!(CLIENT_ID),
    );
    api.create(
        &PostParams::default(),
        &object::<NocoBaseMailIntegration>("adopted", adopted),
    )
    .await
    .unwrap();
    let other = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
    let result = api
        .patch(
            "adopted",
            &pp,
            &Patch::Merge(json!({ "spec": { "application": { "existingAppId": other } } })),
        )
        .await;
    assert_rejected(
        "change existingAppId",
        result,
        "existingAppId is immutable once set",
    );
    let result = api
        .patch(
            "adopted",
            &pp,
            &Patch::Merge(json!({ "spec": { "application": { "existingAppId": null } } })),
        )
        .await;
    assert_rejected(
        "remove existingAppId",
        result,
        "existingAppId is immutable once set",
    );
}

#[tokio::test]
async fn invalid_tenants_are_rejected_with_readable_messages() {
    // Long on purpose: a table of invalid tenants and the message each must get.
    let (client, ns) = setup("adm-tenant").await;
    let api = tenant_api(&client);
    let base = minimal_tenant_spec;
    let secret_ref = json!({ "clientId": CLIENT_ID, "secretRef": { "name": "entra-operator", "key": "client-secret" } });
    let endpoints = json!({ "authorityHost": "https://login.emulator.test", "graphEndpoint": "https://graph.emulator.test:8443" });
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "no auth method",
            with(base(), "auth", json!({})),
            "auth must set exactly one of workloadIdentity, clientSecret, clientCertificate, managedIdentity",
        ),
        (
            "two auth methods",
            with(
                base(),
                "auth",
                json!({ "managedIdentity": {}, "clientSecret": secret_ref }),
            ),
            "auth must set exactly one of",
        ),
        (
            "Custom cloud without endpoints",
            with(base(), "cloud", json!("Custom")),
            "endpoints must be set when cloud is Custom, and only then",
        ),
        (
            "endpoints on a public cloud",
            with(base(), "endpoints", endpoints.clone()),
            "endpoints must be set when cloud is Custom, and only then",
        ),
        (
            "http endpoint",
            with(
                with(base(), "cloud", json!("Custom")),
                "endpoints",
                json!({ "authorityHost": "http://login.test", "graphEndpoint": "https://graph.test" }),
            ),
            "authorityHost must be an https:// URL",
        ),
        (
            "tenantId not a GUID",
            with(base(), "tenantId", json!("contoso.onmicrosoft.com")),
            "tenantId must be a GUID",
        ),
        (
            "clientId not a GUID",
            with(
                base(),
                "auth",
                json!({ "workloadIdentity": { "clientId": "abc" } }),
            ),
            "clientId must be a GUID",
        ),
        (
            "bad Secret name",
            with(
                base(),
                "auth",
                json!({ "clientSecret": { "clientId": CLIENT_ID, "secretRef": { "name": "Bad!", "key": "k" } } }),
            ),
            "secretRef.name must be a DNS-1123 subdomain",
        ),
        (
            "empty allowedNamespaces",
            with(base(), "allowedNamespaces", json!({})),
            "allowedNamespaces needs names and/or selector",
        ),
        (
            "caBundle not PEM",
            with(base(), "caBundle", json!("hello")),
            "caBundle must contain PEM certificates",
        ),
        (
            "unknown cloud",
            with(base(), "cloud", json!("AzureGermany")),
            "Unsupported value",
        ),
    ];
    for (case, spec, needle) in cases {
        let result = api
            .create(
                &dry_run(),
                &object::<EntraTenant>(&format!("{ns}-bad"), spec),
            )
            .await;
        assert_rejected(case, result, needle);
    }

    // A Custom cloud with endpoints, workload identity (defaulted token file) and a namespace allow-list.
    let name = format!("{ns}-custom");
    let spec = json!({
        "tenantId": TENANT_ID,
        "cloud": "Custom",
        "endpoints": endpoints,
        "auth": { "workloadIdentity": { "clientId": CLIENT_ID } },
        "allowedNamespaces": { "names": ["team-a"], "selector": { "matchLabels": { "nocobase": "true" } } },
        "caBundle": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    });
    let created = api
        .create(&PostParams::default(), &object::<EntraTenant>(&name, spec))
        .await
        .unwrap();
    let t: EntraTenant = created.try_parse().unwrap();
    let EntraTenantSpec { auth, .. } = &t.spec;
    assert_eq!(
        auth.workload_identity.as_ref().unwrap().token_file,
        "/var/run/secrets/azure/tokens/azure-identity-token"
    );
    assert_eq!(
        t.spec.resolved_endpoints().unwrap().authority_host,
        "https://login.emulator.test"
    );
    assert!(
        t.spec
            .allows_namespace("team-a", &Default::default())
            .unwrap()
    );
    assert!(
        !t.spec
            .allows_namespace("team-b", &Default::default())
            .unwrap()
    );
    let labels = [("nocobase".to_owned(), "true".to_owned())]
        .into_iter()
        .collect();
    assert!(t.spec.allows_namespace("team-b", &labels).unwrap());

    let pp = PatchParams::default();
    let result = api
        .patch(
            &name,
            &pp,
            &Patch::Merge(
                json!({ "spec": { "tenantId": "99999999-2222-3333-4444-555555555555" } }),
            ),
        )
        .await;
    assert_rejected("change tenantId", result, "tenantId is immutable");
    api.delete(&name, &Default::default()).await.unwrap();
}

/// Every field the user wrote survives a round trip through the Rust types (defaults may be added).
fn assert_subset(written: &Value, typed: &Value, at: &str) {
    match (written, typed) {
        (Value::Object(w), Value::Object(t)) => {
            for (k, v) in w {
                let Some(tv) = t.get(k) else {
                    panic!("{at}.{k}: dropped by the Rust types")
                };
                assert_subset(v, tv, &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(written, typed, "{at}: changed by the Rust types"),
    }
}

/// Every document in examples/*.yaml parses into the Rust types without losing fields and passes the
/// apiserver's validation (server-side apply, dry run).
#[tokio::test]
async fn examples_parse_and_pass_server_side_dry_run() {
    use serde::Deserialize;

    let (client, ns) = setup("adm-examples").await;
    let pp = PatchParams::apply(support::TEST_MANAGER).dry_run();
    let dir = support::repo_root().join("examples");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    let mut kinds = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap();
        for doc in serde_norway::Deserializer::from_str(&text) {
            let raw: Value = Value::deserialize(doc).unwrap();
            let kind = raw["kind"].as_str().unwrap_or_default().to_owned();
            let where_ = format!("{} ({kind})", path.display());
            match kind.as_str() {
                "EntraTenant" => {
                    let obj: EntraTenant = serde_json::from_value(raw.clone()).unwrap();
                    assert_subset(
                        &raw["spec"],
                        &serde_json::to_value(&obj.spec).unwrap(),
                        &where_,
                    );
                    let api: Api<EntraTenant> = Api::all(client.clone());
                    let name = obj.metadata.name.clone().unwrap();
                    let applied = api.patch(&name, &pp, &Patch::Apply(&obj)).await;
                    assert!(applied.is_ok(), "{where_}: {applied:?}");
                }
                "NocoBaseMailIntegration" => {
                    let obj: NocoBaseMailIntegration = serde_json::from_value(raw.clone()).unwrap();
                    assert_subset(
                        &raw["spec"],
                        &serde_json::to_value(&obj.spec).unwrap(),
                        &where_,
                    );
                    let api: Api<NocoBaseMailIntegration> = Api::namespaced(client.clone(), &ns);
                    let name = obj.metadata.name.clone().unwrap();
                    let applied = api.patch(&name, &pp, &Patch::Apply(&obj)).await;
                    assert!(applied.is_ok(), "{where_}: {applied:?}");
                }
                other => panic!("{where_}: unexpected kind {other:?}"),
            }
            kinds.push(kind);
        }
    }
    assert!(
        kinds.iter().any(|k| k == "EntraTenant"),
        "examples must include an EntraTenant"
    );
    assert!(
        kinds.iter().any(|k| k == "NocoBaseMailIntegration"),
        "examples must include a NocoBaseMailIntegration"
    );
}
