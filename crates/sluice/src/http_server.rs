//! The HTTP listeners (the API, and the metrics-only listener): axum's router behind
//! hyper's HTTP/1.1 connections, with the limits `axum::serve` does not set. Without
//! them a client that sends a request head one line at a time, or a body one byte at a
//! time, holds a connection, a file descriptor and a task for as long as it likes, and
//! a few hundred such clients exhaust the process.
//!
//! - **Header timeout** (`http.header_read_timeout`): a request head must arrive in
//!   full within it, counted from its first byte (from the connection's opening for the
//!   first request); then the connection is closed.
//! - **Request timeout** (`http.request_timeout`): the router must answer within it,
//!   reading the body included; past it the client gets a 408 problem and the
//!   connection is closed (a half-read body cannot be skipped safely). A send that
//!   times out this way may still have been accepted, as with any client-side timeout:
//!   retry with the same `Idempotency-Key`.
//! - **Keep-alive timeout** (`http.keep_alive_timeout`): HTTP/1.1 connections are kept
//!   between requests, and closed after this long with nothing in flight and nothing
//!   received. See [`clock`] for why this is not hyper's own header timer.
//! - **Connection cap** (`http.max_connections`): at the cap the listener stops
//!   accepting, so new clients wait in the kernel's accept backlog and are taken as
//!   soon as a connection closes (the timeouts above guarantee one does soon) instead
//!   of being refused during a burst. When the backlog is full too, the kernel stops
//!   answering new connection attempts and clients time out connecting.
//! - **Graceful shutdown**: the listener closes at once (new connections are refused),
//!   connections with nothing under way are closed, requests in flight are answered
//!   (with `Connection: close`), and whatever is left after the request timeout is
//!   dropped.
//!
//! HTTP/1.1 only: h2c (cleartext HTTP/2 with prior knowledge) is not offered; a TLS
//! terminator in front may speak HTTP/2 to clients.

mod clock;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Request, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use sluice_api::problem::ApiError;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use clock::{ConnectionClock, WatchedIo};

/// The limits of one listener (`[http]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    pub header_read_timeout: Duration,
    pub request_timeout: Duration,
    pub keep_alive_timeout: Duration,
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(75),
            max_connections: 4096,
        }
    }
}

/// After the last request timeout of a shutdown, a moment for answers to be written.
const SHUTDOWN_SLACK: Duration = Duration::from_secs(1);

/// At most one "connection limit reached" warning per this long.
const LIMIT_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` is cancelled, then shuts down
/// gracefully (see the module doc). `name` labels logs and metrics (`api`, `metrics`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: CancellationToken,
    name: &'static str,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    // Cancelled when the shutdown's grace period is over: drops what is left.
    let abandon = CancellationToken::new();
    let mut last_limit_warning: Option<Instant> = None;
    loop {
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                metrics::counter!("sluice_http_connection_limit_reached_total", "listener" => name)
                    .increment(1);
                if last_limit_warning.is_none_or(|at| at.elapsed() >= LIMIT_WARNING_INTERVAL) {
                    last_limit_warning = Some(Instant::now());
                    tracing::warn!(
                        listener = name,
                        max_connections = limits.max_connections,
                        "connection limit reached; new clients wait in the accept backlog"
                    );
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    slot = Arc::clone(&slots).acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break, // never closed
                    },
                }
            }
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(name, e).await;
                    continue;
                }
            },
        };
        connections.spawn(serve_connection(Connection {
            stream,
            peer,
            router: router.clone(),
            limits,
            shutdown: shutdown.clone(),
            abandon: abandon.clone(),
            name,
            _slot: slot,
        }));
    }
    drop(listener);
    connections.close();
    let open = connections.len();
    if open > 0 {
        tracing::info!(
            listener = name,
            connections = open,
            "HTTP listener closed; finishing requests in flight"
        );
    }
    let grace = limits.request_timeout + SHUTDOWN_SLACK;
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            listener = name,
            connections = connections.len(),
            ?grace,
            "dropping connections still open after the shutdown grace period"
        );
        abandon.cancel();
        connections.wait().await;
    }
    Ok(())
}

/// Failing to accept one connection must not end the listener: resets are the
/// client's business; anything else (out of file descriptors, say) gets a pause.
async fn accept_failed(name: &'static str, error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(listener = name, %error, "accepting a connection failed; pausing 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: HttpLimits,
    shutdown: CancellationToken,
    abandon: CancellationToken,
    name: &'static str,
    /// Held while the connection lives: its place under `max_connections`.
    _slot: OwnedSemaphorePermit,
}

async fn serve_connection(connection: Connection) {
    let Connection {
        stream,
        peer,
        router,
        limits,
        shutdown,
        abandon,
        name,
        _slot,
    } = connection;
    let _ = stream.set_nodelay(true);
    let open = metrics::gauge!("sluice_http_connections", "listener" => name);
    open.increment(1.0);
    let clock = ConnectionClock::new(limits.header_read_timeout, limits.keep_alive_timeout);
    let service = {
        let clock = Arc::clone(&clock);
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let in_flight = clock.request_started();
            let router = router.clone();
            async move {
                let response = answer(router, request, limits.request_timeout, name).await;
                drop(in_flight);
                Ok::<_, Infallible>(response)
            }
        })
    };
    let io = TokioIo::new(WatchedIo::new(stream, Arc::clone(&clock)));
    let mut builder = hyper::server::conn::http1::Builder::new();
    // hyper's header timer is off: `clock` keeps the header and idle deadlines.
    builder.keep_alive(true).header_read_timeout(None);
    let conn = builder.serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(listener = name, %peer, %error, "HTTP connection ended with an error");
                }
                break;
            }
            why = clock.expired() => {
                metrics::counter!("sluice_http_connections_timed_out_total", "listener" => name, "reason" => why.as_str())
                    .increment(1);
                tracing::debug!(listener = name, %peer, reason = why.as_str(), "closing a connection");
                break;
            }
            _ = shutdown.cancelled(), if !draining => {
                if clock.is_quiet() {
                    break;
                }
                // Finish the request under way, then close.
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
            _ = abandon.cancelled() => break,
        }
    }
    open.decrement(1.0);
}

/// The router's answer, or a 408 problem once `timeout` has passed.
async fn answer(
    router: Router,
    request: Request<Incoming>,
    timeout: Duration,
    name: &'static str,
) -> Response {
    match tokio::time::timeout(timeout, router.oneshot(request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_) => {
            metrics::counter!("sluice_http_request_timeouts_total", "listener" => name)
                .increment(1);
            let mut response = ApiError::RequestTimeout(format!(
                "the request did not complete within {} s; it may or may not have taken effect",
                timeout.as_secs_f64()
            ))
            .into_response();
            // The body may be half read: the connection cannot carry another request.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}
