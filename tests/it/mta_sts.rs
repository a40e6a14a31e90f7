//! Outbound TLS policy (issue 14 part 5) with real parts: the loopback DNS fixture
//! publishes `_mta-sts`, `_smtp._tls`, MX and A records, an HTTPS server with the test
//! CA (`tests/fixtures/mta_sts`) serves the policies and takes TLS-RPT reports, and
//! the MX hosts are real SMTP servers (a STARTTLS one, or the plain test sink).
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::tls_support::{HttpsHost, TlsMx, fixture};

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sluice::config::Config;
use sluice::run::Roles;
use sluice_smtp_server::AcceptAll;
use sluice_test_dns::DnsFixture;

use common::{TestEnv, direct, simple_message};

/// Direct MX delivery through `dns`, policies fetched from `https` (trusting the
/// test CA), TLS outcomes recorded.
async fn sts_env(dns: &DnsFixture, https: &HttpsHost, extra: impl FnOnce(&mut Config)) -> TestEnv {
    let port = https.addr.port();
    TestEnv::start_with(Arc::new(AcceptAll), Roles::ALL, |c| {
        direct(c, dns);
        c.delivery.mta_sts_port = port;
        c.delivery.tls_extra_roots = Some(fixture("ca.pem"));
        c.delivery.tls_rpt = true;
        c.delivery.tls_rpt_org_name = Some("Sluice Test".into());
        c.delivery.tls_rpt_contact = Some("tls-reports@mta.sluice.test".into());
        extra(c);
    })
    .await
}

/// `domain` publishes a policy (`id`) in `mode` listing `mx` patterns, served by `https`.
fn publish(dns: &DnsFixture, https: &HttpsHost, domain: &str, id: &str, mode: &str, mx: &[&str]) {
    dns.set_txt(
        &format!("_mta-sts.{domain}"),
        &[format!("v=STSv1; id={id}").as_str()],
    );
    dns.set_a(&format!("mta-sts.{domain}"), &[Ipv4Addr::LOCALHOST]);
    let mut policy = format!("version: STSv1\r\nmode: {mode}\r\n");
    for pattern in mx {
        policy.push_str(&format!("mx: {pattern}\r\n"));
    }
    policy.push_str("max_age: 86400\r\n");
    https.set_policy(&format!("mta-sts.{domain}"), &policy);
}

/// `domain`'s one MX is `host` at `ip`.
fn mx(dns: &DnsFixture, domain: &str, host: &str, ip: Ipv4Addr) {
    dns.set_mx(domain, &[(10, host)]);
    dns.set_a(host, &[ip]);
}

fn recipient(view: &Value) -> &Value {
    &view["recipients"][0]
}

async fn tls_rpt_fields(env: &TestEnv) -> std::collections::HashMap<String, String> {
    let store = sluice_store::Store::connect(&env.redis.url(), Duration::from_secs(60))
        .await
        .unwrap();
    let day = sluice_delivery::tls_policy::report::day_of(sluice_model::time::now_ms());
    store.tls_rpt_day(day).await.unwrap()
}

#[tokio::test]
async fn enforce_defers_mail_when_no_mx_matches_the_policy() {
    let dns = DnsFixture::start().await.unwrap();
    let https = HttpsHost::start().await;
    publish(
        &dns,
        &https,
        "mismatch.test",
        "1",
        "enforce",
        &["mx.mismatch.test"],
    );
    // The MX is the plain sink, under a name the policy does not list.
    mx(
        &dns,
        "mismatch.test",
        "mail.elsewhere.test",
        Ipv4Addr::LOCALHOST,
    );
    let env = sts_env(&dns, &https, |_| {}).await;
    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("jane@mismatch.test")).await;
    let view = env
        .wait_for_status(&key, &id, "deferred", Duration::from_secs(15))
        .await;
    let reply = &recipient(&view)["smtp_reply"];
    assert_eq!(reply["code"], 451, "{view:#}");
    assert_eq!(reply["enhanced_code"], "4.7.5", "{view:#}");
    let text = reply.to_string();
    assert!(
        text.contains("MTA-STS policy of mismatch.test (enforce)"),
        "{text}"
    );
    assert!(text.contains("mail.elsewhere.test"), "{text}");
    assert_eq!(https.fetches("mta-sts.mismatch.test"), 1);
    assert_eq!(env.sink.connections_count(), 0, "nothing may be sent");
    env.stop().await;
}

