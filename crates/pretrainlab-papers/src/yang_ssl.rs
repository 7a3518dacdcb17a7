//! `yang-ssl`: Yang, Li, Jiang, Li, "Understanding Representation Learnability of
//! Nonlinear Self-Supervised Learning", AAAI-23 (arXiv 2401.03214).
//!
//! The experiment (`presets/yang-ssl.toml`) runs the paper's configuration of the
//! `yang-ssl` model over its 20 seeds and checks the paper's claims. [`post`] then rebuilds,
//! from the stored per-seed metrics and curves alone, under `paper/`:
//! - `learning_curves.csv` and figures `learning_curves` (Fig. 4 and its SL counterpart),
//!   `learning_curve_sign_init`: the seed mean of each curve with its 95% half-width
//!   `1.96·sd/√S` (population sd over the `S` seeds, as the authors' plotting script);
//! - `final_w.csv` and `final_w_scatter` (Fig. 3): the final rows per seed in the
//!   `(w^(1), w^(2))` plane with the theory's optimum `(±a*, b*)`; `final_w_heatmap` (the
//!   first seed's `W`) and `final_w_mean_abs_heatmap` (mean `|W|` over seeds);
//! - `projections.csv` and `projection_e1`, `projection_e2` (Fig. 5 and counterparts):
//!   histograms over seeds of `‖P_W e_j‖`; `projections_over_time`: their seed means
//!   against the step;
//! - `theory_landscape.csv` and `theory_landscape` (probably Fig. 2): the noise-free
//!   per-neuron objective `J̃(a, b)`;
//! - `criteria.csv`, `prediction.csv` and `check.json`: the check of the point.
//!
//! Symbols, as in the model (`pretrainlab::dynamics::ssl`): `W` is the SSL weight matrix
//! (rows `w₁`, `w₂` in `ℝᵈ`) and `W̃` the SL hidden layer; `w_k^(j) = w_k·e_j`;
//! `‖P_W e_j‖` is the norm of the projection of `e_j` on the row space of `W`;
//! `J̃(a, b)` is the noise-free objective of one neuron in the `(a, b) = (w·e₁, w·e₂)`
//! plane, with maxima `(±a*, b*)` and a saddle at `(0, b_s)`. The three trajectories of
//! a seed are `ssl` (condition 0, box initialisation), `sign` (condition 1, sign-only
//! initialisation) and `sl`.
//!
//! Every file is a function of the stored results, so a rerun writes identical bytes.

use crate::Out;
use std::fmt::Write as _;

use pretrainlab::dynamics::ssl::{YangSsl, YangSslParams, reduced_objective};
use pretrainlab::model::Criterion;
use pretrainlab_experiment::PointResult;
use pretrainlab_report::{Figure, Heatmap, Series, Style};

use crate::{Context, PaperError, Part, Preset};

/// The preset's name.
const NAME: &str = "yang-ssl";
/// The experiment file.
const TEXT: &str = include_str!("../presets/yang-ssl.toml");
/// The paper, as cited in outputs.
const PAPER: &str = "Yang, Li, Jiang, Li, \"Understanding Representation Learnability of Nonlinear Self-Supervised Learning\", AAAI-23";
const ARXIV: &str = "2401.03214";

/// The three trajectories of a seed: the trace and metric prefix, and a title.
const RUNS: [(&str, &str); 3] = [
    ("ssl", "SSL, box init (condition 0)"),
    ("sign", "SSL, sign-only init (condition 1)"),
    ("sl", "SL"),
];
/// The learning curves of each trajectory (trace `<run>.<quantity>`).
const QUANTITIES: [&str; 7] = [
    "w1_1",
    "w1_2",
    "w2_1",
    "w2_2",
    "proj_e1",
    "proj_e2",
    "objective",
];
/// Bins of the projection histograms on [0, 1].
const BINS: usize = 25;
/// About this many points (with error bars) per drawn learning curve.
const DRAWN_POINTS: usize = 40;

