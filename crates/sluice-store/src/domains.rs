//! Sending domains: their DKIM keys (private halves sealed, see [`seal`]), their
//! verification state, and the schedule of periodic DNS re-checks ([`checks`]).
//!
//! A domain is one hash. Every change after creation is a compare-and-set on its
//! `version` field ([`Store::update_domain`]): the API's verify and rotate calls and
//! the periodic checks of several processes may all touch one domain, and each
//! computes the next state from the one it read, so none may overwrite another's.

pub mod checks;
pub mod seal;

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use sluice_model::{
    DkimAlgorithm, DkimInfo, DkimKeyState, DnsCheck, DomainName, DomainStatus, DomainVerification,
    TenantId,
};
use time::OffsetDateTime;

use crate::{Store, StoreError, from_ms, keys, reply, scripts, to_ms};
use seal::{KeyOwner, KeySealer};

/// Hash fields of domains written before keys were sealed and rotated: one key, its
/// private half in plain base64. Still read; rewritten sealed on the next update.
const LEGACY_FIELDS: [&str; 4] = ["selector", "algorithm", "public_key", "private_key"];

/// The compare-and-set token's field (the update script reads it too).
pub(crate) const VERSION_FIELD: &str = "version";

/// Each key is the field `key:<selector>`, its value [`StoredKey`] as JSON.
const KEY_FIELD_PREFIX: &str = "key:";

/// A domain as stored. The private keys inside are sealed (or, for a record written
/// by an older version, plain until its next update); they are never serialised to
/// the API and never printed.
#[derive(Clone, Debug)]
pub struct DomainRecord {
    pub name: DomainName,
    pub created_at: OffsetDateTime,
    /// Active keys first, then pending, then retiring; oldest first within a state.
    pub keys: Vec<DkimKey>,
    pub verification: DomainVerification,
    /// The compare-and-set token: 0 for records from before versions existed.
    pub version: u64,
    /// Stored in the old single-key, plaintext layout.
    legacy: bool,
}

impl DomainRecord {
    /// A new domain (version 0 until stored), unverified.
    pub fn new(name: DomainName, created_at: OffsetDateTime, keys: Vec<DkimKey>) -> Self {
        let mut record = Self {
            name,
            created_at,
            keys,
            verification: DomainVerification::default(),
            version: 0,
            legacy: false,
        };
        record.sort_keys();
        record
    }

    /// Keys in the order the API shows them.
    pub fn sort_keys(&mut self) {
        self.keys.sort_by_key(|k| {
            let rank = match k.state {
                DkimKeyState::Active => 0,
                DkimKeyState::Pending => 1,
                DkimKeyState::Retiring => 2,
            };
            (rank, k.created_at, k.info.selector.clone())
        });
    }

    pub fn active_keys(&self) -> impl Iterator<Item = &DkimKey> {
        self.keys.iter().filter(|k| k.state == DkimKeyState::Active)
    }
}

/// One DKIM key of a domain.
#[derive(Clone)]
pub struct DkimKey {
    pub info: DkimInfo,
    pub state: DkimKeyState,
    pub created_at: OffsetDateTime,
    pub activated_at: Option<OffsetDateTime>,
    pub retire_at: Option<OffsetDateTime>,
    private_key: PrivateKey,
}

#[derive(Clone)]
enum PrivateKey {
    /// As stored: `v1:…` (see [`seal`]).
    Sealed(String),
    /// A new key, or one read from the legacy layout: sealed when written.
    Plain(Vec<u8>),
}

/// Never prints the private key.
impl std::fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimKey")
            .field("info", &self.info)
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .field("activated_at", &self.activated_at)
            .field("retire_at", &self.retire_at)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl DkimKey {
    /// A freshly generated key; its private half is sealed when the record is stored.
    pub fn new(
        info: DkimInfo,
        state: DkimKeyState,
        created_at: OffsetDateTime,
        private_key_pkcs8_der: Vec<u8>,
    ) -> Self {
        Self {
            activated_at: (state == DkimKeyState::Active).then_some(created_at),
            info,
            state,
            created_at,
            retire_at: None,
            private_key: PrivateKey::Plain(private_key_pkcs8_der),
        }
    }
}

