//! One connection type for a single Redis and a Redis Cluster.
//!
//! `redis_url` names either one server (`redis://…`, `rediss://…`) or a cluster: a
//! `redis+cluster://` (or `rediss+cluster://`) URL listing seed nodes separated by
//! commas, e.g. `redis+cluster://10.0.0.1:6379,10.0.0.2:6379`. A plain URL that
//! turns out to point at a cluster node is used as a seed too, so either spelling
//! works. On a cluster the client follows MOVED and ASK, learns the slot map again
//! after a failover, and reconnects by itself.
//!
//! `rediss://` and `rediss+cluster://` speak TLS (rustls), verifying the servers
//! against the system's roots or the CA of [`RedisTls`], and presenting its client
//! certificate to servers that ask for one (`tls-auth-clients yes`).
//!
//! Every command with keys goes to the node serving its first key's slot; a
//! script's keys, a MULTI and a pipeline must therefore share one slot (the key
//! schema's hash tags see to it). Commands without keys that are about one node
//! (INFO, WAIT, SCAN) go where [`Conn::query_on`] and [`Conn::query_at`] send them;
//! on a single server, to the one server.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, Value};

use crate::StoreError;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// TLS settings for `rediss://` URLs beyond the defaults (the system's roots, no
/// client certificate), as PEM.
#[derive(Clone, Default)]
pub struct RedisTls {
    /// The CA that signed the servers' certificates, trusted instead of the system's
    /// roots.
    pub ca: Option<Vec<u8>>,
    /// A client certificate and its private key, for servers that require one.
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for RedisTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTls")
            .field("ca", &self.ca.is_some())
            .field("client", &self.client.is_some())
            .finish()
    }
}

impl RedisTls {
    fn certificates(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: self
                .client
                .as_ref()
                .map(|(cert, key)| redis::ClientTlsConfig {
                    client_cert: cert.clone(),
                    client_key: key.clone(),
                }),
            root_cert: self.ca.clone(),
        }
    }
}

/// Where the data lives: one server or a cluster's seed nodes.
#[derive(Clone)]
pub(crate) enum Backend {
    /// The client, the URL it was made from and its TLS settings (a seed, should it
    /// be a cluster node).
    Single(Box<redis::Client>, String, Option<RedisTls>),
    Cluster(Vec<String>, Option<RedisTls>),
}

impl Backend {
    /// Reads `redis_url` (see the module documentation); `tls` applies to `rediss`
    /// URLs. A plain URL is checked for a cluster node when the store connects
    /// ([`Backend::connect`]).
    pub(crate) fn open(url: &str, tls: Option<RedisTls>) -> Result<Self, StoreError> {
        if url.starts_with("rediss") {
            // rustls needs one crypto provider for the process: the workspace's (ring).
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        match cluster_seeds(url)? {
            Some(seeds) => Ok(Backend::Cluster(seeds, tls)),
            None => {
                let client = match &tls {
                    Some(tls) if url.starts_with("rediss://") => {
                        redis::Client::build_with_tls(url, tls.certificates())?
                    }
                    _ => redis::Client::open(url)?,
                };
                Ok(Backend::Single(Box::new(client), url.to_string(), tls))
            }
        }
    }

    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Backend::Cluster(..))
    }

    /// A connection whose replies may take up to `response_timeout` (blocking reads
    /// and `WAIT` need more than the default). Reconnects by itself.
    pub(crate) async fn connect(&self, response_timeout: Duration) -> Result<Conn, StoreError> {
        match self {
            Backend::Single(client, ..) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(response_timeout));
                let conn = ConnectionManager::new_with_config((**client).clone(), config).await?;
                Ok(Conn::Single(conn))
            }
            Backend::Cluster(seeds, tls) => {
                let mut builder = ClusterClientBuilder::new(seeds.clone());
                if let Some(tls) = tls.as_ref().filter(|_| seeds[0].starts_with("rediss://")) {
                    builder = builder.certs(tls.certificates());
                }
                let client = builder
                    .connection_timeout(CONNECT_TIMEOUT)
                    .response_timeout(response_timeout)
                    // A failover takes a few seconds (the node timeout plus an
                    // election): keep retrying across it rather than fail the call.
                    .retries(8)
                    .min_retry_wait(100)
                    .max_retry_wait(2_000)
                    .build()?;
                Ok(Conn::Cluster(client.get_async_connection().await?))
            }
        }
    }

    /// A plain URL that points at a cluster node becomes a cluster with that seed.
    pub(crate) async fn detect_cluster(self) -> Result<Self, StoreError> {
        let Backend::Single(client, url, tls) = &self else {
            return Ok(self);
        };
        let mut conn = client.get_multiplexed_async_connection().await?;
        // A server that refuses INFO (an ACL) is taken for a single one.
        let info: String = redis::cmd("INFO")
            .arg("cluster")
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        if info.lines().any(|line| line.trim() == "cluster_enabled:1") {
            tracing::info!("redis_url points at a Redis Cluster node; using it as a seed");
            return Ok(Backend::Cluster(vec![url.clone()], tls.clone()));
        }
        Ok(self)
    }
}

