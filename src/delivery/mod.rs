//! Delivery of a new client secret into NocoBase over its HTTP API, confirmed by reading it back.
//!
//! Two targets: NocoBase variables ("Variables and secrets", [`NocoBaseClient::deliver_variables`]) and a record of
//! a collection such as the email manager's `mailSettings` ([`NocoBaseClient::deliver_record`]). Which URLs may be
//! called at all is [`AllowedDestinations`]' decision. The NocoBase contract relied on is in docs/nocobase.md.

mod destination;
mod error;
mod nocobase;

pub use destination::{
    AllowedDestinations, GuardedResolver, IN_CLUSTER_HOSTS, Lookup, RefusedResolution,
    is_link_local_or_metadata,
};
pub use error::DeliveryError;
pub use nocobase::{
    FieldMap, NocoBaseClient, REFRESH_TIMEOUT, REQUEST_TIMEOUT, RecordKey, Values, VariableInfo,
    VariableNames, VariableType,
};
