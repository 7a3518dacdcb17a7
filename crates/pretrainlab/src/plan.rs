//! Budget planning for two-stage pre-training: how to split a budget between unlabeled
//! and labeled samples, and whether pre-training is worth it at all.
//!
//! With `m` unlabeled samples at cost `c_m` each and `n` labeled ones at `c_n`, the
//! limit theory of arXiv 2603.27631 (Theorem 4.3) predicts the excess risk
//! `R(m, n) = A/n + C/m` with `A = σ² d_eff` and `C = E‖L(Z)‖²`; learning downstream
//! only, with all `B/c_n` labels, gives `σ² d_base c_n / B`. Minimising `A/n + C/m` on
//! the budget line `c_m m + c_n n = B` (Lagrange: `A/n² = λ c_n`, `C/m² = λ c_m`) gives
//!
//! ```text
//! n* = B √(A/c_n) / S,   m* = B √(C/c_m) / S,   R* = S² / B,   S = √(A c_n) + √(C c_m)
//! ```
//!
//! so pre-training wins exactly when `S² < σ² d_base c_n`, at every budget, and the
//! cheapest budget reaching a target risk `r` is `S²/r` (or `σ² d_base c_n / r`
//! downstream only).

use serde::Serialize;

use crate::model::Prediction;
use crate::{Error, Result};

/// The theory's constants a plan needs, read from a two-stage prediction.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Constants {
    /// `A = σ² d_eff`, the variance constant with the frozen representation.
    pub variance: f64,
    /// `C = E‖L(Z)‖²`, the pre-training interaction constant.
    pub interaction: f64,
    /// `σ² d_base`, the variance constant of downstream-only learning.
    pub baseline: f64,
}

impl Constants {
    /// Reads `sigma2`, `d_eff`, `d_base` and `interaction_mean` from a prediction; a
    /// model that does not predict them cannot be planned.
    pub fn of(p: &Prediction) -> Result<Self> {
        let get = |name: &str| {
            p.quantity(name).ok_or_else(|| {
                Error::invalid(
                    "model",
                    format!(
                        "`{}` predicts no `{name}`: plan needs a two-stage model",
                        p.model
                    ),
                )
            })
        };
        let sigma2 = get("sigma2")?;
        Ok(Constants {
            variance: sigma2 * get("d_eff")?,
            interaction: get("interaction_mean")?,
            baseline: sigma2 * get("d_base")?,
        })
    }
}

/// Unit costs and a budget.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Costs {
    /// Cost of one unlabeled sample, `c_m`.
    pub unlabeled: f64,
    /// Cost of one labeled sample, `c_n`.
    pub labeled: f64,
}

/// The plan at one budget.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Plan {
    pub budget: f64,
    /// The optimal split `(m*, n*)` (real-valued; round to use it).
    pub m: f64,
    pub n: f64,
    /// The predicted excess risk at the split, `S²/B`.
    pub risk: f64,
    /// Downstream only: `n = B/c_n` labels and the risk `σ² d_base c_n / B`.
    pub downstream_n: f64,
    pub downstream_risk: f64,
    /// Whether pre-training lowers the predicted risk.
    pub pretrain: bool,
    /// `downstream_risk / risk`: above 1, pre-training wins by this factor.
    pub margin: f64,
}

/// `S = √(A c_n) + √(C c_m)`.
fn s(k: &Constants, c: &Costs) -> f64 {
    (k.variance * c.labeled).sqrt() + (k.interaction * c.unlabeled).sqrt()
}

/// Checks the costs and a positive amount (a budget or a target risk).
fn check(c: &Costs, field: &str, amount: f64) -> Result<()> {
    for (name, v) in [
        ("cost_unlabeled", c.unlabeled),
        ("cost_labeled", c.labeled),
        (field, amount),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return Err(Error::invalid(
                name,
                format!("must be a finite number > 0, got {v}"),
            ));
        }
    }
    Ok(())
}

/// The optimal split of `budget` and the downstream-only alternative.
pub fn plan(k: &Constants, c: &Costs, budget: f64) -> Result<Plan> {
    check(c, "budget", budget)?;
    let s = s(k, c);
    let risk = s * s / budget;
    let downstream_risk = k.baseline * c.labeled / budget;
    if !(risk.is_finite() && downstream_risk.is_finite() && risk > 0.0) {
        return Err(Error::invalid(
            "budget",
            format!(
                "the plan's risks overflow at budget {budget:e} with costs {:e} and {:e}: use values of ordinary magnitude",
                c.unlabeled, c.labeled
            ),
        ));
    }
    Ok(Plan {
        budget,
        m: budget * (k.interaction / c.unlabeled).sqrt() / s,
        n: budget * (k.variance / c.labeled).sqrt() / s,
        risk,
        downstream_n: budget / c.labeled,
        downstream_risk,
        pretrain: risk < downstream_risk,
        margin: downstream_risk / risk,
    })
}

/// The cheapest budget whose plan reaches excess risk `target`: `S²/r` with
/// pre-training, `σ² d_base c_n / r` without; the plan at the cheaper one.
pub fn budget_for(k: &Constants, c: &Costs, target: f64) -> Result<Plan> {
    check(c, "target_risk", target)?;
    let s = s(k, c);
    let budget = (s * s).min(k.baseline * c.labeled) / target;
    if !budget.is_finite() {
        return Err(Error::invalid(
            "target_risk",
            format!("the budget for risk {target:e} overflows: use a larger target"),
        ));
    }
    plan(k, c, budget)
}

