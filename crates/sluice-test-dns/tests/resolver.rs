//! The fixture as a real resolver sees it: hickory-resolver, configured with the
//! fixture as its only name server, over UDP (and TCP for truncated answers).

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use sluice_test_dns::DnsFixture;

/// A resolver that only knows the fixture: no resolv.conf, no hosts file,
/// one attempt.
fn resolver_for(dns: &DnsFixture) -> TokioResolver {
    let addr = dns.addr();
    let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
        .into_iter()
        .map(|mut c| {
            c.port = addr.port();
            c
        })
        .collect();
    let server = NameServerConfig::new(addr.ip(), true, connections);
    let mut options = ResolverOpts::default();
    options.use_hosts_file = ResolveHosts::Never;
    options.attempts = 0;
    TokioResolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![server]),
        TokioRuntimeProvider::default(),
    )
    .with_options(options)
    .build()
    .unwrap()
}

fn response_code(error: &NetError) -> Option<ResponseCode> {
    match error {
        NetError::Dns(DnsError::NoRecordsFound(no_records)) => Some(no_records.response_code),
        NetError::Dns(DnsError::ResponseCode(code)) => Some(*code),
        _ => None,
    }
}

#[tokio::test]
async fn mx_records_and_null_mx() {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_mx(
        "example.test",
        &[(20, "mx2.example.test"), (10, "MX1.Example.Test")],
    );
    dns.set_null_mx("nomail.test");
    let resolver = resolver_for(&dns);

    let lookup = resolver.mx_lookup("Example.TEST.").await.unwrap();
    let mut mx: Vec<(u16, String)> = lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
            _ => None,
        })
        .collect();
    mx.sort();
    assert_eq!(
        mx,
        vec![
            (10, "mx1.example.test.".to_owned()),
            (20, "mx2.example.test.".to_owned())
        ]
    );
    assert!(lookup.message().metadata.authoritative);

    let null = resolver.mx_lookup("nomail.test.").await.unwrap();
    let [record] = null.answers() else {
        panic!("expected one MX, got {:?}", null.answers());
    };
    let RData::MX(mx) = &record.data else {
        panic!("not an MX: {record:?}");
    };
    assert_eq!(mx.preference, 0);
    assert!(mx.exchange.is_root());

    assert_eq!(
        dns.queries(),
        vec![
            ("example.test".to_owned(), "MX".to_owned()),
            ("nomail.test".to_owned(), "MX".to_owned()),
        ]
    );
    dns.shutdown().await;
}

#[tokio::test]
async fn a_and_aaaa() {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_a(
        "host.test",
        &[Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)],
    );
    dns.set_aaaa("host.test", &[Ipv6Addr::LOCALHOST]);
    let resolver = resolver_for(&dns);

    let mut v4: Vec<IpAddr> = resolver
        .ipv4_lookup("host.test.")
        .await
        .unwrap()
        .answers()
        .iter()
        .filter_map(|r| r.data.ip_addr())
        .collect();
    v4.sort();
    assert_eq!(
        v4,
        vec![IpAddr::from([127, 0, 0, 2]), IpAddr::from([127, 0, 0, 3])]
    );
    let v6 = resolver.ipv6_lookup("HOST.test.").await.unwrap();
    assert_eq!(
        v6.answers()[0].data.ip_addr(),
        Some(IpAddr::from(Ipv6Addr::LOCALHOST))
    );
    dns.shutdown().await;
}

#[tokio::test]
async fn long_txt_is_split_and_comes_back_whole_over_tcp() {
    let dns = DnsFixture::start().await.unwrap();
    // Longer than a 4096-bit DKIM key record (~800 bytes): forces the
    // 255-byte split, and an answer over the 1232-byte EDNS payload, which
    // goes out truncated over UDP and whole over TCP.
    let long = format!("v=DKIM1; k=rsa; p={}", "A".repeat(1500));
    dns.set_txt("sel._domainkey.example.test", &[&long, "second"]);
    let resolver = resolver_for(&dns);

    let lookup = resolver
        .txt_lookup("sel._domainkey.example.test.")
        .await
        .unwrap();
    let mut values: Vec<(usize, String)> = lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(txt) => {
                let parts = txt.txt_data.len();
                let joined: Vec<u8> = txt
                    .txt_data
                    .iter()
                    .flat_map(|s| s.iter().copied())
                    .collect();
                Some((parts, String::from_utf8(joined).unwrap()))
            }
            _ => None,
        })
        .collect();
    values.sort_by_key(|(_, v)| v.len());
    assert_eq!(values, vec![(1, "second".to_owned()), (6, long)]);
    // Asked twice: over UDP (truncated answer), then over TCP.
    assert_eq!(dns.queries().len(), 2, "{:?}", dns.queries());
    dns.shutdown().await;
}

#[tokio::test]
async fn nxdomain_nodata_and_servfail() {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_a("exists.test", &[Ipv4Addr::LOCALHOST]);
    dns.set_mx("gone.test", &[(10, "mx.gone.test")]);
    dns.set_nxdomain("gone.test");
    dns.set_servfail("broken.test");
    let resolver = resolver_for(&dns);

    let unknown = resolver.mx_lookup("unknown.test.").await.unwrap_err();
    assert_eq!(response_code(&unknown), Some(ResponseCode::NXDomain));
    let gone = resolver.mx_lookup("gone.test.").await.unwrap_err();
    assert_eq!(response_code(&gone), Some(ResponseCode::NXDomain));
    let nodata = resolver.mx_lookup("exists.test.").await.unwrap_err();
    assert_eq!(response_code(&nodata), Some(ResponseCode::NoError));
    let broken = resolver.mx_lookup("broken.test.").await.unwrap_err();
    assert_eq!(
        response_code(&broken),
        Some(ResponseCode::ServFail),
        "{broken:?}"
    );
    dns.shutdown().await;
}

#[tokio::test]
async fn changes_show_at_once_and_queries_are_logged() {
    let dns = DnsFixture::start().await.unwrap();
    let resolver = resolver_for(&dns);
    assert!(resolver.ipv4_lookup("late.test.").await.is_err());
    dns.set_a("late.test", &[Ipv4Addr::new(127, 0, 0, 9)]);
    let lookup = resolver.ipv4_lookup("late.test.").await.unwrap();
    assert_eq!(
        lookup.answers()[0].data.ip_addr(),
        Some(IpAddr::from([127, 0, 0, 9]))
    );
    let asked = dns.queries();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(
        asked
            .iter()
            .all(|(name, rtype)| name == "late.test" && rtype == RecordType::A.to_string().as_str())
    );
    dns.shutdown().await;
}
