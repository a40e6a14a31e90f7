//! The Redis of the self-contained stack — one `redis-server`, or with `--cluster` an
//! [`EmbeddedCluster`] of 3 masters — and what is measured on each master: its
//! memory, its keys and the message records it holds.
//!
//! Every master is asked on a connection of its own (not through a cluster client),
//! so `INFO`, `DBSIZE` and `SCAN` describe that node alone.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use sluice_store::embedded::{EmbeddedCluster, EmbeddedRedis};

/// Masters of the `--cluster` mode (no replicas: the load is about the masters' work).
pub const CLUSTER_MASTERS: usize = 3;
/// Keys per `SCAN` call.
const SCAN_COUNT: u64 = 1000;
/// Message records per master whose size is read with `MEMORY USAGE`.
const SIZE_SAMPLE: usize = 200;
/// The field of a message record that holds the message until it is final (see the
/// key schema in sluice-store's lib.rs): a record with it is still queued.
const BODY_FIELD: &str = "body";

/// The Redis the stack's Sluice processes use. Its nodes are killed when it is
/// dropped (the embedded servers are `kill_on_drop`), so an error never leaves one.
pub enum Backend {
    Single(EmbeddedRedis),
    Cluster(EmbeddedCluster),
}

impl Backend {
    /// Starts the nodes under `dir`, each with the append-only file on (everysec), as
    /// `durability.mode = "local"`, the default, requires: what production runs.
    pub async fn start(dir: &Path, cluster: bool) -> anyhow::Result<Self> {
        if cluster {
            EmbeddedCluster::start(dir, CLUSTER_MASTERS, 0, true)
                .await
                .map(Self::Cluster)
                .with_context(|| format!("starting a Redis Cluster of {CLUSTER_MASTERS} masters"))
        } else {
            EmbeddedRedis::start(dir, true)
                .await
                .map(Self::Single)
                .context("starting redis-server")
        }
    }

    /// SLUICE_REDIS_URL: `redis://…`, or `redis+cluster://` with every node as a seed.
    pub fn url(&self) -> String {
        match self {
            Self::Single(redis) => redis.url(),
            Self::Cluster(cluster) => cluster.url(),
        }
    }

    /// `1 redis-server` or `Redis Cluster, 3 masters`, for the report.
    pub fn topology(&self) -> String {
        match self {
            Self::Single(_) => "1 redis-server".to_owned(),
            Self::Cluster(cluster) => format!(
                "Redis Cluster, {} masters, no replicas",
                cluster.ports().len()
            ),
        }
    }

    /// Every master, with its name in the report, its pid (for CPU accounting, from
    /// `INFO server` on its own connection) and the Redis version.
    pub async fn masters(&self) -> anyhow::Result<(Vec<Master>, String)> {
        let (ports, cluster) = match self {
            Self::Single(redis) => (vec![redis.port()], false),
            Self::Cluster(cluster) => (cluster.masters().await, true),
        };
        if ports.is_empty() {
            anyhow::bail!("the Redis Cluster reports no masters");
        }
        let mut masters = Vec::new();
        let mut version = String::new();
        for port in ports {
            let (pid, node_version) = server_info(port).await.unwrap_or_default();
            version = node_version;
            masters.push(Master {
                label: if cluster {
                    format!("redis-server :{port}")
                } else {
                    "redis-server".to_owned()
                },
                port,
                pid,
            });
        }
        Ok((masters, version))
    }

    /// Shuts the nodes down: a single server flushing its append-only file, a
    /// cluster's nodes without saving (nothing will read it again).
    pub async fn stop(self) {
        match self {
            Self::Single(redis) => redis.stop().await,
            Self::Cluster(cluster) => cluster.stop().await,
        }
    }
}

/// One master of the stack's Redis.
#[derive(Clone, Debug)]
pub struct Master {
    /// `redis-server`, or `redis-server :<port>` on a cluster: its name in the CPU and
    /// Redis tables.
    pub label: String,
    pub port: u16,
    pub pid: Option<u32>,
}

