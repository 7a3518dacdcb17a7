//! `single-index-gd-sgd`: Kovačević, Ji, Wu, Soltanolkotabi & Mondelli, "Full-Batch
//! Gradient Descent Outperforms One-Pass SGD: Sample Complexity Separation in
//! Single-Index Learning" (arXiv 2602.02431).
//!
//! Four experiments of the model `single-index-gd-sgd` (y = σ(⟨x, θ⋆⟩)):
//! - `gd-square`, `gd-truncated`, `sgd`: the squared overlap against `δ = n/d` at several
//!   `d`, for full-batch spherical GD with `σ = z²`, with `σ = min(z², 8)`, and one-pass
//!   spherical SGD with the truncated link (the paper's Fig. 1);
//! - `strong`: GD on the squared loss (truncated link, `δ = 10`, `η = 0.1/M²`, start of
//!   norm `1/d²`): the steps to strong recovery against `d` (Fig. 2).
//!
//! [`post`] fits the weak-recovery threshold `δ⋆(d)` of each method (the crossing of mean
//! overlap² = 1/2, linear in `log δ` between the grid points that bracket it; its s.e. by
//! the delta method from the s.e. of those two means), checks the theory's statements as
//! criteria and draws under `paper/`:
//! - `overlap_vs_delta`: overlap² against δ for each `d`, one panel per method, with the
//!   BBP overlap of the spectral estimator with `T = 2y·1{y < M}` (a labelled proxy) on
//!   the truncated panel;
//! - `thresholds_vs_d`: `δ⋆(d)` against `d` (log axis) for the three methods, with the
//!   square link's heuristic `δ = (2/3) ln(δd)`;
//! - `steps_vs_d`: steps to strong recovery against `d` with the fit `a + b ln d`;
//! - `thresholds.csv`, `points.csv`, `strong.csv`, `criteria.csv`, `criteria.json`.
//!
//! The criteria: `δ⋆` ordered truncated < square < SGD at every `d`; the square link's
//! slope of `δ⋆` in `ln d` with a 95% interval above 0; the truncated curves collapse
//! (spread across `d` of mean overlap² at each `δ ≥ 6` at most 0.06 + 2 s.e.); the slope
//! `b` of the steps to strong recovery in `ln d` with a 95% interval above 0.

use std::fmt::Write as _;

use pretrainlab::model::Criterion;
use pretrainlab::models::single_index::SingleIndex;
use pretrainlab_experiment::PointResult;
use pretrainlab_report::{Figure, Series, Style};

use crate::{Context, Out, PaperError, Part, Preset};

const GD_SQUARE: &str = r#"
name = "single-index-gd-square"
description = "Full-batch spherical GD on the correlation loss with σ = z² (its limit is the top eigenvector of (2/n)Σ yᵢxᵢxᵢᵀ): overlap² against δ at d ∈ {64, …, 512}."
model = "single-index-gd-sgd"
actions = ["simulate"]
trials = 12
chunk = 12
seed = 1

[params]
link = "square"
algorithm = "gd"
lr = 1.0
steps = 150

[sweep]
[sweep.axes]
delta = { geomspace = [2.0, 16.0, 7] }
d = { list = [64, 128, 256, 512] }

[quick]
trials = 4
chunk = 4
[quick.axes]
delta = { geomspace = [2.0, 16.0, 4] }
d = { list = [32, 64] }
"#;

const GD_TRUNCATED: &str = r#"
name = "single-index-gd-truncated"
description = "Full-batch spherical GD on the correlation loss with σ = min(z², 8), η = 0.1: overlap² against δ at d ∈ {64, …, 512}."
model = "single-index-gd-sgd"
actions = ["simulate"]
trials = 12
chunk = 12
seed = 2

[params]
link = "truncated"
truncation = 8.0
algorithm = "gd"
lr = 0.1
steps = 150

