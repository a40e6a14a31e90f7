//! Best-effort reading of bounces that are prose, not RFC 3464 (qmail, old Exim,
//! appliances): a message from MAILER-DAEMON or postmaster whose text names a recipient
//! and an SMTP or enhanced status code.
//!
//! This is deliberately conservative: it answers only when it finds both an address and
//! a code, and the result is marked [`DsnFormat::Heuristic`]. The VERP return path is
//! still what ties the bounce to a recipient; this only recovers the reason.

use mail_parser::Message;

use super::{DsnAction, DsnFormat, DsnRecipient, DsnReport, is_status_code};
use crate::limits::{self, MAX_PROSE_BYTES, MAX_REPORT_RECIPIENTS};
use crate::{auto_reply, fields, mime};

/// Senders that only ever send delivery reports.
const DAEMONS: &[&str] = &["mailer-daemon", "mail-daemon", "mailerdaemon", "postmaster"];
/// Subjects bounces use when the sender is relabelled (some hosts rewrite From).
const BOUNCE_SUBJECTS: &[&str] = &[
    "failure notice",
    "undeliver",
    "returned mail",
    "delivery status notification",
    "delivery failure",
    "mail delivery failed",
];
/// Lines that introduce the returned original in prose bounces.
const ORIGINAL_MARKERS: &[&str] = &[
    "below this line is a copy of the message",
    "this is a copy of the message",
    "original message follows",
    "----- original message -----",
    "--- original message ---",
];
/// Prose that says the server is still trying.
const DELAY_PHRASES: &[&str] = &["will keep trying", "still being retried", "will be retried"];

pub(crate) fn parse(
    raw: &[u8],
    message: &Message<'_>,
    original_headers: Option<String>,
) -> Option<DsnReport> {
    let headers = fields::blocks(&mime::raw_header_section(raw))
        .into_iter()
        .next()
        .unwrap_or_default();
    let header = |name: &str| {
        headers
            .iter()
            .find(|field| field.is(name))
            .map(|field| field.value.to_lowercase())
            .unwrap_or_default()
    };
    let (from, subject) = (header("From"), header("Subject"));
    let from_daemon = DAEMONS.iter().any(|daemon| from.contains(daemon));
    if !from_daemon && !BOUNCE_SUBJECTS.iter().any(|s| subject.contains(s)) {
        return None;
    }
    // An out-of-office reply quoting a failure ("Automatic reply: Undeliverable …") is
    // not one; a daemon's prose bounce marked `Auto-Submitted` (Exim, Postfix) still is.
    if !from_daemon && auto_reply::is_auto_reply(&headers) {
        return None;
    }
    let body = message.body_text(0)?;
    // The reason sits near the top; scanning megabytes of returned message buys nothing.
    let body = limits::truncate(&body, MAX_PROSE_BYTES);
    let lower = body.to_lowercase();
    let marker = ORIGINAL_MARKERS
        .iter()
        .filter_map(|marker| lower.find(marker))
        .min();
    let (notice, returned) = match marker {
        // `to_lowercase` can change byte lengths, so cut the original at the same line.
        Some(at) => split_at_line(body, lower[..at].matches('\n').count()),
        None => (body.to_string(), String::new()),
    };
    let original_headers = original_headers.or_else(|| {
        let headers = fields::header_section(&returned);
        (!fields::blocks(&headers).is_empty()).then_some(headers)
    });
    let notice_lower = notice.to_lowercase();
    let delayed = DELAY_PHRASES
        .iter()
        .any(|phrase| notice_lower.contains(phrase));
    let recipients: Vec<DsnRecipient> = recipient_blocks(&notice)
        .into_iter()
        .filter_map(|(address, text)| recipient(address, &text, delayed))
        .take(MAX_REPORT_RECIPIENTS)
        .collect();
    (!recipients.is_empty()).then_some(DsnReport {
        format: DsnFormat::Heuristic,
        reporting_mta: None,
        arrival_date: None,
        recipients,
        original_headers,
    })
}

/// Text before line `line` and from the line after it on.
fn split_at_line(text: &str, line: usize) -> (String, String) {
    let lines: Vec<&str> = text.lines().collect();
    let before = lines.get(..line).unwrap_or(&lines).join("\n");
    let after = lines.get(line + 1..).unwrap_or_default().join("\n");
    (before, after)
}

