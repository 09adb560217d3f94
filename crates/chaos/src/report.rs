//! The report of a chaos run: markdown an operator reads (seed, faults, safety counts,
//! availability per fault window) and the SVG timeline it embeds.
//!
//! Written with `format!`: the plot is a few dozen elements, not worth a plotting dependency.

use std::fmt::Write as _;

use crate::check::{ACCEPTED_BUSINESS_STATUSES, Availability, FAST_503_MS, Findings};
use crate::history::History;

/// The file name the markdown report refers to for the plot; write [`timeline_svg`] next to it.
pub const TIMELINE_FILE: &str = "timeline.svg";

/// The markdown report of a run: seed and duration, the fault table, the safety counts, the
/// availability per fault window and a reference to [`TIMELINE_FILE`].
pub fn markdown(history: &History, findings: &Findings, title: &str) -> String {
    let mut out = String::new();
    let violations = findings.safety_violations();
    let verdict = if violations == 0 {
        "every promise kept"
    } else {
        "PROMISES BROKEN"
    };
    // `write!` to a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(out, "# {}\n", markdown_cell(title));
    let _ = writeln!(
        out,
        "Seed `{}`, {} s, {} requests, {} faults. **Safety violations: {violations}** ({verdict}).\n",
        history.seed,
        seconds(history.duration_ms),
        history.requests.len(),
        history.faults.len(),
    );
    let _ = writeln!(
        out,
        "![Requests per second (ok and errors) with the fault windows shaded]({TIMELINE_FILE})\n"
    );

    let _ = writeln!(out, "## Faults\n");
    if history.faults.is_empty() {
        let _ = writeln!(out, "No fault was injected.\n");
    } else {
        let _ = writeln!(out, "| # | fault | kind | start (s) | end (s) |");
        let _ = writeln!(out, "|---:|---|---|---:|---:|");
        for (number, fault) in history.faults.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                number + 1,
                markdown_cell(&fault.name),
                markdown_cell(&fault.kind),
                seconds(fault.start_ms),
                seconds(fault.end_ms),
            );
        }
        let _ = writeln!(out);
    }

    let _ = writeln!(out, "## Safety\n");
    let _ = writeln!(
        out,
        "Every count but those marked allowed must be 0; the examples are the first few found.\n"
    );
    let _ = writeln!(out, "| check | count | examples |");
    let _ = writeln!(out, "|---|---:|---|");
    for line in findings.count_lines() {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            markdown_cell(line.label),
            line.count,
            markdown_cell(&line.examples.join("; ")),
        );
    }
    let _ = writeln!(out);

    let _ = writeln!(out, "## Availability\n");
    let accepted: Vec<String> = ACCEPTED_BUSINESS_STATUSES
        .iter()
        .map(ToString::to_string)
        .collect();
    let _ = writeln!(
        out,
        "Requests by the window they started in. Ok: 2xx, or {} to placing or cancelling an order \
         (a correct business answer). Fast 503: unavailable within {FAST_503_MS} ms. Available: \
         ok and fast 503 over all. Latencies are nearest-rank percentiles.\n",
        accepted.join("/"),
    );
    let _ = writeln!(
        out,
        "| window | kind | start (s) | end (s) | requests | ok | fast 503 | failed | available | p50 (ms) | p99 (ms) |"
    );
    let _ = writeln!(
        out,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for row in &findings.availability {
        let _ = writeln!(out, "{}", availability_row(row));
    }
    out
}

fn availability_row(row: &Availability) -> String {
    let optional = |value: Option<u64>| value.map_or_else(|| "–".to_owned(), |v| v.to_string());
    let share = row
        .share
        .map_or_else(|| "–".to_owned(), |share| format!("{:.1} %", share * 100.0));
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        markdown_cell(&row.label),
        markdown_cell(&row.kind),
        seconds(row.start_ms),
        seconds(row.end_ms),
        row.total,
        row.ok,
        row.fast_unavailable,
        row.failed,
        share,
        optional(row.p50_ms),
        optional(row.p99_ms),
    )
}

/// Milliseconds as seconds with one decimal.
fn seconds(ms: u64) -> String {
    format!("{}.{}", ms / 1000, (ms % 1000) / 100)
}

