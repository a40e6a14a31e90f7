//! Delivery events: every state change of a message, in the order it happened.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::DomainEventData;
use crate::ids::MessageId;
use crate::reputation::ReputationEventData;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    #[serde(rename = "message.accepted")]
    Accepted,
    #[serde(rename = "message.scheduled")]
    Scheduled,
    #[serde(rename = "message.delivered")]
    Delivered,
    #[serde(rename = "message.deferred")]
    Deferred,
    #[serde(rename = "message.bounced")]
    Bounced,
    #[serde(rename = "message.complained")]
    Complained,
    #[serde(rename = "message.suppressed")]
    Suppressed,
    #[serde(rename = "message.failed")]
    Failed,
    #[serde(rename = "message.unsubscribed")]
    Unsubscribed,
    /// The sender cancelled the message before it was sent (`DELETE /v1/messages/{id}`).
    #[serde(rename = "message.cancelled")]
    Cancelled,
    /// A webhook endpoint failed for days and was disabled (not about one message).
    #[serde(rename = "webhook.disabled")]
    WebhookDisabled,
    /// A verified sending domain's DNS records stopped verifying (found by the periodic
    /// check); the domain is unverified until they are fixed (not about one message).
    #[serde(rename = "domain.verification_failed")]
    DomainVerificationFailed,
    /// A stream's bounce or complaint rate reached a review threshold (once per
    /// crossing; for transactional mail also the pause threshold, which pauses only bulk).
    #[serde(rename = "tenant.reputation_warning")]
    TenantReputationWarning,
    /// The tenant's bulk stream reached a pause threshold and is paused until an
    /// operator resumes it.
    #[serde(rename = "tenant.paused")]
    TenantPaused,
    /// An operator resumed the tenant's bulk stream.
    #[serde(rename = "tenant.resumed")]
    TenantResumed,
}

impl EventType {
    pub const ALL: [EventType; 15] = [
        EventType::Accepted,
        EventType::Scheduled,
        EventType::Delivered,
        EventType::Deferred,
        EventType::Bounced,
        EventType::Complained,
        EventType::Suppressed,
        EventType::Failed,
        EventType::Unsubscribed,
        EventType::Cancelled,
        EventType::WebhookDisabled,
        EventType::DomainVerificationFailed,
        EventType::TenantReputationWarning,
        EventType::TenantPaused,
        EventType::TenantResumed,
    ];

    /// The dotted name, as in JSON (`message.delivered`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Accepted => "message.accepted",
            EventType::Scheduled => "message.scheduled",
            EventType::Delivered => "message.delivered",
            EventType::Deferred => "message.deferred",
            EventType::Bounced => "message.bounced",
            EventType::Complained => "message.complained",
            EventType::Suppressed => "message.suppressed",
            EventType::Failed => "message.failed",
            EventType::Unsubscribed => "message.unsubscribed",
            EventType::Cancelled => "message.cancelled",
            EventType::WebhookDisabled => "webhook.disabled",
            EventType::DomainVerificationFailed => "domain.verification_failed",
            EventType::TenantReputationWarning => "tenant.reputation_warning",
            EventType::TenantPaused => "tenant.paused",
            EventType::TenantResumed => "tenant.resumed",
        }
    }

    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// Whether a bounce is final for the address (hard) or about this message only (soft).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BounceType {
    Hard,
    Soft,
}

/// Why a recipient bounced, in the coarse classes senders act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BounceClass {
    /// No such mailbox or address (RFC 3463 5.1.x).
    BadMailbox,
    /// The mailbox is full (x.2.2).
    MailboxFull,
    /// Refused by the receiver's policy (5.7.x without spam wording).
    Policy,
    /// Refused as spam, or the sender is on a blocklist.
    SpamBlock,
    /// The domain does not exist or has no usable mail server.
    Dns,
    /// The message is larger than the receiver takes.
    MessageTooLarge,
    /// Temporary trouble that lasted until the maximum queue age.
    Transient,
    Other,
}

/// The classification of a `message.bounced` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Bounce {
    #[serde(rename = "type")]
    pub kind: BounceType,
    pub class: BounceClass,
}

/// A reply from the receiving SMTP server, kept verbatim for the sender to read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SmtpReply {
    #[schema(example = 250)]
    pub code: u16,
    /// RFC 3463 enhanced status code, when the server sent one.
    #[schema(example = "2.0.0")]
    pub enhanced_code: Option<String>,
    #[schema(example = "Ok: queued as 4Xk2")]
    pub message: String,
}

impl SmtpReply {
    /// Parses `"550 5.1.1 No such user"` style text into its parts.
    pub fn from_parts(code: u16, text: &str) -> Self {
        let text = text.trim();
        let (enhanced_code, message) = match text.split_once(' ') {
            Some((first, rest)) if is_enhanced_code(first) => {
                (Some(first.to_string()), rest.trim().to_string())
            }
            _ if is_enhanced_code(text) => (Some(text.to_string()), String::new()),
            _ => (None, text.to_string()),
        };
        Self {
            code,
            enhanced_code,
            message,
        }
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.code)
    }

    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }
}

