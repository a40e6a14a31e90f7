//! The blocklist watch's shared state against a real, private redis-server: the
//! round lease, listings beginning and ending with their events, and refused or
//! failed lookups changing nothing.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sluice_store::Store;
use sluice_store::dnsbl::{DnsblChangeKind, DnsblCheck, DnsblResult};
use sluice_store::embedded::EmbeddedRedis;
use time::OffsetDateTime;

async fn stores() -> (tempfile::TempDir, EmbeddedRedis, Store, Store) {
    let dir = tempfile::tempdir().unwrap();
    let redis = EmbeddedRedis::start(dir.path(), false).await.unwrap();
    let url = redis.url();
    let connect = || Store::connect(&url, Duration::from_secs(60));
    let (a, b) = (connect().await.unwrap(), connect().await.unwrap());
    (dir, redis, a, b)
}

fn check(ip: &str, zone: &str, result: DnsblResult, answer: Option<&str>) -> DnsblCheck {
    DnsblCheck {
        ip: ip.into(),
        zone: zone.into(),
        result,
        answer: answer.map(str::to_string),
        error: (result == DnsblResult::Error).then(|| "SERVFAIL".to_string()),
        checked_at: OffsetDateTime::now_utc(),
    }
}

#[tokio::test]
async fn one_process_at_a_time_holds_the_round_and_a_lease_expires() {
    let (_dir, _redis, a, b) = stores().await;
    let lease = Duration::from_millis(300);
    assert!(a.take_dnsbl_lease("a", lease).await.unwrap());
    assert!(!b.take_dnsbl_lease("b", lease).await.unwrap());
    assert!(
        !a.take_dnsbl_lease("a", lease).await.unwrap(),
        "a round is not run twice within the lease, even by its holder"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        b.take_dnsbl_lease("b", lease).await.unwrap(),
        "a holder that stops renewing (or died) lets the next one in"
    );
}

#[tokio::test]
async fn listings_begin_and_end_with_events_and_unknown_results_change_nothing() {
    let (_dir, _redis, a, b) = stores().await;
    let zen = "zen.test";
    let changes = a
        .record_dnsbl_round(
            "a",
            &[
                check("127.0.0.2", zen, DnsblResult::Listed, Some("127.0.0.2")),
                check("127.0.0.3", zen, DnsblResult::NotListed, None),
            ],
        )
        .await
        .unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].kind, DnsblChangeKind::Listed);
    assert_eq!(changes[0].listing.ip, "127.0.0.2");
    assert_eq!(changes[0].listing.answer, "127.0.0.2");
    let since = changes[0].listing.since;

    // Another process sees it; a listing seen again is no new event.
    let listings = b.dnsbl_listings().await.unwrap();
    assert_eq!(listings.len(), 1);
    assert_eq!((listings[0].zone.as_str(), listings[0].since), (zen, since));
    let again = b
        .record_dnsbl_round(
            "b",
            &[check(
                "127.0.0.2",
                zen,
                DnsblResult::Listed,
                Some("127.0.0.4"),
            )],
        )
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");

    // A refused query or a failed lookup says nothing: the listing stays.
    for unknown in [DnsblResult::Refused, DnsblResult::Error] {
        let changes = a
            .record_dnsbl_round(
                "a",
                &[check("127.0.0.2", zen, unknown, Some("127.255.255.254"))],
            )
            .await
            .unwrap();
        assert!(changes.is_empty());
        assert_eq!(a.dnsbl_listings().await.unwrap().len(), 1);
    }
    let status = a.dnsbl_status().await.unwrap();
    assert_eq!(status.round.as_ref().unwrap().by, "a");
    assert_eq!(
        status.checks.len(),
        1,
        "pairs no longer checked are dropped"
    );
    assert_eq!(status.checks[0].result, DnsblResult::Error);
    assert_eq!(status.listings[0].since, since);

    let delisted = a
        .record_dnsbl_round(
            "a",
            &[check("127.0.0.2", zen, DnsblResult::NotListed, None)],
        )
        .await
        .unwrap();
    assert_eq!(delisted.len(), 1);
    assert_eq!(delisted[0].kind, DnsblChangeKind::Delisted);
    assert_eq!(delisted[0].listing.answer, "127.0.0.2");
    assert_eq!(delisted[0].listing.since, since);
    assert_ne!(delisted[0].event_id, changes[0].event_id);
    assert!(a.dnsbl_listings().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_pair_no_longer_watched_is_delisted() {
    let (_dir, _redis, a, _b) = stores().await;
    a.record_dnsbl_round(
        "a",
        &[check(
            "2001:db8::1",
            "old.test",
            DnsblResult::Listed,
            Some("127.0.0.2"),
        )],
    )
    .await
    .unwrap();
    let changes = a
        .record_dnsbl_round(
            "a",
            &[check(
                "2001:db8::1",
                "new.test",
                DnsblResult::NotListed,
                None,
            )],
        )
        .await
        .unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].kind, DnsblChangeKind::Delisted);
    assert_eq!(changes[0].listing.ip, "2001:db8::1");
    assert_eq!(changes[0].listing.zone, "old.test");
}
