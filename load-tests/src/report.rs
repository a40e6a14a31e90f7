//! The numbers of one run, as text for people or JSON for tools.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::load::ErrorKind;
use crate::machine::{CpuUse, Machine};
use crate::nodes::NodeReport;

#[derive(Debug, Serialize)]
pub struct Report {
    /// `self-contained` or `target`.
    pub mode: &'static str,
    pub machine: Machine,
    /// Where the components ran, next to the machine facts.
    pub note: String,
    pub setup: Setup,
    pub accept: Accept,
    pub delivery: Delivery,
    /// CPU per component (self-contained mode; only this process in target mode).
    pub cpu: Cpu,
    /// Memory, keys and message records of each Redis master (self-contained mode).
    pub redis_nodes: Vec<NodeReport>,
    /// Redis calls per delivered message, by command (self-contained mode).
    pub redis_calls: Option<crate::commands::PerMessage>,
}

#[derive(Debug, Serialize)]
pub struct Setup {
    /// The (first) API's base URL.
    pub target: String,
    /// Every API's base URL; requests go to them in turn (two with `--cluster`).
    pub targets: Vec<String>,
    pub concurrency: u32,
    /// Messages per request: 1 = `POST /v1/messages`, more = `POST /v1/messages/batch`.
    pub batch: u32,
    /// `20000 messages` or `20s`.
    pub limit: String,
    pub stream: &'static str,
    pub content_bytes: usize,
    /// One message's request JSON (`POST /v1/messages` body): what "the message's
    /// size" means in the Redis memory ratio.
    pub message_bytes: usize,
    /// `--queue-only`: no delivery worker ran.
    pub queue_only: bool,
    /// DKIM algorithm of the sending domain (self-contained mode).
    pub dkim: Option<&'static str>,
    /// SLUICE_WORKERS given to the server (self-contained mode; `None` = its default).
    pub server_workers: Option<u32>,
    /// The server processes started (self-contained mode).
    pub server_roles: Vec<String>,
    /// SLUICE_QUEUE_PARTITIONS given to the servers (self-contained mode).
    pub partitions: Option<u16>,
    /// `1 redis-server` or `Redis Cluster, 3 masters, no replicas` (self-contained mode).
    pub redis_topology: Option<String>,
    pub sluice_version: Option<String>,
    pub redis_version: Option<String>,
    /// Whether this load generator was built with optimizations.
    pub client_build: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Accept {
    pub requests: u64,
    pub accepted: u64,
    pub errors: u64,
    /// `HTTP 429`, `connect error`, … → count and the first answer.
    pub errors_by_kind: BTreeMap<String, ErrorKind>,
    /// First request sent → last response read.
    pub wall_seconds: f64,
    pub accepted_per_second: f64,
    /// Latency of the 202 answers.
    pub latency_ms: Option<Latency>,
    /// Per stream, when more than one was used.
    pub latency_ms_by_stream: BTreeMap<&'static str, Latency>,
}

#[derive(Debug, Serialize)]
pub struct Delivery {
    /// Messages accepted, which the sink should receive.
    pub expected: u64,
    pub delivered: u64,
    /// Every accepted message reached the sink within the drain timeout.
    pub complete: bool,
    pub delivered_when_sending_stopped: u64,
    /// First 202 → the sink received the last expected message (or, if incomplete,
    /// the last one it received).
    pub window_seconds: Option<f64>,
    pub delivered_per_second: Option<f64>,
    /// After sending stopped: what was still queued, and how fast it drained.
    pub drain_messages: u64,
    pub drain_seconds: Option<f64>,
    pub drain_per_second: Option<f64>,
    pub drain_timeout_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct Cpu {
    /// While sending.
    pub sending: Option<CpuUse>,
    /// After sending, until the last delivery (when anything was left to deliver).
    pub draining: Option<CpuUse>,
    /// CPU milliseconds per delivered message over both phases, per component (each
    /// process on its own: `sluice api #1`, `redis-server :<port>`, …) and for
    /// `whole machine`.
    pub per_message_ms: BTreeMap<String, f64>,
    /// The same summed per role (`sluice api`, `sluice worker`, `redis-server`, …),
    /// for comparing a cluster's processes with a single node's.
    pub per_role_ms: BTreeMap<String, f64>,
}

impl Cpu {
    pub fn new(sending: Option<CpuUse>, draining: Option<CpuUse>, delivered: u64) -> Self {
        let mut per_message_ms = BTreeMap::new();
        if delivered > 0 {
            let phases = [&sending, &draining];
            for cpu in phases.into_iter().flatten() {
                for (name, secs) in &cpu.components_cpu_seconds {
                    *per_message_ms.entry(name.clone()).or_insert(0.0) += secs;
                }
                *per_message_ms.entry(OTHERS.to_owned()).or_insert(0.0) += cpu.others_cpu_seconds();
                *per_message_ms.entry(MACHINE.to_owned()).or_insert(0.0) += cpu.machine_cpu_seconds;
            }
            for v in per_message_ms.values_mut() {
                *v = *v * 1000.0 / delivered as f64;
            }
        }
        let mut per_role_ms = BTreeMap::new();
        for (name, ms) in &per_message_ms {
            *per_role_ms.entry(role_of(name).to_owned()).or_insert(0.0) += ms;
        }
        Self {
            sending,
            draining,
            per_message_ms,
            per_role_ms,
        }
    }

