//! Figure generators of the training-dynamics presets: each computes its data, writes CSVs
//! first, then the plots (SVG + PNG via `pretrainlab-report`) and a `summary.json`.
//!
//! - [`factorization_cascade`] (`reproduce factorization-cascade`): ‖S‖, ‖H‖, ‖P₁₁ − Λ₁‖
//!   and f − f⋆ against t (log–log) for spec §1's n = 8, spec(M) = (3, 1.5, 0, 0, 0, −0.5,
//!   −1, −2), X₀ = 0.3·N(0,1), over-parameterised r = 4 and exact r = r₁ = 2, with the
//!   predicted asymptotes √m/(2t) and m/(16t²) and the closed-form S(t); and the check.
//! - [`diagonal_panels`] (`reproduce diagonal-ptft`): the three-panel figure of spec §2
//!   (replica test MSE in dB against α, panels varying λ_PT, c_PT and γ; left sub-plots
//!   ω = 1 with ρ_FT ∈ {0.02, 0.04, 0.1}, right ρ_FT = 0.1 with ω ∈ {0, 0.5, 1}), markers
//!   from the exact Σq_k interpolator on sampled instances and from full-batch GD, and the
//!   four regimes.

use std::fmt::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use pretrainlab::criteria;
use pretrainlab::dynamics::diagonal::{
    Diagonal, DiagonalParams, Pretrain, ReplicaSettings, alpha_grid, replica, replica_curve,
};
use pretrainlab::dynamics::factorization::{Factorization, FactorizationParams};
use pretrainlab::dynamics::{Dynamics, Trajectory};
use pretrainlab::model::{MetricSpec, Model, Prediction};
use pretrainlab::rng::{experiment_key, trial_rng};
use pretrainlab::runner;
use pretrainlab_report::{Figure, Series, Style, write_figure, write_panels};
use rand::rngs::ChaCha8Rng;
use rayon::prelude::*;
use serde_json::json;

use crate::atomic_write;
use crate::presets::PresetContext;
use crate::progress::Progress;

/// One scalar measurement per trial (a marker of the diagonal figure) as a [`Model`], so
/// that the runner derives its streams: trial `t` draws from
/// `trial_rng(seed, experiment_key(name), t)`. It predicts nothing; it exists to be run.
struct Probe<F> {
    name: &'static str,
    metrics: Vec<MetricSpec>,
    measure: F,
}

impl<F> Probe<F>
where
    F: Fn(&mut ChaCha8Rng) -> std::result::Result<f64, String> + Send + Sync,
{
    fn new(name: &'static str, metric: &str, measure: F) -> Self {
        Probe {
            name,
            metrics: vec![MetricSpec::new(metric, "1", metric)],
            measure,
        }
    }
}

impl<F> Model for Probe<F>
where
    F: Fn(&mut ChaCha8Rng) -> std::result::Result<f64, String> + Send + Sync,
{
    type Workspace = ();

    fn name(&self) -> &'static str {
        self.name
    }

    fn metrics(&self) -> &[MetricSpec] {
        &self.metrics
    }

    fn workspace(&self) {}

    fn trial(
        &self,
        rng: &mut ChaCha8Rng,
        _trial: u64,
        _ws: &mut (),
        out: &mut [f64],
    ) -> std::result::Result<(), String> {
        out[0] = (self.measure)(rng)?;
        Ok(())
    }

    fn predict(&self) -> pretrainlab::Result<Prediction> {
        Ok(Prediction::default())
    }

    fn default_trials(&self) -> u64 {
        1
    }
}

/// Runs trials `range` of a probe under master seed 1: one result per trial, in order.
fn measure<F>(
    probe: &Probe<F>,
    range: std::ops::Range<u64>,
    progress: &Progress,
) -> Vec<std::result::Result<f64, String>>
where
    F: Fn(&mut ChaCha8Rng) -> std::result::Result<f64, String> + Send + Sync,
{
    let trials = runner::run(probe, 1, range.clone(), &|k| progress.inc(k));
    range
        .map(|t| match trials.ids.iter().position(|&id| id == t) {
            Some(i) => Ok(trials.row(i)[0]),
            None => Err(trials
                .failures
                .iter()
                .find(|(id, _)| *id == t)
                .map_or_else(|| "no result".to_string(), |(_, e)| e.clone())),
        })
        .collect()
}

