//! `neural-collapse-depth`: Súkeník, Lampert & Mondelli, "Neural Collapse is Globally
//! Optimal in Deep Regularized ResNets and Transformers" (arXiv 2505.15239), the main
//! claim: collapse tightens as depth grows.
//!
//! One experiment (`presets/neural-collapse-depth.toml`): the `neural-collapse-resnet`
//! model at depths `L ∈ {2, 4, 8, 16}` for cross-entropy and MSE, several seeds each,
//! each point checked. Trial `i` of every point draws the same data and the same input
//! layer (its stream depends on the seed and `i` only), so the depths are paired by seed.
//! [`post`] fits, for each loss, metric and seed, the power law `v = C L^b` by least
//! squares on log–log axes (`pretrainlab::fit::power_law`) and reports the mean of `b`
//! over seeds with its standard error and a 95% Student-t interval. Collapse tightens
//! with depth, for a loss, when the slopes of NC1, NC2 (class means) and NC3 (distance
//! from the unconstrained-features value) all have intervals below 0. It writes under
//! `paper/`:
//! - `trend.csv` (every loss × metric: slope, s.e., interval, seeds, verdict) and
//!   `summary.md` (the verdict per loss, in words);
//! - `points.csv`: mean and s.e. over seeds of `log v`, and the mean of `v`, at each depth;
//! - `nc_vs_depth`: NC1, NC2 and NC3 against depth on log axes, geometric means over seeds
//!   with 95% bars and the fitted lines, one panel per loss;
//! - `nc1_vs_step`: NC1 along training at each depth (mean over seeds), one panel per loss;
//! - `gram_<loss>_L<depth>` at the shallowest and deepest depth and `gram_etf`: the
//!   centred class-mean Gram over its mean diagonal (mean over seeds) beside the simplex
//!   ETF, and `gram.csv`: the largest entry-wise distance of the two at each depth.

use std::fmt::Write as _;

use pretrainlab::fit::power_law;
use pretrainlab_experiment::PointResult;
use pretrainlab_report::{Figure, Heatmap, Series, Style};

use crate::{Context, Out, PaperError, Part, Preset};

const TEXT: &str = include_str!("../presets/neural-collapse-depth.toml");

/// The metrics fitted against depth, with their labels; the first three decide.
const METRICS: [(&str, &str); 6] = [
    ("nc1", "NC1"),
    ("nc2_means", "NC2 (class means)"),
    ("nc3_gap", "NC3 (gap to the GUFM)"),
    ("nc2_w", "NC2 (W)"),
    ("objective_gap", "F − F⋆"),
    ("body_penalty", "body penalty"),
];
const DECIDING: usize = 3;
/// The 97.5% normal quantile.
const Z95: f64 = 1.96;

pub fn preset() -> Preset {
    Preset {
        name: "neural-collapse-depth",
        summary: "neural collapse with depth (Súkeník, Lampert & Mondelli, arXiv 2505.15239): NC1–NC3 of a deep LayerNorm ResNet trained with weight decay, against depth, for CE and MSE, with the fitted log-log trend",
        parts: &[Part {
            folder: "",
            text: TEXT,
        }],
        post: Some(post),
    }
}

fn post_error(message: impl Into<String>) -> PaperError {
    PaperError::Post(message.into())
}

fn label<'a>(p: &'a PointResult, name: &str) -> Option<&'a serde_json::Value> {
    p.labels.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

/// The points of `loss`, sorted by depth, with their depths.
fn by_depth<'a>(points: &'a [PointResult], loss: &str) -> Vec<(f64, &'a PointResult)> {
    let mut out: Vec<(f64, &PointResult)> = points
        .iter()
        .filter(|p| label(p, "loss").and_then(|v| v.as_str()) == Some(loss))
        .filter_map(|p| label(p, "depth").and_then(|v| v.as_f64()).map(|d| (d, p)))
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// The 97.5% quantile of Student's t with `dof` degrees of freedom: tabulated to
/// `dof = 30`, beyond by the Cornish–Fisher expansion `z + (z³ + z)/(4ν) +
/// (5z⁵ + 16z³ + 3z)/(96ν²)` (within 10⁻³ there).
fn t975(dof: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    if (1..=30).contains(&dof) {
        return TABLE[dof - 1];
    }
    let (z, nu) = (Z95, dof as f64);
    z + (z.powi(3) + z) / (4.0 * nu)
        + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * nu * nu)
}