/// The `yang-ssl` preset.
pub fn preset() -> Preset {
    Preset {
        name: NAME,
        summary: "nonlinear SSL vs SL (Yang, Li, Jiang, Li, \"Understanding Representation Learnability of Nonlinear Self-Supervised Learning\", AAAI-23, arXiv 2401.03214): 20 seeds, the paper's claims checked, learning curves, final W, projection histograms",
        parts: &[Part {
            folder: "",
            text: TEXT,
        }],
        post: Some(post),
    }
}

/// Writes the paper's CSVs and figures under `<dir>/paper/` from the finished point.
pub fn post(ctx: &Context<'_>) -> Result<Vec<String>, PaperError> {
    let [point] = ctx.part("")? else {
        return Err(post_error("expected exactly one point"));
    };
    let model = model(ctx.quick)?;
    let seeds = Seeds::new(point, model.dim())?;
    let mut out = Out::new(ctx.dir);
    write_learning_curves(&mut out, &seeds)?;
    write_final_w(&mut out, &seeds)?;
    write_projections(&mut out, &seeds)?;
    write_check(&mut out, point, &model)?;
    let theory = Theory::of(point, &model)?;
    draw_learning_curves(&mut out, &seeds, &theory)?;
    draw_final_w(&mut out, &seeds, &theory)?;
    for j in [2, 1] {
        out.panels(&projection_panels(&seeds, j)?, &format!("projection_e{j}"))?;
    }
    draw_landscape(&mut out, &theory)?;
    draw_projections_over_time(&mut out, &seeds)?;
    Ok(out.files())
}

fn post_error(message: impl Into<String>) -> PaperError {
    PaperError::Post(format!("{NAME}: {}", message.into()))
}

/// The model of the preset's point (under `quick` as run), for its resolved parameters.
fn model(quick: bool) -> Result<YangSsl, PaperError> {
    let e = pretrainlab_experiment::parse(TEXT, quick).map_err(|source| PaperError::Spec {
        preset: NAME,
        part: "",
        source,
    })?;
    let [point] = e.points.as_slice() else {
        return Err(post_error("the experiment must have one point"));
    };
    let params: YangSslParams = toml::Value::Table(point.params.clone())
        .try_into()
        .map_err(|err| post_error(format!("parameters: {err}")))?;
    YangSsl::new(params).map_err(|err| post_error(err.to_string()))
}

// ---------------------------------------------------------------------------------------
// The stored seeds
// ---------------------------------------------------------------------------------------

/// A learning curve averaged over seeds: mean and 95% half-width `1.96·sd/√S`.
struct MeanCurve {
    t: Vec<f64>,
    mean: Vec<f64>,
    half_width: Vec<f64>,
}

/// The completed seeds of the point, read from its stored metrics and curves.
struct Seeds<'a> {
    point: &'a PointResult,
    /// The dimension `d` (rows of `W` have `d` entries).
    d: usize,
}

impl<'a> Seeds<'a> {
    fn new(point: &'a PointResult, d: usize) -> Result<Self, PaperError> {
        if point.trials.completed() == 0 {
            return Err(post_error("no completed seed"));
        }
        let seeds = Seeds { point, d };
        for (run, _) in RUNS {
            let w = seeds.trace(0, &format!("{run}.weights"))?;
            if w.len() != 2 * d {
                return Err(post_error(format!(
                    "`{run}.weights` has {} values, expected 2d = {}",
                    w.len(),
                    2 * d
                )));
            }
        }
        Ok(seeds)
    }

    fn count(&self) -> usize {
        self.point.trials.completed()
    }

    /// The seed (trial id) of the `i`-th completed seed.
    fn id(&self, i: usize) -> u64 {
        self.point.trials.ids[i]
    }