#[tokio::test]
async fn enforce_delivers_over_verified_tls_to_a_listed_mx() {
    let dns = DnsFixture::start().await.unwrap();
    let https = HttpsHost::start().await;
    let env = sts_env(&dns, &https, |_| {}).await;
    // MX hosts are contacted on the sink's port (delivery.mx_port): this one listens
    // there at an address of its own.
    let port = env.sink.local_addr().port();
    let tls_mx = TlsMx::start(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), port).await;
    publish(
        &dns,
        &https,
        "enforce.test",
        "1",
        "enforce",
        &["*.enforce.test"],
    );
    mx(
        &dns,
        "enforce.test",
        "mx.enforce.test",
        Ipv4Addr::new(127, 0, 0, 2),
    );
    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("jane@enforce.test")).await;
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(15))
        .await;
    let received = tls_mx.messages();
    assert_eq!(received.len(), 1, "{:?}", tls_mx.commands());
    assert!(received[0].over_tls, "{:?}", tls_mx.commands());
    assert!(String::from_utf8_lossy(&received[0].data).contains("Subject: Hello"));
    assert!(tls_mx.commands().iter().any(|c| c == "STARTTLS"));
    let fields = tls_rpt_fields(&env).await;
    assert_eq!(
        fields.get("enforce.test|sts|s").map(String::as_str),
        Some("1"),
        "{fields:?}"
    );
    env.stop().await;
}

#[tokio::test]
async fn enforce_defers_when_the_mx_does_not_offer_starttls() {
    let dns = DnsFixture::start().await.unwrap();
    let https = HttpsHost::start().await;
    publish(
        &dns,
        &https,
        "nostarttls.test",
        "1",
        "enforce",
        &["mx.nostarttls.test"],
    );
    // The plain sink: no STARTTLS.
    mx(
        &dns,
        "nostarttls.test",
        "mx.nostarttls.test",
        Ipv4Addr::LOCALHOST,
    );
    let env = sts_env(&dns, &https, |_| {}).await;
    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("jane@nostarttls.test")).await;
    let view = env
        .wait_for_status(&key, &id, "deferred", Duration::from_secs(15))
        .await;
    let reply = &recipient(&view)["smtp_reply"];
    assert_eq!(reply["enhanced_code"], "4.7.5", "{view:#}");
    assert!(reply.to_string().contains("STARTTLS"), "{view:#}");
    assert_eq!(env.sink.count(), 0, "never in plain text");
    let fields = tls_rpt_fields(&env).await;
    assert!(
        fields.keys().any(|f| f.starts_with(
            "nostarttls.test|sts|f|starttls-not-supported|mx.nostarttls.test|127.0.0.1"
        )),
        "{fields:?}"
    );
    env.stop().await;
}

#[tokio::test]
async fn testing_mode_delivers_and_records_the_failure() {
    let dns = DnsFixture::start().await.unwrap();
    let https = HttpsHost::start().await;
    let env = sts_env(&dns, &https, |_| {}).await;
    let port = env.sink.local_addr().port();
    // Its certificate does not name mx.testing.test.
    let tls_mx = TlsMx::start(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)), port).await;
    publish(
        &dns,
        &https,
        "testing.test",
        "1",
        "testing",
        &["mx.testing.test"],
    );
    mx(
        &dns,
        "testing.test",
        "mx.testing.test",
        Ipv4Addr::new(127, 0, 0, 3),
    );
    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("jane@testing.test")).await;
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(15))
        .await;
    assert_eq!(tls_mx.messages().len(), 1);
    let fields = tls_rpt_fields(&env).await;
    assert_eq!(
        fields
            .get("testing.test|sts|f|certificate-host-mismatch|mx.testing.test|127.0.0.3")
            .map(String::as_str),
        Some("1"),
        "{fields:?}"
    );
    env.stop().await;
}

