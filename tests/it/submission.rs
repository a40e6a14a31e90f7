//! SMTP submission end to end: real clients (Python's smtplib, swaks, lettre) over
//! real TLS (a test CA in `tests/fixtures/submission_tls`) submit to Sluice's
//! submission listeners; the message goes through the real queue and worker to the
//! test SMTP sink, DKIM-signed (checked with dkimpy), with its events and a
//! webhook. The refusals are spoken over a raw TCP connection: loopback clients may
//! AUTH in clear text (the rule for other clients is tested in
//! `crates/sluice-smtp-server/tests/tls_auth.rs`).
#![allow(clippy::unwrap_used)]

use crate::common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use common::{ADMIN_TOKEN, TestEnv, dkim_verify, domain_dkim_record, header, headers};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sluice::config::Config;
use sluice::run::Roles;
use sluice_smtp_server::AcceptAll;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/submission_tls")
        .join(name)
}

/// Sluice with both submission listeners on free loopback ports and the test
/// certificate, webhooks to loopback allowed.
async fn start(tweak: impl FnOnce(&mut Config)) -> TestEnv {
    TestEnv::start_with(Arc::new(AcceptAll), Roles::ALL, |c| {
        c.submission.listen = "127.0.0.1:0".into();
        c.submission.tls_listen = "127.0.0.1:0".into();
        c.submission.tls_cert = Some(fixture("server.pem"));
        c.submission.tls_key = Some(fixture("server.key"));
        c.webhook_allow_private = true;
        c.webhooks.retry_schedule = vec![Duration::from_millis(200); 5];
        tweak(c);
    })
    .await
}

fn listeners(env: &TestEnv) -> (SocketAddr, SocketAddr) {
    let running = env.running.as_ref().unwrap();
    (
        running.submission_addr.unwrap(),
        running.submission_tls_addr.unwrap(),
    )
}

/// The `msg_…` id in a 250 reply's text.
fn message_id(reply: &str) -> String {
    reply
        .split(|c: char| c.is_whitespace() || c == ')' || c == '(')
        .find(|w| w.starts_with("msg_"))
        .unwrap_or_else(|| panic!("no message id in {reply:?}"))
        .to_string()
}

