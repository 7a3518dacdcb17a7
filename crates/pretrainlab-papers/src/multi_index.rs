//! `multi-index-spectral`: Kovačević, Zhang & Mondelli, "Spectral Estimators for
//! Multi-Index Models: Precise Asymptotics and Optimal Weak Recovery" (arXiv 2502.01583).
//!
//! Two sweeps over `δ = n/d` of the spectral matrix `D = (1/n)Σ T(yᵢ)aᵢaᵢᵀ` with `p = 2`:
//! - `staggered`: `y = g1² + 3g2²`, `T = y/(y + 2)`: the two directions leave the bulk at
//!   different `δ` (e2 first);
//! - `double`: `y = g1·g2`, `T = y²/(1 + y²)`: the link is symmetric, `Φ` is a multiple of
//!   the identity and both directions leave together as a double outlier.
//!
//! [`post`] draws under `paper/`, per sweep: `eigenvalues_<part>` (the top three
//! eigenvalues against δ, simulated ± 1.96 s.e., with the limits of the outliers and the
//! bulk edge as lines) and `overlaps_<part>` (the per-direction and subspace overlaps
//! against their limits, with the thresholds `δ_c,j` of the preprocessing, the optimal
//! scalar preprocessing's `δ⋆` and the Bayes-optimal `δ_AMP` as vertical lines); and
//! `curves.csv`, `points.csv`, `thresholds.csv`.

use std::fmt::Write as _;

use pretrainlab::models::multi_index::{MultiIndex, optimal};
use pretrainlab_report::{Figure, Series, Style};

use crate::{Context, Out, PaperError, Part, Preset, simulated_along, theory_line};

const STAGGERED: &str = r#"
name = "multi-index-staggered"
description = "Spectral estimator of y = g1² + 3g2² with T = y/(y + 2) (d = 1000): the top eigenvalues and the overlaps against δ; the two directions leave the bulk at different δ."
model = "multi-index-spectral"
actions = ["check"]
trials = 4
chunk = 4
seed = 1

[params]
d = 1000
p = 2
link = "g1^2 + 3*g2^2"
preprocessing = "y/(y + 2)"

[sweep]
[sweep.axes]
delta = { geomspace = [1.5, 24.0, 8] }

[quick]
trials = 2
chunk = 2
[quick.params]
d = 300
[quick.axes]
delta = { list = [2.0, 6.0, 20.0] }
"#;

const DOUBLE: &str = r#"
name = "multi-index-double"
description = "Spectral estimator of y = g1·g2 with T = y²/(1 + y²) (d = 1000): a symmetric link, a double outlier; the top eigenvalues and the overlaps against δ."
model = "multi-index-spectral"
actions = ["check"]
trials = 4
chunk = 4
seed = 2

[params]
d = 1000
p = 2
link = "g1*g2"
preprocessing = "y^2/(1 + y^2)"

[sweep]
[sweep.axes]
delta = { geomspace = [1.0, 16.0, 7] }

[quick]
trials = 2
chunk = 2
[quick.params]
d = 300
[quick.axes]
delta = { list = [1.5, 8.0] }
"#;

/// The parts: folder, experiment text, figure title.
const PARTS: [(&str, &str, &str); 2] = [
    ("staggered", STAGGERED, "y = g1² + 3g2², T = y/(y + 2)"),
    ("double", DOUBLE, "y = g1·g2, T = y²/(1 + y²)"),
];

pub fn preset() -> Preset {
    Preset {
        name: "multi-index-spectral",
        summary: "spectral estimators of multi-index models (Kovačević, Zhang, Mondelli, arXiv 2502.01583): eigenvalues and overlaps against δ, staggered and double outliers, theory against simulation",
        parts: &[
            Part {
                folder: "staggered",
                text: STAGGERED,
            },
            Part {
                folder: "double",
                text: DOUBLE,
            },
        ],
        post: Some(post),
    }
}

fn post_error(message: impl Into<String>) -> PaperError {
    PaperError::Post(message.into())
}

/// The limits along `deltas`: per δ, `[edge, λ1, λ2, overlap1, overlap2, subspace]`;
/// and the thresholds `δ_c,1`, `δ_c,2`, `δ⋆`, `δ_AMP` as (CSV key, figure label, value).
type Lines = (Vec<[f64; 6]>, Vec<(String, String, f64)>);

