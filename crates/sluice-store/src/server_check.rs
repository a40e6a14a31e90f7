//! What the Redis server promises about the data Sluice hands it, checked against
//! what the operator asked for.
//!
//! A 202 is a promise that the message will be delivered. Two server settings can
//! break it without any error reaching Sluice:
//! - **Eviction.** Under `maxmemory`, any policy but `noeviction` deletes keys. Message
//!   records carry a TTL (retention), so even `volatile-lru` picks exactly them; the
//!   idempotency keys, quota counters and the generated token secret go too. Only
//!   `noeviction` turns memory pressure into refused writes, which the API reports as
//!   503 and the client retries.
//! - **Persistence.** Without the append-only file a Redis restart forgets everything;
//!   with `appendfsync everysec` a machine crash loses up to a second of writes.
//!
//! The policy and `aof_enabled` come from `INFO`, which managed offerings allow.
//! `appendfsync` needs `CONFIG GET`, which some of them refuse: then the operator has to
//! say what it is (see [`Requirements::assume_fsync`]).

use std::collections::HashMap;
use std::time::Duration;

use crate::{Store, StoreError};

/// How durable a message must be before the API answers 202.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// No persistence required (caches, throwaway tests): a Redis restart loses
    /// every accepted message.
    None,
    /// The append-only file is on (any `appendfsync`): a 202 survives a Redis process
    /// crash; with `everysec`, a machine crash loses at most about a second.
    Local,
    /// `appendfsync always`: the write is on disk before Redis answers.
    Fsync,
    /// `WAIT` (or `WAITAOF`) until this many replicas have the write.
    Replicas(ReplicaAck),
}

/// How many replicas must acknowledge an accepted message, and for how long to wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicaAck {
    pub replicas: u32,
    pub timeout: Duration,
    /// Wait for the replicas to have fsynced their append-only files (`WAITAOF`, Redis
    /// 7.2 or newer) rather than only to have received the write (`WAIT`).
    pub fsynced: bool,
    /// Whether the local append-only file is on, so `WAITAOF` also waits for it.
    pub local_aof: bool,
}

impl Durability {
    pub fn name(&self) -> &'static str {
        match self {
            Durability::None => "none",
            Durability::Local => "local",
            Durability::Fsync => "fsync",
            Durability::Replicas(_) => "replicas",
        }
    }
}

/// What the operator requires of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requirements {
    pub durability: Durability,
    /// The operator states `appendfsync always` is set where `CONFIG GET` is refused.
    pub assume_fsync: bool,
}

/// The settings of the Redis server that matter for durability, as read at one time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerReport {
    /// `redis_version`, e.g. `7.0.15`.
    pub version: String,
    pub maxmemory_policy: String,
    /// Bytes; 0 = no limit.
    pub maxmemory: u64,
    pub aof_enabled: bool,
    /// `CONFIG GET appendfsync`, or why the server refused to say.
    pub appendfsync: Result<String, String>,
    /// `connected_slaves` of `INFO replication`.
    pub connected_replicas: u32,
}

/// Why the server cannot keep the promise a 202 makes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServerCheckError {
    #[error(
        "Redis would evict keys under memory pressure (maxmemory-policy is `{policy}`): accepted messages, idempotency keys and quota counters could vanish without an error. Set `maxmemory-policy noeviction` on the Redis server (redis.conf, `CONFIG SET maxmemory-policy noeviction`, or the provider's parameter group)"
    )]
    Evicting { policy: String },
    #[error(
        "durability mode `{mode}` needs the append-only file, but Redis runs with `appendonly no`: a Redis restart would lose accepted mail. Set `appendonly yes` on the Redis server"
    )]
    NoAppendOnly { mode: &'static str },
    #[error(
        "durability mode `fsync` needs `appendfsync always`, but Redis has `appendfsync {found}`: a machine crash could lose mail already answered with 202. Set `appendfsync always` on the Redis server"
    )]
    NotFsyncAlways { found: String },
    #[error(
        "durability mode `fsync` needs `appendfsync always`, but Redis refused `CONFIG GET appendfsync` ({reason}), so it cannot be checked"
    )]
    FsyncUnknown { reason: String },
    #[error(
        "waiting for replicas' append-only files (WAITAOF) needs Redis 7.2 or newer; this server is {version}"
    )]
    NoWaitAof { version: String },
}