    /// Whether some role has more than one process (so the per-role sums say more).
    fn has_replicated_roles(&self) -> bool {
        self.per_role_ms.len() < self.per_message_ms.len()
    }
}

/// `sluice api #2` → `sluice api`, `redis-server :7001` → `redis-server`.
fn role_of(name: &str) -> &str {
    let name = name.split(" #").next().unwrap_or(name);
    name.split(" :").next().unwrap_or(name)
}

const OTHERS: &str = "other processes";
const MACHINE: &str = "whole machine";

/// Accept latency in milliseconds; percentiles are exact (nearest rank).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Latency {
    pub samples: usize,
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    pub fn of(samples: &mut [Duration]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let total: Duration = samples.iter().sum();
        Some(Self {
            samples: samples.len(),
            min: ms(samples[0]),
            mean: ms(total) / samples.len() as f64,
            p50: ms(percentile(samples, 50.0)),
            p90: ms(percentile(samples, 90.0)),
            p99: ms(percentile(samples, 99.0)),
            max: ms(samples[samples.len() - 1]),
        })
    }
}

/// Nearest-rank percentile of sorted, non-empty `samples`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Report {
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let m = &self.machine;
        let s = &self.setup;
        let a = &self.accept;
        let d = &self.delivery;
        let _ = writeln!(o, "Sluice load test ({})", self.mode);
        let _ = writeln!(
            o,
            "Machine    nproc {} ({} CPUs online) · {} · {:.1} GiB RAM · Linux {} · load avg {:.2} at start",
            m.nproc, m.cpus_online, m.cpu_model, m.memory_gib, m.kernel, m.load_average_1m
        );
        let _ = writeln!(o, "           {}", self.note);
        let mut setup = format!(
            "{} · concurrency {} · stream {} · {} B content ({} B message JSON)",
            s.limit, s.concurrency, s.stream, s.content_bytes, s.message_bytes
        );
        if s.queue_only {
            setup.push_str(" · queue only (no delivery)");
        }
        if let Some(dkim) = s.dkim {
            let _ = write!(setup, " · DKIM {dkim}");
        }
        if !s.server_roles.is_empty() {
            let _ = write!(setup, " · {}", s.server_roles.join(" + "));
        }
        if self.mode == "self-contained" {
            match s.server_workers {
                Some(w) => {
                    let _ = write!(setup, " · SLUICE_WORKERS {w}");
                }
                None => setup.push_str(" · SLUICE_WORKERS default"),
            }
        }
        if let Some(p) = s.partitions {
            let _ = write!(
                setup,
                " · {p} queue partition{}",
                if p == 1 { "" } else { "s" }
            );
        }
        let _ = writeln!(o, "Setup      {setup}");
        let mut versions = match s.targets.as_slice() {
            [_, _, ..] => format!("targets {} (in turn)", s.targets.join(", ")),
            _ => format!("target {}", s.target),
        };
        if let Some(v) = &s.sluice_version {
            let _ = write!(versions, " · {v}");
        }
        if let Some(v) = &s.redis_version {
            let _ = write!(versions, " · redis {v}");
        }
        if let Some(topology) = &s.redis_topology {
            let _ = write!(versions, " ({topology})");
        }
        let _ = write!(versions, " · load generator {} build", s.client_build);
        let _ = writeln!(o, "           {versions}");

