//! A small, fast SMTP server (RFC 5321) that receives mail.
//!
//! It is Sluice's production inbound listener: the internet-facing server of the
//! bounce domain, which receives DSNs, complaint reports and unsubscribe mail (see
//! [`RecipientDomains`]; what a received report turns into is the event pipeline's
//! `BounceHandler`, a [`SinkBehavior`]). It is also the `sluice dev` capture sink
//! (every message is written as an `.eml` file), a scriptable remote MTA for
//! integration tests (see [`SinkBehavior`] and [`CueByLocalPart`]) and a counting
//! sink for load tests. One server for all of them means the code paths the tests
//! exercise are the ones production runs. Start it with [`SmtpSink::start`] and
//! observe it via [`SinkHandle`].
//!
//! Supported: EHLO/HELO, MAIL (SIZE, BODY, SMTPUTF8 parameters), RCPT, DATA,
//! RSET, NOOP, VRFY, HELP, QUIT, with PIPELINING, 8BITMIME, SMTPUTF8 and
//! ENHANCEDSTATUSCODES advertised. With [`SinkConfig::tls`], STARTTLS (RFC 3207)
//! or implicit TLS (RFC 8314); when the [`SinkBehavior`] offers authentication
//! (the submission listener), `AUTH PLAIN` and `AUTH LOGIN` (RFC 4954), only over
//! TLS or from a loopback client, and MAIL only once authenticated. CHUNKING is
//! not supported.
//!
//! Because the listener faces untrusted clients, every resource a client can
//! make it hold is bounded by [`SinkConfig`]: connections (in total and per
//! client IP), command line length, recipients, message size (oversized bodies
//! are read and discarded, never buffered), idle time, session lifetime and
//! protocol errors.

mod admission;
mod behavior;
mod command;
mod conn;
mod recipient_domains;
mod reply;
mod server;
mod session;
mod shared;
mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use behavior::{AcceptAll, AuthFuture, CueByLocalPart, DeliverFuture, SinkBehavior};
pub use recipient_domains::RecipientDomains;
pub use reply::Reply;
pub use server::{SinkHandle, SmtpSink};
/// The rustls this server is built with, for building its [`TlsMode`] configuration.
pub use tokio_rustls::rustls;

/// Everything needed to start a sink; `Default` gives an accept-all sink on a
/// free loopback port that keeps messages in memory, which is what most tests
/// want (override fields with struct-update syntax).
#[derive(Clone)]
pub struct SinkConfig {
    /// Address to listen on; port 0 picks a free port (see [`SinkHandle::local_addr`]).
    pub listen: SocketAddr,
    /// Name used in the greeting and the EHLO reply.
    pub hostname: String,
    /// If set, each accepted message is written to
    /// `<outbox>/<unix-millis>-<seq>.eml` (via a temporary name and a rename,
    /// so readers never see partial files). Created if missing.
    pub outbox: Option<PathBuf>,
    /// Keep every accepted message in memory for [`SinkHandle::messages`].
    /// Turn off for load tests, where only the counters matter.
    pub keep_in_memory: bool,
    /// Advertised as `SIZE`; larger messages are refused with 552 5.3.4
    /// (at MAIL if the client declares SIZE, else after reading and
    /// discarding the body). Also the most one connection buffers for a body.
    pub max_message_bytes: usize,
    /// Accepted recipients per transaction; more get `452 4.5.3` (the client
    /// sends them in another transaction). RFC 5321 section 4.5.3.1.8 asks
    /// servers to take at least 100. At least 1.
    pub max_recipients: usize,
    /// Connections served at once; beyond it a new connection gets
    /// `421 4.3.2` and is closed, so a flood cannot exhaust file descriptors
    /// or memory (each session holds up to `max_message_bytes`). Keep it
    /// below the process's file-descriptor limit. At least 1.
    pub max_connections: usize,
    /// How long the sink waits for the client: for each complete command
    /// line, for each line of a DATA body, and for the client to take our
    /// replies. After it the connection is closed with `421 4.4.2`. RFC 5321
    /// section 4.5.3.2.7 asks servers to wait at least 5 minutes for a command.
    pub idle_timeout: Duration,
    /// Protocol errors (unknown or malformed commands, bad sequence, lines too
    /// long) a session may make before it is closed with `421 4.7.0`, so
    /// scanners cannot probe forever. Accepting a message resets the count, so
    /// a long-lived session of a real client is not closed for rare mistakes;
    /// refusals by the [`SinkBehavior`] are answers, not client errors, and do
    /// not count.
    pub max_errors: usize,
    /// Decides the replies; [`AcceptAll`] by default.
    pub behavior: Arc<dyn SinkBehavior>,
    /// Connections served at once from one client IP; beyond it a new
    /// connection from that IP gets `421 4.7.0` and is closed, so one host
    /// cannot take every slot of [`Self::max_connections`]. `None` (the
    /// default) for sinks whose only client is Sluice itself on loopback.
    pub max_connections_per_ip: Option<usize>,
    /// How long one session may last, however busy: after it the session is
    /// closed with `421 4.4.2` at the next read (a command or a DATA line), so
    /// a client that dribbles a line just inside [`Self::idle_timeout`] cannot
    /// hold its slot for ever. A message being handed to
    /// [`SinkBehavior::deliver`] is not cut short. `None` (the default) for
    /// no limit.
    pub max_session: Option<Duration>,
    /// TLS: offered with STARTTLS on a plain listener, or spoken from the first
    /// byte. `None` (the default): plain text only, STARTTLS answered 502.
    pub tls: Option<TlsMode>,
    /// Failed `AUTH` attempts one session may make; the next failure closes it
    /// with `421 4.7.0`, so a client cannot try keys one after the other on
    /// one connection (the per-IP connection cap bounds the parallel ones).
    pub max_auth_failures: usize,
    /// Whether AUTH is offered without TLS to loopback clients, where no one can
    /// read the password on the way (a local relay, an application on the same
    /// host). Elsewhere AUTH always needs TLS. On by default.
    pub loopback_clear_text_auth: bool,
}

