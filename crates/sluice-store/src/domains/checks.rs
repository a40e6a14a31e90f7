//! The schedule of periodic domain re-verification: one ZSET of `<tenant>|<domain>`
//! scored by when the domain is next due (unix ms).
//!
//! Claiming a due domain pushes its score forward by a lease in the same script, so
//! while one process checks a domain no other sees it as due; if that process dies,
//! the lease runs out and someone else takes it. When the check is done, the domain
//! is rescheduled a full interval later.

use redis::AsyncCommands;
use sluice_model::TenantId;
use time::OffsetDateTime;

use crate::{Store, StoreError, keys, scripts, to_ms};

fn member(tenant: &TenantId, name: &str) -> String {
    format!("{tenant}|{name}")
}

impl Store {
    /// (Re)schedules the domain's next periodic check.
    pub async fn schedule_domain_check(
        &self,
        tenant: &TenantId,
        name: &str,
        due: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let _: i64 = self
            .conn()
            .zadd(keys::domain_checks(), member(tenant, name), to_ms(due))
            .await?;
        Ok(())
    }

    /// Takes up to `limit` domains due at `now`, leasing each until `lease_until`.
    pub async fn claim_domain_checks(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<(TenantId, String)>, StoreError> {
        let members: Vec<String> = scripts::CLAIM_DOMAIN_CHECKS
            .key(keys::domain_checks())
            .arg(to_ms(now))
            .arg(to_ms(lease_until))
            .arg(limit)
            .invoke_async(&mut self.conn())
            .await?;
        let mut claimed = Vec::with_capacity(members.len());
        for m in members {
            let parsed = m
                .split_once('|')
                .and_then(|(t, name)| Some((TenantId::parse(t).ok()?, name.to_string())));
            match parsed {
                Some(entry) => claimed.push(entry),
                None => {
                    tracing::warn!(member = %m, "dropping an unreadable domain check entry");
                    let _: i64 = self.conn().zrem(keys::domain_checks(), &m).await?;
                }
            }
        }
        Ok(claimed)
    }

    /// Drops a domain from the schedule (it no longer exists).
    pub async fn unschedule_domain_check(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<(), StoreError> {
        let _: i64 = self
            .conn()
            .zrem(keys::domain_checks(), member(tenant, name))
            .await?;
        Ok(())
    }

    /// Schedules, at `due`, every domain not yet on the schedule: domains created
    /// before periodic checks existed, or whose scheduling failed. A SCAN over the
    /// tenants' domain sets, so it runs once per process start, not per tick.
    pub async fn backfill_domain_checks(&self, due: OffsetDateTime) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let mut added = 0;
        for set in conn.scan_keys(keys::TENANT_DOMAINS_PATTERN).await? {
            let Some(tenant) =
                keys::tenant_of_domains_set(&set).and_then(|t| TenantId::parse(t).ok())
            else {
                continue;
            };
            let names: Vec<String> = conn.smembers(&set).await?;
            if names.is_empty() {
                continue;
            }
            let mut cmd = redis::cmd("ZADD");
            cmd.arg(keys::domain_checks()).arg("NX");
            for name in &names {
                cmd.arg(to_ms(due)).arg(member(&tenant, name));
            }
            let n: usize = cmd.query_async(&mut conn).await?;
            added += n;
        }
        Ok(added)
    }
}
