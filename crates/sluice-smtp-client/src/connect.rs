//! Opening a session: our own socket (source address, TCP_NODELAY), greeting,
//! EHLO, STARTTLS, capabilities, AUTH.
//!
//! We bring the socket because lettre's own connect never sets TCP_NODELAY
//! (Nagle plus delayed ACK cost ~40 ms per message: the body and the final dot
//! are separate writes) and its pooled transport cannot bind a source address.

use std::fmt::Display;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::Ehlo;
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use sluice_model::SmtpReply;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

use crate::error::{classify, reply_from_response};
use crate::stream::{Replay, read_greeting};
use crate::{RelayTarget, RelayTrust, SessionTls, SmtpError, Timeouts, TlsMode};

/// One open, greeted (and possibly encrypted and authenticated) session.
pub(crate) struct Connection {
    pub(crate) inner: AsyncSmtpConnection,
    pub(crate) caps: Capabilities,
    /// Transactions started on this session (for `max_messages_per_connection`).
    pub(crate) transactions: usize,
    /// Nagle's algorithm is on (implicit TLS, see [`implicit_tls_session`]):
    /// the body must then go out in a single write.
    pub(crate) nagle: bool,
    /// How TLS went when the session was set up (reported with every transaction,
    /// for TLS-RPT).
    pub(crate) tls: SessionTls,
}

/// What the last EHLO advertised, beyond what lettre's `ServerInfo` keeps
/// (it drops SIZE, which we need for the pre-flight size check).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Capabilities {
    /// `SIZE n` with n > 0; `SIZE` or `SIZE 0` means no fixed limit.
    pub(crate) size_max: Option<usize>,
    /// Whether `SIZE` was advertised at all (then MAIL carries `SIZE=`).
    pub(crate) size: bool,
    pub(crate) eight_bit_mime: bool,
    pub(crate) smtputf8: bool,
}

impl Capabilities {
    fn from_ehlo(response: &Response) -> Self {
        let mut caps = Self::default();
        for line in response.message().skip(1) {
            let mut words = line.split_whitespace();
            let keyword = words.next().unwrap_or_default().to_ascii_uppercase();
            match keyword.as_str() {
                "SIZE" => {
                    caps.size = true;
                    caps.size_max = words
                        .next()
                        .and_then(|n| n.parse::<usize>().ok())
                        .filter(|n| *n > 0);
                }
                "8BITMIME" => caps.eight_bit_mime = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                _ => {}
            }
        }
        caps
    }
}

/// Opens a session to `target` with every step under its own timeout.
///
/// A target with credentials never uses opportunistic TLS: STARTTLS is then
/// required and verified, whatever the target says (see [`RelayTarget::from_url`]).
pub(crate) async fn connect(
    target: &RelayTarget,
    t: &Timeouts,
    trust: &RelayTrust,
) -> Result<Connection, SmtpError> {
    let client_id = client_id(&target.helo_name);
    let mode = match target.tls {
        TlsMode::Opportunistic if target.credentials.is_some() => TlsMode::StartTls,
        mode => mode,
    };
    let (mut inner, tls) = match mode {
        TlsMode::Implicit => (
            implicit_tls_session(target, t, &client_id, trust).await?,
            SessionTls::Encrypted,
        ),
        TlsMode::None => (plain_session(target, t, &client_id).await?, SessionTls::Off),
        TlsMode::StartTls => {
            let mut conn = plain_session(target, t, &client_id).await?;
            let verify = !target.accept_invalid_certs;
            starttls(&mut conn, target, t, &client_id, trust, verify).await?;
            (conn, SessionTls::Encrypted)
        }
        TlsMode::Opportunistic => {
            let mut conn = plain_session(target, t, &client_id).await?;
            if !conn.can_starttls() {
                (conn, SessionTls::NotOffered)
            } else if let Err(e) = starttls(&mut conn, target, t, &client_id, trust, false).await {
                // lettre has closed the session; plain text beats no delivery.
                tracing::debug!(relay = %target.label(), error = %e,
                    "opportunistic STARTTLS failed, retrying in plain text");
                conn = plain_session(target, t, &client_id).await?;
                (conn, SessionTls::Failed(e.to_string()))
            } else {
                (conn, SessionTls::Encrypted)
            }
        }
    };
    let ehlo = timed(
        t.command,
        "ehlo",
        inner.command(Ehlo::new(client_id.clone())),
    )
    .await?
    .map_err(|e| refused(&e, "ehlo"))?;
    let caps = Capabilities::from_ehlo(&ehlo);
    if let Some((user, password)) = &target.credentials {
        // Verified TLS exactly when the session is encrypted and certificates were
        // checked (credentials turn opportunistic TLS into required, verified TLS).
        let verified = inner.is_encrypted() && !target.accept_invalid_certs;
        if !verified && !target.may_skip_verified_tls() {
            return Err(SmtpError::Tls(format!(
                "not sending credentials to {}: the session is not TLS with a verified certificate",
                target.label()
            )));
        }
        authenticate(&mut inner, t, user, password).await?;
    }
    tracing::debug!(relay = %target.label(), encrypted = inner.is_encrypted(), ?caps,
        "smtp session open");
    Ok(Connection {
        inner,
        caps,
        transactions: 0,
        nagle: target.tls == TlsMode::Implicit,
        tls,
    })
}

