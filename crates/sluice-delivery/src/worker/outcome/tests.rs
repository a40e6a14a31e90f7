//! Every branch of [`settle_attempt`], without a network.

use super::*;
use sluice_model::{Limits, MessageId, MessageStream, RecipientKind, SendMessageRequest, TenantId};
use sluice_store::QueueEntry;

fn job(addresses: &[&str]) -> DeliveryJob {
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
    let id = MessageId::generate();
    DeliveryJob {
        test: false,
        entry: QueueEntry {
            partition: sluice_store::Partition(0),
            stream: MessageStream::Transactional,
            entry_id: "1-0".into(),
            message_id: id,
        },
        tenant: TenantId::generate(),
        status: MessageStatus::Queued,
        message,
        message_id_header: "<x@acme.test>".into(),
        recipients,
        attempts: 0,
        created_at: now,
    }
}

fn reply(code: u16, text: &str) -> SmtpReply {
    SmtpReply::from_parts(code, text)
}

#[test]
fn mixed_replies_set_each_recipient_and_schedule_a_retry() {
    let job = job(&["ok@x.test", "gone@x.test", "later@x.test"]);
    let result = AttemptResult::replies(vec![
        ("ok@x.test".into(), reply(250, "2.0.0 ok")),
        ("gone@x.test".into(), reply(550, "5.1.1 no such user")),
        ("later@x.test".into(), reply(451, "4.7.1 try later")),
    ]);
    let now = OffsetDateTime::now_utc();
    let settlement = settle_attempt(&job, &result, &RetryPolicy::default(), now);
    let statuses: Vec<_> = settlement.recipients.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            RecipientStatus::Delivered,
            RecipientStatus::Bounced,
            RecipientStatus::Deferred
        ]
    );
    assert_eq!(settlement.status, MessageStatus::Deferred);
    assert_eq!(
        settlement.retry_at,
        Some(now + RetryPolicy::default().schedule[0])
    );
    assert_eq!(settlement.attempts, 1);
    let kinds: Vec<_> = settlement.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventType::Delivered,
            EventType::Bounced,
            EventType::Deferred
        ]
    );
    assert_eq!(
        settlement.recipients[1].smtp_reply.as_ref().map(|r| r.code),
        Some(550)
    );
}

#[test]
fn a_retry_only_touches_unfinished_recipients() {
    let mut job = job(&["ok@x.test", "later@x.test"]);
    job.recipients[0].status = RecipientStatus::Delivered;
    job.attempts = 1;
    let result = AttemptResult::replies(vec![("later@x.test".into(), reply(250, "ok"))]);
    let settlement = settle_attempt(
        &job,
        &result,
        &RetryPolicy::default(),
        OffsetDateTime::now_utc(),
    );
    assert_eq!(settlement.status, MessageStatus::Delivered);
    assert_eq!(settlement.retry_at, None);
    assert_eq!(settlement.events.len(), 1);
    assert_eq!(
        settlement.recipients[0].attempts, 0,
        "the finished recipient was not attempted again"
    );
}

#[test]
fn connection_problems_defer_everyone() {
    let job = job(&["a@x.test", "b@x.test"]);
    let result = AttemptResult::transient("connection refused");
    let settlement = settle_attempt(
        &job,
        &result,
        &RetryPolicy::default(),
        OffsetDateTime::now_utc(),
    );
    assert_eq!(settlement.status, MessageStatus::Deferred);
    assert!(
        settlement
            .events
            .iter()
            .all(|e| e.detail.as_deref() == Some("connection refused"))
    );
}

#[test]
fn past_the_maximum_age_deferred_recipients_bounce() {
    let mut job = job(&["a@x.test"]);
    job.created_at -= RetryPolicy::default().max_age + std::time::Duration::from_secs(3600);
    let result = AttemptResult::replies(vec![("a@x.test".into(), reply(451, "4.3.0 later"))]);
    let settlement = settle_attempt(
        &job,
        &result,
        &RetryPolicy::default(),
        OffsetDateTime::now_utc(),
    );
    assert_eq!(settlement.status, MessageStatus::Bounced);
    assert_eq!(settlement.retry_at, None);
    assert_eq!(
        settlement.events.last().map(|e| e.kind),
        Some(EventType::Bounced)
    );
}

