//! Pool behavior: the connection cap, reuse, stale sessions, limits, and a
//! throughput measurement (ignored by default).
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sluice_model::MessageStream;
use sluice_smtp_server::SinkConfig;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::tests::{envelope, fast_timeouts, pool_with, sink, target_for};
use super::*;

const MESSAGE: &[u8] = b"Subject: pool\r\n\r\nbody\r\n";

#[test]
fn pool_and_its_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync + Clone>() {}
    fn send<T: Send>(_: &T) {}
    send_sync::<SmtpPool>();
    let pool = pool_with(1);
    let target = RelayTarget::new("localhost", 25, "x.test");
    let env = envelope(&["a@x.test"], 1);
    send(&pool.send(&target, &env, MESSAGE));
    send(&pool.close_idle());
}

#[tokio::test]
async fn hundred_messages_share_two_connections() {
    let sink = sink(SinkConfig::default()).await;
    let pool = pool_with(2);
    let target = target_for(sink.local_addr());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let (pool, target) = (pool.clone(), target.clone());
        tasks.spawn(async move {
            let rcpt = format!("user{i}@x.test");
            pool.send(&target, &envelope(&[&rcpt], MESSAGE.len()), MESSAGE)
                .await
        });
    }
    while let Some(done) = tasks.join_next().await {
        let outcome = done.unwrap().unwrap();
        assert!(outcome.recipients[0].1.is_success());
    }
    assert_eq!(sink.count(), 100);
    assert!(
        sink.connections_count() <= 2,
        "{}",
        sink.connections_count()
    );
    let stats = pool.stats();
    assert!(stats.created_total <= 2, "{stats:?}");
    assert_eq!(stats.targets[0].in_use, 0);
    assert_eq!(stats.targets[0].open, stats.targets[0].idle);

    pool.close_idle().await;
    assert_eq!(pool.stats().targets[0].open, 0);
}

#[tokio::test]
async fn sessions_are_retired_after_max_messages_and_idle_timeout() {
    let sink = sink(SinkConfig::default()).await;
    let pool = SmtpPool::new(PoolConfig {
        max_connections_per_target: 4,
        reserved_per_target: 1,
        max_messages_per_connection: 3,
        idle_timeout: Duration::from_millis(200),
        timeouts: fast_timeouts(),
    });
    let target = target_for(sink.local_addr());
    for _ in 0..7 {
        pool.send(&target, &envelope(&["a@x.test"], 1), MESSAGE)
            .await
            .unwrap();
    }
    assert_eq!(sink.connections_count(), 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    pool.send(&target, &envelope(&["a@x.test"], 1), MESSAGE)
        .await
        .unwrap();
    assert_eq!(
        sink.connections_count(),
        4,
        "an expired idle session is not reused"
    );
    assert_eq!(pool.stats().targets[0].open, 1);
}

#[tokio::test]
async fn a_destination_can_retire_sessions_sooner_than_the_pool() {
    let sink = sink(SinkConfig::default()).await;
    let pool = SmtpPool::new(PoolConfig {
        max_connections_per_target: 1,
        reserved_per_target: 1,
        max_messages_per_connection: 100,
        idle_timeout: Duration::from_secs(30),
        timeouts: fast_timeouts(),
    });
    // A provider that wants at most 2 messages per connection.
    let mut target = target_for(sink.local_addr());
    target.max_messages_per_connection = Some(2);
    for _ in 0..5 {
        pool.send(&target, &envelope(&["a@x.test"], 1), MESSAGE)
            .await
            .unwrap();
    }
    assert_eq!(sink.connections_count(), 3);
}

/// Holds the end of DATA for recipients whose local part starts with `slow`.
struct SlowBulk;

impl sluice_smtp_server::SinkBehavior for SlowBulk {
    fn deliver<'a>(
        &'a self,
        _peer: &'a sluice_smtp_server::Peer,
        msg: &'a sluice_smtp_server::ReceivedMessage,
    ) -> sluice_smtp_server::DeliverFuture<'a> {
        let slow = msg.rcpt_to.iter().any(|r| r.starts_with("slow"));
        Box::pin(async move {
            if slow {
                // Under the tests' 2 s data_end timeout.
                tokio::time::sleep(Duration::from_millis(1500)).await;
            }
            sluice_smtp_server::Reply::ok()
        })
    }
}

