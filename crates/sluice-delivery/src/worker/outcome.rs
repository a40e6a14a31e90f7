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
    /// Not attempted: the tenant's bulk stream is paused by the reputation guard. The
    /// recipient waits (no attempt counted, no event) and is looked at again after
    /// this long, or at once when an operator resumes the tenant. Unlike a throttle,
    /// a hold never bounces at the maximum queue age: only the operator ends it.
    Held(std::time::Duration),
    /// Not attempted: the address is on the tenant's suppression list. Final, with a
    /// `message.suppressed` event; not counted as an attempt.
    Suppressed(SuppressionReason),
    /// Not attempted: Sluice's own state (Redis) could not be read, e.g. while a
    /// cluster master fails over. Nothing is wrong with the destination, so the
    /// recipient is tried again after [`UNAVAILABLE_RETRY`], with no attempt counted
    /// and no event (the maximum queue age still applies).
    Unavailable(String),
}

/// How soon a recipient whose attempt could not read Sluice's own state is tried
/// again: about a Redis Cluster failover.
pub const UNAVAILABLE_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

impl From<&sluice_smtp_client::SmtpError> for RecipientOutcome {
    /// A session that failed before any recipient was answered.
    fn from(error: &sluice_smtp_client::SmtpError) -> Self {
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
    /// What the attempt wants said about its replies (a sandbox attempt: that the
    /// message was built and signed, and the replies simulated).
    note: Option<String>,
}

impl AttemptResult {
    /// The same outcome for every recipient (a relay that could not be reached, …).
    pub fn everyone(outcome: RecipientOutcome) -> Self {
        Self {
            outcomes: Vec::new(),
            otherwise: outcome,
            note: None,
        }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    pub fn transient(detail: impl Into<String>) -> Self {
        Self::everyone(RecipientOutcome::Transient(detail.into()))
    }

    /// Sluice's own state could not be read (see [`RecipientOutcome::Unavailable`]).
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::everyone(RecipientOutcome::Unavailable(detail.into()))
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
        if self.note.is_none() {
            self.note = other.note;
        }
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
            RecipientOutcome::Throttled(wait) | RecipientOutcome::Held(wait) => Some(*wait),
            RecipientOutcome::Waiting { fallback, .. } => Some(*fallback),
            RecipientOutcome::Unavailable(_) => Some(UNAVAILABLE_RETRY),
            _ => None,
        })
        .collect();
    // Held recipients wait for the operator, not for a destination: no deadline.
    let only_held = recipients
        .iter()
        .filter(|r| !r.status.is_final())
        .all(|r| matches!(result.outcome_for(&r.address), RecipientOutcome::Held(_)));
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
            RecipientOutcome::Throttled(_)
            | RecipientOutcome::Held(_)
            | RecipientOutcome::Unavailable(_)
            | RecipientOutcome::Waiting { .. } => continue,
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
                sluice_wire::classify_reply,
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
        if !only_held && now + *wait > policy.deadline(job.due_at()) {
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
mod tests;
