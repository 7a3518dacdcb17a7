//! The figures of an experiment, for any model.
//!
//! - `sweep`: along the first numeric axis, one panel per figure metric (the file's
//!   `metric`, else every metric with a decisive predicted mean, else the first metric):
//!   the predicted mean (or the file's `predicted` quantity), the reference values that
//!   claim to predict it (a paper's closed form), and the simulated means with ±2 s.e.
//!   bars; one set of series per combination of the other axes. Along an axis named
//!   `alpha` the simulated means are also fitted by `a + b/α`, with R² in the legend.
//!   Geometric axes are drawn on a log scale.
//! - `cdf`: for a check, the empirical CDF of each metric that has a predicted limit law
//!   against that law's CDF, at the first, middle and last checked points.
//! - `ks-map`: for a checked product sweep over two axes, a heatmap of the KS distance of
//!   the first predicted law.

use std::path::Path;

use pretrainlab_report::{Figure, Heatmap, Series, Style, write_heatmap, write_panels};

use crate::spec::{Experiment, value_text};
use crate::{PointResult, StoreError};

/// Writes every figure that applies into `dir`; returns the paths relative to the
/// experiment folder (`figures/<name>.svg` and `.png`).
pub fn write_all(
    e: &Experiment,
    results: &[PointResult],
    dir: &Path,
) -> Result<Vec<String>, StoreError> {
    let mut files = Vec::new();
    if let Some(panels) = sweep_figures(e, results)? {
        write_panels(&panels, &dir.join("sweep"))?;
        files.extend(["figures/sweep.svg".into(), "figures/sweep.png".into()]);
    }
    if let Some(panels) = cdf_figures(results) {
        write_panels(&panels, &dir.join("cdf"))?;
        files.extend(["figures/cdf.svg".into(), "figures/cdf.png".into()]);
    }
    if let Some(map) = ks_map(e, results) {
        write_heatmap(&map, &dir.join("ks-map"))?;
        files.extend(["figures/ks-map.svg".into(), "figures/ks-map.png".into()]);
    }
    Ok(files)
}

/// The metrics the sweep figure shows, each with the predicted quantity drawn against it
/// (`None`: the metric's predicted mean). A `metric` or `predicted` the model does not
/// have is an error naming those it has.
pub fn figure_metrics(
    e: &Experiment,
    results: &[PointResult],
) -> Result<Vec<(String, Option<String>)>, StoreError> {
    let Some(first) = results.first() else {
        return Ok(Vec::new());
    };
    let known: Vec<String> = first.metrics.iter().map(|m| m.name.clone()).collect();
    if let Some(metric) = &e.metric {
        if !known.contains(metric) {
            return Err(StoreError::UnknownName {
                key: "metric",
                name: metric.clone(),
                model: e.model.clone(),
                what: "metric",
                known,
            });
        }
        if let (Some(name), Some(p)) = (&e.predicted, first.predicted()) {
            let quantities: Vec<String> = p.quantities.iter().map(|q| q.name.clone()).collect();
            if !quantities.contains(name) {
                return Err(StoreError::UnknownName {
                    key: "predicted",
                    name: name.clone(),
                    model: e.model.clone(),
                    what: "predicted quantity",
                    known: quantities,
                });
            }
        }
        return Ok(vec![(metric.clone(), e.predicted.clone())]);
    }
    let decisive: Vec<(String, Option<String>)> = first
        .predicted()
        .map(|p| {
            p.means
                .iter()
                .filter(|m| m.decisive)
                .map(|m| (m.metric.clone(), None))
                .collect()
        })
        .unwrap_or_default();
    if !decisive.is_empty() {
        return Ok(decisive);
    }
    Ok(known
        .first()
        .map(|m| vec![(m.clone(), e.predicted.clone())])
        .unwrap_or_default())
}

