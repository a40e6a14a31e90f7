use std::collections::BTreeMap;

use mail_parser::{HeaderForm, MessageParser, MimeHeaders};
use sluice_model::{Attachment, HeaderName, HeaderValue, Mailbox, MessageStream, OutboundMessage};
use time::macros::datetime;

use super::*;

fn mbox(value: &str) -> Mailbox {
    Mailbox::parse(value).expect("test mailbox")
}

fn header(name: &str, value: &str) -> (HeaderName, HeaderValue) {
    (
        HeaderName::parse(name).expect("test header name"),
        HeaderValue::parse(value).expect("test header value"),
    )
}

fn message() -> OutboundMessage {
    OutboundMessage {
        from: mbox("Acme <noreply@acme.test>"),
        to: vec![mbox("Jane Doe <jane@example.com>")],
        cc: vec![],
        bcc: vec![],
        reply_to: None,
        subject: "Your sign-in code".into(),
        text: Some("Your code is 123456".into()),
        html: None,
        headers: vec![],
        attachments: vec![],
        stream: MessageStream::Transactional,
        tags: vec![],
        metadata: BTreeMap::new(),
        send_at: None,
        raw: None,
    }
}

const MESSAGE_ID: &str = "msg_01jdx8k3m5n6p7q8r9s0t1v2w3@acme.test";

fn build(message: &OutboundMessage) -> Vec<u8> {
    build_with(message, &[])
}

fn build_with(message: &OutboundMessage, extra: &[(String, String)]) -> Vec<u8> {
    let raw = build_message(
        message,
        &MimeEnvelopeInfo {
            message_id: MESSAGE_ID,
            date: datetime!(2026-01-02 03:04:05 UTC),
            extra_headers: extra,
        },
    )
    .expect("build_message");
    assert_wire_format(&raw);
    raw
}

/// An independent check of the wire format (not `check_wire_format`, which is what
/// is under test): CRLF only and no line over 998 octets.
fn assert_wire_format(raw: &[u8]) {
    for (n, line) in raw.split(|&b| b == b'\n').enumerate() {
        let is_last = n == raw.iter().filter(|&&b| b == b'\n').count();
        let line = if is_last {
            line
        } else {
            line.strip_suffix(b"\r")
                .unwrap_or_else(|| panic!("line {n} ends in a bare LF"))
        };
        assert!(!line.contains(&b'\r'), "line {n} contains a bare CR");
        assert!(line.len() <= 998, "line {n} is {} octets", line.len());
    }
}

fn header_section(raw: &[u8]) -> &str {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header/body separator");
    std::str::from_utf8(&raw[..end]).expect("UTF-8 header section")
}

/// The header fields of the top level, unfolded, in order.
fn fields(raw: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in header_section(raw).split("\r\n") {
        if line.starts_with([' ', '\t']) {
            let last = out.last_mut().expect("continuation after a field");
            last.1.push_str(line);
        } else {
            let (name, value) = line.split_once(':').expect("field has a colon");
            out.push((name.to_string(), value.trim_start().to_string()));
        }
    }
    out
}

/// An unstructured header as a reader sees it (RFC 2047 words decoded, unfolded).
fn decoded(parsed: &mail_parser::Message<'_>, name: &str) -> String {
    let values = parsed.header_as(name, HeaderForm::Text);
    assert_eq!(values.len(), 1, "{name} appears {} times", values.len());
    values[0].as_text().unwrap_or_default().to_string()
}

fn names(raw: &[u8]) -> Vec<String> {
    fields(raw).into_iter().map(|(name, _)| name).collect()
}

fn field(raw: &[u8], name: &str) -> String {
    let matching: Vec<_> = fields(raw)
        .into_iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .collect();
    assert_eq!(matching.len(), 1, "{name} appears {} times", matching.len());
    matching
        .into_iter()
        .next()
        .map(|(_, v)| v)
        .unwrap_or_default()
}

#[test]
fn text_only_is_a_single_text_plain_part() {
    let raw = build(&message());
    let parsed = MessageParser::new().parse(&raw).expect("parses");
    let content_type = parsed.content_type().expect("content type");
    assert_eq!(
        (content_type.ctype(), content_type.subtype()),
        ("text", Some("plain"))
    );
    assert_eq!(content_type.attribute("charset"), Some("utf-8"));
    assert_eq!(parsed.body_text(0).as_deref(), Some("Your code is 123456"));
    assert_eq!(parsed.html_body_count(), 1); // mail-parser derives HTML from text
    assert_eq!(parsed.attachment_count(), 0);
    assert_eq!(parsed.parts.len(), 1);
}

