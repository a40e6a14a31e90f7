//! The key a [`DkimSigner`](super::DkimSigner) signs with.
//!
//! RSA signatures are made with AWS-LC (`aws-lc-rs`), not ring: RSA-2048 signing is
//! the throughput ceiling of delivery, and AWS-LC carries the AVX-512 (IFMA) RSA code
//! that OpenSSL uses, which ring lacks. On a CPU with AVX-512 IFMA that halves the
//! cost of a signature (0.27 ms against 0.5 ms); elsewhere the two are level
//! (`cargo bench -p sluice-domains --bench signing` compares them on the machine at
//! hand). Ed25519 stays with mail-auth's ring implementation: it costs ~50 µs either
//! way. Hashing (the body hash and the header hash input) is mail-auth's SHA-256.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use mail_auth::common::crypto::{Algorithm, Ed25519Key, Sha256, SigningKey};
use mail_auth::common::headers::Writable;

/// An RSA private key signing RSASSA-PKCS1-v1_5 with SHA-256 (`rsa-sha256`).
pub struct RsaKey {
    pair: RsaKeyPair,
    rng: SystemRandom,
}

impl RsaKey {
    /// PKCS#8 (what Sluice generates), or PKCS#1 (`BEGIN RSA PRIVATE KEY`, the older
    /// OpenSSL default) for imported keys.
    pub fn from_der(der: &[u8]) -> Result<Self, mail_auth::Error> {
        let pair = RsaKeyPair::from_pkcs8(der)
            .or_else(|pkcs8| RsaKeyPair::from_der(der).map_err(|_| pkcs8))
            .map_err(|e| library_error(e.to_string()))?;
        Ok(Self {
            pair,
            rng: SystemRandom::new(),
        })
    }
}

impl SigningKey for RsaKey {
    type Hasher = Sha256;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        let mut data = Vec::with_capacity(512);
        input.write(&mut data);
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, &data, &mut signature)
            .map_err(|e| library_error(e.to_string()))?;
        Ok(signature)
    }

    fn algorithm(&self) -> Algorithm {
        Algorithm::RsaSha256
    }
}

/// Either kind of key, as the signer holds it.
pub enum Key {
    Rsa(RsaKey),
    Ed25519(Ed25519Key),
}

impl SigningKey for Key {
    type Hasher = Sha256;

    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        match self {
            Key::Rsa(key) => key.sign(input),
            Key::Ed25519(key) => key.sign(input),
        }
    }

    fn algorithm(&self) -> Algorithm {
        match self {
            Key::Rsa(key) => key.algorithm(),
            Key::Ed25519(key) => key.algorithm(),
        }
    }
}

fn library_error(reason: String) -> mail_auth::Error {
    mail_auth::Error::Crypto(mail_auth::common::crypto::CryptoError::Library(reason))
}
