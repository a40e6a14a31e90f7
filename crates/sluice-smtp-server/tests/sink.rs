//! End-to-end tests: a raw TCP SMTP client talking to the sink on loopback.
#![allow(clippy::unwrap_used)]

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use sluice_smtp_server::{CueByLocalPart, Peer, ReceivedMessage, Reply, SinkBehavior, SinkConfig};
use support::{Client, IO_TIMEOUT, start, start_default};
use tokio::io::AsyncBufReadExt;
use tokio::net::TcpStream;

#[tokio::test]
async fn full_transaction_is_received_byte_exactly() {
    let sink = start_default().await;
    let mut c = Client::connect(sink.local_addr()).await;
    let greeting = c.expect_reply(220).await;
    assert_eq!(greeting, "sink.localhost ESMTP sluice-sink");

    c.send("EHLO client.test\r\n").await;
    let (code, lines) = c.reply().await;
    assert_eq!(code, 250);
    assert_eq!(
        lines,
        [
            "sink.localhost",
            "PIPELINING",
            "SIZE 26214400",
            "8BITMIME",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES"
        ]
    );

    assert_eq!(
        c.expect("MAIL FROM:<sender@example.com> BODY=8BITMIME SIZE=100", 250)
            .await,
        "2.1.0 Ok"
    );
    assert_eq!(c.expect("RCPT TO:<a@example.org>", 250).await, "2.1.5 Ok");
    assert_eq!(c.expect("rcpt to:<b@example.org>", 250).await, "2.1.5 Ok");
    c.expect("DATA", 354).await;
    c.send("Subject: hi\r\n\r\n..leading dot\r\n..\r\nend\r\n.\r\n")
        .await;
    let queued = c.expect_reply(250).await;
    c.expect("QUIT", 221).await;
    c.assert_closed().await;

    let msgs = sink.messages();
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(queued, format!("2.0.0 Ok: queued as {}", m.id));
    assert_eq!(m.data, b"Subject: hi\r\n\r\n.leading dot\r\n.\r\nend\r\n");
    assert_eq!(m.mail_from, "sender@example.com");
    assert_eq!(m.rcpt_to, ["a@example.org", "b@example.org"]);
    assert_eq!(m.helo, "client.test");
    assert_eq!(m.local, sink.local_addr());
    assert_eq!(m.outbox_path, None);
    assert_eq!(sink.count(), 1);
    assert_eq!(sink.recipients_count(), 2);
    assert_eq!(sink.connections_count(), 1);
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let sink = start_default().await;
    let mut c = Client::connect(sink.local_addr()).await;
    c.expect_reply(220).await;
    c.send("EHLO p.test\r\nMAIL FROM:<a@p.test>\r\nRCPT TO:<x@q.test>\r\nRCPT TO:<y@q.test>\r\nDATA\r\n")
        .await;
    let (code, ehlo) = c.reply().await;
    assert_eq!((code, ehlo.len()), (250, 6));
    assert_eq!(c.expect_reply(250).await, "2.1.0 Ok");
    assert_eq!(c.expect_reply(250).await, "2.1.5 Ok");
    assert_eq!(c.expect_reply(250).await, "2.1.5 Ok");
    c.expect_reply(354).await;
    // Body, end of data and the next transaction in one write.
    c.send("one\r\n.\r\nRSET\r\nNOOP\r\nMAIL FROM:<>\r\nRCPT TO:<z@q.test>\r\nDATA\r\n")
        .await;
    assert!(
        c.expect_reply(250)
            .await
            .starts_with("2.0.0 Ok: queued as ")
    );
    assert_eq!(c.expect_reply(250).await, "2.0.0 Ok");
    assert_eq!(c.expect_reply(250).await, "2.0.0 Ok");
    assert_eq!(c.expect_reply(250).await, "2.1.0 Ok");
    assert_eq!(c.expect_reply(250).await, "2.1.5 Ok");
    c.expect_reply(354).await;
    c.send("two\r\n.\r\nQUIT\r\n").await;
    c.expect_reply(250).await;
    c.expect_reply(221).await;
    c.assert_closed().await;

    let msgs = sink.messages();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].rcpt_to, ["x@q.test", "y@q.test"]);
    assert_eq!(msgs[0].data, b"one\r\n");
    assert_eq!(msgs[1].mail_from, "");
    assert_eq!(msgs[1].data, b"two\r\n");
    assert_eq!(sink.recipients_count(), 3);
}