/// A small HTTP receiver that records the JSON of every webhook.
async fn webhook_receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let record = record.clone();
        async move {
            if let Ok(json) = serde_json::from_slice(&body) {
                record.lock().unwrap().push(json);
            }
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// Waits until the sink holds message `id` (found by its Message-ID: Sluice's,
/// or the client's own, as the message view says).
async fn delivered(env: &TestEnv, key: &str, id: &str) -> sluice_smtp_server::ReceivedMessage {
    let view = env.message(key, id).await;
    let message_id = view["message_id_header"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let found = env
            .sink
            .messages()
            .into_iter()
            .find(|m| header(&headers(&m.data), "Message-ID") == Some(message_id.as_str()));
        if let Some(found) = found {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{id} never reached the sink"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const SCAN: &str = "From: Acme Printer <scanner@acme.test>\r\n\
To: Jane <jane@example.com>\r\n\
Subject: Scan from the third floor\r\n\
X-Sluice-Stream: bulk\r\n\
X-Sluice-Tags: scan, floor-3\r\n\
X-Sluice-Metadata-device: mfp-7\r\n\
Bcc: audit@example.com\r\n\
X-Custom: kept\r\n\
\r\n\
Your scan is attached.\r\n\
.a line that starts with a dot\r\n";

const SMTPLIB: &str = r#"
import smtplib, ssl, sys
host, port, cafile, key = sys.argv[1:5]
message = sys.stdin.buffer.read()
s = smtplib.SMTP(host, int(port), local_hostname="printer.acme.test", timeout=20)
s.ehlo()
print("PLAIN-EHLO", "starttls" in s.esmtp_features)
s.starttls(context=ssl.create_default_context(cafile=cafile))
s.ehlo()
print("TLS-AUTH", s.esmtp_features.get("auth", ""))
s.login("apikey", key)
s.mail("scanner@acme.test")
s.rcpt("jane@example.com")
s.rcpt("audit@example.com")
code, reply = s.data(message)
print("DATA", code, reply.decode())
s.quit()
"#;

#[tokio::test]
async fn smtplib_over_starttls_reaches_the_sink_signed_with_events_and_a_webhook() {
    let env = start(|_| {}).await;
    let key = env.ready_tenant().await;
    let (hook_url, hooks) = webhook_receiver().await;
    let created = env
        .post(
            &key,
            "/v1/webhooks",
            json!({"url": hook_url, "events": ["message.delivered"]}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let (plain, _) = listeners(&env);

    let python = std::env::var("SLUICE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut child = tokio::process::Command::new(python)
        .args(["-c", SMTPLIB, "127.0.0.1", &plain.port().to_string()])
        .arg(fixture("ca.pem"))
        .arg(&key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(SCAN.as_bytes())
        .await
        .unwrap();
    let output = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("PLAIN-EHLO True"), "{stdout}");
    assert!(stdout.contains("TLS-AUTH  PLAIN LOGIN"), "{stdout}");
    let data = stdout.lines().find(|l| l.starts_with("DATA 250")).unwrap();
    assert!(data.contains("2.0.0"), "{data}");
    let id = message_id(data);

    let received = delivered(&env, &key, &id).await;
    // Bulk mail goes one recipient per transaction (each its own return path): the
    // Bcc recipient gets the same message, without the Bcc header.
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(20))
        .await;
    let message_id_header = header(&headers(&received.data), "Message-ID")
        .unwrap()
        .to_string();
    let mut rcpts: Vec<String> = env
        .sink
        .messages()
        .into_iter()
        .filter(|m| header(&headers(&m.data), "Message-ID") == Some(message_id_header.as_str()))
        .flat_map(|m| m.rcpt_to)
        .collect();
    rcpts.sort();
    assert_eq!(rcpts, ["audit@example.com", "jane@example.com"]);
    let (txt, name) = domain_dkim_record(&env, &key, "acme.test").await;
    assert_eq!(dkim_verify(&received.data, &txt, &name), "PASS");
    let sent = headers(&received.data);
    let names: Vec<String> = sent.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
    assert!(!names.contains(&"bcc".to_string()), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("x-sluice")),
        "{names:?}"
    );
    assert_eq!(header(&sent, "X-Custom"), Some("kept"));
    assert_eq!(header(&sent, "Subject"), Some("Scan from the third floor"));
    assert_eq!(
        header(&sent, "Message-ID").unwrap(),
        format!("<{id}@acme.test>")
    );
    assert!(header(&sent, "Date").is_some());
    let body = String::from_utf8_lossy(&received.data).to_string();
    assert!(
        body.contains("\r\n\r\nYour scan is attached.\r\n.a line that starts with a dot\r\n"),
        "{body}"
    );

    let view = env
        .wait_for_status(&key, &id, "delivered", Duration::from_secs(20))
        .await;
    let from = view["from"].as_str().unwrap();
    assert!(
        from.contains("Acme Printer") && from.contains("<scanner@acme.test>"),
        "{from}"
    );
    assert_eq!(view["subject"], "Scan from the third floor");
    assert_eq!(view["stream"], "bulk");
    assert_eq!(view["tags"], json!(["scan", "floor-3"]));
    assert_eq!(view["metadata"], json!({"device": "mfp-7"}));
    let kinds: Vec<(String, String)> = view["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap().to_string(),
                r["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("jane@example.com".into(), "to".into())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("audit@example.com".into(), "bcc".into())),
        "{kinds:?}"
    );
    let events: Vec<&str> = view["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"message.accepted"), "{events:?}");
    assert!(events.contains(&"message.delivered"), "{events:?}");

    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = hooks.lock().unwrap().clone();
        let delivered_hooks = got
            .iter()
            .filter(|h| h["type"] == "message.delivered" && h.to_string().contains(&id))
            .count();
        if delivered_hooks == 2 {
            break; // one per recipient
        }
        assert!(std::time::Instant::now() < deadline, "webhooks: {got:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    env.stop().await;
}

/// Runs swaks with `args`, returning what it printed (the dialogue).
async fn swaks(args: &[&str]) -> String {
    let output = tokio::process::Command::new("swaks")
        .args(args)
        .output()
        .await
        .expect("swaks is not installed (scripts/test.sh installs it: apt-get install swaks)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "swaks failed:\n{text}");
    text
}

#[tokio::test]
async fn swaks_submits_over_starttls_and_implicit_tls() {
    let env = start(|_| {}).await;
    let key = env.ready_tenant().await;
    let (plain, implicit) = listeners(&env);
    let ca = fixture("ca.pem");
    let ca = ca.to_str().unwrap();
    let mut ids = Vec::new();
    for (addr, tls, auth) in [
        (plain, "--tls", "LOGIN"),
        (implicit, "--tls-on-connect", "PLAIN"),
    ] {
        let port = addr.port().to_string();
        let out = swaks(&[
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            tls,
            "--tls-verify",
            "--tls-ca-path",
            ca,
            "--auth",
            auth,
            "--auth-user",
            "apikey",
            "--auth-password",
            &key,
            "--from",
            "alerts@acme.test",
            "--to",
            "oncall@example.com",
            "--header",
            "Subject: Disk almost full",
            "--body",
            "Disk /var is 91% full.",
        ])
        .await;
        let accepted = out
            .lines()
            .find(|l| l.contains("<~  250 2.0.0 Ok: queued as"))
            .unwrap_or_else(|| panic!("no 250 after DATA:\n{out}"));
        ids.push(message_id(accepted));
    }
    let (txt, name) = domain_dkim_record(&env, &key, "acme.test").await;
    for id in &ids {
        let received = delivered(&env, &key, id).await;
        assert_eq!(received.rcpt_to, ["oncall@example.com"]);
        assert_eq!(dkim_verify(&received.data, &txt, &name), "PASS");
        env.wait_for_status(&key, id, "delivered", Duration::from_secs(20))
            .await;
    }
    env.stop().await;
}

#[tokio::test]
async fn lettre_submits_with_verified_tls() {
    use lettre::address::Envelope;
    use lettre::transport::smtp::authentication::{Credentials, Mechanism};
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

    let env = start(|_| {}).await;
    let key = env.ready_tenant().await;
    let (plain, implicit) = listeners(&env);
    let ca = Certificate::from_pem(&std::fs::read(fixture("ca.pem")).unwrap()).unwrap();
    let params = TlsParameters::builder("127.0.0.1".into())
        .add_root_certificate(ca)
        .build_rustls()
        .unwrap();
    let envelope = Envelope::new(
        Some("app@acme.test".parse().unwrap()),
        vec!["user@example.com".parse().unwrap()],
    )
    .unwrap();
    let (txt, name) = domain_dkim_record(&env, &key, "acme.test").await;
    for (addr, tls, mechanism) in [
        (plain, Tls::Required(params.clone()), Mechanism::Plain),
        (implicit, Tls::Wrapper(params.clone()), Mechanism::Login),
    ] {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(addr.port())
            .tls(tls)
            .credentials(Credentials::new("apikey".into(), key.clone()))
            .authentication(vec![mechanism])
            .build();
        let message =
            "From: app@acme.test\r\nTo: user@example.com\r\nSubject: Welcome\r\n\r\nHello.\r\n";
        let response = transport
            .send_raw(&envelope, message.as_bytes())
            .await
            .unwrap();
        let text: Vec<&str> = response.message().collect();
        let id = message_id(&text.join(" "));
        let received = delivered(&env, &key, &id).await;
        assert_eq!(dkim_verify(&received.data, &txt, &name), "PASS");
    }
    env.stop().await;
}

/// A raw SMTP client over plain TCP (clear-text AUTH is allowed from loopback).
struct Raw {
    reader: BufReader<TcpStream>,
}

impl Raw {
    async fn connect(addr: SocketAddr) -> Self {
        let mut raw = Self {
            reader: BufReader::new(TcpStream::connect(addr).await.unwrap()),
        };
        assert_eq!(raw.reply().await.0, 220);
        raw
    }

    async fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let read =
                tokio::time::timeout(Duration::from_secs(10), self.reader.read_line(&mut line));
            assert!(read.await.unwrap().unwrap() > 0, "connection closed");
            text.push_str(&line);
            if line.as_bytes().get(3) == Some(&b' ') {
                return (line[..3].parse().unwrap(), text);
            }
        }
    }

    async fn command(&mut self, line: &str) -> (u16, String) {
        self.reader
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }

    async fn auth(&mut self, key: &str) -> (u16, String) {
        let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0apikey\0{key}"));
        self.command(&format!("AUTH PLAIN {plain}")).await
    }

    /// MAIL, RCPT and DATA for `message`; the reply to the end of data.
    async fn send(&mut self, from: &str, message: &str) -> (u16, String) {
        assert_eq!(self.command(&format!("MAIL FROM:<{from}>")).await.0, 250);
        assert_eq!(self.command("RCPT TO:<user@example.com>").await.0, 250);
        assert_eq!(self.command("DATA").await.0, 354);
        self.command(&format!("{message}\r\n.")).await
    }
}

#[tokio::test]
async fn refusals_say_what_is_wrong() {
    let env = start(|c| c.max_message_bytes = 4096).await;
    let key = env.ready_tenant().await;
    let (_, read_only) = env.tenant_with_key(&["read"]).await;
    let (plain, _) = listeners(&env);

    let mut smtp = Raw::connect(plain).await;
    let (_, ehlo) = smtp.command("EHLO client.test").await;
    for extension in [
        "STARTTLS",
        "AUTH PLAIN LOGIN",
        "SIZE 4096",
        "8BITMIME",
        "SMTPUTF8",
        "PIPELINING",
        "ENHANCEDSTATUSCODES",
    ] {
        assert!(ehlo.contains(extension), "{extension} missing: {ehlo}");
    }
    let (code, text) = smtp.command("MAIL FROM:<a@acme.test>").await;
    assert_eq!((code, &text[4..9]), (530, "5.7.0"), "{text}");
    let (code, text) = smtp.auth("sk_live_not_a_key").await;
    assert_eq!((code, &text[4..9]), (535, "5.7.8"), "{text}");
    let (code, text) = smtp.auth(&read_only).await;
    assert!(code == 535 && text.contains("send scope"), "{text}");
    // The third failure closes the connection.
    let (code, _) = smtp.auth("sk_live_still_wrong").await;
    assert_eq!(code, 535);
    assert_eq!(smtp.reply().await.0, 421);

    let mut smtp = Raw::connect(plain).await;
    smtp.command("EHLO client.test").await;
    assert_eq!(smtp.auth(&key).await.0, 235);
    let (code, text) = smtp.command("MAIL FROM:<someone@foreign.test>").await;
    assert_eq!((code, &text[4..9]), (553, "5.7.1"), "{text}");
    let (code, text) = smtp.command("MAIL FROM:<a@acme.test> SIZE=5000").await;
    assert_eq!((code, &text[4..9]), (552, "5.3.4"), "{text}");
    // Envelope on the tenant's domain, header From not: 553 after DATA.
    let (code, text) = smtp
        .send("a@acme.test", "From: boss@foreign.test\r\n\r\nhi")
        .await;
    assert_eq!((code, &text[4..9]), (553, "5.7.1"), "{text}");
    let big = format!("From: a@acme.test\r\n\r\n{}", "x\r\n".repeat(2000));
    let (code, text) = smtp.send("a@acme.test", &big).await;
    assert_eq!((code, &text[4..9]), (552, "5.3.4"), "{text}");
    let (code, text) = smtp
        .send(
            "a@acme.test",
            "From: a@acme.test\r\nX-Sluice-Stream: urgent\r\n\r\nhi",
        )
        .await;
    assert_eq!((code, &text[4..9]), (554, "5.6.0"), "{text}");
    assert!(text.contains("X-Sluice-Stream"), "{text}");
    // The session goes on after refusals: a good message is accepted.
    let (code, text) = smtp
        .send("a@acme.test", "From: a@acme.test\r\nSubject: ok\r\n\r\nhi")
        .await;
    assert_eq!(code, 250, "{text}");
    delivered(&env, &key, &message_id(&text)).await;
    env.stop().await;
}

#[tokio::test]
async fn quotas_and_idempotency_are_the_apis() {
    let env = start(|_| {}).await;
    let (tenant, key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    let domain = env
        .post(&key, "/v1/domains", json!({"name": "acme.test"}))
        .await;
    assert_eq!(domain.status(), StatusCode::CREATED);
    let patched = env
        .http
        .patch(env.url(&format!("/v1/admin/tenants/{tenant}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"quotas": {
            "transactional": {"per_second": 1, "burst": 1, "per_day": 1000},
            "bulk": {"per_second": 1000, "burst": 1000, "per_day": 2}
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let (plain, _) = listeners(&env);
    let mut smtp = Raw::connect(plain).await;
    smtp.command("EHLO client.test").await;
    assert_eq!(smtp.auth(&key).await.0, 235);

    // The first message spends the rate's burst of 1: the next, at once, gets
    // 451 4.7.1 with the wait (the rate refills one a second).
    let once = "From: a@acme.test\r\nIdempotency-Key: job-1\r\n\r\nhi";
    let (code, first) = smtp.send("a@acme.test", once).await;
    assert_eq!(code, 250, "{first}");
    let (code, text) = smtp
        .send("a@acme.test", "From: a@acme.test\r\n\r\nsecond")
        .await;
    assert_eq!((code, &text[4..9]), (451, "4.7.1"), "{text}");
    assert!(text.contains("try again in "), "{text}");
    // The same key and message again: the same id, nothing sent twice.
    let (code, again) = smtp.send("a@acme.test", once).await;
    assert_eq!(code, 250, "{again}");
    assert_eq!(message_id(&again), message_id(&first));
    // The same key with another message: refused.
    let (code, text) = smtp
        .send(
            "a@acme.test",
            "From: a@acme.test\r\nIdempotency-Key: job-1\r\n\r\nother",
        )
        .await;
    assert_eq!((code, &text[4..9]), (554, "5.6.0"), "{text}");
    // Bulk's daily quota is 2: the third bulk message gets 452 4.5.3.
    let bulk = "From: a@acme.test\r\nX-Sluice-Stream: bulk\r\n\r\nnews";
    assert_eq!(smtp.send("a@acme.test", bulk).await.0, 250);
    assert_eq!(smtp.send("a@acme.test", bulk).await.0, 250);
    let (code, text) = smtp.send("a@acme.test", bulk).await;
    assert_eq!((code, &text[4..9]), (452, "4.5.3"), "{text}");
    assert!(text.contains("try again in "), "{text}");
    env.stop().await;
}

#[tokio::test]
async fn redis_down_is_a_temporary_failure() {
    let mut env = start(|_| {}).await;
    let key = env.ready_tenant().await;
    let (plain, _) = listeners(&env);
    let mut smtp = Raw::connect(plain).await;
    smtp.command("EHLO client.test").await;
    assert_eq!(smtp.auth(&key).await.0, 235);
    assert_eq!(smtp.command("MAIL FROM:<a@acme.test>").await.0, 250);
    assert_eq!(smtp.command("RCPT TO:<user@example.com>").await.0, 250);
    assert_eq!(smtp.command("DATA").await.0, 354);
    let common::TestRedis::Single(redis) = std::mem::replace(
        &mut env.redis,
        common::TestRedis::Single(
            sluice_store::embedded::EmbeddedRedis::start(&env.dir.path().join("other"), false)
                .await
                .unwrap(),
        ),
    ) else {
        unreachable!()
    };
    redis.kill().await;
    let (code, text) = smtp.command("From: a@acme.test\r\n\r\nhi\r\n.").await;
    assert_eq!((code, &text[4..9]), (451, "4.3.0"), "{text}");
    drop(smtp);
    // Stopping waits on a Redis that is gone: not part of what is tested.
    let _ = tokio::time::timeout(Duration::from_secs(10), env.stop()).await;
}

/// A sandbox key's submission is simulated like its API sends (nothing reaches the
/// receiver, the view says `test`); a tenant whose bulk the reputation guard paused
/// gets 451 4.7.1 for bulk and still sends transactional mail.
#[tokio::test]
async fn sandbox_keys_and_the_bulk_pause_apply_to_submission() {
    let env = start(|_| {}).await;
    let (tenant, key) = env.tenant_with_key(&["send", "read", "admin"]).await;
    let domain = env
        .post(&key, "/v1/domains", json!({"name": "acme.test"}))
        .await;
    assert_eq!(domain.status(), StatusCode::CREATED);
    let created = env
        .admin_post(
            &format!("/v1/admin/tenants/{tenant}/api-keys"),
            json!({"scopes": ["send"], "mode": "test"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let test_key = created["key"].as_str().unwrap().to_string();
    let (plain, _) = listeners(&env);

    let mut sandbox = Raw::connect(plain).await;
    sandbox.command("EHLO client.test").await;
    assert_eq!(sandbox.auth(&test_key).await.0, 235);
    let (code, text) = sandbox
        .send(
            "a@acme.test",
            "From: a@acme.test\r\nSubject: t\r\n\r\nsimulated",
        )
        .await;
    assert_eq!(code, 250, "{text}");
    let simulated = message_id(&text);
    let view = env
        .wait_for_status(&key, &simulated, "delivered", Duration::from_secs(20))
        .await;
    assert_eq!(view["test"], true, "{view:#}");
    assert_eq!(env.sink.count(), 0, "a sandbox message left the machine");

    // The reputation guard pauses the tenant's bulk stream (as its fan-out would).
    let store = sluice_store::Store::connect(&env.redis.url(), Duration::from_secs(3600))
        .await
        .unwrap();
    let tenant_id = sluice_model::TenantId::parse(&tenant).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let policy = sluice_model::ReputationPolicy::default();
    let snapshot = store
        .count_reputation(
            &tenant_id,
            None,
            &[],
            sluice_store::BucketWindow {
                current: 1,
                oldest: 0,
                expiry: Duration::from_secs(3600),
            },
        )
        .await
        .unwrap();
    let figures = policy.report(
        sluice_model::MessageStream::Bulk,
        &sluice_model::StreamCounts {
            delivered: 900,
            hard_bounced: 100,
            complained: 0,
        },
    );
    let paused = store
        .change_reputation(
            &tenant_id,
            &sluice_store::ReputationChange {
                stream: sluice_model::MessageStream::Bulk,
                from_raw: snapshot.raw_levels[&sluice_model::MessageStream::Bulk].clone(),
                to: sluice_model::ReputationLevel::Pause,
                pause: Some(sluice_model::BulkPause {
                    since: now,
                    figures,
                }),
                event: None,
            },
        )
        .await
        .unwrap();
    assert!(paused);

    let mut live = Raw::connect(plain).await;
    live.command("EHLO client.test").await;
    assert_eq!(live.auth(&key).await.0, 235);
    let (code, text) = live
        .send(
            "a@acme.test",
            "From: a@acme.test\r\nX-Sluice-Stream: bulk\r\n\r\nnews",
        )
        .await;
    assert_eq!((code, &text[4..9]), (451, "4.7.1"), "{text}");
    assert!(text.contains("paused"), "{text}");
    let (code, text) = live
        .send(
            "a@acme.test",
            "From: a@acme.test\r\n\r\nyour code is 123456",
        )
        .await;
    assert_eq!(code, 250, "transactional mail is never paused: {text}");
    env.wait_for_status(
        &key,
        &message_id(&text),
        "delivered",
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(env.sink.count(), 1);
    env.stop().await;
}
