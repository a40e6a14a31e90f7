//! TXT lookups for domain verification, through hickory-resolver.

use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig as HickoryConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData};

use super::records::TxtLookup;
use crate::routing::ResolverConfig;

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
    pub fn new(config: &ResolverConfig) -> Result<Self, String> {
        let mut builder = if config.name_servers.is_empty() {
            TokioResolver::builder_tokio()
                .map_err(|e| format!("system resolver configuration: {e}"))?
        } else {
            let servers = config
                .name_servers
                .iter()
                .map(|addr| {
                    let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
                        .into_iter()
                        .map(|mut connection| {
                            connection.port = addr.port();
                            connection
                        })
                        .collect();
                    NameServerConfig::new(addr.ip(), true, connections)
                })
                .collect();
            TokioResolver::builder_with_config(
                HickoryConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            )
        };
        let options = builder.options_mut();
        options.timeout = config.timeout;
        options.attempts = config.attempts.saturating_sub(1);
        options.ndots = 0;
        options.use_hosts_file = ResolveHosts::Never;
        options.positive_max_ttl = Some(Duration::ZERO);
        options.negative_max_ttl = Some(Duration::ZERO);
        let inner = builder.build().map_err(|e| format!("DNS resolver: {e}"))?;
        Ok(Self { inner })
    }

    /// The TXT records at `name`, each record's character-strings joined.
    pub async fn txt(&self, name: &str) -> TxtLookup {
        let Ok(mut fqdn) = Name::from_utf8(name.trim_end_matches('.')) else {
            return TxtLookup::NotFound;
        };
        fqdn.set_fqdn(true);
        match self.inner.txt_lookup(fqdn).await {
            Ok(lookup) => {
                let records: Vec<String> = lookup
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
                    .collect();
                if records.is_empty() {
                    TxtLookup::NotFound
                } else {
                    TxtLookup::Found(records)
                }
            }
            Err(error) => classify(&error),
        }
    }
}

/// NXDOMAIN and NODATA are answers ("not there"); anything else is a failed lookup.
fn classify(error: &NetError) -> TxtLookup {
    match error {
        NetError::Dns(DnsError::NoRecordsFound(none))
            if matches!(
                none.response_code,
                ResponseCode::NXDomain | ResponseCode::NoError
            ) =>
        {
            TxtLookup::NotFound
        }
        NetError::Dns(DnsError::NoRecordsFound(none)) => {
            TxtLookup::Failed(none.response_code.to_string())
        }
        NetError::Dns(DnsError::ResponseCode(code)) => TxtLookup::Failed(code.to_string()),
        other => TxtLookup::Failed(other.to_string()),
    }
}