        let _ = writeln!(o);
        if s.batch > 1 {
            let _ = writeln!(
                o,
                "Accept     POST /v1/messages/batch, {} messages a request; latency is per request",
                s.batch
            );
        } else {
            let _ = writeln!(o, "Accept     POST /v1/messages answered 202");
        }
        let _ = writeln!(
            o,
            "  accepted       {} of {} requests, {} errors",
            a.accepted, a.requests, a.errors
        );
        for (kind, e) in &a.errors_by_kind {
            let _ = writeln!(o, "  {kind:<15}{:>7} × e.g. {}", e.count, e.sample);
        }
        let _ = writeln!(o, "  sending time   {:.2} s", a.wall_seconds);
        let _ = writeln!(o, "  rate           {:.0} msg/s", a.accepted_per_second);
        if let Some(l) = &a.latency_ms {
            let _ = writeln!(o, "  latency        {}", latency_line(l));
        }
        for (stream, l) in &a.latency_ms_by_stream {
            let _ = writeln!(o, "  {stream:<15}{}", latency_line(l));
        }

        let _ = writeln!(o);
        let _ = writeln!(o, "Delivery   messages received by the SMTP sink");
        let _ = writeln!(
            o,
            "  delivered      {} of {} accepted{}",
            d.delivered,
            d.expected,
            if d.complete {
                String::new()
            } else {
                format!(
                    "  INCOMPLETE after waiting {:.0} s",
                    d.drain_timeout_seconds
                )
            }
        );
        if let (Some(rate), Some(window)) = (d.delivered_per_second, d.window_seconds) {
            let _ = writeln!(
                o,
                "  rate           {rate:.0} msg/s (first 202 → last delivery: {window:.2} s)"
            );
        }
        let pct = if d.expected > 0 {
            d.delivered_when_sending_stopped as f64 / d.expected as f64 * 100.0
        } else {
            0.0
        };
        let _ = writeln!(
            o,
            "  sending ended  {} delivered ({pct:.0}%), {} still queued",
            d.delivered_when_sending_stopped, d.drain_messages
        );
        match (d.drain_per_second, d.drain_seconds) {
            (Some(rate), Some(secs)) => {
                let _ = writeln!(
                    o,
                    "  drain          {} in {secs:.2} s after sending stopped → {rate:.0} msg/s",
                    d.drain_messages
                );
            }
            (None, Some(secs)) => {
                let _ = writeln!(
                    o,
                    "  drain          {} in {secs:.2} s after sending stopped (too few to rate)",
                    d.drain_messages
                );
            }
            _ => {
                let _ = writeln!(o, "  drain          nothing left to drain");
            }
        }

