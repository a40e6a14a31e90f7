//! Parsed DKIM keys, cached per (tenant, domain): parsing a key costs more than
//! signing with it, and keys change only on rotation.
//!
//! Each use checks the domain's `version` (read with the attempt's suppression
//! check, in the same round trip) and reparses only when it changed, so a key activated by verification signs the very next message and a
//! retired one never signs again; a time-based expiry would keep signing with a
//! superseded key for as long as the entry lived.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sluice_model::{DkimAlgorithm, TenantId};
use sluice_store::{Store, StoreError};

use sluice_domains::dkim::{DkimError, DkimSigner};

/// Every active key of a domain: usually one; an RSA and an Ed25519 key when the
/// domain signs twice (receivers that cannot check Ed25519 still have the RSA one).
#[derive(Debug)]
pub struct SignerSet {
    /// RSA first, so the topmost signature is the one every verifier understands.
    signers: Vec<DkimSigner>,
}

impl SignerSet {
    /// One `DKIM-Signature` header per key, then the message. Each signature covers
    /// the unsigned message only (DKIM-Signature is not among the signed headers), so
    /// each verifies on its own.
    pub fn sign_into(&self, message: &[u8]) -> Result<Vec<u8>, DkimError> {
        match self.signers.as_slice() {
            [only] => only.sign_into(message),
            signers => {
                let mut headers = String::new();
                for signer in signers {
                    headers.push_str(&signer.sign(message)?);
                }
                let mut out = Vec::with_capacity(headers.len() + message.len());
                out.extend_from_slice(headers.as_bytes());
                out.extend_from_slice(message);
                Ok(out)
            }
        }
    }
}

type Entry = (u64, Arc<SignerSet>);

pub struct SignerCache {
    store: Store,
    entries: Mutex<HashMap<(TenantId, String), Entry>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error("the sending domain {0} no longer exists for this tenant")]
    NoDomain(String),
    #[error("the sending domain {0} has no active DKIM key")]
    NoActiveKey(String),
    #[error("the DKIM key of {domain} is unusable: {source}")]
    BadKey {
        domain: String,
        #[source]
        source: DkimError,
    },
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

    /// The signers of `domain` at `version` (read by the caller, with the attempt's
    /// suppression check: see [`Store::attempt_checks`]); `None` means the domain is
    /// gone.
    pub async fn get(
        &self,
        tenant: &TenantId,
        domain: &str,
        version: Option<u64>,
    ) -> Result<Arc<SignerSet>, SignerError> {
        let key = (tenant.clone(), domain.to_string());
        let version = version.ok_or_else(|| SignerError::NoDomain(domain.to_string()))?;
        if let Some((cached, signers)) = self.lock().get(&key)
            && *cached == version
        {
            return Ok(signers.clone());
        }
        let (version, keys) = self
            .store
            // A key that does not open (this process has the wrong encryption key) is
            // a store error like any other: the attempt is deferred, not failed, so a
            // misconfigured process cannot fail mail that a correct one would send.
            .signing_keys(tenant, domain)
            .await?
            .ok_or_else(|| SignerError::NoDomain(domain.to_string()))?;
        let mut signers = Vec::with_capacity(keys.len());
        for key in keys {
            let signer = DkimSigner::new(
                domain,
                &key.info.selector,
                key.info.algorithm,
                &key.private_key_pkcs8_der,
            )
            .map_err(|source| SignerError::BadKey {
                domain: domain.to_string(),
                source,
            })?;
            signers.push(signer);
        }
        if signers.is_empty() {
            return Err(SignerError::NoActiveKey(domain.to_string()));
        }
        signers.sort_by_key(|s| s.algorithm() != DkimAlgorithm::RsaSha256);
        let set = Arc::new(SignerSet { signers });
        self.lock().insert(key, (version, set.clone()));
        Ok(set)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(TenantId, String), Entry>> {
        // A panic while holding this lock cannot leave the map inconsistent (single
        // insert/get), so a poisoned lock is still safe to use.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
