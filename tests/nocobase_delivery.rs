//! The NocoBase delivery client against a REAL NocoBase (tests/nocobase/with-nocobase.sh; no Kubernetes needed):
//! variables and record deliveries read back independently (raw API reads with the root key, secret variables
//! decrypted with the instance's own key), and every failure a person must act on: 401, 403, 404, missing record,
//! missing field, refused destination, NocoBase down and back.

mod support;

use entramail_operator::auth::SecretText;
use entramail_operator::delivery::{
    AllowedDestinations, DeliveryError, FieldMap, NocoBaseClient, RecordKey, Values, VariableNames,
    VariableType,
};
use serde_json::json;
use support::nocobase::NocoBase;
use url::Url;

/// Tests on the shared instance take turns: `app:refresh` (part of a variables delivery that updates) restarts
/// NocoBase in-process for a second or two, and the record tests share the provisioned mailSettings record.
static SHARED: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        uuid::Uuid::new_v4().simple().to_string()[..12].to_uppercase()
    )
}

fn values() -> Values {
    Values {
        client_id: uuid::Uuid::new_v4().to_string(),
        client_secret: SecretText::new(format!("s3cr3t~{}", uuid::Uuid::new_v4().simple())),
        tenant_id: uuid::Uuid::new_v4().to_string(),
    }
}

fn client(nb: &NocoBase, key: SecretText) -> NocoBaseClient {
    let allowed = AllowedDestinations::only(["127.0.0.1"]);
    NocoBaseClient::for_destination(nb.url(), key, &allowed, None)
        .expect("client for the test NocoBase")
}

fn var_names() -> VariableNames {
    VariableNames {
        client_id: unique("ENTRAMAIL_CLIENT_ID"),
        client_secret: unique("ENTRAMAIL_CLIENT_SECRET"),
        tenant_id: Some(unique("ENTRAMAIL_TENANT_ID")),
    }
}

fn mail_fields() -> FieldMap {
    FieldMap {
        client_id: Some("clientId".into()),
        client_secret: "clientSecret".into(),
        tenant_id: Some("tenantId".into()),
    }
}

/// Delivers `v` into the mailSettings record with primary key `id`, mapped by `fields`.
async fn deliver_to(
    c: &NocoBaseClient,
    id: &str,
    fields: &FieldMap,
    v: &Values,
) -> Result<(), DeliveryError> {
    c.deliver_record(
        "mailSettings",
        &RecordKey::FilterByTk(id.to_string()),
        fields,
        v,
    )
    .await
}

/// The mailSettings record with primary key `id`, as NocoBase stores it.
async fn mail_settings(nb: &NocoBase, id: &str) -> serde_json::Map<String, serde_json::Value> {
    nb.record("mailSettings", id)
        .await
        .expect("mailSettings record")
}

/// Neither the error's message nor its Debug form nor its fix carry the secret or the API key.
fn assert_clean(err: &DeliveryError, secrets: &[&str]) {
    let shown = format!("{err} | {err:?} | {}", err.fix());
    for s in secrets {
        assert!(
            !s.is_empty() && !shown.contains(s),
            "error text leaks a secret: {shown}"
        );
    }
}

async fn assert_variables_delivered(nb: &NocoBase, names: &VariableNames, v: &Values) {
    let id = nb
        .variable(&names.client_id)
        .await
        .expect("client id variable");
    assert_eq!(
        (id.type_.as_str(), id.value.as_str()),
        ("default", v.client_id.as_str())
    );
    let tenant = nb
        .variable(names.tenant_id.as_ref().unwrap())
        .await
        .expect("tenant variable");
    assert_eq!(
        (tenant.type_.as_str(), tenant.value.as_str()),
        ("default", v.tenant_id.as_str())
    );
    let stored = nb
        .variable(&names.client_secret)
        .await
        .expect("secret variable");
    assert_eq!(stored.type_, "secret");
    assert!(
        !stored.value.contains(v.client_secret.expose()),
        "secret stored in clear"
    );
    assert_eq!(
        nb.secret_plaintext(&names.client_secret).await.as_deref(),
        Some(v.client_secret.expose()),
        "the secret NocoBase stores decrypts to the delivered one"
    );
}

