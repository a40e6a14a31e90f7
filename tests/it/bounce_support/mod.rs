//! What the tests of the inbound listener share: the golden DSN and ARF fixtures of
//! sluice-wire rewritten for a test's own messages, one SMTP transaction to the
//! listener, and waiting for the events and suppressions a report causes.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::common::{TestEnv, simple_message};

pub const BOUNCE_DOMAIN: &str = "bounces.sluice.test";

pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../sluice-wire/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fixture with every VERP address replaced by `verp` and `fixture_rcpt` by `rcpt`.
pub fn rewrite(text: &str, verp: &str, fixture_rcpt: &str, rcpt: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("bounces+") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || "+-.@".contains(c)))
            .unwrap_or(tail.len());
        let candidate = tail[..end].trim_end_matches('.');
        if candidate.ends_with(&format!("@{BOUNCE_DOMAIN}")) {
            out.push_str(verp);
            rest = &tail[candidate.len()..];
        } else {
            out.push_str("bounces+");
            rest = &tail["bounces+".len()..];
        }
    }
    out.push_str(rest);
    out.replace(fixture_rcpt, rcpt)
}

/// One SMTP transaction from the null sender; returns the reply to each step
/// (greeting, EHLO, MAIL, RCPT, DATA, end of data, QUIT), stopping after a refused RCPT.
pub async fn inject(addr: std::net::SocketAddr, rcpt: &str, data: &str) -> Vec<String> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut replies = vec![read_reply(&mut lines).await];
    let body = data.replace("\r\n", "\n").replace('\n', "\r\n");
    let body = body.replace("\r\n.", "\r\n..");
    for command in [
        "EHLO mail.example.net\r\n".to_string(),
        "MAIL FROM:<>\r\n".to_string(),
        format!("RCPT TO:<{rcpt}>\r\n"),
        "DATA\r\n".to_string(),
        format!("{body}\r\n.\r\n"),
        "QUIT\r\n".to_string(),
    ] {
        write.write_all(command.as_bytes()).await.unwrap();
        let reply = read_reply(&mut lines).await;
        let refused = command.starts_with("RCPT") && !reply.starts_with('2');
        replies.push(reply);
        if refused {
            break;
        }
    }
    replies
}

pub async fn read_reply(
    lines: &mut tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
) -> String {
    let mut text = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        let last = line.as_bytes().get(3) != Some(&b'-');
        text.push_str(&line);
        if last {
            break;
        }
    }
    text
}

pub fn inbound(env: &TestEnv) -> std::net::SocketAddr {
    env.running.as_ref().unwrap().inbound_addr.unwrap()
}

pub async fn delivered(
    env: &TestEnv,
    key: &str,
    to: &str,
    stream: &str,
) -> (String, Vec<u8>, String) {
    let before = env.sink.count();
    let mut body = simple_message(to);
    body["stream"] = stream.into();
    let id = env.send(key, body).await;
    env.wait_for_status(key, &id, "delivered", Duration::from_secs(15))
        .await;
    assert!(
        env.sink
            .wait_for_count(before + 1, Duration::from_secs(5))
            .await
    );
    let received = env
        .sink
        .messages()
        .into_iter()
        .find(|m| m.rcpt_to == [to.to_string()])
        .unwrap();
    (id, received.data, received.mail_from)
}

/// Waits until the fan-out has put `address` on the tenant's suppression list.
pub async fn wait_for_suppression(env: &TestEnv, key: &str, address: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = env.get(key, &format!("/v1/suppressions/{address}")).await;
        if response.status() == reqwest::StatusCode::OK {
            return response.json().await.unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{address} never reached the suppression list"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn wait_for_event(env: &TestEnv, key: &str, id: &str, kind: &str) -> Value {
    let view = env
        .wait_for(key, id, Duration::from_secs(10), |v| {
            v["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["type"] == kind)
        })
        .await;
    view["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == kind)
        .cloned()
        .unwrap()
}
