//! Delivery status notifications (RFC 3464): what a remote MTA tells us when it gives up
//! on, or delays, a message it had already accepted from us.
//!
//! A DSN is a `multipart/report` whose `message/delivery-status` part holds one block of
//! per-message fields followed by one block per recipient. We keep the fields a sender
//! acts on, verbatim apart from unfolding and dropping the address-type prefix, and leave
//! interpretation to [`DsnRecipient::smtp_reply`] and [`DsnRecipient::classify`] so the
//! raw values stay available to show the user.
//!
//! Not every bounce is a DSN: qmail and some appliances still send prose. Those go
//! through a best-effort heuristic (the private `plain_bounce` module, which reads
//! into the same report types) and are marked [`DsnFormat::Heuristic`] so callers can
//! weigh them accordingly.

mod plain_bounce;

use mail_parser::Message;
use serde::{Deserialize, Serialize};
use sluice_model::SmtpReply;

use crate::classify::{BounceClass, BounceType, classify};
use crate::fields::{self, Field};
use crate::limits::{MAX_REPORT_PART, MAX_REPORT_RECIPIENTS};
use crate::mime;
use crate::verp::{VerpCodec, VerpToken};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsnError {
    #[error("input is not an email message")]
    NotAMessage,
    #[error("message is not a bounce (no delivery-status part and no bounce text found)")]
    NotABounce,
    #[error("delivery-status part has no recipient fields")]
    NoRecipients,
}

