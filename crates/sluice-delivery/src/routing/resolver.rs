//! MX resolution (RFC 5321 §5.1, RFC 7505) on top of hickory-resolver.

use std::net::IpAddr;

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::{Name, RData};
use sluice_domains::resolver::{Caching, DnsAnswer, ResolverConfig, build_resolver};
use sluice_model::net::is_public;
use tokio::task::JoinSet;

use super::RouteError;
use super::name::{display, to_fqdn};
use super::order::by_preference;

/// At most this many MX hosts are resolved per domain: a guard against a
/// hostile zone turning one message into hundreds of lookups. Real domains
/// publish a handful (Postfix tries 5 addresses by default).
const MAX_MX_HOSTS: usize = 16;

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

impl MxResolver {
    /// Builds a resolver with [`build_resolver`] (the same name servers and rules
    /// as domain verification), caching answers for their TTL.
    pub fn new(config: &ResolverConfig) -> Result<Self, RouteError> {
        let inner = build_resolver(config, Caching::FollowTtl).map_err(super::ConfigError::from)?;
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
            DnsAnswer::Records(records) => records,
            DnsAnswer::NoData => Vec::new(),
            DnsAnswer::NxDomain => return Err(RouteError::NoSuchDomain { domain: shown }),
            DnsAnswer::Failed(reason) => return Err(temporary(format!("MX lookup: {reason}"))),
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
    async fn mx_records(&self, domain: &Name) -> DnsAnswer<Vec<(u16, Name)>> {
        let answer = DnsAnswer::from_result(self.inner.mx_lookup(domain.clone()).await).map(
            |lookup| -> Vec<(u16, Name)> {
                lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::MX(mx) => Some((mx.preference, mx.exchange.clone())),
                        _ => None,
                    })
                    .collect()
            },
        );
        match answer {
            // An answer made only of a CNAME chain holds no MX either.
            DnsAnswer::Records(records) if records.is_empty() => DnsAnswer::NoData,
            other => other,
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
            match DnsAnswer::from_result(result) {
                DnsAnswer::Records(lookup) => {
                    for ip in lookup.answers().iter().filter_map(|r| r.data.ip_addr()) {
                        if !addresses.contains(&ip) {
                            addresses.push(ip);
                        }
                    }
                }
                DnsAnswer::NoData | DnsAnswer::NxDomain => {}
                DnsAnswer::Failed(reason) => failure = Some(reason),
            }
        }
        match failure {
            Some(reason) if addresses.is_empty() => Err(reason),
            _ => Ok(addresses),
        }
    }
}