[sweep]
[sweep.axes]
delta = { geomspace = [1.5, 12.0, 7] }
d = { list = [64, 128, 256, 512] }

[quick]
trials = 4
chunk = 4
[quick.axes]
delta = { geomspace = [1.5, 12.0, 4] }
d = { list = [32, 64] }
"#;

const SGD: &str = r#"
name = "single-index-sgd"
description = "One-pass spherical SGD (step 0.1/d, one fresh sample per step) with σ = min(z², 8): overlap² against δ at d ∈ {64, …, 512}."
model = "single-index-gd-sgd"
actions = ["simulate"]
trials = 12
chunk = 12
seed = 3

[params]
link = "truncated"
truncation = 8.0
algorithm = "sgd"
lr = 0.1

[sweep]
[sweep.axes]
delta = { geomspace = [4.0, 64.0, 9] }
d = { list = [64, 128, 256, 512] }

[quick]
trials = 4
chunk = 4
[quick.axes]
delta = { geomspace = [4.0, 64.0, 5] }
d = { list = [32, 64] }
"#;

const STRONG: &str = r#"
name = "single-index-strong"
description = "GD on the squared loss, σ = min(z², 8), δ = 10, η = 0.1/M², start of norm 1/d²: steps until min ‖θ ∓ θ⋆‖ < 0.01 against d."
model = "single-index-gd-sgd"
actions = ["simulate"]
trials = 16
chunk = 16
seed = 4

[params]
link = "truncated"
truncation = 8.0
algorithm = "gd-squared"
delta = 10.0
strong_tol = 0.01

[sweep]
[sweep.axes]
d = { list = [32, 64, 128, 256] }

[quick]
trials = 3
chunk = 3
[quick.axes]
d = { list = [32, 64] }
"#;

/// The three weak-recovery methods: part folder and label.
const METHODS: [(&str, &str); 3] = [
    ("gd-truncated", "GD, truncated σ"),
    ("gd-square", "GD, σ = z²"),
    ("sgd", "one-pass SGD, truncated σ"),
];

/// The truncated curves' collapse bound on the spread of mean overlap² across `d`.
const COLLAPSE: f64 = 0.06;
/// Smallest δ at which the collapse is checked.
const COLLAPSE_FROM: f64 = 6.0;

pub fn preset() -> Preset {
    Preset {
        name: "single-index-gd-sgd",
        summary: "full-batch GD against one-pass SGD on y = σ(⟨x, θ⋆⟩) (Kovačević et al., Full-Batch Gradient Descent Outperforms One-Pass SGD, arXiv 2602.02431): overlap² against δ at several d for GD with σ = z², truncated GD and SGD, the fitted thresholds δ⋆(d), and the steps to strong recovery against d",
        parts: &[
            Part {
                folder: "gd-square",
                text: GD_SQUARE,
            },
            Part {
                folder: "gd-truncated",
                text: GD_TRUNCATED,
            },
            Part {
                folder: "sgd",
                text: SGD,
            },
            Part {
                folder: "strong",
                text: STRONG,
            },
        ],
        post: Some(post),
    }
}

fn post_error(message: impl Into<String>) -> PaperError {
    PaperError::Post(message.into())
}

fn label(p: &PointResult, name: &str) -> Option<f64> {
    p.labels
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v.as_f64())
}

/// The trials of one `(d, δ)` point of a method.
struct Cell {
    d: f64,
    delta: f64,
    values: Vec<f64>,
}

