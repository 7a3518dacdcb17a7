//! Extrapolation to the limit: a check repeated at growing sample sizes.
//!
//! The limit theory is a statement about `m, n → ∞`; at finite sizes a simulated mean
//! differs from its prediction by a bias of order `1/m` (for instance the `O(1/m)` bias
//! of `m·Rep`). [`extrapolate`] runs the check at `(s m, s n)` for each scale `s` (fixed
//! `α = m/n`), and for every decisive predicted mean fits the discrepancy
//! `measured − predicted = δ + c/m` by weighted least squares over the scales. The verdict
//! is on the extrapolated discrepancy `δ` (|δ|/s.e. ≤ 3); the slope `c` is the
//! finite-size effect, reported as a finding. The extrapolated limit of the measured mean
//! itself (the intercept of `measured = L + c'/m`) is shown beside the theory's.

use serde::Serialize;

use crate::criteria::{Check, check};
use crate::fit::{Line, weighted_line};
use crate::{Error, Result, registry};

/// Largest |z| of an extrapolated discrepancy that passes.
pub const Z_MAX: f64 = 3.0;

/// The check at one scale.
#[derive(Clone, Debug)]
pub struct Level {
    pub m: u64,
    pub n: u64,
    pub check: Check,
}

/// One decisive mean across the scales.
#[derive(Clone, Debug, Serialize)]
pub struct Trend {
    pub metric: String,
    /// Per scale: `m`, simulated mean, its combined s.e., predicted mean.
    pub points: Vec<(u64, f64, f64, f64)>,
    /// `measured − predicted = δ + c/m`.
    pub discrepancy: Line,
    /// `measured = L + c'/m`: `L` is the extrapolated limit of the simulated mean.
    pub measured: Line,
    /// `predicted = L⋆ + c⋆/m`: the theory's value as `m → ∞` (exact when the
    /// prediction does not depend on `m`).
    pub predicted_limit: f64,
    /// `δ / s.e.(δ)`.
    pub z: f64,
    pub pass: bool,
}

/// The checks at every scale and the trends of the decisive means.
#[derive(Clone, Debug)]
pub struct Extrapolation {
    pub levels: Vec<Level>,
    pub trends: Vec<Trend>,
    pub pass: bool,
}

impl Extrapolation {
    /// The JSON shape: `levels` (each `m`, `n` and its check), `trends` and `verdict`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "levels": self.levels.iter().map(|l| serde_json::json!({
                "m": l.m,
                "n": l.n,
                "check": l.check.to_json(),
            })).collect::<Vec<_>>(),
            "trends": self.trends,
            "verdict": if self.pass { "pass" } else { "fail" },
        })
    }
}

/// Runs the check of model `name` (parameters `params`, which must include or default
/// `m` and `n`) at `(s m, s n)` for each of `scales`, `trials` trials each under `seed`,
/// and fits the `1/m` trend of every decisive mean. Each level is admitted against
/// `limits` ([`crate::budget::admit`]) before it runs.
pub fn extrapolate(
    name: &str,
    params: &toml::Table,
    seed: u64,
    trials: u64,
    scales: &[u64],
    limits: &crate::budget::Limits,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Extrapolation> {
    let base = registry::build(name, params.clone())?;
    let size = |key: &str| {
        base.labels()
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.as_u64())
            .ok_or_else(|| {
                Error::invalid(
                    "extrapolate",
                    format!("model `{name}` has no sample size `{key}` to scale"),
                )
            })
    };
    let (m0, n0) = (size("m")?, size("n")?);
    let mut levels = Vec::with_capacity(scales.len());
    for &s in scales {
        let (m, n) = (m0.saturating_mul(s), n0.saturating_mul(s));
        let mut table = params.clone();
        for (key, v) in [("m", m), ("n", n)] {
            let v = i64::try_from(v)
                .map_err(|_| Error::invalid(key, format!("{v} is too large to scale")))?;
            table.insert(key.into(), toml::Value::Integer(v));
        }
        let model = registry::build(name, table)?;
        crate::budget::admit_model(model.as_ref(), trials, limits)?;
        let check = check(model.as_ref(), seed, trials, progress)?;
        levels.push(Level { m, n, check });
    }
    let trends = trends(&levels)?;
    let pass = trends.iter().all(|t| t.pass);
    Ok(Extrapolation {
        levels,
        trends,
        pass,
    })
}

/// The trend of each decisive mean of the first level across all levels.
fn trends(levels: &[Level]) -> Result<Vec<Trend>> {
    let Some(first) = levels.first() else {
        return Ok(Vec::new());
    };
    let decisive = first.check.means.iter().filter(|c| c.decisive);
    decisive
        .map(|c| {
            let points: Vec<(u64, f64, f64, f64)> = levels
                .iter()
                .filter_map(|l| {
                    let x = l.check.means.iter().find(|y| y.quantity == c.quantity)?;
                    Some((l.m, x.simulated, x.se, x.limit))
                })
                .collect();
            let x: Vec<f64> = points.iter().map(|p| 1.0 / p.0 as f64).collect();
            let se: Vec<f64> = points.iter().map(|p| p.2).collect();
            let gap: Vec<f64> = points.iter().map(|p| p.1 - p.3).collect();
            let measured: Vec<f64> = points.iter().map(|p| p.1).collect();
            let predicted: Vec<f64> = points.iter().map(|p| p.3).collect();
            let discrepancy = weighted_line(&x, &gap, &se)?;
            let measured = weighted_line(&x, &measured, &se)?;
            let predicted_limit = weighted_line(&x, &predicted, &se)?.intercept;
            let z = discrepancy.intercept / discrepancy.intercept_se;
            Ok(Trend {
                metric: c.quantity.clone(),
                points,
                discrepancy,
                measured,
                predicted_limit,
                z,
                pass: z.abs() <= Z_MAX,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Factor at α = 0.1 (m = 500, n = 5000): the extrapolated mean of `m·Rep` recovers
    /// E‖L(Z)‖² within 3 s.e. and its finite-size slope is positive (the O(1/m) bias of
    /// m·Rep is upwards); the extrapolated discrepancy of every decisive mean passes.
    #[test]
    fn factor_at_small_alpha_extrapolates_to_the_limit() {
        let params: toml::Table = "d = 5\nk = 2\nm = 500\nn = 5000".parse().unwrap();
        let x = extrapolate(
            "factor",
            &params,
            11,
            4000,
            &[1, 2, 4],
            &Default::default(),
            &|_| {},
        )
        .unwrap();
        let rep = x.trends.iter().find(|t| t.metric == "m_rep").unwrap();
        let truth = x.levels[0]
            .check
            .prediction
            .quantity("interaction_mean")
            .unwrap();
        let z = (rep.measured.intercept - truth) / rep.measured.intercept_se;
        assert!(
            z.abs() <= 3.0,
            "limit {} ± {} vs {truth}",
            rep.measured.intercept,
            rep.measured.intercept_se
        );
        assert!(rep.measured.slope > 0.0, "slope {}", rep.measured.slope);
        assert!(x.pass, "{:?}", x.trends);
    }
}
