//! The training-dynamics paper presets: experiments over seeds, then the papers' panels.
//!
//! - `factorization-cascade`: Mohammadi, Tinati, Tu, Soltanolkotabi, Jovanović,
//!   "Stability properties of gradient flow dynamics for the symmetric low-rank matrix
//!   factorization problem" (arXiv 2411.15972). Two experiments check the gradient flow
//!   `Ẋ = (M − XXᵀ)X` of `¼‖XXᵀ − M‖²_F` over seeds, at the over-parameterised `r = 4`
//!   and the exact `r = r₁ = 2`; every seed stores its curves on the output grid.
//!   [`cascade_post`] draws, from the first completed seed, `‖S‖`, `‖H‖`, `‖P₁₁ − Λ₁‖`
//!   and `f − f⋆` against `t` (log–log) with the predicted asymptotes `√m/(2t)` and
//!   `m/(16t²)` and the closed-form `S(t)`.
//! - `diagonal-ptft`: Anguita, Locatello, Saxe, Mondelli, Mancini, Lippl, Dominé, "A Theory
//!   of How Pretraining Shapes Inductive Bias in Fine-Tuning" (arXiv 2602.20062).
//!   Replica parts predict the test-MSE curves along `α`; marker parts run the Σq_k
//!   interpolator on sampled instances (one point per curve and `α`, its trials the
//!   seeds); GD parts fine-tune by GD where it converges in reasonable time; one part
//!   evaluates the replica at the three points the spec quotes. [`diagonal_post`] draws
//!   the three-panel figure, the four regimes and the quoted values beside ours.
//!
//! Symbols of the factorization: `M = Mᵀ` (spectrum (3, 1.5, 0, 0, 0, −0.5, −1, −2)),
//! `X ∈ ℝ^{n×r}`; in `M`'s eigenbasis `P = VᵀXXᵀV` has blocks `P₁₁` (the `r₁` positive
//! eigenvalues `Λ₁` of `M`), `P₁₂`, `P₂₂`; `S = P₂₂ − P₂₁P₁₁⁻¹P₁₂` (the slow Schur
//! complement), `H = P₁₁⁻¹P₁₂`; `f⋆` is the least loss and `m = min(r − r₁, dim null M)`
//! the number of slow directions.
//!
//! Symbols of the diagonal networks: `α = n/d` fine-tuning (FT) samples per dimension;
//! `ρ_PT`, `ρ_FT` the support fractions of the pre-training (PT) and FT teachers; `ω` the
//! fraction of the FT support inside the PT support; `c_PT` the PT initialisation scale,
//! `λ_PT` its relative layer scale and `γ` the FT readout scale; the Σq_k interpolator
//! (Thm 4.1) is GD's implicit bias and the replica (Prop. 4.2) predicts its test MSE.
//!
//! Streams: the runner gives trial `s` of every point the stream
//! `trial_rng(seed, experiment_key(model), s)`, so the `S` seeds of one point (one marker)
//! draw from `S` distinct streams. The same seed index at another point of the same model
//! reuses its stream (common random numbers): markers along `α` of one curve share their
//! teachers, and their designs are nested.
//!
//! Every file is a function of the stored results (no timestamps), so a rerun writes
//! identical bytes.

use crate::Out;
use std::fmt::Write as _;

use pretrainlab::model::Prediction;
use pretrainlab_experiment::PointResult;
use pretrainlab_report::{Figure, Series, Style, write_figure, write_panels};
use serde_json::{Map, Value, json};

use crate::{Context, PaperError, Part, Preset};

/// A part whose experiment file is `presets/<prefix><folder>.toml`.
macro_rules! part {
    ($prefix:literal, $folder:literal) => {
        Part {
            folder: $folder,
            text: include_str!(concat!("../presets/", $prefix, $folder, ".toml")),
        }
    };
}

/// The training-dynamics paper presets.
pub fn presets() -> Vec<Preset> {
    vec![factorization_cascade(), diagonal_ptft()]
}

fn post_error(message: impl Into<String>) -> PaperError {
    PaperError::Post(message.into())
}

fn series(label: &str, x: &[f64], y: &[f64], style: Style) -> Series {
    Series {
        label: label.into(),
        x: x.to_vec(),
        y: y.to_vec(),
        err: None,
        style,
    }
}

