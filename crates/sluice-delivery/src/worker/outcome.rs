//! Turning the result of one delivery attempt into the recorded outcome: each
//! recipient's new state, the events, and when (if ever) to retry. Pure, so every
//! branch is unit-tested without a network.

use sluice_model::{
    BounceClass, BounceType, EventType, MessageEvent, MessageStatus, RecipientState,
    RecipientStatus, SmtpReply, SuppressionReason,
};
use sluice_store::{DeliveryJob, Settlement};
use time::OffsetDateTime;

use crate::retry::RetryPolicy;

/// What happened to one recipient in this attempt.
#[derive(Clone, Debug)]
pub enum RecipientOutcome {
    /// The receiving server answered for this recipient (RCPT refusal or the reply to DATA).
    Reply(SmtpReply),
    /// No answer: a temporary problem (connection refused, timeout, 4xx greeting, DNS).
    Transient(String),
    /// No transaction possible, permanently (5xx greeting, null MX, no such domain).
    Permanent {
        reply: Option<SmtpReply>,
        detail: String,
    },
    /// Sluice could not build or sign the message; retrying would not help.
    Failed(String),
    /// Not attempted: every usable source address is over its rate for this
    /// destination. The recipient waits (no attempt counted, no event) until then.
    Throttled(std::time::Duration),
    /// Not attempted: every connection to this destination is in use. The recipient
    /// waits on the destination's wait list (released when a connection frees), at
    /// most `fallback`.
    Waiting {
        waitlist: String,
        fallback: std::time::Duration,
    },
    /// Not attempted: the address is on the tenant's suppression list. Final, with a
    /// `message.suppressed` event; not counted as an attempt.
    Suppressed(SuppressionReason),
}

impl From<&crate::smtp::SmtpError> for RecipientOutcome {
    /// A session that failed before any recipient was answered.
    fn from(error: &crate::smtp::SmtpError) -> Self {
        if error.is_transient() {
            RecipientOutcome::Transient(error.to_string())
        } else {
            RecipientOutcome::Permanent {
                reply: error.reply().cloned(),
                detail: error.to_string(),
            }
        }
    }
}

/// The outcome of one attempt, per recipient. Recipients of one attempt may have gone
/// to different destinations, so each carries its own outcome; a recipient not named
/// gets `otherwise`.
#[derive(Clone, Debug)]
pub struct AttemptResult {
    outcomes: Vec<(String, RecipientOutcome)>,
    otherwise: RecipientOutcome,
}

impl AttemptResult {
    /// The same outcome for every recipient (a relay that could not be reached, …).
    pub fn everyone(outcome: RecipientOutcome) -> Self {
        Self {
            outcomes: Vec::new(),
            otherwise: outcome,
        }
    }

    pub fn transient(detail: impl Into<String>) -> Self {
        Self::everyone(RecipientOutcome::Transient(detail.into()))
    }

    pub fn failed(detail: impl Into<String>) -> Self {
        Self::everyone(RecipientOutcome::Failed(detail.into()))
    }

    /// One SMTP reply per recipient, as a transaction returns them.
    pub fn replies(replies: Vec<(String, SmtpReply)>) -> Self {
        let mut result = Self::transient("the server gave no reply for this recipient");
        result.outcomes = replies
            .into_iter()
            .map(|(address, reply)| (address, RecipientOutcome::Reply(reply)))
            .collect();
        result
    }

    /// Every SMTP reply in this result (for learning from them).
    pub fn smtp_replies(&self) -> Vec<&SmtpReply> {
        self.outcomes
            .iter()
            .filter_map(|(_, outcome)| match outcome {
                RecipientOutcome::Reply(reply) => Some(reply),
                _ => None,
            })
            .collect()
    }

    /// Records `outcome` for each of `recipients` (one destination's share of the attempt).
    pub fn record(&mut self, recipients: &[String], outcome: &RecipientOutcome) {
        self.outcomes
            .extend(recipients.iter().map(|r| (r.clone(), outcome.clone())));
    }

