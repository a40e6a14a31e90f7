//! The per-connection SMTP state machine.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;

use crate::command::{self, Command};
use crate::server::{Shared, stopped, write_outbox};
use crate::{Peer, ReceivedMessage, Reply};

/// Longest accepted command line, excluding its line ending (RFC 5321 caps
/// text lines at 1000 octets including CRLF).
const MAX_COMMAND_LINE: usize = 998;
/// Recipients per transaction (RFC 5321 requires at least 100).
const MAX_RECIPIENTS: usize = 1000;
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
    let (reader, writer) = stream.into_split();
    let mut session = Session {
        reader: BufReader::with_capacity(READ_BUFFER, reader),
        writer,
        out: Vec::with_capacity(1024),
        peer: Peer {
            remote,
            local,
            helo: None,
            tls: false,
        },
        txn: None,
        refused: false,
        shared,
    };
    tokio::select! {
        result = session.serve() => match result {
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
}

/// An open mail transaction (between MAIL and the end of DATA).
struct Txn {
    from: String,
    rcpts: Vec<String>,
}

struct Session {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// Replies not yet written; flushed when no pipelined input is pending.
    out: Vec<u8>,
    peer: Peer,
    txn: Option<Txn>,
    /// The greeting refused service: only QUIT is allowed (RFC 5321 3.1).
    refused: bool,
    shared: Arc<Shared>,
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

        let mut line = Vec::with_capacity(MAX_COMMAND_LINE + 2);
        loop {
            line.clear();
            let (total, complete) =
                read_line(&mut self.reader, &mut line, MAX_COMMAND_LINE + 2).await?;
            if !complete {
                return Ok(()); // client closed the connection
            }
            let flow = self.handle_line(&line, total).await?;
            if self.finish(flow).await? {
                return Ok(());
            }
            if self.reader.buffer().is_empty() {
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
                self.writer.shutdown().await?;
                self.linger().await;
                Ok(true)
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
        let drain = async { while matches!(self.reader.read(&mut sink).await, Ok(n) if n > 0) {} };
        let _ = tokio::time::timeout(LINGER, drain).await;
    }

    async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.writer.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    fn send(&mut self, reply: &Reply) {
        reply.render(&mut self.out);
    }

    fn reply(&mut self, code: u16, text: &str) -> Flow {
        self.send(&Reply::new(code, text));
        Flow::Continue
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
        if total > raw.len() || content.len() > MAX_COMMAND_LINE {
            return Ok(self.reply(500, "5.5.2 Line too long"));
        }
        let Ok(text) = std::str::from_utf8(content) else {
            return Ok(self.reply(500, "5.5.2 Command line is not valid UTF-8"));
        };
        let cmd = command::parse(text);
        if self.refused && cmd != Command::Quit {
            return Ok(self.reply(503, "5.5.1 Service refused, only QUIT allowed"));
        }
        Ok(match cmd {
            Command::Ehlo(domain) => {
                self.peer.helo = Some(domain.to_owned());
                self.txn = None;
                self.out.extend_from_slice(&self.shared.ehlo_reply);
                Flow::Continue
            }
            Command::Helo(domain) => {
                self.peer.helo = Some(domain.to_owned());
                self.txn = None;
                let text = self.shared.hostname.clone();
                self.reply(250, &text)
            }
            Command::Mail { path, params } => self.mail(path, params),
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
            Command::NotImplemented => self.reply(502, "5.5.1 Command not implemented"),
            Command::Unknown => self.reply(500, "5.5.1 Command unrecognized"),
            Command::Syntax(text) => self.reply(501, text),
        })
    }

    fn mail(&mut self, from: &str, params: &str) -> Flow {
        if self.peer.helo.is_none() {
            return self.reply(503, "5.5.1 Send EHLO/HELO first");
        }
        if self.txn.is_some() {
            return self.reply(503, "5.5.1 Nested MAIL command");
        }
        if !from.is_empty() && !from.contains('@') {
            return self.reply(501, "5.1.7 Bad sender address syntax");
        }
        for (key, value) in command::params(params) {
            if key.eq_ignore_ascii_case("SIZE") {
                match value.and_then(|v| v.parse::<u64>().ok()) {
                    None => return self.reply(501, "5.5.4 Invalid SIZE parameter"),
                    Some(size) if size > self.shared.max_message_bytes as u64 => {
                        return self.reply(552, "5.3.4 Message size exceeds fixed limit");
                    }
                    Some(_) => {}
                }
            } else if key.eq_ignore_ascii_case("BODY") {
                let known = value.is_some_and(|v| {
                    v.eq_ignore_ascii_case("7BIT") || v.eq_ignore_ascii_case("8BITMIME")
                });
                if !known {
                    return self.reply(501, "5.5.4 Unsupported BODY type");
                }
            } else if key.eq_ignore_ascii_case("SMTPUTF8") && value.is_none() {
                // Accepted; addresses and headers may be UTF-8 either way.
            } else {
                return self.reply(555, "5.5.4 Unsupported MAIL parameter");
            }
        }
        let reply = self
            .shared
            .behavior
            .mail_from(&self.peer, from)
            .with_enhanced("2.1.0");
        if reply.is_positive() {
            self.txn = Some(Txn {
                from: from.to_owned(),
                rcpts: Vec::new(),
            });
        }
        self.outcome(&reply)
    }

    fn rcpt(&mut self, rcpt: &str, params: &str) -> Flow {
        let Some(txn) = &self.txn else {
            return self.reply(503, "5.5.1 Need MAIL command first");
        };
        if !rcpt.contains('@') && !rcpt.eq_ignore_ascii_case("postmaster") {
            return self.reply(501, "5.1.3 Bad recipient address syntax");
        }
        if !params.is_empty() {
            return self.reply(555, "5.5.4 Unsupported RCPT parameter");
        }
        if txn.rcpts.len() >= MAX_RECIPIENTS {
            return self.reply(452, "4.5.3 Too many recipients");
        }
        let reply = self
            .shared
            .behavior
            .rcpt_to(&self.peer, rcpt)
            .with_enhanced("2.1.5");
        if reply.is_positive()
            && let Some(txn) = &mut self.txn
        {
            txn.rcpts.push(rcpt.to_owned());
        }
        self.outcome(&reply)
    }

    async fn data(&mut self) -> io::Result<Flow> {
        match &self.txn {
            None => return Ok(self.reply(503, "5.5.1 Need MAIL command first")),
            Some(txn) if txn.rcpts.is_empty() => {
                return Ok(self.reply(503, "5.5.1 Need RCPT command first (no valid recipients)"));
            }
            Some(_) => {}
        }
        self.send(&Reply::new(354, "End data with <CR><LF>.<CR><LF>"));
        if self.reader.buffer().is_empty() {
            self.flush().await?;
        }
        let body = read_body(&mut self.reader, self.shared.max_message_bytes).await?;
        let Some(txn) = self.txn.take() else {
            return Ok(self.reply(503, "5.5.1 Need MAIL command first"));
        };
        let Some(data) = body else {
            return Ok(self.reply(552, "5.3.4 Message size exceeds fixed limit"));
        };
        let received_at = SystemTime::now();
        let mut msg = ReceivedMessage {
            id: self.shared.next_id(received_at),
            peer: self.peer.remote,
            local: self.peer.local,
            helo: self.peer.helo.clone().unwrap_or_default(),
            mail_from: txn.from,
            rcpt_to: txn.rcpts,
            data,
            received_at,
            outbox_path: None,
        };
        let reply = self
            .shared
            .behavior
            .data_end(&self.peer, &msg)
            .with_enhanced("2.0.0");
        if reply.is_positive() {
            if let Some(dir) = &self.shared.outbox {
                match write_outbox(dir, &msg.id, &msg.data).await {
                    Ok(path) => msg.outbox_path = Some(path),
                    Err(e) => {
                        tracing::warn!(dir = %dir.display(), error = %e, "writing .eml failed");
                        return Ok(self.reply(451, "4.3.0 Could not write message to outbox"));
                    }
                }
            }
            self.shared.record(msg);
        }
        Ok(self.outcome(&reply))
    }
}

/// Reads the DATA body up to the terminating `.` line, undoing dot-stuffing.
/// Returns `None` if it exceeded `max` bytes: the rest is read and discarded
/// so the connection stays in sync for the 552 reply.
async fn read_body<R: AsyncBufRead + Unpin>(r: &mut R, max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut overflow = false;
    loop {
        let start = data.len();
        // Store just enough to recognize the terminator once over the limit.
        let limit = if overflow { 3 } else { max - start + 3 };
        let (total, complete) = read_line(r, &mut data, limit).await?;
        if !complete {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed during DATA",
            ));
        }
        let line = &data[start..];
        if total <= 3 && (line == b".\r\n" || line == b".\n") {
            data.truncate(start);
            return Ok((!overflow).then_some(data));
        }
        let stuffed = line.first() == Some(&b'.');
        if overflow || start + total - usize::from(stuffed) > max {
            overflow = true;
            data.clear();
        } else if stuffed {
            data.remove(start);
        }
    }
}