/// The predicted curve `name` (its `t` and `y`).
fn predicted_curve<'a>(
    p: &'a Prediction,
    name: &str,
) -> Result<(&'a [f64], &'a [f64]), PaperError> {
    p.curves
        .iter()
        .find(|c| c.name == name)
        .map(|c| (c.t.as_slice(), c.y.as_slice()))
        .ok_or_else(|| post_error(format!("the prediction has no curve `{name}`")))
}

fn prediction(point: &PointResult) -> Result<&Prediction, PaperError> {
    point
        .predicted()
        .ok_or_else(|| post_error(format!("point `{}` has no prediction", point.label)))
}

// ---------------------------------------------------------------------------------------
// factorization-cascade

const CASCADE: &str = "factorization-cascade";

/// The two fits, one part each: the over-parameterised `r = 4` and the exact `r = r₁ = 2`.
const CASCADE_PARTS: &[Part] = &[
    part!("factorization-cascade-", "r4"),
    part!("factorization-cascade-", "r2"),
];

/// Each part's panel title.
const CASCADE_TAGS: [(&str, &str); 2] = [
    ("r4", "over-parameterised r = 4"),
    ("r2", "exact r = r₁ = 2"),
];

/// The curves each seed stores (the model's traces), in the CSV's column order.
const FLOW_CURVES: [&str; 5] = [
    "s_norm",
    "h_norm",
    "p11_err",
    "excess_loss",
    "s_closed_form_norm",
];

/// The predicted asymptotes `‖S‖ ≈ √m/(2t)` and `f − f⋆ ≈ m/(16t²)`.
const ASYMPTOTES: [&str; 2] = ["s_norm_asymptote", "excess_loss_asymptote"];

fn factorization_cascade() -> Preset {
    Preset {
        name: CASCADE,
        summary: "matrix factorization gradient flow (Mohammadi, Tinati, Tu, Soltanolkotabi, Jovanović, \"Stability properties of gradient flow dynamics for the symmetric low-rank matrix factorization problem\", arXiv 2411.15972): ‖S‖, ‖H‖, ‖P₁₁ − Λ₁‖ and f − f⋆ against t at r = 4 and r = r₁ = 2 with the predicted asymptotes, and the cascade checked over 16 seeds (4 quick)",
        parts: CASCADE_PARTS,
        post: Some(cascade_post),
    }
}

/// The one point of part `folder`.
fn only_point<'a>(ctx: &'a Context<'_>, folder: &str) -> Result<&'a PointResult, PaperError> {
    match ctx.part(folder)? {
        [point] => Ok(point),
        points => Err(post_error(format!(
            "part `{folder}` has {} points, expected 1",
            points.len()
        ))),
    }
}

/// The curves of a point's first completed seed.
struct FirstSeed<'a> {
    /// The seed's trial id.
    id: u64,
    /// The output grid of times.
    grid: &'a [f64],
    /// The [`FLOW_CURVES`] on the grid.
    curves: Vec<&'a [f64]>,
}

fn first_seed(point: &PointResult) -> Result<FirstSeed<'_>, PaperError> {
    let Some(&id) = point.trials.ids.first() else {
        return Err(post_error("the factorization flow failed on every seed"));
    };
    let grid = point
        .traces
        .first()
        .map(|t| t.t.as_slice())
        .ok_or_else(|| post_error("the factorization model stores no curves"))?;
    let curves = FLOW_CURVES
        .iter()
        .map(|name| {
            point
                .trials
                .trace(0, name)
                .ok_or_else(|| post_error(format!("no stored curve `{name}`")))
        })
        .collect::<Result<_, _>>()?;
    Ok(FirstSeed { id, grid, curves })
}

/// `t`, the flow's curves and the asymptotes, one row per grid time.
fn cascade_csv(t: &[f64], columns: &[&[f64]]) -> String {
    let mut csv = String::from("t");
    for name in FLOW_CURVES.iter().chain(&ASYMPTOTES) {
        let _ = write!(csv, ",{name}");
    }
    csv.push('\n');
    for (i, ti) in t.iter().enumerate() {
        let _ = write!(csv, "{ti}");
        for c in columns {
            let _ = write!(csv, ",{}", c[i]);
        }
        csv.push('\n');
    }
    csv
}