/// How the report was read: from RFC 3464 fields, or guessed from prose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DsnFormat {
    Rfc3464,
    Heuristic,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DsnReport {
    pub format: DsnFormat,
    /// `Reporting-MTA` without its `dns;` type.
    pub reporting_mta: Option<String>,
    /// `Arrival-Date` as written: real MTAs emit dates (`(UTC)` comments, `EDT`) that
    /// strict RFC 5322 parsers refuse, and we only ever display it.
    pub arrival_date: Option<String>,
    pub recipients: Vec<DsnRecipient>,
    /// Header section of the returned message (`message/rfc822` or
    /// `text/rfc822-headers`), line endings normalised to `\n`.
    pub original_headers: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DsnAction {
    Failed,
    Delayed,
    Delivered,
    Relayed,
    Expanded,
    /// Missing or not one of RFC 3464's values.
    #[default]
    Unknown,
}

impl DsnAction {
    fn parse(value: &str) -> Self {
        // Some MTAs append a comment: "failed (bad destination mailbox)".
        match value
            .split_whitespace()
            .next()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("failed") => Self::Failed,
            Some("delayed") => Self::Delayed,
            Some("delivered") => Self::Delivered,
            Some("relayed") => Self::Relayed,
            Some("expanded") => Self::Expanded,
            _ => Self::Unknown,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DsnRecipient {
    /// `Final-Recipient` without its `rfc822;` type.
    pub final_recipient: Option<String>,
    pub original_recipient: Option<String>,
    pub action: DsnAction,
    /// RFC 3463 code from `Status`, only when well formed (`5.1.1`).
    pub status: Option<String>,
    /// `Diagnostic-Code` unfolded but with its type kept (`smtp; 550 …`): the type tells
    /// an SMTP reply from an MTA's own wording (`X-Postfix;`, `X-Unix;`).
    pub diagnostic: Option<String>,
    /// `Remote-MTA` without its `dns;` type.
    pub remote_mta: Option<String>,
}

impl DsnRecipient {
    /// The remote server's reply when the diagnostic is an SMTP one. Multi-line replies
    /// (`550-5.1.1 … 550 5.1.1 …`, as Gmail sends) are joined into one message.
    pub fn smtp_reply(&self) -> Option<SmtpReply> {
        let (kind, text) = self.diagnostic.as_deref()?.split_once(';')?;
        if !kind.trim().eq_ignore_ascii_case("smtp") {
            return None;
        }
        let text = text.trim();
        let code: u16 = text.get(..3)?.parse().ok()?;
        if !(200..600).contains(&code) {
            return None;
        }
        let rest = text.get(3..)?;
        if !(rest.is_empty() || rest.starts_with([' ', '-'])) {
            return None;
        }
        let reply = SmtpReply::from_parts(code, rest.get(1..).unwrap_or_default());
        let message = reply
            .message
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        // Unfolding left each continuation line's "550-5.1.1 " prefix inside the text.
        let markers = match &reply.enhanced_code {
            Some(enhanced) => vec![
                format!(" {code}-{enhanced} "),
                format!(" {code} {enhanced} "),
            ],
            None if rest.starts_with('-') => vec![format!(" {code}-"), format!(" {code} ")],
            None => Vec::new(),
        };
        let message = markers
            .iter()
            .fold(message, |text, marker| text.replace(marker, " "));
        Some(SmtpReply { message, ..reply })
    }

    /// Bounce type and class for a failed or delayed recipient; `None` for success
    /// actions (`delivered`, `relayed`, `expanded`), which are not bounces.
    pub fn classify(&self) -> Option<(BounceType, BounceClass)> {
        if matches!(
            self.action,
            DsnAction::Delivered | DsnAction::Relayed | DsnAction::Expanded
        ) {
            return None;
        }
        let reply = self.smtp_reply();
        // A generic enhanced code in the reply says less than a specific Status.
        let enhanced = reply
            .as_ref()
            .and_then(|reply| reply.enhanced_code.as_deref())
            .filter(|code| !code.ends_with(".0.0"))
            .or(self.status.as_deref());
        let (code, text) = match &reply {
            Some(reply) => (reply.code, reply.message.clone()),
            None => (
                0,
                self.diagnostic
                    .as_deref()
                    .map(fields::strip_type)
                    .unwrap_or_default(),
            ),
        };
        let (bounce_type, class) = classify(code, enhanced, &text);
        if self.action == DsnAction::Delayed {
            return Some((BounceType::Soft, class));
        }
        Some((bounce_type, class))
    }
}

impl DsnReport {
    /// The VERP token in the returned original's headers, if any. The envelope
    /// recipient of the bounce itself is the better source; this is the fallback.
    pub fn find_verp(&self, codec: &VerpCodec) -> Option<VerpToken> {
        codec.find_in(self.original_headers.as_deref()?)
    }
}

/// Parses a bounce from raw message bytes. Never panics, whatever the input.
pub fn parse_dsn(raw: &[u8]) -> Result<DsnReport, DsnError> {
    let message = mime::parse(raw).ok_or(DsnError::NotAMessage)?;
    parse_dsn_message(raw, &message)
}

pub(crate) fn parse_dsn_message(raw: &[u8], message: &Message<'_>) -> Result<DsnReport, DsnError> {
    let original_headers = mime::original_headers(raw, message);
    let status = mime::find_text(
        raw,
        message,
        &[
            ("message", "delivery-status"),
            ("message", "global-delivery-status"),
        ],
        MAX_REPORT_PART,
    );
    if let Some(status) = &status {
        let report = parse_delivery_status(status, original_headers.clone());
        if !report.recipients.is_empty() {
            return Ok(report);
        }
    }
    match plain_bounce::parse(raw, message, original_headers) {
        Some(report) => Ok(report),
        None if status.is_some() => Err(DsnError::NoRecipients),
        None => Err(DsnError::NotABounce),
    }
}

/// Reads the field blocks of a delivery-status body. Per-message fields are taken from
/// wherever they appear; a recipient group ends at a blank line or, for generators that
/// forget the blank line, where a field of the current group repeats. At most
/// [`MAX_REPORT_RECIPIENTS`] groups are read.
fn parse_delivery_status(text: &str, original_headers: Option<String>) -> DsnReport {
    let mut report = DsnReport {
        format: DsnFormat::Rfc3464,
        reporting_mta: None,
        arrival_date: None,
        recipients: Vec::new(),
        original_headers,
    };
    for block in fields::blocks(text) {
        let mut group: Vec<Field> = Vec::new();
        for field in block {
            if field.is("Reporting-MTA") {
                report
                    .reporting_mta
                    .get_or_insert(fields::strip_type(&field.value));
            } else if field.is("Arrival-Date") {
                report.arrival_date.get_or_insert(field.value);
            } else if RECIPIENT_FIELDS.iter().any(|name| field.is(name)) {
                if group
                    .iter()
                    .any(|seen| seen.name.eq_ignore_ascii_case(&field.name))
                {
                    report.recipients.push(recipient(&group));
                    group.clear();
                }
                group.push(field);
            }
        }
        if !group.is_empty() {
            report.recipients.push(recipient(&group));
        }
    }
    report.recipients.truncate(MAX_REPORT_RECIPIENTS);
    report
}

const RECIPIENT_FIELDS: &[&str] = &[
    "Final-Recipient",
    "Original-Recipient",
    "Action",
    "Status",
    "Diagnostic-Code",
    "Remote-MTA",
];

fn recipient(group: &[Field]) -> DsnRecipient {
    let get = |name: &str| {
        group
            .iter()
            .find(|field| field.is(name))
            .map(|field| field.value.as_str())
            .filter(|value| !value.is_empty())
    };
    DsnRecipient {
        final_recipient: get("Final-Recipient").map(fields::strip_type),
        original_recipient: get("Original-Recipient").map(fields::strip_type),
        action: get("Action").map_or(DsnAction::Unknown, DsnAction::parse),
        status: get("Status")
            .and_then(|status| status.split_whitespace().next())
            .filter(|status| is_status_code(status))
            .map(str::to_string),
        diagnostic: get("Diagnostic-Code").map(str::to_string),
        remote_mta: get("Remote-MTA").map(fields::strip_type),
    }
}

/// RFC 3463 `class.subject.detail`: class 2, 4 or 5, then one to three digits each.
pub(crate) fn is_status_code(code: &str) -> bool {
    let digits = |part: Option<&str>| {
        part.is_some_and(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
    };
    let mut parts = code.split('.');
    matches!(parts.next(), Some("2" | "4" | "5"))
        && digits(parts.next())
        && digits(parts.next())
        && parts.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_groups_without_blank_lines() {
        let text = "Reporting-MTA: dns; mx.example.net\n\nAction: failed\nFinal-Recipient: rfc822;a@example.org\n\
                    Status: 5.0.0\nAction: delayed\nFinal-Recipient: rfc822;b@example.org\nStatus: 4.4.1 (timeout)\n";
        let report = parse_delivery_status(text, None);
        assert_eq!(report.reporting_mta.as_deref(), Some("mx.example.net"));
        assert_eq!(report.recipients.len(), 2);
        assert_eq!(report.recipients[0].action, DsnAction::Failed);
        assert_eq!(
            report.recipients[1].final_recipient.as_deref(),
            Some("b@example.org")
        );
        assert_eq!(report.recipients[1].status.as_deref(), Some("4.4.1"));
    }

    #[test]
    fn joins_multi_line_smtp_replies() {
        let recipient = DsnRecipient {
            diagnostic: Some(
                "smtp; 550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. 550 5.1.1  https://support.google.com/mail/?p=NoSuchUser - gsmtp".into(),
            ),
            action: DsnAction::Failed,
            ..DsnRecipient::default()
        };
        let reply = recipient.smtp_reply().expect("smtp reply");
        assert_eq!(reply.code, 550);
        assert_eq!(reply.enhanced_code.as_deref(), Some("5.1.1"));
        assert_eq!(
            reply.message,
            "The email account that you tried to reach does not exist. Please try double-checking \
             the recipient's email address for typos or unnecessary spaces. \
             https://support.google.com/mail/?p=NoSuchUser - gsmtp"
        );
        assert_eq!(
            recipient.classify(),
            Some((BounceType::Hard, BounceClass::BadMailbox))
        );
    }

    #[test]
    fn non_smtp_diagnostics_fall_back_to_the_status() {
        let recipient = DsnRecipient {
            diagnostic: Some(
                "X-Postfix; connect to mx.example.org[192.0.2.25]:25: Connection timed out".into(),
            ),
            status: Some("4.4.1".into()),
            action: DsnAction::Delayed,
            ..DsnRecipient::default()
        };
        assert_eq!(recipient.smtp_reply(), None);
        assert_eq!(
            recipient.classify(),
            Some((BounceType::Soft, BounceClass::Transient))
        );
        let delivered = DsnRecipient {
            action: DsnAction::Delivered,
            ..DsnRecipient::default()
        };
        assert_eq!(delivered.classify(), None);
    }

    #[test]
    fn rejects_messages_that_are_not_bounces() {
        let vacation = b"From: Reader <reader@example.org>\r\nSubject: Out of office\r\n\r\nBack on Monday.\r\n";
        assert_eq!(parse_dsn(vacation), Err(DsnError::NotABounce));
        assert_eq!(parse_dsn(b""), Err(DsnError::NotAMessage));
        let empty_status = b"From: relay@example.net\r\nContent-Type: multipart/report; \
            report-type=delivery-status; boundary=b\r\n\r\n--b\r\n\
            Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; relay.example.net\r\n\r\n--b--\r\n";
        assert_eq!(parse_dsn(empty_status), Err(DsnError::NoRecipients));
    }
}