#[tokio::test]
async fn a_policy_is_cached_until_its_id_changes() {
    let dns = DnsFixture::start().await.unwrap();
    let https = HttpsHost::start().await;
    let env = sts_env(&dns, &https, |_| {}).await;
    let port = env.sink.local_addr().port();
    let tls_mx = TlsMx::start(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4)), port).await;
    publish(
        &dns,
        &https,
        "cache.test",
        "1",
        "enforce",
        &["mx.cache.test"],
    );
    mx(
        &dns,
        "cache.test",
        "mx.cache.test",
        Ipv4Addr::new(127, 0, 0, 4),
    );
    let key = env.ready_tenant().await;
    for (round, fetches) in [(1, 1), (2, 1)] {
        let id = env.send(&key, simple_message("jane@cache.test")).await;
        env.wait_for_status(&key, &id, "delivered", Duration::from_secs(15))
            .await;
        assert_eq!(
            https.fetches("mta-sts.cache.test"),
            fetches,
            "message {round}"
        );
    }
    // A new id in DNS: fetched again.
    dns.set_txt("_mta-sts.cache.test", &["v=STSv1; id=2"]);
    let id = env.send(&key, simple_message("jane@cache.test")).await;
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(15))
        .await;
    assert_eq!(https.fetches("mta-sts.cache.test"), 2);
    // The policy host down and the record gone: the cached policy still applies
    // (the MX is listed, so mail flows), and nothing is fetched.
    https.set_policy("mta-sts.cache.test", "not a policy");
    dns.set_nxdomain("_mta-sts.cache.test");
    let id = env.send(&key, simple_message("jane@cache.test")).await;
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(15))
        .await;
    assert_eq!(https.fetches("mta-sts.cache.test"), 2);
    assert_eq!(tls_mx.messages().len(), 4);
    assert!(tls_mx.messages().iter().all(|m| m.over_tls));
    env.stop().await;
}

