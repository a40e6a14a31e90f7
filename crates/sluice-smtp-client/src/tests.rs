//! Transaction semantics against the real sink (`sluice-smtp-server`) over TCP.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_smtp_server::{
    CueByLocalPart, Peer, Reply, SinkBehavior, SinkConfig, SinkHandle, SmtpSink,
};

use super::*;

pub(super) fn fast_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        greeting: Duration::from_secs(2),
        command: Duration::from_secs(2),
        data_init: Duration::from_secs(2),
        data_block: Duration::from_secs(2),
        data_end: Duration::from_secs(2),
    }
}

pub(super) fn pool_with(max_connections: usize) -> SmtpPool {
    SmtpPool::new(PoolConfig {
        max_connections_per_target: max_connections,
        timeouts: fast_timeouts(),
        ..PoolConfig::default()
    })
}

pub(super) fn target_for(addr: SocketAddr) -> RelayTarget {
    let mut target = RelayTarget::new(addr.ip().to_string(), addr.port(), "mta.sluice.test");
    target.tls = TlsMode::None;
    target
}

pub(super) fn envelope(to: &[&str], size_hint: usize) -> Envelope {
    Envelope {
        mail_from: Some("bounces@sluice.test".to_owned()),
        recipients: to.iter().map(|s| (*s).to_owned()).collect(),
        smtputf8: false,
        size_hint,
    }
}

pub(super) async fn sink(config: SinkConfig) -> SinkHandle {
    SmtpSink::start(config).await.expect("sink starts")
}

const MESSAGE: &[u8] = b"From: <a@sluice.test>\r\nTo: <ok@x.test>\r\nSubject: dots\r\n\r\n\
Hello\r\n.leading dot\r\n..two dots\r\n.\r\n \r\nend\r\n";

#[tokio::test]
async fn two_recipients_receive_the_exact_bytes() {
    let sink = sink(SinkConfig::default()).await;
    let pool = pool_with(4);
    let env = envelope(&["ok1@x.test", "ok2@y.test"], MESSAGE.len());
    let out = pool
        .send(&target_for(sink.local_addr()), &env, MESSAGE)
        .await
        .unwrap();
    assert_eq!(out.recipients.len(), 2);
    for ((rcpt, reply), want) in out.recipients.iter().zip(["ok1@x.test", "ok2@y.test"]) {
        assert_eq!(rcpt, want);
        assert_eq!(reply.code, 250, "{reply}");
        assert_eq!(reply.enhanced_code.as_deref(), Some("2.0.0"));
    }
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].data,
        MESSAGE,
        "{}",
        String::from_utf8_lossy(&got[0].data)
    );
    assert_eq!(got[0].rcpt_to, ["ok1@x.test", "ok2@y.test"]);
    assert_eq!(got[0].mail_from, "bounces@sluice.test");
    assert_eq!(got[0].helo, "mta.sluice.test");
}

#[tokio::test]
async fn a_body_without_final_crlf_gets_one_and_null_sender_works() {
    let sink = sink(SinkConfig::default()).await;
    let pool = pool_with(1);
    let mut env = envelope(&["ok@x.test"], 10);
    env.mail_from = None;
    let out = pool
        .send(
            &target_for(sink.local_addr()),
            &env,
            b"Subject: x\r\n\r\nno newline",
        )
        .await
        .unwrap();
    assert!(out.recipients[0].1.is_success());
    let got = sink.messages();
    assert_eq!(got[0].data, b"Subject: x\r\n\r\nno newline\r\n");
    assert_eq!(got[0].mail_from, "");

    let verp = "bounces+01HX=ok=x.test@sluice.test";
    env.mail_from = Some(verp.to_owned());
    let out = pool
        .send(&target_for(sink.local_addr()), &env, MESSAGE)
        .await
        .unwrap();
    assert!(out.recipients[0].1.is_success(), "{out:?}");
    assert_eq!(sink.messages()[1].mail_from, verp);
}

