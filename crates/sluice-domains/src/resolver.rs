//! The one place a hickory resolver is built and its errors are read: MX routing
//! (`sluice-delivery`) and domain verification ([`crate::lookup`]) ask the same
//! name servers the same way, and tell "no such record" from "could not ask" alike.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig as HickoryConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;

/// Which name servers to ask, and how patiently (`delivery.dns_servers`,
/// `domains.dns_servers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverConfig {
    /// `ip:port` of each name server. Empty means the system's configuration
    /// (`/etc/resolv.conf`); otherwise only these are asked, and the system
    /// configuration is not even read.
    pub name_servers: Vec<SocketAddr>,
    /// How long one query may take before it counts as failed.
    pub timeout: Duration,
    /// How many times a query is sent in all (at least 1) before the lookup
    /// fails (for routing, a transient `RouteError::Temporary`).
    pub attempts: usize,
    /// Keep MX addresses outside the public internet (loopback, RFC 1918, …; see
    /// [`sluice_model::net::is_public`]) instead of refusing them
    /// (`delivery.allow_private_mx`): for tests and `sluice dev`, whose fixture DNS
    /// points MX records at 127.0.0.1, and for deliberately internal domains.
    /// Only MX routing reads it.
    pub allow_private: bool,
}

impl Default for ResolverConfig {
    /// The system's name servers, 5 s per query, 2 attempts (resolv.conf's
    /// own defaults).
    fn default() -> Self {
        Self {
            name_servers: Vec::new(),
            timeout: Duration::from_secs(5),
            attempts: 2,
            allow_private: false,
        }
    }
}

/// Whether answers are kept for their TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// Follow the records' TTLs (MX routing: the same domains over and over).
    FollowTtl,
    /// Ask every time: a user who has just fixed a record and asks to verify again
    /// must see the fix, not the answer cached from the previous attempt.
    Off,
}

/// The resolver configuration is unusable: an operator error, found at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ResolverError {
    #[error("DNS attempts must be at least 1")]
    NoAttempts,
    #[error("DNS timeout must be more than zero")]
    ZeroTimeout,
    #[error("system resolver configuration: {0}")]
    System(#[source] NetError),
    #[error("DNS resolver: {0}")]
    Build(#[source] NetError),
}

/// Builds a resolver. Whatever the name servers, `/etc/hosts` is ignored (mail
/// routing follows DNS only, as Postfix's default `smtp_host_lookup = dns` does)
/// and names are always queried fully qualified, so search domains and `ndots`
/// never apply.
pub fn build_resolver(
    config: &ResolverConfig,
    caching: Caching,
) -> Result<TokioResolver, ResolverError> {
    if config.attempts == 0 {
        return Err(ResolverError::NoAttempts);
    }
    if config.timeout.is_zero() {
        return Err(ResolverError::ZeroTimeout);
    }
    let mut builder = if config.name_servers.is_empty() {
        TokioResolver::builder_tokio().map_err(ResolverError::System)?
    } else {
        let servers = config.name_servers.iter().map(name_server).collect();
        TokioResolver::builder_with_config(
            HickoryConfig::from_name_servers(servers),
            TokioRuntimeProvider::default(),
        )
    };
    let options = builder.options_mut();
    options.timeout = config.timeout;
    // hickory counts retries after the first try.
    options.attempts = config.attempts - 1;
    options.ndots = 0;
    options.use_hosts_file = ResolveHosts::Never;
    if caching == Caching::Off {
        options.positive_max_ttl = Some(Duration::ZERO);
        options.negative_max_ttl = Some(Duration::ZERO);
    }
    builder.build().map_err(ResolverError::Build)
}

/// One name server on `addr`, over UDP with TCP for truncated answers.
fn name_server(addr: &SocketAddr) -> NameServerConfig {
    let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
        .into_iter()
        .map(|mut connection| {
            connection.port = addr.port();
            connection
        })
        .collect();
    NameServerConfig::new(addr.ip(), true, connections)
}

/// How a single lookup came out, once hickory's error is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsAnswer<T> {
    Records(T),
    /// NOERROR with no records of the type asked (NODATA).
    NoData,
    NxDomain,
    /// Anything worth a retry (SERVFAIL, REFUSED, timeout, …), with a short
    /// description.
    Failed(String),
}

impl<T> DnsAnswer<T> {
    /// A lookup's result: negative answers are data, the rest is trouble.
    pub fn from_result(result: Result<T, NetError>) -> Self {
        match result {
            Ok(records) => Self::Records(records),
            Err(error) => Self::from_error(&error),
        }
    }

    /// The records transformed, any other answer kept.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> DnsAnswer<U> {
        match self {
            Self::Records(records) => DnsAnswer::Records(f(records)),
            Self::NoData => DnsAnswer::NoData,
            Self::NxDomain => DnsAnswer::NxDomain,
            Self::Failed(reason) => DnsAnswer::Failed(reason),
        }
    }

    /// Reads hickory's error: NXDOMAIN and NODATA are answers ("not there"),
    /// anything else is a failed lookup.
    pub fn from_error(error: &NetError) -> Self {
        match error {
            NetError::Dns(DnsError::NoRecordsFound(none)) => match none.response_code {
                ResponseCode::NXDomain => Self::NxDomain,
                ResponseCode::NoError => Self::NoData,
                code => Self::Failed(code.to_string()),
            },
            NetError::Dns(DnsError::ResponseCode(code)) => Self::Failed(code.to_string()),
            other => Self::Failed(other.to_string()),
        }
    }
}
