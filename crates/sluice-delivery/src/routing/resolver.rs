//! MX resolution (RFC 5321 §5.1, RFC 7505) on top of hickory-resolver.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig as HickoryConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData};
use sluice_model::net::is_public;
use tokio::task::JoinSet;

use super::RouteError;
use super::name::{display, to_fqdn};
use super::order::by_preference;

/// At most this many MX hosts are resolved per domain: a guard against a
/// hostile zone turning one message into hundreds of lookups. Real domains
/// publish a handful (Postfix tries 5 addresses by default).
const MAX_MX_HOSTS: usize = 16;

/// Which name servers to ask, and how patiently (`delivery.dns_servers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverConfig {
    /// `ip:port` of each name server. Empty means the system's configuration
    /// (`/etc/resolv.conf`); otherwise only these are asked, and the system
    /// configuration is not even read.
    pub name_servers: Vec<SocketAddr>,
    /// How long one query may take before it counts as failed.
    pub timeout: Duration,
    /// How many times a query is sent in all (at least 1) before the lookup
    /// fails as [`RouteError::Temporary`].
    pub attempts: usize,
    /// Keep MX addresses outside the public internet (loopback, RFC 1918, …; see
    /// [`sluice_model::net::is_public`]) instead of refusing them
    /// (`delivery.allow_private_mx`): for tests and `sluice dev`, whose fixture DNS
    /// points MX records at 127.0.0.1, and for deliberately internal domains.
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

/// One host to try for a domain, in the order returned by
/// [`MxResolver::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxHost {
    /// Lower case, IDNA A-labels, no trailing dot: the name to verify a TLS
    /// certificate against and to recognise providers by.
    pub name: String,
    pub preference: u16,
    /// IPv4 addresses first, then IPv6, each in the order DNS gave them:
    /// pool source addresses are IPv4 today, and a socket bound to one cannot
    /// reach an IPv6 peer. Never empty.
    pub addresses: Vec<IpAddr>,
    /// True when the domain has no MX records and its own A/AAAA records
    /// stand in for one (RFC 5321 §5.1 "implicit MX").
    pub implicit: bool,
}

/// Finds the hosts that receive mail for a domain. Cheap to clone (clones
/// share one cache, which follows the records' TTLs).
#[derive(Clone)]
pub struct MxResolver {
    inner: TokioResolver,
    allow_private: bool,
}

impl std::fmt::Debug for MxResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MxResolver").finish_non_exhaustive()
    }
}

/// Why no MX host is usable.
enum Unusable {
    /// Every address found is outside the public internet (and no lookup failed).
    PrivateOnly(Vec<IpAddr>),
    /// Lookups failed or found nothing: worth a retry.
    Unresolved(String),
}

/// How a single lookup came out, once hickory's error is read.
enum Answer<T> {
    Records(T),
    /// NOERROR with no records of the type asked (NODATA).
    NoData,
    NxDomain,
    /// Anything worth a retry, with a short description.
    Failed(String),
}

