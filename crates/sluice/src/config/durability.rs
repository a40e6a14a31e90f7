//! `[durability]`: what a 202 promises (`SLUICE_DURABILITY_<KEY>`), checked against the
//! Redis server at start and re-checked in the background (see
//! `sluice_store::server_check`). Whatever the mode, Redis must run with
//! `maxmemory-policy noeviction`.

use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};
use sluice_model::setting::positive;
use sluice_store::server_check::{Durability, ReplicaAck, Requirements, ServerCheckError};

use super::Config;
use super::keys::refuse;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DurabilityMode {
    /// No persistence required; a Redis restart loses accepted mail.
    None,
    /// `appendonly yes` (any `appendfsync`).
    Local,
    /// `appendonly yes` with `appendfsync always`.
    Fsync,
    /// `WAIT` for `replicas` replicas before each 202.
    Replicas,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DurabilityConfig {
    /// `local` (default), `fsync`, `replicas` or `none` (SLUICE_DURABILITY_MODE).
    pub mode: DurabilityMode,
    /// With `mode = "replicas"`: replicas that must have each accepted message
    /// (SLUICE_DURABILITY_REPLICAS).
    pub replicas: u32,
    /// With `mode = "replicas"`: how long a send waits for them before answering 503
    /// not-replicated (SLUICE_DURABILITY_REPLICA_TIMEOUT).
    #[serde(with = "sluice_model::duration")]
    pub replica_timeout: Duration,
    /// With `mode = "replicas"`: wait until the replicas have fsynced their
    /// append-only files (`WAITAOF`, Redis 7.2+) instead of only received the write
    /// (SLUICE_DURABILITY_REPLICA_FSYNC).
    pub replica_fsync: bool,
    /// With `mode = "fsync"` on a Redis that refuses `CONFIG GET`: the operator's word
    /// that `appendfsync always` is set (SLUICE_DURABILITY_ASSUME_FSYNC).
    pub assume_fsync: bool,
    /// How often the running process re-checks the server's settings for `/readyz`
    /// (SLUICE_DURABILITY_CHECK_INTERVAL).
    #[serde(with = "sluice_model::duration")]
    pub check_interval: Duration,
}

impl Default for DurabilityConfig {
    fn default() -> Self {
        Self {
            mode: DurabilityMode::Local,
            replicas: 1,
            replica_timeout: Duration::from_secs(1),
            replica_fsync: false,
            assume_fsync: false,
            check_interval: Duration::from_secs(10),
        }
    }
}

impl Config {
    /// What the Redis server must provide, validated (names the key at fault).
    pub fn durability_requirements(&self) -> anyhow::Result<Requirements> {
        let d = &self.durability;
        // Both refused at zero in every mode (WAIT 0 would block forever).
        let wait = |key: &str, value: Duration| {
            positive(key, value).map_err(|e| refuse(e.within("durability")))
        };
        wait("check_interval", d.check_interval)?;
        let timeout = wait("replica_timeout", d.replica_timeout)?;
        let durability = match d.mode {
            DurabilityMode::None => Durability::None,
            DurabilityMode::Local => Durability::Local,
            DurabilityMode::Fsync => Durability::Fsync,
            DurabilityMode::Replicas => {
                if d.replicas == 0 {
                    bail!(
                        "invalid configuration: `durability.replicas` (SLUICE_DURABILITY_REPLICAS) must be at least 1 with `durability.mode = \"replicas\"`"
                    );
                }
                Durability::Replicas(ReplicaAck {
                    replicas: d.replicas,
                    timeout,
                    fsynced: d.replica_fsync,
                    local_aof: false,
                })
            }
        };
        Ok(Requirements {
            durability,
            assume_fsync: d.assume_fsync,
        })
    }

    pub fn durability_check_interval(&self) -> Duration {
        self.durability.check_interval
    }
}

/// The refusal to start, with the Redis setting to change and the Sluice setting
/// that chose the requirement.
pub fn startup_refusal(error: ServerCheckError) -> anyhow::Error {
    let hint = match &error {
        ServerCheckError::Evicting { .. } => {
            "Sluice does not start against an evicting Redis, whatever `durability.mode` says"
        }
        ServerCheckError::NoAppendOnly { .. } => {
            "or choose another `durability.mode` (SLUICE_DURABILITY_MODE): `replicas`, or `none` where losing accepted mail on a Redis restart is acceptable"
        }
        ServerCheckError::NotFsyncAlways { .. } => {
            "or choose `durability.mode = \"local\"` (SLUICE_DURABILITY_MODE), which accepts `appendfsync everysec`"
        }
        ServerCheckError::FsyncUnknown { .. } => {
            "if you have confirmed `appendfsync always` with your provider, set `durability.assume_fsync = true` (SLUICE_DURABILITY_ASSUME_FSYNC)"
        }
        ServerCheckError::NoWaitAof { .. } => {
            "or set `durability.replica_fsync = false` (SLUICE_DURABILITY_REPLICA_FSYNC) to wait with WAIT"
        }
    };
    anyhow::anyhow!("refusing to start: {error}; {hint}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)]
    fn the_mode_comes_from_the_environment_and_errors_name_the_key() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None).unwrap();
            assert_eq!(
                config.durability_requirements().unwrap().durability,
                Durability::Local
            );
            jail.set_env("SLUICE_DURABILITY_MODE", "replicas");
            jail.set_env("SLUICE_DURABILITY_REPLICAS", "2");
            jail.set_env("SLUICE_DURABILITY_REPLICA_TIMEOUT", "250ms");
            let config = Config::load(None).unwrap();
            let Durability::Replicas(ack) = config.durability_requirements().unwrap().durability
            else {
                panic!("not replicas");
            };
            assert_eq!(ack.replicas, 2);
            assert_eq!(ack.timeout, Duration::from_millis(250));

            jail.set_env("SLUICE_DURABILITY_REPLICAS", "0");
            let error = format!("{:#}", Config::load(None).unwrap_err());
            assert!(error.contains("SLUICE_DURABILITY_REPLICAS"), "{error}");

            jail.set_env("SLUICE_DURABILITY_MODE", "sometimes");
            let error = format!("{:#}", Config::load(None).unwrap_err()).to_lowercase();
            assert!(
                error.contains("durability.mode") && error.contains("sluice_"),
                "{error}"
            );
            Ok(())
        });
    }
}
