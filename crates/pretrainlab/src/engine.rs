//! The Monte Carlo engine: trials in parallel, each from its own random stream.
//!
//! Trial `t` uses only `rng::trial_rng(seed, experiment, t)` and a per-worker
//! workspace that it fully overwrites, so its result does not depend on which thread
//! runs it, on the number of threads, or on how the trials are split into shards.
//! Results are collected in trial order and reduced serially.

use std::ops::Range;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::linalg::Sampler;
use crate::models::{TrialRecord, TwoStageModel};
use crate::rng::trial_rng;

/// The size and seeding of one simulation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Pre-training sample size.
    pub m: usize,
    /// Downstream sample size.
    pub n: usize,
    /// Number of Monte Carlo trials.
    pub trials: u64,
    /// Master seed.
    pub seed: u64,
    /// Experiment key: distinct keys give independent streams under one seed.
    pub experiment: u64,
    /// How sample covariances are drawn.
    pub sampler: Sampler,
}

/// Trials that finished, in trial order, and trials that failed, with the reason.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunResult {
    pub records: Vec<(u64, TrialRecord)>,
    pub failures: Vec<(u64, String)>,
}

impl RunResult {
    /// The values of one field over the finished trials, in trial order.
    pub fn column(&self, field: impl Fn(&TrialRecord) -> f64) -> Vec<f64> {
        self.records.iter().map(|(_, r)| field(r)).collect()
    }

    /// Appends another shard's results, keeping trial order when shards are appended in order.
    pub fn extend(&mut self, other: RunResult) {
        self.records.extend(other.records);
        self.failures.extend(other.failures);
    }
}

/// Runs trials `range` of `spec` on the current rayon pool, calling `progress(1)` as
/// each trial finishes.
pub fn run<M: TwoStageModel + ?Sized>(
    model: &M,
    spec: &RunSpec,
    range: Range<u64>,
    progress: &(dyn Fn(u64) + Sync),
) -> RunResult {
    let outcomes: Vec<(u64, std::result::Result<TrialRecord, String>)> = range
        .into_par_iter()
        .map_init(
            || model.workspace(),
            |ws, t| {
                let mut rng = trial_rng(spec.seed, spec.experiment, t);
                let out = model.trial(&mut rng, spec, ws);
                progress(1);
                (t, out)
            },
        )
        .collect();
    let mut result = RunResult::default();
    for (t, out) in outcomes {
        match out {
            Ok(r) => result.records.push((t, r)),
            Err(e) => result.failures.push((t, e)),
        }
    }
    result
}