/// One panel: the flow's norms, and with `m > 0` slow directions the closed-form `S(t)`
/// and the asymptotes.
fn cascade_panel(title: String, t: &[f64], columns: &[&[f64]], slow: f64) -> Figure {
    let line = |label: &str, y: &[f64]| series(label, t, y, Style::Line);
    let mut s = vec![
        line("‖S(t)‖ (flow)", columns[0]),
        line("‖H(t)‖", columns[1]),
        line("‖P₁₁ − Λ₁‖", columns[2]),
        line("f − f⋆", columns[3]),
    ];
    if slow > 0.0 {
        s.push(series(
            "‖S(t)‖ closed form (eq. 1)",
            t,
            columns[4],
            Style::Points,
        ));
        s.push(line("√m/(2t) (predicted)", columns[5]));
        s.push(line("m/(16t²) (predicted)", columns[6]));
    }
    Figure {
        title,
        x_label: "t".into(),
        y_label: "norm".into(),
        log_x: true,
        log_y: true,
        series: s,
    }
}

/// Draws the cascade figure from each part's first completed seed, and writes the CSVs
/// and the checks' summary.
fn cascade_post(ctx: &Context<'_>) -> Result<Vec<String>, PaperError> {
    let mut out = Out::new(ctx.dir);
    let mut panels = Vec::new();
    let mut summary = Map::new();
    for (folder, tag) in CASCADE_TAGS {
        let point = only_point(ctx, folder)?;
        let check = point
            .check
            .as_ref()
            .ok_or_else(|| post_error(format!("part `{folder}` was not checked")))?;
        let pred = &check.prediction;
        let FirstSeed {
            id: seed,
            grid: t,
            curves: mut columns,
        } = first_seed(point)?;
        for name in ASYMPTOTES {
            columns.push(predicted_curve(pred, name)?.1);
        }
        out.text(
            &format!("factorization_{folder}.csv"),
            &cascade_csv(t, &columns),
        )?;
        let slow = pred.quantity("slow_modes_m").unwrap_or(0.0);
        let title = format!("Ẋ = (M − XXᵀ)X, {tag} (seed {seed})");
        panels.push(cascade_panel(title, t, &columns, slow));
        let quantities: Map<String, Value> = pred
            .quantities
            .iter()
            .map(|q| (q.name.clone(), json!(q.value)))
            .collect();
        summary.insert(
            folder.into(),
            json!({
                "prediction": quantities,
                "criteria": check.criteria,
                "verdict": check.verdict(),
                "seeds": check.simulation.trials,
                "completed": check.simulation.completed,
                "curves_from_seed": seed,
            }),
        );
    }
    out.image("factorization_cascade", |p| write_panels(&panels, p))?;
    out.json("summary.json", &Value::Object(summary))?;
    Ok(out.files())
}

// ---------------------------------------------------------------------------------------
// diagonal-ptft

const DIAGONAL: &str = "diagonal-ptft";

/// Replica curves (predict, `curve_points` values of α), one part per panel and side.
const REPLICA_PARTS: [&str; 6] = [
    "lambda-left-replica",
    "lambda-right-replica",
    "c-left-replica",
    "c-right-replica",
    "gamma-left-replica",
    "gamma-right-replica",
];
/// Σq_k-interpolator markers (simulate: one point per curve and α, trials = seeds).
const MARKER_PARTS: [&str; 6] = [
    "lambda-left-markers",
    "lambda-right-markers",
    "c-left-markers",
    "c-right-markers",
    "gamma-left-markers",
    "gamma-right-markers",
];
/// GD markers of the right sub-plots where GD converges in reasonable time.
const GD_PARTS: [&str; 2] = ["gd-c", "gd-gamma"];
/// The replica at the spec's three quoted points.
const SPEC_PART: &str = "spec-points";