/// How a listener speaks TLS; the certificate is in the rustls configuration.
#[derive(Clone)]
pub enum TlsMode {
    /// Plain text first, upgraded when the client sends STARTTLS (RFC 3207): the
    /// submission port 587.
    StartTls(Arc<rustls::ServerConfig>),
    /// TLS from the first byte (RFC 8314 section 3.3): the submissions port 465.
    Implicit(Arc<rustls::ServerConfig>),
}

impl std::fmt::Debug for TlsMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TlsMode::StartTls(_) => "StartTls",
            TlsMode::Implicit(_) => "Implicit",
        })
    }
}

impl Default for SinkConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            hostname: "sink.localhost".to_owned(),
            outbox: None,
            keep_in_memory: true,
            max_message_bytes: 25 * 1024 * 1024,
            max_recipients: 100,
            max_connections: 1000,
            idle_timeout: Duration::from_secs(300),
            // Postfix's default `smtpd_hard_error_limit`.
            max_errors: 20,
            behavior: Arc::new(AcceptAll),
            max_connections_per_ip: None,
            max_session: None,
            tls: None,
            max_auth_failures: 3,
            loopback_clear_text_auth: true,
        }
    }
}

impl std::fmt::Debug for SinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkConfig")
            .field("listen", &self.listen)
            .field("hostname", &self.hostname)
            .field("outbox", &self.outbox)
            .field("keep_in_memory", &self.keep_in_memory)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("max_recipients", &self.max_recipients)
            .field("max_connections", &self.max_connections)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_errors", &self.max_errors)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .field("max_session", &self.max_session)
            .field("tls", &self.tls)
            .field("max_auth_failures", &self.max_auth_failures)
            .field("loopback_clear_text_auth", &self.loopback_clear_text_auth)
            .finish_non_exhaustive()
    }
}

/// The connection as seen by [`SinkBehavior`] hooks, so scripted behavior can
/// depend on who is talking (e.g. which source IP Sluice used).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The client's address.
    pub remote: SocketAddr,
    /// The sink address the client connected to.
    pub local: SocketAddr,
    /// Domain from the most recent EHLO/HELO, if any.
    pub helo: Option<String>,
    /// Whether the session is encrypted (implicit TLS, or after STARTTLS).
    pub tls: bool,
    /// Who the client proved to be with `AUTH`, if it did.
    pub auth: Option<Authenticated>,
}

impl Peer {
    /// Whether the client is on this machine: `127.0.0.0/8` and `::1` (mapped or not).
    pub fn is_loopback(&self) -> bool {
        self.remote.ip().is_loopback() || is_mapped_loopback(self.remote.ip())
    }
}

fn is_mapped_loopback(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        std::net::IpAddr::V4(_) => false,
    }
}

/// A successful `AUTH`: the user name the client gave, and what the
/// [`SinkBehavior::authenticate`] hook said it stands for (for the submission
/// listener, the tenant id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated {
    pub user: String,
    pub principal: String,
}

/// One accepted message with its envelope, so tests can assert on exactly
/// what Sluice put on the wire.
#[derive(Clone, Debug)]
pub struct ReceivedMessage {
    /// Sink-assigned id (`<unix-millis>-<seq>`): quoted in the 250 reply and
    /// used as the `.eml` file stem, to correlate logs, replies and files.
    pub id: String,
    /// The client's address.
    pub peer: SocketAddr,
    /// The sink address the client connected to.
    pub local: SocketAddr,
    /// Domain the client gave in EHLO/HELO.
    pub helo: String,
    /// Envelope sender without angle brackets; `""` for the null sender.
    pub mail_from: String,
    /// Accepted envelope recipients, without angle brackets, in order.
    pub rcpt_to: Vec<String>,
    /// The message exactly as sent, after dot-unstuffing and without the
    /// terminating `.` line; line endings are kept as received.
    pub data: Vec<u8>,
    /// When the end of data was received.
    pub received_at: SystemTime,
    /// Whether the message came over TLS.
    pub tls: bool,
    /// Who sent it, when the session authenticated.
    pub auth: Option<Authenticated>,
    /// Where the message was written, if an outbox is configured. Always
    /// `None` while [`SinkBehavior::deliver`] runs: the file is written only
    /// once the message was accepted.
    pub outbox_path: Option<PathBuf>,
}