impl std::fmt::Display for SmtpReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(enhanced) = &self.enhanced_code {
            write!(f, " {enhanced}")?;
        }
        if !self.message.is_empty() {
            write!(f, " {}", self.message)?;
        }
        Ok(())
    }
}

fn is_enhanced_code(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..]
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessageEvent {
    #[serde(rename = "type")]
    pub kind: EventType,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// The recipient this event is about; absent for message-wide events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_reply: Option<SmtpReply>,
    /// Human-readable detail (why a delivery attempt failed before any reply, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For `message.bounced`: hard or soft, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounce: Option<Bounce>,
    /// For bounces reported by a DSN: its `Status` (RFC 3464), e.g. `5.1.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsn_status: Option<String>,
    /// For `message.complained`: the ARF `Feedback-Type` (`abuse`, `fraud`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback_type: Option<String>,
    /// For `domain.verification_failed`: the domain and the records that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainEventData>,
    /// For `tenant.reputation_warning`, `tenant.paused` and `tenant.resumed`: the
    /// stream's rates and the thresholds reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reputation: Option<ReputationEventData>,
    /// `true` for events of a message sent with a sandbox (test) key: its delivery was
    /// simulated and nothing left the machine. Absent for real mail. Reputation and
    /// other counts of real sending skip these.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

impl MessageEvent {
    pub fn new(kind: EventType, timestamp: OffsetDateTime) -> Self {
        Self {
            kind,
            timestamp,
            recipient: None,
            smtp_reply: None,
            detail: None,
            bounce: None,
            dsn_status: None,
            feedback_type: None,
            domain: None,
            reputation: None,
            test: false,
        }
    }

    pub fn recipient(mut self, recipient: impl Into<String>) -> Self {
        self.recipient = Some(recipient.into());
        self
    }

    pub fn reply(mut self, reply: SmtpReply) -> Self {
        self.smtp_reply = Some(reply);
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn bounce(mut self, kind: BounceType, class: BounceClass) -> Self {
        self.bounce = Some(Bounce { kind, class });
        self
    }
}

/// One event as a tenant's feed (`GET /v1/events`) and its webhooks carry it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventRecord {
    /// Stable and unique (`evt_…`): the `webhook-id` of every delivery of this event,
    /// so receivers can de-duplicate, and the cursor position in the feed.
    #[schema(example = "evt_1795376091664-0")]
    pub id: String,
    /// The message the event is about (absent for events about a webhook endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<MessageId>,
    #[serde(flatten)]
    pub event: MessageEvent,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// The body of a webhook delivery (`{"type", "timestamp", "data": {…}}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookPayload {
    #[serde(rename = "type")]
    pub kind: EventType,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    pub data: WebhookData,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookData {
    /// The event's id (also the `webhook-id` header).
    pub event_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<MessageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    pub tags: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_reply: Option<SmtpReply>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounce: Option<Bounce>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsn_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<DomainEventData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reputation: Option<ReputationEventData>,
    /// `true` when the message was sent with a sandbox (test) key: simulated, never sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

impl From<&EventRecord> for WebhookPayload {
    fn from(record: &EventRecord) -> Self {
        let event = &record.event;
        Self {
            kind: event.kind,
            timestamp: event.timestamp,
            data: WebhookData {
                event_id: record.id.clone(),
                message_id: record.message_id.clone(),
                recipient: event.recipient.clone(),
                tags: record.tags.clone(),
                metadata: record.metadata.clone(),
                smtp_reply: event.smtp_reply.clone(),
                bounce: event.bounce,
                dsn_status: event.dsn_status.clone(),
                feedback_type: event.feedback_type.clone(),
                detail: event.detail.clone(),
                domain: event.domain.clone(),
                reputation: event.reputation.clone(),
                test: event.test,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_enhanced_codes() {
        let reply = SmtpReply::from_parts(550, "5.1.1 <x@y.test>: No such user");
        assert_eq!(reply.enhanced_code.as_deref(), Some("5.1.1"));
        assert_eq!(reply.message, "<x@y.test>: No such user");
        assert!(reply.is_permanent());
        assert_eq!(reply.to_string(), "550 5.1.1 <x@y.test>: No such user");

        let plain = SmtpReply::from_parts(250, "Ok queued");
        assert_eq!(plain.enhanced_code, None);
        assert_eq!(plain.message, "Ok queued");
    }

    #[test]
    fn every_event_type_is_listed_once_and_parses_back() {
        let mut seen = std::collections::HashSet::new();
        for kind in EventType::ALL {
            assert!(seen.insert(kind), "{kind:?} listed twice");
            assert_eq!(EventType::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).expect("serialize");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(
            EventType::parse("message.cancelled"),
            Some(EventType::Cancelled)
        );
    }

    #[test]
    fn event_types_use_dotted_names() {
        let json = serde_json::to_string(&EventType::Delivered).expect("serialize");
        assert_eq!(json, "\"message.delivered\"");
    }
}