const DIAGONAL_PARTS: &[Part] = &[
    part!("diagonal-ptft-", "lambda-left-replica"),
    part!("diagonal-ptft-", "lambda-right-replica"),
    part!("diagonal-ptft-", "c-left-replica"),
    part!("diagonal-ptft-", "c-right-replica"),
    part!("diagonal-ptft-", "gamma-left-replica"),
    part!("diagonal-ptft-", "gamma-right-replica"),
    part!("diagonal-ptft-", "lambda-left-markers"),
    part!("diagonal-ptft-", "lambda-right-markers"),
    part!("diagonal-ptft-", "c-left-markers"),
    part!("diagonal-ptft-", "c-right-markers"),
    part!("diagonal-ptft-", "gamma-left-markers"),
    part!("diagonal-ptft-", "gamma-right-markers"),
    part!("diagonal-ptft-", "gd-c"),
    part!("diagonal-ptft-", "gd-gamma"),
    part!("diagonal-ptft-", "spec-points"),
];

/// The spec's replica test MSE at α = 0.2, ρ_FT = 0.04: `(ω, c_PT, value)`.
const SPEC_VALUES: [(f64, f64, f64); 3] =
    [(1.0, 0.001, 2.5e-4), (0.0, 0.001, 0.404), (1.0, 0.5, 0.530)];

fn diagonal_ptft() -> Preset {
    Preset {
        name: DIAGONAL,
        summary: "diagonal networks PT → FT (Anguita, Locatello, Saxe, Mondelli, Mancini, Lippl, Dominé, \"A Theory of How Pretraining Shapes Inductive Bias in Fine-Tuning\", arXiv 2602.20062): the three-panel replica figure (test MSE in dB against α, varying λ_PT, c_PT and γ) with Σq_k-interpolator and GD markers, and the four regimes",
        parts: DIAGONAL_PARTS,
        post: Some(diagonal_post),
    }
}

/// What tells the figure's curves apart: the model parameters that vary between them
/// (all others: ρ_PT = 0.1, a_PT = 1, the oracle PT).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Setting {
    c_pt: f64,
    lambda_pt: f64,
    gamma: f64,
    rho_ft: f64,
    omega: f64,
}

/// One drawn replica curve: its panel (0 for the regimes), side, label and setting.
#[derive(Clone, Debug)]
struct CurveSpec {
    panel: usize,
    side: &'static str,
    label: String,
    setting: Setting,
}

/// One setting of a panel's varied parameter: its label, `c_PT`, `λ_PT` and `γ`.
type Varied = (String, f64, f64, f64);

/// The figure's panels: number, the varied parameter's settings and the title.
fn panel_settings() -> Vec<(usize, Vec<Varied>, &'static str)> {
    vec![
        (
            1,
            [-0.95, 0.0, 0.95]
                .iter()
                .map(|&l| (format!("λ={l}"), 0.001, l, 0.0))
                .collect(),
            "c_PT = 0.001, γ = 0",
        ),
        (
            2,
            [0.001, 0.01, 0.1, 0.5, 1.0]
                .iter()
                .map(|&c| (format!("c={c}"), c, 0.0, 0.0))
                .collect(),
            "λ_PT = 0, γ = 0",
        ),
        (
            3,
            [0.001, 0.01, 0.1, 1.0]
                .iter()
                .map(|&g| (format!("γ={g}"), 0.001, 0.0, g))
                .collect(),
            "c_PT = 0.001, λ_PT = 0",
        ),
    ]
}

/// The six sub-plots of a panel: side, ρ_FT, ω and title. Left: ω = 1, ρ_FT ∈ {0.02,
/// 0.04, 0.1}; right: ρ_FT = 0.1, ω ∈ {0, 0.5, 1}.
fn subplots() -> Vec<(&'static str, f64, f64, String)> {
    [0.02, 0.04, 0.1]
        .iter()
        .map(|&r| ("left", r, 1.0, format!("ω = 1, ρ_FT = {r}")))
        .chain(
            [0.0, 0.5, 1.0]
                .iter()
                .map(|&w| ("right", 0.1, w, format!("ρ_FT = 0.1, ω = {w}"))),
        )
        .collect()
}

