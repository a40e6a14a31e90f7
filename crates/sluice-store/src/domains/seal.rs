//! DKIM private keys encrypted at rest (AES-256-GCM).
//!
//! A Redis dump, replica or backup must not be enough to sign mail as a tenant, so
//! private keys are stored only sealed with the operator's key
//! (`dkim_key_encryption_key`), which lives in configuration, not in Redis. The
//! associated data binds each ciphertext to its tenant, domain and selector: a
//! sealed key copied into another tenant's (or domain's) record does not open.
//!
//! Stored form: `v1:` then base64 of nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes).
//! Nonces are random: a deployment seals a few keys per domain per rotation, far
//! below the 2^32 messages a random 96-bit nonce is good for under one key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom as _, SystemRandom};
use sluice_model::TenantId;

const PREFIX: &str = "v1:";

/// Length of the operator's key: 32 bytes (AES-256), given as base64.
pub const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(
        "the DKIM key encryption key must be {KEY_LEN} bytes, base64-encoded (make one with `openssl rand -base64 32`)"
    )]
    BadKey,
    #[error("the system random generator failed")]
    Random,
    #[error("the sealed DKIM key is not in a known format")]
    Format,
    /// Wrong operator key, a tampered record, or a ciphertext moved to another
    /// tenant, domain or selector.
    #[error(
        "the DKIM private key does not decrypt with this key for this tenant, domain and selector"
    )]
    Open,
}

/// The operator's key for DKIM private keys.
pub struct KeySealer {
    key: LessSafeKey,
    random: SystemRandom,
}

/// Never prints key material.
impl std::fmt::Debug for KeySealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySealer(<redacted>)")
    }
}

/// Which key a ciphertext belongs to: its associated data.
#[derive(Clone, Copy, Debug)]
pub struct KeyOwner<'a> {
    pub tenant: &'a TenantId,
    pub domain: &'a str,
    pub selector: &'a str,
}

impl KeyOwner<'_> {
    /// NUL-separated: none of the three can contain a NUL, so no two owners share
    /// the same bytes.
    fn aad(&self) -> Vec<u8> {
        format!(
            "sluice-dkim-key-v1\0{}\0{}\0{}",
            self.tenant,
            self.domain.to_ascii_lowercase(),
            self.selector
        )
        .into_bytes()
    }
}

impl KeySealer {
    /// `key_b64`: 32 bytes, standard base64 (what `openssl rand -base64 32` prints).
    pub fn from_base64(key_b64: &str) -> Result<Self, SealError> {
        let bytes = STANDARD
            .decode(key_b64.trim())
            .map_err(|_| SealError::BadKey)?;
        if bytes.len() != KEY_LEN {
            return Err(SealError::BadKey);
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| SealError::BadKey)?;
        Ok(Self {
            key: LessSafeKey::new(key),
            random: SystemRandom::new(),
        })
    }

    /// A fresh random key in the configuration's form (base64).
    pub fn generate_base64() -> Result<String, SealError> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| SealError::Random)?;
        Ok(STANDARD.encode(bytes))
    }

    pub fn seal(&self, owner: KeyOwner<'_>, plaintext: &[u8]) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let mut in_out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.aad()),
                &mut in_out,
            )
            .map_err(|_| SealError::Random)?;
        let mut out = Vec::with_capacity(NONCE_LEN + in_out.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&in_out);
        Ok(format!("{PREFIX}{}", STANDARD.encode(out)))
    }

    pub fn open(&self, owner: KeyOwner<'_>, sealed: &str) -> Result<Vec<u8>, SealError> {
        let bytes = sealed
            .strip_prefix(PREFIX)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .ok_or(SealError::Format)?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(SealError::Format);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Format)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(owner.aad()), &mut in_out)
            .map_err(|_| SealError::Open)?;
        Ok(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sealer() -> KeySealer {
        KeySealer::from_base64(&KeySealer::generate_base64().unwrap()).unwrap()
    }

    #[test]
    fn sealed_keys_open_only_for_their_owner_and_key() {
        let sealer = sealer();
        let tenant = TenantId::generate();
        let owner = KeyOwner {
            tenant: &tenant,
            domain: "acme.test",
            selector: "s1",
        };
        let secret = b"-----private key bytes-----".to_vec();
        let sealed = sealer.seal(owner, &secret).unwrap();
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains(&STANDARD.encode(&secret)));
        assert_eq!(sealer.open(owner, &sealed).unwrap(), secret);
        // Sealing twice gives different ciphertexts (fresh nonce).
        assert_ne!(sealer.seal(owner, &secret).unwrap(), sealed);

        let other_tenant = TenantId::generate();
        for moved in [
            KeyOwner {
                tenant: &other_tenant,
                ..owner
            },
            KeyOwner {
                domain: "other.test",
                ..owner
            },
            KeyOwner {
                selector: "s2",
                ..owner
            },
        ] {
            assert!(matches!(sealer.open(moved, &sealed), Err(SealError::Open)));
        }
        assert!(matches!(
            super::tests::sealer().open(owner, &sealed),
            Err(SealError::Open)
        ));
        assert!(matches!(
            sealer.open(owner, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
            Err(SealError::Format)
        ));
    }

    #[test]
    fn the_operator_key_must_be_32_bytes_of_base64() {
        assert!(KeySealer::from_base64("c2hvcnQ=").is_err());
        assert!(KeySealer::from_base64("not base64 at all!").is_err());
        let debug = format!("{:?}", sealer());
        assert_eq!(debug, "KeySealer(<redacted>)");
    }
}
