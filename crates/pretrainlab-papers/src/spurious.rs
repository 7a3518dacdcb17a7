//! `spurious-ridge`: Bombari & Mondelli, "Spurious Correlations in High Dimensional
//! Regression: The Roles of Regularization, Simplicity Bias and Over-Parameterization"
//! (arXiv 2502.01347).
//!
//! Four experiments of the `spurious-ridge` model, each checked point by point:
//! - `lambda/`: linear ridge along λ (d = 100, n = 300);
//! - `random/`: ridge on ReLU random features along λ (d = 50, n = 200, width 10n);
//! - `coupling/`: `C` along the coupling `a` of `y = a·x + w` at λ = 0.1;
//! - `simplicity/`: `C` along the spike `s` of the spectrum of `D = Cov w` at λ = 0.1.
//!
//! [`post`] draws under `paper/`, from the stored results and the model's theory:
//! - `lambda_linear` and `lambda_random`: `C(λ)` and `L(λ)`, the equivalent as a line, the
//!   simulated means with 95% error bars, and the two arg-optima (`arg min L`, `arg max C`)
//!   as vertical lines; for random features also the paper's width → ∞ equivalent ridge;
//! - `c_vs_coupling` and `c_vs_simplicity`: `C` against the x–y coupling (the theory in
//!   its Schur-complement form) and against the spike of `D`;
//! - `curves.csv`: every theory curve drawn, `points.csv`: every simulated point.
//!
//! Every file is a function of the stored results and the model, so a rerun writes
//! identical bytes.

use std::fmt::Write as _;

use pretrainlab::models::spurious::SpuriousRidge;
use pretrainlab_experiment::PointResult;
use pretrainlab_report::{Figure, Series, Style};

use crate::{Context, Out, PaperError, Part, Preset};

const NAME: &str = "spurious-ridge";

/// The four experiments: folder and file.
const PARTS: &[Part] = &[
    Part {
        folder: "lambda",
        text: include_str!("../presets/spurious-ridge-lambda.toml"),
    },
    Part {
        folder: "random",
        text: include_str!("../presets/spurious-ridge-random.toml"),
    },
    Part {
        folder: "coupling",
        text: include_str!("../presets/spurious-ridge-coupling.toml"),
    },
    Part {
        folder: "simplicity",
        text: include_str!("../presets/spurious-ridge-simplicity.toml"),
    },
];

/// Points of each theory curve.
const CURVE_POINTS: usize = 61;

pub fn preset() -> Preset {
    Preset {
        name: NAME,
        summary: "spurious correlations in ridge regression (Bombari & Mondelli, arXiv 2502.01347): C(λ) and L(λ) with their arg-optima, linear and random features, C against the x–y coupling and the simplicity of y; deterministic equivalent and simulation",
        parts: PARTS,
        post: Some(post),
    }
}

fn post_error(message: impl Into<String>) -> PaperError {
    PaperError::Post(message.into())
}

