//! # pretrainlab-experiment
//!
//! Experiments as files: a TOML file names a model, fixed parameters, sweep axes and
//! what to compute at each point ([`spec`]); [`run`] works through the grid in units of
//! (grid point, chunk of trials), stores each finished unit atomically, and at the end
//! writes the per-trial rows and per-point summaries as CSV and Parquet, the figures
//! (SVG and PNG) and a self-contained `report.html`.
//!
//! A rerun of the same file resumes: finished units are read back bit for bit, so the
//! final files are identical to those of an uninterrupted run. Changing the file so that
//! finished units no longer match is an error that says what changed, unless the caller
//! asks for a fresh start.
//!
//! Training-dynamics models (`pretrainlab::dynamics`) run through the same machinery:
//! trials are seeds, a unit stores each seed's named metrics, and [`dynamics`] turns the
//! stored seeds into per-point predictions, summaries and checks.
//!
//! The science stays in `pretrainlab`; this crate does the I/O around it.

pub mod dynamics;
pub mod figures;
pub mod report;
pub mod spec;
pub mod store;
pub mod table;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use pretrainlab::compare::{Check, Simulation, check};
use pretrainlab::dynamics::DynDynamics;
use pretrainlab::engine::RunResult;
use pretrainlab::models::DynModel;
use pretrainlab::theory::{Prediction, Theory};
use serde::Serialize;

pub use spec::{Experiment, SpecError, parse};
use store::{
    Unit, atomic_write, dyn_unit_text, fingerprint, read_lines, read_unit, spec_of, unit_text,
    units_of,
};
use table::{Column, Table};

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot access {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is damaged: {message}; rerun with --fresh to start over", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("writing Parquet: {0}")]
    Parquet(String),
    /// A dynamics model's seeds reported different sets of metrics.
    #[error("point {point} ({label}): {message}")]
    Metrics {
        point: usize,
        label: String,
        message: String,
    },
    /// The file's `metric` or `predicted` names something the model does not report.
    #[error("`{key} = \"{name}\"`: model `{model}` has no such {what}; it has {}", known.join(", "))]
    UnknownName {
        key: &'static str,
        name: String,
        model: String,
        what: &'static str,
        known: Vec<String>,
    },
    /// Finished units were computed under a different configuration.
    #[error(
        "the experiment changed since its finished units in {} were computed:\n  {}\nrerun with --fresh to discard them, or restore the file",
        dir.display(),
        changes.join("\n  ")
    )]
    Changed { dir: PathBuf, changes: Vec<String> },
    #[error("model: {0}")]
    Model(#[from] pretrainlab::Error),
    #[error("figure: {0}")]
    Plot(#[from] pretrainlab_report::PlotError),
    #[error("point {point} ({label}): all {trials} trials failed; first reason: {reason}")]
    AllFailed {
        point: usize,
        label: String,
        trials: u64,
        reason: String,
    },
}

/// Progress of a run, reported by [`run`]. Implementations must be cheap: `trials` is
/// called from worker threads as trials finish.
pub trait Progress: Sync {
    /// Called once: trials to run in this invocation, trials already done, units.
    fn begin(&self, trials_todo: u64, units_todo: usize, units_total: usize);
    /// `k` more trials finished.
    fn trials(&self, k: u64);
    /// A unit was stored.
    fn unit_done(&self, status: &Status<'_>);
    /// The run ended (finished or interrupted).
    fn end(&self);
}

/// Where a run stands after a unit.
#[derive(Clone, Debug)]
pub struct Status<'a> {
    pub units_done: usize,
    pub units_total: usize,
    /// Points all of whose units are finished.
    pub points_done: usize,
    pub points_total: usize,
    /// The point of the unit that just finished.
    pub point: &'a str,
}

/// A [`Progress`] that reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _: u64, _: usize, _: usize) {}
    fn trials(&self, _: u64) {}
    fn unit_done(&self, _: &Status<'_>) {}
    fn end(&self) {}
}

/// How to run an experiment.
pub struct RunOptions<'a> {
    /// The results folder.
    pub output: PathBuf,
    /// Discard finished units and earlier results first.
    pub fresh: bool,
    /// Checked between units: when set, the run stops after the unit in flight.
    pub stop: &'a AtomicBool,
    pub progress: &'a dyn Progress,
    /// The experiment file's text, kept in the manifest and the report.
    pub source: String,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Everything ran and the results, figures and report are written.
    Finished(Finished),
    /// Stopped on request; the finished units are kept.
    Interrupted {
        units_done: usize,
        units_total: usize,
    },
}

