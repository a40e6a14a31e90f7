//! `--scenario isolation`: does a black-holed destination slow healthy delivery? Phase
//! A sends only to `healthy.test`; phase B the same number of healthy messages with
//! every fifth message to `blackhole.test` mixed in.

use std::fmt::Write as _;

use anyhow::bail;
use serde::Serialize;
use sluice_smtp_server::SinkHandle;

use super::{Ctx, Fixtures, GREETING_TIMEOUT, Setup, healthy_recipient};
use crate::delivery::DeliveryWatch;

/// Healthy messages per phase of the isolation scenario unless `--messages`.
const ISOLATION_MESSAGES: u64 = 4_000;

/// Whether the `index`-th message of phase B goes to the black hole: every fifth, so
/// `n + n/4` messages hold exactly `n` healthy ones.
pub fn is_blackholed(index: u64) -> bool {
    index % 5 == 4
}

/// Phase B: four healthy messages, then one to `blackhole.test`, and so on.
fn mixed_recipient(index: u64) -> String {
    if is_blackholed(index) {
        format!("user{index}@blackhole.test")
    } else {
        healthy_recipient(index)
    }
}
#[derive(Debug, Serialize)]
struct Phase {
    /// Messages sent in this phase (healthy and black-holed).
    sent: u64,
    accepted: u64,
    errors: u64,
    healthy_expected: u64,
    healthy_delivered: u64,
    /// First request sent → last healthy delivery.
    seconds: Option<f64>,
    healthy_per_second: Option<f64>,
    accept_seconds: f64,
    /// Healthy messages delivered when the last response arrived.
    healthy_at_send_end: u64,
    /// The rest ÷ (last response → last healthy delivery): delivery with the API idle.
    drain_per_second: Option<f64>,
}

#[derive(Debug, Serialize)]
struct IsolationReport {
    #[serde(flatten)]
    setup: Setup,
    healthy_per_phase: u64,
    blackholed_in_b: u64,
    /// The black hole's provider rule, if any (else the default limits).
    blackhole_connections: Option<u32>,
    greeting_timeout: &'static str,
    phase_a: Phase,
    phase_b: Phase,
    /// Phase B's healthy throughput over phase A's.
    ratio_b_over_a: Option<f64>,
    /// The same for the drain (API idle).
    drain_ratio_b_over_a: Option<f64>,
    /// TCP connections Sluice opened to the silent MX during phase B.
    blackhole_connections_opened: u64,
}

async fn phase(
    ctx: &Ctx<'_>,
    sink: &SinkHandle,
    count: u64,
    healthy: u64,
    recipient: fn(u64) -> String,
) -> anyhow::Result<Phase> {
    let watch = DeliveryWatch::start(sink);
    let result = ctx.send(count, recipient).await?;
    let at_send_end = watch.count();
    let accepted = result.accepted_count();
    let errors = result.error_count();
    for (kind, e) in &result.errors {
        eprintln!("  {kind}: {} (e.g. {})", e.count, e.sample);
    }
    // Without errors every healthy message was accepted; otherwise an upper bound.
    let healthy_expected = if errors == 0 {
        healthy
    } else {
        healthy.min(accepted)
    };
    let delivered = watch.finish(healthy_expected, ctx.cli.drain_timeout).await;
    let seconds = delivered
        .completed_at
        .map(|at| at.saturating_duration_since(result.started).as_secs_f64());
    let drain_per_second = delivered.completed_at.and_then(|at| {
        let secs = at.saturating_duration_since(result.finished).as_secs_f64();
        let rest = healthy_expected.saturating_sub(at_send_end);
        (rest >= 100 && secs >= 0.2).then(|| rest as f64 / secs)
    });
    Ok(Phase {
        sent: result.requests,
        accepted,
        errors,
        healthy_expected,
        healthy_delivered: delivered.count,
        seconds,
        healthy_per_second: seconds
            .filter(|s| *s > 0.0)
            .map(|s| healthy_expected as f64 / s),
        accept_seconds: result
            .finished
            .saturating_duration_since(result.started)
            .as_secs_f64(),
        healthy_at_send_end: at_send_end,
        drain_per_second,
    })
}