/// The seed URLs of a `redis+cluster://` / `rediss+cluster://` URL; `None` for any
/// other scheme.
pub(crate) fn cluster_seeds(url: &str) -> Result<Option<Vec<String>>, StoreError> {
    let (scheme, rest) = match url.split_once("://") {
        Some(("redis+cluster", rest)) => ("redis", rest),
        Some(("rediss+cluster", rest)) => ("rediss", rest),
        _ => return Ok(None),
    };
    let rest = rest.trim_end_matches('/');
    let (auth, hosts) = match rest.rsplit_once('@') {
        Some((auth, hosts)) => (format!("{auth}@"), hosts),
        None => (String::new(), rest),
    };
    let seeds: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|host| format!("{scheme}://{auth}{host}"))
        .collect();
    if seeds.is_empty() {
        return Err(StoreError::Redis(redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "a redis+cluster:// URL needs at least one host:port",
        ))));
    }
    for seed in &seeds {
        redis::Client::open(seed.as_str())?;
    }
    Ok(Some(seeds))
}

/// A connection to one server or to a cluster; cheap to clone (clones share it).
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(conn) => conn.req_packed_command(cmd),
            Conn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// A master node of the cluster, by address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAddress {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for NodeAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl Conn {
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }

    /// Sends `cmd` (a command about a node rather than a key: INFO, WAIT, TIME) to
    /// the master serving `key`'s slot; on a single server, to it.
    pub(crate) async fn query_on<T: FromRedisValue>(
        &mut self,
        key: &str,
        cmd: &Cmd,
    ) -> Result<T, StoreError> {
        match self {
            Conn::Single(conn) => Ok(cmd.query_async(conn).await?),
            Conn::Cluster(conn) => {
                let route = Route::with_key(key.as_bytes(), SlotAddr::Master);
                let value = conn
                    .route_command(
                        cmd.clone(),
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)),
                    )
                    .await?;
                Ok(redis::from_redis_value(value).map_err(redis::RedisError::from)?)
            }
        }
    }

    /// The masters serving slots right now (none on a single server).
    pub(crate) async fn masters(&mut self) -> Result<Vec<NodeAddress>, StoreError> {
        let Conn::Cluster(conn) = self else {
            return Ok(Vec::new());
        };
        let nodes: String = redis::cmd("CLUSTER").arg("NODES").query_async(conn).await?;
        let mut masters: Vec<NodeAddress> = nodes.lines().filter_map(parse_master).collect();
        masters.sort_by(|a, b| (&a.host, a.port).cmp(&(&b.host, b.port)));
        masters.dedup();
        Ok(masters)
    }

    /// Sends `cmd` to the node at `node` (a cluster only).
    pub(crate) async fn query_at<T: FromRedisValue>(
        &mut self,
        node: &NodeAddress,
        cmd: &Cmd,
    ) -> Result<T, StoreError> {
        match self {
            Conn::Single(conn) => Ok(cmd.query_async(conn).await?),
            Conn::Cluster(conn) => {
                let value = conn
                    .route_command(
                        cmd.clone(),
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: node.host.clone(),
                            port: node.port,
                        }),
                    )
                    .await?;
                Ok(redis::from_redis_value(value).map_err(redis::RedisError::from)?)
            }
        }
    }

    /// Every key matching `pattern`, by SCAN (of every master on a cluster). For
    /// operators' listings and upgrades, never the hot path.
    pub(crate) async fn scan_keys(&mut self, pattern: &str) -> Result<Vec<String>, StoreError> {
        let nodes: Vec<Option<NodeAddress>> = match self {
            Conn::Single(_) => vec![None],
            Conn::Cluster(_) => self.masters().await?.into_iter().map(Some).collect(),
        };
        let mut found = Vec::new();
        for node in nodes {
            let mut cursor: u64 = 0;
            loop {
                let mut cmd = redis::cmd("SCAN");
                cmd.arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(1000);
                let (next, keys): (u64, Vec<String>) = match &node {
                    Some(node) => self.query_at(node, &cmd).await?,
                    None => self.query_on("", &cmd).await?,
                };
                found.extend(keys);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(found)
    }

    /// `HGETALL` of each key (keys in any slots; see [`Conn::query_each`]).
    pub(crate) async fn hgetall_each(
        &mut self,
        keys: impl IntoIterator<Item = String>,
    ) -> Result<Vec<std::collections::HashMap<String, String>>, StoreError> {
        let cmds = keys
            .into_iter()
            .map(|key| {
                let mut cmd = redis::cmd("HGETALL");
                cmd.arg(key);
                cmd
            })
            .collect();
        self.query_each(cmds).await
    }

    /// Runs independent commands whose keys may live in different slots, replies in
    /// order: one pipeline on a single server; on a cluster each command goes to its
    /// own node, all at once (the connection multiplexes them).
    pub(crate) async fn query_each<T: FromRedisValue>(
        &mut self,
        cmds: Vec<Cmd>,
    ) -> Result<Vec<T>, StoreError> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Conn::Single(conn) => {
                let mut pipe = redis::pipe();
                for cmd in cmds {
                    pipe.add_command(cmd);
                }
                Ok(pipe.query_async(conn).await?)
            }
            Conn::Cluster(conn) => {
                let calls = cmds.into_iter().map(|cmd| {
                    let mut conn = conn.clone();
                    async move { cmd.query_async::<T>(&mut conn).await }
                });
                Ok(futures_util::future::try_join_all(calls).await?)
            }
        }
    }
}

