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
//! Every model of `pretrainlab::registry` runs through the same path: the runner
//! computes a unit's trials, the store keeps them as named metric columns, and each point
//! becomes a prediction, a summary and a check (`pretrainlab::criteria`), then rows of
//! the same tables, figures and report whatever the model.
//!
//! [`text`] renders a catalogue, prediction, simulation or check as the text tables the
//! command line prints.
//!
//! The science stays in `pretrainlab`; this crate does the I/O around it.

pub mod figures;
pub mod report;
pub mod spec;
pub mod status;
pub mod store;
pub mod table;
pub mod text;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use pretrainlab::budget::Limits;
use pretrainlab::criteria::{Check, Simulation, assess, prediction_json};
use pretrainlab::model::{DynModel, MetricSpec, Prediction, TraceSpec};
use pretrainlab::runner::Trials;
use serde_json::{Value, json};

pub use spec::{Experiment, SpecError, parse};
use store::{
    Expected, Unit, atomic_write, fingerprint, read_fingerprint, read_unit, unit_text, units_of,
};
use table::{Column, Table};

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot access {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} is damaged: {message}; delete it to recompute that unit, or rerun with --fresh to start over", path.display())]
    Corrupt { path: PathBuf, message: String },
    /// A unit file of an earlier store format.
    #[error("{} was written by an earlier version of pretrainlab (unit format v1); rerun with --fresh to recompute the experiment", path.display())]
    Outdated { path: PathBuf },
    #[error("{} is in use by another pretrainlab run ({holder}); wait for it to finish, or choose another output folder", dir.display())]
    Locked { dir: PathBuf, holder: String },
    #[error("{} holds no pretrainlab run (no manifest.json in it or in the folders below it that matches its experiment)", dir.display())]
    NoRun { dir: PathBuf },
    #[error("{} is a symbolic link; pretrainlab does not write through links inside a results folder", path.display())]
    Link { path: PathBuf },
    #[error("--fresh: {} is not a pretrainlab results folder (it has no pretrainlab manifest.json), so nothing in it is deleted; choose an empty or new output folder", dir.display())]
    NotResults { dir: PathBuf },
    /// A point's run would exceed the resource limits.
    #[error("point {point} ({label}): {source}")]
    Budget {
        point: usize,
        label: String,
        source: pretrainlab::Error,
    },
    #[error("writing Parquet: {0}")]
    Parquet(String),
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
    /// Something the user should know, e.g. a damaged unit that is recomputed.
    fn note(&self, message: &str);
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
    fn note(&self, _: &str) {}
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
    /// The most memory and work one point's run may take.
    pub limits: Limits,
    /// Compute only this shard's pending units, then stop without assembling.
    pub shard: Option<store::Shard>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Everything ran and the results, figures and report are written.
    Finished(Finished),
    /// Stopped on request; the finished units are kept.
    Interrupted {
        units_done: usize,
        units_total: usize,
    },
    /// A shard computed its share; a plain run assembles the tables.
    Shard {
        units_run: usize,
        /// Units still missing in the folder, of all shards.
        units_missing: usize,
        units_total: usize,
    },
}

/// What a finished run wrote.
#[derive(Debug, Clone)]
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
    /// Every point's results, for post-processing (paper figures).
    pub results: Vec<PointResult>,
}

/// The results of one grid point.
#[derive(Clone, Debug)]
pub struct PointResult {
    pub index: usize,
    pub label: String,
    pub coords: Vec<(String, toml::Value)>,
    /// The model's metric schema at this point.
    pub metrics: Vec<MetricSpec>,
    /// The model's per-trial curves at this point.
    pub traces: Vec<TraceSpec>,
    /// The model's labels (e.g. `m`, `n`, `alpha`).
    pub labels: Vec<(String, Value)>,
    pub prediction: Option<Prediction>,
    pub simulation: Option<Simulation>,
    pub check: Option<Check>,
    /// The point's trials, read back from its units in trial order.
    pub trials: Trials,
}

