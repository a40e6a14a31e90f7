//! Tenants' own quota limits. Only overrides are stored; the configured defaults
//! fill the rest, so changing a default reaches every tenant that did not override
//! it. Enforcement is in the accept script (`scripts::intake`).

use std::collections::HashMap;

use redis::AsyncCommands;
use sluice_model::{MessageStream, QuotasPatch, StreamQuotaPatch, TenantId, TenantQuotas};

use crate::keys::{self, quota_field};
use crate::{Store, StoreError};

impl Store {
    /// The tenant's effective limits: its overrides over `defaults`.
    pub async fn tenant_quotas(
        &self,
        tenant: &TenantId,
        defaults: &TenantQuotas,
    ) -> Result<TenantQuotas, StoreError> {
        let fields: HashMap<String, String> =
            self.conn().hgetall(keys::quota_overrides(tenant)).await?;
        let mut quotas = *defaults;
        for stream in MessageStream::ALL {
            let quota = quotas.get_mut(stream);
            let field = |name: &str| fields.get(&keys::quota_override_field(stream, name));
            if let Some(v) = field(quota_field::PER_SECOND).and_then(|v| v.parse().ok()) {
                quota.per_second = v;
            }
            if let Some(v) = field(quota_field::BURST).and_then(|v| v.parse().ok()) {
                quota.burst = v;
            }
            if let Some(v) = field(quota_field::PER_DAY).and_then(|v| v.parse().ok()) {
                quota.per_day = v;
            }
        }
        Ok(quotas)
    }

    /// Applies a patch: set values become overrides, `null`s drop the override.
    /// One MULTI, so a concurrent send sees the old limits or the new, never a mix.
    pub async fn update_tenant_quotas(
        &self,
        tenant: &TenantId,
        patch: &QuotasPatch,
    ) -> Result<(), StoreError> {
        let key = keys::quota_overrides(tenant);
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut changed = false;
        let streams = [
            (MessageStream::Transactional, &patch.transactional),
            (MessageStream::Bulk, &patch.bulk),
        ];
        for (stream, part) in streams {
            let Some(StreamQuotaPatch {
                per_second,
                burst,
                per_day,
            }) = part
            else {
                continue;
            };
            let changes = [
                (
                    quota_field::PER_SECOND,
                    per_second.map(|v| v.map(u64::from)),
                ),
                (quota_field::BURST, burst.map(|v| v.map(u64::from))),
                (quota_field::PER_DAY, *per_day),
            ];
            for (name, change) in changes {
                let field = keys::quota_override_field(stream, name);
                match change {
                    Some(Some(value)) => {
                        pipe.hset(&key, field, value).ignore();
                    }
                    Some(None) => {
                        pipe.hdel(&key, field).ignore();
                    }
                    None => continue,
                }
                changed = true;
            }
        }
        if !changed {
            return Ok(());
        }
        let _: () = pipe.query_async(&mut self.conn()).await?;
        Ok(())
    }
}