/// For a checked product sweep over two or more axes: the KS distance of the first
/// predicted law over the first two axes (further axes at their first value). Columns are
/// the first axis, rows the second.
fn ks_map(e: &Experiment, results: &[PointResult]) -> Option<Heatmap> {
    if e.combine != crate::spec::Combine::Product || !e.actions.check || e.axes.len() < 2 {
        return None;
    }
    let (a, b) = (&e.axes[0], &e.axes[1]);
    if a.values.len() < 2 || b.values.len() < 2 {
        return None;
    }
    let metric = results
        .iter()
        .find_map(|r| r.check.as_ref().and_then(|c| c.laws.first()))?
        .metric
        .clone();
    let at = |i: usize, j: usize| {
        results.iter().find(|r| {
            r.coords[0].1 == a.values[i]
                && r.coords[1].1 == b.values[j]
                && r.coords[2..]
                    .iter()
                    .zip(&e.axes[2..])
                    .all(|((_, v), axis)| *v == axis.values[0])
        })
    };
    let values = (0..b.values.len())
        .map(|j| {
            (0..a.values.len())
                .map(|i| {
                    at(i, j)
                        .and_then(|r| r.check.as_ref())
                        .and_then(|c| c.laws.iter().find(|l| l.metric == metric))
                        .map_or(f64::NAN, |l| l.ks)
                })
                .collect()
        })
        .collect();
    let span = |axis: &crate::spec::Axis| {
        let first = axis.values.first().map(value_text).unwrap_or_default();
        let last = axis.values.last().map(value_text).unwrap_or_default();
        format!(
            "{}: column i ↦ value i of {first} … {last} ({} values)",
            axis.name,
            axis.values.len()
        )
    };
    Some(Heatmap {
        title: format!("KS distance of {metric} to its limit law"),
        x_label: span(a),
        y_label: span(b).replace("column", "row"),
        values,
    })
}

/// The axis label of a sweep axis in the paper's notation.
pub fn axis_label(name: &str) -> String {
    match name {
        "alpha" => "α = m/n".into(),
        "m" => "m (pre-training samples)".into(),
        "n" => "n (downstream samples)".into(),
        "noise_var" => "σ² (downstream noise variance)".into(),
        other => other.to_string(),
    }
}

/// The index of the first axis with at least two distinct numeric values.
pub(crate) fn x_axis(e: &Experiment) -> Option<usize> {
    e.axes.iter().position(|a| {
        let nums: Vec<f64> = a.values.iter().filter_map(number).collect();
        nums.len() == a.values.len() && nums.windows(2).any(|w| w[0] != w[1])
    })
}

