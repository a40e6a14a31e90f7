//! What a 202 promises, against real redis-servers: Sluice refuses to start on an
//! evicting Redis or one with less persistence than `durability.mode` asks for,
//! `/readyz` notices a policy changed at run time, a full Redis (noeviction) answers
//! 503 and loses none of the mail it accepted, and `replicas` mode answers 202 only
//! once a replica has the message.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{TestEnv, simple_message, test_config};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sluice::config::{Config, DurabilityMode};
use sluice::run::{self, Roles};
use sluice_smtp_server::{
    AcceptAll, DeliverFuture, Peer, ReceivedMessage, Reply, SinkBehavior, SinkConfig, SmtpSink,
};
use sluice_store::embedded::EmbeddedRedis;

/// A TestEnv on a Redis started with `redis_args` (AOF on, as the default mode needs).
async fn env_on(
    redis_args: &[&str],
    behavior: Arc<dyn SinkBehavior>,
    tweak: impl FnOnce(&mut Config),
) -> TestEnv {
    let dir = tempfile::tempdir().unwrap();
    let redis = EmbeddedRedis::start_with_args(&dir.path().join("redis"), true, redis_args)
        .await
        .unwrap();
    let sink = SmtpSink::start(SinkConfig {
        behavior,
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    let mut config = test_config(&redis.url(), sink.local_addr());
    tweak(&mut config);
    let running = run::start(&config, Roles::ALL).await.unwrap();
    let base = format!("http://{}", running.api_addr.unwrap());
    sluice_events::install_tls_provider();
    TestEnv {
        dir,
        redis: common::TestRedis::Single(redis),
        sink,
        config,
        running: Some(running),
        base,
        http: Client::new(),
    }
}

/// `run::start`'s error against a Redis started with `redis_args`.
async fn refusal(persist: bool, redis_args: &[&str], tweak: impl FnOnce(&mut Config)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let redis = EmbeddedRedis::start_with_args(dir.path(), persist, redis_args)
        .await
        .unwrap();
    let mut config = test_config(&redis.url(), "127.0.0.1:9".parse().unwrap());
    tweak(&mut config);
    let error = match run::start(&config, Roles::ALL).await {
        Ok(running) => {
            running.stop().await.unwrap();
            panic!("started against redis-server {redis_args:?}");
        }
        Err(error) => format!("{error:#}"),
    };
    redis.stop().await;
    error
}

/// `len` random letters, digits, `+` and `/`: text that compresses to about 3/4.
fn noise(len: usize) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..len)
        .map(|_| char::from(ALPHABET[usize::from(rand::random::<u8>() % 64)]))
        .collect()
}

async fn redis_cmd<T: redis::FromRedisValue>(url: &str, args: &[&str]) -> T {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(&mut conn).await.unwrap()
}

#[tokio::test]
async fn an_evicting_redis_is_refused_at_start() {
    for policy in ["allkeys-lru", "volatile-lru"] {
        let error = refusal(true, &["--maxmemory-policy", policy], |_| {}).await;
        assert!(
            error.contains("maxmemory-policy") && error.contains(policy),
            "{error}"
        );
        assert!(error.contains("noeviction"), "names the fix: {error}");
    }
    // Whatever the durability mode: eviction loses mail even without persistence.
    let error = refusal(false, &["--maxmemory-policy", "volatile-ttl"], |c| {
        c.durability.mode = DurabilityMode::None;
    })
    .await;
    assert!(error.contains("maxmemory-policy"), "{error}");
}

#[tokio::test]
async fn each_mode_requires_its_persistence() {
    // `fsync` against the default `appendfsync everysec`.
    let error = refusal(true, &[], |c| c.durability.mode = DurabilityMode::Fsync).await;
    assert!(
        error.contains("appendfsync") && error.contains("everysec"),
        "{error}"
    );
    assert!(error.contains("SLUICE_DURABILITY_MODE"), "{error}");
    // `local` (the default) without the append-only file.
    let error = refusal(false, &[], |_| {}).await;
    assert!(error.contains("appendonly"), "{error}");

    // `fsync` with `appendfsync always` starts and accepts mail.
    let env = env_on(&["--appendfsync", "always"], Arc::new(AcceptAll), |c| {
        c.durability.mode = DurabilityMode::Fsync;
    })
    .await;
    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("a@dest.test")).await;
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(20))
        .await;
    env.stop().await;
}