/// gunzip through Python's gzip module: an independent decoder.
fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .args([
            "-c",
            "import gzip,sys; sys.stdout.buffer.write(gzip.decompress(sys.stdin.buffer.read()))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    output.stdout
}

#[tokio::test]
async fn the_daily_report_is_posted_to_the_https_rua() {
    let dns = DnsFixture::start().await.unwrap();
    let https = HttpsHost::start().await;
    let env = sts_env(&dns, &https, |_| {}).await;
    let port = env.sink.local_addr().port();
    let tls_mx = TlsMx::start(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 5)), port).await;
    publish(
        &dns,
        &https,
        "report.test",
        "7",
        "enforce",
        &["mx.report.test"],
    );
    mx(
        &dns,
        "report.test",
        "mx.report.test",
        Ipv4Addr::new(127, 0, 0, 5),
    );
    let rua = format!("https://reports.report.test:{}/tlsrpt", https.addr.port());
    let mailto = "tls-reports@inbox.report.test";
    dns.set_txt(
        "_smtp._tls.report.test",
        &[format!("v=TLSRPTv1; rua={rua},mailto:{mailto}").as_str()],
    );
    dns.set_a("reports.report.test", &[Ipv4Addr::LOCALHOST]);
    // Mailed reports go to the plain test sink.
    mx(
        &dns,
        "inbox.report.test",
        "mx.inbox.report.test",
        Ipv4Addr::LOCALHOST,
    );
    let (tenant, key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    let domain = env
        .post(
            &key,
            "/v1/domains",
            serde_json::json!({"name": "acme.test"}),
        )
        .await;
    assert_eq!(domain.status(), reqwest::StatusCode::CREATED);
    for _ in 0..2 {
        let id = env.send(&key, simple_message("jane@report.test")).await;
        env.wait_for_status(&key, &id, "delivered", Duration::from_secs(15))
            .await;
    }
    assert_eq!(tls_mx.messages().len(), 2);

    // Today's counters, sent now through the worker's own sender (the daily loop
    // sends yesterday's).
    let sender = report_sender(&env, &dns, &tenant).await;
    let day = sluice_delivery::tls_policy::report::day_of(sluice_model::time::now_ms());
    let sent = sender.send_day(day).await.unwrap();
    assert_eq!(sent.posted, vec![("report.test".to_owned(), rua.clone())]);
    assert_eq!(
        sent.mailed,
        vec![("report.test".to_owned(), format!("mailto:{mailto}"))],
        "{sent:?}"
    );
    // Sent once: a second run (another process) sends nothing.
    assert!(sender.send_day(day).await.unwrap().posted.is_empty());

    let posts: Vec<_> = https
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].path, "/tlsrpt");
    assert_eq!(posts[0].content_type, "application/tlsrpt+gzip");
    let report: Value = serde_json::from_slice(&gunzip(&posts[0].body)).unwrap();
    // RFC 8460 §4.4's field names.
    assert_eq!(report["organization-name"], "Sluice Test");
    assert_eq!(report["contact-info"], "tls-reports@mta.sluice.test");
    assert!(
        report["report-id"]
            .as_str()
            .unwrap()
            .contains("report.test")
    );
    let start = report["date-range"]["start-datetime"].as_str().unwrap();
    let end = report["date-range"]["end-datetime"].as_str().unwrap();
    assert!(
        start.ends_with("T00:00:00Z") && end.ends_with("T23:59:59Z"),
        "{report:#}"
    );
    let policies = report["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 1, "{report:#}");
    let policy = &policies[0];
    assert_eq!(policy["policy"]["policy-type"], "sts");
    assert_eq!(policy["policy"]["policy-domain"], "report.test");
    assert_eq!(policy["policy"]["mx-host"][0], "mx.report.test");
    let strings: Vec<&str> = policy["policy"]["policy-string"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(strings.contains(&"mode: enforce"), "{strings:?}");
    assert_eq!(policy["summary"]["total-successful-session-count"], 2);
    assert_eq!(policy["summary"]["total-failure-session-count"], 0);

    // The mailed copy: through the queue, DKIM-signed like any message, to the sink.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while env.sink.count() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the mailed report never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mailed = &env.sink.messages()[0];
    assert_eq!(mailed.rcpt_to, [mailto]);
    let raw = String::from_utf8_lossy(&mailed.data).into_owned();
    let headers = common::headers(&mailed.data);
    assert_eq!(
        common::header(&headers, "TLS-Report-Domain"),
        Some("report.test")
    );
    assert_eq!(
        common::header(&headers, "TLS-Report-Submitter"),
        Some("mta.sluice.test")
    );
    assert!(common::header(&headers, "DKIM-Signature").is_some());
    assert!(
        common::header(&headers, "Subject")
            .unwrap()
            .starts_with("Report Domain: report.test Submitter: mta.sluice.test Report-ID:"),
        "{raw}"
    );
    assert!(raw.contains("application/tlsrpt+gzip"), "{raw}");
    assert!(raw.contains("mta.sluice.test!report.test!"), "{raw}");
    env.stop().await;
}

/// A report sender as the worker builds it, on this test's Redis and DNS.
async fn report_sender(
    env: &TestEnv,
    dns: &DnsFixture,
    tenant: &str,
) -> sluice_delivery::tls_policy::report::ReportSender {
    use sluice_delivery::tls_policy::{fetch, mail, report};
    let store = sluice_store::Store::connect(&env.redis.url(), Duration::from_secs(60))
        .await
        .unwrap();
    let resolver = sluice_domains::resolver::build_resolver(
        &sluice_domains::ResolverConfig {
            name_servers: vec![dns.addr()],
            allow_private: true,
            ..Default::default()
        },
        sluice_domains::resolver::Caching::Off,
    )
    .unwrap();
    let roots = std::fs::read(fixture("ca.pem")).unwrap();
    let client =
        fetch::http_client(resolver.clone(), true, &roots, Duration::from_secs(10)).unwrap();
    let tls = env
        .config
        .delivery
        .tls_policy_config(&env.config.hostname)
        .unwrap();
    report::ReportSender {
        fetcher: fetch::Fetcher::new(resolver, client, 443),
        store,
        identity: tls.tls_rpt.unwrap(),
        owner: "test".into(),
        mail: Some(mail::MailSender {
            tenant: sluice_model::TenantId::parse(tenant).unwrap(),
            from: sluice_model::Mailbox::parse("TLS reports <tls-reports@acme.test>").unwrap(),
            quotas: env.config.quotas,
        }),
    }
}
