//! The inbound listener against hostile senders, over real SMTP to the listener that
//! `sluice::run::start` runs: a report built to make parsing slow, one host opening
//! many connections, reports forged to suppress someone else, and out-of-office
//! replies that must not count as bounces.
#![allow(clippy::unwrap_used)]

use crate::bounce_support;
use crate::common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

use bounce_support::{
    BOUNCE_DOMAIN, delivered, fixture, inbound, inject, rewrite, wait_for_event,
    wait_for_suppression,
};
use common::{TestEnv, simple_message};

/// Far more than any answer needs; a test that waits this long has failed.
const STUCK: Duration = Duration::from_secs(30);

/// A raw SMTP connection to the listener.
struct Smtp {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Smtp {
    async fn connect(addr: SocketAddr) -> Self {
        Self::from(TcpStream::connect(addr).await.unwrap())
    }

    async fn connect_from(source: IpAddr, addr: SocketAddr) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source, 0)).unwrap();
        Self::from(socket.connect(addr).await.unwrap())
    }

    fn from(stream: TcpStream) -> Self {
        let (read, writer) = stream.into_split();
        Self {
            reader: BufReader::new(read),
            writer,
        }
    }

    /// The next reply, all its lines joined; fails the test if none comes in time.
    async fn reply(&mut self) -> String {
        let read = async {
            let mut text = String::new();
            loop {
                let mut line = String::new();
                if self.reader.read_line(&mut line).await.unwrap() == 0 {
                    return text;
                }
                let last = line.as_bytes().get(3) != Some(&b'-');
                text.push_str(line.trim_end());
                if last {
                    return text;
                }
            }
        };
        tokio::time::timeout(STUCK, read)
            .await
            .expect("no reply in time")
    }

    async fn command(&mut self, line: &str) -> String {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }

    async fn assert_closed(&mut self) {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(STUCK, self.reader.read(&mut buf)).await;
        assert_eq!(read.expect("connection left open").unwrap_or(0), 0);
    }
}

/// Sends one report from the null sender and returns the end-of-data reply with how
/// long it took from the terminating dot (the body is on the wire by then).
async fn timed_report(addr: SocketAddr, rcpt: &str, data: &str) -> (String, Duration) {
    let mut smtp = Smtp::connect(addr).await;
    assert!(smtp.reply().await.starts_with("220"));
    assert!(
        smtp.command("EHLO mail.example.net")
            .await
            .starts_with("250")
    );
    assert!(smtp.command("MAIL FROM:<>").await.starts_with("250"));
    let rcpt_reply = smtp.command(&format!("RCPT TO:<{rcpt}>")).await;
    assert!(rcpt_reply.starts_with("250"), "{rcpt_reply}");
    assert!(smtp.command("DATA").await.starts_with("354"));
    let body = data.replace("\r\n", "\n").replace('\n', "\r\n");
    let body = body.replace("\r\n.", "\r\n..");
    smtp.writer.write_all(body.as_bytes()).await.unwrap();
    let started = Instant::now();
    smtp.writer.write_all(b"\r\n.\r\n").await.unwrap();
    let reply = smtp.reply().await;
    (reply, started.elapsed())
}

/// A `Received:` line of five megabytes that repeats `bounces+` and a ULID: every
/// occurrence looks like the start of a token and none is one. The old token search
/// read from each occurrence to the end of the text: hours for this line.
fn five_megabyte_line() -> String {
    let unit = "bounces+01jd4k5q8z6y2x1w0v9t8s7r6p-";
    format!("Received: {}\n", unit.repeat(5 * 1024 * 1024 / unit.len()))
}

/// `dsn` with `line` added at the top of its returned headers.
fn with_returned_line(dsn: &str, line: &str) -> String {
    let part = "Content-Type: text/rfc822-headers\nContent-Transfer-Encoding: 8bit\n\n";
    let at = dsn.find(part).expect("a returned-headers part") + part.len();
    format!("{}{line}{}", &dsn[..at], &dsn[at..])
}

fn events_for<'a>(view: &'a Value, address: &str) -> Vec<&'a Value> {
    view["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["recipient"] == address)
        .filter(|e| {
            ["message.bounced", "message.complained", "message.deferred"]
                .contains(&e["type"].as_str().unwrap_or_default())
        })
        .collect()
}

