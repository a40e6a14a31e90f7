//! A message submitted as RFC 5322 bytes (SMTP submission), and the header-section
//! reading that submission and MIME building share.
//!
//! A submitted message is kept as the client wrote it (after the submission
//! listener removed `Bcc` and the `X-Sluice-*` directives): the worker sends these
//! bytes, adding only what is missing (`Date`, `Message-ID`) and its own headers,
//! then signs them. The structured fields of [`crate::OutboundMessage`] beside it
//! describe the message for views, events and routing.

use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// RFC 5322 bytes in canonical form: CRLF line endings, a header section, then
/// (after an empty line) the body. Build with [`RawMessage::new`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RawMessage(Vec<u8>);

/// Stored as base64 in the message's JSON.
impl From<RawMessage> for String {
    fn from(raw: RawMessage) -> String {
        base64::engine::general_purpose::STANDARD.encode(raw.0)
    }
}

impl TryFrom<String> for RawMessage {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| e.to_string())?;
        RawMessage::new(bytes).map_err(|e| e.to_string())
    }
}

impl RawMessage {
    /// Takes bytes that [`header_fields`] can read (checked again here).
    pub fn new(bytes: Vec<u8>) -> Result<Self, RawError> {
        header_fields(&bytes)?;
        Ok(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for RawMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawMessage({} bytes)", self.0.len())
    }
}

/// Why bytes are not a message Sluice can send as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RawError {
    #[error("a header line is neither a field (name: value) nor a continuation")]
    MalformedHeader,
    #[error("a header field name is not printable ASCII")]
    BadHeaderName,
    #[error("the message has no header fields")]
    NoHeaders,
    #[error("a line is longer than 998 octets (RFC 5322 section 2.1.1)")]
    LineTooLong,
}

/// One header field as it is in the message: its name, and the whole field
/// (continuation lines and the final CRLF included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderField<'a> {
    pub name: &'a str,
    pub raw: &'a [u8],
}

impl HeaderField<'_> {
    /// Whether the field is named `name` (case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The value, unfolded (line breaks removed) and trimmed; invalid UTF-8 is
    /// replaced.
    pub fn value(&self) -> String {
        let after = &self.raw[self.name.len() + 1..];
        let text = String::from_utf8_lossy(after);
        let unfolded: String = text.chars().filter(|&c| c != '\r' && c != '\n').collect();
        unfolded.trim().to_string()
    }
}

/// The header fields of a canonical (CRLF) message, and where its body starts
/// (the empty line separating them is part of neither; `body` is the offset just
/// past it, or the message's length when there is no body).
#[derive(Clone, Debug)]
pub struct HeaderSection<'a> {
    pub fields: Vec<HeaderField<'a>>,
    pub body: usize,
}

/// Reads the header section of canonical message bytes. Fields start with a name
/// of printable ASCII and a colon; lines starting with a space or tab continue the
/// field before them; the first empty line ends the section.
pub fn header_fields(message: &[u8]) -> Result<HeaderSection<'_>, RawError> {
    let mut fields: Vec<HeaderField<'_>> = Vec::new();
    let mut at = 0;
    let mut field_start: Option<(usize, usize)> = None; // (start, name length)
    // Where the header section ends, and where the body starts.
    let (section_end, body) = loop {
        if at >= message.len() {
            break (message.len(), message.len());
        }
        let end = find_crlf(message, at).map_or(message.len(), |i| i + 2);
        let line = &message[at..end];
        let content = line.strip_suffix(b"\r\n").unwrap_or(line);
        if content.len() > 998 {
            return Err(RawError::LineTooLong);
        }
        if content.is_empty() {
            break (at, end);
        }
        if matches!(content[0], b' ' | b'\t') {
            if field_start.is_none() {
                return Err(RawError::MalformedHeader);
            }
        } else {
            if let Some((start, name_len)) = field_start.take() {
                fields.push(field(message, start, name_len, at));
            }
            let colon = content
                .iter()
                .position(|&b| b == b':')
                .ok_or(RawError::MalformedHeader)?;
            let name = &content[..colon];
            if name.is_empty() || !name.iter().all(|b| (33..=126).contains(b)) {
                return Err(RawError::BadHeaderName);
            }
            field_start = Some((at, colon));
        }
        at = end;
    };
    if let Some((start, name_len)) = field_start {
        fields.push(field(message, start, name_len, section_end));
    }
    if fields.is_empty() {
        return Err(RawError::NoHeaders);
    }
    // Body lines are held to the same line limit.
    let mut line_start = body;
    while let Some(i) = find_crlf(message, line_start) {
        if i - line_start > 998 {
            return Err(RawError::LineTooLong);
        }
        line_start = i + 2;
    }
    if message.len() - line_start > 998 {
        return Err(RawError::LineTooLong);
    }
    Ok(HeaderSection { fields, body })
}