#[test]
fn html_only_is_a_single_text_html_part() {
    let mut message = message();
    message.text = None;
    message.html = Some("<p>Your code is <b>123456</b></p>".into());
    let raw = build(&message);
    let parsed = MessageParser::new().parse(&raw).expect("parses");
    assert!(parsed.is_content_type("text", "html"));
    assert_eq!(parsed.parts.len(), 1);
    assert_eq!(
        parsed.body_html(0).as_deref(),
        Some("<p>Your code is <b>123456</b></p>")
    );
}

#[test]
fn text_and_html_are_alternatives_with_text_first() {
    let mut message = message();
    message.html = Some("<p>Your code is <b>123456</b></p>".into());
    let raw = build(&message);
    let parsed = MessageParser::new().parse(&raw).expect("parses");
    assert!(parsed.is_content_type("multipart", "alternative"));
    assert_eq!(parsed.parts.len(), 3);
    assert!(parsed.parts[1].is_content_type("text", "plain"));
    assert!(parsed.parts[2].is_content_type("text", "html"));
    assert_eq!(parsed.body_text(0).as_deref(), Some("Your code is 123456"));
    assert_eq!(
        parsed.body_html(0).as_deref(),
        Some("<p>Your code is <b>123456</b></p>")
    );
}

#[test]
fn attachments_wrap_the_body_in_multipart_mixed() {
    let binary: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let mut message = message();
    message.html = Some("<p>Receipt attached</p>".into());
    message.attachments = vec![
        Attachment {
            filename: "Rechnung März 2026 – 請求書.pdf".into(),
            content_type: "Application/PDF".into(),
            content: binary.clone(),
        },
        Attachment {
            filename: "notes.txt".into(),
            content_type: "text/plain".into(),
            content: b"line one \r\nline two\nbare lf, trailing space ".to_vec(),
        },
        Attachment {
            filename: "forwarded.eml".into(),
            content_type: "message/rfc822".into(),
            content: b"Subject: x\r\n\r\nhello".to_vec(),
        },
    ];
    let raw = build(&message);
    let parsed = MessageParser::new().parse(&raw).expect("parses");
    assert!(parsed.is_content_type("multipart", "mixed"));
    // mixed[alternative[text, html], pdf, txt, eml]
    assert!(parsed.parts[1].is_content_type("multipart", "alternative"));
    assert!(parsed.parts[2].is_content_type("text", "plain"));
    assert!(parsed.parts[3].is_content_type("text", "html"));
    assert_eq!(parsed.attachment_count(), 3);

    let pdf = parsed.attachment(0).expect("pdf");
    assert!(pdf.is_content_type("application", "pdf"));
    assert_eq!(
        pdf.attachment_name(),
        Some("Rechnung März 2026 – 請求書.pdf")
    );
    assert_eq!(pdf.content_transfer_encoding(), Some("base64"));
    assert_eq!(
        pdf.content_disposition().map(|d| d.ctype()),
        Some("attachment")
    );
    assert_eq!(pdf.contents(), binary.as_slice());

    // Text attachments are base64 too, so they arrive byte for byte.
    let txt = parsed.attachment(1).expect("txt");
    assert_eq!(txt.content_transfer_encoding(), Some("base64"));
    assert_eq!(
        txt.contents(),
        b"line one \r\nline two\nbare lf, trailing space "
    );

    // A composite type cannot be base64-encoded; it travels as an opaque file.
    let eml = parsed.attachment(2).expect("eml");
    assert!(eml.is_content_type("application", "octet-stream"));
    assert_eq!(eml.contents(), b"Subject: x\r\n\r\nhello");

    // The non-ASCII filename never appears raw.
    assert!(
        raw.is_ascii(),
        "every byte is ASCII when addresses are ASCII"
    );
}

#[test]
fn bcc_is_never_written() {
    let mut message = message();
    message.cc = vec![mbox("Carbon <cc@example.com>")];
    message.bcc = vec![mbox("Secret Person <hidden@example.org>")];
    let raw = build(&message);
    let text = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    assert!(!text.contains("bcc"), "{text}");
    assert!(!text.contains("hidden@example.org"));
    assert!(!text.contains("secret person"));
    assert_eq!(field(&raw, "Cc"), "\"Carbon\" <cc@example.com>");
}

