//! Builds the RFC 5322 / MIME message that goes on the wire.
//!
//! The encoding work (RFC 2047 encoded words, RFC 2231 parameters, header folding,
//! quoted-printable/base64 bodies, boundaries) is done by `mail-builder`; this module
//! decides the structure and guards the invariants the rest of the pipeline relies on:
//!
//! - the message is in canonical wire form: CRLF line endings only, no line over 998
//!   octets (RFC 5322 §2.1.1). DKIM body hashes and SMTP dot-stuffing both assume it,
//!   so the finished bytes are checked once before they leave this module;
//! - every header Sluice writes itself appears exactly once, and Bcc never appears;
//! - nothing that came from a user can start a new header line, even when an
//!   [`OutboundMessage`] was deserialized from the queue rather than validated.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mail_builder::MessageBuilder;
use mail_builder::headers::HeaderType;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use mail_builder::mime::{BodyPart, MimePart};
use sluice_model::message::RESERVED_HEADERS;
use sluice_model::{Attachment, HeaderName, HeaderValue, Mailbox, OutboundMessage};

mod raw;

/// RFC 5322 §2.1.1: a line is at most 998 octets, excluding the CRLF.
pub const MAX_LINE_OCTETS: usize = 998;

/// What the delivery pipeline knows about a message beyond its content.
#[derive(Clone, Copy, Debug)]
pub struct MimeEnvelopeInfo<'a> {
    /// The `Message-ID` without angle brackets, e.g. `msg_01…@acme.test`.
    pub message_id: &'a str,
    /// The `Date` header. Set once when the message is first built so that a retry
    /// re-sends the same message rather than a newer-looking copy.
    pub date: time::OffsetDateTime,
    /// Headers Sluice itself adds (List-Unsubscribe, Auto-Submitted, …), written after
    /// the message's own headers. A message header of the same name is dropped so that
    /// each header appears once and Sluice's value wins.
    pub extra_headers: &'a [(String, String)],
}

#[derive(Debug, thiserror::Error)]
pub enum MimeError {
    #[error("the message has neither a text nor an HTML body")]
    NoBody,
    #[error(
        "message id {0:?} is not a valid msg-id (printable ASCII `left@right` without angle brackets or spaces)"
    )]
    InvalidMessageId(String),
    #[error("the subject contains control characters")]
    InvalidSubject,
    #[error("the display name of {0} contains control characters")]
    InvalidDisplayName(String),
    #[error("header {name:?} is invalid: {reason}")]
    InvalidHeader { name: String, reason: &'static str },
    #[error("header {0:?} is written by Sluice itself and cannot be supplied")]
    ReservedHeader(String),
    #[error("attachment {filename:?} has an invalid content type {content_type:?}")]
    InvalidContentType {
        filename: String,
        content_type: String,
    },
    #[error("attachment filename {0:?} is empty or contains control characters")]
    InvalidFilename(String),
    /// The builder produced bytes that are not valid on the wire. This is a bug, not a
    /// property of the input; it is reported rather than sent because a broken message
    /// would fail DKIM or be rejected downstream anyway.
    #[error("built message is malformed at byte {offset}: {reason}")]
    Malformed { offset: usize, reason: &'static str },
}

/// Builds the complete message: headers, then a body whose shape follows the content:
///
/// | content                    | top-level type                                   |
/// |----------------------------|--------------------------------------------------|
/// | text                       | `text/plain`                                     |
/// | html                       | `text/html`                                      |
/// | text + html                | `multipart/alternative` (text first)             |
/// | any of the above + files   | `multipart/mixed` (body part(s), then each file) |
///
/// Headers, in order: the message's own `Received` lines, From, To, Cc, Reply-To,
/// Subject, Date, Message-ID, MIME-Version, the message's other headers,
/// `info.extra_headers`, then the Content-* headers of the body. Bcc recipients are
/// envelope-only and never written.
///
/// A message submitted over SMTP ([`OutboundMessage::raw`]) is not built: its own
/// bytes go out, completed as `raw` describes.
pub fn build_message(
    message: &OutboundMessage,
    info: &MimeEnvelopeInfo<'_>,
) -> Result<Vec<u8>, MimeError> {
    if let Some(raw) = &message.raw {
        return raw::build_raw(raw.as_bytes(), info);
    }
    check_message_id(info.message_id)?;
    if message.subject.chars().any(char::is_control) {
        return Err(MimeError::InvalidSubject);
    }
    let extra = checked_extra_headers(info.extra_headers)?;
    let custom = checked_custom_headers(&message.headers, &extra)?;
    let body = build_body(message)?;

    // Trace fields (`Received`) come first, in the order given, as RFC 5322 §3.6.7
    // places them: loop detection downstream counts them wherever they are, but
    // humans and tools read the hop list from the top.
    let (trace, custom): (Vec<_>, Vec<_>) = custom
        .into_iter()
        .partition(|(name, _)| name.eq_ignore_ascii_case("received"));
    let mut builder = MessageBuilder::new();
    for (name, value) in trace {
        builder = builder.header(name, unstructured(name, value));
    }
    builder = builder.from(mailbox(&message.from)?);
    builder = if message.to.is_empty() {
        // A message without To scores as spam (SpamAssassin MISSING_HEADERS); the empty
        // group is what sendmail and most MUAs write for Bcc-only mail.
        builder.header("To", Raw::new("undisclosed-recipients:;"))
    } else {
        builder.to(mailbox_list(&message.to)?)
    };
    if !message.cc.is_empty() {
        builder = builder.cc(mailbox_list(&message.cc)?);
    }
    if let Some(reply_to) = &message.reply_to {
        builder = builder.reply_to(mailbox(reply_to)?);
    }
    builder = builder
        .header("Subject", unstructured("Subject", &message.subject))
        .date(Date::new(info.date.unix_timestamp()))
        .message_id(MessageId::new(info.message_id))
        .header("MIME-Version", Raw::new("1.0"));
    for (name, value) in custom.into_iter().chain(extra) {
        builder = builder.header(name, unstructured(name, value));
    }

    let mut output = Vec::new();
    builder.body(body).serialize(&mut output);
    check_wire_format(&output)?;
    Ok(output)
}

fn check_message_id(id: &str) -> Result<(), MimeError> {
    let valid = id.len() <= 900
        && matches!(id.split_once('@'), Some((left, right)) if !left.is_empty() && !right.is_empty())
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>'));
    if valid {
        Ok(())
    } else {
        Err(MimeError::InvalidMessageId(id.to_string()))
    }
}

fn is_reserved(name: &str) -> bool {
    RESERVED_HEADERS
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(name))
}