/// The 72 curves of the three panels, in the old figure's order.
fn figure_specs() -> Vec<CurveSpec> {
    let mut out = vec![];
    for (panel, settings, _) in panel_settings() {
        for (label, c_pt, lambda_pt, gamma) in settings {
            for (side, rho_ft, omega, _) in subplots() {
                let sub = if side == "left" {
                    format!("ρ_FT={rho_ft}")
                } else {
                    format!("ω={omega}")
                };
                out.push(CurveSpec {
                    panel,
                    side,
                    label: format!("{label}, {sub}"),
                    setting: Setting {
                        c_pt,
                        lambda_pt,
                        gamma,
                        rho_ft,
                        omega,
                    },
                });
            }
        }
    }
    out
}

/// The four regimes (ρ_FT = 0.1, ω ∈ {0, 1}), each a right-side curve of a panel.
fn regime_specs() -> Vec<CurveSpec> {
    let regimes = [
        (
            "I rich, PT-independent (ℓ1): c=0.001, λ=−0.95",
            0.001,
            -0.95,
        ),
        (
            "II lazy, PT-dependent (weighted ℓ2): c=0.001, λ=0.95",
            0.001,
            0.95,
        ),
        ("III lazy, PT-independent (ℓ2): c=1, λ=0", 1.0, 0.0),
        ("IV intermediate: c=0.1, λ=0", 0.1, 0.0),
    ];
    regimes
        .iter()
        .flat_map(|&(name, c_pt, lambda_pt)| {
            [0.0, 1.0].into_iter().map(move |omega| CurveSpec {
                panel: 0,
                side: "regimes",
                label: format!("{name}, ω={omega}"),
                setting: Setting {
                    c_pt,
                    lambda_pt,
                    gamma: 0.0,
                    rho_ft: 0.1,
                    omega,
                },
            })
        })
        .collect()
}

/// A finished point with the parameters that place it in the figure.
struct Placed<'a> {
    setting: Setting,
    alpha: f64,
    d: f64,
    point: &'a PointResult,
}

fn number(params: &toml::Table, key: &str) -> Result<f64, PaperError> {
    params
        .get(key)
        .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
        .ok_or_else(|| post_error(format!("a point has no numeric parameter `{key}`")))
}

/// The finished points of parts `folders`, placed by their resolved parameters (the
/// experiment files parsed again, as the run parsed them).
fn placed<'a>(
    ctx: &'a Context<'_>,
    folders: &[&'static str],
) -> Result<Vec<Placed<'a>>, PaperError> {
    let mut out = Vec::new();
    for &folder in folders {
        let part = DIAGONAL_PARTS
            .iter()
            .find(|p| p.folder == folder)
            .ok_or_else(|| post_error(format!("no part `{folder}`")))?;
        let e = pretrainlab_experiment::parse(part.text, ctx.quick).map_err(|source| {
            PaperError::Spec {
                preset: DIAGONAL,
                part: folder,
                source,
            }
        })?;
        for point in ctx.part(folder)? {
            let params = &e.points[point.index].params;
            let get = |key| number(params, key);
            out.push(Placed {
                setting: Setting {
                    c_pt: get("c_pt")?,
                    lambda_pt: get("lambda_pt")?,
                    gamma: get("gamma")?,
                    rho_ft: get("rho_ft")?,
                    omega: get("omega")?,
                },
                alpha: get("alpha")?,
                d: get("d")?,
                point,
            });
        }
    }
    Ok(out)
}

/// The replica curve `(α, test MSE)` of `setting`.
fn replica_of<'a>(
    replicas: &[Placed<'a>],
    setting: Setting,
) -> Result<(&'a [f64], &'a [f64]), PaperError> {
    let p = replicas
        .iter()
        .find(|p| p.setting == setting)
        .ok_or_else(|| post_error(format!("no replica curve for {setting:?}")))?;
    predicted_curve(prediction(p.point)?, "replica_test_mse")
}

/// One seed's value of a marker: α, the trial id (seed), `d` and the metric.
struct Marker {
    alpha: f64,
    seed: u64,
    d: f64,
    value: f64,
}

