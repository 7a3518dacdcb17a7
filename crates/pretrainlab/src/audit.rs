//! The papers' claims, declared by the models, and their verdicts.
//!
//! A [`Claim`] is one statement of a paper at one instance of a model: a closed form the
//! paper gives (computed from the model by the same code that `predict` prints beside
//! the generic theory), a value the paper states (typed in, and labelled as such), or the
//! generic theory itself (every criterion of `check`). Each registry entry lists its
//! model's claims; `pretrainlab audit` runs each instance's `check` through the runner and
//! store and turns the finished [`Check`] into a [`ClaimRow`] with [`assess`]. No number
//! is typed in here: the verdict reads the prediction and the simulation of that check.

use serde::Serialize;

use crate::criteria::Check;

/// A claim is confirmed when the simulation is within this many standard errors of it.
pub const CONFIRM_Z: f64 = 3.0;

/// One statement of a paper, at one instance of a model.
#[derive(Clone, Copy, Debug)]
pub struct Claim {
    /// A short, file-name-safe identifier, unique over all models.
    pub id: &'static str,
    /// The paper, by authors and arXiv id.
    pub paper: &'static str,
    /// Where the paper states it: theorem, corollary, equation or figure.
    pub location: &'static str,
    /// What the paper states, in words.
    pub statement: &'static str,
    /// The instance: the model's parameters as TOML (sizes included).
    pub params: &'static str,
    /// Trials (seeds) of the full audit and of `--quick`.
    pub trials: u64,
    pub quick_trials: u64,
    pub test: ClaimTest,
}

/// How a claim is tested against the simulation.
#[derive(Clone, Copy, Debug)]
pub enum ClaimTest {
    /// A closed form of the paper, computed by the model: the prediction's reference whose
    /// key is `reference` (or starts with `reference_`, for keys made from long labels)
    /// against the simulated mean of `metric`.
    PaperForm {
        reference: &'static str,
        metric: &'static str,
    },
    /// A value the paper states (for example read off its figure), against the simulated
    /// mean of `metric`.
    Stated { value: f64, metric: &'static str },
    /// The generic theory: confirmed when every criterion of `check` holds.
    Generic,
}

/// A claim's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Confirmed,
    Contradicted,
    NotTestable,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Confirmed => "confirmed",
            Verdict::Contradicted => "contradicted",
            Verdict::NotTestable => "not testable here",
        }
    }
}

/// One row of the audit.
#[derive(Clone, Debug, Serialize)]
pub struct ClaimRow {
    pub id: String,
    pub model: String,
    pub paper: String,
    pub location: String,
    pub statement: String,
    /// What `paper_value` is: a closed form computed from the model, a stated value, or
    /// none (the generic theory).
    pub paper_kind: &'static str,
    pub paper_value: Option<f64>,
    /// The metric compared, and the generic theory's predicted mean of it (± its own
    /// Monte Carlo s.e. where the theory is estimated).
    pub metric: Option<String>,
    pub generic: Option<f64>,
    pub generic_se: Option<f64>,
    /// The simulated mean of `metric` and its standard error.
    pub simulated: Option<f64>,
    pub simulated_se: Option<f64>,
    /// `(simulated − claimed)/s.e.` for a paper's value; the largest decisive |z| of the
    /// check for the generic theory.
    pub z: Option<f64>,
    pub verdict: Verdict,
    /// Why, in one line.
    pub note: String,
    /// Trials that entered the simulation.
    pub trials: usize,
}

/// The verdict of `claim` (of model `model`) from the finished check of its instance.
pub fn assess(model: &str, claim: &Claim, check: &Check) -> ClaimRow {
    let mut row = ClaimRow {
        id: claim.id.into(),
        model: model.into(),
        paper: claim.paper.into(),
        location: claim.location.into(),
        statement: claim.statement.into(),
        paper_kind: "the generic theory",
        paper_value: None,
        metric: None,
        generic: None,
        generic_se: None,
        simulated: None,
        simulated_se: None,
        z: None,
        verdict: Verdict::NotTestable,
        note: String::new(),
        trials: check.simulation.completed,
    };
    match claim.test {
        ClaimTest::Generic => generic(&mut row, check),
        ClaimTest::PaperForm { reference, metric } => {
            row.paper_kind = "closed form, computed from the model";
            let named = |key: &str| {
                key == reference
                    || key
                        .strip_prefix(reference)
                        .is_some_and(|rest| rest.starts_with('_'))
            };
            match check.prediction.references.iter().find(|r| named(&r.key)) {
                Some(r) => against(&mut row, check, metric, r.value),
                None => {
                    row.note = format!("the model gives no `{reference}` at this instance");
                }
            }
        }
        ClaimTest::Stated { value, metric } => {
            row.paper_kind = "stated in the paper (typed in)";
            against(&mut row, check, metric, value);
        }
    }
    row
}

