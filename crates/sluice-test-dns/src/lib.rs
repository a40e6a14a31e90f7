//! A real, authoritative DNS server on loopback for tests.
//!
//! Test support only: product crates take it as a dev-dependency and never as a
//! dependency (the load generator, a test tool itself, is the one other user).
//!
//! Delivery code resolves MX, A/AAAA and TXT records through a real resolver
//! (hickory-resolver). Mocking the resolver would leave its configuration,
//! error mapping and wire behaviour untested, so tests instead point it at a
//! [`DnsFixture`]: a server on `127.0.0.1` that answers over UDP and TCP from
//! an in-memory table the test can change while it runs.
//!
//! - Messages are decoded and encoded with `hickory-proto` (no hand-rolled
//!   wire format).
//! - Every answer has the AA bit set (except SERVFAIL), names are matched
//!   case-insensitively, and a name that was never set answers NXDOMAIN.
//! - Records carry TTL 0 by default, so a caching resolver sees a change made
//!   mid-test at once; [`DnsFixture::set_ttl`] exists for caching tests.
//! - UDP answers larger than the client's EDNS payload (512 bytes without
//!   EDNS) are sent truncated (TC bit), so the client retries over TCP on the
//!   same port, as with a real server.
//! - A name exists only if something was set at it: there are no zones, SOA
//!   records, empty non-terminals, CNAMEs or wildcards.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let dns = sluice_test_dns::DnsFixture::start().await?;
//! dns.set_mx("example.test", &[(10, "mx1.example.test"), (20, "mx2.example.test")]);
//! dns.set_a("mx1.example.test", &["127.0.0.1".parse().unwrap()]);
//! // point the resolver at dns.addr() ...
//! # Ok(()) }
//! ```

mod server;
mod zone;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hickory_proto::rr::rdata::{A, AAAA, MX, TXT};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

use crate::server::SharedZone;
use crate::zone::{Node, Zone, parse_name};

/// How many times [`DnsFixture::start`] tries to find a port free for both
/// UDP and TCP (the UDP port is picked by the OS; TCP may already be taken).
const BIND_ATTEMPTS: usize = 20;

/// Longest character-string in a TXT record (RFC 1035 §3.3: one length octet).
const TXT_CHUNK: usize = 255;