#[tokio::test]
async fn protocol_errors_get_the_right_codes() {
    let sink = start_default().await;
    let mut c = Client::connect(sink.local_addr()).await;
    c.expect_reply(220).await;
    c.expect("MAIL FROM:<a@b.c>", 503).await; // before EHLO
    c.send("HELO bare.lf\n").await; // bare LF accepted
    assert_eq!(c.expect_reply(250).await, "sink.localhost");
    c.expect("RCPT TO:<x@y.z>", 503).await;
    c.expect("DATA", 503).await;
    assert_eq!(c.expect("FROB", 500).await, "5.5.1 Command unrecognized");
    c.expect("STARTTLS", 502).await;
    c.expect(&format!("NOOP {}", "x".repeat(1200)), 500).await;
    c.expect("VRFY someone", 252).await;
    c.expect("MAIL FROM:no-brackets@b.c", 501).await;
    c.expect("MAIL FROM:<a@b.c> FOO=1", 555).await;
    c.expect("MAIL FROM:<a@b.c>", 250).await;
    c.expect("MAIL FROM:<a@b.c>", 503).await; // nested
    c.expect("DATA", 503).await; // no recipients yet
    c.expect("RCPT TO:<>", 501).await;
    c.expect("RCPT TO:<Postmaster>", 250).await;
    c.expect("RSET", 250).await;
    c.expect("RCPT TO:<x@y.z>", 503).await; // RSET ended the transaction
    c.expect("QUIT", 221).await;
    assert_eq!(sink.count(), 0);
}

#[tokio::test]
async fn cue_by_local_part_scripts_per_recipient_failures() {
    let sink = start(SinkConfig {
        behavior: Arc::new(CueByLocalPart),
        ..SinkConfig::default()
    })
    .await;
    let mut c = Client::connect(sink.local_addr()).await;
    c.hello().await;
    c.expect("MAIL FROM:<s@x.test>", 250).await;
    assert_eq!(
        c.expect("RCPT TO:<bounce@x.test>", 550).await,
        "5.1.1 Mailbox unavailable: no such user"
    );
    assert!(
        c.expect("RCPT TO:<Defer-7@x.test>", 451)
            .await
            .starts_with("4.7.1 ")
    );
    assert!(
        c.expect("RCPT TO:<full@x.test>", 552)
            .await
            .starts_with("5.2.2 ")
    );
    c.expect("RCPT TO:<ok@x.test>", 250).await;
    c.expect("DATA", 354).await;
    c.send("hello\r\n.\r\n").await;
    c.expect_reply(250).await;

    c.expect("MAIL FROM:<s@x.test>", 250).await;
    assert!(
        c.expect("RCPT TO:<throttle@x.test>", 421)
            .await
            .starts_with("4.7.0 ")
    );
    c.assert_closed().await;

    let msgs = sink.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].rcpt_to, ["ok@x.test"]);
    assert_eq!(sink.recipients_count(), 1);
}

#[tokio::test]
async fn oversized_messages_are_refused() {
    let sink = start(SinkConfig {
        max_message_bytes: 1000,
        ..SinkConfig::default()
    })
    .await;
    let mut c = Client::connect(sink.local_addr()).await;
    c.expect_reply(220).await;
    c.send("EHLO c.test\r\n").await;
    let (_, ehlo) = c.reply().await;
    assert!(ehlo.contains(&"SIZE 1000".to_owned()));

    assert_eq!(
        c.expect("MAIL FROM:<a@b.c> SIZE=1001", 552).await,
        "5.3.4 Message size exceeds fixed limit"
    );
    c.expect("MAIL FROM:<a@b.c> SIZE=900", 250).await;
    c.expect("RCPT TO:<r@b.c>", 250).await;
    c.expect("DATA", 354).await;
    let line = format!("{}\r\n", "y".repeat(98)); // 100 bytes per line
    c.send(&format!("{}.\r\n", line.repeat(11))).await;
    assert!(c.expect_reply(552).await.starts_with("5.3.4 "));

    // The session stays in sync and a message of exactly the limit passes.
    let reply = c.send_message("a@b.c", &["r@b.c"], &line.repeat(10)).await;
    assert!(reply.starts_with("2.0.0 "));
    assert_eq!(sink.count(), 1);
    assert_eq!(sink.messages()[0].data.len(), 1000);
}

