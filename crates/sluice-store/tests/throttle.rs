//! Shared throttles against a real, private redis-server. Timing-dependent checks
//! assert generous ranges, never exact counts of a timed loop.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use sluice_store::embedded::EmbeddedRedis;
use sluice_store::{Admission, Rate, Store, ThrottleError};

struct Fixture {
    _dir: tempfile::TempDir,
    redis: EmbeddedRedis,
    store: Store,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let redis = EmbeddedRedis::start(dir.path(), false).await.unwrap();
    let store = connect(&redis).await;
    Fixture {
        _dir: dir,
        redis,
        store,
    }
}

/// A second `Store` stands in for another worker process: its own connection.
async fn connect(redis: &EmbeddedRedis) -> Store {
    Store::connect(&redis.url(), Duration::from_secs(3600))
        .await
        .unwrap()
}

async fn raw(f: &Fixture) -> redis::aio::MultiplexedConnection {
    redis::Client::open(f.redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn wait(admission: Admission) -> Duration {
    match admission {
        Admission::RetryAfter(d) => d,
        Admission::Allowed => panic!("expected a refusal"),
    }
}

#[tokio::test]
async fn a_burst_up_to_the_limit_passes_then_waits_one_interval() {
    let f = fixture().await;
    let throttle = f.store.clone();
    let rate = Rate::new(10, Duration::from_secs(60));
    for i in 0..10 {
        assert_eq!(
            throttle
                .throttle_admit("127.0.0.2|gmail", rate, 1)
                .await
                .unwrap(),
            Admission::Allowed,
            "message {i}"
        );
    }
    // The next slot opens one emission interval (6 s) after the burst began.
    let d = wait(
        throttle
            .throttle_admit("127.0.0.2|gmail", rate, 1)
            .await
            .unwrap(),
    );
    assert!(
        d > Duration::from_secs(4) && d <= Duration::from_secs(6),
        "{d:?}"
    );
    // Another key is untouched.
    assert!(
        throttle
            .throttle_admit("127.0.0.3|gmail", rate, 1)
            .await
            .unwrap()
            .is_allowed()
    );
}

#[tokio::test]
async fn cost_counts_several_units() {
    let f = fixture().await;
    let throttle = f.store.clone();
    let rate = Rate::per_hour(10);
    assert!(
        throttle
            .throttle_admit("k", rate, 7)
            .await
            .unwrap()
            .is_allowed()
    );
    assert!(
        !throttle
            .throttle_admit("k", rate, 4)
            .await
            .unwrap()
            .is_allowed()
    );
    assert!(
        throttle
            .throttle_admit("k", rate, 3)
            .await
            .unwrap()
            .is_allowed()
    );
    assert!(
        !throttle
            .throttle_admit("k", rate, 1)
            .await
            .unwrap()
            .is_allowed()
    );
}

#[tokio::test]
async fn two_worker_processes_share_one_budget() {
    let f = fixture().await;
    let other = connect(&f.redis).await;
    let (a, b) = (f.store.clone(), other.clone());
    // An hour-long period: refill (one per 72 s) cannot happen during the test, so the
    // count is exact however slowly the machine runs.
    let rate = Rate::per_hour(50);
    let mut tasks = Vec::new();
    for i in 0..120 {
        let throttle = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            throttle
                .throttle_admit("127.0.0.2|outlook", rate, 1)
                .await
                .unwrap()
        }));
    }
    let mut allowed = 0;
    for task in tasks {
        if task.await.unwrap().is_allowed() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 50);
    assert!(
        !a.throttle_admit("127.0.0.2|outlook", rate, 1)
            .await
            .unwrap()
            .is_allowed()
    );
    assert!(
        !b.throttle_admit("127.0.0.2|outlook", rate, 1)
            .await
            .unwrap()
            .is_allowed()
    );
}