impl PointResult {
    /// The verdict of a check, `pass` or `fail`.
    pub fn verdict(&self) -> Option<&'static str> {
        self.check.as_ref().map(Check::verdict)
    }

    /// The prediction, or the check's prediction.
    pub fn predicted(&self) -> Option<&Prediction> {
        self.prediction
            .as_ref()
            .or_else(|| self.check.as_ref().map(|c| &c.prediction))
    }

    /// The simulation, or the check's simulation.
    pub fn simulated(&self) -> Option<&Simulation> {
        self.simulation
            .as_ref()
            .or_else(|| self.check.as_ref().map(|c| &c.simulation))
    }

    /// The point as JSON (what `summary.json` lists).
    pub fn to_json(&self) -> Value {
        let coords: serde_json::Map<String, Value> = self
            .coords
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        json!({
            "index": self.index,
            "label": self.label,
            "coords": coords,
            "labels": self.labels.iter().cloned().collect::<serde_json::Map<_, _>>(),
            "metrics": self.metrics,
            "prediction": self.prediction.as_ref().map(prediction_json),
            "simulation": self.simulation.as_ref().map(Simulation::to_json),
            "check": self.check.as_ref().map(Check::to_json),
        })
    }
}

/// Runs (or resumes) an experiment.
pub fn run(e: &Experiment, opts: &RunOptions<'_>) -> Result<Outcome, StoreError> {
    let models = build_models(e)?;
    admit_models(e, &models, &opts.limits)?;
    check_predicted_key(e, &models)?;
    let dir = &opts.output;
    let units_dir = dir.join("units");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| StoreError::Io { path, error }
    };
    let manifest_path = dir.join("manifest.json");
    let config = config_json(e);
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let _lock = match opts.shard {
        Some(_) => store::FolderLock::acquire_shared(dir)?,
        None => store::FolderLock::acquire(dir)?,
    };
    for name in ["units", "figures"] {
        store::refuse_link(&dir.join(name))?;
    }
    if opts.fresh {
        discard_results(dir)?;
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
    let previous: Option<Value> = std::fs::read(&manifest_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let mut stale = Vec::new();
    let mut done = std::collections::HashSet::new();
    let mut damaged = Vec::new();
    for entry in std::fs::read_dir(&units_dir).map_err(io(&units_dir))? {
        let entry = entry.map_err(io(&units_dir))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.ends_with(".txt") {
            continue;
        }
        let Some((p, unit, fp)) = plan.iter().find(|(_, u, _)| u.file_name() == name) else {
            stale.push(name);
            continue;
        };
        match read_fingerprint(&entry.path()) {
            Ok(found) if found != *fp => stale.push(name),
            Err(StoreError::Outdated { path }) => return Err(StoreError::Outdated { path }),
            _ => {
                let columns = Trials::for_model(models[*p].as_ref());
                let want = Expected {
                    fingerprint: fp,
                    columns: &columns,
                    unit,
                };
                match read_unit(&entry.path(), &want) {
                    Ok(_) => {
                        done.insert(name);
                    }
                    Err(StoreError::Corrupt { path, message }) => {
                        damaged.push(format!("{}: {message}", path.display()));
                    }
                    Err(other) => return Err(other),
                }
            }
        }
    }
    for message in &damaged {
        opts.progress
            .note(&format!("recomputing a damaged unit: {message}"));
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
        json!({
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
            "recomputed_damaged_units": damaged,
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
    // Shards run together: only the first writes the manifest (it marks the folder as
    // pretrainlab's); the assembly rewrites it.
    if opts.shard.is_none() || !manifest_path.exists() {
        write_manifest(None)?;
    }

    // The units still to run (a shard: those of its share).
    let todo: Vec<&(usize, Unit, String)> = plan
        .iter()
        .enumerate()
        .filter(|(j, (_, u, _))| {
            !done.contains(&u.file_name()) && opts.shard.is_none_or(|s| s.owns(*j))
        })
        .map(|(_, x)| x)
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
            if opts.shard.is_none() {
                write_manifest(None)?;
            }
            return Ok(Outcome::Interrupted {
                units_done: finished_units,
                units_total: plan.len(),
            });
        }
        let point = &e.points[*p];
        let progress = |k| opts.progress.trials(k);
        let trials =
            pretrainlab::runner::run(models[*p].as_ref(), e.seed, unit.lo..unit.hi, &progress);
        atomic_write(
            &units_dir.join(unit.file_name()),
            unit_text(fp, &trials).as_bytes(),
        )?;
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
    if opts.shard.is_some() {
        let present = (0..plan.len())
            .filter(|&j| units_dir.join(plan[j].1.file_name()).exists())
            .count();
        return Ok(Outcome::Shard {
            units_run: todo.len(),
            units_missing: plan.len() - present,
            units_total: plan.len(),
        });
    }

    // Assemble, summarise and write.
    let finished_at = store::utc_now();
    let finished_manifest = manifest(Some(finished_at.clone()));
    let mut results = Vec::with_capacity(e.points.len());
    for (point, model) in e.points.iter().zip(&models) {
        let columns = Trials::for_model(model.as_ref());
        let mut trials = columns.clone();
        for u in units_of(e, point.index) {
            let want = Expected {
                fingerprint: &fingerprint(e, point, &u),
                columns: &columns,
                unit: &u,
            };
            trials.extend(read_unit(&units_dir.join(u.file_name()), &want)?);
        }
        results.push(point_result(e, point, model.as_ref(), trials)?);
    }
    let mut files = write_tables(e, &results, dir)?;
    files.extend(figures::write_all(e, &results, &dir.join("figures"))?);
    let summary: Vec<Value> = results.iter().map(PointResult::to_json).collect();
    let summary = serde_json::to_string_pretty(&summary).unwrap_or_default();
    atomic_write(&dir.join("summary.json"), summary.as_bytes())?;
    files.push("summary.json".into());
    let html = report::html(e, &results, &finished_manifest, dir)?;
    atomic_write(&dir.join("report.html"), html.as_bytes())?;
    files.push("report.html".into());
    write_manifest(Some(finished_at))?;
    files.push("manifest.json".into());
    let verdicts = results
        .iter()
        .filter_map(|r| r.verdict().map(|v| (r.label.clone(), v.to_string())))
        .collect();
    Ok(Outcome::Finished(Finished {
        dir: dir.clone(),
        points: e.points.len(),
        units_run: todo.len(),
        units_reused: reused,
        verdicts,
        files,
        results,
    }))
}

/// Deletes the finished units, figures and manifest of a results folder, for `--fresh`.
/// Only a folder that carries pretrainlab's manifest (or holds nothing but the lock) is
/// touched; anything else is refused.
fn discard_results(dir: &Path) -> Result<(), StoreError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |error| StoreError::Io { path, error }
    };
    let manifest_path = dir.join("manifest.json");
    let ours = std::fs::read(&manifest_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .is_some_and(|m| m.get("pretrainlab_version").is_some());
    if !ours {
        let mut entries = std::fs::read_dir(dir).map_err(io(dir))?;
        let only_lock = entries.all(|e| e.is_ok_and(|e| e.file_name() == store::LOCK_FILE));
        return if only_lock {
            Ok(())
        } else {
            Err(StoreError::NotResults {
                dir: dir.to_path_buf(),
            })
        };
    }
    for name in ["units", "figures"] {
        let p = dir.join(name);
        if p.exists() {
            std::fs::remove_dir_all(&p).map_err(io(&p))?;
        }
    }
    std::fs::remove_file(&manifest_path).map_err(io(&manifest_path))
}

/// The model of every point, built through the registry from the point's parameters.
fn build_models(e: &Experiment) -> Result<Vec<Box<dyn DynModel>>, StoreError> {
    e.points
        .iter()
        .map(|p| pretrainlab::registry::build(&e.model, p.params.clone()).map_err(Into::into))
        .collect()
}

/// Refuses an experiment any of whose points would need more memory or work than
/// `limits` allow (its prediction and its trials on the current thread pool); the error
/// names the point and the parameter. Nothing runs.
pub fn admit(e: &Experiment, limits: &Limits) -> Result<(), StoreError> {
    let models = build_models(e)?;
    admit_models(e, &models, limits)?;
    check_predicted_key(e, &models)
}

/// The file's `predicted` must name a quantity the first point's prediction has: checked
/// before any unit runs (it costs one prediction).
fn check_predicted_key(e: &Experiment, models: &[Box<dyn DynModel>]) -> Result<(), StoreError> {
    let (Some(name), Some(model)) = (&e.predicted, models.first()) else {
        return Ok(());
    };
    let known: Vec<String> = model
        .predict()?
        .quantities
        .iter()
        .map(|q| q.name.clone())
        .collect();
    if known.contains(name) {
        return Ok(());
    }
    Err(StoreError::UnknownName {
        key: "predicted",
        name: name.clone(),
        model: e.model.clone(),
        what: "predicted quantity",
        known,
    })
}

fn admit_models(
    e: &Experiment,
    models: &[Box<dyn DynModel>],
    limits: &Limits,
) -> Result<(), StoreError> {
    let trials = if e.actions.runs_trials() { e.trials } else { 0 };
    for (point, model) in e.points.iter().zip(models) {
        pretrainlab::budget::admit_model(model.as_ref(), trials, limits).map_err(|source| {
            StoreError::Budget {
                point: point.index,
                label: point.label(),
                source,
            }
        })?;
    }
    Ok(())
}

/// The resolved configuration as JSON (what the manifest records and resumes compare).
pub fn config_json(e: &Experiment) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("output");
    }
    v
}