/// What a finished run wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub dir: PathBuf,
    pub points: usize,
    /// Units computed by this invocation and units read back from earlier ones.
    pub units_run: usize,
    pub units_reused: usize,
    /// `(point label, verdict)` for every check.
    pub verdicts: Vec<(String, String)>,
    /// Files written, relative to `dir`.
    pub files: Vec<String>,
}

/// The results of one grid point.
#[derive(Clone, Debug, Serialize)]
pub struct PointResult {
    pub index: usize,
    pub label: String,
    pub coords: Vec<(String, toml::Value)>,
    pub m: usize,
    pub n: usize,
    pub alpha: f64,
    pub prediction: Option<Prediction>,
    /// `σ² d_eff + (paper's E‖L(Z)‖²)/α` where the paper has a closed form.
    pub paper_limit_mean: Option<f64>,
    pub simulation: Option<Simulation>,
    pub check: Option<Check>,
    #[serde(skip)]
    pub run: RunResult,
    #[serde(skip)]
    pub theory: Option<Theory>,
}

/// Runs (or resumes) an experiment.
pub fn run(e: &Experiment, opts: &RunOptions<'_>) -> Result<Outcome, StoreError> {
    let dir = &opts.output;
    let units_dir = dir.join("units");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    let manifest_path = dir.join("manifest.json");
    let config = config_json(e);
    if opts.fresh && dir.exists() {
        for name in ["units", "figures"] {
            let p = dir.join(name);
            if p.exists() {
                std::fs::remove_dir_all(&p).map_err(io(&p))?;
            }
        }
        if manifest_path.exists() {
            std::fs::remove_file(&manifest_path).map_err(io(&manifest_path))?;
        }
    }
    std::fs::create_dir_all(&units_dir).map_err(io(&units_dir))?;

    // The plan, and what is already done.
    let plan: Vec<(usize, Unit, String)> = e
        .points
        .iter()
        .flat_map(|p| {
            units_of(e, p.index).into_iter().map(move |u| {
                let fp = fingerprint(e, p, &u);
                (p.index, u, fp)
            })
        })
        .collect();
    let previous: Option<serde_json::Value> = std::fs::read(&manifest_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let expected: std::collections::HashMap<String, &String> =
        plan.iter().map(|(_, u, fp)| (u.file_name(), fp)).collect();
    let mut stale = Vec::new();
    let mut done = std::collections::HashSet::new();
    for entry in std::fs::read_dir(&units_dir).map_err(io(&units_dir))? {
        let entry = entry.map_err(io(&units_dir))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.ends_with(".txt") {
            continue;
        }
        let unit = read_lines(&entry.path())?;
        match expected.get(&name) {
            Some(fp) if **fp == unit.fingerprint => {
                done.insert(name);
            }
            _ => stale.push(name),
        }
    }
    if !stale.is_empty() {
        let mut changes = previous
            .as_ref()
            .and_then(|m| m.get("config"))
            .map(|old| store::json_diff(old, &config))
            .unwrap_or_default();
        if changes.is_empty() {
            changes.push(format!(
                "{} finished unit(s) (e.g. units/{}) do not match the file",
                stale.len(),
                stale[0]
            ));
        }
        return Err(StoreError::Changed {
            dir: dir.clone(),
            changes,
        });
    }

    let started = previous
        .as_ref()
        .and_then(|m| {
            m.get("started")
                .and_then(|s| s.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(store::utc_now);
    let mut resumed: Vec<String> = previous
        .as_ref()
        .and_then(|m| m.get("resumed"))
        .and_then(|r| serde_json::from_value(r.clone()).ok())
        .unwrap_or_default();
    if !done.is_empty() {
        resumed.push(store::utc_now());
    }
    let manifest = |finished: Option<String>| {
        serde_json::json!({
            "pretrainlab_version": env!("CARGO_PKG_VERSION"),
            "name": e.name,
            "model": e.model,
            "seed": e.seed,
            "started": started,
            "resumed": resumed,
            "finished": finished,
            "status": match &finished {
                Some(_) => "finished",
                None if opts.stop.load(Ordering::SeqCst) => "interrupted",
                None => "running",
            },
            "units": plan.len(),
            "config": config,
            "source": opts.source,
        })
    };
    let write_manifest = |finished: Option<String>| {
        atomic_write(
            &manifest_path,
            serde_json::to_string_pretty(&manifest(finished))
                .unwrap_or_default()
                .as_bytes(),
        )
    };
    write_manifest(None)?;

    // The units still to run.
    let models = Models::build(e)?;
    let todo: Vec<&(usize, Unit, String)> = plan
        .iter()
        .filter(|(_, u, _)| !done.contains(&u.file_name()))
        .collect();
    let reused = plan.len() - todo.len();
    opts.progress.begin(
        todo.iter().map(|(_, u, _)| u.hi - u.lo).sum(),
        todo.len(),
        plan.len(),
    );
    let mut finished_units = reused;
    let mut remaining = vec![0usize; e.points.len()];
    for (p, _, _) in &todo {
        remaining[*p] += 1;
    }
    let mut points_done = remaining.iter().filter(|&&r| r == 0).count();
    for (p, unit, fp) in &todo {
        if opts.stop.load(Ordering::SeqCst) {
            opts.progress.end();
            write_manifest(None)?;
            return Ok(Outcome::Interrupted {
                units_done: finished_units,
                units_total: plan.len(),
            });
        }
        let point = &e.points[*p];
        let progress = |k| opts.progress.trials(k);
        let text = match &models {
            Models::TwoStage(ms) => unit_text(
                fp,
                &ms[*p].run(&spec_of(e, point), unit.lo..unit.hi, &progress),
            ),
            Models::Dynamics(ms) => dyn_unit_text(
                fp,
                &pretrainlab::dynamics::run_seed_range(
                    ms[*p].as_ref(),
                    e.seed,
                    unit.lo..unit.hi,
                    &progress,
                ),
            ),
        };
        atomic_write(&units_dir.join(unit.file_name()), text.as_bytes())?;
        finished_units += 1;
        remaining[*p] -= 1;
        if remaining[*p] == 0 {
            points_done += 1;
        }
        opts.progress.unit_done(&Status {
            units_done: finished_units,
            units_total: plan.len(),
            points_done,
            points_total: e.points.len(),
            point: &point.label(),
        });
    }
    opts.progress.end();

    // Assemble, summarise and write.
    let finished_at = store::utc_now();
    let finished_manifest = manifest(Some(finished_at.clone()));
    let (mut files, html, verdicts) = match &models {
        Models::TwoStage(ms) => {
            let mut results = Vec::with_capacity(e.points.len());
            for (point, model) in e.points.iter().zip(ms) {
                let mut run = RunResult::default();
                for u in units_of(e, point.index) {
                    run.extend(read_unit(&units_dir.join(u.file_name()))?.result);
                }
                results.push(point_result(e, point, model.as_ref(), run)?);
            }
            let mut files = write_tables(e, &results, dir)?;
            files.extend(figures::write_all(e, &results, &dir.join("figures"))?);
            let summary = serde_json::to_string_pretty(&results).unwrap_or_default();
            atomic_write(&dir.join("summary.json"), summary.as_bytes())?;
            files.push("summary.json".into());
            let html = report::html(e, &results, &finished_manifest, dir)?;
            let verdicts = results
                .iter()
                .filter_map(|r| {
                    r.check
                        .as_ref()
                        .map(|c| (r.label.clone(), c.verdict.clone()))
                })
                .collect();
            (files, html, verdicts)
        }
        Models::Dynamics(ms) => dynamics::write_all(e, ms, &units_dir, &finished_manifest, dir)?,
    };
    atomic_write(&dir.join("report.html"), html.as_bytes())?;
    files.push("report.html".into());
    write_manifest(Some(finished_at))?;
    files.push("manifest.json".into());
    Ok(Outcome::Finished(Finished {
        dir: dir.clone(),
        points: e.points.len(),
        units_run: todo.len(),
        units_reused: reused,
        verdicts,
        files,
    }))
}

/// The models of the points, built from their parameters.
enum Models {
    TwoStage(Vec<Box<dyn DynModel>>),
    Dynamics(Vec<Box<DynDynamics>>),
}

impl Models {
    fn build(e: &Experiment) -> Result<Models, StoreError> {
        let params = |p: &spec::Point| toml::Value::Table(p.params.clone());
        Ok(if e.dynamics {
            Models::Dynamics(
                e.points
                    .iter()
                    .map(|p| pretrainlab::dynamics::build(&e.model, params(p)))
                    .collect::<Result<_, _>>()?,
            )
        } else {
            Models::TwoStage(
                e.points
                    .iter()
                    .map(|p| pretrainlab::models::build(&e.model, params(p)))
                    .collect::<Result<_, _>>()?,
            )
        })
    }
}

/// The resolved configuration as JSON (what the manifest records and resumes compare).
pub fn config_json(e: &Experiment) -> serde_json::Value {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("output");
    }
    v
}

fn point_result(
    e: &Experiment,
    point: &spec::Point,
    model: &dyn DynModel,
    run: RunResult,
) -> Result<PointResult, StoreError> {
    let theory = if e.actions.needs_theory() {
        Some(model.theory()?)
    } else {
        None
    };
    let prediction = theory.as_ref().map(|t| t.at(point.m, point.n));
    let paper_limit_mean = prediction.as_ref().and_then(|p| {
        p.paper_interaction_mean
            .map(|paper| p.sigma2 * p.d_eff as f64 + paper / p.alpha)
    });
    let spec = spec_of(e, point);
    let simulation = if e.actions.runs_trials() {
        Some(
            Simulation::of(model.name(), model.extra_name(), &spec, &run).ok_or_else(|| {
                StoreError::AllFailed {
                    point: point.index,
                    label: point.label(),
                    trials: e.trials,
                    reason: run
                        .failures
                        .first()
                        .map_or("unknown".into(), |(_, r)| r.clone()),
                }
            })?,
        )
    } else {
        None
    };
    let check = match (&theory, &simulation, e.actions.check) {
        (Some(t), Some(s), true) => Some(check(t, s.clone(), &run)),
        _ => None,
    };
    Ok(PointResult {
        index: point.index,
        label: point.label(),
        coords: point.coords.clone(),
        m: point.m,
        n: point.n,
        alpha: point.alpha(),
        prediction,
        paper_limit_mean,
        simulation,
        check,
        run,
        theory,
    })
}

/// Parameter-axis columns: numeric axes as floats, others as text.
fn axis_columns(e: &Experiment, rows: &[(usize, usize)], table: &mut Table) {
    for (a, axis) in e.axes.iter().enumerate() {
        if !e.dynamics && ["m", "n", "alpha"].contains(&axis.name.as_str()) {
            continue;
        }
        let value = |p: usize| &e.points[p].coords[a].1;
        let numeric = axis
            .values
            .iter()
            .all(|v| v.as_float().is_some() || v.as_integer().is_some());
        if numeric {
            table.push(
                &axis.name,
                Column::Float(
                    rows.iter()
                        .map(|&(p, _)| {
                            let v = value(p);
                            v.as_float()
                                .or_else(|| v.as_integer().map(|i| i as f64))
                                .unwrap_or(f64::NAN)
                        })
                        .collect(),
                ),
            );
        } else {
            table.push(
                &axis.name,
                Column::Text(
                    rows.iter()
                        .map(|&(p, _)| spec::value_text(value(p)))
                        .collect(),
                ),
            );
        }
    }
}

/// Writes `trials.{csv,parquet}` and `points.{csv,parquet}`; returns the file names.
fn write_tables(
    e: &Experiment,
    results: &[PointResult],
    dir: &Path,
) -> Result<Vec<String>, StoreError> {
    let mut files = Vec::new();
    let sizes = |t: &mut Table, rows: &[(usize, usize)]| {
        t.push(
            "m",
            Column::Int(rows.iter().map(|&(p, _)| e.points[p].m as i64).collect()),
        );
        t.push(
            "n",
            Column::Int(rows.iter().map(|&(p, _)| e.points[p].n as i64).collect()),
        );
        t.push(
            "alpha",
            Column::Float(rows.iter().map(|&(p, _)| e.points[p].alpha()).collect()),
        );
    };
    if e.actions.runs_trials() {
        let rows: Vec<(usize, usize)> = results
            .iter()
            .flat_map(|r| (0..r.run.records.len()).map(move |i| (r.index, i)))
            .collect();
        let rec = |p: usize, i: usize| &results[p].run.records[i];
        let mut t = Table::default();
        t.push(
            "point",
            Column::Int(rows.iter().map(|&(p, _)| p as i64).collect()),
        );
        t.push(
            "trial",
            Column::Int(rows.iter().map(|&(p, i)| rec(p, i).0 as i64).collect()),
        );
        axis_columns(e, &rows, &mut t);
        sizes(&mut t, &rows);
        let field = |f: fn(&pretrainlab::models::TrialRecord) -> f64| {
            Column::Float(rows.iter().map(|&(p, i)| f(&rec(p, i).1)).collect())
        };
        t.push("scaled_excess", field(|r| r.scaled_excess));
        t.push("n_var", field(|r| r.n_var));
        t.push("n_leak", field(|r| r.n_leak));
        t.push("n_rep", field(|r| r.n_rep));
        t.push("m_rep", field(|r| r.m_rep));
        if results
            .iter()
            .any(|r| r.run.records.iter().any(|(_, x)| x.extra.is_some()))
        {
            let name = results
                .iter()
                .find_map(|r| r.simulation.as_ref().and_then(|s| s.extra_name.clone()))
                .unwrap_or_else(|| "extra".into());
            t.push(
                &name,
                Column::OptFloat(rows.iter().map(|&(p, i)| rec(p, i).1.extra).collect()),
            );
        }
        t.write(dir, "trials")?;
        files.extend(["trials.csv".to_string(), "trials.parquet".to_string()]);
    }

    let rows: Vec<(usize, usize)> = results.iter().map(|r| (r.index, 0)).collect();
    let mut t = Table::default();
    t.push(
        "point",
        Column::Int(results.iter().map(|r| r.index as i64).collect()),
    );
    axis_columns(e, &rows, &mut t);
    sizes(&mut t, &rows);
    if e.actions.needs_theory() {
        let pred = |f: fn(&Prediction) -> f64| {
            Column::Float(
                results
                    .iter()
                    .map(|r| r.prediction.as_ref().map_or(f64::NAN, f))
                    .collect(),
            )
        };
        t.push("sigma2_d_eff", pred(|p| p.sigma2 * p.d_eff as f64));
        t.push("interaction_mean", pred(|p| p.interaction_mean));
        t.push("limit_mean", pred(|p| p.limit_mean));
        t.push(
            "paper_interaction_mean",
            Column::OptFloat(
                results
                    .iter()
                    .map(|r| r.prediction.as_ref().and_then(|p| p.paper_interaction_mean))
                    .collect(),
            ),
        );
        t.push(
            "paper_limit_mean",
            Column::OptFloat(results.iter().map(|r| r.paper_limit_mean).collect()),
        );
    }
    if e.actions.runs_trials() {
        let sim = |f: fn(&Simulation) -> f64| {
            Column::Float(
                results
                    .iter()
                    .map(|r| r.simulation.as_ref().map_or(f64::NAN, f))
                    .collect(),
            )
        };
        t.push("completed", sim(|s| s.completed as f64));
        t.push("failed", sim(|s| s.failed as f64));
        t.push("scaled_excess_mean", sim(|s| s.scaled_excess.mean));
        t.push("scaled_excess_se", sim(|s| s.scaled_excess.se));
        t.push("m_rep_mean", sim(|s| s.m_rep.mean));
        t.push("m_rep_se", sim(|s| s.m_rep.se));
        t.push("n_var_mean", sim(|s| s.n_var.mean));
        t.push("n_leak_mean", sim(|s| s.n_leak.mean));
        t.push("n_rep_mean", sim(|s| s.n_rep.mean));
        t.push("scaled_excess_q05", sim(|s| s.scaled_excess.q05));
        t.push("scaled_excess_q50", sim(|s| s.scaled_excess.q50));
        t.push("scaled_excess_q95", sim(|s| s.scaled_excess.q95));
    }
    if e.actions.check {
        let chk = |f: fn(&Check) -> f64| {
            Column::Float(
                results
                    .iter()
                    .map(|r| r.check.as_ref().map_or(f64::NAN, f))
                    .collect(),
            )
        };
        t.push("ks_m_rep", chk(|c| c.ks));
        t.push("ks_p_value", chk(|c| c.ks_p_value));
        t.push("ks_scaled_excess", chk(|c| c.ks_scaled_excess));
        t.push("z_m_rep", chk(|c| c.means[0].z));
        t.push("z_scaled_excess", chk(|c| c.means[1].z));
        t.push(
            "verdict",
            Column::Text(
                results
                    .iter()
                    .map(|r| {
                        r.check
                            .as_ref()
                            .map_or(String::new(), |c| c.verdict.clone())
                    })
                    .collect(),
            ),
        );
    }
    t.write(dir, "points")?;
    files.extend(["points.csv".to_string(), "points.parquet".to_string()]);
    Ok(files)
}
