//! What a run reports: one [`AlgoResult`] per algorithm inside a
//! [`Report`] (serialized to `sim.json`), the Markdown table, the
//! gradual-dissemination lines and the SVG chart.
//!
//! Pure formatting: calls nothing else in the crate.

use serde::Serialize;
use std::fmt::Write as _;

/// Results of one algorithm.
#[derive(Clone, Debug, Serialize)]
pub struct AlgoResult {
    pub name: &'static str,
    /// Seconds from the change until 50 % / 90 % of the alive nodes knew.
    pub t50_s: Option<f64>,
    pub t90_s: Option<f64>,
    /// Age of the load information held, at the end (ms).
    pub median_age_ms: f64,
    pub p99_age_ms: f64,
    /// Messages and bytes sent per ordinary node per second.
    pub msgs_per_node_s: f64,
    pub bytes_per_node_s: f64,
    /// Bytes received per ordinary node per second.
    pub rx_bytes_per_node_s: f64,
    /// Largest number of messages sent + received by any one node
    /// (or the server) within one second.
    pub max_msgs_per_s_one_node: f64,
    /// Nodes knowing 1, 2 and 3 intervals after the change.
    pub knowing_after_intervals: [usize; 3],
    /// Fraction knowing at the end.
    pub final_fraction: f64,
    /// Server figures (central only): messages received + sent per
    /// second, bytes sent per second.
    pub server_msgs_per_s: Option<f64>,
    pub server_bytes_per_s: Option<f64>,
    /// (seconds since the change, fraction of alive nodes knowing).
    pub timeline: Vec<(f64, f64)>,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub nodes: usize,
    pub seconds: u32,
    pub loss: f64,
    pub delay_ms: u32,
    pub churn_per_s: f64,
    pub seed: u64,
    pub vector_size: usize,
    pub interval_ms: u64,
    pub change_at_s: f64,
    pub idle_node: u32,
    pub departures: usize,
    pub algorithms: Vec<AlgoResult>,
    /// Gossip only: largest fraction of alive nodes whose vector held an
    /// idle entry about X at the same moment.
    pub gossip_peak_holding_fraction: f64,
    pub wall_seconds: f64,
}

fn fmt_opt_s(v: Option<f64>) -> String {
    v.map_or_else(|| "not reached".to_string(), |s| format!("{s:.2} s"))
}

pub(super) fn fmt_num(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2} G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1} k", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The results table, as Markdown (it reads fine in a terminal too).
pub fn table(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| algorithm | 50% time | 90% time | median age | p99 age | msgs/node/s | bytes/node/s (rx) | max msgs/s at one node |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for a in &r.algorithms {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} ms | {:.0} ms | {} | {} ({}) | {} |",
            a.name,
            fmt_opt_s(a.t50_s),
            fmt_opt_s(a.t90_s),
            a.median_age_ms,
            a.p99_age_ms,
            fmt_num(a.msgs_per_node_s),
            fmt_num(a.bytes_per_node_s),
            fmt_num(a.rx_bytes_per_node_s),
            fmt_num(a.max_msgs_per_s_one_node),
        );
    }
    s
}

/// The gradual-dissemination lines.
pub fn gradual(r: &Report) -> String {
    let mut s = String::new();
    for a in &r.algorithms {
        let k = a.knowing_after_intervals;
        let _ = writeln!(
            s,
            "{:>9}: after 1 / 2 / 3 intervals {} / {} / {} nodes know X is idle; {:.1}% at the end",
            a.name,
            k[0],
            k[1],
            k[2],
            a.final_fraction * 100.0
        );
    }
    s
}

const COLORS: [&str; 3] = ["#1f77b4", "#d62728", "#2ca02c"];

/// A line chart of the fraction of nodes knowing vs time since the change.
pub fn svg(r: &Report) -> String {
    let (w, h) = (900.0, 520.0);
    let (ml, mr, mt, mb) = (70.0, 30.0, 60.0, 60.0);
    let (pw, ph) = (w - ml - mr, h - mt - mb);
    let span = (f64::from(r.seconds) - r.change_at_s).max(1.0);
    let px = |t: f64| ml + t / span * pw;
    let py = |f: f64| mt + (1.0 - f) * ph;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="16">Who knows that node {} went idle: {} nodes, loss {:.0}%, delay {} ms, churn {}/s</text>"#,
        w / 2.0,
        r.idle_node,
        r.nodes,
        r.loss * 100.0,
        r.delay_ms,
        r.churn_per_s
    );
    // Grid and ticks.
    let step = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0].into_iter().find(|&s| span / s <= 12.0).unwrap_or(1000.0);
    let mut t = 0.0;
    while t <= span + 1e-9 {
        let x = px(t);
        let _ = writeln!(s, r##"<line x1="{x:.1}" y1="{mt}" x2="{x:.1}" y2="{}" stroke="#e0e0e0"/>"##, mt + ph);
        let _ = writeln!(s, r#"<text x="{x:.1}" y="{}" text-anchor="middle">{t}</text>"#, mt + ph + 18.0);
        t += step;
    }
    for k in 0..=10 {
        let f = f64::from(k) / 10.0;
        let y = py(f);
        let _ = writeln!(s, r##"<line x1="{ml}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#e0e0e0"/>"##, ml + pw);
        let _ = writeln!(s, r#"<text x="{}" y="{:.1}" text-anchor="end">{}%</text>"#, ml - 6.0, y + 4.0, k * 10);
    }
    for f in [0.5, 0.9] {
        let y = py(f);
        let _ = writeln!(
            s,
            r##"<line x1="{ml}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#888" stroke-dasharray="6 4"/>"##,
            ml + pw
        );
    }
    let _ = writeln!(s, r#"<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">seconds since node {} became idle (t = {} s)</text>"#,
        ml + pw / 2.0,
        h - 15.0,
        r.idle_node,
        r.change_at_s
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(18 {}) rotate(-90)" text-anchor="middle">alive nodes that have learned it is idle</text>"#,
        mt + ph / 2.0
    );
    // Curves.
    for (a, color) in r.algorithms.iter().zip(COLORS) {
        let pts: Vec<String> = a.timeline.iter().map(|&(t, f)| format!("{:.1},{:.1}", px(t), py(f))).collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
    }
    // Legend.
    let (lx, ly) = (ml + pw - 350.0, mt + ph - 90.0);
    let _ = writeln!(s, r##"<rect x="{lx}" y="{ly}" width="340" height="80" fill="white" stroke="#999"/>"##);
    for (k, (a, color)) in r.algorithms.iter().zip(COLORS).enumerate() {
        let y = ly + 20.0 + 22.0 * k as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="{color}" stroke-width="3"/>"#,
            lx + 10.0,
            lx + 40.0
        );
        let label = match a.name {
            "gossip" => "gossip (roam load vector)",
            "central" => "central collector",
            _ => "all-to-all broadcast",
        };
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}">{label}: {:.1}% at the end</text>"#,
            lx + 48.0,
            y + 4.0,
            a.final_fraction * 100.0
        );
    }
    s.push_str("</svg>\n");
    s
}