impl ServerCheckError {
    /// Whether the operator can vouch for it instead (`assume_fsync`).
    pub fn is_unverifiable(&self) -> bool {
        matches!(self, ServerCheckError::FsyncUnknown { .. })
    }
}

/// Something worth a warning that does not stop Sluice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerWarning {
    /// `durability.mode = none`: nothing survives a Redis restart.
    NoPersistence,
    /// Fewer replicas are connected than every 202 needs: sends will answer 503.
    FewReplicas { connected: u32, required: u32 },
    /// `appendfsync` could not be read; the operator's word is taken for it.
    FsyncAssumed { reason: String },
}

impl std::fmt::Display for ServerWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerWarning::NoPersistence => f.write_str(
                "durability mode `none`: accepted messages live only in Redis memory; a Redis restart loses every one of them",
            ),
            ServerWarning::FewReplicas {
                connected,
                required,
            } => write!(
                f,
                "{connected} replica(s) connected, {required} required: sends will answer 503 not-replicated until enough replicas are back"
            ),
            ServerWarning::FsyncAssumed { reason } => write!(
                f,
                "Redis refused CONFIG GET appendfsync ({reason}); trusting the configuration that it is `always`"
            ),
        }
    }
}

impl Requirements {
    /// Checks `report` against these requirements: an error stops Sluice (or turns
    /// `/readyz` 503); warnings are for the log.
    pub fn check(&self, report: &ServerReport) -> Result<Vec<ServerWarning>, ServerCheckError> {
        if report.maxmemory_policy != "noeviction" {
            return Err(ServerCheckError::Evicting {
                policy: report.maxmemory_policy.clone(),
            });
        }
        let mut warnings = Vec::new();
        match self.durability {
            Durability::None => warnings.push(ServerWarning::NoPersistence),
            Durability::Local => {
                if !report.aof_enabled {
                    return Err(ServerCheckError::NoAppendOnly { mode: "local" });
                }
            }
            Durability::Fsync => {
                if !report.aof_enabled {
                    return Err(ServerCheckError::NoAppendOnly { mode: "fsync" });
                }
                match &report.appendfsync {
                    Ok(policy) if policy == "always" => {}
                    Ok(policy) => {
                        return Err(ServerCheckError::NotFsyncAlways {
                            found: policy.clone(),
                        });
                    }
                    Err(reason) if self.assume_fsync => {
                        warnings.push(ServerWarning::FsyncAssumed {
                            reason: reason.clone(),
                        })
                    }
                    Err(reason) => {
                        return Err(ServerCheckError::FsyncUnknown {
                            reason: reason.clone(),
                        });
                    }
                }
            }
            Durability::Replicas(ack) => {
                if ack.fsynced && !report.at_least(7, 2) {
                    return Err(ServerCheckError::NoWaitAof {
                        version: report.version.clone(),
                    });
                }
                if report.connected_replicas < ack.replicas {
                    warnings.push(ServerWarning::FewReplicas {
                        connected: report.connected_replicas,
                        required: ack.replicas,
                    });
                }
            }
        }
        Ok(warnings)
    }

    /// The acknowledgement to wait for after each accept, with what the server told
    /// us filled in (whether `WAITAOF` can include the local file).
    pub fn replica_ack(&self, report: &ServerReport) -> Option<ReplicaAck> {
        match self.durability {
            Durability::Replicas(ack) => Some(ReplicaAck {
                local_aof: report.aof_enabled,
                ..ack
            }),
            _ => None,
        }
    }
}

impl ServerReport {
    /// Whether the server's version is at least `major.minor`.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        let mut parts = self
            .version
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        found >= (major, minor)
    }
}

