//! Direct MX delivery and per-domain routes, against a real DNS server on loopback
//! (the only name server the resolver may ask) and real SMTP sinks.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use sluice::config::{Config, RouteConfig};
use sluice::run::Roles;
use sluice_smtp_server::{AcceptAll, SinkConfig, SmtpSink};
use sluice_test_dns::DnsFixture;

use common::{TestEnv, direct, simple_message};

async fn env_with_dns(dns: &DnsFixture, extra: impl FnOnce(&mut Config)) -> TestEnv {
    TestEnv::start_with(Arc::new(AcceptAll), Roles::ALL, |c| {
        direct(c, dns);
        extra(c);
    })
    .await
}

fn recipient<'a>(view: &'a Value, address: &str) -> &'a Value {
    view["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .unwrap()
}

#[tokio::test]
async fn mail_goes_to_the_best_mx_that_answers() {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_mx(
        "dest.test",
        &[(20, "backup.dest.test"), (10, "primary.dest.test")],
    );
    // Nothing listens on 127.0.0.9: the preferred host refuses the connection.
    dns.set_a("primary.dest.test", &[Ipv4Addr::new(127, 0, 0, 9)]);
    dns.set_a("backup.dest.test", &[Ipv4Addr::LOCALHOST]);
    let env = env_with_dns(&dns, |_| {}).await;
    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("jane@dest.test")).await;
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(15))
        .await;
    let received = env.sink.messages();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].rcpt_to, ["jane@dest.test"]);
    let asked: Vec<(String, String)> = dns.queries();
    assert!(
        asked
            .iter()
            .any(|(name, kind)| name.starts_with("dest.test") && kind == "MX"),
        "{asked:?}"
    );
    env.stop().await;
}

#[tokio::test]
async fn a_domain_without_mx_records_is_delivered_to_its_address() {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_mx("plain.test", &[]);
    dns.set_a("plain.test", &[Ipv4Addr::LOCALHOST]);
    let env = env_with_dns(&dns, |_| {}).await;
    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("jane@plain.test")).await;
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(15))
        .await;
    assert_eq!(env.sink.count(), 1);
    env.stop().await;
}

#[tokio::test]
async fn null_mx_and_missing_domains_bounce_at_once_while_dns_trouble_defers() {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_null_mx("nomail.test");
    dns.set_nxdomain("nowhere.test");
    dns.set_servfail("flaky.test");
    dns.set_mx("dest.test", &[(10, "mx.dest.test")]);
    dns.set_a("mx.dest.test", &[Ipv4Addr::LOCALHOST]);
    let env = env_with_dns(&dns, |_| {}).await;
    let key = env.ready_tenant().await;
    let mut body = simple_message("ok@dest.test");
    body["cc"] = json!(["a@nomail.test", "b@nowhere.test", "c@flaky.test"]);
    let id = env.send(&key, body).await;
    let view = env
        .wait_for(&key, &id, Duration::from_secs(15), |v| v["attempts"] == 1)
        .await;
    assert_eq!(view["status"], "deferred", "{view:#}");
    assert_eq!(recipient(&view, "ok@dest.test")["status"], "delivered");
    let null_mx = recipient(&view, "a@nomail.test");
    assert_eq!(null_mx["status"], "bounced");
    assert_eq!(null_mx["smtp_reply"]["code"], 556);
    assert_eq!(null_mx["smtp_reply"]["enhanced_code"], "5.1.10");
    let nxdomain = recipient(&view, "b@nowhere.test");
    assert_eq!(nxdomain["status"], "bounced");
    assert_eq!(nxdomain["smtp_reply"]["enhanced_code"], "5.1.2");
    assert_eq!(recipient(&view, "c@flaky.test")["status"], "deferred");
    assert_eq!(env.sink.messages()[0].rcpt_to, ["ok@dest.test"]);
    env.stop().await;
}

#[tokio::test]
async fn per_domain_routes_and_mx_delivery_share_one_message() {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_mx("dest.test", &[(10, "mx.dest.test")]);
    dns.set_a("mx.dest.test", &[Ipv4Addr::LOCALHOST]);
    let partner = SmtpSink::start(SinkConfig::default()).await.unwrap();
    let partner_url = format!("smtp://{}", partner.local_addr());
    let env = env_with_dns(&dns, |c| {
        c.delivery.routes = vec![RouteConfig {
            domain: "*.partner.test".into(),
            relay: partner_url,
        }];
    })
    .await;
    let key = env.ready_tenant().await;
    let mut body = simple_message("jane@dest.test");
    body["to"] = json!([
        "jane@dest.test",
        "bob@eu.partner.test",
        "amy@us.partner.test"
    ]);
    let id = env.send(&key, body).await;
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(15))
        .await;
    assert_eq!(env.sink.messages()[0].rcpt_to, ["jane@dest.test"]);
    let routed = partner.messages();
    assert_eq!(
        routed.len(),
        1,
        "both partner recipients share one transaction"
    );
    let mut rcpt = routed[0].rcpt_to.clone();
    rcpt.sort();
    assert_eq!(rcpt, ["amy@us.partner.test", "bob@eu.partner.test"]);
    assert!(
        dns.queries()
            .iter()
            .all(|(name, _)| !name.contains("partner")),
        "routed domains need no DNS"
    );
    env.stop().await;
    partner.shutdown().await;
}