/// Reads one line through `\n`, appending at most `limit` of its bytes to
/// `out` but consuming all of it. Returns the full line length and whether a
/// `\n` was found (false means EOF).
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    out: &mut Vec<u8>,
    limit: usize,
) -> io::Result<(usize, bool)> {
    let start = out.len();
    let mut total = 0;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok((total, false));
        }
        let (n, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = limit.saturating_sub(out.len() - start);
        out.extend_from_slice(&buf[..n.min(room)]);
        r.consume(n);
        total += n;
        if done {
            return Ok((total, true));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    async fn body(input: &[u8], max: usize) -> Option<Vec<u8>> {
        let mut r = BufReader::with_capacity(7, input); // tiny: lines span fills
        read_body(&mut r, max).await.unwrap()
    }

    #[tokio::test]
    async fn body_unstuffs_and_stops_at_dot() {
        let got = body(b"a\r\n..b\r\n.\r\nNEXT", 100).await.unwrap();
        assert_eq!(got, b"a\r\n.b\r\n");
        let got = body(b"x\n.\n", 100).await.unwrap();
        assert_eq!(got, b"x\n");
        let got = body(b".\r\n", 100).await.unwrap();
        assert!(got.is_empty());
    }

    #[tokio::test]
    async fn body_limit_is_exact() {
        assert_eq!(
            body(b"12345678\r\n.\r\n", 10).await.unwrap(),
            b"12345678\r\n"
        );
        assert!(body(b"123456789\r\n.\r\n", 10).await.is_none());
        assert!(body(b"1234\r\n1234\r\n...\r\n.\r\n", 10).await.is_none());
        // Stuffed dots do not count against the limit.
        assert_eq!(body(b"..12345\r\n.\r\n", 8).await.unwrap(), b".12345\r\n");
    }

    #[tokio::test]
    async fn body_eof_is_an_error() {
        let mut r = BufReader::new(&b"abc\r\n"[..]);
        assert!(read_body(&mut r, 100).await.is_err());
    }

    #[tokio::test]
    async fn read_line_reports_full_length() {
        let mut r = BufReader::with_capacity(4, &b"0123456789\nrest"[..]);
        let mut out = Vec::new();
        assert_eq!(read_line(&mut r, &mut out, 5).await.unwrap(), (11, true));
        assert_eq!(out, b"01234");
        out.clear();
        assert_eq!(read_line(&mut r, &mut out, 5).await.unwrap(), (4, false));
    }
}