/// What one master holds at one moment.
#[derive(Clone, Debug, Serialize)]
pub struct NodeSample {
    /// `INFO memory` `used_memory`: everything, client buffers included.
    pub used_memory_bytes: u64,
    /// `DBSIZE`: every key on this master.
    pub keys: u64,
    /// Message records (`…:{sluice:q<p>}:msg:<id>` hashes; their `…:events` lists not
    /// counted), found by `SCAN MATCH *:msg:*` on this master.
    pub message_records: u64,
    /// Entries of the partitions' queue streams on this master (`XLEN` of each
    /// `…:stream:<name>`): messages accepted and not yet settled.
    pub stream_entries: u64,
    /// Mean `MEMORY USAGE` (exact, `SAMPLES 0`) of a record still holding its body
    /// plus its `…:events` list, over up to 200 records read by the SCAN.
    pub queued_record_bytes: Option<f64>,
    /// The same for settled records (body dropped; kept for the retention period).
    pub settled_record_bytes: Option<f64>,
}

/// The samples of one master over a run.
#[derive(Clone, Debug, Serialize)]
pub struct NodeReport {
    pub label: String,
    pub port: u16,
    /// After provisioning, just before the first request.
    pub before_sending: Option<NodeSample>,
    /// Right after the last response: the queue at its largest.
    pub sending_ended: Option<NodeSample>,
    /// After the last delivery (or the drain timeout).
    pub after_run: Option<NodeSample>,
    /// `used_memory` growth from before sending to sending ended ÷ the message records
    /// added meanwhile: Redis memory per accepted message on this master.
    pub memory_per_message_bytes: Option<f64>,
}

impl NodeReport {
    pub fn new(
        master: &Master,
        before_sending: Option<NodeSample>,
        sending_ended: Option<NodeSample>,
        after_run: Option<NodeSample>,
    ) -> Self {
        let per_message = |bytes: fn(&NodeSample) -> u64| match (&before_sending, &sending_ended) {
            (Some(before), Some(ended)) if ended.message_records > before.message_records => {
                let grown = bytes(ended) as f64 - bytes(before) as f64;
                Some(grown / (ended.message_records - before.message_records) as f64)
            }
            _ => None,
        };
        let memory_per_message_bytes = per_message(|s| s.used_memory_bytes);
        Self {
            label: master.label.clone(),
            port: master.port,
            before_sending,
            sending_ended,
            after_run,
            memory_per_message_bytes,
        }
    }
}

/// Samples every master (one after the other); a master that cannot be read gives
/// `None` and a warning, never a failed run.
pub async fn sample_all(masters: &[Master]) -> Vec<Option<NodeSample>> {
    let mut samples = Vec::with_capacity(masters.len());
    for master in masters {
        match sample(master.port).await {
            Ok(sample) => samples.push(Some(sample)),
            Err(e) => {
                eprintln!("warning: could not read {}: {e:#}", master.label);
                samples.push(None);
            }
        }
    }
    samples
}

async fn sample(port: u16) -> anyhow::Result<NodeSample> {
    let mut conn = connect(port).await?;
    let memory: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut conn)
        .await?;
    let field = |name: &str| -> anyhow::Result<u64> {
        info_field(&memory, name)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("INFO memory has no {name}"))
    };
    let used_memory_bytes = field("used_memory")?;
    let keys: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await?;
    let (mut message_records, mut streams, mut sample) = (0, Vec::new(), Vec::new());
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg("*{sluice:q*}:*")
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(&mut conn)
            .await?;
        for key in batch {
            match key_kind(&key) {
                KeyKind::MessageRecord => {
                    message_records += 1;
                    if sample.len() < SIZE_SAMPLE {
                        sample.push(key);
                    }
                }
                KeyKind::QueueStream => streams.push(key),
                KeyKind::Other => {}
            }
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let mut stream_entries = 0;
    for stream in streams {
        let len: u64 = redis::cmd("XLEN")
            .arg(&stream)
            .query_async(&mut conn)
            .await?;
        stream_entries += len;
    }
    let (queued_record_bytes, settled_record_bytes) = record_sizes(&mut conn, &sample).await?;
    Ok(NodeSample {
        used_memory_bytes,
        keys,
        message_records,
        stream_entries,
        queued_record_bytes,
        settled_record_bytes,
    })
}

