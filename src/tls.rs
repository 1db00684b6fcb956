//! Process-wide TLS setup.
//!
//! kube (ring) and reqwest/azure (aws-lc-rs) both enable a rustls crypto backend, so rustls cannot pick one by
//! itself and panics on first use unless the process installs a default. Every entry point (the operator, crdgen's
//! siblings, tests) calls this once before making a TLS connection.

/// Installs aws-lc-rs as the process-wide rustls provider; later calls (or one that lost a race) are no-ops.
pub fn install_crypto_provider() {
    // An Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
