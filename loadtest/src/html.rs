//! The self-contained HTML report: the figures, and inline SVG charts of latency over time,
//! throughput over time and the latency distribution. No script, no network.

use crate::report::Report;
use std::fmt::Write;
use std::path::Path;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 40.0;

/// One line of a chart.
struct Series<'a> {
    name: &'a str,
    color: &'a str,
    points: Vec<(f64, f64)>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A round step for about `ticks` ticks over `span`.
fn nice_step(span: f64, ticks: f64) -> f64 {
    let raw = (span / ticks).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// The smallest x, the largest x and the largest y of all points (0 when there are none).
fn bounds(series: &[Series]) -> (f64, f64, f64) {
    let (mut x_max, mut y_max) = (0.0f64, 0.0f64);
    let mut x_min = f64::MAX;
    for &(x, y) in series.iter().flat_map(|s| s.points.iter()) {
        x_max = x_max.max(x);
        x_min = x_min.min(x);
        y_max = y_max.max(y);
    }
    if x_min == f64::MAX {
        x_min = 0.0;
    }
    (x_min, x_max, y_max)
}

/// The x axis labels: `x_ticks` where given, else round steps across `x_min..=x_max`.
fn x_axis(svg: &mut String, x_ticks: Option<&[(f64, &str)]>, (x_min, x_max): (f64, f64), px: &impl Fn(f64) -> f64) {
    match x_ticks {
        Some(ticks) => {
            for &(x, label) in ticks {
                let _ = write!(
                    svg,
                    r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                    px(x),
                    HEIGHT - BOTTOM + 16.0,
                    escape(label)
                );
            }
        }
        None => {
            let step = nice_step((x_max - x_min).max(1e-9), 8.0);
            let mut x = (x_min / step).ceil() * step;
            while x <= x_max + 1e-9 {
                let _ = write!(
                    svg,
                    r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                    px(x),
                    HEIGHT - BOTTOM + 16.0,
                    trim(x)
                );
                x += step;
            }
        }
    }
}

/// A line chart; `x_ticks` overrides the x axis labels (position, label).
fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series], x_ticks: Option<&[(f64, &str)]>) -> String {
    let (x_min, x_max, y_max) = bounds(series);
    let x_span = (x_max - x_min).max(1e-9);
    let y_step = nice_step(y_max.max(1e-9), 5.0);
    let y_top = (y_max / y_step).ceil().max(1.0) * y_step;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let px = |x: f64| LEFT + (x - x_min) / x_span * plot_w;
    let py = |y: f64| TOP + plot_h - y / y_top * plot_h;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(
        svg,
        r#"<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let mut y = 0.0;
    while y <= y_top + y_step / 2.0 {
        let (right, at, label_x) = (WIDTH - RIGHT, py(y), LEFT - 6.0);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{right}" y1="{at:.1}" y2="{at:.1}" stroke="#ddd"/><text x="{label_x}" y="{:.1}" text-anchor="end">{}</text>"##,
            at + 4.0,
            trim(y)
        );
        y += y_step;
    }
    x_axis(&mut svg, x_ticks, (x_min, x_max), &px);
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text><text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">{}</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 6.0,
        escape(x_label),
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        escape(y_label)
    );
    let _ = write!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#888"/>"##
    );
    for (i, s) in series.iter().enumerate() {
        let points: Vec<String> = s
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>"#,
            s.color,
            points.join(" ")
        );
        let lx = LEFT + 10.0 + i as f64 * 150.0;
        let _ = write!(
            svg,
            r#"<rect x="{lx}" y="{}" width="12" height="4" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            TOP + 8.0,
            s.color,
            lx + 16.0,
            TOP + 12.0,
            escape(s.name)
        );
    }
    svg.push_str("</svg>");
    svg
}

