//! Tenants and their API keys. Keys are random 40-character secrets shown once;
//! only their SHA-256 is stored, so a leaked Redis dump holds no usable key.

use std::collections::HashMap;

use redis::AsyncCommands;
use sha2::{Digest, Sha256};
use sluice_model::{
    ApiKeyCreated, ApiKeyId, ApiKeyMode, ApiKeyStatus, ApiKeyView, MessageStream, Scope, TenantId,
    TenantView,
};
use time::OffsetDateTime;

use crate::{Store, StoreError, from_ms, keys, now_ms, to_ms};

/// What an API key is allowed to do, as looked up on each request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub scopes: Vec<Scope>,
    /// `test` for a sandbox key: its messages are simulated, never sent.
    pub mode: ApiKeyMode,
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
            quotas: None,
            reputation: None,
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
            quotas: None,
            reputation: None,
        }))
    }
}

/// What to create: the scopes, the mode, and optionally a label and an expiry.
#[derive(Clone, Debug, Default)]
pub struct NewApiKey {
    pub scopes: Vec<Scope>,
    pub name: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
    /// `test` makes a sandbox key (`sk_test_…`).
    pub mode: ApiKeyMode,
}

/// The outcome of presenting a key. `Expired` is told apart from `Unknown` so the
/// caller learns why it was refused, for a grace week after expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyLookup {
    Valid(ApiKeyRecord),
    Expired,
    Unknown,
}

/// How long an expired key's lookup record stays, so requests with it are told the
/// key expired (rather than that it is unknown) before Redis drops it.
const EXPIRED_KEY_GRACE_MS: i64 = 7 * 24 * 3600 * 1000;

impl Store {
    pub async fn create_api_key(
        &self,
        tenant: &TenantId,
        scopes: &[Scope],
    ) -> Result<ApiKeyCreated, StoreError> {
        self.create_api_key_with(
            tenant,
            &NewApiKey {
                scopes: scopes.to_vec(),
                ..NewApiKey::default()
            },
        )
        .await
    }

    /// Creates a key. Two records are written: the lookup record under the secret's
    /// hash (what every request reads) and the tenant-scoped record (what listing
    /// and revocation read). See [`Store::revoke_api_key`] for why one MULTI.
    pub async fn create_api_key_with(
        &self,
        tenant: &TenantId,
        new: &NewApiKey,
    ) -> Result<ApiKeyCreated, StoreError> {
        let id = ApiKeyId::generate();
        let secret = crate::random_token(40);
        // A sandbox key says so in its prefix, so it is told apart at a glance (and by
        // secret scanners) from one that sends real mail.
        let key = match new.mode {
            ApiKeyMode::Live => format!("sk_{secret}"),
            ApiKeyMode::Test => format!("sk_test_{secret}"),
        };
        let hash = hash_secret(&key);
        // Millisecond precision, as stored, so this answer and later listings agree.
        let created_at = from_ms(now_ms());
        let expires_at = new.expires_at.map(|at| from_ms(to_ms(at)));
        let scopes_joined = new
            .scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let created_ms = to_ms(created_at).to_string();
        let expires_ms = expires_at.map(to_ms);
        let expires_text = expires_ms.map(|ms| ms.to_string()).unwrap_or_default();
        let last4 = &secret[secret.len().saturating_sub(4)..];
        let lookup_key = keys::api_key(&hash);
        let record_key = keys::tenant_api_key(tenant, &id);
        // Two steps, the tenant's record first (the lookup record has no hash tag, so
        // on a cluster it lives elsewhere): a key must never work without being
        // listed and revocable.
        let mut listed = redis::pipe();
        listed.atomic();
        listed
            .hset_multiple(
                &record_key,
                &[
                    ("id", id.as_str()),
                    ("name", new.name.as_deref().unwrap_or_default()),
                    ("scopes", &scopes_joined),
                    ("created_at", &created_ms),
                    ("expires_at", &expires_text),
                    ("last4", last4),
                    ("hash", &hash),
                    ("mode", new.mode.as_str()),
                ],
            )
            .ignore();
        listed
            .sadd(keys::tenant_api_keys(tenant), id.as_str())
            .ignore();
        let mut lookup = redis::pipe();
        lookup.atomic();
        lookup
            .hset_multiple(
                &lookup_key,
                &[
                    ("id", id.as_str()),
                    ("tenant", tenant.as_str()),
                    ("scopes", &scopes_joined),
                    ("created_at", &created_ms),
                    ("expires_at", &expires_text),
                    ("mode", new.mode.as_str()),
                ],
            )
            .ignore();
        if let Some(expires_ms) = expires_ms {
            let retention = self.retention.as_millis() as i64;
            lookup
                .cmd("PEXPIREAT")
                .arg(&lookup_key)
                .arg(expires_ms + EXPIRED_KEY_GRACE_MS)
                .ignore();
            listed
                .cmd("PEXPIREAT")
                .arg(&record_key)
                .arg(expires_ms + retention)
                .ignore();
        }
        let _: () = listed.query_async(&mut self.conn()).await?;
        let _: () = lookup.query_async(&mut self.conn()).await?;
        Ok(ApiKeyCreated {
            id,
            tenant_id: tenant.clone(),
            name: new.name.clone(),
            key,
            scopes: new.scopes.clone(),
            mode: new.mode,
            created_at,
            expires_at,
        })
    }

    /// Looks a presented key up: one HGETALL, no cache, so a revocation holds on every
    /// node at once. The expiry is checked here on every request; the Redis expiry on
    /// the record only cleans up.
    pub async fn authenticate_api_key(&self, key: &str) -> Result<KeyLookup, StoreError> {
        self.lookup_api_key(&hash_secret(key)).await
    }