/// The completed seeds of `setting`'s points in `placed`, by increasing α, then seed.
fn markers_of(placed: &[Placed<'_>], setting: Setting, metric: &str) -> Vec<Marker> {
    let mut out: Vec<Marker> = placed
        .iter()
        .filter(|p| p.setting == setting)
        .flat_map(|p| {
            let trials = &p.point.trials;
            let values = trials.column(metric).unwrap_or_default();
            trials.ids.iter().zip(values).map(|(&seed, value)| Marker {
                alpha: p.alpha,
                seed,
                d: p.d,
                value,
            })
        })
        .collect();
    out.sort_by(|a, b| a.alpha.total_cmp(&b.alpha).then(a.seed.cmp(&b.seed)));
    out
}

fn db(x: f64) -> f64 {
    10.0 * x.log10()
}

/// Attempted and failed trials over the points of `placed`.
fn run_counts(placed: &[Placed<'_>]) -> (usize, usize) {
    placed.iter().fold((0, 0), |(a, f), p| {
        (
            a + p.point.trials.attempted(),
            f + p.point.trials.failures.len(),
        )
    })
}

/// Everything the diagonal figure draws, placed.
struct DiagonalData<'a> {
    replicas: Vec<Placed<'a>>,
    markers: Vec<Placed<'a>>,
    gd: Vec<Placed<'a>>,
}

impl DiagonalData<'_> {
    /// GD markers are drawn on the right sub-plots only, as in the paper's figure.
    fn gd_of(&self, c: &CurveSpec) -> Vec<Marker> {
        if c.side == "right" {
            markers_of(&self.gd, c.setting, "test_mse_gd")
        } else {
            Vec::new()
        }
    }
}

fn replica_csv(data: &DiagonalData<'_>, specs: &[CurveSpec]) -> Result<String, PaperError> {
    let mut csv =
        String::from("panel,side,curve,c_pt,lambda_pt,gamma,rho_ft,omega,alpha,mse,mse_db\n");
    for c in specs {
        let s = c.setting;
        let (alphas, mse) = replica_of(&data.replicas, s)?;
        for (a, m) in alphas.iter().zip(mse) {
            let _ = writeln!(
                csv,
                "{},{},\"{}\",{},{},{},{},{},{a},{m},{}",
                c.panel,
                c.side,
                c.label,
                s.c_pt,
                s.lambda_pt,
                s.gamma,
                s.rho_ft,
                s.omega,
                db(*m)
            );
        }
    }
    Ok(csv)
}

/// One row per (curve, α, seed) of `markers` (`metric` names the value column).
fn markers_csv(
    specs: &[CurveSpec],
    metric: &str,
    markers: impl Fn(&CurveSpec) -> Vec<Marker>,
) -> String {
    let mut csv = format!("panel,side,curve,alpha,seed,d,{metric},mse_db\n");
    for c in specs {
        for m in markers(c) {
            let _ = writeln!(
                csv,
                "{},{},\"{}\",{},{},{},{},{}",
                c.panel,
                c.side,
                c.label,
                m.alpha,
                m.seed,
                m.d,
                m.value,
                db(m.value)
            );
        }
    }
    csv
}

fn points_series(label: &str, markers: &[Marker]) -> Series {
    let x: Vec<f64> = markers.iter().map(|m| m.alpha).collect();
    let y: Vec<f64> = markers.iter().map(|m| db(m.value)).collect();
    series(label, &x, &y, Style::Points)
}

/// One sub-plot: replica lines, then interpolator dots, then GD dots. The report crate
/// colours series by index modulo 10, so a setting's markers sit 10 and 20 places after
/// its line to share its colour.
fn subplot(
    data: &DiagonalData<'_>,
    members: &[&CurveSpec],
    title: String,
) -> Result<Figure, PaperError> {
    let setting = |c: &CurveSpec| c.label.split(", ").next().unwrap_or("").to_string();
    let empty = || series("", &[], &[], Style::Points);
    let mut s = vec![];
    for c in members {
        let (alphas, mse) = replica_of(&data.replicas, c.setting)?;
        let y: Vec<f64> = mse.iter().map(|m| db(*m)).collect();
        s.push(series(&setting(c), alphas, &y, Style::Line));
    }
    s.resize_with(10, empty);
    for c in members {
        s.push(points_series(
            "",
            &markers_of(&data.markers, c.setting, "test_mse_implicit"),
        ));
    }
    s.resize_with(20, empty);
    for c in members {
        let gd = data.gd_of(c);
        let label = if gd.is_empty() {
            String::new()
        } else {
            format!("GD, {}", setting(c))
        };
        s.push(points_series(&label, &gd));
    }
    Ok(Figure {
        title,
        x_label: "α = n/d (lines: replica; dots: Σq_k interpolator)".into(),
        y_label: "test MSE (dB)".into(),
        log_x: true,
        log_y: false,
        series: s,
    })
}

