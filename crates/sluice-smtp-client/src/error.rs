//! Session-level failures and the translation of lettre's errors and replies
//! into [`SmtpReply`], the form events and retry decisions use.

use std::error::Error as _;
use std::time::Duration;

use lettre::transport::smtp::Error as LettreError;
use lettre::transport::smtp::response::Response;
use sluice_model::SmtpReply;

/// Why a delivery attempt failed as a whole (before per-recipient replies
/// existed, or because the session broke). Per-recipient refusals are not
/// errors: they come back in [`crate::TransactionOutcome`].
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// The relay URL could not be used. `url` has its password masked.
    #[error("invalid relay URL {url}: {reason}")]
    InvalidUrl {
        url: String,
        #[source]
        reason: UrlError,
    },
    /// DNS lookup, bind to the source address or TCP connect failed.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        target: String,
        #[source]
        source: std::io::Error,
    },
    /// A step took longer than its [`crate::Timeouts`] entry. After `data_end`
    /// the message may have been delivered anyway (RFC 1047); retrying is still
    /// the right call, a rare duplicate being better than a loss.
    #[error("timed out after {after:?} during {stage}")]
    Timeout {
        stage: &'static str,
        after: Duration,
    },
    /// The server's greeting was negative (421 busy, 554 no service).
    #[error("server refused the session: {0}")]
    Greeting(SmtpReply),
    /// A session command (EHLO, STARTTLS) was refused.
    #[error("{stage} refused: {reply}")]
    Rejected {
        stage: &'static str,
        reply: SmtpReply,
    },
    /// TLS was required and could not be set up (not offered, handshake or
    /// certificate failure), or credentials would have travelled in clear text.
    #[error("TLS: {0}")]
    Tls(String),
    /// AUTH failed: with the server's reply, or without one when no mechanism
    /// both sides support exists.
    #[error("authentication failed: {detail}")]
    Auth {
        reply: Option<SmtpReply>,
        detail: String,
    },
    /// The connection broke (reset, closed by the server, I/O error).
    #[error("connection lost during {stage}: {detail}")]
    Network { stage: &'static str, detail: String },
    /// The server said something that does not fit the protocol.
    #[error("protocol error during {stage}: {detail}")]
    Protocol { stage: &'static str, detail: String },
}

/// Why a relay URL was refused. None of these holds the password: they end up in
/// logs and API responses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("expected scheme://host[:port]")]
    NoScheme,
    #[error("unsupported scheme '{0}' (use smtp, smtp+starttls or smtps)")]
    Scheme(String),
    #[error("a relay URL has no path")]
    Path,
    #[error("user name: {0}")]
    User(#[source] DecodeError),
    #[error("password: {0}")]
    Password(#[source] DecodeError),
    #[error("empty user name")]
    EmptyUser,
    #[error("unterminated '[' in IPv6 host")]
    UnterminatedBracket,
    #[error("'{0}' is not an IPv6 address")]
    NotIpv6(String),
    #[error("unexpected text after ']'")]
    AfterBracket,
    #[error("missing host")]
    MissingHost,
    #[error("invalid host '{0}'")]
    InvalidHost(String),
    #[error("invalid port '{0}'")]
    InvalidPort(String),
    #[error("unknown tls={0}")]
    TlsValue(String),
    #[error("tls= only applies to smtp://, not {0}://")]
    TlsScheme(String),
    #[error("insecure={0} is not a boolean")]
    Insecure(String),
    #[error("unknown parameter '{0}'")]
    Parameter(String),
    #[error(transparent)]
    Credentials(#[from] CredentialsPolicyError),
}

/// A percent-encoded user name or password that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("bad percent-escape")]
    BadEscape,
    /// Only the position of the fault (`Utf8Error`), never the decoded bytes.
    #[error("not UTF-8 after percent-decoding")]
    NotUtf8(#[source] std::str::Utf8Error),
}

/// Credentials need TLS with a verified certificate (see
/// [`crate::RelayTarget::from_url`]); these are the URLs that would not give them it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsPolicyError {
    #[error(
        "credentials need verified TLS: tls=opportunistic cannot be combined with user:pass@ (use tls=required or smtps://)"
    )]
    Opportunistic,
    #[error(
        "credentials need verified TLS: tls=none is only allowed with user:pass@ for a loopback relay"
    )]
    PlainText,
    #[error(
        "credentials need verified TLS: insecure=true is only allowed with user:pass@ for a loopback relay (trust a private CA with delivery.relay_ca_file instead)"
    )]
    Unverified,
}

