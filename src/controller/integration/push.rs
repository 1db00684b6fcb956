//! NocoBase API delivery (placeholder until the delivery client lands).

use super::status::DeliveryFailure;
use crate::{
    api::{NocoBaseDelivery, NocoBaseMailIntegration},
    controller::Context,
    graph::SecretText,
};

pub struct Values<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a SecretText,
    pub tenant_id: &'a str,
}

pub struct Confirmed {
    pub variables: bool,
    pub record: bool,
}

impl Confirmed {
    pub fn describe(&self) -> String {
        match (self.variables, self.record) {
            (true, true) => "variables and record".into(),
            (true, false) => "variables".into(),
            (false, true) => "record".into(),
            (false, false) => "nothing".into(),
        }
    }
}

pub async fn deliver(
    _ctx: &Context,
    _cr: &NocoBaseMailIntegration,
    _nb: &NocoBaseDelivery,
    _values: &Values<'_>,
    _variables: bool,
    _record: bool,
) -> Result<Confirmed, DeliveryFailure> {
    Err(DeliveryFailure {
        reason: "NotImplemented",
        message: "not implemented".into(),
        permanent: true,
    })
}
