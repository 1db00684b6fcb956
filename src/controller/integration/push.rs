//! The IO of NocoBase delivery: the API key from its Secret, the allowed destination, then the delivery client's
//! write + read-back for each target. Failures become a [`DeliveryFailure`] whose message holds the cause and the
//! fix, never the secret, the API key or a response body.

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};
use url::Url;

use super::status::DeliveryFailure;
use crate::{
    api::{NocoBaseDelivery, NocoBaseMailIntegration},
    controller::{Context, secret},
    delivery::{DeliveryError, FieldMap, NocoBaseClient, RecordKey, Values, VariableNames},
};

/// Which targets confirmed.
pub struct Confirmed {
    pub variables: bool,
    pub record: bool,
}

impl Confirmed {
    pub fn describe(&self) -> &'static str {
        match (self.variables, self.record) {
            (true, true) => "variables and record",
            (true, false) => "variables",
            (false, true) => "record",
            (false, false) => "nothing",
        }
    }
}

fn failure(e: &DeliveryError) -> DeliveryFailure {
    DeliveryFailure {
        reason: e.reason(),
        message: format!("{e}; {}", e.fix()),
        permanent: !e.is_transient(),
    }
}

pub async fn deliver(
    ctx: &Context,
    cr: &NocoBaseMailIntegration,
    nb: &NocoBaseDelivery,
    values: &Values,
    variables: bool,
    record: bool,
) -> Result<Confirmed, DeliveryFailure> {
    let client = client(ctx, cr, nb).await?;
    let mut done = Confirmed {
        variables: false,
        record: false,
    };
    if variables && let Some(v) = &nb.variables {
        let names = VariableNames {
            client_id: v.client_id.clone(),
            client_secret: v.client_secret.clone(),
            tenant_id: Some(v.tenant_id.clone()),
        };
        client
            .deliver_variables(&names, values)
            .await
            .map_err(|e| failure(&e))?;
        done.variables = true;
    }
    if record && let Some(r) = &nb.record {
        let key = match (&r.filter_by_tk, &r.filter) {
            (Some(k), _) => RecordKey::FilterByTk(k.clone()),
            (None, Some(f)) => RecordKey::Filter(serde_json::json!(f)),
            // Admission requires one of them; an object written around it still gets a readable condition.
            (None, None) => {
                return Err(DeliveryFailure {
                    reason: "InvalidSpec",
                    message: "spec.delivery.nocobase.record needs filterByTk or filter".into(),
                    permanent: true,
                });
            }
        };
        let fields = FieldMap {
            client_id: r.fields.client_id.clone(),
            client_secret: r.fields.client_secret.clone(),
            tenant_id: r.fields.tenant_id.clone(),
        };
        client
            .deliver_record(&r.collection, &key, &fields, values)
            .await
            .map_err(|e| failure(&e))?;
        done.record = true;
    }
    Ok(done)
}

/// A client for the integration's NocoBase, if the destination is allowed and the API key readable.
async fn client(
    ctx: &Context,
    cr: &NocoBaseMailIntegration,
    nb: &NocoBaseDelivery,
) -> Result<NocoBaseClient, DeliveryFailure> {
    let ns = cr.namespace().unwrap_or_default();
    let r = &nb.api_key_secret_ref;
    let missing = |why: String| DeliveryFailure {
        reason: "ApiKeyMissing",
        message: format!(
            "{why}; create it with a NocoBase API key (Settings → API keys): kubectl create secret generic {} -n {ns} --from-literal={}=<API key>",
            r.name, r.key
        ),
        permanent: true,
    };
    let s = Api::<Secret>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&r.name)
        .await
        .map_err(|e| DeliveryFailure {
            reason: "KubernetesApiError",
            message: format!("cannot read Secret {ns}/{}: {e}", r.name),
            permanent: false,
        })?
        .ok_or_else(|| missing(format!("Secret {ns}/{} not found", r.name)))?;
    let key = secret::text(&s, &r.key).ok_or_else(|| {
        missing(format!(
            "Secret {ns}/{} has no (non-empty) key {:?}",
            r.name, r.key
        ))
    })?;
    let url = Url::parse(&nb.url).map_err(|e| DeliveryFailure {
        reason: "InvalidSpec",
        message: format!("spec.delivery.nocobase.url is not a URL: {e}"),
        permanent: true,
    })?;
    NocoBaseClient::for_destination(
        url,
        key,
        &ctx.config.destinations,
        ctx.config.extra_ca_pem.as_deref(),
    )
    .map_err(|e| failure(&e))
}