fn theory(text: &str, quick: bool, deltas: &[f64]) -> Result<Lines, PaperError> {
    let params = pretrainlab_experiment::parse(text, quick)
        .map_err(|e| post_error(e.to_string()))?
        .points
        .first()
        .map(|p| p.params.clone())
        .ok_or_else(|| post_error("the experiment has no points"))?;
    let model = MultiIndex::build(params).map_err(|e| post_error(e.to_string()))?;
    let th = model
        .theory_at_order(model.orders().0, None)
        .map_err(|e| post_error(e.to_string()))?;
    let mut rows = Vec::with_capacity(deltas.len());
    for &delta in deltas {
        let l = th.at(delta).map_err(|e| post_error(e.to_string()))?;
        rows.push([
            l.bulk_edge,
            l.eigenvalue(0),
            l.eigenvalue(1),
            l.overlap(0),
            l.overlap(1),
            0.5 * (l.overlap(0) + l.overlap(1)),
        ]);
    }
    let mut marks: Vec<(String, String, f64)> = th
        .thresholds()
        .iter()
        .enumerate()
        .filter_map(|(j, t)| {
            t.map(|t| {
                (
                    format!("delta_c{}", j + 1),
                    format!("δ_c,{} of T", j + 1),
                    t,
                )
            })
        })
        .collect();
    let opt = optimal::optimum(model.labeller()).map_err(|e| post_error(e.to_string()))?;
    marks.push(("delta_star".into(), "δ⋆ (optimal T)".into(), opt.threshold));
    marks.push((
        "delta_amp".into(),
        "δ_AMP (Bayes)".into(),
        opt.amp_threshold,
    ));
    Ok((rows, marks))
}

fn points_series(label: &str, (x, y, e): (Vec<f64>, Vec<f64>, Vec<f64>)) -> Series {
    Series {
        label: label.into(),
        x,
        y,
        err: Some(e),
        style: Style::Points,
    }
}

/// Writes the figures and the CSVs under `paper/`.
pub fn post(ctx: &Context<'_>) -> Result<Vec<String>, PaperError> {
    let mut out = Out::new(ctx.dir);
    let mut curves = String::from("part,delta,edge,lambda1,lambda2,overlap1,overlap2,subspace\n");
    let mut points_csv = String::from("part,delta,metric,mean,half_width_95\n");
    let mut thresholds = String::from("part,what,delta\n");
    for (folder, text, title) in PARTS {
        let points = ctx.part(folder)?;
        let swept = simulated_along(points, "delta", "lambda1").0;
        if swept.is_empty() {
            return Err(post_error(format!("{folder}: no point has trials")));
        }
        let (lo, hi) = swept
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
        let (lo, hi) = (lo / 1.2, hi * 1.2);
        let grid: Vec<f64> = (0..=80)
            .map(|i| lo * (hi / lo).powf(i as f64 / 80.0))
            .collect();
        let (rows, marks) = theory(text, ctx.quick, &grid)?;
        for (d, r) in grid.iter().zip(&rows) {
            let _ = writeln!(
                curves,
                "{folder},{d},{},{},{},{},{},{}",
                r[0], r[1], r[2], r[3], r[4], r[5]
            );
        }
        for (key, _, t) in &marks {
            let _ = writeln!(thresholds, "{folder},{key},{t}");
        }
        let col = |i: usize| rows.iter().map(|r| r[i]).collect::<Vec<f64>>();
        let mut eig = vec![
            theory_line("bulk edge ψ_δ(λ̄_δ)", &grid, col(0)),
            theory_line("limit of λ1", &grid, col(1)),
            theory_line("limit of λ2", &grid, col(2)),
        ];
        let mut ov = vec![
            theory_line("limit of overlap1", &grid, col(3)),
            theory_line("limit of overlap2", &grid, col(4)),
            theory_line("limit of subspace overlap", &grid, col(5)),
        ];
        for metric in ["lambda1", "lambda2", "lambda3"] {
            let s = simulated_along(points, "delta", metric);
            write_points(&mut points_csv, folder, metric, &s);
            eig.push(points_series(&format!("{metric} (95%)"), s));
        }
        for metric in ["overlap1", "overlap2", "subspace_overlap"] {
            let s = simulated_along(points, "delta", metric);
            write_points(&mut points_csv, folder, metric, &s);
            ov.push(points_series(&format!("{metric} (95%)"), s));
        }
        let top = ov
            .iter()
            .flat_map(|s| {
                s.y.iter()
                    .zip(s.err.iter().flatten().chain(std::iter::repeat(&0.0)))
            })
            .fold(0.0f64, |m, (y, e)| m.max(y + e));
        for (_, label, t) in &marks {
            if (lo..=hi).contains(t) {
                ov.push(theory_line(label, &[*t, *t], vec![0.0, top]));
            }
        }
        out.figure(
            &Figure {
                title: format!("Top eigenvalues of D: {title}"),
                x_label: "δ = n/d".into(),
                y_label: "eigenvalue".into(),
                log_x: true,
                log_y: false,
                series: eig,
            },
            &format!("eigenvalues_{folder}"),
        )?;
        out.figure(
            &Figure {
                title: format!("Overlaps ‖W⋆ᵀv_j‖²: {title}"),
                x_label: "δ = n/d".into(),
                y_label: "squared overlap".into(),
                log_x: true,
                log_y: false,
                series: ov,
            },
            &format!("overlaps_{folder}"),
        )?;
    }
    out.text("curves.csv", &curves)?;
    out.text("points.csv", &points_csv)?;
    out.text("thresholds.csv", &thresholds)?;
    Ok(out.files())
}