fn line(label: &str, x: &[f64], y: &[f64]) -> Series {
    Series {
        label: label.into(),
        x: x.to_vec(),
        y: y.to_vec(),
        err: None,
        style: Style::Line,
    }
}

fn points(label: &str, x: &[f64], y: &[f64]) -> Series {
    Series {
        label: label.into(),
        x: x.to_vec(),
        y: y.to_vec(),
        err: None,
        style: Style::Points,
    }
}

fn note(ctx: &PresetContext, msg: &str) {
    if !ctx.quiet {
        eprintln!("{msg}");
    }
}

fn write_json(path: &Path, v: &serde_json::Value) -> Result<()> {
    atomic_write(path, serde_json::to_string_pretty(v)?.as_bytes())
}

/// `reproduce factorization-cascade`.
pub fn factorization_cascade(ctx: &PresetContext) -> Result<()> {
    let start = Instant::now();
    std::fs::create_dir_all(&ctx.output)
        .with_context(|| format!("creating {}", ctx.output.display()))?;
    let seeds = if ctx.quick { 4 } else { 16 };
    let mut panels = vec![];
    let mut summary = serde_json::Map::new();
    for (r, tag) in [
        (4usize, "over-parameterised r = 4"),
        (2, "exact r = r₁ = 2"),
    ] {
        let model = Factorization::new(FactorizationParams {
            r,
            ..Default::default()
        })?;
        let model = Trajectory::new(model);
        let report = criteria::check(&model, 1, seeds, &|_| {})?;
        let pred = &report.prediction;
        let model = model.inner();
        // The curves of the first seed that completes. A trial's metrics are scalars, so
        // the curves are recomputed here from that seed's stream (the runner's streams:
        // `trial_rng(1, experiment_key(model name), t)`).
        let key = experiment_key(model.name());
        let first = (0..seeds)
            .find_map(|t| model.run(&mut trial_rng(1, key, t), t).ok())
            .context("the factorization flow failed on every seed")?;
        let curve = |name: &str| {
            first
                .curves
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.y.clone())
                .unwrap_or_default()
        };
        let t = model.grid().to_vec();
        let (s, h, p11, exc, scf) = (
            curve("s_norm"),
            curve("h_norm"),
            curve("p11_err"),
            curve("excess_loss"),
            curve("s_closed_form_norm"),
        );
        let asym = |name: &str| {
            pred.curves
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.y.clone())
                .unwrap_or_default()
        };
        let (s_asym, f_asym) = (asym("s_norm_asymptote"), asym("excess_loss_asymptote"));
        let mut csv = String::from(
            "t,s_norm,h_norm,p11_err,excess_loss,s_closed_form_norm,s_norm_asymptote,excess_loss_asymptote\n",
        );
        for i in 0..t.len() {
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{},{}",
                t[i], s[i], h[i], p11[i], exc[i], scf[i], s_asym[i], f_asym[i]
            );
        }
        atomic_write(
            &ctx.output.join(format!("factorization_r{r}.csv")),
            csv.as_bytes(),
        )?;
        let mut series = vec![
            line("‖S(t)‖ (flow)", &t, &s),
            line("‖H(t)‖", &t, &h),
            line("‖P₁₁ − Λ₁‖", &t, &p11),
            line("f − f⋆", &t, &exc),
        ];
        let (_, _, m) = model.ranks();
        if m > 0 {
            series.push(points("‖S(t)‖ closed form (eq. 1)", &t, &scf));
            series.push(line("√m/(2t) (predicted)", &t, &s_asym));
            series.push(line("m/(16t²) (predicted)", &t, &f_asym));
        }
        panels.push(Figure {
            title: format!("Ẋ = (M − XXᵀ)X, {tag} (seed 0)"),
            x_label: "t".into(),
            y_label: "norm".into(),
            log_x: true,
            log_y: true,
            series,
        });
        summary.insert(
            format!("r{r}"),
            json!({
                "prediction": pred.quantities.iter().map(|q| (q.name.clone(), json!(q.value))).collect::<serde_json::Map<_, _>>(),
                "criteria": report.criteria,
                "verdict": if report.pass { "pass" } else { "fail" },
                "seeds": seeds,
            }),
        );
    }
    write_panels(&panels, &ctx.output.join("factorization_cascade"))?;
    summary.insert("wall_seconds".into(), json!(start.elapsed().as_secs_f64()));
    write_json(
        &ctx.output.join("summary.json"),
        &serde_json::Value::Object(summary),
    )?;
    note(
        ctx,
        &format!(
            "factorization-cascade: wrote {} in {:.1} s",
            ctx.output.display(),
            start.elapsed().as_secs_f64()
        ),
    );
    Ok(())
}

