//! Sending-domain verification: look up the DKIM, SPF and DMARC records a domain
//! should publish ([`records`] compares them), move its keys along their life
//! ([`lifecycle`]: pending → active → retiring → gone), store the result, and tell
//! the tenant when a verified domain stops verifying. The API runs a check on
//! request; [`Reverifier`] runs them periodically.

pub mod lifecycle;
pub mod lookup;
pub mod records;
mod reverify;

use std::sync::Arc;
use std::time::Duration;

use sluice_model::{DkimKeyState, DnsCheck, DnsCheckStatus, EventType, MessageEvent, TenantId};
use sluice_store::{DomainRecord, DomainUpdate, Store, StoreError};
use time::OffsetDateTime;
use tokio::task::JoinSet;

use crate::dkim::{DnsRecordSettings, dmarc_record_value};
use crate::routing::ResolverConfig;
use lookup::TxtResolver;
use records::TxtLookup;
pub use reverify::Reverifier;

/// The current time at the precision domains are stored with (milliseconds), so an
/// answer built from a record just written equals the record read back later.
pub fn now() -> OffsetDateTime {
    sluice_model::time::from_ms(sluice_model::time::now_ms())
}

/// How many times a check is recomputed when the domain changed under it.
const UPDATE_ATTEMPTS: usize = 5;

/// Operator settings for domains (`[domains]`).
#[derive(Clone, Debug)]
pub struct DomainSettings {
    /// What tenants are told to publish; verification checks the same.
    pub dns: DnsRecordSettings,
    /// How long a replaced key keeps its record published (`domains.dkim_overlap`).
    pub dkim_overlap: Duration,
    /// How often every domain's DNS is checked again (`domains.reverify_interval`).
    pub reverify_interval: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the domain kept changing while it was being verified; try again")]
    Busy,
    #[error("invalid DNS resolver configuration: {0}")]
    Resolver(String),
}

/// Checks domains' DNS and records the outcome. Cheap to clone.
#[derive(Clone, Debug)]
pub struct DomainVerifier {
    resolver: TxtResolver,
    settings: Arc<DomainSettings>,
}

impl DomainVerifier {
    pub fn new(resolver: &ResolverConfig, settings: DomainSettings) -> Result<Self, VerifyError> {
        Ok(Self {
            resolver: TxtResolver::new(resolver).map_err(VerifyError::Resolver)?,
            settings: Arc::new(settings),
        })
    }

    pub fn settings(&self) -> &DomainSettings {
        &self.settings
    }

    /// Checks the domain's records now and stores the outcome (key activations and
    /// retirements included). `None`: the tenant has no such domain.
    pub async fn verify(
        &self,
        store: &Store,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<DomainRecord>, VerifyError> {
        for _ in 0..UPDATE_ATTEMPTS {
            let Some(previous) = store.get_domain(tenant, name).await? else {
                return Ok(None);
            };
            let checks = self.lookup(&previous).await;
            let now = now();
            let checked =
                lifecycle::apply_checks(&previous, checks, now, self.settings.dkim_overlap);
            match store
                .update_domain(tenant, &previous, &checked.next)
                .await?
            {
                DomainUpdate::Applied => {}
                DomainUpdate::Gone => return Ok(None),
                DomainUpdate::Conflict => continue,
            }
            for selector in &checked.activated {
                tracing::info!(%tenant, domain = %name, %selector, "DKIM key activated: its record verified");
            }
            if let Some(failed) = checked.failed {
                self.report_failure(store, tenant, now, failed).await;
            }
            let due = now + self.settings.reverify_interval;
            if let Err(e) = store.schedule_domain_check(tenant, name, due).await {
                tracing::warn!(%tenant, domain = %name, error = %e, "could not schedule the next domain check");
            }
            let mut stored = checked.next;
            stored.version = previous.version + 1;
            return Ok(Some(stored));
        }
        Err(VerifyError::Busy)
    }

    /// Looks up every record the domain should publish, concurrently (one slow name
    /// server must not cost the sum of the timeouts).
    pub async fn lookup(&self, record: &DomainRecord) -> Vec<DnsCheck> {
        let domain = record.name.as_str().to_string();
        let mut names: Vec<String> = record
            .keys
            .iter()
            .map(|k| format!("{}._domainkey.{domain}", k.info.selector))
            .collect();
        names.push(domain.clone());
        names.push(format!("_dmarc.{domain}"));
        let mut lookups = JoinSet::new();
        for (index, name) in names.iter().enumerate() {
            let (resolver, name) = (self.resolver.clone(), name.clone());
            lookups.spawn(async move { (index, resolver.txt(&name).await) });
        }
        let mut answers = vec![TxtLookup::Failed("lookup aborted".into()); names.len()];
        while let Some(joined) = lookups.join_next().await {
            if let Ok((index, answer)) = joined
                && let Some(slot) = answers.get_mut(index)
            {
                *slot = answer;
            }
        }
        let mut checks: Vec<DnsCheck> = record
            .keys
            .iter()
            .zip(&answers)
            .zip(&names)
            .map(|((key, answer), name)| {
                records::check_dkim(name, &key.info, key.state == DkimKeyState::Active, answer)
            })
            .collect();
        let n = record.keys.len();
        checks.push(records::check_spf(
            &domain,
            &self.settings.dns.spf_include,
            &answers[n],
        ));
        checks.push(records::check_dmarc(
            &names[n + 1],
            &dmarc_record_value(&self.settings.dns),
            &answers[n + 1],
        ));
        checks
    }

    async fn report_failure(
        &self,
        store: &Store,
        tenant: &TenantId,
        now: OffsetDateTime,
        failed: sluice_model::DomainEventData,
    ) {
        let records: Vec<String> = failed
            .failed_records
            .iter()
            .map(|c| {
                let status = match c.status {
                    DnsCheckStatus::Missing => "missing",
                    _ => "does not match",
                };
                format!("{} ({status})", c.name)
            })
            .collect();
        tracing::warn!(%tenant, domain = %failed.name, records = %records.join(", "), "a verified domain failed verification");
        metrics::counter!("sluice_domain_verification_failures_total").increment(1);
        let mut event = MessageEvent::new(EventType::DomainVerificationFailed, now).detail(format!(
            "{} is no longer verified: {}. Fix the records, then verify it again with POST /v1/domains/{}/verify",
            failed.name,
            records.join(", "),
            failed.name
        ));
        event.domain = Some(failed);
        if let Err(e) = store.record_tenant_event(tenant, &event).await {
            tracing::error!(%tenant, error = %e, "could not record the domain.verification_failed event");
        }
    }
}
