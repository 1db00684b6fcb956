//! entramail-operator: provisions Microsoft Entra app registrations for NocoBase mail and rotates their secrets.
//!
//! Layout: `api` (CRD types), `graph` (the one Microsoft Graph client), `auth` (tokens for Graph),
//! `planner` (pure decisions, no IO), `controller` (IO: reconcile loops wiring the rest together),
//! `delivery` (the NocoBase API client that delivers a new secret and reads it back).

pub mod api;
pub mod auth;
pub mod controller;
pub mod delivery;
pub mod graph;
pub mod planner;
pub mod shutdown;
pub mod tls;