/// One theory curve and the simulated points beside it.
struct Panel {
    /// `lambda_linear`, `c_vs_coupling`, …: the figure and the CSV key.
    key: &'static str,
    x_name: &'static str,
    x: Vec<f64>,
    /// `(name, values)` of each theory curve along `x`.
    theory: Vec<(&'static str, Vec<f64>)>,
    /// Simulated points: x, and per metric mean and s.e.
    sim_x: Vec<f64>,
    sim: Vec<(&'static str, Vec<f64>, Vec<f64>)>,
}

/// The experiment file of part `folder` parsed (with `--quick` applied as run), for the
/// fixed parameters its theory curves start from.
fn base_params(folder: &str, quick: bool) -> Result<toml::Table, PaperError> {
    let part = PARTS
        .iter()
        .find(|p| p.folder == folder)
        .ok_or_else(|| post_error(format!("no part `{folder}`")))?;
    let exp = pretrainlab_experiment::parse(part.text, quick)
        .map_err(|e| post_error(format!("part `{folder}`: {e}")))?;
    exp.points
        .first()
        .map(|p| p.params.clone())
        .ok_or_else(|| post_error(format!("part `{folder}` has no points")))
}

fn build(params: toml::Table) -> Result<SpuriousRidge, PaperError> {
    SpuriousRidge::build(params).map_err(|e| post_error(e.to_string()))
}

/// The mean and s.e. of `metric` at each point.
fn simulated(points: &[PointResult], metric: &str) -> (Vec<f64>, Vec<f64>) {
    points
        .iter()
        .map(|p| {
            p.check
                .as_ref()
                .and_then(|c| c.simulation.metric(metric))
                .map_or((f64::NAN, f64::NAN), |s| (s.mean, s.se))
        })
        .unzip()
}

fn coordinate(point: &PointResult, axis: &str) -> Result<f64, PaperError> {
    let value = point
        .coords
        .iter()
        .find(|(k, _)| k == axis)
        .map(|(_, v)| v)
        .ok_or_else(|| post_error(format!("point `{}` has no axis `{axis}`", point.label)))?;
    match value {
        toml::Value::Float(f) => Ok(*f),
        toml::Value::Integer(i) => Ok(*i as f64),
        // The spike of a diagonal `spurious_noise`: its first entry.
        toml::Value::Array(a) => a
            .first()
            .and_then(|v| v.as_float())
            .ok_or_else(|| post_error(format!("point `{}`: `{axis}` is empty", point.label))),
        other => Err(post_error(format!("`{axis}` = {other} is not a number"))),
    }
}

fn geomspace(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    (0..count)
        .map(|i| (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / (count - 1) as f64).exp())
        .collect()
}

/// `C(λ)` and `L(λ)` of part `folder` along λ over the swept range (one decade wider).
fn lambda_panel(
    ctx: &Context<'_>,
    folder: &str,
    key: &'static str,
) -> Result<(Panel, (f64, f64)), PaperError> {
    let points = ctx.part(folder)?;
    let sim_x: Vec<f64> = points
        .iter()
        .map(|p| coordinate(p, "lambda"))
        .collect::<Result<_, _>>()?;
    let (lo, hi) = sim_x
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    let x = geomspace(lo / 3.0, hi * 3.0, CURVE_POINTS);
    let model = build(base_params(folder, ctx.quick)?)?;
    let curve = model.curve(&x).map_err(|e| post_error(e.to_string()))?;
    let mut theory = vec![
        ("spurious_c", curve.iter().map(|c| c.0).collect()),
        ("excess_loss", curve.iter().map(|c| c.1).collect()),
    ];
    if folder == "random" {
        let wide: Vec<(f64, f64)> = x
            .iter()
            .map(|&l| model.equivalent(l, false).map(|e| (e.c_direct, e.loss)))
            .collect::<Result<_, _>>()
            .map_err(|e| post_error(e.to_string()))?;
        theory.push(("spurious_c_wide", wide.iter().map(|c| c.0).collect()));
        theory.push(("excess_loss_wide", wide.iter().map(|c| c.1).collect()));
    }
    let optima = points
        .first()
        .and_then(PointResult::predicted)
        .and_then(|p| {
            Some((
                p.quantity("argmin_loss_lambda")?,
                p.quantity("argmax_c_lambda")?,
            ))
        })
        .ok_or_else(|| post_error(format!("part `{folder}` has no predicted optima")))?;
    let sim = ["spurious_c", "excess_loss"]
        .iter()
        .map(|&m| {
            let (mean, se) = simulated(points, m);
            (m, mean, se)
        })
        .collect();
    Ok((
        Panel {
            key,
            x_name: "lambda",
            x,
            theory,
            sim_x,
            sim,
        },
        optima,
    ))
}

/// `C` of part `folder` along `axis`, the theory at each of `xs` from `params_at(x)`.
fn c_panel(
    ctx: &Context<'_>,
    folder: &str,
    key: &'static str,
    axis: &'static str,
    xs: Vec<f64>,
    set: &dyn Fn(&mut toml::Table, f64),
    schur: bool,
) -> Result<Panel, PaperError> {
    let points = ctx.part(folder)?;
    let sim_x: Vec<f64> = points
        .iter()
        .map(|p| coordinate(p, axis))
        .collect::<Result<_, _>>()?;
    let base = base_params(folder, ctx.quick)?;
    let theory: Vec<f64> = xs
        .iter()
        .map(|&x| {
            let mut params = base.clone();
            set(&mut params, x);
            let model = build(params)?;
            let lambda = params_lambda(&base)?;
            let e = model
                .equivalent(lambda, schur)
                .map_err(|e| post_error(e.to_string()))?;
            Ok(if schur { e.c_schur } else { e.c_direct })
        })
        .collect::<Result<_, PaperError>>()?;
    let (mean, se) = simulated(points, "spurious_c");
    Ok(Panel {
        key,
        x_name: axis,
        x: xs,
        theory: vec![("spurious_c", theory)],
        sim_x,
        sim: vec![("spurious_c", mean, se)],
    })
}

fn params_lambda(params: &toml::Table) -> Result<f64, PaperError> {
    params
        .get("lambda")
        .and_then(toml::Value::as_float)
        .ok_or_else(|| post_error("a part has no numeric `lambda`"))
}

/// A vertical line at `x` across `[lo, hi]`.
fn vline(label: String, x: f64, (lo, hi): (f64, f64)) -> Series {
    Series {
        label,
        x: vec![x, x],
        y: vec![lo, hi],
        err: None,
        style: Style::Line,
    }
}

/// The range of the finite values of the given series.
fn span(series: &[&[f64]]) -> (f64, f64) {
    series
        .iter()
        .flat_map(|s| s.iter())
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        })
}