#[tokio::test]
async fn admit_all_consumes_nothing_when_one_rate_refuses() {
    let f = fixture().await;
    let throttle = f.store.clone();
    let minute = Rate::new(5, Duration::from_secs(3600));
    let hour = Rate::new(2, Duration::from_secs(7200));
    let both = [minute, hour];
    assert!(
        throttle
            .throttle_admit_all("k", &both, 1)
            .await
            .unwrap()
            .is_allowed()
    );
    assert!(
        throttle
            .throttle_admit_all("k", &both, 1)
            .await
            .unwrap()
            .is_allowed()
    );
    // `hour` is spent; `minute` would still admit, yet the refusal must not consume it.
    for _ in 0..5 {
        let d = wait(throttle.throttle_admit_all("k", &both, 1).await.unwrap());
        // The wait is `hour`'s (one interval, 3600 s), the longer of the two.
        assert!(d > Duration::from_secs(3000), "{d:?}");
    }
    let mut left = 0;
    while throttle
        .throttle_admit("k", minute, 1)
        .await
        .unwrap()
        .is_allowed()
    {
        left += 1;
    }
    assert_eq!(
        left, 3,
        "only the two admitted calls consumed from `minute`"
    );
}

#[tokio::test]
async fn retry_after_is_the_longest_wait_of_the_refusing_rates() {
    let f = fixture().await;
    let throttle = f.store.clone();
    let short = Rate::new(1, Duration::from_secs(1));
    let long = Rate::new(1, Duration::from_secs(120));
    assert!(
        throttle
            .throttle_admit_all("k", &[short, long], 1)
            .await
            .unwrap()
            .is_allowed()
    );
    let d = wait(
        throttle
            .throttle_admit_all("k", &[short, long], 1)
            .await
            .unwrap(),
    );
    assert!(
        d > Duration::from_secs(100) && d <= Duration::from_secs(120),
        "{d:?}"
    );
    assert!(
        throttle
            .throttle_admit_all("k", &[], 1)
            .await
            .unwrap()
            .is_allowed()
    );
}

#[tokio::test]
async fn waiting_the_advised_time_is_enough() {
    let f = fixture().await;
    let throttle = f.store.clone();
    let rate = Rate::new(2, Duration::from_millis(400));
    assert!(
        throttle
            .throttle_admit("k", rate, 1)
            .await
            .unwrap()
            .is_allowed()
    );
    assert!(
        throttle
            .throttle_admit("k", rate, 1)
            .await
            .unwrap()
            .is_allowed()
    );
    let d = wait(throttle.throttle_admit("k", rate, 1).await.unwrap());
    assert!(d <= Duration::from_millis(200), "{d:?}");
    tokio::time::sleep(d + Duration::from_millis(5)).await;
    assert!(
        throttle
            .throttle_admit("k", rate, 1)
            .await
            .unwrap()
            .is_allowed()
    );
}

#[tokio::test]
async fn over_time_the_rate_holds_near_its_configured_value() {
    let f = fixture().await;
    let throttle = f.store.clone();
    // 10 per 500 ms: a burst of 10, then one every 50 ms.
    let rate = Rate::new(10, Duration::from_millis(500));
    let run = Duration::from_millis(1500);
    let start = Instant::now();
    let mut allowed = 0u64;
    while start.elapsed() < run {
        match throttle
            .throttle_admit("127.0.0.2|gmail", rate, 1)
            .await
            .unwrap()
        {
            Admission::Allowed => allowed += 1,
            // Sleeping the advised time: a loaded machine only makes us ask less often.
            Admission::RetryAfter(d) => tokio::time::sleep(d).await,
        }
    }
    let elapsed = start.elapsed().as_millis() as u64;
    // Ideal: 10 + 1500 / 50 = 40. Never more than the burst plus one per interval
    // elapsed; comfortably more than the burst alone.
    let ceiling = 10 + elapsed / 50 + 1;
    assert!(
        (25..=ceiling).contains(&allowed),
        "{allowed} in {elapsed} ms"
    );
}

