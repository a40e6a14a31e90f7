//! Delivery events: every state change of a message, in the order it happened.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

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
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: OffsetDateTime,
    /// The recipient this event is about; absent for message-wide events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_reply: Option<SmtpReply>,
    /// Human-readable detail (why a delivery attempt failed before any reply, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl MessageEvent {
    pub fn new(kind: EventType, timestamp: OffsetDateTime) -> Self {
        Self {
            kind,
            timestamp,
            recipient: None,
            smtp_reply: None,
            detail: None,
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
    fn event_types_use_dotted_names() {
        let json = serde_json::to_string(&EventType::Delivered).expect("serialize");
        assert_eq!(json, "\"message.delivered\"");
    }
}
