//! The API's HTTP listener against slow and abusive clients: the real `sluice api`
//! binary (its own process, so its file descriptors are not the test's), a real
//! redis-server, raw TCP clients.
//!
//! The 500-connection test stays under a default soft limit of 1024 descriptors on
//! both sides: the test holds 500 client sockets plus a few, the server 500 accepted
//! sockets plus its Redis connections.
#![allow(clippy::unwrap_used)]

use crate::common;
use crate::sluice_process;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use sluice_process::{SluiceProcess, base_env};
use sluice_store::embedded::EmbeddedRedis;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use common::simple_message;

struct Api {
    _dir: tempfile::TempDir,
    _redis: EmbeddedRedis,
    process: SluiceProcess,
    addr: SocketAddr,
}

impl Api {
    /// `sluice api` with `[http]` settings from `http` (`("HEADER_READ_TIMEOUT", "3s")`).
    async fn start(http: &[(&str, &str)]) -> Self {
        sluice_events::install_tls_provider();
        let dir = tempfile::tempdir().unwrap();
        let redis = EmbeddedRedis::start(&dir.path().join("redis"), true)
            .await
            .unwrap();
        let mut env = base_env(&redis.url());
        env.extend(
            http.iter()
                .map(|(key, value)| (format!("SLUICE_HTTP_{key}"), value.to_string())),
        );
        let mut process = SluiceProcess::start("api", dir.path(), &env);
        let addr = process.address("API listening").await;
        Self {
            _dir: dir,
            _redis: redis,
            process,
            addr,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A tenant with a send key and the domain `acme.test`; returns the key.
    async fn ready_key(&self) -> String {
        common::provision(&format!("http://{}", self.addr)).await
    }

    /// One send on a new connection; returns how long the 202 took.
    async fn timed_send(&self, key: &str) -> Duration {
        let client = reqwest::Client::new();
        let started = Instant::now();
        let response = client
            .post(self.url("/v1/messages"))
            .bearer_auth(key)
            .json(&simple_message("jane@example.com"))
            .send()
            .await
            .unwrap();
        let took = started.elapsed();
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        took
    }
}

/// Reads until the server closes the connection; returns everything it sent.
async fn read_to_close(stream: &mut TcpStream, timeout: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(timeout, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

enum Trickler {
    /// The server closed the connection this long after it was opened.
    Closed(Duration),
    /// The server answered something (it should not: no head was ever complete).
    Answered(String),
    StillOpen,
}

/// Sends a partial request head, then one header line every 2 s, until the server
/// closes the connection or `stop` is reached.
async fn trickle(addr: SocketAddr, connected: Arc<AtomicUsize>, stop: Instant) -> Trickler {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let opened = Instant::now();
    stream
        .write_all(b"POST /v1/messages HTTP/1.1\r\nHost: sluice.test\r\n")
        .await
        .unwrap();
    connected.fetch_add(1, Ordering::SeqCst);
    let mut buf = [0u8; 1024];
    let mut line = 0;
    let mut next_line = opened + Duration::from_secs(2);
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => return match read {
                Ok(0) | Err(_) => Trickler::Closed(opened.elapsed()),
                Ok(n) => Trickler::Answered(String::from_utf8_lossy(&buf[..n]).into_owned()),
            },
            _ = tokio::time::sleep_until(next_line) => {
                line += 1;
                next_line += Duration::from_secs(2);
                let header = format!("X-Trickle-{line}: {line}\r\n");
                if stream.write_all(header.as_bytes()).await.is_err() {
                    return Trickler::Closed(opened.elapsed());
                }
            }
            _ = tokio::time::sleep_until(stop) => return Trickler::StillOpen,
        }
    }
}

#[tokio::test]
async fn trickling_headers_are_cut_off_while_sends_stay_fast() {
    const CONNECTIONS: usize = 500;
    const HEADER_TIMEOUT: Duration = Duration::from_secs(3);
    let api = Api::start(&[("HEADER_READ_TIMEOUT", "3s")]).await;
    let key = api.ready_key().await;

    let connected = Arc::new(AtomicUsize::new(0));
    // Far past the header timeout: a connection still open then was never cut off.
    let stop = Instant::now() + Duration::from_secs(20);
    let tricklers: Vec<_> = (0..CONNECTIONS)
        .map(|_| tokio::spawn(trickle(api.addr, Arc::clone(&connected), stop)))
        .collect();
    let all_open = Instant::now() + Duration::from_secs(10);
    while connected.load(Ordering::SeqCst) < CONNECTIONS {
        assert!(
            Instant::now() < all_open,
            "could not open {CONNECTIONS} connections"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let last_opened = Instant::now();

    // Meanwhile, ordinary sends from another client.
    let mut latencies = Vec::new();
    for _ in 0..5 {
        latencies.push(api.timed_send(&key).await);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let slowest = latencies.iter().max().copied().unwrap_or_default();
    println!("send latencies with {CONNECTIONS} trickling connections: {latencies:?}");
    assert!(
        slowest < Duration::from_secs(1),
        "a send took {slowest:?} while connections trickled"
    );

    // Every trickler must be closed within the header timeout (plus slack for a busy box).
    tokio::time::sleep_until(last_opened + HEADER_TIMEOUT + Duration::from_secs(2)).await;
    let still_open = tricklers.iter().filter(|t| !t.is_finished()).count();
    println!(
        "{still_open} of {CONNECTIONS} trickling connections still open {:?} after the last opened",
        last_opened.elapsed()
    );
    let mut closed_after = Vec::new();
    for trickler in tricklers {
        match trickler.await.unwrap() {
            Trickler::Closed(after) => closed_after.push(after),
            Trickler::Answered(text) => panic!("a partial head was answered: {text}"),
            Trickler::StillOpen => panic!("a trickling connection was never closed"),
        }
    }
    assert_eq!(still_open, 0);
    closed_after.sort();
    let (first, last) = (closed_after[0], closed_after[closed_after.len() - 1]);
    println!("closed between {first:?} and {last:?} after opening");
    assert!(
        first >= HEADER_TIMEOUT - Duration::from_millis(100),
        "closed before the header timeout: {first:?}"
    );
    // The server is still serving.
    api.timed_send(&key).await;
}

#[tokio::test]
async fn a_trickled_body_gets_a_408_and_a_closed_connection() {
    let api = Api::start(&[("REQUEST_TIMEOUT", "2s")]).await;
    let key = api.ready_key().await;
    let mut stream = TcpStream::connect(api.addr).await.unwrap();
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nHost: sluice.test\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"from\": "
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    let answer = loop {
        tokio::select! {
            read = stream.read(&mut buf) => {
                let n = read.unwrap();
                assert!(n > 0, "closed without an answer");
                break String::from_utf8_lossy(&buf[..n]).into_owned();
            }
            _ = tokio::time::sleep(Duration::from_millis(300)) => {
                // One byte at a time: never finishes in time.
                assert!(started.elapsed() < Duration::from_secs(15), "no answer");
                let _ = stream.write_all(b" ").await;
            }
        }
    };
    println!("answered after {:?}", started.elapsed());
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/problem+json"),
        "{answer}"
    );
    assert!(lower.contains("connection: close"), "{answer}");
    assert!(
        answer.contains("urn:sluice:problem:request-timeout"),
        "{answer}"
    );
    assert!(
        read_to_close(&mut stream, Duration::from_secs(5))
            .await
            .is_some(),
        "the connection stays open after the 408"
    );
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_the_keep_alive_timeout() {
    let api = Api::start(&[("KEEP_ALIVE_TIMEOUT", "1s"), ("HEADER_READ_TIMEOUT", "10s")]).await;
    let mut stream = TcpStream::connect(api.addr).await.unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: sluice.test\r\n\r\n";
    for _ in 0..2 {
        // Kept alive between requests (well within the timeout).
        stream.write_all(request).await.unwrap();
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("{\"status\":\"ok\"}"), "{answer}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let idle_since = Instant::now() - Duration::from_millis(300);
    assert!(
        read_to_close(&mut stream, Duration::from_secs(10))
            .await
            .is_some(),
        "an idle connection stayed open"
    );
    let idle = idle_since.elapsed();
    println!("idle connection closed after {idle:?}");
    assert!(idle >= Duration::from_millis(900), "closed early: {idle:?}");
}

#[tokio::test]
async fn over_the_connection_cap_clients_wait_until_a_slot_frees() {
    let api = Api::start(&[("MAX_CONNECTIONS", "20"), ("HEADER_READ_TIMEOUT", "3s")]).await;
    // Twenty silent connections take every slot until the header timeout frees them.
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(TcpStream::connect(api.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let mut stream = TcpStream::connect(api.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: sluice.test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut stream, Duration::from_secs(15))
        .await
        .unwrap();
    let waited = started.elapsed();
    println!("the 21st connection was answered after {waited:?}");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        waited >= Duration::from_secs(2),
        "answered before any slot was free: {waited:?}"
    );
    for mut stream in silent {
        assert!(
            read_to_close(&mut stream, Duration::from_secs(5))
                .await
                .is_some()
        );
    }
}

#[tokio::test]
async fn shutdown_refuses_new_connections_and_finishes_the_request_in_flight() {
    let mut api = Api::start(&[]).await;
    let key = api.ready_key().await;
    let body = serde_json::to_string(&simple_message("jane@example.com")).unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(api.addr).await.unwrap();
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nHost: sluice.test\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    api.process.terminate();
    let refused = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(api.addr).await.is_ok() {
        assert!(Instant::now() < refused, "still accepting after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stream.write_all(rest.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut stream, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    let status = api.process.exited(Duration::from_secs(20)).await;
    assert!(status.success(), "{status:?}\n{}", api.process.log());
}