pub(crate) fn number(v: &toml::Value) -> Option<f64> {
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

/// Least-squares fit of `y = a + b/x`; returns `(a, b, R²)`.
pub fn fit_inverse(x: &[f64], y: &[f64]) -> Option<(f64, f64, f64)> {
    let pts: Vec<(f64, f64)> = x
        .iter()
        .zip(y)
        .filter(|(x, y)| x.is_finite() && **x != 0.0 && y.is_finite())
        .map(|(x, y)| (1.0 / x, *y))
        .collect();
    if pts.len() < 3 {
        return None;
    }
    let k = pts.len() as f64;
    let (mu, mv) = (
        pts.iter().map(|p| p.0).sum::<f64>() / k,
        pts.iter().map(|p| p.1).sum::<f64>() / k,
    );
    let sxx: f64 = pts.iter().map(|p| (p.0 - mu).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mu) * (p.1 - mv)).sum();
    let syy: f64 = pts.iter().map(|p| (p.1 - mv).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let b = sxy / sxx;
    let a = mv - b * mu;
    let ss_res: f64 = pts.iter().map(|p| (p.1 - a - b * p.0).powi(2)).sum();
    let r2 = if syy > 0.0 { 1.0 - ss_res / syy } else { 1.0 };
    Some((a, b, r2))
}

/// The sweep panels, or `None` when there is no numeric axis to sweep along.
fn sweep_figures(
    e: &Experiment,
    results: &[PointResult],
) -> Result<Option<Vec<Figure>>, StoreError> {
    let Some(xa) = x_axis(e) else {
        return Ok(None);
    };
    let metrics = figure_metrics(e, results)?;
    if metrics.is_empty() {
        return Ok(None);
    }
    let axis = &e.axes[xa];
    let log_x = axis.geometric() && axis.values.iter().filter_map(number).all(|v| v > 0.0);
    // Group the points by the other axes' values (in a zip all axes move together: one group).
    let mut groups: Vec<(String, Vec<&PointResult>)> = Vec::new();
    if e.combine == crate::spec::Combine::Zip {
        groups.push((String::new(), results.iter().collect()));
    } else {
        for r in results {
            let key: Vec<String> = r
                .coords
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != xa)
                .map(|(_, (k, v))| format!("{k}={}", value_text(v)))
                .collect();
            let key = key.join(", ");
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, g)) => g.push(r),
                None => groups.push((key, vec![r])),
            }
        }
    }
    let x_of = |r: &PointResult| number(&r.coords[xa].1).unwrap_or(f64::NAN);
    let x_label = axis_label(&axis.name);
    let mut panels = Vec::new();
    for (metric, predicted) in &metrics {
        let mut series = Vec::new();
        for (key, group) in &groups {
            let sfx = if key.is_empty() {
                String::new()
            } else {
                format!(" [{key}]")
            };
            let x: Vec<f64> = group.iter().map(|r| x_of(r)).collect();
            let line = |label: String, y: Vec<f64>| Series {
                label,
                x: x.clone(),
                y,
                err: None,
                style: Style::Line,
            };
            if group.iter().any(|r| r.predicted().is_some()) {
                let theory: Vec<f64> = group
                    .iter()
                    .map(|r| {
                        let p = r.predicted();
                        match predicted {
                            Some(q) => p.and_then(|p| p.quantity(q)),
                            None => p
                                .and_then(|p| p.mean(metric).map(|m| m.value))
                                .or_else(|| p.and_then(|p| p.quantity(metric))),
                        }
                        .unwrap_or(f64::NAN)
                    })
                    .collect();
                if theory.iter().any(|y| y.is_finite()) {
                    let what = predicted.as_deref().unwrap_or("predicted mean");
                    series.push(line(format!("theory: {what}{sfx}"), theory));
                }
                let refs = union_refs(group, metric);
                for (k, label) in refs {
                    let y = group
                        .iter()
                        .map(|r| {
                            r.predicted()
                                .and_then(|p| p.references.iter().find(|x| x.key == k))
                                .map_or(f64::NAN, |x| x.value)
                        })
                        .collect();
                    series.push(line(format!("{label}{sfx}"), y));
                }
            }
            if e.actions.runs_trials() {
                let stat: Vec<(f64, f64)> = group
                    .iter()
                    .map(|r| {
                        r.simulated()
                            .and_then(|s| s.metric(metric))
                            .map_or((f64::NAN, f64::NAN), |s| (s.mean, s.se))
                    })
                    .collect();
                let y: Vec<f64> = stat.iter().map(|s| s.0).collect();
                series.push(Series {
                    label: format!("simulated mean ± 2 s.e.{sfx}"),
                    x: x.clone(),
                    y: y.clone(),
                    err: Some(stat.iter().map(|s| 2.0 * s.1).collect()),
                    style: Style::Points,
                });
                if axis.name == "alpha"
                    && let Some((a, b, r2)) = fit_inverse(&x, &y)
                {
                    let xs = dense(&x, log_x);
                    series.push(Series {
                        label: format!("fit a + b/α: a = {a:.3}, b = {b:.3}, R² = {r2:.4}{sfx}"),
                        y: xs.iter().map(|&v| a + b / v).collect(),
                        x: xs,
                        err: None,
                        style: Style::Line,
                    });
                }
            }
        }
        let meaning = results[0]
            .metrics
            .iter()
            .find(|m| m.name == *metric)
            .map_or(String::new(), |m| m.meaning.clone());
        let log_y = positive_span(&series) && log_x;
        panels.push(Figure {
            title: format!("{}: {metric}", e.model),
            x_label: x_label.clone(),
            y_label: if meaning.is_empty() {
                metric.clone()
            } else {
                format!("{metric}: {meaning}")
            },
            log_x,
            log_y,
            series,
        });
    }
    Ok(Some(panels))
}

