//! `[submission]`: the SMTP submission listener (`SLUICE_SUBMISSION_<KEY>`), off
//! unless `listen` or `tls_listen` is set. `listen` is the STARTTLS port (587),
//! `tls_listen` the implicit-TLS port (465); both need `tls_cert` and `tls_key`,
//! except a `listen` on a loopback address, where AUTH is allowed in clear text
//! (a local relay or a test).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sluice_model::setting::positive;

use super::Config;
use super::keys::refuse;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubmissionConfig {
    /// `ip:port` of the STARTTLS listener (587); empty = off.
    pub listen: String,
    /// `ip:port` of the implicit-TLS listener (465); empty = off.
    pub tls_listen: String,
    /// PEM certificate chain, leaf first.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the certificate.
    pub tls_key: Option<PathBuf>,
    /// Connections served at once, all clients together; beyond it `421 4.3.2`.
    pub max_connections: usize,
    /// Connections served at once from one client IP; beyond it `421 4.7.0`.
    pub max_connections_per_ip: usize,
    /// How long the listener waits for each command and each line of a message.
    #[serde(with = "sluice_model::duration")]
    pub command_timeout: Duration,
    /// The longest one connection may last; then `421 4.4.2`.
    #[serde(with = "sluice_model::duration")]
    pub max_session: Duration,
    /// Failed AUTH attempts per connection before it is closed.
    pub max_auth_failures: usize,
}

impl Default for SubmissionConfig {
    fn default() -> Self {
        Self {
            listen: String::new(),
            tls_listen: String::new(),
            tls_cert: None,
            tls_key: None,
            max_connections: 200,
            max_connections_per_ip: 20,
            // RFC 5321 section 4.5.3.2.7's 5 minutes: people and slow devices submit.
            command_timeout: Duration::from_secs(300),
            max_session: Duration::from_secs(1800),
            max_auth_failures: 3,
        }
    }
}

/// [`SubmissionConfig`] validated: the addresses parsed, the certificate read.
#[derive(Clone, Debug)]
pub struct SubmissionListeners {
    pub listen: Option<SocketAddr>,
    pub tls_listen: Option<SocketAddr>,
    pub tls: Option<std::sync::Arc<sluice_smtp_server::rustls::ServerConfig>>,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub command_timeout: Duration,
    pub max_session: Duration,
    pub max_auth_failures: usize,
}

