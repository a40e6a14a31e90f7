//! The per-connection SMTP state machine, with the per-connection limits
//! (line length, recipients, idle time, session lifetime, errors, failed AUTHs)
//! that make it safe to expose. The mail transaction is in `txn`, STARTTLS and
//! AUTH in `secure`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::command::{self, Command};
use crate::conn::Conn;
use crate::shared::{Shared, stopped};
use crate::wire::{read_line, within};
use crate::{Peer, Reply, TlsMode};

mod secure;
mod txn;

/// Longest accepted command line, including its line ending (RFC 5321
/// section 4.5.3.1.4). Extensions may raise it, but the ones we advertise add
/// under 60 octets to a MAIL line whose path is at most 256 (section
/// 4.5.3.1.3), so valid commands always fit. Longer lines are consumed
/// without being stored and answered 500.
const MAX_COMMAND_LINE: usize = 512;
/// Longest `AUTH` command or response line (RFC 4954 section 4: 12288 octets).
const MAX_AUTH_LINE: usize = 12_288;
/// Read buffer size; large so pipelined commands and DATA need few syscalls.
const READ_BUFFER: usize = 64 * 1024;
/// How long to drain unread client input after closing, so the kernel sends
/// FIN rather than RST and the client reliably reads our last reply.
const LINGER: Duration = Duration::from_secs(2);

/// Serves one connection until the client leaves, the protocol closes it, or
/// the sink shuts down. Client-side failures are normal here: debug level.
pub(crate) async fn run(
    shared: Arc<Shared>,
    stream: TcpStream,
    remote: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) {
    let local = match stream.local_addr() {
        Ok(local) => local,
        Err(e) => {
            tracing::debug!(%remote, error = %e, "connection gone before greeting");
            return;
        }
    };
    let mut session = Session {
        io: BufReader::with_capacity(READ_BUFFER, Conn::Plain(stream)),
        out: Vec::with_capacity(1024),
        peer: Peer {
            remote,
            local,
            helo: None,
            tls: false,
            auth: None,
        },
        txn: None,
        refused: false,
        errors: 0,
        auth_failures: 0,
        deadline: shared.session_deadline(),
        shared,
    };
    let implicit = match &session.shared.tls {
        Some(TlsMode::Implicit(config)) => Some(Arc::clone(config)),
        _ => None,
    };
    let serve = async {
        if let Some(config) = implicit {
            session.start_tls(config).await?;
        }
        session.serve().await
    };
    tokio::select! {
        result = serve => match result {
            Ok(()) => tracing::debug!(%remote, "connection closed"),
            Err(e) => tracing::debug!(%remote, error = %e, "connection ended"),
        },
        () = stopped(&mut shutdown) => tracing::debug!(%remote, "connection closed by shutdown"),
    }
}

/// What to do after handling a command.
enum Flow {
    Continue,
    /// Flush, then close the connection.
    Close,
    /// Flush, then stay silent until shutdown.
    Hang,
    /// Flush (the 220 to STARTTLS), then start the TLS handshake.
    StartTls(Arc<crate::rustls::ServerConfig>),
}

/// An open mail transaction (between MAIL and the end of DATA).
struct Txn {
    from: String,
    rcpts: Vec<String>,
}

struct Session {
    /// The connection, read through a buffer; replies are written to
    /// `io.get_mut()`, past the buffer.
    io: BufReader<Conn>,
    /// Replies not yet written; flushed when no pipelined input is pending.
    out: Vec<u8>,
    peer: Peer,
    txn: Option<Txn>,
    /// The greeting refused service: only QUIT is allowed (RFC 5321 3.1).
    refused: bool,
    /// Client errors since the session started or last delivered a message.
    errors: usize,
    /// Failed AUTH attempts in this session.
    auth_failures: usize,
    /// When the session's lifetime ends, if it has one.
    deadline: Option<Instant>,
    shared: Arc<Shared>,
}

/// How long the next read or write may wait: the idle timeout, or what is left
/// of the session's lifetime if that is shorter.
fn next_wait(idle: Duration, deadline: Option<Instant>) -> Duration {
    deadline.map_or(idle, |deadline| {
        idle.min(deadline.saturating_duration_since(Instant::now()))
    })
}