/// A master line of CLUSTER NODES (`<id> <ip:port@bus[,host]> <flags> …`) that serves
/// slots and is not failed.
fn parse_master(line: &str) -> Option<NodeAddress> {
    let mut fields = line.split_whitespace();
    let _id = fields.next()?;
    let address = fields.next()?;
    let flags = fields.next()?;
    let flags: Vec<&str> = flags.split(',').collect();
    if !flags.contains(&"master") || flags.iter().any(|f| f.starts_with("fail")) {
        return None;
    }
    // Slots follow the 5 fields master-id, ping-sent, pong-recv, epoch, link-state.
    fields.nth(5)?;
    let address = address.split(['@', ',']).next()?;
    let (host, port) = address.rsplit_once(':')?;
    Some(NodeAddress {
        host: host.to_string(),
        port: port.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn cluster_urls_list_their_seeds() {
        assert_eq!(
            cluster_seeds("redis+cluster://10.0.0.1:6379,10.0.0.2:6380/").unwrap(),
            Some(vec![
                "redis://10.0.0.1:6379".to_string(),
                "redis://10.0.0.2:6380".to_string()
            ])
        );
        assert_eq!(
            cluster_seeds("redis+cluster://user:secret@a:1,b:2").unwrap(),
            Some(vec![
                "redis://user:secret@a:1".to_string(),
                "redis://user:secret@b:2".to_string()
            ])
        );
        assert_eq!(cluster_seeds("redis://127.0.0.1:6379/").unwrap(), None);
        assert!(cluster_seeds("redis+cluster://").is_err());
    }

    #[test]
    fn masters_are_read_from_cluster_nodes() {
        let nodes = "\
a1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:30002@40002 master - 0 1 2 connected 5461-10922
c3 127.0.0.1:30004@40004 slave b2 0 1 2 connected
d4 127.0.0.1:30003@40003 master,fail - 0 1 3 connected 10923-16383
e5 127.0.0.1:30005@40005 master - 0 1 4 connected";
        let masters: Vec<_> = nodes.lines().filter_map(parse_master).collect();
        assert_eq!(
            masters,
            vec![
                NodeAddress {
                    host: "127.0.0.1".into(),
                    port: 30001
                },
                NodeAddress {
                    host: "127.0.0.1".into(),
                    port: 30002
                }
            ]
        );
    }
}
