//! Abuse feedback reports (ARF, RFC 5965): how mailbox providers running a feedback loop
//! tell us a recipient pressed "this is spam".
//!
//! A report is a `multipart/report; report-type=feedback-report` with a human-readable
//! part, a `message/feedback-report` part of header-like fields, and the reported message
//! (`message/rfc822`) or only its header (`text/rfc822-headers`). Providers redact freely
//! — Microsoft drops the recipient, some blank `Original-Rcpt-To` — so identifying the
//! message relies on the returned headers: our VERP `Return-Path` and `Message-ID`.

use mail_parser::Message;
use serde::{Deserialize, Serialize};

use crate::fields;
use crate::limits::{MAX_REPORT_PART, MAX_REPORT_RECIPIENTS};
use crate::mime;
use crate::verp::{VerpCodec, VerpToken};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArfError {
    #[error("input is not an email message")]
    NotAMessage,
    #[error("message has no message/feedback-report part")]
    NotAFeedbackReport,
    #[error("feedback report has no Feedback-Type field")]
    MissingFeedbackType,
}

/// RFC 5965 types plus `not-spam` (RFC 6650) and `auth-failure` (RFC 6591). Only
/// `abuse` (and `fraud`, `virus`) are complaints; `auth-failure` is about DKIM/SPF.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedbackType {
    Abuse,
    Fraud,
    Virus,
    NotSpam,
    AuthFailure,
    /// `other`, or a value outside the registry.
    Other,
}