#[test]
fn the_maximum_age_counts_from_send_at() {
    let mut job = job(&["a@x.test"]);
    let now = OffsetDateTime::now_utc();
    // Accepted 5 days ago for sending now: a 4xx now is its first, not its last.
    job.created_at = now - time::Duration::days(5);
    job.message.send_at = Some(now);
    let result = AttemptResult::replies(vec![("a@x.test".into(), reply(451, "4.3.0 later"))]);
    let settlement = settle_attempt(&job, &result, &RetryPolicy::default(), now);
    assert_eq!(settlement.status, MessageStatus::Deferred);
    assert!(settlement.retry_at.is_some());
    let throttled = AttemptResult::everyone(RecipientOutcome::Throttled(
        std::time::Duration::from_secs(60),
    ));
    let parked = settle_attempt(&job, &throttled, &RetryPolicy::default(), now);
    assert_eq!(
        parked.status,
        MessageStatus::Queued,
        "throttled, not bounced"
    );
}

#[test]
fn each_destination_can_fail_its_own_way() {
    let job = job(&["a@up.test", "b@down.test", "c@gone.test"]);
    let mut result = AttemptResult::replies(vec![("a@up.test".into(), reply(250, "ok"))]);
    result.record(
        &["b@down.test".into()],
        &RecipientOutcome::Transient("connection timed out".into()),
    );
    let null_mx = RecipientOutcome::Permanent {
        reply: None,
        detail: "gone.test accepts no mail (null MX)".into(),
    };
    result.record(&["c@gone.test".into()], &null_mx);
    let settlement = settle_attempt(
        &job,
        &result,
        &RetryPolicy::default(),
        OffsetDateTime::now_utc(),
    );
    let statuses: Vec<_> = settlement.recipients.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            RecipientStatus::Delivered,
            RecipientStatus::Deferred,
            RecipientStatus::Bounced
        ]
    );
    assert_eq!(settlement.status, MessageStatus::Deferred);
    assert!(settlement.retry_at.is_some());
}

#[test]
fn throttled_recipients_wait_without_an_attempt_or_event() {
    let job = job(&["a@busy.test", "b@free.test"]);
    let mut result = AttemptResult::replies(vec![("b@free.test".into(), reply(250, "ok"))]);
    result.record(
        &["a@busy.test".into()],
        &RecipientOutcome::Throttled(std::time::Duration::from_secs(30)),
    );
    let now = OffsetDateTime::now_utc();
    let settlement = settle_attempt(&job, &result, &RetryPolicy::default(), now);
    assert_eq!(settlement.recipients[0].status, RecipientStatus::Queued);
    assert_eq!(settlement.recipients[0].attempts, 0);
    assert_eq!(settlement.recipients[1].status, RecipientStatus::Delivered);
    assert_eq!(settlement.events.len(), 1, "only the delivery is an event");
    assert_eq!(
        settlement.retry_at,
        Some(now + std::time::Duration::from_secs(30))
    );
    assert_eq!(settlement.status, MessageStatus::Queued);

    let everyone = AttemptResult::everyone(RecipientOutcome::Throttled(
        std::time::Duration::from_secs(5),
    ));
    let parked = settle_attempt(&job, &everyone, &RetryPolicy::default(), now);
    assert_eq!(
        parked.attempts, 0,
        "a fully throttled pass is not an attempt"
    );
    assert!(parked.events.is_empty());
}

#[test]
fn suppressed_recipients_are_not_sent_to_and_others_still_are() {
    let job = job(&["ok@x.test", "Angry@X.test"]);
    let mut result = AttemptResult::replies(vec![("ok@x.test".into(), reply(250, "ok"))]);
    result.record(
        &["Angry@X.test".into()],
        &RecipientOutcome::Suppressed(SuppressionReason::Complaint),
    );
    let settlement = settle_attempt(
        &job,
        &result,
        &RetryPolicy::default(),
        OffsetDateTime::now_utc(),
    );
    let statuses: Vec<_> = settlement.recipients.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [RecipientStatus::Delivered, RecipientStatus::Suppressed]
    );
    assert_eq!(settlement.status, MessageStatus::Delivered);
    assert_eq!(settlement.retry_at, None);
    assert_eq!(settlement.attempts, 1);
    assert_eq!(
        settlement.recipients[1].attempts, 0,
        "a suppressed recipient is never tried"
    );
    let suppressed = &settlement.events[1];
    assert_eq!(suppressed.kind, EventType::Suppressed);
    assert_eq!(suppressed.recipient.as_deref(), Some("Angry@X.test"));
    assert!(
        suppressed
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("complaint")),
        "{suppressed:?}"
    );
    assert_eq!(suppressed.bounce, None);
}

