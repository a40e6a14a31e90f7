//! Turning a `SendMessageRequest` into an `OutboundMessage`, collecting one error per
//! bad field so a client can fix everything in one round.

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;

use crate::address::Mailbox;
use crate::message::{Attachment, OutboundMessage, SendMessageRequest};

/// One invalid field: `field` is a JSON path such as `to[2]` or `headers.X-Foo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    #[schema(example = "to[0]")]
    pub field: String,
    #[schema(example = "must contain exactly one '@' between a local part and a domain")]
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl ToString) -> Self {
        Self {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValidationFailure {
    /// One or more fields are invalid (HTTP 422).
    Invalid(Vec<FieldError>),
    /// The message would exceed the size limit once encoded (HTTP 413).
    TooLarge {
        estimated_bytes: usize,
        limit_bytes: usize,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub max_recipients: usize,
    pub max_schedule_ahead: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 10_000_000,
            max_recipients: 50,
            max_schedule_ahead: Duration::days(30),
        }
    }
}

mod headers;

use headers::validate_headers;

const MAX_TAGS: usize = 10;
const MAX_METADATA: usize = 20;
const MAX_SUBJECT: usize = 998;
const MAX_ATTACHMENTS: usize = 100;

impl SendMessageRequest {
    pub fn validate(
        self,
        limits: &Limits,
        now: OffsetDateTime,
    ) -> Result<OutboundMessage, ValidationFailure> {
        let mut errors = Vec::new();

        let from = parse_mailbox("from", &self.from, &mut errors);
        let to = parse_list("to", &self.to, &mut errors);
        let cc = parse_list("cc", &self.cc, &mut errors);
        let bcc = parse_list("bcc", &self.bcc, &mut errors);
        let total = self.to.len() + self.cc.len() + self.bcc.len();
        if total == 0 {
            errors.push(FieldError::new(
                "to",
                "at least one recipient is required in to, cc or bcc",
            ));
        } else if total > limits.max_recipients {
            errors.push(FieldError::new(
                "to",
                format!(
                    "at most {} recipients in to, cc and bcc together (got {total})",
                    limits.max_recipients
                ),
            ));
        }
        let reply_to = self
            .reply_to
            .as_deref()
            .and_then(|r| parse_mailbox("reply_to", r, &mut errors));

        if self.subject.trim().is_empty() {
            errors.push(FieldError::new("subject", "must not be empty"));
        } else if self.subject.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "subject",
                "must not contain CR, LF or other control characters",
            ));
        } else if self.subject.len() > MAX_SUBJECT {
            errors.push(FieldError::new(
                "subject",
                format!("must be at most {MAX_SUBJECT} bytes"),
            ));
        }

        let empty = |body: &Option<String>| body.as_deref().is_none_or(str::is_empty);
        if empty(&self.text) && empty(&self.html) {
            errors.push(FieldError::new("text", "a text or html body is required"));
        }
        validate_template_fields(&self, &mut errors);

        let headers = validate_headers(&self.headers, &mut errors);
        let attachments = decode_attachments(&self.attachments, &mut errors);
        validate_tags(&self.tags, &mut errors);
        validate_metadata(&self.metadata, &mut errors);
        let send_at = self
            .send_at
            .as_deref()
            .and_then(|raw| parse_send_at(raw, limits, now, &mut errors));

        let estimated_bytes = estimate_size(&self, &attachments);
        if estimated_bytes > limits.max_message_bytes {
            return Err(ValidationFailure::TooLarge {
                estimated_bytes,
                limit_bytes: limits.max_message_bytes,
            });
        }
        if !errors.is_empty() {
            return Err(ValidationFailure::Invalid(errors));
        }
        let from = from.ok_or_else(|| {
            ValidationFailure::Invalid(vec![FieldError::new("from", "is required")])
        })?;
        Ok(OutboundMessage {
            from,
            to,
            cc,
            bcc,
            reply_to,
            subject: self.subject,
            text: self.text.filter(|t| !t.is_empty()),
            html: self.html.filter(|h| !h.is_empty()),
            headers,
            attachments,
            stream: self.stream.unwrap_or_default(),
            tags: self.tags,
            metadata: self.metadata,
            send_at,
            raw: None,
        })
    }
}