    fn trace(&self, i: usize, name: &str) -> Result<&'a [f64], PaperError> {
        self.point
            .trials
            .trace(i, name)
            .ok_or_else(|| post_error(format!("no stored curve `{name}`")))
    }

    fn grid(&self, name: &str) -> Result<&'a [f64], PaperError> {
        self.point
            .traces
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.t.as_slice())
            .ok_or_else(|| post_error(format!("no stored curve `{name}`")))
    }

    fn metric(&self, name: &str) -> Result<Vec<f64>, PaperError> {
        self.point
            .trials
            .column(name)
            .ok_or_else(|| post_error(format!("no stored metric `{name}`")))
    }

    /// The final `W` (`2 × d`, row-major) of `run` in the `i`-th seed.
    fn weights(&self, i: usize, run: &str) -> Result<&'a [f64], PaperError> {
        self.trace(i, &format!("{run}.weights"))
    }

    /// The seed mean and 95% half-width of curve `name` on its grid.
    fn mean_curve(&self, name: &str) -> Result<MeanCurve, PaperError> {
        let t = self.grid(name)?.to_vec();
        let curves = (0..self.count())
            .map(|i| self.trace(i, name))
            .collect::<Result<Vec<_>, _>>()?;
        let s = curves.len() as f64;
        let (mut mean, mut half_width) = (Vec::with_capacity(t.len()), Vec::with_capacity(t.len()));
        for k in 0..t.len() {
            let m = curves.iter().map(|c| c[k]).sum::<f64>() / s;
            let var = curves.iter().map(|c| (c[k] - m).powi(2)).sum::<f64>() / s;
            mean.push(m);
            half_width.push(1.96 * var.sqrt() / s.sqrt());
        }
        Ok(MeanCurve {
            t,
            mean,
            half_width,
        })
    }
}

/// What the theory says that the figures draw: `(a*, b*)`, the saddle's `b_s`, and the
/// `τ`, `α` of the landscape.
struct Theory {
    a_star: f64,
    b_star: f64,
    saddle_b: f64,
    tau: f64,
    alpha: f64,
}

impl Theory {
    fn of(point: &PointResult, model: &YangSsl) -> Result<Self, PaperError> {
        let prediction = point
            .predicted()
            .ok_or_else(|| post_error("the point has no prediction"))?;
        let q = |name: &str| {
            prediction
                .quantity(name)
                .ok_or_else(|| post_error(format!("no predicted `{name}`")))
        };
        let p = model.params();
        Ok(Theory {
            a_star: q("a_star")?,
            b_star: q("b_star")?,
            saddle_b: q("saddle_b")?,
            tau: p.tau,
            alpha: p.alpha,
        })
    }
}

// ---------------------------------------------------------------------------------------
// CSVs
// ---------------------------------------------------------------------------------------

/// `learning_curves.csv`: run, quantity, step, seed mean and 95% half-width.
fn write_learning_curves(out: &mut Out<'_>, seeds: &Seeds<'_>) -> Result<(), PaperError> {
    let mut s = String::from("run,quantity,t,mean,half_width_95\n");
    for (run, _) in RUNS {
        for q in QUANTITIES {
            let c = seeds.mean_curve(&format!("{run}.{q}"))?;
            for k in 0..c.t.len() {
                let _ = writeln!(s, "{run},{q},{},{},{}", c.t[k], c.mean[k], c.half_width[k]);
            }
        }
    }
    out.text("learning_curves.csv", &s)
}

/// `final_w.csv`: one line per seed, run and row `k` of `W`: `w_0 … w_{d−1}`.
fn write_final_w(out: &mut Out<'_>, seeds: &Seeds<'_>) -> Result<(), PaperError> {
    let d = seeds.d;
    let mut s = String::from("run,seed,row");
    for j in 0..d {
        let _ = write!(s, ",w_{j}");
    }
    s.push('\n');
    for i in 0..seeds.count() {
        for (run, _) in RUNS {
            let w = seeds.weights(i, run)?;
            for k in 0..2 {
                let _ = write!(s, "{run},{},{}", seeds.id(i), k + 1);
                for v in &w[k * d..(k + 1) * d] {
                    let _ = write!(s, ",{v}");
                }
                s.push('\n');
            }
        }
    }
    out.text("final_w.csv", &s)
}

