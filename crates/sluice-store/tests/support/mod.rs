//! What the store's test files share: a private redis-server with a tenant, a
//! simple message, and accepting it.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use sluice_model::{
    Limits, MessageId, MessageStream, OutboundMessage, SendMessageRequest, TenantId, TenantQuotas,
};
use sluice_store::embedded::EmbeddedRedis;
use sluice_store::{AcceptOutcome, NewMessage, Store, StoreOptions};
use time::OffsetDateTime;

pub struct Fixture {
    _dir: tempfile::TempDir,
    pub redis: EmbeddedRedis,
    pub store: Store,
    /// A tenant named `acme`.
    pub tenant: TenantId,
}

pub async fn fixture() -> Fixture {
    fixture_with(StoreOptions {
        retention: Duration::from_secs(3600),
        partitions: 1,
        ..StoreOptions::default()
    })
    .await
}

/// [`fixture`] with a store of these options.
pub async fn fixture_with(options: StoreOptions) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let redis = EmbeddedRedis::start(dir.path(), false).await.unwrap();
    let store = Store::connect_with(&redis.url(), options).await.unwrap();
    let tenant = store.create_tenant("acme").await.unwrap().id;
    Fixture {
        _dir: dir,
        redis,
        store,
        tenant,
    }
}

/// From `noreply@acme.test` to `to`, on `stream`.
pub fn message(stream: MessageStream, to: &str) -> OutboundMessage {
    SendMessageRequest {
        from: "Acme <noreply@acme.test>".into(),
        to: vec![to.into()],
        subject: "Hello".into(),
        text: Some("Hi".into()),
        stream: Some(stream),
        ..Default::default()
    }
    .validate(&Limits::default(), OffsetDateTime::now_utc())
    .unwrap()
}

/// Accepts `message` for the fixture's tenant under the default quotas.
pub async fn accept(
    f: &Fixture,
    message: &OutboundMessage,
    idempotency: Option<(&str, &str)>,
) -> AcceptOutcome {
    accept_on(&f.store, &f.tenant, message, idempotency).await
}

/// Accepts `message` for `tenant` through `store` under the default quotas.
pub async fn accept_on(
    store: &Store,
    tenant: &TenantId,
    message: &OutboundMessage,
    idempotency: Option<(&str, &str)>,
) -> AcceptOutcome {
    let id = MessageId::generate();
    let header = format!("<{id}@acme.test>");
    store
        .accept_message(
            NewMessage {
                tenant,
                id: &id,
                message,
                message_id_header: &header,
                idempotency,
                now: OffsetDateTime::now_utc(),
                test: false,
            },
            &TenantQuotas::default(),
        )
        .await
        .unwrap()
        .0
}

pub fn created_id(outcome: AcceptOutcome) -> MessageId {
    match outcome {
        AcceptOutcome::Created { id, .. } => id,
        other => panic!("expected created, got {other:?}"),
    }
}

/// Queues one message to jane@example.com on `stream`; its id.
pub async fn queued(f: &Fixture, stream: MessageStream) -> MessageId {
    created_id(accept(f, &message(stream, "jane@example.com"), None).await)
}

/// An event record to deliver to webhooks (`evt_<n>-0`).
pub fn event_record(n: usize) -> sluice_model::EventRecord {
    sluice_model::EventRecord {
        id: format!("evt_{n}-0"),
        message_id: None,
        event: sluice_model::MessageEvent::new(
            sluice_model::EventType::Delivered,
            OffsetDateTime::now_utc(),
        ),
        tags: Vec::new(),
        metadata: Default::default(),
    }
}

/// Schedules `events` for each of `endpoints`, due now.
pub async fn schedule_webhooks(
    store: &Store,
    tenant: &TenantId,
    endpoints: &[sluice_model::WebhookId],
    events: &[sluice_model::EventRecord],
) {
    let deliveries: Vec<_> = endpoints
        .iter()
        .flat_map(|endpoint| {
            events.iter().map(move |record| sluice_store::NewDelivery {
                tenant,
                endpoint,
                record,
            })
        })
        .collect();
    let scheduled = store
        .enqueue_webhook_deliveries(
            &deliveries,
            sluice_model::time::now_ms(),
            Duration::from_secs(3600),
            false,
        )
        .await
        .unwrap();
    assert_eq!(scheduled, deliveries.len());
}

/// The keys matching `pattern` on each node (`KEYS`: test servers only).
pub async fn keys_on_each_node(urls: &[String], pattern: &str) -> Vec<usize> {
    let mut counts = Vec::new();
    for url in urls {
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query_async(&mut conn)
            .await
            .unwrap();
        counts.push(keys.len());
    }
    counts
}
