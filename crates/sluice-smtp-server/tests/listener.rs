//! End-to-end tests of what the sink needs as the bounce domain's inbound
//! listener: the asynchronous hand-off, the limits and the RCPT policy.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_smtp_server::{
    AcceptAll, DeliverFuture, Peer, ReceivedMessage, RecipientDomains, Reply, SinkBehavior,
    SinkConfig,
};
use support::{Client, IO_TIMEOUT, start};
use tokio::sync::Semaphore;

/// Stores message ids after an await point, like a Redis write would; fails
/// the first delivery if asked to, like a Redis outage would.
struct Store {
    stored: Mutex<Vec<String>>,
    fail_next: AtomicBool,
    /// If set, each delivery waits for a permit: tests hold it in flight.
    gate: Option<Arc<Semaphore>>,
    /// Gets a permit when a delivery starts waiting at the gate.
    entered: Arc<Semaphore>,
}

impl Default for Store {
    fn default() -> Self {
        Self {
            stored: Mutex::default(),
            fail_next: AtomicBool::default(),
            gate: None,
            entered: Arc::new(Semaphore::new(0)),
        }
    }
}

impl Store {
    fn ids(&self) -> Vec<String> {
        self.stored.lock().unwrap().clone()
    }
}

impl SinkBehavior for Store {
    fn deliver<'a>(&'a self, _peer: &'a Peer, msg: &'a ReceivedMessage) -> DeliverFuture<'a> {
        Box::pin(async move {
            if let Some(gate) = &self.gate {
                self.entered.add_permits(1);
                gate.acquire().await.unwrap().forget();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            if self.fail_next.swap(false, Ordering::SeqCst) {
                return Reply::new(451, "4.3.0 Could not store the message, try again");
            }
            self.stored.lock().unwrap().push(msg.id.clone());
            Reply::new(250, format!("2.0.0 Stored as {}", msg.id))
        })
    }
}

fn with_behavior(behavior: Arc<dyn SinkBehavior>) -> SinkConfig {
    SinkConfig {
        behavior,
        ..SinkConfig::default()
    }
}

#[tokio::test]
async fn deliver_is_awaited_before_the_250() {
    let store = Arc::new(Store::default());
    let sink = start(with_behavior(store.clone())).await;
    let mut c = Client::connect(sink.local_addr()).await;
    c.hello().await;
    let reply = c
        .send_message("", &["r@b.test"], "Subject: dsn\r\n\r\n")
        .await;

    // The 250 is the handler's, and the handler had stored when it came.
    let ids = store.ids();
    assert_eq!(ids.len(), 1);
    assert_eq!(reply, format!("2.0.0 Stored as {}", ids[0]));
    assert_eq!(sink.count(), 1);
    assert_eq!(sink.messages()[0].id, ids[0]);
}

#[tokio::test] // single-threaded: a blocked handler would stall the other client
async fn slow_deliver_does_not_block_other_connections() {
    let gate = Arc::new(Semaphore::new(0));
    let store = Arc::new(Store {
        gate: Some(gate.clone()),
        ..Store::default()
    });
    let sink = start(with_behavior(store.clone())).await;
    let mut a = Client::connect(sink.local_addr()).await;
    a.hello().await;
    a.expect("MAIL FROM:<>", 250).await;
    a.expect("RCPT TO:<r@b.test>", 250).await;
    a.expect("DATA", 354).await;
    a.send("held\r\n.\r\n").await;
    store.entered.acquire().await.unwrap().forget(); // a's delivery is in flight

    let mut b = Client::connect(sink.local_addr()).await;
    b.hello().await;
    b.expect("NOOP", 250).await;
    b.expect("QUIT", 221).await;
    assert!(store.ids().is_empty(), "a's delivery still held");

    gate.add_permits(1);
    assert!(a.expect_reply(250).await.starts_with("2.0.0 Stored as "));
    assert_eq!(store.ids().len(), 1);
    assert_eq!(sink.count(), 1);
}

