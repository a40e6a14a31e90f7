//! A message as the API receives it (`SendMessageRequest`) and as the workers deliver
//! it (`OutboundMessage`, only obtainable through [`SendMessageRequest::validate`]).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::address::Mailbox;
use crate::raw::RawMessage;

/// Which queue a message travels in. Transactional mail is always served first.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum MessageStream {
    /// One-time passwords, password resets, receipts: latency matters.
    #[default]
    Transactional,
    /// Campaigns and newsletters: served only when no transactional mail waits.
    Bulk,
}

impl MessageStream {
    pub const ALL: [MessageStream; 2] = [MessageStream::Transactional, MessageStream::Bulk];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageStream::Transactional => "transactional",
            MessageStream::Bulk => "bulk",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "transactional" => Some(Self::Transactional),
            "bulk" => Some(Self::Bulk),
            _ => None,
        }
    }
}

impl fmt::Display for MessageStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of `POST /v1/messages`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "from": "Acme <noreply@acme.test>",
    "to": ["Jane Doe <jane@example.com>"],
    "subject": "Your sign-in code",
    "text": "Your code is 123456",
    "html": "<p>Your code is <b>123456</b></p>",
    "tags": ["otp"],
    "metadata": {"user_id": "42"}
}))]
pub struct SendMessageRequest {
    /// Sender mailbox; its domain must be one of the tenant's domains.
    pub from: String,
    /// Recipient mailboxes (`to`, `cc` and `bcc` together: 1 to 50).
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    /// Blind copies: in the envelope, never in the headers.
    #[serde(default)]
    pub bcc: Vec<String>,
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Required, unless `template_id` is given: the template supplies it then, and a
    /// `subject` here is refused.
    #[serde(default)]
    pub subject: String,
    /// Plain-text body. At least one of `text` and `html` is required without
    /// `template_id`; with it, both must be absent.
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub html: Option<String>,
    /// A template (`tpl_…`, see `/v1/templates`) that supplies `subject`, `text` and
    /// `html`, rendered with `template_data` when the message is accepted.
    #[serde(default)]
    #[schema(example = "tpl_01jdx8k3m5n6p7q8r9s0t1v2w3")]
    pub template_id: Option<String>,
    /// The template version to render (default: the latest). Only with `template_id`.
    #[serde(default, deserialize_with = "crate::whole_number::option_u32")]
    #[schema(minimum = 1, example = 2)]
    pub template_version: Option<u32>,
    /// The template's variables. Every variable the template prints must be here: a
    /// missing one is a 422, not an empty string. Only with `template_id`.
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, serde_json::Value>>, example = json!({"user": {"name": "Jane"}, "code": "123456"}))]
    pub template_data: Option<serde_json::Map<String, serde_json::Value>>,
    /// Extra headers, name to value: a string is one header line, an array of strings
    /// one line per element, in order (for headers that repeat, such as `Received`).
    /// Names that differ only in case are the same header. Structural headers (From,
    /// To, Date, Message-ID, MIME-Version, Content-*, DKIM-Signature, …) are set by
    /// Sluice and refused here. More than 25 `Received` lines mean a mail loop and are
    /// refused; `Auto-Submitted` must be an RFC 3834 value (`no`, `auto-generated`,
    /// `auto-replied`, `auto-notified`, optionally with `; name=value` parameters).
    #[serde(default)]
    #[schema(example = json!({"X-Campaign": "spring", "Received": ["from a by b; Mon, 1 Dec 2026 10:00:00 +0000"]}))]
    pub headers: BTreeMap<String, HeaderValues>,
    /// Files to attach (at most 100; the message's size limit counts them).
    #[serde(default, deserialize_with = "crate::json_object::vec")]
    pub attachments: Vec<AttachmentRequest>,
    /// `transactional` (default) or `bulk`.
    #[serde(default)]
    pub stream: Option<MessageStream>,
    /// Labels for filtering events (at most 10, each 1 to 128 characters).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Your own key/value pairs, echoed back in message views and events.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// RFC 3339 time to send at, up to 30 days ahead. Omit to send now.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub send_at: Option<String>,
}

