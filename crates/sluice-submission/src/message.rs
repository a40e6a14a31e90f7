//! What a submitted message becomes: the bytes to send (Bcc and Sluice's
//! directives removed) and the fields that describe it, the same
//! [`OutboundMessage`] an API send produces.
//!
//! Directives are headers an application that cannot call the API can still
//! write: `X-Sluice-Stream: bulk`, `X-Sluice-Tags: a, b`, `X-Sluice-Metadata-<key>:
//! <value>` and `Idempotency-Key`, each with the meaning and limits of the API's
//! field of the same name. They are removed before the message is stored, so they
//! are never signed or sent.

use std::collections::BTreeMap;

use mail_parser::MessageParser;
use sha2::{Digest, Sha256};
use sluice_model::raw::{HeaderField, RawMessage, canonical_crlf, header_fields};
use sluice_model::validate::check_labels;
use sluice_model::{EmailAddress, Mailbox, MessageStream, OutboundMessage};

/// A submitted message, ready to be accepted.
#[derive(Debug)]
pub(crate) struct Submitted {
    pub message: OutboundMessage,
    /// The client's own `Message-ID` (angle brackets included), when it wrote one.
    pub message_id_header: Option<String>,
    pub idempotency_key: Option<String>,
    /// What a repeated Idempotency-Key must match: the envelope and the stored bytes.
    pub fingerprint: String,
}

/// Why a message is refused; each is a permanent reply (the client must change
/// the message).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Invalid {
    #[error("{0}")]
    Syntax(String),
    #[error("{0}")]
    Directive(String),
}

const STREAM: &str = "x-sluice-stream";
const TAGS: &str = "x-sluice-tags";
const METADATA: &str = "x-sluice-metadata-";
const IDEMPOTENCY: &str = "idempotency-key";

