//! Bounce classification: what kind of failure an SMTP reply (or DSN status) describes.
//!
//! Senders act on the class, not on the raw text: a `bad-mailbox` hard bounce should
//! suppress the address, a `spam-block` says our reputation needs attention and the
//! address is fine, `mailbox-full` is worth retrying later. The RFC 3463 enhanced code
//! is the most reliable signal, so its subject decides whenever it is specific; generic
//! codes (`5.0.0`, `5.5.0`, …) and replies without one fall back to the phrases large
//! providers actually use, matched case-insensitively.

use sluice_model::SmtpReply;

// The vocabulary lives in the model (events carry it); the judgement lives here.
pub use sluice_model::{BounceClass, BounceType};

/// Classifies a reply. `code` is the basic SMTP code (0 when unknown, as in a DSN with
/// only a `Status:`); `enhanced` the RFC 3463 code such as `"5.1.1"`.
///
/// Hard means a 5xx reply, except `mailbox-full`, which is soft by common practice
/// (full mailboxes get emptied); every 4xx reply is soft.
pub fn classify(code: u16, enhanced: Option<&str>, text: &str) -> (BounceType, BounceClass) {
    let enhanced = enhanced.and_then(parse_enhanced);
    // The basic code wins when the two disagree: it is what the client acted on.
    let severity = match code / 100 {
        severity @ (4 | 5) => severity,
        _ => enhanced.map_or(0, |(class, _, _)| class),
    };
    let permanent = severity == 5;
    let text = text.to_lowercase();
    let class = enhanced
        .and_then(|code| from_enhanced(code, permanent, &text))
        .or_else(|| from_text(&text))
        .unwrap_or(if severity == 4 {
            BounceClass::Transient
        } else {
            BounceClass::Other
        });
    let bounce_type = if permanent && class != BounceClass::MailboxFull {
        BounceType::Hard
    } else {
        BounceType::Soft
    };
    (bounce_type, class)
}

/// [`classify`] for a reply already split into its parts.
pub fn classify_reply(reply: &SmtpReply) -> (BounceType, BounceClass) {
    classify(reply.code, reply.enhanced_code.as_deref(), &reply.message)
}

/// `"5.1.10"` → `(5, 1, 10)`; RFC 3463 allows up to three digits per sub-field.
fn parse_enhanced(code: &str) -> Option<(u16, u16, u16)> {
    let mut parts = code.trim().split('.');
    let mut next = || -> Option<u16> {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let parsed = (next()?, next()?, next()?);
    (parts.next().is_none() && matches!(parsed.0, 2 | 4 | 5)).then_some(parsed)
}

/// The class an enhanced code's subject and detail imply, or `None` for the generic ones
/// whose text says more than the code.
fn from_enhanced(
    (_, subject, detail): (u16, u16, u16),
    permanent: bool,
    text: &str,
) -> Option<BounceClass> {
    use BounceClass::*;
    Some(match (subject, detail) {
        // x.1.10 is RFC 7505's "null MX", but Microsoft uses it for unknown recipients.
        (1, 10) if text.contains("null mx") => Dns,
        (1, 2) => Dns,
        (1, 7 | 8) => Policy,
        (1, 0) => return None,
        (1, _) => BadMailbox,
        // A temporary "mailbox disabled" is how Gmail says a recipient is rate limited.
        (2, 1) if permanent => BadMailbox,
        (2, 2) => MailboxFull,
        (2, 3) | (3, 4) => MessageTooLarge,
        (3, 1 | 2) => Transient,
        // No answer, bad connection, congestion, expiry: routing worked, the host did not.
        (4, 1 | 2 | 5 | 7) => from_text(text).unwrap_or(Transient),
        (4, _) => Dns,
        (7, _) => from_policy_text(text, permanent),
        _ => return None,
    })
}

/// x.7.x is "security or policy"; the text tells a blocklist or content verdict (which
/// is about our reputation) from a rule the sender can fix (authentication, relaying).
fn from_policy_text(text: &str, permanent: bool) -> BounceClass {
    if has_any(text, STRONG_SPAM) {
        BounceClass::SpamBlock
    } else if has_any(text, AUTH) {
        BounceClass::Policy
    } else if has_any(text, WEAK_SPAM) {
        BounceClass::SpamBlock
    } else if !permanent && has_any(text, TRANSIENT) {
        BounceClass::Transient
    } else {
        BounceClass::Policy
    }
}

/// Phrases that name a blocklist or spam outright; checked before anything else.
const STRONG_SPAM: &[&str] = &[
    "spamhaus",
    "spamcop",
    "barracuda",
    "blacklist",
    "blocklist",
    "black list",
    "block list",
    "dnsbl",
    "sorbs",
    "abuseat",
];
const WEAK_SPAM: &[&str] = &[
    "spam",
    "blocked",
    "banned",
    "reputation",
    "complaints",
    "junk",
    "bulk mail",
    "unsolicited",
];
const AUTH: &[&str] = &["spf", "dkim", "dmarc", "authenticat"];
const MAILBOX_FULL: &[&str] = &[
    "quota",
    "mailbox full",
    "mailbox is full",
    "mailbox was full",
    "insufficient storage",
    "storage space",
    "out of storage",
    "full mailbox",
];
const TOO_LARGE: &[&str] = &[
    "too large",
    "too big",
    "size limit",
    "exceeds the maximum",
    "message size exceeds",
    "message length exceeds",
];
const BAD_MAILBOX: &[&str] = &[
    "user unknown",
    "unknown user",
    "no such user",
    "no such mailbox",
    "no such recipient",
    "no such address",
    "mailbox unavailable",
    "mailbox not found",
    "mailbox does not exist",
    "does not exist",
    "doesn't exist",
    "doesn't have a",
    "recipient not found",
    "recipientnotfound",
    "user not found",
    "unknown recipient",
    "invalid recipient",
    "invalid mailbox",
    "address unknown",
    "unknown address",
    "not a valid mailbox",
    "not listed",
    "account disabled",
    "account has been disabled",
    "mailbox disabled",
    "account is disabled",
    "account inactive",
    "inactive account",
    "mailbox inactive",
];
const DNS: &[&str] = &[
    "host not found",
    "host unknown",
    "unknown host",
    "domain not found",
    "no mx",
    "name service error",
    "unrouteable",
    "unroutable",
    "nxdomain",
    "domain does not exist",
    "dns error",
    "dns lookup",
    "dns failure",
];
const POLICY: &[&str] = &[
    "policy",
    "not authorized",
    "not permitted",
    "relay",
    "access denied",
    "authentication",
    "spf",
    "dkim",
    "dmarc",
    "tls required",
];
const TRANSIENT: &[&str] = &[
    "try again",
    "temporar",
    "greylist",
    "graylist",
    "rate limit",
    "too many",
    "timed out",
    "timeout",
    "connection",
    "deferred",
];

fn has_any(text: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|phrase| text.contains(phrase))
}