fn trim(value: f64) -> String {
    if value >= 100.0 || value == value.round() {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

/// Percentile `p` on an axis where each "nine" takes the same width.
fn nines(p: f64) -> f64 {
    -(1.0 - (p / 100.0).min(0.99999)).log10()
}

fn charts(report: &Report) -> String {
    let timeline = &report.timeline;
    let latency = line_chart(
        "Latency over time (send → push at each addressee)",
        "second of the run",
        "ms",
        &[
            Series {
                name: "p50",
                color: "#1f77b4",
                points: timeline.iter().map(|p| (f64::from(p.t), p.p50_ms)).collect(),
            },
            Series {
                name: "p99",
                color: "#d62728",
                points: timeline.iter().map(|p| (f64::from(p.t), p.p99_ms)).collect(),
            },
        ],
        None,
    );
    let throughput = line_chart(
        "Throughput over time",
        "second of the run",
        "per second",
        &[
            Series {
                name: "messages acked",
                color: "#2ca02c",
                points: timeline.iter().map(|p| (f64::from(p.t), p.acked as f64)).collect(),
            },
            Series {
                name: "pushes received",
                color: "#ff7f0e",
                points: timeline.iter().map(|p| (f64::from(p.t), p.delivered as f64)).collect(),
            },
            Series {
                name: "history reads",
                color: "#9467bd",
                points: timeline.iter().map(|p| (f64::from(p.t), p.reads as f64)).collect(),
            },
        ],
        None,
    );
    let ticks: Vec<(f64, &str)> = [
        (0.0, "0%"),
        (90.0, "90%"),
        (99.0, "99%"),
        (99.9, "99.9%"),
        (99.99, "99.99%"),
        (99.999, "99.999%"),
    ]
    .iter()
    .map(|&(p, label)| (nines(p), label))
    .collect();
    let distribution = line_chart(
        "Latency distribution (percentile)",
        "percentile",
        "ms",
        &[Series {
            name: "delivery latency",
            color: "#1f77b4",
            points: report.distribution.iter().map(|&(p, ms)| (nines(p), ms)).collect(),
        }],
        Some(&ticks),
    );
    format!("{latency}\n{throughput}\n{distribution}")
}

fn row(out: &mut String, name: &str, value: String) {
    let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", escape(name), escape(&value));
}

/// Writes the report to `path`.
pub fn write(report: &Report, path: &Path) -> anyhow::Result<()> {
    let mut table = String::new();
    row(&mut table, "summary", report.summary());
    for line in report.details() {
        row(&mut table, "", line);
    }
    row(&mut table, "command", report.command.clone());
    row(
        &mut table,
        "machine",
        format!(
            "{} CPUs ({}), {} GiB, Linux {}",
            report.machine.cpus, report.machine.cpu_model, report.machine.memory_gib, report.machine.kernel
        ),
    );
    let l = &report.latency;
    row(
        &mut table,
        "delivery latency (ms)",
        format!(
            "p50 {:.2} · p90 {:.2} · p99 {:.2} · p99.9 {:.2} · max {:.2} · mean {:.2} · n {}",
            l.p50, l.p90, l.p99, l.p999, l.max, l.mean, l.count
        ),
    );
    let json = serde_json::to_string_pretty(report)?;
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>herald-loadtest: {scenario} on {target}</title>
<style>body{{font-family:sans-serif;margin:24px;max-width:820px}}table{{border-collapse:collapse;margin-bottom:16px}}
th,td{{text-align:left;padding:3px 8px;border-bottom:1px solid #eee;font-size:13px;vertical-align:top}}
svg{{display:block;margin:12px 0}}pre{{font-size:11px;background:#f6f6f6;padding:8px;overflow:auto;max-height:300px}}</style>
</head><body><h1>herald-loadtest: {scenario} on {target}</h1>
<table>{table}</table>
{charts}
<details><summary>every figure (JSON)</summary><pre>{json}</pre></details>
</body></html>
"#,
        scenario = escape(&report.scenario),
        target = escape(&report.target),
        charts = charts(report),
        json = escape(&json),
    );
    std::fs::write(path, html)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(100.0, 5.0), 20.0);
        assert_eq!(nice_step(7.0, 5.0), 2.0);
        assert_eq!(nice_step(0.3, 5.0), 0.1);
    }

    #[test]
    fn nines_spread_the_tail() {
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.0) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn a_chart_is_svg() {
        let svg = line_chart(
            "t",
            "x",
            "y",
            &[Series {
                name: "a<b",
                color: "red",
                points: vec![(0.0, 1.0), (1.0, 3.0)],
            }],
            None,
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("a&lt;b"));
    }
}