/// One header's value(s) in a request: a string is one header line; an array is one
/// line per element, in order, so repeated headers such as `Received` can be given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged, expecting = "a string or an array of strings")]
pub enum HeaderValues {
    One(String),
    Many(Vec<String>),
}

impl HeaderValues {
    /// Every header line's value, in order.
    pub fn as_slice(&self) -> &[String] {
        match self {
            HeaderValues::One(value) => std::slice::from_ref(value),
            HeaderValues::Many(values) => values,
        }
    }
}

impl From<&str> for HeaderValues {
    fn from(value: &str) -> Self {
        HeaderValues::One(value.to_owned())
    }
}

impl From<String> for HeaderValues {
    fn from(value: String) -> Self {
        HeaderValues::One(value)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentRequest {
    pub filename: String,
    /// A MIME type such as `application/pdf`; defaults to `application/octet-stream`.
    #[serde(default)]
    pub content_type: Option<String>,
    /// The file's bytes, base64-encoded (standard alphabet, padding optional).
    pub content: String,
}

/// Headers Sluice writes itself (lower-case). Accepting them from a client would let
/// it forge structure (a second From, a fake DKIM-Signature) or break the MIME tree;
/// the API refuses them and the MIME builder checks again.
pub const RESERVED_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
    "dkim-signature",
    "return-path",
    "sender",
];

/// A header field name: printable ASCII without colon or space (RFC 5322 `ftext`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HeaderName(String);

impl HeaderName {
    pub fn parse(value: &str) -> Result<Self, &'static str> {
        if value.is_empty() || value.len() > 76 {
            return Err("header names are 1 to 76 characters");
        }
        if !value.bytes().all(|b| (33..=126).contains(&b) && b != b':') {
            return Err("header names are printable ASCII without spaces or ':'");
        }
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HeaderName {
    type Error = &'static str;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<HeaderName> for String {
    fn from(value: HeaderName) -> String {
        value.0
    }
}

/// A header field value with no CR, LF or other control character, so it can never
/// start a new header line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HeaderValue(String);

impl HeaderValue {
    pub fn parse(value: &str) -> Result<Self, &'static str> {
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err("must not contain CR, LF or other control characters");
        }
        if value.len() > 998 {
            return Err("must be at most 998 bytes");
        }
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HeaderValue {
    type Error = &'static str;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<HeaderValue> for String {
    fn from(value: HeaderValue) -> String {
        value.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    #[serde(with = "base64_bytes")]
    pub content: Vec<u8>,
}

/// A validated message, ready to be queued and delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundMessage {
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub bcc: Vec<Mailbox>,
    pub reply_to: Option<Mailbox>,
    pub subject: String,
    pub text: Option<String>,
    pub html: Option<String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub attachments: Vec<Attachment>,
    pub stream: MessageStream,
    pub tags: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub send_at: Option<OffsetDateTime>,
    /// A message submitted over SMTP: its RFC 5322 bytes, sent as they are (see
    /// `raw.rs`); the fields above then only describe it (text, html,
    /// headers and attachments are empty). Absent in API messages and in records
    /// written before SMTP submission existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<RawMessage>,
}

impl OutboundMessage {
    /// Every envelope recipient (to, cc, bcc), in order, without duplicates.
    pub fn envelope_recipients(&self) -> Vec<&Mailbox> {
        let mut seen = std::collections::HashSet::new();
        self.to
            .iter()
            .chain(&self.cc)
            .chain(&self.bcc)
            .filter(|m| seen.insert(m.address.to_string().to_lowercase()))
            .collect()
    }

    /// Whether any address needs SMTPUTF8 (RFC 6531) to travel.
    pub fn needs_smtputf8(&self) -> bool {
        std::iter::once(&self.from)
            .chain(&self.to)
            .chain(&self.cc)
            .chain(&self.bcc)
            .any(|m| m.address.is_internationalized())
    }
}

mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}
