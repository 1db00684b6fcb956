//! Typed NocoBaseMailIntegration specs for the tests: the operator's own API types behind a few chainable setters,
//! so a test names what it varies and a renamed or retyped field fails to compile instead of being pruned.
//! Invalid input the types cannot express stays `json!` (tests/admission.rs).

use entramail_operator::api::{
    Acknowledgement, ApplicationSpec, ConsumerKind, ConsumerRef, DeletionPolicy, DeliverySpec,
    GoDuration, NocoBaseDelivery, NocoBaseMailIntegrationSpec, RecordFields, RecordTarget,
    RotationSpec, SecretKeySelector, SecretSpec, SignInAudience, TenantRef, VariableNames,
};

/// Origin the tests register NocoBase's OAuth callback for (nothing listens there).
pub const NOCOBASE_ORIGIN: &str = "https://nocobase.example.com";

/// A spec without its tenantRef: [`super::integration`] (and so `Fx::create`) fills in the tenant.
#[derive(Clone, Debug)]
pub struct Spec(NocoBaseMailIntegrationSpec);

impl Spec {
    /// Only application.nocobaseOrigin set; everything else the API's defaults.
    pub fn new(origin: &str) -> Self {
        Self(NocoBaseMailIntegrationSpec {
            tenant_ref: TenantRef {
                name: String::new(),
            },
            application: ApplicationSpec {
                nocobase_origin: Some(origin.to_owned()),
                ..ApplicationSpec::default()
            },
            secret: SecretSpec::default(),
            rotation: RotationSpec::default(),
            delivery: DeliverySpec::default(),
            deletion_policy: None,
        })
    }

    /// An integration whose previous secret only the overlap holds (no delivery to confirm): the rotation
    /// mechanics without NocoBase. Lifetime 24h, acknowledgement NotRequired.
    pub fn basic() -> Self {
        Self::new(NOCOBASE_ORIGIN)
            .lifetime("24h")
            .acknowledgement(Acknowledgement::NotRequired)
    }

    /// The spec for `tenant` (the EntraTenant's name).
    pub fn for_tenant(mut self, tenant: &str) -> NocoBaseMailIntegrationSpec {
        self.0.tenant_ref = TenantRef {
            name: tenant.to_owned(),
        };
        self.0
    }

    /// spec.secret.lifetime (a Go duration).
    pub fn lifetime(mut self, d: &str) -> Self {
        self.0.secret.lifetime = duration(d);
        self
    }

    /// spec.secret.renewBefore (a Go duration).
    pub fn renew_before(mut self, d: &str) -> Self {
        self.0.secret.renew_before = Some(duration(d));
        self
    }

    /// spec.secret.name.
    pub fn secret_name(mut self, name: &str) -> Self {
        self.0.secret.name = Some(name.to_owned());
        self
    }

    /// spec.rotation.overlap (a Go duration).
    pub fn overlap(mut self, d: &str) -> Self {
        self.0.rotation.overlap = duration(d);
        self
    }

    /// Adds a Deployment to spec.rotation.consumers.
    pub fn consumer(mut self, deployment: &str) -> Self {
        self.0.rotation.consumers.push(ConsumerRef {
            kind: ConsumerKind::Deployment,
            name: deployment.to_owned(),
        });
        self
    }

    /// spec.delivery.acknowledgement.
    pub fn acknowledgement(mut self, a: Acknowledgement) -> Self {
        self.0.delivery.acknowledgement = a;
        self
    }

    /// spec.delivery.nocobase.
    pub fn nocobase(mut self, n: NocoBaseTarget) -> Self {
        self.0.delivery.nocobase = Some(n.0);
        self
    }

    /// spec.deletionPolicy.
    pub fn deletion_policy(mut self, p: DeletionPolicy) -> Self {
        self.0.deletion_policy = Some(p);
        self
    }

    /// spec.application.signInAudience.
    pub fn audience(mut self, a: SignInAudience) -> Self {
        self.0.application.sign_in_audience = Some(a);
        self
    }

    /// spec.application.adminConsent = true.
    pub fn admin_consent(mut self) -> Self {
        self.0.application.admin_consent = true;
        self
    }

    /// spec.application.existingAppId: adopt this app registration.
    pub fn existing_app(mut self, app_id: &str) -> Self {
        self.0.application.existing_app_id = Some(app_id.to_owned());
        self
    }
}

/// spec.delivery.nocobase: NocoBase at `url`, its API key in key "key" of the Secret `api_key_secret`; the target
/// (record and/or variables) set by the methods.
#[derive(Clone, Debug)]
pub struct NocoBaseTarget(NocoBaseDelivery);

impl NocoBaseTarget {
    pub fn new(url: &str, api_key_secret: &str) -> Self {
        Self(NocoBaseDelivery {
            url: url.to_owned(),
            api_key_secret_ref: SecretKeySelector {
                name: api_key_secret.to_owned(),
                key: "key".to_owned(),
            },
            variables: None,
            record: None,
        })
    }

    /// Writes into the record `filter_by_tk` of `collection`, the client secret into field `client_secret`.
    pub fn record(mut self, collection: &str, filter_by_tk: &str, client_secret: &str) -> Self {
        self.0.record = Some(RecordTarget {
            collection: collection.to_owned(),
            filter_by_tk: Some(filter_by_tk.to_owned()),
            filter: None,
            fields: RecordFields {
                client_id: None,
                client_secret: client_secret.to_owned(),
                tenant_id: None,
            },
        });
        self
    }

    /// The record's field for the client ID (after [`Self::record`]).
    pub fn client_id_field(mut self, field: &str) -> Self {
        if let Some(r) = &mut self.0.record {
            r.fields.client_id = Some(field.to_owned());
        }
        self
    }

    /// The record's field for the tenant ID (after [`Self::record`]).
    pub fn tenant_id_field(mut self, field: &str) -> Self {
        if let Some(r) = &mut self.0.record {
            r.fields.tenant_id = Some(field.to_owned());
        }
        self
    }

    /// Sets NocoBase variables of these names.
    pub fn variables(mut self, client_id: &str, client_secret: &str, tenant_id: &str) -> Self {
        self.0.variables = Some(VariableNames {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            tenant_id: tenant_id.to_owned(),
        });
        self
    }
}

/// A Go duration the test writes literally; a typo is the test's bug.
fn duration(d: &str) -> GoDuration {
    d.parse()
        .unwrap_or_else(|e| panic!("bad duration {d:?}: {e}"))
}