#[tokio::test]
async fn mixed_recipients_get_their_own_replies() {
    let sink = sink(SinkConfig {
        behavior: Arc::new(CueByLocalPart),
        ..SinkConfig::default()
    })
    .await;
    let pool = pool_with(1);
    let target = target_for(sink.local_addr());
    let env = envelope(
        &[
            "ok@x.test",
            "bounce@x.test",
            "defer@x.test",
            "not an address",
        ],
        100,
    );
    let out = pool.send(&target, &env, MESSAGE).await.unwrap();
    let codes: Vec<(u16, Option<&str>)> = out
        .recipients
        .iter()
        .map(|(_, r)| (r.code, r.enhanced_code.as_deref()))
        .collect();
    assert_eq!(
        codes,
        [
            (250, Some("2.0.0")),
            (550, Some("5.1.1")),
            (451, Some("4.7.1")),
            (553, Some("5.1.3"))
        ]
    );
    assert!(out.recipients[1].1.message.contains("no such user"));
    assert_eq!(out.delivered().collect::<Vec<_>>(), ["ok@x.test"]);
    assert!(sink.wait_for_count(1, Duration::from_secs(2)).await);
    assert_eq!(sink.count(), 1);
    assert_eq!(sink.messages()[0].rcpt_to, ["ok@x.test"]);

    // All refused: no DATA, RSET keeps the session usable for the next one.
    let env = envelope(&["bounce1@x.test", "defer2@x.test"], 100);
    let out = pool.send(&target, &env, MESSAGE).await.unwrap();
    assert_eq!(out.recipients[0].1.code, 550);
    assert_eq!(out.recipients[1].1.code, 451);
    let out = pool
        .send(&target, &envelope(&["ok@x.test"], 100), MESSAGE)
        .await
        .unwrap();
    assert!(out.recipients[0].1.is_success());
    assert_eq!(sink.count(), 2);
    assert_eq!(sink.connections_count(), 1);
}

#[tokio::test]
async fn a_421_ends_the_session_for_everyone_left() {
    let sink = sink(SinkConfig {
        behavior: Arc::new(CueByLocalPart),
        ..SinkConfig::default()
    })
    .await;
    let pool = pool_with(1);
    let target = target_for(sink.local_addr());
    let env = envelope(
        &[
            "ok@x.test",
            "bounce@x.test",
            "throttle@x.test",
            "ok2@x.test",
        ],
        1,
    );
    let out = pool.send(&target, &env, MESSAGE).await.unwrap();
    let codes: Vec<u16> = out.recipients.iter().map(|(_, r)| r.code).collect();
    assert_eq!(codes, [421, 550, 421, 421]);
    assert_eq!(pool.stats().targets[0].open, 0, "a 421 session is not kept");
    let out = pool
        .send(&target, &envelope(&["ok@x.test"], 1), MESSAGE)
        .await
        .unwrap();
    assert!(out.recipients[0].1.is_success());
    assert_eq!(sink.connections_count(), 2);
}

#[tokio::test]
async fn oversized_messages_fail_before_sending() {
    let sink = sink(SinkConfig {
        max_message_bytes: 1000,
        ..SinkConfig::default()
    })
    .await;
    let pool = pool_with(1);
    let target = target_for(sink.local_addr());
    let out = pool
        .send(&target, &envelope(&["a@x.test", "b@x.test"], 1001), MESSAGE)
        .await
        .unwrap();
    for (_, reply) in &out.recipients {
        assert_eq!(
            reply.to_string(),
            "552 5.3.4 Message size exceeds fixed maximum message size"
        );
        assert!(reply.is_permanent());
    }
    assert_eq!(sink.count(), 0);
    // The session was untouched and is reused.
    let out = pool
        .send(&target, &envelope(&["a@x.test"], 1000), MESSAGE)
        .await
        .unwrap();
    assert!(out.recipients[0].1.is_success());
    assert_eq!(sink.connections_count(), 1);
}

#[tokio::test]
async fn binds_the_source_address() {
    let sink = sink(SinkConfig::default()).await;
    let pool = pool_with(1);
    let mut target = target_for(sink.local_addr());
    let source: IpAddr = "127.0.0.2".parse().unwrap();
    target.source_ip = Some(source);
    pool.send(&target, &envelope(&["ok@x.test"], 1), MESSAGE)
        .await
        .unwrap();
    let ips = sink.source_ips();
    assert_eq!(ips.get(&source), Some(&1), "{ips:?}");
    assert_eq!(ips.len(), 1);
}

struct Silent;

impl SinkBehavior for Silent {
    fn greeting(&self, _peer: &Peer) -> Reply {
        Reply::hang()
    }
}

struct Refusing;

impl SinkBehavior for Refusing {
    fn greeting(&self, _peer: &Peer) -> Reply {
        Reply::new(554, "5.7.1 No service for you")
    }
}