impl Session {
    async fn serve(&mut self) -> io::Result<()> {
        let mut greeting = self.shared.behavior.greeting(&self.peer);
        if greeting.is_positive() {
            greeting.text = format!("{} {}", self.shared.hostname, greeting.text);
        } else {
            self.refused = true;
        }
        let flow = self.outcome(&greeting);
        if self.finish(flow).await? {
            return Ok(());
        }
        self.flush().await?;

        let mut line = Vec::with_capacity(MAX_COMMAND_LINE);
        loop {
            // Checked before every command, not only when a read waits: a client
            // that keeps talking must still let go of its slot in the end.
            if self.expired() {
                let flow = self.timed_out();
                self.finish(flow).await?;
                return Ok(());
            }
            line.clear();
            let wait = self.wait();
            let limit = if self.shared.behavior.requires_auth() {
                MAX_AUTH_LINE
            } else {
                MAX_COMMAND_LINE
            };
            let next = read_line(&mut self.io, &mut line, limit);
            let (total, complete) = match within(wait, next).await {
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    let flow = self.timed_out();
                    self.finish(flow).await?;
                    return Ok(());
                }
                read => read?,
            };
            if !complete {
                return Ok(()); // client closed the connection
            }
            let flow = self.handle_line(&line, total).await?;
            if self.finish(flow).await? {
                return Ok(());
            }
            if self.io.buffer().is_empty() {
                self.flush().await?;
            }
        }
    }

    /// Carries out a non-continue flow; returns true if the session is over.
    async fn finish(&mut self, flow: Flow) -> io::Result<bool> {
        match flow {
            Flow::Continue => Ok(false),
            Flow::Close => {
                self.flush().await?;
                self.io.get_mut().shutdown().await?;
                self.linger().await;
                Ok(true)
            }
            Flow::StartTls(config) => {
                self.flush().await?;
                self.start_tls(config).await?;
                Ok(false)
            }
            Flow::Hang => {
                self.flush().await?;
                std::future::pending::<()>().await;
                Ok(true)
            }
        }
    }

    /// Discards client input until EOF (bounded by [`LINGER`]).
    async fn linger(&mut self) {
        let mut sink = [0u8; 4096];
        let drain = async { while matches!(self.io.read(&mut sink).await, Ok(n) if n > 0) {} };
        let _ = tokio::time::timeout(LINGER, drain).await;
    }

    /// Writes pending replies; a client that does not take them within the
    /// idle timeout (its receive window stays full) fails the session. The
    /// last reply of an expired session gets the idle timeout too.
    async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            let wait = match self.wait() {
                Duration::ZERO => self.shared.idle_timeout,
                wait => wait,
            };
            let (conn, out) = (self.io.get_mut(), &self.out);
            let write = async move {
                conn.write_all(out).await?;
                conn.flush().await // TLS holds written data until flushed
            };
            within(wait, write).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// How long the next read may wait (see [`next_wait`]).
    fn wait(&self) -> Duration {
        next_wait(self.shared.idle_timeout, self.deadline)
    }

    /// Whether the session outlived its lifetime.
    fn expired(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }

    fn send(&mut self, reply: &Reply) {
        reply.render(&mut self.out);
    }

    fn reply(&mut self, code: u16, text: &str) -> Flow {
        self.send(&Reply::new(code, text));
        Flow::Continue
    }

    /// Answers a client mistake (5xx for a bad or misplaced command). Past
    /// `max_errors` of them without an accepted message, the client is more
    /// likely a scanner than a confused MTA: say 421 and hang up instead.
    fn error(&mut self, code: u16, text: &str) -> Flow {
        self.errors += 1;
        if self.errors > self.shared.max_errors {
            tracing::debug!(remote = %self.peer.remote, errors = self.errors, "too many errors");
            self.send(&Reply::new(
                421,
                "4.7.0 Too many errors, closing connection",
            ));
            return Flow::Close;
        }
        self.reply(code, text)
    }

    /// The client stayed silent for the idle timeout, or the session reached
    /// the end of its lifetime: free the slot.
    fn timed_out(&mut self) -> Flow {
        if self.expired() {
            tracing::debug!(remote = %self.peer.remote, "session lifetime reached");
            self.send(&Reply::new(
                421,
                "4.4.2 Session time limit reached, closing connection",
            ));
        } else {
            tracing::debug!(remote = %self.peer.remote, "idle timeout");
            self.send(&Reply::new(421, "4.4.2 Idle timeout, closing connection"));
        }
        Flow::Close
    }

    /// Sends a hook's reply and maps hang/close semantics to a [`Flow`].
    fn outcome(&mut self, reply: &Reply) -> Flow {
        if reply.is_hang() {
            return Flow::Hang;
        }
        self.send(reply);
        if reply.closes() {
            Flow::Close
        } else {
            Flow::Continue
        }
    }

    async fn handle_line(&mut self, raw: &[u8], total: usize) -> io::Result<Flow> {
        let content = raw.strip_suffix(b"\n").unwrap_or(raw);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        let auth_line = content.len() > 5 && content[..5].eq_ignore_ascii_case(b"AUTH ");
        if total > MAX_AUTH_LINE || (total > MAX_COMMAND_LINE && !auth_line) {
            return Ok(self.error(500, "5.5.2 Line too long"));
        }
        let Ok(text) = std::str::from_utf8(content) else {
            return Ok(self.error(500, "5.5.2 Command line is not valid UTF-8"));
        };
        let cmd = command::parse(text);
        if self.refused && cmd != Command::Quit {
            return Ok(self.error(503, "5.5.1 Service refused, only QUIT allowed"));
        }
        Ok(match cmd {
            Command::Ehlo(domain) => {
                self.peer.helo = Some(domain.to_owned());
                self.txn = None;
                let (starttls, auth) = (self.offers_starttls(), self.offers_auth());
                self.shared.render_ehlo(&mut self.out, starttls, auth);
                Flow::Continue
            }
            Command::Helo(domain) => {
                self.peer.helo = Some(domain.to_owned());
                self.txn = None;
                let text = self.shared.hostname.clone();
                self.reply(250, &text)
            }
            Command::Mail { path, params } => self.mail(path, params).await,
            Command::Rcpt { path, params } => self.rcpt(path, params),
            Command::Data => self.data().await?,
            Command::Rset => {
                self.txn = None;
                self.reply(250, "2.0.0 Ok")
            }
            Command::Noop => self.reply(250, "2.0.0 Ok"),
            Command::Vrfy => self.reply(
                252,
                "2.5.2 Cannot VRFY user, but will accept message and attempt delivery",
            ),
            Command::Help => self.reply(214, "2.0.0 See RFC 5321"),
            Command::Quit => {
                self.send(&Reply::new(221, "2.0.0 Bye"));
                Flow::Close
            }
            Command::StartTls => self.starttls(),
            Command::Auth { mechanism, initial } => self.auth(mechanism, initial).await?,
            Command::NotImplemented => self.error(502, "5.5.1 Command not implemented"),
            Command::Unknown => self.error(500, "5.5.1 Command unrecognized"),
            Command::Syntax(text) => self.error(501, text),
        })
    }
}
