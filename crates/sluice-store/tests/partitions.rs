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
            ..StoreOptions::default()
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

/// Claims every due webhook delivery one endpoint slot at a time (cap 1), settling
/// each and taking the endpoint's next in the same call; the (endpoint, event) pairs.
async fn deliver_webhooks(store: &Store) -> Vec<(String, String)> {
    let lease = Duration::from_secs(60);
    let mut delivered = Vec::new();
    loop {
        let now = sluice_model::time::now_ms();
        let claims = store
            .claim_webhook_deliveries(now, 100, 1, lease)
            .await
            .unwrap();
        if claims.deliveries.is_empty() {
            assert_eq!(claims.next_due_ms, None, "something is left scheduled");
            return delivered;
        }
        // Cap 1: one delivery per endpoint at a time, whatever its shard.
        let mut endpoints: Vec<_> = claims.deliveries.iter().map(|d| &d.endpoint).collect();
        endpoints.sort();
        endpoints.dedup();
        assert_eq!(endpoints.len(), claims.deliveries.len());
        for first in claims.deliveries {
            let mut delivery = first;
            loop {
                delivered.push((delivery.endpoint.to_string(), delivery.record.id.clone()));
                let settled = store
                    .settle_webhook_delivery_and_claim_next(&delivery, None, 1, now, lease)
                    .await
                    .unwrap();
                assert!(settled.held);
                match settled.next {
                    Some(next) => delivery = next,
                    None => break,
                }
            }
        }
    }
}

#[tokio::test]
async fn webhook_deliveries_spread_over_shards_and_survive_a_change_of_count() {
    let dir = tempfile::tempdir().unwrap();
    let redis = EmbeddedRedis::start(dir.path(), false).await.unwrap();
    let eight = store(&redis, 8).await;
    let tenant = eight.create_tenant("acme").await.unwrap().id;
    let endpoints: Vec<_> = (0..24)
        .map(|_| sluice_model::WebhookId::generate())
        .collect();
    let events: Vec<_> = (1..=3).map(support::event_record).collect();
    support::schedule_webhooks(&eight, &tenant, &endpoints, &events).await;
    // 24 endpoints over 8 shards: several ready sets (fewer than 4 about once in
    // 10^9 runs), each endpoint in one of them.
    let ready = support::keys_on_each_node(&[redis.url()], "sluice:v1:*:ready").await;
    assert!(
        (4..=8).contains(&ready[0]),
        "{ready:?} shards hold the 24 endpoints"
    );
    assert_eq!(eight.webhook_endpoints_with_work().await.unwrap(), 24);

    // A process started with one partition serves the 8 shards too, and its own new
    // deliveries go to shard 0.
    let one = store(&redis, 1).await;
    let late = sluice_model::WebhookId::generate();
    support::schedule_webhooks(&one, &tenant, std::slice::from_ref(&late), &events).await;
    let mut delivered = deliver_webhooks(&one).await;
    delivered.sort();
    let mut expected: Vec<(String, String)> = endpoints
        .iter()
        .chain([&late])
        .flat_map(|ep| events.iter().map(move |e| (ep.to_string(), e.id.clone())))
        .collect();
    expected.sort();
    assert_eq!(delivered, expected);
    assert_eq!(one.webhook_endpoints_with_work().await.unwrap(), 0);
}