/// The `(key, label)` of references that claim to predict `metric`, over a group.
fn union_refs(group: &[&PointResult], metric: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for r in group {
        for x in r.predicted().map_or(&[][..], |p| &p.references[..]) {
            if x.of.as_deref() == Some(metric) && !out.iter().any(|(k, _)| *k == x.key) {
                out.push((x.key.clone(), x.label.clone()));
            }
        }
    }
    out
}

/// 49 points spanning `xs`, evenly on a log scale when `log`.
fn dense(xs: &[f64], log: bool) -> Vec<f64> {
    let (lo, hi) = xs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
    (0..=48)
        .map(|i| {
            let t = i as f64 / 48.0;
            if log {
                (lo.ln() + (hi.ln() - lo.ln()) * t).exp()
            } else {
                lo + (hi - lo) * t
            }
        })
        .collect()
}

/// Whether the finite y values are positive and span more than a factor of 20.
fn positive_span(series: &[Series]) -> bool {
    let (lo, hi) = series
        .iter()
        .flat_map(|s| s.y.iter().copied())
        .filter(|y| y.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), y| {
            (l.min(y), h.max(y))
        });
    lo > 0.0 && hi / lo > 20.0
}

/// Empirical CDFs against the predicted limit laws for up to three checked points.
fn cdf_figures(results: &[PointResult]) -> Option<Vec<Figure>> {
    let checked: Vec<&PointResult> = results.iter().filter(|r| r.check.is_some()).collect();
    if checked.is_empty() {
        return None;
    }
    let picks: Vec<&PointResult> = if checked.len() <= 3 {
        checked
    } else {
        let last = checked.len() - 1;
        let mut idx: Vec<usize> = vec![0, last / 2, last];
        idx.dedup();
        idx.into_iter().map(|i| checked[i]).collect()
    };
    let mut figs = Vec::new();
    for r in picks {
        if let Some(check) = r.check.as_ref() {
            let title = format!("point {}: {} ({})", r.index, r.label, check.verdict());
            figs.extend(check_cdf_figures(&title, check, &r.trials));
        }
    }
    (!figs.is_empty()).then_some(figs)
}

/// One figure per predicted law of `check`: the empirical CDF of its metric over
/// `trials` (up to the 99th percentile) against the law's CDF, titled `title`.
pub fn check_cdf_figures(
    title: &str,
    check: &pretrainlab::criteria::Check,
    trials: &pretrainlab::runner::Trials,
) -> Vec<Figure> {
    let mut figs = Vec::new();
    for law in &check.prediction.laws {
        let mut xs = pretrainlab::criteria::finite_column(trials, &law.metric);
        xs.sort_by(f64::total_cmp);
        if xs.is_empty() {
            continue;
        }
        let k = xs.len() as f64;
        let count = xs.len();
        let mut ecdf_y: Vec<f64> = (1..=xs.len()).map(|i| i as f64 / k).collect();
        // Show the body of the law: up to the empirical 99th percentile.
        let keep = ((0.99 * k).ceil() as usize).clamp(1, xs.len());
        xs.truncate(keep);
        ecdf_y.truncate(keep);
        let (lo, hi) = (xs[0], xs[xs.len() - 1]);
        let grid: Vec<f64> = (0..=200)
            .map(|i| lo + (hi - lo) * i as f64 / 200.0)
            .collect();
        let cdf: Vec<f64> = grid.iter().map(|&x| law.law.cdf(x)).collect();
        let ks = check
            .laws
            .iter()
            .find(|l| l.metric == law.metric)
            .map_or(f64::NAN, |l| l.ks);
        figs.push(Figure {
            title: title.to_string(),
            x_label: law.metric.clone(),
            y_label: "CDF".into(),
            log_x: false,
            log_y: false,
            series: vec![
                Series {
                    label: format!("empirical ({count} trials)"),
                    x: xs,
                    y: ecdf_y,
                    err: None,
                    style: Style::Steps,
                },
                Series {
                    label: format!("limit law (KS = {ks:.3})"),
                    x: grid,
                    y: cdf,
                    err: None,
                    style: Style::Line,
                },
            ],
        });
    }
    figs
}

