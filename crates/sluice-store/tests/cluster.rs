//! The store on a real Redis Cluster (a private one of local `redis-server`
//! processes): the URL forms, and operations whose keys span slots.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use sluice_model::{MessageId, MessageStream, TenantQuotas};
use sluice_store::embedded::EmbeddedCluster;
use sluice_store::{NewMessage, Store, StoreOptions};
use time::OffsetDateTime;

async fn connect(url: &str) -> Store {
    Store::connect_with(
        url,
        StoreOptions {
            retention: Duration::from_secs(3600),
            partitions: 8,
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap()
}

/// A cluster of 3 masters (no replicas) and a store on it; the directory holds the
/// nodes' files.
async fn three_masters() -> (tempfile::TempDir, EmbeddedCluster, Store) {
    let dir = tempfile::tempdir().unwrap();
    let cluster = EmbeddedCluster::start(dir.path(), 3, 0, false)
        .await
        .unwrap();
    let store = connect(&cluster.url()).await;
    (dir, cluster, store)
}

#[tokio::test]
async fn a_plain_url_to_a_cluster_node_is_used_as_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = EmbeddedCluster::start(dir.path(), 3, 0, false)
        .await
        .unwrap();
    let by_seeds = connect(&cluster.url()).await;
    assert!(by_seeds.is_cluster());
    let by_node = connect(&cluster.node_urls()[1]).await;
    assert!(by_node.is_cluster());

    // An accept on a cluster is two calls (the tenant's slot, then the partition's);
    // the message is then found through either store.
    let tenant = by_seeds.create_tenant("acme").await.unwrap().id;
    let message = support::message(MessageStream::Transactional, "jane@example.com");
    let mut ids = Vec::new();
    for _ in 0..20 {
        let outcome = support::accept_on(&by_seeds, &tenant, &message, None).await;
        ids.push(support::created_id(outcome));
    }
    for id in &ids {
        assert!(by_node.get_message(&tenant, id).await.unwrap().is_some());
    }
    assert_eq!(by_node.queue_depth().await.unwrap().transactional, 20);
    // Every master answers for the server checks (the weakest is reported).
    let report = by_node.server_report().await.unwrap();
    assert_eq!(report.maxmemory_policy, "noeviction");
    // A listing over keys of many slots (one SCAN per master, one command per slot).
    by_seeds
        .suspend_adaptive_target(
            "127.0.0.2|gmail",
            OffsetDateTime::now_utc() + time::Duration::hours(1),
        )
        .await
        .unwrap();
    by_seeds
        .suspend_adaptive_target(
            "127.0.0.3|yahoo",
            OffsetDateTime::now_utc() + time::Duration::hours(1),
        )
        .await
        .unwrap();
    let states = by_node.list_adaptive_states().await.unwrap();
    assert_eq!(states.len(), 2, "{states:?}");
    cluster.stop().await;
}

#[tokio::test]
async fn a_campaign_body_shared_per_partition_comes_back_whole_on_a_cluster() {
    let (_dir, cluster, store) = three_masters().await;
    let tenant = store.create_tenant("acme").await.unwrap().id;
    let mut messages = Vec::new();
    for i in 0..60 {
        let mut message = support::message(MessageStream::Bulk, &format!("r{i}@example.com"));
        message.html = Some(format!(
            "<p>{}</p>",
            "The same campaign body for every recipient. ".repeat(40)
        ));
        messages.push(message);
    }
    let ids: Vec<MessageId> = messages.iter().map(|_| MessageId::generate()).collect();
    let news: Vec<NewMessage<'_>> = messages
        .iter()
        .zip(&ids)
        .map(|(message, id)| NewMessage {
            tenant: &tenant,
            id,
            message,
            message_id_header: "<x@acme.test>",
            idempotency: None,
            now: OffsetDateTime::now_utc(),
            test: false,
        })
        .collect();
    let accepted = store
        .accept_messages(&news, &TenantQuotas::default())
        .await
        .unwrap();
    assert!(accepted.interrupted.is_none());
    // Every message comes back as accepted, its body read with its partition's content.
    let queue = store.queue().await.unwrap();
    let mut loaded = std::collections::HashMap::new();
    loop {
        let batch = queue.next_batch("w1", 50, Duration::ZERO).await.unwrap();
        if batch.is_empty() {
            break;
        }
        for entry in batch {
            let job = queue.load(&entry).await.unwrap().into_job().unwrap();
            loaded.insert(job.entry.message_id.clone(), job.message);
        }
    }
    assert_eq!(loaded.len(), 60);
    for (id, message) in ids.iter().zip(&messages) {
        assert_eq!(&loaded[id], message);
    }
    cluster.stop().await;
}

#[tokio::test]
async fn the_webhook_schedule_is_spread_over_the_masters() {
    let (_dir, cluster, store) = three_masters().await;
    let tenant = store.create_tenant("acme").await.unwrap().id;
    let endpoints: Vec<_> = (0..64)
        .map(|_| sluice_model::WebhookId::generate())
        .collect();
    let events: Vec<_> = (1..=2).map(support::event_record).collect();
    support::schedule_webhooks(&store, &tenant, &endpoints, &events).await;
    // Up to 8 shards' ready sets, spread like the partitions over the three masters
    // (each master serves 2 or 3 of the 8: 64 endpoints miss them all about once in
    // 10^8 runs).
    let ready = support::keys_on_each_node(&cluster.node_urls(), "sluice:v1:*:ready").await;
    assert!(ready.iter().sum::<usize>() <= 8, "{ready:?}");
    assert!(ready.iter().all(|n| *n >= 1), "{ready:?}");
    // Every delivery is claimed once, across the shards.
    let mut claimed = std::collections::HashSet::new();
    loop {
        let claims = store
            .claim_webhook_deliveries(sluice_model::time::now_ms(), 10, 4, Duration::from_secs(60))
            .await
            .unwrap();
        if claims.deliveries.is_empty() {
            break;
        }
        for delivery in claims.deliveries {
            assert!(claimed.insert((delivery.endpoint.clone(), delivery.record.id.clone())));
            store
                .settle_webhook_delivery(&delivery, None, 4)
                .await
                .unwrap();
        }
    }
    assert_eq!(claimed.len(), 128);
    cluster.stop().await;
}

#[tokio::test]
async fn node_commands_and_reads_reach_the_promoted_master_after_a_failover() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = EmbeddedCluster::start(dir.path(), 3, 1, false)
        .await
        .unwrap();
    let store = connect(&cluster.url()).await;
    let queue = store.queue().await.unwrap();
    for p in store.served_partitions() {
        queue.redis_uptime(p).await.unwrap();
    }
    let victim = cluster.masters().await[0];
    cluster.kill(victim).await;
    assert!(cluster.wait_until_healthy(Duration::from_secs(20)).await);
    // Within a few seconds of the cluster healing, every partition answers again:
    // commands about a node (INFO) and reads of its streams.
    let started = std::time::Instant::now();
    let mut last_error = String::new();
    while started.elapsed() < Duration::from_secs(15) {
        let mut healthy = true;
        for p in store.served_partitions() {
            if let Err(e) = queue.redis_uptime(p).await {
                healthy = false;
                last_error = format!("partition {p}: {e}");
            }
        }
        if healthy && queue.own_idle("w1", Duration::ZERO, 10).await.is_ok() {
            cluster.stop().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("still failing 15 s after the cluster healed: {last_error}");
}