/// `extra_headers` are plain strings (they come from Sluice's own code, not from the
/// model's parsed types), so they go through the same parsers as user headers.
fn checked_extra_headers(extra: &[(String, String)]) -> Result<Vec<(&str, &str)>, MimeError> {
    extra
        .iter()
        .map(|(name, value)| {
            let invalid = |reason| MimeError::InvalidHeader {
                name: name.clone(),
                reason,
            };
            HeaderName::parse(name).map_err(invalid)?;
            HeaderValue::parse(value).map_err(invalid)?;
            if is_reserved(name) {
                return Err(MimeError::ReservedHeader(name.clone()));
            }
            Ok((name.as_str(), value.as_str()))
        })
        .collect()
}

/// The message's own headers, minus those Sluice sets itself in `extra`.
fn checked_custom_headers<'a>(
    headers: &'a [(HeaderName, HeaderValue)],
    extra: &[(&str, &str)],
) -> Result<Vec<(&'a str, &'a str)>, MimeError> {
    let mut out = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let name = name.as_str();
        if is_reserved(name) {
            return Err(MimeError::ReservedHeader(name.to_string()));
        }
        if extra.iter().any(|(own, _)| own.eq_ignore_ascii_case(name)) {
            continue;
        }
        out.push((name, value.as_str()));
    }
    Ok(out)
}

/// Chooses how an unstructured header value is written.
///
/// ASCII values are written as they are and folded at whitespace (`Raw`), so that a
/// long ASCII subject stays readable to filters and humans. Non-ASCII values, and
/// ASCII values with a run too long to fold under 998 octets, become RFC 2047
/// encoded words (`Text`), which can be split anywhere.
fn unstructured<'a>(name: &str, value: &'a str) -> HeaderType<'a> {
    if value.is_ascii() && longest_unfoldable(value) + name.len() + 2 <= MAX_LINE_OCTETS {
        Raw::new(value).into()
    } else {
        Text::new(value).into()
    }
}

/// An upper bound on what folding cannot break up: the longest whitespace run plus
/// the longest run of non-whitespace.
fn longest_unfoldable(value: &str) -> usize {
    let run = |is_ws: bool| {
        value
            .as_bytes()
            .split(|b| matches!(b, b' ' | b'\t') != is_ws)
            .map(<[u8]>::len)
            .max()
            .unwrap_or(0)
    };
    run(false) + run(true)
}

/// Internationalised addresses (RFC 6532) are written as UTF-8 by mail-builder;
/// non-ASCII display names become RFC 2047 encoded words.
fn mailbox(mailbox: &Mailbox) -> Result<Address<'_>, MimeError> {
    let name = mailbox.name.as_deref().filter(|name| !name.is_empty());
    if name.is_some_and(|name| name.chars().any(char::is_control)) {
        return Err(MimeError::InvalidDisplayName(mailbox.address.to_string()));
    }
    Ok(Address::new_address(name, mailbox.address.to_string()))
}

