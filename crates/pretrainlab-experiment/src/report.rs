//! `report.html`: one self-contained page per experiment with the configuration, the
//! tables, the figures (inline, as base64 PNG) and the checks with their verdicts.
//!
//! After loading, a small script counts the figures that decoded and writes the count into
//! `<body data-figures-loaded="…">`, so a headless browser can confirm that the page
//! loads with its figures.

use std::fmt::Write;
use std::path::Path;

use crate::dynamics::DynPointResult;
use crate::spec::Experiment;
use crate::{PointResult, StoreError};

/// The HTML text of the report. Reads the PNG figures from `dir/figures`.
pub fn html(
    e: &Experiment,
    results: &[PointResult],
    manifest: &serde_json::Value,
    dir: &Path,
) -> Result<String, StoreError> {
    let verdicts: Vec<&str> = results
        .iter()
        .filter_map(|r| r.check.as_ref().map(|c| c.verdict.as_str()))
        .collect();
    let mut h = header(e, results.len(), &verdicts, manifest);
    h.push_str("<h2>Figures</h2>\n");
    for (name, caption) in [
        (
            "sweep",
            "Along the sweep: the theory curve, the paper's closed form where one exists, and \
             simulated means with ±2 s.e. bars.",
        ),
        (
            "cdf",
            "Empirical CDF of n(R − σ²) against the limit law σ² d_eff + ‖L(Z)‖²/α.",
        ),
        (
            "ks-map",
            "KS distance between the empirical law of n(R − σ²) and its limit law over the first two axes.",
        ),
    ] {
        figure(&mut h, dir, name, caption);
    }

    h.push_str("<h2>Points</h2>\n<table><tr><th>point</th><th>coordinates</th><th>m</th><th>n</th><th>α</th>");
    if e.actions.needs_theory() {
        h.push_str("<th>theory n(R−σ²)</th><th>paper</th><th>E‖L(Z)‖²</th>");
    }
    if e.actions.runs_trials() {
        h.push_str("<th>simulated n(R−σ²) ± s.e.</th><th>m·Rep ± s.e.</th><th>failed</th>");
    }
    if e.actions.check {
        h.push_str("<th>KS</th><th>verdict</th>");
    }
    h.push_str("</tr>\n");
    for r in results {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            r.index,
            esc(&r.label),
            r.m,
            r.n,
            num(r.alpha)
        );
        if let Some(p) = &r.prediction {
            let _ = write!(
                h,
                "<td>{}</td><td>{}</td><td>{}</td>",
                num(p.limit_mean),
                r.paper_limit_mean.map_or("—".into(), num),
                num(p.interaction_mean)
            );
        }
        if let Some(s) = &r.simulation {
            let _ = write!(
                h,
                "<td>{} ± {}</td><td>{} ± {}</td><td>{}</td>",
                num(s.scaled_excess.mean),
                num(s.scaled_excess.se),
                num(s.m_rep.mean),
                num(s.m_rep.se),
                s.failed
            );
        }
        if let Some(c) = &r.check {
            let _ = write!(
                h,
                "<td>{}</td><td class=\"{}\">{}</td>",
                num(c.ks_scaled_excess),
                esc(&c.verdict),
                esc(&c.verdict)
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");

    if results.iter().any(|r| r.check.is_some()) {
        h.push_str("<h2>Checks</h2>\n");
        for r in results {
            if let Some(c) = &r.check {
                let _ = writeln!(
                    h,
                    "<h3>Point {}: {} — <span class=\"{}\">{}</span></h3><ul>",
                    r.index,
                    esc(&r.label),
                    esc(&c.verdict),
                    esc(&c.verdict)
                );
                for reason in &c.reasons {
                    let _ = writeln!(h, "<li>{}</li>", esc(reason));
                }
                h.push_str("</ul>\n");
            }
        }
    }

    configuration(&mut h, manifest);
    Ok(h)
}

/// The page's head, title, description and the run's one-line summary (with the count of
/// passing checks among `verdicts`).
fn header(
    e: &Experiment,
    points: usize,
    verdicts: &[&str],
    manifest: &serde_json::Value,
) -> String {
    let mut h = String::new();
    let title = format!("pretrainlab — {}", e.name);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{}</title><style>{STYLE}</style></head><body data-figures-loaded=\"pending\">\n",
        esc(&title)
    );
    let _ = writeln!(h, "<h1>{}</h1>", esc(&title));
    if !e.description.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", esc(&e.description));
    }
    let passed = verdicts.iter().filter(|v| **v == "pass").count();
    let _ = writeln!(
        h,
        "<p>Model <b>{}</b>, {} point(s), {} {} per point, seed {}, pretrainlab {}. \
         Started {}, finished {}.{}</p>",
        esc(&e.model),
        points,
        e.trials,
        if e.dynamics { "seed(s)" } else { "trial(s)" },
        e.seed,
        esc(manifest["pretrainlab_version"].as_str().unwrap_or("")),
        esc(manifest["started"].as_str().unwrap_or("")),
        esc(manifest["finished"].as_str().unwrap_or("")),
        if verdicts.is_empty() {
            String::new()
        } else {
            format!(
                " Checks: <span class=\"{}\">{passed} of {} pass</span>.",
                if passed == verdicts.len() {
                    "pass"
                } else {
                    "fail"
                },
                verdicts.len()
            )
        }
    );

    h
}

/// Embeds `dir/figures/<name>.png` with its caption, where the figure exists.
fn figure(h: &mut String, dir: &Path, name: &str, caption: &str) {
    let path = dir.join("figures").join(format!("{name}.png"));
    if let Ok(png) = std::fs::read(&path) {
        let _ = writeln!(
            h,
            "<figure><img class=\"fig\" alt=\"{name}\" src=\"data:image/png;base64,{}\">\
             <figcaption>{}</figcaption></figure>",
            base64(&png),
            esc(caption)
        );
    }
}

