//! What Sluice knows about a message after accepting it: its status, each
//! recipient's outcome, and the event timeline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::event::{MessageEvent, SmtpReply};
use crate::ids::MessageId;
use crate::message::MessageStream;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    /// Accepted and waiting for its first delivery attempt.
    Queued,
    /// Waiting for its `send_at` time.
    Scheduled,
    /// At least one recipient got a temporary failure and will be retried.
    Deferred,
    /// Every recipient is finished and at least one accepted the message.
    Delivered,
    /// Every recipient is finished and every one rejected it permanently.
    Bounced,
    /// Every recipient is finished, none accepted it, and at least one failed for a
    /// reason other than a bounce: the message could not be built or signed (a
    /// recipient still deferred at the maximum queue age bounces instead).
    Failed,
    /// Every recipient is on the tenant's suppression list: nothing was sent.
    Suppressed,
    /// Cancelled by the sender (`DELETE /v1/messages/{id}`) before any recipient
    /// received it; nothing more will be sent.
    Cancelled,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Scheduled => "scheduled",
            MessageStatus::Deferred => "deferred",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Bounced => "bounced",
            MessageStatus::Failed => "failed",
            MessageStatus::Suppressed => "suppressed",
            MessageStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            MessageStatus::Delivered
                | MessageStatus::Bounced
                | MessageStatus::Failed
                | MessageStatus::Suppressed
                | MessageStatus::Cancelled
        )
    }

    /// The message status implied by its recipients' states.
    pub fn from_recipients(recipients: &[RecipientState]) -> MessageStatus {
        let any = |s: RecipientStatus| recipients.iter().any(|r| r.status == s);
        if any(RecipientStatus::Queued) {
            MessageStatus::Queued
        } else if any(RecipientStatus::Deferred) {
            MessageStatus::Deferred
        } else if any(RecipientStatus::Delivered) {
            MessageStatus::Delivered
        } else if any(RecipientStatus::Cancelled) {
            MessageStatus::Cancelled
        } else if any(RecipientStatus::Failed) {
            MessageStatus::Failed
        } else if !recipients.is_empty()
            && recipients
                .iter()
                .all(|r| r.status == RecipientStatus::Suppressed)
        {
            MessageStatus::Suppressed
        } else {
            MessageStatus::Bounced
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecipientStatus {
    Queued,
    Delivered,
    Deferred,
    Bounced,
    Failed,
    /// On the tenant's suppression list: not sent to.
    Suppressed,
    /// The message was cancelled before this recipient received it.
    Cancelled,
}

impl RecipientStatus {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RecipientStatus::Delivered
                | RecipientStatus::Bounced
                | RecipientStatus::Failed
                | RecipientStatus::Suppressed
                | RecipientStatus::Cancelled
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecipientKind {
    To,
    Cc,
    Bcc,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecipientState {
    #[schema(example = "jane@example.com")]
    pub address: String,
    pub kind: RecipientKind,
    pub status: RecipientStatus,
    /// The last SMTP reply for this recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_reply: Option<SmtpReply>,
    /// Delivery attempts made for this recipient so far.
    pub attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `GET /v1/messages/{id}`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageView {
    pub id: MessageId,
    pub status: MessageStatus,
    pub stream: MessageStream,
    #[schema(example = "\"Acme\" <noreply@acme.test>")]
    pub from: String,
    pub subject: String,
    /// The `Message-ID` header the message carries, for matching replies and bounces.
    #[schema(example = "<msg_01jdx8k3m5n6p7q8r9s0t1v2w3@acme.test>")]
    pub message_id_header: String,
    pub recipients: Vec<RecipientState>,
    pub tags: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    /// Delivery attempts made so far (each covers every unfinished recipient).
    pub attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When the next attempt is due, for scheduled and deferred messages.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// Every event of this message, oldest first.
    pub events: Vec<MessageEvent>,
    /// `true` when sent with a sandbox (test) key: delivery is simulated, nothing is
    /// sent. Absent for real mail.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}
