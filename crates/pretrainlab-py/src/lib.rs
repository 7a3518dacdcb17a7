//! `pretrainlab._core`: the Python face of the engine. It only translates: parameters
//! arrive as JSON text (from a Python dict), models come from the one registry, trials run
//! through the one runner (with the GIL released, on a pool of the requested size), and
//! results go back as plain lists, JSON text or files. The Python package
//! (`python/pretrainlab`) wraps these in NumPy arrays, DataFrames and notebook views.
//!
//! Errors: a bad parameter is a `ValueError` with the CLI's text; anything else the
//! engine reports is a `RuntimeError`. A panic in Rust reaches Python as PyO3's
//! `PanicException`, never as an abort.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use pretrainlab::model::DynModel;

/// A `pretrainlab::Error` as a Python exception: `ValueError` for a bad parameter or a
/// prediction that is not finite (the user can change the input), else `RuntimeError`.
fn engine_error(e: pretrainlab::Error) -> PyErr {
    match e {
        pretrainlab::Error::InvalidParameter { .. } | pretrainlab::Error::NotFinite { .. } => {
            PyValueError::new_err(e.to_string())
        }
        other => PyRuntimeError::new_err(other.to_string()),
    }
}

/// A Python mapping of parameters as the TOML table the registry takes.
fn table_from_py(params: &Bound<'_, PyDict>) -> PyResult<toml::Table> {
    let mut table = toml::Table::new();
    for (k, v) in params.iter() {
        let key: String = k
            .extract()
            .map_err(|_| PyValueError::new_err("parameter names must be strings"))?;
        let value = toml_from_py(&key, &v)?;
        table.insert(key, value);
    }
    Ok(table)
}

/// One Python value (bool, int, float, str, list or tuple, dict) as TOML, or a
/// `ValueError` naming `key`.
fn toml_from_py(key: &str, v: &Bound<'_, PyAny>) -> PyResult<toml::Value> {
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(toml::Value::Boolean(b.is_true()));
    }
    if v.is_instance_of::<PyInt>() {
        let i: i64 = v.extract().map_err(|_| {
            PyValueError::new_err(format!(
                "invalid `{key}`: {v} does not fit a 64-bit integer"
            ))
        })?;
        return Ok(toml::Value::Integer(i));
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return Ok(toml::Value::Float(f.value()));
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(toml::Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        return Ok(toml::Value::Table(table_from_py(d)?));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        let items: Vec<toml::Value> = v
            .try_iter()?
            .map(|x| toml_from_py(key, &x?))
            .collect::<PyResult<_>>()?;
        return Ok(toml::Value::Array(items));
    }
    Err(PyValueError::new_err(format!(
        "invalid `{key}`: a parameter is a bool, int, float, str, list or dict, got {}",
        v.get_type().name()?
    )))
}

/// An experiment given as a dict, as TOML text.
#[pyfunction]
fn experiment_toml(spec: &Bound<'_, PyDict>) -> PyResult<String> {
    let table = table_from_py(spec)?;
    toml::to_string(&table).map_err(|e| PyValueError::new_err(format!("experiment: {e}")))
}

/// The results folder of experiment `text`: its `output`, else `results/<name>`, with
/// `-quick` appended under `quick` (as the command line does).
#[pyfunction]
fn experiment_folder(text: &str, quick: bool) -> PyResult<String> {
    let e = pretrainlab_experiment::parse(text, quick)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let mut folder = e.output.display().to_string();
    if quick {
        folder.push_str("-quick");
    }
    Ok(folder)
}

/// Runs `f` on a rayon pool of `threads` workers (all cores when `None`).
fn on_pool<T: Send>(threads: Option<usize>, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    match threads {
        None => Ok(f()),
        Some(t) if (1..=1024).contains(&t) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .map_err(|e| PyRuntimeError::new_err(format!("thread pool: {e}")))?;
            Ok(pool.install(f))
        }
        Some(t) => Err(PyValueError::new_err(format!(
            "invalid `threads`: must be an integer from 1 to 1024, got {t}"
        ))),
    }
}

/// Every model with its parameters, defaults and meanings, as JSON text (a list).
#[pyfunction]
fn models_json() -> String {
    serde_json::to_string(&pretrainlab::registry::catalogue()).unwrap_or_default()
}

/// The registered model names, in catalogue order.
#[pyfunction]
fn model_names() -> Vec<&'static str> {
    pretrainlab::registry::names()
}

