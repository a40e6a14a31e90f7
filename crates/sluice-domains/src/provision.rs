//! The use cases that make DKIM keys: provisioning a new domain (`POST /v1/domains`,
//! `sluice dev`) and starting a key rotation (`POST /v1/domains/{name}/dkim/rotate`).
//! Callers map [`DomainError`] to their own answer (an HTTP problem, a CLI error).

use sluice_model::{DkimAlgorithm, DkimInfo, DkimKeyState, DomainName, TenantId};
use sluice_store::{DkimKey, DomainRecord, DomainUpdate, Store, StoreError};
use time::OffsetDateTime;

use crate::dkim::{self, DkimError, GeneratedKey};
use crate::lifecycle::{self, RotateError};
use crate::now;

/// How many times a rotation is recomputed when the domain changed under it.
const ROTATE_ATTEMPTS: usize = 3;

/// Why a domain could not be provisioned or its key rotated.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("domain {0} already exists")]
    AlreadyExists(DomainName),
    /// The tenant has no such domain (or the name is not a domain); the name as asked.
    #[error("no domain {0}")]
    NotFound(String),
    /// The rotation cannot start (a key is pending, or the algorithm must be named).
    #[error(transparent)]
    Rotate(#[from] RotateError),
    #[error("the domain kept changing during the rotation; try again")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    KeyGeneration(#[from] DkimError),
    #[error("the key generation task failed: {0}")]
    KeyTask(#[from] tokio::task::JoinError),
}

/// A started rotation: the domain as stored and the key it added (`pending`).
#[derive(Debug, Clone)]
pub struct Rotation {
    pub domain: DomainRecord,
    pub key: DkimKey,
}

/// Generates keys and stores a new domain for `tenant` ([`DomainError::AlreadyExists`]
/// if it exists), every key active from the start: nothing is signed before the
/// first send, and the domain is unverified until its records are published anyway.
pub async fn provision_domain(
    store: &Store,
    tenant: &TenantId,
    name: DomainName,
    algorithms: &[DkimAlgorithm],
    first_check: OffsetDateTime,
) -> Result<DomainRecord, DomainError> {
    let created_at = now();
    let mut keys: Vec<DkimKey> = Vec::new();
    for &algorithm in algorithms {
        let key = generate(algorithm).await?;
        let taken: Vec<&str> = keys.iter().map(|k| k.info.selector.as_str()).collect();
        let info = DkimInfo {
            selector: lifecycle::new_selector(created_at, &taken),
            algorithm,
            public_key: key.public_key_b64.clone(),
        };
        keys.push(DkimKey::new(
            info,
            DkimKeyState::Active,
            created_at,
            key.private_key_pkcs8_der,
        ));
    }
    let record = DomainRecord::new(name, created_at, keys);
    if !store.create_domain(tenant, &record, first_check).await? {
        return Err(DomainError::AlreadyExists(record.name));
    }
    Ok(record)
}

/// Starts a DKIM key rotation of the domain `name`: a new key (new selector, the
/// algorithm `asked` or the one the domain signs with) is stored `pending`; it takes
/// over once its record verifies (see [`lifecycle::apply_checks`]).
///
/// The store's compare-and-set is retried when the domain changed meanwhile; a key
/// already generated is reused if the algorithm still fits (RSA generation is slow).
pub async fn rotate_dkim_key(
    store: &Store,
    tenant: &TenantId,
    name: &str,
    asked: Option<DkimAlgorithm>,
) -> Result<Rotation, DomainError> {
    let not_found = || DomainError::NotFound(name.to_owned());
    let domain = DomainName::parse(name).map_err(|_| not_found())?;
    let mut generated: Option<(DkimAlgorithm, GeneratedKey)> = None;
    for _ in 0..ROTATE_ATTEMPTS {
        let previous = store
            .get_domain(tenant, domain.as_str())
            .await?
            .ok_or_else(not_found)?;
        let algorithm = lifecycle::rotation_algorithm(&previous, asked)?;
        let key = match generated.take() {
            Some((a, key)) if a == algorithm => key,
            _ => generate(algorithm).await?,
        };
        let now = now();
        let taken: Vec<&str> = previous
            .keys
            .iter()
            .map(|k| k.info.selector.as_str())
            .collect();
        let info = DkimInfo {
            selector: lifecycle::new_selector(now, &taken),
            algorithm,
            public_key: key.public_key_b64.clone(),
        };
        let added = DkimKey::new(
            info,
            DkimKeyState::Pending,
            now,
            key.private_key_pkcs8_der.clone(),
        );
        let mut next = previous.clone();
        next.keys.push(added.clone());
        next.sort_keys();
        match store.update_domain(tenant, &previous, &next).await? {
            DomainUpdate::Applied => {
                tracing::info!(%tenant, domain = %name, selector = %added.info.selector, "DKIM rotation started");
                return Ok(Rotation {
                    domain: next,
                    key: added,
                });
            }
            DomainUpdate::Gone => return Err(not_found()),
            DomainUpdate::Conflict => generated = Some((algorithm, key)),
        }
    }
    Err(DomainError::Busy)
}

/// RSA key generation takes tens of milliseconds of CPU or more: off the reactor.
async fn generate(algorithm: DkimAlgorithm) -> Result<GeneratedKey, DomainError> {
    Ok(tokio::task::spawn_blocking(move || dkim::generate_key(algorithm)).await??)
}
