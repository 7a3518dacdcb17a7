//! The runner: the only code that derives random streams and runs trials in parallel.
//!
//! Trial `t` of a model under master seed `s` draws only from
//! `rng::trial_rng(s, experiment_key(model name), t)`, and uses a per-worker workspace
//! that it fully overwrites, so its metrics do not depend on which thread runs it, on
//! the number of threads, or on how the trials are split into chunks or shards. The
//! metrics are written into one preallocated buffer (no allocation per trial) and
//! collected in trial order.

use std::ops::Range;

use rayon::prelude::*;

use crate::model::{DynModel, Model};
use crate::rng::{experiment_key, trial_rng};

/// The outcome of a range of trials: the metrics (and traces) of the completed ones, in
/// trial order, and the failed ones with their reasons.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trials {
    /// Metric names, the first columns of [`Trials::values`].
    pub metrics: Vec<String>,
    /// Trace names and lengths; their values follow the metrics in each row.
    pub traces: Vec<(String, usize)>,
    /// Ids of the completed trials, in order.
    pub ids: Vec<u64>,
    /// Row-major `ids.len() × width()` values: metrics, then traces.
    pub values: Vec<f64>,
    /// Failed trials, in order, with the reason.
    pub failures: Vec<(u64, String)>,
}

impl Trials {
    /// An empty outcome with the given metric columns (and no traces).
    pub fn empty(metrics: Vec<String>) -> Self {
        Trials {
            metrics,
            ..Default::default()
        }
    }

    /// An empty outcome with the columns of `model`.
    pub fn for_model(model: &(impl DynModel + ?Sized)) -> Self {
        Trials {
            metrics: model.metrics().iter().map(|m| m.name.clone()).collect(),
            traces: model
                .traces()
                .iter()
                .map(|t| (t.name.clone(), t.t.len()))
                .collect(),
            ..Default::default()
        }
    }

    /// Values per row: the metrics and every trace point.
    pub fn width(&self) -> usize {
        self.metrics.len() + self.traces.iter().map(|(_, n)| n).sum::<usize>()
    }

    /// The values of trace `name` in the `i`-th completed trial.
    pub fn trace(&self, i: usize, name: &str) -> Option<&[f64]> {
        let mut at = self.metrics.len();
        for (t, n) in &self.traces {
            if t == name {
                return Some(&self.row(i)[at..at + n]);
            }
            at += n;
        }
        None
    }

    /// Number of completed trials.
    pub fn completed(&self) -> usize {
        self.ids.len()
    }

    /// Number of trials attempted (completed and failed).
    pub fn attempted(&self) -> usize {
        self.ids.len() + self.failures.len()
    }

    /// The metrics (then the traces) of the `i`-th completed trial.
    pub fn row(&self, i: usize) -> &[f64] {
        let k = self.width();
        &self.values[i * k..(i + 1) * k]
    }

    /// The column index of `metric`.
    pub fn index(&self, metric: &str) -> Option<usize> {
        self.metrics.iter().position(|m| m == metric)
    }

    /// The values of `metric` over the completed trials, in trial order.
    pub fn column(&self, metric: &str) -> Option<Vec<f64>> {
        let j = self.index(metric)?;
        Some((0..self.completed()).map(|i| self.row(i)[j]).collect())
    }

    /// Appends the outcome of a later range (same metrics), keeping trial order when
    /// ranges are appended in order.
    pub fn extend(&mut self, other: Trials) {
        debug_assert_eq!(
            (&self.metrics, &self.traces),
            (&other.metrics, &other.traces)
        );
        self.ids.extend(other.ids);
        self.values.extend(other.values);
        self.failures.extend(other.failures);
    }
}

/// Runs trials `range` of `model` under master seed `seed` on the current rayon pool,
/// calling `progress(1)` as each trial finishes.
pub fn run(
    model: &dyn DynModel,
    seed: u64,
    range: Range<u64>,
    progress: &(dyn Fn(u64) + Sync),
) -> Trials {
    model.run_range(seed, range, progress)
}

/// Runs trial `trial` of `model` under master seed `seed` on the calling thread, with a
/// workspace from [`DynModel::workspace_any`] that the caller keeps across calls, writing
/// [`Trials::width`] values into `out`. The same trial gives the same bits as in [`run`].
pub fn run_one(
    model: &dyn DynModel,
    seed: u64,
    trial: u64,
    ws: &mut (dyn std::any::Any + Send),
    out: &mut [f64],
) -> Result<(), String> {
    model.trial_with(seed, trial, ws, out)
}