/// The parameters of model `name`'s small instance (what the conformance suite runs) as
/// JSON text.
#[pyfunction]
fn small_params(name: &str) -> PyResult<String> {
    let entry = pretrainlab::registry::entry(name).map_err(engine_error)?;
    let table: toml::Table = entry
        .small
        .parse()
        .map_err(|e| PyRuntimeError::new_err(format!("small instance of {name}: {e}")))?;
    serde_json::to_string(&table).map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// The built-in presets: `(name, summary)`.
#[pyfunction]
fn presets() -> Vec<(String, String)> {
    pretrainlab_papers::all()
        .iter()
        .map(|p| (p.name.to_string(), p.summary.to_string()))
        .collect()
}

/// Named predicted quantities: `(name, value, s.e. where estimated)`.
type Quantities = Vec<(String, f64, Option<f64>)>;

/// A model built from the registry with validated parameters.
#[pyclass(module = "pretrainlab._core", frozen)]
struct Model {
    inner: Arc<dyn DynModel>,
}

#[pymethods]
impl Model {
    /// Builds model `name` from `params` (absent parameters take their defaults).
    #[new]
    fn new(name: &str, params: &Bound<'_, PyDict>) -> PyResult<Self> {
        let table = table_from_py(params)?;
        let inner = pretrainlab::registry::build(name, table).map_err(engine_error)?;
        Ok(Model {
            inner: Arc::from(inner),
        })
    }

    #[getter]
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    /// `(name, unit, meaning)` of each per-trial metric, in column order.
    fn metrics(&self) -> Vec<(String, String, String)> {
        self.inner
            .metrics()
            .iter()
            .map(|m| (m.name.clone(), m.unit.clone(), m.meaning.clone()))
            .collect()
    }

    /// Trials front ends run when the user gives none.
    fn default_trials(&self) -> u64 {
        self.inner.default_trials()
    }

    /// The model's labels (e.g. `m`, `n`, `alpha`) as JSON text.
    fn labels_json(&self) -> String {
        let map: serde_json::Map<String, serde_json::Value> = self
            .inner
            .labels()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        serde_json::Value::Object(map).to_string()
    }

    /// Refuses `trials` trials over the default memory and work limits, naming the
    /// parameter that drives the estimate (`ValueError`).
    fn admit(&self, trials: u64) -> PyResult<()> {
        pretrainlab::budget::admit_model(
            self.inner.as_ref(),
            trials,
            &pretrainlab::budget::Limits::default(),
        )
        .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// The prediction: its JSON text (the CLI's `predict --format json`) and its named
    /// quantities `(name, value, s.e. where estimated)`.
    fn predict(&self, py: Python<'_>) -> PyResult<(String, Quantities)> {
        let model = self.inner.clone();
        let p = py.detach(move || model.predict()).map_err(engine_error)?;
        let quantities = p
            .quantities
            .iter()
            .map(|q| (q.name.clone(), q.value, q.se))
            .collect();
        Ok((
            pretrainlab::criteria::prediction_json(&p).to_string(),
            quantities,
        ))
    }

    /// The predicted limit laws.
    fn laws(&self, py: Python<'_>) -> PyResult<Vec<Law>> {
        let model = self.inner.clone();
        let p = py.detach(move || model.predict()).map_err(engine_error)?;
        Ok(p.laws
            .iter()
            .map(|l| Law {
                metric: l.metric.clone(),
                decisive: l.decisive,
                law: l.law.clone(),
            })
            .collect())
    }

    /// The budget plan of a two-stage model (`pretrainlab plan`): JSON text with
    /// `constants`, `costs` and `plan`, and the SVG of its iso-risk figure. Give `budget`,
    /// or `target_risk` for the cheapest budget that reaches it.
    #[pyo3(signature = (cost_unlabeled, cost_labeled, budget=None, target_risk=None))]
    fn plan(
        &self,
        py: Python<'_>,
        cost_unlabeled: f64,
        cost_labeled: f64,
        budget: Option<f64>,
        target_risk: Option<f64>,
    ) -> PyResult<(String, Option<String>)> {
        use pretrainlab::plan::{Constants, Costs, budget_for, plan};
        let model = self.inner.clone();
        let prediction = py.detach(move || model.predict()).map_err(engine_error)?;
        let constants = Constants::of(&prediction).map_err(engine_error)?;
        let costs = Costs {
            unlabeled: cost_unlabeled,
            labeled: cost_labeled,
        };
        let p = match (target_risk, budget) {
            (Some(r), _) => budget_for(&constants, &costs, r),
            (None, Some(b)) => plan(&constants, &costs, b),
            (None, None) => {
                return Err(PyValueError::new_err(
                    "invalid `budget`: give a budget or target_risk",
                ));
            }
        }
        .map_err(engine_error)?;
        let figure = pretrainlab_experiment::figures::plan_figure(&constants, &costs, &p);
        let svg = pretrainlab_report::figure_svg(&figure).ok();
        let json = serde_json::json!({"model": self.inner.name(), "constants": constants, "costs": costs, "plan": p});
        Ok((json.to_string(), svg))
    }

    /// Trials `start..end` under master seed `seed`, with the GIL released. The bits do
    /// not depend on `threads` or on how a run is split into calls.
    #[pyo3(signature = (seed, start, end, threads=None))]
    fn simulate(
        &self,
        py: Python<'_>,
        seed: u64,
        start: u64,
        end: u64,
        threads: Option<usize>,
    ) -> PyResult<Trials> {
        if end < start {
            return Err(PyValueError::new_err("invalid range: end < start"));
        }
        let model = self.inner.clone();
        let inner = py.detach(move || {
            on_pool(threads, move || {
                pretrainlab::runner::run(model.as_ref(), seed, start..end, &|_| {})
            })
        })?;
        Ok(Trials { inner })
    }

    /// The summaries of `trials` as JSON text (the CLI's `simulate --format json`).
    fn summary_json(&self, trials: &Trials, seed: u64) -> String {
        pretrainlab::criteria::Simulation::of(self.inner.as_ref(), seed, &trials.inner)
            .to_json()
            .to_string()
    }

    /// The check of `trials` against the prediction: its JSON text (the CLI's
    /// `check --format json`) and, where the model predicts laws, an SVG of the empirical
    /// CDFs against them (the experiment reports' renderer).
    fn check(
        &self,
        py: Python<'_>,
        trials: &Trials,
        seed: u64,
    ) -> PyResult<(String, Option<String>)> {
        let model = self.inner.clone();
        let t = trials.inner.clone();
        py.detach(move || {
            let prediction = model.predict()?;
            let check = pretrainlab::criteria::assess(model.as_ref(), prediction, seed, &t);
            let title = format!("{} ({})", model.name(), check.verdict());
            let figs = pretrainlab_experiment::figures::check_cdf_figures(&title, &check, &t);
            let svg = if figs.is_empty() {
                None
            } else {
                pretrainlab_report::panels_svg(&figs).ok()
            };
            Ok((check.to_json().to_string(), svg))
        })
        .map_err(engine_error)
    }
}

/// A predicted law: mean, variance, CDF and quantiles.
#[pyclass(module = "pretrainlab._core", frozen)]
struct Law {
    #[pyo3(get)]
    metric: String,
    #[pyo3(get)]
    decisive: bool,
    law: Arc<dyn pretrainlab::law::Law>,
}

#[pymethods]
impl Law {
    fn mean(&self) -> f64 {
        self.law.mean()
    }

    fn var(&self) -> f64 {
        self.law.variance()
    }

    fn describe(&self) -> String {
        self.law.describe()
    }

    /// `P(X ≤ x)` for each `x`.
    fn cdf(&self, xs: Vec<f64>) -> Vec<f64> {
        xs.iter().map(|&x| self.law.cdf(x)).collect()
    }

    /// The `p`-quantile for each `p ∈ (0, 1)`.
    fn quantile(&self, ps: Vec<f64>) -> PyResult<Vec<f64>> {
        ps.iter()
            .map(|&p| {
                if p > 0.0 && p < 1.0 {
                    Ok(self.law.quantile(p))
                } else {
                    Err(PyValueError::new_err(format!(
                        "invalid `q`: a quantile level must be in (0, 1), got {p}"
                    )))
                }
            })
            .collect()
    }
}

/// The outcome of a range of trials.
#[pyclass(module = "pretrainlab._core")]
struct Trials {
    inner: pretrainlab::runner::Trials,
}

#[pymethods]
impl Trials {
    /// Appends the trials of `other` (the next range of the same model).
    fn extend(&mut self, other: &Trials) {
        self.inner.extend(other.inner.clone());
    }

    fn metrics(&self) -> Vec<String> {
        self.inner.metrics.clone()
    }

    /// Ids of the completed trials, in order.
    fn ids(&self) -> Vec<u64> {
        self.inner.ids.clone()
    }

    /// The values of `metric` over the completed trials.
    fn column(&self, metric: &str) -> PyResult<Vec<f64>> {
        self.inner
            .column(metric)
            .ok_or_else(|| PyValueError::new_err(format!("no metric `{metric}`")))
    }

    /// `(trial, reason)` of each failed trial.
    fn failures(&self) -> Vec<(u64, String)> {
        self.inner.failures.clone()
    }

    /// Names of the per-trial curves.
    fn trace_names(&self) -> Vec<String> {
        self.inner.traces.iter().map(|t| t.0.clone()).collect()
    }

    /// Curve `name` of the `i`-th completed trial.
    fn trace(&self, i: usize, name: &str) -> PyResult<Vec<f64>> {
        if i >= self.inner.completed() {
            return Err(PyValueError::new_err(format!("no completed trial {i}")));
        }
        self.inner
            .trace(i, name)
            .map(<[f64]>::to_vec)
            .ok_or_else(|| PyValueError::new_err(format!("no curve `{name}`")))
    }

    fn __len__(&self) -> usize {
        self.inner.completed()
    }
}

/// Reports an experiment's progress to a Python callable `progress(kind, value)` and
/// turns Ctrl-C (a pending `KeyboardInterrupt`) into a stop between units.
struct PyProgress<'a> {
    callback: Option<Py<PyAny>>,
    stop: &'a AtomicBool,
    interrupted: AtomicBool,
    /// Trials finished since the last report: the workers only count, so a trial never
    /// waits for the GIL; the count goes to Python with each stored unit.
    pending: AtomicU64,
}

impl<'a> PyProgress<'a> {
    fn new(callback: Option<Py<PyAny>>, stop: &'a AtomicBool) -> Self {
        PyProgress {
            callback,
            stop,
            interrupted: AtomicBool::new(false),
            pending: AtomicU64::new(0),
        }
    }

    fn call(&self, kind: &str, value: u64) {
        Python::attach(|py| {
            if let Some(cb) = &self.callback
                && let Err(e) = cb.call1(py, (kind, value))
                && e.is_instance_of::<PyKeyboardInterrupt>(py)
            {
                self.interrupt();
            }
            if py.check_signals().is_err() {
                self.interrupt();
            }
        });
    }

    fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl pretrainlab_experiment::Progress for PyProgress<'_> {
    fn begin(&self, trials_todo: u64, _: usize, _: usize) {
        self.call("begin", trials_todo);
    }
    fn trials(&self, k: u64) {
        self.pending.fetch_add(k, Ordering::Relaxed);
    }
    fn unit_done(&self, status: &pretrainlab_experiment::Status<'_>) {
        self.call("trials", self.pending.swap(0, Ordering::Relaxed));
        self.call("unit", status.units_done as u64);
    }
    fn end(&self) {
        self.call("end", 0);
    }
    fn note(&self, message: &str) {
        Python::attach(|py| {
            if let Some(cb) = &self.callback {
                let _ = cb.call1(py, ("note", message));
            }
        });
    }
}

/// How a run ended, as JSON text: `{"status": "finished", "folders": [...], "files":
/// [...]}` or `{"status": "interrupted", ...}`.
fn finished_json(dirs: &[std::path::PathBuf], files: Vec<String>) -> String {
    serde_json::json!({
        "status": "finished",
        "folders": dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>(),
        "files": files,
    })
    .to_string()
}

/// Runs (or resumes) the experiment `text` (TOML) into `output`, with the GIL released.
/// Returns JSON text saying how it ended.
#[pyfunction]
#[pyo3(signature = (text, output, quick=false, fresh=false, threads=None, progress=None))]
fn run_experiment(
    py: Python<'_>,
    text: &str,
    output: &str,
    quick: bool,
    fresh: bool,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let e = pretrainlab_experiment::parse(text, quick)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let stop = AtomicBool::new(false);
    let prog = PyProgress::new(progress, &stop);
    let opts = pretrainlab_experiment::RunOptions {
        output: output.into(),
        fresh,
        stop: &stop,
        progress: &prog,
        source: text.to_string(),
        limits: pretrainlab::budget::Limits::default(),
        shard: None,
    };
    let outcome = py
        .detach(|| on_pool(threads, || pretrainlab_experiment::run(&e, &opts)))?
        .map_err(store_error)?;
    match outcome {
        pretrainlab_experiment::Outcome::Finished(f) => {
            Ok(finished_json(std::slice::from_ref(&f.dir), f.files))
        }
        pretrainlab_experiment::Outcome::Interrupted {
            units_done,
            units_total,
        } => interrupted(&prog, units_done, units_total, output),
        pretrainlab_experiment::Outcome::Shard { .. } => Err(PyRuntimeError::new_err(
            "a run without a shard ended as one",
        )),
    }
}

/// Runs (or resumes) the built-in preset `name` into `output`, with the GIL released.
#[pyfunction]
#[pyo3(signature = (name, output, quick=false, fresh=false, threads=None, progress=None))]
fn run_preset(
    py: Python<'_>,
    name: &str,
    output: &str,
    quick: bool,
    fresh: bool,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let preset = pretrainlab_papers::find(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown preset `{name}`; pretrainlab.presets() lists them"
        ))
    })?;
    let stop = AtomicBool::new(false);
    let prog = PyProgress::new(progress, &stop);
    let opts = pretrainlab_papers::Options {
        output: output.into(),
        fresh,
        quick,
        stop: &stop,
        progress: &prog,
        limits: pretrainlab::budget::Limits::default(),
        shard: None,
    };
    let outcome = py
        .detach(|| on_pool(threads, || pretrainlab_papers::run(&preset, &opts)))?
        .map_err(|e| match e {
            pretrainlab_papers::PaperError::Store(s) => store_error(s),
            other => PyRuntimeError::new_err(other.to_string()),
        })?;
    match outcome {
        pretrainlab_papers::PresetOutcome::Finished { parts, files } => {
            let dirs: Vec<_> = parts.iter().map(|f| f.dir.clone()).collect();
            let mut all: Vec<String> = Vec::new();
            for f in &parts {
                let rel = f.dir.strip_prefix(output).unwrap_or(&f.dir).to_path_buf();
                all.extend(f.files.iter().map(|x| rel.join(x).display().to_string()));
            }
            all.extend(files);
            Ok(finished_json(&dirs, all))
        }
        pretrainlab_papers::PresetOutcome::Interrupted {
            units_done,
            units_total,
            ..
        } => interrupted(&prog, units_done, units_total, output),
        pretrainlab_papers::PresetOutcome::Shard { .. } => Err(PyRuntimeError::new_err(
            "a preset run without a shard ended as one",
        )),
    }
}