#[tokio::test]
async fn outbox_gets_one_eml_per_message() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("nested/outbox");
    let sink = start(SinkConfig {
        outbox: Some(outbox.clone()),
        ..SinkConfig::default()
    })
    .await;
    let mut c = Client::connect(sink.local_addr()).await;
    c.hello().await;
    let body = "From: a@b.c\r\nSubject: eml\r\n\r\nbody \u{e9}\r\n";
    c.send_message("a@b.c", &["r@b.c"], body).await;

    let msg = &sink.messages()[0];
    let path = msg.outbox_path.clone().unwrap();
    assert_eq!(path, outbox.join(format!("{}.eml", msg.id)));
    assert_eq!(std::fs::read(&path).unwrap(), body.as_bytes());
    let names: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 1, "only the .eml, no temp files: {names:?}");
    let stem = names[0].strip_suffix(".eml").unwrap();
    let (millis, seq) = stem.split_once('-').unwrap();
    assert!(millis.parse::<u64>().unwrap() > 1_600_000_000_000);
    assert_eq!(seq.parse::<u64>().unwrap(), 1);
}

#[tokio::test]
async fn wait_for_count_wakes_without_polling() {
    let sink = start(SinkConfig {
        keep_in_memory: false,
        ..SinkConfig::default()
    })
    .await;
    let addr = sink.local_addr();
    let sender = tokio::spawn(async move {
        let mut c = Client::connect(addr).await;
        c.hello().await;
        for i in 0..3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            c.send_message("a@b.c", &["r@b.c", "s@b.c"], &format!("n{i}\r\n"))
                .await;
        }
        c.expect("QUIT", 221).await;
    });
    assert!(sink.wait_for_count(3, IO_TIMEOUT).await);
    assert_eq!(sink.count(), 3);
    assert_eq!(sink.recipients_count(), 6);
    assert!(sink.messages().is_empty(), "keep_in_memory is off");
    assert!(!sink.wait_for_count(4, Duration::from_millis(100)).await);
    sender.await.unwrap();
}

struct HangingGreeting;

impl SinkBehavior for HangingGreeting {
    fn greeting(&self, _peer: &Peer) -> Reply {
        Reply::hang()
    }
}

#[tokio::test]
async fn hanging_greeting_times_out_clients_until_shutdown() {
    let sink = start(SinkConfig {
        behavior: Arc::new(HangingGreeting),
        ..SinkConfig::default()
    })
    .await;
    let addr = sink.local_addr();
    let mut c = Client::connect(addr).await;
    let mut line = String::new();
    let read = tokio::time::timeout(Duration::from_millis(300), c.reader.read_line(&mut line));
    assert!(read.await.is_err(), "greeting should never arrive");
    assert!(line.is_empty());

    tokio::time::timeout(IO_TIMEOUT, sink.shutdown())
        .await
        .expect("shutdown must not wait for hanging sessions");
    c.assert_closed().await;
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
}

#[tokio::test]
async fn source_ips_count_messages_per_client_ip() {
    let sink = start_default().await;
    let alias = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let mut c = Client::connect_from(alias, sink.local_addr()).await;
    c.hello().await;
    c.send_message("a@b.c", &["r@b.c"], "1\r\n").await;
    c.send_message("a@b.c", &["r@b.c"], "2\r\n").await;
    let mut d = Client::connect(sink.local_addr()).await;
    d.hello().await;
    d.send_message("a@b.c", &["r@b.c"], "3\r\n").await;

    let ips = sink.source_ips();
    assert_eq!(ips.len(), 2);
    assert_eq!(ips[&alias], 2);
    assert_eq!(ips[&IpAddr::V4(Ipv4Addr::LOCALHOST)], 1);
    assert_eq!(sink.messages()[0].peer.ip(), alias);
    assert_eq!(sink.connections_count(), 2);
}

