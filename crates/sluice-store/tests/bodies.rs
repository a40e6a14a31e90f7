//! Message bodies as stored (compressed, a campaign's content once per partition),
//! against a real, private redis-server: what goes in comes out, the memory it
//! takes, records of the previous format, and the shared content's lifetime.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use sluice_model::{
    Limits, MessageId, MessageStream, OutboundMessage, SendMessageRequest, TenantQuotas,
};
use sluice_store::{AcceptOutcome, CancelOutcome, NewMessage, Store, StoreOptions};
use time::OffsetDateTime;

mod support;
use support::Fixture;

const RETENTION: Duration = Duration::from_secs(3600);

async fn fixture(partitions: u16) -> Fixture {
    support::fixture_with(StoreOptions {
        retention: RETENTION,
        partitions,
        ..StoreOptions::default()
    })
    .await
}

async fn raw(f: &Fixture) -> redis::aio::MultiplexedConnection {
    redis::Client::open(f.redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// A shipping notice of about 2.3 KB (text and HTML), for `name` at `to`.
fn notice(to: &str, name: &str) -> OutboundMessage {
    let rows: String = [
        ("Merino wool crew sweater, navy, size M", "89.00"),
        ("Organic cotton socks (3 pairs)", "19.50"),
        ("Shipping", "0.00"),
    ]
    .iter()
    .map(|(item, price)| {
        format!(
            "<tr><td style=\"padding:8px 0\">{item}</td><td align=\"right\">EUR {price}</td></tr>"
        )
    })
    .collect();
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><style>body{{margin:0;\
         background:#f4f5f7;font-family:Helvetica,Arial,sans-serif}}.btn{{padding:12px 20px;\
         background:#3e7bfa;color:#fff;border-radius:6px}}</style></head><body><table \
         width=\"100%\"><tr><td><h1>Hi {name}, your order is on its way!</h1><p>Good news: \
         your order left our warehouse in Rotterdam this morning and is now with the \
         carrier. Follow every step of its journey with the tracking link below; updates \
         usually appear within a few hours.</p><p><a class=\"btn\" \
         href=\"https://track.shop.test/t/{code}?utm_source=email\">Track your parcel</a>\
         </p><table width=\"100%\">{rows}</table><p>Questions about your order? Reply to \
         this email or visit our <a href=\"https://help.shop.test/orders\">help centre</a>. \
         Returns are free within 30 days.</p></td></tr><tr><td style=\"font-size:12px\">\
         Shop B.V., Keizersgracht 123, 1015 CJ Amsterdam. You receive this email because \
         you placed an order with us.</td></tr></table></body></html>",
        code = name.len() * 7919,
    );
    let text = format!(
        "Hi {name}, your order is on its way!\n\nGood news: your order left our warehouse \
         in Rotterdam this morning and is now with the carrier.\n\nTrack your parcel: \
         https://track.shop.test/t/{}\n\nQuestions? Reply to this email. Returns are free \
         within 30 days.\n\nShop B.V., Keizersgracht 123, 1015 CJ Amsterdam.\n",
        name.len() * 7919
    );
    SendMessageRequest {
        from: "Shop <orders@shop.test>".into(),
        to: vec![to.into()],
        subject: format!("{name}, your order has shipped"),
        text: Some(text),
        html: Some(html),
        stream: Some(MessageStream::Bulk),
        ..Default::default()
    }
    .validate(&Limits::default(), OffsetDateTime::now_utc())
    .unwrap()
}

/// Accepts `messages` in one request; returns their ids.
async fn accept_all(f: &Fixture, messages: &[OutboundMessage]) -> Vec<MessageId> {
    let ids: Vec<MessageId> = messages.iter().map(|_| MessageId::generate()).collect();
    let header = "<x@shop.test>";
    let news: Vec<NewMessage<'_>> = messages
        .iter()
        .zip(&ids)
        .map(|(message, id)| NewMessage {
            tenant: &f.tenant,
            id,
            message,
            message_id_header: header,
            idempotency: None,
            now: OffsetDateTime::now_utc(),
            test: false,
        })
        .collect();
    let quotas = TenantQuotas::default();
    let accepted = f.store.accept_messages(&news, &quotas).await.unwrap();
    for outcome in &accepted.outcomes {
        assert!(
            matches!(outcome, AcceptOutcome::Created { .. }),
            "{outcome:?}"
        );
    }
    ids
}

/// Every queued message, as the worker loads it (claimed), by id.
async fn drain(store: &Store) -> HashMap<MessageId, OutboundMessage> {
    let queue = store.queue().await.unwrap();
    let mut out = HashMap::new();
    loop {
        let batch = queue.next_batch("w1", 100, Duration::ZERO).await.unwrap();
        if batch.is_empty() {
            return out;
        }
        for entry in batch {
            if let Some(job) = queue.load(&entry).await.unwrap().into_job() {
                out.insert(job.entry.message_id.clone(), job.message);
            }
        }
    }
}

async fn content_keys(conn: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    redis::cmd("KEYS")
        .arg("sluice:v1:*:content:*")
        .query_async(conn)
        .await
        .unwrap()
}

async fn used_memory(conn: &mut redis::aio::MultiplexedConnection) -> i64 {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Accepts `messages` (500-message requests) and returns Redis memory per message ÷
/// the message's JSON size, once the event fan-out has taken the messages' events
/// (here: the partitions' event streams deleted, as it deletes each entry).
async fn memory_ratio(f: &Fixture, messages: &[OutboundMessage]) -> f64 {
    let mut conn = raw(f).await;
    drop_event_streams(&mut conn).await;
    let before = used_memory(&mut conn).await;
    for request in messages.chunks(500) {
        accept_all(f, request).await;
    }
    drop_event_streams(&mut conn).await;
    let per_message = (used_memory(&mut conn).await - before) as f64 / messages.len() as f64;
    let size = serde_json::to_vec(&messages[0]).unwrap().len() as f64;
    println!("{per_message:.0} bytes of Redis memory per {size}-byte message");
    per_message / size
}

async fn drop_event_streams(conn: &mut redis::aio::MultiplexedConnection) {
    let streams: Vec<String> = redis::cmd("KEYS")
        .arg("sluice:v1:{sluice:q*}:events")
        .query_async(conn)
        .await
        .unwrap();
    for stream in streams {
        let _: () = redis::cmd("DEL")
            .arg(stream)
            .query_async(conn)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn one_body_for_many_recipients_is_stored_once_per_partition() {
    let f = fixture(4).await;
    let messages: Vec<OutboundMessage> = (0..500)
        .map(|i| notice(&format!("r{i}@example.test"), "customer"))
        .collect();
    let ids = accept_all(&f, &messages).await;
    let mut conn = raw(&f).await;
    assert_eq!(content_keys(&mut conn).await.len(), 4, "one per partition");
    // The worker gets back exactly what was accepted.
    let loaded = drain(&f.store).await;
    assert_eq!(loaded.len(), 500);
    for (id, message) in ids.iter().zip(&messages) {
        assert_eq!(&loaded[id], message);
    }
}

#[tokio::test]
async fn queued_mail_takes_less_redis_memory_than_its_size() {
    // One body for many recipients, then a template rendered per recipient.
    let f = fixture(16).await;
    let same: Vec<OutboundMessage> = (0..2000)
        .map(|i| notice(&format!("r{i}@example.test"), "customer"))
        .collect();
    // (The embedded redis-server runs with `hash-max-listpack-value 256`: see
    // `embedded::RECOMMENDED_HASH_MAX_LISTPACK_VALUE`; Redis's default gives ~1.1×.)
    let ratio = memory_ratio(&f, &same).await;
    assert!(ratio < 0.8, "{ratio:.2}× for one body");
    let personal: Vec<OutboundMessage> = (0..2000)
        .map(|i| notice(&format!("p{i}@example.test"), &format!("Customer {i}")))
        .collect();
    let ratio = memory_ratio(&f, &personal).await;
    assert!(ratio < 0.8, "{ratio:.2}× for personalised bodies");
}

#[tokio::test]
async fn records_from_before_compression_are_still_delivered() {
    let f = fixture(1).await;
    let message = notice("old@example.test", "Old");
    let id = accept_all(&f, std::slice::from_ref(&message))
        .await
        .remove(0);
    // What the previous version stored: the message as plain JSON.
    let mut conn = raw(&f).await;
    let key = format!("sluice:v1:{{sluice:q0}}:msg:{id}");
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg("body")
        .arg(serde_json::to_string(&message).unwrap())
        .query_async(&mut conn)
        .await
        .unwrap();
    let loaded = drain(&f.store).await;
    assert_eq!(loaded[&id], message);
    assert!(f.store.get_message(&f.tenant, &id).await.unwrap().is_some());
}

async fn pttl(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(conn).await.unwrap()
}

#[tokio::test]
async fn shared_content_outlives_every_record_that_uses_it() {
    let f = fixture(1).await;
    let mut conn = raw(&f).await;
    let mut later = notice("later@example.test", "c");
    later.send_at = Some(OffsetDateTime::now_utc() + time::Duration::hours(2));
    let messages = [
        notice("a@example.test", "c"),
        notice("b@example.test", "c"),
        later,
    ];
    let ids = accept_all(&f, &messages).await;
    let content = content_keys(&mut conn).await.remove(0);
    let record = |id: &MessageId| format!("sluice:v1:{{sluice:q0}}:msg:{id}");
    let longest = pttl(&mut conn, &record(&ids[2])).await;
    assert!(
        longest > RETENTION.as_millis() as i64 + 7_000_000,
        "{longest}"
    );
    // The scheduled record lives longest; the content a margin (a day) beyond it.
    assert!(pttl(&mut conn, &content).await > longest + 86_000_000);

    // Cancelling a message leaves the content to the others.
    let cancelled = f
        .store
        .cancel_message(&f.tenant, &ids[0], OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert!(
        matches!(cancelled, CancelOutcome::Cancelled(_)),
        "{cancelled:?}"
    );
    let exists: bool = redis::cmd("EXISTS")
        .arg(&content)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(exists);

    // A claim pushes the content's expiry out again (here: after something shortened it).
    let _: () = redis::cmd("PEXPIRE")
        .arg(&content)
        .arg(60_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    let loaded = drain(&f.store).await;
    assert_eq!(loaded[&ids[1]], messages[1]);
    assert!(pttl(&mut conn, &content).await > RETENTION.as_millis() as i64 + 86_000_000);

    // A record whose content is gone all the same is unreadable, not a panic or a
    // wrong message (the worker dead-letters it).
    let _: () = redis::cmd("DEL")
        .arg(&content)
        .query_async(&mut conn)
        .await
        .unwrap();
    let queue = f.store.queue().await.unwrap();
    let _: () = redis::cmd("ZADD")
        .arg("sluice:v1:{sluice:q0}:delayed")
        .arg(0)
        .arg(format!("bulk|{}", ids[2]))
        .query_async(&mut conn)
        .await
        .unwrap();
    queue
        .promote_due(OffsetDateTime::now_utc(), 10)
        .await
        .unwrap();
    let batch = queue.next_batch("w1", 10, Duration::ZERO).await.unwrap();
    assert_eq!(batch.len(), 1);
    assert!(matches!(
        queue.load(&batch[0]).await,
        Err(sluice_store::StoreError::Corrupt { .. })
    ));
}
