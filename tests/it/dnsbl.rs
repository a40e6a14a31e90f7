//! Blocklist watch: pool addresses looked up on DNS blocklists served by the loopback
//! DNS fixture (`2.0.0.127.<zone>` A records), a listed address out of rotation while
//! the rest of its pool carries the mail (the sink sees each connection's source
//! address), delisting, refused queries, the operator webhook, and the lease that lets
//! one of two `sluice worker` processes look up.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use sluice::config::{Config, DnsblConfig, IpPoolConfig};
use sluice::run::Roles;
use sluice_delivery::providers::{ProviderLimits, ProviderRule};
use sluice_smtp_server::AcceptAll;
use sluice_test_dns::DnsFixture;

use common::{TestEnv, direct, simple_message};

const SECRET: &str = "whsec_b3BlcmF0b3Itd2ViaG9vay1zZWNyZXQtMDEyMzQ1Ng==";

async fn dest_dns() -> DnsFixture {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_mx("dest.test", &[(10, "mx.dest.test")]);
    dns.set_a("mx.dest.test", &[Ipv4Addr::LOCALHOST]);
    dns
}

/// Two pool addresses, `zone` watched every second, the operator webhook at `hook`.
fn watched(c: &mut Config, dns: &DnsFixture, zone: &str, hook: Option<&Hook>) {
    direct(c, dns);
    c.delivery.pools = vec![IpPoolConfig {
        name: "shared".into(),
        sources: vec!["127.0.0.2".into(), "127.0.0.3".into()],
        warmup: None,
    }];
    c.delivery.default_pool = Some("shared".into());
    c.delivery.providers = vec![ProviderRule {
        name: "dest".into(),
        mx_patterns: vec!["*.dest.test".into()],
        limits: ProviderLimits {
            max_connections_per_ip: 4,
            messages_per_connection: 100,
            messages_per_minute_per_ip: 1000,
            messages_per_hour_per_ip: 10_000,
        },
    }];
    c.delivery.dnsbl = vec![DnsblConfig {
        zone: zone.into(),
        listed: None,
        providers: None,
    }];
    c.delivery.dnsbl_interval = Duration::from_secs(1);
    c.delivery.adaptive.recheck = Duration::from_secs(1);
    if let Some(hook) = hook {
        c.delivery.operator_webhook_url = Some(hook.url());
        c.delivery.operator_webhook_secret = Some(SECRET.into());
    }
}

/// Every request a [`Hook`] received: headers and body.
type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A real HTTP server recording the operator webhooks it receives.
struct Hook {
    addr: SocketAddr,
    received: Received,
}