/// The cells of `metric`, grouped by `d` (ascending), each group sorted by `δ`.
fn cells(points: &[PointResult], metric: &str) -> Vec<(f64, Vec<Cell>)> {
    let mut all: Vec<Cell> = points
        .iter()
        .filter_map(|p| {
            let values: Vec<f64> = p
                .trials
                .column(metric)?
                .into_iter()
                .filter(|v| v.is_finite())
                .collect();
            Some(Cell {
                d: label(p, "d")?,
                delta: label(p, "delta")?,
                values,
            })
        })
        .filter(|c| !c.values.is_empty())
        .collect();
    all.sort_by(|a, b| a.d.total_cmp(&b.d).then(a.delta.total_cmp(&b.delta)));
    let mut out: Vec<(f64, Vec<Cell>)> = Vec::new();
    for c in all {
        match out.last_mut() {
            Some((d, group)) if *d == c.d => group.push(c),
            _ => out.push((c.d, vec![c])),
        }
    }
    out
}

fn summary(v: &[f64]) -> (f64, f64) {
    pretrainlab::stats::Summary::of(v).map_or((f64::NAN, f64::NAN), |s| (s.mean, s.se))
}

/// The first crossing of `level` by `means` along `log δ`, linear between the bracketing
/// grid points, and the s.e. of the crossing by the delta method from the s.e. `ses` of
/// those two means: with `x = ln δ`, `x⋆ = x₀ + (L − y₀)(x₁ − x₀)/(y₁ − y₀)`,
/// `∂x⋆/∂y₀ = −(x₁ − x₀)(y₁ − L)/(y₁ − y₀)²`, `∂x⋆/∂y₁ = −(x₁ − x₀)(L − y₀)/(y₁ − y₀)²`,
/// and `se(δ⋆) = δ⋆·se(x⋆)`. `None` when the curve never reaches `level`; `(δ₀, 0)` when
/// it starts above it.
fn crossing(deltas: &[f64], means: &[f64], ses: &[f64], level: f64) -> Option<(f64, f64)> {
    if means.first()? >= &level {
        return Some((deltas[0], 0.0));
    }
    let i = means.iter().position(|&m| m >= level)?;
    let (x0, x1) = (deltas[i - 1].ln(), deltas[i].ln());
    let (y0, y1) = (means[i - 1], means[i]);
    let dy = y1 - y0;
    let x = x0 + (level - y0) * (x1 - x0) / dy;
    let g0 = (x1 - x0) * (y1 - level) / (dy * dy);
    let g1 = (x1 - x0) * (level - y0) / (dy * dy);
    let se = (g0 * g0 * ses[i - 1].powi(2) + g1 * g1 * ses[i].powi(2)).sqrt();
    Some((x.exp(), x.exp() * se))
}

/// `δ⋆` of one `d` and its s.e.
fn threshold(group: &[Cell]) -> (Option<f64>, f64) {
    let deltas: Vec<f64> = group.iter().map(|c| c.delta).collect();
    let stats: Vec<(f64, f64)> = group.iter().map(|c| summary(&c.values)).collect();
    let means: Vec<f64> = stats.iter().map(|s| s.0).collect();
    let ses: Vec<f64> = stats
        .iter()
        .map(|s| if s.1.is_finite() { s.1 } else { 0.0 })
        .collect();
    match crossing(&deltas, &means, &ses, 0.5) {
        Some((t, se)) => (Some(t), se),
        None => (None, f64::NAN),
    }
}

/// One fitted threshold.
struct Threshold {
    method: &'static str,
    d: f64,
    delta: Option<f64>,
    se: f64,
}

fn thresholds(ctx: &Context<'_>) -> Result<Vec<Threshold>, PaperError> {
    let mut out = Vec::new();
    for (folder, _) in METHODS {
        for (d, group) in cells(ctx.part(folder)?, "overlap2") {
            let (delta, se) = threshold(&group);
            out.push(Threshold {
                method: folder,
                d,
                delta,
                se,
            });
        }
    }
    Ok(out)
}

fn criterion(
    name: &str,
    statement: String,
    measured: f64,
    se: Option<f64>,
    pass: bool,
) -> Criterion {
    Criterion {
        name: name.into(),
        statement,
        predicted: None,
        measured,
        se,
        pass,
    }
}

