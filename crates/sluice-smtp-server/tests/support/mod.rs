//! The raw TCP SMTP client and start helpers shared by the test binaries.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use sluice_smtp_server::{SinkConfig, SinkHandle, SmtpSink};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};

pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Minimal SMTP client: raw writes, reply parsing, nothing else.
pub struct Client {
    pub reader: BufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self::from_stream(TcpStream::connect(addr).await.unwrap())
    }

    pub async fn connect_from(source: IpAddr, addr: SocketAddr) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source, 0)).unwrap();
        Self::from_stream(socket.connect(addr).await.unwrap())
    }

    pub fn from_stream(stream: TcpStream) -> Self {
        let (r, w) = stream.into_split();
        Self {
            reader: BufReader::new(r),
            writer: w,
        }
    }

    pub async fn send(&mut self, raw: &str) {
        self.writer.write_all(raw.as_bytes()).await.unwrap();
    }

    /// Reads one (possibly multi-line) reply: code and lines without code.
    pub async fn reply(&mut self) -> (u16, Vec<String>) {
        tokio::time::timeout(IO_TIMEOUT, self.read_reply())
            .await
            .expect("reply timed out")
    }

    pub async fn read_reply(&mut self) -> (u16, Vec<String>) {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).await.unwrap();
            assert!(n > 0, "connection closed while awaiting reply");
            assert!(line.ends_with("\r\n"), "reply line without CRLF: {line:?}");
            let code: u16 = line[..3].parse().unwrap();
            lines.push(line[4..line.len() - 2].to_owned());
            if &line[3..4] == " " {
                return (code, lines);
            }
            assert_eq!(&line[3..4], "-", "bad separator in {line:?}");
        }
    }

    /// Sends one command and asserts the reply code; returns the last line.
    pub async fn expect(&mut self, cmd: &str, code: u16) -> String {
        self.send(&format!("{cmd}\r\n")).await;
        self.expect_reply(code).await
    }

    pub async fn expect_reply(&mut self, code: u16) -> String {
        let (got, lines) = self.reply().await;
        assert_eq!(got, code, "unexpected reply {lines:?}");
        lines.last().unwrap().clone()
    }

    /// Greeting + EHLO.
    pub async fn hello(&mut self) {
        self.expect_reply(220).await;
        self.expect("EHLO client.test", 250).await;
    }

    pub async fn assert_closed(&mut self) {
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(IO_TIMEOUT, self.reader.read(&mut buf))
            .await
            .expect("connection should be closed")
            .unwrap_or(0);
        assert_eq!(n, 0, "expected EOF, got {:?}", &buf[..n]);
    }

    /// A complete transaction; returns the DATA reply text.
    pub async fn send_message(&mut self, from: &str, to: &[&str], body: &str) -> String {
        self.expect(&format!("MAIL FROM:<{from}>"), 250).await;
        for rcpt in to {
            self.expect(&format!("RCPT TO:<{rcpt}>"), 250).await;
        }
        self.expect("DATA", 354).await;
        self.send(&format!("{body}.\r\n")).await;
        self.expect_reply(250).await
    }
}

pub async fn start(config: SinkConfig) -> SinkHandle {
    SmtpSink::start(config).await.unwrap()
}

pub async fn start_default() -> SinkHandle {
    start(SinkConfig::default()).await
}
