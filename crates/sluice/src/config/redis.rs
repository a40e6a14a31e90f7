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
            "CERTIFICATE",
        )?;
        let cert = read_pem(
            self.redis_client_cert.as_deref(),
            "redis_client_cert",
            "CERTIFICATE",
        )?;
        let key = read_pem(
            self.redis_client_key.as_deref(),
            "redis_client_key",
            "PRIVATE KEY",
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

/// The PEM file at `path`, which must hold a block whose label ends with `label`
/// (`CERTIFICATE`; `PRIVATE KEY` for PKCS#8, RSA and EC keys).
fn read_pem(path: Option<&str>, key: &str, label: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let variable = format!("SLUICE_{}", key.to_uppercase());
    let pem = std::fs::read(path)
        .map_err(|e| anyhow!("invalid configuration: `{key}` ({variable}) {path}: {e}"))?;
    let text = String::from_utf8_lossy(&pem);
    let has_block = text.lines().any(|line| {
        line.strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
            .is_some_and(|found| found.ends_with(label))
    });
    if !has_block {
        bail!("invalid configuration: `{key}` ({variable}) {path}: no PEM {label} in it");
    }
    Ok(Some(pem))
}
