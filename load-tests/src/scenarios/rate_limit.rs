//! `--scenario rate-limit`: is a provider's per-minute limit held? A backlog goes to
//! `healthy.test`, and the sink's receive times give the steady rate.

use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use sluice_smtp_server::SinkHandle;

use super::{Ctx, Setup, healthy_recipient};

/// Observation window of the rate-limit scenario unless `--duration`.
const RATE_WINDOW: Duration = Duration::from_secs(90);
/// Deliveries in the first seconds after the first one belong to the burst; the
/// steady rate is measured after this.
const RATE_SETTLE: Duration = Duration::from_secs(5);

/// What the receive times say about a per-minute limit.
#[derive(Debug, PartialEq, Serialize)]
pub struct RateStats {
    /// Deliveries within one second of the first one.
    pub first_second: u64,
    /// Deliveries at or after `settle` past the first one.
    pub steady_count: u64,
    /// Seconds from the first to the last of those.
    pub steady_seconds: f64,
    /// `(steady_count - 1) / steady_seconds`, per minute.
    pub steady_per_minute: Option<f64>,
}

/// `times` are seconds after the first delivery (sorted or not, the first is 0).
pub fn rate_stats(times: &[f64], settle: f64) -> RateStats {
    let first_second = times.iter().filter(|t| **t < 1.0).count() as u64;
    let steady: Vec<f64> = times.iter().copied().filter(|t| *t >= settle).collect();
    let lo = steady.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = steady.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if steady.len() >= 2 { hi - lo } else { 0.0 };
    RateStats {
        first_second,
        steady_count: steady.len() as u64,
        steady_seconds: span,
        steady_per_minute: (span > 0.0).then(|| (steady.len() - 1) as f64 / span * 60.0),
    }
}

#[derive(Debug, Serialize)]
struct RateReport {
    #[serde(flatten)]
    setup: Setup,
    configured_per_minute: u32,
    backlog: u64,
    accepted: u64,
    errors: u64,
    accept_seconds: f64,
    /// First request sent → end of observation.
    window_seconds: f64,
    delivered: u64,
    /// First delivery → end of observation.
    after_first_delivery_seconds: Option<f64>,
    /// What GCRA with burst = limit allows in that time: `L + L × t / 60`.
    gcra_allows: Option<f64>,
    settle_seconds: f64,
    #[serde(flatten)]
    stats: Option<RateStats>,
    observed_over_configured: Option<f64>,
}

pub(super) async fn run(ctx: &Ctx<'_>, setup: Setup, sink: &SinkHandle) -> anyhow::Result<bool> {
    let limit = ctx.cli.rate_limit;
    let backlog = ctx.cli.messages.unwrap_or(3 * u64::from(limit));
    let window = ctx.cli.duration.unwrap_or(RATE_WINDOW);
    let before = sink.messages().len();
    eprintln!(
        "sending a backlog of {backlog} messages to healthy.test (limit {limit}/min), observing deliveries for {}s",
        window.as_secs_f64()
    );
    let started = Instant::now();
    let result = ctx.send(backlog, healthy_recipient).await?;
    for (kind, e) in &result.errors {
        eprintln!("  {kind}: {} (e.g. {})", e.count, e.sample);
    }
    let end = started + window;
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.tick().await;
    while Instant::now() < end {
        tokio::select! {
            _ = tick.tick() => eprintln!(
                "  {:>4.0}s  {} delivered",
                started.elapsed().as_secs_f64(),
                sink.count()
            ),
            _ = tokio::time::sleep_until(end.into()) => {}
        }
    }
    let observed_until = SystemTime::now();
    let mut received: Vec<SystemTime> = sink
        .messages()
        .into_iter()
        .skip(before)
        .map(|m| m.received_at)
        .filter(|at| *at <= observed_until)
        .collect();
    received.sort();
    let first = received.first().copied();
    let times: Vec<f64> = match first {
        Some(first) => received
            .iter()
            .map(|at| at.duration_since(first).unwrap_or_default().as_secs_f64())
            .collect(),
        None => Vec::new(),
    };
    let after_first = first.map(|f| {
        observed_until
            .duration_since(f)
            .unwrap_or_default()
            .as_secs_f64()
    });
    let stats = (!times.is_empty()).then(|| rate_stats(&times, RATE_SETTLE.as_secs_f64()));
    let observed = stats.as_ref().and_then(|s| s.steady_per_minute);
    let report = RateReport {
        setup,
        configured_per_minute: limit,
        backlog,
        accepted: result.accepted_count(),
        errors: result.error_count(),
        accept_seconds: result
            .finished
            .saturating_duration_since(result.started)
            .as_secs_f64(),
        window_seconds: window.as_secs_f64(),
        delivered: times.len() as u64,
        after_first_delivery_seconds: after_first,
        gcra_allows: after_first.map(|t| f64::from(limit) * (1.0 + t / 60.0)),
        settle_seconds: RATE_SETTLE.as_secs_f64(),
        observed_over_configured: observed.map(|o| o / f64::from(limit)),
        stats,
    };
    if ctx.cli.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(report.errors == 0 && observed.is_some())
}

impl RateReport {
    fn text(&self) -> String {
        let mut o = String::new();
        self.setup.text(&mut o);
        let _ = writeln!(
            o,
            "Backlog    {} messages: {} accepted ({} errors) in {:.2} s; deliveries observed for {:.0} s from the first request",
            self.backlog, self.accepted, self.errors, self.accept_seconds, self.window_seconds
        );
        let after = self
            .after_first_delivery_seconds
            .map_or_else(|| "-".to_owned(), |s| format!("{s:.1}"));
        let allows = self
            .gcra_allows
            .map_or_else(|| "-".to_owned(), |a| format!("{a:.0}"));
        let _ = writeln!(
            o,
            "Delivered  {} in the {after} s after the first delivery (GCRA with burst = limit allows {allows})",
            self.delivered
        );
        if let Some(s) = &self.stats {
            let _ = writeln!(
                o,
                "Burst      {} delivered in the first second (configured burst {})",
                s.first_second, self.configured_per_minute
            );
            let observed = s
                .steady_per_minute
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.1}/min"));
            let _ = writeln!(
                o,
                "Steady     {} deliveries from {:.0} s after the first one, over {:.1} s → {observed}",
                s.steady_count, self.settle_seconds, s.steady_seconds
            );
        }
        let ratio = self.observed_over_configured.map_or_else(
            || "-".to_owned(),
            |r| format!("{r:.3} ({:+.1}%)", (r - 1.0) * 100.0),
        );
        let _ = writeln!(
            o,
            "Result     configured {}/min · observed/configured = {ratio}",
            self.configured_per_minute
        );
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_rate_of_an_even_trickle() {
        // A burst of 120 at t = 0, then one every half second: 120/min.
        let mut times = vec![0.0; 120];
        times.extend((1..=180).map(|k| f64::from(k) * 0.5));
        let s = rate_stats(&times, 5.0);
        assert_eq!(s.first_second, 121);
        assert_eq!(s.steady_count, 171);
        assert_eq!(s.steady_seconds, 85.0);
        let rate = s.steady_per_minute.unwrap_or_default();
        assert!((rate - 120.0).abs() < 1e-9, "{rate}");
        assert_eq!(rate_stats(&[0.0], 5.0).steady_per_minute, None);
    }
}
