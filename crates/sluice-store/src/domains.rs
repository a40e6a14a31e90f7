//! Sending domains and their DKIM keys.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use redis::AsyncCommands;
use sluice_model::{DkimAlgorithm, DkimInfo, DomainName, TenantId};
use time::OffsetDateTime;

use crate::{Store, StoreError, from_ms, keys, scripts, to_ms};

/// A domain as stored, including the private key. Never serialised to the API.
#[derive(Clone)]
pub struct DomainRecord {
    pub name: DomainName,
    pub dkim: DkimInfo,
    pub private_key_pkcs8_der: Vec<u8>,
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for DomainRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainRecord")
            .field("name", &self.name)
            .field("dkim", &self.dkim)
            .field("private_key_pkcs8_der", &"<redacted>")
            .finish()
    }
}

impl Store {
    /// Stores a new domain; returns `false` (and changes nothing) when the tenant
    /// already has it.
    pub async fn create_domain(
        &self,
        tenant: &TenantId,
        domain: &DomainRecord,
    ) -> Result<bool, StoreError> {
        let added: i64 = scripts::CREATE_DOMAIN
            .key(keys::tenant_domains(tenant))
            .key(keys::domain(tenant, domain.name.as_str()))
            .arg(domain.name.as_str())
            .arg(&[
                ("name", domain.name.as_str().to_string()),
                ("selector", domain.dkim.selector.clone()),
                ("algorithm", domain.dkim.algorithm.as_str().to_string()),
                ("public_key", domain.dkim.public_key.clone()),
                (
                    "private_key",
                    STANDARD.encode(&domain.private_key_pkcs8_der),
                ),
                ("created_at", to_ms(domain.created_at).to_string()),
            ])
            .invoke_async(&mut self.conn())
            .await?;
        Ok(added == 1)
    }

    pub async fn get_domain(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<DomainRecord>, StoreError> {
        let key = keys::domain(tenant, name);
        let fields: HashMap<String, String> = self.conn().hgetall(&key).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let field = |n: &str| {
            fields
                .get(n)
                .ok_or_else(|| StoreError::corrupt(&key, format!("no {n}")))
        };
        let algorithm = DkimAlgorithm::parse(field("algorithm")?)
            .ok_or_else(|| StoreError::corrupt(&key, "algorithm"))?;
        Ok(Some(DomainRecord {
            name: DomainName::parse(field("name")?).map_err(|e| StoreError::corrupt(&key, e))?,
            dkim: DkimInfo {
                selector: field("selector")?.clone(),
                algorithm,
                public_key: field("public_key")?.clone(),
            },
            private_key_pkcs8_der: STANDARD
                .decode(field("private_key")?)
                .map_err(|e| StoreError::corrupt(&key, e))?,
            created_at: from_ms(field("created_at")?.parse().unwrap_or_default()),
        }))
    }

    pub async fn has_domain(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .sismember(keys::tenant_domains(tenant), name)
            .await?)
    }
}