/// Writes [`plan_figure`] as `<stem>.svg` and `<stem>.png`.
pub fn write_plan_figure(
    k: &pretrainlab::plan::Constants,
    c: &pretrainlab::plan::Costs,
    p: &pretrainlab::plan::Plan,
    stem: &Path,
) -> Result<(), StoreError> {
    pretrainlab_report::write_figure(&plan_figure(k, c, p), stem).map_err(Into::into)
}

/// Points per iso-risk contour of [`plan_figure`].
const CONTOUR_POINTS: usize = 200;

/// The budget plan in the `(n, m)` plane (log axes): iso-risk contours
/// `A/n + C/m = r` at `r = R*·{1, 1.25, 1.5, 2, 3}` (`m = C/(r − A/n)` for `n > A/r`),
/// the budget line `c_m m + c_n n = B`, and the optimum, where the `R*` contour touches
/// the line.
pub fn plan_figure(
    k: &pretrainlab::plan::Constants,
    c: &pretrainlab::plan::Costs,
    p: &pretrainlab::plan::Plan,
) -> Figure {
    let n_max = p.budget / c.labeled;
    let grid = |lo: f64| -> Vec<f64> {
        (0..CONTOUR_POINTS)
            .map(|i| lo * (n_max / lo).powf(i as f64 / (CONTOUR_POINTS - 1) as f64))
            .collect()
    };
    let mut series: Vec<Series> = [1.0, 1.25, 1.5, 2.0, 3.0]
        .iter()
        .map(|f| {
            let r = f * p.risk;
            let (x, y): (Vec<f64>, Vec<f64>) = grid(1.001 * k.variance / r)
                .into_iter()
                .map(|n| (n, k.interaction / (r - k.variance / n)))
                .filter(|(_, m)| m.is_finite() && *m > 0.0 && *m <= 10.0 * p.budget / c.unlabeled)
                .unzip();
            Series {
                label: format!("risk {}", pretrainlab_report::format_number(r)),
                x,
                y,
                err: None,
                style: Style::Line,
            }
        })
        .collect();
    let (x, y): (Vec<f64>, Vec<f64>) = grid(p.n / 10.0)
        .into_iter()
        .map(|n| (n, (p.budget - c.labeled * n) / c.unlabeled))
        .filter(|(_, m)| *m > 0.0)
        .unzip();
    series.push(Series {
        label: "budget line".into(),
        x,
        y,
        err: None,
        style: Style::Line,
    });
    series.push(Series {
        label: "optimum".into(),
        x: vec![p.n],
        y: vec![p.m],
        err: None,
        style: Style::Points,
    });
    Figure {
        title: format!(
            "iso-risk contours and the budget B = {}",
            pretrainlab_report::format_number(p.budget)
        ),
        x_label: "n (labeled samples)".into(),
        y_label: "m (unlabeled samples)".into(),
        log_x: true,
        log_y: true,
        series,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_fit_recovers_its_coefficients() {
        let x = [0.5, 1.0, 2.0, 4.0, 8.0];
        let y: Vec<f64> = x.iter().map(|a| 2.0 + 3.0 / a).collect();
        let (a, b, r2) = fit_inverse(&x, &y).unwrap();
        assert!((a - 2.0).abs() < 1e-12 && (b - 3.0).abs() < 1e-12);
        assert!((r2 - 1.0).abs() < 1e-12);
        assert!(fit_inverse(&x[..2], &y[..2]).is_none());
    }
}
