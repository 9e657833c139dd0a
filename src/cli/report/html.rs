//! The report as one self-contained HTML file: CSS and SVG inline, written
//! directly (a chart is a few paths; no plotting crate is needed for that,
//! and none fetches nothing), no script. Every drawn series, annotation and
//! selection bar carries data attributes with its numbers, so that a
//! browser's DOM can be checked against the engine's own figures.

use std::fmt::Write;

use super::model::{Model, Note, Selection, downsample, percentile};

/// Points a series keeps at most (min and max per bucket beyond).
pub const MAX_POINTS: usize = 1200;

const W: f64 = 900.0;
const H: f64 = 220.0;
const PAD_L: f64 = 70.0;
const PAD_R: f64 = 10.0;
const PAD_T: f64 = 10.0;
const PAD_B: f64 = 28.0;
const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One chart: several named series over the report's time span, with the
/// notes as vertical marks. `scale` turns values into the unit shown.
fn chart(
    out: &mut String,
    id: &str,
    title: &str,
    unit: &str,
    span: (f64, f64),
    series: &[(String, Vec<(f64, f64)>)],
    notes: &[Note],
) {
    let vals: Vec<f64> = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|x| x.1))
        .filter(|v| v.is_finite())
        .collect();
    let (mut lo, mut hi) = vals
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        lo -= 0.5;
        hi += 0.5;
    }
    let x = |t: f64| PAD_L + (t - span.0) / (span.1 - span.0) * (W - PAD_L - PAD_R);
    let y = |v: f64| PAD_T + (hi - v) / (hi - lo) * (H - PAD_T - PAD_B);
    let _ = writeln!(
        out,
        "<figure class=\"chart\" id=\"{id}\"><figcaption>{}</figcaption>\
         <svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\" preserveAspectRatio=\"none\">",
        esc(title),
        esc(title)
    );
    // Axes and three labelled grid lines.
    for i in 0..=2 {
        let v = lo + (hi - lo) * f64::from(i) / 2.0;
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{PAD_L}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\">{} {unit}</text>",
            W - PAD_R,
            y(v),
            y(v),
            PAD_L - 4.0,
            y(v) + 4.0,
            fmt_num(v)
        );
    }
    let _ = writeln!(
        out,
        "<text class=\"tick\" x=\"{PAD_L}\" y=\"{:.1}\">+{:.0} s</text><text class=\"tick end\" x=\"{:.1}\" y=\"{:.1}\">+{:.0} s</text>",
        H - 8.0,
        span.0,
        W - PAD_R,
        H - 8.0,
        span.1
    );
    for n in notes {
        if n.t < span.0 || n.t > span.1 {
            continue;
        }
        let _ = writeln!(
            out,
            "<line class=\"note\" data-cause=\"{}\" data-t=\"{}\" x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{PAD_T}\" y2=\"{:.1}\"><title>+{:.1} s [{}] {}</title></line>",
            esc(&n.cause),
            n.t,
            x(n.t),
            x(n.t),
            H - PAD_B,
            n.t,
            esc(&n.cause),
            esc(&n.text)
        );
    }
    for (i, (name, pts)) in series.iter().enumerate() {
        let pts: Vec<(f64, f64)> = pts.iter().copied().filter(|p| p.1.is_finite()).collect();
        let d = downsample(&pts, MAX_POINTS);
        let mut path = String::new();
        for (j, (t, v)) in d.iter().enumerate() {
            let _ = write!(
                path,
                "{}{:.1},{:.1}",
                if j == 0 { "M" } else { "L" },
                x(*t),
                y(*v)
            );
        }
        let _ = writeln!(
            out,
            "<path class=\"series\" data-series=\"{id}:{}\" data-points=\"{}\" data-kept=\"{}\" stroke=\"{}\" d=\"{path}\"><title>{}</title></path>",
            esc(name),
            pts.len(),
            d.len(),
            COLORS[i % COLORS.len()],
            esc(name)
        );
    }
    let _ = writeln!(out, "</svg><div class=\"legend\">");
    for (i, (name, _)) in series.iter().enumerate() {
        let _ = write!(
            out,
            "<span><i style=\"background:{}\"></i>{}</span>",
            COLORS[i % COLORS.len()],
            esc(name)
        );
    }
    let _ = writeln!(out, "</div></figure>");
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Each source's reach as a strip: one cell per snapshot, filled when its
/// newest poll gave a usable reply.
fn reach_strips(out: &mut String, m: &Model, span: (f64, f64)) {
    let _ = writeln!(
        out,
        "<figure class=\"chart\" id=\"reach\"><figcaption>Reach: a filled cell is a poll with a usable reply</figcaption>"
    );
    let rows = m.sources.len().max(1) as f64;
    let h = 16.0 * rows + 8.0;
    let _ = writeln!(
        out,
        "<svg viewBox=\"0 0 {W} {h}\" preserveAspectRatio=\"none\">"
    );
    let x = |t: f64| PAD_L + (t - span.0) / (span.1 - span.0) * (W - PAD_L - PAD_R);
    for (r, (name, pts)) in m.sources.iter().enumerate() {
        let yy = 4.0 + 16.0 * r as f64;
        let _ = writeln!(
            out,
            "<g class=\"reach\" data-source=\"{}\"><text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            esc(name),
            PAD_L - 4.0,
            yy + 11.0,
            esc(name)
        );
        let cells = downsample_flags(pts.iter().map(|p| (p.t, p.usable)).collect(), 600);
        let wcell = ((W - PAD_L - PAD_R) / cells.len().max(1) as f64).max(1.0);
        for (t, ok) in cells {
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{yy:.1}\" width=\"{wcell:.1}\" height=\"12\" class=\"{}\"/>",
                x(t),
                if ok { "on" } else { "off" }
            );
        }
        let _ = writeln!(out, "</g>");
    }
    let _ = writeln!(out, "</svg></figure>");
}