/// The class from the reply text alone. The order matters: blocklist names beat
/// everything ("mailbox unavailable: listed on Spamhaus"), domain failures beat mailbox
/// phrases ("domain does not exist"), and specific mailbox phrases beat vaguer spam
/// words ("Recipient not listed in the address book" is not a listing).
fn from_text(text: &str) -> Option<BounceClass> {
    use BounceClass::*;
    let checks: [(&[&str], BounceClass); 8] = [
        (STRONG_SPAM, SpamBlock),
        (MAILBOX_FULL, MailboxFull),
        (TOO_LARGE, MessageTooLarge),
        (DNS, Dns),
        (BAD_MAILBOX, BadMailbox),
        (WEAK_SPAM, SpamBlock),
        (POLICY, Policy),
        (TRANSIENT, Transient),
    ];
    checks
        .iter()
        .find(|(phrases, _)| has_any(text, phrases))
        .map(|(_, class)| *class)
}

#[cfg(test)]
mod tests {
    use super::BounceClass::*;
    use super::BounceType::*;
    use super::*;

    /// (reply as received, expected type, expected class)
    const CASES: &[(&str, BounceType, BounceClass)] = &[
        // Gmail
        (
            "550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address",
            Hard,
            BadMailbox,
        ),
        (
            "452-4.2.2 The recipient's inbox is out of storage space. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp",
            Soft,
            MailboxFull,
        ),
        (
            "552-5.2.2 The email account that you tried to reach is over quota",
            Soft,
            MailboxFull,
        ),
        (
            "550-5.7.1 Our system has detected that this message is likely unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked.",
            Hard,
            SpamBlock,
        ),
        (
            "421-4.7.0 [192.0.2.10] Our system has detected an unusual rate of unsolicited mail originating from your IP address",
            Soft,
            SpamBlock,
        ),
        (
            "550-5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM.",
            Hard,
            Policy,
        ),
        (
            "552-5.2.3 Your message exceeded Google's message size limits.",
            Hard,
            MessageTooLarge,
        ),
        (
            "450-4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered.",
            Soft,
            Transient,
        ),
        // Outlook / Microsoft 365
        (
            "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302)",
            Hard,
            BadMailbox,
        ),
        (
            "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
            Hard,
            BadMailbox,
        ),
        (
            "550 5.7.1 Unfortunately, messages from [192.0.2.10] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).",
            Hard,
            SpamBlock,
        ),
        (
            "550 5.7.606 Access denied, banned sending IP [192.0.2.10]. To request removal from this list please visit https://sender.office.com/",
            Hard,
            SpamBlock,
        ),
        (
            "451 4.7.500 Server busy. Please try again later from [192.0.2.10]. (S77719)",
            Soft,
            Transient,
        ),
        (
            "554 5.2.0 STOREDRV.Deliver.Exception:QuotaExceededException; Failed to process message due to a permanent exception",
            Soft,
            MailboxFull,
        ),
        // Yahoo / AOL
        (
            "554 delivery error: dd This user doesn't have a yahoo.com account (nobody@example.org) [0] - mta1234.mail.bf1.yahoo.com",
            Hard,
            BadMailbox,
        ),
        (
            "553 5.7.2 [TSS09] All messages from 192.0.2.10 will be permanently deferred; Retrying will NOT succeed.",
            Hard,
            Policy,
        ),
        (
            "421 4.7.0 [TSS04] Messages from 192.0.2.10 temporarily deferred due to unexpected volume or user complaints",
            Soft,
            SpamBlock,
        ),
        (
            "552 1 Requested mail action aborted, mailbox not found",
            Hard,
            BadMailbox,
        ),
        // Blocklists
        (
            "554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.10",
            Hard,
            SpamBlock,
        ),
        (
            "550 Rejected: 192.0.2.10 listed at bl.spamcop.net",
            Hard,
            SpamBlock,
        ),
        (
            "554 Your access to this mail system has been rejected due to the sending MTA's poor reputation.",
            Hard,
            SpamBlock,
        ),
        // Postfix, Exim, Sendmail, qmail
        (
            "550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in local recipient table",
            Hard,
            BadMailbox,
        ),
        ("550 No such user here", Hard, BadMailbox),
        (
            "554 5.7.1 <nobody@example.org>: Relay access denied",
            Hard,
            Policy,
        ),
        (
            "550 5.1.2 <nobody@nonexistent.example>: Host or domain name not found. Name service error",
            Hard,
            Dns,
        ),
        (
            "552 5.3.4 Message size exceeds fixed limit",
            Hard,
            MessageTooLarge,
        ),
        (
            "450 4.2.0 <a@example.org>: Recipient address rejected: Greylisted, see https://postgrey.schweikert.ch/",
            Soft,
            Transient,
        ),
        (
            "451 Temporary local problem - please try later",
            Soft,
            Transient,
        ),
        (
            "421 4.4.2 mx.example.org Error: timeout exceeded",
            Soft,
            Transient,
        ),
        (
            "554 5.4.4 [internal] Domain example.invalid has no MX or A record",
            Hard,
            Dns,
        ),
        ("550 Unrouteable address", Hard, Dns),
        (
            "550 Host unknown: domain example.invalid does not exist",
            Hard,
            Dns,
        ),
        (
            "550 Recipient not listed in public Name & Address Book",
            Hard,
            BadMailbox,
        ),
        ("452 4.3.1 Insufficient system storage", Soft, Transient),
        (
            "554 5.6.0 Message rejected: content type not allowed",
            Hard,
            Other,
        ),
        ("500 5.5.1 Command unrecognized", Hard, Other),
        (
            "421 Service not available, closing transmission channel",
            Soft,
            Transient,
        ),
    ];

