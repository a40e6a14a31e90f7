//! Reports built to make the parsers slow: header lines and fields of megabytes, with
//! `bounces+` repeated all along them, in every place a parser reads. Each must parse in
//! time linear in a bounded prefix of the input (see `sluice_wire::limits`), so the
//! bound asserted here is generous — a second for five megabytes, in a debug build —
//! and still far from the hours the quadratic token search took.

use std::time::{Duration, Instant};

use sluice_model::{DomainName, MessageId};
use sluice_wire::{InboundError, InboundReport, VerpCodec, parse_inbound};

const FIVE_MB: usize = 5 * 1024 * 1024;
const GENEROUS: Duration = Duration::from_secs(1);

fn codec() -> VerpCodec {
    VerpCodec::new(
        b"hostile-input-key",
        DomainName::parse("bounces.sluice.test").expect("domain"),
    )
}

fn verp() -> String {
    let id = MessageId::parse("msg_01jd4k5q8z6y2x1w0v9t8s7r6p").expect("id");
    codec().encode(&id, 0)
}

/// `bounces+` then a ULID-shaped run, over and over: every occurrence passes the first
/// checks of the token search and none is a token.
fn hostile_line(name: &str) -> String {
    let unit = "bounces+01jd4k5q8z6y2x1w0v9t8s7r6p-";
    format!("{name}: {}", unit.repeat(FIVE_MB / unit.len()))
}

/// A DSN whose parts are the given texts (CRLF is added).
fn dsn_message(outer_extra: &str, status_extra: &str, returned: &str) -> Vec<u8> {
    let verp = verp();
    format!(
        "From: MAILER-DAEMON@mail.example.net\r\nTo: {verp}\r\nSubject: Undelivered Mail\r\n{outer_extra}\
         MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nIt bounced.\r\n\
         --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mail.example.net\r\n\r\n\
         Final-Recipient: rfc822; nobody@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n{status_extra}\r\n\
         --b\r\nContent-Type: text/rfc822-headers\r\n\r\n{returned}\r\n--b--\r\n"
    )
    .into_bytes()
}

fn timed(name: &str, raw: &[u8]) -> Result<InboundReport, InboundError> {
    let started = Instant::now();
    let result = parse_inbound(raw);
    let took = started.elapsed();
    eprintln!("{name}: {} bytes parsed in {took:?}", raw.len());
    assert!(took < GENEROUS, "{name} took {took:?}");
    result
}

#[test]
fn a_megabyte_header_line_in_the_returned_headers_is_read_in_bounded_time() {
    let verp = verp();
    // The real return path first, then the hostile line: still found.
    let returned = format!(
        "Return-Path: <{verp}>\r\n{}\r\nSubject: hi\r\n",
        hostile_line("Received")
    );
    let report = timed("returned headers", &dsn_message("", "", &returned)).expect("a DSN");
    assert_eq!(
        report.find_verp(&codec()).map(|t| t.recipient_index),
        Some(0)
    );
    let InboundReport::Dsn(dsn) = report else {
        panic!("not a DSN")
    };
    assert_eq!(dsn.recipients.len(), 1);
    let kept = dsn.original_headers.as_deref().unwrap_or_default();
    assert!(
        kept.len() <= sluice_wire::limits::MAX_HEADER_SECTION,
        "{}",
        kept.len()
    );
    // The hostile line alone: no token, no panic, the same bound.
    let report = timed(
        "hostile line only",
        &dsn_message("", "", &hostile_line("Received")),
    );
    assert_eq!(report.expect("a DSN").find_verp(&codec()), None);
}

