//! Reading command lines and DATA bodies from an untrusted client with bounded
//! memory and time: however long a line or body is, and however slowly it
//! arrives, the session holds at most its limit and waits at most its timeout.

use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Runs `io` for at most `limit`; running out is an [`io::ErrorKind::TimedOut`]
/// error, so callers handle a silent client like any other I/O failure.
pub(crate) async fn within<T>(
    limit: Duration,
    io: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    tokio::time::timeout(limit, io)
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}

/// Reads the DATA body up to the terminating `.` line, undoing dot-stuffing;
/// each line must arrive within the time `wait` gives when it is asked (the
/// idle timeout, or less when the session's lifetime ends sooner). Returns
/// `None` if it exceeded `max` bytes: the rest is read and discarded (keeping
/// a few bytes per line, to spot the terminator) so the connection stays in
/// sync for the 552 reply.
pub(crate) async fn read_body<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
    wait: impl Fn() -> Duration,
) -> io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut overflow = false;
    loop {
        let start = data.len();
        // Store just enough to recognize the terminator once over the limit.
        let limit = if overflow { 3 } else { max - start + 3 };
        let (total, complete) = within(wait(), read_line(r, &mut data, limit)).await?;
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
        if overflow {
            data.clear();
        } else if start + total - usize::from(stuffed) > max {
            overflow = true;
            data = Vec::new(); // give the memory back while discarding
        } else if stuffed {
            data.remove(start);
        }
    }
}

/// Reads one line through `\n`, appending at most `limit` of its bytes to
/// `out` but consuming all of it. Returns the full line length and whether a
/// `\n` was found (false means EOF).
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
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
    use tokio::io::{AsyncWriteExt, BufReader};

    use super::*;

    const IDLE: Duration = Duration::from_secs(5);

    async fn body(input: &[u8], max: usize) -> Option<Vec<u8>> {
        let mut r = BufReader::with_capacity(7, input); // tiny: lines span fills
        read_body(&mut r, max, || IDLE).await.unwrap()
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
    async fn oversized_body_is_consumed_through_the_terminator() {
        let mut input = vec![b'x'; 100_000];
        input.extend_from_slice(b"\r\n.\r\nNEXT");
        let mut r = BufReader::with_capacity(64, &input[..]);
        assert!(read_body(&mut r, 10, || IDLE).await.unwrap().is_none());
        let mut rest = Vec::new();
        read_line(&mut r, &mut rest, 100).await.unwrap();
        assert_eq!(rest, b"NEXT", "reader stops right after the terminator");
    }

    #[tokio::test]
    async fn body_eof_is_an_error() {
        let mut r = BufReader::new(&b"abc\r\n"[..]);
        assert!(read_body(&mut r, 100, || IDLE).await.is_err());
    }

    #[tokio::test]
    async fn silent_client_times_out_mid_body() {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b"first line\r\npartial").await.unwrap();
        let mut r = BufReader::new(server);
        let idle = Duration::from_millis(50);
        let err = read_body(&mut r, 100, || idle).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        drop(client);
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
