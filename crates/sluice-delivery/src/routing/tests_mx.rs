//! MX resolution against a real DNS server on loopback (UDP, the fixture as
//! the only name server). Nothing here talks to anything but 127.0.0.1.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use sluice_test_dns::DnsFixture;

use super::*;
use sluice_domains::ResolverConfig;

/// The fixture answers with loopback addresses: private MX must be allowed here.
fn resolver(dns: &DnsFixture) -> MxResolver {
    strict_resolver(dns, true)
}

fn strict_resolver(dns: &DnsFixture, allow_private: bool) -> MxResolver {
    MxResolver::new(&ResolverConfig {
        name_servers: vec![dns.addr()],
        timeout: Duration::from_secs(5),
        attempts: 1,
        allow_private,
    })
    .unwrap()
}

fn v4(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, last)
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(v4(last))
}

fn names(hosts: &[MxHost]) -> Vec<&str> {
    hosts.iter().map(|h| h.name.as_str()).collect()
}

#[tokio::test]
async fn mx_hosts_come_in_preference_order_with_their_addresses() {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_mx(
        "example.test",
        &[
            (30, "mx3.example.test"),
            (10, "mx1.example.test"),
            (20, "mx2.example.test"),
        ],
    );
    dns.set_a("mx1.example.test", &[v4(11), v4(12)]);
    dns.set_a("mx2.example.test", &[v4(21)]);
    dns.set_a("mx3.example.test", &[v4(31)]);
    dns.set_aaaa("mx3.example.test", &[Ipv6Addr::LOCALHOST]);

    let hosts = resolver(&dns).resolve("example.test").await.unwrap();
    assert_eq!(
        hosts,
        vec![
            MxHost {
                name: "mx1.example.test".into(),
                preference: 10,
                addresses: vec![ip(11), ip(12)],
                implicit: false,
            },
            MxHost {
                name: "mx2.example.test".into(),
                preference: 20,
                addresses: vec![ip(21)],
                implicit: false,
            },
            MxHost {
                name: "mx3.example.test".into(),
                preference: 30,
                addresses: vec![ip(31), IpAddr::V6(Ipv6Addr::LOCALHOST)],
                implicit: false,
            },
        ]
    );
    dns.shutdown().await;
}

#[tokio::test]
async fn equal_preferences_are_shuffled_but_all_kept() {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_mx(
        "spread.test",
        &[
            (10, "a.spread.test"),
            (10, "b.spread.test"),
            (10, "c.spread.test"),
            (20, "backup.spread.test"),
        ],
    );
    for (i, host) in ["a", "b", "c", "backup"].iter().enumerate() {
        dns.set_a(&format!("{host}.spread.test"), &[v4(i as u8 + 1)]);
    }
    let resolver = resolver(&dns);
    let mut leaders = HashSet::new();
    for _ in 0..64 {
        let hosts = resolver.resolve("spread.test").await.unwrap();
        let names = names(&hosts);
        assert_eq!(names.len(), 4);
        let group: HashSet<&str> = names[..3].iter().copied().collect();
        assert_eq!(
            group,
            HashSet::from(["a.spread.test", "b.spread.test", "c.spread.test"])
        );
        assert_eq!(names[3], "backup.spread.test");
        leaders.insert(names[0].to_owned());
    }
    // Each of 64 independent shuffles starting with the same host has a
    // probability of 3 * (1/3)^64: this is not a flaky assertion.
    assert!(leaders.len() > 1, "never shuffled: {leaders:?}");
    dns.shutdown().await;
}

#[tokio::test]
async fn no_mx_means_the_implicit_mx_from_a_and_aaaa() {
    let dns = DnsFixture::start().await.unwrap();
    // Explicitly no MX records...
    dns.set_mx("implicit.test", &[]);
    dns.set_a("implicit.test", &[v4(5)]);
    dns.set_aaaa("implicit.test", &[Ipv6Addr::LOCALHOST]);
    // ...or no MX record set at all, only an AAAA.
    dns.set_aaaa("v6only.test", &[Ipv6Addr::LOCALHOST]);
    let resolver = resolver(&dns);

    let hosts = resolver.resolve("implicit.test").await.unwrap();
    assert_eq!(
        hosts,
        vec![MxHost {
            name: "implicit.test".into(),
            preference: 0,
            addresses: vec![ip(5), IpAddr::V6(Ipv6Addr::LOCALHOST)],
            implicit: true,
        }]
    );
    let hosts = resolver.resolve("V6Only.test.").await.unwrap();
    assert_eq!(names(&hosts), ["v6only.test"]);
    assert!(hosts[0].implicit);
    assert_eq!(hosts[0].addresses, [IpAddr::V6(Ipv6Addr::LOCALHOST)]);

    // A domain that exists with neither MX nor address: retried, not bounced.
    dns.set_txt("txtonly.test", &["v=spf1 -all"]);
    let err = resolver.resolve("txtonly.test").await.unwrap_err();
    assert!(matches!(err, RouteError::Temporary { .. }), "{err:?}");
    dns.shutdown().await;
}

