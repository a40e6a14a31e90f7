//! The key schema's version marker, checked when the store connects, against a real,
//! private redis-server.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sluice_model::{MessageId, MessageStream};
use sluice_store::embedded::EmbeddedRedis;
use sluice_store::{Store, StoreError};

async fn raw(redis: &EmbeddedRedis) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn connect(redis: &EmbeddedRedis) -> Result<Store, StoreError> {
    Store::connect(&redis.url(), Duration::from_secs(60)).await
}

#[tokio::test]
async fn an_empty_redis_is_marked_with_this_version() {
    let dir = tempfile::tempdir().unwrap();
    let redis = EmbeddedRedis::start(dir.path(), false).await.unwrap();
    connect(&redis).await.unwrap();
    let mut conn = raw(&redis).await;
    let marker: Option<String> = redis::cmd("GET")
        .arg("sluice:schema")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(marker.as_deref(), Some("3"));
    // And a second process finds it and goes on.
    connect(&redis).await.unwrap();
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let redis = EmbeddedRedis::start(dir.path(), false).await.unwrap();
    let mut conn = raw(&redis).await;
    let _: () = redis::cmd("SET")
        .arg("sluice:schema")
        .arg("4")
        .query_async(&mut conn)
        .await
        .unwrap();
    match connect(&redis).await {
        Err(StoreError::SchemaTooNew {
            found: 4,
            supported: 3,
        }) => {}
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

#[tokio::test]
async fn keys_from_before_versions_are_moved_under_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let redis = EmbeddedRedis::start(dir.path(), false).await.unwrap();
    let mut conn = raw(&redis).await;
    // Version 0: a queue stream with its consumer group and an entry, a message
    // record with its expiry, the generated secret, a throttle bucket; and keys that
    // are not Sluice's.
    let stream = "sluice:{sluice:q0}:stream:transactional";
    let id = MessageId::generate();
    let record = format!("sluice:{{sluice:q0}}:msg:{id}");
    let _: () = redis::pipe()
        .cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg("workers")
        .arg("0")
        .arg("MKSTREAM")
        .ignore()
        .cmd("XADD")
        .arg(stream)
        .arg("*")
        .arg("m")
        .arg(id.as_str())
        .ignore()
        .cmd("HSET")
        .arg(&record)
        .arg("status")
        .arg("queued")
        .ignore()
        .cmd("PEXPIRE")
        .arg(&record)
        .arg(3_600_000)
        .ignore()
        .cmd("SET")
        .arg("sluice:secret")
        .arg("s3cret")
        .ignore()
        .cmd("SET")
        .arg("sluice:throttle:{k}:1:1000")
        .arg("1")
        .ignore()
        .cmd("SET")
        .arg("sluice:notours")
        .arg("x")
        .ignore()
        .cmd("SET")
        .arg("other")
        .arg("x")
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();

    let store = connect(&redis).await.unwrap();

    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    let moved_record = format!("sluice:v1:{{sluice:q0}}:msg:{id}");
    assert_eq!(
        keys,
        [
            "other",
            "sluice:notours",
            "sluice:schema",
            "sluice:v1:queue:partitions",
            "sluice:v1:secret",
            "sluice:v1:throttle:{k}:1:1000",
            moved_record.as_str(),
            "sluice:v1:{sluice:q0}:stream:transactional",
        ]
    );
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&moved_record)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 3_500_000, "{ttl}");
    assert_eq!(store.generated_secret().await.unwrap(), "s3cret");
    // The stream kept its group and its entry: a worker reads it.
    let queue = store.queue().await.unwrap();
    let entries = queue.next_batch("w1", 10, Duration::ZERO).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].stream, MessageStream::Transactional);
    assert_eq!(entries[0].message_id, id);
}

#[tokio::test]
async fn version_1_quota_and_idempotency_keys_move_to_the_tenant_slot() {
    let dir = tempfile::tempdir().unwrap();
    let redis = EmbeddedRedis::start(dir.path(), false).await.unwrap();
    let mut conn = raw(&redis).await;
    let tenant = "ten_01jd4k5q8z6y2x1w0v9t8s7r6p";
    let _: () = redis::pipe()
        .cmd("SET")
        .arg("sluice:schema")
        .arg("1")
        .ignore()
        .cmd("HSET")
        .arg(format!("sluice:v1:{{sluice:q0}}:quota:{tenant}"))
        .arg("bulk.per_day")
        .arg("7")
        .ignore()
        .cmd("HSET")
        .arg(format!("sluice:v1:{{sluice:q0}}:quota:{tenant}:bulk:day"))
        .arg("s")
        .arg("3")
        .ignore()
        .cmd("SET")
        .arg(format!("sluice:v1:{{sluice:q0}}:idem:{tenant}:abc"))
        .arg("fp\nmsg_x\nqueued")
        .arg("EX")
        .arg(3600)
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();

    connect(&redis).await.unwrap();

    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("sluice:v1:*")
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    let scope = format!("sluice:v1:{{sluice:t:{tenant}}}");
    assert_eq!(
        keys,
        [
            "sluice:v1:queue:partitions".to_string(),
            format!("{scope}:idem:abc"),
            format!("{scope}:quota"),
            format!("{scope}:quota:bulk:day"),
        ]
    );
    let per_day: String = redis::cmd("HGET")
        .arg(format!("{scope}:quota"))
        .arg("bulk.per_day")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(per_day, "7");
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("{scope}:idem:abc"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((3000..=3600).contains(&ttl), "{ttl}");
    let marker: String = redis::cmd("GET")
        .arg("sluice:schema")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(marker, "3");
}