/// Reads DATA (as received, any line endings) sent with envelope recipients
/// `rcpts` (already parsed by the session's RCPT check).
pub(crate) fn parse(data: &[u8], rcpts: &[EmailAddress]) -> Result<Submitted, Invalid> {
    let canonical = canonical_crlf(data);
    let section = header_fields(&canonical)
        .map_err(|e| Invalid::Syntax(format!("malformed message: {e}")))?;

    let mut stream = MessageStream::Transactional;
    let mut tags = Vec::new();
    let mut metadata = BTreeMap::new();
    let mut idempotency_key = None;
    let mut kept: Vec<&HeaderField<'_>> = Vec::with_capacity(section.fields.len());
    let mut from_fields = 0;
    for field in &section.fields {
        let lower = field.name.to_ascii_lowercase();
        match lower.as_str() {
            STREAM => {
                let value = field.value().to_ascii_lowercase();
                stream = MessageStream::parse(&value).ok_or_else(|| {
                    Invalid::Directive(format!(
                        "X-Sluice-Stream must be transactional or bulk, not {value:?}"
                    ))
                })?;
            }
            TAGS => tags.extend(
                field
                    .value()
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string),
            ),
            IDEMPOTENCY => {
                let key = field.value();
                if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| (32..127).contains(&b))
                {
                    return Err(Invalid::Directive(
                        "Idempotency-Key must be 1 to 255 printable ASCII characters".into(),
                    ));
                }
                idempotency_key = Some(key);
            }
            "bcc" | "return-path" => {}
            name if name.starts_with(METADATA) => {
                metadata.insert(field.name[METADATA.len()..].to_string(), field.value());
            }
            name if name.starts_with("x-sluice-") => {
                return Err(Invalid::Directive(format!(
                    "unknown directive {}: use X-Sluice-Stream, X-Sluice-Tags or X-Sluice-Metadata-<key>",
                    field.name
                )));
            }
            name => {
                from_fields += usize::from(name == "from");
                kept.push(field);
            }
        }
    }
    if let Some(error) = check_labels(&tags, &metadata).into_iter().next() {
        let (field, message) = (error.field, error.message);
        return Err(Invalid::Directive(format!(
            "{field} (from X-Sluice-Tags / X-Sluice-Metadata-*) {message}"
        )));
    }
    if from_fields != 1 {
        return Err(Invalid::Syntax(
            "the message needs exactly one From header field".into(),
        ));
    }

    let mut bytes = Vec::with_capacity(canonical.len());
    for field in &kept {
        bytes.extend_from_slice(field.raw);
        if !field.raw.ends_with(b"\r\n") {
            bytes.extend_from_slice(b"\r\n");
        }
    }
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(&canonical[section.body..]);

    let headers = MessageParser::new()
        .parse_headers(&bytes)
        .ok_or_else(|| Invalid::Syntax("malformed message: unreadable header section".into()))?;
    let from = single_from(headers.from())?;
    let named = |list: Option<&mail_parser::Address<'_>>| -> Vec<Mailbox> {
        list.map(|l| l.iter().filter_map(mailbox).collect())
            .unwrap_or_default()
    };
    let (header_to, header_cc) = (named(headers.to()), named(headers.cc()));
    let (mut to, mut cc, mut bcc) = (Vec::new(), Vec::new(), Vec::new());
    for rcpt in rcpts {
        let find = |list: &[Mailbox]| list.iter().find(|m| same(&m.address, rcpt)).cloned();
        if let Some(m) = find(&header_to) {
            to.push(m);
        } else if let Some(m) = find(&header_cc) {
            cc.push(m);
        } else {
            bcc.push(Mailbox {
                name: None,
                address: rcpt.clone(),
            });
        }
    }
    let subject = headers.subject().unwrap_or_default().to_string();
    let subject: String = subject.chars().filter(|c| !c.is_control()).collect();
    let message_id_header = headers
        .message_id()
        .filter(|id| {
            id.contains('@')
                && id
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
        })
        .map(|id| format!("<{id}>"));

    let mut hash = Sha256::new();
    for rcpt in rcpts {
        hash.update(rcpt.to_string().to_lowercase().as_bytes());
        hash.update(b"\n");
    }
    hash.update(&bytes);
    let fingerprint = hex::encode(hash.finalize());

    let raw =
        RawMessage::new(bytes).map_err(|e| Invalid::Syntax(format!("malformed message: {e}")))?;
    Ok(Submitted {
        message: OutboundMessage {
            from,
            to,
            cc,
            bcc,
            reply_to: None,
            subject,
            text: None,
            html: None,
            headers: Vec::new(),
            attachments: Vec::new(),
            stream,
            tags,
            metadata,
            send_at: None,
            raw: Some(raw),
        },
        message_id_header,
        idempotency_key,
        fingerprint,
    })
}

fn single_from(from: Option<&mail_parser::Address<'_>>) -> Result<Mailbox, Invalid> {
    let mut addresses = from.into_iter().flat_map(|a| a.iter());
    match (addresses.next().and_then(mailbox), addresses.next()) {
        (Some(mailbox), None) => Ok(mailbox),
        _ => Err(Invalid::Syntax(
            "the From header field must hold exactly one valid address".into(),
        )),
    }
}

fn mailbox(addr: &mail_parser::Addr<'_>) -> Option<Mailbox> {
    let address = EmailAddress::parse(addr.address()?).ok()?;
    let name = addr
        .name()
        .map(|n| n.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|n| !n.trim().is_empty());
    Some(Mailbox { name, address })
}

