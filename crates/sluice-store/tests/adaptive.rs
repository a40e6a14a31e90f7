//! The learned (IP × provider) rate against a real, private redis-server.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sluice_store::Store;
use sluice_store::adaptive::AdaptivePolicy;
use sluice_store::embedded::EmbeddedRedis;

async fn stores() -> (tempfile::TempDir, EmbeddedRedis, Store, Store) {
    let dir = tempfile::tempdir().unwrap();
    let redis = EmbeddedRedis::start(dir.path(), false).await.unwrap();
    let a = Store::connect(&redis.url(), Duration::from_secs(60))
        .await
        .unwrap();
    let b = Store::connect(&redis.url(), Duration::from_secs(60))
        .await
        .unwrap();
    (dir, redis, a, b)
}

#[tokio::test]
async fn throttling_halves_the_rate_and_clean_deliveries_win_it_back() {
    let (_dir, _redis, a, b) = stores().await;
    let policy = AdaptivePolicy {
        increase_per_success: 10,
        floor: 5,
        suspend_after: 100,
        cooldown: Duration::from_secs(60),
    };
    let target = "127.0.0.2|gmail";
    assert_eq!(
        a.adaptive_state(target, 120).await.unwrap().rate_per_minute,
        120,
        "unknown targets run at the ceiling"
    );
    assert_eq!(
        a.record_adaptive_throttled(target, 120, &policy)
            .await
            .unwrap(),
        60
    );
    // Another process sees the learned rate and continues from it.
    assert_eq!(
        b.record_adaptive_throttled(target, 120, &policy)
            .await
            .unwrap(),
        30
    );
    for _ in 0..4 {
        b.record_adaptive_throttled(target, 120, &policy)
            .await
            .unwrap();
    }
    assert_eq!(
        a.adaptive_state(target, 120).await.unwrap().rate_per_minute,
        5,
        "never below the floor"
    );
    for _ in 0..20 {
        a.record_adaptive_success(target, 120, &policy)
            .await
            .unwrap();
    }
    assert_eq!(
        b.adaptive_state(target, 120).await.unwrap().rate_per_minute,
        120,
        "never above the ceiling"
    );
}

#[tokio::test]
async fn repeated_throttling_suspends_until_the_cooldown_ends() {
    let (_dir, _redis, a, _b) = stores().await;
    let policy = AdaptivePolicy {
        increase_per_success: 1,
        floor: 1,
        suspend_after: 3,
        cooldown: Duration::from_millis(400),
    };
    let target = "127.0.0.2|yahoo";
    a.record_adaptive_throttled(target, 60, &policy)
        .await
        .unwrap();
    a.record_adaptive_throttled(target, 60, &policy)
        .await
        .unwrap();
    assert!(
        a.adaptive_state(target, 60)
            .await
            .unwrap()
            .suspended_until
            .is_none()
    );
    a.record_adaptive_throttled(target, 60, &policy)
        .await
        .unwrap();
    let state = a.adaptive_state(target, 60).await.unwrap();
    assert!(state.suspended_until.is_some());
    assert_eq!(state.suspension.as_deref(), Some("adaptive"));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        a.adaptive_state(target, 60)
            .await
            .unwrap()
            .suspended_until
            .is_none(),
        "suspensions expire by themselves"
    );
}

#[tokio::test]
async fn operators_can_pause_and_resume_and_list_targets() {
    let (_dir, _redis, a, _b) = stores().await;
    let until = time::OffsetDateTime::now_utc() + time::Duration::minutes(10);
    a.suspend_adaptive_target("127.0.0.3|outlook", until)
        .await
        .unwrap();
    a.record_adaptive_success("127.0.0.2|gmail", 100, &AdaptivePolicy::default())
        .await
        .unwrap();
    let listed = a.list_adaptive_states().await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.target.as_str()).collect::<Vec<_>>(),
        ["127.0.0.2|gmail", "127.0.0.3|outlook"]
    );
    assert_eq!(listed[1].suspension.as_deref(), Some("manual"));
    a.resume_adaptive_target("127.0.0.3|outlook").await.unwrap();
    assert!(
        a.adaptive_state("127.0.0.3|outlook", 60)
            .await
            .unwrap()
            .suspended_until
            .is_none()
    );
}

#[tokio::test]
async fn a_pause_of_a_whole_ip_or_provider_covers_every_target_under_it() {
    let (_dir, _redis, a, _b) = stores().await;
    let until = time::OffsetDateTime::now_utc() + time::Duration::minutes(5);
    assert!(
        a.effective_adaptive_state("127.0.0.2", "gmail", 60)
            .await
            .unwrap()
            .suspended_until
            .is_none()
    );
    a.suspend_adaptive_target("*|gmail", until).await.unwrap();
    assert!(
        a.effective_adaptive_state("127.0.0.2", "gmail", 60)
            .await
            .unwrap()
            .suspended_until
            .is_some()
    );
    assert!(
        a.effective_adaptive_state("127.0.0.2", "outlook", 60)
            .await
            .unwrap()
            .suspended_until
            .is_none()
    );
    a.suspend_adaptive_target("127.0.0.3|*", until)
        .await
        .unwrap();
    let state = a
        .effective_adaptive_state("127.0.0.3", "outlook", 60)
        .await
        .unwrap();
    assert_eq!(state.suspension.as_deref(), Some("manual"));
    a.resume_adaptive_target("*|gmail").await.unwrap();
    assert!(
        a.effective_adaptive_state("127.0.0.2", "gmail", 60)
            .await
            .unwrap()
            .suspended_until
            .is_none()
    );
}

#[tokio::test]
async fn listing_with_no_targets_is_empty() {
    let (_dir, _redis, a, _b) = stores().await;
    assert!(a.list_adaptive_states().await.unwrap().is_empty());
}