        if self.cpu.sending.is_some() {
            let _ = writeln!(o);
            let _ = writeln!(
                o,
                "CPU        average use in % of one core ({}% = all {} cores busy), and CPU time per delivered message",
                m.nproc * 100,
                m.nproc
            );
            let mut names: Vec<&str> = Vec::new();
            for cpu in [&self.cpu.sending, &self.cpu.draining]
                .into_iter()
                .flatten()
            {
                for name in cpu.components_cpu_seconds.keys() {
                    if !names.contains(&name.as_str()) {
                        names.push(name);
                    }
                }
            }
            let width = names.iter().map(|n| n.len()).max().unwrap_or(0).max(17);
            let _ = writeln!(
                o,
                "  {:<width$} {:>8} {:>10} {:>14}",
                "", "sending", "draining", "per message"
            );
            let cell = |cpu: &Option<CpuUse>, name: &str| {
                let Some(c) = cpu else {
                    return "-".to_owned();
                };
                let secs = match name {
                    OTHERS => Some(c.others_cpu_seconds()),
                    MACHINE => Some(c.machine_cpu_seconds),
                    _ => c.components_cpu_seconds.get(name).copied(),
                };
                secs.map_or_else(
                    || "-".to_owned(),
                    |s| format!("{:.0}%", c.percent_of_core(s)),
                )
            };
            names.extend([OTHERS, MACHINE]);
            for name in names {
                let per_message = self
                    .cpu
                    .per_message_ms
                    .get(name)
                    .map_or_else(|| "-".to_owned(), |v| format!("{v:.3} ms"));
                let _ = writeln!(
                    o,
                    "  {name:<width$} {:>8} {:>10} {:>14}",
                    cell(&self.cpu.sending, name),
                    cell(&self.cpu.draining, name),
                    per_message
                );
            }
            if self.cpu.has_replicated_roles() {
                let sums: Vec<String> = self
                    .cpu
                    .per_role_ms
                    .iter()
                    .filter(|(role, _)| !matches!(role.as_str(), OTHERS | MACHINE))
                    .map(|(role, ms)| format!("{role} {ms:.3} ms"))
                    .collect();
                let _ = writeln!(o, "  per role, summed: {}", sums.join(" · "));
            }
        }
        if !self.redis_nodes.is_empty() {
            let _ = writeln!(o);
            o.push_str(&crate::nodes::text(
                &self.redis_nodes,
                self.setup.message_bytes,
            ));
        }
        if let Some(calls) = &self.redis_calls {
            o.push_str(&calls.text());
        }
        o
    }
}

fn latency_line(l: &Latency) -> String {
    format!(
        "p50 {} · p90 {} · p99 {} · max {} (mean {})",
        ms(l.p50),
        ms(l.p90),
        ms(l.p99),
        ms(l.max),
        ms(l.mean)
    )
}

fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2} ms")
    } else if v < 100.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_group_numbered_processes() {
        assert_eq!(role_of("sluice api #2"), "sluice api");
        assert_eq!(role_of("redis-server :7001"), "redis-server");
        assert_eq!(role_of("sluice"), "sluice");
        let used = CpuUse {
            wall_seconds: 1.0,
            machine_cpu_seconds: 1.0,
            components_cpu_seconds: BTreeMap::from([
                ("sluice api #1".to_owned(), 0.2),
                ("sluice api #2".to_owned(), 0.3),
            ]),
        };
        let cpu = Cpu::new(Some(used), None, 1000);
        assert!(cpu.has_replicated_roles());
        let api = cpu
            .per_role_ms
            .get("sluice api")
            .copied()
            .unwrap_or_default();
        assert!((api - 0.5).abs() < 1e-9);
    }

    #[test]
    fn nearest_rank_percentiles() -> anyhow::Result<()> {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let l = Latency::of(&mut samples).ok_or_else(|| anyhow::anyhow!("no samples"))?;
        assert_eq!(l.p50, 50.0);
        assert_eq!(l.p90, 90.0);
        assert_eq!(l.p99, 99.0);
        assert_eq!(l.max, 100.0);
        assert_eq!(l.min, 1.0);
        assert_eq!(l.mean, 50.5);
        let mut one = vec![Duration::from_millis(7)];
        let l = Latency::of(&mut one).ok_or_else(|| anyhow::anyhow!("no samples"))?;
        assert_eq!((l.p50, l.p99, l.max), (7.0, 7.0, 7.0));
        assert!(Latency::of(&mut []).is_none());
        Ok(())
    }
}
