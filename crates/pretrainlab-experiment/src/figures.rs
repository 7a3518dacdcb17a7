//! The figures of an experiment, in the paper's notation.
//!
//! - `sweep`: along the first numeric axis, two panels: `n(R − σ²)` and `m·Rep` against
//!   their limits `σ² d_eff + E‖L(Z)‖²/α` and `E‖L(Z)‖²` (the theory curve), the paper's
//!   closed form where one exists, and the simulated means with ±2 s.e. bars. Along α the
//!   simulated means are also fitted by `a + b/α`, with R² in the legend. Geometric axes
//!   are drawn on a log scale.
//! - `cdf`: for a check, the empirical CDF of `n(R − σ²)` against the limit law's CDF, for
//!   the first, middle and last checked points.
//! - `ks-map`: for a checked product sweep over two axes, a heatmap of that KS distance.

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
    if let Some(panels) = sweep_figures(e, results) {
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

/// For a checked product sweep over two or more axes: the KS distance between the
/// empirical law of n(R − σ²) and the limit law over the first two axes (further axes at
/// their first value). Columns are the first axis, rows the second.
fn ks_map(e: &Experiment, results: &[PointResult]) -> Option<Heatmap> {
    if e.combine != crate::spec::Combine::Product || !e.actions.check || e.axes.len() < 2 {
        return None;
    }
    let (a, b) = (&e.axes[0], &e.axes[1]);
    if a.values.len() < 2 || b.values.len() < 2 {
        return None;
    }
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
                        .map_or(f64::NAN, |c| c.ks_scaled_excess)
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
        title: "KS distance of n(R − σ²) to its limit law".into(),
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

/// The two sweep panels, or `None` when there is no numeric axis to sweep along.
fn sweep_figures(e: &Experiment, results: &[PointResult]) -> Option<Vec<Figure>> {
    let xa = x_axis(e)?;
    let axis = &e.axes[xa];
    let log_x = axis.geometric() && axis.values.iter().filter_map(number).all(|v| v > 0.0);
    // Group the points by the other axes' values (in a zip all axes move together: one group).
    let mut groups: Vec<(String, Vec<&PointResult>)> = Vec::new();
    if e.combine == crate::spec::Combine::Zip {
        groups.push((String::new(), results.iter().collect()));
    }
    for r in results
        .iter()
        .filter(|_| e.combine == crate::spec::Combine::Product)
    {
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
    let x_of = |r: &PointResult| number(&r.coords[xa].1).unwrap_or(f64::NAN);
    let suffix = |key: &str| {
        if key.is_empty() {
            String::new()
        } else {
            format!(" [{key}]")
        }
    };
    let dense = |xs: &[f64]| -> Vec<f64> {
        let (lo, hi) = xs
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
                (l.min(x), h.max(x))
            });
        (0..=48)
            .map(|i| {
                let t = i as f64 / 48.0;
                if log_x {
                    (lo.ln() + (hi.ln() - lo.ln()) * t).exp()
                } else {
                    lo + (hi - lo) * t
                }
            })
            .collect()
    };

    let mut risk = Vec::new();
    let mut interaction = Vec::new();
    for (key, group) in &groups {
        let x: Vec<f64> = group.iter().map(|r| x_of(r)).collect();
        let sfx = suffix(key);
        // Along α (or m) the theory is a closed curve in α: draw it densely.
        // Only where nothing else varies along the group (a zip may move other axes too).
        let along_alpha = (axis.name == "alpha" || axis.name == "m")
            && group.iter().all(|r| {
                r.n == group[0].n && e.points[r.index].params == e.points[group[0].index].params
            });
        let n0 = group[0].n as f64;
        let to_alpha = |v: f64| if axis.name == "m" { v / n0 } else { v };
        let curve_x = if along_alpha { dense(&x) } else { x.clone() };
        let curve = |f: &dyn Fn(&pretrainlab::theory::Prediction, f64) -> Option<f64>| -> Vec<f64> {
            if along_alpha {
                let p = group[0].prediction.as_ref();
                curve_x
                    .iter()
                    .map(|&v| p.and_then(|p| f(p, to_alpha(v))).unwrap_or(f64::NAN))
                    .collect()
            } else {
                group
                    .iter()
                    .map(|r| {
                        r.prediction
                            .as_ref()
                            .and_then(|p| f(p, r.alpha))
                            .unwrap_or(f64::NAN)
                    })
                    .collect()
            }
        };
        if e.actions.needs_theory() {
            let floor = |p: &pretrainlab::theory::Prediction| p.sigma2 * p.d_eff as f64;
            risk.push(Series {
                label: format!("theory σ² d_eff + E‖L(Z)‖²/α{sfx}"),
                x: curve_x.clone(),
                y: curve(&|p, a| Some(floor(p) + p.interaction_mean / a)),
                err: None,
                style: Style::Line,
            });
            interaction.push(Series {
                label: format!("theory E‖L(Z)‖²{sfx}"),
                x: x.clone(),
                y: group
                    .iter()
                    .map(|r| {
                        r.prediction
                            .as_ref()
                            .map_or(f64::NAN, |p| p.interaction_mean)
                    })
                    .collect(),
                err: None,
                style: Style::Line,
            });
            if group.iter().any(|r| r.paper_limit_mean.is_some()) {
                risk.push(Series {
                    label: format!("paper's closed form{sfx}"),
                    x: curve_x.clone(),
                    y: curve(&|p, a| p.paper_interaction_mean.map(|m| floor(p) + m / a)),
                    err: None,
                    style: Style::Line,
                });
                interaction.push(Series {
                    label: format!("paper's closed form{sfx}"),
                    x: x.clone(),
                    y: group
                        .iter()
                        .map(|r| {
                            r.prediction
                                .as_ref()
                                .and_then(|p| p.paper_interaction_mean)
                                .unwrap_or(f64::NAN)
                        })
                        .collect(),
                    err: None,
                    style: Style::Line,
                });
            }
        }
        if e.actions.runs_trials() {
            let sim = |f: fn(&pretrainlab::compare::Simulation) -> (f64, f64)| {
                let v: Vec<(f64, f64)> = group
                    .iter()
                    .map(|r| r.simulation.as_ref().map_or((f64::NAN, f64::NAN), f))
                    .collect();
                (
                    v.iter().map(|p| p.0).collect::<Vec<_>>(),
                    v.iter().map(|p| 2.0 * p.1).collect::<Vec<_>>(),
                )
            };
            let (y, err) = sim(|s| (s.scaled_excess.mean, s.scaled_excess.se));
            risk.push(Series {
                label: format!("simulated mean ± 2 s.e.{sfx}"),
                x: x.clone(),
                y: y.clone(),
                err: Some(err),
                style: Style::Points,
            });
            if along_alpha {
                let alphas: Vec<f64> = group.iter().map(|r| r.alpha).collect();
                if let Some((a, b, r2)) = fit_inverse(&alphas, &y) {
                    let xs = dense(&x);
                    risk.push(Series {
                        label: format!("fit a + b/α: a = {a:.3}, b = {b:.3}, R² = {r2:.4}{sfx}"),
                        y: xs.iter().map(|&v| a + b / to_alpha(v)).collect(),
                        x: xs,
                        err: None,
                        style: Style::Line,
                    });
                }
            }
            let (y, err) = sim(|s| (s.m_rep.mean, s.m_rep.se));
            interaction.push(Series {
                label: format!("simulated m·Rep ± 2 s.e.{sfx}"),
                x: x.clone(),
                y,
                err: Some(err),
                style: Style::Points,
            });
        }
    }
    let positive = |s: &[Series]| {
        let ys: Vec<f64> = s
            .iter()
            .flat_map(|s| s.y.iter().copied())
            .filter(|y| y.is_finite())
            .collect();
        let (lo, hi) = ys
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &y| {
                (l.min(y), h.max(y))
            });
        log_x && lo > 0.0 && hi / lo > 20.0
    };
    let x_label = axis_label(&axis.name);
    let fig = |title: &str, y_label: &str, series: Vec<Series>| Figure {
        title: title.into(),
        x_label: x_label.clone(),
        y_label: y_label.into(),
        log_x,
        log_y: positive(&series),
        series,
    };
    Some(vec![
        fig(
            &format!("{}: downstream excess risk", e.model),
            "n(R − σ²)",
            risk,
        ),
        fig(
            &format!("{}: pre-training interaction", e.model),
            if e.actions.runs_trials() {
                "E‖L(Z)‖²  (simulated: m·Rep)"
            } else {
                "E‖L(Z)‖²"
            },
            interaction,
        ),
    ])
}