#[tokio::test]
async fn a_server_that_never_greets_times_out() {
    let sink = sink(SinkConfig {
        behavior: Arc::new(Silent),
        ..SinkConfig::default()
    })
    .await;
    let pool = SmtpPool::new(PoolConfig {
        timeouts: Timeouts {
            greeting: Duration::from_millis(300),
            ..fast_timeouts()
        },
        ..PoolConfig::default()
    });
    let started = Instant::now();
    let err = pool
        .send(
            &target_for(sink.local_addr()),
            &envelope(&["a@x.test"], 1),
            MESSAGE,
        )
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(err, SmtpError::Timeout { stage: "greeting", after } if after == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    assert_eq!(pool.stats().targets[0].open, 0);
}

#[tokio::test]
async fn a_refusing_greeting_is_permanent_and_keeps_the_text() {
    let sink = sink(SinkConfig {
        behavior: Arc::new(Refusing),
        ..SinkConfig::default()
    })
    .await;
    let err = pool_with(1)
        .send(
            &target_for(sink.local_addr()),
            &envelope(&["a@x.test"], 1),
            MESSAGE,
        )
        .await
        .unwrap_err();
    let SmtpError::Greeting(reply) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(reply.to_string(), "554 5.7.1 No service for you");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn connection_refused_is_transient() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let target = target_for(SocketAddr::from(([127, 0, 0, 1], port)));
    let err = pool_with(1)
        .send(&target, &envelope(&["a@x.test"], 1), MESSAGE)
        .await
        .unwrap_err();
    assert!(matches!(err, SmtpError::Connect { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(err.to_string().contains(&port.to_string()), "{err}");
}

#[tokio::test]
async fn required_starttls_not_offered_fails_transiently() {
    let sink = sink(SinkConfig::default()).await;
    let mut target = target_for(sink.local_addr());
    target.tls = TlsMode::StartTls;
    let err = pool_with(1)
        .send(&target, &envelope(&["a@x.test"], 1), MESSAGE)
        .await
        .unwrap_err();
    assert!(matches!(err, SmtpError::Tls(_)), "{err:?}");
    assert!(err.is_transient());
    // Not offered: opportunistic goes ahead in plain text.
    target.tls = TlsMode::Opportunistic;
    let out = pool_with(1)
        .send(&target, &envelope(&["a@x.test"], 1), MESSAGE)
        .await
        .unwrap();
    assert!(out.recipients[0].1.is_success());
}

#[tokio::test]
async fn auth_without_a_common_mechanism_defers_instead_of_bouncing() {
    let sink = sink(SinkConfig::default()).await;
    let mut target = target_for(sink.local_addr());
    target.credentials = Some(("user".into(), "secret".into()));
    let err = pool_with(1)
        .send(&target, &envelope(&["a@x.test"], 1), MESSAGE)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SmtpError::Auth { reply: None, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(!err.to_string().contains("secret"));
}

#[tokio::test]
async fn credentials_never_go_over_a_session_without_verified_tls() {
    // The sink offers no STARTTLS. With credentials, opportunistic TLS becomes
    // required TLS: the attempt fails (transient) instead of authenticating in clear.
    let sink = sink(SinkConfig::default()).await;
    let mut target = target_for(sink.local_addr());
    target.tls = TlsMode::Opportunistic;
    target.credentials = Some(("user".into(), "secret".into()));
    let err = pool_with(1)
        .send(&target, &envelope(&["a@x.test"], 1), MESSAGE)
        .await
        .unwrap_err();
    assert!(matches!(err, SmtpError::Tls(_)), "{err:?}");
    assert!(err.to_string().contains("STARTTLS"), "{err}");
    assert!(err.is_transient());
    assert_eq!(sink.count(), 0);
}

#[tokio::test]
async fn the_single_write_body_path_is_byte_exact_too() {
    let sink = sink(SinkConfig::default()).await;
    let target = target_for(sink.local_addr());
    let mut conn = connect::connect(&target, &fast_timeouts(), &super::RelayTrust::default())
        .await
        .unwrap();
    conn.nagle = true; // as on implicit TLS sessions
    let bodies: [&[u8]; 4] = [MESSAGE, b".\r\n", b"", b"x\r\n.\r\n..\r\nno end"];
    for (i, body) in bodies.into_iter().enumerate() {
        let env = envelope(&["a@x.test"], 1);
        let done = transaction::run(&mut conn, &env, body, &fast_timeouts(), i > 0)
            .await
            .unwrap();
        assert!(done.outcome.recipients[0].1.is_success());
    }
    let got: Vec<Vec<u8>> = sink.messages().into_iter().map(|m| m.data).collect();
    assert_eq!(got[0], MESSAGE);
    assert_eq!(got[1], b".\r\n");
    assert_eq!(got[2], b"\r\n");
    assert_eq!(got[3], b"x\r\n.\r\n..\r\nno end\r\n");
}