impl Store {
    /// Reads the server settings that decide whether a 202 can be trusted. On a
    /// Redis Cluster every master is asked and the weakest answer is reported (the
    /// oldest version, an evicting policy, a master without its append-only file or
    /// with the fewest replicas): a 202 is only as safe as the master that holds it.
    pub async fn server_report(&self) -> Result<ServerReport, StoreError> {
        let mut conn = self.conn();
        let masters = conn.masters().await?;
        if masters.is_empty() {
            return report_of(&mut conn, None).await;
        }
        let mut weakest: Option<ServerReport> = None;
        for node in masters {
            let report = report_of(&mut conn, Some(&node)).await?;
            weakest = Some(match weakest {
                None => report,
                Some(w) => weaker(w, report),
            });
        }
        weakest.ok_or_else(|| StoreError::corrupt("CLUSTER NODES", "no master"))
    }
}

/// The weaker of two masters' reports, setting by setting.
fn weaker(a: ServerReport, b: ServerReport) -> ServerReport {
    let older = |a: &ServerReport, b: &ServerReport| {
        let v = |r: &ServerReport| {
            r.version
                .split('.')
                .map(|p| p.parse::<u32>().unwrap_or(0))
                .collect::<Vec<_>>()
        };
        if v(a) <= v(b) {
            a.version.clone()
        } else {
            b.version.clone()
        }
    };
    ServerReport {
        version: older(&a, &b),
        maxmemory_policy: if a.maxmemory_policy != "noeviction" {
            a.maxmemory_policy.clone()
        } else {
            b.maxmemory_policy.clone()
        },
        maxmemory: a.maxmemory.max(b.maxmemory),
        aof_enabled: a.aof_enabled && b.aof_enabled,
        appendfsync: match (&a.appendfsync, &b.appendfsync) {
            (Err(e), _) | (_, Err(e)) => Err(e.clone()),
            (Ok(x), Ok(y)) if x == "always" => Ok(y.clone()),
            (Ok(x), _) => Ok(x.clone()),
        },
        connected_replicas: a.connected_replicas.min(b.connected_replicas),
    }
}

/// Sends `cmd` to `node` (a cluster master), or to the single server.
async fn ask<T: redis::FromRedisValue>(
    conn: &mut crate::connection::Conn,
    node: Option<&crate::NodeAddress>,
    cmd: &redis::Cmd,
) -> Result<T, StoreError> {
    match node {
        Some(node) => conn.query_at(node, cmd).await,
        None => conn.query_on("", cmd).await,
    }
}

/// One server's report (`node`: a cluster master; `None`: the single server).
async fn report_of(
    conn: &mut crate::connection::Conn,
    node: Option<&crate::NodeAddress>,
) -> Result<ServerReport, StoreError> {
    let mut sections = Vec::new();
    for name in ["server", "memory", "persistence", "replication"] {
        let text: String = ask(conn, node, redis::cmd("INFO").arg(name)).await?;
        sections.push(parse_info(&text));
    }
    let [server, memory, persistence, replication] =
        <[_; 4]>::try_from(sections).map_err(|_| StoreError::corrupt("INFO", "four sections"))?;
    let answer: Result<Vec<String>, StoreError> = ask(
        conn,
        node,
        redis::cmd("CONFIG").arg("GET").arg("appendfsync"),
    )
    .await;
    let appendfsync = match answer {
        Ok(pair) => match pair.as_slice() {
            [_, value] => Ok(value.clone()),
            _ => Err("the server did not name it".to_string()),
        },
        // A refused command (managed Redis renames or disables CONFIG) is an
        // answer; a broken connection is not.
        Err(StoreError::Redis(e))
            if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() =>
        {
            return Err(e.into());
        }
        Err(e) => Err(match e {
            StoreError::Redis(e) => e.to_string(),
            other => other.to_string(),
        }),
    };
    let field = |map: &HashMap<String, String>, key: &str| {
        map.get(key)
            .cloned()
            .ok_or_else(|| StoreError::corrupt("INFO", format!("no `{key}` field")))
    };
    Ok(ServerReport {
        version: field(&server, "redis_version")?,
        maxmemory_policy: field(&memory, "maxmemory_policy")?,
        maxmemory: field(&memory, "maxmemory")?.parse().unwrap_or(0),
        aof_enabled: field(&persistence, "aof_enabled")? == "1",
        appendfsync,
        connected_replicas: field(&replication, "connected_slaves")?
            .parse()
            .unwrap_or(0),
    })
}