/// The fitted trend of one loss and metric.
struct Trend {
    loss: &'static str,
    metric: &'static str,
    /// Means over seeds of the per-seed `log C` and exponent `b`, the s.e. of `b` and
    /// the half-width of its 95% interval.
    intercept: f64,
    slope: f64,
    slope_se: f64,
    half_width: f64,
    seeds: usize,
    /// Depths and, over the seeds used, the mean and s.e. of `log v` and the mean of `v`.
    points: Vec<(f64, (f64, f64, f64))>,
}

impl Trend {
    fn tightens(&self) -> bool {
        self.slope + self.half_width < 0.0
    }
}

fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// The per-seed power law `v = C L^b` of `metric` for `loss`: the trials of one id (one
/// seed: the same data at every depth) are fitted by least squares on log–log axes
/// (`pretrainlab::fit::power_law`); the slope and its uncertainty are the mean and s.e.
/// of the per-seed `b`. Seeds missing at a depth, or with a value that is not > 0,
/// are left out. `None` with fewer than three seeds or two depths.
fn fit(points: &[PointResult], loss: &'static str, metric: &'static str) -> Option<Trend> {
    let at = by_depth(points, loss);
    let depths: Vec<f64> = at.iter().map(|(d, _)| *d).collect();
    let columns: Vec<(Vec<u64>, Vec<f64>)> = at
        .iter()
        .map(|(_, p)| Some((p.trials.ids.clone(), p.trials.column(metric)?)))
        .collect::<Option<_>>()?;
    let first = columns.first()?;
    let mut per_seed: Vec<Vec<f64>> = Vec::new();
    for &id in &first.0 {
        let values: Option<Vec<f64>> = columns
            .iter()
            .map(|(ids, v)| {
                let j = ids.iter().position(|&i| i == id)?;
                (v[j] > 0.0 && v[j].is_finite()).then_some(v[j])
            })
            .collect();
        if let Some(values) = values {
            per_seed.push(values);
        }
    }
    if per_seed.len() < 3 || depths.len() < 2 {
        return None;
    }
    let fits: Vec<(f64, f64)> = per_seed
        .iter()
        .map(|v| {
            power_law(&depths, v)
                .ok()
                .map(|f| (f.coefficients[0].ln(), f.coefficients[1]))
        })
        .collect::<Option<_>>()?;
    let (slope, slope_se) = mean_se(&fits.iter().map(|f| f.1).collect::<Vec<_>>());
    let intercept = fits.iter().map(|f| f.0).sum::<f64>() / fits.len() as f64;
    let points = depths
        .iter()
        .enumerate()
        .map(|(j, &d)| {
            let logs: Vec<f64> = per_seed.iter().map(|v| v[j].ln()).collect();
            let (ml, sl) = mean_se(&logs);
            let mean = per_seed.iter().map(|v| v[j]).sum::<f64>() / per_seed.len() as f64;
            (d, (ml, sl, mean))
        })
        .collect();
    Some(Trend {
        loss,
        metric,
        intercept,
        slope,
        slope_se,
        half_width: t975(per_seed.len() - 1) * slope_se,
        seeds: per_seed.len(),
        points,
    })
}

/// NC against depth for one loss: geometric means with 95% bars and the fitted lines.
fn depth_figure(loss: &str, trends: &[&Trend]) -> Figure {
    let mut series = Vec::new();
    for t in trends.iter().take(DECIDING + 1) {
        let label = METRICS
            .iter()
            .find(|m| m.0 == t.metric)
            .map_or(t.metric, |m| m.1);
        let x: Vec<f64> = t.points.iter().map(|p| p.0).collect();
        let y: Vec<f64> = t.points.iter().map(|p| p.1.0.exp()).collect();
        let err: Vec<f64> = t.points.iter().map(|p| p.1.0.exp() * Z95 * p.1.1).collect();
        series.push(Series {
            label: format!("{label}, slope {:.2} ± {:.2}", t.slope, t.slope_se),
            x: x.clone(),
            y,
            err: Some(err),
            style: Style::Points,
        });
        series.push(Series {
            label: format!("{label}, fitted C·L^b"),
            y: x.iter()
                .map(|d| (t.intercept + t.slope * d.ln()).exp())
                .collect(),
            x,
            err: None,
            style: Style::Line,
        });
    }
    Figure {
        title: format!("Collapse against depth ({loss})"),
        x_label: "depth L".into(),
        y_label: "metric (geometric mean over seeds)".into(),
        log_x: true,
        log_y: true,
        series,
    }
}