impl MxResolver {
    /// Builds a resolver. Whatever the name servers, `/etc/hosts` is ignored
    /// (mail routing follows DNS only, as Postfix's default
    /// `smtp_host_lookup = dns` does) and names are always queried fully
    /// qualified, so search domains and `ndots` never apply.
    pub fn new(config: &ResolverConfig) -> Result<Self, RouteError> {
        if config.attempts == 0 {
            return Err(RouteError::InvalidConfig(
                "DNS attempts must be at least 1".into(),
            ));
        }
        if config.timeout.is_zero() {
            return Err(RouteError::InvalidConfig(
                "DNS timeout must be more than zero".into(),
            ));
        }
        let mut builder = if config.name_servers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| {
                RouteError::InvalidConfig(format!("system resolver configuration: {e}"))
            })?
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
        let inner = builder
            .build()
            .map_err(|e| RouteError::InvalidConfig(format!("DNS resolver: {e}")))?;
        Ok(Self {
            inner,
            allow_private: config.allow_private,
        })
    }

    /// The hosts to try for `domain`, most preferred first (RFC 5321 §5.1):
    ///
    /// - MX records sorted by preference, equal preferences shuffled for load
    ///   spreading, each exchange resolved to its A/AAAA addresses;
    /// - no MX records: the implicit MX, the domain's own A/AAAA (preference 0);
    /// - a null MX (RFC 7505: a single record whose exchange is `.`):
    ///   [`RouteError::NullMx`], permanent (5.1.10);
    /// - NXDOMAIN or a name that is not a domain: [`RouteError::NoSuchDomain`],
    ///   permanent (5.1.2);
    /// - SERVFAIL, timeout, unreachable name servers: [`RouteError::Temporary`];
    /// - MX hosts without any address are skipped; if none is left, or the
    ///   implicit MX has no address: [`RouteError::Temporary`] (an MX pointing
    ///   nowhere is most often a zone being edited, so it is not bounced);
    /// - unless `allow_private`, addresses outside the public internet are dropped
    ///   (a stranger's zone must not aim our workers at Redis, a metadata service
    ///   or an internal MTA); when every address found was such a one, and no
    ///   lookup failed: [`RouteError::PrivateOnly`], permanent (5.4.4).
    pub async fn resolve(&self, domain: &str) -> Result<Vec<MxHost>, RouteError> {
        let Some(fqdn) = to_fqdn(domain) else {
            return Err(RouteError::NoSuchDomain {
                domain: domain.to_owned(),
            });
        };
        let shown = display(&fqdn);
        let temporary = |reason: String| RouteError::Temporary {
            domain: shown.clone(),
            reason,
        };

        let records = match self.mx_records(&fqdn).await {
            Answer::Records(records) => records,
            Answer::NoData => Vec::new(),
            Answer::NxDomain => return Err(RouteError::NoSuchDomain { domain: shown }),
            Answer::Failed(reason) => return Err(temporary(format!("MX lookup: {reason}"))),
        };
        if let [(_, exchange)] = records.as_slice()
            && exchange.is_root()
        {
            return Err(RouteError::NullMx { domain: shown });
        }
        if records.is_empty() {
            return match self.addresses(fqdn).await {
                Ok(found) if !found.is_empty() => {
                    let (addresses, refused) = self.split_public(found);
                    if addresses.is_empty() {
                        return Err(RouteError::PrivateOnly {
                            domain: shown,
                            addresses: refused,
                        });
                    }
                    Ok(vec![MxHost {
                        name: shown,
                        preference: 0,
                        addresses,
                        implicit: true,
                    }])
                }
                Ok(_) => Err(temporary("no MX and no A/AAAA records".into())),
                Err(reason) => Err(temporary(format!("address lookup: {reason}"))),
            };
        }

        // A "." among other MX records is a misconfiguration (RFC 7505 §3
        // forbids mixing); it names no host, so it is simply not tried.
        let named: Vec<(u16, String)> = records
            .iter()
            .filter(|(_, exchange)| !exchange.is_root())
            .map(|(preference, exchange)| (*preference, display(exchange)))
            .collect();
        let mut ordered = by_preference(named, &mut rand::rng());
        ordered.truncate(MAX_MX_HOSTS);
        self.resolve_hosts(ordered)
            .await
            .map_err(|failure| match failure {
                Unusable::PrivateOnly(addresses) => RouteError::PrivateOnly {
                    domain: shown.clone(),
                    addresses,
                },
                Unusable::Unresolved(reason) => temporary(reason),
            })
    }

    /// `(kept, refused)`: with `allow_private` every address is kept.
    fn split_public(&self, addresses: Vec<IpAddr>) -> (Vec<IpAddr>, Vec<IpAddr>) {
        if self.allow_private {
            return (addresses, Vec::new());
        }
        addresses.into_iter().partition(|ip| is_public(*ip))
    }

    /// Resolves every MX host concurrently (one slow name server must not
    /// cost the sum of the timeouts) and keeps those with a usable address, in
    /// order.
    async fn resolve_hosts(&self, ordered: Vec<(u16, String)>) -> Result<Vec<MxHost>, Unusable> {
        let mut lookups = JoinSet::new();
        for (index, (_, host)) in ordered.iter().enumerate() {
            let resolver = self.clone();
            let name = to_fqdn(host);
            lookups.spawn(async move {
                let result = match name {
                    Some(name) => resolver.addresses(name).await,
                    None => Err("not a host name".to_owned()),
                };
                (index, result)
            });
        }
        let mut results: Vec<Option<Result<Vec<IpAddr>, String>>> = vec![None; ordered.len()];
        while let Some(joined) = lookups.join_next().await {
            // A lookup task only fails by panicking; treat that host as unresolved.
            if let Ok((index, result)) = joined
                && let Some(slot) = results.get_mut(index)
            {
                *slot = Some(result);
            }
        }

        let mut hosts = Vec::new();
        let mut skipped = Vec::new();
        let mut refused = Vec::new();
        // A host that could not be looked up may well be public: then only a retry
        // can tell, and "private only" is not a verdict.
        let mut lookup_failed = false;
        for ((preference, name), result) in ordered.into_iter().zip(results) {
            match result {
                Some(Ok(found)) if !found.is_empty() => {
                    let (addresses, private) = self.split_public(found);
                    if addresses.is_empty() {
                        skipped.push(format!("{name}: only non-public addresses"));
                    } else {
                        hosts.push(MxHost {
                            name,
                            preference,
                            addresses,
                            implicit: false,
                        });
                    }
                    refused.extend(private);
                }
                Some(Ok(_)) => skipped.push(format!("{name}: no A/AAAA records")),
                Some(Err(reason)) => {
                    lookup_failed = true;
                    skipped.push(format!("{name}: {reason}"));
                }
                None => {
                    lookup_failed = true;
                    skipped.push(format!("{name}: lookup aborted"));
                }
            }
        }
        if hosts.is_empty() {
            if !refused.is_empty() && !lookup_failed {
                return Err(Unusable::PrivateOnly(refused));
            }
            return Err(Unusable::Unresolved(format!(
                "no MX host has an address ({})",
                skipped.join("; ")
            )));
        }
        if !refused.is_empty() {
            tracing::debug!(?refused, "non-public MX addresses not used");
        }
        if !skipped.is_empty() {
            tracing::debug!(skipped = %skipped.join("; "), "MX hosts without an address");
        }
        Ok(hosts)
    }

    /// The MX records of `domain` as `(preference, exchange)`.
    async fn mx_records(&self, domain: &Name) -> Answer<Vec<(u16, Name)>> {
        match self.inner.mx_lookup(domain.clone()).await {
            Ok(lookup) => {
                let records: Vec<(u16, Name)> = lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::MX(mx) => Some((mx.preference, mx.exchange.clone())),
                        _ => None,
                    })
                    .collect();
                // An answer made only of a CNAME chain holds no MX either.
                if records.is_empty() {
                    Answer::NoData
                } else {
                    Answer::Records(records)
                }
            }
            Err(error) => classify(&error),
        }
    }

    /// The A then AAAA addresses of `host`, both asked at once. A failure of
    /// one family is ignored when the other gives addresses (a broken AAAA
    /// zone must not stop IPv4 delivery); with no address at all, a failure
    /// is reported so the caller can tell "none" from "could not ask".
    async fn addresses(&self, host: Name) -> Result<Vec<IpAddr>, String> {
        let (v4, v6) = tokio::join!(
            self.inner.ipv4_lookup(host.clone()),
            self.inner.ipv6_lookup(host)
        );
        let mut addresses = Vec::new();
        let mut failure = None;
        for result in [v4, v6] {
            let answer = match result {
                Ok(lookup) => Answer::Records(lookup),
                Err(error) => classify(&error),
            };
            match answer {
                Answer::Records(lookup) => {
                    for ip in lookup.answers().iter().filter_map(|r| r.data.ip_addr()) {
                        if !addresses.contains(&ip) {
                            addresses.push(ip);
                        }
                    }
                }
                Answer::NoData | Answer::NxDomain => {}
                Answer::Failed(reason) => failure = Some(reason),
            }
        }
        match failure {
            Some(reason) if addresses.is_empty() => Err(reason),
            _ => Ok(addresses),
        }
    }
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

/// Reads hickory's error: negative answers are data, the rest is trouble.
fn classify<T>(error: &NetError) -> Answer<T> {
    match error {
        NetError::Dns(DnsError::NoRecordsFound(none)) => match none.response_code {
            ResponseCode::NXDomain => Answer::NxDomain,
            ResponseCode::NoError => Answer::NoData,
            code => Answer::Failed(code.to_string()),
        },
        NetError::Dns(DnsError::ResponseCode(code)) => Answer::Failed(code.to_string()),
        other => Answer::Failed(other.to_string()),
    }
}
