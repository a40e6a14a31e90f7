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
        },
    )
    .await
    .unwrap()
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
        let id = MessageId::generate();
        by_seeds
            .accept_message(
                NewMessage {
                    tenant: &tenant,
                    id: &id,
                    message: &message,
                    message_id_header: "<x@acme.test>",
                    idempotency: None,
                    now: OffsetDateTime::now_utc(),
                },
                &TenantQuotas::default(),
            )
            .await
            .unwrap();
        ids.push(id);
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
