//! Sending the message body after `354`, byte-exact and under the data timeouts.

use std::fmt::Display;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sluice_model::SmtpReply;

use crate::connect::{Connection, command};
use crate::error::{classify, reply_from_response};
use crate::{SmtpError, Timeouts};

/// How much of the body one write carries; the data-block timeout applies per
/// chunk, like RFC 5321's per-send timeout.
const CHUNK: usize = 64 * 1024;

/// Sends the body and returns the reply to the final dot.
///
/// lettre's `message()` dot-stuffs and then writes `\r\n.\r\n` itself, so a
/// body already ending in CRLF would arrive with an extra empty line: we strip
/// one trailing CRLF and the receiver gets exactly `message` (a body without a
/// final CRLF gets one, as RFC 5321 requires).
pub(crate) async fn send_body(
    conn: &mut Connection,
    message: &[u8],
    t: &Timeouts,
) -> Result<SmtpReply, SmtpError> {
    let body = message.strip_suffix(b"\r\n").unwrap_or(message);
    if conn.nagle
        && let Ok(text) = std::str::from_utf8(body)
    {
        return send_body_in_one_write(conn, text, t).await;
    }
    let progress = Progress::new();
    let chunks = Tracked {
        chunks: body.chunks(CHUNK),
        progress: &progress,
    };
    let sending = conn.inner.message_iter(chunks);
    tokio::pin!(sending);
    loop {
        let deadline = progress.last() + phase(&progress, t).1;
        tokio::select! {
            result = &mut sending => {
                return match result {
                    Ok(response) => Ok(reply_from_response(&response)),
                    Err(e) => classify(&e, phase(&progress, t).0),
                };
            }
            () = tokio::time::sleep_until(deadline.into()) => {
                // Progress may have moved the deadline while we slept.
                let (stage, after) = phase(&progress, t);
                if Instant::now() >= progress.last() + after {
                    return Err(SmtpError::Timeout { stage, after });
                }
            }
        }
    }
}

/// For sessions with Nagle's algorithm on: lettre writes the body and the
/// final dot separately, and that small second write then waits for the
/// receiver's delayed ACK of the first (~40 ms per message). `command()` writes
/// its whole argument at once, so the dot-stuffed body and the terminator go
/// out together as one "command". `command` takes `Display`, hence UTF-8 only
/// (other bodies take the regular path); one deadline covers both phases.
async fn send_body_in_one_write(
    conn: &mut Connection,
    body: &str,
    t: &Timeouts,
) -> Result<SmtpReply, SmtpError> {
    let mut data = String::with_capacity(body.len() + body.len() / 64 + 8);
    // Same transparency as lettre's codec (RFC 5321 4.5.2): a line is what
    // follows a CRLF.
    for line in body.split_inclusive("\r\n") {
        if line.starts_with('.') {
            data.push('.');
        }
        data.push_str(line);
    }
    data.push_str("\r\n.\r\n");
    command(conn, Verbatim(&data), t.data_block + t.data_end, "data_end").await
}

/// Text written to the session as is.
struct Verbatim<'a>(&'a str);

impl Display for Verbatim<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Writing the body is bounded per chunk, waiting for the final reply by `data_end`.
fn phase(progress: &Progress, t: &Timeouts) -> (&'static str, Duration) {
    if progress.written.load(Ordering::Acquire) {
        ("data_end", t.data_end)
    } else {
        ("data_block", t.data_block)
    }
}

/// When the last chunk finished writing, and whether all of them have.
struct Progress {
    start: Instant,
    last_ms: AtomicU64,
    written: AtomicBool,
}

impl Progress {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            written: AtomicBool::new(false),
        }
    }

    fn mark(&self, done: bool) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Release);
        if done {
            self.written.store(true, Ordering::Release);
        }
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Acquire))
    }
}

/// Body chunks that record progress: lettre asks for the next chunk only once
/// the previous one is written, and gets `None` once the body is out.
struct Tracked<'a> {
    chunks: std::slice::Chunks<'a, u8>,
    progress: &'a Progress,
}

impl<'a> Iterator for Tracked<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let chunk = self.chunks.next();
        self.progress.mark(chunk.is_none());
        chunk
    }
}
