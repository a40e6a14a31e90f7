//! Source-address pools and provider rates for direct delivery: real SMTP from pool
//! addresses on loopback, a real DNS fixture, and a rate shared by two `sluice worker`
//! processes through one Redis.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sluice::config::{Config, IpPoolConfig};
use sluice::run::Roles;
use sluice_delivery::providers::{ProviderLimits, ProviderRule};
use sluice_smtp_server::AcceptAll;
use sluice_test_dns::DnsFixture;

use common::{TestEnv, direct, simple_message};

async fn dest_dns() -> DnsFixture {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_mx("dest.test", &[(10, "mx.dest.test")]);
    dns.set_a("mx.dest.test", &[Ipv4Addr::LOCALHOST]);
    dns
}

fn dest_provider(per_minute: u32) -> ProviderRule {
    ProviderRule {
        name: "dest".into(),
        mx_patterns: vec!["*.dest.test".into()],
        limits: ProviderLimits {
            max_connections_per_ip: 4,
            messages_per_connection: 100,
            messages_per_minute_per_ip: per_minute,
            messages_per_hour_per_ip: 10_000,
        },
    }
}

#[tokio::test]
async fn pool_addresses_take_turns_and_greet_with_their_own_names() {
    let dns = dest_dns().await;
    let env = TestEnv::start_with(Arc::new(AcceptAll), Roles::ALL, |c| {
        direct(c, &dns);
        c.delivery.pools = vec![IpPoolConfig {
            name: "shared".into(),
            sources: vec!["127.0.0.2".into(), "127.0.0.3".into()],
            warmup: None,
        }];
        c.delivery.default_pool = Some("shared".into());
        c.delivery
            .ehlo_names
            .insert("127.0.0.2".into(), "mta2.sluice.test".into());
        c.delivery.providers = vec![dest_provider(1000)];
    })
    .await;
    let key = env.ready_tenant().await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(
            env.send(&key, simple_message(&format!("user{i}@dest.test")))
                .await,
        );
    }
    for id in &ids {
        env.wait_for_status(&key, id, "delivered", Duration::from_secs(15))
            .await;
    }
    let by_ip = env.sink.source_ips();
    let from = |last: u8| {
        by_ip
            .get(&IpAddr::from([127, 0, 0, last]))
            .copied()
            .unwrap_or(0)
    };
    assert!(
        from(2) >= 2 && from(3) >= 2,
        "both pool addresses send: {by_ip:?}"
    );
    assert_eq!(from(2) + from(3), 10, "only pool addresses send: {by_ip:?}");
    for message in env.sink.messages() {
        let expected = if message.peer.ip() == IpAddr::from([127, 0, 0, 2]) {
            "mta2.sluice.test"
        } else {
            "mta.sluice.test"
        };
        assert_eq!(message.helo, expected);
    }
    env.stop().await;
}

