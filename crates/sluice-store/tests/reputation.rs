//! The reputation guard's storage against a real redis-server: counting is at most
//! once per event (a redelivered fan-out batch adds nothing), the window drops old
//! buckets, a level change is a compare-and-set with its event in the outbox, and a
//! resume lifts the pause once.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use sluice_model::{
    BulkPause, EventType, MessageEvent, MessageStream, ReputationLevel, ReputationPolicy,
    StreamCounts,
};
use sluice_store::{BucketWindow, CountKind, Countable, Partition, ReputationChange};
use time::OffsetDateTime;

fn event(feed_entry: &str, stream: MessageStream, kind: CountKind) -> Countable {
    Countable {
        feed_entry: feed_entry.into(),
        stream,
        kind,
    }
}

fn window(current: i64, oldest: i64) -> BucketWindow {
    BucketWindow {
        current,
        oldest,
        expiry: Duration::from_secs(3600),
    }
}

fn counts(delivered: u64, hard_bounced: u64, complained: u64) -> StreamCounts {
    StreamCounts {
        delivered,
        hard_bounced,
        complained,
    }
}

#[tokio::test]
async fn a_redelivered_batch_is_not_counted_twice() {
    let f = support::fixture().await;
    let p = Some(Partition(0));
    let batch = [
        event("1000-0", MessageStream::Bulk, CountKind::Delivered),
        event("1000-1", MessageStream::Bulk, CountKind::HardBounced),
        event(
            "1001-0",
            MessageStream::Transactional,
            CountKind::Complained,
        ),
        event("1001-1", MessageStream::Transactional, CountKind::Delivered),
    ];
    let first = f
        .store
        .count_reputation(&f.tenant, p, &batch, window(7, 0))
        .await
        .unwrap();
    assert_eq!(first.counted, 4);
    assert_eq!(first.counts[&MessageStream::Bulk], counts(1, 1, 0));
    assert_eq!(first.counts[&MessageStream::Transactional], counts(1, 0, 1));

    // The fan-out crashed before acknowledging: the same batch comes again.
    let again = f
        .store
        .count_reputation(&f.tenant, p, &batch, window(7, 0))
        .await
        .unwrap();
    assert_eq!(again.counted, 0);
    assert_eq!(again.counts, first.counts);

    // A later read returns part of it with new events: only the new ones count.
    let mixed = [
        batch[3].clone(),
        event("1002-0", MessageStream::Bulk, CountKind::HardBounced),
    ];
    let next = f
        .store
        .count_reputation(&f.tenant, p, &mixed, window(7, 0))
        .await
        .unwrap();
    assert_eq!(next.counted, 1);
    assert_eq!(next.counts[&MessageStream::Bulk], counts(1, 2, 0));

    // Another partition's ids are its own: an older id from partition 1 counts.
    let other = [event("999-0", MessageStream::Bulk, CountKind::Delivered)];
    let other = f
        .store
        .count_reputation(&f.tenant, Some(Partition(1)), &other, window(7, 0))
        .await
        .unwrap();
    assert_eq!(other.counted, 1);
    assert_eq!(other.counts[&MessageStream::Bulk], counts(2, 2, 0));

    // Reading only (no partition) counts nothing.
    let read = f
        .store
        .count_reputation(&f.tenant, None, &batch, window(7, 0))
        .await
        .unwrap();
    assert_eq!(read.counted, 0);
    assert_eq!(read.counts, other.counts);
}

#[tokio::test]
async fn buckets_leave_the_window() {
    let f = support::fixture().await;
    let p = Some(Partition(0));
    let early = [event("1-0", MessageStream::Bulk, CountKind::HardBounced)];
    f.store
        .count_reputation(&f.tenant, p, &early, window(10, 0))
        .await
        .unwrap();
    let later = [event("2-0", MessageStream::Bulk, CountKind::Delivered)];
    let both = f
        .store
        .count_reputation(&f.tenant, p, &later, window(12, 0))
        .await
        .unwrap();
    assert_eq!(both.counts[&MessageStream::Bulk], counts(1, 1, 0));
    // Bucket 10 is now older than the window: only bucket 12's count is left.
    let rolled = f
        .store
        .count_reputation(&f.tenant, None, &[], window(13, 11))
        .await
        .unwrap();
    assert_eq!(rolled.counts[&MessageStream::Bulk], counts(1, 0, 0));
    let gone = f
        .store
        .count_reputation(&f.tenant, None, &[], window(40, 20))
        .await
        .unwrap();
    assert_eq!(gone.counts[&MessageStream::Bulk], counts(0, 0, 0));
}

#[tokio::test]
async fn a_pause_is_a_compare_and_set_with_its_event_and_a_resume_lifts_it_once() {
    let f = support::fixture().await;
    let policy = ReputationPolicy::default();
    let now = OffsetDateTime::now_utc();
    let snapshot = f
        .store
        .count_reputation(&f.tenant, None, &[], window(1, 0))
        .await
        .unwrap();
    assert_eq!(snapshot.levels[&MessageStream::Bulk], None);
    assert!(snapshot.bulk_paused.is_none());
    let figures = policy.report(MessageStream::Bulk, &counts(900, 100, 0));
    let pause = BulkPause {
        since: sluice_model::time::from_ms(sluice_model::time::to_ms(now)),
        figures,
    };
    let change = ReputationChange {
        stream: MessageStream::Bulk,
        from_raw: snapshot.raw_levels[&MessageStream::Bulk].clone(),
        to: ReputationLevel::Pause,
        pause: Some(pause.clone()),
        event: Some(MessageEvent::new(EventType::TenantPaused, now)),
    };
    assert!(f.store.change_reputation(&f.tenant, &change).await.unwrap());
    // A second process judging from the same (now stale) level changes nothing.
    assert!(!f.store.change_reputation(&f.tenant, &change).await.unwrap());
    assert_eq!(
        f.store.bulk_pause(&f.tenant).await.unwrap(),
        Some(pause.clone())
    );

    let after = f
        .store
        .count_reputation(&f.tenant, None, &[], window(1, 0))
        .await
        .unwrap();
    assert_eq!(
        after.levels[&MessageStream::Bulk],
        Some(ReputationLevel::Pause)
    );
    assert_eq!(after.outbox, 1, "the event waits in the outbox");
    assert_eq!(f.store.flush_reputation_outbox(&f.tenant).await.unwrap(), 1);
    assert_eq!(f.store.flush_reputation_outbox(&f.tenant).await.unwrap(), 0);

    // Bulk counts exist; a resume lifts the pause and starts them afresh.
    let bulk = [event("5-0", MessageStream::Bulk, CountKind::HardBounced)];
    f.store
        .count_reputation(&f.tenant, Some(Partition(0)), &bulk, window(1, 0))
        .await
        .unwrap();
    let resumed = MessageEvent::new(EventType::TenantResumed, now);
    let (lifted, released) = f
        .store
        .resume_bulk(&f.tenant, &resumed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lifted, pause);
    assert_eq!(released, 0);
    assert!(
        f.store
            .resume_bulk(&f.tenant, &resumed)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(f.store.bulk_pause(&f.tenant).await.unwrap(), None);
    let fresh = f
        .store
        .count_reputation(&f.tenant, None, &[], window(1, 0))
        .await
        .unwrap();
    assert_eq!(fresh.counts[&MessageStream::Bulk], counts(0, 0, 0));
    assert_eq!(fresh.levels[&MessageStream::Bulk], None);
    assert_eq!(fresh.outbox, 0, "the resume sent its event");
}