#[tokio::test]
async fn bulk_leaves_the_reserved_connection_to_transactional_sends() {
    let sink = sink(SinkConfig {
        behavior: Arc::new(SlowBulk),
        ..SinkConfig::default()
    })
    .await;
    // Two connections, one of them reserved: bulk gets one, queued bulk waits for it.
    let pool = pool_with(2);
    let target = target_for(sink.local_addr());
    let mut bulk = tokio::task::JoinSet::new();
    for i in 0..3 {
        let (pool, target) = (pool.clone(), target.clone());
        bulk.spawn(async move {
            let rcpt = format!("slow{i}@x.test");
            let env = envelope(&[&rcpt], MESSAGE.len());
            pool.send_as(MessageStream::Bulk, &target, &env, MESSAGE)
                .await
        });
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        pool.stats().targets[0].in_use,
        1,
        "bulk holds one slot only"
    );
    let started = Instant::now();
    let env = envelope(&["otp@x.test"], MESSAGE.len());
    pool.send_as(MessageStream::Transactional, &target, &env, MESSAGE)
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(750),
        "the OTP waited for bulk: {:?}",
        started.elapsed()
    );
    assert_eq!(sink.count(), 1, "no bulk message was through yet");
    while let Some(done) = bulk.join_next().await {
        assert!(done.unwrap().unwrap().recipients[0].1.is_success());
    }
    assert_eq!(sink.count(), 4);
}

#[tokio::test]
async fn a_restarted_server_is_retried_transparently() {
    let first = sink(SinkConfig::default()).await;
    let addr = first.local_addr();
    let pool = pool_with(1);
    let target = target_for(addr);
    pool.send(&target, &envelope(&["a@x.test"], 1), MESSAGE)
        .await
        .unwrap();
    first.shutdown().await; // closes the pooled session's socket
    let second = sink(SinkConfig {
        listen: addr,
        ..SinkConfig::default()
    })
    .await;
    let out = pool
        .send(&target, &envelope(&["b@x.test"], 1), MESSAGE)
        .await
        .unwrap();
    assert!(out.recipients[0].1.is_success());
    assert_eq!(second.count(), 1);
    assert_eq!(pool.stats().created_total, 2);
}

/// How the raw server behaves around DATA.
#[derive(Clone, Copy)]
enum AfterData {
    Stay,
    Close,
    /// Queue a `421` (as Postfix does on its idle timeout), then close.
    Say421,
    /// Answer 354, then stop reading: the client's writes stall.
    StallBody,
    /// Read the body, never answer the final dot.
    SilentAfterDot,
}

/// A bare SMTP server advertising no extensions at all (no SIZE, SMTPUTF8 or
/// 8BITMIME); returns its address and counters (connections, messages).
async fn raw_server(after: AfterData) -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (conns, msgs) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (c, m) = (Arc::clone(&conns), Arc::clone(&msgs));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            let m = Arc::clone(&m);
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut r = BufReader::new(r);
                let mut line = String::new();
                w.write_all(b"220 raw ESMTP\r\n").await?;
                while {
                    line.clear();
                    r.read_line(&mut line).await? > 0
                } {
                    let cmd = line.to_ascii_uppercase();
                    if cmd.starts_with("EHLO") {
                        w.write_all(b"250 raw\r\n").await?;
                    } else if cmd.starts_with("QUIT") {
                        w.write_all(b"221 bye\r\n").await?;
                        break;
                    } else if cmd.starts_with("DATA") {
                        w.write_all(b"354 go\r\n").await?;
                        if matches!(after, AfterData::StallBody) {
                            std::future::pending::<()>().await;
                        }
                        while {
                            line.clear();
                            r.read_line(&mut line).await? > 0 && line != ".\r\n"
                        } {}
                        if matches!(after, AfterData::SilentAfterDot) {
                            std::future::pending::<()>().await;
                        }
                        m.fetch_add(1, Ordering::SeqCst);
                        w.write_all(b"250 2.0.0 ok\r\n").await?;
                        match after {
                            AfterData::Stay | AfterData::StallBody | AfterData::SilentAfterDot => {}
                            AfterData::Close => break,
                            AfterData::Say421 => {
                                w.write_all(b"421 4.4.2 raw Error: timeout exceeded\r\n")
                                    .await?;
                                break;
                            }
                        }
                    } else {
                        w.write_all(b"250 ok\r\n").await?;
                    }
                }
                std::io::Result::Ok(())
            });
        }
    });
    (addr, conns, msgs)
}

#[tokio::test]
async fn sessions_closed_while_idle_are_replaced_once() {
    for after in [AfterData::Close, AfterData::Say421] {
        let (addr, conns, msgs) = raw_server(after).await;
        let pool = pool_with(1);
        let target = target_for(addr);
        for i in 0..3 {
            // Let the server's close arrive before the session is reused.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let out = pool
                .send(&target, &envelope(&["a@x.test"], 1), MESSAGE)
                .await
                .unwrap_or_else(|e| panic!("send {i}: {e}"));
            assert_eq!(out.recipients[0].1.code, 250);
        }
        assert_eq!(msgs.load(Ordering::SeqCst), 3);
        assert_eq!(conns.load(Ordering::SeqCst), 3);
    }
}

