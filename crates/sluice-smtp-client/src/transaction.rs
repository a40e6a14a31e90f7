//! One mail transaction (MAIL, RCPT…, DATA) on an open session, collecting a
//! final reply for every recipient.
//!
//! We drive lettre's low-level `command()`/`message_iter()` instead of its
//! `send()`, which stops at the first refused RCPT: a message to three
//! recipients where one mailbox is unknown must still reach the other two.

use lettre::Address;
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{MailBodyParameter, MailParameter};
use sluice_model::SmtpReply;

use crate::connect::{Connection, command};
use crate::error::synthesized;
use crate::{SmtpError, Timeouts};

/// The SMTP envelope (RFC 5321), separate from the message's headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Return path; `None` is the null sender `<>` (bounces, auto-replies).
    pub mail_from: Option<String>,
    pub recipients: Vec<String>,
    /// The envelope or headers contain UTF-8 addresses (RFC 6531). UTF-8 in the
    /// envelope addresses is detected anyway; set this for UTF-8 headers.
    pub smtputf8: bool,
    /// Message size in bytes, announced as `SIZE=` and checked against the
    /// server's advertised maximum before anything is sent; 0 means "use the
    /// length of the message".
    pub size_hint: usize,
}

/// One final reply per recipient, in envelope order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionOutcome {
    /// The RCPT reply if it was negative, else the reply to the final dot (or
    /// to MAIL/DATA if those were refused). Replies the client made up instead of
    /// sending (size, SMTPUTF8, address syntax) look like server replies.
    pub recipients: Vec<(String, SmtpReply)>,
    /// How TLS went on the session that carried the transaction.
    pub tls: SessionTls,
}

/// Whether a session is encrypted, and if not, why (TLS-RPT, RFC 8460, counts
/// successful and failed sessions per recipient domain).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SessionTls {
    /// Plain text by configuration (`tls=none`), or no session was needed.
    #[default]
    Off,
    /// STARTTLS or implicit TLS succeeded (verified when the target asked for it).
    Encrypted,
    /// Opportunistic TLS, and the server did not offer STARTTLS.
    NotOffered,
    /// Opportunistic TLS whose handshake failed; the session fell back to plain text.
    Failed(String),
}

impl TransactionOutcome {
    /// Recipients the server took responsibility for.
    pub fn delivered(&self) -> impl Iterator<Item = &str> {
        self.recipients
            .iter()
            .filter(|(_, r)| r.is_success())
            .map(|(rcpt, _)| rcpt.as_str())
    }
}

/// A finished transaction and whether its session can serve another one.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) outcome: TransactionOutcome,
    pub(crate) reusable: bool,
}

/// Why no outcome exists.
#[derive(Debug)]
pub(crate) enum Failed {
    /// A reused session turned out to be dead at MAIL (closed by the server
    /// while idle, or its queued `421 timeout`): nothing was accepted, so the
    /// pool may retry on a fresh session.
    Stale(SmtpError),
    /// Anything else; the session is unusable.
    Broken(SmtpError),
}