/// Mean size of the queued and of the settled records among `records`, each with its
/// events list, in one pipeline.
async fn record_sizes(
    conn: &mut redis::aio::MultiplexedConnection,
    records: &[String],
) -> anyhow::Result<(Option<f64>, Option<f64>)> {
    if records.is_empty() {
        return Ok((None, None));
    }
    let mut pipe = redis::pipe();
    for key in records {
        pipe.cmd("HEXISTS").arg(key).arg(BODY_FIELD);
        for key in [key.clone(), format!("{key}:events")] {
            pipe.cmd("MEMORY")
                .arg("USAGE")
                .arg(key)
                .arg("SAMPLES")
                .arg(0);
        }
    }
    let replies: Vec<Option<u64>> = pipe.query_async(conn).await?;
    let (mut queued, mut settled) = (Vec::new(), Vec::new());
    for chunk in replies.chunks(3) {
        let [has_body, record, events] = chunk else {
            continue;
        };
        let bytes = (record.unwrap_or(0) + events.unwrap_or(0)) as f64;
        if *has_body == Some(1) {
            queued.push(bytes);
        } else {
            settled.push(bytes);
        }
    }
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    Ok((mean(&queued), mean(&settled)))
}

#[derive(Debug, PartialEq)]
enum KeyKind {
    MessageRecord,
    QueueStream,
    Other,
}

/// A queue partition's key (`sluice:v1:{sluice:q<p>}:<rest>`) by what it holds.
fn key_kind(key: &str) -> KeyKind {
    let Some((_, rest)) = key.split_once("}:") else {
        return KeyKind::Other;
    };
    match rest.split(':').collect::<Vec<_>>().as_slice() {
        ["msg", _] => KeyKind::MessageRecord,
        ["stream", _] => KeyKind::QueueStream,
        _ => KeyKind::Other,
    }
}

/// A master's pid and version (`INFO server`).
async fn server_info(port: u16) -> anyhow::Result<(Option<u32>, String)> {
    let mut conn = connect(port).await?;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await?;
    Ok((
        info_field(&info, "process_id").and_then(|p| p.parse().ok()),
        info_field(&info, "redis_version").unwrap_or_default(),
    ))
}

pub(crate) async fn connect(port: u16) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    client
        .get_multiplexed_async_connection()
        .await
        .with_context(|| format!("connecting to redis-server on port {port}"))
}

fn info_field(info: &str, name: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
}

