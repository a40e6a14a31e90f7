//! A private Redis Cluster of [`EmbeddedRedis`] nodes, for tests and load tests that
//! need cluster semantics: slot routing, `CROSSSLOT` errors, a master that dies and a
//! replica that takes its slots.
//!
//! The cluster is formed the way `redis-cli --cluster create` forms one, but through
//! the `redis` crate, so nothing beyond `redis-server` must be installed: every node
//! gets its own config epoch (`CLUSTER SET-CONFIG-EPOCH`, so no two masters claim
//! slots with the same epoch), each master an even share of the 16384 slots
//! (`CLUSTER ADDSLOTSRANGE`), every node meets the first (`CLUSTER MEET`; gossip
//! introduces the rest), and replicas follow their masters (`CLUSTER REPLICATE`) once
//! everyone knows everyone.
//!
//! Ports are chosen here rather than by the kernel: a node's cluster bus listens on
//! `port + 10000`, so a node needs a port ≤ 55535 whose bus port is free too, while
//! ephemeral ports often lie above that. Tests start many clusters at once, so a port
//! found free can still be taken before its node binds it; the node then fails to
//! start (or another server answers on it, which [`EmbeddedRedis`] notices) and is
//! started again on another port.

use std::net::{Ipv4Addr, TcpListener};
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::future::{join_all, try_join_all};

use super::{EmbeddedRedis, EmbeddedRedisError};

mod nodes;
mod tls;

use nodes::{Layout, NodeLine, ask, ask_nodes, cluster, cluster_ok, node_url};
pub use tls::ServerTls;

const SLOTS: u16 = 16384;
/// The cluster bus of a node listens on its port plus this.
const BUS_OFFSET: u16 = 10000;
/// Where node ports are drawn from: low enough for every bus port (`port + 10000`)
/// to exist, far from 6379 and its bus port.
const PORTS: RangeInclusive<u16> = 20000..=55000;
/// Nodes started on a port someone else took first, before giving up.
const START_ATTEMPTS: usize = 10;
/// How long the nodes may take to meet, replicate and agree on the slot map.
const FORM_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// A Redis Cluster of private `redis-server` processes on loopback, each under
/// `dir/<port>/`. Every node is killed when this is dropped.
pub struct EmbeddedCluster {
    nodes: Vec<Node>,
}

struct Node {
    port: u16,
    /// The TLS port, on a cluster started with [`EmbeddedCluster::start_tls`].
    tls_port: Option<u16>,
    /// `None` once [`EmbeddedCluster::kill`] has killed it.
    server: Option<EmbeddedRedis>,
}

impl EmbeddedCluster {
    /// `masters` masters with `replicas` replicas each (e.g. 3 and 1 = 6 nodes), every
    /// node a private redis-server under `dir/<port>/` started with `--cluster-enabled
    /// yes`, `--cluster-node-timeout 2000` (failover in a few seconds),
    /// `--cluster-config-file` in its dir, appendonly per `persist`. Slots are spread
    /// evenly over the masters. Returns once `cluster_state:ok` on every node, every
    /// node agrees on the slot map and every replica is in sync with its master.
    /// `masters = 1, replicas = 0` is a one-node cluster owning all 16384 slots (cheap,
    /// for tests that only need cluster semantics such as `CROSSSLOT` errors).
    pub async fn start(
        dir: &Path,
        masters: usize,
        replicas: usize,
        persist: bool,
    ) -> Result<Self, EmbeddedRedisError> {
        Self::start_inner(dir, masters, replicas, persist, None).await
    }

    /// [`start`](Self::start), every node also listening with TLS on a port of its own
    /// (see [`tls_url`](Self::tls_url)) with the certificate and key of `tls`, and the
    /// cluster bus and replication over TLS too (`tls-cluster`, `tls-replication`).
    /// Clients need no certificate unless `tls.require_client_certs`. The plain ports
    /// stay open for the cluster's own management.
    pub async fn start_tls(
        dir: &Path,
        masters: usize,
        replicas: usize,
        persist: bool,
        tls: &ServerTls,
    ) -> Result<Self, EmbeddedRedisError> {
        Self::start_inner(dir, masters, replicas, persist, Some(tls)).await
    }

    async fn start_inner(
        dir: &Path,
        masters: usize,
        replicas: usize,
        persist: bool,
        tls: Option<&ServerTls>,
    ) -> Result<Self, EmbeddedRedisError> {
        let failed = |reason: String| EmbeddedRedisError::Cluster {
            dir: dir.into(),
            reason,
        };
        if masters == 0 || masters > usize::from(SLOTS) {
            return Err(failed(format!(
                "{masters} masters asked for; a cluster has 1 to {SLOTS}"
            )));
        }
        let count = masters * (1 + replicas);
        let servers = try_join_all((0..count).map(|_| start_node(dir, persist, tls))).await?;
        let cluster = Self {
            nodes: servers
                .into_iter()
                .map(|(server, tls_port)| Node {
                    port: server.port(),
                    tls_port,
                    server: Some(server),
                })
                .collect(),
        };
        cluster.form(masters).await.map_err(failed)?;
        Ok(cluster)
    }