#[tokio::test]
async fn readyz_turns_503_when_the_policy_changes_at_run_time() {
    let env = env_on(&[], Arc::new(AcceptAll), |c| {
        c.durability.check_interval = Duration::from_millis(200);
    })
    .await;
    let readyz = || env.http.get(env.url("/readyz")).send();
    assert_eq!(readyz().await.unwrap().status(), StatusCode::OK);

    let url = env.redis.url();
    let _: () = redis_cmd(&url, &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]).await;
    let changed = Instant::now();
    let body = loop {
        let response = readyz().await.unwrap();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            break common::problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(10),
            "/readyz still 200"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(body["type"], "urn:sluice:problem:not-ready");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("maxmemory-policy") && detail.contains("allkeys-lru"),
        "{detail}"
    );
    println!(
        "/readyz turned 503 {:?} after CONFIG SET",
        changed.elapsed()
    );

    let _: () = redis_cmd(&url, &["CONFIG", "SET", "maxmemory-policy", "noeviction"]).await;
    let restored = Instant::now();
    while readyz().await.unwrap().status() != StatusCode::OK {
        assert!(
            restored.elapsed() < Duration::from_secs(10),
            "not ready again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    env.stop().await;
}

/// A slow destination: every message takes a while to be accepted, so mail piles up
/// in Redis while the senders go on.
struct SlowSink(Duration);

impl SinkBehavior for SlowSink {
    fn deliver<'a>(&'a self, _peer: &'a Peer, msg: &'a ReceivedMessage) -> DeliverFuture<'a> {
        let reply = Reply::new(250, format!("2.0.0 Ok: queued as {}", msg.id));
        let wait = self.0;
        Box::pin(async move {
            tokio::time::sleep(wait).await;
            reply
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_redis_answers_503_and_keeps_every_202() {
    let env = Arc::new(
        env_on(
            &["--maxmemory", "64mb", "--maxmemory-policy", "noeviction"],
            Arc::new(SlowSink(Duration::from_millis(100))),
            |c| c.workers = 8,
        )
        .await,
    );
    let key = env.ready_tenant().await;
    // 64 KB of text per message, random (bodies are stored compressed and a
    // common content once): a few hundred waiting messages fill 64 MB.
    let full = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut senders = Vec::new();
    for sender in 0..16 {
        let (env, key, full) = (env.clone(), key.clone(), full.clone());
        senders.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            let mut statuses: BTreeMap<u16, u32> = BTreeMap::new();
            let mut refusals = 0;
            for n in 0.. {
                // Stop a little after Redis is full (or if it never fills).
                if refusals >= 5 || started.elapsed() > Duration::from_secs(90) {
                    break;
                }
                let body = json!({
                    "from": "Acme <noreply@acme.test>",
                    "to": [format!("s{sender}n{n}@dest.test")],
                    "subject": "filling",
                    "text": noise(64_000),
                });
                let response = env.post(&key, "/v1/messages", body).await;
                let status = response.status();
                *statuses.entry(status.as_u16()).or_default() += 1;
                match status {
                    StatusCode::ACCEPTED => {
                        let body: Value = response.json().await.unwrap();
                        accepted.push(body["id"].as_str().unwrap().to_string());
                    }
                    StatusCode::SERVICE_UNAVAILABLE => {
                        assert!(response.headers().contains_key("retry-after"));
                        let problem =
                            common::problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
                        assert_eq!(problem["type"], "urn:sluice:problem:unavailable");
                        full.store(true, Ordering::SeqCst);
                        refusals += 1;
                    }
                    other => {
                        let text = response.text().await.unwrap_or_default();
                        panic!("send answered {other}: {text}");
                    }
                }
            }
            (accepted, statuses)
        }));
    }
    let mut accepted = Vec::new();
    let mut statuses: BTreeMap<u16, u32> = BTreeMap::new();
    for sender in senders {
        let (ids, counts) = sender.await.unwrap();
        accepted.extend(ids);
        for (status, count) in counts {
            *statuses.entry(status).or_default() += count;
        }
    }
    let fill_time = started.elapsed();
    println!(
        "sends: {statuses:?} in {fill_time:?}; {} accepted",
        accepted.len()
    );
    assert!(
        full.load(Ordering::SeqCst),
        "Redis never filled: {statuses:?}"
    );
    assert!(!statuses.contains_key(&500), "{statuses:?}");

    // Every 202 is readable at once, full Redis or not…
    for id in &accepted {
        let response = env.get(&key, &format!("/v1/messages/{id}")).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "message {id} after a 202"
        );
    }
    // …and reaches the sink.
    let deadline = Instant::now() + Duration::from_secs(180);
    let wanted: BTreeSet<String> = accepted.iter().cloned().collect();
    let mut missing = wanted.clone();
    while !missing.is_empty() {
        for message in env.sink.messages() {
            let head =
                String::from_utf8_lossy(&message.data[..message.data.len().min(4096)]).to_string();
            missing.retain(|id| !head.contains(&format!("<{id}@acme.test>")));
        }
        if missing.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            let memory: String = redis_cmd(&env.redis.url(), &["INFO", "memory"]).await;
            let used: Vec<&str> = memory
                .lines()
                .filter(|l| l.starts_with("used_memory:") || l.starts_with("maxmemory:"))
                .collect();
            let example = missing.iter().next().unwrap();
            let view = env.message(&key, example).await;
            panic!(
                "{} of {} accepted messages never reached the sink; Redis {used:?}; e.g. {example}: {}",
                missing.len(),
                wanted.len(),
                view["status"]
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "all {} accepted messages delivered {:?} after the sends ended; sink received {}",
        wanted.len(),
        started.elapsed() - fill_time,
        env.sink.count()
    );
    for id in &accepted {
        env.wait_for_status(&key, id, "delivered", Duration::from_secs(30))
            .await;
    }
    let env = Arc::into_inner(env).unwrap();
    env.stop().await;
}

