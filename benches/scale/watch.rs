//! Counting the operator's writes to the apiserver during the steady-state scenario, with a watch.

use std::{collections::BTreeMap, time::Duration};

use entramail_operator::api::NocoBaseMailIntegration;
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client, ResourceExt, runtime::watcher};
use serde_json::Value;

/// Counts changes the operator makes to the integrations and Secrets in `ns` until told to stop. Our own pokes
/// (annotations) are not changes: an integration counts as written when anything but its annotations changed.
pub async fn watch_writes(
    client: &Client,
    ns: &str,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<u64>,
) {
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let crs = watcher(
        Api::<NocoBaseMailIntegration>::namespaced(client.clone(), ns),
        watcher::Config::default(),
    )
    .map_ok(|e| keyed("cr", e));
    let secrets = watcher(
        Api::<Secret>::namespaced(client.clone(), ns),
        watcher::Config::default(),
    )
    .map_ok(|e| keyed("secret", e));
    let mut events = stream::select(crs.boxed(), secrets.boxed());
    let task = tokio::spawn(async move {
        let mut seen: BTreeMap<(&str, String), String> = BTreeMap::new();
        let mut synced = 0;
        let mut writes = 0;
        loop {
            tokio::select! {
                _ = &mut stop_rx => return writes,
                ev = events.next() => match ev {
                    None => return writes,
                    Some(Err(_)) => continue,
                    Some(Ok(watcher::Event::InitApply((kind, name, fp)))) => { seen.insert((kind, name), fp); }
                    Some(Ok(watcher::Event::InitDone)) => synced += 1,
                    Some(Ok(watcher::Event::Init)) => {}
                    Some(Ok(watcher::Event::Apply((kind, name, fp)))) => {
                        if synced >= 2 && seen.get(&(kind, name.clone())) != Some(&fp) {
                            writes += 1;
                        }
                        seen.insert((kind, name), fp);
                    }
                    Some(Ok(watcher::Event::Delete(_))) => writes += 1,
                }
            }
        }
    });
    // Let both initial lists complete before the first poke.
    tokio::time::sleep(Duration::from_secs(2)).await;
    (stop_tx, task)
}

/// (kind, name, fingerprint) of an object in a watch event.
type Keyed = (&'static str, String, String);

fn keyed<K: ResourceExt + serde::Serialize>(
    kind: &'static str,
    ev: watcher::Event<K>,
) -> watcher::Event<Keyed> {
    let f = |o: K| (kind, o.name_any(), fingerprint(&o));
    match ev {
        watcher::Event::Apply(o) => watcher::Event::Apply(f(o)),
        watcher::Event::Delete(o) => watcher::Event::Delete(f(o)),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitApply(o) => watcher::Event::InitApply(f(o)),
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

/// The object without the fields that change when nothing but our own annotations changed.
fn fingerprint(o: &impl serde::Serialize) -> String {
    let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in ["resourceVersion", "managedFields", "annotations"] {
            meta.remove(k);
        }
    }
    v.to_string()
}