fn status_of(view: &Value, address: &str) -> Value {
    view["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .unwrap()["status"]
        .clone()
}

async fn is_suppressed(env: &TestEnv, key: &str, address: &str) -> bool {
    let response = env.get(key, &format!("/v1/suppressions/{address}")).await;
    response.status() == reqwest::StatusCode::OK
}

#[tokio::test]
async fn a_five_megabyte_token_line_is_answered_at_once_and_the_next_report_works() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    let postmaster = format!("postmaster@{BOUNCE_DOMAIN}");

    // Sent to postmaster, so the token can only come from the returned headers, where
    // the hostile line comes first.
    let (_, _, verp) = delivered(&env, &key, "ann@example.org", "transactional").await;
    let dsn = rewrite(
        &fixture("dsn-postfix-user-unknown.eml"),
        &verp,
        "nobody@example.org",
        "ann@example.org",
    );
    let hostile = with_returned_line(&dsn, &five_megabyte_line());
    let (reply, took) = timed_report(inbound(&env), &postmaster, &hostile).await;
    eprintln!(
        "5 MB token line before the token: `{reply}` {took:?} after the dot ({} bytes)",
        hostile.len()
    );
    assert!(
        reply.starts_with("250") || reply.starts_with('5'),
        "{reply}"
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");

    // The same line after the real return path: the report still bounces its recipient.
    let (id, _, verp) = delivered(&env, &key, "bob@example.org", "transactional").await;
    let dsn = rewrite(
        &fixture("dsn-postfix-user-unknown.eml"),
        &verp,
        "nobody@example.org",
        "bob@example.org",
    );
    let marker = "Received: from mta1.sluice.test";
    let hostile = dsn.replacen(marker, &format!("{}{marker}", five_megabyte_line()), 1);
    assert_ne!(hostile, dsn);
    let (reply, took) = timed_report(inbound(&env), &postmaster, &hostile).await;
    eprintln!("5 MB token line after the token: `{reply}` {took:?} after the dot");
    assert!(reply.starts_with("250"), "{reply}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    let bounce = wait_for_event(&env, &key, &id, "message.bounced").await;
    assert_eq!(bounce["recipient"], "bob@example.org");

    // A normal DSN right after is handled as always.
    let (id, _, verp) = delivered(&env, &key, "cat@example.org", "transactional").await;
    let dsn = rewrite(
        &fixture("dsn-gmail-address-not-found.eml"),
        &verp,
        "nobody@example.org",
        "cat@example.org",
    );
    let (reply, took) = timed_report(inbound(&env), &verp, &dsn).await;
    eprintln!("normal DSN after them: `{reply}` {took:?}");
    assert!(reply.starts_with("250"), "{reply}");
    let bounce = wait_for_event(&env, &key, &id, "message.bounced").await;
    assert_eq!(bounce["recipient"], "cat@example.org");
    wait_for_suppression(&env, &key, "cat@example.org").await;
    env.stop().await;
}

#[tokio::test]
async fn one_address_gets_ten_connections_and_the_eleventh_a_421() {
    let env = TestEnv::start().await;
    let addr = inbound(&env);
    let here = IpAddr::from([127, 0, 0, 1]);
    let mut held = Vec::new();
    for _ in 0..10 {
        let mut smtp = Smtp::connect_from(here, addr).await;
        assert!(smtp.reply().await.starts_with("220"));
        held.push(smtp);
    }
    let mut eleventh = Smtp::connect_from(here, addr).await;
    let refused = eleventh.reply().await;
    assert_eq!(
        refused,
        "421 4.7.0 Too many connections from your address, try again later"
    );
    eleventh.assert_closed().await;
    // The ten stay served, and another address still gets in.
    for smtp in &mut held {
        assert!(smtp.command("NOOP").await.starts_with("250"));
    }
    let mut other = Smtp::connect_from(IpAddr::from([127, 0, 0, 2]), addr).await;
    assert!(other.reply().await.starts_with("220"));
    env.stop().await;
}

#[tokio::test]
async fn a_forged_report_cannot_touch_a_co_recipient() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    // Bulk mail: each recipient's copy has its own return path naming that recipient.
    let mut body = simple_message("ann@example.org");
    body["to"] = json!(["ann@example.org", "bob@example.org"]);
    body["stream"] = "bulk".into();
    let id = env.send(&key, body).await;
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(15))
        .await;
    let copy_for = |address: &str| {
        env.sink
            .messages()
            .into_iter()
            .find(|m| m.rcpt_to == [address.to_string()])
            .unwrap()
            .mail_from
    };
    let (ann_verp, bob_verp) = (copy_for("ann@example.org"), copy_for("bob@example.org"));
    assert_ne!(ann_verp, bob_verp);

    // Ann holds her copy's return path and writes a DSN and a complaint naming Bob.
    let forged_dsn = rewrite(
        &fixture("dsn-postfix-user-unknown.eml"),
        &ann_verp,
        "nobody@example.org",
        "bob@example.org",
    );
    let replies = inject(inbound(&env), &ann_verp, &forged_dsn).await;
    assert!(replies[5].starts_with("250"), "{replies:?}");
    let forged_arf = rewrite(
        &fixture("arf-yahoo-abuse.eml"),
        &ann_verp,
        "reader@example.org",
        "bob@example.org",
    );
    let replies = inject(
        inbound(&env),
        &format!("abuse@{BOUNCE_DOMAIN}"),
        &forged_arf,
    )
    .await;
    assert!(replies[5].starts_with("250"), "{replies:?}");

    // They land on the recipient the token names, never on Bob.
    let complaint = wait_for_event(&env, &key, &id, "message.complained").await;
    assert_eq!(complaint["recipient"], "ann@example.org");
    wait_for_suppression(&env, &key, "ann@example.org").await;
    let view = env.message(&key, &id).await;
    assert_eq!(
        events_for(&view, "bob@example.org"),
        Vec::<&Value>::new(),
        "{view:#}"
    );
    assert_eq!(status_of(&view, "bob@example.org"), "delivered");
    assert_eq!(status_of(&view, "ann@example.org"), "bounced");
    assert!(!is_suppressed(&env, &key, "bob@example.org").await);

    // Bob's own return path with a real DSN does suppress him.
    let real = rewrite(
        &fixture("dsn-postfix-user-unknown.eml"),
        &bob_verp,
        "nobody@example.org",
        "bob@example.org",
    );
    let replies = inject(inbound(&env), &bob_verp, &real).await;
    assert!(replies[5].starts_with("250"), "{replies:?}");
    let suppressed = wait_for_suppression(&env, &key, "bob@example.org").await;
    assert_eq!(suppressed["reason"], "hard-bounce", "{suppressed:#}");
    let view = env.message(&key, &id).await;
    assert_eq!(status_of(&view, "bob@example.org"), "bounced");

    // A shared (several-recipient) token reaches only the message's own recipients:
    // a DSN naming an outsider changes nothing.
    let mut body = simple_message("jane@example.org");
    body["to"] = json!(["jane@example.org", "joe@example.org"]);
    let shared = env.send(&key, body).await;
    env.wait_for_status(&key, &shared, "delivered", Duration::from_secs(15))
        .await;
    let verp = env.sink.messages().pop().unwrap().mail_from;
    let outsider = rewrite(
        &fixture("dsn-postfix-user-unknown.eml"),
        &verp,
        "nobody@example.org",
        "carl@example.org",
    );
    let replies = inject(inbound(&env), &verp, &outsider).await;
    assert!(replies[5].starts_with("250"), "{replies:?}");
    let view = env.message(&key, &shared).await;
    for address in ["jane@example.org", "joe@example.org", "carl@example.org"] {
        assert_eq!(events_for(&view, address), Vec::<&Value>::new(), "{view:#}");
    }
    env.stop().await;
}