impl SmtpError {
    /// Whether trying again later may succeed: connection trouble, timeouts and
    /// 4xx replies are transient; 5xx greetings or AUTH replies, a missing AUTH
    /// mechanism and invalid URLs are not.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::InvalidUrl { .. } => false,
            // Authentication failures are the operator's configuration (a rotated relay
            // password), not the recipient's: mail waits for the fix instead of
            // bouncing, like Postfix's smtp_sasl_auth_soft_bounce.
            Self::Auth { .. } => true,
            Self::Greeting(reply) | Self::Rejected { reply, .. } => !reply.is_permanent(),
            Self::Connect { .. }
            | Self::Timeout { .. }
            | Self::Tls(_)
            | Self::Network { .. }
            | Self::Protocol { .. } => true,
        }
    }

    /// The server's reply behind this error, if there was one (for events).
    pub fn reply(&self) -> Option<&SmtpReply> {
        match self {
            Self::Greeting(reply)
            | Self::Rejected { reply, .. }
            | Self::Auth {
                reply: Some(reply), ..
            } => Some(reply),
            _ => None,
        }
    }
}

/// A reply the client made up (never sent): same shape as a server reply so
/// callers treat both alike.
pub(crate) fn synthesized(code: u16, text: &str) -> SmtpReply {
    SmtpReply::from_parts(code, text)
}

/// A positive lettre response as an [`SmtpReply`]; lines are joined by spaces.
pub(crate) fn reply_from_response(response: &Response) -> SmtpReply {
    let text = response.message().collect::<Vec<_>>().join(" ");
    SmtpReply::from_parts(u16::from(response.code()), &text)
}

/// Splits a lettre error into "the server answered negatively" (`Ok`) and
/// "no usable answer" (`Err`). lettre turns 4xx/5xx replies into errors whose
/// `status()` is the code and whose source's text is the reply text.
pub(crate) fn classify(err: &LettreError, stage: &'static str) -> Result<SmtpReply, SmtpError> {
    let text = err.source().map(ToString::to_string).unwrap_or_default();
    if let Some(code) = err.status() {
        return Ok(SmtpReply::from_parts(u16::from(code), &text));
    }
    if err.is_tls() {
        return Err(SmtpError::Tls(err.to_string()));
    }
    if err.is_response() {
        // lettre reports EOF while waiting for a reply this way.
        return Err(if text == "incomplete response" {
            SmtpError::Network {
                stage,
                detail: "connection closed by the server".to_owned(),
            }
        } else {
            SmtpError::Protocol {
                stage,
                detail: err.to_string(),
            }
        });
    }
    if err.is_client() {
        return Err(SmtpError::Protocol {
            stage,
            detail: err.to_string(),
        });
    }
    Err(SmtpError::Network {
        stage,
        detail: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn transience() {
        let r = |code, text| SmtpReply::from_parts(code, text);
        assert!(SmtpError::Greeting(r(421, "4.3.2 busy")).is_transient());
        assert!(!SmtpError::Greeting(r(554, "5.7.1 go away")).is_transient());
        let auth = |reply| SmtpError::Auth {
            reply,
            detail: "x".into(),
        };
        // Relay credentials are configuration: mail waits for the fix, never bounces.
        assert!(auth(Some(r(535, "5.7.8 bad credentials"))).is_transient());
        assert!(auth(Some(r(454, "4.7.0 try later"))).is_transient());
        assert!(auth(None).is_transient());
        let timeout = SmtpError::Timeout {
            stage: "greeting",
            after: Duration::from_millis(300),
        };
        assert!(timeout.is_transient());
        assert_eq!(timeout.to_string(), "timed out after 300ms during greeting");
        assert_eq!(
            SmtpError::Greeting(r(554, "5.7.1 go away"))
                .reply()
                .map(|r| r.code),
            Some(554)
        );
    }
}
