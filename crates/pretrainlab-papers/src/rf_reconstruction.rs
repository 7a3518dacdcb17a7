//! `rf-reconstruction`: Iurada, Bombari, Tommasi & Mondelli, "A Law of Data
//! Reconstruction for Random Features (and Beyond)" (arXiv 2509.22214).
//!
//! One experiment (`presets/rf-reconstruction.toml`): the attack of the
//! `rf-reconstruction` model along `ratio = p/(dn)` at four `(d, n)`, each point checked.
//! [`post`] draws under `paper/`, from the stored trials alone:
//! - `success_vs_ratio`: the success rate (± 1.96 binomial s.e.) against `p/(dn)`, one
//!   curve per `(d, n)`; the law predicts that they collapse, with the switch near 1;
//! - `distance_vs_ratio`: the mean reconstruction distance (± 1.96 s.e.) likewise;
//! - `local_dim_vs_p`: the mean local dimension of the zero-loss set at the truth against
//!   `p`, with the generic count `max(0, nd − p)` as lines;
//! - `curves.csv`: every plotted value.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use pretrainlab_experiment::PointResult;
use pretrainlab_report::{Figure, Series, Style};

use crate::{Context, Out, PaperError, Part, Preset};

pub fn preset() -> Preset {
    Preset {
        name: "rf-reconstruction",
        summary: "data reconstruction from random features (Iurada, Bombari, Tommasi & Mondelli, arXiv 2509.22214): success, distance and local dimension along p/(dn) at four (d, n), the law p > dn",
        parts: &[Part {
            folder: "",
            text: include_str!("../presets/rf-reconstruction.toml"),
        }],
        post: Some(post),
    }
}

fn post_error(message: impl Into<String>) -> PaperError {
    PaperError::Post(message.into())
}

/// The numeric label `key` of a point (`d`, `n`, `p`, `ratio`).
fn label(point: &PointResult, key: &str) -> Result<f64, PaperError> {
    point
        .labels
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.as_f64())
        .ok_or_else(|| post_error(format!("point `{}` has no label `{key}`", point.label)))
}

/// Mean and s.e. of `metric` over a point's trials.
fn summary(point: &PointResult, metric: &str) -> (f64, f64) {
    let values = point.trials.column(metric).unwrap_or_default();
    pretrainlab::stats::Summary::of(&values).map_or((f64::NAN, f64::NAN), |s| (s.mean, s.se))
}

/// One plotted row: `(d, n)`, `p`, ratio, and the three means with their s.e.
struct Row {
    d: f64,
    n: f64,
    p: f64,
    ratio: f64,
    values: [(f64, f64); 3],
}

const METRICS: [&str; 3] = ["success", "distance", "local_dim"];

fn rows(points: &[PointResult]) -> Result<Vec<Row>, PaperError> {
    points
        .iter()
        .map(|pt| {
            Ok(Row {
                d: label(pt, "d")?,
                n: label(pt, "n")?,
                p: label(pt, "p")?,
                ratio: label(pt, "ratio")?,
                values: METRICS.map(|m| summary(pt, m)),
            })
        })
        .collect()
}

/// The rows grouped by `(d, n)`, each group sorted by `p`.
fn groups(rows: &[Row]) -> BTreeMap<(u64, u64), Vec<&Row>> {
    let mut map: BTreeMap<(u64, u64), Vec<&Row>> = BTreeMap::new();
    for r in rows {
        map.entry((r.d as u64, r.n as u64)).or_default().push(r);
    }
    for g in map.values_mut() {
        g.sort_by(|a, b| a.p.total_cmp(&b.p));
    }
    map
}

fn panel(
    groups: &BTreeMap<(u64, u64), Vec<&Row>>,
    metric: usize,
    by_ratio: bool,
    title: &str,
) -> Figure {
    let mut series = Vec::new();
    for (&(d, n), g) in groups {
        let x: Vec<f64> = g
            .iter()
            .map(|r| if by_ratio { r.ratio } else { r.p })
            .collect();
        series.push(Series {
            label: format!("d = {d}, n = {n}"),
            x: x.clone(),
            y: g.iter().map(|r| r.values[metric].0).collect(),
            err: Some(g.iter().map(|r| 1.96 * r.values[metric].1).collect()),
            style: Style::Line,
        });
        if !by_ratio {
            series.push(Series {
                label: format!("max(0, nd − p), d = {d}, n = {n}"),
                x,
                y: g.iter().map(|r| (r.d * r.n - r.p).max(0.0)).collect(),
                err: None,
                style: Style::Points,
            });
        }
    }
    Figure {
        title: title.into(),
        x_label: if by_ratio { "p/(dn)" } else { "p" }.into(),
        y_label: METRICS[metric].into(),
        log_x: true,
        log_y: false,
        series,
    }
}

fn csv(rows: &[Row]) -> String {
    let mut out = String::from("d,n,p,ratio,metric,mean,se\n");
    for r in rows {
        for (m, (mean, se)) in METRICS.iter().zip(r.values) {
            let _ = writeln!(out, "{},{},{},{},{m},{mean},{se}", r.d, r.n, r.p, r.ratio);
        }
    }
    out
}

/// Writes the figures and the CSV under `paper/`.
pub fn post(ctx: &Context<'_>) -> Result<Vec<String>, PaperError> {
    let rows = rows(ctx.part("")?)?;
    let groups = groups(&rows);
    let mut out = Out::new(ctx.dir);
    out.figure(
        &panel(
            &groups,
            0,
            true,
            "Success rate against p/(dn): the law switches near 1",
        ),
        "success_vs_ratio",
    )?;
    out.figure(
        &panel(&groups, 1, true, "Reconstruction distance against p/(dn)"),
        "distance_vs_ratio",
    )?;
    out.figure(
        &panel(
            &groups,
            2,
            false,
            "Local dimension of the zero-loss set at the truth against p",
        ),
        "local_dim_vs_p",
    )?;
    out.text("curves.csv", &csv(&rows))?;
    Ok(out.files())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quick preset end to end: the three figures are drawn, and in `curves.csv` the
    /// measured local dimension (the rank of the Jacobian) equals the generic count
    /// `max(0, nd − p)` at every point (relu+tanh is a generic activation).
    #[test]
    fn the_quick_preset_draws_the_law() {
        let (dir, _, files) = crate::run_quick(&preset(), "rfr");
        for stem in ["success_vs_ratio", "distance_vs_ratio", "local_dim_vs_p"] {
            assert!(files.contains(&format!("paper/{stem}.svg")), "{files:?}");
        }
        let csv = std::fs::read_to_string(dir.join("paper/curves.csv")).unwrap();
        let mut checked = 0;
        for line in csv.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if f[4] == "local_dim" {
                let [d, n, p, mean]: [f64; 4] = [0, 1, 2, 5].map(|i| f[i].parse().unwrap());
                assert_eq!(mean, (d * n - p).max(0.0), "{line}");
                checked += 1;
            }
        }
        assert_eq!(checked, 8);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
