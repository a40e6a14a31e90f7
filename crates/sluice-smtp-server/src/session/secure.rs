//! STARTTLS (RFC 3207) and AUTH PLAIN / LOGIN (RFC 4616, RFC 4954).
//!
//! After STARTTLS the session forgets everything the client said in clear text
//! (RFC 3207 section 4.2): its EHLO, an open transaction, an authentication, and
//! any commands it pipelined behind STARTTLS (reading them would let a
//! man-in-the-middle inject commands into the encrypted session, CVE-2011-0411).
//!
//! AUTH is offered only where the password cannot be read on the way: over TLS,
//! or from a loopback client. Passwords are never logged.

use std::io;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio::io::BufReader;
use tokio_rustls::TlsAcceptor;

use super::{Flow, MAX_AUTH_LINE, READ_BUFFER, Session};
use crate::conn::Conn;
use crate::wire::{read_line, within};
use crate::{Authenticated, Reply, TlsMode};

/// A client's answer to a `334` challenge, or what the session does instead.
enum Answer {
    Bytes(Vec<u8>),
    /// The reply was sent (a cancelled or malformed answer); go on with this flow.
    Done(Flow),
}

impl Session {
    /// Whether EHLO lists STARTTLS: a STARTTLS listener not yet encrypted.
    pub(super) fn offers_starttls(&self) -> bool {
        matches!(self.shared.tls, Some(TlsMode::StartTls(_))) && !self.peer.tls
    }

    /// Whether EHLO lists AUTH (see the module doc).
    pub(super) fn offers_auth(&self) -> bool {
        self.shared.behavior.requires_auth() && self.may_authenticate() && self.peer.auth.is_none()
    }

    /// Over TLS, or in clear text from loopback when the listener allows it.
    fn may_authenticate(&self) -> bool {
        self.peer.tls || (self.shared.loopback_clear_text_auth && self.peer.is_loopback())
    }

    pub(super) fn starttls(&mut self) -> Flow {
        let config = match &self.shared.tls {
            Some(TlsMode::StartTls(config)) if !self.peer.tls => Arc::clone(config),
            Some(_) if self.peer.tls => return self.error(503, "5.5.1 TLS already active"),
            _ => return self.error(502, "5.5.1 Command not implemented"),
        };
        self.send(&Reply::new(220, "2.0.0 Ready to start TLS"));
        Flow::StartTls(config)
    }

    /// The TLS handshake (within the idle timeout), then a fresh session state.
    pub(super) async fn start_tls(
        &mut self,
        config: Arc<crate::rustls::ServerConfig>,
    ) -> io::Result<()> {
        let io = std::mem::replace(&mut self.io, BufReader::new(Conn::Gone));
        // `into_inner` drops whatever the client pipelined after STARTTLS.
        let Conn::Plain(tcp) = io.into_inner() else {
            return Err(io::Error::other("TLS started twice"));
        };
        let tls = within(self.wait(), TlsAcceptor::from(config).accept(tcp)).await?;
        self.io = BufReader::with_capacity(READ_BUFFER, Conn::Tls(Box::new(tls)));
        self.peer.tls = true;
        self.peer.helo = None;
        self.peer.auth = None;
        self.txn = None;
        Ok(())
    }