/// Templates are rendered (and these fields cleared) by the API before validation;
/// what remains here is a template field without a template.
fn validate_template_fields(request: &SendMessageRequest, errors: &mut Vec<FieldError>) {
    if request.template_id.is_some() {
        errors.push(FieldError::new(
            "template_id",
            "the template was not rendered before validation",
        ));
        return;
    }
    if request.template_version.is_some() {
        errors.push(FieldError::new(
            "template_version",
            "is only allowed with template_id",
        ));
    }
    if request.template_data.is_some() {
        errors.push(FieldError::new(
            "template_data",
            "is only allowed with template_id",
        ));
    }
}

fn parse_mailbox(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<Mailbox> {
    Mailbox::parse(raw)
        .map_err(|e| errors.push(FieldError::new(field, e)))
        .ok()
}

fn parse_list(field: &str, raw: &[String], errors: &mut Vec<FieldError>) -> Vec<Mailbox> {
    raw.iter()
        .enumerate()
        .filter_map(|(i, r)| parse_mailbox(&format!("{field}[{i}]"), r, errors))
        .collect()
}

fn decode_attachments(
    raw: &[crate::message::AttachmentRequest],
    errors: &mut Vec<FieldError>,
) -> Vec<Attachment> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    if raw.len() > MAX_ATTACHMENTS {
        errors.push(FieldError::new(
            "attachments",
            format!("at most {MAX_ATTACHMENTS} attachments"),
        ));
        return Vec::new();
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, a) in raw.iter().enumerate() {
        let field = |name: &str| format!("attachments[{i}].{name}");
        let mut ok = true;
        if a.filename.trim().is_empty()
            || a.filename.len() > 255
            || a.filename.chars().any(char::is_control)
        {
            errors.push(FieldError::new(
                field("filename"),
                "must be 1 to 255 bytes without control characters",
            ));
            ok = false;
        }
        let content_type = a
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into());
        if !is_mime_type(&content_type) {
            errors.push(FieldError::new(
                field("content_type"),
                "must be a MIME type such as application/pdf",
            ));
            ok = false;
        }
        let compact: String = a
            .content
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        match engine.decode(compact) {
            Ok(content) if ok => out.push(Attachment {
                filename: a.filename.clone(),
                content_type,
                content,
            }),
            Ok(_) => {}
            Err(e) => errors.push(FieldError::new(
                field("content"),
                format!("is not valid base64: {e}"),
            )),
        }
    }
    out
}

fn is_mime_type(value: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    matches!(value.split_once('/'), Some((t, s)) if token(t) && token(s))
}

/// The checks `tags` and `metadata` get in `POST /v1/messages`, for messages that
/// carry them some other way (SMTP submission's `X-Sluice-Tags` and
/// `X-Sluice-Metadata-*` headers).
pub fn check_labels(tags: &[String], metadata: &BTreeMap<String, String>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    validate_tags(tags, &mut errors);
    validate_metadata(metadata, &mut errors);
    errors
}

fn validate_tags(tags: &[String], errors: &mut Vec<FieldError>) {
    if tags.len() > MAX_TAGS {
        errors.push(FieldError::new("tags", format!("at most {MAX_TAGS} tags")));
    }
    for (i, tag) in tags.iter().enumerate() {
        if tag.is_empty() || tag.chars().count() > 128 || tag.chars().any(char::is_control) {
            errors.push(FieldError::new(
                format!("tags[{i}]"),
                "must be 1 to 128 characters without control characters",
            ));
        }
    }
}