/// An `INFO` reply as `field → value`.
pub(crate) fn parse_info(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn report() -> ServerReport {
        ServerReport {
            version: "7.0.15".into(),
            maxmemory_policy: "noeviction".into(),
            maxmemory: 0,
            aof_enabled: true,
            appendfsync: Ok("everysec".into()),
            connected_replicas: 0,
        }
    }

    fn needs(durability: Durability) -> Requirements {
        Requirements {
            durability,
            assume_fsync: false,
        }
    }

    #[test]
    fn info_fields_are_read() {
        let map = parse_info("# Memory\r\nused_memory:1024\r\nmaxmemory_policy:volatile-lru\r\n");
        assert_eq!(
            map.get("maxmemory_policy").map(String::as_str),
            Some("volatile-lru")
        );
        assert_eq!(map.get("used_memory").map(String::as_str), Some("1024"));
    }

    #[test]
    fn every_evicting_policy_is_refused_whatever_the_mode() {
        for policy in [
            "volatile-lru",
            "allkeys-lru",
            "volatile-ttl",
            "allkeys-random",
        ] {
            let mut r = report();
            r.maxmemory_policy = policy.into();
            let error = needs(Durability::None).check(&r).unwrap_err();
            assert!(error.to_string().contains("maxmemory-policy"), "{error}");
        }
    }

    #[test]
    fn modes_require_their_persistence() {
        let mut r = report();
        assert_eq!(needs(Durability::Local).check(&r), Ok(vec![]));
        let error = needs(Durability::Fsync).check(&r).unwrap_err();
        assert!(error.to_string().contains("appendfsync always"), "{error}");
        r.appendfsync = Ok("always".into());
        assert_eq!(needs(Durability::Fsync).check(&r), Ok(vec![]));
        r.aof_enabled = false;
        let error = needs(Durability::Local).check(&r).unwrap_err();
        assert!(error.to_string().contains("appendonly"), "{error}");
        assert_eq!(
            needs(Durability::None).check(&r),
            Ok(vec![ServerWarning::NoPersistence])
        );
    }

    #[test]
    fn an_unreadable_appendfsync_needs_the_operators_word() {
        let mut r = report();
        r.appendfsync = Err("unknown command 'CONFIG'".into());
        let error = needs(Durability::Fsync).check(&r).unwrap_err();
        assert!(error.is_unverifiable());
        let trusted = Requirements {
            durability: Durability::Fsync,
            assume_fsync: true,
        };
        assert!(matches!(
            trusted.check(&r).as_deref(),
            Ok([ServerWarning::FsyncAssumed { .. }])
        ));
        // `local` accepts any appendfsync, so it never needs to know.
        assert_eq!(needs(Durability::Local).check(&r), Ok(vec![]));
    }

    #[test]
    fn waitaof_needs_redis_7_2() {
        let ack = ReplicaAck {
            replicas: 1,
            timeout: Duration::from_secs(1),
            fsynced: true,
            local_aof: false,
        };
        let mut r = report();
        r.connected_replicas = 1;
        assert!(matches!(
            needs(Durability::Replicas(ack)).check(&r),
            Err(ServerCheckError::NoWaitAof { .. })
        ));
        r.version = "7.2.4".into();
        assert_eq!(needs(Durability::Replicas(ack)).check(&r), Ok(vec![]));
        r.connected_replicas = 0;
        assert_eq!(
            needs(Durability::Replicas(ack)).check(&r),
            Ok(vec![ServerWarning::FewReplicas {
                connected: 0,
                required: 1
            }])
        );
    }
}