/// One split simulated by [`verify`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Verified {
    /// The split's `m/n` relative to the plan's.
    pub factor: f64,
    pub m: u64,
    pub n: u64,
    /// `A/n + C/m`.
    pub predicted: f64,
    /// Mean simulated excess risk `scaled_excess / n` over the trials, and its s.e.
    pub simulated: f64,
    pub se: f64,
}

/// Simulates the planned split and its neighbours on the same budget line: for each
/// `factor`, the split with `m/n = factor · m*/n*` (rounded to whole samples), `trials`
/// trials of model `name` under `seed`, each admitted against `limits` first.
#[allow(clippy::too_many_arguments)] // the plan, the model and the run settings
pub fn verify(
    name: &str,
    params: &toml::Table,
    k: &Constants,
    c: &Costs,
    plan: &Plan,
    factors: &[f64],
    trials: u64,
    seed: u64,
    limits: &crate::budget::Limits,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<Verified>> {
    let ratio = plan.m / plan.n;
    factors
        .iter()
        .map(|&f| {
            let q = f * ratio;
            let n = (plan.budget / (c.unlabeled * q + c.labeled)).round();
            let m = (q * n).round();
            let mut table = params.clone();
            table.insert("m".into(), toml::Value::Integer(m as i64));
            table.insert("n".into(), toml::Value::Integer(n as i64));
            let model = crate::registry::build(name, table)?;
            crate::budget::admit_model(model.as_ref(), trials, limits)?;
            let runs = crate::runner::run(model.as_ref(), seed, 0..trials, progress);
            let risks: Vec<f64> = runs
                .column("scaled_excess")
                .unwrap_or_default()
                .iter()
                .map(|x| x / n)
                .collect();
            let s = crate::stats::Summary::of(&risks).ok_or_else(|| {
                Error::Numerical(format!("no trial completed at m = {m}, n = {n}"))
            })?;
            Ok(Verified {
                factor: f,
                m: m as u64,
                n: n as u64,
                predicted: k.variance / n + k.interaction / m,
                simulated: s.mean,
                se: s.se,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: Constants = Constants {
        variance: 2.0,
        interaction: 9.75,
        baseline: 5.0,
    };

    /// The closed form against a brute-force minimisation of `A/n + C/m` over 10⁶ points
    /// of the budget line.
    #[test]
    fn the_closed_form_is_the_minimum_on_the_budget_line() {
        for c in [
            Costs {
                unlabeled: 1.0,
                labeled: 10.0,
            },
            Costs {
                unlabeled: 0.01,
                labeled: 1.0,
            },
            Costs {
                unlabeled: 3.0,
                labeled: 1.0,
            },
        ] {
            let budget = 1e5;
            let p = plan(&K, &c, budget).unwrap();
            assert!((c.unlabeled * p.m + c.labeled * p.n - budget).abs() < 1e-6 * budget);
            let steps = 1_000_000;
            let best = (1..steps)
                .map(|i| {
                    let n = budget / c.labeled * i as f64 / steps as f64;
                    let m = (budget - c.labeled * n) / c.unlabeled;
                    K.variance / n + K.interaction / m
                })
                .fold(f64::INFINITY, f64::min);
            assert!(p.risk <= best * (1.0 + 1e-9), "{} vs {best}", p.risk);
            assert!(best <= p.risk * (1.0 + 1e-6), "{} vs {best}", p.risk);
            let verdict = p.risk < K.baseline * c.labeled / budget;
            assert_eq!(p.pretrain, verdict);
        }
    }

    /// Acceptance: at the default factor model, the planned split's simulated risk is the
    /// lowest of the split and its neighbours at half and twice its m/n, within 2 s.e.
    #[test]
    fn the_planned_split_simulates_best_among_its_neighbours() {
        let params = toml::Table::new();
        let model = crate::registry::build("factor", params.clone()).unwrap();
        let k = Constants::of(&model.predict().unwrap()).unwrap();
        let c = Costs {
            unlabeled: 1.0,
            labeled: 10.0,
        };
        let p = plan(&k, &c, 1e5).unwrap();
        let v = verify(
            "factor",
            &params,
            &k,
            &c,
            &p,
            &[0.5, 1.0, 2.0],
            4000,
            1,
            &Default::default(),
            &|_| {},
        )
        .unwrap();
        let best = &v[1];
        for other in [&v[0], &v[2]] {
            let se = (best.se.powi(2) + other.se.powi(2)).sqrt();
            assert!(best.simulated <= other.simulated + 2.0 * se, "{v:?}");
        }
    }

    /// The budget for a target risk plans exactly that risk (or the downstream-only one).
    #[test]
    fn the_budget_for_a_target_reaches_it() {
        let c = Costs {
            unlabeled: 0.1,
            labeled: 1.0,
        };
        let p = budget_for(&K, &c, 1e-3).unwrap();
        assert!((p.risk.min(p.downstream_risk) - 1e-3).abs() < 1e-12);
        assert!(plan(&K, &c, 0.0).is_err());
        assert!(plan(&K, &c, 1e-308).is_err());
        let dear = Costs {
            unlabeled: 1e308,
            labeled: 1e308,
        };
        assert!(plan(&K, &dear, 1.0).is_err());
        assert!(budget_for(&K, &c, 1e-308).is_err());
    }
}
