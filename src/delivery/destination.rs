//! Which NocoBase URLs the operator may call.
//!
//! A NocoBase URL comes from a custom resource, so whoever may write one could otherwise point the operator (and the
//! API key and client secret it sends) anywhere its pod reaches, cloud metadata services included. The operator calls
//! only hosts on an allow-list, and never link-local or cloud metadata addresses unless explicitly allowed, checked
//! twice: on the URL ([`AllowedDestinations::check`]) and on every address a host name resolves to
//! ([`GuardedResolver`], installed by [`AllowedDestinations::http_client`]), so a name that resolves to
//! 169.254.169.254 is refused as well.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use url::{Host, Url};

use super::error::DeliveryError;
use super::nocobase::REQUEST_TIMEOUT;

/// The operator's default: Kubernetes Service names only.
pub const IN_CLUSTER_HOSTS: [&str; 2] = ["*.svc", "*.svc.cluster.local"];

/// Host names of cloud metadata services (refused unless link-local is allowed).
const METADATA_NAMES: [&str; 2] = ["metadata.google.internal", "metadata.goog"];

/// Hosts the operator may send deliveries to.
///
/// Entries of `hosts`:
/// - `nocobase.example.com`: exactly that host name (case-insensitive, a trailing dot ignored);
/// - `*.svc`: any host name ending in `.svc` (not `svc` itself);
/// - `10.0.0.7`, `fd00::7`: exactly that IP address in the URL;
/// - `10.0.0.0/8`, `fd00::/8`: any IP address in that range in the URL;
/// - `*`: any host.
///
/// Name entries match host names and IP entries match IP addresses written in the URL; a host name is not matched
/// against IP entries through its DNS answer. Whatever the list says, link-local addresses (169.254.0.0/16,
/// fe80::/10) and cloud metadata endpoints (169.254.169.254, fd00:ec2::254, 100.100.100.200, 168.63.129.16,
/// metadata.google.internal) are refused, in the URL and in DNS answers, unless `allow_link_local`.
/// An empty list allows nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedDestinations {
    pub hosts: Vec<String>,
    pub allow_link_local: bool,
}

impl Default for AllowedDestinations {
    fn default() -> Self {
        Self::in_cluster()
    }
}

impl AllowedDestinations {
    /// Kubernetes Service names only (`*.svc`, `*.svc.cluster.local`): the operator flag's default.
    pub fn in_cluster() -> Self {
        Self {
            hosts: IN_CLUSTER_HOSTS.iter().map(|h| h.to_string()).collect(),
            allow_link_local: false,
        }
    }

    /// Exactly these entries, link-local refused.
    pub fn only<I: IntoIterator<Item = S>, S: Into<String>>(hosts: I) -> Self {
        Self {
            hosts: hosts.into_iter().map(Into::into).collect(),
            allow_link_local: false,
        }
    }

    /// The first entry that is not of a supported form (for validating the operator's flag).
    pub fn validate(&self) -> Result<(), String> {
        match self.hosts.iter().find(|h| Entry::parse(h).is_none()) {
            Some(bad) => Err(format!(
                "invalid NocoBase destination {bad:?}: expected a host name, *.suffix, *, an IP address or a CIDR"
            )),
            None => Ok(()),
        }
    }

    /// Whether the operator may call `url`.
    pub fn check(&self, url: &Url) -> Result<(), DeliveryError> {
        let shown = url.host_str().unwrap_or("").to_owned();
        let refuse = |why: &str| {
            Err(DeliveryError::DestinationNotAllowed {
                host: shown.clone(),
                why: why.to_owned(),
            })
        };
        if url.scheme() != "http" && url.scheme() != "https" {
            return refuse("only http and https URLs are allowed");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return refuse("the URL must not carry credentials");
        }
        let entries: Vec<Entry> = self.hosts.iter().filter_map(|h| Entry::parse(h)).collect();
        match url.host() {
            None => refuse("the URL has no host"),
            Some(Host::Domain(name)) => {
                let name = normalize_name(name);
                if !self.allow_link_local && METADATA_NAMES.contains(&name.as_str()) {
                    return refuse("cloud metadata endpoints are not allowed");
                }
                if entries.iter().any(|e| e.matches_name(&name)) {
                    Ok(())
                } else {
                    refuse("host is not in the allowed NocoBase destinations")
                }
            }
            Some(Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip), &entries, refuse),
            Some(Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip), &entries, refuse),
        }
    }

    fn check_ip(
        &self,
        ip: IpAddr,
        entries: &[Entry],
        refuse: impl Fn(&str) -> Result<(), DeliveryError>,
    ) -> Result<(), DeliveryError> {
        if !self.allow_link_local && is_link_local_or_metadata(ip) {
            return refuse("link-local and cloud metadata addresses are not allowed");
        }
        if entries.iter().any(|e| e.matches_ip(ip)) {
            Ok(())
        } else {
            refuse("address is not in the allowed NocoBase destinations")
        }
    }

    /// The DNS resolver that drops link-local and metadata addresses from every answer (unless allowed).
    pub fn resolver(&self) -> GuardedResolver {
        GuardedResolver::system(self.allow_link_local)
    }

    /// An HTTP client for NocoBase: the guarded resolver, no redirects (they would carry the API key and the secret
    /// elsewhere), bounded connect and request times, `extra_ca_pem` trusted besides the system roots.
    pub fn http_client(
        &self,
        extra_ca_pem: Option<&str>,
    ) -> Result<reqwest::Client, DeliveryError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("entramail-operator/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(self.resolver());
        if let Some(pem) = extra_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|_| DeliveryError::Client("invalid PEM CA bundle".into()))?;
            builder = builder.tls_certs_merge(certs);
        }
        builder
            .build()
            .map_err(|e| DeliveryError::Client(e.to_string()))
    }
}