impl Config {
    /// The submission listeners to start (`None` when both addresses are empty),
    /// validated, errors naming the key at fault.
    pub fn submission_listeners(&self) -> anyhow::Result<Option<SubmissionListeners>> {
        let s = &self.submission;
        let address = |key: &str, value: &str| -> anyhow::Result<Option<SocketAddr>> {
            if value.is_empty() {
                return Ok(None);
            }
            value.parse().map(Some).with_context(|| {
                format!(
                    "invalid configuration: `submission.{key}` (SLUICE_SUBMISSION_{}) `{value}` is not ip:port",
                    key.to_ascii_uppercase()
                )
            })
        };
        let listen = address("listen", &s.listen)?;
        let tls_listen = address("tls_listen", &s.tls_listen)?;
        // Limits are checked even when the listeners are off, like every section's.
        let wait = |key: &str, value: Duration| {
            positive(key, value).map_err(|e| refuse(e.within("submission")))
        };
        let command_timeout = wait("command_timeout", s.command_timeout)?;
        let max_session = wait("max_session", s.max_session)?;
        for (key, value) in [
            ("max_connections", s.max_connections),
            ("max_connections_per_ip", s.max_connections_per_ip),
            ("max_auth_failures", s.max_auth_failures),
        ] {
            if value == 0 {
                bail!(
                    "invalid configuration: `submission.{key}` (SLUICE_SUBMISSION_{}) must be at least 1",
                    key.to_ascii_uppercase()
                );
            }
        }
        if listen.is_none() && tls_listen.is_none() {
            return Ok(None);
        }
        let tls = match (&s.tls_cert, &s.tls_key) {
            (Some(cert), Some(key)) => Some(
                sluice_submission::tls::server_config(cert, key)
                    .map_err(|e| anyhow::anyhow!("invalid configuration: `submission.tls_cert` (SLUICE_SUBMISSION_TLS_CERT) / `submission.tls_key` (SLUICE_SUBMISSION_TLS_KEY): {e}"))?,
            ),
            (None, None) => None,
            _ => bail!(
                "invalid configuration: `submission.tls_cert` (SLUICE_SUBMISSION_TLS_CERT) and `submission.tls_key` (SLUICE_SUBMISSION_TLS_KEY) go together"
            ),
        };
        if tls.is_none() && tls_listen.is_some() {
            bail!(
                "invalid configuration: `submission.tls_listen` (SLUICE_SUBMISSION_TLS_LISTEN) needs `submission.tls_cert` (SLUICE_SUBMISSION_TLS_CERT) and `submission.tls_key` (SLUICE_SUBMISSION_TLS_KEY)"
            );
        }
        if tls.is_none() && listen.is_some_and(|a| !a.ip().is_loopback()) {
            bail!(
                "invalid configuration: `submission.listen` (SLUICE_SUBMISSION_LISTEN) on a non-loopback address needs `submission.tls_cert` (SLUICE_SUBMISSION_TLS_CERT) and `submission.tls_key` (SLUICE_SUBMISSION_TLS_KEY): passwords are API keys"
            );
        }
        Ok(Some(SubmissionListeners {
            listen,
            tls_listen,
            tls,
            max_connections: s.max_connections,
            max_connections_per_ip: s.max_connections_per_ip,
            command_timeout,
            max_session,
            max_auth_failures: s.max_auth_failures,
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;

    use super::*;

    fn fixture(name: &str) -> String {
        format!(
            "{}/../../tests/fixtures/submission_tls/{name}",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn off_by_default_and_read_from_toml_or_the_environment() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None).unwrap();
            assert!(config.submission_listeners().unwrap().is_none());

            jail.create_file(
                "s.toml",
                &format!(
                    "[submission]\nlisten = \"0.0.0.0:587\"\ntls_listen = \"0.0.0.0:465\"\n\
                     tls_cert = \"{}\"\ntls_key = \"{}\"\nmax_auth_failures = 5\n",
                    fixture("server.pem"),
                    fixture("server.key")
                ),
            )?;
            let config = Config::load(Some(Path::new("s.toml"))).unwrap();
            let listeners = config.submission_listeners().unwrap().unwrap();
            assert_eq!(listeners.listen.unwrap().port(), 587);
            assert_eq!(listeners.tls_listen.unwrap().port(), 465);
            assert!(listeners.tls.is_some());
            assert_eq!(listeners.max_auth_failures, 5);

            jail.set_env("SLUICE_SUBMISSION_LISTEN", "127.0.0.1:2587");
            jail.set_env("SLUICE_SUBMISSION_TLS_LISTEN", "");
            jail.set_env("SLUICE_SUBMISSION_TLS_KEY", fixture("missing.key"));
            let error = format!("{:#}", Config::load(Some(Path::new("s.toml"))).unwrap_err());
            assert!(
                error.contains("submission.tls_key") && error.contains("missing.key"),
                "{error}"
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn clear_text_auth_only_on_loopback() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SLUICE_SUBMISSION_LISTEN", "127.0.0.1:2587");
            let config = Config::load(None).unwrap();
            let listeners = config.submission_listeners().unwrap().unwrap();
            assert!(listeners.tls.is_none());

            jail.set_env("SLUICE_SUBMISSION_LISTEN", "0.0.0.0:587");
            let error = format!("{:#}", Config::load(None).unwrap_err());
            assert!(error.contains("SLUICE_SUBMISSION_TLS_CERT"), "{error}");

            jail.set_env("SLUICE_SUBMISSION_LISTEN", "nowhere");
            let error = format!("{:#}", Config::load(None).unwrap_err());
            assert!(error.contains("`submission.listen`"), "{error}");
            Ok(())
        });
    }
}
