//! Redis round trips per message: `INFO commandstats` on every master before the
//! first request and after the last delivery, the difference divided by the
//! messages delivered. Scripts count as one call each (`evalsha`), which is what a
//! round trip costs; `INFO commandstats` cannot tell the scripts apart.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::nodes::{Master, connect};

/// Calls per command name, summed over the masters.
pub type Calls = BTreeMap<String, u64>;

/// Commands the load generator itself sends while sampling (SCAN, MEMORY USAGE, …):
/// not Sluice's work, left out.
const SAMPLING: &[&str] = &["info", "dbsize", "scan", "xlen", "memory", "cluster"];

/// Every master's `INFO commandstats`, summed; `None` when one cannot be read.
pub async fn sample(masters: &[Master]) -> Option<Calls> {
    let mut calls = Calls::new();
    for master in masters {
        let mut conn = connect(master.port).await.ok()?;
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut conn)
            .await
            .ok()?;
        for (name, count) in parse(&info) {
            *calls.entry(name).or_default() += count;
        }
    }
    Some(calls)
}

/// `cmdstat_evalsha:calls=12,usec=…` lines → (`evalsha`, 12).
fn parse(info: &str) -> Vec<(String, u64)> {
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats
                .split(',')
                .find_map(|kv| kv.strip_prefix("calls="))?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

/// Redis calls per delivered message over a run.
#[derive(Clone, Debug, Serialize)]
pub struct PerMessage {
    /// Every command Sluice sent (sampling commands left out) ÷ messages delivered.
    pub total: f64,
    /// The same per command, largest first.
    pub by_command: Vec<(String, f64)>,
}

impl PerMessage {
    pub fn between(before: &Calls, after: &Calls, messages: u64) -> Option<Self> {
        if messages == 0 {
            return None;
        }
        let mut by_command: Vec<(String, f64)> = after
            .iter()
            .filter(|(name, _)| !SAMPLING.iter().any(|s| name.starts_with(s)))
            .filter_map(|(name, &calls)| {
                let grown = calls.saturating_sub(before.get(name).copied().unwrap_or(0));
                (grown > 0).then(|| (name.clone(), grown as f64 / messages as f64))
            })
            .collect();
        by_command.sort_by(|a, b| b.1.total_cmp(&a.1));
        Some(Self {
            total: by_command.iter().map(|(_, n)| n).sum(),
            by_command,
        })
    }

    pub fn text(&self) -> String {
        let mut o = String::new();
        let top: Vec<String> = self
            .by_command
            .iter()
            .take(10)
            .map(|(name, n)| format!("{name} {n:.2}"))
            .collect();
        let _ = writeln!(
            o,
            "Redis calls per delivered message: {:.2} ({})",
            self.total,
            top.join(" · ")
        );
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_divides_commandstats() {
        let before = parse("# Commandstats\r\ncmdstat_evalsha:calls=10,usec=5,usec_per_call=0.5\r\ncmdstat_scan:calls=3,usec=1\r\n")
            .into_iter()
            .collect();
        let after = parse("cmdstat_evalsha:calls=40,usec=9\r\ncmdstat_xack:calls=10,usec=1\r\ncmdstat_scan:calls=90,usec=1\r\n")
            .into_iter()
            .collect();
        let per = PerMessage::between(&before, &after, 10).expect("messages were delivered");
        assert_eq!(
            per.by_command,
            vec![("evalsha".to_owned(), 3.0), ("xack".to_owned(), 1.0)]
        );
        assert_eq!(per.total, 4.0);
        assert!(PerMessage::between(&before, &after, 0).is_none());
    }
}