/// A key to sign with: the private half opened.
pub struct SigningKey {
    pub info: DkimInfo,
    pub private_key_pkcs8_der: Vec<u8>,
}

/// Never prints the private key.
impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("info", &self.info)
            .field("private_key_pkcs8_der", &"<redacted>")
            .finish()
    }
}

/// What [`Store::update_domain`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DomainUpdate {
    Applied,
    /// Someone changed the domain since it was read: read it again and recompute.
    Conflict,
    /// The domain no longer exists.
    Gone,
}

/// Where a domain stands for sending, in one round trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendingDomain {
    pub status: DomainStatus,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    selector: String,
    algorithm: String,
    public_key: String,
    state: String,
    created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    activated_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retire_at: Option<i64>,
    private_key: String,
}

impl Store {
    /// Uses `sealer` to seal DKIM private keys on write and open them for signing.
    /// Without one, domains can be read but no key can be stored or used.
    pub fn with_key_sealer(mut self, sealer: KeySealer) -> Self {
        self.key_sealer = Some(Arc::new(sealer));
        self
    }

    fn sealer(&self) -> Result<&KeySealer, StoreError> {
        self.key_sealer.as_deref().ok_or_else(|| {
            StoreError::KeySealing(
                "no DKIM key encryption key is configured (dkim_key_encryption_key)".into(),
            )
        })
    }

    /// Stores a new domain; returns `false` (and changes nothing) when the tenant
    /// already has it. The domain is scheduled for its first periodic check at
    /// `first_check`.
    pub async fn create_domain(
        &self,
        tenant: &TenantId,
        domain: &DomainRecord,
        first_check: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut fields = domain_fields(domain, 1);
        for key in &domain.keys {
            fields.push(self.key_field(tenant, domain.name.as_str(), key)?);
        }
        let added = scripts::CREATE_DOMAIN
            .key(keys::tenant_domains(tenant))
            .key(keys::domain(tenant, domain.name.as_str()))
            .arg(domain.name.as_str())
            .arg(&fields)
            .invoke_async(&mut self.conn())
            .await?;
        let added = reply::int("domain_create", added)?;
        if added == 1
            && let Err(e) = self
                .schedule_domain_check(tenant, domain.name.as_str(), first_check)
                .await
        {
            // The next process start schedules every unscheduled domain.
            tracing::warn!(domain = %domain.name, error = %e, "could not schedule the domain's periodic check");
        }
        Ok(added == 1)
    }

    /// Replaces the stored state of `previous` (as read) with `next`, only if nobody
    /// changed it in between. Keys of `previous` missing from `next` are deleted;
    /// plain private keys (new ones, legacy ones) are written sealed.
    pub async fn update_domain(
        &self,
        tenant: &TenantId,
        previous: &DomainRecord,
        next: &DomainRecord,
    ) -> Result<DomainUpdate, StoreError> {
        let name = next.name.as_str();
        let mut delete: Vec<String> = previous
            .keys
            .iter()
            .filter(|old| {
                !next
                    .keys
                    .iter()
                    .any(|k| k.info.selector == old.info.selector)
            })
            .map(|k| format!("{KEY_FIELD_PREFIX}{}", k.info.selector))
            .collect();
        if previous.legacy {
            delete.extend(LEGACY_FIELDS.map(String::from));
        }
        let mut fields = domain_fields(next, previous.version + 1);
        for key in &next.keys {
            fields.push(self.key_field(tenant, name, key)?);
        }
        let outcome = scripts::UPDATE_DOMAIN
            .key(keys::domain(tenant, name))
            .arg(VERSION_FIELD)
            .arg(previous.version)
            .arg(delete.len())
            .arg(&delete)
            .arg(&fields)
            .invoke_async(&mut self.conn())
            .await?;
        let outcome = reply::optional_text("domain_update", outcome)?;
        self.recent.domains.clear();
        Ok(match outcome.as_deref() {
            Some("ok") => DomainUpdate::Applied,
            Some("gone") => DomainUpdate::Gone,
            Some("conflict") => DomainUpdate::Conflict,
            other => {
                return Err(StoreError::UnexpectedReply {
                    script: "domain_update",
                    reason: format!("outcome {other:?}"),
                });
            }
        })
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
        parse_domain(&key, &fields).map(Some)
    }

