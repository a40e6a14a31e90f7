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
    assert!(
        *small_at.last().unwrap() < 256 + 20 + 64,
        "the small sender's mail arrived as numbers {small_at:?}"
    );
}