#[test]
fn headers_appear_once_in_the_documented_order() {
    let mut message = message();
    message.cc = vec![mbox("cc@example.com")];
    message.reply_to = Some(mbox("Support <support@acme.test>"));
    message.headers = vec![
        header("X-Campaign", "spring"),
        header("List-Unsubscribe", "<https://tenant.example/unsub>"),
    ];
    let extra = vec![
        (
            "List-Unsubscribe".to_string(),
            "<https://sluice.example/u/abc>, <mailto:u+abc@bounces.acme.test>".to_string(),
        ),
        ("Auto-Submitted".to_string(), "auto-generated".to_string()),
    ];
    let raw = build_with(&message, &extra);
    assert_eq!(
        names(&raw),
        [
            "From",
            "To",
            "Cc",
            "Reply-To",
            "Subject",
            "Date",
            "Message-ID",
            "MIME-Version",
            "X-Campaign",
            "List-Unsubscribe",
            "Auto-Submitted",
            "Content-Type",
            "Content-Transfer-Encoding",
        ]
    );
    assert_eq!(field(&raw, "From"), "\"Acme\" <noreply@acme.test>");
    assert_eq!(field(&raw, "To"), "\"Jane Doe\" <jane@example.com>");
    assert_eq!(field(&raw, "Date"), "Fri, 2 Jan 2026 03:04:05 +0000");
    assert_eq!(field(&raw, "Message-ID"), format!("<{MESSAGE_ID}>"));
    assert_eq!(field(&raw, "MIME-Version"), "1.0");
    // Sluice's own List-Unsubscribe replaces the tenant's.
    assert_eq!(
        field(&raw, "List-Unsubscribe"),
        "<https://sluice.example/u/abc>, <mailto:u+abc@bounces.acme.test>"
    );
}

#[test]
fn non_ascii_subject_names_and_header_values_are_rfc2047_encoded() {
    let mut message = message();
    message.subject = "Grüße – 日本語".into();
    message.from = mbox("Jörg Müller <joerg@acme.test>");
    message.to = vec![mbox("山田 太郎 <taro@example.jp>")];
    message.headers = vec![header("X-Note", "café ☕")];
    let raw = build(&message);
    let headers = header_section(&raw);
    assert!(headers.is_ascii(), "{headers}");
    for raw_text in ["Grüße", "日本語", "Jörg", "山田", "café"] {
        assert!(
            !headers.contains(raw_text),
            "{raw_text} is raw in {headers}"
        );
    }
    assert!(field(&raw, "Subject").contains("=?utf-8?"));
    assert!(field(&raw, "From").contains("=?utf-8?"));
    assert!(field(&raw, "X-Note").contains("=?utf-8?"));

    let parsed = MessageParser::new().parse(&raw).expect("parses");
    assert_eq!(parsed.subject(), Some("Grüße – 日本語"));
    let from = parsed.from().and_then(|a| a.first()).expect("from");
    assert_eq!(from.name(), Some("Jörg Müller"));
    assert_eq!(from.address(), Some("joerg@acme.test"));
    let to = parsed.to().and_then(|a| a.first()).expect("to");
    assert_eq!(to.name(), Some("山田 太郎"));
    assert_eq!(decoded(&parsed, "X-Note"), "café ☕");
}

#[test]
fn internationalized_addresses_are_written_as_utf8() {
    let mut message = message();
    message.from = mbox("Jörg <jörg@acme.test>");
    message.to = vec![mbox("用户@例子.广告"), mbox("pelé@example.com")];
    let raw = build(&message);
    let headers = header_section(&raw);
    assert!(headers.contains("<jörg@acme.test>"), "{headers}");
    assert!(headers.contains("<用户@例子.广告>"), "{headers}");
    assert!(headers.contains("<pelé@example.com>"), "{headers}");
    assert!(!headers.contains("xn--"));

    let parsed = MessageParser::new().parse(&raw).expect("parses");
    let to: Vec<_> = parsed
        .to()
        .expect("to")
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(to, ["用户@例子.广告", "pelé@example.com"]);
}

#[test]
fn long_ascii_subjects_are_folded_not_encoded() {
    let mut message = message();
    // No trailing space: mail-parser trims it when reading back.
    message.subject = "Your order 12345 has shipped and will arrive soon;"
        .repeat(8)
        .replace(";Y", "; Y");
    let raw = build(&message);
    let headers = header_section(&raw);
    let subject_lines = headers
        .split("\r\n")
        .skip_while(|line| !line.starts_with("Subject:"))
        .take_while(|line| line.starts_with("Subject:") || line.starts_with(' '))
        .count();
    assert!(subject_lines > 1, "the subject is folded: {headers}");
    assert!(!field(&raw, "Subject").contains("=?"), "{headers}");
    let parsed = MessageParser::new().parse(&raw).expect("parses");
    assert_eq!(parsed.subject(), Some(message.subject.as_str()));
}

