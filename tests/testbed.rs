//! Proves the test bed is a real control plane: a CRD generated from a Rust type is served, its CEL rule is enforced
//! by the apiserver, server-side apply records field managers, and watches deliver events.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A throwaway kind that exists only to exercise CRD generation and CEL on the real apiserver.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
#[kube(
    group = "testbed.entramail.io",
    version = "v1",
    kind = "Probe",
    namespaced
)]
#[kube(validation = Rule::new("self.spec.min <= self.spec.max").message("min must not exceed max"))]
pub struct ProbeSpec {
    min: i64,
    max: i64,
}

#[tokio::test]
async fn apiserver_enforces_cel_from_a_rust_generated_crd() {
    let client = support::client().await;
    support::apply_crd_objects(&client, &[Probe::crd()]).await;
    let ns = support::namespace(&client, "testbed-cel").await;
    let api: Api<Probe> = Api::namespaced(client, &ns);

    let ok = Probe::new("ok", ProbeSpec { min: 1, max: 2 });
    api.create(&PostParams::default(), &ok)
        .await
        .expect("valid object accepted");

    let bad = Probe::new("bad", ProbeSpec { min: 3, max: 2 });
    let err = api
        .create(&PostParams::default(), &bad)
        .await
        .expect_err("apiserver must reject min > max");
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(
                status.message.contains("min must not exceed max"),
                "message should carry the rule's text: {}",
                status.message
            );
        }
        other => panic!("expected an API rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn server_side_apply_and_watch_a_secret() {
    let client = support::client().await;
    let ns = support::namespace(&client, "testbed-ssa").await;
    let api: Api<Secret> = Api::namespaced(client, &ns);

    // Start watching before the write so the event cannot be missed.
    let mut events = watcher(api.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();

    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("probe".into()),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([("k".to_string(), "v".to_string())])),
        ..Default::default()
    };
    let applied = api
        .patch(
            "probe",
            &PatchParams::apply(support::TEST_MANAGER),
            &Patch::Apply(&secret),
        )
        .await
        .expect("server-side apply");
    let managers: Vec<_> = applied
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        managers.iter().any(|m| m == support::TEST_MANAGER),
        "{managers:?}"
    );
    // stringData is converted by the apiserver into base64 data: a real apiserver, not an echo.
    let data = applied.data.expect("data");
    assert_eq!(data.get("k").map(|b| b.0.as_slice()), Some(&b"v"[..]));

    let seen = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(s) = events.try_next().await.expect("watch stream") {
            if s.metadata.name.as_deref() == Some("probe") {
                return s;
            }
        }
        panic!("watch ended");
    })
    .await
    .expect("watch event within 20s");
    assert_eq!(seen.metadata.namespace.as_deref(), Some(ns.as_str()));
}
