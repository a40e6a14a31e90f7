//! Cancelling against the worker's claim, and API keys' life cycle, against a real,
//! private redis-server. The interleavings the HTTP tests can only hit by timing are
//! driven here step by step.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sluice_model::{
    ApiKeyMode, ApiKeyStatus, EventType, MessageId, MessageStatus, MessageStream, OutboundMessage,
    RecipientStatus, Scope,
};
use sluice_store::{CancelOutcome, KeyLookup, NewApiKey, Settlement};
use time::OffsetDateTime;

mod support;

use support::{Fixture, fixture};

fn message(to: &str, send_at: Option<OffsetDateTime>) -> OutboundMessage {
    let mut message = support::message(MessageStream::Transactional, to);
    message.send_at = send_at;
    message
}

async fn accept(f: &Fixture, message: &OutboundMessage) -> MessageId {
    support::created_id(support::accept(f, message, None).await)
}

async fn cancel(f: &Fixture, id: &MessageId) -> CancelOutcome {
    f.store
        .cancel_message(&f.tenant, id, OffsetDateTime::now_utc())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_claimed_message_cannot_be_cancelled_until_its_attempt_settles() {
    let f = fixture().await;
    let id = accept(&f, &message("jane@example.com", None)).await;
    let queue = f.store.queue().await.unwrap();
    let entry = queue
        .next_batch("w1", 1, Duration::ZERO)
        .await
        .unwrap()
        .remove(0);
    let job = queue.load(&entry).await.unwrap().into_job().unwrap();
    assert_eq!(cancel(&f, &id).await, CancelOutcome::InFlight);

    // The attempt ends deferred: the claim goes with the settlement, and the message
    // waiting for its retry can be cancelled.
    let mut recipients = job.recipients.clone();
    recipients[0].status = RecipientStatus::Deferred;
    let settlement = Settlement {
        status: MessageStatus::Deferred,
        recipients,
        attempts: 1,
        events: vec![],
        retry_at: Some(OffsetDateTime::now_utc() + time::Duration::hours(1)),
        waitlists: vec![],
    };
    queue.settle(&entry, &settlement).await.unwrap();
    assert_eq!(
        cancel(&f, &id).await,
        CancelOutcome::Cancelled(MessageStatus::Cancelled)
    );
    let view = f.store.get_message(&f.tenant, &id).await.unwrap().unwrap();
    assert_eq!(view.status, MessageStatus::Cancelled);
    assert_eq!(view.recipients[0].status, RecipientStatus::Cancelled);
    assert_eq!(view.next_attempt_at, None);
    assert_eq!(view.events.last().unwrap().kind, EventType::Cancelled);
    assert_eq!(queue.depth().await.unwrap().delayed, 0, "the retry is gone");
    // Whatever is still queued for it is not sent: a load finds it final.
    assert!(queue.load(&entry).await.unwrap().into_job().is_none());
    assert_eq!(
        cancel(&f, &id).await,
        CancelOutcome::Final(MessageStatus::Cancelled)
    );
}

#[tokio::test]
async fn a_message_cancelled_before_its_load_is_dropped_without_a_claim() {
    let f = fixture().await;
    let id = accept(&f, &message("jane@example.com", None)).await;
    let queue = f.store.queue().await.unwrap();
    let entry = queue
        .next_batch("w1", 1, Duration::ZERO)
        .await
        .unwrap()
        .remove(0);
    // The worker read the entry but has not loaded it yet.
    assert_eq!(
        cancel(&f, &id).await,
        CancelOutcome::Cancelled(MessageStatus::Cancelled)
    );
    assert!(queue.load(&entry).await.unwrap().into_job().is_none());
    queue.discard(&entry).await.unwrap();
    let depth = queue.depth().await.unwrap();
    assert_eq!((depth.transactional, depth.in_flight), (0, 0));
    // And a discarded entry releases a claim its load took (an unreadable record).
    let other = accept(&f, &message("joe@example.com", None)).await;
    let entry = queue
        .next_batch("w1", 1, Duration::ZERO)
        .await
        .unwrap()
        .remove(0);
    assert!(queue.load(&entry).await.unwrap().into_job().is_some());
    assert_eq!(cancel(&f, &other).await, CancelOutcome::InFlight);
    queue.discard(&entry).await.unwrap();
    assert_eq!(
        cancel(&f, &other).await,
        CancelOutcome::Cancelled(MessageStatus::Cancelled)
    );
}

#[tokio::test]
async fn a_scheduled_message_leaves_the_delayed_set_and_others_see_nothing() {
    let f = fixture().await;
    let due = OffsetDateTime::now_utc() + time::Duration::seconds(1);
    let id = accept(&f, &message("jane@example.com", Some(due))).await;
    let queue = f.store.queue().await.unwrap();
    assert_eq!(queue.depth().await.unwrap().delayed, 1);

    let stranger = f.store.create_tenant("other").await.unwrap().id;
    let outcome = f
        .store
        .cancel_message(&stranger, &id, OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(outcome, CancelOutcome::NotFound);
    assert_eq!(
        cancel(&f, &MessageId::generate()).await,
        CancelOutcome::NotFound
    );

    assert_eq!(
        cancel(&f, &id).await,
        CancelOutcome::Cancelled(MessageStatus::Cancelled)
    );
    assert_eq!(queue.depth().await.unwrap().delayed, 0);
    let moved = queue
        .promote_due(due + time::Duration::seconds(5), 100)
        .await
        .unwrap();
    assert_eq!(moved, 0, "nothing left to promote");
    assert!(
        queue
            .next_batch("w1", 10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn keys_expire_and_revoke_within_their_tenant_only() {
    let f = fixture().await;
    let forever = f
        .store
        .create_api_key_with(
            &f.tenant,
            &NewApiKey {
                scopes: vec![Scope::Send],
                name: Some("ci".into()),
                expires_at: None,
                mode: ApiKeyMode::Test,
            },
        )
        .await
        .unwrap();
    let short = f
        .store
        .create_api_key_with(
            &f.tenant,
            &NewApiKey {
                scopes: vec![Scope::Read],
                name: None,
                expires_at: Some(OffsetDateTime::now_utc() + time::Duration::milliseconds(300)),
                mode: ApiKeyMode::Live,
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        f.store.authenticate_api_key(&short.key).await.unwrap(),
        KeyLookup::Valid(_)
    ));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        f.store.authenticate_api_key(&short.key).await.unwrap(),
        KeyLookup::Expired
    );

    let stranger = f.store.create_tenant("other").await.unwrap().id;
    assert!(
        !f.store
            .revoke_api_key(&stranger, &forever.id)
            .await
            .unwrap()
    );
    assert!(f.store.list_api_keys(&stranger).await.unwrap().is_empty());
    assert!(matches!(
        f.store.authenticate_api_key(&forever.key).await.unwrap(),
        KeyLookup::Valid(record) if record.tenant_id == f.tenant && record.scopes == [Scope::Send]
            && record.mode == ApiKeyMode::Test
    ));
    assert!(forever.key.starts_with("sk_test_"), "{}", forever.key);
    assert!(!short.key.starts_with("sk_test_"), "{}", short.key);

    assert!(
        f.store
            .revoke_api_key(&f.tenant, &forever.id)
            .await
            .unwrap()
    );
    assert_eq!(
        f.store.authenticate_api_key(&forever.key).await.unwrap(),
        KeyLookup::Unknown
    );
    let listed = f.store.list_api_keys(&f.tenant).await.unwrap();
    assert_eq!(listed.len(), 2);
    let find = |id| listed.iter().find(|k| &k.id == id).unwrap();
    let (revoked, expired) = (find(&forever.id), find(&short.id));
    assert_eq!(revoked.status, ApiKeyStatus::Revoked);
    assert!(revoked.revoked_at.is_some());
    assert_eq!(revoked.name.as_deref(), Some("ci"));
    assert_eq!(revoked.last4, forever.key[forever.key.len() - 4..]);
    assert_eq!(expired.status, ApiKeyStatus::Expired);
    assert_eq!(expired.revoked_at, None);
    assert_eq!(
        (revoked.mode, expired.mode),
        (ApiKeyMode::Test, ApiKeyMode::Live)
    );
}