/// `projections.csv`: per seed and run, `‖P_W e_j‖`, the mean `|cos(w_k, e_j)|`, the share
/// of `‖W‖²` on `e₂`, and whether both rows end on the same side of `e₁` (collapse).
fn write_projections(out: &mut Out<'_>, seeds: &Seeds<'_>) -> Result<(), PaperError> {
    let fields = ["proj_e1", "proj_e2", "cos_e1", "cos_e2", "energy_e2"];
    let mut s = String::from("run,seed,proj_e1,proj_e2,cos_e1,cos_e2,energy_e2,collapsed\n");
    let mut columns = Vec::new();
    for (run, _) in RUNS {
        let values = fields
            .iter()
            .map(|f| seeds.metric(&format!("{run}.{f}")))
            .collect::<Result<Vec<_>, _>>()?;
        let (w1, w2) = (
            seeds.metric(&format!("{run}.w1_1"))?,
            seeds.metric(&format!("{run}.w2_1"))?,
        );
        let collapsed: Vec<u8> = w1
            .iter()
            .zip(&w2)
            .map(|(a, b)| u8::from(a.signum() == b.signum()))
            .collect();
        columns.push((run, values, collapsed));
    }
    for i in 0..seeds.count() {
        for (run, values, collapsed) in &columns {
            let _ = write!(s, "{run},{}", seeds.id(i));
            for v in values {
                let _ = write!(s, ",{}", v[i]);
            }
            let _ = writeln!(s, ",{}", collapsed[i]);
        }
    }
    out.text("projections.csv", &s)
}

/// `criteria.csv`, `prediction.csv` and `check.json` (the check in one file).
fn write_check(out: &mut Out<'_>, point: &PointResult, model: &YangSsl) -> Result<(), PaperError> {
    let check = point
        .check
        .as_ref()
        .ok_or_else(|| post_error("the point has no check"))?;
    out.text("criteria.csv", &criteria_csv(&check.criteria))?;
    let mut s = String::from("quantity,value\n");
    for q in &check.prediction.quantities {
        let _ = writeln!(s, "{},{}", q.name, q.value);
    }
    out.text("prediction.csv", &s)?;
    let json = serde_json::json!({
        "paper": PAPER,
        "arxiv": ARXIV,
        "seeds": check.simulation.trials,
        "seed": check.simulation.seed,
        "params": model.params(),
        "failures": point.trials.failures,
        "prediction": {
            "model": check.prediction.model,
            "quantities": check
                .prediction
                .quantities
                .iter()
                .map(|q| (q.name.as_str(), q.value))
                .collect::<Vec<_>>(),
            "curves": check.prediction.curves,
        },
        "criteria": check.criteria,
        "verdict": check.verdict(),
    });
    out.text(
        "check.json",
        &serde_json::to_string_pretty(&json).map_err(|e| post_error(e.to_string()))?,
    )
}

fn criteria_csv(criteria: &[Criterion]) -> String {
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
    let mut s = String::from("name,predicted,measured,se,pass,statement\n");
    for c in criteria {
        let _ = writeln!(
            s,
            "\"{}\",{},{},{},{},\"{}\"",
            c.name.replace('"', "'"),
            opt(c.predicted),
            c.measured,
            opt(c.se),
            c.pass,
            c.statement.replace('"', "'")
        );
    }
    s
}

// ---------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------

fn series(label: &str, x: Vec<f64>, y: Vec<f64>, err: Option<Vec<f64>>, style: Style) -> Series {
    Series {
        label: label.to_string(),
        x,
        y,
        err,
        style,
    }
}

fn figure(title: String, x_label: &str, y_label: String, series: Vec<Series>) -> Figure {
    Figure {
        title,
        x_label: x_label.to_string(),
        y_label,
        log_x: false,
        log_y: false,
        series,
    }
}