fn validate_metadata(metadata: &BTreeMap<String, String>, errors: &mut Vec<FieldError>) {
    if metadata.len() > MAX_METADATA {
        errors.push(FieldError::new(
            "metadata",
            format!("at most {MAX_METADATA} keys"),
        ));
    }
    for (key, value) in metadata {
        // Characters, as a schema's `maxLength` counts them.
        if key.is_empty() || key.chars().count() > 64 || key.chars().any(char::is_control) {
            errors.push(FieldError::new(
                format!("metadata.{key}"),
                "keys are 1 to 64 characters without control characters",
            ));
        } else if value.chars().count() > 1024 {
            errors.push(FieldError::new(
                format!("metadata.{key}"),
                "values are at most 1024 characters",
            ));
        }
    }
}

fn parse_send_at(
    raw: &str,
    limits: &Limits,
    now: OffsetDateTime,
    errors: &mut Vec<FieldError>,
) -> Option<OffsetDateTime> {
    let parsed = OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339);
    match parsed {
        Err(_) => errors.push(FieldError::new(
            "send_at",
            "must be an RFC 3339 time such as 2026-01-31T09:00:00Z",
        )),
        Ok(at) if at > now + limits.max_schedule_ahead => errors.push(FieldError::new(
            "send_at",
            format!(
                "must be at most {} days ahead",
                limits.max_schedule_ahead.whole_days()
            ),
        )),
        // A time in the past means "now": clients with slightly skewed clocks still work.
        Ok(at) if at <= now => return None,
        Ok(at) => return Some(at),
    }
    None
}

