//! TXT lookups for domain verification, through the one resolver builder
//! ([`crate::resolver`]).

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::{Name, RData};

use crate::records::TxtLookup;
use crate::resolver::{Caching, DnsAnswer, ResolverConfig, ResolverError, build_resolver};

/// Asks the configured name servers for TXT records, without caching: a user who has
/// just fixed a record and asks to verify again must see the fix, not the answer
/// cached from the previous attempt.
#[derive(Clone)]
pub struct TxtResolver {
    inner: TokioResolver,
}

impl std::fmt::Debug for TxtResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxtResolver").finish_non_exhaustive()
    }
}

impl TxtResolver {
    /// Same name-server choice as MX routing (`MxResolver`): the configured servers
    /// only, or the system's; never `/etc/hosts`, names always fully qualified.
    pub fn new(config: &ResolverConfig) -> Result<Self, ResolverError> {
        let inner = build_resolver(config, Caching::Off)?;
        Ok(Self { inner })
    }

    /// The TXT records at `name`, each record's character-strings joined.
    pub async fn txt(&self, name: &str) -> TxtLookup {
        match txt_records(&self.inner, name).await {
            Ok(records) if records.is_empty() => TxtLookup::NotFound,
            Ok(records) => TxtLookup::Found(records),
            Err(reason) => TxtLookup::Failed(reason),
        }
    }
}

/// The TXT records at `name` through `resolver`, each record's character-strings
/// joined; empty when the name or its TXT records do not exist (or `name` is not a
/// DNS name), `Err` with the reason when the lookup failed. Shared by domain
/// verification and MTA-STS / TLS-RPT discovery, whatever their resolver's caching.
pub async fn txt_records(resolver: &TokioResolver, name: &str) -> Result<Vec<String>, String> {
    let Ok(mut fqdn) = Name::from_utf8(name.trim_end_matches('.')) else {
        return Ok(Vec::new());
    };
    fqdn.set_fqdn(true);
    match DnsAnswer::from_result(resolver.txt_lookup(fqdn).await) {
        DnsAnswer::Records(lookup) => Ok(lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part))
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect()),
        DnsAnswer::NoData | DnsAnswer::NxDomain => Ok(Vec::new()),
        DnsAnswer::Failed(reason) => Err(reason),
    }
}