#[tokio::test]
async fn null_mx_is_a_permanent_5_1_10() {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_null_mx("nomail.test");
    dns.set_a("nomail.test", &[v4(1)]);
    let err = resolver(&dns).resolve("nomail.test").await.unwrap_err();
    assert!(
        matches!(&err, RouteError::NullMx { domain } if domain == "nomail.test"),
        "{err:?}"
    );
    assert!(err.is_permanent());
    assert_eq!(err.enhanced_code(), "5.1.10");
    // The implicit MX must not be used: only the MX question was asked.
    assert_eq!(dns.queries(), [("nomail.test".to_owned(), "MX".to_owned())]);
    dns.shutdown().await;
}

#[tokio::test]
async fn a_dot_among_real_mx_records_is_skipped() {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_mx("mixed.test", &[(0, "."), (10, "mx.mixed.test")]);
    dns.set_a("mx.mixed.test", &[v4(7)]);
    let hosts = resolver(&dns).resolve("mixed.test").await.unwrap();
    assert_eq!(names(&hosts), ["mx.mixed.test"]);
    dns.shutdown().await;
}

#[tokio::test]
async fn nxdomain_is_a_permanent_5_1_2() {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_nxdomain("gone.test");
    let resolver = resolver(&dns);
    for domain in ["gone.test", "never-set.test"] {
        let err = resolver.resolve(domain).await.unwrap_err();
        assert!(
            matches!(&err, RouteError::NoSuchDomain { domain: d } if d == domain),
            "{err:?}"
        );
        assert!(err.is_permanent());
        assert_eq!(err.enhanced_code(), "5.1.2");
    }
    // Not a domain at all: refused without asking DNS.
    for domain in ["", ".", "[127.0.0.1]"] {
        let err = resolver.resolve(domain).await.unwrap_err();
        assert!(matches!(err, RouteError::NoSuchDomain { .. }), "{err:?}");
    }
    // Asked as given, fully qualified: no search domain was tried.
    assert_eq!(
        dns.queries(),
        [
            ("gone.test".to_owned(), "MX".to_owned()),
            ("never-set.test".to_owned(), "MX".to_owned()),
        ]
    );
    dns.shutdown().await;
}

#[tokio::test]
async fn servfail_is_temporary() {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_servfail("broken.test");
    let err = resolver(&dns).resolve("broken.test").await.unwrap_err();
    assert!(
        matches!(&err, RouteError::Temporary { domain, .. } if domain == "broken.test"),
        "{err:?}"
    );
    assert!(!err.is_permanent());
    assert_eq!(err.enhanced_code(), "4.4.3");
    dns.shutdown().await;
}

#[tokio::test]
async fn mx_hosts_without_an_address_are_skipped() {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_mx(
        "partial.test",
        &[
            (10, "nxdomain.partial.test"),
            (20, "nodata.partial.test"),
            (30, "servfail.partial.test"),
            (40, "good.partial.test"),
        ],
    );
    dns.set_a("nodata.partial.test", &[]);
    dns.set_servfail("servfail.partial.test");
    dns.set_a("good.partial.test", &[v4(40)]);
    let resolver = resolver(&dns);

    let hosts = resolver.resolve("partial.test").await.unwrap();
    assert_eq!(names(&hosts), ["good.partial.test"]);
    assert_eq!(hosts[0].preference, 40);

    // Without the good host nothing is left: retry later, do not bounce.
    dns.set_nxdomain("good.partial.test");
    let err = resolver.resolve("partial.test").await.unwrap_err();
    let RouteError::Temporary { reason, .. } = &err else {
        panic!("expected Temporary, got {err:?}");
    };
    assert!(reason.contains("servfail.partial.test"), "{reason}");
    assert!(!err.is_permanent());
    dns.shutdown().await;
}