#[test]
fn a_fully_suppressed_message_is_final_without_an_attempt() {
    let mut job = job(&["a@x.test", "b@x.test"]);
    // Deferred once before its address was suppressed: the old reply is not the reason.
    job.attempts = 1;
    job.recipients[1].status = RecipientStatus::Deferred;
    job.recipients[1].smtp_reply = Some(reply(451, "4.7.1 later"));
    let mut result = AttemptResult::replies(Vec::new());
    result.record(
        &["a@x.test".into()],
        &RecipientOutcome::Suppressed(SuppressionReason::Manual),
    );
    result.record(
        &["b@x.test".into()],
        &RecipientOutcome::Suppressed(SuppressionReason::HardBounce),
    );
    let settlement = settle_attempt(
        &job,
        &result,
        &RetryPolicy::default(),
        OffsetDateTime::now_utc(),
    );
    assert_eq!(settlement.status, MessageStatus::Suppressed);
    assert_eq!(settlement.retry_at, None);
    assert_eq!(settlement.attempts, 1, "nothing was tried");
    assert!(
        settlement
            .events
            .iter()
            .all(|e| e.kind == EventType::Suppressed && e.smtp_reply.is_none())
    );
    assert!(
        settlement.events[1]
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("hard-bounce"))
    );
}

#[test]
fn build_failures_fail_the_message() {
    let job = job(&["a@x.test"]);
    let settlement = settle_attempt(
        &job,
        &AttemptResult::failed("no DKIM key"),
        &RetryPolicy::default(),
        OffsetDateTime::now_utc(),
    );
    assert_eq!(settlement.status, MessageStatus::Failed);
}

#[test]
fn held_mail_waits_for_the_operator_past_the_maximum_age() {
    let mut job = job(&["a@x.test", "b@y.test"]);
    // Due long ago: a throttle would bounce it now, a hold never does.
    let now = OffsetDateTime::now_utc();
    job.created_at = now - time::Duration::days(30);
    job.message.send_at = Some(now - time::Duration::days(30));
    let hold = std::time::Duration::from_secs(300);
    let held = settle_attempt(
        &job,
        &AttemptResult::everyone(RecipientOutcome::Held(hold)),
        &RetryPolicy::default(),
        now,
    );
    assert_eq!(held.status, MessageStatus::Queued);
    assert_eq!(held.attempts, 0, "a hold is not an attempt");
    assert!(held.events.is_empty(), "a hold writes no event");
    assert_eq!(held.retry_at, Some(now + hold));
    assert!(held.recipients.iter().all(|r| r.attempts == 0));
    let throttled = settle_attempt(
        &job,
        &AttemptResult::everyone(RecipientOutcome::Throttled(hold)),
        &RetryPolicy::default(),
        now,
    );
    assert_eq!(throttled.status, MessageStatus::Bounced, "the contrast");
}

#[test]
fn an_attempt_that_could_not_read_sluices_own_state_is_retried_in_seconds_uncounted() {
    let mut job = job(&["a@x.test", "b@x.test"]);
    job.attempts = 2;
    let now = OffsetDateTime::now_utc();
    let result = AttemptResult::unavailable("checking the suppression list: broken pipe");
    let settlement = settle_attempt(&job, &result, &RetryPolicy::default(), now);
    // Not a deferral with the 5-minute backoff, no attempt counted, no event: the
    // recipients stay queued and come back after a few seconds.
    assert_eq!(settlement.status, MessageStatus::Queued);
    assert_eq!(settlement.attempts, 2);
    assert!(settlement.events.is_empty(), "{:?}", settlement.events);
    assert!(
        settlement
            .recipients
            .iter()
            .all(|r| r.status == RecipientStatus::Queued)
    );
    assert_eq!(settlement.retry_at, Some(now + UNAVAILABLE_RETRY));
}