#[tokio::test]
async fn a_changed_limit_starts_a_fresh_bucket() {
    let f = fixture().await;
    let throttle = f.store.clone();
    let old = Rate::per_hour(3);
    for _ in 0..3 {
        assert!(
            throttle
                .throttle_admit("k", old, 1)
                .await
                .unwrap()
                .is_allowed()
        );
    }
    assert!(
        !throttle
            .throttle_admit("k", old, 1)
            .await
            .unwrap()
            .is_allowed()
    );
    let new = Rate::per_hour(4);
    for _ in 0..4 {
        assert!(
            throttle
                .throttle_admit("k", new, 1)
                .await
                .unwrap()
                .is_allowed()
        );
    }
    assert!(
        !throttle
            .throttle_admit("k", new, 1)
            .await
            .unwrap()
            .is_allowed()
    );
    // Going back finds the old bucket, still spent.
    assert!(
        !throttle
            .throttle_admit("k", old, 1)
            .await
            .unwrap()
            .is_allowed()
    );

    let mut conn = raw(&f).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("sluice:v1:throttle:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut keys = keys;
    keys.sort();
    assert_eq!(
        keys,
        [
            "sluice:v1:throttle:{k}:3:3600000",
            "sluice:v1:throttle:{k}:4:3600000"
        ]
    );
}

#[tokio::test]
async fn buckets_expire_once_they_are_full_again() {
    let f = fixture().await;
    let throttle = f.store.clone();
    let mut conn = raw(&f).await;
    let key = "sluice:v1:throttle:{k}:4:200";
    let rate = Rate::new(4, Duration::from_millis(200));
    assert!(
        throttle
            .throttle_admit("k", rate, 1)
            .await
            .unwrap()
            .is_allowed()
    );
    let ttl: i64 = redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap();
    // One unit of four in 200 ms: full again 50 ms later.
    assert!((1..=50).contains(&ttl), "{ttl}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let exists: i64 = redis::cmd("EXISTS")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 0);

    // An hour-long rate never keeps its key longer than its period.
    let hour = Rate::per_hour(10);
    for _ in 0..10 {
        throttle.throttle_admit("h", hour, 1).await.unwrap();
    }
    let ttl: i64 = redis::cmd("PTTL")
        .arg("sluice:v1:throttle:{h}:10:3600000")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 3_500_000 && ttl <= 3_600_000, "{ttl}");
}

#[tokio::test]
async fn a_smaller_burst_spreads_sends_out() {
    let f = fixture().await;
    let throttle = f.store.clone();
    let rate = Rate::per_hour(100).with_burst(3);
    for _ in 0..3 {
        assert!(
            throttle
                .throttle_admit("k", rate, 1)
                .await
                .unwrap()
                .is_allowed()
        );
    }
    let d = wait(throttle.throttle_admit("k", rate, 1).await.unwrap());
    // One interval: 3600 s / 100.
    assert!(
        d > Duration::from_secs(30) && d <= Duration::from_secs(36),
        "{d:?}"
    );
}

#[tokio::test]
async fn requests_that_could_never_pass_are_errors_not_endless_waits() {
    let f = fixture().await;
    let throttle = f.store.clone();
    assert!(matches!(
        throttle.throttle_admit("k", Rate::per_minute(5), 6).await,
        Err(ThrottleError::CostAboveBurst {
            cost: 6,
            burst: 5,
            ..
        })
    ));
    assert!(matches!(
        throttle.throttle_admit("k", Rate::per_minute(0), 1).await,
        Err(ThrottleError::InvalidRate { .. })
    ));
    assert!(matches!(
        throttle.throttle_admit("", Rate::per_minute(5), 1).await,
        Err(ThrottleError::InvalidKey { .. })
    ));
    assert!(matches!(
        throttle.throttle_admit("a}b", Rate::per_minute(5), 1).await,
        Err(ThrottleError::InvalidKey { .. })
    ));
}