/// Truncated < square < SGD at every `d` (a method with no crossing counts as ∞).
fn ordering(ts: &[Threshold]) -> Criterion {
    let of = |m: &str, d: f64| {
        ts.iter()
            .find(|t| t.method == m && t.d == d)
            .and_then(|t| t.delta)
            .unwrap_or(f64::INFINITY)
    };
    let ds: Vec<f64> = ts
        .iter()
        .filter(|t| t.method == "gd-square")
        .map(|t| t.d)
        .collect();
    let held = ds
        .iter()
        .filter(|&&d| {
            of("gd-truncated", d) < of("gd-square", d) && of("gd-square", d) < of("sgd", d)
        })
        .count();
    criterion(
        "threshold_ordering",
        format!(
            "δ⋆ ordered truncated GD < square GD < SGD at every d; measured: the number of d (of {}) where it holds",
            ds.len()
        ),
        held as f64,
        None,
        held == ds.len() && !ds.is_empty(),
    )
}

/// Weighted line of `δ⋆` against `ln d` for one method.
fn log_d_slope(ts: &[Threshold], method: &str) -> Option<pretrainlab::fit::Line> {
    let (mut x, mut y, mut se) = (Vec::new(), Vec::new(), Vec::new());
    for t in ts.iter().filter(|t| t.method == method) {
        if let Some(v) = t.delta {
            x.push(t.d.ln());
            y.push(v);
            se.push(t.se.max(1e-3 * v));
        }
    }
    pretrainlab::fit::weighted_line(&x, &y, &se).ok()
}

/// The spread across `d` of the truncated GD's mean overlap² at each `δ ≥ 6`.
fn collapse(points: &[PointResult]) -> Criterion {
    let groups = cells(points, "overlap2");
    let mut worst: (f64, f64, f64) = (0.0, 0.0, f64::NAN);
    let mut all_pass = !groups.is_empty();
    if let Some((_, first)) = groups.first() {
        for delta in first
            .iter()
            .map(|c| c.delta)
            .filter(|&x| x >= COLLAPSE_FROM)
        {
            let stats: Vec<(f64, f64)> = groups
                .iter()
                .filter_map(|(_, g)| g.iter().find(|c| c.delta == delta))
                .map(|c| summary(&c.values))
                .collect();
            let lo = stats.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
            let hi = stats.iter().map(|s| s.0).fold(f64::NEG_INFINITY, f64::max);
            let se = stats.iter().map(|s| s.1).fold(0.0, f64::max);
            let spread = hi - lo;
            all_pass &= spread <= COLLAPSE + 2.0 * se;
            if spread > worst.0 || worst.2.is_nan() {
                worst = (spread, se, delta);
            }
        }
    }
    criterion(
        "truncated_collapse",
        format!(
            "truncated GD: at each δ ≥ {COLLAPSE_FROM} the spread across d of mean overlap² is ≤ {COLLAPSE} + 2 s.e. (largest at δ = {:.2})",
            worst.2
        ),
        worst.0,
        Some(worst.1),
        all_pass,
    )
}

/// Steps to strong recovery: mean and s.e. per `d`, and the fit `a + b ln d`.
/// One size of the strong experiment: `d`, mean steps, their s.e., trials that reached it.
type StrongRow = (f64, f64, f64, usize);

fn strong(points: &[PointResult]) -> (Vec<StrongRow>, Option<pretrainlab::fit::Line>) {
    let rows: Vec<StrongRow> = cells(points, "steps_to_strong")
        .into_iter()
        .filter_map(|(d, g)| {
            let c = g.first()?;
            let (m, se) = summary(&c.values);
            Some((d, m, se, c.values.len()))
        })
        .collect();
    let x: Vec<f64> = rows.iter().map(|r| r.0.ln()).collect();
    let y: Vec<f64> = rows.iter().map(|r| r.1).collect();
    let se: Vec<f64> = rows.iter().map(|r| r.2.max(1.0)).collect();
    (rows, pretrainlab::fit::weighted_line(&x, &y, &se).ok())
}