/// Text safe in a markdown table cell: a `|` would end the cell, a newline the row, and `<`
/// could open raw HTML.
fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text safe in XML content and attribute values.
pub fn escape_xml(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// The colour of a fault kind's band; one colour per family, so the same kind reads the same
/// across runs.
fn fault_colour(kind: &str) -> &'static str {
    match kind {
        "partition" => "#1f77b4",
        "latency" => "#ff7f0e",
        "loss" => "#9467bd",
        "bandwidth" => "#8c564b",
        "kill" => "#e377c2",
        "pause" => "#7f7f7f",
        "restart" => "#bcbd22",
        _ => "#17becf",
    }
}

const OK_COLOUR: &str = "#2ca02c";
const ERROR_COLOUR: &str = "#d62728";

/// A tick step of 1, 2 or 5 times a power of ten giving about `target` ticks over `span`.
fn tick_step(span: u64, target: u64) -> u64 {
    let raw = span.div_ceil(target.max(1)).max(1);
    let mut magnitude = 1;
    loop {
        for factor in [1, 2, 5] {
            if factor * magnitude >= raw {
                return factor * magnitude;
            }
        }
        magnitude *= 10;
    }
}

/// Where things go in the plot.
struct Layout {
    left: f64,
    plot_width: f64,
    plot_top: f64,
    plot_bottom: f64,
    /// Seconds the x axis spans.
    span_s: u64,
    /// Requests per second at the top of the y axis.
    y_max: u64,
}

impl Layout {
    fn x(&self, second: f64) -> f64 {
        self.left + second.clamp(0.0, self.span_s as f64) / self.span_s as f64 * self.plot_width
    }

    fn y(&self, per_second: u64) -> f64 {
        self.plot_bottom
            - per_second as f64 / self.y_max as f64 * (self.plot_bottom - self.plot_top)
    }
}

/// A self-contained SVG of the run: one lane per fault (a translucent band from when it was
/// applied to when it healed, shading the plot below), requests that were ok and that failed
/// per second as two lines, axes with ticks and a legend.
pub fn timeline_svg(history: &History, findings: &Findings) -> String {
    const WIDTH: f64 = 960.0;
    const LANE_HEIGHT: f64 = 18.0;
    const LANES_TOP: f64 = 34.0;
    const PLOT_HEIGHT: f64 = 220.0;

    let lanes_height = LANE_HEIGHT * history.faults.len() as f64;
    let plot_top = LANES_TOP + lanes_height + 8.0;
    let plot_bottom = plot_top + PLOT_HEIGHT;
    let height = plot_bottom + 48.0;
    let span_s = history
        .duration_ms
        .div_ceil(1000)
        .max(findings.timeline.len() as u64)
        .max(1);
    let peak = findings
        .timeline
        .iter()
        .map(|second| second.ok.max(second.failed))
        .max()
        .unwrap_or(0);
    let y_step = tick_step(peak.max(1), 5);
    let layout = Layout {
        left: 60.0,
        plot_width: WIDTH - 60.0 - 20.0,
        plot_top,
        plot_bottom,
        span_s,
        y_max: peak.max(1).div_ceil(y_step) * y_step,
    };

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11" style="background:#fff">"##
    );
    let _ = writeln!(
        svg,
        "<title>Chaos run, seed {}: requests per second and fault windows</title>",
        history.seed
    );
    legend(&mut svg, &layout);
    for (lane, fault) in history.faults.iter().enumerate() {
        let lane_top = LANES_TOP + LANE_HEIGHT * lane as f64;
        let start = layout.x(fault.start_ms as f64 / 1000.0);
        let end = layout.x(fault.end_ms as f64 / 1000.0);
        let width = (end - start).max(1.0);
        let colour = fault_colour(&fault.kind);
        let name = escape_xml(&fault.name);
        let _ = writeln!(
            svg,
            r#"<rect class="fault" x="{start:.1}" y="{lane_top:.1}" width="{width:.1}" height="{:.1}" fill="{colour}" fill-opacity="0.18" stroke="{colour}" stroke-opacity="0.6"><title>{name} ({}–{} s)</title></rect>"#,
            plot_bottom - lane_top,
            seconds(fault.start_ms),
            seconds(fault.end_ms),
        );
        // Labels past the middle run leftwards from the band's end, so they stay in the plot.
        let (label_x, anchor) = if start > layout.left + layout.plot_width / 2.0 {
            (end - 3.0, "end")
        } else {
            (start + 3.0, "start")
        };
        let _ = writeln!(
            svg,
            r#"<text x="{label_x:.1}" y="{:.1}" text-anchor="{anchor}" fill="{colour}">{name}</text>"#,
            lane_top + 13.0,
        );
    }
    axes(&mut svg, &layout, y_step);
    for (colour, per_second) in [
        (
            OK_COLOUR,
            findings
                .timeline
                .iter()
                .map(|second| (second.second, second.ok))
                .collect::<Vec<_>>(),
        ),
        (
            ERROR_COLOUR,
            findings
                .timeline
                .iter()
                .map(|second| (second.second, second.failed))
                .collect(),
        ),
    ] {
        let points: Vec<String> = per_second
            .iter()
            .map(|(second, count)| {
                // At the middle of its second: the count is of the whole second.
                format!(
                    "{:.1},{:.1}",
                    layout.x(*second as f64 + 0.5),
                    layout.y(*count)
                )
            })
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#,
            points.join(" ")
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn legend(svg: &mut String, layout: &Layout) {
    let y = 16.0;
    let mut x = layout.left;
    for (colour, opacity, width, label) in [
        (OK_COLOUR, 1.0, 2.0, "ok per second"),
        (ERROR_COLOUR, 1.0, 2.0, "errors per second"),
        (
            fault_colour("partition"),
            0.35,
            10.0,
            "fault window (colour by kind)",
        ),
    ] {
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}" stroke-opacity="{opacity}" stroke-width="{width}"/>"#,
            x + 18.0,
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}">{label}</text>"#,
            x + 22.0,
            y + 4.0
        );
        x += 30.0 + 6.5 * label.len() as f64;
    }
}

