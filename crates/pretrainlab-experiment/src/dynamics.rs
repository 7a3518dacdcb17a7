//! Training-dynamics experiments (`pretrainlab::dynamics`): the stored seeds of each point
//! become its prediction, per-metric summaries and, for a check, the model's criteria with
//! a verdict; then the per-seed rows (`trials.*`), the per-point summaries (`points.*`),
//! the sweep figure, `summary.json` and the report.

use std::path::Path;

use pretrainlab::dynamics::{Criterion, DynDynamics, DynPrediction, DynSimulation, assess};
use pretrainlab_report::{Figure, Series, Style, write_panels};
use serde::Serialize;

use crate::spec::{Experiment, Point};
use crate::store::{SeedOutcomes, atomic_write, read_dyn_unit, units_of};
use crate::table::{Column, Table};
use crate::{StoreError, axis_columns, figures, report};

/// What [`write_all`] returns: the files written, the report's HTML and
/// `(label, verdict)` for every check.
pub(crate) type Assembled = (Vec<String>, String, Vec<(String, String)>);

/// The results of one grid point of a training-dynamics experiment.
#[derive(Clone, Debug, Serialize)]
pub struct DynPointResult {
    pub index: usize,
    pub label: String,
    pub coords: Vec<(String, toml::Value)>,
    pub prediction: Option<DynPrediction>,
    pub simulation: Option<DynSimulation>,
    /// The model's criteria (with `runs_completed`), for a check.
    pub criteria: Vec<Criterion>,
    /// The verdict of a check: every criterion passes.
    pub pass: Option<bool>,
    /// Seed index and named metrics of each completed seed, in seed order.
    #[serde(skip)]
    pub rows: Vec<(u64, Vec<(String, f64)>)>,
}

impl DynPointResult {
    /// The verdict as text (`pass` or `fail`), for a check.
    pub fn verdict(&self) -> Option<&'static str> {
        self.pass.map(|p| if p { "pass" } else { "fail" })
    }

    /// The simulated mean and standard error of `metric`.
    fn metric(&self, metric: &str) -> Option<(f64, f64)> {
        self.simulation.as_ref().and_then(|s| {
            s.metrics
                .iter()
                .find(|(k, _)| k == metric)
                .map(|(_, s)| (s.mean, s.se))
        })
    }

    /// The predicted quantity `name`.
    fn predicted(&self, name: &str) -> Option<f64> {
        self.prediction.as_ref().and_then(|p| {
            p.quantities
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| *v)
        })
    }
}

/// Assembles every point from its stored units and writes the tables, the figure and
/// `summary.json`. Returns the files written, the report's HTML and `(label, verdict)`
/// for every check.
pub(crate) fn write_all(
    e: &Experiment,
    models: &[Box<DynDynamics>],
    units_dir: &Path,
    manifest: &serde_json::Value,
    dir: &Path,
) -> Result<Assembled, StoreError> {
    let mut results = Vec::with_capacity(e.points.len());
    for (point, model) in e.points.iter().zip(models) {
        let mut outcomes = SeedOutcomes::new();
        for u in units_of(e, point.index) {
            outcomes.extend(read_dyn_unit(&units_dir.join(u.file_name()))?.1);
        }
        results.push(point_result(e, point, model.as_ref(), outcomes)?);
    }
    let mut files = write_tables(e, &results, dir)?;
    if let Some(fig) = sweep_figure(e, &results)? {
        write_panels(&[fig], &dir.join("figures").join("sweep"))?;
        files.extend(["figures/sweep.svg".into(), "figures/sweep.png".into()]);
    }
    let summary = serde_json::to_string_pretty(&results).unwrap_or_default();
    atomic_write(&dir.join("summary.json"), summary.as_bytes())?;
    files.push("summary.json".into());
    let html = report::dyn_html(e, &results, manifest, dir)?;
    let verdicts = results
        .iter()
        .filter_map(|r| r.verdict().map(|v| (r.label.clone(), v.to_string())))
        .collect();
    Ok((files, html, verdicts))
}

