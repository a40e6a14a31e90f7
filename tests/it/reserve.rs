//! Capacity held back for transactional mail: with bulk deliveries holding every
//! worker slot or connection they may (a sink that keeps each bulk message for
//! seconds), an OTP still goes out at once; with no OTP about, bulk borrows part of
//! the reserve. Bounds are generous against the sink's hold (an OTP that had to wait
//! for bulk would take the whole hold), so a loaded machine does not fail them.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use sluice::config::Config;
use sluice::run::Roles;
use sluice_delivery::providers::{ProviderLimits, ProviderRule};
use sluice_smtp_server::{DeliverFuture, Peer, ReceivedMessage, Reply, SinkBehavior};
use sluice_test_dns::DnsFixture;

use common::{TestEnv, bulk, direct, simple_message};

/// How long the sink keeps each bulk message before its 250.
const HOLD: Duration = Duration::from_secs(3);
/// An OTP that waited for a bulk delivery would take about `HOLD`.
const OTP_BOUND: Duration = Duration::from_millis(1500);

/// Keeps recipients whose local part starts with `slow` for [`HOLD`], counting how
/// many it keeps at once; notes when every other recipient arrived.
#[derive(Default)]
struct SlowBulk {
    held: AtomicUsize,
    most_held: AtomicUsize,
    bulk_done: AtomicUsize,
    arrivals: Mutex<HashMap<String, Instant>>,
}

impl SinkBehavior for SlowBulk {
    fn deliver<'a>(&'a self, _peer: &'a Peer, msg: &'a ReceivedMessage) -> DeliverFuture<'a> {
        Box::pin(async move {
            if msg.rcpt_to.iter().any(|r| r.starts_with("slow")) {
                let now = self.held.fetch_add(1, Ordering::SeqCst) + 1;
                self.most_held.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(HOLD).await;
                self.held.fetch_sub(1, Ordering::SeqCst);
                self.bulk_done.fetch_add(1, Ordering::SeqCst);
            } else {
                let mut arrivals = self.arrivals.lock().unwrap();
                for rcpt in &msg.rcpt_to {
                    arrivals.insert(rcpt.clone(), Instant::now());
                }
            }
            Reply::new(250, format!("2.0.0 Ok: queued as {}", msg.id))
        })
    }
}

async fn start(sink: &Arc<SlowBulk>, tweak: impl FnOnce(&mut Config)) -> (TestEnv, String) {
    let env = TestEnv::start_with(sink.clone(), Roles::ALL, tweak).await;
    let key = env.ready_tenant().await;
    (env, key)
}

/// Queues `count` bulk messages to `slow<i>@<domain>`.
async fn queue_slow_bulk(env: &TestEnv, key: &str, domain: &str, count: usize) {
    let messages: Vec<_> = (0..count)
        .map(|i| bulk(&format!("slow{i}@{domain}")))
        .collect();
    let response = env
        .post(key, "/v1/messages/batch", json!({ "messages": messages }))
        .await;
    assert!(response.status().is_success());
}

