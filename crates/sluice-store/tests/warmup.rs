//! Warm-up caps against a real, private redis-server.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sluice_store::Store;
use sluice_store::embedded::EmbeddedRedis;
use sluice_store::warmup::WarmupAdmission;

fn today() -> i64 {
    time::OffsetDateTime::now_utc()
        .unix_timestamp()
        .div_euclid(86_400)
}

#[tokio::test]
async fn the_cap_follows_the_schedule_and_a_setback_costs_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let redis = EmbeddedRedis::start(dir.path(), false).await.unwrap();
    let store = Store::connect(&redis.url(), Duration::from_secs(60))
        .await
        .unwrap();
    let warmup = store.clone();
    // Started yesterday: day 1, cap 3.
    let caps = [2, 3, 50];
    for sent in 1..=3 {
        assert_eq!(
            warmup
                .warmup_admit("127.0.0.2|gmail", today() - 1, &caps)
                .await
                .unwrap(),
            WarmupAdmission::Allowed {
                day: 1,
                cap: 3,
                sent
            }
        );
    }
    assert_eq!(
        warmup
            .warmup_admit("127.0.0.2|gmail", today() - 1, &caps)
            .await
            .unwrap(),
        WarmupAdmission::Capped { day: 1, cap: 3 }
    );
    // Other providers have their own budget.
    assert!(matches!(
        warmup
            .warmup_admit("127.0.0.2|outlook", today() - 1, &caps)
            .await
            .unwrap(),
        WarmupAdmission::Allowed { .. }
    ));
    // A throttled day steps the ramp back: day 0, cap 2 (already exceeded today).
    assert!(warmup.warmup_set_back("127.0.0.2|gmail").await.unwrap());
    assert!(
        !warmup.warmup_set_back("127.0.0.2|gmail").await.unwrap(),
        "one setback a day"
    );
    assert_eq!(
        warmup
            .warmup_admit("127.0.0.2|gmail", today() - 1, &caps)
            .await
            .unwrap(),
        WarmupAdmission::Capped { day: 0, cap: 2 }
    );
    // Past the schedule the address is warm.
    assert_eq!(
        warmup
            .warmup_admit("127.0.0.3|gmail", today() - 10, &caps)
            .await
            .unwrap(),
        WarmupAdmission::Warm
    );
}