#[test]
fn adversarial_content_stays_within_line_limits_and_crlf() {
    let mut message = message();
    message.subject = "x".repeat(998);
    message.text = Some(format!(
        "bare cr\rbare lf\nmixed\r\n\n{}\ntrailing space \n\t tab",
        "y".repeat(5000)
    ));
    message.html = Some(format!("<p>{}</p>", "z".repeat(3000)));
    message.headers = vec![
        header("X-Long-Token", &"t".repeat(998)),
        header("X-Spaces", &format!("a{}b", " ".repeat(900))),
        header("X-Long-Utf8", &"é".repeat(499)),
    ];
    message.to = (0..40)
        .map(|i| mbox(&format!("Recipient Number {i} <recipient{i}@example.com>")))
        .collect();
    // `build` asserts CRLF only and no line over 998 octets.
    let raw = build(&message);
    let parsed = MessageParser::new().parse(&raw).expect("parses");
    assert_eq!(parsed.subject(), Some(message.subject.as_str()));
    assert_eq!(parsed.to().map(|to| to.iter().count()), Some(40));
    assert_eq!(decoded(&parsed, "X-Long-Token"), "t".repeat(998));
    assert_eq!(decoded(&parsed, "X-Long-Utf8"), "é".repeat(499));
    // mail-parser collapses runs of spaces when decoding, so check the unfolded field.
    assert_eq!(field(&raw, "X-Spaces"), format!("a{}b", " ".repeat(900)));
    let text = parsed.body_text(0).expect("text body");
    assert!(
        text.starts_with("bare cr\r\nbare lf\r\nmixed\r\n\r\nyyy"),
        "{text:?}"
    );
    assert!(text.contains(&"y".repeat(5000)));
}

#[test]
fn bodies_are_sent_with_crlf_line_breaks() {
    assert_eq!(crlf("a\r\nb"), Cow::Borrowed("a\r\nb"));
    assert_eq!(crlf("a\rb\nc\r\n\rd\n"), "a\r\nb\r\nc\r\n\r\nd\r\n");
    assert_eq!(crlf("\n\r"), "\r\n\r\n");
}

#[test]
fn bcc_only_messages_get_an_undisclosed_recipients_group() {
    let mut message = message();
    message.to = vec![];
    message.bcc = vec![mbox("hidden@example.org")];
    let raw = build(&message);
    assert_eq!(field(&raw, "To"), "undisclosed-recipients:;");
    assert!(!String::from_utf8_lossy(&raw).contains("hidden@example.org"));
}

#[test]
fn refuses_reserved_or_injected_headers_and_bad_ids() {
    let info = |extra: &'static [(String, String)], id: &'static str| MimeEnvelopeInfo {
        message_id: id,
        date: datetime!(2026-01-02 03:04:05 UTC),
        extra_headers: extra,
    };
    let mut forged = message();
    forged.headers = vec![header("DKIM-Signature", "v=1; forged")];
    assert!(matches!(
        build_message(&forged, &info(&[], MESSAGE_ID)),
        Err(MimeError::ReservedHeader(name)) if name == "DKIM-Signature"
    ));

    let injected = vec![("X-Ok".to_string(), "a\r\nBcc: victim@x.test".to_string())];
    let result = build_message(
        &message(),
        &MimeEnvelopeInfo {
            message_id: MESSAGE_ID,
            date: datetime!(2026-01-02 03:04:05 UTC),
            extra_headers: &injected,
        },
    );
    assert!(matches!(result, Err(MimeError::InvalidHeader { .. })));

    for bad in ["<a@b.test>", "no-at-sign", "a b@c.test", "a@", "é@b.test"] {
        assert!(
            matches!(
                build_message(&message(), &info(&[], bad)),
                Err(MimeError::InvalidMessageId(_))
            ),
            "{bad}"
        );
    }

    let mut control = message();
    control.subject = "Hi\r\nBcc: x@y.test".into();
    assert!(matches!(
        build_message(&control, &info(&[], MESSAGE_ID)),
        Err(MimeError::InvalidSubject)
    ));

    let mut bodiless = message();
    bodiless.text = None;
    assert!(matches!(
        build_message(&bodiless, &info(&[], MESSAGE_ID)),
        Err(MimeError::NoBody)
    ));
}

#[test]
fn wire_format_check_catches_what_it_must() {
    assert!(check_wire_format(b"A: b\r\n\r\nbody\r\n").is_ok());
    assert!(check_wire_format(b"A: b\n\r\nbody").is_err());
    assert!(check_wire_format(b"A: b\r\n\r\nbo\rdy").is_err());
    let mut long = b"A: b\r\n\r\n".to_vec();
    long.extend(std::iter::repeat_n(b'x', 999));
    assert!(check_wire_format(&long).is_err());
    long.pop();
    assert!(check_wire_format(&long).is_ok());
}