impl FeedbackType {
    fn parse(value: &str) -> Self {
        match value
            .split_whitespace()
            .next()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("abuse") => Self::Abuse,
            Some("fraud") => Self::Fraud,
            Some("virus") => Self::Virus,
            Some("not-spam") => Self::NotSpam,
            Some("auth-failure") => Self::AuthFailure,
            _ => Self::Other,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArfReport {
    pub feedback_type: FeedbackType,
    pub user_agent: Option<String>,
    pub version: Option<String>,
    /// Envelope sender of the reported message, without angle brackets: normally our
    /// VERP return path, which identifies message and recipient on its own.
    pub original_mail_from: Option<String>,
    /// Envelope recipients (the field may repeat), without angle brackets.
    pub original_rcpt_to: Vec<String>,
    /// `Arrival-Date` (or the older `Received-Date`) as written.
    pub arrival_date: Option<String>,
    pub reporting_mta: Option<String>,
    /// The IP the reported message came from, without any trailing comment.
    pub source_ip: Option<String>,
    pub reported_domains: Vec<String>,
    /// Header section of the reported message, line endings normalised to `\n`.
    pub original_headers: Option<String>,
}

impl ArfReport {
    /// First value of a header of the reported message, unfolded.
    pub fn original_header(&self, name: &str) -> Option<String> {
        fields::header_value(self.original_headers.as_deref()?, name)
    }

    pub fn original_message_id(&self) -> Option<String> {
        self.original_header("Message-ID")
    }

    pub fn original_to(&self) -> Option<String> {
        self.original_header("To")
    }

    pub fn original_return_path(&self) -> Option<String> {
        self.original_header("Return-Path")
    }

    /// The VERP token from `Original-Mail-From`, or else anywhere in the returned headers.
    pub fn find_verp(&self, codec: &VerpCodec) -> Option<VerpToken> {
        self.original_mail_from
            .as_deref()
            .and_then(|from| codec.decode(from))
            .or_else(|| codec.find_in(self.original_headers.as_deref()?))
    }
}

/// Parses a feedback report from raw message bytes. Never panics, whatever the input.
pub fn parse_arf(raw: &[u8]) -> Result<ArfReport, ArfError> {
    let message = mime::parse(raw).ok_or(ArfError::NotAMessage)?;
    parse_arf_message(raw, &message)
}

pub(crate) fn parse_arf_message(raw: &[u8], message: &Message<'_>) -> Result<ArfReport, ArfError> {
    let text = mime::find_text(
        raw,
        message,
        &[("message", "feedback-report")],
        MAX_REPORT_PART,
    )
    .ok_or(ArfError::NotAFeedbackReport)?;
    // One block by the RFC; flattening tolerates generators that add blank lines.
    let fields: Vec<fields::Field> = fields::blocks(&text).into_iter().flatten().collect();
    let first = |name: &str| {
        fields
            .iter()
            .find(|field| field.is(name) && !field.value.is_empty())
            .map(|field| field.value.clone())
    };
    let all = |name: &str| -> Vec<String> {
        fields
            .iter()
            .filter(|field| field.is(name))
            .map(|field| unbracket(&field.value))
            .filter(|value| !value.is_empty())
            .take(MAX_REPORT_RECIPIENTS)
            .collect()
    };
    let feedback_type = first("Feedback-Type")
        .map(|value| FeedbackType::parse(&value))
        .ok_or(ArfError::MissingFeedbackType)?;
    Ok(ArfReport {
        feedback_type,
        user_agent: first("User-Agent"),
        version: first("Version"),
        original_mail_from: first("Original-Mail-From")
            .map(|value| unbracket(&value))
            .filter(|value| !value.is_empty()),
        original_rcpt_to: all("Original-Rcpt-To"),
        arrival_date: first("Arrival-Date").or_else(|| first("Received-Date")),
        reporting_mta: first("Reporting-MTA").map(|value| fields::strip_type(&value)),
        source_ip: first("Source-IP")
            .and_then(|value| value.split_whitespace().next().map(str::to_string)),
        reported_domains: all("Reported-Domain"),
        original_headers: mime::original_headers(raw, message),
    })
}

fn unbracket(value: &str) -> String {
    let value = value.trim();
    let value = value.strip_prefix('<').unwrap_or(value);
    value.strip_suffix('>').unwrap_or(value).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "From: fbl@example.net\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n\r\n\
        --b\r\nContent-Type: text/plain\r\n\r\nabuse report\r\n\
        --b\r\nContent-Type: message/feedback-report\r\n\r\n\
        Feedback-Type: Abuse\r\nUser-Agent: Test/1.0\r\nVersion: 1\r\n\
        Original-Rcpt-To: <a@example.org>\r\nOriginal-Rcpt-To: b@example.org\r\nSource-IP: 192.0.2.10 (mx.example.com)\r\n\r\n\
        --b\r\nContent-Type: text/rfc822-headers\r\n\r\n\
        Return-Path: <bounces@example.com>\r\nMessage-ID: <1@example.com>\r\nTo: a@example.org\r\n\r\n\
        --b--\r\n";

    #[test]
    fn reads_a_minimal_report() {
        let report = parse_arf(MINIMAL.as_bytes()).expect("report");
        assert_eq!(report.feedback_type, FeedbackType::Abuse);
        assert_eq!(report.original_rcpt_to, ["a@example.org", "b@example.org"]);
        assert_eq!(report.source_ip.as_deref(), Some("192.0.2.10"));
        assert_eq!(
            report.original_message_id().as_deref(),
            Some("<1@example.com>")
        );
        assert_eq!(report.original_to().as_deref(), Some("a@example.org"));
        assert_eq!(
            report.original_return_path().as_deref(),
            Some("<bounces@example.com>")
        );
    }

    #[test]
    fn rejects_what_is_not_a_report() {
        let plain = b"From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n";
        assert_eq!(parse_arf(plain), Err(ArfError::NotAFeedbackReport));
        let untyped = MINIMAL.replace("Feedback-Type: Abuse\r\n", "");
        assert_eq!(
            parse_arf(untyped.as_bytes()),
            Err(ArfError::MissingFeedbackType)
        );
        assert_eq!(parse_arf(b""), Err(ArfError::NotAMessage));
    }
}
