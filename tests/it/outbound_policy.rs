//! Where delivery refuses to go, over real SMTP, real TLS and a real DNS server on
//! loopback: MX records pointing at private addresses (unless
//! `delivery.allow_private_mx`), and relay credentials over TLS that did not verify.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;
use sluice::run::Roles;
use sluice_smtp_server::AcceptAll;
use sluice_test_dns::DnsFixture;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use common::{TestEnv, direct, simple_message};

fn event_details(view: &Value) -> Vec<String> {
    view["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["detail"].as_str().map(str::to_owned))
        .collect()
}

async fn private_mx_env(dns: &DnsFixture, allow: bool) -> TestEnv {
    TestEnv::start_with(Arc::new(AcceptAll), Roles::ALL, |c| {
        direct(c, dns);
        c.delivery.allow_private_mx = allow;
    })
    .await
}

#[tokio::test]
async fn mx_at_a_private_address_bounces_unless_allowed() {
    let dns = DnsFixture::start().await.unwrap();
    dns.set_mx("inward.test", &[(10, "mx.inward.test")]);
    dns.set_a("mx.inward.test", &[Ipv4Addr::LOCALHOST]);

    let env = private_mx_env(&dns, false).await;
    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("jane@inward.test")).await;
    let view = env
        .wait_for_status(&key, &id, "bounced", Duration::from_secs(15))
        .await;
    let recipient = &view["recipients"][0];
    assert_eq!(
        recipient["smtp_reply"]["enhanced_code"], "5.4.4",
        "{view:#}"
    );
    assert_eq!(view["attempts"], 1, "a permanent verdict, not a retry");
    let details = event_details(&view);
    assert!(
        details
            .iter()
            .any(|d| d.contains("MX for inward.test resolves only to private")),
        "{details:?}"
    );
    assert_eq!(
        env.sink.connections_count(),
        0,
        "no connection may reach the private host"
    );
    env.stop().await;

    let env = private_mx_env(&dns, true).await;
    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("jane@inward.test")).await;
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(15))
        .await;
    assert_eq!(env.sink.messages()[0].rcpt_to, ["jane@inward.test"]);
    env.stop().await;
    dns.shutdown().await;
}

/// A smart host that offers STARTTLS with a certificate of a private CA
/// (`tests/fixtures/relay_tls`) and advertises AUTH both before and after it — a
/// client that authenticates in clear text, or over TLS it did not verify, is
/// caught in `log`, which holds every command line (`AUTH` lines included).
struct TlsRelay {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    messages: Arc<Mutex<Vec<Vec<u8>>>>,
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../tests/fixtures/relay_tls/{name}"))
}