fn field(message: &[u8], start: usize, name_len: usize, end: usize) -> HeaderField<'_> {
    let raw = &message[start..end];
    // The name was checked to be printable ASCII when the field started.
    let name = std::str::from_utf8(&raw[..name_len]).unwrap_or_default();
    HeaderField { name, raw }
}

fn find_crlf(bytes: &[u8], from: usize) -> Option<usize> {
    bytes[from..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|i| from + i)
}

/// Canonical line endings: every bare LF or bare CR becomes CRLF (clients that
/// submit with Unix line endings are common; DKIM and SMTP need CRLF).
pub fn canonical_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 40);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_fields_and_folded_values() {
        let msg = b"From: a@b.test\r\nSubject: one\r\n two\r\nX-A:x\r\n\r\nbody\r\n";
        let section = header_fields(msg).unwrap();
        let names: Vec<_> = section.fields.iter().map(|f| f.name).collect();
        assert_eq!(names, ["From", "Subject", "X-A"]);
        assert_eq!(section.fields[1].raw, b"Subject: one\r\n two\r\n");
        assert_eq!(section.fields[1].value(), "one two");
        assert_eq!(section.fields[2].value(), "x");
        assert_eq!(&msg[section.body..], b"body\r\n");
    }

    #[test]
    fn a_message_without_body_or_final_crlf() {
        let section = header_fields(b"From: a@b.test\r\nTo: c@d.test").unwrap();
        assert_eq!(section.fields.len(), 2);
        assert_eq!(section.fields[1].raw, b"To: c@d.test");
        let section = header_fields(b"From: a@b.test\r\n").unwrap();
        assert_eq!(section.fields[0].raw, b"From: a@b.test\r\n");
    }

    #[test]
    fn refuses_what_is_not_a_header_section() {
        assert_eq!(header_fields(b"\r\nbody").unwrap_err(), RawError::NoHeaders);
        assert_eq!(
            header_fields(b" folded first\r\n\r\n").unwrap_err(),
            RawError::MalformedHeader
        );
        assert_eq!(
            header_fields(b"no colon here\r\n\r\n").unwrap_err(),
            RawError::MalformedHeader
        );
        assert_eq!(
            header_fields(b"Bad Name: x\r\n\r\n").unwrap_err(),
            RawError::BadHeaderName
        );
        let long = format!("From: a@b.test\r\n\r\n{}\r\n", "x".repeat(999));
        assert_eq!(
            header_fields(long.as_bytes()).unwrap_err(),
            RawError::LineTooLong
        );
    }

    #[test]
    fn line_endings_become_crlf() {
        assert_eq!(canonical_crlf(b"a\nb\r\nc\rd"), b"a\r\nb\r\nc\r\nd");
    }

    #[test]
    fn serializes_as_base64() {
        let raw = RawMessage::new(b"From: a@b.test\r\n\r\nhi\r\n".to_vec()).unwrap();
        let json = serde_json::to_string(&raw).unwrap();
        assert_eq!(json, "\"RnJvbTogYUBiLnRlc3QNCg0KaGkNCg==\"");
        assert_eq!(serde_json::from_str::<RawMessage>(&json).unwrap(), raw);
    }
}
