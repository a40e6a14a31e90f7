//! A submitted message (SMTP submission) on its way out: its own bytes, as the
//! client wrote them, with only what the pipeline owes every message added.
//!
//! - `Date` and `Message-ID` are added when missing (RFC 6409 section 8: a
//!   submission server may complete them), from the same values a structured
//!   message gets, so a retry sends the same message;
//! - Sluice's own headers (`info.extra_headers`: List-Unsubscribe, …) replace any
//!   of the same name;
//! - `Bcc`, `Return-Path` (the receiving MTA writes it) and any `X-Sluice-*` or
//!   `Idempotency-Key` the submission listener should already have removed are
//!   dropped again, so no record, however it was written, leaks them.

use sluice_model::raw::header_fields;

use super::{
    MimeEnvelopeInfo, MimeError, check_message_id, check_wire_format, checked_extra_headers,
};

/// Fields never sent, whatever the stored bytes hold.
fn dropped(name: &str) -> bool {
    name.eq_ignore_ascii_case("bcc")
        || name.eq_ignore_ascii_case("return-path")
        || name.eq_ignore_ascii_case("idempotency-key")
        || name
            .get(..9)
            .is_some_and(|p| p.eq_ignore_ascii_case("x-sluice-"))
}

pub(super) fn build_raw(raw: &[u8], info: &MimeEnvelopeInfo<'_>) -> Result<Vec<u8>, MimeError> {
    let section = header_fields(raw).map_err(|e| MimeError::Malformed {
        offset: 0,
        reason: match e {
            sluice_model::raw::RawError::LineTooLong => "line longer than 998 octets",
            _ => "the stored message has no readable header section",
        },
    })?;
    let extra = checked_extra_headers(info.extra_headers)?;
    let mut out = Vec::with_capacity(raw.len() + 512);
    let (mut has_date, mut has_id) = (false, false);
    for field in &section.fields {
        if dropped(field.name) || extra.iter().any(|(name, _)| field.is(name)) {
            continue;
        }
        has_date |= field.is("date");
        has_id |= field.is("message-id");
        out.extend_from_slice(field.raw);
        if !field.raw.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
    }
    if !has_date {
        let date = info
            .date
            .format(&time::format_description::well_known::Rfc2822)
            .map_err(|_| MimeError::Malformed {
                offset: 0,
                reason: "the date cannot be written in RFC 5322 form",
            })?;
        out.extend_from_slice(format!("Date: {date}\r\n").as_bytes());
    }
    if !has_id {
        check_message_id(info.message_id)?;
        out.extend_from_slice(format!("Message-ID: <{}>\r\n", info.message_id).as_bytes());
    }
    for (name, value) in extra {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&raw[section.body..]);
    check_wire_format(&out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use time::macros::datetime;

    use super::*;

    fn info<'a>(extra: &'a [(String, String)]) -> MimeEnvelopeInfo<'a> {
        MimeEnvelopeInfo {
            message_id: "msg_01@acme.test",
            date: datetime!(2026-12-06 10:00 UTC),
            extra_headers: extra,
        }
    }

    #[test]
    fn adds_date_and_message_id_when_missing_and_drops_bcc() {
        let raw = b"From: a@acme.test\r\nTo: b@example.com\r\nBcc: hidden@example.com\r\nSubject: hi\r\n\r\nbody\r\n";
        let extra = [(
            "List-Unsubscribe".to_string(),
            "<https://u.test/x>".to_string(),
        )];
        let out = String::from_utf8(build_raw(raw, &info(&extra)).unwrap()).unwrap();
        assert_eq!(
            out,
            "From: a@acme.test\r\nTo: b@example.com\r\nSubject: hi\r\n\
             Date: Sun, 06 Dec 2026 10:00:00 +0000\r\nMessage-ID: <msg_01@acme.test>\r\n\
             List-Unsubscribe: <https://u.test/x>\r\n\r\nbody\r\n"
        );
    }

    #[test]
    fn keeps_the_clients_date_and_message_id_and_replaces_sluice_headers() {
        let raw = b"Date: Mon, 1 Dec 2026 08:00:00 +0000\r\nMessage-ID: <own@client.test>\r\nFrom: a@acme.test\r\nList-Unsubscribe: <mailto:x@y>\r\nX-Sluice-Tags: a\r\n\r\nbody";
        let extra = [(
            "List-Unsubscribe".to_string(),
            "<https://u.test/x>".to_string(),
        )];
        let out = String::from_utf8(build_raw(raw, &info(&extra)).unwrap()).unwrap();
        assert_eq!(
            out,
            "Date: Mon, 1 Dec 2026 08:00:00 +0000\r\nMessage-ID: <own@client.test>\r\nFrom: a@acme.test\r\n\
             List-Unsubscribe: <https://u.test/x>\r\n\r\nbody"
        );
    }

    #[test]
    fn a_message_without_body_gets_the_separator() {
        let out = build_raw(b"From: a@acme.test\r\nSubject: x", &info(&[])).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("From: a@acme.test\r\nSubject: x\r\nDate: "));
        assert!(out.ends_with(">\r\n\r\n"), "{out}");
    }
}
