//! `/metrics`: the token on the API port, the metrics-only listener of a worker-only
//! process (the real binary), and queue gauges that never walk the keyspace.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::sluice_process;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use sluice::config::Secret;
use sluice::run::Roles;
use sluice_process::{SluiceProcess, base_env};
use sluice_smtp_server::AcceptAll;

use common::{ADMIN_TOKEN, TestEnv, simple_message};

const METRICS_TOKEN: &str = "metrics-token-0123456789";

const API_ONLY: Roles = Roles::API;

async fn scrape(http: &reqwest::Client, url: &str, token: Option<&str>) -> reqwest::Response {
    let request = http.get(url);
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.unwrap()
}

async fn assert_problem(response: reqwest::Response, status: StatusCode, kind: &str) {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], format!("urn:sluice:problem:{kind}"));
}

#[tokio::test]
async fn scrapes_on_the_api_port_need_the_metrics_token() {
    let env = TestEnv::start_with(Arc::new(AcceptAll), API_ONLY, |config| {
        config.metrics.token = Some(Secret::new(METRICS_TOKEN));
    })
    .await;
    let url = env.url("/metrics");
    assert_problem(
        scrape(&env.http, &url, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // With a metrics token set, the admin token is not it.
    assert_problem(
        scrape(&env.http, &url, Some(ADMIN_TOKEN)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let response = scrape(&env.http, &url, Some(METRICS_TOKEN)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains("sluice_queue_depth{queue=\"transactional\"} 0"),
        "{text}"
    );

    // Without a metrics token, the admin token scrapes.
    let fallback = env
        .start_roles(API_ONLY, |config| config.metrics.token = None)
        .await;
    let url = format!("http://{}/metrics", fallback.api_addr.unwrap());
    let response = scrape(&env.http, &url, Some(ADMIN_TOKEN)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_problem(
        scrape(&env.http, &url, Some(METRICS_TOKEN)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    fallback.stop().await.unwrap();

    // With neither, the route is off on the API port.
    let closed = env
        .start_roles(API_ONLY, |config| {
            config.metrics.token = None;
            config.admin_token = None;
        })
        .await;
    let url = format!("http://{}/metrics", closed.api_addr.unwrap());
    assert_problem(
        scrape(&env.http, &url, Some(ADMIN_TOKEN)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    closed.stop().await.unwrap();
    env.stop().await;
}

/// `calls` of each command in `INFO commandstats`.
async fn command_calls(redis_url: &str, command: &str) -> u64 {
    let client = redis::Client::open(redis_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn queue_gauges_are_sampled_without_scan_at_most_every_five_seconds() {
    let env = TestEnv::start_with(Arc::new(AcceptAll), API_ONLY, |_| {}).await;
    let key = env.ready_tenant().await;
    env.send(&key, simple_message("jane@example.com")).await;
    let redis = env.redis.url();
    // What the sampler reads works before any worker has created the consumer group.
    let store = sluice_store::Store::connect(&redis, Duration::from_secs(3600))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let depth = store.queue_depth().await.unwrap();
    assert_eq!((depth.transactional, depth.in_flight), (1, 0));
    // The unread message has waited since it was queued; nothing else waits.
    assert!(
        depth.transactional_oldest >= Duration::from_secs(1)
            && depth.transactional_oldest < Duration::from_secs(60),
        "{depth:?}"
    );
    assert_eq!(depth.bulk_oldest, Duration::ZERO, "{depth:?}");
    assert_eq!(depth.delayed_overdue, Duration::ZERO, "{depth:?}");
    let url = env.url("/metrics");
    let (scans, xlens) = (
        command_calls(&redis, "scan").await,
        command_calls(&redis, "xlen").await,
    );

    let first = scrape(&env.http, &url, Some(ADMIN_TOKEN)).await;
    assert_eq!(first.status(), StatusCode::OK);
    let text = first.text().await.unwrap();
    let oldest: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("sluice_queue_oldest_age_seconds{stream=\"transactional\"} "))
        .unwrap_or_else(|| panic!("no transactional oldest age in {text}"))
        .parse()
        .unwrap();
    assert!(oldest >= 1.0, "the oldest wait is {oldest} s");
    assert!(
        text.contains("sluice_queue_oldest_age_seconds{stream=\"bulk\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("sluice_queue_delayed_overdue_seconds 0"),
        "{text}"
    );
    let sampled_at = Instant::now();
    let one_sample = command_calls(&redis, "xlen").await - xlens;
    assert!(one_sample > 0, "the first scrape reads the queue lengths");

    for _ in 0..20 {
        let response = scrape(&env.http, &url, Some(ADMIN_TOKEN)).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let later = command_calls(&redis, "xlen").await - xlens - one_sample;
    // Only when the box is slow enough that 5 s passed may a second sample be due.
    let samples_allowed = sampled_at.elapsed().as_secs() / 5;
    println!("21 scrapes: {one_sample} XLEN for the first, {later} after");
    assert!(
        later <= one_sample * samples_allowed,
        "20 scrapes within {:?} asked Redis again ({later} XLEN)",
        sampled_at.elapsed()
    );
    assert_eq!(
        command_calls(&redis, "scan").await,
        scans,
        "a scrape must never SCAN"
    );

    // No worker runs here, so a scheduled send that falls due stays in the delayed
    // set: how late it is shows as overdue.
    let mut scheduled = simple_message("later@example.com");
    let send_at = time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
    scheduled["send_at"] = serde_json::json!(
        send_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    env.send(&key, scheduled).await;
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let depth = store.queue_depth().await.unwrap();
    assert_eq!(depth.delayed, 1, "{depth:?}");
    assert!(
        depth.delayed_overdue >= Duration::from_secs(1)
            && depth.delayed_overdue < Duration::from_secs(60),
        "{depth:?}"
    );
    env.stop().await;
}

#[tokio::test]
async fn a_worker_only_process_exports_its_delivery_counters() {
    let env = TestEnv::start_with(Arc::new(AcceptAll), API_ONLY, |_| {}).await;
    let key = env.ready_tenant().await;

    let mut worker_env = base_env(&env.redis.url());
    worker_env.extend([
        (
            "SLUICE_RELAY_URL".to_string(),
            env.config.relay_url.clone().unwrap(),
        ),
        ("SLUICE_METRICS_LISTEN".into(), "127.0.0.1:0".into()),
        ("SLUICE_WORKERS".into(), "2".into()),
    ]);
    let mut worker = SluiceProcess::start("worker", env.dir.path(), &worker_env);
    let metrics = format!(
        "http://{}/metrics",
        worker.address("metrics listening").await
    );

    let id = env.send(&key, simple_message("jane@example.com")).await;
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(20))
        .await;
    // The worker counts a delivery once it has settled it; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    let delivered =
        "sluice_recipient_outcomes_total{event=\"message.delivered\",stream=\"transactional\"} 1";
    let text = loop {
        // No token: this listener is for a private interface.
        let response = scrape(&env.http, &metrics, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let text = response.text().await.unwrap();
        if text.contains(delivered) || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(text.contains(delivered), "{text}\n{}", worker.log());
    for expected in [
        "sluice_smtp_transaction_seconds",
        "sluice_queue_depth{queue=\"transactional\"}",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    // Nothing but /metrics is served there.
    let other = metrics.replace("/metrics", "/v1/messages");
    assert_problem(
        scrape(&env.http, &other, Some(ADMIN_TOKEN)).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;

    worker.terminate();
    let status = worker.exited(Duration::from_secs(30)).await;
    assert!(status.success(), "{status:?}");
    env.stop().await;
}