/// NC1 along training, the mean over seeds at each depth.
fn step_figure(points: &[PointResult], loss: &str) -> Option<Figure> {
    let mut series = Vec::new();
    for (depth, p) in by_depth(points, loss) {
        let spec = p.traces.iter().find(|t| t.name == "nc1")?;
        let n = p.trials.completed();
        if n == 0 {
            continue;
        }
        let mut mean = vec![0.0; spec.t.len()];
        for i in 0..n {
            for (m, v) in mean.iter_mut().zip(p.trials.trace(i, "nc1")?) {
                *m += v / n as f64;
            }
        }
        series.push(Series {
            label: format!("L = {depth}"),
            x: spec.t.iter().map(|s| s.max(1.0)).collect(),
            y: mean,
            err: None,
            style: Style::Line,
        });
    }
    Some(Figure {
        title: format!("NC1 along training ({loss})"),
        x_label: "gradient step (step 0 drawn at 1)".into(),
        y_label: "NC1 (mean over seeds)".into(),
        log_x: true,
        log_y: true,
        series,
    })
}

/// The mean over trials of the `K×K` class-mean Gram trace.
fn mean_gram(p: &PointResult) -> Option<Vec<Vec<f64>>> {
    let n = p.trials.completed();
    let kk = p.traces.iter().find(|t| t.name == "gram_means")?.t.len();
    let k = (kk as f64).sqrt().round() as usize;
    if n == 0 || k * k != kk {
        return None;
    }
    let mut g = vec![vec![0.0; k]; k];
    for i in 0..n {
        let t = p.trials.trace(i, "gram_means")?;
        for (a, row) in g.iter_mut().enumerate() {
            for (b, v) in row.iter_mut().enumerate() {
                *v += t[a * k + b] / n as f64;
            }
        }
    }
    Some(g)
}

/// The simplex ETF Gram with unit diagonal.
fn etf(k: usize) -> Vec<Vec<f64>> {
    (0..k)
        .map(|a| {
            (0..k)
                .map(|b| if a == b { 1.0 } else { -1.0 / (k as f64 - 1.0) })
                .collect()
        })
        .collect()
}