/// One replica curve of the diagonal figure.
#[derive(Clone, Debug)]
struct CurveSpec {
    panel: usize,
    side: &'static str,
    label: String,
    c_pt: f64,
    lambda_pt: f64,
    gamma: f64,
    rho_ft: f64,
    omega: f64,
}

fn params_of(c: &CurveSpec, d: usize, alpha: f64) -> DiagonalParams {
    DiagonalParams {
        d,
        alpha,
        rho_pt: 0.1,
        rho_ft: c.rho_ft,
        omega: c.omega,
        a_pt: 1.0,
        c_pt: c.c_pt,
        lambda_pt: c.lambda_pt,
        gamma: c.gamma,
        pretrain: Pretrain::Oracle,
        ..Default::default()
    }
}

fn figure_specs() -> Vec<CurveSpec> {
    let mut out = vec![];
    // Panel 1: c = 0.001, γ = 0, λ ∈ {−0.95, 0, 0.95}. Panel 2: λ = 0, γ = 0, c sweep.
    // Panel 3: c = 0.001, λ = 0, γ sweep.
    let settings: Vec<(usize, String, f64, f64, f64)> = [-0.95, 0.0, 0.95]
        .iter()
        .map(|&l| (1, format!("λ={l}"), 0.001, l, 0.0))
        .chain(
            [0.001, 0.01, 0.1, 0.5, 1.0]
                .iter()
                .map(|&c| (2, format!("c={c}"), c, 0.0, 0.0)),
        )
        .chain(
            [0.001, 0.01, 0.1, 1.0]
                .iter()
                .map(|&g| (3, format!("γ={g}"), 0.001, 0.0, g)),
        )
        .collect();
    for (panel, label, c_pt, lambda_pt, gamma) in settings {
        for rho_ft in [0.02, 0.04, 0.1] {
            out.push(CurveSpec {
                panel,
                side: "left",
                label: format!("{label}, ρ_FT={rho_ft}"),
                c_pt,
                lambda_pt,
                gamma,
                rho_ft,
                omega: 1.0,
            });
        }
        for omega in [0.0, 0.5, 1.0] {
            out.push(CurveSpec {
                panel,
                side: "right",
                label: format!("{label}, ω={omega}"),
                c_pt,
                lambda_pt,
                gamma,
                rho_ft: 0.1,
                omega,
            });
        }
    }
    out
}

/// The trials of marker `k` (a running index over (curve, marker α)): `k·seeds ..
/// (k+1)·seeds`, so that every (curve, marker, seed) draws from its own stream.
fn marker_trials(k: usize, seeds: u64) -> std::ops::Range<u64> {
    k as u64 * seeds..(k as u64 + 1) * seeds
}

fn db(x: f64) -> f64 {
    10.0 * x.log10()
}

