//! The TCP stream handed to lettre, and the greeting we read before lettre does.
//!
//! lettre's `connect_with_transport` reads the greeting and sends EHLO in one
//! call, so a server that never greets would only fail after the EHLO timeout,
//! and a 554 greeting would be reported as a generic error. Reading the greeting
//! ourselves gives it its own timeout and keeps the server's words; the bytes
//! are then replayed to lettre by [`Replay`], which parses them as usual.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use lettre::transport::smtp::client::AsyncTokioStream;
use sluice_model::SmtpReply;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::SmtpError;

/// Upper bound for a greeting (RFC 5321 allows multi-line ones, but not novels).
const MAX_GREETING: usize = 16 * 1024;

/// A TCP stream that first yields bytes already read from it.
pub(crate) struct Replay {
    buffered: Vec<u8>,
    pos: usize,
    inner: TcpStream,
}

impl Replay {
    pub(crate) fn new(buffered: Vec<u8>, inner: TcpStream) -> Self {
        Self {
            buffered,
            pos: 0,
            inner,
        }
    }
}

impl fmt::Debug for Replay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replay")
            .field("pending", &(self.buffered.len() - self.pos))
            .field("inner", &self.inner)
            .finish()
    }
}

impl AsyncRead for Replay {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.buffered.len() {
            let n = buf.remaining().min(this.buffered.len() - this.pos);
            buf.put_slice(&this.buffered[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.buffered.len() {
                this.buffered = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Replay {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl AsyncTokioStream for Replay {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }
}

/// Reads one complete (possibly multi-line) reply. Returns every byte read, for
/// [`Replay`], and the parsed reply. The caller applies the greeting timeout.
pub(crate) async fn read_greeting(
    stream: &mut TcpStream,
) -> Result<(Vec<u8>, SmtpReply), SmtpError> {
    let stage = "greeting";
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(reply) = parse_reply(&buf).map_err(|detail| SmtpError::Protocol {
            stage,
            detail: detail.to_owned(),
        })? {
            return Ok((buf, reply));
        }
        if buf.len() > MAX_GREETING {
            return Err(SmtpError::Protocol {
                stage,
                detail: "greeting too long".to_owned(),
            });
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| SmtpError::Network {
                stage,
                detail: e.to_string(),
            })?;
        if n == 0 {
            return Err(SmtpError::Network {
                stage,
                detail: "connection closed before the greeting".to_owned(),
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// `Ok(None)` until a final line (`NNN text` or `NNN`) has arrived; the text of
/// all lines is joined with spaces.
fn parse_reply(buf: &[u8]) -> Result<Option<SmtpReply>, &'static str> {
    let mut texts = Vec::new();
    let mut rest = buf;
    while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
        let line = std::str::from_utf8(&rest[..end]).map_err(|_| "greeting is not UTF-8")?;
        rest = &rest[end + 2..];
        let code = line
            .get(..3)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or("malformed greeting")?;
        let (last, text) = match line.as_bytes().get(3) {
            None => (true, ""),
            Some(b' ') => (true, &line[4..]),
            Some(b'-') => (false, &line[4..]),
            Some(_) => return Err("malformed greeting"),
        };
        texts.push(text);
        if last {
            return Ok(Some(SmtpReply::from_parts(code, &texts.join(" "))));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parses_single_and_multi_line_greetings() {
        assert_eq!(parse_reply(b"220 mx ESMTP"), Ok(None));
        let r = parse_reply(b"220 mx ESMTP ready\r\n").unwrap().unwrap();
        assert_eq!((r.code, r.message.as_str()), (220, "mx ESMTP ready"));
        assert_eq!(parse_reply(b"220-mx\r\n"), Ok(None));
        let r = parse_reply(b"554-mx\r\n554 5.7.1 no service\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.code, 554);
        assert_eq!(r.to_string(), "554 mx 5.7.1 no service");
        assert!(parse_reply(b"hello\r\n").is_err());
        assert_eq!(parse_reply(b"220\r\n").unwrap().unwrap().code, 220);
    }
}