#[tokio::test]
async fn variables_delivered_with_the_root_key_and_read_back() {
    let _turn = SHARED.lock().await;
    let nb = NocoBase::shared();
    let c = client(&nb, nb.root_key());
    let names = var_names();

    let first = values();
    c.deliver_variables(&names, &first)
        .await
        .expect("first delivery");
    assert_variables_delivered(&nb, &names, &first).await;

    // A rotation updates existing variables: NocoBase flags a restart, the delivery refreshes the app and confirms.
    let second = values();
    c.deliver_variables(&names, &second)
        .await
        .expect("second delivery");
    assert_variables_delivered(&nb, &names, &second).await;
    assert!(
        !nb.variables_restart_needed().await,
        "the delivery refreshed NocoBase"
    );

    let info = c
        .variable(&names.client_secret)
        .await
        .unwrap()
        .expect("listed");
    assert_eq!(info.type_, VariableType::Secret);
    assert_eq!(info.value, None, "NocoBase never lists a secret's value");
    assert_eq!(c.variable(&unique("ENTRAMAIL_ABSENT")).await.unwrap(), None);
}

#[tokio::test]
async fn variables_delivered_with_the_least_privilege_key() {
    let _turn = SHARED.lock().await;
    let nb = NocoBase::shared();
    let c = client(&nb, nb.variables_key());
    let names = var_names();
    for _ in 0..2 {
        let v = values();
        c.deliver_variables(&names, &v)
            .await
            .expect("delivery with pm.environment-variables only");
        assert_variables_delivered(&nb, &names, &v).await;
    }
    // ... and that key can do nothing else.
    let err = deliver_to(&c, &nb.record_id(), &mail_fields(), &values())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Forbidden { resource, .. } if resource == "mailSettings"),
        "{err:?}"
    );
    assert!(err.fix().contains("mailSettings"), "{}", err.fix());
}

#[tokio::test]
async fn upsert_reports_restart_needed_and_refresh_clears_it() {
    let _turn = SHARED.lock().await;
    let nb = NocoBase::shared();
    let c = client(&nb, nb.variables_key());
    let name = unique("ENTRAMAIL_UPSERT");
    let before = nb.variables_restart_needed().await;
    assert_eq!(
        c.upsert_secret_variable(&name, &SecretText::new("one"))
            .await
            .unwrap(),
        before,
        "creating a variable flags no restart"
    );
    assert!(
        c.upsert_secret_variable(&name, &SecretText::new("two"))
            .await
            .unwrap(),
        "an updated variable"
    );
    assert_eq!(nb.secret_plaintext(&name).await.as_deref(), Some("two"));
    assert!(nb.variables_restart_needed().await);

    c.refresh_app().await.expect("app:refresh");
    // Give the restart a moment to begin, so the first look does not see the app before it went down.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let back = async || {
        matches!(c.variable(&name).await, Ok(Some(_))) && !nb.variables_restart_needed().await
    };
    support::eventually_async(
        "NocoBase back after app:refresh",
        std::time::Duration::from_secs(60),
        back,
    )
    .await;
    nb.delete_variable(&name).await;
}