#[tokio::test]
async fn out_of_office_replies_are_not_bounces() {
    let env = TestEnv::start().await;
    let key = env.ready_tenant().await;
    let mut body = simple_message("ann@example.org");
    body["subject"] = "Undelivered package #1048".into();
    let id = env.send(&key, body).await;
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(15))
        .await;
    let verp = env.sink.messages().pop().unwrap().mail_from;
    // RFC 3834 responders answer the envelope sender: our VERP address. This one
    // echoes a subject that reads like a bounce and a date that reads like a status.
    let vacation = format!(
        "From: Ann <ann@example.org>\nTo: {verp}\nSubject: Automatic reply: Undelivered package #1048\n\
         Auto-Submitted: auto-replied\nX-Auto-Response-Suppress: All\n\n\
         I am out of the office until 4.12.25. For anything urgent write to deputy@example.org.\n"
    );
    let replies = inject(inbound(&env), &verp, &vacation).await;
    assert!(replies[5].starts_with("250"), "{replies:?}");
    let legacy = format!(
        "From: ann@example.org\nTo: {verp}\nSubject: Away: Undelivered package #1048\n\
         X-Autoreply: yes\nPrecedence: auto_reply\n\nBack on 4.12.25, ask deputy@example.org.\n"
    );
    let replies = inject(inbound(&env), &verp, &legacy).await;
    assert!(replies[5].starts_with("250"), "{replies:?}");

    let view = env.message(&key, &id).await;
    assert_eq!(
        events_for(&view, "ann@example.org"),
        Vec::<&Value>::new(),
        "{view:#}"
    );
    assert_eq!(status_of(&view, "ann@example.org"), "delivered");
    assert!(!is_suppressed(&env, &key, "ann@example.org").await);
    // Nothing was sent back: the only mail the sink ever saw is the original.
    assert_eq!(env.sink.count(), 1);
    env.stop().await;
}
