//! The store over TLS (`rediss://`, `rediss+cluster://`) to real `redis-server`
//! processes with the test CA of `tests/fixtures/redis_tls`: the server is verified,
//! a client certificate is presented where one is required, and a cluster's nodes
//! are reached over TLS after every redirection.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use sluice_model::MessageStream;
use sluice_store::embedded::{EmbeddedCluster, EmbeddedRedis, ServerTls};
use sluice_store::{RedisTls, Store, StoreError, StoreOptions};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../tests/fixtures/redis_tls/{name}"))
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

fn server_tls(require_client_certs: bool) -> ServerTls {
    ServerTls {
        cert_file: fixture("server.pem"),
        key_file: fixture("server.key"),
        ca_file: fixture("ca.pem"),
        require_client_certs,
    }
}

/// The test CA, with or without the client certificate.
fn client_tls(with_certificate: bool) -> RedisTls {
    RedisTls {
        ca: Some(read("ca.pem")),
        client: with_certificate.then(|| (read("client.pem"), read("client.key"))),
    }
}

async fn connect(url: &str, tls: Option<RedisTls>) -> Result<Store, StoreError> {
    Store::connect_with(
        url,
        StoreOptions {
            retention: Duration::from_secs(3600),
            partitions: 8,
            tls,
        },
    )
    .await
}

/// A single redis-server with a TLS port beside its plain one.
async fn tls_server(dir: &std::path::Path, require_client_certs: bool) -> (EmbeddedRedis, u16) {
    let tls_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tls = server_tls(require_client_certs);
    let port = tls_port.to_string();
    let files =
        [&tls.cert_file, &tls.key_file, &tls.ca_file].map(|p| p.to_string_lossy().into_owned());
    let args = [
        "--tls-port",
        &port,
        "--tls-cert-file",
        &files[0],
        "--tls-key-file",
        &files[1],
        "--tls-ca-cert-file",
        &files[2],
        "--tls-auth-clients",
        if require_client_certs { "yes" } else { "no" },
    ];
    let redis = EmbeddedRedis::start_with_args(dir, false, &args)
        .await
        .unwrap();
    (redis, tls_port)
}

/// Accepts a message through `store` and reads it back.
async fn round_trip(store: &Store) {
    let tenant = store.create_tenant("acme").await.unwrap().id;
    let message = support::message(MessageStream::Transactional, "jane@example.com");
    let id = support::created_id(support::accept_on(store, &tenant, &message, None).await);
    assert!(store.get_message(&tenant, &id).await.unwrap().is_some());
}

#[tokio::test]
async fn a_single_server_is_reached_over_tls_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let (redis, tls_port) = tls_server(dir.path(), false).await;
    let url = format!("rediss://127.0.0.1:{tls_port}/");
    round_trip(&connect(&url, Some(client_tls(false))).await.unwrap()).await;
    // Without the test CA the server's certificate is not trusted (the system's roots
    // do not know it): no connection.
    let untrusted = connect(&url, None).await.err().unwrap().to_string();
    assert!(untrusted.contains("certificate"), "{untrusted}");
    // `localhost` is in the certificate too.
    let by_name = format!("rediss://localhost:{tls_port}/");
    round_trip(&connect(&by_name, Some(client_tls(false))).await.unwrap()).await;
    redis.stop().await;
}

#[tokio::test]
async fn a_server_that_requires_a_client_certificate_gets_one() {
    let dir = tempfile::tempdir().unwrap();
    let (redis, tls_port) = tls_server(dir.path(), true).await;
    let url = format!("rediss://127.0.0.1:{tls_port}/");
    let refused = connect(&url, Some(client_tls(false))).await.err().unwrap();
    assert!(
        refused.to_string().contains("CertificateRequired"),
        "{refused}"
    );
    round_trip(&connect(&url, Some(client_tls(true))).await.unwrap()).await;
    redis.stop().await;
}

#[tokio::test]
async fn a_cluster_is_reached_over_tls_on_every_node() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = EmbeddedCluster::start_tls(dir.path(), 3, 0, false, &server_tls(true))
        .await
        .unwrap();
    let url = cluster.tls_url();
    assert!(url.starts_with("rediss+cluster://"), "{url}");
    let store = connect(&url, Some(client_tls(true))).await.unwrap();
    assert!(store.is_cluster());
    // 8 partitions over 3 masters: the accepts and reads follow the slot map to
    // every node, over TLS, with the client certificate each node asks for.
    let tenant = store.create_tenant("acme").await.unwrap().id;
    let message = support::message(MessageStream::Bulk, "jane@example.com");
    let mut ids = Vec::new();
    for _ in 0..24 {
        ids.push(support::created_id(
            support::accept_on(&store, &tenant, &message, None).await,
        ));
    }
    for id in &ids {
        assert!(store.get_message(&tenant, id).await.unwrap().is_some());
    }
    assert_eq!(store.queue_depth().await.unwrap().bulk, 24);
    let report = store.server_report().await.unwrap();
    assert_eq!(report.maxmemory_policy, "noeviction");
    // A plain rediss:// URL to one node is taken as a seed.
    let one_node = url.replacen("rediss+cluster://", "rediss://", 1);
    let one_node = one_node.split(',').next().unwrap();
    let by_node = connect(one_node, Some(client_tls(true))).await.unwrap();
    assert!(by_node.is_cluster());
    assert_eq!(by_node.queue_depth().await.unwrap().bulk, 24);
    // Without the client certificate, no node lets the store in.
    let refused = connect(&url, Some(client_tls(false))).await.err().unwrap();
    assert!(
        refused.to_string().contains("CertificateRequired"),
        "{refused}"
    );
    cluster.stop().await;
}