#[tokio::test]
async fn every_write_route_answers_503_while_redis_refuses_writes() {
    let env = env_on(&[], Arc::new(AcceptAll), |_| {}).await;
    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("before@dest.test")).await;
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(20))
        .await;

    // A limit below what Redis already holds: with noeviction, every write that could
    // grow memory is refused with "OOM command not allowed".
    let url = env.redis.url();
    let _: () = redis_cmd(&url, &["CONFIG", "SET", "maxmemory", "1"]).await;
    let batch =
        json!({"messages": [simple_message("b1@dest.test"), simple_message("b2@dest.test")]});
    for (path, body) in [
        ("/v1/messages", simple_message("full@dest.test")),
        ("/v1/messages/batch", batch),
        (
            "/v1/suppressions",
            json!({"address": "someone@example.com"}),
        ),
    ] {
        let response = env.post(&key, path, body).await;
        assert!(response.headers().contains_key("retry-after"), "{path}");
        let problem = common::problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(problem["type"], "urn:sluice:problem:unavailable", "{path}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("out of memory"),
            "{path}: {problem}"
        );
    }
    let response = env
        .admin_post("/v1/admin/tenants", json!({"name": "late"}))
        .await;
    common::problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    // Reading still works: what was accepted stays visible.
    assert_eq!(env.message(&key, &id).await["status"], "delivered");

    let _: () = redis_cmd(&url, &["CONFIG", "SET", "maxmemory", "0"]).await;
    env.send(&key, simple_message("after@dest.test")).await;
    env.stop().await;
}

