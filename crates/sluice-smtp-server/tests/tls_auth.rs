//! STARTTLS, implicit TLS and AUTH, with a real TLS client (tokio-rustls) trusting
//! the test CA of `tests/fixtures/submission_tls`. Tests talk only to loopback, so
//! the rule for other clients (AUTH only after TLS) is tested with
//! `loopback_clear_text_auth` off, which applies it to loopback as well.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sluice_smtp_server::rustls::pki_types::pem::PemObject;
use sluice_smtp_server::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use sluice_smtp_server::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use sluice_smtp_server::{
    AuthFuture, Peer, ReceivedMessage, Reply, SinkBehavior, SinkConfig, SinkHandle, SmtpSink,
    TlsMode,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/submission_tls")
        .join(name)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config() -> Arc<ServerConfig> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    Arc::new(
        ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    )
}

fn connector() -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(fixture("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// Accepts the password `secret` for any user; records who sent what.
#[derive(Default)]
struct Gate {
    seen: Mutex<Vec<(Option<String>, bool)>>,
}

impl SinkBehavior for Gate {
    fn requires_auth(&self) -> bool {
        true
    }

    fn authenticate<'a>(&'a self, _: &'a Peer, user: &'a str, password: &'a str) -> AuthFuture<'a> {
        let verdict = if password == "secret" {
            Ok(format!("principal-of-{user}"))
        } else {
            Err(Reply::new(535, "5.7.8 Authentication credentials invalid"))
        };
        Box::pin(std::future::ready(verdict))
    }

    fn data_end(&self, peer: &Peer, msg: &ReceivedMessage) -> Reply {
        let principal = msg.auth.as_ref().map(|a| a.principal.clone());
        self.seen
            .lock()
            .unwrap()
            .push((principal, msg.tls && peer.tls));
        Reply::ok()
    }
}

async fn start(tls: TlsMode, loopback_clear_text_auth: bool) -> (SinkHandle, Arc<Gate>) {
    let gate = Arc::new(Gate::default());
    let sink = SmtpSink::start(SinkConfig {
        behavior: gate.clone(),
        tls: Some(tls),
        loopback_clear_text_auth,
        ..SinkConfig::default()
    })
    .await
    .unwrap();
    (sink, gate)
}

/// A line-oriented SMTP client over any stream.
struct Smtp<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Smtp<S> {
    async fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let read = tokio::time::timeout(Duration::from_secs(5), self.io.read_line(&mut line));
            assert!(read.await.unwrap().unwrap() > 0, "closed; so far {text:?}");
            text.push_str(&line);
            if line.as_bytes().get(3) == Some(&b' ') {
                return (line[..3].parse().unwrap(), text);
            }
        }
    }

    async fn send(&mut self, raw: &str) {
        self.io.get_mut().write_all(raw.as_bytes()).await.unwrap();
        self.io.get_mut().flush().await.unwrap();
    }

    async fn command(&mut self, line: &str) -> (u16, String) {
        self.send(&format!("{line}\r\n")).await;
        self.reply().await
    }
}

fn plain_auth(user: &str, password: &str) -> String {
    format!(
        "AUTH PLAIN {}",
        STANDARD.encode(format!("\0{user}\0{password}"))
    )
}