/// At most `max` cells; a cell of many snapshots is off if any is off.
fn downsample_flags(v: Vec<(f64, bool)>, max: usize) -> Vec<(f64, bool)> {
    if v.len() <= max {
        return v;
    }
    let per = v.len().div_ceil(max);
    v.chunks(per)
        .map(|c| (c[0].0, c.iter().all(|x| x.1)))
        .collect()
}

/// The selection picture: each source's interval as a bar, the
/// intersection as a band; bars outside it are marked.
fn selection(out: &mut String, i: usize, s: &Selection) {
    let lo = s
        .bars
        .iter()
        .map(|b| b.lo)
        .chain(s.interval.map(|x| x.0))
        .fold(f64::INFINITY, f64::min);
    let hi = s
        .bars
        .iter()
        .map(|b| b.hi)
        .chain(s.interval.map(|x| x.1))
        .fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (-1.0, 1.0)
    };
    let h = 24.0 * s.bars.len().max(1) as f64 + 30.0;
    let x = |v: f64| PAD_L + 60.0 + (v - lo) / (hi - lo) * (W - PAD_L - 60.0 - PAD_R);
    let _ = writeln!(
        out,
        "<figure class=\"chart selection\" id=\"selection-{i}\" data-t=\"{}\"><figcaption>Selection at +{:.1} s: {}</figcaption>\
         <svg viewBox=\"0 0 {W} {h}\" preserveAspectRatio=\"none\">",
        s.t,
        s.t,
        esc(&s.why)
    );
    if let Some((a, b)) = s.interval {
        let _ = writeln!(
            out,
            "<rect class=\"intersection\" data-lo=\"{a:e}\" data-hi=\"{b:e}\" x=\"{:.1}\" y=\"0\" width=\"{:.1}\" height=\"{h}\"><title>intersection {} … {} ms</title></rect>",
            x(a),
            (x(b) - x(a)).max(1.0),
            fmt_num(a * 1e3),
            fmt_num(b * 1e3)
        );
    }
    for (r, b) in s.bars.iter().enumerate() {
        let yy = 6.0 + 24.0 * r as f64;
        let outside = s.interval.is_none_or(|(a, c)| b.hi < a || b.lo > c);
        let _ = writeln!(
            out,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\">{} {}</text>\
             <rect class=\"bar{}\" data-source=\"{}\" data-lo=\"{:e}\" data-hi=\"{:e}\" data-cause=\"{}\" x=\"{:.1}\" y=\"{yy:.1}\" width=\"{:.1}\" height=\"14\"><title>{}: {} … {} ms [{}]</title></rect>",
            PAD_L + 56.0,
            yy + 11.0,
            esc(&b.tally),
            esc(&b.source),
            if outside { " outside" } else { "" },
            esc(&b.source),
            b.lo,
            b.hi,
            esc(&b.cause),
            x(b.lo),
            (x(b.hi) - x(b.lo)).max(1.0),
            esc(&b.source),
            fmt_num(b.lo * 1e3),
            fmt_num(b.hi * 1e3),
            esc(&b.cause)
        );
    }
    let _ = writeln!(
        out,
        "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\">{} ms</text><text class=\"tick end\" x=\"{:.1}\" y=\"{:.1}\">{} ms</text></svg></figure>",
        PAD_L + 60.0,
        h - 4.0,
        fmt_num(lo * 1e3),
        W - PAD_R,
        h - 4.0,
        fmt_num(hi * 1e3)
    );
}

/// ntpviz's summary: percentiles of each source's offset and their ranges.
fn stats(out: &mut String, m: &Model) {
    let _ = writeln!(
        out,
        "<table class=\"stats\"><caption>Offset percentiles (ms), as ntpviz gives them</caption>\
         <tr><th>source</th><th>samples</th><th>1%</th><th>5%</th><th>50%</th><th>95%</th><th>99%</th><th>90% range</th><th>98% range</th><th>mean</th></tr>"
    );
    for (name, pts) in &m.sources {
        let mut v: Vec<f64> = pts
            .iter()
            .map(|p| p.offset * 1e3)
            .filter(|x| x.is_finite())
            .collect();
        v.sort_by(f64::total_cmp);
        let p = |q| percentile(&v, q);
        let mean = if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        };
        let _ = writeln!(
            out,
            "<tr data-source=\"{}\"><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td></tr>",
            esc(name),
            esc(name),
            v.len(),
            p(1.0),
            p(5.0),
            p(50.0),
            p(95.0),
            p(99.0),
            p(95.0) - p(5.0),
            p(99.0) - p(1.0),
            mean
        );
    }
    let _ = writeln!(out, "</table>");
}