/// One point: its seeds' metric names must agree; then prediction, summary and criteria
/// as the actions ask.
fn point_result(
    e: &Experiment,
    point: &Point,
    model: &DynDynamics,
    outcomes: SeedOutcomes,
) -> Result<DynPointResult, StoreError> {
    let names = |m: &[(String, f64)]| m.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    let mut rows: Vec<(u64, Vec<(String, f64)>)> = Vec::with_capacity(outcomes.len());
    for (t, o) in &outcomes {
        if let Ok(r) = o {
            if let Some((t0, first)) = rows.first()
                && names(first) != names(&r.metrics)
            {
                return Err(StoreError::Metrics {
                    point: point.index,
                    label: point.label(),
                    message: format!(
                        "seed {t} reported metrics [{}] but seed {t0} [{}]",
                        names(&r.metrics).join(", "),
                        names(first).join(", ")
                    ),
                });
            }
            rows.push((*t, r.metrics.clone()));
        }
    }
    let prediction = if e.actions.needs_theory() {
        Some(model.predict()?)
    } else {
        None
    };
    let (simulation, criteria, pass) = match (&prediction, e.actions.check) {
        _ if !e.actions.runs_trials() => (None, Vec::new(), None),
        (Some(p), true) => {
            let (c, _) = assess(model, e.seed, p.clone(), outcomes);
            (Some(c.simulation), c.criteria, Some(c.pass))
        }
        _ => {
            let (sim, _) = DynSimulation::of(model.name(), e.seed, outcomes);
            if sim.completed == 0 {
                return Err(StoreError::AllFailed {
                    point: point.index,
                    label: point.label(),
                    trials: e.trials,
                    reason: sim
                        .failure_examples
                        .first()
                        .cloned()
                        .unwrap_or_else(|| "unknown".into()),
                });
            }
            (Some(sim), Vec::new(), None)
        }
    };
    Ok(DynPointResult {
        index: point.index,
        label: point.label(),
        coords: point.coords.clone(),
        prediction,
        simulation,
        criteria,
        pass,
        rows,
    })
}

/// Names in order of first appearance over all points.
fn union<'a>(lists: impl Iterator<Item = &'a [(String, f64)]>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for list in lists {
        for (k, _) in list {
            if !out.contains(k) {
                out.push(k.clone());
            }
        }
    }
    out
}

/// The value of `name` in a list of named values.
fn lookup(list: &[(String, f64)], name: &str) -> Option<f64> {
    list.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
}