#[tokio::test]
async fn record_delivered_and_read_back() {
    let _turn = SHARED.lock().await;
    let nb = NocoBase::shared();
    let c = client(&nb, nb.root_key());
    let id = nb.record_id();

    let v = values();
    deliver_to(&c, &id, &mail_fields(), &v)
        .await
        .expect("record delivery by filterByTk");
    let rec = mail_settings(&nb, &id).await;
    assert_eq!(rec["clientId"], json!(v.client_id));
    assert_eq!(rec["clientSecret"], json!(v.client_secret.expose()));
    assert_eq!(rec["tenantId"], json!(v.tenant_id));
    assert_eq!(rec["provider"], json!("outlook"), "other fields untouched");

    // By filter, and only the secret mapped: the other fields keep their values.
    let v2 = values();
    let only_secret = FieldMap {
        client_id: None,
        client_secret: "clientSecret".into(),
        tenant_id: None,
    };
    c.deliver_record(
        "mailSettings",
        &RecordKey::Filter(json!({"provider": "outlook"})),
        &only_secret,
        &v2,
    )
    .await
    .expect("record delivery by filter");
    let rec = mail_settings(&nb, &id).await;
    assert_eq!(rec["clientSecret"], json!(v2.client_secret.expose()));
    assert_eq!(rec["clientId"], json!(v.client_id));
}

#[tokio::test]
async fn record_delivered_with_the_least_privilege_key() {
    let _turn = SHARED.lock().await;
    let nb = NocoBase::shared();
    let c = client(&nb, nb.mailsettings_key());
    let id = nb.record_id();
    let v = values();
    deliver_to(&c, &id, &mail_fields(), &v)
        .await
        .expect("delivery with view + update on mailSettings (mapped fields) only");
    let rec = mail_settings(&nb, &id).await;
    assert_eq!(rec["clientSecret"], json!(v.client_secret.expose()));
    assert_eq!(rec["tenantId"], json!(v.tenant_id));

    // A field the role may not view is left out of what NocoBase returns: FieldMissing, nothing written.
    let not_viewable = FieldMap {
        client_id: Some("provider".into()),
        ..mail_fields()
    };
    let err = deliver_to(&c, &id, &not_viewable, &values())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeliveryError::FieldMissing { field, .. } if field == "provider"),
        "{err:?}"
    );
    assert!(err.fix().contains("view"), "{}", err.fix());
    assert_eq!(
        mail_settings(&nb, &id).await["clientSecret"],
        json!(v.client_secret.expose())
    );

    // ... and that key can do nothing else.
    let err = c
        .deliver_variables(&var_names(), &values())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Forbidden { resource, .. } if resource == "environmentVariables"),
        "{err:?}"
    );
}

#[tokio::test]
async fn wrong_api_keys_are_unauthorized() {
    let _turn = SHARED.lock().await;
    let nb = NocoBase::shared();
    let v = values();
    let bad = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VySWQiOjF9.not-a-signature";
    let err = client(&nb, SecretText::new(bad))
        .deliver_variables(&var_names(), &v)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Unauthorized { code, .. } if code == "INVALID_TOKEN"),
        "{err:?}"
    );
    assert_eq!(err.reason(), "NocoBaseUnauthorized");
    assert!(err.fix().contains("APP_KEY"));
    assert_clean(&err, &[bad, v.client_secret.expose()]);

    let err = deliver_to(
        &client(&nb, SecretText::new("")),
        &nb.record_id(),
        &mail_fields(),
        &v,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Unauthorized { code, .. } if code == "EMPTY_TOKEN"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_key_without_permissions_is_forbidden() {
    let _turn = SHARED.lock().await;
    let nb = NocoBase::shared();
    let key = nb.no_permission_key();
    let c = client(&nb, key.clone());
    let v = values();
    let names = var_names();
    let err = c.deliver_variables(&names, &v).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Forbidden { resource, action } if resource == "environmentVariables" && action == "updateOrCreate"),
        "{err:?}"
    );
    assert_eq!(err.reason(), "NocoBaseForbidden");
    assert!(
        err.fix().contains("pm.environment-variables"),
        "{}",
        err.fix()
    );
    assert_clean(&err, &[key.expose(), v.client_secret.expose()]);
    assert!(
        nb.variable(&names.client_id).await.is_none(),
        "nothing written"
    );

    let err = c.refresh_app().await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Forbidden { resource, .. } if resource == "app"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_missing_collection_is_not_found() {
    let _turn = SHARED.lock().await;
    let nb = NocoBase::shared();
    let err = client(&nb, nb.root_key())
        .deliver_record(
            "noSuchMailSettings",
            &RecordKey::FilterByTk("1".into()),
            &mail_fields(),
            &values(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeliveryError::NotFound { resource, .. } if resource == "noSuchMailSettings"),
        "{err:?}"
    );
    assert_eq!(err.reason(), "NocoBaseNotFound");
}