/// Runs one transaction. `reused` tells whether the session served an earlier
/// one, which makes an early failure [`Failed::Stale`].
pub(crate) async fn run(
    conn: &mut Connection,
    envelope: &Envelope,
    message: &[u8],
    t: &Timeouts,
    reused: bool,
) -> Result<Finished, Failed> {
    let all = |reply: SmtpReply| Finished {
        outcome: outcome_for_all(envelope, &reply),
        reusable: true,
    };
    if envelope.recipients.is_empty() {
        return Ok(all(synthesized(250, "2.0.0 No recipients")));
    }
    // A zero hint means "unknown": the bytes at hand are the best estimate.
    let size = match envelope.size_hint {
        0 => message.len(),
        hint => hint,
    };
    if conn.caps.size_max.is_some_and(|max| size > max) {
        return Ok(all(synthesized(
            552,
            "5.3.4 Message size exceeds fixed maximum message size",
        )));
    }
    // UTF-8 addresses need SMTPUTF8 even if the caller forgot to say so.
    let utf8 = envelope.smtputf8
        || !envelope.mail_from.as_deref().unwrap_or_default().is_ascii()
        || envelope.recipients.iter().any(|r| !r.is_ascii());
    if utf8 && !conn.caps.smtputf8 {
        return Ok(all(synthesized(
            553,
            "5.6.7 SMTPUTF8 not supported by the receiving server",
        )));
    }
    let sender = match envelope.mail_from.as_deref().map(str::parse::<Address>) {
        None => None,
        Some(Ok(address)) => Some(address),
        Some(Err(_)) => return Ok(all(synthesized(553, "5.1.7 Invalid sender address syntax"))),
    };

    let mut params = Vec::new();
    if conn.caps.size {
        params.push(MailParameter::Size(size));
    }
    if conn.caps.eight_bit_mime {
        params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    if utf8 {
        params.push(MailParameter::SmtpUtfEight);
    }
    conn.transactions += 1;
    let mail = command(conn, Mail::new(sender, params), t.command, "mail").await;
    let mail = match mail {
        Err(e @ SmtpError::Network { .. }) if reused => return Err(Failed::Stale(e)),
        Err(e) => return Err(Failed::Broken(e)),
        Ok(r) if r.code == 421 && reused => {
            return Err(Failed::Stale(SmtpError::Network {
                stage: "mail",
                detail: format!("reused session answered {r}"),
            }));
        }
        Ok(r) => r,
    };
    if mail.code == 421 {
        return Ok(closing(
            envelope,
            vec![None; envelope.recipients.len()],
            &mail,
        ));
    }
    if !mail.is_success() {
        return Ok(end_early(conn, t, all(mail)).await);
    }

    let mut replies: Vec<Option<SmtpReply>> = vec![None; envelope.recipients.len()];
    let mut accepted = Vec::new();
    for (i, rcpt) in envelope.recipients.iter().enumerate() {
        let Ok(address) = rcpt.parse::<Address>() else {
            replies[i] = Some(synthesized(553, "5.1.3 Invalid recipient address syntax"));
            continue;
        };
        let reply = command(conn, Rcpt::new(address, Vec::new()), t.command, "rcpt")
            .await
            .map_err(Failed::Broken)?;
        if reply.code == 421 {
            // The server is closing: everyone not refused yet gets its words.
            return Ok(closing(envelope, replies, &reply));
        }
        if reply.is_success() {
            accepted.push(i);
        } else {
            replies[i] = Some(reply);
        }
    }
    if accepted.is_empty() {
        return Ok(end_early(conn, t, finish(envelope, replies, &[], None)).await);
    }

    let data = command(conn, Data, t.data_init, "data")
        .await
        .map_err(Failed::Broken)?;
    if data.code == 421 {
        return Ok(closing(envelope, replies, &data));
    }
    if data.is_transient() || data.is_permanent() {
        let done = finish(envelope, replies, &accepted, Some(&data));
        return Ok(end_early(conn, t, done).await);
    }
    if data.code != 354 {
        return Err(Failed::Broken(SmtpError::Protocol {
            stage: "data",
            detail: format!("expected 354 after DATA, got {data}"),
        }));
    }

    let end = crate::body::send_body(conn, message, t)
        .await
        .map_err(Failed::Broken)?;
    if end.code == 421 {
        return Ok(closing(envelope, replies, &end));
    }
    let negative = !end.is_success();
    let done = finish(envelope, replies, &accepted, Some(&end));
    if negative {
        return Ok(end_early(conn, t, done).await);
    }
    Ok(done)
}

/// Ends an unsuccessful transaction with RSET so the session stays usable.
async fn end_early(conn: &mut Connection, t: &Timeouts, mut done: Finished) -> Finished {
    let rset = command(conn, Rset, t.command, "rset").await;
    done.reusable = rset.is_ok_and(|r| r.is_success());
    done
}

/// Every recipient without a reply yet gets `reply` (a 421): the session ends.
fn closing(envelope: &Envelope, replies: Vec<Option<SmtpReply>>, reply: &SmtpReply) -> Finished {
    let outcome = envelope
        .recipients
        .iter()
        .zip(replies)
        .map(|(rcpt, r)| (rcpt.clone(), r.unwrap_or_else(|| reply.clone())))
        .collect();
    Finished {
        outcome: TransactionOutcome {
            recipients: outcome,
            tls: SessionTls::Off,
        },
        reusable: false,
    }
}

/// Accepted recipients get `last`; the rest already hold their refusal.
fn finish(
    envelope: &Envelope,
    mut replies: Vec<Option<SmtpReply>>,
    accepted: &[usize],
    last: Option<&SmtpReply>,
) -> Finished {
    if let Some(last) = last {
        for &i in accepted {
            replies[i] = Some(last.clone());
        }
    }
    let recipients = envelope
        .recipients
        .iter()
        .zip(replies)
        .map(|(rcpt, r)| {
            let r = r.unwrap_or_else(|| synthesized(451, "4.3.0 No reply recorded"));
            (rcpt.clone(), r)
        })
        .collect();
    Finished {
        outcome: TransactionOutcome {
            recipients,
            tls: SessionTls::Off,
        },
        reusable: true,
    }
}

fn outcome_for_all(envelope: &Envelope, reply: &SmtpReply) -> TransactionOutcome {
    TransactionOutcome {
        recipients: envelope
            .recipients
            .iter()
            .map(|r| (r.clone(), reply.clone()))
            .collect(),
        tls: SessionTls::Off,
    }
}
