//! Per-connection deadlines: what a connection is doing, and until when it may go on
//! doing it.
//!
//! hyper's own `header_read_timeout` restarts whenever hyper waits for a request head,
//! idle keep-alive waits included, so it would cap idle connections at the header
//! timeout (and close them under a load balancer that expects a longer keep-alive).
//! This clock keeps the two apart: it is told about bytes read and written (by
//! [`WatchedIo`]) and about requests handed to the router and answered (by
//! [`InFlight`]), and from that knows which deadline applies:
//!
//! - a new connection must deliver its first request head within the header timeout;
//! - between requests, the first byte of the next head starts the header timeout;
//! - a connection with nothing in flight and nothing received for the keep-alive
//!   timeout is idle and closed (bytes still being written to the client count as
//!   activity, so a large response is not cut);
//! - while the router has a request, no clock runs here: the request timeout bounds it.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Why a connection's clock ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// A request head did not arrive in full within the header timeout.
    HeaderTimeout,
    /// Nothing happened on a keep-alive connection for the keep-alive timeout.
    Idle,
}

impl Expiry {
    pub fn as_str(self) -> &'static str {
        match self {
            Expiry::HeaderTimeout => "header_timeout",
            Expiry::Idle => "idle",
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Opened at `since`; nothing received yet.
    Fresh { since: Instant },
    /// A request head began arriving at `since`.
    Head { since: Instant },
    /// `requests` heads complete and with the router, not yet answered.
    Busy { requests: usize },
    /// Between requests; the last activity was at `since`.
    Idle { since: Instant },
}

pub struct ConnectionClock {
    phase: Mutex<Phase>,
    /// Woken when a deadline may have moved earlier.
    changed: Notify,
    header_read_timeout: Duration,
    keep_alive_timeout: Duration,
}

impl ConnectionClock {
    pub fn new(header_read_timeout: Duration, keep_alive_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            phase: Mutex::new(Phase::Fresh {
                since: Instant::now(),
            }),
            changed: Notify::new(),
            header_read_timeout,
            keep_alive_timeout,
        })
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether nothing is under way: a graceful shutdown may close such a connection
    /// at once (hyper would wait for a request that may never come).
    pub fn is_quiet(&self) -> bool {
        matches!(*self.phase(), Phase::Fresh { .. } | Phase::Idle { .. })
    }

    /// Bytes arrived: on an idle connection, a new request head has begun.
    fn received(&self) {
        let mut phase = self.phase();
        match *phase {
            Phase::Idle { .. } => {
                *phase = Phase::Head {
                    since: Instant::now(),
                };
                drop(phase);
                self.changed.notify_one();
            }
            Phase::Fresh { since } => *phase = Phase::Head { since },
            Phase::Head { .. } | Phase::Busy { .. } => {}
        }
    }

    /// Bytes went out: a response still being written keeps its connection alive.
    fn sent(&self) {
        let mut phase = self.phase();
        if let Phase::Idle { .. } = *phase {
            *phase = Phase::Idle {
                since: Instant::now(),
            };
        }
    }

    /// A request head is complete and goes to the router; the guard marks its answer.
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Busy { requests } => Phase::Busy {
                requests: requests + 1,
            },
            _ => Phase::Busy { requests: 1 },
        };
        InFlight(Arc::clone(self))
    }

    fn request_finished(&self) {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Busy { requests } if requests > 1 => Phase::Busy {
                requests: requests - 1,
            },
            _ => Phase::Idle {
                since: Instant::now(),
            },
        };
        drop(phase);
        self.changed.notify_one();
    }

    fn deadline(&self) -> Option<(Instant, Expiry)> {
        match *self.phase() {
            Phase::Fresh { since } | Phase::Head { since } => {
                Some((since + self.header_read_timeout, Expiry::HeaderTimeout))
            }
            Phase::Idle { since } => Some((since + self.keep_alive_timeout, Expiry::Idle)),
            Phase::Busy { .. } => None,
        }
    }

    /// Resolves when the deadline that applies has passed.
    pub async fn expired(&self) -> Expiry {
        loop {
            let changed = self.changed.notified();
            match self.deadline() {
                None => changed.await,
                Some((at, why)) if at <= Instant::now() => return why,
                Some((at, _)) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = changed => {}
                    }
                }
            }
        }
    }
}