/// One point: prediction, summary and check as the actions ask.
fn point_result(
    e: &Experiment,
    point: &spec::Point,
    model: &dyn DynModel,
    trials: Trials,
) -> Result<PointResult, StoreError> {
    let prediction = if e.actions.needs_theory() {
        Some(model.predict()?)
    } else {
        None
    };
    if e.actions.runs_trials() && trials.completed() == 0 {
        return Err(StoreError::AllFailed {
            point: point.index,
            label: point.label(),
            trials: e.trials,
            reason: trials
                .failures
                .first()
                .map_or("unknown".into(), |(_, r)| r.clone()),
        });
    }
    let (simulation, check) = match (&prediction, e.actions.check, e.actions.runs_trials()) {
        (Some(p), true, _) => {
            let c = assess(model, p.clone(), e.seed, &trials);
            (Some(c.simulation.clone()), Some(c))
        }
        (_, _, true) => (Some(Simulation::of(model, e.seed, &trials)), None),
        _ => (None, None),
    };
    Ok(PointResult {
        index: point.index,
        label: point.label(),
        coords: point.coords.clone(),
        metrics: model.metrics().to_vec(),
        traces: model.traces().to_vec(),
        labels: model
            .labels()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        prediction,
        simulation,
        check,
        trials,
    })
}

