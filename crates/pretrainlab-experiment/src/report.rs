//! `report.html`: one self-contained page per experiment with the configuration, the
//! tables, the figures (inline, as base64 PNG) and the checks with their verdicts.
//!
//! After loading, a small script counts the figures that decoded and writes the count into
//! `<body data-figures-loaded="…">`, so a headless browser can confirm that the page
//! loads with its figures.

use std::fmt::Write;
use std::path::Path;

use crate::spec::Experiment;
use crate::{PointResult, StoreError};

/// The HTML text of the report. Reads the PNG figures from `dir/figures`.
pub fn html(
    e: &Experiment,
    results: &[PointResult],
    manifest: &serde_json::Value,
    dir: &Path,
) -> Result<String, StoreError> {
    let verdicts: Vec<&str> = results.iter().filter_map(|r| r.verdict()).collect();
    let mut h = header(e, results.len(), &verdicts, manifest);
    let metrics = crate::figures::figure_metrics(e, results)?;
    h.push_str("<h2>Figures</h2>\n");
    let names: Vec<&str> = metrics.iter().map(|(m, _)| m.as_str()).collect();
    for (name, caption) in [
        (
            "sweep",
            format!(
                "Along the sweep, for {}: the prediction, reference values (a paper's closed \
                 form) where the theory names them, and simulated means with ±2 s.e. bars.",
                names.join(", ")
            ),
        ),
        (
            "cdf",
            "Empirical CDF of each metric with a predicted limit law, against that law.".into(),
        ),
        (
            "ks-map",
            "KS distance of the first predicted law over the first two axes.".into(),
        ),
    ] {
        figure(&mut h, dir, name, &caption);
    }

    h.push_str("<h2>Points</h2>\n<table><tr><th>point</th><th>coordinates</th>");
    let labels: Vec<String> = results
        .first()
        .map(|r| r.labels.iter().map(|(k, _)| k.clone()).collect())
        .unwrap_or_default();
    for l in &labels {
        let _ = write!(h, "<th>{}</th>", esc(l));
    }
    for (m, predicted) in &metrics {
        if e.actions.needs_theory() {
            let what = predicted
                .clone()
                .unwrap_or_else(|| format!("predicted {m}"));
            let _ = write!(h, "<th>{}</th>", esc(&what));
        }
        if e.actions.runs_trials() {
            let _ = write!(h, "<th>{} ± s.e.</th>", esc(m));
        }
    }
    if e.actions.runs_trials() {
        h.push_str("<th>completed</th><th>failed</th>");
    }
    if e.actions.check {
        h.push_str("<th>criteria passed</th><th>verdict</th>");
    }
    h.push_str("</tr>\n");
    for r in results {
        let _ = write!(h, "<tr><td>{}</td><td>{}</td>", r.index, esc(&r.label));
        for l in &labels {
            let v = r.labels.iter().find(|(k, _)| k == l).map(|(_, v)| match v {
                serde_json::Value::Number(x) => x.as_f64().map_or(x.to_string(), num),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let _ = write!(h, "<td>{}</td>", esc(&v.unwrap_or_default()));
        }
        for (m, predicted) in &metrics {
            if e.actions.needs_theory() {
                let p = r.predicted();
                let v = match predicted {
                    Some(q) => p.and_then(|p| p.quantity(q)),
                    None => p.and_then(|p| p.mean(m).map(|x| x.value)),
                };
                let _ = write!(h, "<td>{}</td>", v.map_or("—".into(), num));
            }
            if e.actions.runs_trials() {
                let s = r.simulated().and_then(|s| s.metric(m));
                let _ = write!(
                    h,
                    "<td>{}</td>",
                    s.map_or("—".into(), |s| format!("{} ± {}", num(s.mean), num(s.se)))
                );
            }
        }
        if let Some(s) = r.simulated() {
            let _ = write!(h, "<td>{}</td><td>{}</td>", s.completed, s.failed);
        }
        if let (Some(c), Some(v)) = (&r.check, r.verdict()) {
            let _ = write!(
                h,
                "<td>{} of {}</td><td class=\"{v}\">{v}</td>",
                c.criteria.iter().filter(|c| c.pass).count(),
                c.criteria.len()
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    if e.actions.check {
        h.push_str("<h2>Checks</h2>\n");
        for r in results {
            let (Some(c), Some(v)) = (&r.check, r.verdict()) else {
                continue;
            };
            let _ = writeln!(
                h,
                "<h3>Point {}: {} — <span class=\"{v}\">{v}</span></h3>\n<table><tr><th>criterion</th>\
                 <th>statement</th><th>predicted</th><th>measured</th><th>s.e.</th><th>result</th></tr>",
                r.index,
                esc(&r.label)
            );
            for c in &c.criteria {
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
    if let Some(first) = results.iter().find_map(|r| r.predicted()) {
        let _ = writeln!(
            h,
            "<p>Every predicted quantity ({} of them), predicted mean and reference value per \
             point is in <code>points.csv</code>.</p>",
            first.quantities.len()
        );
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
        "<p>Model <b>{}</b>, {} point(s), {} trial(s) per point, seed {}, pretrainlab {}. \
         Started {}, finished {}.{}</p>",
        esc(&e.model),
        points,
        e.trials,
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
pub fn esc(s: &str) -> String {
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