fn notes_list(out: &mut String, title: &str, id: &str, notes: &[Note]) {
    if notes.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<section id=\"{id}\"><h2>{}</h2><ol class=\"notes\">",
        esc(title)
    );
    for n in notes {
        let _ = writeln!(
            out,
            "<li class=\"annotation\" data-cause=\"{}\" data-t=\"{}\"><b>{}</b> <code>{}</code> {}{}</li>",
            esc(&n.cause),
            n.t,
            if n.t.is_finite() {
                format!("+{:.1} s", n.t)
            } else {
                String::new()
            },
            esc(&n.cause),
            esc(&n.text),
            n.fix
                .as_ref()
                .map(|f| format!("<br><small>fix: {}</small>", esc(f)))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "</ol></section>");
}

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1em auto;max-width:960px;padding:0 .5em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}\
figure.chart{margin:1em 0}figcaption{font-weight:600;margin-bottom:.2em}\
svg{width:100%;height:auto;background:#fafafa;border:1px solid #ddd}\
.series{fill:none;stroke-width:1.5}.grid{stroke:#e3e3e3}.note{stroke:#999;stroke-dasharray:3 3}\
.tick{font-size:11px;fill:#555;text-anchor:end}.tick.end{text-anchor:end}\
.reach .on{fill:#2ca02c}.reach .off{fill:#ddd}\
.bar{fill:#1f77b4;opacity:.8}.bar.outside{fill:#d62728}.intersection{fill:#2ca02c;opacity:.18}\
.legend span{margin-right:1em;white-space:nowrap}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}\
table.stats{border-collapse:collapse;width:100%;font-size:12px}table.stats td,table.stats th{border:1px solid #ddd;padding:2px 4px;text-align:right}\
table.stats td:first-child{text-align:left}.notes{padding-left:1.2em}.notes li{margin:.3em 0}\
@media (max-width:600px){body{font-size:13px}.tick{font-size:14px}}\
@media print{body{max-width:none}figure.chart{break-inside:avoid}svg{border:none}}";

/// The whole page.
pub fn page(m: &Model) -> String {
    let mut out = String::new();
    let span = m.span();
    let _ = writeln!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>ntpdiag report</title><style>{CSS}</style></head><body><h1>ntpdiag report</h1>"
    );
    let _ = writeln!(
        out,
        "<p class=\"inputs\">Read: {}.</p>",
        m.inputs
            .iter()
            .map(|(n, c)| format!("{} ({c})", esc(n)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !m.system.is_empty() || !m.sources.is_empty() {
        let per = |f: &dyn Fn(&super::model::Point) -> f64| -> Vec<(String, Vec<(f64, f64)>)> {
            m.sources
                .iter()
                .map(|(n, p)| (n.clone(), p.iter().map(|x| (x.t, f(x))).collect()))
                .collect()
        };
        chart(
            &mut out,
            "system-offset",
            "System offset (the combined offset a daemon would steer by)",
            "ms",
            span,
            &[(
                "system".to_string(),
                m.system.iter().map(|s| (s.0, s.1 * 1e3)).collect(),
            )],
            &m.notes,
        );
        chart(
            &mut out,
            "offset",
            "Offset per source",
            "ms",
            span,
            &per(&|p| p.offset * 1e3),
            &m.notes,
        );
        reach_strips(&mut out, m, span);
        if !m.freq.is_empty() {
            chart(
                &mut out,
                "frequency",
                "System frequency correction",
                "ppm",
                span,
                &[("frequency".to_string(), m.freq.clone())],
                &m.notes,
            );
        }
        chart(
            &mut out,
            "delay",
            "Delay per source",
            "ms",
            span,
            &per(&|p| p.delay * 1e3),
            &m.notes,
        );
        chart(
            &mut out,
            "jitter",
            "Jitter per source",
            "ms",
            span,
            &per(&|p| p.jitter * 1e3),
            &m.notes,
        );
        chart(
            &mut out,
            "poll",
            "Poll interval per source",
            "s",
            span,
            &per(&|p| p.poll),
            &m.notes,
        );
        let _ = writeln!(
            out,
            "<h2>The selection: why a source is used or left out</h2>\
            <p>Each bar is a source's correctness interval (offset ± root distance); the green band is the intersection the selection found. A red bar falls outside it.</p>"
        );
        for (i, s) in m.pictures().iter().enumerate() {
            selection(&mut out, i, s);
        }
        stats(&mut out, m);
    }
    notes_list(&mut out, "Events and verdicts", "events", &m.notes);
    notes_list(
        &mut out,
        "Verdicts (not on the timeline)",
        "verdicts",
        &m.verdicts,
    );
    let _ = writeln!(out, "</body></html>");
    out
}