/// Waits until the sink keeps `n` bulk messages at once.
async fn until_held(sink: &SlowBulk, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while sink.held.load(Ordering::SeqCst) < n {
        assert!(
            Instant::now() < deadline,
            "bulk never reached {n} at once (now {})",
            sink.held.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends an OTP to `to` and returns how long it took from the request to the sink,
/// failing after `OTP_BOUND` plus the hold (so a failure says how late it was).
async fn otp_latency(env: &TestEnv, key: &str, sink: &SlowBulk, to: &str) -> Duration {
    let started = Instant::now();
    env.send(key, simple_message(to)).await;
    let deadline = started + OTP_BOUND + HOLD * 2;
    loop {
        if let Some(at) = sink.arrivals.lock().unwrap().get(to) {
            return *at - started;
        }
        assert!(Instant::now() < deadline, "the OTP never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn an_otp_goes_out_while_bulk_holds_every_worker_slot_it_may() {
    let sink = Arc::new(SlowBulk::default());
    // Four slots, two reserved: bulk borrows one of them and holds three.
    let (env, key) = start(&sink, |c| {
        c.workers = 4;
        c.delivery.transactional_reserve = Some(2);
    })
    .await;
    queue_slow_bulk(&env, &key, "bulk.test", 12).await;
    until_held(&sink, 3).await;
    let latency = otp_latency(&env, &key, &sink, "otp@people.test").await;
    assert!(
        latency < OTP_BOUND,
        "the OTP waited for a bulk slot: {latency:?}"
    );
    assert_eq!(
        sink.bulk_done.load(Ordering::SeqCst),
        0,
        "no bulk delivery had finished: the OTP did not take a freed slot"
    );
    assert_eq!(
        sink.most_held.load(Ordering::SeqCst),
        3,
        "bulk never takes the unlent half of the reserve"
    );
    env.stop().await;
}

#[tokio::test]
async fn the_idle_reserve_is_lent_to_bulk() {
    let sink = Arc::new(SlowBulk::default());
    // Eight slots, four reserved: with no OTP about, bulk holds 8 − 4 + 2 of them.
    let (env, key) = start(&sink, |c| {
        c.workers = 8;
        c.delivery.transactional_reserve = Some(4);
    })
    .await;
    queue_slow_bulk(&env, &key, "bulk.test", 12).await;
    let deadline = Instant::now() + HOLD * 6;
    while sink.bulk_done.load(Ordering::SeqCst) < 12 {
        assert!(Instant::now() < deadline, "the bulk mail never all arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sink.most_held.load(Ordering::SeqCst),
        6,
        "bulk borrows half the idle reserve, and no more"
    );
    env.stop().await;
}

#[tokio::test]
async fn an_otp_gets_a_relay_connection_that_bulk_keeps_busy() {
    let sink = Arc::new(SlowBulk::default());
    // Two connections to the relay, one reserved: bulk queues for the other.
    let (env, key) = start(&sink, |c| {
        c.workers = 8;
        c.delivery.max_connections = 2;
    })
    .await;
    queue_slow_bulk(&env, &key, "bulk.test", 4).await;
    until_held(&sink, 1).await;
    // Let the other bulk deliveries queue at the pool behind the busy connection.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let latency = otp_latency(&env, &key, &sink, "otp@people.test").await;
    assert!(
        latency < OTP_BOUND,
        "the OTP waited for a bulk connection: {latency:?}"
    );
    assert_eq!(sink.bulk_done.load(Ordering::SeqCst), 0);
    assert_eq!(sink.most_held.load(Ordering::SeqCst), 1);
    env.stop().await;
}

#[tokio::test]
async fn an_otp_is_not_parked_behind_bulk_at_a_providers_connection_cap() {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_mx("dest.test", &[(10, "mx.dest.test")]);
    dns.set_a("mx.dest.test", &[Ipv4Addr::LOCALHOST]);
    let sink = Arc::new(SlowBulk::default());
    let (env, key) = start(&sink, |c| {
        direct(c, &dns);
        c.workers = 8;
        c.delivery.providers = vec![ProviderRule {
            name: "dest".into(),
            mx_patterns: vec!["*.dest.test".into()],
            limits: ProviderLimits {
                max_connections_per_ip: 2,
                messages_per_connection: 100,
                messages_per_minute_per_ip: 1000,
                messages_per_hour_per_ip: 10_000,
            },
        }];
    })
    .await;
    queue_slow_bulk(&env, &key, "dest.test", 4).await;
    until_held(&sink, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The same provider: bulk holds one of its two connections, the other is the OTP's.
    let latency = otp_latency(&env, &key, &sink, "otp@dest.test").await;
    assert!(
        latency < OTP_BOUND,
        "the OTP waited behind bulk at the provider's cap: {latency:?}"
    );
    assert_eq!(sink.bulk_done.load(Ordering::SeqCst), 0);
    assert_eq!(sink.most_held.load(Ordering::SeqCst), 1);
    env.stop().await;
}