    /// Adds the per-recipient outcomes of another part of this attempt.
    pub fn merge(&mut self, other: AttemptResult) {
        self.outcomes.extend(other.outcomes);
    }

    /// Keeps only the outcomes of `recipients` (a destination group's own), so merging
    /// groups can never overwrite another group's recipients.
    pub fn limit_to(&mut self, recipients: &[String]) {
        let otherwise = self.otherwise.clone();
        let mut kept: Vec<(String, RecipientOutcome)> = Vec::with_capacity(recipients.len());
        for recipient in recipients {
            let outcome = self.outcome_for(recipient).clone();
            kept.push((recipient.clone(), outcome));
        }
        self.outcomes = kept;
        self.otherwise = otherwise;
    }

    /// True when no recipient was answered and the failure is temporary (the session
    /// never happened): the caller may try another host.
    pub fn is_transient_for_all(&self) -> bool {
        self.outcomes.is_empty() && matches!(self.otherwise, RecipientOutcome::Transient(_))
    }

    fn outcome_for(&self, address: &str) -> &RecipientOutcome {
        self.outcomes
            .iter()
            .find(|(a, _)| a.eq_ignore_ascii_case(address))
            .map_or(&self.otherwise, |(_, o)| o)
    }
}

pub fn settle_attempt(
    job: &DeliveryJob,
    result: &AttemptResult,
    policy: &RetryPolicy,
    now: OffsetDateTime,
) -> Settlement {
    let mut recipients = job.recipients.clone();
    let pending = recipients.iter().filter(|r| !r.status.is_final()).count();
    let throttled: Vec<std::time::Duration> = recipients
        .iter()
        .filter(|r| !r.status.is_final())
        .filter_map(|r| match result.outcome_for(&r.address) {
            RecipientOutcome::Throttled(wait) => Some(*wait),
            RecipientOutcome::Waiting { fallback, .. } => Some(*fallback),
            _ => None,
        })
        .collect();
    let mut waitlists: Vec<String> = Vec::new();
    for recipient in recipients.iter().filter(|r| !r.status.is_final()) {
        if let RecipientOutcome::Waiting { waitlist, .. } = result.outcome_for(&recipient.address)
            && !waitlists.contains(waitlist)
        {
            waitlists.push(waitlist.clone());
        }
    }
    let suppressed = recipients
        .iter()
        .filter(|r| !r.status.is_final())
        .filter(|r| {
            matches!(
                result.outcome_for(&r.address),
                RecipientOutcome::Suppressed(_)
            )
        })
        .count();
    // An attempt counts only when at least one recipient was really tried.
    let attempts = job.attempts + u32::from(throttled.len() + suppressed < pending);
    let mut events = Vec::new();
    let mut deferred = Vec::new();
    for recipient in recipients.iter_mut().filter(|r| !r.status.is_final()) {
        let outcome = result.outcome_for(&recipient.address);
        let (status, reply, detail) = match outcome {
            RecipientOutcome::Throttled(_) | RecipientOutcome::Waiting { .. } => continue,
            RecipientOutcome::Suppressed(reason) => (
                RecipientStatus::Suppressed,
                None,
                Some(format!(
                    "not sent: the address is on the suppression list (reason: {reason})"
                )),
            ),
            RecipientOutcome::Reply(reply) if reply.is_success() => {
                (RecipientStatus::Delivered, Some(reply.clone()), None)
            }
            RecipientOutcome::Reply(reply) if reply.is_permanent() => {
                (RecipientStatus::Bounced, Some(reply.clone()), None)
            }
            RecipientOutcome::Reply(reply) => {
                (RecipientStatus::Deferred, Some(reply.clone()), None)
            }
            RecipientOutcome::Transient(detail) => {
                (RecipientStatus::Deferred, None, Some(detail.clone()))
            }
            RecipientOutcome::Permanent { reply, detail } => (
                RecipientStatus::Bounced,
                reply.clone(),
                Some(detail.clone()),
            ),
            RecipientOutcome::Failed(detail) => {
                (RecipientStatus::Failed, None, Some(detail.clone()))
            }
        };
        let tried = !matches!(outcome, RecipientOutcome::Suppressed(_));
        recipient.attempts += u32::from(tried);
        recipient.updated_at = now;
        recipient.status = status;
        if reply.is_some() {
            recipient.smtp_reply = reply;
        }
        let kind = match status {
            RecipientStatus::Delivered => EventType::Delivered,
            RecipientStatus::Bounced => EventType::Bounced,
            RecipientStatus::Failed => EventType::Failed,
            RecipientStatus::Suppressed => EventType::Suppressed,
            // Never an attempt's outcome: only DELETE /v1/messages/{id} cancels.
            RecipientStatus::Cancelled => EventType::Cancelled,
            RecipientStatus::Deferred | RecipientStatus::Queued => EventType::Deferred,
        };
        let mut bounced = event(kind, recipient, now, detail);
        if !tried {
            // A reply from an earlier attempt says nothing about this decision.
            bounced.smtp_reply = None;
        }
        if kind == EventType::Bounced {
            // A refusal without an SMTP reply (none happens today) counts as hard/other.
            let (kind, class) = recipient.smtp_reply.as_ref().map_or(
                (BounceType::Hard, BounceClass::Other),
                sluice_events::classify_reply,
            );
            bounced = bounced.bounce(kind, class);
        }
        events.push(bounced);
        if status == RecipientStatus::Deferred {
            deferred.push(recipient.address.clone());
        }
    }
    let mut retry_at = None;
    if !deferred.is_empty() {
        retry_at = policy.next_attempt(attempts, job.due_at(), now);
        if retry_at.is_none() {
            give_up(&mut recipients, &mut events, attempts, now);
        }
    }
    if let Some(wait) = throttled.iter().min() {
        if now + *wait > policy.deadline(job.due_at()) {
            let detail = "gave up: the destination stayed throttled until the maximum queue age";
            for recipient in recipients.iter_mut().filter(|r| !r.status.is_final()) {
                recipient.status = RecipientStatus::Bounced;
                events.push(
                    event(EventType::Bounced, recipient, now, Some(detail.into()))
                        .bounce(BounceType::Soft, BounceClass::Transient),
                );
            }
            retry_at = None;
        } else {
            let throttle_at = now + *wait;
            retry_at = Some(retry_at.map_or(throttle_at, |at: OffsetDateTime| at.min(throttle_at)));
        }
    }
    Settlement {
        status: MessageStatus::from_recipients(&recipients),
        recipients,
        attempts,
        events,
        waitlists: if retry_at.is_some() {
            waitlists
        } else {
            Vec::new()
        },
        retry_at,
    }
}