/// The Redis section of the text report.
/// The table of the masters; `message_bytes`: one message's size, which the growth
/// per record is compared with.
pub fn text(nodes: &[NodeReport], message_bytes: usize) -> String {
    let mut o = String::new();
    if nodes.is_empty() {
        return o;
    }
    let _ = writeln!(
        o,
        "Redis      per master: used_memory before sending and when it ended, message records and queue stream entries then,"
    );
    let _ = writeln!(
        o,
        "           used_memory growth ÷ records added (and ÷ the message's {message_bytes} B), mean MEMORY USAGE of a queued / settled record with its events, keys after the run"
    );
    let width = nodes
        .iter()
        .map(|n| n.label.len())
        .max()
        .unwrap_or(0)
        .max(17);
    let row = |o: &mut String, cells: [&str; 9]| {
        let [
            label,
            before,
            ended,
            records,
            queued,
            growth,
            usage,
            keys,
            kept,
        ] = cells;
        let _ = writeln!(
            o,
            "  {label:<width$} {before:>9} {ended:>9} {records:>8} {queued:>7} {growth:>14} {usage:>15} {keys:>8} {kept:>8}"
        );
    };
    let head = [
        [
            "",
            "before",
            "ended",
            "records",
            "queued",
            "growth",
            "record size",
            "keys",
            "records",
        ],
        [
            "",
            "",
            "",
            "(ended)",
            "(ended)",
            "/record",
            "queued/settled",
            "(after)",
            "(after)",
        ],
    ];
    for cells in head {
        row(&mut o, cells);
    }
    for node in nodes {
        let memory = |s: &Option<NodeSample>| {
            s.as_ref()
                .map_or_else(|| "-".to_owned(), |s| mib(s.used_memory_bytes))
        };
        let count = |s: &Option<NodeSample>, f: fn(&NodeSample) -> u64| {
            s.as_ref()
                .map_or_else(|| "-".to_owned(), |s| f(s).to_string())
        };
        let bytes = |b: Option<f64>| b.map_or_else(|| "-".to_owned(), |b| format!("{b:.0} B"));
        let ratio = |b: Option<f64>| match b {
            Some(b) if message_bytes > 0 => format!("{:.2}×", b / message_bytes as f64),
            _ => "-".to_owned(),
        };
        let sizes = node.sending_ended.as_ref().map_or_else(
            || "-".to_owned(),
            |s| {
                let size = |b: Option<f64>| b.map_or_else(|| "-".to_owned(), |b| format!("{b:.0}"));
                format!(
                    "{} / {} B",
                    size(s.queued_record_bytes),
                    size(s.settled_record_bytes)
                )
            },
        );
        row(
            &mut o,
            [
                &node.label,
                &memory(&node.before_sending),
                &memory(&node.sending_ended),
                &count(&node.sending_ended, |s| s.message_records),
                &count(&node.sending_ended, |s| s.stream_entries),
                &format!(
                    "{} {}",
                    bytes(node.memory_per_message_bytes),
                    ratio(node.memory_per_message_bytes)
                ),
                &sizes,
                &count(&node.after_run, |s| s.keys),
                &count(&node.after_run, |s| s.message_records),
            ],
        );
    }
    o
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1024.0 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_keys_by_kind() {
        let kind = |key: &str| key_kind(key);
        assert_eq!(
            kind("sluice:v1:{sluice:q3}:msg:msg_01J0ABC"),
            KeyKind::MessageRecord
        );
        assert_eq!(
            kind("sluice:v1:{sluice:q3}:msg:msg_01J0ABC:events"),
            KeyKind::Other
        );
        assert_eq!(
            kind("sluice:v1:{sluice:q0}:stream:transactional"),
            KeyKind::QueueStream
        );
        assert_eq!(kind("sluice:v1:{sluice:q0}:events"), KeyKind::Other);
        assert_eq!(kind("sluice:v1:{sluice:q0}:delayed"), KeyKind::Other);
        assert_eq!(kind("sluice:schema"), KeyKind::Other);
    }

    #[test]
    fn memory_per_message_is_growth_per_record() {
        let master = Master {
            label: "redis-server".to_owned(),
            port: 1,
            pid: None,
        };
        let at = |used_memory_bytes, message_records| NodeSample {
            used_memory_bytes,
            keys: 0,
            message_records,
            stream_entries: 0,
            queued_record_bytes: None,
            settled_record_bytes: None,
        };
        let report = NodeReport::new(&master, Some(at(1000, 0)), Some(at(5000, 4)), None);
        assert_eq!(report.memory_per_message_bytes, Some(1000.0));
        let none = NodeReport::new(&master, Some(at(1000, 0)), Some(at(900, 0)), None);
        assert_eq!(none.memory_per_message_bytes, None);
    }
}