/// A finite value, or nothing (tables never carry a non-finite number as a result).
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Names in first-seen order over all points.
fn union<'a>(lists: impl Iterator<Item = Vec<&'a str>>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for list in lists {
        for name in list {
            if !out.iter().any(|o| o == name) {
                out.push(name.to_string());
            }
        }
    }
    out
}

/// Axis and label columns for rows `(point, _)`: numeric values as floats, others as
/// text. An axis that is also a label (`m`, `n`, `alpha`) is shown once, as the label.
fn axis_columns(
    e: &Experiment,
    results: &[PointResult],
    rows: &[(usize, usize)],
    table: &mut Table,
) {
    let labels = union(
        results
            .iter()
            .map(|r| r.labels.iter().map(|(k, _)| k.as_str()).collect()),
    );
    let mut push = |name: &str, value: &dyn Fn(usize) -> Option<Value>| {
        let values: Vec<Option<Value>> = rows.iter().map(|&(p, _)| value(p)).collect();
        let numeric = values.iter().flatten().all(|v| v.as_f64().is_some());
        if numeric {
            table.push(
                name,
                Column::OptFloat(
                    values
                        .iter()
                        .map(|v| v.as_ref().and_then(Value::as_f64))
                        .collect(),
                ),
            );
        } else {
            table.push(
                name,
                Column::Text(
                    values
                        .iter()
                        .map(|v| match v {
                            Some(Value::String(s)) => s.clone(),
                            Some(other) => other.to_string(),
                            None => String::new(),
                        })
                        .collect(),
                ),
            );
        }
    };
    for (a, axis) in e.axes.iter().enumerate() {
        if labels.contains(&axis.name) {
            continue;
        }
        push(&axis.name, &|p| {
            serde_json::to_value(&e.points[p].coords[a].1).ok()
        });
    }
    for label in &labels {
        push(label, &|p| {
            results[p]
                .labels
                .iter()
                .find(|(k, _)| k == label)
                .map(|(_, v)| v.clone())
        });
    }
}