fn normalize_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// One parsed allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Any,
    Name(String),
    Suffix(String), // ".svc" for "*.svc"
    Net(IpAddr, u8),
}

impl Entry {
    fn parse(raw: &str) -> Option<Self> {
        let s = raw.trim();
        if s == "*" {
            return Some(Self::Any);
        }
        if let Some(suffix) = s.strip_prefix("*.") {
            let suffix = normalize_name(suffix);
            return valid_name(&suffix).then(|| Self::Suffix(format!(".{suffix}")));
        }
        let unbracketed = s
            .strip_prefix('[')
            .and_then(|x| x.strip_suffix(']'))
            .unwrap_or(s);
        if let Some((addr, len)) = unbracketed.split_once('/') {
            let ip: IpAddr = addr.parse().ok()?;
            let len: u8 = len.parse().ok()?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            return (len <= max).then_some(Self::Net(canonical(ip), len));
        }
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            let ip = canonical(ip);
            return Some(Self::Net(ip, if ip.is_ipv4() { 32 } else { 128 }));
        }
        let name = normalize_name(s);
        valid_name(&name).then_some(Self::Name(name))
    }

    fn matches_name(&self, name: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Name(n) => n == name,
            Self::Suffix(suffix) => name.len() > suffix.len() && name.ends_with(suffix.as_str()),
            Self::Net(..) => false,
        }
    }

    fn matches_ip(&self, ip: IpAddr) -> bool {
        match (self, canonical(ip)) {
            (Self::Any, _) => true,
            (Self::Net(IpAddr::V4(net), len), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), *len)
            }
            (Self::Net(IpAddr::V6(net), len), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), *len)
            }
            _ => false,
        }
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) as IPv4, so they cannot slip past IPv4 rules.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether the first `len` bits of `a` and `b` are equal.
fn prefix_eq(a: &[u8], b: &[u8], len: u8) -> bool {
    let (full, rest) = ((len / 8) as usize, len % 8);
    if a[..full] != b[..full] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[full] & mask == b[full] & mask
    }
}

/// Link-local (169.254.0.0/16, fe80::/10) or a cloud metadata / host platform address.
pub fn is_link_local_or_metadata(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            v4.is_link_local() // 169.254.0.0/16, AWS/Azure/GCP/OpenStack metadata 169.254.169.254 included
                || v4 == Ipv4Addr::new(100, 100, 100, 200) // Alibaba Cloud metadata
                || v4 == Ipv4Addr::new(168, 63, 129, 16) // Azure host platform (WireServer)
        }
        IpAddr::V6(v6) => {
            (v6.segments()[0] & 0xffc0) == 0xfe80 // fe80::/10
                || v6 == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) // AWS metadata over IPv6
        }
    }
}

/// The error a [`GuardedResolver`] fails with; [`super::NocoBaseClient`] turns it into
/// [`DeliveryError::DestinationNotAllowed`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("{host} resolves only to link-local or cloud metadata addresses, which are not allowed")]
pub struct RefusedResolution {
    pub host: String,
}

type LookupFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>>;

/// Looks a host name up (the system resolver in production; a fixed table in tests).
pub type Lookup = Arc<dyn Fn(String) -> LookupFuture + Send + Sync>;

/// A reqwest DNS resolver that drops link-local and cloud metadata addresses from every answer and fails when none
/// is left, unless `allow_link_local`.
#[derive(Clone)]
pub struct GuardedResolver {
    allow_link_local: bool,
    lookup: Lookup,
}

impl std::fmt::Debug for GuardedResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedResolver")
            .field("allow_link_local", &self.allow_link_local)
            .finish_non_exhaustive()
    }
}

impl GuardedResolver {
    /// The system resolver (getaddrinfo, through tokio), guarded.
    pub fn system(allow_link_local: bool) -> Self {
        Self::with_lookup(
            allow_link_local,
            Arc::new(|host: String| {
                Box::pin(
                    async move { Ok(tokio::net::lookup_host((host.as_str(), 0)).await?.collect()) },
                )
            }),
        )
    }

    /// Any lookup function, guarded (tests use a fixed table).
    pub fn with_lookup(allow_link_local: bool, lookup: Lookup) -> Self {
        Self {
            allow_link_local,
            lookup,
        }
    }

    /// The addresses of `host` that may be connected to.
    pub async fn lookup(
        &self,
        host: &str,
    ) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let all = (self.lookup)(host.to_owned()).await?;
        if self.allow_link_local {
            return Ok(all);
        }
        let allowed: Vec<SocketAddr> = all
            .iter()
            .copied()
            .filter(|a| !is_link_local_or_metadata(a.ip()))
            .collect();
        if allowed.is_empty() && !all.is_empty() {
            return Err(Box::new(RefusedResolution {
                host: host.to_owned(),
            }));
        }
        Ok(allowed)
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = this.lookup(&host).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The [`RefusedResolution`] somewhere in an error's source chain (reqwest wraps resolver errors).
pub(crate) fn refused_resolution<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a RefusedResolution> {
    let mut cur: Option<&'a (dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<RefusedResolution>() {
            return Some(r);
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
#[path = "destination_tests.rs"]
mod tests;
