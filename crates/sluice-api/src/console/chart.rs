//! Charts drawn on the server as inline SVG: delivered, deferred and bounced per
//! bucket (minute or hour), one line each. Only numbers and fixed labels go into the
//! markup, so there is nothing to escape; no script, no download.

use std::fmt::Write;

use sluice_store::outcome_counts::OutcomeSeries;
use time::OffsetDateTime;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 190.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 26.0;
const BOTTOM: f64 = 24.0;

const LINES: [(&str, &str); 3] = [
    ("delivered", "#1d7a46"),
    ("deferred", "#c98200"),
    ("bounced", "#b42318"),
];

fn clock(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| format!("{:02}:{:02}", t.hour(), t.minute()))
        .unwrap_or_default()
}

/// The last hour's and the last day's charts of `tenant` (or every tenant's).
pub async fn both(
    state: &crate::AppState,
    tenant: Option<&sluice_model::TenantId>,
) -> Result<Vec<String>, super::ConsoleError> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let (hour, day) = state.store.outcome_series(tenant, now).await?;
    Ok(vec![
        svg("Last hour, per minute", &hour),
        svg("Last 24 hours, per hour", &day),
    ])
}

/// The chart of `series`, titled `title` (a fixed string of ours).
pub fn svg(title: &str, series: &OutcomeSeries) -> String {
    let lines = [&series.delivered, &series.deferred, &series.bounced];
    let buckets = series.delivered.len().max(2);
    let max = lines
        .iter()
        .flat_map(|l| l.iter())
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |i: usize| LEFT + plot_w * i as f64 / (buckets - 1) as f64;
    let y = |v: u64| TOP + plot_h - plot_h * v as f64 / max as f64;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{title}" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="11">"#
    );
    let _ = write!(
        out,
        r##"<text x="{LEFT}" y="15" font-size="13" font-weight="600" fill="#1d2330">{title}</text>"##
    );
    let mut legend_x = WIDTH - RIGHT - 250.0;
    for (i, (name, color)) in LINES.iter().enumerate() {
        let total: u64 = lines[i].iter().sum();
        let _ = write!(
            out,
            r##"<rect x="{legend_x}" y="7" width="10" height="10" fill="{color}"/><text x="{}" y="16" fill="#5d6678">{name} {total}</text>"##,
            legend_x + 14.0
        );
        legend_x += 85.0;
    }
    // Axes and the top gridline with its value.
    let (x0, x1, y0, ytop) = (LEFT, WIDTH - RIGHT, TOP + plot_h, TOP);
    let _ = write!(
        out,
        r##"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#c5cad3"/><line x1="{x0}" y1="{ytop}" x2="{x1}" y2="{ytop}" stroke="#eef0f3"/><text x="{}" y="{}" text-anchor="end" fill="#5d6678">{max}</text><text x="{}" y="{}" text-anchor="end" fill="#5d6678">0</text>"##,
        LEFT - 6.0,
        ytop + 4.0,
        LEFT - 6.0,
        y0 + 4.0
    );
    for i in [0, buckets / 2, buckets - 1] {
        let at = series.start + series.step * i as i64;
        let anchor = if i == 0 {
            "start"
        } else if i == buckets - 1 {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{}" text-anchor="{anchor}" fill="#5d6678">{} UTC</text>"##,
            x(i),
            HEIGHT - 6.0,
            clock(at)
        );
    }
    for (line, (name, color)) in lines.iter().zip(LINES) {
        let points: Vec<String> = line
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="{name}" fill="none" stroke="{color}" stroke-width="2" stroke-linejoin="round" points="{}"/>"#,
            points.join(" ")
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_is_a_line_scaled_to_the_largest_count() {
        let series = OutcomeSeries {
            start: 0,
            step: 60,
            delivered: vec![0, 4, 2],
            deferred: vec![1, 0, 0],
            bounced: vec![0, 0, 0],
        };
        let svg = svg("Last hour", &series);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 3);
        // The peak (4) touches the top of the plot; zero sits on the axis.
        let middle = LEFT + (WIDTH - LEFT - RIGHT) / 2.0;
        assert!(svg.contains(&format!("{middle:.1},{TOP:.1}")), "{svg}");
        assert!(
            svg.contains("delivered 6") && svg.contains("deferred 1"),
            "{svg}"
        );
        assert!(svg.contains("00:00 UTC"), "{svg}");
    }
}