#[tokio::test]
async fn failed_deliver_gets_451_and_is_not_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::default());
    store.fail_next.store(true, Ordering::SeqCst);
    let sink = start(SinkConfig {
        outbox: Some(dir.path().to_owned()),
        ..with_behavior(store.clone())
    })
    .await;
    let mut c = Client::connect(sink.local_addr()).await;
    c.hello().await;
    c.expect("MAIL FROM:<>", 250).await;
    c.expect("RCPT TO:<r@b.test>", 250).await;
    c.expect("DATA", 354).await;
    c.send("first try\r\n.\r\n").await;
    assert_eq!(
        c.expect_reply(451).await,
        "4.3.0 Could not store the message, try again"
    );
    assert_eq!(sink.count(), 0);
    assert!(sink.messages().is_empty());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // The sending MTA retries, on the same connection here, and succeeds.
    c.send_message("", &["r@b.test"], "second try\r\n").await;
    assert_eq!(sink.count(), 1);
    assert_eq!(sink.messages()[0].data, b"second try\r\n");
    assert_eq!(store.ids().len(), 1);
}

#[tokio::test]
async fn too_many_recipients_get_452() {
    let sink = start(SinkConfig {
        max_recipients: 3,
        ..SinkConfig::default()
    })
    .await;
    let mut c = Client::connect(sink.local_addr()).await;
    c.hello().await;
    c.expect("MAIL FROM:<a@b.test>", 250).await;
    for i in 0..3 {
        c.expect(&format!("RCPT TO:<r{i}@b.test>"), 250).await;
    }
    assert_eq!(
        c.expect("RCPT TO:<r3@b.test>", 452).await,
        "4.5.3 Too many recipients"
    );
    c.expect("DATA", 354).await;
    c.send("x\r\n.\r\n").await;
    c.expect_reply(250).await;
    assert_eq!(sink.messages()[0].rcpt_to.len(), 3);
}

