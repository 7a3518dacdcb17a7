//! `glm-oi-amp`: Zhang, Ji, Venkataramanan & Mondelli, "Optimal spectral estimators and AMP
//! for GLMs with orthogonally invariant designs" (arXiv 2602.09240).
//!
//! Two experiments on noiseless phase retrieval `y = z²`:
//! - `uniform` (`presets/glm-oi-amp-uniform.toml`): squared singular values uniform in
//!   shape, GVAMP from the spectral start along δ against its state evolution;
//! - `gaussian` (`presets/glm-oi-amp-gaussian.toml`): the Gaussian design, the spectral
//!   overlap against the Lu–Li limit and GVAMP against its state evolution.
//!
//! [`post`] draws under `paper/`: `overlap_vs_delta_uniform` and
//! `overlap_vs_delta_gaussian` (predicted values at the swept δ as lines, simulated means
//! ± 1.96 s.e. as points), and `points.csv` with every predicted and simulated mean.

use std::fmt::Write as _;

use pretrainlab_experiment::PointResult;
use pretrainlab_report::{Figure, Series, Style};

use crate::{Context, Out, PaperError, Part, Preset};

const UNIFORM: &str = include_str!("../presets/glm-oi-amp-uniform.toml");
const GAUSSIAN: &str = include_str!("../presets/glm-oi-amp-gaussian.toml");

pub fn preset() -> Preset {
    Preset {
        name: "glm-oi-amp",
        summary: "spectral estimator and GVAMP for phase retrieval with orthogonally invariant designs (Zhang, Ji, Venkataramanan, Mondelli, arXiv 2602.09240): overlap against δ, state evolution and Lu–Li against simulation",
        parts: &[
            Part {
                folder: "uniform",
                text: UNIFORM,
            },
            Part {
                folder: "gaussian",
                text: GAUSSIAN,
            },
        ],
        post: Some(post),
    }
}

/// δ, the predicted mean (if any) and the simulated mean ± 1.96 s.e. of `metric` per point.
type Row = (f64, Option<f64>, f64, f64);

fn rows(points: &[PointResult], metric: &str) -> Vec<Row> {
    let mut out = Vec::new();
    for p in points {
        let delta = p
            .coords
            .iter()
            .find(|(name, _)| name == "delta")
            .and_then(|(_, v)| v.as_float());
        let predicted = p
            .prediction
            .as_ref()
            .and_then(|pr| pr.mean(metric))
            .map(|m| m.value);
        let values = p.trials.column(metric).unwrap_or_default();
        if let (Some(delta), Some(s)) = (delta, pretrainlab::stats::Summary::of(&values)) {
            out.push((delta, predicted, s.mean, 1.96 * s.se));
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// The figure of one part: a theory line and simulated points per metric.
fn figure(points: &[PointResult], metrics: &[(&str, &str)], title: &str) -> Figure {
    let mut series = Vec::new();
    for &(metric, label) in metrics {
        let r = rows(points, metric);
        let theory: Vec<(f64, f64)> = r.iter().filter_map(|x| x.1.map(|p| (x.0, p))).collect();
        if !theory.is_empty() {
            series.push(Series {
                label: format!("{label}: theory"),
                x: theory.iter().map(|t| t.0).collect(),
                y: theory.iter().map(|t| t.1).collect(),
                err: None,
                style: Style::Line,
            });
        }
        series.push(Series {
            label: format!("{label}: simulated (95%)"),
            x: r.iter().map(|x| x.0).collect(),
            y: r.iter().map(|x| x.2).collect(),
            err: Some(r.iter().map(|x| x.3).collect()),
            style: Style::Points,
        });
    }
    Figure {
        title: title.into(),
        x_label: "δ = n/d".into(),
        y_label: "squared overlap".into(),
        log_x: false,
        log_y: false,
        series,
    }
}

/// Writes the figures and `points.csv` under `paper/`.
pub fn post(ctx: &Context<'_>) -> Result<Vec<String>, PaperError> {
    let mut out = Out::new(ctx.dir);
    let mut csv = String::from("design,delta,metric,predicted,mean,half_width_95\n");
    for (folder, title) in [
        (
            "uniform",
            "Phase retrieval, uniform squared singular values",
        ),
        ("gaussian", "Phase retrieval, Gaussian design"),
    ] {
        let points = ctx.part(folder)?;
        let metrics = [("overlap_amp", "GVAMP"), ("overlap_spectral", "spectral")];
        for (metric, _) in metrics {
            for (delta, predicted, mean, half) in rows(points, metric) {
                let predicted = predicted.map_or(String::new(), |p| p.to_string());
                let _ = writeln!(csv, "{folder},{delta},{metric},{predicted},{mean},{half}");
            }
        }
        out.figure(
            &figure(points, &metrics, title),
            &format!("overlap_vs_delta_{folder}"),
        )?;
    }
    out.text("points.csv", &csv)?;
    Ok(out.files())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quick preset end to end: both figures and the CSV are written; GVAMP's mean
    /// overlap is within 4 half-widths of 95% plus 0.15 (finite d = 150) of the state
    /// evolution at every point, and the spectral overlap on the Gaussian design within
    /// the same of Lu–Li.
    #[test]
    fn the_quick_preset_draws_overlaps_against_delta() {
        let (dir, _, files) = crate::run_quick(&preset(), "glm-oi");
        for name in ["overlap_vs_delta_uniform", "overlap_vs_delta_gaussian"] {
            assert!(files.contains(&format!("paper/{name}.svg")), "{files:?}");
        }
        let csv = std::fs::read_to_string(dir.join("paper/points.csv")).unwrap();
        let mut checked = 0;
        for line in csv.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let Ok(predicted) = f[3].parse::<f64>() else {
                continue;
            };
            let (mean, half): (f64, f64) = (f[4].parse().unwrap(), f[5].parse().unwrap());
            assert!((mean - predicted).abs() < 4.0 * half + 0.15, "{line}");
            checked += 1;
        }
        assert_eq!(checked, 6, "{csv}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