/// A stop: `KeyboardInterrupt` when Ctrl-C asked for it, saying what is kept.
fn interrupted(
    prog: &PyProgress<'_>,
    units_done: usize,
    units_total: usize,
    output: &str,
) -> PyResult<String> {
    let message = format!(
        "interrupted: {units_done} of {units_total} units are stored in {output}; run again to resume"
    );
    if prog.interrupted.load(Ordering::SeqCst) {
        Err(PyKeyboardInterrupt::new_err(message))
    } else {
        Ok(serde_json::json!({"status": "interrupted", "message": message}).to_string())
    }
}

/// A store error: `ValueError` for what the user controls (a bad parameter, a changed
/// file, a folder over the limits), `RuntimeError` for the rest.
fn store_error(e: pretrainlab_experiment::StoreError) -> PyErr {
    use pretrainlab_experiment::StoreError as S;
    match e {
        S::Io { .. } => PyRuntimeError::new_err(e.to_string()),
        other => PyValueError::new_err(other.to_string()),
    }
}

/// The extension module.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(models_json, m)?)?;
    m.add_function(wrap_pyfunction!(presets, m)?)?;
    m.add_function(wrap_pyfunction!(model_names, m)?)?;
    m.add_function(wrap_pyfunction!(small_params, m)?)?;
    m.add_function(wrap_pyfunction!(run_experiment, m)?)?;
    m.add_function(wrap_pyfunction!(run_preset, m)?)?;
    m.add_function(wrap_pyfunction!(experiment_toml, m)?)?;
    m.add_function(wrap_pyfunction!(experiment_folder, m)?)?;
    m.add_class::<Model>()?;
    m.add_class::<Law>()?;
    m.add_class::<Trials>()?;
    Ok(())
}
