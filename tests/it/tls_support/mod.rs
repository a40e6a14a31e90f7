//! Servers with real TLS for the outbound TLS policy tests (`mta_sts`), on loopback,
//! with the test CA of `tests/fixtures/mta_sts`:
//! - [`HttpsHost`]: serves MTA-STS policy files by `Host` and records every request
//!   (policy fetches, TLS-RPT POSTs with their bodies);
//! - [`TlsMx`]: an SMTP receiver offering STARTTLS, recording each message and
//!   whether it came over TLS.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../tests/fixtures/mta_sts/{name}"))
        .to_string_lossy()
        .into_owned()
}

fn acceptor(alpn: &[&[u8]]) -> TlsAcceptor {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsAcceptor::from(Arc::new(config))
}

/// One request the HTTPS host answered.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The `Host` header without its port.
    pub host: String,
    pub path: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// An HTTPS server on `127.0.0.1`: `GET /.well-known/mta-sts.txt` answers the policy
/// set for the request's host (404 without one), `POST` answers 200.
pub struct HttpsHost {
    pub addr: SocketAddr,
    policies: Arc<Mutex<HashMap<String, String>>>,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl HttpsHost {
    pub async fn start() -> Self {
        let acceptor = acceptor(&[b"http/1.1"]);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = Self {
            addr: listener.local_addr().unwrap(),
            policies: Arc::default(),
            requests: Arc::default(),
        };
        let (policies, requests) = (host.policies.clone(), host.requests.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, policies, requests) =
                    (acceptor.clone(), policies.clone(), requests.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        answer(tls, &policies, &requests).await;
                    }
                });
            }
        });
        host
    }

    /// Serves `policy` as `https://<host>/.well-known/mta-sts.txt`.
    pub fn set_policy(&self, host: &str, policy: &str) {
        self.policies
            .lock()
            .unwrap()
            .insert(host.to_owned(), policy.to_owned());
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Policy fetches for `host` so far.
    pub fn fetches(&self, host: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == "GET" && r.host == host)
            .count()
    }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    policies: &Mutex<HashMap<String, String>>,
    requests: &Mutex<Vec<Request>>,
) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
            return;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.unwrap();
    let host = headers
        .get("host")
        .map(|h| h.split(':').next().unwrap_or_default().to_owned())
        .unwrap_or_default();
    requests.lock().unwrap().push(Request {
        method: method.clone(),
        host: host.clone(),
        path: path.clone(),
        content_type: headers.get("content-type").cloned().unwrap_or_default(),
        body,
    });
    let policy = policies.lock().unwrap().get(&host).cloned();
    let response = match (method.as_str(), path.as_str(), policy) {
        ("GET", "/.well-known/mta-sts.txt", Some(policy)) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{policy}",
            policy.len()
        ),
        ("POST", _, _) => {
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into()
        }
        _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
    };
    let stream = reader.get_mut();
    stream.write_all(response.as_bytes()).await.ok();
    stream.shutdown().await.ok();
}

/// One message a [`TlsMx`] took.
#[derive(Clone, Debug)]
pub struct Received {
    pub over_tls: bool,
    pub data: Vec<u8>,
}

/// An SMTP receiver on `ip:port` offering STARTTLS with the test certificate.
pub struct TlsMx {
    messages: Arc<Mutex<Vec<Received>>>,
    commands: Arc<Mutex<Vec<String>>>,
}

impl TlsMx {
    pub async fn start(ip: IpAddr, port: u16) -> Self {
        let acceptor = acceptor(&[]);
        let listener = TcpListener::bind((ip, port)).await.unwrap();
        let mx = Self {
            messages: Arc::default(),
            commands: Arc::default(),
        };
        let (messages, commands) = (mx.messages.clone(), mx.commands.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, messages, commands) =
                    (acceptor.clone(), messages.clone(), commands.clone());
                tokio::spawn(async move {
                    let mut plain = BufReader::new(stream);
                    plain
                        .get_mut()
                        .write_all(b"220 mx.test ESMTP\r\n")
                        .await
                        .ok();
                    if !smtp(&mut plain, false, &messages, &commands).await {
                        return;
                    }
                    match acceptor.accept(plain.into_inner()).await {
                        Ok(tls) => {
                            smtp(&mut BufReader::new(tls), true, &messages, &commands).await;
                        }
                        Err(e) => commands
                            .lock()
                            .unwrap()
                            .push(format!("handshake failed: {e}")),
                    }
                });
            }
        });
        mx
    }

    pub fn messages(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }

    pub fn commands(&self) -> Vec<String> {
        self.commands.lock().unwrap().clone()
    }
}

/// One SMTP dialogue; true when the client asked for STARTTLS.
async fn smtp<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    tls: bool,
    messages: &Mutex<Vec<Received>>,
    commands: &Mutex<Vec<String>>,
) -> bool {
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
            return false;
        }
        let command = line.trim_end().to_string();
        commands
            .lock()
            .unwrap()
            .push(format!("{}{command}", if tls { "tls: " } else { "" }));
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" if tls => b"250-mx.test\r\n250 8BITMIME\r\n",
            "EHLO" => b"250-mx.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
            "STARTTLS" if !tls => {
                stream
                    .get_mut()
                    .write_all(b"220 2.0.0 Ready to start TLS\r\n")
                    .await
                    .ok();
                return true;
            }
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
                messages.lock().unwrap().push(Received {
                    over_tls: tls,
                    data,
                });
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