/// Panels 1–3 (λ_PT, c_PT, γ varied), six sub-plots each.
fn draw_panels(
    out: &mut Out<'_>,
    data: &DiagonalData<'_>,
    specs: &[CurveSpec],
) -> Result<(), PaperError> {
    for (panel, _, title) in panel_settings() {
        let mut figs = vec![];
        for (side, rho_ft, omega, sub) in subplots() {
            let members: Vec<&CurveSpec> = specs
                .iter()
                .filter(|c| {
                    c.panel == panel
                        && c.side == side
                        && c.setting.rho_ft == rho_ft
                        && c.setting.omega == omega
                })
                .collect();
            figs.push(subplot(data, &members, format!("{title} — {sub}"))?);
        }
        out.image(&format!("diagonal_panel{panel}"), |p| {
            write_panels(&figs, p)
        })?;
    }
    Ok(())
}

/// The four regimes: CSV and figure.
fn draw_regimes(
    out: &mut Out<'_>,
    data: &DiagonalData<'_>,
    regimes: &[CurveSpec],
) -> Result<(), PaperError> {
    let mut csv = String::from("regime,omega,alpha,mse,mse_db\n");
    let mut lines = vec![];
    for c in regimes {
        let (alphas, mse) = replica_of(&data.replicas, c.setting)?;
        for (a, m) in alphas.iter().zip(mse) {
            let _ = writeln!(
                csv,
                "\"{}\",{},{a},{m},{}",
                c.label,
                c.setting.omega,
                db(*m)
            );
        }
        let y: Vec<f64> = mse.iter().map(|m| db(*m)).collect();
        lines.push(series(&c.label, alphas, &y, Style::Line));
    }
    out.text("diagonal_regimes.csv", &csv)?;
    let fig = Figure {
        title: "Four regimes: replica test MSE, ρ_PT = ρ_FT = 0.1".into(),
        x_label: "α = n/d".into(),
        y_label: "test MSE (dB)".into(),
        log_x: true,
        log_y: false,
        series: lines,
    };
    out.image("diagonal_regimes", |p| write_figure(&fig, p))
}

/// The spec's quoted replica values beside ours: CSV rows and JSON entries.
fn spec_points(ctx: &Context<'_>) -> Result<(String, Vec<Value>), PaperError> {
    let points = placed(ctx, &[SPEC_PART])?;
    let mut csv = String::from("alpha,rho_ft,omega,c_pt,spec_replica_mse,replica_mse\n");
    let mut entries = vec![];
    for (omega, c_pt, spec) in SPEC_VALUES {
        let p = points
            .iter()
            .find(|p| p.setting.omega == omega && p.setting.c_pt == c_pt)
            .ok_or_else(|| post_error(format!("no spec point ω = {omega}, c_PT = {c_pt}")))?;
        let ours = prediction(p.point)?.quantity("replica_test_mse");
        let shown = ours.map_or("NaN".to_string(), |v| v.to_string());
        let _ = writeln!(
            csv,
            "{},{},{omega},{c_pt},{spec},{shown}",
            p.alpha, p.setting.rho_ft
        );
        entries.push(
            json!({"omega": omega, "c_pt": c_pt, "spec_replica_mse": spec, "replica_mse": ours}),
        );
    }
    Ok((csv, entries))
}