    /// Every domain of the tenant, by name.
    pub async fn list_domains(&self, tenant: &TenantId) -> Result<Vec<DomainRecord>, StoreError> {
        let mut names: Vec<String> = self.conn().smembers(keys::tenant_domains(tenant)).await?;
        names.sort();
        let mut pipe = redis::pipe();
        for name in &names {
            pipe.hgetall(keys::domain(tenant, name));
        }
        let hashes: Vec<HashMap<String, String>> = pipe.query_async(&mut self.conn()).await?;
        let mut domains = Vec::with_capacity(names.len());
        for (name, fields) in names.iter().zip(hashes) {
            if !fields.is_empty() {
                domains.push(parse_domain(&keys::domain(tenant, name), &fields)?);
            }
        }
        Ok(domains)
    }

    /// Whether the tenant has the domain and whether it is verified, for the send
    /// path: one HMGET, or none when this process read the domain within the last
    /// second ([`RECENT_TTL`](crate::RECENT_TTL); a domain not found is not kept, and
    /// an update through this process clears what it kept).
    pub async fn sending_domain(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<SendingDomain>, StoreError> {
        let recent_key = (tenant.clone(), name.to_string());
        if let Some(domain) = self.recent.domains.get(&recent_key) {
            return Ok(Some(domain));
        }
        let (found, status): (Option<String>, Option<String>) = self
            .conn()
            .hmget(keys::domain(tenant, name), &["name", "status"])
            .await?;
        let domain = found.map(|_| SendingDomain {
            status: status
                .as_deref()
                .and_then(DomainStatus::parse)
                .unwrap_or_default(),
        });
        if let Some(domain) = domain {
            self.recent.domains.insert(recent_key, domain);
        }
        Ok(domain)
    }

    /// The domain's version (`None`: no such domain), so a cache of parsed keys can
    /// tell whether it is stale with one HGET.
    pub async fn domain_version(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<u64>, StoreError> {
        let (found, version): (Option<String>, Option<u64>) = self
            .conn()
            .hmget(keys::domain(tenant, name), &["name", VERSION_FIELD])
            .await?;
        Ok(found.map(|_| version.unwrap_or(0)))
    }

    /// The active keys of a domain, opened, with the version they were read at.
    pub async fn signing_keys(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<(u64, Vec<SigningKey>)>, StoreError> {
        let Some(record) = self.get_domain(tenant, name).await? else {
            return Ok(None);
        };
        let mut keys = Vec::new();
        for key in record.active_keys() {
            let der = match &key.private_key {
                PrivateKey::Plain(der) => der.clone(),
                PrivateKey::Sealed(sealed) => self
                    .sealer()?
                    .open(owner(tenant, name, &key.info.selector), sealed)
                    .map_err(|e| StoreError::KeySealing(format!("{name}: {e}")))?,
            };
            keys.push(SigningKey {
                info: key.info.clone(),
                private_key_pkcs8_der: der,
            });
        }
        Ok(Some((record.version, keys)))
    }

    pub async fn has_domain(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .sismember(keys::tenant_domains(tenant), name)
            .await?)
    }

    fn key_field(
        &self,
        tenant: &TenantId,
        domain: &str,
        key: &DkimKey,
    ) -> Result<(String, String), StoreError> {
        let private_key = match &key.private_key {
            PrivateKey::Sealed(sealed) => sealed.clone(),
            PrivateKey::Plain(der) => self
                .sealer()?
                .seal(owner(tenant, domain, &key.info.selector), der)
                .map_err(|e| StoreError::KeySealing(e.to_string()))?,
        };
        let stored = StoredKey {
            selector: key.info.selector.clone(),
            algorithm: key.info.algorithm.as_str().to_string(),
            public_key: key.info.public_key.clone(),
            state: key.state.as_str().to_string(),
            created_at: to_ms(key.created_at),
            activated_at: key.activated_at.map(to_ms),
            retire_at: key.retire_at.map(to_ms),
            private_key,
        };
        let json = serde_json::to_string(&stored).map_err(|e| StoreError::corrupt(domain, e))?;
        Ok((format!("{KEY_FIELD_PREFIX}{}", key.info.selector), json))
    }
}

fn owner<'a>(tenant: &'a TenantId, domain: &'a str, selector: &'a str) -> KeyOwner<'a> {
    KeyOwner {
        tenant,
        domain,
        selector,
    }
}

