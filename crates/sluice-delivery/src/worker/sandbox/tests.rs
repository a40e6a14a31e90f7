//! The sandbox's outcomes through the real settlement, without a network.

use super::*;
use crate::retry::RetryPolicy;
use crate::worker::outcome::settle_attempt;
use sluice_model::{
    BounceClass, BounceType, Limits, MessageId, MessageStatus, MessageStream, RecipientKind,
    RecipientState, RecipientStatus, SendMessageRequest, TenantId,
};
use sluice_store::QueueEntry;

fn test_job(addresses: &[&str]) -> DeliveryJob {
    let now = OffsetDateTime::now_utc();
    let message = SendMessageRequest {
        from: "a@acme.test".into(),
        to: addresses.iter().map(|a| a.to_string()).collect(),
        subject: "s".into(),
        text: Some("t".into()),
        ..Default::default()
    }
    .validate(&Limits::default(), now)
    .unwrap_or_else(|e| panic!("{e:?}"));
    let recipients = addresses
        .iter()
        .map(|a| RecipientState {
            address: a.to_string(),
            kind: RecipientKind::To,
            status: RecipientStatus::Queued,
            smtp_reply: None,
            attempts: 0,
            updated_at: now,
        })
        .collect();
    DeliveryJob {
        entry: QueueEntry {
            partition: sluice_store::Partition(0),
            stream: MessageStream::Transactional,
            entry_id: "1-0".into(),
            message_id: MessageId::generate(),
        },
        tenant: TenantId::generate(),
        status: MessageStatus::Queued,
        message,
        message_id_header: "<x@acme.test>".into(),
        recipients,
        attempts: 0,
        created_at: now,
        test: true,
    }
}

/// One simulated attempt, settled and marked as the worker does it.
fn attempt(job: &DeliveryJob) -> Settlement {
    let mut result = AttemptResult::transient("unused");
    for r in job.recipients.iter().filter(|r| !r.status.is_final()) {
        result.record(
            std::slice::from_ref(&r.address),
            &simulated(&r.address, r.attempts, "ABC123"),
        );
    }
    let result = result.with_note("sandbox: NOTE");
    let now = OffsetDateTime::now_utc();
    let mut settlement = settle_attempt(job, &result, &RetryPolicy::default(), now);
    mark(&result, &mut settlement, now);
    settlement
}

fn status_of(settlement: &Settlement, address: &str) -> RecipientStatus {
    settlement
        .recipients
        .iter()
        .find(|r| r.address == address)
        .map(|r| r.status)
        .unwrap_or_else(|| panic!("no {address}"))
}

fn kinds_for(settlement: &Settlement, address: &str) -> Vec<EventType> {
    settlement
        .events
        .iter()
        .filter(|e| e.recipient.as_deref() == Some(address))
        .map(|e| e.kind)
        .collect()
}

#[test]
fn the_local_part_picks_the_scenario_on_any_domain() {
    assert_eq!(Scenario::of("bounced@example.com"), Scenario::Bounce);
    assert_eq!(Scenario::of("Bounced+7@x.test"), Scenario::Bounce);
    assert_eq!(Scenario::of("deferred@gmail.com"), Scenario::Defer);
    assert_eq!(Scenario::of("complained@x.test"), Scenario::Complain);
    assert_eq!(Scenario::of("suppressed@x.test"), Scenario::Suppress);
    assert_eq!(Scenario::of("delivered@x.test"), Scenario::Deliver);
    assert_eq!(Scenario::of("jane@x.test"), Scenario::Deliver);
    assert_eq!(Scenario::of("x@bounced.test"), Scenario::Deliver);
}

#[test]
fn each_local_part_settles_to_its_outcome_with_test_events() {
    let addresses = [
        "delivered@a.test",
        "bounced@b.test",
        "deferred@c.test",
        "complained@d.test",
        "suppressed@e.test",
    ];
    let mut job = test_job(&addresses);
    let first = attempt(&job);
    assert_eq!(
        status_of(&first, "delivered@a.test"),
        RecipientStatus::Delivered
    );
    assert_eq!(
        status_of(&first, "bounced@b.test"),
        RecipientStatus::Bounced
    );
    assert_eq!(
        status_of(&first, "deferred@c.test"),
        RecipientStatus::Deferred
    );
    assert_eq!(
        status_of(&first, "complained@d.test"),
        RecipientStatus::Delivered
    );
    assert_eq!(
        status_of(&first, "suppressed@e.test"),
        RecipientStatus::Suppressed
    );
    assert!(
        first.retry_at.is_some(),
        "the deferred recipient is retried"
    );
    assert!(first.events.iter().all(|e| e.test), "{:#?}", first.events);

    let bounce = first
        .events
        .iter()
        .find(|e| e.kind == EventType::Bounced)
        .unwrap_or_else(|| panic!("no bounce"));
    let reply = bounce
        .smtp_reply
        .as_ref()
        .unwrap_or_else(|| panic!("no reply"));
    assert_eq!(reply.code, 550);
    assert_eq!(reply.enhanced_code.as_deref(), Some("5.1.1"));
    let b = bounce.bounce.unwrap_or_else(|| panic!("unclassified"));
    // Hard and bad-mailbox: what the suppression policy adds to the list.
    assert_eq!(
        (b.kind, b.class),
        (BounceType::Hard, BounceClass::BadMailbox)
    );
    assert_eq!(bounce.detail.as_deref(), Some("sandbox: NOTE"));

    assert_eq!(
        kinds_for(&first, "complained@d.test"),
        [EventType::Delivered, EventType::Complained]
    );
    let complaint = first
        .events
        .iter()
        .find(|e| e.kind == EventType::Complained)
        .unwrap_or_else(|| panic!("no complaint"));
    assert_eq!(complaint.feedback_type.as_deref(), Some("abuse"));
    let deferral = first
        .events
        .iter()
        .find(|e| e.kind == EventType::Deferred)
        .unwrap_or_else(|| panic!("no deferral"));
    assert_eq!(deferral.smtp_reply.as_ref().map(|r| r.code), Some(451));
    assert_eq!(
        kinds_for(&first, "suppressed@e.test"),
        [EventType::Suppressed]
    );

    // The retry delivers the deferred recipient.
    job.recipients = first.recipients.clone();
    job.attempts = first.attempts;
    let second = attempt(&job);
    assert_eq!(
        status_of(&second, "deferred@c.test"),
        RecipientStatus::Delivered
    );
    assert_eq!(
        kinds_for(&second, "deferred@c.test"),
        [EventType::Delivered]
    );
    assert_eq!(second.events.len(), 1, "{:#?}", second.events);
    assert!(second.events[0].test);
    assert_eq!(second.status, MessageStatus::Delivered);
    assert!(second.retry_at.is_none());
}

#[test]
fn the_note_names_each_signature_read_from_the_signed_bytes() {
    let signed = b"DKIM-Signature: v=1; a=rsa-sha256; d=acme.test;\r\n\ts=sel1; h=From; bh=x; b=y\r\nDKIM-Signature: v=1; a=ed25519-sha256; d=acme.test; s=sel2;\r\n b=z\r\nFrom: a@acme.test\r\n\r\nDKIM-Signature: in the body\r\n";
    let note = signed_note(signed);
    assert!(
        note.contains(&format!(
            "({} bytes; d=acme.test s=sel1, d=acme.test s=sel2)",
            signed.len()
        )),
        "{note}"
    );
    assert!(signed_note(b"From: a@b\r\n\r\nbody").contains("no DKIM-Signature"));
}