/// The heuristic search-phase slope `2/ln(1 + ηλ₁)` of the strong experiment's model.
fn heuristic_slope(points: &[PointResult]) -> Option<f64> {
    let p = points.first()?;
    let params: toml::Table = p
        .coords
        .iter()
        .cloned()
        .chain(
            [
                ("link", toml::Value::String("truncated".into())),
                ("algorithm", toml::Value::String("gd-squared".into())),
                ("delta", toml::Value::Float(label(p, "delta")?)),
            ]
            .map(|(k, v)| (k.to_string(), v)),
        )
        .collect();
    let model = pretrainlab::registry::build("single-index-gd-sgd", params).ok()?;
    model.predict().ok()?.quantity("search_slope_heuristic")
}

/// The BBP proxy of truncated GD (`T = 2y·1{y < 8}`) along `deltas`.
fn proxy_curve(deltas: &[f64]) -> Result<Vec<f64>, PaperError> {
    let model = SingleIndex::build(toml::Table::new()).map_err(|e| post_error(e.to_string()))?;
    deltas
        .iter()
        .map(|&delta| match model.spectral_at(delta) {
            Ok(Some(l)) => Ok(l.overlap2),
            Ok(None) => Err(post_error("the truncated link has no spectral limit")),
            Err(e) => Err(post_error(e.to_string())),
        })
        .collect()
}

fn series(label: String, x: Vec<f64>, y: Vec<f64>, err: Option<Vec<f64>>, style: Style) -> Series {
    Series {
        label,
        x,
        y,
        err,
        style,
    }
}