fn write_points(csv: &mut String, folder: &str, metric: &str, s: &(Vec<f64>, Vec<f64>, Vec<f64>)) {
    for ((d, m), h) in s.0.iter().zip(&s.1).zip(&s.2) {
        let _ = writeln!(csv, "{folder},{d},{metric},{m},{h}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quick preset end to end: both figures per sweep and the CSVs are written; in
    /// the staggered sweep e2's threshold lies below e1's and both above δ⋆ ≥ δ_AMP; in
    /// the double sweep the two thresholds coincide (a double outlier); every simulated
    /// overlap1 lies within 4 half-widths of 95% plus 1/√d of its limit at that δ, away
    /// from the first threshold (|δ/δ_c − 1| ≥ 0.2).
    #[test]
    fn the_quick_preset_draws_the_transitions() {
        let (dir, _, files) = crate::run_quick(&preset(), "multi-index");
        for stem in ["eigenvalues_staggered", "overlaps_double"] {
            assert!(files.contains(&format!("paper/{stem}.svg")), "{files:?}");
        }
        let read = |name: &str| std::fs::read_to_string(dir.join("paper").join(name)).unwrap();
        let thresholds: Vec<(String, String, f64)> = read("thresholds.csv")
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[0].to_string(), f[1].to_string(), f[2].parse().unwrap())
            })
            .collect();
        let t = |part: &str, what: &str| {
            thresholds
                .iter()
                .find(|r| r.0 == part && r.1 == what)
                .map(|r| r.2)
                .unwrap()
        };
        let (s1, s2) = (t("staggered", "delta_c1"), t("staggered", "delta_c2"));
        assert!(s1 < s2 * 0.8, "{thresholds:?}");
        let star = t("staggered", "delta_star");
        assert!(star <= s1 && t("staggered", "delta_amp") <= star * 1.001);
        let (d1, d2) = (t("double", "delta_c1"), t("double", "delta_c2"));
        assert!((d1 - d2).abs() < 1e-6 * d1, "{thresholds:?}");
        for l in read("points.csv").lines().skip(1) {
            let f: Vec<&str> = l.split(',').collect();
            if f[2] != "overlap1" {
                continue;
            }
            let (delta, mean, half): (f64, f64, f64) = (
                f[1].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
            );
            let first = if f[0] == "staggered" { s1 } else { d1 };
            if (delta / first - 1.0).abs() < 0.2 {
                continue;
            }
            let text = PARTS.iter().find(|p| p.0 == f[0]).unwrap().1;
            let limit = theory(text, true, &[delta]).unwrap().0[0][3];
            assert!(
                (mean - limit).abs() < 4.0 * half + 1.0 / 300f64.sqrt(),
                "{}: δ = {delta}: {mean} ± {half} vs {limit}",
                f[0]
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
