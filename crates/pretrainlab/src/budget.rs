//! Resource bounds, checked before any work starts.
//!
//! Every model states what one trial and one prediction need ([`Cost`]): peak memory in
//! bytes and work in floating-point operations, each estimated from the parameters to
//! within a small factor and tagged with the parameter that drives it. [`admit`] turns
//! the cost of a whole run (the prediction, `trials` trials on the worker threads, and
//! the stored results) into an error naming that parameter when it exceeds a
//! [`Limits`]: inputs that would exhaust memory or run for days are refused up front,
//! never met by an allocation failure or an endless loop. The limits can be raised.

use serde::Serialize;

use crate::{Error, Result};

/// What one trial, or one prediction, needs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Need {
    /// Peak bytes of memory.
    pub bytes: f64,
    /// Floating-point operations, to within a small factor.
    pub flops: f64,
    /// The parameter that drives the estimate (named when it is over a limit).
    pub driver: &'static str,
}

impl Need {
    /// `bytes` and `flops` driven by `driver`.
    pub fn new(bytes: f64, flops: f64, driver: &'static str) -> Self {
        Need {
            bytes,
            flops,
            driver,
        }
    }
}

/// What one trial and one prediction of a model instance need.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Cost {
    pub trial: Need,
    pub predict: Need,
}

/// The most a single command may use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Bytes of memory.
    pub max_bytes: f64,
    /// Floating-point operations of the whole run.
    pub max_flops: f64,
}

/// 8 GiB.
pub const DEFAULT_MAX_BYTES: f64 = 8.0 * GIB;
/// 10¹⁵ operations: days of work on one core, a few hours on a workstation.
pub const DEFAULT_MAX_FLOPS: f64 = 1e15;

const GIB: f64 = (1u64 << 30) as f64;

/// Memory every worker thread keeps whatever the model: the packing buffers of the
/// matrix products and small solver scratch. Added to each stated trial need.
pub const WORKER_BASE_BYTES: f64 = 8.0 * (1u64 << 20) as f64;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: DEFAULT_MAX_BYTES,
            max_flops: DEFAULT_MAX_FLOPS,
        }
    }
}

/// Refuses a run of `trials` trials (0: a prediction alone) on `threads` workers whose
/// estimated memory or work exceeds `limits`. The error names the parameter to change:
/// the prediction's or the trial's driver when that alone is over the limit, `threads`
/// when the workspaces of all busy workers are, else `trials` (a row of `width` values
/// is kept for every trial).
pub fn admit(
    cost: &Cost,
    trials: u64,
    threads: usize,
    width: usize,
    limits: &Limits,
) -> Result<()> {
    let finite = [cost.trial, cost.predict]
        .iter()
        .all(|n| n.bytes.is_finite() && n.flops.is_finite());
    let t = trials as f64;
    let busy = threads
        .max(1)
        .min(usize::try_from(trials).unwrap_or(usize::MAX));
    let one = if trials == 0 {
        0.0
    } else {
        cost.trial.bytes + WORKER_BASE_BYTES
    };
    let workers = one * busy as f64;
    let bytes = cost.predict.bytes.max(workers) + t * width.max(1) as f64 * 16.0;
    if !finite || bytes > limits.max_bytes {
        let driver = match over(cost.predict.bytes, one, limits.max_bytes, cost) {
            "trials" if workers > limits.max_bytes => "threads",
            driver => driver,
        };
        return Err(Error::invalid(
            driver,
            format!(
                "this run needs about {} of memory, over the limit of {}{}; use a smaller value, or raise the limit (--max-memory)",
                gib(bytes),
                gib(limits.max_bytes),
                per_trial(driver, cost),
            ),
        ));
    }
    let flops = cost.predict.flops + t * cost.trial.flops;
    if flops > limits.max_flops {
        let trial = if trials == 0 { 0.0 } else { cost.trial.flops };
        let driver = over(cost.predict.flops, trial, limits.max_flops, cost);
        return Err(Error::invalid(
            driver,
            format!(
                "this run needs about {flops:.1e} floating-point operations, over the limit of {:.1e}{}; use a smaller value, or raise the limit (--max-flops)",
                limits.max_flops,
                per_trial(driver, cost),
            ),
        ));
    }
    Ok(())
}

/// The parameter to blame: the prediction's driver when the prediction alone is over
/// `limit`, the trial's when one trial (on all workers) is, else the number of trials.
fn over(predict: f64, trial: f64, limit: f64, cost: &Cost) -> &'static str {
    if predict > limit || predict.is_nan() {
        cost.predict.driver
    } else if trial > limit || trial.is_nan() {
        cost.trial.driver
    } else {
        "trials"
    }
}

/// When `trials` is blamed, what drives each trial's cost.
fn per_trial(driver: &str, cost: &Cost) -> String {
    if driver == "trials" {
        format!(" (each trial's cost grows with `{}`)", cost.trial.driver)
    } else {
        String::new()
    }
}

/// [`admit`] for `trials` trials of `model` on the current rayon pool, with the model's
/// own cost and row width.
pub fn admit_model(model: &dyn crate::model::DynModel, trials: u64, limits: &Limits) -> Result<()> {
    let width = crate::runner::Trials::for_model(model).width();
    admit(
        &model.cost(),
        trials,
        rayon::current_num_threads(),
        width,
        limits,
    )
}

/// Bytes in GiB, for messages.
fn gib(bytes: f64) -> String {
    format!("{:.1} GiB", bytes / GIB)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost() -> Cost {
        Cost {
            trial: Need::new(1e6, 1e8, "d"),
            predict: Need::new(1e7, 1e9, "fisher_samples"),
        }
    }

    #[test]
    fn a_small_run_is_admitted() {
        admit(&cost(), 1000, 4, 6, &Limits::default()).unwrap();
    }

    #[test]
    fn each_bound_names_its_driver() {
        let field = |r: Result<()>| match r {
            Err(Error::InvalidParameter { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let one = 1e6 + WORKER_BASE_BYTES;
        let tight = Limits {
            max_bytes: 4.0 * one,
            max_flops: 1e20,
        };
        let mut c = cost();
        c.predict.bytes = 5.0 * one;
        assert_eq!(field(admit(&c, 0, 1, 6, &tight)), "fisher_samples");
        c.predict.bytes = 1.0;
        c.trial.bytes = 5.0 * one;
        assert_eq!(field(admit(&c, 1, 1, 6, &tight)), "d");
        c.trial.bytes = 1e6;
        assert_eq!(field(admit(&c, 100, 16, 6, &tight)), "threads");
        admit(&c, 2, 16, 6, &tight).unwrap();
        assert_eq!(field(admit(&c, 10_000_000, 1, 6, &tight)), "trials");
        let slow = Limits {
            max_bytes: 1e30,
            max_flops: 1e12,
        };
        assert_eq!(field(admit(&cost(), 100_000, 1, 6, &slow)), "trials");
        c.trial.flops = 1e13;
        assert_eq!(field(admit(&c, 10, 1, 6, &slow)), "d");
        c.predict.flops = 1e16;
        assert_eq!(field(admit(&c, 1, 1, 6, &slow)), "fisher_samples");
    }

    #[test]
    fn a_non_finite_estimate_is_refused() {
        let mut c = cost();
        c.trial.flops = f64::INFINITY;
        assert!(admit(&c, 1, 1, 1, &Limits::default()).is_err());
    }
}