/// The experiment file, the resolved configuration, the list of data files and the
/// closing script.
fn configuration(h: &mut String, manifest: &serde_json::Value) {
    h.push_str("<h2>Configuration</h2>\n<h3>Experiment file</h3>\n");
    let _ = writeln!(
        h,
        "<pre>{}</pre>",
        esc(manifest["source"].as_str().unwrap_or(""))
    );
    h.push_str("<h3>Resolved configuration</h3>\n");
    let _ = writeln!(
        h,
        "<pre>{}</pre>",
        esc(&serde_json::to_string_pretty(&manifest["config"]).unwrap_or_default())
    );
    h.push_str(
        "<p>Data: <code>trials.csv</code>/<code>trials.parquet</code> (one row per trial), \
         <code>points.csv</code>/<code>points.parquet</code> (one row per point), \
         <code>summary.json</code>, <code>manifest.json</code>.</p>\n",
    );
    let _ = writeln!(h, "<script>{SCRIPT}</script>\n</body></html>");
}

/// The report of a training-dynamics experiment: the sweep figure, a table of the points
/// (predicted quantity, simulated metric, verdict) and every point's criteria.
pub fn dyn_html(
    e: &Experiment,
    results: &[DynPointResult],
    manifest: &serde_json::Value,
    dir: &Path,
) -> Result<String, StoreError> {
    let verdicts: Vec<&str> = results.iter().filter_map(|r| r.verdict()).collect();
    let mut h = header(e, results.len(), &verdicts, manifest);
    let chosen = crate::dynamics::figure_metric(e, results);
    if let Some((metric, predicted)) = &chosen {
        h.push_str("<h2>Figures</h2>\n");
        figure(
            &mut h,
            dir,
            "sweep",
            &format!(
                "Along the sweep: simulated {metric} (mean with ±2 s.e. bars over seeds) and \
                 the predicted {predicted} where the theory gives it."
            ),
        );
    }
    h.push_str("<h2>Points</h2>\n<table><tr><th>point</th><th>coordinates</th>");
    if let Some((metric, predicted)) = &chosen {
        let _ = write!(
            h,
            "<th>predicted {}</th><th>{} ± s.e.</th><th>completed</th><th>failed</th>",
            esc(predicted),
            esc(metric)
        );
    }
    if e.actions.check {
        h.push_str("<th>criteria passed</th><th>verdict</th>");
    }
    h.push_str("</tr>\n");
    for r in results {
        let _ = write!(h, "<tr><td>{}</td><td>{}</td>", r.index, esc(&r.label));
        if let Some((metric, predicted)) = &chosen {
            let stat = r
                .simulation
                .as_ref()
                .and_then(|s| s.metrics.iter().find(|(k, _)| k == metric));
            let _ = write!(
                h,
                "<td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
                r.prediction
                    .as_ref()
                    .and_then(|p| p.quantities.iter().find(|(k, _)| k == predicted))
                    .map_or("—".into(), |(_, v)| num(*v)),
                stat.map_or("—".into(), |(_, s)| format!(
                    "{} ± {}",
                    num(s.mean),
                    num(s.se)
                )),
                r.simulation.as_ref().map_or(0, |s| s.completed),
                r.simulation.as_ref().map_or(0, |s| s.failed)
            );
        }
        if let Some(v) = r.verdict() {
            let _ = write!(
                h,
                "<td>{} of {}</td><td class=\"{v}\">{v}</td>",
                r.criteria.iter().filter(|c| c.pass).count(),
                r.criteria.len()
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    if e.actions.check {
        h.push_str("<h2>Checks</h2>\n");
        for r in results {
            let v = r.verdict().unwrap_or_default();
            let _ = writeln!(
                h,
                "<h3>Point {}: {} — <span class=\"{v}\">{v}</span></h3>\n<table><tr><th>criterion</th>\
                 <th>statement</th><th>predicted</th><th>measured</th><th>s.e.</th><th>result</th></tr>",
                r.index,
                esc(&r.label)
            );
            for c in &r.criteria {
                let result = if c.pass { "pass" } else { "fail" };
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td style=\"text-align:left\">{}</td><td>{}</td><td>{}</td>\
                     <td>{}</td><td class=\"{result}\">{result}</td></tr>",
                    esc(&c.name),
                    esc(&c.statement),
                    c.predicted.map_or("—".into(), num),
                    num(c.measured),
                    c.se.map_or("—".into(), num)
                );
            }
            h.push_str("</table>\n");
        }
    }
    if let Some(first) = results.iter().find_map(|r| r.prediction.as_ref()) {
        let _ = writeln!(
            h,
            "<p>Predicted quantities per point are in <code>points.csv</code> \
             (<code>predicted_*</code>; {} of them).</p>",
            first.quantities.len()
        );
    }
    configuration(&mut h, manifest);
    Ok(h)
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
th{background:#f3f3f3}pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:13px}\
img.fig{max-width:100%;border:1px solid #ddd}.pass{color:#1a7f37;font-weight:bold}.fail{color:#c62828;font-weight:bold}";

const SCRIPT: &str = "window.addEventListener('load',function(){var imgs=document.querySelectorAll('img.fig');\
var ok=0;imgs.forEach(function(i){if(i.complete&&i.naturalWidth>0){ok++;}});\
document.body.setAttribute('data-figures-loaded',ok+'/'+imgs.length);});";

fn num(x: f64) -> String {
    pretrainlab_report::format_number(x)
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(esc("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}