#[tokio::test]
async fn a_missing_or_ambiguous_record_is_reported() {
    let _turn = SHARED.lock().await;
    let nb = NocoBase::shared();
    let c = client(&nb, nb.root_key());
    let v = values();

    let err = deliver_to(&c, "987654", &mail_fields(), &v)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeliveryError::RecordNotFound { collection } if collection == "mailSettings"),
        "{err:?}"
    );
    let err = c
        .deliver_record(
            "mailSettings",
            &RecordKey::Filter(json!({"provider": "gmail"})),
            &mail_fields(),
            &v,
        )
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "RecordNotFound", "{err:?}");
    // The update action itself answers an empty list for a missing id.
    let err = c
        .update_record(
            "mailSettings",
            &RecordKey::FilterByTk("987654".into()),
            &[("clientSecret", "x")],
        )
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "RecordNotFound", "{err:?}");

    // Two records match the filter: nothing is written.
    let collection = format!(
        "mailProbe{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    nb.create_collection(
        &collection,
        &["clientId", "clientSecret", "tenantId", "provider"],
    )
    .await;
    let a = nb
        .create_record(
            &collection,
            json!({"provider": "outlook", "clientSecret": "old"}),
        )
        .await;
    nb.create_record(
        &collection,
        json!({"provider": "outlook", "clientSecret": "old"}),
    )
    .await;
    let err = c
        .deliver_record(
            &collection,
            &RecordKey::Filter(json!({"provider": "outlook"})),
            &mail_fields(),
            &v,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, DeliveryError::AmbiguousRecord { matches: 2, .. }),
        "{err:?}"
    );
    assert_eq!(
        nb.record(&collection, &a).await.unwrap()["clientSecret"],
        json!("old")
    );
}

#[tokio::test]
async fn a_mapping_naming_a_missing_field_is_field_missing_and_writes_nothing() {
    let _turn = SHARED.lock().await;
    let nb = NocoBase::shared();
    let c = client(&nb, nb.root_key());
    let id = nb.record_id();
    let before = mail_settings(&nb, &id).await;

    // NocoBase itself ignores unknown fields on update (answers 200): that is why the delivery checks first.
    c.update_record(
        "mailSettings",
        &RecordKey::FilterByTk(id.clone()),
        &[("clientSecretTypo", "x")],
    )
    .await
    .expect("NocoBase accepts an unknown field silently");
    assert!(
        !mail_settings(&nb, &id)
            .await
            .contains_key("clientSecretTypo")
    );

    let v = values();
    let typo = FieldMap {
        client_id: Some("clientId".into()),
        client_secret: "client_secret".into(),
        tenant_id: Some("tenantId".into()),
    };
    let err = deliver_to(&c, &id, &typo, &v).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::FieldMissing { field, .. } if field == "client_secret"),
        "{err:?}"
    );
    assert!(err.fix().contains("client_secret"));
    assert_clean(&err, &[v.client_secret.expose()]);
    assert_eq!(mail_settings(&nb, &id).await, before, "no partial write");
}