/// `reproduce diagonal-ptft`.
pub fn diagonal_panels(ctx: &PresetContext) -> Result<()> {
    let start = Instant::now();
    std::fs::create_dir_all(&ctx.output)
        .with_context(|| format!("creating {}", ctx.output.display()))?;
    let (n_alpha, nodes, d_marker, seeds) = if ctx.quick {
        (8, 300, 200, 1)
    } else {
        (20, 600, 500, 3)
    };
    let alphas = alpha_grid(n_alpha);
    let set = ReplicaSettings {
        nodes,
        ..Default::default()
    };
    let specs = figure_specs();
    note(
        ctx,
        &format!(
            "diagonal-ptft: {} replica curves × {n_alpha} values of α",
            specs.len()
        ),
    );
    // Replica curves (in parallel over curves).
    let curves: Vec<Result<Vec<f64>>> = specs
        .par_iter()
        .map(|c| {
            let groups = Diagonal::new(params_of(c, 500, 0.5))?.groups();
            Ok(replica_curve(&groups, &alphas, &set)?
                .iter()
                .map(|p| p.map_or(f64::NAN, |p| p.mse))
                .collect())
        })
        .collect();
    let curves: Vec<Vec<f64>> = curves.into_iter().collect::<Result<_>>()?;
    let mut csv =
        String::from("panel,side,curve,c_pt,lambda_pt,gamma,rho_ft,omega,alpha,mse,mse_db\n");
    for (c, y) in specs.iter().zip(&curves) {
        for (a, m) in alphas.iter().zip(y) {
            let _ = writeln!(
                csv,
                "{},{},\"{}\",{},{},{},{},{},{a},{m},{}",
                c.panel,
                c.side,
                c.label,
                c.c_pt,
                c.lambda_pt,
                c.gamma,
                c.rho_ft,
                c.omega,
                db(*m)
            );
        }
    }
    atomic_write(&ctx.output.join("diagonal_replica.csv"), csv.as_bytes())?;
    // Markers: the exact Σq_k interpolator (Thm 4.1) on sampled instances, all curves.
    let marker_alphas: &[f64] = if ctx.quick {
        &[0.1, 0.3, 0.5]
    } else {
        &[0.05, 0.1, 0.2, 0.3, 0.5, 0.7]
    };
    note(
        ctx,
        &format!(
            "diagonal-ptft: interpolator markers at d = {d_marker}, {} α × {seeds} seeds",
            marker_alphas.len()
        ),
    );
    // Marker k (curve i, the a-th marker α) runs trials k·seeds .. (k+1)·seeds, so every
    // (curve, marker, seed) has its own stream.
    let marker_jobs: Vec<(usize, f64)> = (0..specs.len())
        .flat_map(|i| marker_alphas.iter().map(move |&a| (i, a)))
        .collect();
    let bar = Progress::new(
        (marker_jobs.len() as u64) * seeds,
        "interpolator marker runs",
        ctx.quiet,
    );
    let markers: Vec<(usize, f64, u64, std::result::Result<f64, String>)> = marker_jobs
        .par_iter()
        .enumerate()
        .flat_map_iter(|(k, &(i, a))| {
            let range = marker_trials(k, seeds);
            let results = match Diagonal::new(params_of(&specs[i], d_marker, a)) {
                Ok(model) => measure(
                    &Probe::new("diagonal-ptft-markers", "mse_interpolator", |rng| {
                        model.interpolator_mse(rng)
                    }),
                    range,
                    &bar,
                ),
                Err(e) => vec![Err(e.to_string()); seeds as usize],
            };
            results
                .into_iter()
                .enumerate()
                .map(move |(s, out)| (i, a, s as u64, out))
        })
        .collect();
    bar.finish();
    let mut mcsv = String::from("panel,side,curve,alpha,seed,d,mse_interpolator,mse_db\n");
    for (i, a, s, m) in &markers {
        if let Ok(m) = m {
            let c = &specs[*i];
            let _ = writeln!(
                mcsv,
                "{},{},\"{}\",{a},{s},{d_marker},{m},{}",
                c.panel,
                c.side,
                c.label,
                db(*m)
            );
        }
    }
    atomic_write(&ctx.output.join("diagonal_markers.csv"), mcsv.as_bytes())?;
    // GD markers (right sub-plots) where GD converges in reasonable time: the lazy and
    // intermediate settings c_PT ≥ 0.1 of panel 2 and γ ≥ 1 of panel 3. In the rich
    // settings (c_FT ~ 1e-3) GD needs ~1e5+ steps per run; the interpolator markers stand
    // in there (GD = interpolator is checked by `check diagonal`).
    let gd_jobs: Vec<(usize, f64)> = specs
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            c.side == "right"
                && ((c.panel == 2 && c.c_pt >= 0.1) || (c.panel == 3 && c.gamma >= 1.0))
        })
        .flat_map(|(i, _)| [0.2, 0.5].into_iter().map(move |a| (i, a)))
        .collect();
    let bar = Progress::new(gd_jobs.len() as u64, "GD marker runs", ctx.quiet);
    let gd: Vec<(usize, f64, std::result::Result<f64, String>)> = gd_jobs
        .par_iter()
        .map(|&(i, a)| {
            let p = DiagonalParams {
                lr: 0.1,
                ..params_of(&specs[i], if ctx.quick { 150 } else { 300 }, a)
            };
            let id = (i * 100) as u64 + (a * 10.0) as u64;
            let out = match Diagonal::new(p) {
                Ok(model) => measure(
                    &Probe::new("diagonal-ptft-gd", "mse_gd", |rng| {
                        model
                            .run(rng, 0)?
                            .metric("test_mse_gd")
                            .ok_or_else(|| "no GD metric".to_string())
                    }),
                    id..id + 1,
                    &bar,
                )
                .remove(0),
                Err(e) => Err(e.to_string()),
            };
            (i, a, out)
        })
        .collect();
    bar.finish();
    let mut gcsv = String::from("panel,side,curve,alpha,mse_gd,mse_db\n");
    for (i, a, m) in &gd {
        if let Ok(m) = m {
            let c = &specs[*i];
            let _ = writeln!(
                gcsv,
                "{},{},\"{}\",{a},{m},{}",
                c.panel,
                c.side,
                c.label,
                db(*m)
            );
        }
    }
    atomic_write(&ctx.output.join("diagonal_gd_markers.csv"), gcsv.as_bytes())?;
    // Plots: one image per panel, six sub-plots: ω = 1 with ρ_FT ∈ {0.02, 0.04, 0.1} (the
    // spec's left sub-plot, split by ρ_FT) and ρ_FT = 0.1 with ω ∈ {0, 0.5, 1} (the right
    // one, split by ω). Lines: replica; dots: the Σq_k interpolator on sampled instances;
    // labelled dots: GD. The report crate colours series by index modulo 10, so a
    // setting's markers sit 10 and 20 places after its line to share its colour.
    let titles = [
        "c_PT = 0.001, γ = 0",
        "λ_PT = 0, γ = 0",
        "c_PT = 0.001, λ_PT = 0",
    ];
    let empty = || points("", &[], &[]);
    for (panel, title) in (1..=3).zip(titles) {
        let mut figs = vec![];
        let subplots: Vec<(&str, f64, f64, String)> = [0.02, 0.04, 0.1]
            .iter()
            .map(|&r| ("left", r, 1.0, format!("ω = 1, ρ_FT = {r}")))
            .chain(
                [0.0, 0.5, 1.0]
                    .iter()
                    .map(|&w| ("right", 0.1, w, format!("ρ_FT = 0.1, ω = {w}"))),
            )
            .collect();
        for (side, rho_ft, omega, sub) in subplots {
            let members: Vec<usize> = specs
                .iter()
                .enumerate()
                .filter(|(_, c)| {
                    c.panel == panel && c.side == side && c.rho_ft == rho_ft && c.omega == omega
                })
                .map(|(i, _)| i)
                .collect();
            let setting = |i: usize| specs[i].label.split(", ").next().unwrap_or("").to_string();
            let mut series = vec![];
            for &i in &members {
                let y: Vec<f64> = curves[i].iter().map(|m| db(*m)).collect();
                series.push(line(&setting(i), &alphas, &y));
            }
            series.resize_with(10, empty);
            for &i in &members {
                let (mx, my): (Vec<f64>, Vec<f64>) = markers
                    .iter()
                    .filter_map(|(j, a, _, m)| (*j == i).then_some((*a, db(*m.as_ref().ok()?))))
                    .unzip();
                series.push(points("", &mx, &my));
            }
            series.resize_with(20, empty);
            for &i in &members {
                let (gx, gy): (Vec<f64>, Vec<f64>) = gd
                    .iter()
                    .filter_map(|(j, a, m)| (*j == i).then_some((*a, db(*m.as_ref().ok()?))))
                    .unzip();
                let label = if gx.is_empty() {
                    String::new()
                } else {
                    format!("GD, {}", setting(i))
                };
                series.push(points(&label, &gx, &gy));
            }
            figs.push(Figure {
                title: format!("{title} — {sub}"),
                x_label: "α = n/d (lines: replica; dots: Σq_k interpolator)".into(),
                y_label: "test MSE (dB)".into(),
                log_x: true,
                log_y: false,
                series,
            });
        }
        write_panels(&figs, &ctx.output.join(format!("diagonal_panel{panel}")))?;
    }
    // The four regimes (spec §2): ρ_PT = 0.1, ρ_FT = 0.1, ω ∈ {0, 1}.
    let regimes = [
        (
            "I rich, PT-independent (ℓ1): c=0.001, λ=−0.95",
            0.001,
            -0.95,
            0.0,
        ),
        (
            "II lazy, PT-dependent (weighted ℓ2): c=0.001, λ=0.95",
            0.001,
            0.95,
            0.0,
        ),
        ("III lazy, PT-independent (ℓ2): c=1, λ=0", 1.0, 0.0, 0.0),
        ("IV intermediate: c=0.1, λ=0", 0.1, 0.0, 0.0),
    ];
    let reg_specs: Vec<CurveSpec> = regimes
        .iter()
        .flat_map(|&(name, c_pt, lambda_pt, gamma)| {
            [0.0, 1.0].into_iter().map(move |omega| CurveSpec {
                panel: 0,
                side: "regimes",
                label: format!("{name}, ω={omega}"),
                c_pt,
                lambda_pt,
                gamma,
                rho_ft: 0.1,
                omega,
            })
        })
        .collect();
    let reg_curves: Vec<Result<Vec<f64>>> = reg_specs
        .par_iter()
        .map(|c| {
            let groups = Diagonal::new(params_of(c, 500, 0.5))?.groups();
            Ok(replica_curve(&groups, &alphas, &set)?
                .iter()
                .map(|p| p.map_or(f64::NAN, |p| p.mse))
                .collect())
        })
        .collect();
    let reg_curves: Vec<Vec<f64>> = reg_curves.into_iter().collect::<Result<_>>()?;
    let mut rcsv = String::from("regime,omega,alpha,mse,mse_db\n");
    let mut series = vec![];
    for (c, y) in reg_specs.iter().zip(&reg_curves) {
        for (a, m) in alphas.iter().zip(y) {
            let _ = writeln!(rcsv, "\"{}\",{},{a},{m},{}", c.label, c.omega, db(*m));
        }
        let ydb: Vec<f64> = y.iter().map(|m| db(*m)).collect();
        series.push(line(&c.label, &alphas, &ydb));
    }
    atomic_write(&ctx.output.join("diagonal_regimes.csv"), rcsv.as_bytes())?;
    write_figure(
        &Figure {
            title: "Four regimes: replica test MSE, ρ_PT = ρ_FT = 0.1".into(),
            x_label: "α = n/d".into(),
            y_label: "test MSE (dB)".into(),
            log_x: true,
            log_y: false,
            series,
        },
        &ctx.output.join("diagonal_regimes"),
    )?;
    // Summary: the spec's three replica points at α = 0.2 (ρ_PT = 0.1, ρ_FT = 0.04).
    let spec_points: Vec<serde_json::Value> = [
        (1.0, 0.001, 2.5e-4),
        (0.0, 0.001, 0.404),
        (1.0, 0.5, 0.530),
    ]
    .iter()
    .map(|&(omega, c_pt, spec_value)| {
        let c = CurveSpec {
            panel: 0,
            side: "",
            label: String::new(),
            c_pt,
            lambda_pt: 0.0,
            gamma: 0.0,
            rho_ft: 0.04,
            omega,
        };
        let groups = Diagonal::new(params_of(&c, 500, 0.2)).map(|m| m.groups());
        let ours = groups
            .ok()
            .and_then(|g| replica(&g, 0.2, &ReplicaSettings::default()).ok())
            .map(|p| p.mse);
        json!({"omega": omega, "c_pt": c_pt, "spec_replica_mse": spec_value, "replica_mse": ours})
    })
    .collect();
    let failed = markers.iter().filter(|m| m.3.is_err()).count()
        + gd.iter().filter(|m| m.2.is_err()).count();
    write_json(
        &ctx.output.join("summary.json"),
        &json!({
            "replica_curves": specs.len() + reg_specs.len(),
            "alpha_points": n_alpha,
            "marker_runs": markers.len(),
            "gd_runs": gd.len(),
            "failed_runs": failed,
            "spec_points_alpha_0.2": spec_points,
            "wall_seconds": start.elapsed().as_secs_f64(),
        }),
    )?;
    note(
        ctx,
        &format!(
            "diagonal-ptft: wrote {} in {:.1} s ({failed} failed marker runs)",
            ctx.output.display(),
            start.elapsed().as_secs_f64()
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (curve, marker, seed) of the full figure gets its own trial id.
    #[test]
    fn marker_trials_are_distinct() {
        let (markers, seeds) = (figure_specs().len() * 6, 3);
        let ids: std::collections::BTreeSet<u64> =
            (0..markers).flat_map(|k| marker_trials(k, seeds)).collect();
        assert_eq!(ids.len(), markers * seeds as usize);
        assert_eq!(marker_trials(2, 3), 6..9);
    }
}