/// Rejects at end of data with a multi-line reply to exercise rendering.
struct RejectData;

impl SinkBehavior for RejectData {
    fn data_end(&self, _peer: &Peer, _msg: &ReceivedMessage) -> Reply {
        Reply::new(554, "5.7.1 Rejected\n5.7.1 by policy")
    }
}

#[tokio::test]
async fn rejected_data_is_not_counted() {
    let dir = tempfile::tempdir().unwrap();
    let sink = start(SinkConfig {
        behavior: Arc::new(RejectData),
        outbox: Some(dir.path().to_owned()),
        ..SinkConfig::default()
    })
    .await;
    let mut c = Client::connect(sink.local_addr()).await;
    c.hello().await;
    c.expect("MAIL FROM:<a@b.c>", 250).await;
    c.expect("RCPT TO:<r@b.c>", 250).await;
    c.expect("DATA", 354).await;
    c.send("x\r\n.\r\n").await;
    let (code, lines) = c.reply().await;
    assert_eq!(
        (code, lines),
        (
            554,
            vec!["5.7.1 Rejected".to_owned(), "5.7.1 by policy".to_owned()]
        )
    );
    assert_eq!(sink.count(), 0);
    assert!(sink.messages().is_empty());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn many_messages_on_one_connection_are_fast() {
    const N: u64 = 2000;
    let sink = start(SinkConfig {
        keep_in_memory: false,
        ..SinkConfig::default()
    })
    .await;
    let mut c = Client::connect(sink.local_addr()).await;
    c.hello().await;
    let started = std::time::Instant::now();
    for _ in 0..N {
        c.send("MAIL FROM:<a@b.c>\r\nRCPT TO:<r@b.c>\r\nDATA\r\n")
            .await;
        c.expect_reply(250).await;
        c.expect_reply(250).await;
        c.expect_reply(354).await;
        c.send("Subject: load\r\n\r\nbody\r\n.\r\n").await;
        c.expect_reply(250).await;
    }
    let elapsed = started.elapsed();
    assert_eq!(sink.count(), N);
    assert!(
        elapsed < Duration::from_secs(10),
        "{N} messages took {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_connections_are_served_independently() {
    let sink = start_default().await;
    let addr = sink.local_addr();
    let clients: Vec<_> = (0..40)
        .map(|i| {
            tokio::spawn(async move {
                let mut c = Client::connect(addr).await;
                c.hello().await;
                for j in 0..5 {
                    let to = format!("c{i}@x.test");
                    c.send_message("a@b.c", &[to.as_str()], &format!("{i}-{j}\r\n"))
                        .await;
                }
                c.expect("QUIT", 221).await;
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    assert_eq!(sink.count(), 200);
    assert_eq!(sink.connections_count(), 40);
    let msgs = sink.messages();
    for i in 0..40 {
        let mine: Vec<_> = msgs
            .iter()
            .filter(|m| m.rcpt_to[0] == format!("c{i}@x.test"))
            .map(|m| m.data.clone())
            .collect();
        let expected: Vec<_> = (0..5)
            .map(|j| format!("{i}-{j}\r\n").into_bytes())
            .collect();
        assert_eq!(mine, expected, "per-connection order is kept");
    }
}

struct RefuseService;

impl SinkBehavior for RefuseService {
    fn greeting(&self, _peer: &Peer) -> Reply {
        Reply::new(554, "5.7.1 No service for you")
    }
}

#[tokio::test]
async fn refused_greeting_only_allows_quit() {
    let sink = start(SinkConfig {
        behavior: Arc::new(RefuseService),
        ..SinkConfig::default()
    })
    .await;
    let mut c = Client::connect(sink.local_addr()).await;
    assert_eq!(c.expect_reply(554).await, "5.7.1 No service for you");
    c.expect("EHLO c.test", 503).await;
    c.expect("QUIT", 221).await;
    c.assert_closed().await;
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_sink() {
    let sink = start_default().await;
    let addr = sink.local_addr();
    let clone = sink.clone();
    drop(sink);
    Client::connect(addr).await.expect_reply(220).await; // clone keeps it alive
    drop(clone);
    let deadline = tokio::time::Instant::now() + IO_TIMEOUT;
    while TcpStream::connect(addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sink still listening"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