/// Figures, CSVs and criteria under `paper/`.
pub fn post(ctx: &Context<'_>) -> Result<Vec<String>, PaperError> {
    let ts = thresholds(ctx)?;
    let mut out = Out::new(ctx.dir);
    let mut points_csv = String::from("method,d,delta,mean_overlap2,se,trials\n");
    let mut panels = Vec::new();
    for (folder, name) in METHODS {
        let mut fig = Figure {
            title: name.into(),
            x_label: "δ = n/d".into(),
            y_label: "overlap²".into(),
            log_x: true,
            log_y: false,
            series: Vec::new(),
        };
        for (d, group) in cells(ctx.part(folder)?, "overlap2") {
            let stats: Vec<(f64, f64)> = group.iter().map(|c| summary(&c.values)).collect();
            for (c, s) in group.iter().zip(&stats) {
                let _ = writeln!(
                    points_csv,
                    "{folder},{d},{},{},{},{}",
                    c.delta,
                    s.0,
                    s.1,
                    c.values.len()
                );
            }
            fig.series.push(series(
                format!("d = {d}"),
                group.iter().map(|c| c.delta).collect(),
                stats.iter().map(|s| s.0).collect(),
                Some(stats.iter().map(|s| 1.96 * s.1).collect()),
                Style::Line,
            ));
        }
        if folder == "gd-truncated"
            && let Some((_, group)) = cells(ctx.part(folder)?, "overlap2").first()
        {
            let lo = group.first().map_or(1.0, |c| c.delta);
            let hi = group.last().map_or(10.0, |c| c.delta);
            let grid: Vec<f64> = (0..=24)
                .map(|i| lo * (hi / lo).powf(i as f64 / 24.0))
                .collect();
            let y = proxy_curve(&grid)?;
            fig.series.push(series(
                "BBP proxy, T = 2y·1{y < M}".into(),
                grid,
                y,
                None,
                Style::Line,
            ));
        }
        panels.push(fig);
    }
    out.panels(&panels, "overlap_vs_delta")?;

    let mut thresholds_csv = String::from("method,d,delta_star,se\n");
    let mut fig = Figure {
        title: "Weak-recovery threshold δ⋆ (mean overlap² = 1/2)".into(),
        x_label: "d".into(),
        y_label: "δ⋆".into(),
        log_x: true,
        log_y: false,
        series: Vec::new(),
    };
    for (folder, name) in METHODS {
        let mine: Vec<&Threshold> = ts.iter().filter(|t| t.method == folder).collect();
        for t in &mine {
            let _ = writeln!(
                thresholds_csv,
                "{folder},{},{},{}",
                t.d,
                t.delta.map_or("none".into(), |v| v.to_string()),
                t.se
            );
        }
        let found: Vec<&&Threshold> = mine.iter().filter(|t| t.delta.is_some()).collect();
        fig.series.push(series(
            name.into(),
            found.iter().map(|t| t.d).collect(),
            found.iter().filter_map(|t| t.delta).collect(),
            Some(found.iter().map(|t| 1.96 * t.se).collect()),
            Style::Points,
        ));
    }
    let ds: Vec<f64> = ts
        .iter()
        .filter(|t| t.method == "gd-square")
        .map(|t| t.d)
        .collect();
    fig.series.push(series(
        "heuristic δ = (2/3) ln(δd), σ = z²".into(),
        ds.clone(),
        ds.iter()
            .map(|&d| SingleIndex::square_heuristic_threshold(d as usize))
            .collect(),
        None,
        Style::Line,
    ));
    out.figure(&fig, "thresholds_vs_d")?;

    let (rows, fit) = strong(ctx.part("strong")?);
    let heuristic = heuristic_slope(ctx.part("strong")?);
    let mut strong_csv = String::from("d,mean_steps,se,trials_reached\n");
    for r in &rows {
        let _ = writeln!(strong_csv, "{},{},{},{}", r.0, r.1, r.2, r.3);
    }
    let mut sfig = Figure {
        title: "Steps to strong recovery (GD, squared loss, δ = 10)".into(),
        x_label: "d".into(),
        y_label: "steps".into(),
        log_x: true,
        log_y: false,
        series: vec![series(
            "simulated (95%)".into(),
            rows.iter().map(|r| r.0).collect(),
            rows.iter().map(|r| r.1).collect(),
            Some(rows.iter().map(|r| 1.96 * r.2).collect()),
            Style::Points,
        )],
    };
    if let Some(f) = fit {
        let x: Vec<f64> = rows.iter().map(|r| r.0).collect();
        sfig.series.push(series(
            format!("fit {:.0} + {:.0} ln d", f.intercept, f.slope),
            x.clone(),
            x.iter().map(|d| f.intercept + f.slope * d.ln()).collect(),
            None,
            Style::Line,
        ));
    }
    out.figure(&sfig, "steps_vs_d")?;

    let mut criteria = vec![ordering(&ts)];
    let square = log_d_slope(&ts, "gd-square");
    criteria.push(match square {
        Some(l) => criterion(
            "square_threshold_grows_with_log_d",
            format!(
                "σ = z²: the slope of δ⋆ in ln d (weighted fit, intercept {:.2}) has a 95% interval above 0",
                l.intercept
            ),
            l.slope,
            Some(l.slope_se),
            l.slope - 1.96 * l.slope_se > 0.0,
        ),
        None => criterion(
            "square_threshold_grows_with_log_d",
            "σ = z²: fewer than two thresholds were found".into(),
            f64::NAN,
            None,
            false,
        ),
    });
    criteria.push(collapse(ctx.part("gd-truncated")?));
    criteria.push(match fit {
        Some(f) => criterion(
            "strong_steps_grow_like_log_d",
            format!(
                "squared loss: steps to strong recovery = a + b ln d with a = {:.0} and a 95% interval of b above 0 (heuristic search-phase slope 2/ln(1 + ηλ₁) = {})",
                f.intercept,
                heuristic.map_or("n/a".into(), |h| format!("{h:.0}"))
            ),
            f.slope,
            Some(f.slope_se),
            f.slope - 1.96 * f.slope_se > 0.0,
        ),
        None => criterion(
            "strong_steps_grow_like_log_d",
            "squared loss: fewer than two sizes reached strong recovery".into(),
            f64::NAN,
            None,
            false,
        ),
    });
    let mut criteria_csv = String::from("name,measured,se,pass,statement\n");
    for c in &criteria {
        let _ = writeln!(
            criteria_csv,
            "{},{},{},{},\"{}\"",
            c.name,
            c.measured,
            c.se.map_or(String::new(), |s| s.to_string()),
            c.pass,
            c.statement.replace('"', "'")
        );
    }
    let slopes = serde_json::json!({
        "square_log_d_slope": square.map(|l| [l.slope, l.slope_se]),
        "truncated_log_d_slope": log_d_slope(&ts, "gd-truncated").map(|l| [l.slope, l.slope_se]),
        "sgd_log_d_slope": log_d_slope(&ts, "sgd").map(|l| [l.slope, l.slope_se]),
        "strong_fit": fit.map(|f| [f.intercept, f.intercept_se, f.slope, f.slope_se]),
        "strong_heuristic_slope": heuristic,
    });
    out.json(
        "criteria.json",
        &serde_json::json!({
            "criteria": criteria,
            "pass": criteria.iter().all(|c| c.pass),
            "fits": slopes,
        }),
    )?;
    out.text("criteria.csv", &criteria_csv)?;
    out.text("thresholds.csv", &thresholds_csv)?;
    out.text("points.csv", &points_csv)?;
    out.text("strong.csv", &strong_csv)?;
    Ok(out.files())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The crossing interpolates linearly in log δ, its s.e. is the delta method's, and it
    /// reports none below the level.
    #[test]
    fn crossing_interpolates_in_log_delta() {
        let x = [1.0, 4.0];
        let (c, se) = crossing(&x, &[0.0, 1.0], &[0.1, 0.1], 0.5).unwrap();
        assert!((c - 2.0).abs() < 1e-12, "{c}");
        // Finite differences of the crossing in each mean give the delta-method s.e.
        let h = 1e-6;
        let at = |y0: f64, y1: f64| crossing(&x, &[y0, y1], &[0.0, 0.0], 0.5).unwrap().0;
        let g0 = (at(h, 1.0) - at(-h, 1.0)) / (2.0 * h);
        let g1 = (at(0.0, 1.0 + h) - at(0.0, 1.0 - h)) / (2.0 * h);
        let fd = 0.1 * (g0 * g0 + g1 * g1).sqrt();
        assert!((se - fd).abs() < 1e-6, "{se} vs {fd}");
        assert_eq!(crossing(&x, &[0.1, 0.2], &[0.0; 2], 0.5), None);
        assert_eq!(crossing(&x, &[0.6, 0.7], &[0.0; 2], 0.5), Some((1.0, 0.0)));
    }

    /// The quick preset end to end: every figure and CSV is written, a threshold is found
    /// for truncated GD at each d, and strong recovery is reached at each d.
    #[test]
    fn the_quick_preset_draws_the_thresholds() {
        let (dir, _, files) = crate::run_quick(&preset(), "single-index");
        for f in [
            "paper/overlap_vs_delta.svg",
            "paper/thresholds_vs_d.svg",
            "paper/steps_vs_d.svg",
            "paper/criteria.json",
        ] {
            assert!(files.contains(&f.to_string()), "{f}: {files:?}");
        }
        let read = |name: &str| std::fs::read_to_string(dir.join("paper").join(name)).unwrap();
        for line in read("thresholds.csv")
            .lines()
            .filter(|l| l.starts_with("gd-truncated"))
        {
            assert!(!line.contains("none"), "{line}");
        }
        for line in read("strong.csv").lines().skip(1) {
            let f: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
            assert!(f[1] > 0.0 && f[3] >= 1.0, "{line}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