impl Hook {
    async fn start() -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .fallback(
                |State(r): State<Received>, headers: HeaderMap, body: Bytes| async move {
                    r.lock().unwrap().push((headers, body));
                    StatusCode::NO_CONTENT
                },
            )
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, received }
    }

    fn url(&self) -> String {
        format!("http://{}/operator", self.addr)
    }

    /// Waits for a webhook of type `kind`; checks its signature.
    async fn wait_for(&self, kind: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self.received.lock().unwrap().iter().find_map(|(h, body)| {
                let value: Value = serde_json::from_slice(body).unwrap();
                (value["type"] == kind).then(|| (h.clone(), body.clone(), value))
            });
            if let Some((headers, body, value)) = found {
                let header = |name: &str| headers[name].to_str().unwrap().to_string();
                let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
                let secret = sluice_wire::WebhookSecret::parse(SECRET).unwrap();
                sluice_wire::verify(
                    &[secret],
                    &header("webhook-id"),
                    timestamp,
                    &body,
                    &header("webhook-signature"),
                    time::OffsetDateTime::now_utc().unix_timestamp(),
                    Duration::from_secs(300),
                )
                .unwrap();
                assert_eq!(header("webhook-id"), value["data"]["event_id"]);
                return value;
            }
            assert!(Instant::now() < deadline, "no {kind} webhook arrived");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn admin_get(env: &TestEnv, path: &str) -> Value {
    let response = env
        .http
        .get(env.url(path))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    response.json().await.unwrap()
}

/// The admin view of `ip`'s blocklist state, once `done` holds for it.
async fn address_when(env: &TestEnv, ip: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let overview = admin_get(env, "/v1/admin/delivery").await;
        let address = overview["blocklist"]["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["ip"] == ip)
            .cloned();
        if let Some(address) = address.filter(|a| done(a)) {
            return address;
        }
        assert!(
            Instant::now() < deadline,
            "timed out; blocklist view: {:#}",
            overview["blocklist"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn metrics(env: &TestEnv) -> String {
    env.http
        .get(env.url("/metrics"))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Sends `count` messages, waits for every one to be delivered, and returns how
/// many connections each source address made (sink side).
async fn send_and_count(env: &TestEnv, key: &str, count: usize) -> (u64, u64) {
    let before = env.sink.source_ips();
    let mut ids = Vec::new();
    for i in 0..count {
        ids.push(
            env.send(key, simple_message(&format!("user{i}@dest.test")))
                .await,
        );
    }
    for id in &ids {
        env.wait_for_status(key, id, "delivered", Duration::from_secs(20))
            .await;
    }
    let after = env.sink.source_ips();
    let sent = |last: u8| {
        let ip = IpAddr::from([127, 0, 0, last]);
        after.get(&ip).copied().unwrap_or(0) - before.get(&ip).copied().unwrap_or(0)
    };
    (sent(2), sent(3))
}

#[tokio::test]
async fn a_listed_address_leaves_rotation_and_comes_back_once_delisted() {
    let dns = dest_dns().await;
    dns.set_a("2.0.0.127.zen-a.test", &[Ipv4Addr::new(127, 0, 0, 2)]);
    let hook = Hook::start().await;
    let env = TestEnv::start_with(Arc::new(AcceptAll), Roles::ALL, |c| {
        watched(c, &dns, "zen-a.test", Some(&hook))
    })
    .await;
    let key = env.ready_tenant().await;

    let listed = hook.wait_for("ip.listed").await;
    assert_eq!(listed["data"]["ip"], "127.0.0.2");
    assert_eq!(listed["data"]["zone"], "zen-a.test");
    assert_eq!(listed["data"]["answer"], "127.0.0.2");
    let two = address_when(&env, "127.0.0.2", |a| a["listed"] == true).await;
    assert_eq!(two["listings"][0]["zone"], "zen-a.test");
    assert_eq!(two["listings"][0]["answer"], "127.0.0.2");
    assert!(two["listings"][0]["since"].is_string());
    let three = address_when(&env, "127.0.0.3", |a| !a["checks"][0].is_null()).await;
    assert_eq!(three["listed"], false);
    assert_eq!(three["checks"][0]["result"], "not_listed");
    // Every worker process follows the listings within a second or so.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        metrics(&env)
            .await
            .contains(r#"sluice_dnsbl_listed{ip="127.0.0.2",zone="zen-a.test"} 1"#)
    );

    let (from_two, from_three) = send_and_count(&env, &key, 8).await;
    assert_eq!(
        (from_two, from_three),
        (0, 8),
        "the listed address stops sending; the other carries the mail"
    );

    // An operator's resume lifts suspensions, not listings.
    let resumed = env
        .admin_post(
            "/v1/admin/delivery/resume",
            serde_json::json!({"ip": "127.0.0.2"}),
        )
        .await;
    assert_eq!(resumed.status(), reqwest::StatusCode::NO_CONTENT);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (from_two, _) = send_and_count(&env, &key, 4).await;
    assert_eq!(from_two, 0, "resume does not clear a listing");

    dns.set_nxdomain("2.0.0.127.zen-a.test");
    let delisted = hook.wait_for("ip.delisted").await;
    assert_eq!(delisted["data"]["ip"], "127.0.0.2");
    assert_eq!(
        delisted["data"]["listed_since"],
        listed["data"]["listed_since"]
    );
    address_when(&env, "127.0.0.2", |a| a["listed"] == false).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (from_two, from_three) = send_and_count(&env, &key, 10).await;
    assert!(
        from_two >= 2 && from_three >= 2,
        "a delisted address is back in rotation: {from_two} / {from_three}"
    );
    assert!(
        metrics(&env)
            .await
            .contains(r#"sluice_dnsbl_listed{ip="127.0.0.2",zone="zen-a.test"} 0"#)
    );
    env.stop().await;
}

#[tokio::test]
async fn a_refused_query_or_a_failed_lookup_is_reported_not_a_listing() {
    let dns = dest_dns().await;
    // Spamhaus's answer to queries through a public resolver.
    dns.set_a("2.0.0.127.zen-b.test", &[Ipv4Addr::new(127, 255, 255, 254)]);
    dns.set_servfail("3.0.0.127.zen-b.test");
    let env = TestEnv::start_with(Arc::new(AcceptAll), Roles::ALL, |c| {
        watched(c, &dns, "zen-b.test", None)
    })
    .await;
    let key = env.ready_tenant().await;

    let two = address_when(&env, "127.0.0.2", |a| !a["checks"][0].is_null()).await;
    assert_eq!(two["listed"], false);
    assert_eq!(two["checks"][0]["result"], "refused");
    assert_eq!(two["checks"][0]["answer"], "127.255.255.254");
    let three = address_when(&env, "127.0.0.3", |a| !a["checks"][0].is_null()).await;
    assert_eq!(three["listed"], false);
    assert_eq!(three["checks"][0]["result"], "error");
    assert!(three["checks"][0]["error"].is_string());
    let overview = admin_get(&env, "/v1/admin/delivery").await;
    assert!(overview["blocklist"]["last_round_at"].is_string());
    assert_eq!(overview["dnsbl"][0]["zone"], "zen-b.test");

    let (from_two, from_three) = send_and_count(&env, &key, 10).await;
    assert!(
        from_two >= 2 && from_three >= 2,
        "both addresses keep sending: {from_two} / {from_three}"
    );
    env.stop().await;
}

#[tokio::test]
async fn when_every_address_is_listed_mail_waits_instead_of_bouncing() {
    let dns = dest_dns().await;
    dns.set_a("2.0.0.127.zen-c.test", &[Ipv4Addr::new(127, 0, 0, 4)]);
    dns.set_a("3.0.0.127.zen-c.test", &[Ipv4Addr::new(127, 0, 0, 2)]);
    let env = TestEnv::start_with(Arc::new(AcceptAll), Roles::ALL, |c| {
        watched(c, &dns, "zen-c.test", None)
    })
    .await;
    let key = env.ready_tenant().await;
    address_when(&env, "127.0.0.2", |a| a["listed"] == true).await;
    address_when(&env, "127.0.0.3", |a| a["listed"] == true).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let id = env.send(&key, simple_message("waiting@dest.test")).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let view = env.message(&key, &id).await;
    assert_eq!(view["status"], "queued", "{view:#}");
    assert_eq!(env.sink.count(), 0);

    dns.set_nxdomain("3.0.0.127.zen-c.test");
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(20))
        .await;
    let by_ip = env.sink.source_ips();
    assert_eq!(
        by_ip.get(&IpAddr::from([127, 0, 0, 3])),
        Some(&1),
        "{by_ip:?}"
    );
    env.stop().await;
}

#[tokio::test]
async fn of_two_worker_processes_one_looks_up_per_interval() {
    let dns = dest_dns().await;
    dns.set_a("2.0.0.127.zen-d.test", &[Ipv4Addr::new(127, 0, 0, 2)]);
    let env = TestEnv::start_with(Arc::new(AcceptAll), Roles::API, |c| direct(c, &dns)).await;
    let config_path = env.dir.path().join("sluice.toml");
    std::fs::write(
        &config_path,
        format!(
            r#"redis_url = "{redis}"
hostname = "mta.sluice.test"
workers = 4
dkim_key_encryption_key = "{kek}"

[delivery]
mx_port = {port}
dns_servers = ["{dns}"]
default_pool = "solo"
allow_private_mx = true
dnsbl_interval = "1s"

[[delivery.pools]]
name = "solo"
sources = ["127.0.0.2"]

[[delivery.dnsbl]]
zone = "zen-d.test"
listed = ["127.0.0.2"]
"#,
            redis = env.redis.url(),
            port = env.config.delivery.mx_port,
            dns = dns.addr(),
            kek = common::TEST_DKIM_KEK,
        ),
    )
    .unwrap();
    let spawn_worker = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("--config")
            .arg(&config_path)
            .arg("worker")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    };
    let (mut first, mut second) = (spawn_worker(), spawn_worker());
    let lookups = || {
        dns.queries()
            .iter()
            .filter(|(name, _)| name == "2.0.0.127.zen-d.test")
            .count()
    };
    let started = Instant::now() + Duration::from_secs(20);
    while lookups() == 0 {
        assert!(Instant::now() < started, "no lookup at all");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Both processes up: each keeps a liveness key fresh.
    let client = redis::Client::open(env.redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let registered = Instant::now() + Duration::from_secs(20);
    loop {
        let alive: Vec<String> = redis::cmd("KEYS")
            .arg("sluice:v1:{sluice:q0}:alive:*")
            .query_async(&mut conn)
            .await
            .unwrap();
        if alive.len() >= 2 {
            break;
        }
        assert!(
            Instant::now() < registered,
            "the second worker did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (window_start, before) = (Instant::now(), lookups());
    tokio::time::sleep(Duration::from_secs(6)).await;
    let counted = lookups() - before;
    let seconds = window_start.elapsed().as_secs_f64();
    // A round per interval (1 s) across both processes: about 6, never two a second.
    assert!(
        counted >= 3 && (counted as f64) <= seconds + 1.0,
        "{counted} lookups in {seconds:.1} s"
    );
    assert!(first.try_wait().unwrap().is_none() && second.try_wait().unwrap().is_none());
    let overview = admin_get(&env, "/v1/admin/delivery").await;
    let two = &overview["blocklist"]["addresses"][0];
    assert_eq!(two["ip"], "127.0.0.2");
    assert_eq!(two["listed"], true, "{overview:#}");
    first.kill().await.unwrap();
    second.kill().await.unwrap();
    env.stop().await;
}