/// The learning curves `w_k^(j)` of `run` up to step `t_max`: the seed means on about
/// [`DRAWN_POINTS`] points with their 95% half-widths, and the optimum `±a*`, `b*` as
/// horizontal lines when `theory` is given.
fn learning_figure(
    seeds: &Seeds<'_>,
    run: &str,
    title: &str,
    t_max: f64,
    theory: Option<&Theory>,
) -> Result<Figure, PaperError> {
    let mut out = Vec::new();
    for (q, label) in [
        ("w1_1", "w_1^(1)"),
        ("w1_2", "w_1^(2)"),
        ("w2_1", "w_2^(1)"),
        ("w2_2", "w_2^(2)"),
    ] {
        let c = seeds.mean_curve(&format!("{run}.{q}"))?;
        let n = c.t.iter().take_while(|&&t| t <= t_max).count();
        let mut idx: Vec<usize> = (0..n).step_by((n / DRAWN_POINTS).max(1)).collect();
        if n > 0 && idx.last() != Some(&(n - 1)) {
            idx.push(n - 1);
        }
        let pick = |v: &[f64]| idx.iter().map(|&i| v[i]).collect::<Vec<f64>>();
        out.push(series(
            label,
            pick(&c.t),
            pick(&c.mean),
            Some(pick(&c.half_width)),
            Style::Line,
        ));
    }
    if let Some(th) = theory {
        for (label, y) in [
            ("theory ±a*", th.a_star),
            ("", -th.a_star),
            ("theory b*", th.b_star),
        ] {
            out.push(series(
                label,
                vec![0.0, t_max],
                vec![y, y],
                None,
                Style::Line,
            ));
        }
    }
    Ok(figure(
        title.to_string(),
        "step t",
        format!("value (mean ± 95%, {} seeds)", seeds.count()),
        out,
    ))
}

/// The last step of the curves of `run`.
fn last_step(seeds: &Seeds<'_>, run: &str) -> Result<f64, PaperError> {
    let grid = seeds.grid(&format!("{run}.w1_1"))?;
    grid.last()
        .copied()
        .ok_or_else(|| post_error(format!("`{run}.w1_1` is empty")))
}

/// `learning_curves` (SSL condition 0 to the paper's T beside SL) and
/// `learning_curve_sign_init`.
fn draw_learning_curves(
    out: &mut Out<'_>,
    seeds: &Seeds<'_>,
    th: &Theory,
) -> Result<(), PaperError> {
    // Condition 1 stops at the paper's T; condition 0 may continue (the long run).
    let (t_ssl, t_sl) = (last_step(seeds, "sign")?, last_step(seeds, "sl")?);
    out.panels(
        &[
            learning_figure(
                seeds,
                "ssl",
                "SSL learning curve (condition 0)",
                t_ssl,
                Some(th),
            )?,
            learning_figure(seeds, "sl", "SL learning curve", t_sl, None)?,
        ],
        "learning_curves",
    )?;
    out.figure(
        &learning_figure(
            seeds,
            "sign",
            "SSL learning curve, sign-only init (condition 1)",
            t_ssl,
            Some(th),
        )?,
        "learning_curve_sign_init",
    )
}

/// One panel of Fig. 3: each seed's final rows `(w_k^(1), w_k^(2))`.
fn scatter(
    seeds: &Seeds<'_>,
    run: &str,
    title: &str,
    theory: Option<&Theory>,
) -> Result<Figure, PaperError> {
    let d = seeds.d;
    let ws = (0..seeds.count())
        .map(|i| seeds.weights(i, run))
        .collect::<Result<Vec<_>, _>>()?;
    let row = |k: usize| {
        let x = ws.iter().map(|w| w[k * d]).collect();
        let y = ws.iter().map(|w| w[k * d + 1]).collect();
        series(&format!("w_{}", k + 1), x, y, None, Style::Points)
    };
    let mut out = vec![row(0), row(1)];
    if let Some(th) = theory {
        out.push(series(
            "theory (±a*, b*)",
            vec![th.a_star, -th.a_star],
            vec![th.b_star, th.b_star],
            None,
            Style::Points,
        ));
    }
    Ok(figure(
        title.to_string(),
        "w_1^(1), w_2^(1)",
        "w_1^(2), w_2^(2)".to_string(),
        out,
    ))
}