/// An upper estimate of the encoded message size: base64 grows attachments by 4/3
/// plus line breaks, and headers rarely pass a few kilobytes.
fn estimate_size(request: &SendMessageRequest, attachments: &[Attachment]) -> usize {
    let text = request.text.as_ref().map_or(0, String::len);
    let html = request.html.as_ref().map_or(0, String::len);
    let headers: usize = request
        .headers
        .iter()
        .flat_map(|(k, v)| v.as_slice().iter().map(move |v| k.len() + v.len() + 4))
        .sum();
    let attached: usize = attachments
        .iter()
        .map(|a| a.content.len().div_ceil(57) * 78 + 256)
        .sum();
    4096 + text + html + headers + attached
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{AttachmentRequest, MessageStream};

    fn base() -> SendMessageRequest {
        SendMessageRequest {
            from: "Acme <noreply@acme.test>".into(),
            to: vec!["jane@example.com".into()],
            subject: "Hello".into(),
            text: Some("Hi".into()),
            ..Default::default()
        }
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn invalid_fields(request: SendMessageRequest) -> Vec<String> {
        match request.validate(&Limits::default(), now()) {
            Err(ValidationFailure::Invalid(errors)) => {
                errors.into_iter().map(|e| e.field).collect()
            }
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_minimal_message_is_valid() {
        let message = base().validate(&Limits::default(), now()).expect("valid");
        assert_eq!(message.stream, MessageStream::Transactional);
        assert_eq!(message.to[0].address.to_string(), "jane@example.com");
    }

    #[test]
    fn every_bad_field_is_reported() {
        let mut request = base();
        request.from = "nope".into();
        request.to = vec!["ok@example.com".into(), "bad".into()];
        request.subject = "Hi\r\nBcc: x@y.test".into();
        request.headers.insert("X-Ok".into(), "fine".into());
        request
            .headers
            .insert("X-Evil".into(), "a\r\nBcc: victim@example.com".into());
        request
            .headers
            .insert("DKIM-Signature".into(), "forged".into());
        request.attachments.push(AttachmentRequest {
            filename: "a.pdf".into(),
            content_type: Some("not a type".into()),
            content: "!!!".into(),
        });
        let fields = invalid_fields(request);
        for expected in [
            "from",
            "to[1]",
            "subject",
            "headers.X-Evil",
            "headers.DKIM-Signature",
            "attachments[0].content_type",
            "attachments[0].content",
        ] {
            assert!(
                fields.contains(&expected.to_string()),
                "missing {expected} in {fields:?}"
            );
        }
        assert!(!fields.iter().any(|f| f == "headers.X-Ok"));
    }

    #[test]
    fn looping_messages_are_refused() {
        let mut request = base();
        let hops = (0..30).map(|i| format!("from hop{i} by mx{i}")).collect();
        request
            .headers
            .insert("Received".into(), crate::HeaderValues::Many(hops));
        assert_eq!(invalid_fields(request), vec!["headers.Received"]);
    }

    #[test]
    fn recipients_are_required_and_capped() {
        let mut request = base();
        request.to.clear();
        assert_eq!(invalid_fields(request), vec!["to"]);

        let mut request = base();
        request.to = (0..30).map(|i| format!("a{i}@example.com")).collect();
        request.bcc = (0..21).map(|i| format!("b{i}@example.com")).collect();
        assert_eq!(invalid_fields(request), vec!["to"]);
    }

    #[test]
    fn template_fields_need_a_template() {
        let mut request = base();
        request.template_version = Some(2);
        request.template_data = Some(serde_json::Map::new());
        assert_eq!(
            invalid_fields(request),
            vec!["template_version", "template_data"]
        );

        let mut request = base();
        request.template_id = Some("tpl_01jdx8k3m5n6p7q8r9s0t1v2w3".into());
        assert_eq!(invalid_fields(request), vec!["template_id"]);
    }

    #[test]
    fn a_missing_subject_is_named() {
        let request: SendMessageRequest = serde_json::from_value(serde_json::json!({
            "from": "a@acme.test", "to": ["b@example.com"], "text": "hi"
        }))
        .expect("subject is optional in the request type");
        assert_eq!(invalid_fields(request), vec!["subject"]);
    }

    #[test]
    fn a_body_is_required() {
        let mut request = base();
        request.text = None;
        request.html = Some(String::new());
        assert_eq!(invalid_fields(request), vec!["text"]);
    }

    #[test]
    fn oversized_messages_are_too_large_not_invalid() {
        let mut request = base();
        request.text = Some("x".repeat(2_000_000));
        let limits = Limits {
            max_message_bytes: 1_000_000,
            ..Limits::default()
        };
        assert!(matches!(
            request.validate(&limits, now()),
            Err(ValidationFailure::TooLarge { .. })
        ));
    }

    #[test]
    fn attachments_decode_with_or_without_padding_and_line_breaks() {
        let mut request = base();
        request.attachments.push(AttachmentRequest {
            filename: "hello.txt".into(),
            content_type: None,
            content: "aGVs\r\nbG8".into(),
        });
        let message = request.validate(&Limits::default(), now()).expect("valid");
        assert_eq!(message.attachments[0].content, b"hello");
        assert_eq!(
            message.attachments[0].content_type,
            "application/octet-stream"
        );
    }

    #[test]
    fn send_at_must_be_rfc3339_and_within_thirty_days() {
        let at = now();
        let fmt = |t: OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .expect("fmt")
        };
        let mut request = base();
        request.send_at = Some(fmt(at + Duration::hours(2)));
        let message = request.validate(&Limits::default(), at).expect("valid");
        assert!(message.send_at.is_some());

        let mut request = base();
        request.send_at = Some(fmt(at - Duration::hours(2)));
        assert_eq!(
            request
                .validate(&Limits::default(), at)
                .expect("valid")
                .send_at,
            None
        );

        let mut request = base();
        request.send_at = Some(fmt(at + Duration::days(31)));
        assert_eq!(invalid_fields(request), vec!["send_at"]);

        let mut request = base();
        request.send_at = Some("tomorrow".into());
        assert_eq!(invalid_fields(request), vec!["send_at"]);
    }

    #[test]
    fn duplicate_recipients_are_sent_once() {
        let mut request = base();
        request.cc = vec!["Jane <JANE@example.com>".into()];
        let message = request.validate(&Limits::default(), now()).expect("valid");
        assert_eq!(message.envelope_recipients().len(), 1);
    }
}
