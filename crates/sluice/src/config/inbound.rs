//! `[inbound]`: the limits of the inbound SMTP listener of the bounce domain
//! (`SLUICE_INBOUND_<KEY>`). Its address stays the top-level `inbound_listen`
//! (`SLUICE_INBOUND_LISTEN`).
//!
//! The listener faces the internet, and the only clients it exists for are reporting
//! MTAs and feedback loops: machines that send a short report at full speed. The
//! defaults are sized for them, not for people typing SMTP, so a host that holds
//! connections open (or many of them) loses its slots before it locks others out.

use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};
use sluice_model::setting::positive;

use super::Config;
use super::keys::refuse;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundConfig {
    /// Connections served at once, all clients together; beyond it `421 4.3.2`.
    pub max_connections: usize,
    /// Connections served at once from one client IP; beyond it `421 4.7.0`.
    pub max_connections_per_ip: usize,
    /// How long the listener waits for each command line and each line of a message.
    /// RFC 5321 §4.5.3.2.7 suggests 5 minutes for people and slow links; a reporting
    /// MTA sends each line at once, so a minute is generous.
    #[serde(with = "sluice_model::duration")]
    pub command_timeout: Duration,
    /// The longest one connection may last, however busy; then `421 4.4.2`.
    #[serde(with = "sluice_model::duration")]
    pub max_session: Duration,
    /// Largest message accepted (`552 5.3.4` above it), in bytes: a DSN may return
    /// the whole original, which Sluice caps at `max_message_bytes`.
    pub max_message_bytes: usize,
}

impl Default for InboundConfig {
    fn default() -> Self {
        Self {
            max_connections: 200,
            max_connections_per_ip: 10,
            command_timeout: Duration::from_secs(60),
            max_session: Duration::from_secs(600),
            max_message_bytes: 10 * 1024 * 1024,
        }
    }
}

/// [`InboundConfig`] validated, with durations parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboundLimits {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub command_timeout: Duration,
    pub max_session: Duration,
    pub max_message_bytes: usize,
}

impl Config {
    /// The inbound listener's limits, validated (errors name the key at fault).
    pub fn inbound_limits(&self) -> anyhow::Result<InboundLimits> {
        let i = &self.inbound;
        let wait = |key: &str, value: Duration| {
            positive(key, value).map_err(|e| refuse(e.within("inbound")))
        };
        let command_timeout = wait("command_timeout", i.command_timeout)?;
        let max_session = wait("max_session", i.max_session)?;
        if i.max_connections == 0 {
            bail!(
                "invalid configuration: `inbound.max_connections` (SLUICE_INBOUND_MAX_CONNECTIONS) must be at least 1"
            );
        }
        if i.max_connections_per_ip == 0 {
            bail!(
                "invalid configuration: `inbound.max_connections_per_ip` (SLUICE_INBOUND_MAX_CONNECTIONS_PER_IP) must be at least 1"
            );
        }
        if i.max_message_bytes < 1024 {
            bail!(
                "invalid configuration: `inbound.max_message_bytes` (SLUICE_INBOUND_MAX_MESSAGE_BYTES) must be at least 1024"
            );
        }
        Ok(InboundLimits {
            max_connections: i.max_connections,
            max_connections_per_ip: i.max_connections_per_ip,
            command_timeout,
            max_session,
            max_message_bytes: i.max_message_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;

    use super::*;

    #[test]
    #[allow(clippy::result_large_err)]
    fn limits_come_from_toml_or_the_environment() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None).unwrap();
            let limits = config.inbound_limits().unwrap();
            assert_eq!(limits.max_connections_per_ip, 10);
            assert_eq!(limits.max_session, Duration::from_secs(600));
            assert_eq!(config.inbound_listen, "127.0.0.1:2526");

            jail.create_file(
                "s.toml",
                "inbound_listen = \"127.0.0.1:2525\"\n\
                 [inbound]\nmax_connections_per_ip = 3\ncommand_timeout = \"30s\"\n",
            )?;
            let config = Config::load(Some(Path::new("s.toml"))).unwrap();
            let limits = config.inbound_limits().unwrap();
            assert_eq!(limits.max_connections_per_ip, 3);
            assert_eq!(limits.command_timeout, Duration::from_secs(30));
            assert_eq!(config.inbound_listen, "127.0.0.1:2525");

            // The listener's address keeps its top-level variable beside the section's.
            jail.set_env("SLUICE_INBOUND_LISTEN", "127.0.0.1:2527");
            jail.set_env("SLUICE_INBOUND_MAX_SESSION", "2m");
            let config = Config::load(Some(Path::new("s.toml"))).unwrap();
            assert_eq!(config.inbound_listen, "127.0.0.1:2527");
            assert_eq!(
                config.inbound_limits().unwrap().max_session,
                Duration::from_secs(120)
            );

            jail.set_env("SLUICE_INBOUND_MAX_CONNECTIONS_PER_IP", "0");
            let error = format!("{:#}", Config::load(None).unwrap_err());
            assert!(
                error.contains("inbound.max_connections_per_ip")
                    && error.contains("SLUICE_INBOUND_MAX_CONNECTIONS_PER_IP"),
                "{error}"
            );
            Ok(())
        });
    }
}