/// The per-trial curves in long form: `point, trial, trace, t, y`, one row per value.
fn traces_table(results: &[PointResult]) -> Table {
    let (mut point, mut trial, mut name, mut t, mut y) = (vec![], vec![], vec![], vec![], vec![]);
    for r in results {
        let grids: Vec<(&str, &[f64])> = r
            .traces
            .iter()
            .map(|s| (s.name.as_str(), s.t.as_slice()))
            .collect();
        for i in 0..r.trials.completed() {
            for (trace, grid) in &grids {
                let values = r.trials.trace(i, trace).unwrap_or_default();
                for (&x, &v) in grid.iter().zip(values) {
                    point.push(r.index as i64);
                    trial.push(r.trials.ids[i] as i64);
                    name.push(trace.to_string());
                    t.push(x);
                    y.push(finite(v));
                }
            }
        }
    }
    let mut table = Table::default();
    table.push("point", Column::Int(point));
    table.push("trial", Column::Int(trial));
    table.push("trace", Column::Text(name));
    table.push("t", Column::Float(t));
    table.push("y", Column::OptFloat(y));
    table
}

/// Writes `trials.{csv,parquet}` and `points.{csv,parquet}`; returns the file names.
fn write_tables(
    e: &Experiment,
    results: &[PointResult],
    dir: &Path,
) -> Result<Vec<String>, StoreError> {
    let mut files = Vec::new();
    if e.actions.runs_trials() {
        let rows: Vec<(usize, usize)> = results
            .iter()
            .flat_map(|r| (0..r.trials.completed()).map(move |i| (r.index, i)))
            .collect();
        let mut t = Table::default();
        t.push(
            "point",
            Column::Int(rows.iter().map(|&(p, _)| p as i64).collect()),
        );
        t.push(
            "trial",
            Column::Int(
                rows.iter()
                    .map(|&(p, i)| results[p].trials.ids[i] as i64)
                    .collect(),
            ),
        );
        axis_columns(e, results, &rows, &mut t);
        let metrics = union(
            results
                .iter()
                .map(|r| r.trials.metrics.iter().map(String::as_str).collect()),
        );
        for m in &metrics {
            let col = rows
                .iter()
                .map(|&(p, i)| {
                    let tr = &results[p].trials;
                    tr.index(m).and_then(|j| finite(tr.row(i)[j]))
                })
                .collect();
            t.push(m, Column::OptFloat(col));
        }
        t.write(dir, "trials")?;
        files.extend(["trials.csv".to_string(), "trials.parquet".to_string()]);
        if results.iter().any(|r| !r.trials.traces.is_empty()) {
            traces_table(results).write(dir, "traces")?;
            files.extend(["traces.csv".to_string(), "traces.parquet".to_string()]);
        }
    }

    let rows: Vec<(usize, usize)> = results.iter().map(|r| (r.index, 0)).collect();
    let mut t = Table::default();
    t.push(
        "point",
        Column::Int(results.iter().map(|r| r.index as i64).collect()),
    );
    axis_columns(e, results, &rows, &mut t);
    // A quantity named like a label or an axis (a two-stage model's `alpha`) is shown once.
    let mut float = |name: String, f: &dyn Fn(&PointResult) -> Option<f64>| {
        if !t.has(&name) {
            let values = results.iter().map(|r| f(r).and_then(finite)).collect();
            t.push(&name, Column::OptFloat(values));
        }
    };
    if e.actions.needs_theory() {
        let preds = || results.iter().filter_map(|r| r.predicted());
        for q in union(preds().map(|p| p.quantities.iter().map(|q| q.name.as_str()).collect())) {
            float(q.clone(), &|r| r.predicted().and_then(|p| p.quantity(&q)));
        }
        for m in union(preds().map(|p| p.means.iter().map(|m| m.metric.as_str()).collect())) {
            float(format!("{m}_predicted"), &|r| {
                r.predicted().and_then(|p| p.mean(&m)).map(|x| x.value)
            });
        }
        for k in union(preds().map(|p| p.references.iter().map(|r| r.key.as_str()).collect())) {
            float(k.clone(), &|r| {
                r.predicted()
                    .and_then(|p| p.references.iter().find(|x| x.key == k))
                    .map(|x| x.value)
            });
        }
    }
    if e.actions.runs_trials() {
        float("completed".into(), &|r| {
            r.simulated().map(|s| s.completed as f64)
        });
        float("failed".into(), &|r| r.simulated().map(|s| s.failed as f64));
        let sims = results.iter().filter_map(|r| r.simulated());
        for m in union(sims.map(|s| s.metrics.iter().map(|(k, _)| k.as_str()).collect())) {
            type Stat = fn(&pretrainlab::stats::Summary) -> f64;
            let stats: [(&str, Stat); 5] = [
                ("mean", |s| s.mean),
                ("se", |s| s.se),
                ("q05", |s| s.q05),
                ("q50", |s| s.q50),
                ("q95", |s| s.q95),
            ];
            for (suffix, f) in stats {
                float(format!("{m}_{suffix}"), &|r| {
                    r.simulated().and_then(|s| s.metric(&m)).map(f)
                });
            }
        }
    }
    if e.actions.check {
        let checks = || results.iter().filter_map(|r| r.check.as_ref());
        for m in union(checks().map(|c| c.means.iter().map(|x| x.quantity.as_str()).collect())) {
            float(format!("z_{m}"), &|r| {
                r.check
                    .as_ref()
                    .and_then(|c| c.means.iter().find(|x| x.quantity == m))
                    .map(|x| x.z)
            });
        }
        for m in union(checks().map(|c| c.laws.iter().map(|x| x.metric.as_str()).collect())) {
            let law = |r: &PointResult| {
                r.check
                    .as_ref()
                    .and_then(|c| c.laws.iter().find(|x| x.metric == m).cloned())
            };
            float(format!("ks_{m}"), &|r| law(r).map(|l| l.ks));
            float(format!("ks_{m}_p_value"), &|r| law(r).map(|l| l.p_value));
        }
        float("criteria_passed".into(), &|r| {
            r.check
                .as_ref()
                .map(|c| c.criteria.iter().filter(|x| x.pass).count() as f64)
        });
        float("criteria_total".into(), &|r| {
            r.check.as_ref().map(|c| c.criteria.len() as f64)
        });
        t.push(
            "verdict",
            Column::Text(
                results
                    .iter()
                    .map(|r| r.verdict().unwrap_or_default().to_string())
                    .collect(),
            ),
        );
    }
    t.write(dir, "points")?;
    files.extend(["points.csv".to_string(), "points.parquet".to_string()]);
    Ok(files)
}
