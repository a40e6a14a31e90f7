//! Quotas and fair bulk queueing against a real, private redis-server.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sluice_model::{
    MessageId, MessageStream, OutboundMessage, QuotasPatch, StreamQuota, StreamQuotaPatch,
    TenantId, TenantQuotas,
};
use sluice_store::{AcceptOutcome, FAIR_BACKLOG, NewMessage, QuotaLimit, Store};
use time::OffsetDateTime;

mod support;

use support::fixture;

fn message(stream: MessageStream) -> OutboundMessage {
    support::message(stream, "jane@example.com")
}

/// Plenty for everything a test does not mean to limit.
fn roomy() -> TenantQuotas {
    let big = StreamQuota {
        per_second: 1_000_000,
        burst: 1_000_000,
        per_day: 100_000_000,
    };
    TenantQuotas {
        transactional: big,
        bulk: big,
    }
}

/// Accepts `count` messages of one stream in one call; returns the outcomes.
async fn send(
    store: &Store,
    tenant: &TenantId,
    message: &OutboundMessage,
    count: usize,
    quotas: &TenantQuotas,
) -> (Vec<AcceptOutcome>, Vec<sluice_store::QuotaState>) {
    let ids: Vec<(MessageId, String)> = (0..count)
        .map(|_| {
            let id = MessageId::generate();
            let header = format!("<{id}@acme.test>");
            (id, header)
        })
        .collect();
    let news: Vec<NewMessage<'_>> = ids
        .iter()
        .map(|(id, header)| NewMessage {
            tenant,
            id,
            message,
            message_id_header: header,
            idempotency: None,
            now: OffsetDateTime::now_utc(),
            test: false,
        })
        .collect();
    let accepted = store.accept_messages(&news, quotas).await.unwrap();
    (accepted.outcomes, accepted.quotas)
}

fn created(outcomes: &[AcceptOutcome]) -> usize {
    outcomes
        .iter()
        .filter(|o| matches!(o, AcceptOutcome::Created { .. }))
        .count()
}

#[tokio::test]
async fn bulk_over_its_rate_is_refused_while_transactional_still_passes() {
    let f = fixture().await;
    let tenant = f.store.create_tenant("acme").await.unwrap().id;
    let mut quotas = roomy();
    quotas.bulk = StreamQuota {
        per_second: 1,
        burst: 3,
        per_day: 1000,
    };
    let bulk = message(MessageStream::Bulk);
    let (outcomes, states) = send(&f.store, &tenant, &bulk, 5, &quotas).await;
    assert_eq!(created(&outcomes), 3, "{outcomes:?}");
    let AcceptOutcome::OverQuota {
        stream,
        limit,
        retry_after,
    } = &outcomes[3]
    else {
        panic!("{outcomes:?}")
    };
    assert_eq!((*stream, *limit), (MessageStream::Bulk, QuotaLimit::Rate));
    assert!(
        retry_after > &Duration::ZERO && retry_after <= &Duration::from_secs(1),
        "{retry_after:?}"
    );
    let state = &states[0];
    assert_eq!(state.stream, MessageStream::Bulk);
    assert_eq!(state.rate_remaining, 0);
    assert_eq!(state.day_remaining, 997);

    // The transactional stream has its own allowance.
    let otp = message(MessageStream::Transactional);
    let (outcomes, _) = send(&f.store, &tenant, &otp, 50, &quotas).await;
    assert_eq!(created(&outcomes), 50);

    // A second later one more bulk message fits.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (outcomes, _) = send(&f.store, &tenant, &bulk, 2, &quotas).await;
    assert_eq!(created(&outcomes), 1, "{outcomes:?}");
}

#[tokio::test]
async fn the_rolling_day_is_counted_and_its_retry_after_is_a_day_away() {
    let f = fixture().await;
    let tenant = f.store.create_tenant("acme").await.unwrap().id;
    let mut quotas = roomy();
    quotas.transactional.per_day = 4;
    let otp = message(MessageStream::Transactional);
    let (outcomes, _) = send(&f.store, &tenant, &otp, 3, &quotas).await;
    assert_eq!(created(&outcomes), 3);
    let (outcomes, states) = send(&f.store, &tenant, &otp, 3, &quotas).await;
    assert_eq!(created(&outcomes), 1);
    let AcceptOutcome::OverQuota {
        limit, retry_after, ..
    } = &outcomes[1]
    else {
        panic!("{outcomes:?}")
    };
    assert_eq!(*limit, QuotaLimit::Daily);
    assert!(
        *retry_after > Duration::from_secs(23 * 3600)
            && *retry_after <= Duration::from_secs(24 * 3600),
        "{retry_after:?}"
    );
    assert_eq!(states[0].day_remaining, 0);
    assert!(states[0].day_reset > Duration::from_secs(23 * 3600));
}

