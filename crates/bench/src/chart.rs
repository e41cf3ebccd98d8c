//! The run's chart, as SVG: throughput per second (answered submissions,
//! arrivals in inboxes, and refused submissions if any) above, p99 submit
//! latency per second below; the seconds in which the bench analysed tables
//! (autovacuum's stand-in) shaded in both.

use crate::database::AnalysisPass;
use crate::record::Second;

const WIDTH: f64 = 900.0;
const PANEL: f64 = 220.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const GAP: f64 = 60.0;

/// A round number at or above `v` for an axis (1, 2 or 5 × 10ⁿ).
fn nice(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * p).find(|c| *c >= v).unwrap_or(10.0 * p)
}

fn polyline(points: &[(f64, f64)], colour: &str) -> String {
    let pts: Vec<String> = points.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    format!(r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#, pts.join(" "))
}

/// The legend of the shaded analyses.
pub const ANALYSES_LEGEND: &str = "the bench's analyses (autovacuum's stand-in)";
const ANALYSES_FILL: &str = "#ff7f0e";

/// Where second `t` (fractions too) lies on the x axis of a chart of `seconds`.
fn x_of(t: f64, seconds: usize) -> f64 {
    LEFT + (WIDTH - LEFT - RIGHT) * t / (seconds.max(2) - 1) as f64
}

/// The shaded bands of `shaded` within a panel at `top`; at least 2 px wide.
fn bands(top: f64, seconds: usize, shaded: &[AnalysisPass]) -> String {
    let last = (seconds.max(2) - 1) as f64;
    let mut out = String::new();
    for pass in shaded.iter().filter(|p| p.from_secs <= last) {
        let (from, to) = (x_of(pass.from_secs, seconds), x_of(pass.to_secs.min(last), seconds));
        out += &format!(
            r#"<rect x="{from:.1}" y="{top}" width="{:.1}" height="{PANEL}" fill="{ANALYSES_FILL}" fill-opacity="0.18"/>"#,
            (to - from).max(2.0)
        );
    }
    out
}

/// One panel: axes, grid with labels, the `shaded` analyses, and its series (values, colour, legend).
fn panel(
    top: f64,
    title: &str,
    unit: &str,
    seconds: usize,
    series: &[(Vec<f64>, &str, &str)],
    shaded: &[AnalysisPass],
) -> String {
    let max = nice(series.iter().flat_map(|(v, _, _)| v.iter().copied()).fold(0.0, f64::max));
    let x = |i: usize| x_of(i as f64, seconds);
    let y = |v: f64| top + PANEL - PANEL * v / max;
    let mut out = format!(r#"<text x="{LEFT}" y="{}" font-size="14" font-weight="bold">{title}</text>"#, top - 10.0);
    out += &bands(top, seconds, shaded);
    for k in 0..=4 {
        let v = max * k as f64 / 4.0;
        out += &format!(
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{v} {unit}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(v) + 4.0,
            y = y(v)
        );
    }
    let step = (seconds / 10).max(1);
    for i in (0..seconds).step_by(step) {
        out += &format!(
            r#"<text x="{:.1}" y="{}" font-size="11" text-anchor="middle">{i} s</text>"#,
            x(i),
            top + PANEL + 16.0
        );
    }
    for (n, (values, colour, legend)) in series.iter().enumerate() {
        let points: Vec<(f64, f64)> = values.iter().enumerate().map(|(i, v)| (x(i), y(*v))).collect();
        out += &polyline(&points, colour);
        out += &format!(
            r#"<text x="{}" y="{}" font-size="12" fill="{colour}" text-anchor="end">{legend}</text>"#,
            WIDTH - RIGHT - 230.0 * n as f64,
            top - 10.0
        );
    }
    out
}

/// The SVG document of a run's timeline, with the bench's `analyses` that analysed a table shaded.
pub fn svg(title: &str, timeline: &[Second], analyses: &[AnalysisPass]) -> String {
    let n = timeline.len();
    let shaded: Vec<AnalysisPass> = analyses.iter().filter(|p| p.analysed()).copied().collect();
    let ok: Vec<f64> = timeline.iter().map(|s| s.ok as f64).collect();
    let inbox: Vec<f64> = timeline.iter().map(|s| s.inbox as f64).collect();
    let mut throughput = vec![(ok, "#1f77b4", "submissions answered OK"), (inbox, "#2ca02c", "referrals in an inbox")];
    if timeline.iter().any(|s| s.errors > 0) {
        let refused = timeline.iter().map(|s| s.errors as f64).collect();
        throughput.push((refused, "#7f7f7f", "submissions refused"));
    }
    let p99: Vec<f64> = timeline.iter().map(|s| s.submit_p99_ms).collect();
    let height = TOP + 2.0 * PANEL + GAP + 40.0;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="18" font-size="15">{title}</text>"#
    );
    out += &panel(TOP + 20.0, "throughput per second", "/s", n, &throughput, &shaded);
    out +=
        &panel(TOP + 20.0 + PANEL + GAP, "p99 submit latency per second", "ms", n, &[(p99, "#d62728", "p99")], &shaded);
    if !shaded.is_empty() {
        out += &format!(
            r#"<text x="{}" y="{}" font-size="12" fill="{ANALYSES_FILL}" text-anchor="end">{ANALYSES_LEGEND}</text>"#,
            WIDTH - RIGHT - 60.0,
            TOP + 20.0 + PANEL + GAP - 10.0
        );
    }
    out += "</svg>\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice(0.0), 1.0);
        assert_eq!(nice(7.0), 10.0);
        assert_eq!(nice(1000.0), 1000.0);
        assert_eq!(nice(1001.0), 2000.0);
        assert_eq!(nice(34.0), 50.0);
    }

    #[test]
    fn the_chart_draws_each_series_over_the_run() {
        let timeline: Vec<Second> =
            (0..5).map(|t| Second { t, ok: 100 * t, inbox: 90 * t, submit_p99_ms: 3.0, errors: 0 }).collect();
        let svg = svg("run", &timeline, &[]);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert!(svg.contains("500 /s"), "the throughput axis ends at 500");
        assert!(!svg.contains(ANALYSES_LEGEND), "no analyses, no legend for them");
        assert!(!svg.contains("submissions refused"), "none refused, no line for them");
    }

    #[test]
    fn refused_submissions_get_a_line_of_their_own() {
        let timeline: Vec<Second> =
            (0..5).map(|t| Second { t, ok: 100, errors: 40 * t, ..Default::default() }).collect();
        let svg = svg("run", &timeline, &[]);
        assert_eq!(svg.matches("<polyline").count(), 4, "{svg}");
        assert!(svg.contains("submissions refused"), "{svg}");
    }

    #[test]
    fn the_seconds_the_bench_analysed_tables_are_shaded_in_both_panels() {
        let timeline: Vec<Second> = (0..11).map(|t| Second { t, ok: 10, ..Default::default() }).collect();
        let analyses = [
            AnalysisPass { from_secs: 2.0, to_secs: 4.0, tables: 3 },
            AnalysisPass { from_secs: 7.0, to_secs: 7.1, tables: 0 },
        ];
        let svg = svg("run", &timeline, &analyses);
        let shaded = format!(r#"fill="{ANALYSES_FILL}" fill-opacity"#);
        assert_eq!(svg.matches(&format!("<rect x=\"{:.1}\"", x_of(2.0, 11))).count(), 2, "{svg}");
        assert_eq!(svg.matches(&shaded).count(), 2, "one band a panel; a look that analysed nothing is not shaded");
        let width = (x_of(4.0, 11) - x_of(2.0, 11)).round();
        assert!(svg.contains(&format!(r#"width="{width:.1}""#)), "two seconds wide: {svg}");
        assert!(svg.contains(ANALYSES_LEGEND));
    }
}