#[tokio::test]
async fn names_are_case_insensitive_and_come_back_lower_case() {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_mx("MiXeD.Test", &[(10, "MX.Mixed.TEST")]);
    dns.set_a("mx.MIXED.test", &[v4(3)]);
    let hosts = resolver(&dns).resolve("mixed.TEST.").await.unwrap();
    assert_eq!(names(&hosts), ["mx.mixed.test"]);
    assert_eq!(hosts[0].addresses, [ip(3)]);
    dns.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_name_server_is_temporary() {
    // A port nothing listens on: bind one, note it, let it go.
    let port = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let resolver = MxResolver::new(&ResolverConfig {
        name_servers: vec![(Ipv4Addr::LOCALHOST, port).into()],
        timeout: Duration::from_millis(200),
        attempts: 1,
        allow_private: false,
    })
    .unwrap();
    let err = resolver.resolve("example.test").await.unwrap_err();
    assert!(matches!(err, RouteError::Temporary { .. }), "{err:?}");
    assert!(!err.is_permanent());
}

#[test]
fn unusable_resolver_settings_are_refused() {
    let base = ResolverConfig {
        name_servers: vec![(Ipv4Addr::LOCALHOST, 53).into()],
        ..ResolverConfig::default()
    };
    for config in [
        ResolverConfig {
            attempts: 0,
            ..base.clone()
        },
        ResolverConfig {
            timeout: Duration::ZERO,
            ..base.clone()
        },
    ] {
        let err = MxResolver::new(&config).unwrap_err();
        assert!(matches!(err, RouteError::InvalidConfig(_)), "{err:?}");
        assert_eq!(err.enhanced_code(), "4.3.5");
    }
}

#[tokio::test]
async fn non_public_mx_addresses_are_refused_unless_allowed() {
    let dns = DnsFixture::start().await.unwrap();
    // Only loopback and private addresses: refused, permanently.
    dns.set_mx(
        "inward.test",
        &[(10, "mx1.inward.test"), (20, "mx2.inward.test")],
    );
    dns.set_a("mx1.inward.test", &[v4(1)]);
    dns.set_a("mx2.inward.test", &[Ipv4Addr::new(10, 1, 2, 3)]);
    dns.set_aaaa("mx2.inward.test", &[Ipv6Addr::LOCALHOST]);
    // No MX, and the domain's own address is link-local (cloud metadata).
    dns.set_mx("metadata.test", &[]);
    dns.set_a("metadata.test", &[Ipv4Addr::new(169, 254, 169, 254)]);
    // One public host among private ones: only it is kept.
    dns.set_mx(
        "mixed.test",
        &[(10, "private.mixed.test"), (20, "public.mixed.test")],
    );
    dns.set_a("private.mixed.test", &[Ipv4Addr::new(192, 168, 0, 1)]);
    dns.set_a(
        "public.mixed.test",
        &[Ipv4Addr::new(100, 64, 0, 1), Ipv4Addr::new(8, 8, 8, 8)],
    );

    let strict = strict_resolver(&dns, false);
    let err = strict.resolve("inward.test").await.unwrap_err();
    assert!(matches!(err, RouteError::PrivateOnly { .. }), "{err:?}");
    assert!(err.is_permanent());
    assert_eq!(err.enhanced_code(), "5.4.4");
    let text = err.to_string();
    assert!(text.contains("resolves only to private"), "{text}");
    assert!(
        text.contains("127.0.0.1") && text.contains("10.1.2.3"),
        "{text}"
    );
    let err = strict.resolve("metadata.test").await.unwrap_err();
    assert!(matches!(err, RouteError::PrivateOnly { .. }), "{err:?}");
    let hosts = strict.resolve("mixed.test").await.unwrap();
    assert_eq!(names(&hosts), ["public.mixed.test"]);
    assert_eq!(hosts[0].addresses, [IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8))]);

    let open = strict_resolver(&dns, true);
    let hosts = open.resolve("inward.test").await.unwrap();
    assert_eq!(names(&hosts), ["mx1.inward.test", "mx2.inward.test"]);
    assert_eq!(open.resolve("metadata.test").await.unwrap().len(), 1);
    dns.shutdown().await;
}

#[tokio::test]
async fn a_private_mx_beside_one_that_failed_to_resolve_is_retried_not_bounced() {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_mx(
        "partly.test",
        &[(10, "private.partly.test"), (20, "broken.partly.test")],
    );
    dns.set_a("private.partly.test", &[v4(1)]);
    dns.set_servfail("broken.partly.test");
    let err = strict_resolver(&dns, false)
        .resolve("partly.test")
        .await
        .unwrap_err();
    assert!(matches!(err, RouteError::Temporary { .. }), "{err:?}");
    dns.shutdown().await;
}