#[tokio::test]
async fn destinations_outside_the_allow_list_are_refused() {
    let _turn = SHARED.lock().await;
    let nb = NocoBase::shared();
    let key = nb.root_key();
    let metadata = Url::parse("http://169.254.169.254/").unwrap();
    for allowed in [
        AllowedDestinations::only(["*"]),
        AllowedDestinations::only(["169.254.169.254"]),
    ] {
        let err = NocoBaseClient::for_destination(metadata.clone(), key.clone(), &allowed, None)
            .unwrap_err();
        assert_eq!(err.reason(), "DestinationNotAllowed", "{err:?}");
        assert_clean(&err, &[key.expose()]);
    }
    // The real NocoBase's own URL, with the operator's default (Service names only).
    let err = NocoBaseClient::for_destination(
        nb.url(),
        key.clone(),
        &AllowedDestinations::in_cluster(),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(&err, DeliveryError::DestinationNotAllowed { host, .. } if host == "127.0.0.1"),
        "{err:?}"
    );
    // A host name is matched by name: localhost is not 127.0.0.1.
    let mut by_name = nb.url();
    by_name.set_host(Some("localhost")).unwrap();
    let err = NocoBaseClient::for_destination(
        by_name.clone(),
        key.clone(),
        &AllowedDestinations::only(["127.0.0.1"]),
        None,
    )
    .unwrap_err();
    assert_eq!(err.reason(), "DestinationNotAllowed");
    // Allowed by name, it reaches the real NocoBase through the guarded resolver.
    let c = NocoBaseClient::for_destination(
        by_name,
        key,
        &AllowedDestinations::only(["localhost"]),
        None,
    )
    .unwrap();
    c.variable("ENTRAMAIL_ANY")
        .await
        .expect("localhost allowed by name");
}

#[tokio::test]
async fn nocobase_down_is_unreachable_and_delivery_succeeds_once_it_is_back() {
    let nb = NocoBase::start_private();
    let key = nb.root_key();
    let c = client(&nb, key.clone());
    let names = var_names();
    let id = nb.record_id();

    let v = values();
    c.deliver_variables(&names, &v)
        .await
        .expect("delivery while up");

    nb.stop();
    let v2 = values();
    let err = c.deliver_variables(&names, &v2).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Unreachable { .. }), "{err:?}");
    assert_eq!(err.reason(), "NocoBaseUnreachable");
    assert!(err.is_transient());
    assert_clean(&err, &[key.expose(), v2.client_secret.expose()]);
    let err = deliver_to(&c, &id, &mail_fields(), &v2).await.unwrap_err();
    assert_eq!(err.reason(), "NocoBaseUnreachable", "{err:?}");

    nb.start();
    c.deliver_variables(&names, &v2)
        .await
        .expect("delivery once NocoBase is back");
    assert_variables_delivered(&nb, &names, &v2).await;
    deliver_to(&c, &id, &mail_fields(), &v2)
        .await
        .expect("record delivery once NocoBase is back");
    assert_eq!(
        mail_settings(&nb, &id).await["clientSecret"],
        json!(v2.client_secret.expose())
    );
}

/// docs/nocobase.md's caveat, pinned: NocoBase's request logger (default level) writes the values of a record
/// update, pushed secret included, in plain text to storage/logs/main/request_*.log. If this starts failing,
/// NocoBase changed that and the docs should say so.
#[tokio::test]
async fn nocobase_request_log_holds_pushed_record_values_in_plain_text() {
    let _turn = SHARED.lock().await;
    let nb = NocoBase::shared();
    let v = values();
    deliver_to(
        &client(&nb, nb.root_key()),
        &nb.record_id(),
        &mail_fields(),
        &v,
    )
    .await
    .unwrap();
    let logs = nb.dir().join("storage/logs/main");
    support::eventually(
        "the pushed secret in NocoBase's request log",
        std::time::Duration::from_secs(10),
        || {
            std::fs::read_dir(&logs)
                .unwrap()
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("request_"))
                .any(|e| {
                    std::fs::read_to_string(e.path())
                        .unwrap_or_default()
                        .contains(v.client_secret.expose())
                })
        },
    )
    .await;
}
