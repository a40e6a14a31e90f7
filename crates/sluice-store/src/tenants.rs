//! Tenants and their API keys. Keys are random 40-character secrets shown once;
//! only their SHA-256 is stored, so a leaked Redis dump holds no usable key.

use std::collections::HashMap;

use rand::Rng;
use rand::distr::Alphanumeric;
use redis::AsyncCommands;
use sha2::{Digest, Sha256};
use sluice_model::{ApiKeyCreated, ApiKeyId, MessageStream, Scope, TenantId, TenantView};
use time::OffsetDateTime;

use crate::{Store, StoreError, from_ms, keys, now_ms, to_ms};

/// What an API key is allowed to do, as looked up on each request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub scopes: Vec<Scope>,
}

pub(crate) fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Store {
    pub async fn create_tenant(&self, name: &str) -> Result<TenantView, StoreError> {
        let id = TenantId::generate();
        let now = now_ms();
        let mut conn = self.conn();
        let _: () = conn
            .hset_multiple(
                keys::tenant(&id),
                &[
                    ("id", id.as_str()),
                    ("name", name),
                    ("created_at", &now.to_string()),
                ],
            )
            .await?;
        Ok(TenantView {
            id,
            name: name.to_string(),
            created_at: from_ms(now),
            pools: Default::default(),
        })
    }

    pub async fn get_tenant(&self, id: &TenantId) -> Result<Option<TenantView>, StoreError> {
        let key = keys::tenant(id);
        let fields: HashMap<String, String> = self.conn().hgetall(&key).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let created_at = fields
            .get("created_at")
            .and_then(|v| v.parse().ok())
            .unwrap_or_default();
        let pools = MessageStream::ALL
            .into_iter()
            .filter_map(|stream| {
                fields
                    .get(&format!("pool:{stream}"))
                    .map(|pool| (stream, pool.clone()))
            })
            .collect();
        Ok(Some(TenantView {
            id: id.clone(),
            name: fields.get("name").cloned().unwrap_or_default(),
            created_at: from_ms(created_at),
            pools,
        }))
    }

    pub async fn create_api_key(
        &self,
        tenant: &TenantId,
        scopes: &[Scope],
    ) -> Result<ApiKeyCreated, StoreError> {
        let id = ApiKeyId::generate();
        let secret: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(40)
            .map(char::from)
            .collect();
        let key = format!("sk_{secret}");
        let created_at = OffsetDateTime::now_utc();
        let scopes_joined = scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let mut conn = self.conn();
        let _: () = conn
            .hset_multiple(
                keys::api_key(&hash_secret(&key)),
                &[
                    ("id", id.as_str()),
                    ("tenant", tenant.as_str()),
                    ("scopes", &scopes_joined),
                    ("created_at", &to_ms(created_at).to_string()),
                ],
            )
            .await?;
        let _: () = conn
            .sadd(keys::tenant_api_keys(tenant), id.as_str())
            .await?;
        Ok(ApiKeyCreated {
            id,
            tenant_id: tenant.clone(),
            key,
            scopes: scopes.to_vec(),
            created_at,
        })
    }

    /// The key's record, or `None` when no such key exists.
    pub async fn authenticate_api_key(
        &self,
        key: &str,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let redis_key = keys::api_key(&hash_secret(key));
        let fields: HashMap<String, String> = self.conn().hgetall(&redis_key).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let field = |name: &str| {
            fields
                .get(name)
                .ok_or_else(|| StoreError::corrupt(&redis_key, format!("no {name}")))
        };
        let id = ApiKeyId::parse(field("id")?).map_err(|e| StoreError::corrupt(&redis_key, e))?;
        let tenant_id =
            TenantId::parse(field("tenant")?).map_err(|e| StoreError::corrupt(&redis_key, e))?;
        let scopes = field("scopes")?
            .split(',')
            .filter_map(Scope::parse)
            .collect();
        Ok(Some(ApiKeyRecord {
            id,
            tenant_id,
            scopes,
        }))
    }
}

impl Store {
    /// The tenant registered under `label`, created (named `name`) on first use. Lets
    /// `sluice dev` reuse its tenant across runs instead of piling up new ones.
    pub async fn ensure_labeled_tenant(
        &self,
        label: &str,
        name: &str,
    ) -> Result<TenantView, StoreError> {
        let label_key = format!("sluice:tenant-label:{label}");
        let existing: Option<String> = self.conn().get(&label_key).await?;
        if let Some(id) = existing.and_then(|id| TenantId::parse(&id).ok())
            && let Some(tenant) = self.get_tenant(&id).await?
        {
            return Ok(tenant);
        }
        let tenant = self.create_tenant(name).await?;
        let _: () = self.conn().set(&label_key, tenant.id.as_str()).await?;
        Ok(tenant)
    }
}

impl Store {
    /// Sets (`Some`) or clears (`None`) the tenant's pool for each named stream.
    pub async fn set_tenant_pools(
        &self,
        tenant: &TenantId,
        pools: &[(MessageStream, Option<String>)],
    ) -> Result<(), StoreError> {
        let key = keys::tenant(tenant);
        let mut pipe = redis::pipe();
        for (stream, pool) in pools {
            let field = format!("pool:{stream}");
            match pool {
                Some(pool) => pipe.hset(&key, field, pool).ignore(),
                None => pipe.hdel(&key, field).ignore(),
            };
        }
        let _: () = pipe.query_async(&mut self.conn()).await?;
        Ok(())
    }
}