/// qmail lists each failed recipient as a `<address>:` line followed by its reason;
/// anything else is one block: the first address in the notice and the whole text.
fn recipient_blocks(notice: &str) -> Vec<(String, String)> {
    let mut blocks: Vec<(String, String)> = Vec::new();
    for line in notice.lines() {
        let trimmed = line.trim();
        let qmail_address = trimmed
            .strip_prefix('<')
            .and_then(|rest| rest.strip_suffix(">:"))
            .filter(|address| address.contains('@') && !address.contains(char::is_whitespace));
        match (qmail_address, blocks.last_mut()) {
            (Some(address), _) => blocks.push((address.to_string(), String::new())),
            (None, Some((_, text))) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, None) => {}
        }
    }
    if blocks.is_empty()
        && let Some(address) = addresses(notice).into_iter().find(|address| {
            !DAEMONS
                .iter()
                .any(|daemon| address.to_lowercase().contains(daemon))
        })
    {
        blocks.push((address, notice.to_string()));
    }
    blocks
}

fn recipient(address: String, text: &str, delayed: bool) -> Option<DsnRecipient> {
    let (reply, enhanced) = find_codes(text);
    let status = enhanced.or_else(|| {
        reply
            .as_ref()
            .and_then(|line| line.get(..1))
            .map(|class| format!("{class}.0.0"))
    })?;
    Some(DsnRecipient {
        final_recipient: Some(address),
        original_recipient: None,
        action: if delayed {
            DsnAction::Delayed
        } else {
            DsnAction::Failed
        },
        status: Some(status),
        // Presented like an RFC 3464 diagnostic so the same reply parsing applies.
        diagnostic: reply.map(|line| format!("smtp; {line}")),
        remote_mta: None,
    })
}

/// The first SMTP reply (`550 5.1.1 …` to the end of its line) and the first enhanced
/// status code (`5.1.1`, also inside qmail's `(#5.1.1)`) in `text`.
fn find_codes(text: &str) -> (Option<String>, Option<String>) {
    let mut reply = None;
    let mut enhanced = None;
    for line in text
        .lines()
        .filter(|line| line.bytes().any(|b| b.is_ascii_digit()))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        if reply.is_none()
            && let Some(at) = (0..words.len()).find(|&at| {
                // "said: 550 …" or a line of its own, not "Received 450 bytes".
                is_reply_code(words[at]) && (at == 0 || words[at - 1].ends_with(':'))
            })
        {
            reply = Some(words[at..].join(" "));
        }
        if enhanced.is_none() && line.contains('.') {
            enhanced = line
                .split(|c: char| !(c.is_ascii_digit() || c == '.'))
                .map(|token| token.trim_end_matches('.'))
                .find(|token| token.len() >= 5 && is_status_code(token))
                .map(str::to_string);
        }
    }
    (reply, enhanced)
}

/// `550` or `550-5.1.1`: a 4xx/5xx code as a word of its own.
fn is_reply_code(word: &str) -> bool {
    let code = word.split_once('-').map_or(word, |(code, _)| code);
    code.len() == 3
        && matches!(code.as_bytes()[0], b'4' | b'5')
        && code.bytes().all(|b| b.is_ascii_digit())
}

/// Plausible `local@domain.tld` addresses, in order of appearance.
fn addresses(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|word| word.contains('@'))
        .flat_map(|word| {
            word.split(|c: char| {
                matches!(
                    c,
                    '<' | '>' | '(' | ')' | '[' | ']' | '"' | '\'' | ',' | ';' | ':'
                )
            })
        })
        .map(|word| word.trim_end_matches('.'))
        .filter(|word| {
            word.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.contains('@')
                    && domain
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            })
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_codes_in_prose() {
        let (reply, enhanced) = find_codes(
            "192.0.2.25 does not like recipient.\nRemote host said: 550 5.1.1 <a@example.org>... User unknown\n",
        );
        assert_eq!(
            reply.as_deref(),
            Some("550 5.1.1 <a@example.org>... User unknown")
        );
        assert_eq!(enhanced.as_deref(), Some("5.1.1"));
        let (reply, enhanced) = find_codes("Sorry, no mailbox here by that name. (#5.1.1)\n");
        assert_eq!((reply, enhanced.as_deref()), (None, Some("5.1.1")));
        assert_eq!(
            find_codes("Received 450 bytes from 198.51.100.7"),
            (None, None)
        );
    }

    #[test]
    fn reads_qmail_recipient_blocks() {
        let notice = "Hi. This is the qmail-send program at mail.example.net.\n\n\
                      <a@example.org>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n\
                      <b@example.org>:\n192.0.2.25 said: 452 4.2.2 Mailbox full\n";
        let blocks = recipient_blocks(notice);
        assert_eq!(blocks.len(), 2);
        let second = recipient(blocks[1].0.clone(), &blocks[1].1, false).expect("recipient");
        assert_eq!(second.status.as_deref(), Some("4.2.2"));
        assert_eq!(
            second.diagnostic.as_deref(),
            Some("smtp; 452 4.2.2 Mailbox full")
        );
    }
}
