//! How the store connects to Redis: `redis_url`'s TLS files, read once at start.

use anyhow::{anyhow, bail};

use super::Config;

impl Config {
    /// How the store connects: retention, partitions and TLS.
    pub fn store_options(&self) -> anyhow::Result<sluice_store::StoreOptions> {
        Ok(sluice_store::StoreOptions {
            retention: self.retention,
            partitions: self.queue.partitions,
            tls: self.redis_tls()?,
        })
    }

    /// The CA and client certificate for a `rediss` URL, read from their files;
    /// `None` when none is configured.
    pub(super) fn redis_tls(&self) -> anyhow::Result<Option<sluice_store::RedisTls>> {
        let files = [
            &self.redis_ca_file,
            &self.redis_client_cert,
            &self.redis_client_key,
        ];
        if files.iter().all(|file| file.is_none()) {
            return Ok(None);
        }
        if !self.redis_url.starts_with("rediss") {
            bail!(
                "invalid configuration: `redis_ca_file`, `redis_client_cert` and `redis_client_key` (SLUICE_REDIS_CA_FILE, …) apply to TLS: `redis_url` (SLUICE_REDIS_URL) must start with rediss:// or rediss+cluster://"
            );
        }
        let ca = read_pem(
            self.redis_ca_file.as_deref(),
            "redis_ca_file",
            Pem::Certificates,
        )?;
        let cert = read_pem(
            self.redis_client_cert.as_deref(),
            "redis_client_cert",
            Pem::Certificates,
        )?;
        let key = read_pem(
            self.redis_client_key.as_deref(),
            "redis_client_key",
            Pem::PrivateKey,
        )?;
        let client = match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => bail!(
                "invalid configuration: `redis_client_cert` (SLUICE_REDIS_CLIENT_CERT) and `redis_client_key` (SLUICE_REDIS_CLIENT_KEY) go together"
            ),
        };
        Ok(Some(sluice_store::RedisTls { ca, client }))
    }
}

/// What a PEM file must hold.
#[derive(Clone, Copy)]
enum Pem {
    Certificates,
    PrivateKey,
}

impl Pem {
    /// Parsed as rustls will, so a file it would refuse stops the start instead.
    fn check(self, pem: &[u8]) -> Result<(), String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        match self {
            Pem::Certificates => {
                let certificates = CertificateDer::pem_slice_iter(pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())?;
                if certificates.is_empty() {
                    return Err("no PEM certificate in it".into());
                }
                Ok(())
            }
            Pem::PrivateKey => PrivateKeyDer::from_pem_slice(pem)
                .map(drop)
                .map_err(|e| format!("no PEM private key in it ({e})")),
        }
    }
}

/// The PEM file at `path` (configuration key `key`), checked to hold `expected`.
fn read_pem(path: Option<&str>, key: &str, expected: Pem) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let bad = |reason: String| {
        let variable = format!("SLUICE_{}", key.to_uppercase());
        anyhow!("invalid configuration: `{key}` ({variable}) {path}: {reason}")
    };
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    expected.check(&pem).map_err(bad)?;
    Ok(Some(pem))
}