#[test]
fn megabyte_fields_anywhere_else_are_read_in_bounded_time() {
    let outer = format!("{}\r\n", hostile_line("X-Trace"));
    timed("outer header", &dsn_message(&outer, "", "Subject: hi\r\n")).expect("a DSN");
    let diagnostic = format!("Diagnostic-Code: smtp; 550 {}\r\n", hostile_line("x"));
    let report = timed(
        "diagnostic code",
        &dsn_message("", &diagnostic, "Subject: hi\r\n"),
    );
    let InboundReport::Dsn(dsn) = report.expect("a DSN") else {
        panic!("not a DSN")
    };
    let diagnostic = dsn.recipients[0].diagnostic.as_deref().unwrap_or_default();
    assert!(diagnostic.len() <= sluice_wire::limits::MAX_FIELD_VALUE);
    assert!(dsn.recipients[0].classify().is_some());
    // Folded into a million continuation lines instead of one.
    let folded = format!(
        "Diagnostic-Code: smtp; 550{}\r\n",
        "\r\n bounces+x".repeat(FIVE_MB / 12)
    );
    timed(
        "folded diagnostic",
        &dsn_message("", &folded, "Subject: hi\r\n"),
    )
    .expect("a DSN");
}

#[test]
fn a_flood_of_recipient_blocks_is_capped() {
    let blocks =
        "Final-Recipient: rfc822; x@example.org\r\nAction: failed\r\n".repeat(FIVE_MB / 54);
    let InboundReport::Dsn(dsn) = timed(
        "recipient flood",
        &dsn_message("", &blocks, "Subject: hi\r\n"),
    )
    .expect("a DSN") else {
        panic!("not a DSN")
    };
    assert_eq!(
        dsn.recipients.len(),
        sluice_wire::limits::MAX_REPORT_RECIPIENTS
    );
}

#[test]
fn a_megabyte_feedback_report_and_prose_bounce_are_read_in_bounded_time() {
    let verp = verp();
    let arf = format!(
        "From: fbl@example.net\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nreport\r\n\
         --b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n{}\r\n\r\n\
         --b\r\nContent-Type: message/rfc822\r\n\r\nReturn-Path: <{verp}>\r\n{}\r\n\r\nbody\r\n--b--\r\n",
        hostile_line("Original-Rcpt-To"),
        hostile_line("Received"),
    );
    let report = timed("feedback report", arf.as_bytes()).expect("an ARF report");
    assert!(matches!(report, InboundReport::Arf(_)));
    assert_eq!(
        report.find_verp(&codec()).map(|t| t.recipient_index),
        Some(0)
    );

    let prose = format!(
        "From: MAILER-DAEMON@mail.example.net\r\nSubject: failure notice\r\n\r\n\
         <nobody@example.org>:\r\nRemote host said: 550 5.1.1 User unknown\r\n\r\n\
         --- Below this line is a copy of the message.\r\n\r\nReturn-Path: <{verp}>\r\n{}\r\n\r\nbody\r\n",
        hostile_line("Received"),
    );
    let report = timed("prose bounce", prose.as_bytes()).expect("a prose bounce");
    assert_eq!(
        report.find_verp(&codec()).map(|t| t.recipient_index),
        Some(0)
    );
}

#[test]
fn out_of_office_replies_are_not_bounces() {
    let verp = verp();
    let vacation = format!(
        "From: Reader <nobody@example.org>\r\nTo: {verp}\r\nAuto-Submitted: auto-replied\r\n\
         Subject: Automatic reply: Undeliverable mail\r\n\r\n\
         I am away until Monday. <nobody@example.org>: 550 5.1.1 is not my problem.\r\n"
    );
    assert_eq!(
        parse_inbound(vacation.as_bytes()),
        Err(InboundError::AutoReply)
    );
    let legacy =
        "From: nobody@example.org\r\nX-Autoreply: yes\r\nSubject: Away\r\n\r\nBack soon.\r\n";
    assert_eq!(
        parse_inbound(legacy.as_bytes()),
        Err(InboundError::AutoReply)
    );
    let person = "From: nobody@example.org\r\nSubject: Re: your receipt\r\n\r\nThanks!\r\n";
    assert_eq!(
        parse_inbound(person.as_bytes()),
        Err(InboundError::Unrecognized)
    );
}