    /// `redis+cluster://127.0.0.1:<p1>,127.0.0.1:<p2>,...` listing every node (seed list).
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    /// `rediss+cluster://127.0.0.1:<tls port>,...` listing every node's TLS port; on a
    /// cluster started without TLS, [`url`](Self::url).
    pub fn tls_url(&self) -> String {
        let seeds: Vec<String> = self
            .nodes
            .iter()
            .filter_map(|node| node.tls_port)
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        if seeds.is_empty() {
            return self.url();
        }
        format!("rediss+cluster://{}", seeds.join(","))
    }

    /// `redis://127.0.0.1:<port>/` of each node, in start order.
    pub fn node_urls(&self) -> Vec<String> {
        self.nodes.iter().map(|node| node_url(node.port)).collect()
    }

    /// The port of each node, in start order (killed nodes included).
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|node| node.port).collect()
    }

    /// Ports of the nodes that are masters right now, sorted: as the first live node
    /// that answers sees them (`CLUSTER NODES`), leaving out those it marks failed and
    /// those [`kill`](Self::kill)ed.
    pub async fn masters(&self) -> Vec<u16> {
        let Some(view) = self.ask_any().await else {
            return Vec::new();
        };
        let mut ports: Vec<u16> = view
            .iter()
            .filter(|node| self.serves(node))
            .map(|node| node.port)
            .collect();
        ports.sort_unstable();
        ports
    }

    /// The port of the live master serving `slot` right now, as the first live node
    /// that answers sees it.
    pub async fn master_of_slot(&self, slot: u16) -> Option<u16> {
        self.ask_any()
            .await?
            .iter()
            .find(|node| self.serves(node) && node.owns(slot))
            .map(|node| node.port)
    }

    /// The pid of the node on `port`, while it runs.
    pub fn pid(&self, port: u16) -> Option<u32> {
        self.node(port)?.server.as_ref()?.pid()
    }

    /// SIGKILLs the node on `port` (no shutdown, no AOF flush), as a crash would.
    pub async fn kill(&mut self, port: u16) {
        let server = self
            .nodes
            .iter_mut()
            .find(|node| node.port == port)
            .and_then(|node| node.server.take());
        if let Some(server) = server {
            server.kill().await;
        }
    }

    /// Waits until every live node reports `cluster_state:ok` and sees all 16384 slots
    /// served by live masters (after a kill: once a replica has been promoted and
    /// every node has heard of it). `false` on timeout.
    pub async fn wait_until_healthy(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.healthy().await.is_ok() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stops every node (`SHUTDOWN NOSAVE`, then SIGKILL if one is still there).
    pub async fn stop(self) {
        join_all(
            self.nodes
                .into_iter()
                .filter_map(|node| node.server)
                .map(|server| server.shutdown(&["NOSAVE"])),
        )
        .await;
    }

    /// Introduces the started nodes to each other (see the module doc), then waits
    /// until they agree on who serves which slots. The first `masters` nodes become
    /// the masters; replica `r` (counted from 0) follows master `r % masters`.
    async fn form(&self, masters: usize) -> Result<(), String> {
        let deadline = Instant::now() + FORM_TIMEOUT;
        let ports = self.ports();
        let mut ids = Vec::with_capacity(ports.len());
        for (epoch, &port) in (1u64..).zip(&ports) {
            ids.push(ask::<String>(port, &cluster("MYID")).await?);
            ask::<()>(port, &cluster(("SET-CONFIG-EPOCH", epoch))).await?;
        }
        let mut expected = Layout::default();
        for (index, &port) in ports.iter().enumerate() {
            if index < masters {
                let first = slot_share(index, masters);
                let last = slot_share(index + 1, masters) - 1;
                ask::<()>(port, &cluster(("ADDSLOTSRANGE", first, last))).await?;
                expected.slots.insert(first, (last, port));
                expected.roles.insert(port, None);
            } else {
                expected
                    .roles
                    .insert(port, Some(ports[(index - masters) % masters]));
            }
        }
        // The bus port given, as a TLS cluster's is not derived from the plain port.
        let meet = cluster(("MEET", "127.0.0.1", ports[0], ports[0] + BUS_OFFSET));
        for &port in &ports[1..] {
            ask::<()>(port, &meet).await?;
        }
        until(deadline, || self.acquainted()).await?;
        for (index, &port) in ports.iter().enumerate().skip(masters) {
            let master = &ids[(index - masters) % masters];
            let replicate = cluster(("REPLICATE", master));
            // A replica may not yet have heard from its master that it is one.
            until(deadline, || ask::<()>(port, &replicate)).await?;
        }
        until(deadline, || self.formed(&expected)).await
    }

    /// Whether every node knows every other, past the handshake, over a live link.
    async fn acquainted(&self) -> Result<(), String> {
        for port in self.ports() {
            let view = ask_nodes(port).await?;
            let known = view
                .iter()
                .filter(|node| !node.has_flag("handshake") && !node.has_flag("noaddr"))
                .filter(|node| node.has_flag("myself") || node.connected)
                .count();
            if known < self.nodes.len() {
                return Err(format!(
                    "node {port} knows {known} of {} nodes",
                    self.nodes.len()
                ));
            }
        }
        Ok(())
    }

    /// Whether every node reports `cluster_state:ok` and sees `expected`, and every
    /// replica has its copy of the master's data.
    async fn formed(&self, expected: &Layout) -> Result<(), String> {
        for (&port, master) in &expected.roles {
            cluster_ok(port).await?;
            let seen = Layout::of(&ask_nodes(port).await?);
            if &seen != expected {
                return Err(format!("node {port} sees {seen:?}, not yet {expected:?}"));
            }
            if master.is_some() {
                let info: String = ask(port, redis::cmd("INFO").arg("replication")).await?;
                if !info.contains("master_link_status:up") {
                    return Err(format!("replica {port} is not in sync yet"));
                }
            }
        }
        Ok(())
    }

    /// Whether every live node reports `cluster_state:ok` and sees every slot served
    /// by a live master.
    async fn healthy(&self) -> Result<(), String> {
        for node in self.nodes.iter().filter(|node| node.server.is_some()) {
            cluster_ok(node.port).await?;
            let view = ask_nodes(node.port).await?;
            let mut covered = 0;
            for master in view.iter().filter(|master| self.serves(master)) {
                covered += master
                    .slots
                    .iter()
                    .map(|(first, last)| usize::from(last - first) + 1)
                    .sum::<usize>();
            }
            if covered != usize::from(SLOTS) {
                return Err(format!("node {} sees {covered} slots served", node.port));
            }
        }
        Ok(())
    }

    /// The cluster as the first live node that answers sees it.
    async fn ask_any(&self) -> Option<Vec<NodeLine>> {
        for node in self.nodes.iter().filter(|node| node.server.is_some()) {
            if let Ok(view) = ask_nodes(node.port).await {
                return Some(view);
            }
        }
        None
    }

    /// Whether `node` is a master that has not failed and that we have not killed.
    fn serves(&self, node: &NodeLine) -> bool {
        node.has_flag("master")
            && !node.has_flag("fail")
            && self
                .node(node.port)
                .is_some_and(|ours| ours.server.is_some())
    }

    fn node(&self, port: u16) -> Option<&Node> {
        self.nodes.iter().find(|node| node.port == port)
    }
}