fn axes(svg: &mut String, layout: &Layout, y_step: u64) {
    let right = layout.left + layout.plot_width;
    let (top, bottom, left) = (layout.plot_top, layout.plot_bottom, layout.left);
    // Grid first, so the axes are drawn over the grid line at 0.
    for count in (0..=layout.y_max).step_by(y_step as usize) {
        let y = layout.y(count);
        let _ = writeln!(
            svg,
            r##"<line x1="{:.1}" y1="{y:.1}" x2="{right:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{count}</text>"##,
            left - 4.0,
            left - 6.0,
            y + 4.0,
        );
    }
    let _ = writeln!(
        svg,
        r##"<path d="M{left:.1},{top:.1} V{bottom:.1} H{right:.1}" fill="none" stroke="#333"/>"##
    );
    let x_step = tick_step(layout.span_s, 10);
    for second in (0..=layout.span_s).step_by(x_step as usize) {
        let x = layout.x(second as f64);
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{bottom:.1}" x2="{x:.1}" y2="{:.1}" stroke="#333"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{second}</text>"##,
            bottom + 4.0,
            bottom + 16.0,
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">seconds since the workload started</text>"#,
        left + layout.plot_width / 2.0,
        bottom + 34.0,
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">requests per second</text>"#,
        (top + bottom) / 2.0,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check;
    use crate::history::{FaultWindow, Operation, Outcome, RequestRecord};

    fn read(start_ms: u64, status: u16) -> RequestRecord {
        RequestRecord {
            start_ms,
            end_ms: start_ms + 20,
            operation: Operation::ReadProduct { product_id: 1 },
            outcome: Outcome::Status { status },
            order_id: None,
            price_cents: Some(100),
            order_status: None,
        }
    }

    /// Ten seconds, two overlapping faults (one with a name that needs escaping), requests
    /// every 250 ms, failing during the partition.
    fn run() -> History {
        History {
            seed: 42,
            duration_ms: 10_000,
            requests: (0..40)
                .map(|n| {
                    let start_ms = n * 250;
                    read(
                        start_ms,
                        if (3_000..5_500).contains(&start_ms) {
                            503
                        } else {
                            200
                        },
                    )
                })
                .collect(),
            faults: vec![
                FaultWindow::new(
                    "partition <host-a> & \"db\" | 'x'",
                    "partition",
                    3_000,
                    5_500,
                ),
                FaultWindow::new("latency 200ms host-b", "latency", 4_000, 9_000),
            ],
            ..History::default()
        }
    }

    /// Checks that every tag is closed in order and every `&` starts an entity: enough XML to
    /// catch a label written unescaped or an element left open.
    fn assert_well_formed(xml: &str) {
        let mut open: Vec<&str> = Vec::new();
        let mut rest = xml;
        while let Some(start) = rest.find('<') {
            let text = &rest[..start];
            assert!(!text.contains('>'), "stray '>' in text {text:?}");
            assert_entities(text);
            let end = rest[start..].find('>').expect("unclosed tag") + start;
            let tag = &rest[start + 1..end];
            assert!(!tag.contains('<'), "'<' inside tag {tag:?}");
            assert_entities(tag);
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open.pop(), Some(name), "closing {name} out of order");
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().expect("tag without a name");
                open.push(name);
            }
            rest = &rest[end + 1..];
        }
        assert!(open.is_empty(), "never closed: {open:?}");
        assert!(rest.trim().is_empty(), "text after the root: {rest:?}");
    }

    fn assert_entities(text: &str) {
        for (at, _) in text.match_indices('&') {
            let entity = &text[at..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                    .iter()
                    .any(|known| entity.starts_with(known)),
                "bare '&' in {text:?}"
            );
        }
    }

    #[test]
    fn the_svg_is_well_formed_with_one_band_per_fault() {
        let history = run();
        let svg = timeline_svg(&history, &check(&history));
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<svg").count(), 1);
        assert_eq!(svg.matches("<rect").count(), history.faults.len());
        assert_eq!(
            svg.matches("<rect class=\"fault\"").count(),
            history.faults.len()
        );
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_well_formed(&svg);
    }

    #[test]
    fn the_svg_escapes_fault_labels() {
        let history = run();
        let svg = timeline_svg(&history, &check(&history));
        assert!(
            svg.contains(">partition &lt;host-a&gt; &amp; &quot;db&quot; | &apos;x&apos;</text>")
        );
        assert!(!svg.contains("<host-a>"));
    }

    #[test]
    fn the_svg_of_a_run_without_faults_or_requests_is_well_formed() {
        let history = History {
            duration_ms: 0,
            ..History::default()
        };
        let svg = timeline_svg(&history, &check(&history));
        assert_eq!(svg.matches("<rect").count(), 0);
        assert_well_formed(&svg);
    }

    #[test]
    fn the_svg_plots_each_second_at_its_middle() {
        let history = run();
        let findings = check(&history);
        let svg = timeline_svg(&history, &findings);
        let ok_line = svg
            .lines()
            .find(|line| line.starts_with("<polyline") && line.contains(OK_COLOUR))
            .expect("an ok line");
        // One point per second of the run.
        let points = ok_line
            .split("points=\"")
            .nth(1)
            .unwrap()
            .trim_end_matches("\"/>");
        assert_eq!(points.split(' ').count(), findings.timeline.len());
        assert_eq!(findings.timeline.len(), 10);
    }

    #[test]
    fn the_markdown_has_the_seed_the_faults_the_counts_and_every_window() {
        let history = run();
        let findings = check(&history);
        let report = markdown(&history, &findings, "Chaos run 42");
        assert!(report.starts_with("# Chaos run 42\n"));
        assert!(report.contains("Seed `42`, 10.0 s, 40 requests, 2 faults."));
        assert!(report.contains("**Safety violations: 0** (every promise kept)"));
        assert!(report.contains("](timeline.svg)"));
        assert!(
            report.contains(
                "| 1 | partition &lt;host-a&gt; & \"db\" \\| 'x' | partition | 3.0 | 5.5 |"
            )
        );
        assert!(report.contains("| 2 | latency 200ms host-b | latency | 4.0 | 9.0 |"));
        assert!(report.contains("| accepted orders lost | 0 |  |"));
        for row in &findings.availability {
            assert!(report.contains(&availability_row(row)), "{report}");
        }
        // The partition's window: 10 requests, all 503 within 20 ms.
        assert!(
            report.contains("| 10 | 0 | 10 | 0 | 100.0 % | 20 | 20 |"),
            "{report}"
        );
        assert!(report.contains("| whole run | all | 0.0 | 10.0 | 40 | 30 | 10 | 0 | 100.0 % |"));
    }

    #[test]
    fn the_markdown_says_when_promises_broke_and_shows_examples() {
        let mut history = run();
        history
            .final_state
            .products
            .push(crate::history::ProductState {
                id: 3,
                initial_stock: 10,
                remaining: -2,
                reserved: 12,
            });
        let report = markdown(&history, &check(&history), "run");
        assert!(
            report.contains("**Safety violations: 2** (PROMISES BROKEN)"),
            "{report}"
        );
        assert!(report.contains("| products oversold | 1 | product 3: stock 10, remaining -2"));
    }

    #[test]
    fn tick_steps_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(tick_step(1, 5), 1);
        assert_eq!(tick_step(7, 5), 2);
        assert_eq!(tick_step(23, 5), 5);
        assert_eq!(tick_step(60, 10), 10);
        assert_eq!(tick_step(120, 10), 20);
        assert_eq!(tick_step(1_000, 10), 100);
    }
}