/// Past the maximum age, deferred recipients bounce (a soft bounce: the last reply
/// was temporary, but the sender must know the message will not arrive).
fn give_up(
    recipients: &mut [RecipientState],
    events: &mut Vec<MessageEvent>,
    attempts: u32,
    now: OffsetDateTime,
) {
    for recipient in recipients
        .iter_mut()
        .filter(|r| r.status == RecipientStatus::Deferred)
    {
        recipient.status = RecipientStatus::Bounced;
        let detail =
            format!("gave up after {attempts} attempts: the maximum queue age was reached");
        events.push(
            event(EventType::Bounced, recipient, now, Some(detail))
                .bounce(BounceType::Soft, BounceClass::Transient),
        );
    }
}

fn event(
    kind: EventType,
    recipient: &RecipientState,
    now: OffsetDateTime,
    detail: Option<String>,
) -> MessageEvent {
    let mut event = MessageEvent::new(kind, now).recipient(recipient.address.clone());
    event.smtp_reply = recipient.smtp_reply.clone();
    event.detail = detail;
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_model::{
        Limits, MessageId, MessageStream, RecipientKind, SendMessageRequest, TenantId,
    };
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
            entry: QueueEntry {
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
            Some(now + std::time::Duration::from_secs(60))
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
        job.created_at -= time::Duration::days(4);
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
}