/// The domain-level fields (keys are added by the caller).
fn domain_fields(domain: &DomainRecord, version: u64) -> Vec<(String, String)> {
    let v = &domain.verification;
    let ms = |t: Option<OffsetDateTime>| t.map(|t| to_ms(t).to_string()).unwrap_or_default();
    vec![
        ("name".into(), domain.name.as_str().to_string()),
        ("created_at".into(), to_ms(domain.created_at).to_string()),
        (VERSION_FIELD.into(), version.to_string()),
        ("status".into(), v.status.as_str().to_string()),
        ("verified_at".into(), ms(v.verified_at)),
        ("last_checked_at".into(), ms(v.last_checked_at)),
        (
            "checks".into(),
            serde_json::to_string(&v.checks).unwrap_or_else(|_| "[]".into()),
        ),
    ]
}

fn parse_domain(key: &str, fields: &HashMap<String, String>) -> Result<DomainRecord, StoreError> {
    let field = |n: &str| {
        fields
            .get(n)
            .ok_or_else(|| StoreError::corrupt(key, format!("no {n}")))
    };
    let time = |n: &str| {
        fields
            .get(n)
            .and_then(|v| v.parse::<i64>().ok())
            .map(from_ms)
    };
    let name = DomainName::parse(field("name")?).map_err(|e| StoreError::corrupt(key, e))?;
    let created_at = time("created_at").unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let mut keys = Vec::new();
    for (field_name, value) in fields {
        if field_name.starts_with(KEY_FIELD_PREFIX) {
            let stored: StoredKey =
                serde_json::from_str(value).map_err(|e| StoreError::corrupt(key, e))?;
            keys.push(parse_key(key, stored)?);
        }
    }
    let legacy = fields.contains_key("private_key");
    if legacy {
        let algorithm = DkimAlgorithm::parse(field("algorithm")?)
            .ok_or_else(|| StoreError::corrupt(key, "algorithm"))?;
        let der = STANDARD
            .decode(field("private_key")?)
            .map_err(|e| StoreError::corrupt(key, e))?;
        let info = DkimInfo {
            selector: field("selector")?.clone(),
            algorithm,
            public_key: field("public_key")?.clone(),
        };
        keys.push(DkimKey::new(info, DkimKeyState::Active, created_at, der));
    }
    let checks: Vec<DnsCheck> = fields
        .get("checks")
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default();
    let mut record = DomainRecord {
        name,
        created_at,
        keys,
        verification: DomainVerification {
            status: fields
                .get("status")
                .and_then(|s| DomainStatus::parse(s))
                .unwrap_or_default(),
            verified_at: time("verified_at"),
            last_checked_at: time("last_checked_at"),
            checks,
        },
        version: fields
            .get(VERSION_FIELD)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        legacy,
    };
    record.sort_keys();
    Ok(record)
}

fn parse_key(key: &str, stored: StoredKey) -> Result<DkimKey, StoreError> {
    let algorithm = DkimAlgorithm::parse(&stored.algorithm)
        .ok_or_else(|| StoreError::corrupt(key, "key algorithm"))?;
    let state =
        DkimKeyState::parse(&stored.state).ok_or_else(|| StoreError::corrupt(key, "key state"))?;
    Ok(DkimKey {
        info: DkimInfo {
            selector: stored.selector,
            algorithm,
            public_key: stored.public_key,
        },
        state,
        created_at: from_ms(stored.created_at),
        activated_at: stored.activated_at.map(from_ms),
        retire_at: stored.retire_at.map(from_ms),
        private_key: PrivateKey::Sealed(stored.private_key),
    })
}
