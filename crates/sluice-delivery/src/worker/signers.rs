//! Parsed DKIM keys, cached per (tenant, domain): parsing a key costs more than
//! signing with it, and the key changes only on rotation. Entries expire so a rotated
//! key is picked up within a minute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_model::TenantId;
use sluice_store::{Store, StoreError};

use crate::dkim::DkimSigner;

const TTL: Duration = Duration::from_secs(60);

type Entry = (Instant, Arc<DkimSigner>);

pub struct SignerCache {
    store: Store,
    entries: Mutex<HashMap<(TenantId, String), Entry>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error("the sending domain {0} no longer exists for this tenant")]
    NoDomain(String),
    #[error("the DKIM key of {domain} is unusable: {reason}")]
    BadKey { domain: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SignerCache {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub async fn get(
        &self,
        tenant: &TenantId,
        domain: &str,
    ) -> Result<Arc<DkimSigner>, SignerError> {
        let key = (tenant.clone(), domain.to_string());
        if let Some((loaded, signer)) = self.lock().get(&key)
            && loaded.elapsed() < TTL
        {
            return Ok(signer.clone());
        }
        let record = self
            .store
            .get_domain(tenant, domain)
            .await?
            .ok_or_else(|| SignerError::NoDomain(domain.to_string()))?;
        let signer = DkimSigner::new(
            domain,
            &record.dkim.selector,
            record.dkim.algorithm,
            &record.private_key_pkcs8_der,
        )
        .map_err(|e| SignerError::BadKey {
            domain: domain.to_string(),
            reason: e.to_string(),
        })?;
        let signer = Arc::new(signer);
        self.lock().insert(key, (Instant::now(), signer.clone()));
        Ok(signer)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(TenantId, String), Entry>> {
        // A panic while holding this lock cannot leave the map inconsistent (single
        // insert/get), so a poisoned lock is still safe to use.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