/// Empirical CDF against the limit law's CDF for up to four points.
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
    let figs = picks
        .into_iter()
        .filter_map(|r| {
            let theory = r.theory.as_ref()?;
            let check = r.check.as_ref()?;
            let mut xs = r.run.column(|t| t.scaled_excess);
            xs.retain(|x| x.is_finite());
            xs.sort_by(f64::total_cmp);
            if xs.is_empty() {
                return None;
            }
            let k = xs.len() as f64;
            let trials = xs.len();
            let mut ecdf_y: Vec<f64> = (1..=xs.len()).map(|i| i as f64 / k).collect();
            // Show the body of the law: up to the empirical 99th percentile.
            let keep = ((0.99 * k).ceil() as usize).clamp(1, xs.len());
            xs.truncate(keep);
            ecdf_y.truncate(keep);
            let (lo, hi) = (xs[0], xs[xs.len() - 1]);
            let grid: Vec<f64> = (0..=200)
                .map(|i| lo + (hi - lo) * i as f64 / 200.0)
                .collect();
            let law: Vec<f64> = grid.iter().map(|&x| theory.limit_cdf(r.alpha, x)).collect();
            Some(Figure {
                title: format!("point {}: {} ({})", r.index, r.label, check.verdict),
                x_label: "n(R − σ²)".into(),
                y_label: "CDF".into(),
                log_x: false,
                log_y: false,
                series: vec![
                    Series {
                        label: format!("empirical ({trials} trials)"),
                        x: xs,
                        y: ecdf_y,
                        err: None,
                        style: Style::Steps,
                    },
                    Series {
                        label: format!(
                            "limit law σ² d_eff + ‖L(Z)‖²/α (KS = {:.3})",
                            check.ks_scaled_excess
                        ),
                        x: grid,
                        y: law,
                        err: None,
                        style: Style::Line,
                    },
                ],
            })
        })
        .collect::<Vec<_>>();
    (!figs.is_empty()).then_some(figs)
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
