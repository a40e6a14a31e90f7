//! The suppression policy applied to events, against a real, private redis-server
//! (moved from sluice-store's suppression tests with the policy itself).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sluice_events::suppression::apply_event;
use sluice_model::{
    BounceClass, BounceType, EventRecord, EventType, MessageEvent, MessageId, SuppressionReason,
    TenantId,
};
use sluice_store::embedded::EmbeddedRedis;
use sluice_store::{NewSuppression, Store};
use time::OffsetDateTime;

struct Fixture {
    _dir: tempfile::TempDir,
    _redis: EmbeddedRedis,
    list: Store,
    tenant: TenantId,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let redis = EmbeddedRedis::start(dir.path(), false).await.unwrap();
    let store = Store::connect(&redis.url(), Duration::from_secs(3600))
        .await
        .unwrap();
    let tenant = store.create_tenant("acme").await.unwrap().id;
    Fixture {
        _dir: dir,
        _redis: redis,
        list: store,
        tenant,
    }
}

fn record(kind: EventType, recipient: &str) -> EventRecord {
    EventRecord {
        id: "evt_1795376091664-0".into(),
        message_id: Some(MessageId::generate()),
        event: MessageEvent::new(kind, OffsetDateTime::now_utc()).recipient(recipient),
        tags: Vec::new(),
        metadata: Default::default(),
    }
}

fn bounce(recipient: &str, kind: BounceType, class: BounceClass) -> EventRecord {
    let mut record = record(EventType::Bounced, recipient);
    record.event = record.event.bounce(kind, class);
    record
}

#[tokio::test]
async fn the_first_reason_is_kept() {
    let f = fixture().await;
    let complaint = record(EventType::Complained, "jane@example.com");
    assert!(apply_event(&f.list, &f.tenant, &complaint).await.unwrap());
    let again = f
        .list
        .add_suppression(&f.tenant, "jane@example.com", NewSuppression::manual(None))
        .await
        .unwrap();
    assert!(!again.added);
    assert_eq!(again.entry.reason, SuppressionReason::Complaint);
    assert_eq!(again.entry.event_id.as_deref(), Some(complaint.id.as_str()));
    assert_eq!(again.entry.message_id, complaint.message_id);
    let stored = f
        .list
        .get_suppression(&f.tenant, "jane@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.reason, SuppressionReason::Complaint);
}

#[tokio::test]
async fn events_apply_the_policy_idempotently() {
    let f = fixture().await;
    let cases = [
        (
            bounce("gone@x.test", BounceType::Hard, BounceClass::BadMailbox),
            Some(SuppressionReason::HardBounce),
        ),
        (
            bounce("nodomain@x.test", BounceType::Hard, BounceClass::Dns),
            Some(SuppressionReason::HardBounce),
        ),
        (
            bounce("blocked@x.test", BounceType::Hard, BounceClass::SpamBlock),
            None,
        ),
        (
            bounce("policy@x.test", BounceType::Hard, BounceClass::Policy),
            None,
        ),
        (
            bounce("full@x.test", BounceType::Soft, BounceClass::MailboxFull),
            None,
        ),
        (
            record(EventType::Complained, "angry@x.test"),
            Some(SuppressionReason::Complaint),
        ),
        (
            record(EventType::Unsubscribed, "done@x.test"),
            Some(SuppressionReason::Unsubscribe),
        ),
        (record(EventType::Delivered, "fine@x.test"), None),
    ];
    for (event, expected) in &cases {
        let recipient = event.event.recipient.clone().unwrap();
        let added = apply_event(&f.list, &f.tenant, event).await.unwrap();
        assert_eq!(added, expected.is_some(), "{recipient}");
        // At-least-once processing: the repeat changes nothing.
        assert!(!apply_event(&f.list, &f.tenant, event).await.unwrap());
        let entry = f.list.get_suppression(&f.tenant, &recipient).await.unwrap();
        assert_eq!(entry.map(|e| e.reason), *expected, "{recipient}");
    }
    let page = f
        .list
        .list_suppressions(&f.tenant, None, 100, None)
        .await
        .unwrap();
    assert_eq!(page.entries.len(), 4);

    let mut without_recipient = record(EventType::Complained, "x@x.test");
    without_recipient.event.recipient = None;
    assert!(
        !apply_event(&f.list, &f.tenant, &without_recipient)
            .await
            .unwrap()
    );
}