#[tokio::test]
async fn auth_waits_for_starttls_and_pipelined_clear_text_is_dropped() {
    let (sink, gate) = start(TlsMode::StartTls(server_config()), false).await;
    let tcp = TcpStream::connect(sink.local_addr()).await.unwrap();
    let mut smtp = Smtp {
        io: BufReader::new(tcp),
    };
    assert_eq!(smtp.reply().await.0, 220);
    let (code, ehlo) = smtp.command("EHLO client.test").await;
    assert_eq!(code, 250);
    assert!(ehlo.contains("STARTTLS"), "{ehlo}");
    assert!(!ehlo.contains("AUTH"), "AUTH offered in clear text: {ehlo}");
    let (code, text) = smtp.command(&plain_auth("u", "secret")).await;
    assert_eq!(code, 530, "{text}");
    assert!(text.contains("5.7.0"), "{text}");
    let (code, text) = smtp.command("MAIL FROM:<a@b.test>").await;
    assert_eq!(code, 530, "{text}");

    // A command injected behind STARTTLS (CVE-2011-0411) must not be run.
    smtp.send("STARTTLS\r\nRSET\r\n").await;
    assert_eq!(smtp.reply().await.0, 220);
    let tcp = smtp.io.into_inner();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let tls = connector().connect(name, tcp).await.unwrap();
    let mut smtp = Smtp {
        io: BufReader::new(tls),
    };
    // The first reply over TLS is to this EHLO, not to the injected RSET.
    let (code, ehlo) = smtp.command("EHLO client.test").await;
    assert_eq!(code, 250, "{ehlo}");
    assert!(ehlo.contains("AUTH PLAIN LOGIN"), "{ehlo}");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    assert_eq!(smtp.command("STARTTLS").await.0, 503);

    // AUTH LOGIN, answered step by step.
    assert_eq!(
        smtp.command("AUTH LOGIN").await,
        (334, "334 VXNlcm5hbWU6\r\n".into())
    );
    assert_eq!(smtp.command(&STANDARD.encode("apikey")).await.0, 334);
    let (code, text) = smtp.command(&STANDARD.encode("secret")).await;
    assert_eq!(code, 235, "{text}");
    assert_eq!(smtp.command(&plain_auth("u", "secret")).await.0, 503);
    assert_eq!(smtp.command("MAIL FROM:<a@b.test>").await.0, 250);
    assert_eq!(smtp.command("RCPT TO:<c@d.test>").await.0, 250);
    assert_eq!(smtp.command("DATA").await.0, 354);
    assert_eq!(smtp.command("Subject: x\r\n\r\nhi\r\n.").await.0, 250);
    assert_eq!(
        gate.seen.lock().unwrap().clone(),
        [(Some("principal-of-apikey".to_string()), true)]
    );
    sink.shutdown().await;
}

#[tokio::test]
async fn implicit_tls_greets_over_tls_and_failed_auths_close_the_session() {
    let (sink, _gate) = start(TlsMode::Implicit(server_config()), false).await;
    let tcp = TcpStream::connect(sink.local_addr()).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let tls = connector().connect(name, tcp).await.unwrap();
    let mut smtp = Smtp {
        io: BufReader::new(tls),
    };
    assert_eq!(smtp.reply().await.0, 220);
    let (_, ehlo) = smtp.command("EHLO client.test").await;
    assert!(
        ehlo.contains("AUTH PLAIN LOGIN") && !ehlo.contains("STARTTLS"),
        "{ehlo}"
    );
    assert_eq!(smtp.command("AUTH CRAM-MD5").await.0, 504);
    assert_eq!(smtp.command("AUTH PLAIN").await.0, 334);
    assert_eq!(smtp.command("*").await.0, 501);
    assert_eq!(smtp.command("AUTH PLAIN not-base64!").await.0, 501);
    assert_eq!(smtp.command(&plain_auth("u", "wrong")).await.0, 535);
    assert_eq!(smtp.command(&plain_auth("u", "wrong")).await.0, 535);
    let (code, _) = smtp.command(&plain_auth("u", "wrong")).await;
    assert_eq!(code, 535);
    assert_eq!(smtp.reply().await.0, 421, "closed after the third failure");
    sink.shutdown().await;
}

#[tokio::test]
async fn loopback_clients_may_auth_in_clear_text_when_allowed() {
    let (sink, _gate) = start(TlsMode::StartTls(server_config()), true).await;
    let tcp = TcpStream::connect(sink.local_addr()).await.unwrap();
    let mut smtp = Smtp {
        io: BufReader::new(tcp),
    };
    assert_eq!(smtp.reply().await.0, 220);
    let (_, ehlo) = smtp.command("EHLO client.test").await;
    assert!(
        ehlo.contains("STARTTLS") && ehlo.contains("AUTH PLAIN LOGIN"),
        "{ehlo}"
    );
    assert_eq!(smtp.command(&plain_auth("u", "secret")).await.0, 235);
    sink.shutdown().await;
}

#[tokio::test]
async fn listeners_without_tls_or_auth_answer_as_before() {
    let sink = SmtpSink::start(SinkConfig::default()).await.unwrap();
    let tcp = TcpStream::connect(sink.local_addr()).await.unwrap();
    let mut smtp = Smtp {
        io: BufReader::new(tcp),
    };
    assert_eq!(smtp.reply().await.0, 220);
    let (_, ehlo) = smtp.command("EHLO client.test").await;
    assert!(
        !ehlo.contains("STARTTLS") && !ehlo.contains("AUTH"),
        "{ehlo}"
    );
    assert_eq!(smtp.command("STARTTLS").await.0, 502);
    assert_eq!(smtp.command(&plain_auth("u", "secret")).await.0, 502);
    sink.shutdown().await;
}