/// Starts one cluster node on a port of [`PORTS`] whose bus port is free too, under
/// `dir/<port>/`, trying other ports while someone else takes the chosen one first.
/// With `tls`, the node listens with TLS on a second port too, returned beside it.
async fn start_node(
    dir: &Path,
    persist: bool,
    tls: Option<&ServerTls>,
) -> Result<(EmbeddedRedis, Option<u16>), EmbeddedRedisError> {
    let mut last_error = None;
    for _ in 0..START_ATTEMPTS {
        let port = free_port_pair()?;
        let tls_port = match tls {
            Some(_) => Some(super::free_port().map_err(EmbeddedRedisError::Spawn)?),
            None => None,
        };
        let node_dir = dir.join(port.to_string());
        // A directory left by an earlier cluster holds its nodes.conf, with which the
        // node would rejoin that cluster instead of starting empty. No server runs
        // there any more: it would hold the port.
        if node_dir.exists() {
            std::fs::remove_dir_all(&node_dir).map_err(|source| EmbeddedRedisError::Directory {
                path: node_dir.clone(),
                source,
            })?;
        }
        let config = node_dir.join("nodes.conf");
        let args = [
            "--cluster-enabled",
            "yes",
            "--cluster-node-timeout",
            "2000",
            "--cluster-config-file",
            &config.to_string_lossy(),
            // Nodes otherwise learn their own address only from a MEET they receive.
            "--cluster-announce-ip",
            "127.0.0.1",
            // A replica takes over however long ago it last heard from its master.
            "--cluster-replica-validity-factor",
            "0",
            // Replicas sync at once, not after waiting 5 s for others to join.
            "--repl-diskless-sync-delay",
            "0",
        ];
        let tls_args = match (tls, tls_port) {
            (Some(tls), Some(tls_port)) => {
                let mut args = tls.args(tls_port);
                // Said outright (Redis 7): with `tls-cluster` the bus port would
                // follow the TLS port, which was not chosen with its bus port free.
                args.extend(["--cluster-port".into(), (port + BUS_OFFSET).to_string()]);
                args
            }
            _ => Vec::new(),
        };
        let args: Vec<&str> = args
            .iter()
            .copied()
            .chain(tls_args.iter().map(String::as_str))
            .collect();
        match EmbeddedRedis::start_on_port(&node_dir, port, persist, &args).await {
            Ok(server) => return Ok((server, tls_port)),
            Err(error @ EmbeddedRedisError::NotReady { .. }) => last_error = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last_error.unwrap_or(EmbeddedRedisError::NotInstalled))
}

/// A random port of [`PORTS`] that, with its bus port, can be bound right now.
fn free_port_pair() -> Result<u16, EmbeddedRedisError> {
    let free = |port: u16| TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok();
    (0..1000)
        .map(|_| rand::random_range(PORTS))
        .find(|&port| free(port) && free(port + BUS_OFFSET))
        .ok_or_else(|| {
            EmbeddedRedisError::Spawn(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "no free port pair (port, port + 10000) on 127.0.0.1",
            ))
        })
}