#[tokio::test]
async fn stalled_bodies_and_silent_final_dots_time_out() {
    let pool = SmtpPool::new(PoolConfig {
        timeouts: Timeouts {
            data_block: Duration::from_millis(300),
            data_end: Duration::from_millis(300),
            ..fast_timeouts()
        },
        ..PoolConfig::default()
    });
    // Far more than the socket buffers hold, so writing blocks for good.
    let big = vec![b'x'; 64 << 20];
    let cases: [(AfterData, &[u8], &str); 2] = [
        (AfterData::StallBody, &big, "data_block"),
        (AfterData::SilentAfterDot, MESSAGE, "data_end"),
    ];
    for (mode, message, stage) in cases {
        let (addr, _, _) = raw_server(mode).await;
        let started = Instant::now();
        let err = pool
            .send(&target_for(addr), &envelope(&["a@x.test"], 0), message)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SmtpError::Timeout { stage: s, .. } if *s == stage),
            "{err:?}"
        );
        assert!(err.is_transient());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    assert!(pool.stats().targets.iter().all(|t| t.open == 0));
}

#[tokio::test]
async fn smtputf8_needs_server_support() {
    let (addr, _, msgs) = raw_server(AfterData::Stay).await;
    let pool = pool_with(1);
    let mut env = envelope(&["дмитрий@x.test", "b@x.test"], 1);
    env.smtputf8 = true;
    let out = pool.send(&target_for(addr), &env, MESSAGE).await.unwrap();
    for (_, reply) in &out.recipients {
        assert_eq!(
            reply.to_string(),
            "553 5.6.7 SMTPUTF8 not supported by the receiving server"
        );
    }
    assert_eq!(msgs.load(Ordering::SeqCst), 0);
    // A server without SIZE gets no SIZE= and no pre-flight size check.
    let out = pool
        .send(
            &target_for(addr),
            &envelope(&["b@x.test"], usize::MAX),
            MESSAGE,
        )
        .await
        .unwrap();
    assert_eq!(out.recipients[0].1.code, 250);

    // The sink supports SMTPUTF8: the UTF-8 address goes through.
    let sink = sink(SinkConfig::default()).await;
    let out = pool
        .send(&target_for(sink.local_addr()), &env, MESSAGE)
        .await
        .unwrap();
    assert!(
        out.recipients.iter().all(|(_, r)| r.is_success()),
        "{out:?}"
    );
    assert_eq!(sink.messages()[0].rcpt_to[0], "дмитрий@x.test");
}

/// Messages per second over 1 and 8 connections with a 3 KB message (client
/// and sink share the machine's cores). Run with `SLUICE_BENCH_MESSAGES=20000
/// cargo test -p sluice-smtp-client --release --lib tests_pool::throughput -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a check"]
async fn throughput() {
    let line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n";
    let mut message = b"From: <a@sluice.test>\r\nTo: <b@x.test>\r\nSubject: bench\r\n\r\n".to_vec();
    while message.len() < 3000 {
        message.extend_from_slice(line);
    }
    let message = Arc::new(message);
    for connections in [1usize, 8] {
        let sink = sink(SinkConfig {
            keep_in_memory: false,
            ..SinkConfig::default()
        })
        .await;
        let pool = pool_with(connections);
        let target = target_for(sink.local_addr());
        let total: usize = std::env::var("SLUICE_BENCH_MESSAGES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(4000);
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..connections {
            let (pool, target, message) = (pool.clone(), target.clone(), Arc::clone(&message));
            tasks.spawn(async move {
                let env = envelope(&["b@x.test"], message.len());
                for _ in 0..total / connections {
                    pool.send(&target, &env, &message).await.unwrap();
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(sink.count(), total as u64);
        println!(
            "{connections} connection(s): {total} messages of {} bytes in {secs:.2}s = {:.0} msg/s ({} sessions opened)",
            message.len(),
            total as f64 / secs,
            sink.connections_count()
        );
    }
}

/// Manual check against a real relay with STARTTLS/implicit TLS and AUTH, which
/// the sink does not offer. E.g. with aiosmtpd and a self-signed certificate:
/// `SLUICE_SMTP_SMOKE_URL='smtp+starttls://user:pw@127.0.0.1:8025?insecure=true'
/// cargo test -p sluice-smtp-client --lib tests_pool::external_relay -- --ignored`
#[tokio::test]
#[ignore = "needs an external SMTP server"]
async fn external_relay() {
    let url = std::env::var("SLUICE_SMTP_SMOKE_URL").expect("SLUICE_SMTP_SMOKE_URL");
    let target = RelayTarget::from_url(&url, "mta.sluice.test").unwrap();
    let count: u32 = std::env::var("SLUICE_SMTP_SMOKE_COUNT")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let pool = pool_with(1);
    let started = Instant::now();
    for _ in 0..count {
        let env = envelope(&["rcpt@x.test"], MESSAGE.len());
        let out = pool.send(&target, &env, MESSAGE).await.unwrap();
        assert!(out.recipients[0].1.is_success(), "{out:?}");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{count} messages in {secs:.2}s = {:.0} msg/s",
        f64::from(count) / secs
    );
    assert_eq!(pool.stats().created_total, u64::from(count.div_ceil(100)));
}