/// The generic theory: every criterion of the check; the distance is the largest decisive
/// |z| of its predicted means.
fn generic(row: &mut ClaimRow, check: &Check) {
    if let Some(first) = check.means.iter().find(|m| m.decisive) {
        row.metric = Some(first.quantity.clone());
        row.generic = Some(first.limit);
        fill_simulated(row, check, &first.quantity);
    }
    row.z = check
        .means
        .iter()
        .filter(|m| m.decisive && m.z.is_finite())
        .map(|m| m.z)
        .max_by(|a, b| a.abs().total_cmp(&b.abs()));
    let failed: Vec<&str> = check
        .criteria
        .iter()
        .filter(|c| !c.pass)
        .map(|c| c.name.as_str())
        .collect();
    if check.simulation.completed == 0 {
        row.note = "no trial completed".into();
    } else if failed.is_empty() {
        row.verdict = Verdict::Confirmed;
        row.note = format!("all {} criteria of `check` hold", check.criteria.len());
    } else {
        row.verdict = Verdict::Contradicted;
        row.note = format!("failing criteria: {}", failed.join(", "));
    }
}

/// A claimed value of the mean of `metric` against the simulation.
fn against(row: &mut ClaimRow, check: &Check, metric: &str, claimed: f64) {
    row.paper_value = Some(claimed);
    row.metric = Some(metric.into());
    if let Some(mean) = check.prediction.mean(metric) {
        row.generic = Some(mean.value);
        row.generic_se = (mean.se > 0.0).then_some(mean.se);
    }
    fill_simulated(row, check, metric);
    let (Some(sim), Some(se)) = (row.simulated, row.simulated_se) else {
        row.note = format!("no simulated values of `{metric}`");
        return;
    };
    if !(se > 0.0 && claimed.is_finite()) {
        row.note = format!("the simulated mean of `{metric}` has no standard error");
        return;
    }
    let z = (sim - claimed) / se;
    row.z = Some(z);
    let generic_z = row.generic.map(|g| {
        let total = (se * se + row.generic_se.unwrap_or(0.0).powi(2)).sqrt();
        (sim - g) / total
    });
    let generic_note = generic_z.map_or(String::new(), |g| {
        format!("; the generic theory is {:.1} s.e. away", g.abs())
    });
    if z.abs() <= CONFIRM_Z {
        row.verdict = Verdict::Confirmed;
        row.note = format!(
            "the simulation is {:.1} s.e. from the paper's value{generic_note}",
            z.abs()
        );
    } else {
        row.verdict = Verdict::Contradicted;
        row.note = format!(
            "the simulation is {:.1} s.e. from the paper's value (> {CONFIRM_Z}){generic_note}",
            z.abs()
        );
    }
}

fn fill_simulated(row: &mut ClaimRow, check: &Check, metric: &str) {
    if let Some(s) = check.simulation.metric(metric) {
        row.simulated = Some(s.mean);
        row.simulated_se = Some(s.se);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(test: ClaimTest) -> Claim {
        Claim {
            id: "t",
            paper: "p",
            location: "l",
            statement: "s",
            params: "",
            trials: 1,
            quick_trials: 1,
            test,
        }
    }

    /// A real check of a small factor instance; claimed values placed at 2.9 and 3.1
    /// standard errors from its simulated mean of `m_rep` fall on either side of the
    /// verdict, the distance is reported with its sign, a missing reference is not
    /// testable, and the generic theory follows the check's verdict.
    #[test]
    fn verdicts_follow_the_distance_in_standard_errors() {
        let table: toml::Table = "d = 5\nk = 2\nm = 4000\nn = 2000".parse().unwrap();
        let model = crate::registry::build("factor", table).unwrap();
        let check = crate::criteria::check(model.as_ref(), 1, 300, &|_| {}).unwrap();
        let s = *check.simulation.metric("m_rep").unwrap();
        let at = |k: f64| {
            assess(
                "factor",
                &claim(ClaimTest::Stated {
                    value: s.mean - k * s.se,
                    metric: "m_rep",
                }),
                &check,
            )
        };
        let near = at(2.9);
        assert_eq!(near.verdict, Verdict::Confirmed, "{near:?}");
        assert!((near.z.unwrap() - 2.9).abs() < 1e-9);
        let far = at(-3.1);
        assert_eq!(far.verdict, Verdict::Contradicted, "{far:?}");
        assert!((far.z.unwrap() + 3.1).abs() < 1e-9);
        assert_eq!(far.generic, check.prediction.mean("m_rep").map(|m| m.value));
        let missing = assess(
            "factor",
            &claim(ClaimTest::PaperForm {
                reference: "no_such_reference",
                metric: "m_rep",
            }),
            &check,
        );
        assert_eq!(missing.verdict, Verdict::NotTestable);
        let paper = assess(
            "factor",
            &claim(ClaimTest::PaperForm {
                reference: "paper_interaction_mean",
                metric: "m_rep",
            }),
            &check,
        );
        assert_eq!(
            paper.paper_value,
            check
                .prediction
                .references
                .iter()
                .find(|r| r.key == "paper_interaction_mean")
                .map(|r| r.value)
        );
        let generic = assess("factor", &claim(ClaimTest::Generic), &check);
        let expected = if check.pass {
            Verdict::Confirmed
        } else {
            Verdict::Contradicted
        };
        assert_eq!(generic.verdict, expected, "{:?}", check.reasons());
    }
}