/// One request with the router; dropping it (answered, or abandoned) ends it.
pub struct InFlight(Arc<ConnectionClock>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// A socket that tells its connection's clock about the bytes it carries.
pub struct WatchedIo<S> {
    inner: S,
    clock: Arc<ConnectionClock>,
}

impl<S> WatchedIo<S> {
    pub fn new(inner: S, clock: Arc<ConnectionClock>) -> Self {
        Self { inner, clock }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WatchedIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.received();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WatchedIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.sent();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.sent();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    //! Real (short) timers: each deadline is checked from below, where it is exact, and
    //! from above only generously.
    use super::*;

    const HEAD: Duration = Duration::from_millis(200);
    const IDLE: Duration = Duration::from_millis(500);
    const GENEROUS: Duration = Duration::from_secs(5);

    async fn expiry(clock: &ConnectionClock) -> Expiry {
        tokio::time::timeout(GENEROUS, clock.expired())
            .await
            .unwrap_or_else(|_| panic!("no deadline passed within {GENEROUS:?}"))
    }

    #[tokio::test]
    async fn a_silent_new_connection_gets_the_header_timeout() {
        let clock = ConnectionClock::new(HEAD, IDLE);
        let start = Instant::now();
        assert_eq!(expiry(&clock).await, Expiry::HeaderTimeout);
        assert!(start.elapsed() >= HEAD);
    }

    #[tokio::test]
    async fn trickling_more_bytes_does_not_extend_a_head() {
        let clock = ConnectionClock::new(HEAD, IDLE);
        let start = Instant::now();
        let trickle = async {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                clock.received();
            }
        };
        let why = tokio::select! {
            why = expiry(&clock) => why,
            _ = trickle => unreachable!(),
        };
        assert_eq!(why, Expiry::HeaderTimeout);
        assert!(start.elapsed() >= HEAD);
    }

    #[tokio::test]
    async fn requests_in_flight_stop_the_clock_and_idle_connections_get_keep_alive() {
        let clock = ConnectionClock::new(HEAD, IDLE);
        clock.received();
        let request = clock.request_started();
        let waited = tokio::time::timeout(HEAD + IDLE, clock.expired()).await;
        assert!(
            waited.is_err(),
            "no deadline while the router has a request"
        );
        drop(request);
        assert!(clock.is_quiet());
        let idle_from = Instant::now();
        assert_eq!(expiry(&clock).await, Expiry::Idle);
        assert!(idle_from.elapsed() >= IDLE);
    }

    #[tokio::test]
    async fn the_next_head_on_an_idle_connection_gets_the_header_timeout() {
        let clock = ConnectionClock::new(HEAD, IDLE);
        drop(clock.request_started());
        tokio::time::sleep(IDLE / 2).await;
        clock.received();
        assert!(!clock.is_quiet());
        let head_from = Instant::now();
        assert_eq!(expiry(&clock).await, Expiry::HeaderTimeout);
        assert!(head_from.elapsed() >= HEAD);
    }

    #[tokio::test]
    async fn bytes_written_keep_an_idle_connection_alive() {
        let clock = ConnectionClock::new(HEAD, IDLE);
        drop(clock.request_started());
        let writing_until = Instant::now() + IDLE * 2;
        let writer = async {
            while Instant::now() < writing_until {
                tokio::time::sleep(Duration::from_millis(50)).await;
                clock.sent();
            }
            std::future::pending::<()>().await;
        };
        let why = tokio::select! {
            why = expiry(&clock) => why,
            () = writer => unreachable!(),
        };
        assert_eq!(why, Expiry::Idle);
        assert!(Instant::now() >= writing_until + IDLE - Duration::from_millis(60));
    }
}