    /// The lookup record under a key's hash, checked as every request checks it.
    pub(crate) async fn lookup_api_key(&self, hash: &str) -> Result<KeyLookup, StoreError> {
        let redis_key = keys::api_key(hash);
        let fields: HashMap<String, String> = self.conn().hgetall(&redis_key).await?;
        if fields.is_empty() {
            return Ok(KeyLookup::Unknown);
        }
        let field = |name: &str| {
            fields
                .get(name)
                .ok_or_else(|| StoreError::corrupt(&redis_key, format!("no {name}")))
        };
        let expires_at = fields.get("expires_at").and_then(|v| v.parse::<i64>().ok());
        if expires_at.is_some_and(|at| at <= now_ms()) {
            return Ok(KeyLookup::Expired);
        }
        let id = ApiKeyId::parse(field("id")?).map_err(|e| StoreError::corrupt(&redis_key, e))?;
        let tenant_id =
            TenantId::parse(field("tenant")?).map_err(|e| StoreError::corrupt(&redis_key, e))?;
        Ok(KeyLookup::Valid(ApiKeyRecord {
            id,
            tenant_id,
            scopes: parse_scopes(field("scopes")?),
            mode: ApiKeyMode::from_stored(fields.get("mode").map(String::as_str)),
        }))
    }

    /// The tenant's keys, oldest first, revoked ones included until their record
    /// expires (a retention period after revocation or expiry). Ids whose record is
    /// gone are dropped from the set on the way.
    pub async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyView>, StoreError> {
        let set = keys::tenant_api_keys(tenant);
        let ids: Vec<String> = self.conn().smembers(&set).await?;
        let ids: Vec<ApiKeyId> = ids
            .iter()
            .filter_map(|id| ApiKeyId::parse(id).ok())
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(keys::tenant_api_key(tenant, id));
        }
        let records: Vec<HashMap<String, String>> = pipe.query_async(&mut self.conn()).await?;
        let now = now_ms();
        let mut views = Vec::new();
        let mut gone = Vec::new();
        for (id, fields) in ids.iter().zip(records) {
            match key_view(id, &fields, now) {
                Some(view) => views.push(view),
                None => gone.push(id.as_str().to_string()),
            }
        }
        if !gone.is_empty() {
            let _: () = self.conn().srem(&set, gone).await?;
        }
        views.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
        Ok(views)
    }

    /// Revokes a key of `tenant`; `false` when the tenant has no such key (another
    /// tenant's key id included). Revoking again is harmless and still succeeds.
    ///
    /// The lookup record is deleted, then the tenant record marked, so the key fails
    /// on the very next request on every node. The lookup key
    /// `sluice:v1:api-key:<hash>` carries no hash tag (a request knows only the
    /// secret, not the tenant), so on Redis Cluster the two keys live in different
    /// slots: two steps, the DEL first, so that a half-done revocation leaves a key
    /// that no longer works, and a retry finishes the marking.
    pub async fn revoke_api_key(
        &self,
        tenant: &TenantId,
        id: &ApiKeyId,
    ) -> Result<bool, StoreError> {
        let record_key = keys::tenant_api_key(tenant, id);
        let hash: Option<String> = self.conn().hget(&record_key, "hash").await?;
        let Some(hash) = hash.filter(|h| !h.is_empty()) else {
            return Ok(false);
        };
        let _: () = self.conn().del(keys::api_key(&hash)).await?;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset_nx(&record_key, "revoked_at", now_ms())
            .ignore()
            .pexpire(&record_key, self.retention.as_millis() as i64)
            .ignore();
        let _: () = pipe.query_async(&mut self.conn()).await?;
        Ok(true)
    }
}

fn parse_scopes(joined: &str) -> Vec<Scope> {
    joined.split(',').filter_map(Scope::parse).collect()
}

/// The listing's view of a tenant key record; `None` when the record is gone (or
/// unreadable, which listing treats the same: it cannot be shown or revoked).
fn key_view(id: &ApiKeyId, fields: &HashMap<String, String>, now: i64) -> Option<ApiKeyView> {
    if fields.get("id").map(String::as_str) != Some(id.as_str()) {
        return None;
    }
    let ms = |name: &str| fields.get(name).and_then(|v| v.parse::<i64>().ok());
    let expires_at = ms("expires_at");
    let revoked_at = ms("revoked_at");
    let status = if revoked_at.is_some() {
        ApiKeyStatus::Revoked
    } else if expires_at.is_some_and(|at| at <= now) {
        ApiKeyStatus::Expired
    } else {
        ApiKeyStatus::Active
    };
    Some(ApiKeyView {
        id: id.clone(),
        name: fields.get("name").filter(|n| !n.is_empty()).cloned(),
        scopes: parse_scopes(fields.get("scopes").map(String::as_str).unwrap_or_default()),
        mode: ApiKeyMode::from_stored(fields.get("mode").map(String::as_str)),
        last4: fields.get("last4").cloned().unwrap_or_default(),
        created_at: from_ms(ms("created_at").unwrap_or_default()),
        expires_at: expires_at.map(from_ms),
        revoked_at: revoked_at.map(from_ms),
        status,
    })
}

impl Store {
    /// The tenant registered under `label`, created (named `name`) on first use. Lets
    /// `sluice dev` reuse its tenant across runs instead of piling up new ones.
    pub async fn ensure_labeled_tenant(
        &self,
        label: &str,
        name: &str,
    ) -> Result<TenantView, StoreError> {
        let label_key = keys::tenant_label(label);
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
        if pools.is_empty() {
            return Ok(());
        }
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