/// Draws the three panels and the four regimes, and writes the curves, markers and the
/// spec's quoted values beside ours.
fn diagonal_post(ctx: &Context<'_>) -> Result<Vec<String>, PaperError> {
    let mut out = Out::new(ctx.dir);
    let data = DiagonalData {
        replicas: placed(ctx, &REPLICA_PARTS)?,
        markers: placed(ctx, &MARKER_PARTS)?,
        gd: placed(ctx, &GD_PARTS)?,
    };
    let specs = figure_specs();
    let regimes = regime_specs();
    out.text("diagonal_replica.csv", &replica_csv(&data, &specs)?)?;
    let interpolator = |c: &CurveSpec| markers_of(&data.markers, c.setting, "test_mse_implicit");
    out.text(
        "diagonal_markers.csv",
        &markers_csv(&specs, "mse_interpolator", interpolator),
    )?;
    out.text(
        "diagonal_gd_markers.csv",
        &markers_csv(&specs, "mse_gd", |c| data.gd_of(c)),
    )?;
    draw_panels(&mut out, &data, &specs)?;
    draw_regimes(&mut out, &data, &regimes)?;
    let (spec_csv, spec_json) = spec_points(ctx)?;
    out.text("diagonal_spec_points.csv", &spec_csv)?;
    let alpha_points = match data.replicas.first() {
        Some(p) => predicted_curve(prediction(p.point)?, "replica_test_mse")?
            .0
            .len(),
        None => 0,
    };
    let (marker_runs, marker_failed) = run_counts(&data.markers);
    let (gd_runs, gd_failed) = run_counts(&data.gd);
    let summary = json!({
        "replica_curves": specs.len() + regimes.len(),
        "distinct_replica_curves": data.replicas.len(),
        "alpha_points": alpha_points,
        "marker_points": data.markers.len(),
        "marker_runs": marker_runs,
        "gd_points": data.gd.len(),
        "gd_runs": gd_runs,
        "failed_runs": marker_failed + gd_failed,
        "spec_points_alpha_0.2": spec_json,
    });
    out.json("summary.json", &summary)?;
    Ok(out.files())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every curve the figure draws (and every regime) has a replica point in exactly one
    /// replica part, and every marker part covers exactly the figure's settings.
    #[test]
    fn every_drawn_curve_has_one_replica_point() {
        let settings = |folders: &[&'static str]| -> Vec<(Setting, f64)> {
            folders
                .iter()
                .flat_map(|f| {
                    let part = DIAGONAL_PARTS.iter().find(|p| p.folder == *f).unwrap();
                    let e = pretrainlab_experiment::parse(part.text, true).unwrap();
                    e.points
                        .into_iter()
                        .map(|p| {
                            let get = |k| number(&p.params, k).unwrap();
                            let s = Setting {
                                c_pt: get("c_pt"),
                                lambda_pt: get("lambda_pt"),
                                gamma: get("gamma"),
                                rho_ft: get("rho_ft"),
                                omega: get("omega"),
                            };
                            (s, get("alpha"))
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let replicas = settings(&REPLICA_PARTS);
        let figure: Vec<CurveSpec> = figure_specs().into_iter().chain(regime_specs()).collect();
        assert_eq!(figure_specs().len(), 72);
        for c in &figure {
            let n = replicas.iter().filter(|(s, _)| *s == c.setting).count();
            assert_eq!(n, 1, "{}: {:?}", c.label, c.setting);
        }
        // No replica point is drawn by no curve.
        for (s, _) in &replicas {
            assert!(figure.iter().any(|c| c.setting == *s), "{s:?}");
        }
        let markers = settings(&MARKER_PARTS);
        assert_eq!(markers.len(), replicas.len() * 6);
        for (s, _) in &replicas {
            assert_eq!(markers.iter().filter(|(m, _)| m == s).count(), 6, "{s:?}");
        }
        for (s, _) in settings(&GD_PARTS) {
            assert!(
                figure.iter().any(|c| c.side == "right" && c.setting == s),
                "{s:?}"
            );
        }
    }

    /// The presets' parts are the listed folders, each with its own file.
    #[test]
    fn parts_are_listed_once() {
        let listed: Vec<&str> = REPLICA_PARTS
            .iter()
            .chain(&MARKER_PARTS)
            .chain(&GD_PARTS)
            .chain([&SPEC_PART])
            .copied()
            .collect();
        let folders: Vec<&str> = DIAGONAL_PARTS.iter().map(|p| p.folder).collect();
        assert_eq!(listed, folders);
        let folders: Vec<&str> = CASCADE_PARTS.iter().map(|p| p.folder).collect();
        let tagged: Vec<&str> = CASCADE_TAGS.iter().map(|(f, _)| *f).collect();
        assert_eq!(folders, tagged);
    }
}