/// Where master `index` of `masters` starts its share of the slots.
fn slot_share(index: usize, masters: usize) -> u16 {
    // At most 16384 * 16384, and the quotient at most 16384.
    u16::try_from(index * usize::from(SLOTS) / masters).unwrap_or(SLOTS)
}

/// Polls `check` until it passes; past `deadline`, its last complaint is the error.
async fn until<F, Fut>(deadline: Instant, mut check: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    loop {
        match check().await {
            Ok(()) => return Ok(()),
            Err(reason) if Instant::now() >= deadline => {
                return Err(format!("{reason} after {} s", FORM_TIMEOUT.as_secs()));
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn three_masters_with_a_replica_each_serve_a_cluster_client() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cluster = EmbeddedCluster::start(dir.path(), 3, 1, false)
            .await
            .expect("cluster starts");
        assert_eq!(cluster.ports().len(), 6);
        assert_eq!(cluster.masters().await.len(), 3);

        let client = redis::cluster::ClusterClient::new(cluster.node_urls()).expect("client");
        let mut conn = client.get_async_connection().await.expect("connects");
        for key in ["alpha", "bravo", "charlie", "delta"] {
            let () = redis::cmd("SET")
                .arg(key)
                .arg(format!("{key}-value"))
                .query_async(&mut conn)
                .await
                .expect("SET");
        }
        for key in ["alpha", "bravo", "charlie", "delta"] {
            let value: String = redis::cmd("GET")
                .arg(key)
                .query_async(&mut conn)
                .await
                .expect("GET");
            assert_eq!(value, format!("{key}-value"));
        }
        cluster.stop().await;
    }

    #[tokio::test]
    async fn a_replica_takes_over_from_a_killed_master() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cluster = EmbeddedCluster::start(dir.path(), 3, 1, false)
            .await
            .expect("cluster starts");
        let master = cluster.master_of_slot(0).await.expect("slot 0 is served");
        assert!(cluster.pid(master).is_some());

        cluster.kill(master).await;
        assert_eq!(cluster.pid(master), None);
        assert!(cluster.wait_until_healthy(Duration::from_secs(15)).await);
        let promoted = cluster.master_of_slot(0).await.expect("slot 0 is served");
        assert_ne!(promoted, master);
        assert_eq!(cluster.masters().await.len(), 3);
        cluster.stop().await;
    }

    #[tokio::test]
    async fn a_one_node_cluster_rejects_cross_slot_commands() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cluster = EmbeddedCluster::start(dir.path(), 1, 0, false)
            .await
            .expect("cluster starts");
        assert_eq!(cluster.masters().await, cluster.ports());
        assert_eq!(
            cluster.master_of_slot(16383).await,
            Some(cluster.ports()[0])
        );

        let client = redis::Client::open(cluster.node_urls()[0].as_str()).expect("client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connects");
        let error = redis::cmd("MSET")
            .arg("alpha")
            .arg(1)
            .arg("bravo")
            .arg(2)
            .query_async::<()>(&mut conn)
            .await
            .expect_err("keys in two slots");
        assert_eq!(error.code(), Some("CROSSSLOT"));
        // One slot, through a hash tag, is fine.
        let () = redis::cmd("MSET")
            .arg("{user}.a")
            .arg(1)
            .arg("{user}.b")
            .arg(2)
            .query_async(&mut conn)
            .await
            .expect("MSET in one slot");
        cluster.stop().await;
    }
}
