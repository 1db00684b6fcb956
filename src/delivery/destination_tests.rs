use super::*;

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

fn allowed(d: &AllowedDestinations, u: &str) -> bool {
    d.check(&url(u)).is_ok()
}

#[test]
fn in_cluster_default_allows_service_names_only() {
    let d = AllowedDestinations::default();
    assert!(allowed(&d, "http://nocobase.apps.svc:13000"));
    assert!(allowed(&d, "https://nocobase.apps.svc.cluster.local/"));
    assert!(allowed(&d, "http://NocoBase.Apps.SVC./"));
    assert!(!allowed(&d, "http://svc/"));
    assert!(!allowed(&d, "http://nocobase.example.com/"));
    assert!(!allowed(&d, "http://evil-svc/"));
    assert!(!allowed(&d, "http://10.0.0.7/"));
    assert!(!allowed(&d, "http://169.254.169.254/"));
}

#[test]
fn empty_list_allows_nothing() {
    let d = AllowedDestinations::only(Vec::<String>::new());
    assert!(!allowed(&d, "http://nocobase.apps.svc/"));
    assert!(!allowed(&d, "http://127.0.0.1/"));
}

#[test]
fn exact_names_wildcards_ips_and_cidrs() {
    let d = AllowedDestinations::only([
        "nocobase.example.com",
        "*.corp.example",
        "127.0.0.1",
        "10.1.0.0/16",
        "fd00:1::/32",
        "[::1]",
    ]);
    assert!(allowed(&d, "https://nocobase.example.com/"));
    assert!(!allowed(&d, "https://x.nocobase.example.com/"));
    assert!(allowed(&d, "https://a.b.corp.example/"));
    assert!(!allowed(&d, "https://corp.example/"));
    assert!(!allowed(&d, "https://corp.example.evil.com/"));
    assert!(allowed(&d, "http://127.0.0.1:13000/"));
    assert!(!allowed(&d, "http://127.0.0.2/"));
    assert!(allowed(&d, "http://10.1.255.3/"));
    assert!(!allowed(&d, "http://10.2.0.1/"));
    assert!(allowed(&d, "http://[fd00:1:ffff::1]/"));
    assert!(!allowed(&d, "http://[fd00:2::1]/"));
    assert!(allowed(&d, "http://[::1]:8080/"));
    // a name is not matched against IP entries
    assert!(!allowed(&d, "http://localhost/"));
}

#[test]
fn cidr_prefixes_that_are_not_byte_aligned() {
    let d = AllowedDestinations::only(["192.168.0.0/20"]);
    assert!(allowed(&d, "http://192.168.15.255/"));
    assert!(!allowed(&d, "http://192.168.16.0/"));
    let d = AllowedDestinations::only(["0.0.0.0/0"]);
    assert!(allowed(&d, "http://8.8.8.8/"));
    assert!(
        !allowed(&d, "http://169.254.1.1/"),
        "link-local stays refused"
    );
}

#[test]
fn link_local_and_metadata_refused_even_when_listed_or_wildcarded() {
    let d = AllowedDestinations::only(["*", "169.254.0.0/16", "metadata.google.internal"]);
    for u in [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.10.1/",
        "http://[fe80::1]/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://168.63.129.16/",
        "http://metadata.google.internal/",
        "http://METADATA.google.internal./",
        "http://[::ffff:169.254.169.254]/",
    ] {
        let err = d.check(&url(u)).unwrap_err();
        assert_eq!(err.reason(), "DestinationNotAllowed", "{u}");
    }
    assert!(allowed(&d, "http://nocobase.example.com/"));
    let open = AllowedDestinations {
        allow_link_local: true,
        ..d
    };
    assert!(allowed(&open, "http://169.254.169.254/"));
    assert!(allowed(&open, "http://metadata.google.internal/"));
}

#[test]
fn only_http_and_https_without_credentials() {
    let d = AllowedDestinations::only(["*"]);
    assert!(!allowed(&d, "ftp://nocobase.example.com/"));
    assert!(!allowed(&d, "file:///etc/passwd"));
    assert!(!allowed(&d, "http://user:pw@nocobase.example.com/"));
}

#[test]
fn validate_names_the_bad_entry() {
    assert!(AllowedDestinations::in_cluster().validate().is_ok());
    let bad = AllowedDestinations::only(["*.svc", "10.0.0.0/33"]);
    assert!(bad.validate().unwrap_err().contains("10.0.0.0/33"));
    assert!(AllowedDestinations::only(["http://x"]).validate().is_err());
    assert!(AllowedDestinations::only(["*."]).validate().is_err());
}

#[test]
fn link_local_detection() {
    for ip in [
        "169.254.169.254",
        "169.254.0.1",
        "fe80::1",
        "febf::1",
        "fd00:ec2::254",
        "100.100.100.200",
    ] {
        assert!(is_link_local_or_metadata(ip.parse().unwrap()), "{ip}");
    }
    for ip in [
        "10.0.0.1",
        "127.0.0.1",
        "fec0::1",
        "fd00:ec2::255",
        "100.100.100.201",
        "::1",
    ] {
        assert!(!is_link_local_or_metadata(ip.parse().unwrap()), "{ip}");
    }
}

fn table(entries: &'static [(&'static str, &'static str)]) -> Lookup {
    Arc::new(move |host: String| {
        let addrs: Vec<SocketAddr> = entries
            .iter()
            .filter(|(h, _)| *h == host)
            .map(|(_, ip)| SocketAddr::new(ip.parse().unwrap(), 0))
            .collect();
        Box::pin(async move { Ok(addrs) })
    })
}

const TABLE: &[(&str, &str)] = &[
    ("metadata.test", "169.254.169.254"),
    ("dual.test", "fe80::1"),
    ("dual.test", "127.0.0.1"),
    ("plain.test", "127.0.0.1"),
];

#[tokio::test]
async fn resolver_drops_link_local_answers() {
    let r = GuardedResolver::with_lookup(false, table(TABLE));
    let err = r.lookup("metadata.test").await.unwrap_err();
    assert!(err.to_string().contains("metadata.test"));
    let dual = r.lookup("dual.test").await.unwrap();
    assert_eq!(dual, vec![SocketAddr::new("127.0.0.1".parse().unwrap(), 0)]);
    assert_eq!(r.lookup("plain.test").await.unwrap().len(), 1);
    let open = GuardedResolver::with_lookup(true, table(TABLE));
    assert_eq!(open.lookup("metadata.test").await.unwrap().len(), 1);
}

/// Through reqwest: a request to a name that resolves to the metadata address is refused before any connection,
/// and the refusal is found in reqwest's error chain.
#[tokio::test]
async fn reqwest_with_guarded_resolver_refuses_metadata_names() {
    let client = reqwest::Client::builder()
        .dns_resolver(GuardedResolver::with_lookup(false, table(TABLE)))
        .build()
        .unwrap();
    let err = client
        .get("http://metadata.test/latest/meta-data/")
        .send()
        .await
        .unwrap_err();
    let refused = refused_resolution(&err).expect("RefusedResolution in the error chain");
    assert_eq!(refused.host, "metadata.test");
}