/// A running DNS server on `127.0.0.1`; stops on [`DnsFixture::shutdown`] or
/// when dropped.
#[derive(Debug)]
pub struct DnsFixture {
    addr: SocketAddr,
    zone: SharedZone,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsFixture {
    /// Binds UDP and TCP on the same free port of `127.0.0.1` and starts
    /// answering, with an empty table (every name is NXDOMAIN).
    ///
    /// Must be called inside a Tokio runtime; the server runs as tasks on it.
    pub async fn start() -> std::io::Result<Self> {
        let (udp, tcp) = bind_pair().await?;
        let addr = udp.local_addr()?;
        let zone: SharedZone = Arc::new(Mutex::new(Zone::default()));
        let tasks = vec![
            tokio::spawn(server::serve_udp(udp, zone.clone())),
            tokio::spawn(server::serve_tcp(tcp, zone.clone())),
        ];
        Ok(Self { addr, zone, tasks })
    }

    /// The address to configure as the (only) name server: UDP and TCP both
    /// listen on it.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sets the MX records of `domain` as `(preference, exchange)` pairs,
    /// replacing earlier ones. An empty slice makes the domain exist with no
    /// MX (NOERROR, empty answer), which is what triggers the implicit MX.
    ///
    /// # Panics
    /// If `domain` or an exchange is not a valid domain name.
    pub fn set_mx(&self, domain: &str, records: &[(u16, &str)]) {
        let rdata = records
            .iter()
            .map(|&(preference, exchange)| RData::MX(MX::new(preference, parse_name(exchange))))
            .collect();
        self.zone().set_records(domain, RecordType::MX, rdata);
    }

    /// Publishes a null MX (RFC 7505): a single MX with preference 0 and
    /// exchange `.`, the way a domain says it accepts no mail.
    ///
    /// # Panics
    /// If `domain` is not a valid domain name.
    pub fn set_null_mx(&self, domain: &str) {
        self.zone().set_records(
            domain,
            RecordType::MX,
            vec![RData::MX(MX::new(0, Name::root()))],
        );
    }

    /// Sets the A records of `name`, replacing earlier ones (empty: the name
    /// exists with no A records).
    ///
    /// # Panics
    /// If `name` is not a valid domain name.
    pub fn set_a(&self, name: &str, addrs: &[Ipv4Addr]) {
        let rdata = addrs.iter().map(|&ip| RData::A(A(ip))).collect();
        self.zone().set_records(name, RecordType::A, rdata);
    }

    /// Sets the AAAA records of `name`, replacing earlier ones.
    ///
    /// # Panics
    /// If `name` is not a valid domain name.
    pub fn set_aaaa(&self, name: &str, addrs: &[Ipv6Addr]) {
        let rdata = addrs.iter().map(|&ip| RData::AAAA(AAAA(ip))).collect();
        self.zone().set_records(name, RecordType::AAAA, rdata);
    }

    /// Sets the TXT records of `name`, one record per value, replacing
    /// earlier ones. A value longer than 255 bytes is split into several
    /// character-strings of one record, as DNS requires and as DKIM and SPF
    /// publishers do; readers concatenate them.
    ///
    /// # Panics
    /// If `name` is not a valid domain name.
    pub fn set_txt(&self, name: &str, values: &[&str]) {
        let rdata = values
            .iter()
            .map(|value| {
                let chunks: Vec<&[u8]> = if value.is_empty() {
                    vec![&[]]
                } else {
                    value.as_bytes().chunks(TXT_CHUNK).collect()
                };
                RData::TXT(TXT::from_bytes(chunks))
            })
            .collect();
        self.zone().set_records(name, RecordType::TXT, rdata);
    }

    /// Makes `name` answer NXDOMAIN for every type, dropping its records.
    ///
    /// # Panics
    /// If `name` is not a valid domain name.
    pub fn set_nxdomain(&self, name: &str) {
        self.zone().set_node(name, Node::NxDomain);
    }

    /// Makes `name` answer SERVFAIL for every type, dropping its records
    /// (a broken or unreachable authoritative server, from the resolver's view).
    ///
    /// # Panics
    /// If `name` is not a valid domain name.
    pub fn set_servfail(&self, name: &str) {
        self.zone().set_node(name, Node::ServFail);
    }

    /// Sets the TTL of every answer from now on (default 0, so resolvers do
    /// not cache and table changes show at once).
    pub fn set_ttl(&self, ttl: u32) {
        self.zone().set_ttl(ttl);
    }

    /// Every question received so far, in order, as `(name, type)`: the name
    /// in lower case without the trailing dot, the type as its mnemonic
    /// (`"MX"`, `"A"`, `"AAAA"`, `"TXT"`, ...). UDP and TCP alike, retries
    /// included.
    pub fn queries(&self) -> Vec<(String, String)> {
        self.zone().queries()
    }

    /// Stops serving and waits until both sockets are closed.
    pub async fn shutdown(mut self) {
        for task in std::mem::take(&mut self.tasks) {
            task.abort();
            // The only error is the cancellation just requested.
            let _ = task.await;
        }
    }

    fn zone(&self) -> MutexGuard<'_, Zone> {
        // A test that panicked mid-update cannot leave the table half-written
        // (each update is a single insert), so a poisoned lock is still usable.
        self.zone.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for DnsFixture {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A UDP socket and a TCP listener on the same loopback port.
async fn bind_pair() -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut last_error = None;
    for _ in 0..BIND_ATTEMPTS {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let port = udp.local_addr()?.port();
        match TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("no free port")))
}
