//! Queue partitions on one real redis-server: fair sharing and priority hold across
//! partitions, and a message is found whichever partition it is in.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use sluice_model::{
    EventType, MessageEvent, MessageId, MessageStatus, MessageStream, RecipientStatus, TenantId,
    TenantQuotas,
};
use sluice_store::embedded::EmbeddedRedis;
use sluice_store::{NewMessage, Settlement, Store, StoreOptions};
use time::OffsetDateTime;

use support::message;

async fn store(redis: &EmbeddedRedis, partitions: u16) -> Store {
    Store::connect_with(
        &redis.url(),
        StoreOptions {
            retention: Duration::from_secs(3600),
            partitions,
        },
    )
    .await
    .unwrap()
}

async fn queue_bulk(store: &Store, tenant: &TenantId, prefix: &str, count: usize) {
    let messages: Vec<_> = (0..count)
        .map(|i| message(MessageStream::Bulk, &format!("{prefix}{i}@example.com")))
        .collect();
    let ids: Vec<MessageId> = (0..count).map(|_| MessageId::generate()).collect();
    let now = OffsetDateTime::now_utc();
    let news: Vec<NewMessage<'_>> = messages
        .iter()
        .zip(&ids)
        .map(|(m, id)| NewMessage {
            tenant,
            id,
            message: m,
            message_id_header: "<x@acme.test>",
            idempotency: None,
            now,
            test: false,
        })
        .collect();
    for chunk in news.chunks(500) {
        let accepted = store
            .accept_messages(chunk, &TenantQuotas::default())
            .await
            .unwrap();
        assert!(accepted.interrupted.is_none());
    }
}

/// Delivers everything with `concurrency` reads at a time; the recipients in order.
async fn drain(store: &Store, concurrency: usize) -> Vec<String> {
    let queue = store.queue().await.unwrap();
    let mut order = Vec::new();
    loop {
        let batch = queue
            .next_batch("w1", concurrency, Duration::ZERO)
            .await
            .unwrap();
        if batch.is_empty() {
            return order;
        }
        for entry in batch {
            let mut job = queue.load(&entry).await.unwrap().into_job().unwrap();
            order.push(job.recipients[0].address.clone());
            job.recipients[0].status = RecipientStatus::Delivered;
            let settlement = Settlement {
                status: MessageStatus::Delivered,
                recipients: job.recipients.clone(),
                attempts: 1,
                events: vec![MessageEvent::new(
                    EventType::Delivered,
                    OffsetDateTime::now_utc(),
                )],
                retry_at: None,
                waitlists: vec![],
            };
            queue.settle(&entry, &settlement).await.unwrap();
        }
    }
}

#[tokio::test]
async fn a_small_sender_is_not_stuck_behind_a_campaign_spread_over_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let redis = EmbeddedRedis::start(dir.path(), false).await.unwrap();
    let store = store(&redis, 16).await;
    let big = store.create_tenant("big").await.unwrap().id;
    let small = store.create_tenant("small").await.unwrap().id;
    queue_bulk(&store, &big, "big", 1500).await;
    queue_bulk(&store, &small, "small", 10).await;
    let order = drain(&store, 4).await;
    assert_eq!(order.len(), 1510);
    let small_at: Vec<usize> = order
        .iter()
        .enumerate()
        .filter(|(_, r)| r.starts_with("small"))
        .map(|(i, _)| i)
        .collect();
    // 16 straight into each partition's stream (256 in all, as one partition would
    // take), then each partition alternates the tenants: the small sender's few per
    // partition come within a few rounds of 16. Without fair sharing: after 1,500.
    assert!(
        *small_at.last().unwrap() < 256 + 16 * 6 + 64,
        "the small sender's mail arrived as numbers {small_at:?}"
    );
}

#[tokio::test]
async fn changing_the_partition_count_strands_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let redis = EmbeddedRedis::start(dir.path(), false).await.unwrap();
    // Mail queued by processes with 8 partitions...
    let before = store(&redis, 8).await;
    let tenant = before.create_tenant("acme").await.unwrap().id;
    queue_bulk(&before, &tenant, "old", 40).await;
    assert_eq!(before.queue_depth().await.unwrap().bulk, 40);
    // ...is served by a process started with 1 partition: it serves every partition
    // a process used within the retention period, and finds their messages by id.
    let after = store(&redis, 1).await;
    assert_eq!(after.served_partitions().len(), 8);
    queue_bulk(&after, &tenant, "new", 10).await;
    let order = drain(&after, 4).await;
    assert_eq!(order.len(), 50, "{order:?}");
    assert_eq!(order.iter().filter(|r| r.starts_with("old")).count(), 40);
    assert_eq!(after.queue_depth().await.unwrap().bulk, 0);
}

#[tokio::test]
async fn a_message_is_found_under_any_partition_count_seen() {
    let dir = tempfile::tempdir().unwrap();
    let redis = EmbeddedRedis::start(dir.path(), false).await.unwrap();
    let sixteen = store(&redis, 16).await;
    let tenant = sixteen.create_tenant("acme").await.unwrap().id;
    let msg = message(MessageStream::Transactional, "jane@example.com");
    let id = support::created_id(support::accept_on(&sixteen, &tenant, &msg, None).await);
    // A process with another count looks in its own partition first, then in those
    // of every count seen.
    let three = store(&redis, 3).await;
    let view = three.get_message(&tenant, &id).await.unwrap().unwrap();
    assert_eq!(view.status, MessageStatus::Queued);
    let cancelled = three
        .cancel_message(&tenant, &id, OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert!(
        matches!(cancelled, sluice_store::CancelOutcome::Cancelled(_)),
        "{cancelled:?}"
    );
}