/// The rows of a heatmap of `W` over `W̃`: SL `w̃₁`, `w̃₂` (bottom), then SSL `w₁`, `w₂`.
fn w_rows(sl: &[f64], ssl: &[f64], d: usize) -> Vec<Vec<f64>> {
    vec![
        sl[..d].to_vec(),
        sl[d..].to_vec(),
        ssl[..d].to_vec(),
        ssl[d..].to_vec(),
    ]
}

/// The mean `|W|` of `run` over seeds, entry by entry.
fn mean_abs(seeds: &Seeds<'_>, run: &str) -> Result<Vec<f64>, PaperError> {
    let mut sum = vec![0.0; 2 * seeds.d];
    for i in 0..seeds.count() {
        for (s, w) in sum.iter_mut().zip(seeds.weights(i, run)?) {
            *s += w.abs();
        }
    }
    Ok(sum.into_iter().map(|s| s / seeds.count() as f64).collect())
}

/// `final_w_scatter` (Fig. 3), `final_w_heatmap` and `final_w_mean_abs_heatmap`.
fn draw_final_w(out: &mut Out<'_>, seeds: &Seeds<'_>, th: &Theory) -> Result<(), PaperError> {
    out.panels(
        &[
            scatter(seeds, "ssl", "SSL final W (condition 0)", Some(th))?,
            scatter(seeds, "sl", "SL final W̃", None)?,
            scatter(seeds, "sign", "SSL final W, sign-only init", Some(th))?,
        ],
        "final_w_scatter",
    )?;
    let d = seeds.d;
    let rows = "rows SL w̃_1, SL w̃_2 (bottom), SSL w_1, SSL w_2 (top)";
    let map = |title: String, values| Heatmap {
        title,
        x_label: "coordinate j (0 = e1, 1 = e2)".to_string(),
        y_label: "row".to_string(),
        values,
    };
    out.heatmap(
        &map(
            format!("final W, seed {}: {rows}", seeds.id(0)),
            w_rows(seeds.weights(0, "sl")?, seeds.weights(0, "ssl")?, d),
        ),
        "final_w_heatmap",
    )?;
    out.heatmap(
        &map(
            format!("mean |W| over seeds: {rows}"),
            w_rows(&mean_abs(seeds, "sl")?, &mean_abs(seeds, "ssl")?, d),
        ),
        "final_w_mean_abs_heatmap",
    )
}

/// Histogram counts of `values` on `bins` equal bins of [0, 1]: bin centres, counts.
/// Non-finite values are left out.
fn histogram(values: &[f64], bins: usize) -> (Vec<f64>, Vec<f64>) {
    let mut counts = vec![0.0; bins];
    for &v in values {
        if v.is_finite() {
            let i = ((v * bins as f64) as usize).min(bins - 1);
            counts[i] += 1.0;
        }
    }
    let centres = (0..bins).map(|i| (i as f64 + 0.5) / bins as f64).collect();
    (centres, counts)
}

/// Fig. 5 (`j = 2`) and its `e₁` counterpart: histograms of `‖P_W e_j‖` per trajectory.
fn projection_panels(seeds: &Seeds<'_>, j: usize) -> Result<Vec<Figure>, PaperError> {
    RUNS.iter()
        .map(|(run, title)| {
            let v = seeds.metric(&format!("{run}.proj_e{j}"))?;
            let (x, y) = histogram(&v, BINS);
            Ok(figure(
                format!("{title}: ‖P_W e{j}‖ over {} seeds", v.len()),
                &format!("projection of e{j}"),
                "seeds".to_string(),
                vec![series("", x, y, None, Style::Bars)],
            ))
        })
        .collect()
}