#[tokio::test]
async fn a_provider_rate_holds_across_two_worker_processes() {
    let dns = dest_dns().await;
    // API only in this process; delivery by two separate `sluice worker` processes.
    let env = TestEnv::start_with(Arc::new(AcceptAll), Roles::API, |c| direct(c, &dns)).await;
    let key = env.ready_tenant().await;
    let per_minute: u64 = 5;
    let config_path = env.dir.path().join("sluice.toml");
    std::fs::write(
        &config_path,
        format!(
            r#"redis_url = "{redis}"
hostname = "mta.sluice.test"
workers = 8
dkim_key_encryption_key = "{kek}"

[delivery]
mx_port = {port}
dns_servers = ["{dns}"]
default_pool = "solo"
retry_schedule = ["1s"]
allow_private_mx = true

[[delivery.pools]]
name = "solo"
sources = ["127.0.0.2"]

[[delivery.providers]]
name = "dest"
mx_patterns = ["*.dest.test"]
max_connections_per_ip = 4
messages_per_connection = 100
messages_per_minute_per_ip = {per_minute}
messages_per_hour_per_ip = 10000
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

    let mut ids = Vec::new();
    for i in 0..15 {
        ids.push(
            env.send(&key, simple_message(&format!("user{i}@dest.test")))
                .await,
        );
    }
    // GCRA with burst = limit: 5 at once, then one every 12 s. Two processes that did
    // not share the budget would send 10 in the first seconds.
    assert!(
        env.sink
            .wait_for_count(per_minute, Duration::from_secs(20))
            .await,
        "sent {}",
        env.sink.count()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        env.sink.count(),
        per_minute,
        "the per-minute rate was exceeded"
    );

    let mut waiting = 0;
    for id in &ids {
        let view: Value = env.message(&key, id).await;
        if view["status"] == "queued" {
            waiting += 1;
            assert_eq!(
                view["attempts"], 0,
                "waiting for a throttle is not an attempt: {view:#}"
            );
            assert!(
                view["next_attempt_at"].is_string(),
                "a throttled message is parked: {view:#}"
            );
        }
    }
    assert_eq!(waiting, 15 - per_minute as usize);

    // Both processes took part: alive (their configuration was accepted) and both
    // registered as consumers of the stream.
    assert!(first.try_wait().unwrap().is_none() && second.try_wait().unwrap().is_none());
    let client = redis::Client::open(env.redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    // A process registers with its first read; on a loaded machine the second one
    // may still be starting when the first has sent everything the rate allows.
    let registered = Instant::now() + Duration::from_secs(15);
    let consumers = loop {
        let consumers: Vec<redis::Value> = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg("sluice:v1:{sluice:q0}:stream:transactional")
            .arg("workers")
            .query_async(&mut conn)
            .await
            .unwrap();
        if consumers.len() >= 2 || Instant::now() >= registered {
            break consumers;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(consumers.len(), 2, "two worker processes read the stream");
    first.kill().await.unwrap();
    second.kill().await.unwrap();
    env.stop().await;
}

/// Accepts TCP and never says anything: a destination that ties up connections.
struct Silent;

impl sluice_smtp_server::SinkBehavior for Silent {
    fn greeting(&self, _peer: &sluice_smtp_server::Peer) -> sluice_smtp_server::Reply {
        sluice_smtp_server::Reply::hang()
    }
}

#[tokio::test]
async fn a_silent_destination_ties_up_only_its_own_connections() {
    let dns = DnsFixture::start().await.unwrap();
    // Few workers and a long greeting timeout: without per-destination caps, mail to
    // the silent host would hold every worker and nothing else would move.
    let env = TestEnv::start_with(Arc::new(AcceptAll), Roles::ALL, |c| {
        direct(c, &dns);
        c.workers = 4;
        c.delivery.greeting_timeout = Duration::from_secs(60);
    })
    .await;
    let port = env.config.delivery.mx_port;
    let silent = sluice_smtp_server::SmtpSink::start(sluice_smtp_server::SinkConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 5], port)),
        behavior: Arc::new(Silent),
        ..Default::default()
    })
    .await
    .unwrap();
    dns.set_mx("silent.test", &[(10, "mx.silent.test")]);
    dns.set_a("mx.silent.test", &[Ipv4Addr::new(127, 0, 0, 5)]);
    dns.set_mx("healthy.test", &[(10, "mx.healthy.test")]);
    dns.set_a("mx.healthy.test", &[Ipv4Addr::LOCALHOST]);

    let key = env.ready_tenant().await;
    let mut stuck = Vec::new();
    for i in 0..10 {
        stuck.push(
            env.send(&key, simple_message(&format!("user{i}@silent.test")))
                .await,
        );
    }
    let mut healthy = Vec::new();
    for i in 0..20 {
        healthy.push(
            env.send(&key, simple_message(&format!("user{i}@healthy.test")))
                .await,
        );
    }
    for id in &healthy {
        env.wait_for_status(&key, id, "delivered", Duration::from_secs(20))
            .await;
    }
    assert_eq!(env.sink.count(), 20);
    assert_eq!(silent.count(), 0);
    for id in &stuck {
        let view = env.message(&key, id).await;
        assert_eq!(
            view["status"], "queued",
            "mail to the silent host waits: {view:#}"
        );
    }
    env.stop().await;
    silent.shutdown().await;
}

#[tokio::test]
async fn mail_waiting_for_a_busy_destination_goes_as_soon_as_a_connection_frees() {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_mx("narrow.test", &[(10, "mx.narrow.test")]);
    dns.set_a("mx.narrow.test", &[Ipv4Addr::LOCALHOST]);
    // One connection at a time: of a burst, all but one message find it busy and are
    // parked with a 30 s fallback. Only the release on each freed connection can
    // deliver the burst in well under that.
    let env = TestEnv::start_with(Arc::new(AcceptAll), Roles::ALL, |c| {
        direct(c, &dns);
        c.workers = 8;
        c.delivery.providers = vec![ProviderRule {
            name: "narrow".into(),
            mx_patterns: vec!["*.narrow.test".into()],
            limits: ProviderLimits {
                max_connections_per_ip: 1,
                messages_per_connection: 100,
                messages_per_minute_per_ip: 100_000,
                messages_per_hour_per_ip: 1_000_000,
            },
        }];
    })
    .await;
    let key = env.ready_tenant().await;
    // Due together, so the workers take them at once.
    let send_at = (time::OffsetDateTime::now_utc() + time::Duration::seconds(2))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..12 {
        let mut message = simple_message(&format!("user{i}@narrow.test"));
        message["send_at"] = send_at.clone().into();
        ids.push(env.send(&key, message).await);
    }
    for id in &ids {
        env.wait_for_status(&key, id, "delivered", Duration::from_secs(15))
            .await;
    }
    assert_eq!(env.sink.count(), 12);
    let metrics = env
        .http
        .get(env.url("/metrics"))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let parked: f64 = metrics
        .lines()
        .find(|l| l.starts_with("sluice_throttled_total{provider=\"narrow\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0);
    assert!(parked >= 1.0, "some of the burst had to wait:\n{metrics}");
    env.stop().await;
}

/// Answers `421 4.7.0` (and closes) to the first `n` recipients, then accepts.
struct ThrottleFirst(std::sync::atomic::AtomicUsize);

impl sluice_smtp_server::SinkBehavior for ThrottleFirst {
    fn rcpt_to(&self, _peer: &sluice_smtp_server::Peer, _rcpt: &str) -> sluice_smtp_server::Reply {
        let left = self.0.load(std::sync::atomic::Ordering::SeqCst);
        if left > 0 {
            self.0.store(left - 1, std::sync::atomic::Ordering::SeqCst);
            sluice_smtp_server::Reply::closing(421, "4.7.0 Rate limited, try again later")
        } else {
            sluice_smtp_server::Reply::ok()
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

async fn target(env: &TestEnv, name: &str) -> Option<Value> {
    let overview = admin_get(env, "/v1/admin/delivery").await;
    overview["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == name)
        .cloned()
}

fn shaped(c: &mut Config, dns: &DnsFixture) {
    direct(c, dns);
    c.delivery.pools = vec![IpPoolConfig {
        name: "solo".into(),
        sources: vec!["127.0.0.2".into()],
        warmup: None,
    }];
    c.delivery.default_pool = Some("solo".into());
    c.delivery.providers = vec![dest_provider(64)];
    c.delivery.adaptive.suspend_after = 3;
    c.delivery.adaptive.cooldown = Duration::from_secs(2);
    c.delivery.adaptive.increase_per_success = 8;
    c.delivery.adaptive.recheck = Duration::from_millis(500);
}

#[tokio::test]
async fn throttling_replies_slow_and_suspend_a_target_which_then_recovers() {
    let dns = dest_dns().await;
    let env = TestEnv::start_with(Arc::new(ThrottleFirst(3.into())), Roles::ALL, |c| {
        shaped(c, &dns)
    })
    .await;
    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("jane@dest.test")).await;

    // Three 421s in a row: 64 → 32 → 16 → 8 per minute, and a 2 s suspension.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let suspended = loop {
        if let Some(t) = target(&env, "127.0.0.2|dest").await
            && t["suspension"] == "adaptive"
        {
            break t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never suspended: {:#}",
            admin_get(&env, "/v1/admin/delivery").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(suspended["rate_per_minute"], 8, "{suspended:#}");
    let overview = admin_get(&env, "/v1/admin/delivery").await;
    assert_eq!(overview["pools"][0]["sources"][0]["ip"], "127.0.0.2");
    assert!(
        overview["providers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "gmail" && p["builtin"] == true)
    );

    // The suspension ends by itself; the delivery then succeeds and the rate climbs.
    let view = env
        .wait_for_status(&key, &id, "delivered", Duration::from_secs(20))
        .await;
    assert_eq!(
        view["attempts"], 4,
        "three throttled attempts and the delivery"
    );
    let recovered = target(&env, "127.0.0.2|dest").await.unwrap();
    assert_eq!(
        recovered["rate_per_minute"], 16,
        "additive increase after a clean delivery: {recovered:#}"
    );
    assert!(recovered["suspended_until"].is_null());
    let metrics = env
        .http
        .get(env.url("/metrics"))
        .bearer_auth(common::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The registry is process-wide: other tests in this binary may add to the count.
    let counted: f64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("sluice_throttling_replies_total{provider=\"dest\"} "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no throttling counter in:\n{metrics}"));
    assert!(counted >= 3.0, "{metrics}");
    env.stop().await;
}

#[tokio::test]
async fn operators_pause_and_resume_a_provider() {
    let dns = dest_dns().await;
    let env = TestEnv::start_with(Arc::new(AcceptAll), Roles::ALL, |c| shaped(c, &dns)).await;
    let key = env.ready_tenant().await;
    let pause = |body: Value, path: &'static str| {
        let env = &env;
        async move {
            env.http
                .post(env.url(path))
                .bearer_auth(common::ADMIN_TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let paused = pause(
        serde_json::json!({"provider": "dest", "minutes": 30}),
        "/v1/admin/delivery/pause",
    )
    .await;
    assert_eq!(paused.status(), reqwest::StatusCode::OK);
    let paused: Value = paused.json().await.unwrap();
    assert_eq!(paused["target"], "*|dest");
    assert_eq!(paused["suspension"], "manual");

    let id = env.send(&key, simple_message("jane@dest.test")).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let view = env.message(&key, &id).await;
    assert_eq!(view["status"], "queued", "{view:#}");
    assert_eq!(env.sink.count(), 0);

    let resumed = pause(
        serde_json::json!({"provider": "dest"}),
        "/v1/admin/delivery/resume",
    )
    .await;
    assert_eq!(resumed.status(), reqwest::StatusCode::NO_CONTENT);
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(10))
        .await;

    let invalid = pause(
        serde_json::json!({"minutes": 5}),
        "/v1/admin/delivery/pause",
    )
    .await;
    assert_eq!(invalid.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    env.stop().await;
}

fn yesterday() -> String {
    let date = (time::OffsetDateTime::now_utc() - time::Duration::days(1)).date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

#[tokio::test]
async fn warm_up_caps_each_address_and_the_pool_uses_the_one_with_headroom() {
    let dns = dest_dns().await;
    let env = TestEnv::start_with(Arc::new(AcceptAll), Roles::ALL, |c| {
        shaped(c, &dns);
        c.delivery.pools = vec![IpPoolConfig {
            name: "solo".into(),
            sources: vec!["127.0.0.2".into(), "127.0.0.3".into()],
            // Started yesterday: today is day 1, 3 messages per address and provider.
            warmup: Some(sluice::config::WarmupConfig {
                start: yesterday(),
                daily_caps: vec![10, 3, 100],
            }),
        }];
    })
    .await;
    let key = env.ready_tenant().await;
    for i in 0..8 {
        env.send(&key, simple_message(&format!("user{i}@dest.test")))
            .await;
    }
    assert!(
        env.sink.wait_for_count(6, Duration::from_secs(15)).await,
        "sent {}",
        env.sink.count()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(env.sink.count(), 6, "never more than the day's cap");
    let by_ip = env.sink.source_ips();
    assert_eq!(
        by_ip.get(&IpAddr::from([127, 0, 0, 2])),
        Some(&3),
        "{by_ip:?}"
    );
    assert_eq!(
        by_ip.get(&IpAddr::from([127, 0, 0, 3])),
        Some(&3),
        "{by_ip:?}"
    );
    // Operators see the schedule and where each (IP × provider) stands today.
    let overview = admin_get(&env, "/v1/admin/delivery").await;
    let source = &overview["pools"][0]["sources"][0];
    assert_eq!(source["warmup"]["start"], yesterday());
    assert_eq!(
        source["warmup"]["daily_caps"],
        serde_json::json!([10, 3, 100])
    );
    for ip in ["127.0.0.2", "127.0.0.3"] {
        let progress = overview["warmup"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["target"] == format!("{ip}|dest"))
            .unwrap_or_else(|| panic!("no warm-up progress for {ip}: {overview:#}"));
        assert_eq!(
            (&progress["day"], &progress["cap"], &progress["sent_today"]),
            (&1.into(), &3.into(), &3.into()),
            "{progress:#}"
        );
        assert_eq!(progress["setbacks"], 0);
    }
    env.stop().await;
}

#[tokio::test]
async fn a_provider_pushing_back_sets_the_warm_up_back_a_day() {
    let dns = dest_dns().await;
    let env = TestEnv::start_with(Arc::new(ThrottleFirst(1.into())), Roles::ALL, |c| {
        shaped(c, &dns);
        c.workers = 1;
        c.delivery.adaptive.suspend_after = 100;
        c.delivery.pools = vec![IpPoolConfig {
            name: "solo".into(),
            sources: vec!["127.0.0.2".into()],
            // Day 1 allows 4; after a throttled day the ramp is back at day 0: 2.
            warmup: Some(sluice::config::WarmupConfig {
                start: yesterday(),
                daily_caps: vec![2, 4, 100],
            }),
        }];
    })
    .await;
    let key = env.ready_tenant().await;
    for i in 0..5 {
        env.send(&key, simple_message(&format!("user{i}@dest.test")))
            .await;
    }
    // The throttled attempt used one of today's messages, one more fits under day 0's cap.
    assert!(env.sink.wait_for_count(1, Duration::from_secs(15)).await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        env.sink.count(),
        1,
        "the ramp stepped back from 4 to 2 a day"
    );
    let overview = admin_get(&env, "/v1/admin/delivery").await;
    let progress = &overview["warmup"][0];
    assert_eq!(progress["target"], "127.0.0.2|dest", "{overview:#}");
    assert_eq!(
        (&progress["day"], &progress["cap"], &progress["setbacks"]),
        (&0.into(), &2.into(), &1.into()),
        "{progress:#}"
    );
    env.stop().await;
}

#[tokio::test]
async fn a_tenant_can_be_given_its_own_pool_per_stream() {
    let dns = dest_dns().await;
    let env = TestEnv::start_with(Arc::new(AcceptAll), Roles::ALL, |c| {
        direct(c, &dns);
        c.delivery.providers = vec![dest_provider(1000)];
        c.delivery.pools = vec![
            IpPoolConfig {
                name: "shared".into(),
                sources: vec!["127.0.0.2".into()],
                warmup: None,
            },
            IpPoolConfig {
                name: "dedicated".into(),
                sources: vec!["127.0.0.7".into()],
                warmup: None,
            },
        ];
        c.delivery.default_pool = Some("shared".into());
    })
    .await;
    let (tenant, key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    assert_eq!(
        env.post(
            &key,
            "/v1/domains",
            serde_json::json!({"name": "acme.test"})
        )
        .await
        .status(),
        201
    );
    let patch = |body: Value| {
        let (env, tenant) = (&env, &tenant);
        async move {
            env.http
                .patch(env.url(&format!("/v1/admin/tenants/{tenant}")))
                .bearer_auth(common::ADMIN_TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let unknown = patch(serde_json::json!({"pools": {"bulk": "nope"}})).await;
    assert_eq!(unknown.status(), 422);
    let updated = patch(serde_json::json!({"pools": {"bulk": "dedicated"}})).await;
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["pools"], serde_json::json!({"bulk": "dedicated"}));

    let mut bulk = simple_message("fan@dest.test");
    bulk["stream"] = serde_json::json!("bulk");
    let bulk = env.send(&key, bulk).await;
    let otp = env.send(&key, simple_message("otp@dest.test")).await;
    env.wait_for_status(&key, &bulk, "delivered", Duration::from_secs(15))
        .await;
    env.wait_for_status(&key, &otp, "delivered", Duration::from_secs(15))
        .await;
    let from = |rcpt: &str| {
        env.sink
            .messages()
            .iter()
            .find(|m| m.rcpt_to == [rcpt])
            .unwrap()
            .peer
            .ip()
    };
    assert_eq!(from("fan@dest.test"), IpAddr::from([127, 0, 0, 7]));
    assert_eq!(from("otp@dest.test"), IpAddr::from([127, 0, 0, 2]));
    let overview = admin_get(&env, "/v1/admin/delivery").await;
    assert_eq!(
        overview["pools"].as_array().unwrap().len(),
        2,
        "every pool is listed"
    );
    env.stop().await;
}

/// Refuses the first `n` sessions at the greeting with `421 4.7.0`, then greets.
struct BusyAtGreeting(std::sync::atomic::AtomicUsize);

impl sluice_smtp_server::SinkBehavior for BusyAtGreeting {
    fn greeting(&self, _peer: &sluice_smtp_server::Peer) -> sluice_smtp_server::Reply {
        let left = self.0.load(std::sync::atomic::Ordering::SeqCst);
        if left > 0 {
            self.0.store(left - 1, std::sync::atomic::Ordering::SeqCst);
            sluice_smtp_server::Reply::closing(421, "4.7.0 Try again later, closing connection")
        } else {
            sluice_smtp_server::Reply::new(220, "ESMTP ready")
        }
    }
}

#[tokio::test]
async fn a_421_greeting_also_slows_the_target() {
    let dns = dest_dns().await;
    let env = TestEnv::start_with(Arc::new(BusyAtGreeting(1.into())), Roles::ALL, |c| {
        shaped(c, &dns)
    })
    .await;
    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("jane@dest.test")).await;
    let view = env
        .wait_for_status(&key, &id, "delivered", Duration::from_secs(15))
        .await;
    assert_eq!(
        view["attempts"], 2,
        "refused at the greeting once, then delivered"
    );
    // 64 halved by the refusal, then +8 for the clean delivery.
    let learned = target(&env, "127.0.0.2|dest").await.unwrap();
    assert_eq!(learned["rate_per_minute"], 40, "{learned:#}");
    env.stop().await;
}