#[tokio::test]
async fn connections_beyond_the_limit_are_told_to_come_back_later() {
    let sink = start(SinkConfig {
        max_connections: 2,
        ..SinkConfig::default()
    })
    .await;
    let addr = sink.local_addr();
    let mut first = Client::connect(addr).await;
    first.hello().await;
    let mut second = Client::connect(addr).await;
    second.hello().await;

    let mut third = Client::connect(addr).await;
    assert_eq!(
        third.expect_reply(421).await,
        "4.3.2 Too busy, try again later"
    );
    third.assert_closed().await;
    second.expect("NOOP", 250).await; // the served ones are unaffected

    // A slot frees once a session has ended (after its close handshake).
    first.expect("QUIT", 221).await;
    first.assert_closed().await;
    drop(first);
    let deadline = tokio::time::Instant::now() + IO_TIMEOUT;
    loop {
        let mut next = Client::connect(addr).await;
        let (code, _) = next.reply().await;
        if code == 220 {
            next.expect("EHLO again.test", 250).await;
            break;
        }
        assert_eq!(code, 421);
        assert!(tokio::time::Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        sink.connections_count() >= 4,
        "refused ones count as accepted"
    );
}

#[tokio::test]
async fn over_long_command_lines_are_refused_and_not_buffered() {
    let sink = start(SinkConfig::default()).await;
    let mut c = Client::connect(sink.local_addr()).await;
    c.hello().await;
    // 512 octets including CRLF is the RFC 5321 limit: accepted, one more not.
    c.expect(&format!("NOOP {}", "x".repeat(505)), 250).await;
    assert_eq!(
        c.expect(&format!("NOOP {}", "x".repeat(506)), 500).await,
        "5.5.2 Line too long"
    );
    // Megabytes without a line end are read and dropped, not stored.
    c.expect(&format!("MAIL FROM:<{}@b.test>", "a".repeat(4 << 20)), 500)
        .await;
    c.expect("MAIL FROM:<a@b.test>", 250).await; // still in sync
}

#[tokio::test]
async fn idle_clients_are_disconnected_with_421() {
    let idle = SinkConfig {
        idle_timeout: Duration::from_millis(200),
        ..SinkConfig::default()
    };
    let sink = start(idle).await;
    let addr = sink.local_addr();

    // Silent between commands.
    let mut c = Client::connect(addr).await;
    c.hello().await;
    assert_eq!(
        c.expect_reply(421).await,
        "4.4.2 Idle timeout, closing connection"
    );
    c.assert_closed().await;

    // Dribbling a command line that never ends.
    let mut c = Client::connect(addr).await;
    c.hello().await;
    c.send("NOOP and then nothing").await;
    c.expect_reply(421).await;
    c.assert_closed().await;

    // Silent in the middle of DATA.
    let mut c = Client::connect(addr).await;
    c.hello().await;
    c.expect("MAIL FROM:<a@b.test>", 250).await;
    c.expect("RCPT TO:<r@b.test>", 250).await;
    c.expect("DATA", 354).await;
    c.send("Subject: half a message\r\n").await;
    c.expect_reply(421).await;
    c.assert_closed().await;
    assert_eq!(sink.count(), 0);
}

#[tokio::test]
async fn oversized_data_is_refused_with_552_and_the_session_stays_usable() {
    let sink = start(SinkConfig {
        max_message_bytes: 1000,
        ..SinkConfig::default()
    })
    .await;
    let mut c = Client::connect(sink.local_addr()).await;
    c.hello().await;
    c.expect("MAIL FROM:<>", 250).await; // no SIZE: found out while reading
    c.expect("RCPT TO:<r@b.test>", 250).await;
    c.expect("DATA", 354).await;
    let long_line = "z".repeat(3 << 20);
    c.send(&format!("{long_line}\r\n..\r\n{long_line}\r\n.\r\n"))
        .await;
    assert_eq!(
        c.expect_reply(552).await,
        "5.3.4 Message size exceeds fixed limit"
    );
    assert_eq!(sink.count(), 0);

    c.send_message("", &["r@b.test"], "small\r\n").await;
    assert_eq!(sink.count(), 1);
    assert_eq!(sink.messages()[0].data, b"small\r\n");
}

#[tokio::test]
async fn too_many_errors_close_the_session() {
    let sink = start(SinkConfig {
        max_errors: 3,
        ..SinkConfig::default()
    })
    .await;
    let mut c = Client::connect(sink.local_addr()).await;
    c.hello().await;
    c.expect("FROB", 500).await;
    c.expect("RCPT TO:<r@b.test>", 503).await;
    // An accepted message forgives earlier mistakes.
    c.send_message("a@b.test", &["r@b.test"], "x\r\n").await;
    c.expect("MAIL FROM:<a@b.test> FOO=1", 555).await;
    c.expect("MAIL FROM:no-brackets", 501).await;
    c.expect("STARTTLS", 502).await;
    assert_eq!(
        c.expect("FROB", 421).await,
        "4.7.0 Too many errors, closing connection"
    );
    c.assert_closed().await;
}

fn bounce_listener(store: Arc<Store>) -> SinkConfig {
    let policy = RecipientDomains::new(["bounce.example"], "bounces+", store);
    with_behavior(Arc::new(policy))
}

#[tokio::test]
async fn recipient_domains_deny_relaying_and_accept_role_accounts() {
    let store = Arc::new(Store::default());
    let sink = start(bounce_listener(store.clone())).await;
    let mut c = Client::connect(sink.local_addr()).await;
    c.hello().await;
    c.expect("MAIL FROM:<>", 250).await; // DSNs come from the null sender
    assert_eq!(
        c.expect("RCPT TO:<bounces+t0k3n@elsewhere.example>", 550)
            .await,
        "5.7.1 Relaying denied"
    );
    assert_eq!(
        c.expect("RCPT TO:<someone@bounce.example>", 550).await,
        "5.1.1 No such user"
    );
    c.expect("RCPT TO:<bounces+t0k3n@Bounce.Example>", 250)
        .await;
    c.expect("RCPT TO:<postmaster@bounce.example>", 250).await;
    c.expect("RCPT TO:<abuse@bounce.example>", 250).await;
    c.expect("RCPT TO:<Postmaster>", 250).await; // RFC 5321 4.5.1: no domain
    c.expect("DATA", 354).await;
    c.send("Content-Type: multipart/report\r\n\r\n.\r\n").await;
    assert!(c.expect_reply(250).await.starts_with("2.0.0 Stored as "));

    let msg = &sink.messages()[0];
    assert_eq!(msg.mail_from, "");
    assert_eq!(
        msg.rcpt_to,
        [
            "bounces+t0k3n@Bounce.Example",
            "postmaster@bounce.example",
            "abuse@bounce.example",
            "Postmaster"
        ]
    );
    assert_eq!(
        store.ids(),
        [msg.id.as_str()],
        "the inner behavior delivered"
    );
}

#[tokio::test]
async fn relay_probe_gets_nothing_through() {
    let policy = RecipientDomains::new(["bounce.example"], "bounces+", Arc::new(AcceptAll));
    let sink = start(with_behavior(Arc::new(policy))).await;
    let mut c = Client::connect(sink.local_addr()).await;
    c.hello().await;
    // Pipelined, as spammers do: with no recipient accepted, DATA is refused.
    c.send("MAIL FROM:<spammer@evil.example>\r\nRCPT TO:<victim@mail.example>\r\nDATA\r\n")
        .await;
    c.expect_reply(250).await;
    assert_eq!(c.expect_reply(550).await, "5.7.1 Relaying denied");
    c.expect_reply(503).await;
    c.expect("QUIT", 221).await;
    assert_eq!(sink.count(), 0);
}

#[tokio::test]
async fn one_ip_gets_only_its_share_of_connections() {
    let sink = start(SinkConfig {
        max_connections: 50,
        max_connections_per_ip: Some(3),
        ..SinkConfig::default()
    })
    .await;
    let addr = sink.local_addr();
    let here = std::net::IpAddr::from([127, 0, 0, 1]);
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = Client::connect_from(here, addr).await;
        c.hello().await;
        held.push(c);
    }
    let mut over = Client::connect_from(here, addr).await;
    assert_eq!(
        over.expect_reply(421).await,
        "4.7.0 Too many connections from your address, try again later"
    );
    over.assert_closed().await;
    // Another address is still served, and the held sessions are unaffected.
    let mut other = Client::connect_from(std::net::IpAddr::from([127, 0, 0, 2]), addr).await;
    other.hello().await;
    for c in &mut held {
        c.expect("NOOP", 250).await;
    }
    // Ending one session gives the address its slot back.
    let mut first = held.remove(0);
    first.expect("QUIT", 221).await;
    first.assert_closed().await;
    let deadline = tokio::time::Instant::now() + IO_TIMEOUT;
    loop {
        let mut next = Client::connect_from(here, addr).await;
        let (code, _) = next.reply().await;
        if code == 220 {
            break;
        }
        assert_eq!(code, 421);
        assert!(tokio::time::Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn sessions_end_at_their_lifetime_however_busy() {
    let sink = start(SinkConfig {
        idle_timeout: Duration::from_secs(10),
        max_session: Some(Duration::from_millis(400)),
        ..SinkConfig::default()
    })
    .await;
    let addr = sink.local_addr();

    // A client that keeps talking, each command well inside the idle timeout.
    let mut c = Client::connect(addr).await;
    c.hello().await;
    let started = tokio::time::Instant::now();
    let text = loop {
        c.send("NOOP\r\n").await;
        let (code, lines) = c.reply().await;
        if code == 421 {
            break lines.last().unwrap().clone();
        }
        assert_eq!(code, 250);
        assert!(started.elapsed() < IO_TIMEOUT, "never closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(text, "4.4.2 Session time limit reached, closing connection");
    c.assert_closed().await;

    // A client dribbling a DATA body, one line at a time.
    let mut c = Client::connect(addr).await;
    c.hello().await;
    c.expect("MAIL FROM:<>", 250).await;
    c.expect("RCPT TO:<r@b.test>", 250).await;
    c.expect("DATA", 354).await;
    let started = tokio::time::Instant::now();
    let closed = loop {
        c.send("a line\r\n").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        if started.elapsed() > Duration::from_millis(600) {
            break c.expect_reply(421).await;
        }
    };
    assert_eq!(
        closed,
        "4.4.2 Session time limit reached, closing connection"
    );
    assert_eq!(sink.count(), 0);
}
