//! A small, fast SMTP server (RFC 5321) that receives what Sluice relays.
//!
//! It serves three purposes: the `sluice dev` capture sink (every message is
//! written as an `.eml` file), a scriptable remote MTA for integration tests
//! (see [`SinkBehavior`] and [`CueByLocalPart`]), and a counting sink for load
//! tests. Start it with [`SmtpSink::start`] and observe it via [`SinkHandle`].
//!
//! Supported: EHLO/HELO, MAIL (SIZE, BODY, SMTPUTF8 parameters), RCPT, DATA,
//! RSET, NOOP, VRFY, HELP, QUIT, with PIPELINING, 8BITMIME, SMTPUTF8 and
//! ENHANCEDSTATUSCODES advertised. STARTTLS, AUTH and CHUNKING are not.

mod behavior;
mod command;
mod reply;
mod server;
mod session;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

pub use behavior::{AcceptAll, CueByLocalPart, SinkBehavior};
pub use reply::Reply;
pub use server::{SinkHandle, SmtpSink};

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
    /// Advertised as `SIZE`; larger messages are refused with 552 5.3.4.
    pub max_message_bytes: usize,
    /// Decides the replies; [`AcceptAll`] by default.
    pub behavior: Arc<dyn SinkBehavior>,
}

impl Default for SinkConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            hostname: "sink.localhost".to_owned(),
            outbox: None,
            keep_in_memory: true,
            max_message_bytes: 25 * 1024 * 1024,
            behavior: Arc::new(AcceptAll),
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
    /// Whether the session is encrypted; always `false` (no STARTTLS yet).
    pub tls: bool,
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
    /// Where the message was written, if an outbox is configured.
    pub outbox_path: Option<PathBuf>,
}
