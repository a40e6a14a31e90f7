//! Sandbox delivery: a message sent with a test key (`sk_test_…`) goes through every
//! step a real one does — the suppression check, MIME building and DKIM signing on
//! the blocking pool — and then, instead of routing, shaping and the SMTP session,
//! each recipient gets the reply its local part asks for. Everything after that is
//! the real path: the settle script, statuses, events, the fan-out, the suppression
//! policy and webhooks. Nothing leaves the machine, and no destination's throttle,
//! warm-up or adaptive rate learns from a simulated reply.
//!
//! | local part (before any `+tag`) | outcome |
//! |---|---|
//! | `bounced` | `550 5.1.1` user unknown: a hard bounce (and its suppression) |
//! | `deferred` | `451 4.7.1` on the first attempt, delivered on the retry |
//! | `complained` | delivered, then `message.complained` as if an ARF report came in |
//! | `suppressed` | `message.suppressed`, as for an address on the suppression list |
//! | anything else (`delivered`, …) | `250 2.0.0` delivered |
//!
//! Every event of such a message carries `"test": true` (see [`mark`]).

use std::sync::Arc;

use sluice_model::{EventType, MessageEvent, SmtpReply, SuppressionReason};
use sluice_store::{DeliveryJob, Settlement};
use time::OffsetDateTime;

use super::Worker;
use super::outcome::{AttemptResult, RecipientOutcome};
use super::signers::SignerSet;

/// What a recipient's local part asks the sandbox for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scenario {
    Deliver,
    Bounce,
    Defer,
    Complain,
    Suppress,
}

impl Scenario {
    /// From the local part, case-insensitively, ignoring a `+tag` (`bounced+1@x`), on
    /// any domain.
    pub(super) fn of(address: &str) -> Self {
        let local = address.rsplit_once('@').map_or(address, |(local, _)| local);
        let base = local.split('+').next().unwrap_or(local);
        match base.to_ascii_lowercase().as_str() {
            "bounced" => Scenario::Bounce,
            "deferred" => Scenario::Defer,
            "complained" => Scenario::Complain,
            "suppressed" => Scenario::Suppress,
            _ => Scenario::Deliver,
        }
    }
}

/// The outcome the sandbox gives `address`, which has had `attempts` attempts so far,
/// with replies worded as a common MTA (Postfix) words them. `queue_id` stands in for
/// the receiving server's queue id in a `250`.
pub(super) fn simulated(address: &str, attempts: u32, queue_id: &str) -> RecipientOutcome {
    let reply = |code, text: String| RecipientOutcome::Reply(SmtpReply::from_parts(code, &text));
    match Scenario::of(address) {
        Scenario::Bounce => reply(
            550,
            format!(
                "5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table"
            ),
        ),
        Scenario::Defer if attempts == 0 => reply(
            451,
            format!("4.7.1 <{address}>: Recipient address rejected: Greylisted, try again later"),
        ),
        Scenario::Suppress => RecipientOutcome::Suppressed(SuppressionReason::Manual),
        Scenario::Deliver | Scenario::Defer | Scenario::Complain => {
            reply(250, format!("2.0.0 Ok: queued as {queue_id}"))
        }
    }
}

impl Worker {
    /// A sandbox attempt: the message is built and signed exactly as for sending
    /// (same code, same CPU gate), then each unfinished recipient's reply is simulated.
    /// A message that cannot be built or signed fails as it would for real.
    pub(super) async fn simulate(
        &self,
        job: &DeliveryJob,
        signer: Arc<SignerSet>,
    ) -> AttemptResult {
        let signed = match self.build_and_sign(job, signer, Vec::new()).await {
            Ok(signed) => signed,
            Err(e) => return AttemptResult::failed(e.to_string()),
        };
        let note = signed_note(&signed);
        // The id's random tail, as a receiving MTA's queue id would look.
        let id = job.entry.message_id.as_str();
        let queue_id = id[id.len().saturating_sub(10)..].to_ascii_uppercase();
        let mut result = AttemptResult::transient("sandbox: no simulated outcome");
        for recipient in job.recipients.iter().filter(|r| !r.status.is_final()) {
            let outcome = simulated(&recipient.address, recipient.attempts, &queue_id);
            result.record(std::slice::from_ref(&recipient.address), &outcome);
        }
        tracing::debug!(message = %job.entry.message_id, %note, "sandbox delivery simulated");
        result.with_note(note)
    }
}

