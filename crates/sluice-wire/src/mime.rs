//! The little we need from a MIME tree: find a report's parts by content type and get
//! their bodies as text, whatever shape mail-parser gave them.
//!
//! mail-parser decides a part's representation from its content type: `text/*` becomes
//! text, `message/rfc822` a nested message, anything else (`message/delivery-status`,
//! `message/feedback-report`) binary. Reports in the wild mislabel parts, so every
//! lookup here accepts all of those shapes instead of trusting one.

use std::borrow::Cow;

use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};

use crate::fields;
use crate::limits::{self, MAX_HEADER_SECTION};

/// Parses raw bytes into a message; `None` when there is not even a header.
pub(crate) fn parse(raw: &[u8]) -> Option<Message<'_>> {
    MessageParser::new().parse(raw)
}

/// True when the part's content type is one of `types` (`(type, subtype)`, any case).
pub(crate) fn is_type(part: &MessagePart<'_>, types: &[(&str, &str)]) -> bool {
    types
        .iter()
        .any(|(ctype, subtype)| part.is_content_type(ctype, subtype))
}

/// The first top-level part of one of `types`, as text, cut after `limit` bytes. Parts
/// of a returned original message are nested inside it and never seen here, so an
/// original that is itself a report cannot be mistaken for this one.
pub(crate) fn find_text(
    raw: &[u8],
    message: &Message<'_>,
    types: &[(&str, &str)],
    limit: usize,
) -> Option<String> {
    message
        .parts
        .iter()
        .filter(|part| is_type(part, types))
        .find_map(|part| part_text(raw, part, limit))
}

/// Content types that carry a returned original: the whole message or just its header.
const ORIGINAL_TYPES: &[(&str, &str)] = &[
    ("message", "rfc822"),
    ("message", "global"),
    ("text", "rfc822-headers"),
    ("message", "rfc822-headers"),
    ("message", "global-headers"),
];

/// The header section of the returned original message, if the report carries one.
/// Only the headers are kept: they identify the message (VERP return path, Message-ID),
/// while the body may be megabytes of the sender's own content. Only the first
/// [`MAX_HEADER_SECTION`] bytes of the part are looked at, so a returned original with
/// a header line of megabytes costs no more than a normal one.
pub(crate) fn original_headers(raw: &[u8], message: &Message<'_>) -> Option<String> {
    let text = find_text(raw, message, ORIGINAL_TYPES, MAX_HEADER_SECTION)?;
    let headers = fields::header_section(&text);
    (!headers.is_empty()).then_some(headers)
}

/// The first `limit` bytes of a part's decoded body as text; `None` for multipart
/// containers. A cut through a UTF-8 sequence becomes one replacement character.
pub(crate) fn part_text(raw: &[u8], part: &MessagePart<'_>, limit: usize) -> Option<String> {
    let lossy =
        |bytes: &[u8]| String::from_utf8_lossy(&bytes[..bytes.len().min(limit)]).into_owned();
    Some(match &part.body {
        PartType::Text(text) | PartType::Html(text) => limits::truncate(text, limit).to_string(),
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => lossy(bytes),
        PartType::Message(nested) => {
            // An unencoded nested message borrows the whole outer input; the part's
            // offsets say where it is. A decoded one (base64, QP) owns its own bytes.
            let bytes = match &nested.raw_message {
                Cow::Borrowed(_) => raw
                    .get(part.offset_body as usize..part.offset_end as usize)
                    .unwrap_or_default(),
                Cow::Owned(bytes) => bytes.as_slice(),
            };
            lossy(bytes)
        }
        PartType::Multipart(_) => return None,
    })
}

/// The outer message's header section, read from the raw bytes so that headers
/// mail-parser would interpret (addresses, encoded words) stay exactly as sent; at most
/// [`MAX_HEADER_SECTION`] bytes of it.
pub(crate) fn raw_header_section(raw: &[u8]) -> String {
    let raw = &raw[..raw.len().min(MAX_HEADER_SECTION)];
    let mut end = 0;
    for line in raw.split(|&byte| byte == b'\n') {
        if line.iter().all(|byte| byte.is_ascii_whitespace()) && end > 0 {
            break;
        }
        end = (end + line.len() + 1).min(raw.len());
    }
    fields::header_section(&String::from_utf8_lossy(&raw[..end]))
}