/// Waits until the primary at `url` sees `count` replicas online.
async fn wait_for_replicas(url: &str, count: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info: String = redis_cmd(url, &["INFO", "replication"]).await;
        let online = info
            .lines()
            .filter(|l| l.starts_with("slave") && l.contains("state=online"))
            .count() as u32;
        if online >= count {
            return;
        }
        assert!(Instant::now() < deadline, "replica never online: {info}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_replica(dir: &std::path::Path, primary_port: u16) -> EmbeddedRedis {
    let port = primary_port.to_string();
    EmbeddedRedis::start_with_args(dir, true, &["--replicaof", "127.0.0.1", &port])
        .await
        .unwrap()
}

#[tokio::test]
async fn replicas_mode_answers_202_only_once_a_replica_has_the_message() {
    let env = env_on(&[], Arc::new(AcceptAll), |c| {
        c.durability.mode = DurabilityMode::Replicas;
        c.durability.replicas = 1;
        c.durability.replica_timeout = Duration::from_secs(1);
    })
    .await;
    let replica_dir = env.dir.path().join("replica");
    let replica = start_replica(&replica_dir, env.redis.port()).await;
    wait_for_replicas(&env.redis.url(), 1).await;
    let key = env.ready_tenant().await;

    let sent = Instant::now();
    let id = env.send(&key, simple_message("a@dest.test")).await;
    println!("202 with one replica acknowledging in {:?}", sent.elapsed());
    let on_replica: BTreeMap<String, Vec<u8>> = redis_cmd(
        &replica.url(),
        &["HGETALL", &format!("sluice:v1:{{sluice:q0}}:msg:{id}")],
    )
    .await;
    assert!(!on_replica.is_empty(), "the replica has the record");

    // Without the replica: the write is made, the acknowledgement never comes.
    replica.stop().await;
    let send_once = || {
        env.http
            .post(env.url("/v1/messages"))
            .bearer_auth(&key)
            .header("Idempotency-Key", "order-42")
            .json(&simple_message("b@dest.test"))
            .send()
    };
    let sent = Instant::now();
    let response = send_once().await.unwrap();
    let waited = sent.elapsed();
    assert!(response.headers().contains_key("retry-after"));
    let problem = common::problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(problem["type"], "urn:sluice:problem:not-replicated");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key"),
        "{problem}"
    );
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "answered after {waited:?} with a 1 s replica timeout"
    );
    println!("503 not-replicated after {waited:?} (replica_timeout 1s)");

    // A replica again: the retry with the same key finds the message stored the
    // first time, now acknowledged, and it is delivered once.
    let replica = start_replica(&replica_dir, env.redis.port()).await;
    wait_for_replicas(&env.redis.url(), 1).await;
    let response = send_once().await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(response.headers()["idempotent-replayed"], "true");
    let retried: Value = response.json().await.unwrap();
    let retried = retried["id"].as_str().unwrap().to_string();
    env.wait_for_status(&key, &retried, "delivered", Duration::from_secs(20))
        .await;
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(20))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(env.sink.count(), 2, "each message delivered once");
    replica.stop().await;
    env.stop().await;
}

#[tokio::test]
async fn a_batch_cut_short_by_redis_keeps_what_it_stored_and_says_which_were_not() {
    let env = env_on(&[], Arc::new(AcceptAll), |_| {}).await;
    let key = env.ready_tenant().await;
    let url = env.redis.url();
    // Room for the first chunk (100 messages of 30 KB of random text, ~23 KB each
    // once compressed: one script call of ~2.3 MB whose arguments count while they
    // wait in Redis's query buffer) to start, not for the second: the first call
    // takes Redis past its limit, the second is refused.
    let info: String = redis_cmd(&url, &["INFO", "memory"]).await;
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let limit = (used + 3 * 1024 * 1024).to_string();
    let _: () = redis_cmd(&url, &["CONFIG", "SET", "maxmemory", &limit]).await;
    let messages: Vec<serde_json::Value> = (0..250)
        .map(|i| {
            json!({"from": "Acme <noreply@acme.test>", "to": [format!("u{i}@dest.test")],
                   "subject": "Hello", "text": noise(30_000)})
        })
        .collect();
    let response = env
        .post(&key, "/v1/messages/batch", json!({ "messages": messages }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    let results = body["results"].as_array().unwrap();
    let _: () = redis_cmd(&url, &["CONFIG", "SET", "maxmemory", "0"]).await;
    assert_eq!(results.len(), 250);
    let stored: Vec<&str> = results
        .iter()
        .take_while(|r| r["id"].is_string())
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        stored.len(),
        100,
        "the first chunk is stored: {}",
        results[0]
    );
    for refused in &results[100..] {
        assert_eq!(refused["status"], 503, "{refused}");
        assert_eq!(
            refused["type"], "urn:sluice:problem:unavailable",
            "{refused}"
        );
    }
    // What was stored is delivered; what was refused never is.
    for id in &stored {
        env.wait_for_status(&key, id, "delivered", Duration::from_secs(30))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        env.sink.count(),
        100,
        "only the 100 stored messages were sent"
    );
}