fn max_distance(g: &[Vec<f64>], h: &[Vec<f64>]) -> f64 {
    g.iter()
        .flatten()
        .zip(h.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

/// Writes the trend table, the verdicts and the figures under `paper/`.
pub fn post(ctx: &Context<'_>) -> Result<Vec<String>, PaperError> {
    let points = ctx.part("")?;
    let losses: [&'static str; 2] = ["ce", "mse"];
    let mut trends = Vec::new();
    for loss in losses {
        for (metric, _) in METRICS {
            let t = fit(points, loss, metric).ok_or_else(|| {
                post_error(format!(
                    "cannot fit {metric} against depth for loss {loss}: fewer than two depths with two positive values"
                ))
            })?;
            trends.push(t);
        }
    }
    let mut csv = String::from(
        "loss,metric,slope,slope_se,ci_low,ci_high,seeds,intercept,tightens,deciding\n",
    );
    for (i, t) in trends.iter().enumerate() {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{}",
            t.loss,
            t.metric,
            t.slope,
            t.slope_se,
            t.slope - t.half_width,
            t.slope + t.half_width,
            t.seeds,
            t.intercept,
            t.tightens(),
            i % METRICS.len() < DECIDING
        );
    }
    let mut points_csv = String::from("loss,depth,metric,mean_log,se_log,mean\n");
    for t in &trends {
        for (d, (ml, sl, m)) in &t.points {
            let _ = writeln!(points_csv, "{},{d},{},{ml},{sl},{m}", t.loss, t.metric);
        }
    }
    let mut summary = String::from(
        "# Neural collapse against depth\n\nPer seed (the same data at every depth), log v = a + b log L fitted by least squares over the depths; the slope is the mean of the per-seed b, ± its standard error over seeds, with a 95% Student-t interval. Collapse tightens with depth when NC1, NC2 (class means) and NC3 (gap to the unconstrained-features value) all have intervals below 0.\n\n",
    );
    if ctx.quick {
        summary.push_str("This is the `--quick` run (fewer steps and seeds): its verdict is a smoke test, not the measurement.\n\n");
    }
    for loss in losses {
        let of_loss: Vec<&Trend> = trends.iter().filter(|t| t.loss == loss).collect();
        let pass = of_loss[..DECIDING].iter().all(|t| t.tightens());
        let _ = writeln!(
            summary,
            "- {loss}: collapse tightens with depth: **{}**",
            if pass { "pass" } else { "fail" }
        );
        for t in &of_loss {
            let _ = writeln!(
                summary,
                "  - {}: slope {:.3} ± {:.3} (95% [{:.3}, {:.3}], {} seeds){}",
                t.metric,
                t.slope,
                t.slope_se,
                t.slope - t.half_width,
                t.slope + t.half_width,
                t.seeds,
                if t.tightens() {
                    ", falls with depth"
                } else {
                    ", no significant fall"
                }
            );
        }
    }
    let mut out = Out::new(ctx.dir);
    out.text("trend.csv", &csv)?;
    out.text("points.csv", &points_csv)?;
    let figs: Vec<Figure> = losses
        .iter()
        .map(|loss| {
            let of_loss: Vec<&Trend> = trends.iter().filter(|t| t.loss == *loss).collect();
            depth_figure(loss, &of_loss)
        })
        .collect();
    out.panels(&figs, "nc_vs_depth")?;
    let steps: Vec<Figure> = losses
        .iter()
        .filter_map(|loss| step_figure(points, loss))
        .collect();
    if steps.len() == losses.len() {
        out.panels(&steps, "nc1_vs_step")?;
    }
    let mut gram_csv = String::from("loss,depth,max_abs_distance_to_etf\n");
    let mut k = 0;
    for loss in losses {
        let at = by_depth(points, loss);
        for (depth, p) in &at {
            let g = mean_gram(p).ok_or_else(|| post_error("a point has no Gram trace"))?;
            k = g.len();
            let _ = writeln!(gram_csv, "{loss},{depth},{}", max_distance(&g, &etf(k)));
        }
        for (depth, p) in [at.first(), at.last()].into_iter().flatten() {
            let g = mean_gram(p).ok_or_else(|| post_error("a point has no Gram trace"))?;
            out.heatmap(
                &Heatmap {
                    title: format!("Class-mean Gram, {loss}, L = {depth} (mean over seeds)"),
                    x_label: "class".into(),
                    y_label: "class".into(),
                    values: g,
                },
                &format!("gram_{loss}_L{depth}"),
            )?;
        }
    }
    out.heatmap(
        &Heatmap {
            title: format!("Simplex ETF Gram, K = {k}"),
            x_label: "class".into(),
            y_label: "class".into(),
            values: etf(k),
        },
        "gram_etf",
    )?;
    out.text("gram.csv", &gram_csv)?;
    out.text("summary.md", &summary)?;
    Ok(out.files())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quick preset end to end: every figure and table is written; every point's
    /// objective is above the unconstrained-features optimum (a bound for every weight
    /// setting); the NC1 slope against depth is negative for both losses (a sign error
    /// in the fit or a model that does not collapse fails).
    #[test]
    fn the_quick_preset_fits_collapse_against_depth() {
        let (dir, parts, files) = crate::run_quick(&preset(), "nc-depth");
        for f in [
            "paper/trend.csv",
            "paper/summary.md",
            "paper/nc_vs_depth.svg",
            "paper/nc1_vs_step.svg",
            "paper/gram_etf.svg",
            "paper/gram_ce_L16.svg",
            "paper/gram.csv",
        ] {
            assert!(files.contains(&f.to_string()), "{f}: {files:?}");
        }
        for p in &parts[0].results {
            for gap in p.trials.column("objective_gap").unwrap() {
                assert!(gap >= 0.0, "{}: F − F⋆ = {gap}", p.label);
            }
        }
        let trend = std::fs::read_to_string(dir.join("paper/trend.csv")).unwrap();
        let mut seen = 0;
        for line in trend.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let slope: f64 = f[2].parse().unwrap();
            assert!(slope.is_finite(), "{line}");
            if f[1] == "nc1" {
                seen += 1;
                assert!(slope < 0.0, "{line}");
            }
        }
        assert_eq!(seen, 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The t quantile: the expansion meets the table at 30 degrees of freedom and falls
    /// towards the normal quantile.
    #[test]
    fn t_quantile_joins_its_table() {
        let expansion = |nu: f64| {
            let z = Z95;
            z + (z.powi(3) + z) / (4.0 * nu)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * nu * nu)
        };
        assert!((expansion(30.0) - t975(30)).abs() < 1e-3);
        assert!(t975(31) < t975(30) && t975(1000) > Z95 && t975(1000) < Z95 + 1e-2);
    }
}
