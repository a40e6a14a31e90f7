//! The suppression policy: which events put their recipient on the tenant's
//! suppression list. The list itself (its Redis keys, "the first reason wins") is
//! the store's; what deserves a place on it is decided here, once, for every event
//! the fan-out reads.

use sluice_model::{
    BounceClass, BounceType, EventRecord, EventType, MessageEvent, SuppressionReason, TenantId,
};
use sluice_store::{NewSuppression, Store, StoreError};

/// The reason an event puts its recipient on the suppression list, if it does: hard
/// bounces that say the address itself is bad (no such mailbox, no such domain),
/// complaints and unsubscribes. Policy and spam-block refusals say nothing about the
/// address, and soft bounces are temporary, so those never suppress.
pub fn suppression_reason(event: &MessageEvent) -> Option<SuppressionReason> {
    match event.kind {
        EventType::Bounced => event
            .bounce
            .filter(|b| {
                b.kind == BounceType::Hard
                    && matches!(b.class, BounceClass::BadMailbox | BounceClass::Dns)
            })
            .map(|_| SuppressionReason::HardBounce),
        EventType::Complained => Some(SuppressionReason::Complaint),
        EventType::Unsubscribed => Some(SuppressionReason::Unsubscribe),
        _ => None,
    }
}

/// Applies the policy to one event: adds the recipient of a hard bad-mailbox/DNS
/// bounce, a complaint or an unsubscribe (see [`suppression_reason`]), naming the
/// event and message that put it there. Safe to repeat (the fan-out is
/// at-least-once): the list keeps an existing entry. `true` when the address was
/// newly added.
pub async fn apply_event(
    store: &Store,
    tenant: &TenantId,
    record: &EventRecord,
) -> Result<bool, StoreError> {
    let Some(reason) = suppression_reason(&record.event) else {
        return Ok(false);
    };
    let Some(recipient) = record
        .event
        .recipient
        .as_deref()
        .filter(|r| !r.trim().is_empty())
    else {
        return Ok(false);
    };
    let entry = NewSuppression {
        reason,
        message_id: record.message_id.clone(),
        event_id: Some(record.id.clone()),
        note: None,
    };
    let added = store.add_suppression(tenant, recipient, entry).await?;
    if added.added {
        tracing::info!(%tenant, reason = %reason, event = %record.id, "recipient added to the suppression list");
    }
    Ok(added.added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn bounced(kind: BounceType, class: BounceClass) -> MessageEvent {
        MessageEvent::new(EventType::Bounced, OffsetDateTime::now_utc())
            .recipient("a@x.test")
            .bounce(kind, class)
    }

    #[test]
    fn only_bounces_about_the_address_suppress() {
        use BounceClass::*;
        let hard = |class| suppression_reason(&bounced(BounceType::Hard, class));
        assert_eq!(hard(BadMailbox), Some(SuppressionReason::HardBounce));
        assert_eq!(hard(Dns), Some(SuppressionReason::HardBounce));
        for class in [
            Policy,
            SpamBlock,
            MailboxFull,
            MessageTooLarge,
            Transient,
            Other,
        ] {
            assert_eq!(hard(class), None, "{class:?}");
        }
        assert_eq!(
            suppression_reason(&bounced(BounceType::Soft, BadMailbox)),
            None
        );
        let unclassified = MessageEvent::new(EventType::Bounced, OffsetDateTime::now_utc());
        assert_eq!(suppression_reason(&unclassified), None);
    }

    #[test]
    fn complaints_and_unsubscribes_suppress_other_events_do_not() {
        let now = OffsetDateTime::now_utc();
        let reason = |kind| suppression_reason(&MessageEvent::new(kind, now));
        assert_eq!(
            reason(EventType::Complained),
            Some(SuppressionReason::Complaint)
        );
        assert_eq!(
            reason(EventType::Unsubscribed),
            Some(SuppressionReason::Unsubscribe)
        );
        for kind in [
            EventType::Accepted,
            EventType::Delivered,
            EventType::Deferred,
            EventType::Suppressed,
            EventType::Failed,
        ] {
            assert_eq!(reason(kind), None, "{kind:?}");
        }
    }
}
