//! `ttt-linear`: Gozeten, Ildiz, Zhang, Soltanolkotabi, Mondelli & Oymak, "Test-Time
//! Training Provably Improves Transformers as In-context Learners" (arXiv 2503.11842).
//!
//! One experiment (`presets/ttt-linear.toml`): the linear in-context learner with one
//! test-time step along `k`, each point checked. [`post`] draws under `paper/`:
//! - `excess_vs_k`: the excess risk against `k`: the exact theory `L⋆(k)` and the
//!   proportional-limit heuristic as lines (evaluated by the model's prediction on a dense
//!   grid of `k`), the risk without test-time training `1 − c⋆` as a level, and the
//!   simulated means (± 1.96 s.e.) at the theory's step `η⋆` and at the fitted step;
//! - `curves.csv`: the theory lines, `points.csv`: the simulated means.

use std::fmt::Write as _;

use pretrainlab_report::{Figure, Series, Style};

use crate::{Context, Out, PaperError, Part, Preset, simulated_along, theory_line};

const TEXT: &str = include_str!("../presets/ttt-linear.toml");

pub fn preset() -> Preset {
    Preset {
        name: "ttt-linear",
        summary: "test-time training of a linear in-context learner (Gozeten et al., arXiv 2503.11842): excess risk along k, the exact theory, the proportional heuristic and simulation",
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

/// The theory lines along `ks`: `(L⋆, proportional heuristic, 1 − c⋆)` at each `k`.
fn theory(base: &toml::Table, ks: &[i64]) -> Result<Vec<[f64; 3]>, PaperError> {
    ks.iter()
        .map(|&k| {
            let mut params = base.clone();
            params.insert("k".into(), toml::Value::Integer(k));
            let model = pretrainlab::registry::build("ttt-linear", params)
                .map_err(|e| post_error(e.to_string()))?;
            let p = model.predict().map_err(|e| post_error(e.to_string()))?;
            let q = |name: &str| {
                p.quantity(name)
                    .ok_or_else(|| post_error(format!("the prediction has no `{name}`")))
            };
            Ok([
                q("excess_ttt")?,
                q("excess_ttt_proportional")?,
                q("excess_no_ttt")?,
            ])
        })
        .collect()
}

/// Writes the figure and the CSVs under `paper/`.
pub fn post(ctx: &Context<'_>) -> Result<Vec<String>, PaperError> {
    let points = ctx.part("")?;
    let base = pretrainlab_experiment::parse(TEXT, ctx.quick)
        .map_err(|e| post_error(e.to_string()))?
        .points
        .first()
        .map(|p| p.params.clone())
        .ok_or_else(|| post_error("the experiment has no points"))?;
    // A dense grid over the sweep's range, and the swept values themselves.
    let swept = simulated_along(points, "k", "excess_no_ttt").0;
    let (lo, hi) = swept
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &k| (a.min(k), b.max(k)));
    if swept.is_empty() {
        return Err(post_error("no point has trials"));
    }
    let mut ks: Vec<i64> = (0..=48)
        .map(|i| (lo * (hi / lo).powf(i as f64 / 48.0)).round() as i64)
        .chain(swept.iter().map(|&k| k as i64))
        .collect();
    ks.sort_unstable();
    ks.dedup();
    let kx: Vec<f64> = ks.iter().map(|&k| k as f64).collect();
    let lines = theory(&base, &ks)?;
    let column = |i: usize| lines.iter().map(|l| l[i]).collect::<Vec<f64>>();
    let mut series = vec![
        theory_line("exact theory L⋆(k)", &kx, column(0)),
        theory_line("proportional heuristic", &kx, column(1)),
        theory_line("no test-time training (1 − c⋆)", &kx, column(2)),
    ];
    let mut points_csv = String::from("k,metric,mean,half_width_95\n");
    for (metric, label) in [
        ("excess_ttt_star", "simulated, step η⋆ (95%)"),
        ("excess_ttt", "simulated, fitted step (95%)"),
        ("excess_no_ttt", "simulated, no test-time training (95%)"),
    ] {
        let (k, mean, half) = simulated_along(points, "k", metric);
        for ((k, m), h) in k.iter().zip(&mean).zip(&half) {
            let _ = writeln!(points_csv, "{k},{metric},{m},{h}");
        }
        series.push(Series {
            label: label.into(),
            x: k,
            y: mean,
            err: Some(half),
            style: Style::Points,
        });
    }
    let mut curves_csv = String::from("k,exact,proportional,no_ttt\n");
    for (k, l) in ks.iter().zip(&lines) {
        let _ = writeln!(curves_csv, "{k},{},{},{}", l[0], l[1], l[2]);
    }
    let mut out = Out::new(ctx.dir);
    out.figure(
        &Figure {
            title: "Excess risk against the test-time samples k".into(),
            x_label: "k".into(),
            y_label: "excess risk".into(),
            log_x: true,
            log_y: false,
            series,
        },
        "excess_vs_k",
    )?;
    out.text("curves.csv", &curves_csv)?;
    out.text("points.csv", &points_csv)?;
    Ok(out.files())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quick preset end to end: the figure and both CSVs are written, the exact
    /// theory falls with k and stays below the risk without test-time training, and the
    /// simulated means at η⋆ lie within 4 half-widths of 95% (≈ 4·1.96 s.e.) of the curve.
    #[test]
    fn the_quick_preset_draws_the_risk_against_k() {
        let (dir, _, files) = crate::run_quick(&preset(), "ttt");
        assert!(
            files.contains(&"paper/excess_vs_k.svg".to_string()),
            "{files:?}"
        );
        let read = |name: &str| std::fs::read_to_string(dir.join("paper").join(name)).unwrap();
        let curve: Vec<[f64; 4]> = read("curves.csv")
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<f64> = l.split(',').map(|x| x.parse().unwrap()).collect();
                [f[0], f[1], f[2], f[3]]
            })
            .collect();
        for w in curve.windows(2) {
            assert!(w[1][1] < w[0][1] && w[1][1] < w[1][3], "{w:?}");
        }
        for line in read("points.csv").lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if f[1] != "excess_ttt_star" {
                continue;
            }
            let (k, mean, half): (f64, f64, f64) = (
                f[0].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            );
            let exact = curve.iter().find(|c| c[0] == k).map(|c| c[1]).unwrap();
            assert!(
                (mean - exact).abs() < 4.0 * half,
                "k = {k}: {mean} ± {half} vs {exact}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