impl TlsRelay {
    async fn start() -> Self {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(fixture("relay.pem"))
                .unwrap()
                .map(Result::unwrap)
                .collect();
        let key = PrivateKeyDer::from_pem_file(fixture("relay.key")).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let relay = Self {
            addr: listener.local_addr().unwrap(),
            log: Arc::default(),
            messages: Arc::default(),
        };
        let (log, messages) = (relay.log.clone(), relay.messages.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, log, messages) = (acceptor.clone(), log.clone(), messages.clone());
                tokio::spawn(async move {
                    let mut plain = BufReader::new(stream);
                    plain
                        .get_mut()
                        .write_all(b"220 relay.test ESMTP\r\n")
                        .await
                        .ok();
                    if !serve(&mut plain, false, &log, &messages).await {
                        return;
                    }
                    match acceptor.accept(plain.into_inner()).await {
                        Ok(tls) => {
                            serve(&mut BufReader::new(tls), true, &log, &messages).await;
                        }
                        Err(e) => log.lock().unwrap().push(format!("handshake failed: {e}")),
                    }
                });
            }
        });
        relay
    }

    fn commands(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

/// One SMTP dialogue; returns true when the client asked for STARTTLS.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    tls: bool,
    log: &Mutex<Vec<String>>,
    messages: &Mutex<Vec<Vec<u8>>>,
) -> bool {
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
            return false;
        }
        let command = line.trim_end().to_string();
        log.lock()
            .unwrap()
            .push(format!("{}{command}", if tls { "tls: " } else { "" }));
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" if tls => b"250-relay.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
            "EHLO" => b"250-relay.test\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
            "STARTTLS" if !tls => {
                stream
                    .get_mut()
                    .write_all(b"220 2.0.0 Ready to start TLS\r\n")
                    .await
                    .ok();
                return true;
            }
            "AUTH" => b"235 2.7.0 Authentication successful\r\n",
            "DATA" => {
                stream.get_mut().write_all(b"354 go ahead\r\n").await.ok();
                let mut data = Vec::new();
                loop {
                    let mut body_line = String::new();
                    if stream.read_line(&mut body_line).await.unwrap_or(0) == 0 {
                        return false;
                    }
                    if body_line == ".\r\n" {
                        break;
                    }
                    data.extend_from_slice(body_line.as_bytes());
                }
                messages.lock().unwrap().push(data);
                b"250 2.0.0 queued\r\n"
            }
            "QUIT" => {
                stream.get_mut().write_all(b"221 bye\r\n").await.ok();
                return false;
            }
            _ => b"250 ok\r\n",
        };
        if stream.get_mut().write_all(reply).await.is_err() {
            return false;
        }
    }
}

#[tokio::test]
async fn relay_credentials_are_never_sent_over_tls_that_did_not_verify() {
    let relay = TlsRelay::start().await;
    let relay_url = format!("smtp://user:s3cret@{}", relay.addr);
    let env = TestEnv::start_with(Arc::new(AcceptAll), Roles::ALL, |c| {
        c.relay_url = Some(relay_url.clone());
    })
    .await;
    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("jane@example.com")).await;
    let view = env
        .wait_for_status(&key, &id, "deferred", Duration::from_secs(15))
        .await;
    let details = event_details(&view);
    assert!(
        details
            .iter()
            .any(|d| d.contains("certificate verification failed")),
        "{details:?}"
    );
    // Let a retry or two happen too: none may authenticate.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let commands = relay.commands();
    assert!(
        commands.iter().any(|c| c == "STARTTLS"),
        "STARTTLS was required: {commands:?}"
    );
    assert!(
        !commands
            .iter()
            .any(|c| c.to_ascii_uppercase().starts_with("AUTH") || c.contains("AUTH ")),
        "AUTH must never be sent: {commands:?}"
    );
    assert!(relay.messages.lock().unwrap().is_empty());
    env.stop().await;
}

#[tokio::test]
async fn a_relay_certificate_from_the_operators_own_ca_verifies() {
    let relay = TlsRelay::start().await;
    let relay_url = format!("smtp://user:s3cret@{}", relay.addr);
    let ca = fixture("ca.pem").to_string_lossy().into_owned();
    let env = TestEnv::start_with(Arc::new(AcceptAll), Roles::ALL, |c| {
        c.relay_url = Some(relay_url.clone());
        c.delivery.relay_ca_file = Some(ca);
    })
    .await;
    let key = env.ready_tenant().await;
    let id = env.send(&key, simple_message("jane@example.com")).await;
    env.wait_for_status(&key, &id, "delivered", Duration::from_secs(15))
        .await;
    let commands = relay.commands();
    let auth = commands
        .iter()
        .position(|c| c.starts_with("tls: AUTH"))
        .unwrap_or_else(|| panic!("no AUTH over TLS: {commands:?}"));
    let starttls = commands.iter().position(|c| c == "STARTTLS").unwrap();
    assert!(starttls < auth, "{commands:?}");
    assert!(
        !commands.iter().any(|c| c.starts_with("AUTH")),
        "never in clear text: {commands:?}"
    );
    assert_eq!(relay.messages.lock().unwrap().len(), 1);
    env.stop().await;
}