/// `theory_landscape.csv` and figure: `J̃(a, b)` on a grid of `a ∈ [−6, 6]`,
/// `b ∈ [−1, 3]`, with the type frequencies `¼`.
fn draw_landscape(out: &mut Out<'_>, th: &Theory) -> Result<(), PaperError> {
    let (na, nb) = (61, 41);
    let a_at = |i: usize| -6.0 + 12.0 * i as f64 / (na - 1) as f64;
    let b_at = |j: usize| -1.0 + 4.0 * j as f64 / (nb - 1) as f64;
    let values: Vec<Vec<f64>> = (0..nb)
        .map(|j| {
            (0..na)
                .map(|i| reduced_objective(&[0.25; 4], th.tau, th.alpha, [a_at(i), b_at(j)]).0)
                .collect()
        })
        .collect();
    let mut csv = String::from("a,b,j_tilde\n");
    for (j, row) in values.iter().enumerate() {
        for (i, v) in row.iter().enumerate() {
            let _ = writeln!(csv, "{},{},{v}", a_at(i), b_at(j));
        }
    }
    out.text("theory_landscape.csv", &csv)?;
    out.heatmap(
        &Heatmap {
            title: format!(
                "noise-free J̃(a, b): maxima (±{:.3}, {:.3}), saddle (0, {:.3})",
                th.a_star, th.b_star, th.saddle_b
            ),
            x_label: "a = w·e1 (grid column, −6 … 6)".to_string(),
            y_label: "b = w·e2 (grid row, −1 … 3)".to_string(),
            values,
        },
        "theory_landscape",
    )
}

/// `projections_over_time`: the seed means of `‖P_W e_j‖` against the step (an addition
/// to the paper's end-of-training histograms).
fn draw_projections_over_time(out: &mut Out<'_>, seeds: &Seeds<'_>) -> Result<(), PaperError> {
    let mut lines = Vec::new();
    for (run, name) in [("ssl", "SSL"), ("sl", "SL"), ("sign", "SSL sign-only")] {
        for j in [1, 2] {
            let c = seeds.mean_curve(&format!("{run}.proj_e{j}"))?;
            lines.push(series(
                &format!("{name} ‖P e_{j}‖"),
                c.t,
                c.mean,
                None,
                Style::Line,
            ));
        }
    }
    out.figure(
        &figure(
            "mean projection of e1, e2 on the row space over training".to_string(),
            "step t",
            "‖P_W e_j‖ (mean over seeds)".to_string(),
            lines,
        ),
        "projections_over_time",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_counts_every_finite_value_once() {
        let (x, y) = histogram(&[0.0, 0.01, 0.5, 0.99, 1.0, f64::NAN], 10);
        assert_eq!(x.len(), 10);
        assert_eq!(y.iter().sum::<f64>(), 5.0);
        assert_eq!((y[0], y[5], y[9]), (2.0, 1.0, 2.0));
    }

    /// The preset's point is the paper's configuration, in full and quick form.
    #[test]
    fn the_preset_runs_the_paper_configuration() {
        for quick in [false, true] {
            let p = model(quick).unwrap().params();
            assert_eq!((p.d, p.n, p.tau), (10, Some(100), 7.0));
            assert_eq!(
                (p.alpha, p.steps_ssl, p.steps_sl),
                (1.0 / 800.0, 4000, 8000)
            );
            assert_eq!(p.steps_long, if quick { 0 } else { 20_000 });
        }
        let e = pretrainlab_experiment::parse(TEXT, false).unwrap();
        assert_eq!((e.trials, e.seed, e.model.as_str()), (20, 1, "yang-ssl"));
        assert!(crate::find(NAME).is_some());
    }
}
