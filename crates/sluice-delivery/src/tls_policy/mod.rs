//! Outbound TLS policy: MTA-STS (RFC 8461) and TLS reporting (RFC 8460).
//!
//! Opportunistic STARTTLS stays the default for every MX host. A recipient domain
//! that publishes an MTA-STS policy changes that for its mail:
//!
//! - `_mta-sts.<domain>` TXT (through `delivery.dns_servers`) gives the policy's id;
//!   the policy itself comes from `https://mta-sts.<domain>/.well-known/mta-sts.txt`
//!   ([`fetch`]) and is cached in Redis for its `max_age`, shared by every worker
//!   process; a new id in DNS fetches it again.
//! - `enforce`: mail goes only to MX hosts the policy's `mx` patterns match, over
//!   STARTTLS with a certificate verified against the MX host name; anything else
//!   defers (a `451 4.7.5` reply in the recipient's result), never plain text.
//! - `testing`: mail goes as usual; what `enforce` would have refused is recorded for
//!   TLS-RPT.
//! - A fetch that fails uses the cached policy if one has not expired, else the
//!   domain is treated as having none (RFC 8461 §5: a sender must not stop mail
//!   because a policy could not be fetched).
//!
//! [`report`] counts every TLS negotiation per recipient domain and day and sends
//! the daily aggregate report (RFC 8460) to the domain's `_smtp._tls` addresses.

pub mod fetch;
pub mod mail;
pub mod policy;
pub mod report;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sluice_store::Store;

use fetch::{FetchError, Fetcher, Txt};
pub use policy::{Mode, Policy};

/// How outbound TLS policy is applied (the `delivery.mta_sts*`, `delivery.tls_*`
/// settings).
#[derive(Clone, Debug)]
pub struct TlsPolicyConfig {
    /// Look up and apply MTA-STS policies (`delivery.mta_sts`, on by default).
    pub mta_sts: bool,
    /// The HTTPS port of policy hosts: 443 except in tests (`delivery.mta_sts_port`).
    pub port: u16,
    /// PEM certificates trusted besides the Mozilla roots for policy fetches, report
    /// POSTs and MX hosts verified under a policy (`delivery.tls_extra_roots`).
    pub extra_roots: Vec<u8>,
    /// One policy fetch or report POST, all included.
    pub fetch_timeout: Duration,
    /// Record TLS outcomes and send daily reports as this identity; `None`: off.
    pub tls_rpt: Option<report::ReportIdentity>,
    /// How often a process checks whether yesterday's reports are due.
    pub report_check: Duration,
    /// Sends reports to `mailto:` addresses through the queue; `None`: skipped.
    pub report_mail: Option<mail::MailSender>,
}

impl Default for TlsPolicyConfig {
    fn default() -> Self {
        Self {
            mta_sts: true,
            port: 443,
            extra_roots: Vec::new(),
            fetch_timeout: Duration::from_secs(10),
            tls_rpt: None,
            report_check: Duration::from_secs(3600),
            report_mail: None,
        }
    }
}

/// A policy as cached in Redis: the TXT id it was fetched under and its text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Cached {
    id: String,
    text: String,
    /// When it was fetched (unix ms).
    fetched_at: i64,
}

/// The policy that applies to one delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StsPolicy {
    pub id: String,
    /// The body as fetched (TLS-RPT reports it line by line).
    pub text: String,
    pub policy: Policy,
}

/// What a lookup found: the policy to apply (if any) and a fetch failure to report.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    pub policy: Option<Arc<StsPolicy>>,
    pub failure: Option<FetchError>,
}

impl Applied {
    /// The mode in force: `None` when there is no policy.
    pub fn mode(&self) -> Mode {
        self.policy.as_ref().map_or(Mode::None, |p| p.policy.mode)
    }
}

/// MTA-STS lookups with the Redis cache. Cheap to clone.
#[derive(Clone)]
pub struct MtaSts {
    fetcher: Fetcher,
    store: Store,
    enabled: bool,
}

impl MtaSts {
    pub fn new(fetcher: Fetcher, store: Store, enabled: bool) -> Self {
        Self {
            fetcher,
            store,
            enabled,
        }
    }

    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// The policy for mail to `domain` (RFC 8461 §5.1), never an error: any trouble
    /// falls back to the cached policy, else to none.
    pub async fn policy_for(&self, domain: &str) -> Applied {
        if !self.enabled {
            return Applied::default();
        }
        let cached = self.cached(domain).await;
        let id = match self.fetcher.mta_sts_id(domain).await {
            Txt::Found(id) => id,
            // No record, or DNS trouble: an unexpired cached policy still holds
            // (§5.1: removing the record does not withdraw a cached policy).
            Txt::Absent | Txt::Failed(_) => return applied(cached, None),
        };
        if let Some(current) = cached.as_ref().filter(|c| c.id == id) {
            return applied(Some(current.clone()), None);
        }
        match self.fetch(domain, &id).await {
            Ok(fresh) => applied(Some(fresh), None),
            Err(failure) => {
                tracing::info!(%domain, error = %failure, cached = cached.is_some(),
                    "MTA-STS policy fetch failed");
                metrics::counter!("sluice_mta_sts_fetch_failures_total").increment(1);
                applied(cached, Some(failure))
            }
        }
    }

    /// Fetches, parses and caches `domain`'s policy published under `id`.
    async fn fetch(&self, domain: &str, id: &str) -> Result<Arc<StsPolicy>, FetchError> {
        let text = self.fetcher.policy_text(domain).await?;
        let policy = Policy::parse(&text).map_err(|e| FetchError::Invalid(e.to_string()))?;
        metrics::counter!("sluice_mta_sts_fetches_total").increment(1);
        let cached = Cached {
            id: id.to_owned(),
            text: text.clone(),
            fetched_at: sluice_model::time::now_ms(),
        };
        if let Ok(json) = serde_json::to_string(&cached)
            && let Err(e) = self
                .store
                .mta_sts_store(domain, &json, Duration::from_secs(policy.max_age))
                .await
        {
            // Used for this delivery anyway; the next one fetches again.
            tracing::warn!(%domain, error = %e, "could not cache the MTA-STS policy");
        }
        Ok(Arc::new(StsPolicy {
            id: id.to_owned(),
            text,
            policy,
        }))
    }

    /// The unexpired cached policy (Redis expires it with its `max_age`).
    async fn cached(&self, domain: &str) -> Option<Arc<StsPolicy>> {
        let json = match self.store.mta_sts_cached(domain).await {
            Ok(json) => json?,
            Err(e) => {
                tracing::warn!(%domain, error = %e, "could not read the cached MTA-STS policy");
                return None;
            }
        };
        let cached: Cached = serde_json::from_str(&json).ok()?;
        let policy = Policy::parse(&cached.text).ok()?;
        Some(Arc::new(StsPolicy {
            id: cached.id,
            text: cached.text,
            policy,
        }))
    }
}

fn applied(policy: Option<Arc<StsPolicy>>, failure: Option<FetchError>) -> Applied {
    // `mode: none` is a policy saying there is none.
    let policy = policy.filter(|p| p.policy.mode != Mode::None);
    Applied { policy, failure }
}