fn mailbox_list(mailboxes: &[Mailbox]) -> Result<Address<'_>, MimeError> {
    Ok(Address::new_list(
        mailboxes.iter().map(mailbox).collect::<Result<_, _>>()?,
    ))
}

fn build_body(message: &OutboundMessage) -> Result<MimePart<'_>, MimeError> {
    let text = message
        .text
        .as_deref()
        .map(|text| MimePart::new("text/plain", BodyPart::Text(crlf(text))));
    let html = message
        .html
        .as_deref()
        .map(|html| MimePart::new("text/html", BodyPart::Text(crlf(html))));
    let body = match (text, html) {
        (Some(text), Some(html)) => MimePart::new("multipart/alternative", vec![text, html]),
        (Some(part), None) | (None, Some(part)) => part,
        (None, None) => return Err(MimeError::NoBody),
    };
    if message.attachments.is_empty() {
        return Ok(body);
    }
    let mut parts = Vec::with_capacity(message.attachments.len() + 1);
    parts.push(body);
    for attachment in &message.attachments {
        parts.push(attachment_part(attachment)?);
    }
    Ok(MimePart::new("multipart/mixed", parts))
}

/// Text is sent in canonical form (RFC 2046 §4.1.1): every line break is CRLF.
/// mail-builder normalises bare LF but passes a bare CR through, which would reach
/// the wire as-is, so both are normalised here.
fn crlf(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let canonical = bytes.iter().enumerate().all(|(i, &b)| match b {
        b'\r' => bytes.get(i + 1) == Some(&b'\n'),
        b'\n' => i > 0 && bytes.get(i - 1) == Some(&b'\r'),
        _ => true,
    });
    if canonical {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\r\n");
            }
            '\n' => out.push_str("\r\n"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// An attachment part, always base64 so that the file arrives byte for byte: left to
/// itself mail-builder would send a `text/*` attachment as 7bit or quoted-printable,
/// where relays may rewrite line endings or trailing spaces.
fn attachment_part(attachment: &Attachment) -> Result<MimePart<'_>, MimeError> {
    let filename = attachment.filename.as_str();
    if filename.trim().is_empty() || filename.chars().any(char::is_control) {
        return Err(MimeError::InvalidFilename(filename.to_string()));
    }
    let content_type = attachment_content_type(&attachment.content_type).ok_or_else(|| {
        MimeError::InvalidContentType {
            filename: filename.to_string(),
            content_type: attachment.content_type.clone(),
        }
    })?;
    // `name=` duplicates the filename for old clients that only read Content-Type.
    let content_type = ContentType::new(content_type).attribute("name", filename);
    Ok(MimePart::new(
        content_type,
        BodyPart::Binary(base64_lines(&attachment.content).into()),
    )
    .attachment(filename)
    .transfer_encoding("base64"))
}

/// A lower-cased `type/subtype`. Composite types (`multipart/*`, `message/*`) may not
/// be base64-encoded (RFC 2046 §5.1.1, §5.2.1) and would be parsed as structure, so
/// such files are sent as opaque `application/octet-stream`.
fn attachment_content_type(value: &str) -> Option<String> {
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let (kind, subtype) = value.split_once('/')?;
    if !token(kind) || !token(subtype) {
        return None;
    }
    let kind = kind.to_ascii_lowercase();
    if kind == "multipart" || kind == "message" {
        return Some("application/octet-stream".to_string());
    }
    Some(format!("{kind}/{}", subtype.to_ascii_lowercase()))
}

/// Base64 in 76-character lines joined by CRLF (RFC 2045 §6.8). No trailing CRLF: the
/// line break before the next boundary belongs to the boundary.
fn base64_lines(content: &[u8]) -> Vec<u8> {
    const LINE: usize = 76;
    let encoded = STANDARD.encode(content);
    let mut out = Vec::with_capacity(encoded.len() + encoded.len() / LINE * 2);
    for (i, line) in encoded.as_bytes().chunks(LINE).enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(line);
    }
    out
}

/// Checks the finished bytes: CRLF only, no line over 998 octets.
fn check_wire_format(message: &[u8]) -> Result<(), MimeError> {
    let mut line_start = 0;
    let mut i = 0;
    while i < message.len() {
        match message[i] {
            b'\r' if message.get(i + 1) == Some(&b'\n') => {
                if i - line_start > MAX_LINE_OCTETS {
                    return Err(MimeError::Malformed {
                        offset: line_start,
                        reason: "line longer than 998 octets",
                    });
                }
                i += 2;
                line_start = i;
                continue;
            }
            b'\r' | b'\n' => {
                return Err(MimeError::Malformed {
                    offset: i,
                    reason: "bare CR or LF",
                });
            }
            _ => i += 1,
        }
    }
    if message.len() - line_start > MAX_LINE_OCTETS {
        return Err(MimeError::Malformed {
            offset: line_start,
            reason: "line longer than 998 octets",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_dkim;