fn same(a: &EmailAddress, b: &EmailAddress) -> bool {
    a.to_string().eq_ignore_ascii_case(&b.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rcpts(list: &[&str]) -> Vec<EmailAddress> {
        list.iter()
            .map(|a| EmailAddress::parse(a).unwrap())
            .collect()
    }

    const MESSAGE: &str = "From: Acme <noreply@acme.test>\n\
        To: Jane <jane@example.com>\n\
        Cc: bob@example.com\n\
        Bcc: secret@example.com\n\
        Subject: =?utf-8?q?Caf=C3=A9?= report\n\
        X-Sluice-Stream: bulk\n\
        X-Sluice-Tags: weekly, report\n\
        X-Sluice-Metadata-user_id: 42\n\
        Idempotency-Key: run-7\n\
        X-Custom: kept\n\
        \n\
        Hello\n";

    #[test]
    fn maps_directives_and_removes_them_with_bcc() {
        let submitted = parse(
            MESSAGE.as_bytes(),
            &rcpts(&["jane@example.com", "BOB@example.com", "secret@example.com"]),
        )
        .unwrap();
        let m = &submitted.message;
        assert_eq!(m.stream, MessageStream::Bulk);
        assert_eq!(m.tags, ["weekly", "report"]);
        assert_eq!(m.metadata.get("user_id").map(String::as_str), Some("42"));
        assert_eq!(submitted.idempotency_key.as_deref(), Some("run-7"));
        assert_eq!(m.from.name.as_deref(), Some("Acme"));
        assert_eq!(m.from.address.to_string(), "noreply@acme.test");
        assert_eq!(m.subject, "Café report");
        assert_eq!(m.to[0].name.as_deref(), Some("Jane"));
        assert_eq!(m.cc.len(), 1);
        assert_eq!(m.bcc[0].address.to_string(), "secret@example.com");
        let bytes = String::from_utf8(m.raw.as_ref().unwrap().as_bytes().to_vec()).unwrap();
        assert_eq!(
            bytes,
            "From: Acme <noreply@acme.test>\r\nTo: Jane <jane@example.com>\r\nCc: bob@example.com\r\n\
             Subject: =?utf-8?q?Caf=C3=A9?= report\r\nX-Custom: kept\r\n\r\nHello\r\n"
        );
        assert_eq!(submitted.message_id_header, None);
    }

    #[test]
    fn the_fingerprint_follows_the_content_and_the_envelope() {
        let one = parse(MESSAGE.as_bytes(), &rcpts(&["jane@example.com"])).unwrap();
        let again = parse(MESSAGE.as_bytes(), &rcpts(&["jane@example.com"])).unwrap();
        let other = parse(MESSAGE.as_bytes(), &rcpts(&["bob@example.com"])).unwrap();
        assert_eq!(one.fingerprint, again.fingerprint);
        assert_ne!(one.fingerprint, other.fingerprint);
    }

    #[test]
    fn keeps_the_clients_message_id() {
        let data = "From: a@acme.test\r\nMessage-ID: <abc.1@client.test>\r\n\r\nx\r\n";
        let submitted = parse(data.as_bytes(), &rcpts(&["b@example.com"])).unwrap();
        assert_eq!(
            submitted.message_id_header.as_deref(),
            Some("<abc.1@client.test>")
        );
    }

    #[test]
    fn refuses_bad_directives_and_senders() {
        let refuse = |data: &str| parse(data.as_bytes(), &rcpts(&["b@example.com"])).unwrap_err();
        assert!(matches!(
            refuse("From: a@acme.test\r\nX-Sluice-Stream: fast\r\n\r\nx"),
            Invalid::Directive(_)
        ));
        assert!(matches!(
            refuse("From: a@acme.test\r\nX-Sluice-Sream: bulk\r\n\r\nx"),
            Invalid::Directive(_)
        ));
        let many_tags = format!(
            "From: a@acme.test\r\nX-Sluice-Tags: {}\r\n\r\nx",
            (0..11)
                .map(|i| format!("t{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert!(matches!(refuse(&many_tags), Invalid::Directive(_)));
        assert!(matches!(
            refuse("To: b@example.com\r\n\r\nx"),
            Invalid::Syntax(_)
        ));
        assert!(matches!(
            refuse("From: a@acme.test, c@acme.test\r\n\r\nx"),
            Invalid::Syntax(_)
        ));
        assert!(matches!(
            refuse("From: a@acme.test\r\nFrom: c@acme.test\r\n\r\nx"),
            Invalid::Syntax(_)
        ));
        assert!(matches!(
            refuse("not a header\r\n\r\nx"),
            Invalid::Syntax(_)
        ));
    }
}