/// `trials.*`: one row per completed seed with its metrics (empty where a point's model
/// does not report one); `points.*`: predicted quantities, per-metric means and standard
/// errors, and the verdict.
fn write_tables(
    e: &Experiment,
    results: &[DynPointResult],
    dir: &Path,
) -> Result<Vec<String>, StoreError> {
    let mut files = Vec::new();
    if e.actions.runs_trials() {
        let rows: Vec<(usize, usize)> = results
            .iter()
            .flat_map(|r| (0..r.rows.len()).map(move |i| (r.index, i)))
            .collect();
        let row = |p: usize, i: usize| &results[p].rows[i];
        let mut t = Table::default();
        t.push(
            "point",
            Column::Int(rows.iter().map(|&(p, _)| p as i64).collect()),
        );
        t.push(
            "seed",
            Column::Int(rows.iter().map(|&(p, i)| row(p, i).0 as i64).collect()),
        );
        axis_columns(e, &rows, &mut t);
        for name in union(
            results
                .iter()
                .flat_map(|r| r.rows.iter().map(|(_, m)| &m[..])),
        ) {
            t.push(
                &name,
                Column::OptFloat(
                    rows.iter()
                        .map(|&(p, i)| lookup(&row(p, i).1, &name))
                        .collect(),
                ),
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
    let quantities = union(
        results
            .iter()
            .filter_map(|r| r.prediction.as_ref().map(|p| &p.quantities[..])),
    );
    for name in quantities {
        t.push(
            &format!("predicted_{name}"),
            Column::OptFloat(results.iter().map(|r| r.predicted(&name)).collect()),
        );
    }
    if e.actions.runs_trials() {
        let sim = |f: fn(&DynSimulation) -> usize| {
            Column::Int(
                results
                    .iter()
                    .map(|r| r.simulation.as_ref().map_or(0, f) as i64)
                    .collect(),
            )
        };
        t.push("completed", sim(|s| s.completed));
        t.push("failed", sim(|s| s.failed));
        for name in union(
            results
                .iter()
                .flat_map(|r| r.rows.first().map(|(_, m)| &m[..])),
        ) {
            let stat = |f: fn((f64, f64)) -> f64| {
                Column::OptFloat(results.iter().map(|r| r.metric(&name).map(f)).collect())
            };
            t.push(&format!("{name}_mean"), stat(|(m, _)| m));
            t.push(&format!("{name}_se"), stat(|(_, se)| se));
        }
    }
    if e.actions.check {
        t.push(
            "criteria_passed",
            Column::Int(
                results
                    .iter()
                    .map(|r| r.criteria.iter().filter(|c| c.pass).count() as i64)
                    .collect(),
            ),
        );
        t.push(
            "criteria",
            Column::Int(results.iter().map(|r| r.criteria.len() as i64).collect()),
        );
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

/// The metric the sweep figure shows and the predicted quantity drawn against it: the
/// file's `metric` and `predicted`, else the first metric reported and the quantity of
/// the same name.
pub fn figure_metric(e: &Experiment, results: &[DynPointResult]) -> Option<(String, String)> {
    let metric = e.metric.clone().or_else(|| {
        results
            .iter()
            .find_map(|r| r.rows.first().and_then(|(_, m)| m.first()))
            .map(|(k, _)| k.clone())
    })?;
    let predicted = e.predicted.clone().unwrap_or_else(|| metric.clone());
    Some((metric, predicted))
}

/// Along the first numeric axis: the chosen metric's simulated mean with ±2 s.e. bars and
/// its predicted quantity where the prediction has one, one pair of series per combination
/// of the other axes. `None` without a numeric axis or simulated runs; a `metric` or
/// `predicted` the model does not report is an error naming those it does.
fn sweep_figure(e: &Experiment, results: &[DynPointResult]) -> Result<Option<Figure>, StoreError> {
    let Some(a) = figures::x_axis(e) else {
        return Ok(None);
    };
    if !e.actions.runs_trials() {
        return Ok(None);
    }
    let Some((metric, predicted)) = figure_metric(e, results) else {
        return Ok(None);
    };
    let known = union(
        results
            .iter()
            .flat_map(|r| r.rows.first().map(|(_, m)| &m[..])),
    );
    if !known.contains(&metric) {
        return Err(StoreError::UnknownName {
            key: "metric",
            name: metric,
            model: e.model.clone(),
            what: "metric",
            known,
        });
    }
    let quantities = union(
        results
            .iter()
            .filter_map(|r| r.prediction.as_ref().map(|p| &p.quantities[..])),
    );
    if let Some(name) = &e.predicted
        && !quantities.is_empty()
        && !quantities.contains(name)
    {
        return Err(StoreError::UnknownName {
            key: "predicted",
            name: name.clone(),
            model: e.model.clone(),
            what: "predicted quantity",
            known: quantities,
        });
    }
    let axis = &e.axes[a];
    let x_of = |r: &DynPointResult| figures::number(&r.coords[a].1).unwrap_or(f64::NAN);
    // One pair of series per combination of the other axes' values.
    let mut groups: Vec<(String, Vec<&DynPointResult>)> = Vec::new();
    for r in results {
        let key = r
            .coords
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != a)
            .map(|(_, (k, v))| format!("{k}={}", crate::spec::value_text(v)))
            .collect::<Vec<_>>()
            .join(", ");
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    let mut series = Vec::new();
    for (key, group) in &groups {
        let suffix = if key.is_empty() {
            String::new()
        } else {
            format!(", {key}")
        };
        let (mut x, mut y, mut err) = (vec![], vec![], vec![]);
        let (mut px, mut py) = (vec![], vec![]);
        for r in group {
            if let Some((m, se)) = r.metric(&metric) {
                x.push(x_of(r));
                y.push(m);
                err.push(2.0 * se);
            }
            if let Some(v) = r.predicted(&predicted) {
                px.push(x_of(r));
                py.push(v);
            }
        }
        series.push(Series {
            label: format!("simulated {metric} (mean ± 2 s.e.){suffix}"),
            x,
            y,
            err: Some(err),
            style: Style::Points,
        });
        if !px.is_empty() {
            series.push(Series {
                label: format!("predicted {predicted}{suffix}"),
                x: px,
                y: py,
                err: None,
                style: Style::Line,
            });
        }
    }
    Ok(Some(Figure {
        title: format!("{}: {metric} along {}", e.model, axis.name),
        x_label: axis.name.clone(),
        y_label: metric.clone(),
        log_x: axis.geometric()
            && axis
                .values
                .iter()
                .filter_map(figures::number)
                .all(|v| v > 0.0),
        log_y: false,
        series,
    }))
}