/// TCP connect (own socket), our greeting read, then lettre's EHLO.
async fn plain_session(
    target: &RelayTarget,
    t: &Timeouts,
    client_id: &ClientId,
) -> Result<AsyncSmtpConnection, SmtpError> {
    let mut stream = tcp_connect(target, t.connect).await?;
    let (bytes, greeting) = timed(t.greeting, "greeting", read_greeting(&mut stream)).await??;
    if !greeting.is_success() {
        return Err(SmtpError::Greeting(greeting));
    }
    let stream = Box::new(Replay::new(bytes, stream));
    timed(
        t.command,
        "ehlo",
        AsyncSmtpConnection::connect_with_transport(stream, client_id),
    )
    .await?
    .map_err(|e| refused(&e, "ehlo"))
}

/// Implicit TLS goes through lettre's own connect, the only way to get a TLS
/// stream into an `AsyncSmtpConnection` without depending on a TLS crate
/// ourselves. It binds the source address but cannot set TCP_NODELAY; the
/// session is marked [`Connection::nagle`] so bodies avoid the Nagle stall.
async fn implicit_tls_session(
    target: &RelayTarget,
    t: &Timeouts,
    client_id: &ClientId,
    trust: &RelayTrust,
) -> Result<AsyncSmtpConnection, SmtpError> {
    let tls = trust.parameters(target.tls_name(), !target.accept_invalid_certs)?;
    let limit = t.connect + t.greeting + t.command;
    let connecting = AsyncSmtpConnection::connect_tokio1(
        (target.host.as_str(), target.port),
        Some(t.connect),
        client_id,
        Some(tls),
        target.source_ip,
    );
    timed(limit, "connect", connecting).await?.map_err(|e| {
        let text = e.to_string();
        // lettre reports handshake and certificate failures as connection
        // errors too; its text is all that tells them apart from TCP ones.
        let lower = text.to_ascii_lowercase();
        if e.is_tls()
            || ["certificate", "handshake", "tls"]
                .iter()
                .any(|w| lower.contains(w))
        {
            return tls_failure(target, &text);
        }
        match classify(&e, "greeting") {
            Ok(reply) => SmtpError::Greeting(reply),
            Err(_) => SmtpError::Connect {
                target: target.label(),
                source: io::Error::other(text),
            },
        }
    })
}

async fn starttls(
    conn: &mut AsyncSmtpConnection,
    target: &RelayTarget,
    t: &Timeouts,
    client_id: &ClientId,
    trust: &RelayTrust,
    verify: bool,
) -> Result<(), SmtpError> {
    if !conn.can_starttls() {
        return Err(SmtpError::Tls(format!(
            "{} does not offer STARTTLS, which is required",
            target.label()
        )));
    }
    let params = trust.parameters(target.tls_name(), verify)?;
    timed(t.command, "starttls", conn.starttls(params, client_id))
        .await?
        .map_err(|e| match classify(&e, "starttls") {
            Ok(reply) => SmtpError::Rejected {
                stage: "starttls",
                reply,
            },
            // lettre reports handshake and certificate failures as connection errors.
            Err(_) => tls_failure(target, &e.to_string()),
        })
}

/// A failed handshake, saying plainly when the certificate was the reason: an
/// operator reading the event must see "certificate verification", not a
/// generic connection error.
fn tls_failure(target: &RelayTarget, detail: &str) -> SmtpError {
    if detail.to_ascii_lowercase().contains("certificate") {
        SmtpError::Tls(format!(
            "certificate verification failed for {}: {detail}",
            target.label()
        ))
    } else {
        SmtpError::Tls(format!(
            "handshake with {} failed: {detail}",
            target.label()
        ))
    }
}