#[tokio::test]
async fn a_tenants_own_quotas_override_the_defaults_and_null_restores_them() {
    let f = fixture().await;
    let tenant = f.store.create_tenant("acme").await.unwrap().id;
    let other = f.store.create_tenant("other").await.unwrap().id;
    let defaults = roomy();
    let patch: QuotasPatch = serde_json::from_value(serde_json::json!({
        "bulk": {"per_day": 2}
    }))
    .unwrap();
    f.store.update_tenant_quotas(&tenant, &patch).await.unwrap();
    let effective = f.store.tenant_quotas(&tenant, &defaults).await.unwrap();
    assert_eq!(effective.bulk.per_day, 2);
    assert_eq!(effective.bulk.burst, defaults.bulk.burst);

    let bulk = message(MessageStream::Bulk);
    let (outcomes, _) = send(&f.store, &tenant, &bulk, 3, &defaults).await;
    assert_eq!(created(&outcomes), 2);
    // Another tenant is not limited by it.
    let (outcomes, _) = send(&f.store, &other, &bulk, 3, &defaults).await;
    assert_eq!(created(&outcomes), 3);

    let reset = QuotasPatch {
        bulk: Some(StreamQuotaPatch {
            per_day: Some(None),
            ..Default::default()
        }),
        ..Default::default()
    };
    f.store.update_tenant_quotas(&tenant, &reset).await.unwrap();
    let (outcomes, _) = send(&f.store, &tenant, &bulk, 3, &defaults).await;
    assert_eq!(created(&outcomes), 3);
}

/// Reads the bulk stream in worker-sized batches until `total` entries came out;
/// returns the tenant of each, in the order workers got them.
async fn drain_bulk(
    store: &Store,
    owners: &std::collections::HashMap<MessageId, &str>,
    total: usize,
) -> Vec<String> {
    let queue = store.queue().await.unwrap();
    let mut order = Vec::new();
    while order.len() < total {
        let batch = queue.next_batch("w1", 50, Duration::ZERO).await.unwrap();
        assert!(!batch.is_empty(), "queue ran dry after {}", order.len());
        for entry in batch {
            order.push(owners[&entry.message_id].to_string());
            queue.discard(&entry).await.unwrap();
        }
    }
    order
}

fn ids_of(outcomes: &[AcceptOutcome]) -> Vec<MessageId> {
    outcomes
        .iter()
        .map(|o| match o {
            AcceptOutcome::Created { id, .. } => id.clone(),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn a_small_bulk_send_is_not_starved_by_another_tenants_campaign() {
    let f = fixture().await;
    let big = f.store.create_tenant("big").await.unwrap().id;
    let small = f.store.create_tenant("small").await.unwrap().id;
    let bulk = message(MessageStream::Bulk);
    let campaign = 2_500;
    let mut owners = std::collections::HashMap::new();
    for _ in 0..5 {
        let (outcomes, _) = send(&f.store, &big, &bulk, 500, &roomy()).await;
        owners.extend(ids_of(&outcomes).into_iter().map(|id| (id, "big")));
    }
    let (outcomes, _) = send(&f.store, &small, &bulk, 10, &roomy()).await;
    owners.extend(ids_of(&outcomes).into_iter().map(|id| (id, "small")));

    let order = drain_bulk(&f.store, &owners, owners.len()).await;
    let last_small = order.iter().rposition(|t| t == "small").unwrap();
    // The campaign's first FAIR_BACKLOG went straight to the stream; after that the
    // two tenants alternate, so the small sender is done within ~20 more messages
    // (plus one read batch). Without fair queueing it would come last (2,510th).
    assert!(
        last_small < FAIR_BACKLOG as usize + 20 + 50,
        "the small tenant's last message came out at position {last_small} of {}",
        order.len()
    );
    assert_eq!(order.iter().filter(|t| *t == "small").count(), 10);
    assert_eq!(order.len(), campaign + 10, "every message came out once");
}

#[tokio::test]
async fn scheduled_bulk_campaigns_queue_fairly_when_they_fall_due() {
    let f = fixture().await;
    let big = f.store.create_tenant("big").await.unwrap().id;
    let small = f.store.create_tenant("small").await.unwrap().id;
    let mut bulk = message(MessageStream::Bulk);
    let at = OffsetDateTime::now_utc() + time::Duration::minutes(5);
    bulk.send_at = Some(at);
    let mut owners = std::collections::HashMap::new();
    for _ in 0..3 {
        let (outcomes, _) = send(&f.store, &big, &bulk, 400, &roomy()).await;
        owners.extend(ids_of(&outcomes).into_iter().map(|id| (id, "big")));
    }
    let (outcomes, _) = send(&f.store, &small, &bulk, 5, &roomy()).await;
    owners.extend(ids_of(&outcomes).into_iter().map(|id| (id, "small")));

    let queue = f.store.queue().await.unwrap();
    let due = at + time::Duration::seconds(1);
    let mut moved = 0;
    while moved < owners.len() {
        let step = queue.promote_due(due, 500).await.unwrap();
        assert!(step > 0);
        moved += step;
    }
    let order = drain_bulk(&f.store, &owners, owners.len()).await;
    let last_small = order.iter().rposition(|t| t == "small").unwrap();
    assert!(
        last_small < FAIR_BACKLOG as usize + 10 + 50,
        "the small tenant's last message came out at position {last_small}"
    );
}