    #[test]
    fn classifies_realistic_replies() {
        for (line, bounce_type, class) in CASES {
            let code: u16 = line[..3].parse().expect("code");
            let reply = SmtpReply::from_parts(code, &line[4..]);
            assert_eq!(
                classify_reply(&reply),
                (*bounce_type, *class),
                "{line:?} parsed as {reply:?}"
            );
        }
    }

    #[test]
    fn uses_the_status_when_there_is_no_reply_code() {
        assert_eq!(classify(0, Some("5.1.1"), ""), (Hard, BadMailbox));
        assert_eq!(classify(0, Some("4.4.7"), ""), (Soft, Transient));
        assert_eq!(classify(0, Some("5.4.7"), ""), (Hard, Transient));
        assert_eq!(classify(0, None, "whatever"), (Soft, Other));
        assert_eq!(
            classify(550, Some("nonsense"), "no such user"),
            (Hard, BadMailbox)
        );
    }

    #[test]
    fn serializes_as_kebab_case() {
        let json = |value: BounceClass| serde_json::to_string(&value).expect("serialize");
        assert_eq!(json(BadMailbox), "\"bad-mailbox\"");
        assert_eq!(json(MessageTooLarge), "\"message-too-large\"");
        assert_eq!(json(SpamBlock), "\"spam-block\"");
        assert_eq!(serde_json::to_string(&Hard).expect("serialize"), "\"hard\"");
    }
}