    pub(super) async fn auth(
        &mut self,
        mechanism: &str,
        initial: Option<&str>,
    ) -> io::Result<Flow> {
        if !self.shared.behavior.requires_auth() {
            return Ok(self.error(502, "5.5.1 Command not implemented"));
        }
        if self.peer.helo.is_none() {
            return Ok(self.error(503, "5.5.1 Send EHLO first"));
        }
        if self.peer.auth.is_some() {
            return Ok(self.error(503, "5.5.1 Already authenticated"));
        }
        if !self.may_authenticate() {
            return Ok(self.error(530, "5.7.0 Must issue a STARTTLS command first"));
        }
        if self.txn.is_some() {
            return Ok(self.error(503, "5.5.1 AUTH not allowed during a mail transaction"));
        }
        let credentials = if mechanism.eq_ignore_ascii_case("PLAIN") {
            self.plain(initial).await?
        } else if mechanism.eq_ignore_ascii_case("LOGIN") {
            self.login(initial).await?
        } else {
            return Ok(self.error(504, "5.5.4 Unrecognized authentication type"));
        };
        let (user, password) = match credentials {
            Ok(credentials) => credentials,
            Err(flow) => return Ok(flow),
        };
        let verdict = self
            .shared
            .behavior
            .authenticate(&self.peer, &user, &password)
            .await;
        match verdict {
            Ok(principal) => {
                tracing::debug!(remote = %self.peer.remote, %user, "authenticated");
                self.peer.auth = Some(Authenticated { user, principal });
                Ok(self.reply(235, "2.7.0 Authentication successful"))
            }
            Err(reply) => {
                let reply = reply.with_enhanced("2.7.0");
                if reply.code / 100 != 5 {
                    return Ok(self.outcome(&reply)); // the check failed, not the client
                }
                self.auth_failures += 1;
                tracing::debug!(remote = %self.peer.remote, failures = self.auth_failures, "authentication failed");
                self.send(&reply);
                if self.auth_failures >= self.shared.max_auth_failures {
                    self.send(&Reply::new(
                        421,
                        "4.7.0 Too many failed authentications, closing connection",
                    ));
                    return Ok(Flow::Close);
                }
                Ok(Flow::Continue)
            }
        }
    }

    /// `AUTH PLAIN`: one message `[authzid] NUL authcid NUL passwd` (RFC 4616).
    async fn plain(&mut self, initial: Option<&str>) -> io::Result<Result<(String, String), Flow>> {
        let message = match initial {
            Some("=") => Vec::new(),
            Some(initial) => match decode(initial) {
                Some(bytes) => bytes,
                None => return Ok(Err(self.malformed())),
            },
            None => match self.challenge("").await? {
                Answer::Bytes(bytes) => bytes,
                Answer::Done(flow) => return Ok(Err(flow)),
            },
        };
        let mut parts = message.split(|&b| b == 0);
        let (Some(_authzid), Some(user), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(Err(self.malformed()));
        };
        match (
            String::from_utf8(user.to_vec()),
            String::from_utf8(password.to_vec()),
        ) {
            (Ok(user), Ok(password)) => Ok(Ok((user, password))),
            _ => Ok(Err(self.malformed())),
        }
    }

    /// `AUTH LOGIN`: the user name, then the password, each asked for in turn
    /// (the user name may come with the command).
    async fn login(&mut self, initial: Option<&str>) -> io::Result<Result<(String, String), Flow>> {
        let user = match initial {
            Some(initial) => match decode(initial) {
                Some(bytes) => bytes,
                None => return Ok(Err(self.malformed())),
            },
            None => match self.challenge("VXNlcm5hbWU6").await? {
                Answer::Bytes(bytes) => bytes,
                Answer::Done(flow) => return Ok(Err(flow)),
            },
        };
        let password = match self.challenge("UGFzc3dvcmQ6").await? {
            Answer::Bytes(bytes) => bytes,
            Answer::Done(flow) => return Ok(Err(flow)),
        };
        match (String::from_utf8(user), String::from_utf8(password)) {
            (Ok(user), Ok(password)) => Ok(Ok((user, password))),
            _ => Ok(Err(self.malformed())),
        }
    }

    /// Sends `334 <prompt>` and reads the client's base64 answer.
    async fn challenge(&mut self, prompt: &str) -> io::Result<Answer> {
        self.out
            .extend_from_slice(format!("334 {prompt}\r\n").as_bytes());
        self.flush().await?;
        let mut line = Vec::with_capacity(128);
        let read = within(
            self.wait(),
            read_line(&mut self.io, &mut line, MAX_AUTH_LINE),
        )
        .await;
        let (total, complete) = match read {
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Ok(Answer::Done(self.timed_out()));
            }
            read => read?,
        };
        if !complete {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if total > MAX_AUTH_LINE {
            return Ok(Answer::Done(self.error(500, "5.5.2 Line too long")));
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text == "*" {
            return Ok(Answer::Done(
                self.error(501, "5.0.0 Authentication cancelled"),
            ));
        }
        Ok(match decode(text) {
            Some(bytes) => Answer::Bytes(bytes),
            None => Answer::Done(self.malformed()),
        })
    }

    fn malformed(&mut self) -> Flow {
        self.error(501, "5.5.2 Cannot decode the authentication response")
    }
}

fn decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text.trim()).ok()
}
