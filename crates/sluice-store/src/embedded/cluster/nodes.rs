//! Talking to one node of the embedded cluster: a command on a connection of its
//! own, and `CLUSTER NODES` read into what the cluster looks like.

use std::collections::BTreeMap;
use std::time::Duration;

/// How long one node may take to answer one command.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// `CLUSTER <args>`.
pub(super) fn cluster(args: impl redis::ToRedisArgs) -> redis::Cmd {
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg(args);
    cmd
}

pub(super) fn node_url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}/")
}

/// Sends one command to the node on `port`, on a connection of its own.
pub(super) async fn ask<T: redis::FromRedisValue>(
    port: u16,
    cmd: &redis::Cmd,
) -> Result<T, String> {
    let failed = |error: &dyn std::fmt::Display| format!("node {port}: {error}");
    let exchange = async {
        let client = redis::Client::open(node_url(port))?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        cmd.query_async(&mut conn).await
    };
    match tokio::time::timeout(ASK_TIMEOUT, exchange).await {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(error)) => Err(failed(&error)),
        Err(_) => Err(failed(&"no answer")),
    }
}

pub(super) async fn cluster_ok(port: u16) -> Result<(), String> {
    let info: String = ask(port, &cluster("INFO")).await?;
    if info.contains("cluster_state:ok") {
        Ok(())
    } else {
        Err(format!("node {port} reports cluster_state:fail"))
    }
}

pub(super) async fn ask_nodes(port: u16) -> Result<Vec<NodeLine>, String> {
    let text: String = ask(port, &cluster("NODES")).await?;
    Ok(text.lines().filter_map(NodeLine::parse).collect())
}

/// One line of `CLUSTER NODES`:
/// `<id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent> <pong-recv>
/// <config-epoch> <link-state> <slot> <slot> ...`.
#[derive(Debug)]
pub(super) struct NodeLine {
    pub(super) id: String,
    pub(super) port: u16,
    pub(super) flags: Vec<String>,
    pub(super) master: Option<String>,
    pub(super) connected: bool,
    /// Inclusive ranges; slots being imported or migrated (`[...]`) left out.
    pub(super) slots: Vec<(u16, u16)>,
}

impl NodeLine {
    pub(super) fn parse(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [id, address, flags, master, _, _, _, link, slots @ ..] = fields.as_slice() else {
            return None;
        };
        let (host_port, _) = address.split_once('@')?;
        let (_, port) = host_port.rsplit_once(':')?;
        let slots = slots
            .iter()
            .filter(|slot| !slot.starts_with('['))
            .map(|slot| match slot.split_once('-') {
                Some((first, last)) => Some((first.parse().ok()?, last.parse().ok()?)),
                None => slot.parse().ok().map(|one| (one, one)),
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            id: (*id).to_string(),
            port: port.parse().ok()?,
            flags: flags.split(',').map(str::to_string).collect(),
            master: (*master != "-").then(|| (*master).to_string()),
            connected: *link == "connected",
            slots,
        })
    }

    pub(super) fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|own| own == flag)
    }

    pub(super) fn owns(&self, slot: u16) -> bool {
        self.slots
            .iter()
            .any(|&(first, last)| (first..=last).contains(&slot))
    }
}

/// Who serves which slots and who follows whom, by port: what every node must agree
/// on before [`EmbeddedCluster::start`] returns.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Layout {
    /// First slot of a range → its last slot and the master serving it.
    pub(super) slots: BTreeMap<u16, (u16, u16)>,
    /// Each node → the master it replicates (`None` for a master).
    pub(super) roles: BTreeMap<u16, Option<u16>>,
}

impl Layout {
    pub(super) fn of(view: &[NodeLine]) -> Self {
        let port_of = |id: &str| view.iter().find(|node| node.id == id).map(|node| node.port);
        let mut layout = Self::default();
        for node in view {
            for &(first, last) in &node.slots {
                layout.slots.insert(first, (last, node.port));
            }
            let master = node.master.as_deref().and_then(port_of);
            layout.roles.insert(node.port, master);
        }
        layout
    }
}
