//! Facts about the machine the numbers come from, and CPU time per component, both
//! read from /proc (Linux only; elsewhere the fields are empty).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// Linux reports process CPU times in USER_HZ ticks, which is 100 on every
/// architecture Linux supports today.
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// CPUs this process may use (`nproc`).
    pub nproc: usize,
    /// `processor` entries in /proc/cpuinfo.
    pub cpus_online: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub kernel: String,
    /// 1-minute load average when the run started.
    pub load_average_1m: f64,
}

impl Machine {
    pub fn read() -> Self {
        let cpuinfo = read("/proc/cpuinfo");
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                let (key, value) = l.split_once(':')?;
                matches!(key.trim(), "model name" | "Model" | "cpu model" | "uarch")
                    .then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let cpus_online = cpuinfo
            .lines()
            .filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor"))
            .count();
        let memory_kib = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        let load_average_1m = read("/proc/loadavg")
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        Self {
            nproc: std::thread::available_parallelism().map_or(1, usize::from),
            cpus_online,
            cpu_model,
            memory_gib: memory_kib / 1024.0 / 1024.0,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            load_average_1m,
        }
    }
}

/// Cumulative CPU seconds of each component at one moment.
#[derive(Clone, Debug, Default)]
pub struct CpuSnapshot {
    /// Busy seconds of the whole machine (all CPUs, everything not idle or iowait).
    pub machine_busy: f64,
    /// Component name → user+system seconds.
    pub components: BTreeMap<String, f64>,
}

/// Which other processes to account for, besides this one.
#[derive(Clone, Debug, Default)]
pub struct CpuProbe {
    pub processes: Vec<(String, u32)>,
}

impl CpuProbe {
    pub fn snapshot(&self) -> CpuSnapshot {
        let mut components = BTreeMap::new();
        for (name, pid) in &self.processes {
            if let Some(s) = process_seconds(&format!("/proc/{pid}/stat")) {
                components.insert(name.clone(), s);
            }
        }
        // This process: the sink runs on threads named `lt-sink`, everything else
        // (HTTP client, bookkeeping) is the load generator.
        let (mut sink, mut client) = (0.0, 0.0);
        if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
            for task in tasks.flatten() {
                let dir = task.path();
                let comm = read(&dir.join("comm").to_string_lossy());
                let Some(seconds) = process_seconds(&dir.join("stat").to_string_lossy()) else {
                    continue;
                };
                if comm.trim().starts_with(crate::SINK_THREAD) {
                    sink += seconds;
                } else {
                    client += seconds;
                }
            }
            components.insert("load generator".to_owned(), client);
            components.insert("smtp sink".to_owned(), sink);
        }
        CpuSnapshot {
            machine_busy: machine_busy_seconds().unwrap_or(0.0),
            components,
        }
    }
}

/// CPU use between two snapshots.
#[derive(Clone, Debug, Serialize)]
pub struct CpuUse {
    pub wall_seconds: f64,
    /// Busy CPU seconds of the whole machine (all cores, every process).
    pub machine_cpu_seconds: f64,
    pub components_cpu_seconds: BTreeMap<String, f64>,
}

impl CpuUse {
    pub fn between(a: &CpuSnapshot, b: &CpuSnapshot, wall: Duration) -> Option<Self> {
        let wall_seconds = wall.as_secs_f64();
        if wall_seconds <= 0.0 {
            return None;
        }
        let components_cpu_seconds = b
            .components
            .iter()
            .filter_map(|(name, end)| {
                Some((name.clone(), (end - a.components.get(name)?).max(0.0)))
            })
            .collect();
        Some(Self {
            wall_seconds,
            machine_cpu_seconds: (b.machine_busy - a.machine_busy).max(0.0),
            components_cpu_seconds,
        })
    }

    /// Average use as a share of one core (100% = one core busy all the time).
    pub fn percent_of_core(&self, cpu_seconds: f64) -> f64 {
        cpu_seconds / self.wall_seconds * 100.0
    }

    /// CPU of everything that is not one of the components (other processes, the
    /// kernel's own work), never below zero.
    pub fn others_cpu_seconds(&self) -> f64 {
        (self.machine_cpu_seconds - self.components_cpu_seconds.values().sum::<f64>()).max(0.0)
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// utime + stime from a /proc/.../stat file, in seconds.
fn process_seconds(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may contain spaces; fields after it are plain.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// Busy time of all CPUs from the first line of /proc/stat, in seconds.
fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let values: Vec<f64> = line
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal [guest guest_nice: already in user]
    let busy: f64 = values.iter().take(8).sum::<f64>()
        - values.get(3).copied().unwrap_or(0.0)
        - values.get(4).copied().unwrap_or(0.0);
    Some(busy / TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(process_seconds("/proc/self/stat").is_some());
            assert!(machine_busy_seconds().is_some());
        }
    }

    #[test]
    fn percentages_are_per_core() -> anyhow::Result<()> {
        let a = CpuSnapshot {
            machine_busy: 1.0,
            components: BTreeMap::from([("sluice".to_owned(), 1.0)]),
        };
        let b = CpuSnapshot {
            machine_busy: 4.0,
            components: BTreeMap::from([("sluice".to_owned(), 2.5)]),
        };
        let used = CpuUse::between(&a, &b, Duration::from_secs(2))
            .ok_or_else(|| anyhow::anyhow!("no CPU use"))?;
        assert_eq!(used.percent_of_core(used.machine_cpu_seconds), 150.0);
        assert_eq!(
            used.components_cpu_seconds
                .get("sluice")
                .map(|s| used.percent_of_core(*s)),
            Some(75.0)
        );
        assert_eq!(used.others_cpu_seconds(), 1.5);
        Ok(())
    }
}