/// One figure of `metric` in `panel`: theory lines, simulated means ± 1.96 s.e., and the
/// vertical `markers`.
fn figure(panel: &Panel, metric: &str, title: String, markers: &[(String, f64)]) -> Figure {
    let mut series: Vec<Series> = panel
        .theory
        .iter()
        .filter(|(name, _)| name.starts_with(metric))
        .map(|(name, y)| Series {
            label: if name.ends_with("_wide") {
                "equivalent ridge (width → ∞)".into()
            } else {
                "theory".into()
            },
            x: panel.x.clone(),
            y: y.clone(),
            err: None,
            style: Style::Line,
        })
        .collect();
    let mut ys: Vec<&[f64]> = panel
        .theory
        .iter()
        .filter(|(n, _)| n.starts_with(metric))
        .map(|(_, y)| y.as_slice())
        .collect();
    for (name, mean, se) in &panel.sim {
        if *name == metric {
            ys.push(mean);
            series.push(Series {
                label: "simulation (95%)".into(),
                x: panel.sim_x.clone(),
                y: mean.clone(),
                err: Some(se.iter().map(|s| 1.96 * s).collect()),
                style: Style::Points,
            });
        }
    }
    let range = span(&ys);
    for (label, x) in markers {
        series.push(vline(label.clone(), *x, range));
    }
    Figure {
        title,
        x_label: panel.x_name.into(),
        y_label: metric.into(),
        log_x: panel.x_name == "lambda",
        log_y: false,
        series,
    }
}

fn curves_csv(panels: &[Panel]) -> String {
    let mut out = String::from("panel,x_name,x,curve,value\n");
    for p in panels {
        for (name, ys) in &p.theory {
            for (x, y) in p.x.iter().zip(ys) {
                let _ = writeln!(out, "{},{},{x},{name},{y}", p.key, p.x_name);
            }
        }
    }
    out
}

fn points_csv(panels: &[Panel]) -> String {
    let mut out = String::from("panel,x_name,x,metric,mean,se\n");
    for p in panels {
        for (name, mean, se) in &p.sim {
            for ((x, m), s) in p.sim_x.iter().zip(mean).zip(se) {
                let _ = writeln!(out, "{},{},{x},{name},{m},{s}", p.key, p.x_name);
            }
        }
    }
    out
}