/// What the sandbox says about the signed message in place of sending it: its size
/// and each DKIM signature's `d=` and `s=`, read back from the signed bytes.
fn signed_note(signed: &[u8]) -> String {
    let signatures: Vec<String> = dkim_signatures(signed)
        .iter()
        .map(|value| {
            let tag = |name: &str| {
                value
                    .split(';')
                    .filter_map(|t| t.split_once('='))
                    .find(|(n, _)| n.trim() == name)
                    .map(|(_, v)| v.trim().to_string())
                    .unwrap_or_default()
            };
            format!("d={} s={}", tag("d"), tag("s"))
        })
        .collect();
    format!(
        "sandbox: not sent; the reply is simulated. The message was built and DKIM-signed ({} bytes; {})",
        signed.len(),
        if signatures.is_empty() {
            "no DKIM-Signature".to_string()
        } else {
            signatures.join(", ")
        }
    )
}

/// The (unfolded) values of the `DKIM-Signature` headers of a message's header section.
fn dkim_signatures(message: &[u8]) -> Vec<String> {
    let head_end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(message.len());
    let head = String::from_utf8_lossy(&message[..head_end]);
    let mut values: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(value) = current.as_mut() {
                value.push_str(line.trim());
            }
            continue;
        }
        values.extend(current.take());
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("DKIM-Signature")
        {
            current = Some(value.trim().to_string());
        }
    }
    values.extend(current);
    values
}

/// Makes a sandbox attempt's settlement say what it is: every event is marked
/// `test`, the simulated replies' events carry the attempt's note, the simulated
/// suppression says it is one, and a `complained@` recipient's delivery is followed by
/// the `message.complained` a feedback report would bring (the fan-out's suppression
/// policy then treats it as it treats a real one).
pub(super) fn mark(result: &AttemptResult, settlement: &mut Settlement, now: OffsetDateTime) {
    let mut events = Vec::with_capacity(settlement.events.len() + 1);
    for mut event in settlement.events.drain(..) {
        event.test = true;
        let scenario = event.recipient.as_deref().map(Scenario::of);
        let complaint = match (event.kind, scenario) {
            (EventType::Delivered | EventType::Bounced | EventType::Deferred, _)
                if event.smtp_reply.is_some() && event.detail.is_none() =>
            {
                event.detail = result.note().map(str::to_string);
                event.kind == EventType::Delivered && scenario == Some(Scenario::Complain)
            }
            (EventType::Suppressed, Some(Scenario::Suppress)) => {
                event.detail = Some(
                    "sandbox: not sent; suppressed@ always counts as an address on the suppression list"
                        .into(),
                );
                false
            }
            _ => false,
        };
        let recipient = event.recipient.clone();
        events.push(event);
        if let (true, Some(recipient)) = (complaint, recipient) {
            events.push(complaint_event(recipient, now));
        }
    }
    settlement.events = events;
}

/// The event an ARF report (RFC 5965) of the recipient's provider would have brought.
fn complaint_event(recipient: String, now: OffsetDateTime) -> MessageEvent {
    let mut event = MessageEvent::new(EventType::Complained, now)
        .recipient(recipient)
        .detail("sandbox: a simulated feedback report (complained@)");
    event.feedback_type = Some("abuse".into());
    event.test = true;
    event
}

#[cfg(test)]
mod tests;
