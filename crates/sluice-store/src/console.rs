//! Web console sessions: what a login cookie stands for, kept server-side so that
//! logging out, revoking the API key behind a session, or the session's expiry holds
//! at once.
//!
//! A session holds the *id* of the tenant's API key, never the key: every request
//! re-reads that key's records ([`Store::check_api_key`]), so a revoked or expired
//! key ends its sessions on the next click. The cookie's secret is stored only as its
//! SHA-256, as API keys are.

use std::collections::HashMap;
use std::time::Duration;

use redis::AsyncCommands;
use sluice_model::{ApiKeyId, TenantId};
use time::OffsetDateTime;

use crate::tenants::hash_secret;
use crate::{KeyLookup, Store, StoreError, from_ms, keys, now_ms};

/// Who logged in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsoleLogin {
    /// A tenant, through one of its API keys (re-checked on every request).
    Tenant { tenant: TenantId, key_id: ApiKeyId },
    /// The operator. `credential` is what the API layer needs to re-check the login
    /// (e.g. a fingerprint of the admin token it was made with); opaque here.
    Operator { credential: String },
}

/// A live session.
#[derive(Clone, Debug)]
pub struct ConsoleSession {
    pub login: ConsoleLogin,
    /// The per-session token every form must carry back.
    pub csrf: String,
    pub created_at: OffsetDateTime,
}

impl Store {
    /// Starts a session that lasts `ttl`; returns the cookie's secret and the session.
    pub async fn create_console_session(
        &self,
        login: ConsoleLogin,
        ttl: Duration,
    ) -> Result<(String, ConsoleSession), StoreError> {
        let token = crate::random_token(43);
        let csrf = crate::random_token(32);
        let created_ms = now_ms();
        let key = keys::console_session(&hash_secret(&token));
        let mut fields: Vec<(&str, String)> = vec![
            ("csrf", csrf.clone()),
            ("created_at", created_ms.to_string()),
        ];
        match &login {
            ConsoleLogin::Tenant { tenant, key_id } => {
                fields.push(("kind", "tenant".into()));
                fields.push(("tenant", tenant.to_string()));
                fields.push(("key_id", key_id.to_string()));
            }
            ConsoleLogin::Operator { credential } => {
                fields.push(("kind", "operator".into()));
                fields.push(("credential", credential.clone()));
            }
        }
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset_multiple(&key, &fields)
            .ignore()
            .pexpire(&key, ttl.as_millis().max(1) as i64)
            .ignore();
        let _: () = pipe.query_async(&mut self.conn()).await?;
        Ok((
            token,
            ConsoleSession {
                login,
                csrf,
                created_at: from_ms(created_ms),
            },
        ))
    }

    /// The session a cookie's secret names; `None` when unknown, ended or expired (or
    /// unreadable: a session that cannot be read is no session).
    pub async fn console_session(&self, token: &str) -> Result<Option<ConsoleSession>, StoreError> {
        let key = keys::console_session(&hash_secret(token));
        let fields: HashMap<String, String> = self.conn().hgetall(&key).await?;
        let get = |name: &str| fields.get(name).cloned();
        let login = match get("kind").as_deref() {
            Some("tenant") => {
                let tenant = get("tenant").and_then(|t| TenantId::parse(&t).ok());
                let key_id = get("key_id").and_then(|k| ApiKeyId::parse(&k).ok());
                match (tenant, key_id) {
                    (Some(tenant), Some(key_id)) => ConsoleLogin::Tenant { tenant, key_id },
                    _ => return Ok(None),
                }
            }
            Some("operator") => ConsoleLogin::Operator {
                credential: get("credential").unwrap_or_default(),
            },
            _ => return Ok(None),
        };
        let Some(csrf) = get("csrf").filter(|c| !c.is_empty()) else {
            return Ok(None);
        };
        let created_ms = get("created_at")
            .and_then(|c| c.parse().ok())
            .unwrap_or_default();
        Ok(Some(ConsoleSession {
            login,
            csrf,
            created_at: from_ms(created_ms),
        }))
    }

    /// Ends a session (logout). Ending an unknown one is harmless.
    pub async fn end_console_session(&self, token: &str) -> Result<(), StoreError> {
        let _: () = self
            .conn()
            .del(keys::console_session(&hash_secret(token)))
            .await?;
        Ok(())
    }

    /// Whether the tenant's key `id` still works, checked exactly as a request with the
    /// key itself is (its lookup record, found through the hash its tenant record
    /// keeps): revoked or unknown keys are [`KeyLookup::Unknown`].
    pub async fn check_api_key(
        &self,
        tenant: &TenantId,
        id: &ApiKeyId,
    ) -> Result<KeyLookup, StoreError> {
        let record_key = keys::tenant_api_key(tenant, id);
        let (hash, revoked): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(&record_key)
            .arg("hash")
            .arg("revoked_at")
            .query_async(&mut self.conn())
            .await?;
        let Some(hash) = hash.filter(|h| !h.is_empty()) else {
            return Ok(KeyLookup::Unknown);
        };
        if revoked.is_some() {
            return Ok(KeyLookup::Unknown);
        }
        match self.lookup_api_key(&hash).await? {
            KeyLookup::Valid(record) if record.id == *id && record.tenant_id == *tenant => {
                Ok(KeyLookup::Valid(record))
            }
            KeyLookup::Valid(_) => Ok(KeyLookup::Unknown),
            other => Ok(other),
        }
    }

    /// Up to `max` tenant ids, sorted, for the operator's console page. A SCAN (of
    /// every master on a cluster): it runs only when an operator looks.
    pub async fn list_tenant_ids(&self, max: usize) -> Result<Vec<TenantId>, StoreError> {
        let found = self.conn().scan_keys(keys::TENANT_RECORDS_PATTERN).await?;
        let mut ids: Vec<TenantId> = found
            .iter()
            .filter_map(|key| keys::tenant_of_record(key))
            .filter_map(|id| TenantId::parse(id).ok())
            .collect();
        ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        ids.dedup();
        ids.truncate(max);
        Ok(ids)
    }
}