/// Writes the figures and CSVs under `paper/`.
pub fn post(ctx: &Context<'_>) -> Result<Vec<String>, PaperError> {
    let mut out = Out::new(ctx.dir);
    let mut panels = Vec::new();
    for (folder, key, what) in [
        ("lambda", "lambda_linear", "linear ridge"),
        ("random", "lambda_random", "ReLU random features"),
    ] {
        let (panel, (argmin_loss, argmax_c)) = lambda_panel(ctx, folder, key)?;
        let number = pretrainlab_report::format_number;
        let markers = [
            (format!("arg min L = {}", number(argmin_loss)), argmin_loss),
            (format!("arg max C = {}", number(argmax_c)), argmax_c),
        ];
        let figs = [
            figure(&panel, "spurious_c", format!("C(λ), {what}"), &markers),
            figure(&panel, "excess_loss", format!("L(λ), {what}"), &markers),
        ];
        out.panels(&figs, key)?;
        panels.push(panel);
    }
    let coupling = c_panel(
        ctx,
        "coupling",
        "c_vs_coupling",
        "coupling",
        (0..CURVE_POINTS)
            .map(|i| 1.6 * i as f64 / (CURVE_POINTS - 1) as f64)
            .collect(),
        &|t, a| {
            t.insert("coupling".into(), toml::Value::Float(a));
        },
        true,
    )?;
    out.figure(
        &figure(
            &coupling,
            "spurious_c",
            "C against the x–y coupling a (y = a·x + w), Schur-complement form".into(),
            &[],
        ),
        "c_vs_coupling",
    )?;
    panels.push(coupling);
    let simplicity = c_panel(
        ctx,
        "simplicity",
        "c_vs_simplicity",
        "spurious_noise",
        geomspace(0.03, 50.0, CURVE_POINTS),
        &|t, s| {
            let d = t.get("d").and_then(toml::Value::as_integer).unwrap_or(0) as usize;
            let diag = (0..d)
                .map(|i| toml::Value::Float(if i < 2 { s } else { 0.05 }))
                .collect();
            t.insert("spurious_noise".into(), toml::Value::Array(diag));
        },
        false,
    )?;
    let mut fig = figure(
        &simplicity,
        "spurious_c",
        "C against the spike s of D = Cov w (two directions of variance s, the rest 0.05)".into(),
        &[],
    );
    fig.x_label = "spike s of D".into();
    fig.log_x = true;
    out.figure(&fig, "c_vs_simplicity")?;
    panels.push(simplicity);
    out.text("curves.csv", &curves_csv(&panels))?;
    out.text("points.csv", &points_csv(&panels))?;
    Ok(out.files())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quick preset end to end: every point of the four experiments passes its check,
    /// every figure and CSV is written, and the drawn theory curves of the linear panel
    /// have their optima where the prediction's search put them.
    #[test]
    fn the_quick_preset_draws_every_panel() {
        let (dir, parts, files) = crate::run_quick(&preset(), "spurious");
        for part in &parts {
            for (label, verdict) in &part.verdicts {
                assert_eq!(verdict, "pass", "{label}");
            }
        }
        for stem in [
            "lambda_linear",
            "lambda_random",
            "c_vs_coupling",
            "c_vs_simplicity",
        ] {
            assert!(files.contains(&format!("paper/{stem}.svg")), "{files:?}");
            assert!(dir.join(format!("paper/{stem}.png")).is_file());
        }
        let csv = std::fs::read_to_string(dir.join("paper/curves.csv")).unwrap();
        let curve = |name: &str| -> Vec<(f64, f64)> {
            csv.lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split(',').collect();
                    (f[0] == "lambda_linear" && f[3] == name)
                        .then(|| (f[2].parse().unwrap(), f[4].parse().unwrap()))
                })
                .collect()
        };
        let best = |points: Vec<(f64, f64)>, sign: f64| {
            points
                .into_iter()
                .min_by(|a, b| (sign * a.1).total_cmp(&(sign * b.1)))
                .unwrap()
                .0
        };
        // The golden-section optima of the prediction sit within one grid step (log
        // spacing) of the best points of the drawn curves.
        let predicted = parts[0].results[0].predicted().unwrap();
        let step = (9000f64).ln() / (CURVE_POINTS - 1) as f64;
        for (name, sign, quantity) in [
            ("excess_loss", 1.0, "argmin_loss_lambda"),
            ("spurious_c", -1.0, "argmax_c_lambda"),
        ] {
            let drawn = best(curve(name), sign);
            let golden = predicted.quantity(quantity).unwrap();
            assert!(
                (drawn.ln() - golden.ln()).abs() <= step,
                "{name}: {drawn} vs {golden}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