pub(super) async fn run(
    ctx: &Ctx<'_>,
    setup: Setup,
    sink: &SinkHandle,
    fixtures: &Fixtures,
) -> anyhow::Result<bool> {
    let n = ctx.cli.messages.unwrap_or(ISOLATION_MESSAGES);
    let blackholed = n / 4;
    eprintln!("phase A: {n} messages to healthy.test");
    let a = phase(ctx, sink, n, n, healthy_recipient).await?;
    if a.seconds.is_none() {
        bail!(
            "phase A: only {} of {} healthy messages arrived within {}s",
            a.healthy_delivered,
            a.healthy_expected,
            ctx.cli.drain_timeout.as_secs()
        );
    }
    eprintln!(
        "phase B: {n} messages to healthy.test interleaved with {blackholed} to blackhole.test"
    );
    let connections_before = fixtures.silent.connections_count();
    let b = phase(ctx, sink, n + blackholed, n, mixed_recipient).await?;
    let ratio = match (a.healthy_per_second, b.healthy_per_second) {
        (Some(a), Some(b)) if a > 0.0 => Some(b / a),
        _ => None,
    };
    let drain_ratio = match (a.drain_per_second, b.drain_per_second) {
        (Some(a), Some(b)) if a > 0.0 => Some(b / a),
        _ => None,
    };
    let report = IsolationReport {
        setup,
        drain_ratio_b_over_a: drain_ratio,
        healthy_per_phase: n,
        blackholed_in_b: blackholed,
        blackhole_connections: ctx.cli.blackhole_connections,
        greeting_timeout: GREETING_TIMEOUT,
        blackhole_connections_opened: fixtures
            .silent
            .connections_count()
            .saturating_sub(connections_before),
        ratio_b_over_a: ratio,
        phase_a: a,
        phase_b: b,
    };
    if ctx.cli.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    let ok = report.phase_a.errors == 0
        && report.phase_b.errors == 0
        && report.phase_b.seconds.is_some();
    Ok(ok)
}

impl IsolationReport {
    fn text(&self) -> String {
        let mut o = String::new();
        self.setup.text(&mut o);
        let rule = self.blackhole_connections.map_or_else(
            || "no provider rule, so the default limits: 2 connections, 60/min".to_owned(),
            |c| format!("provider blackhole: {c} connections/IP, no rate limit"),
        );
        let _ = writeln!(
            o,
            "           blackhole.test → 127.0.0.5 (accepts TCP, never greets; {rule}) · greeting_timeout {}",
            self.greeting_timeout
        );
        let line = |o: &mut String, name: &str, p: &Phase, what: String| {
            let rate = p
                .healthy_per_second
                .map_or_else(|| "incomplete".to_owned(), |r| format!("{r:.0} msg/s"));
            let secs = p
                .seconds
                .map_or_else(|| "-".to_owned(), |s| format!("{s:.2} s"));
            let _ = writeln!(
                o,
                "{name}    {what}: {}/{} accepted ({} errors) in {:.2} s · healthy {}/{} delivered in {secs} → {rate}",
                p.accepted,
                p.sent,
                p.errors,
                p.accept_seconds,
                p.healthy_delivered,
                p.healthy_expected
            );
            let drain = p
                .drain_per_second
                .map_or_else(|| "not rated".to_owned(), |r| format!("{r:.0} msg/s"));
            let _ = writeln!(
                o,
                "           {} healthy delivered when sending ended; the rest drained at {drain} with the API idle",
                p.healthy_at_send_end
            );
        };
        line(
            &mut o,
            "Phase A",
            &self.phase_a,
            format!("{} to healthy.test", self.healthy_per_phase),
        );
        line(
            &mut o,
            "Phase B",
            &self.phase_b,
            format!(
                "{} to healthy.test + {} to blackhole.test",
                self.healthy_per_phase, self.blackholed_in_b
            ),
        );
        let _ = writeln!(
            o,
            "           connections Sluice opened to the black hole in phase B: {}",
            self.blackhole_connections_opened
        );
        let ratio = self.ratio_b_over_a.map_or_else(
            || "-".to_owned(),
            |r| format!("{r:.3} ({:+.1}%)", (r - 1.0) * 100.0),
        );
        let drain = self.drain_ratio_b_over_a.map_or_else(
            || "-".to_owned(),
            |r| format!("{r:.3} ({:+.1}%)", (r - 1.0) * 100.0),
        );
        let _ = writeln!(
            o,
            "Result     healthy throughput B/A = {ratio} · drain (API idle) B/A = {drain}"
        );
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_b_mix_holds_n_healthy() {
        for n in [0u64, 1, 3, 4, 10, 4_000, 4_003] {
            let total = n + n / 4;
            let healthy = (0..total).filter(|i| !is_blackholed(*i)).count() as u64;
            assert_eq!(healthy, n, "n = {n}");
        }
        assert_eq!(mixed_recipient(4), "user4@blackhole.test");
        assert_eq!(mixed_recipient(5), "user5@healthy.test");
    }
}