async fn authenticate(
    conn: &mut AsyncSmtpConnection,
    t: &Timeouts,
    user: &str,
    password: &str,
) -> Result<(), SmtpError> {
    let credentials = Credentials::new(user.to_owned(), password.to_owned());
    let mechanisms = [Mechanism::Plain, Mechanism::Login];
    match timed(t.command, "auth", conn.auth(&mechanisms, &credentials)).await? {
        Ok(_) => Ok(()),
        Err(e) if e.is_client() => Err(SmtpError::Auth {
            reply: None,
            detail: e.to_string(),
        }),
        Err(e) => match classify(&e, "auth") {
            Ok(reply) => Err(SmtpError::Auth {
                detail: reply.to_string(),
                reply: Some(reply),
            }),
            Err(other) => Err(other),
        },
    }
}

/// Resolves and tries each address (of the source address's family) in turn,
/// each with the connect timeout.
async fn tcp_connect(target: &RelayTarget, limit: Duration) -> Result<TcpStream, SmtpError> {
    let connect_error = |source| SmtpError::Connect {
        target: target.label(),
        source,
    };
    let addrs = timed(
        limit,
        "connect",
        tokio::net::lookup_host((target.host.as_str(), target.port)),
    )
    .await?
    .map_err(connect_error)?;
    let mut last = None;
    for addr in addrs.filter(|a| {
        target
            .source_ip
            .is_none_or(|ip| ip.is_ipv4() == a.is_ipv4())
    }) {
        match timeout(limit, connect_one(addr, target.source_ip)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = Some(connect_error(e)),
            Err(_) => {
                last = Some(SmtpError::Timeout {
                    stage: "connect",
                    after: limit,
                });
            }
        }
    }
    Err(last.unwrap_or_else(|| {
        connect_error(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "no address of the source address's family",
        ))
    }))
}

async fn connect_one(addr: SocketAddr, source_ip: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source_ip {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// An IP address literal as `[1.2.3.4]`, a name as is, empty as the hostname.
fn client_id(helo_name: &str) -> ClientId {
    match helo_name.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ClientId::Ipv4(ip),
        Ok(IpAddr::V6(ip)) => ClientId::Ipv6(ip),
        Err(_) if helo_name.is_empty() => ClientId::default(),
        Err(_) => ClientId::Domain(helo_name.to_owned()),
    }
}

/// A negative reply to a session command becomes [`SmtpError::Rejected`].
fn refused(e: &lettre::transport::smtp::Error, stage: &'static str) -> SmtpError {
    match classify(e, stage) {
        Ok(reply) => SmtpError::Rejected { stage, reply },
        Err(other) => other,
    }
}

/// Sends a command; negative replies are `Ok` (they are answers), only a
/// missing answer is an error.
pub(crate) async fn command<C: Display>(
    conn: &mut Connection,
    cmd: C,
    limit: Duration,
    stage: &'static str,
) -> Result<SmtpReply, SmtpError> {
    match timed(limit, stage, conn.inner.command(cmd)).await? {
        Ok(response) => Ok(reply_from_response(&response)),
        Err(e) => classify(&e, stage),
    }
}

/// `tokio::time::timeout` that names the stage in its error.
pub(crate) async fn timed<F: Future>(
    limit: Duration,
    stage: &'static str,
    fut: F,
) -> Result<F::Output, SmtpError> {
    timeout(limit, fut).await.map_err(|_| SmtpError::Timeout {
        stage,
        after: limit,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use lettre::transport::smtp::response::{Category, Code, Detail, Severity};

    #[test]
    fn capabilities_from_ehlo() {
        let ehlo = |lines: &[&str]| {
            let code = Code::new(
                Severity::PositiveCompletion,
                Category::MailSystem,
                Detail::Zero,
            );
            Capabilities::from_ehlo(&Response::new(
                code,
                lines.iter().map(|l| (*l).to_owned()).collect(),
            ))
        };
        let caps = ehlo(&["mx", "PIPELINING", "SIZE 1000", "8BITMIME", "SMTPUTF8"]);
        assert_eq!(
            caps,
            Capabilities {
                size_max: Some(1000),
                size: true,
                eight_bit_mime: true,
                smtputf8: true
            }
        );
        let caps = ehlo(&["SIZE 5", "size 0"]);
        assert!(caps.size && caps.size_max.is_none() && !caps.smtputf8);
        assert_eq!(ehlo(&["mx"]), Capabilities::default());
    }

    #[test]
    fn helo_names() {
        assert_eq!(
            client_id("mta.example.test").to_string(),
            "mta.example.test"
        );
        assert_eq!(client_id("192.0.2.1").to_string(), "[192.0.2.1]");
    }
}