/// The typed trial behind [`run_one`], reached through [`DynModel::trial_with`].
pub(crate) fn execute_one<M: Model>(
    model: &M,
    seed: u64,
    trial: u64,
    ws: &mut M::Workspace,
    out: &mut [f64],
) -> Result<(), String> {
    let width = model.metrics().len() + model.traces().iter().map(|t| t.t.len()).sum::<usize>();
    if out.len() != width {
        return Err(format!(
            "the output slice holds {} values, the model writes {width}",
            out.len()
        ));
    }
    let mut rng = trial_rng(seed, experiment_key(model.name()), trial);
    model.trial(&mut rng, trial, ws, out)?;
    finite_or_failed(model, out)
}

/// A trial whose metrics or trace values are not all finite failed: the first
/// non-finite value is its reason. An optional metric may be NaN (undefined).
/// (Allocates only to report a failure.)
fn finite_or_failed<M: Model>(model: &M, out: &[f64]) -> Result<(), String> {
    let metrics = model.metrics();
    let undefined_allowed =
        |i: usize, v: f64| v.is_nan() && metrics.get(i).is_some_and(|m| m.optional);
    let Some(i) = out
        .iter()
        .enumerate()
        .position(|(i, v)| !v.is_finite() && !undefined_allowed(i, *v))
    else {
        return Ok(());
    };
    let what = match metrics.get(i) {
        Some(m) => format!("metric `{}`", m.name),
        None => {
            let mut at = i - metrics.len();
            let mut name = "";
            for t in model.traces() {
                if at < t.t.len() {
                    name = &t.name;
                    break;
                }
                at -= t.t.len();
            }
            format!(
                "curve `{name}` at t = {}",
                model
                    .traces()
                    .iter()
                    .find(|t| t.name == name)
                    .map_or(f64::NAN, |t| t.t[at])
            )
        }
    };
    Err(format!("non-finite {what}: {}", out[i]))
}

/// One workspace per worker thread of the current rayon pool, built on the thread's
/// first trial and kept for the whole range. (Rayon's `for_each_init` would build one
/// per split job instead: dozens per range on many threads, each a fresh allocation
/// with cold caches.) A thread that finds its slot busy (a trial that itself waits on
/// rayon work and is handed another trial) uses a temporary workspace.
struct WorkspacePool<M: Model> {
    slots: Vec<std::sync::Mutex<Option<M::Workspace>>>,
}

impl<M: Model> WorkspacePool<M> {
    fn new() -> Self {
        WorkspacePool {
            slots: (0..rayon::current_num_threads().max(1))
                .map(|_| std::sync::Mutex::new(None))
                .collect(),
        }
    }

    /// `f` with this thread's workspace.
    fn with<R>(&self, model: &M, f: impl FnOnce(&mut M::Workspace) -> R) -> R {
        let slot = &self.slots[rayon::current_thread_index().unwrap_or(0) % self.slots.len()];
        match slot.try_lock() {
            Ok(mut guard) => f(guard.get_or_insert_with(|| model.workspace())),
            Err(std::sync::TryLockError::Poisoned(p)) => {
                let mut guard = p.into_inner();
                *guard = None;
                f(guard.get_or_insert_with(|| model.workspace()))
            }
            Err(std::sync::TryLockError::WouldBlock) => f(&mut model.workspace()),
        }
    }
}

/// The typed loop behind [`run`], reached through [`DynModel::run_range`].
pub(crate) fn execute<M: Model>(
    model: &M,
    seed: u64,
    range: Range<u64>,
    progress: &(dyn Fn(u64) + Sync),
) -> Trials {
    let mut trials = Trials::for_model(model);
    let width = trials.width();
    let k = width.max(1);
    let count = (range.end.saturating_sub(range.start)) as usize;
    let key = experiment_key(model.name());
    let mut values = vec![0.0; count * k];
    let mut status: Vec<Option<String>> = vec![None; count];
    let pool = WorkspacePool::<M>::new();
    values
        .par_chunks_mut(k)
        .zip(status.par_iter_mut())
        .enumerate()
        .for_each(|(i, (out, failed))| {
            let t = range.start + i as u64;
            let mut rng = trial_rng(seed, key, t);
            let out = &mut out[..width];
            if let Err(e) = pool
                .with(model, |ws| model.trial(&mut rng, t, ws, out))
                .and_then(|()| finite_or_failed(model, out))
            {
                *failed = Some(e);
            }
            progress(1);
        });
    let kept = width;
    trials.values.reserve(count * kept);
    for (i, failed) in status.into_iter().enumerate() {
        let t = range.start + i as u64;
        match failed {
            None => {
                trials.ids.push(t);
                trials
                    .values
                    .extend_from_slice(&values[i * k..i * k + kept]);
            }
            Some(e) => trials.failures.push((t, e)),
        }
    }
    trials
}
